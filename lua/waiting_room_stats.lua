-- waiting_room_stats: the figures of one room. Read-only.
-- KEYS: 1 waiting, 2 seen, 3 active, 4 admitted, 5 state (one room, one hash
--       tag; see visit_waiting_room.lua)
-- ARGV: 1 rate measurement window ms (>= 1000; see visit_waiting_room.lua)
-- Reply: { waiting, active, tickets, admitted, abandoned, expired, completed,
--   left, measured admissions per second as a decimal string ("" unknown) }
-- Invariant: none kept; counts include abandoned visitors and expired
-- admissions no call has swept yet.
local window_ms = tonumber(ARGV[1])
if not window_ms or window_ms < 1000 or window_ms % 1 ~= 0 then
  return redis.error_reply('ERR waiting_room_stats: bad window')
end
local saved = redis.call('HMGET', KEYS[5], 'tickets', 'admitted', 'abandoned', 'expired',
  'completed', 'left', 'window_start', 'window_count', 'previous_start', 'previous_count')
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)

-- The measurement of visit_waiting_room.lua, rolled forward without writing.
local measured = ''
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
