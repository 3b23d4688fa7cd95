-- reschedule_event: moves a pending event to another time (past times fire at
-- the next promotion).
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: 1 event id, 2 fire_at (ms since the epoch, integer 0..2^53)
-- Reply: { status, due ms }
--   "rescheduled"  pending, now due at fire_at (also when it already was)
--   "already_promoted" | "already_cancelled"  too late: unchanged (due = the
--                  time it had)
--   "unknown_event"  never scheduled: nothing written (due = -1)
-- Invariant: only a pending event moves; a settled one never becomes pending.
local event_id = ARGV[1]
local fire_at = tonumber(ARGV[2])
if not fire_at or fire_at < 0 or fire_at > 9007199254740992 or fire_at % 1 ~= 0 then
  return redis.error_reply('ERR reschedule_event: bad fire_at')
end

local settled = redis.call('HGET', KEYS[3], event_id)
if settled then
  local state, due = string.match(settled, '^(%S+) (%d+)')
  return { 'already_' .. state, tonumber(due) }
end
if redis.call('ZSCORE', KEYS[1], event_id) then
  redis.call('ZADD', KEYS[1], 'XX', fire_at, event_id)
  return { 'rescheduled', fire_at }
end
return { 'unknown_event', -1 }
