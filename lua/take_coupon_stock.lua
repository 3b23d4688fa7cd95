-- take_coupon_stock: the donor half of a transfer between two shards of a
-- sharded coupon: takes up to a chunk of the donor's stock into flight and
-- records the transfer, so credit_coupon_transfer can credit it exactly once.
-- KEYS[1] <donor>:meta       hash total, restoring, in_flight, moved_out
-- KEYS[2] <donor>:stock      units left to issue
-- KEYS[3] <donor>:transfers  hash transfer id -> "units,home shard,home epoch"
-- ARGV[1] transfer id (1..64 bytes), ARGV[2] most units to take (1..2^53)
-- ARGV[3] home shard (0..63), ARGV[4] the home shard's epoch (0..2^53)
-- Reply: {status, units}, status one of 'taken' (units > 0 now in flight; a
--   retry of a recorded id replies its units and takes nothing), 'empty' (no
--   stock: nothing written), 'restoring' (nothing written), 'unknown_coupon'.
-- Invariant: donor total = remaining + issued before and after (both drop by
--   units); total + in_flight of the donor only changes when the transfer is
--   finished (finish_coupon_transfer), after the home was credited.
--- @include "whole_number"

local id = ARGV[1]
local max_units = whole(ARGV[2], 1, max_quantity)
local home = whole(ARGV[3], 0, 63)
local home_epoch = whole(ARGV[4], 0, max_quantity)
if id == nil or id == '' or #id > 64 or not max_units or not home or not home_epoch then
  return redis.error_reply('ERR take_coupon_stock: bad arguments')
end

local meta = redis.call('HMGET', KEYS[1], 'total', 'restoring')
if not meta[1] then
  return {'unknown_coupon', 0}
end
if meta[2] then
  return {'restoring', 0}
end
local recorded = redis.call('HGET', KEYS[3], id)
if recorded then
  return {'taken', tonumber(string.match(recorded, '^(%d+),'))}
end
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
local units = math.min(stock, max_units)
if units <= 0 then
  return {'empty', 0}
end
local units_text = string.format('%d', units)
redis.call('DECRBY', KEYS[2], units_text)
redis.call('HINCRBY', KEYS[1], 'total', string.format('%d', -units))
redis.call('HINCRBY', KEYS[1], 'in_flight', units_text)
redis.call('HINCRBY', KEYS[1], 'moved_out', units_text)
redis.call('HSET', KEYS[3], id, units_text .. ',' .. ARGV[3] .. ',' .. ARGV[4])
return {'taken', units}
