#!/usr/bin/env bash
# Mizuchi Uploadr second test backend: a disposable OpenStack Swift on 127.0.0.1 (one account,
# one container and one object server with a single replica, and a proxy) whose s3api
# middleware speaks S3. It is the other real S3 implementation of the conformance suite
# (scripts/conformance.sh). The servers run in the background without systemd and keep all
# their state under $SWIFT_DIR.
#
# Calling it again while the servers are healthy changes nothing: it only prints the settings.
# Leftovers of an earlier run are stopped, wiped and started afresh.
#
# Swift 2.30 (Debian 12: swift-proxy swift-object swift-container swift-account). Missing
# packages are installed with apt-get when running as root and SWIFT_INSTALL=auto. The package's
# /etc/swift/swift.conf (hash path suffix, storage policy 0) is used as it is; the rings and
# everything else live in $SWIFT_DIR.
#
# Environment:
#   SWIFT_DIR      state directory, wiped on every fresh start (default /tmp/mizuchi-swift). Swift
#                  keeps object metadata in extended attributes: use a file system with user
#                  xattrs (ext4, xfs).
#   SWIFT_PORT     S3 (and Swift API) port (default 8480). When it is taken and was not set
#                  explicitly, the next free port is used instead.
#   SWIFT_BUCKET   bucket created at start (default test-bucket; set it empty for none)
#   SWIFT_TIMEOUT  seconds to wait for the proxy to answer (default 60)
#   SWIFT_INSTALL  auto | never (default auto)
#
# Credentials: tempauth's user "tester" of account "mizuchi". s3api takes the access key in
# tempauth's "account:user" form, so it is "mizuchi:tester"; because of that colon,
# `curl --aws-sigv4 --user KEY:SECRET` cannot sign for it (curl splits at the first colon).
#
# Results: $SWIFT_DIR/s3.env and $SWIFT_DIR/s3.json, in the same shape as radosgw-up.sh writes;
# the exports are also printed on stdout. Progress goes to stderr. Stop it with
# scripts/swift-s3-down.sh and the same SWIFT_DIR.
#
# How s3api differs from AWS S3 (and from Ceph) in ways that matter here:
#   - it does not accept aws-chunked uploads (501); the gateway always decodes them first;
#   - it knows nothing of the x-amz-checksum-* headers (Swift 2.30 predates them): it neither
#     verifies, stores nor returns them, so only the gateway's own check guards those uploads;
#   - for the same reason it refuses a CompleteMultipartUpload whose parts carry ChecksumCRC32
#     (or any other checksum element) with 400 MalformedXML;
#   - a body that does not match its x-amz-content-sha256 gets 400 BadDigest, where S3 answers
#     XAmzContentSHA256Mismatch (no object is stored either way);
#   - DeleteObjects needs Content-MD5; a CRC32 checksum header does not do;
#   - multipart objects are Swift SLOs: s3api reports S3's "md5-of-md5s-N" ETag for them, and
#     their parts live in a hidden "<bucket>+segments" container;
#   - it caps uploads at 1000 parts unless told otherwise; this proxy allows S3's 10,000.
set -euo pipefail

SWIFT_DIR=${SWIFT_DIR:-/tmp/mizuchi-swift}
SWIFT_BUCKET=${SWIFT_BUCKET-test-bucket}
SWIFT_TIMEOUT=${SWIFT_TIMEOUT:-60}
SWIFT_INSTALL=${SWIFT_INSTALL:-auto}
PORT_WAS_SET=${SWIFT_PORT:+yes}
SWIFT_PORT=${SWIFT_PORT:-8480}
REGION=us-east-1
ACCOUNT=mizuchi
ACCESS_KEY="$ACCOUNT:tester"
SECRET_KEY=mizuchiSwiftTestSecret000000000000000000

MARKER="$SWIFT_DIR/.mizuchi-swift" # proves the directory is ours to wipe
SERVERS=(memcached account container object proxy)
APT_PACKAGES=(swift-proxy swift-object swift-container swift-account memcached)
PYTHON=/usr/bin/python3 # Debian's, where the swift packages put their modules

