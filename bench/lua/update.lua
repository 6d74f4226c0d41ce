-- PATCH the URL's item, alternating {"state":"started"} and {"state":"completed"} so that every
-- request really changes the item. Authorization from BENCH_AUTH.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local bodies = { '{"state":"started"}', '{"state":"completed"}' }
local reqs = {}
local n = 0

function init(args)
   for i, body in ipairs(bodies) do
      reqs[i] = wrk.format("PATCH", wrk.path, bench.headers(body), body)
   end
end

function request()
   n = n + 1
   return reqs[n % 2 + 1]
end
