-- reclaim_expired_holds: gives the stock of holds whose deadline has passed
-- back to available, oldest deadline first, at most `limit` holds per call.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 limit (1..max the caller allows), 2 events stream cap (0 = no cap)
-- Reply: { reclaimed count, 1 when more expired holds are still due else 0, epoch }
-- Invariant: per sku, initial = available + held + confirmed. Each reclaimed
-- hold moves from holds/deadlines to settled as "expired" and appends exactly
-- one hold_expired event: a hold leaves `holds` only once.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "hold_payload"
--- @include "expire_hold"

local limit = tonumber(ARGV[1])
local events_max = stream_max_length(ARGV[2])
if not limit or limit < 1 or limit % 1 ~= 0 then
  return redis.error_reply('ERR reclaim_expired_holds: bad limit')
end
if not events_max then
  return redis.error_reply('ERR reclaim_expired_holds: bad events stream cap')
end

local now_ms = server_time_ms()
local epoch = redis.call('GET', KEYS[10]) or '0'
local due = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now_ms, 'LIMIT', 0, limit)
local reclaimed = 0
for _, hold_id in ipairs(due) do
  if expire_hold(hold_id, now_ms, events_max, epoch) then
    reclaimed = reclaimed + 1
  end
end
local more = 0
if #due == limit and redis.call('ZCOUNT', KEYS[7], '-inf', now_ms) > 0 then
  more = 1
end
return { reclaimed, more, tonumber(epoch) }
