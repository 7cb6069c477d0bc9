#!/usr/bin/env bash
# What small uploads leave to V8's old generation, with V8's default allocation-site pretenuring
# and with the gateway's setting (off, src/common/heap-tuning.ts), side by side in one run: per
# 4 KiB PUT, the bytes allocated, the bytes promoted out of the young generation, and the time
# spent in GC pauses; over the whole phase, the scavenges and full (mark-compact) collections;
# and the process's peak resident memory (VmHWM) at the end.
# Each gateway runs with --trace-gc-nvp, is warmed up, then measured over a fixed number of PUTs;
# the two settings alternate (default first in odd rounds), for tracing off and on. Byte counts
# barely move between runs; pause times are wall-clock and do.
#
#   bash bench/promotion.sh [--rounds 2] [--warm 5000] [--requests 20000] [--concurrency 8]
#                           [--tracing 'off always']
#
# Needs gcc, curl and a built gateway (npm run build). About two minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2 warm=5000 requests=20000 concurrency=8 modes='off always'
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --warm) warm=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --tracing) modes=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 64 ;;
  esac
done
for tool in gcc curl; do
  command -v "$tool" >/dev/null || { echo "promotion.sh needs $tool" >&2; exit 69; }
done
[ -f dist/src/main.js ] || { echo 'build the gateway first: npm run build' >&2; exit 69; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
start_sink
start_otlp_sink

# measure TRACING SETTING: appends "allocated promoted pause_us" per request, "scavenges
# mark_compacts" and the peak RSS in KiB to $work/TRACING-SETTING.rows
measure() {
  local tr=$1 setting=$2 port flags=() mark
  port=$(free_port)
  # node's own flag wins over the gateway's (heap-tuning.ts): this restores V8's default.
  [ "$setting" = default ] && flags=(--allocation-site-pretenuring)
  bench_config "$work/g.yaml" "$port" "$tr"
  MIZUCHI_UPLOAD_ID_SECRET=promotion-bench-upload-id-secret-0123456789 \
    node "${flags[@]}" --trace-gc-nvp dist/src/main.js --config "$work/g.yaml" >"$work/g.log" 2>&1 </dev/null &
  local gateway=$!
  pids+=("$gateway")
  wait_live "$port"
  node bench/put-client.js "$port" "$warm" "$concurrency"
  sleep 0.5
  mark=$(wc -l <"$work/g.log")
  node bench/put-client.js "$port" "$requests" "$concurrency"
  sleep 0.5
  local hwm
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$gateway/status")
  kill "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
  tail -n +"$((mark + 1))" "$work/g.log" | node -e '
    const n = Number(process.argv[1]);
    let allocated = 0, promoted = 0, pause = 0, scavenges = 0, full = 0;
    for (const line of require("fs").readFileSync(0, "utf8").split("\n")) {
      if (!line.includes(" gc=")) continue;
      const f = Object.fromEntries(line.split(/\s+/).map((w) => w.split("=")).filter((p) => p.length === 2));
      allocated += Number(f.allocated) || 0;
      promoted += Number(f.promoted) || 0;
      pause += Number(f.pause) || 0;
      if (f.gc === "s") scavenges++; else if (f.gc === "mc" || f.gc === "ms") full++;
    }
    console.log(allocated / n, promoted / n, (pause * 1000) / n, scavenges, full, process.argv[2]);
  ' "$requests" "$hwm" >>"$work/$tr-$setting.rows"
}

echo "V8 pretenuring, default vs the gateway's (off): $requests 4 KiB PUTs after $warm, concurrency $concurrency, $rounds round(s), $(node --version)"
for round in $(seq "$rounds"); do
  for tr in $modes; do
    if [ $((round % 2)) -eq 1 ]; then order='default gateway'; else order='gateway default'; fi
    for setting in $order; do measure "$tr" "$setting"; done
  done
done

for tr in $modes; do
  for setting in default gateway; do
    awk -v label="tracing $tr, $setting" '
      { a += $1; p += $2; t += $3; s += $4; m += $5; if ($6 > r) r = $6; n++ }
      END { printf "%-26s allocated %6.0f B  promoted %6.0f B  GC pause %5.1f us per request; %d scavenges, %d full GCs per round; peak RSS %d MiB\n", label, a / n, p / n, t / n, s / n, m / n, r / 1024 }
    ' "$work/$tr-$setting.rows"
  done
  paste "$work/$tr-gateway.rows" "$work/$tr-default.rows" | awk -v tr="$tr" '
    { p += $2 / $8; t += $3 / $9; n++ }
    END { printf "tracing %s, gateway/default: promoted %.3f, GC pause %.3f\n", tr, p / n, t / n }
  '
done
