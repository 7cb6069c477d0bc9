#!/usr/bin/env bash
# Mizuchi Uploadr test backend: a disposable single-node Ceph cluster (one mon, one OSD and
# one radosgw) that serves S3 on 127.0.0.1. The daemons run in the background without systemd
# and keep all their state under $RGW_DIR.
#
# Calling it again while the cluster is healthy changes nothing: it only prints the settings.
# A half-dead cluster left behind by an earlier run is stopped, wiped and started afresh.
#
# Ceph 16.2 (Debian 12: ceph-mon ceph-osd radosgw ceph-common). Missing packages are installed
# with apt-get when running as root and RGW_INSTALL=auto.
#
# Environment:
#   RGW_DIR        state directory, wiped on every fresh start (default /tmp/mizuchi-radosgw)
#   RGW_STORE      memstore (default): objects live in the OSD's memory, which grows with the
#                    data written, so it suits tests, not bulk data;
#                  bluestore: a sparse block file under RGW_DIR. It opens the file with O_DIRECT,
#                    which tmpfs (/dev/shm) rejects, so keep RGW_DIR on a real disk for it.
#   RGW_STORE_GB   capacity of the object store in GiB (default 10)
#   RGW_PORT       S3 port (default 7480). When it is taken and was not set explicitly, the next
#                  free port is used instead.
#   RGW_ACCESS_KEY, RGW_SECRET_KEY   credentials of the S3 user (fixed test values by default)
#   RGW_BUCKET     bucket created at start (default test-bucket; set it empty for none)
#   RGW_TIMEOUT    seconds to wait for radosgw to answer HTTP (default 90)
#   RGW_INSTALL    auto | never (default auto)
#
# Results: $RGW_DIR/s3.env (shell exports) and $RGW_DIR/s3.json (for the tests); the exports are
# also printed on stdout, so `eval "$(bash scripts/radosgw-up.sh)"` works. Progress goes to stderr.
# Stop it with scripts/radosgw-down.sh and the same RGW_DIR. Clusters in different RGW_DIRs can
# coexist, but start them one at a time: free ports are looked up, not reserved.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/mizuchi-radosgw}
RGW_STORE=${RGW_STORE:-memstore}
RGW_STORE_GB=${RGW_STORE_GB:-10}
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-MIZUCHITESTACCESSKEY}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-mizuchiTestSecretKey00000000000000000000}
RGW_BUCKET=${RGW_BUCKET-test-bucket}
RGW_TIMEOUT=${RGW_TIMEOUT:-90}
RGW_INSTALL=${RGW_INSTALL:-auto}
PORT_WAS_SET=${RGW_PORT:+yes}
RGW_PORT=${RGW_PORT:-7480}
REGION=us-east-1

CONF="$RGW_DIR/ceph.conf"
MARKER="$RGW_DIR/.mizuchi-radosgw" # proves the directory is ours to wipe
DAEMONS=(client.rgw.local osd.0 mon.a)
APT_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)

START_NS=$(date +%s%N)
LOG_TAG=radosgw-up
# shellcheck source=lib/backend-up.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/backend-up.sh"

