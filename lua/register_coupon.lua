-- register_coupon: create a coupon template with its stock, or update it.
-- KEYS[1] <coupon>:meta     hash total, opens_at_ms, closes_at_ms, per_user_limit,
--                           epoch, retired, restoring (see restore_coupon.lua)
-- KEYS[2] <coupon>:stock    units left to issue
-- KEYS[3] <coupon>:seq      the last sequence handed out
-- KEYS[4] <coupon>:revoked  how many issues were revoked
-- ARGV[1] total (1..2^53)
-- ARGV[2] opens_at_ms, ARGV[3] closes_at_ms (0..2^53, opens before closes)
-- ARGV[4] per_user_limit (>= 1)
-- Reply: {status, issued, remaining, epoch}, status one of 'created',
--   'updated', 'unchanged', 'total_below_issued' (refused, nothing written),
--   'restoring' (a restore runs: refused, nothing written).
-- Invariant: remaining = total - issued, issued = seq - revoked - retired. A
--   new total moves the stock by the difference and may never drop below
--   issued. 'created' starts a new incarnation: epoch = the server clock in
--   microseconds, above any epoch this key held before (restore_coupon.lua
--   says why that cannot repeat one Redis handed out before losing data).
--- @include "new_epoch"
--- @include "whole_number"

local total = whole(ARGV[1], 1, max_quantity)
local opens_at = whole(ARGV[2], 0, max_quantity)
local closes_at = whole(ARGV[3], 0, max_quantity)
local per_user_limit = whole(ARGV[4], 1, max_quantity)
if not total or not opens_at or not closes_at or not per_user_limit or opens_at >= closes_at then
  return redis.error_reply('ERR register_coupon: bad arguments')
end

local current = redis.call('HMGET', KEYS[1], 'total', 'opens_at_ms', 'closes_at_ms', 'per_user_limit',
  'epoch', 'retired', 'restoring')
local epoch = tonumber(current[5]) or 0
local issued = tonumber(redis.call('GET', KEYS[3]) or '0') - tonumber(redis.call('GET', KEYS[4]) or '0')
  - tonumber(current[6] or '0')

if current[7] then
  return {'restoring', 0, 0, epoch}
end
if current[1] == ARGV[1] and current[2] == ARGV[2] and current[3] == ARGV[3] and current[4] == ARGV[4] then
  return {'unchanged', issued, tonumber(redis.call('GET', KEYS[2]) or '0'), epoch}
end
if total < issued then
  return {'total_below_issued', issued, tonumber(redis.call('GET', KEYS[2]) or '0'), epoch}
end
local status = 'created'
if current[1] then
  status = 'updated'
else
  epoch = new_epoch(epoch)
  redis.call('HSET', KEYS[1], 'epoch', string.format('%d', epoch))
end

local remaining = total - issued
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'opens_at_ms', ARGV[2], 'closes_at_ms', ARGV[3],
  'per_user_limit', ARGV[4])
redis.call('SET', KEYS[2], string.format('%d', remaining))
return {status, issued, remaining, epoch}
