-- schedule_event: puts one event on a schedule to fire at a time, once.
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: 1 event id, 2 fire_at (ms since the epoch, integer 0..2^53), 3 payload
-- Reply: { status, due ms }
--   "scheduled"          the event is pending now (due = fire_at)
--   "already_scheduled"  pending with the same time and payload: unchanged
--   "conflict"           pending with another time or payload: unchanged
--                        (due = its recorded time; reschedule() moves it)
--   "already_promoted" | "already_cancelled"  the id was used up: unchanged
--                        (due = the time it had)
-- Invariant: an event id is in at most one of due/payloads (pending) and
-- settled ("promoted" | "cancelled" <due ms> <at ms>); once settled it never
-- becomes pending again, so an event fires at most once.
local event_id = ARGV[1]
local fire_at = tonumber(ARGV[2])
local payload = ARGV[3]
if not fire_at or fire_at < 0 or fire_at > 9007199254740992 or fire_at % 1 ~= 0 then
  return redis.error_reply('ERR schedule_event: bad fire_at')
end
if not payload then
  return redis.error_reply('ERR schedule_event: missing payload')
end

local settled = redis.call('HGET', KEYS[3], event_id)
if settled then
  local state, due = string.match(settled, '^(%S+) (%d+)')
  return { 'already_' .. state, tonumber(due) }
end
local current = redis.call('ZSCORE', KEYS[1], event_id)
if current then
  current = tonumber(current)
  if current == fire_at and redis.call('HGET', KEYS[2], event_id) == payload then
    return { 'already_scheduled', current }
  end
  return { 'conflict', current }
end
redis.call('ZADD', KEYS[1], fire_at, event_id)
redis.call('HSET', KEYS[2], event_id, payload)
return { 'scheduled', fire_at }