START_NS=$(date +%s%N)
LOG_TAG=swift-s3-up
# shellcheck source=lib/backend-up.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/backend-up.sh"

[[ $SWIFT_DIR == /* ]] || die "SWIFT_DIR must be an absolute path"
[[ $SWIFT_PORT =~ ^[0-9]+$ ]] || die "SWIFT_PORT must be a port number"

# ---- small helpers ----------------------------------------------------------------------------
conf_of() { echo "$SWIFT_DIR/$1-server.conf"; }
# What the command line of server $1 names uniquely: its config file (memcached has none, but it
# is told where to write its pid file).
marker_of() {
  if [[ $1 == memcached ]]; then echo "$SWIFT_DIR/run/memcached.pid"; else conf_of "$1"; fi
}
# A server counts as ours only if its command line names our config file: a pid file can outlive
# its process, and the number may since belong to something else.
server_alive() {
  local pid
  pid=$(cat "$SWIFT_DIR/run/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(marker_of "$1")"
}
healthy() {
  [[ $(curl -s --max-time 2 "http://127.0.0.1:$1/healthcheck" || true) == OK ]]
}

# ---- already running? -------------------------------------------------------------------------
if [[ -f $MARKER && -s $SWIFT_DIR/s3.env && -s $SWIFT_DIR/s3.json ]]; then
  all_alive=yes
  for name in "${SERVERS[@]}"; do server_alive "$name" || all_alive=no; done
  # shellcheck disable=SC1091
  port=$(. "$SWIFT_DIR/s3.env" && echo "${S3_ENDPOINT##*:}")
  if [[ $all_alive == yes ]] && healthy "$port"; then
    log "already running in $SWIFT_DIR"
    cat "$SWIFT_DIR/s3.env"
    exit 0
  fi
fi
if [[ -f $MARKER ]]; then
  log "found leftovers of an earlier run in $SWIFT_DIR: stopping them and starting over"
  SWIFT_DIR=$SWIFT_DIR bash "$(dirname "${BASH_SOURCE[0]}")/swift-s3-down.sh" >&2 || true
  rm -rf "${SWIFT_DIR:?}"
elif [[ -e $SWIFT_DIR && -n $(ls -A "$SWIFT_DIR" 2>/dev/null) ]]; then
  die "$SWIFT_DIR is not empty and was not created by this script; not wiping it"
fi

# ---- packages ---------------------------------------------------------------------------------
missing=()
for pair in swift-proxy-server:swift-proxy swift-object-server:swift-object \
  swift-container-server:swift-container swift-account-server:swift-account \
  memcached:memcached curl:curl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  install_packages SWIFT_INSTALL "$SWIFT_INSTALL" "$SWIFT_DIR" "$MARKER" 30 "${missing[@]}"
fi
[[ -r /etc/swift/swift.conf ]] ||
  die "/etc/swift/swift.conf is missing; it comes with the swift packages (reinstall swift)"

# ---- state directory, ports --------------------------------------------------------------------
mkdir -p "$SWIFT_DIR"/{srv/d1,rings,run,log}
touch "$MARKER"
"$PYTHON" - "$SWIFT_DIR/srv/d1" <<'EOF' ||
import os, sys
probe = os.path.join(sys.argv[1], '.xattr-probe')
open(probe, 'w').close()
try:
    os.setxattr(probe, 'user.mizuchi', b'1')
finally:
    os.unlink(probe)
EOF
  die "$SWIFT_DIR does not support user extended attributes, which Swift needs; pick another SWIFT_DIR"

if port_in_use "$SWIFT_PORT"; then
  [[ -z $PORT_WAS_SET ]] || die "SWIFT_PORT=$SWIFT_PORT is already in use"
  SWIFT_PORT=$(next_free_port "$SWIFT_PORT")
fi
# The storage servers listen below Linux's ephemeral range (32768-60999), where no client socket
# can hold the port between this check and their bind.
declare -A PORT
next=13500
for name in memcached account container object; do
  PORT[$name]=$(next_free_port "$next")
  next=$((PORT[$name] + 1))
done

# ---- rings: one device, one replica, a handful of partitions ------------------------------------
# One Python process for all three rings: swift-ring-builder would take three calls per ring.
"$PYTHON" - "$SWIFT_DIR/rings" "${PORT[account]}" "${PORT[container]}" "${PORT[object]}" \
  >"$SWIFT_DIR/log/rings.out" 2>&1 <<'EOF' || die "building the rings failed; see $SWIFT_DIR/log/rings.out"
import sys
from swift.common.ring import RingBuilder

ring_dir = sys.argv[1]
for name, port in zip(('account', 'container', 'object'), sys.argv[2:5]):
    builder = RingBuilder(part_power=4, replicas=1, min_part_hours=1)
    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
                     'device': 'd1', 'weight': 1.0, 'meta': ''})
    builder.rebalance()
    builder.save(f'{ring_dir}/{name}.builder')
    builder.get_ring().save(f'{ring_dir}/{name}.ring.gz')
EOF

# ---- configuration ----------------------------------------------------------------------------
for name in account container object; do
  cat >"$(conf_of "$name")" <<EOF
# Written by swift-s3-up.sh: a throwaway $name server on loopback.
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${PORT[$name]}
devices = $SWIFT_DIR/srv
mount_check = false
swift_dir = $SWIFT_DIR/rings
user = $(id -un)
# One process, no forked workers: the pid file then names the only process to stop.
workers = 0
log_name = $name-server

[pipeline:main]
pipeline = $name-server

[app:$name-server]
use = egg:swift#$name
EOF
done

cat >"$(conf_of proxy)" <<EOF
# Written by swift-s3-up.sh: the proxy of a throwaway Swift, with s3api and tempauth.
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
swift_dir = $SWIFT_DIR/rings
user = $(id -un)
workers = 0
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

# tempauth refuses to work without memcache. Our own memcached, on its own port: one on the
# usual port might belong to something else.
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${PORT[memcached]}

[filter:versioned_writes]
use = egg:swift#versioned_writes

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# S3 allows 10,000 parts; s3api's default is 1000 (and SLO's, below, as well).
max_upload_part_num = 10000

[filter:tempauth]
use = egg:swift#tempauth
user_${ACCOUNT}_tester = $SECRET_KEY .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:dlo]
use = egg:swift#dlo
EOF

# ---- servers ----------------------------------------------------------------------------------
# The servers do not daemonize: each runs in its own session (so that the caller's terminal or
# job control cannot reach it) and its pid is recorded here. -v sends its log to stderr, which
# goes to a file: without it Swift logs only to syslog.
for name in "${SERVERS[@]}"; do
  if [[ $name == memcached ]]; then
    command=(memcached -l 127.0.0.1 -p "${PORT[memcached]}" -U 0 -m 64 -u "$(id -un)"
      -P "$(marker_of memcached)")
  else
    command=("/usr/bin/swift-$name-server" "$(conf_of "$name")" -v)
  fi
  setsid "${command[@]}" </dev/null >>"$SWIFT_DIR/log/$name.log" 2>&1 &
  echo $! >"$SWIFT_DIR/run/$name.pid"
done
log "servers started; waiting for them to listen [$(since_start)]"
# The proxy's healthcheck answers as soon as the proxy itself is up, while a storage server that
# is still starting makes requests fail with 503: wait for every port.
all_listening() {
  local name
  for name in "${!PORT[@]}"; do port_in_use "${PORT[$name]}" || return 1; done
  healthy "$SWIFT_PORT"
}
deadline=$(($(date +%s) + SWIFT_TIMEOUT))
until all_listening; do
  (($(date +%s) < deadline)) || die "the proxy did not answer within $SWIFT_TIMEOUT s; see $SWIFT_DIR/log"
  for name in "${SERVERS[@]}"; do
    server_alive "$name" || die "$name exited; see $SWIFT_DIR/log/$name.log"
  done
  sleep 0.1
done
log "all servers answering on http://127.0.0.1:$SWIFT_PORT [$(since_start)]"

# ---- bucket and probe, through s3api with SigV4 ------------------------------------------------
# A small SigV4 signer for the checks below, in Python rather than curl --aws-sigv4, which cannot
# take the colon in the access key. It reads the secret from stdin, so that it never appears on
# a command line, and prints the status and the body of the reply.
cat >"$SWIFT_DIR/s3-request.py" <<'EOF'
import datetime, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request

method, url, region, access_key, body = sys.argv[1:6]
secret = sys.stdin.readline().strip()
body = body.encode()
parts = urllib.parse.urlsplit(url)
now = datetime.datetime.now(datetime.timezone.utc)
amz_date, day = now.strftime('%Y%m%dT%H%M%SZ'), now.strftime('%Y%m%d')
payload_hash = hashlib.sha256(body).hexdigest()
headers = {'host': parts.netloc, 'x-amz-content-sha256': payload_hash, 'x-amz-date': amz_date}
signed = ';'.join(sorted(headers))
canonical = '\n'.join([method, parts.path, '',
                       ''.join(f'{k}:{headers[k]}\n' for k in sorted(headers)), signed,
                       payload_hash])
scope = f'{day}/{region}/s3/aws4_request'
to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
key = ('AWS4' + secret).encode()
for part in (day, region, 's3', 'aws4_request'):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
headers['authorization'] = (f'AWS4-HMAC-SHA256 Credential={access_key}/{scope}, '
                            f'SignedHeaders={signed}, Signature={signature}')
request = urllib.request.Request(url, data=body if method == 'PUT' else None, method=method,
                                 headers=headers)
try:
    with urllib.request.urlopen(request, timeout=30) as reply:
        print(reply.status, reply.read().decode(errors='replace'))
except urllib.error.HTTPError as err:
    print(err.code, err.read().decode(errors='replace'))
EOF
# s3_expect STATUS METHOD PATH [BODY]: sends the request, dies unless the reply has STATUS, and
# prints the reply's body.
s3_expect() {
  local want=$1 method=$2 path=$3 reply
  reply=$("$PYTHON" "$SWIFT_DIR/s3-request.py" "$method" "http://127.0.0.1:$SWIFT_PORT$path" \
    "$REGION" "$ACCESS_KEY" "${4:-}" <<<"$SECRET_KEY") || die "S3 request $method $path failed"
  [[ ${reply%% *} == "$want" ]] || die "S3 request $method $path: expected $want, got: $reply"
  printf '%s' "${reply#* }"
}

if [[ -n $SWIFT_BUCKET ]]; then
  s3_expect 200 PUT "/$SWIFT_BUCKET" >/dev/null
  probe="probe $(date +%s%N)"
  s3_expect 200 PUT "/$SWIFT_BUCKET/.swift-s3-up-probe" "$probe" >/dev/null
  read_back=$(s3_expect 200 GET "/$SWIFT_BUCKET/.swift-s3-up-probe")
  [[ $read_back == "$probe" ]] || die "the probe object read back differs from what was stored"
  s3_expect 204 DELETE "/$SWIFT_BUCKET/.swift-s3-up-probe" >/dev/null
  log "bucket $SWIFT_BUCKET created and a probe object stored and read back [$(since_start)]"
fi

cat >"$SWIFT_DIR/s3.env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$SWIFT_PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export S3_BUCKET=$SWIFT_BUCKET
export S3_FORCE_PATH_STYLE=true
EOF
printf '{"endpoint":"http://127.0.0.1:%s","accessKeyId":"%s","secretAccessKey":"%s","region":"%s","bucket":"%s","forcePathStyle":true}\n' \
  "$SWIFT_PORT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" "$SWIFT_BUCKET" >"$SWIFT_DIR/s3.json.tmp"
mv "$SWIFT_DIR/s3.json.tmp" "$SWIFT_DIR/s3.json"
log "up in $(since_start); logs: $SWIFT_DIR/log"
log "stop with: SWIFT_DIR=$SWIFT_DIR bash scripts/swift-s3-down.sh"
cat "$SWIFT_DIR/s3.env"
