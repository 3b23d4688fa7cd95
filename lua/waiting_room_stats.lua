-- waiting_room_stats: the figures of one room. Read-only.
-- KEYS: 1 waiting, 2 seen, 3 active, 4 admitted, 5 state (one room, one hash
--       tag; see visit_waiting_room.lua)
-- ARGV: 1 rate measurement window ms (>= 1000; see visit_waiting_room.lua)
-- Reply: { waiting, active, tickets, admitted, abandoned, expired, completed,
--   left, measured admissions per second as a decimal string (-1 unknown) }
-- Invariant: none kept; counts include abandoned visitors and expired
-- admissions no call has swept yet.
--- @include "server_time_ms"
--- @include "whole_number"

local window_ms = whole(ARGV[1], 1000, max_quantity)
if not window_ms then
  return redis.error_reply('ERR waiting_room_stats: bad window')
end
local saved = redis.call('HMGET', KEYS[5], 'tickets', 'admitted', 'abandoned', 'expired',
  'completed', 'left', 'window_start', 'window_count', 'previous_start', 'previous_count')
local now = server_time_ms()

-- The measurement of visit_waiting_room.lua, rolled forward without writing.
local measured = -1
local window_start = tonumber(saved[7])
local window_count = tonumber(saved[8]) or 0
local previous_start = tonumber(saved[9])
local previous_count = tonumber(saved[10]) or 0
if window_start and now - window_start >= window_ms then
  previous_start, previous_count = window_start, window_count
  window_start, window_count = now, 0
end
if previous_start and now > previous_start then
  measured = tostring((previous_count + window_count) * 1000 / (now - previous_start))
elseif window_start and now - window_start >= 1000 then
  measured = tostring(window_count * 1000 / (now - window_start))
end

local figures = { redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3]) }
for index = 1, 6 do
  table.insert(figures, tonumber(saved[index]) or 0)
end
table.insert(figures, measured)
return figures
