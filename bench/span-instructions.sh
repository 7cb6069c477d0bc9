#!/usr/bin/env bash
# Instructions per request of tracing's own work, without the rest of the gateway: valgrind's
# callgrind counts bench/span-pipeline.js (the built gateway's span code, called as a small
# PutObject calls it) over two lengths of run, and the difference between them, divided by the
# difference in requests, is what one more request costs. Start-up cancels out; a collection or
# a compilation that falls in one run and not the other does not, and moves a result by a few
# thousand instructions now and then, so each mode is measured --repeat times and the median is
# printed with the range. `off` is the loop itself (with nestjs-pino's AsyncLocalStorage, as an
# untraced gateway runs), `never` adds the span sites of an unsampled request, `always` the
# recording, encoding and export of its three spans.
#
#   bash bench/span-instructions.sh [--requests N] [--repeat 3] [--modes 'off never always']
#
# Needs valgrind (apt-get install valgrind) and a built gateway (npm run build). About seven
# minutes with the defaults (N and 2N requests per mode and repeat, N = 20,000; the runs of one
# repeat in parallel), on an otherwise idle machine: beside another callgrind, `always` gave
# 100 K instead of 78 K (probably the slower loop let the export connection pass its 4 s idle
# limit between batches, and each export connected anew). `off` comes out bimodal (about 23 K
# or 33 K); compare `never` with `always`.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=20000 repeat=3 modes='off never always'
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 64 ;;
  esac
done
command -v valgrind >/dev/null || { echo 'span-instructions.sh needs valgrind' >&2; exit 69; }
[ -f dist/src/main.js ] || { echo 'build the gateway first: npm run build' >&2; exit 69; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_otlp_sink

# count MODE N R: total instructions of one run, into $work/MODE.N.R
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    node --no-allocation-site-pretenuring --single-threaded bench/span-pipeline.js \
    "$1" "$2" "http://127.0.0.1:$otlp_port" 2>"$work/$1.$2.$3.err" >/dev/null ||
    { echo "span-pipeline.js $1 $2 failed:" >&2; grep -v '^==' "$work/$1.$2.$3.err" >&2; return 1; }
  sed -n 's/.*refs: *//p' "$work/$1.$2.$3.err" | tr -d , >"$work/$1.$2.$3"
}

echo "instructions per request of the span pipeline ($requests and $((2 * requests)) requests," \
  "median of $repeat, $(node --version))"
for r in $(seq "$repeat"); do
  runs=()
  for mode in $modes; do
    count "$mode" "$requests" "$r" &
    runs+=($!)
    count "$mode" $((2 * requests)) "$r" &
    runs+=($!)
  done
  wait "${runs[@]}" # not the sink, which runs until the script ends
done
for mode in $modes; do
  for r in $(seq "$repeat"); do
    echo $((($(cat "$work/$mode.$((2 * requests)).$r") - $(cat "$work/$mode.$requests.$r")) / requests))
  done | median_range | {
    read -r median low high
    printf '%-7s %8.0f  (range %d to %d)\n' "$mode" "$median" "$low" "$high"
  }
done
