-- server_time_ms(): the Redis server's clock in milliseconds since the Unix
-- epoch, so app servers with skewed clocks agree on "now".
local function server_time_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
