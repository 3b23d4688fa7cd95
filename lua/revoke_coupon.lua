-- revoke_coupon: take one issued unit back (compensation when the host could
-- not persist the issue).
-- KEYS[1] <coupon>:meta     hash (its total, epoch and restoring fields are read)
-- KEYS[2] <coupon>:stock    units left to issue
-- KEYS[3] <coupon>:issued   hash user -> held sequences, ascending, comma-separated
-- KEYS[4] <coupon>:queue    zset user -> the user's earliest held sequence
-- KEYS[5] <coupon>:revoked  how many issues were revoked
-- KEYS[6] <coupon>:events   stream
-- ARGV[1] coupon id (for the event), ARGV[2] user id
-- ARGV[3] the sequence to take back, or 0 for the user's latest
-- ARGV[4] reason (any bytes, for the event)
-- ARGV[5] events stream cap, applied with MAXLEN ~ (0 = no cap)
-- Reply: {status, sequence, remaining, epoch}, status one of 'revoked',
--   'not_held' (the user holds nothing, or not that sequence: nothing
--   written), 'restoring' (a restore runs: nothing written), 'unknown_coupon'.
-- Invariant: total = remaining + (seq - revoked - retired) before and after; a
--   sequence is taken back at most once, so a retry changes nothing.
--- @include "server_time_ms"
--- @include "append_event"

local user = ARGV[2]
local wanted = tonumber(ARGV[3])
local max_length = stream_max_length(ARGV[5])
if not wanted or wanted < 0 or not max_length or user == nil or user == '' then
  return redis.error_reply('ERR revoke_coupon: bad arguments')
end

local meta = redis.call('HMGET', KEYS[1], 'total', 'epoch', 'restoring')
if not meta[1] then
  return {'unknown_coupon', 0, 0, 0}
end
local epoch = tonumber(meta[2]) or 0
if meta[3] then
  return {'restoring', 0, 0, epoch}
end
local held = redis.call('HGET', KEYS[3], user)
if not held then
  return {'not_held', 0, tonumber(redis.call('GET', KEYS[2]) or '0'), epoch}
end

-- At most 100 entries (the per-user limit cap), so the loop is bounded.
local sequences = {}
local target = 0
for sequence in string.gmatch(held, '%d+') do
  sequences[#sequences + 1] = sequence
  if wanted == 0 or tonumber(sequence) == wanted then
    target = #sequences
  end
end
if target == 0 then
  return {'not_held', 0, tonumber(redis.call('GET', KEYS[2]) or '0'), epoch}
end

local revoked_text = table.remove(sequences, target)
if #sequences == 0 then
  redis.call('HDEL', KEYS[3], user)
  redis.call('ZREM', KEYS[4], user)
else
  redis.call('HSET', KEYS[3], user, table.concat(sequences, ','))
  redis.call('ZADD', KEYS[4], sequences[1], user)
end
local remaining = redis.call('INCR', KEYS[2])
redis.call('INCR', KEYS[5])
local now = server_time_ms()
local fields = {'type', 'revoked', 'coupon', ARGV[1], 'epoch', string.format('%d', epoch), 'user',
  user, 'sequence', revoked_text, 'reason', ARGV[4], 'revoked_at_ms', string.format('%d', now)}
append_event(KEYS[6], max_length, unpack(fields))
return {'revoked', tonumber(revoked_text), remaining, epoch}
