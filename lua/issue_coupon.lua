-- issue_coupon: give one unit of a coupon to a user, first come first served.
-- KEYS[1] <coupon>:meta    hash total, opens_at_ms, closes_at_ms, per_user_limit,
--                          epoch, restoring (present while a restore runs)
-- KEYS[2] <coupon>:stock   units left to issue
-- KEYS[3] <coupon>:issued  hash user -> held sequences, ascending, comma-separated
-- KEYS[4] <coupon>:queue   zset user -> the user's earliest held sequence
-- KEYS[5] <coupon>:seq     the last sequence handed out
-- KEYS[6] <coupon>:events  stream
-- ARGV[1] coupon id (for the event), ARGV[2] user id
-- ARGV[3] events stream cap, applied with MAXLEN ~ (0 = no cap)
-- Reply: {status, sequence, remaining, epoch}, status one of 'issued',
--   'already_issued' (sequence = the user's latest), 'sold_out', 'not_open',
--   'closed', 'restoring' (a restore runs: nothing read or written),
--   'unknown_coupon'; sequence 0 when there is none, epoch 0 when unknown.
-- Checks, in order: template exists, not restoring, user below the limit, server time in
--   [opens_at, closes_at), stock left. Only then: stock - 1, sequence + 1,
--   record the user, XADD an `issued` event.
-- Invariant: stock never below 0; no user holds more than per_user_limit.
--- @include "server_time_ms"
--- @include "append_event"

local user = ARGV[2]
local max_length = stream_max_length(ARGV[3])
if not max_length or user == nil or user == '' then
  return redis.error_reply('ERR issue_coupon: bad arguments')
end

local meta = redis.call('HMGET', KEYS[1], 'opens_at_ms', 'closes_at_ms', 'per_user_limit', 'epoch',
  'restoring')
local opens_at = tonumber(meta[1])
local closes_at = tonumber(meta[2])
local per_user_limit = tonumber(meta[3])
local epoch = tonumber(meta[4]) or 0
if not opens_at or not closes_at or not per_user_limit then
  return {'unknown_coupon', 0, 0, 0}
end
if meta[5] then
  return {'restoring', 0, 0, epoch}
end

local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('HGET', KEYS[3], user)
if held then
  -- At most 100 entries (the per-user limit cap), so the loop is bounded.
  local count = 0
  local latest = 0
  for sequence in string.gmatch(held, '%d+') do
    count = count + 1
    latest = tonumber(sequence)
  end
  if count >= per_user_limit then
    return {'already_issued', latest, stock, epoch}
  end
end

local now = server_time_ms()
if now < opens_at then
  return {'not_open', 0, stock, epoch}
end
if now >= closes_at then
  return {'closed', 0, stock, epoch}
end
if stock <= 0 then
  return {'sold_out', 0, 0, epoch}
end

local remaining = redis.call('DECR', KEYS[2])
local sequence = redis.call('INCR', KEYS[5])
local sequence_text = string.format('%d', sequence)
if held then
  redis.call('HSET', KEYS[3], user, held .. ',' .. sequence_text)
else
  redis.call('HSET', KEYS[3], user, sequence_text)
  redis.call('ZADD', KEYS[4], sequence_text, user)
end
local fields = {'type', 'issued', 'coupon', ARGV[1], 'epoch', string.format('%d', epoch), 'user',
  user, 'sequence', sequence_text, 'issued_at_ms', string.format('%d', now)}
append_event(KEYS[6], max_length, unpack(fields))
return {'issued', sequence, remaining, epoch}
