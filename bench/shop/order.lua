-- POST /orders?sale=$SHOP_SALE&user=..&sku=<random 1..$SHOP_SKUS> (a hold), then
-- POST /orders/{id}/confirm for every held order id the thread got back.
dofile(os.getenv("SHOP_BENCH_LUA") .. "/report.lua")
local sale = os.getenv("SHOP_SALE")
local skus = tonumber(os.getenv("SHOP_SKUS"))
local held = {}

request = function()
  local order_id = table.remove(held)
  if order_id then
    return wrk.format("POST", "/orders/" .. order_id .. "/confirm", nil, "")
  end
  return wrk.format("POST", string.format("/orders?sale=%s&user=u%d&sku=%d", sale,
                                          math.random(1, 1000000), math.random(1, skus)), nil, "")
end

response = function(status, headers, body)
  count(status)
  if status == 202 then
    local order_id = body:match('"order_id":"([^"]+)"')
    if order_id then
      table.insert(held, order_id)
    end
  end
end
