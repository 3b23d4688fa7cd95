-- ranking_subtract_expired: one bounded step of the Incremental refresh.
-- Subtracts up to `chunk` members of the frontier bucket (the oldest bucket
-- still counted in the aggregate) once it has left the window, removing them
-- from the bucket as it goes: the bucket is its own cursor, so a retried call
-- never subtracts a member twice. Advances the frontier when the bucket is
-- empty.
-- KEYS[1] the state hash   KEYS[2] the aggregate
-- KEYS[3..] the frontier bucket's keys, one per metric
-- ARGV[1] the frontier the keys were built for (ms), or "" when unknown
-- ARGV[2] now in ms, or "" for the server clock
-- ARGV[3] window ms   ARGV[4] bucket ms   ARGV[5] chunk (most members this call)
-- ARGV[6] epsilon: aggregate members whose score falls to it or below are removed
-- ARGV[7..] the weight of each of KEYS[3..], in order
-- Reply: {status, frontier ms, members subtracted}. status "caught_up": the
--   frontier bucket is in the window. "progress": call again. "not_frontier":
--   the keys are not the frontier's (nothing written); call again with the
--   returned frontier's keys. "frontier_expired": the frontier bucket reached
--   its expiry time, so its contents may be gone: the aggregate must be
--   rebuilt (nothing written).
-- Invariant: :agg = sum of weight x score over the bucket keys from the
--   frontier on. Bucket keys expire at start + window + bucket; this call
--   never works on a bucket at or past that time, so it never reads a bucket
--   that expired before it was subtracted.
--- @include "server_time_ms"

local expected = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local bucket = tonumber(ARGV[4])
local chunk = tonumber(ARGV[5])
local epsilon = tonumber(ARGV[6])
local metric_count = #KEYS - 2
if bucket == nil or bucket < 1 or window == nil or window < bucket or window % bucket ~= 0
    or chunk == nil or chunk < 1 or chunk % 1 ~= 0
    or epsilon == nil or epsilon ~= epsilon or epsilon < 0 or #ARGV ~= 6 + metric_count then
  return redis.error_reply('ERR ranking_subtract_expired: bad arguments')
end
local weights = {}
for i = 1, metric_count do
  local weight = tonumber(ARGV[6 + i])
  if weight == nil or weight ~= weight or weight <= 0 or weight == math.huge then
    return redis.error_reply('ERR ranking_subtract_expired: bad weight')
  end
  weights[i] = weight
end
local now = tonumber(ARGV[2])
if ARGV[2] == '' then
  now = server_time_ms()
elseif now == nil or now < 0 then
  return redis.error_reply('ERR ranking_subtract_expired: bad now')
end

local current = now - now % bucket
local window_start = current - window + bucket
local frontier = tonumber(redis.call('HGET', KEYS[1], 'frontier'))
if frontier == nil then
  -- Nothing recorded within the last window + bucket: nothing to subtract.
  return {'caught_up', window_start, 0}
end
if expected == nil or expected ~= frontier or metric_count < 1 then
  return {'not_frontier', frontier, 0}
end
if frontier >= window_start then
  return {'caught_up', frontier, 0}
end
if now >= frontier + window + bucket then
  return {'frontier_expired', frontier, 0}
end

local remaining = chunk
local subtracted = 0
for i = 1, metric_count do
  if remaining == 0 then
    break
  end
  local entries = redis.call('ZRANGE', KEYS[2 + i], 0, remaining - 1, 'WITHSCORES')
  local count = #entries / 2
  for j = 1, #entries, 2 do
    local member = entries[j]
    local left = tonumber(redis.call('ZINCRBY', KEYS[2], -(tonumber(entries[j + 1]) * weights[i]),
                                     member))
    if left <= epsilon then
      redis.call('ZREM', KEYS[2], member)
    end
  end
  if count > 0 then
    redis.call('ZREMRANGEBYRANK', KEYS[2 + i], 0, count - 1)
  end
  remaining = remaining - count
  subtracted = subtracted + count
end
if remaining > 0 then
  -- Every key of the bucket is empty now (deleted by its last ZREMRANGEBYRANK).
  frontier = frontier + bucket
  redis.call('HSET', KEYS[1], 'frontier', frontier)
end
return {'progress', frontier, subtracted}
