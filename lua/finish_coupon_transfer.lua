-- finish_coupon_transfer: forgets a transfer on its donor shard once the home
-- shard credited it (or it was found stale), so it is no longer in flight.
-- KEYS[1] <donor>:meta       hash in_flight
-- KEYS[2] <donor>:transfers  hash transfer id -> "units,home shard,home epoch"
-- ARGV[1] transfer id (1..64 bytes)
-- Reply: {'finished', units removed from flight (0 when the record was gone)}.
-- Invariant: in_flight = the sum of the units of the recorded transfers.
local id = ARGV[1]
if id == nil or id == '' or #id > 64 then
  return redis.error_reply('ERR finish_coupon_transfer: bad arguments')
end
local recorded = redis.call('HGET', KEYS[2], id)
if not recorded then
  return {'finished', 0}
end
local units = tonumber(string.match(recorded, '^(%d+),'))
redis.call('HDEL', KEYS[2], id)
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', string.format('%d', -units))
end
return {'finished', units}
