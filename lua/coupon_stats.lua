-- coupon_stats: one consistent snapshot of a coupon's counters.
-- KEYS[1] <coupon>:meta, KEYS[2] <coupon>:stock, KEYS[3] <coupon>:seq,
-- KEYS[4] <coupon>:revoked
-- ARGV: none
-- Reply: {total, remaining, last sequence (seq), revoked, retired, epoch,
--   1 while a restore runs else 0}, or an empty array when the coupon is not
--   registered. Units held = seq - revoked - retired.
-- Invariant: reads only.
local meta = redis.call('HMGET', KEYS[1], 'total', 'retired', 'epoch', 'restoring')
if not meta[1] then
  return {}
end
local restoring = 0
if meta[4] then
  restoring = 1
end
return {tonumber(meta[1]), tonumber(redis.call('GET', KEYS[2]) or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0'),
  tonumber(meta[2] or '0'), tonumber(meta[3] or '0'), restoring}
