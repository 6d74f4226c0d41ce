-- 90 % list, 10 % create, chosen at random per request.
--   BENCH_LIST_PATH    path of the list request (GET)
--   BENCH_CREATE_PATH  path of the create request (POST)
--   BENCH_BODY         body of the create request
--   BENCH_AUTH         Authorization header of both
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local threads = 0
local list_req, create_req

function setup(thread)
   threads = threads + 1
   thread:set("thread_no", threads)
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_no or 0))
   local body = bench.env_body()
   list_req = wrk.format("GET", os.getenv("BENCH_LIST_PATH"), bench.headers(nil), nil)
   create_req = wrk.format("POST", os.getenv("BENCH_CREATE_PATH"), bench.headers(body), body)
end

function request()
   if math.random() < 0.9 then return list_req end
   return create_req
end