case $RGW_STORE in memstore | bluestore) ;; *) die "RGW_STORE must be memstore or bluestore" ;; esac
[[ $RGW_DIR == /* ]] || die "RGW_DIR must be an absolute path"
[[ $RGW_STORE_GB =~ ^[1-9][0-9]*$ ]] || die "RGW_STORE_GB must be a positive integer"
if [[ $RGW_STORE == bluestore ]]; then
  # Ask about the nearest existing ancestor: RGW_DIR itself may not exist yet.
  probe=$RGW_DIR
  until [[ -d $probe ]]; do probe=$(dirname "$probe"); done
  [[ $(stat -f -c %T "$probe") != tmpfs ]] ||
    die "bluestore needs O_DIRECT, which tmpfs lacks: put RGW_DIR on a disk, or use memstore"
fi

# ---- small helpers ----------------------------------------------------------------------------
pidfile_pid() { [[ -s $RGW_DIR/run/$1.pid ]] && cat "$RGW_DIR/run/$1.pid"; }
# A daemon counts as ours only if its command line names our ceph.conf: a pid file can outlive
# its process, and the number may since belong to something else.
daemon_alive() {
  local pid
  pid=$(pidfile_pid "$1") || return 1
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}
# A daemon forks into the background before it writes its pid file: without the file it may still
# be starting. It has died only when its pid file names a process that is gone.
daemon_died() { [[ -s $RGW_DIR/run/$1.pid ]] && ! daemon_alive "$1"; }
ceph_cmd() { timeout 30 ceph --conf "$CONF" --connect-timeout 15 "$@"; }
# Signed S3 requests with curl's built-in SigV4 (curl >= 7.75). radosgw insists on the
# x-amz-content-sha256 header, which curl does not add by itself.
s3_request() {
  curl -sS --max-time 30 --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
answers_http() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/" || true) == 200 ]]
}
show_settings() {
  cat "$RGW_DIR/s3.env"
  local kib=0 pid name
  for name in "${DAEMONS[@]}"; do
    if pid=$(pidfile_pid "$name"); then
      kib=$((kib + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    fi
  done
  log "resident memory of the daemons: $((kib / 1024)) MiB; logs: $RGW_DIR/log"
  log "stop with: RGW_DIR=$RGW_DIR bash scripts/radosgw-down.sh"
}

# ---- already running? -------------------------------------------------------------------------
if [[ -f $MARKER && -s $RGW_DIR/s3.env && -s $RGW_DIR/s3.json ]]; then
  healthy=yes
  for name in "${DAEMONS[@]}"; do daemon_alive "$name" || healthy=no; done
  if ! grep -qxF "osd objectstore = $RGW_STORE" "$CONF" 2>/dev/null; then
    log "the cluster in $RGW_DIR does not use $RGW_STORE: replacing it"
    healthy=no
  fi
  # shellcheck disable=SC1091
  port=$(. "$RGW_DIR/s3.env" && echo "${S3_ENDPOINT##*:}")
  if [[ $healthy == yes ]] && answers_http "$port"; then
    log "already running in $RGW_DIR"
    show_settings
    exit 0
  fi
fi
if [[ -f $MARKER ]]; then
  if compgen -G "$RGW_DIR/run/*.pid" >/dev/null; then
    log "found a stale or partial cluster in $RGW_DIR: stopping it and starting over"
    RGW_DIR=$RGW_DIR bash "$(dirname "${BASH_SOURCE[0]}")/radosgw-down.sh" >&2 || true
  else
    log "the previous cluster in $RGW_DIR was stopped: wiping it and starting a new one"
  fi
  rm -rf "${RGW_DIR:?}"
elif [[ -e $RGW_DIR && -n $(ls -A "$RGW_DIR" 2>/dev/null) ]]; then
  die "$RGW_DIR is not empty and was not created by this script; not wiping it"
fi

# ---- packages ---------------------------------------------------------------------------------
missing=()
for pair in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:radosgw \
  ceph:ceph-common monmaptool:ceph-common curl:curl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  install_packages RGW_INSTALL "$RGW_INSTALL" "$RGW_DIR" "$MARKER" 20 "${missing[@]}"
fi

# ---- ports and configuration ------------------------------------------------------------------
if port_in_use "$RGW_PORT"; then
  [[ -z $PORT_WAS_SET ]] || die "RGW_PORT=$RGW_PORT is already in use"
  RGW_PORT=$(next_free_port "$RGW_PORT")
fi
# Below Linux's ephemeral range (32768-60999): a port there can be held by some client socket
# that no listener check sees, and the monitor's bind would then fail.
MON_V2_PORT=$(next_free_port 13300)
MON_V1_PORT=$(next_free_port $((MON_V2_PORT + 1)))
mkdir -p "$RGW_DIR"/{mon,osd,rgw,run,log}
touch "$MARKER"
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
STORE_BYTES=$((RGW_STORE_GB * 1024 * 1024 * 1024))
MON_ADDR="[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]"
if [[ $RGW_STORE == memstore ]]; then
  STORE_SETTINGS="memstore device bytes = $STORE_BYTES"
else
  STORE_SETTINGS=$(
    cat <<EOF
# The OSD creates osd/block itself at mkfs: a sparse file, so only written data takes disk space.
bluestore block size = $STORE_BYTES
bluestore block create = true
# Closing a block device waits for its aio thread, which polls every bdev_aio_poll_ms (250 ms by
# default). mkfs and start-up open and close the device about a dozen times, which alone cost
# some 3 s of the start. The shorter poll only matters while the device is open and idle.
bdev aio poll ms = 20
# mkfs checks the store it has just written; an empty store on a throwaway cluster needs no fsck.
bluestore fsck on mkfs = false
# Keep the caches small: the test data passes through once and is read back once.
bluestore cache autotune = false
bluestore cache size = 268435456
EOF
  )
fi

cat >"$CONF" <<EOF
# Written by radosgw-up.sh: a throwaway one-node test cluster on loopback with auth disabled.
[global]
fsid = $FSID
mon host = $MON_ADDR
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# With auth off, clients must not ask the mon for an encrypted session. radosgw defaults to
# "secure" here; it then fails auth with -13 and sits for 300 s before giving up.
ms mon client mode = crc
client mount timeout = 20
run dir = $RGW_DIR/run
log file = $RGW_DIR/log/\$name.log
# One OSD: every pool must be content with a single replica, or no placement group ever
# becomes active and radosgw waits forever for its pools.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false

[mon.a]
mon data = $RGW_DIR/mon
# Paxos normally batches map updates for a second. radosgw creates its pools one by one with
# a couple of mon commands each, so the default adds well over ten seconds to the start.
paxos propose interval = 0.01
paxos min wait = 0.001
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid

[osd.0]
osd data = $RGW_DIR/osd
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
osd objectstore = $RGW_STORE
$STORE_SETTINGS
osd memory target = 1073741824
osd mon shutdown timeout = 1
# radosgw relies on OSD object classes (rgw, lock, ...); allow all of them.
osd class load list = *
osd class default list = *

[client.rgw.local]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $RGW_DIR/rgw
keyring = /dev/null
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
rgw enable usage log = false
# RGW frees the data of deleted or overwritten objects (and aborted multipart parts) through its
# garbage collector, by default two hours later. A test run uploads gigabytes; with memstore that
# fills the OSD (it then reports "full" and every write hangs). Collect garbage within seconds.
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw gc processor max time = 10
EOF

# ---- monitor ----------------------------------------------------------------------------------
log "mon: creating and starting (ports $MON_V2_PORT/$MON_V1_PORT)"
monmaptool --create --fsid "$FSID" --addv a "$MON_ADDR" "$RGW_DIR/monmap" >/dev/null
ceph-mon --conf "$CONF" --id a --mkfs --monmap "$RGW_DIR/monmap" --keyring /dev/null
# Each daemon forks into the background by itself and records its pid in run/<name>.pid.
ceph-mon --conf "$CONF" --id a </dev/null >>"$RGW_DIR/log/mon.a.stderr" 2>&1

# ---- object storage daemon --------------------------------------------------------------------
log "osd: registering ($RGW_STORE, $RGW_STORE_GB GiB) [$(since_start)]"
osd_id=$(ceph_cmd osd new "$OSD_UUID") || die "the mon does not answer; see $RGW_DIR/log/mon.a.log"
[[ $osd_id == 0 ]] || die "expected OSD id 0, got '$osd_id'"
ceph-osd --conf "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$RGW_DIR/log/osd-mkfs.out" 2>&1 ||
  die "OSD mkfs failed; see $RGW_DIR/log/osd-mkfs.out"
ceph-osd --conf "$CONF" -i 0 </dev/null >>"$RGW_DIR/log/osd.0.stderr" 2>&1
log "osd: started [$(since_start)]"

# ---- radosgw: waits for the OSD on its own, creates its pools, then opens the port -------------
radosgw --conf "$CONF" -n client.rgw.local </dev/null >>"$RGW_DIR/log/rgw.stderr" 2>&1 ||
  die "radosgw did not start; see $RGW_DIR/log"
log "radosgw: waiting for http://127.0.0.1:$RGW_PORT [$(since_start)]"
deadline=$(($(date +%s) + RGW_TIMEOUT))
until answers_http "$RGW_PORT"; do
  (($(date +%s) < deadline)) || die "radosgw did not answer within $RGW_TIMEOUT s; see $RGW_DIR/log"
  for name in "${DAEMONS[@]}"; do
    if daemon_died "$name"; then die "$name exited; see $RGW_DIR/log"; fi
  done
  sleep 0.25
done
log "radosgw: answering [$(since_start)]"

timeout 60 radosgw-admin --conf "$CONF" user create --uid=mizuchi-test --display-name="Mizuchi tests" \
  --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" >"$RGW_DIR/user.json" ||
  die "radosgw-admin user create failed"

if [[ -n $RGW_BUCKET ]]; then
  status=$(s3_request -o "$RGW_DIR/log/create-bucket.out" -w '%{http_code}' -X PUT \
    "http://127.0.0.1:$RGW_PORT/$RGW_BUCKET")
  [[ $status == 200 ]] || die "creating bucket $RGW_BUCKET: HTTP $status $(cat "$RGW_DIR/log/create-bucket.out")"
  # Upload from a file rather than a pipe: without a known length curl would send no
  # Content-Length, and radosgw (like S3) answers such a PUT with 411.
  printf 'probe\n' >"$RGW_DIR/probe.txt"
  status=$(s3_request -o /dev/null -w '%{http_code}' -T "$RGW_DIR/probe.txt" \
    "http://127.0.0.1:$RGW_PORT/$RGW_BUCKET/.radosgw-up-probe")
  [[ $status == 200 ]] || die "probe upload: HTTP $status"
  s3_request -o /dev/null -X DELETE "http://127.0.0.1:$RGW_PORT/$RGW_BUCKET/.radosgw-up-probe"
  log "bucket $RGW_BUCKET created and a probe upload succeeded [$(since_start)]"
fi

cat >"$RGW_DIR/s3.env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export S3_BUCKET=$RGW_BUCKET
export S3_FORCE_PATH_STYLE=true
EOF
printf '{"endpoint":"http://127.0.0.1:%s","accessKeyId":"%s","secretAccessKey":"%s","region":"%s","bucket":"%s","forcePathStyle":true}\n' \
  "$RGW_PORT" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" "$REGION" "$RGW_BUCKET" >"$RGW_DIR/s3.json.tmp"
mv "$RGW_DIR/s3.json.tmp" "$RGW_DIR/s3.json"
log "up in $(since_start)"
show_settings
