-- wrk script of the throughput bench (bench/throughput.bench.ts): every request PUTs the bytes of
-- one file, with a Content-Length, to the URL's path, over keep-alive connections.
--
--   wrk -t1 -c64 -d4s --timeout 10s -s bench/wrk-put.lua http://127.0.0.1:PORT/path -- BODY_FILE
--
-- At the end it prints one line "WRK_RESULT {json}" with the counts, errors and latency
-- percentiles (microseconds), for the bench to parse.

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "PUT"
  -- wrk.format() adds the Content-Length; the request is formatted once and reused.
  wrk.body = file:read("*a")
  file:close()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes_read":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
