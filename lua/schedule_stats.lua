-- schedule_stats: a schedule's figures by the server clock, in one read.
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: none
-- Reply: { now ms, pending, overdue (pending and due by now), oldest overdue
--          due ms (-1 when none), field, value, field, value, ... of the stats
--          hash (promoted, cancelled, lateness_max_ms, b<n> bucket counts) }
-- Invariant: read-only; one consistent view at one server time.
--- @include "server_time_ms"

local now_ms = server_time_ms()
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local oldest_overdue = -1
if #oldest == 2 and tonumber(oldest[2]) <= now_ms then
  oldest_overdue = tonumber(oldest[2])
end
local reply = { now_ms, redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[1], '-inf', now_ms),
  oldest_overdue }
local stats = redis.call('HGETALL', KEYS[5])
for index = 1, #stats do
  reply[#reply + 1] = stats[index]
end
return reply
