#!/usr/bin/env bash
# Tracing overhead, measured on one CPU in fresh process pairs (docs/TRACING.md, "Tracing overhead").
#
#   bash bench/tracing-pinned.sh [--pairs 6] [--rounds 6] [--seconds 1] [--warmup 20]
#                                [--sampling always|never|ratio:R|off] [--traced-env 'NAME=v ...']
#                                [--node PATH] [--base off|always|never|ratio:R]
#                                [--base-env 'NAME=v ...'] [--base-dist DIR]
#
# An untraced and a traced gateway (dist/src/main.js, built by `npm run build`) both run pinned
# to CPU 1; the S3 sink (bench/sink.c), the OTLP sink that the traced one exports to, and wrk
# (1 KiB PUTs at concurrency 16) run on CPU 0. wrk loads one gateway at a time, in the order
# ABBA, so a CPU whose speed drifts weighs on both sides alike, and both sides share one CPU's
# caches and one kernel path. Two untraced gateways still differ by up to 7 % from one process
# pair to the next (JIT decisions, heap layout), so the measurement restarts both for each of
# --pairs pairs, alternating which starts first, and reports the geometric mean over every
# round of every pair with the range of the pairs. `--sampling off` makes both sides untraced:
# the noise floor. `--base`, `--base-env` and `--base-dist` (another build's dist directory,
# e.g. a copy made before a change) give the first side a configuration or code of its own, to
# compare two traced gateways with each other in one run. Each gateway gets --warmup seconds of
# load before the rounds, in 1 s slices taken in turn: on the reference VM a traced gateway needs
# 5 to 20 s of it to reach its steady rate (V8 optimizes its code as it runs), an untraced one 4
# to 6 s, so with 5 s the first rounds still measured part of that warm-up; and a gateway left
# idle while the other one warmed up started the rounds up to 15 % slower. CPU is the gateway process's, all
# threads (V8's compiler and GC helpers included). Needs two CPUs, taskset, wrk, gcc and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=6 rounds=6 seconds=1 warmup=20 sampling=always traced_env='' node_bin=node base=off base_env='' base_dist=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --sampling) sampling=$2; shift 2 ;;
    --traced-env) traced_env=$2; shift 2 ;;
    --node) node_bin=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --base-env) base_env=$2; shift 2 ;;
    --base-dist) base_dist=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in taskset wrk gcc curl; do
  command -v "$tool" >/dev/null || { echo "tracing-pinned: $tool is missing" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "tracing-pinned: needs two CPUs" >&2; exit 1; }
[ -f dist/src/main.js ] || { echo "tracing-pinned: run npm run build first" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
head -c 1024 /dev/urandom >"$work/body"

start_sink taskset -c 0
start_otlp_sink taskset -c 0
config() { # name port tracing
  cat >"$work/$1.yaml" <<YAML
server: { address: 127.0.0.1:$2 }
logging: { level: warn }
tracing: $3
buckets:
  - name: x
    path_prefix: /x
    upload: { multipart_threshold: 5GiB }
    s3: { bucket: b, endpoint: http://127.0.0.1:$sink, region: us-east-1, access_key: AK, secret_key: SK }
YAML
}
ports=("$(free_port)" "$(free_port)")

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() { # port seconds -> requests
  taskset -c 0 wrk -t1 -c16 -d"${2}s" -s bench/wrk-put.lua "http://127.0.0.1:$1/x/k" -- "$work/body" |
    sed -n 's/.*"requests":\([0-9]*\).*/\1/p'
}
start_gateway() { # name: starts it, its pid in gw[name]
  # shellcheck disable=SC2086 # --traced-env is a list of NAME=value words
  local env_words=$base_env main=$base_dist/src/main.js
  [ "$1" = on ] && env_words=$traced_env main=dist/src/main.js
  # One simple command, so that $! is the gateway itself (env and taskset exec it).
  env $env_words taskset -c 1 "$node_bin" "$main" --config "$work/$1.yaml" >"$work/gw-$1.log" 2>&1 </dev/null &
  gw[$1]=$!
  pids+=($!)
}

declare -A gw=()
echo "tracing-pinned: $pairs pairs x $rounds rounds x ${seconds}s each side after ${warmup}s of warm-up," \
  "traced side '$sampling'${traced_env:+ with $traced_env}, other side '$base'${base_env:+ with $base_env}," \
  "$("$node_bin" --version)"
: >"$work/rounds"
for pair in $(seq 1 "$pairs"); do
  # Odd pairs start the untraced gateway first, even pairs the traced one, and the two swap
  # ports: neither the start order nor a port favours a side.
  if [ $((pair % 2)) = 1 ]; then first=off second=on; else first=on second=off; fi
  port_off=${ports[$((pair % 2))]} port_on=${ports[$((1 - pair % 2))]}
  config off "$port_off" "$(tracing_of "$base")"
  config on "$port_on" "$(tracing_of "$sampling")"
  start_gateway "$first"
  start_gateway "$second"
  wait_live "$port_off"
  wait_live "$port_on"
  # Warm-up in 1 s slices taken in turn: warmed one after the other, the gateway that then sat
  # idle started the rounds slower (both untraced: 9 % on average, up to 15 % in a pair).
  for slice in $(seq 1 "$warmup"); do
    if [ $((slice % 2)) = 1 ]; then order="$port_off $port_on"; else order="$port_on $port_off"; fi
    for port in $order; do load "$port" 1 >/dev/null; done
  done
  : >"$work/pair"
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="off on"; else order="on off"; fi
    for side in $order; do
      port=$port_off
      [ "$side" = on ] && port=$port_on
      t=$(cpu_ticks "${gw[$side]}")
      n=$(load "$port" "$seconds")
      eval "n_$side=$n c_$side=$(($(cpu_ticks "${gw[$side]}") - t))"
    done
    echo "$n_off $n_on $c_off $c_on" | tee -a "$work/rounds" >>"$work/pair"
  done
  kill "${gw[off]}" "${gw[on]}"
  wait "${gw[off]}" "${gw[on]}" 2>/dev/null || true
  awk -v p="$pair" -v f="$first" -v d="$seconds" '
    { r += log($2 / $1); c += log(($4 / $2) / ($3 / $1)); n0 += $1; n1 += $2; k++ }
    END { printf "pair %d (%s started first): req/s off %.0f on %.0f, on/off %.3f, CPU per request on/off %.3f\n",
      p, f, n0 / (k * d), n1 / (k * d), exp(r / k), exp(c / k) }' "$work/pair" | tee -a "$work/pairs"
done
awk '{ r += log($2 / $1); c += log(($4 / $2) / ($3 / $1)); n++ } END {
  printf "geometric means over %d rounds: requests/s on/off %.3f, CPU per request on/off %.3f\n",
    n, exp(r / n), exp(c / n) }' "$work/rounds"
read -r median low high < <(awk '{ print $(NF - 5) + 0 }' "$work/pairs" | median_range)
printf 'pairs: median %.3f, range %.3f to %.3f (requests/s on/off)\n' "$median" "$low" "$high"
