-- delete_idle_consumer: deletes one consumer of a group only when it has
-- nothing pending and has been idle long enough, checked and done atomically
-- (XGROUP DELCONSUMER drops a consumer's pending entries from the PEL, which
-- would lose them).
-- KEYS[1]: the stream
-- ARGV[1]: group; ARGV[2]: consumer; ARGV[3]: minimum idle time in ms
-- Reply: 1 when deleted; 0 when the consumer is absent, has pending entries
-- or was active more recently than ARGV[3] ms ago.
-- Invariant: no pending entry is ever dropped. The one loop is bounded by the
-- number of consumers in the group. Redis 6.2+.
local stream = KEYS[1]
local group = ARGV[1]
local consumer = ARGV[2]
local min_idle = tonumber(ARGV[3])
if min_idle == nil or min_idle < 0 then
  return redis.error_reply('ERR delete_idle_consumer: minimum idle time must be an integer >= 0')
end

local pending = redis.call('XPENDING', stream, group, '-', '+', 1, consumer)
if #pending > 0 then
  return 0
end

local consumers = redis.call('XINFO', 'CONSUMERS', stream, group)
for _, info in ipairs(consumers) do
  local name = nil
  local idle = nil
  for i = 1, #info, 2 do
    if info[i] == 'name' then
      name = info[i + 1]
    elseif info[i] == 'idle' then
      idle = tonumber(info[i + 1])
    end
  end
  if name == consumer then
    if idle == nil or idle < min_idle then
      return 0
    end
    redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
    return 1
  end
end
return 0
