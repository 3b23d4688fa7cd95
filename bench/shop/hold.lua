-- POST /orders?sale=$SHOP_SALE&user=..&sku=<random 1..$SHOP_SKUS>: holds only, never confirmed.
dofile(os.getenv("SHOP_BENCH_LUA") .. "/report.lua")
local sale = os.getenv("SHOP_SALE")
local skus = tonumber(os.getenv("SHOP_SKUS"))

request = function()
  return wrk.format("POST", string.format("/orders?sale=%s&user=u%d&sku=%d", sale,
                                          math.random(1, 1000000), math.random(1, skus)), nil, "")
end

response = function(status, headers, body)
  count(status)
end
