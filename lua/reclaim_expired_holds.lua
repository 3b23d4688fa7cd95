-- reclaim_expired_holds: gives the stock of holds whose deadline has passed
-- back to available, oldest deadline first, at most `limit` holds per call.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch (all of one scope, one hash tag)
-- ARGV: 1 limit (1..max the caller allows), 2 events max length
-- Reply: { reclaimed count, 1 when more expired holds are still due else 0, epoch }
-- Invariant: per sku, initial = available + held + confirmed. Each reclaimed
-- hold moves from holds/deadlines to settled as "expired" and appends exactly
-- one hold_expired event: a hold leaves `holds` only once.
local limit = tonumber(ARGV[1])
local events_max = tonumber(ARGV[2])
if not limit or limit < 1 or limit % 1 ~= 0 then
  return redis.error_reply('ERR reclaim_expired_holds: bad limit')
end
if not events_max or events_max < 1 or events_max % 1 ~= 0 then
  return redis.error_reply('ERR reclaim_expired_holds: bad events max length')
end

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local epoch = redis.call('GET', KEYS[10]) or '0'

-- Same body in reserve_stock.lua and settle_hold.lua: EVAL scripts cannot
-- share code, and expiry must happen inside the caller's atomic script.
local function expire_hold(hold_id)
  local items = redis.call('HGET', KEYS[6], hold_id)
  local deadline = redis.call('ZSCORE', KEYS[7], hold_id)
  redis.call('ZREM', KEYS[7], hold_id)
  if not items then
    return false
  end
  local sku = nil
  for word in string.gmatch(items, '%S+') do
    if sku then
      redis.call('HINCRBY', KEYS[3], sku, word)
      redis.call('HINCRBY', KEYS[4], sku, '-' .. word)
      sku = nil
    else
      sku = word
    end
  end
  redis.call('HDEL', KEYS[6], hold_id)
  redis.call('HSET', KEYS[8], hold_id, 'expired ' .. deadline .. ' ' .. items)
  redis.call('XADD', KEYS[9], 'MAXLEN', '~', events_max, '*', 'type', 'hold_expired',
    'epoch', epoch, 'hold_id', hold_id, 'items', items, 'expires_at', deadline, 'at', now_ms)
  return true
end

local due = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now_ms, 'LIMIT', 0, limit)
local reclaimed = 0
for _, hold_id in ipairs(due) do
  if expire_hold(hold_id) then
    reclaimed = reclaimed + 1
  end
end
local more = 0
if #due == limit and redis.call('ZCOUNT', KEYS[7], '-inf', now_ms) > 0 then
  more = 1
end
return { reclaimed, more, tonumber(epoch) }
