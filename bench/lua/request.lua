-- One fixed request, repeated: method, body and Authorization from the environment (common.lua).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.body = bench.env_body()
for k, v in pairs(bench.headers(wrk.body)) do wrk.headers[k] = v end
