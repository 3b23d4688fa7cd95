-- promote_due_events: moves the events whose time has come by the server
-- clock from the schedule's sorted set into its stream, oldest first, at most
-- `limit` per call. Any number of runners may call it at once: the script is
-- the claim, so no leader and no lock are needed.
-- KEYS: 1 due, 2 payloads, 3 settled, 4 stream, 5 stats (all of one schedule,
--       one hash tag)
-- ARGV: 1 limit (1..max the caller allows), 2 max_stream_length (0: no cap)
-- Reply: { more (1 when due events remain, else 0), promoted_at ms,
--          event id, due ms, stream entry id, event id, due ms, ... }
-- Stream entry: event_id, due_at (ms), promoted_at (ms), lateness_ms, payload.
-- Stats hash: promoted, lateness_max_ms and one counter per lateness bucket
-- ("b<n>": exact below 32 ms, then 16 buckets per doubling).
-- Invariant: an event leaves `due` and enters `settled` in the same script
-- that appends its one stream entry, so each event is promoted exactly once
-- and never before its due time by the server clock.
--- @include "server_time_ms"
--- @include "append_event"

local limit = tonumber(ARGV[1])
local stream_max = stream_max_length(ARGV[2])
if not limit or limit < 1 or limit > 10000 or limit % 1 ~= 0 then
  return redis.error_reply('ERR promote_due_events: bad limit')
end
if not stream_max then
  return redis.error_reply('ERR promote_due_events: bad stream max length')
end

local now_ms = server_time_ms()
local now_text = string.format('%d', now_ms)

-- Exact below 32 ms, then 16 buckets per power of two (at most 1/16 wide).
local function bucket_of(ms)
  local exponent = 0
  while ms >= 32 do
    ms = math.floor(ms / 2)
    exponent = exponent + 1
  end
  if exponent == 0 then
    return ms
  end
  return exponent * 16 + ms
end

-- Variadic commands in chunks, within Lua's stack limit for unpack().
local function call_in_chunks(command, key, values)
  for first = 1, #values, 512 do
    redis.call(command, key, unpack(values, first, math.min(first + 511, #values)))
  end
end

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'WITHSCORES', 'LIMIT', 0, limit)
local reply = { 0, now_ms }
local ids = {}
local settled = {}
local buckets = {}
local max_lateness = -1
for index = 1, #due, 2 do
  local event_id = due[index]
  local due_ms = tonumber(due[index + 1])
  local due_text = string.format('%d', due_ms)
  local lateness = now_ms - due_ms
  local payload = redis.call('HGET', KEYS[2], event_id) or ''
  local entry_id = append_event(KEYS[4], stream_max, 'event_id', event_id, 'due_at', due_text,
    'promoted_at', now_text, 'lateness_ms', string.format('%d', lateness), 'payload', payload)
  ids[#ids + 1] = event_id
  settled[#settled + 1] = event_id
  settled[#settled + 1] = 'promoted ' .. due_text .. ' ' .. now_text
  local bucket = 'b' .. bucket_of(lateness)
  buckets[bucket] = (buckets[bucket] or 0) + 1
  if lateness > max_lateness then
    max_lateness = lateness
  end
  reply[#reply + 1] = event_id
  reply[#reply + 1] = due_ms
  reply[#reply + 1] = entry_id
end

if #ids > 0 then
  call_in_chunks('ZREM', KEYS[1], ids)
  call_in_chunks('HDEL', KEYS[2], ids)
  call_in_chunks('HSET', KEYS[3], settled)
  redis.call('HINCRBY', KEYS[5], 'promoted', #ids)
  for bucket, count in pairs(buckets) do
    redis.call('HINCRBY', KEYS[5], bucket, count)
  end
  local recorded = tonumber(redis.call('HGET', KEYS[5], 'lateness_max_ms') or '-1')
  if max_lateness > recorded then
    redis.call('HSET', KEYS[5], 'lateness_max_ms', string.format('%d', max_lateness))
  end
  if #ids == limit and redis.call('ZCOUNT', KEYS[1], '-inf', now_ms) > 0 then
    reply[1] = 1
  end
end
return reply
