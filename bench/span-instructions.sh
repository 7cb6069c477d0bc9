#!/usr/bin/env bash
# Instructions per request of tracing's own work, without the rest of the gateway: valgrind's
# callgrind counts bench/span-pipeline.js (the built gateway's span code, called as a small
# PutObject calls it) over two lengths of run, and the difference between them, divided by the
# difference in requests, is what one more request costs. Start-up cancels out; a collection or
# a compilation that falls in one run and not the other does not, so runs agree to a few
# hundred instructions. Each mode runs separately: `off` is the loop itself, `never` adds the
# span sites of an unsampled request, `always` the recording, encoding and export of its spans.
#
#   bash bench/span-instructions.sh [--requests N] [--modes 'off never always']
#
# Needs valgrind (apt-get install valgrind) and a built gateway (npm run build). About two
# minutes with the defaults (N and 2N requests per mode, N = 20,000, the runs in parallel).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=20000 modes='off never always'
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 64 ;;
  esac
done
command -v valgrind >/dev/null || { echo 'span-instructions.sh needs valgrind' >&2; exit 69; }
[ -f dist/src/main.js ] || { echo 'build the gateway first: npm run build' >&2; exit 69; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_otlp_sink

# count MODE N: total instructions of one run, into $work/MODE.N
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    node --no-allocation-site-pretenuring --single-threaded bench/span-pipeline.js \
    "$1" "$2" "http://127.0.0.1:$otlp_port" 2>"$work/$1.$2.err" >/dev/null ||
    { echo "span-pipeline.js $1 $2 failed:" >&2; grep -v '^==' "$work/$1.$2.err" >&2; return 1; }
  sed -n 's/.*refs: *//p' "$work/$1.$2.err" | tr -d , >"$work/$1.$2"
}

echo "instructions per request of the span pipeline ($requests and $((2 * requests)) requests, $(node --version))"
runs=()
for mode in $modes; do
  count "$mode" "$requests" &
  runs+=($!)
  count "$mode" $((2 * requests)) &
  runs+=($!)
done
wait "${runs[@]}" # not the sink, which runs until the script ends
for mode in $modes; do
  awk -v m="$mode" -v n="$requests" -v a="$(cat "$work/$mode.$requests")" \
    -v b="$(cat "$work/$mode.$((2 * requests))")" \
    'BEGIN { printf "%-7s %8.0f\n", m, (b - a) / n }'
done
