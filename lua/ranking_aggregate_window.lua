-- ranking_aggregate_window: the Union refresh (and the Incremental rebuild).
-- ZUNIONSTOREs the window's bucket keys with their metric weights into the
-- fixed staging key, drops members at or below epsilon, and RENAMEs it onto
-- the aggregate, so readers always see a whole ranking.
-- KEYS[1] the aggregate <prefix>:rank:{R}:agg   KEYS[2] staging <prefix>:rank:{R}:agg:tmp
-- KEYS[3] the state hash                        KEYS[4..] the window's bucket keys
-- ARGV[1] start of the current bucket the keys were built for (ms)
-- ARGV[2] now in ms, or "" for the server clock
-- ARGV[3] window ms   ARGV[4] bucket ms   ARGV[5] epsilon
-- ARGV[6] "1": skip when nothing was recorded and the window did not move
--         since the last refresh (Union single flight); "0": always aggregate
-- ARGV[7] mode: "union" or "incremental"
-- ARGV[8..] the weight of each of KEYS[4..], in order
-- Reply: {status, current bucket ms, now ms}. status "aggregated";
--   "unchanged": skipped; "not_current": the keys are not the current window
--   (nothing written), the second element is the current bucket.
-- Invariant: :agg is always a whole ranking of one window. Incremental mode:
--   the frontier becomes the window's first bucket, which :agg now counts.
-- Cost: O(N) + O(M log M) for N bucket entries and M members; blocks Redis.
--- @include "server_time_ms"

local expected = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local bucket = tonumber(ARGV[4])
local epsilon = tonumber(ARGV[5])
local mode = ARGV[7]
local key_count = #KEYS - 3
if expected == nil or bucket == nil or bucket < 1 or window == nil or window < bucket
    or window % bucket ~= 0 or epsilon == nil or epsilon ~= epsilon or epsilon < 0 then
  return redis.error_reply('ERR ranking_aggregate_window: bad arguments')
end
if mode ~= 'union' and mode ~= 'incremental' then
  return redis.error_reply('ERR ranking_aggregate_window: unknown mode')
end
if key_count < 1 or #ARGV ~= 7 + key_count then
  return redis.error_reply('ERR ranking_aggregate_window: one weight per bucket key')
end
local weights = {}
for i = 1, key_count do
  local weight = tonumber(ARGV[7 + i])
  if weight == nil or weight ~= weight or weight <= 0 or weight == math.huge then
    return redis.error_reply('ERR ranking_aggregate_window: bad weight')
  end
  weights[i] = ARGV[7 + i]
end
local now = tonumber(ARGV[2])
if ARGV[2] == '' then
  now = server_time_ms()
elseif now == nil or now < 0 then
  return redis.error_reply('ERR ranking_aggregate_window: bad now')
end

local current = now - now % bucket
if current ~= expected then
  return {'not_current', current, now}
end
local marker = nil
if mode == 'union' then
  marker = ARGV[1] .. ':' .. (redis.call('HGET', KEYS[3], 'version') or '0')
  if ARGV[6] == '1' and redis.call('HGET', KEYS[3], 'refreshed') == marker then
    return {'unchanged', current, now}
  end
end

local command = {'ZUNIONSTORE', KEYS[2], key_count}
for i = 1, key_count do
  command[#command + 1] = KEYS[3 + i]
end
command[#command + 1] = 'WEIGHTS'
for i = 1, key_count do
  command[#command + 1] = weights[i]
end
redis.call(unpack(command))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[1])
  redis.call('PEXPIRE', KEYS[1], window + bucket)
else
  redis.call('DEL', KEYS[1])
end
if mode == 'union' then
  redis.call('HSET', KEYS[3], 'refreshed', marker)
else
  redis.call('HSET', KEYS[3], 'frontier', current - window + bucket)
end
redis.call('PEXPIRE', KEYS[3], window + bucket)
return {'aggregated', current, now}
