-- publish_outbox_record: appends one outbox record to a stream at most once
-- per outbox id.
-- KEYS[1]: the stream, e.g. fs:outbox:{order}
-- KEYS[2]: hash outbox id -> stream entry id of its publication (<stream>:published)
-- KEYS[3]: zset outbox id -> server time of its publication, ms (<stream>:published-at)
-- ARGV[1]: outbox id, a positive decimal integer
-- ARGV[2]: dedup retention, ms; 0 keeps every dedup entry forever
-- ARGV[3]: approximate stream length cap (XADD MAXLEN ~); 0 never trims
-- ARGV[4..8]: aggregate type, aggregate id, event type, payload, created at (ms)
-- Reply: {stream entry id, 1 when added now | 0 when the id was published before}
-- Invariant: every outbox id known to KEYS[2] has exactly one entry in the
-- stream (unless trimmed); a repeated call returns the first entry id and
-- writes nothing. Each call forgets at most 100 dedup entries older than the
-- retention, so the dedup keys stay bounded without a long-running call.
--- @include "server_time_ms"
--- @include "append_event"

if #KEYS ~= 3 or #ARGV ~= 8 then
  return redis.error_reply('ERR publish_outbox_record: expected 3 keys and 8 arguments')
end
local outbox_id = ARGV[1]
local retention_ms = tonumber(ARGV[2])
local max_length = stream_max_length(ARGV[3])
if not string.match(outbox_id, '^[1-9][0-9]*$') then
  return redis.error_reply('ERR publish_outbox_record: outbox id must be a positive integer')
end
local function is_count(value)
  return value ~= nil and value >= 0 and math.floor(value) == value
end
if not is_count(retention_ms) or not max_length then
  return redis.error_reply('ERR publish_outbox_record: retention and stream cap must be integers >= 0')
end

-- The writes below must not fail half way: refuse keys of a foreign type first.
local expected_types = {'stream', 'hash', 'zset'}
for index = 1, 3 do
  local key_type = redis.call('TYPE', KEYS[index])['ok']
  if key_type ~= 'none' and key_type ~= expected_types[index] then
    return redis.error_reply('WRONGTYPE publish_outbox_record: ' .. KEYS[index] .. ' holds a '
      .. key_type)
  end
end

local existing = redis.call('HGET', KEYS[2], outbox_id)
if existing then
  return {existing, 0}
end

local fields = {'outbox_id', outbox_id, 'aggregate_type', ARGV[4], 'aggregate_id', ARGV[5],
                'event_type', ARGV[6], 'payload', ARGV[7], 'created_at_ms', ARGV[8]}
local entry_id = append_event(KEYS[1], max_length, unpack(fields))
redis.call('HSET', KEYS[2], outbox_id, entry_id)

if retention_ms > 0 then
  local now_ms = server_time_ms()
  redis.call('ZADD', KEYS[3], now_ms, outbox_id)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms - retention_ms,
                             'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('HDEL', KEYS[2], unpack(expired))
    redis.call('ZREM', KEYS[3], unpack(expired))
  end
end
return {entry_id, 1}
