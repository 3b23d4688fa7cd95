-- ranking_record: adds one event to its time bucket and, in Incremental mode,
-- its weighted delta to the aggregate.
-- KEYS[1] the bucket zset   <prefix>:rank:{R}:<metric>:<bucket-start-ms>
-- KEYS[2] the state hash    <prefix>:rank:{R}:state
-- KEYS[3] the aggregate     <prefix>:rank:{R}:agg
-- KEYS[4] the bucket's event ids   <prefix>:rank:{R}:seen:<bucket-start-ms>
-- ARGV[1] member            ARGV[2] delta (finite, > 0)   ARGV[3] metric weight (finite, > 0)
-- ARGV[4] mode: "union" or "incremental"
-- ARGV[5] start of the bucket KEYS[1] belongs to, ms since the epoch
-- ARGV[6] "1" when the event happens now: KEYS[1] must be the current bucket
-- ARGV[7] now in ms, or "" for the server clock
-- ARGV[8] window ms         ARGV[9] bucket ms (the window is a multiple of it)
-- ARGV[10] event id, or "" for none
-- ARGV[11] the largest weighted score one member may have in one bucket
-- Reply: {status, bucket start ms, now ms}. status "recorded";
--   "duplicate": an event with this id was recorded in this bucket before;
--   "outside_window": the bucket is outside the window; "score_limit": the
--   member's weighted score in this bucket would exceed ARGV[11];
--   "not_current": KEYS[1] is not the current bucket, the second element is
--   the current bucket. Nothing is written unless "recorded".
-- Invariant, Incremental mode: :agg holds, per member, the sum of weight x
--   score over the bucket keys from the state's `frontier` bucket on; only
--   buckets in the window are written, and the frontier is never after one.
--   Every weighted bucket score stays <= ARGV[11], so with a bounded number
--   of bucket keys every sum is finite and no subtraction meets inf - inf.
--- @include "server_time_ms"

local member = ARGV[1]
local delta = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local mode = ARGV[4]
local bucket_start = tonumber(ARGV[5])
local window = tonumber(ARGV[8])
local bucket = tonumber(ARGV[9])
local max_score = tonumber(ARGV[11])
if member == nil or member == '' then
  return redis.error_reply('ERR ranking_record: empty member')
end
if delta == nil or delta ~= delta or delta <= 0 or delta == math.huge then
  return redis.error_reply('ERR ranking_record: delta must be finite and > 0')
end
if weight == nil or weight ~= weight or weight <= 0 or weight == math.huge then
  return redis.error_reply('ERR ranking_record: weight must be finite and > 0')
end
if mode ~= 'union' and mode ~= 'incremental' then
  return redis.error_reply('ERR ranking_record: unknown mode')
end
if max_score == nil or max_score ~= max_score or max_score <= 0 or max_score == math.huge then
  return redis.error_reply('ERR ranking_record: bad score limit')
end
if bucket == nil or bucket < 1 or window == nil or window < bucket or window % bucket ~= 0 then
  return redis.error_reply('ERR ranking_record: bad window or bucket')
end
if bucket_start == nil or bucket_start < 0 or bucket_start % bucket ~= 0 then
  return redis.error_reply('ERR ranking_record: bad bucket start')
end
local now = tonumber(ARGV[7])
if ARGV[7] == '' then
  now = server_time_ms()
elseif now == nil or now < 0 then
  return redis.error_reply('ERR ranking_record: bad now')
end

local current = now - now % bucket
if ARGV[6] == '1' and bucket_start ~= current then
  return {'not_current', current, now}
end
if bucket_start > current or bucket_start <= current - window then
  return {'outside_window', bucket_start, now}
end
if ARGV[10] ~= '' and redis.call('SISMEMBER', KEYS[4], ARGV[10]) == 1 then
  return {'duplicate', bucket_start, now}
end
local bucket_score = tonumber(redis.call('ZSCORE', KEYS[1], member) or '0')
if (bucket_score + delta) * weight > max_score then
  return {'score_limit', bucket_start, now}
end

local ttl = bucket_start + window + bucket - now
if ARGV[10] ~= '' then
  redis.call('SADD', KEYS[4], ARGV[10])
  redis.call('PEXPIRE', KEYS[4], ttl)
end
redis.call('ZINCRBY', KEYS[1], delta, member)
redis.call('PEXPIRE', KEYS[1], ttl)
if mode == 'incremental' then
  -- The frontier only ever trails the window start, except right after the
  -- first record: then it is the oldest bucket written so far, so the first
  -- subtraction starts where data starts. Lowering it to a bucket in the
  -- window is safe: buckets in the window are never subtracted.
  local frontier = tonumber(redis.call('HGET', KEYS[2], 'frontier'))
  if frontier == nil or bucket_start < frontier then
    redis.call('HSET', KEYS[2], 'frontier', bucket_start)
  end
  redis.call('ZINCRBY', KEYS[3], delta * weight, member)
  redis.call('PEXPIRE', KEYS[3], window + bucket)
else
  redis.call('HINCRBY', KEYS[2], 'version', 1)
end
redis.call('PEXPIRE', KEYS[2], window + bucket)
return {'recorded', bucket_start, now}
