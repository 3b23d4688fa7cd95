-- register_coupon_shard: create one shard (sub-coupon) of a sharded coupon
-- with its share of the stock, or update its window and per-user limit.
-- KEYS[1] <shard>:meta     hash total, opens_at_ms, closes_at_ms, per_user_limit,
--                          epoch, retired, restoring (see register_coupon.lua)
-- KEYS[2] <shard>:stock    units left to issue
-- KEYS[3] <shard>:seq      the last sequence handed out
-- KEYS[4] <shard>:revoked  how many issues were revoked
-- KEYS[5] <shard>:shard    hash coupon_total, shards (what the coupon was registered with)
-- ARGV[1] this shard's share of the total (0..2^53)
-- ARGV[2] opens_at_ms, ARGV[3] closes_at_ms (0..2^53, opens before closes)
-- ARGV[4] per_user_limit (1..100)
-- ARGV[5] the coupon's total (1..2^53), ARGV[6] the number of shards (1..64)
-- Reply: {status, issued, remaining, epoch}, status one of 'created',
--   'updated' (window or limit replaced), 'unchanged', 'total_changed' (the
--   shard exists with another coupon total or shard count, or is not a shard:
--   nothing written), 'restoring' (a restore runs: nothing written).
-- Invariant: total = remaining + issued on the shard. The shard's total is
--   never written on an existing shard: transfers move it (take_coupon_stock,
--   credit_coupon_transfer), so only the coupon total is compared.
--- @include "new_epoch"
--- @include "whole_number"

local share = whole(ARGV[1], 0, max_quantity)
local opens_at = whole(ARGV[2], 0, max_quantity)
local closes_at = whole(ARGV[3], 0, max_quantity)
local per_user_limit = whole(ARGV[4], 1, 100)
local coupon_total = whole(ARGV[5], 1, max_quantity)
local shards = whole(ARGV[6], 1, 64)
if not share or not opens_at or not closes_at or not per_user_limit or not coupon_total
    or not shards or opens_at >= closes_at or share > coupon_total then
  return redis.error_reply('ERR register_coupon_shard: bad arguments')
end

local current = redis.call('HMGET', KEYS[1], 'total', 'opens_at_ms', 'closes_at_ms', 'per_user_limit',
  'epoch', 'retired', 'restoring')
local epoch = tonumber(current[5]) or 0
local issued = tonumber(redis.call('GET', KEYS[3]) or '0') - tonumber(redis.call('GET', KEYS[4]) or '0')
  - tonumber(current[6] or '0')
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')

if current[7] then
  return {'restoring', 0, 0, epoch}
end
if current[1] then
  local registered = redis.call('HMGET', KEYS[5], 'coupon_total', 'shards')
  if registered[1] ~= ARGV[5] or registered[2] ~= ARGV[6] then
    return {'total_changed', issued, stock, epoch}
  end
  if current[2] == ARGV[2] and current[3] == ARGV[3] and current[4] == ARGV[4] then
    return {'unchanged', issued, stock, epoch}
  end
  redis.call('HSET', KEYS[1], 'opens_at_ms', ARGV[2], 'closes_at_ms', ARGV[3], 'per_user_limit',
    ARGV[4])
  return {'updated', issued, stock, epoch}
end

if share < issued then
  return {'total_changed', issued, stock, epoch}
end
epoch = new_epoch(epoch)
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'opens_at_ms', ARGV[2], 'closes_at_ms', ARGV[3],
  'per_user_limit', ARGV[4], 'epoch', string.format('%d', epoch))
redis.call('HSET', KEYS[5], 'coupon_total', ARGV[5], 'shards', ARGV[6])
local remaining = share - issued
redis.call('SET', KEYS[2], string.format('%d', remaining))
return {'created', issued, remaining, epoch}
