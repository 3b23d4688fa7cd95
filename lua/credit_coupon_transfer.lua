-- credit_coupon_transfer: the home half of a transfer between two shards of a
-- sharded coupon: credits the units taken by take_coupon_stock, once per
-- transfer id.
-- KEYS[1] <home>:meta      hash total, epoch, restoring, moved_in
-- KEYS[2] <home>:stock     units left to issue
-- KEYS[3] <home>:credited  hash transfer id -> units credited
-- ARGV[1] transfer id (1..64 bytes), ARGV[2] units (1..2^53)
-- ARGV[3] the home epoch the donor recorded
-- Reply: {status, units}, status one of 'credited' (now, or before: a repeated
--   id credits nothing), 'stale' (the home shard has another epoch: a restore
--   counted these units already; nothing written), 'restoring' (nothing
--   written, try later), 'unknown_coupon' (nothing written).
-- Invariant: home total = remaining + issued before and after (both rise by
--   units); an id is credited at most once per incarnation.
--- @include "whole_number"

local id = ARGV[1]
local units = whole(ARGV[2], 1, max_quantity)
local expected_epoch = whole(ARGV[3], 0, max_quantity)
if id == nil or id == '' or #id > 64 or not units or not expected_epoch then
  return redis.error_reply('ERR credit_coupon_transfer: bad arguments')
end

local meta = redis.call('HMGET', KEYS[1], 'total', 'epoch', 'restoring')
if not meta[1] then
  return {'unknown_coupon', 0}
end
if meta[3] then
  return {'restoring', 0}
end
if (tonumber(meta[2]) or 0) ~= expected_epoch then
  return {'stale', 0}
end
local credited = redis.call('HGET', KEYS[3], id)
if credited then
  return {'credited', tonumber(credited)}
end
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'total', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'moved_in', ARGV[2])
redis.call('HSET', KEYS[3], id, ARGV[2])
return {'credited', units}
