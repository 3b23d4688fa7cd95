-- take_coupon_stock: the donor half of a transfer between two shards of a
-- sharded coupon: takes up to a chunk of the donor's stock into flight and
-- records the transfer, so credit_coupon_transfer can credit it exactly once.
-- KEYS[1] <donor>:meta       hash total, restoring, in_flight, moved_out
-- KEYS[2] <donor>:stock      units left to issue
-- KEYS[3] <donor>:transfers  hash transfer id -> "units,home shard,home epoch"
-- ARGV[1] transfer id (1..64 bytes), ARGV[2] most units to take (1..2^53)
-- ARGV[3] home shard (0..63), ARGV[4] the home shard's epoch (0..2^53)
-- ARGV[5] least stock the donor must hold to give any (1..2^53): a shard
--   holding less than a chunk is itself about to need one, so the first
--   sweep passes it over and only a second sweep takes such remnants
-- Reply: {status, units, in_flight}, status one of 'taken' (units > 0 now in
--   flight; a retry of a recorded id replies its units and takes nothing),
--   'empty' (stock below ARGV[5]: nothing written), 'restoring' (nothing written),
--   'unknown_coupon'; in_flight = the donor's units in flight after the call
--   (units of unfinished transfers out of it: stock on its way to a shard).
-- Invariant: donor total = remaining + issued before and after (both drop by
--   units); total + in_flight of the donor only changes when the transfer is
--   finished (finish_coupon_transfer), after the home was credited.
--- @include "whole_number"

local id = ARGV[1]
local max_units = whole(ARGV[2], 1, max_quantity)
local home = whole(ARGV[3], 0, 63)
local home_epoch = whole(ARGV[4], 0, max_quantity)
local least = whole(ARGV[5], 1, max_quantity)
if id == nil or id == '' or #id > 64 or not max_units or not home or not home_epoch or not least then
  return redis.error_reply('ERR take_coupon_stock: bad arguments')
end

local meta = redis.call('HMGET', KEYS[1], 'total', 'restoring', 'in_flight')
if not meta[1] then
  return {'unknown_coupon', 0, 0}
end
local in_flight = tonumber(meta[3] or '0')
if meta[2] then
  return {'restoring', 0, in_flight}
end
local recorded = redis.call('HGET', KEYS[3], id)
if recorded then
  return {'taken', tonumber(string.match(recorded, '^(%d+),')), in_flight}
end
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
local units = math.min(stock, max_units)
if units <= 0 or stock < least then
  return {'empty', 0, in_flight}
end
local units_text = string.format('%d', units)
redis.call('DECRBY', KEYS[2], units_text)
redis.call('HINCRBY', KEYS[1], 'total', string.format('%d', -units))
in_flight = redis.call('HINCRBY', KEYS[1], 'in_flight', units_text)
redis.call('HINCRBY', KEYS[1], 'moved_out', units_text)
redis.call('HSET', KEYS[3], id, units_text .. ',' .. ARGV[3] .. ',' .. ARGV[4])
return {'taken', units, in_flight}
