-- Shared by every bench script: reads the request's parts from the environment (wrk passes
-- no arguments to a script's top level) and prints wrk's summary as one JSON line for bench.py.
--   BENCH_METHOD  GET (default), POST, PATCH, ...
--   BENCH_BODY    request body (sent as application/json when set)
--   BENCH_AUTH    value of the Authorization header, if any

bench = {}

function bench.headers(body)
   local h = {}
   local auth = os.getenv("BENCH_AUTH")
   if auth and auth ~= "" then h["Authorization"] = auth end
   if body then h["Content-Type"] = "application/json" end
   return h
end

function bench.env_body()
   local body = os.getenv("BENCH_BODY")
   if body == nil or body == "" then return nil end
   return body
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0),
      latency.max, latency.mean))
end

-- Sums the counters `names` over wrk's `threads` and prints them as one BENCH_COUNT JSON line
-- (for bench.py), from a script's done().
function bench.print_counts(threads, names)
   local parts = {}
   for _, name in ipairs(names) do
      local total = 0
      for _, thread in ipairs(threads) do total = total + (thread:get(name) or 0) end
      parts[#parts + 1] = string.format('"%s":%d', name, total)
   end
   io.write("BENCH_COUNT {" .. table.concat(parts, ",") .. "}\n")
end
