#!/usr/bin/env bash
# Instructions per small upload, counted by valgrind's callgrind: two gateways side by side (by
# default untraced and traced with every request sampled), each warmed up, then measured over a
# fixed number of 4 KiB PUTs. Instruction counts do not depend on how fast this VM's vCPUs run at
# the moment, so two runs agree to about 1-2 % (req/s on the same VM moves by 10 % and more);
# they count every thread of the process (JIT compilers and GC helpers too), not cache misses or
# syscalls' kernel time.
#
#   bash bench/instructions.sh [--warm N] [--requests N] [--a off|always|never|ratio:R]
#                              [--b off|always|never|ratio:R] [--b-env 'NAME=value ...']
#
# Needs valgrind (apt-get install valgrind), gcc, curl and a built gateway (npm run build).
# About five minutes with the defaults (3,000 warm-up and 10,000 measured requests each; both
# gateways run at once, one per core, at about 1/50 of their normal speed).
set -euo pipefail
cd "$(dirname "$0")/.."

warm=3000 requests=10000 a=off b=always b_env=''
while [ $# -gt 0 ]; do
  case "$1" in
    --warm) warm=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --a) a=$2; shift 2 ;;
    --b) b=$2; shift 2 ;;
    --b-env) b_env=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 64 ;;
  esac
done
for tool in valgrind callgrind_control gcc curl; do
  command -v "$tool" >/dev/null || { echo "instructions.sh needs $tool" >&2; exit 69; }
done
[ -f dist/src/main.js ] || { echo 'build the gateway first: npm run build' >&2; exit 69; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_sink
start_otlp_sink

# measure NAME TRACING ENV: prints instructions per request
measure() {
  local name=$1 tr=$2 env=$3 port
  port=$(free_port)
  bench_config "$work/$name.yaml" "$port" "$tr"
  # shellcheck disable=SC2086
  env $env MIZUCHI_UPLOAD_ID_SECRET=instructions-bench-upload-id-secret-0123456789 \
    valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$work/$name.%p" \
    node dist/src/main.js --config "$work/$name.yaml" >"$work/$name.log" 2>&1 </dev/null &
  local gateway=$!
  wait_live "$port" 300
  node bench/put-client.js "$port" "$warm"
  sleep 1
  callgrind_control -z "$gateway" >/dev/null 2>&1
  node bench/put-client.js "$port" "$requests"
  callgrind_control -d "$gateway" >/dev/null 2>&1
  sleep 1
  local total
  total=$(awk '/^(summary|totals):/ {print $2}' "$(ls -t "$work/$name.$gateway"* | head -1)" | tail -1)
  kill "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
  echo $((total / requests)) >"$work/$name.result"
}

echo "instructions per 4 KiB PUT: A tracing '$a', B tracing '$b'${b_env:+ (B env: $b_env)}; $warm warm-up, $requests measured, $(node --version)"
measure A "$a" '' &
ma=$!
measure B "$b" "$b_env" &
mb=$!
wait $ma $mb
ia=$(cat "$work/A.result") ib=$(cat "$work/B.result")
awk -v a="$ia" -v b="$ib" 'BEGIN { printf "A %d  B %d instructions per request  B/A %.3f\n", a, b, b / a }'
