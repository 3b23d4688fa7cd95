-- coupon_shard_stats: one consistent snapshot of a shard of a sharded coupon.
-- KEYS[1] <shard>:meta, KEYS[2] <shard>:stock, KEYS[3] <shard>:seq,
-- KEYS[4] <shard>:revoked, KEYS[5] <shard>:transfers, KEYS[6] <shard>:sold_out
-- ARGV: none
-- Reply: {total, remaining, last sequence, revoked, retired, epoch, 1 while a
--   restore runs else 0, in_flight, moved_out, moved_in, transfer records,
--   1 when the sold-out marker is set else 0}, or an empty array when the
--   shard is not registered. Units held = seq - revoked - retired.
-- Invariant: reads only.
local meta = redis.call('HMGET', KEYS[1], 'total', 'retired', 'epoch', 'restoring', 'in_flight',
  'moved_out', 'moved_in')
if not meta[1] then
  return {}
end
local restoring = 0
if meta[4] then
  restoring = 1
end
return {tonumber(meta[1]), tonumber(redis.call('GET', KEYS[2]) or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0'),
  tonumber(meta[2] or '0'), tonumber(meta[3] or '0'), restoring, tonumber(meta[5] or '0'),
  tonumber(meta[6] or '0'), tonumber(meta[7] or '0'), redis.call('HLEN', KEYS[5]),
  redis.call('EXISTS', KEYS[6])}
