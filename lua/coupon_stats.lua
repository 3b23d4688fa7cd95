-- coupon_stats: one consistent snapshot of a coupon's counters.
-- KEYS[1] <coupon>:meta, KEYS[2] <coupon>:stock, KEYS[3] <coupon>:seq,
-- KEYS[4] <coupon>:revoked
-- ARGV: none
-- Reply: {total, remaining, issues ever (seq), revoked}, or an empty array
--   when the coupon is not registered.
-- Invariant: reads only.
local total = redis.call('HGET', KEYS[1], 'total')
if not total then
  return {}
end
return {tonumber(total), tonumber(redis.call('GET', KEYS[2]) or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0')}
