-- POST the same create again and again (BENCH_BODY, BENCH_AUTH), counting answers by status in
-- each thread, and writing the uid of every 201 to BENCH_ACK_DIR/ack-<thread>.txt: the writes
-- the service acknowledged, to check against what it stores afterwards (bench/load.py).
-- Prints one more line after BENCH_JSON:
--   BENCH_COUNT {"created":..,"other_2xx":..,"status_4xx":..,"status_5xx":..,"other":..}
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.body = bench.env_body()
for k, v in pairs(bench.headers(wrk.body)) do wrk.headers[k] = v end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_no", #threads)
end

local acks
created, other_2xx, status_4xx, status_5xx, other = 0, 0, 0, 0, 0

function init(args)
   acks = assert(io.open(os.getenv("BENCH_ACK_DIR") .. "/ack-" .. thread_no .. ".txt", "w"))
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
      acks:write((body:match('"uid"%s*:%s*"([^"]+)"') or "?"), "\n")
      if created % 256 == 0 then acks:flush() end
   elseif status >= 200 and status < 300 then
      other_2xx = other_2xx + 1
   elseif status >= 400 and status < 500 then
      status_4xx = status_4xx + 1
   elseif status >= 500 then
      status_5xx = status_5xx + 1
   else
      other = other + 1
   end
end

local summary_line = done

function done(summary, latency, requests)
   summary_line(summary, latency, requests)
   bench.print_counts(threads, { "created", "other_2xx", "status_4xx", "status_5xx", "other" })
end
