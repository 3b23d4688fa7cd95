-- inspect_scheduled_events: pending events of a schedule, oldest first, or
-- the state of one event, read atomically by the server clock.
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: 1 mode ("due" | "pending" | "find"), 2 limit (due/pending, 1..10000)
--       or event id (find)
-- Reply: due/pending: { now ms, event id, due ms, payload, ... } ("due": only
--        those whose time has come; "pending": all, due or not)
--        find: { now ms, state ("pending" | "promoted" | "cancelled" |
--        "unknown"), due ms (-1 when unknown), settled at ms (-1 unless
--        promoted or cancelled), payload ("" unless pending) }
-- Invariant: read-only; one consistent view at one server time.
--- @include "server_time_ms"

local mode = ARGV[1]
local now_ms = server_time_ms()

if mode == 'find' then
  local event_id = ARGV[2]
  if not event_id then
    return redis.error_reply('ERR inspect_scheduled_events: missing event id')
  end
  local settled = redis.call('HGET', KEYS[3], event_id)
  if settled then
    local state, due, at = string.match(settled, '^(%S+) (%d+) (%d+)')
    return { now_ms, state, tonumber(due), tonumber(at), '' }
  end
  local due = redis.call('ZSCORE', KEYS[1], event_id)
  if due then
    return { now_ms, 'pending', tonumber(due), -1, redis.call('HGET', KEYS[2], event_id) or '' }
  end
  return { now_ms, 'unknown', -1, -1, '' }
end

local limit = tonumber(ARGV[2])
if not limit or limit < 1 or limit > 10000 or limit % 1 ~= 0 then
  return redis.error_reply('ERR inspect_scheduled_events: bad limit')
end
local events
if mode == 'due' then
  events = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'WITHSCORES', 'LIMIT', 0, limit)
elseif mode == 'pending' then
  events = redis.call('ZRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES')
else
  return redis.error_reply('ERR inspect_scheduled_events: unknown mode')
end
local reply = { now_ms }
for index = 1, #events, 2 do
  reply[#reply + 1] = events[index]
  reply[#reply + 1] = tonumber(events[index + 1])
  reply[#reply + 1] = redis.call('HGET', KEYS[2], events[index]) or ''
end
return reply
