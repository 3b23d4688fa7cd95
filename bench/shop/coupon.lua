-- POST /coupons/$SHOP_SALE/issue?user=u<random 1..$SHOP_USERS>: a rush on one coupon.
dofile(os.getenv("SHOP_BENCH_LUA") .. "/report.lua")
local sale = os.getenv("SHOP_SALE")
local users = tonumber(os.getenv("SHOP_USERS"))

request = function()
  return wrk.format("POST", string.format("/coupons/%s/issue?user=u%d", sale,
                                          math.random(1, users)), nil, "")
end

response = function(status, headers, body)
  count(status)
end
