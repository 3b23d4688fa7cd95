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
if #ARGV ~= 8 then
  return redis.error_reply('ERR expected 8 arguments')
end
local outbox_id = ARGV[1]
local retention_ms = tonumber(ARGV[2])
local max_length = tonumber(ARGV[3])
if not string.match(outbox_id, '^[1-9][0-9]*$') then
  return redis.error_reply('ERR outbox id must be a positive integer')
end
if retention_ms == nil or retention_ms < 0 or max_length == nil or max_length < 0 then
  return redis.error_reply('ERR retention and max length must be non-negative integers')
end

local existing = redis.call('HGET', KEYS[2], outbox_id)
if existing then
  return {existing, 0}
end

local fields = {'outbox_id', outbox_id, 'aggregate_type', ARGV[4], 'aggregate_id', ARGV[5],
                'event_type', ARGV[6], 'payload', ARGV[7], 'created_at_ms', ARGV[8]}
local entry_id
if max_length > 0 then
  entry_id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', max_length, '*', unpack(fields))
else
  entry_id = redis.call('XADD', KEYS[1], '*', unpack(fields))
end
redis.call('HSET', KEYS[2], outbox_id, entry_id)

if retention_ms > 0 then
  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('ZADD', KEYS[3], now_ms, outbox_id)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms - retention_ms,
                             'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('HDEL', KEYS[2], unpack(expired))
    redis.call('ZREM', KEYS[3], unpack(expired))
  end
end
return {entry_id, 1}
