#!/usr/bin/env bash
# Conformance suite (issue 8): real S3 clients (aws CLI, @aws-sdk/client-s3 with lib-storage and
# the presigner, boto3, curl with a JWT or a presigned URL) upload through the gateway into two
# independent S3 implementations, and every case reads the stored bytes back from the backend
# itself:
#   ceph-bluestore  Ceph RADOS Gateway 16 with a bluestore OSD (data on disk, not in memory),
#                   started by scripts/radosgw-up.sh with RGW_STORE=bluestore;
#   swift           OpenStack Swift 2.30 with its s3api middleware, from scripts/swift-s3-up.sh.
#
# For each backend in turn: start it in its own directory (on free ports), run the e2e specs
# below with MIZUCHI_TEST_S3_JSON pointing at its s3.json (the jest global setup then leaves the
# memstore Ceph of `npm test` alone), stop it, and report. The cases of those specs that test the
# gateway's own filesystem backend say nothing about S3 conformance and are left out. Test names
# say "the Ceph RADOS Gateway" for the S3 route whichever backend serves it.
#
# Environment:
#   CONFORMANCE_BACKENDS  which backends, in order (default "ceph-bluestore swift")
#   CONFORMANCE_DIR       parent of the backends' state directories (default
#                         /var/tmp/mizuchi-conformance; not tmpfs: bluestore needs O_DIRECT)
#   CONFORMANCE_SPECS     the e2e spec files to run (default: the list below)
#
# A backend's directory is deleted after a clean pass and kept (logs included) after a failure.
# Exits non-zero when any backend fails to start or fails a test.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

read -r -a BACKENDS <<<"${CONFORMANCE_BACKENDS:-ceph-bluestore swift}"
CONFORMANCE_DIR=${CONFORMANCE_DIR:-/var/tmp/mizuchi-conformance}
DEFAULT_SPECS=(
  test/real-clients.e2e-spec.ts
  test/put-object.e2e-spec.ts
  test/multipart.e2e-spec.ts
  test/auto-multipart.e2e-spec.ts
  test/zero-copy.e2e-spec.ts
)
read -r -a SPECS <<<"${CONFORMANCE_SPECS:-${DEFAULT_SPECS[*]}}"
# Jest matches this against each test's full name (its describe blocks included).
NOT_FILESYSTEM='^(?!.*the filesystem backend)'

log() { printf '[conformance %s] %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds_since() { awk -v ms=$(($(now_ms) - $1)) 'BEGIN { printf "%.1f s", ms / 1000 }'; }

[[ $CONFORMANCE_DIR == /* ]] || {
  log "CONFORMANCE_DIR must be an absolute path"
  exit 2
}
for backend in "${BACKENDS[@]}"; do
  case $backend in
    ceph-bluestore | swift) ;;
    *)
      log "unknown backend '$backend' (known: ceph-bluestore swift)"
      exit 2
      ;;
  esac
done
[[ -x node_modules/.bin/jest ]] || {
  log "node_modules/.bin/jest is missing: run npm ci first"
  exit 2
}
mkdir -p "$CONFORMANCE_DIR"

# backend_up/backend_down NAME DIR: start or stop one backend; the scripts' progress goes to
# stderr, their shell exports (stdout) are not needed here.
backend_up() {
  case $1 in
    ceph-bluestore) RGW_DIR=$2 RGW_STORE=bluestore RGW_STORE_GB=8 bash scripts/radosgw-up.sh ;;
    swift) SWIFT_DIR=$2 bash scripts/swift-s3-up.sh ;;
  esac >/dev/null
}
backend_down() {
  case $1 in
    ceph-bluestore) RGW_DIR=$2 RGW_PURGE=${3:-0} bash scripts/radosgw-down.sh ;;
    swift) SWIFT_DIR=$2 SWIFT_PURGE=${3:-0} bash scripts/swift-s3-down.sh ;;
  esac
}
# The end of the backend's own logs: the test output alone rarely says why a backend misbehaved.
show_backend_logs() {
  local file
  case $1 in
    ceph-bluestore) set -- "$2"/log/{mon.a,osd.0,client.rgw.local}.log ;;
    swift) set -- "$2"/log/{proxy,object,container,account}.log ;;
  esac
  for file in "$@"; do
    [[ -f $file ]] || continue
    printf '\n---- last lines of %s ----\n' "$file" >&2
    tail -n 20 "$file" >&2
  done
}
# The names of the failed tests in a jest log, one a line, each once.
jest_failures() {
  grep -E '^  ● ' "$1" | sed 's/^  ● /      ✕ /' | sort -u
}
# "N passed, M failed, K skipped" from a jest log.
jest_counts() {
  awk '/^Tests:/ { for (i = 2; i <= NF; i++) { if ($(i) ~ /^passed/) p = $(i - 1); if ($(i) ~ /^failed/) f = $(i - 1); if ($(i) ~ /^skipped/) s = $(i - 1) } }
    END { printf "%d passed, %d failed, %d skipped", p, f, s }' "$1"
}

# Whatever happens (a failure, Ctrl-C), no backend is left running.
current=''
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [[ -n $current ]]; then
    log "stopping $current after an interruption"
    backend_down "$current" "$CONFORMANCE_DIR/$current" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A SUMMARY FAILURES
failed=0
suite_start=$(now_ms)
for backend in "${BACKENDS[@]}"; do
  dir="$CONFORMANCE_DIR/$backend"
  printf '\n==> conformance: %s\n' "$backend"
  current=$backend
  # A backend left over by an interrupted run is stopped first, so that this run starts fresh
  # (the up scripts wipe a stopped backend's directory).
  backend_down "$backend" "$dir" 2>/dev/null

  start=$(now_ms)
  if ! backend_up "$backend" "$dir"; then
    up_time=$(seconds_since "$start")
    log "$backend did not come up"
    show_backend_logs "$backend" "$dir"
    backend_down "$backend" "$dir"
    current=''
    SUMMARY[$backend]="up FAILED after $up_time; no tests ran; state kept in $dir"
    failed=1
    continue
  fi
  up_time=$(seconds_since "$start")
  log "$backend is up ($up_time): $(node -p "require('$dir/s3.json').endpoint")"

  start=$(now_ms)
  jest_log="$dir/jest.log"
  env -u MIZUCHI_TEST_CEPH_DIR MIZUCHI_TEST_S3_JSON="$dir/s3.json" \
    node_modules/.bin/jest --selectProjects e2e --runInBand --testNamePattern "$NOT_FILESYSTEM" \
    "${SPECS[@]}" 2>&1 | tee "$jest_log"
  status=${PIPESTATUS[0]}
  test_time=$(seconds_since "$start")
  counts=$(jest_counts "$jest_log")

  if ((status == 0)); then
    start=$(now_ms)
    backend_down "$backend" "$dir" 1
    verdict="PASS"
  else
    show_backend_logs "$backend" "$dir"
    start=$(now_ms)
    backend_down "$backend" "$dir"
    verdict="FAIL (jest exit code $status; logs kept in $dir)"
    FAILURES[$backend]=$(jest_failures "$jest_log")
    failed=1
  fi
  current=''
  SUMMARY[$backend]="up $up_time, tests $test_time, down $(seconds_since "$start"): $counts; $verdict"
done

printf '\n==> conformance summary (%s in all)\n' "$(seconds_since "$suite_start")"
for backend in "${BACKENDS[@]}"; do
  printf '  %-15s %s\n' "$backend" "${SUMMARY[$backend]}"
  [[ -z ${FAILURES[$backend]:-} ]] || printf '%s\n' "${FAILURES[$backend]}"
done
exit "$failed"
