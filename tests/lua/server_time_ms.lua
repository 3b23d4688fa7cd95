-- server_time_ms: the server's clock, so every app server agrees on "now".
-- KEYS: none
-- ARGV: none
-- Reply: integer, milliseconds since the Unix epoch by the Redis server clock
local now = redis.call('TIME')
return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
