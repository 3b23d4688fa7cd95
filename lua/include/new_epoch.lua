-- new_epoch(floor): a new incarnation number (epoch) for a coupon or a stock
-- scope: the Redis server's clock in microseconds since the Unix epoch, kept
-- above floor (the highest epoch the caller knows of), so an epoch is never
-- handed out twice even when Redis lost the key that held the last one
-- (restore_coupon.lua and restore_stock.lua say why). Below 2^53 until 2255.
local function new_epoch(floor)
  local time = redis.call('TIME')
  return math.max(tonumber(time[1]) * 1000000 + tonumber(time[2]), floor + 1)
end
