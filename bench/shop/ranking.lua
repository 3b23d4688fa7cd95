-- GET /ranking/top?n=10: the best-selling SKUs of every sale so far.
dofile(os.getenv("SHOP_BENCH_LUA") .. "/report.lua")

request = function()
  return wrk.format("GET", "/ranking/top?n=10")
end

response = function(status, headers, body)
  count(status)
end
