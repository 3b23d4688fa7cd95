-- cancel_event: takes a pending event off its schedule for good.
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: 1 event id
-- Reply: { status, due ms }
--   "cancelled"         it was pending; it will never fire
--   "already_cancelled" a retry: unchanged
--   "already_promoted"  too late, it fired: unchanged
--   "unknown_event"     never scheduled: nothing written (due = -1)
-- Invariant: an event is promoted or cancelled, never both. Promotion and
-- cancellation both move the id from due to settled in one script, so
-- whichever runs first wins and the other sees the settled state.
--- @include "server_time_ms"

local event_id = ARGV[1]

local settled = redis.call('HGET', KEYS[3], event_id)
if settled then
  local state, due = string.match(settled, '^(%S+) (%d+)')
  return { 'already_' .. state, tonumber(due) }
end
local due = redis.call('ZSCORE', KEYS[1], event_id)
if not due then
  return { 'unknown_event', -1 }
end
local now_ms = server_time_ms()
redis.call('ZREM', KEYS[1], event_id)
redis.call('HDEL', KEYS[2], event_id)
redis.call('HSET', KEYS[3], event_id,
  'cancelled ' .. string.format('%d', tonumber(due)) .. ' ' .. string.format('%d', now_ms))
redis.call('HINCRBY', KEYS[5], 'cancelled', 1)
return { 'cancelled', tonumber(due) }
