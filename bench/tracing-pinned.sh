#!/usr/bin/env bash
# Tracing overhead, measured in pinned pairs (docs/TRACING.md, "Tracing overhead").
#
#   bash bench/tracing-pinned.sh [--rounds 8] [--seconds 5] [--sampling always|never]
#                                [--traced-env 'NAME=value ...']
#
# The untraced and the traced gateway (dist/src/main.js, built by `npm run build`) run at the
# same time, each pinned to its own CPU with its own S3 sink (bench/sink.c) and its own wrk
# sending 1 KiB PUTs at concurrency 16; the traced one exports OTLP/HTTP to a counting sink on
# its CPU. The two sides swap CPUs every round, so a CPU that is slower than the other (this
# VM's two vCPUs often differ) weighs on both equally, and the geometric mean of the per-round
# on/off ratios cancels it. Two untraced gateways measured this way came out within 1 %; a CPU
# whose speed changes from one round to the next is not cancelled, so repeat a run before
# trusting a difference of a few percent.
# Needs two CPUs, taskset, wrk, gcc and curl. Prints each round, then the means.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=8 seconds=5 sampling=always traced_env=''
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sampling) sampling=$2; shift 2 ;;
    --traced-env) traced_env=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in taskset wrk gcc curl; do
  command -v "$tool" >/dev/null || { echo "tracing-pinned: $tool is missing" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "tracing-pinned: needs two CPUs" >&2; exit 1; }
[ -f dist/src/main.js ] || { echo "tracing-pinned: run npm run build first" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -pthread -o "$work/sink" bench/sink.c
head -c 1024 /dev/urandom >"$work/body"

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for() { # port
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/health/live" && return 0; sleep 0.1; done
  echo "tracing-pinned: nothing answers on port $1" >&2; exit 1
}

start_sink() { # name: starts bench/sink.c, its pid in $work/name.pid, its port in $work/name.out
  "$work/sink" 0 >"$work/$1.out" 2>&1 </dev/null &
  pids+=($!)
  echo $! >"$work/$1.pid"
}
sink_port() { # name
  for _ in $(seq 50); do grep -q listening "$work/$1.out" 2>/dev/null && break; sleep 0.1; done
  awk '/listening/ {print $2}' "$work/$1.out"
}
start_sink sink-off
start_sink sink-on
sink_off=$(sink_port sink-off)
sink_on=$(sink_port sink-on)
otlp_port=$(free_port)
node -e "
  let n = 0;
  require('http').createServer((req, res) => { req.resume(); req.on('end', () => { n++; res.end(); }); })
    .listen($otlp_port, '127.0.0.1');
  process.on('SIGTERM', () => { console.log(n); process.exit(0); });" >"$work/otlp.out" 2>&1 </dev/null &
otlp_pid=$!
pids+=("$otlp_pid")

config() { # name port sink tracing
  cat >"$work/$1.yaml" <<YAML
server: { address: 127.0.0.1:$2 }
logging: { level: warn }
tracing: $4
buckets:
  - name: x
    path_prefix: /x
    upload: { multipart_threshold: 5GiB }
    s3: { bucket: b, endpoint: http://127.0.0.1:$3, region: us-east-1, access_key: AK, secret_key: SK }
YAML
}
port_off=$(free_port)
port_on=$(free_port)
config off "$port_off" "$sink_off" '{ enabled: false }'
config on "$port_on" "$sink_on" \
  "{ enabled: true, sampling: { strategy: $sampling }, otlp: { endpoint: 'http://127.0.0.1:$otlp_port' } }"
node dist/src/main.js --config "$work/off.yaml" >"$work/gw-off.log" 2>&1 </dev/null &
gw_off=$!
pids+=("$gw_off")
# shellcheck disable=SC2086 # --traced-env is a list of NAME=value words
env $traced_env node dist/src/main.js --config "$work/on.yaml" >"$work/gw-on.log" 2>&1 </dev/null &
gw_on=$!
pids+=("$gw_on")
wait_for "$port_off"
wait_for "$port_on"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pin() { taskset -a -pc "$1" "$2" >/dev/null; }
load() { # cpu port seconds -> requests
  taskset -c "$1" wrk -t1 -c16 -d"${3}s" -s bench/wrk-put.lua "http://127.0.0.1:$2/x/k" -- "$work/body" |
    sed -n 's/.*"requests":\([0-9]*\).*/\1/p'
}

echo "tracing-pinned: $rounds rounds of ${seconds}s, traced gateway sampling '$sampling'${traced_env:+, env $traced_env}"
: >"$work/rounds"
for round in $(seq 0 "$rounds"); do
  a=$((round % 2)) b=$((1 - round % 2))
  pin "$a" "$(cat "$work/sink-off.pid")"; pin "$a" "$gw_off"
  pin "$b" "$(cat "$work/sink-on.pid")"; pin "$b" "$gw_on"; pin "$b" "$otlp_pid"
  duration=$seconds
  [ "$round" = 0 ] && duration=3 # warm-up, not counted
  t_off=$(cpu_ticks "$gw_off") t_on=$(cpu_ticks "$gw_on")
  load "$a" "$port_off" "$duration" >"$work/n-off" &
  n_on=$(load "$b" "$port_on" "$duration")
  wait $!
  n_off=$(cat "$work/n-off")
  c_off=$(($(cpu_ticks "$gw_off") - t_off)) c_on=$(($(cpu_ticks "$gw_on") - t_on))
  [ "$round" = 0 ] && continue
  echo "$n_off $n_on $c_off $c_on" >>"$work/rounds"
  awk -v r="$round" -v a="$a" -v d="$duration" -v n0="$n_off" -v n1="$n_on" -v c0="$c_off" -v c1="$c_on" 'BEGIN {
    printf "round %d (untraced on cpu %d): req/s off %.0f on %.0f (%.3f), CPU us/req off %.0f on %.0f (%.3f)\n",
      r, a, n0 / d, n1 / d, n1 / n0, c0 * 1e4 / n0, c1 * 1e4 / n1, (c1 / n1) / (c0 / n0) }'
done
awk '{ r += log($2 / $1); c += log(($4 / $2) / ($3 / $1)); n++ } END {
  printf "geometric means over %d rounds: requests/s on/off %.3f, CPU per request on/off %.3f\n",
    n, exp(r / n), exp(c / n) }' "$work/rounds"
