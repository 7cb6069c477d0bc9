# Shared by the bench shell scripts (source it from the repository's root): a work directory
# that is removed, with every process in `pids`, when the script exits; a free port; the C sink
# and an OTLP/HTTP sink; the tracing section of a gateway config, a whole config for the
# /bench route, and a wait for a gateway to answer.

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# start_sink [PREFIX...]: builds bench/sink.c and starts it (under PREFIX, e.g. taskset -c 0);
# sets `sink` to its port.
start_sink() {
  gcc -O2 -pthread -o "$work/sink" bench/sink.c
  "$@" "$work/sink" 0 >"$work/sink.out" 2>&1 </dev/null &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
  sink=$(awk '/listening/ {print $2}' "$work/sink.out")
}

# start_otlp_sink [PREFIX...]: an OTLP/HTTP receiver that accepts every export; sets `otlp_port`.
start_otlp_sink() {
  otlp_port=$(free_port)
  "$@" node -e "
    require('http').createServer((req, res) => { req.resume(); req.on('end', () => res.end()); })
      .listen($otlp_port, '127.0.0.1');" >/dev/null 2>&1 </dev/null &
  pids+=($!)
}

# tracing_of off|always|never|parent_based|ratio:R: the `tracing:` value of a gateway config,
# exporting to the OTLP sink.
tracing_of() {
  case "$1" in
    off) echo '{ enabled: false }' ;;
    ratio:*) echo "{ enabled: true, sampling: { strategy: ratio, ratio: ${1#ratio:} }, otlp: { endpoint: 'http://127.0.0.1:$otlp_port' } }" ;;
    *) echo "{ enabled: true, sampling: { strategy: $1 }, otlp: { endpoint: 'http://127.0.0.1:$otlp_port' } }" ;;
  esac
}

# bench_config FILE PORT TRACING: a gateway config on PORT with one route, /bench (what
# bench/put-client.js sends to), into the C sink; logging at warn, `tracing:` from tracing_of.
bench_config() {
  cat >"$1" <<YAML
server: { address: 127.0.0.1:$2 }
logging: { level: warn }
tracing: $(tracing_of "$3")
buckets:
  - name: bench
    path_prefix: /bench
    upload: { multipart_threshold: 5GiB }
    s3: { bucket: sink, endpoint: http://127.0.0.1:$sink, region: us-east-1, access_key: k, secret_key: s, force_path_style: true }
YAML
}

# wait_live PORT [SECONDS]: waits up to SECONDS (10) for the gateway on PORT to answer
# /health/live; fails if it never does.
wait_live() {
  for _ in $(seq $((${2:-10} * 10))); do
    curl -s -o /dev/null "http://127.0.0.1:$1/health/live" && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}

# median_range: of the numbers on stdin, one per line, prints the median (the mean of the two
# middle ones for an even count), the smallest and the largest.
median_range() {
  sort -g | awk -v OFMT=%.10g '{ v[NR] = $1 } END {
    print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'
}
