-- The soak's mixed load (bench/soak.py), chosen at random per request:
--   40 % list (GET BENCH_LIST_PATH), 20 % get, 15 % update, 25 % create or delete,
--   and a login (POST /login, BENCH_LOGIN_BODY) every BENCH_LOGIN_EVERY requests per thread.
-- Each thread learns uids from its own 201s and keeps them in a queue. The create-or-delete
-- deletes the oldest while the thread holds more than KEEP, and creates otherwise: about half
-- each, and the number of todos stays level. A get or update picks one of the newer uids (never
-- the GUARD oldest), so no request aims at an item a delete still in flight may remove. Each
-- login's token replaces the thread's Authorization, so the load outlasts any token lifetime.
-- Counts answers by status class per thread; done() prints BENCH_JSON and then
--   BENCH_COUNT {"status_2xx":..,"status_4xx":..,"status_5xx":..,"other":..,"logins":..}
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local KEEP, GUARD = 64, 32

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_no", #threads)
end

status_2xx, status_4xx, status_5xx, other, logins = 0, 0, 0, 0, 0

local auth, list_req, login_req, create_req
local login_every, n = 1000, 0
local queue, head, tail = {}, 1, 0   -- uids in queue[head..tail]
local create_body = os.getenv("BENCH_BODY")
local states = { '{"state":"started"}', '{"state":"completed"}', '{"state":"unstarted"}' }

local function headers(body)
   local h = { ["Authorization"] = auth }
   if body then h["Content-Type"] = "application/json" end
   return h
end

local function prepare()
   list_req = wrk.format("GET", os.getenv("BENCH_LIST_PATH"), headers(nil), nil)
   create_req = wrk.format("POST", "/todos", headers(create_body), create_body)
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_no or 0))
   auth = os.getenv("BENCH_AUTH")
   login_every = tonumber(os.getenv("BENCH_LOGIN_EVERY") or "1000")
   local body = os.getenv("BENCH_LOGIN_BODY")
   login_req = wrk.format("POST", "/login", { ["Content-Type"] = "application/json" }, body)
   prepare()
end

local function newer()
   return queue[math.random(head + GUARD, tail)]
end

function request()
   n = n + 1
   if n % login_every == 0 then return login_req end
   local held = tail - head + 1
   local r = math.random()
   if r < 0.40 then return list_req end
   if held <= GUARD then return create_req end
   if r < 0.60 then return wrk.format("GET", "/todos/" .. newer(), headers(nil), nil) end
   if r < 0.75 then
      local body = states[math.random(#states)]
      return wrk.format("PATCH", "/todos/" .. newer(), headers(body), body)
   end
   if held <= KEEP then return create_req end
   local uid = queue[head]
   queue[head] = nil
   head = head + 1
   return wrk.format("DELETE", "/todos/" .. uid, headers(nil), nil)
end

function response(status, hdrs, body)
   if status >= 200 and status < 300 then
      status_2xx = status_2xx + 1
      if status == 201 then
         local uid = body:match('"uid"%s*:%s*"([^"]+)"')
         if uid then tail = tail + 1; queue[tail] = uid end
      elseif status == 200 then
         -- Only a login's answer has a "token" member (todos have none).
         local token = body:match('"token"%s*:%s*"([^"]+)"')
         if token then
            logins = logins + 1
            auth = "Bearer " .. token
            prepare()
         end
      end
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
   bench.print_counts(threads, { "status_2xx", "status_4xx", "status_5xx", "other", "logins" })
end
