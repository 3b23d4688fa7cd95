-- settle_hold: confirms, releases or extends one hold. A hold whose deadline
-- has passed is expired first (stock back, one hold_expired event), whether
-- or not a sweep got to it yet: expiry is judged by the server clock.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 action ("confirm" | "release" | "extend"), 2 hold id,
--       3 ttl in ms (extend only; positive integer, else "0"), 4 events stream cap (0 = no cap)
-- Reply: { status, expires_at ms (0 when none), short sku ("" when none), epoch,
--          the hold's payload ("" when none, unknown or restoring) }
--   any action: "restoring" while a restore runs (nothing read or written)
--   confirm: "confirmed" | "already_confirmed" | "reacquired" (past its
--            deadline: confirmed late while still held, or taken again after
--            it expired) | "expired" (had expired, stock or an open sale
--            missing; short sku names a sku that ran out) | "released" |
--            "unknown_hold"
-- Events: hold_expired only when a hold's stock went back to available; a
--   "reacquired" confirm appends confirmed {reacquired=1}. confirmed, released
--   and hold_expired events carry the hold's payload field when it has one.
--   release: "released" | "already_released" | "expired" | "not_releasable"
--            (confirmed) | "unknown_hold"
--   extend:  "extended" (expires_at = now + ttl) | "expired" |
--            "not_extendable" (confirmed or released) | "unknown_hold"
-- Invariant: per sku, initial = available + held + confirmed. A hold id is in
-- at most one of holds (active) and settled ("confirmed" | "released" |
-- "expired" <deadline ms> <items>); settled entries live as long as the scope.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "hold_payload"
--- @include "expire_hold"

local action = ARGV[1]
local hold_id = ARGV[2]
local ttl_ms = tonumber(ARGV[3])
local events_max = stream_max_length(ARGV[4])
if action ~= 'confirm' and action ~= 'release' and action ~= 'extend' then
  return redis.error_reply('ERR settle_hold: unknown action')
end
if not ttl_ms or ttl_ms < 0 or ttl_ms % 1 ~= 0 or (action == 'extend' and ttl_ms < 1) then
  return redis.error_reply('ERR settle_hold: bad ttl')
end
if not events_max then
  return redis.error_reply('ERR settle_hold: bad events stream cap')
end

local now_ms = server_time_ms()

-- The scope's incarnation, carried in every event and reply; a restore in
-- progress (restore_stock.lua) refuses everything until it finishes.
local epoch = redis.call('GET', KEYS[10]) or '0'
local epoch_number = tonumber(epoch)
if redis.call('GET', KEYS[1]) == 'restoring' then
  return { 'restoring', 0, '', epoch_number, '' }
end
local payload = hold_payload(hold_id)

local function add_event(event_type, items, extra_name, extra_value)
  append_hold_event(events_max, payload, 'type', event_type, 'epoch', epoch, 'hold_id', hold_id,
    'items', items, extra_name, extra_value, 'at', now_ms)
end

-- Calls move(sku, quantity) for each pair of an items text "sku qty sku qty".
local function for_each_item(items, move)
  local sku = nil
  for word in string.gmatch(items, '%S+') do
    if sku then
      move(sku, word)
      sku = nil
    else
      sku = word
    end
  end
end

local settled = nil
local active_items = redis.call('HGET', KEYS[6], hold_id)
if active_items then
  local deadline = redis.call('ZSCORE', KEYS[7], hold_id)
  if tonumber(deadline) > now_ms then
    if action == 'extend' then
      local expires_at = now_ms + ttl_ms
      redis.call('ZADD', KEYS[7], 'XX', expires_at, hold_id)
      return { 'extended', expires_at, '', epoch_number, payload }
    end
    local record
    if action == 'confirm' then
      for_each_item(active_items, function(sku, quantity)
        redis.call('HINCRBY', KEYS[4], sku, '-' .. quantity)
        redis.call('HINCRBY', KEYS[5], sku, quantity)
      end)
      record = 'confirmed '
    else
      for_each_item(active_items, function(sku, quantity)
        redis.call('HINCRBY', KEYS[4], sku, '-' .. quantity)
        redis.call('HINCRBY', KEYS[3], sku, quantity)
      end)
      record = 'released '
    end
    redis.call('HDEL', KEYS[6], hold_id)
    redis.call('ZREM', KEYS[7], hold_id)
    redis.call('HSET', KEYS[8], hold_id, record .. deadline .. ' ' .. active_items)
    if action == 'confirm' then
      add_event('confirmed', active_items, 'reacquired', 0)
      return { 'confirmed', tonumber(deadline), '', epoch_number, payload }
    end
    add_event('released', active_items, 'expires_at', deadline)
    return { 'released', 0, '', epoch_number, payload }
  end
  if action == 'confirm' and redis.call('GET', KEYS[1]) == 'open' then
    -- Past its deadline but not expired yet: its stock is still held, so it
    -- is confirmed late instead of expired and taken again (no hold_expired
    -- event that the confirmed event would have to undo).
    for_each_item(active_items, function(sku, quantity)
      redis.call('HINCRBY', KEYS[4], sku, '-' .. quantity)
      redis.call('HINCRBY', KEYS[5], sku, quantity)
    end)
    redis.call('HDEL', KEYS[6], hold_id)
    redis.call('ZREM', KEYS[7], hold_id)
    redis.call('HSET', KEYS[8], hold_id, 'confirmed ' .. deadline .. ' ' .. active_items)
    add_event('confirmed', active_items, 'reacquired', 1)
    return { 'reacquired', tonumber(deadline), '', epoch_number, payload }
  end
  settled = expire_hold(hold_id, now_ms, events_max, epoch)
else
  settled = redis.call('HGET', KEYS[8], hold_id)
end

if not settled then
  return { 'unknown_hold', 0, '', epoch_number, payload }
end
local _, _, state, deadline, items = string.find(settled, '^(%S+) (%d+) (.*)$')
if action == 'extend' then
  if state == 'expired' then
    return { 'expired', 0, '', epoch_number, payload }
  end
  return { 'not_extendable', 0, '', epoch_number, payload }
end
if action == 'release' then
  if state == 'confirmed' then
    return { 'not_releasable', 0, '', epoch_number, payload }
  end
  if state == 'expired' then
    return { 'expired', 0, '', epoch_number, payload }
  end
  return { 'already_released', 0, '', epoch_number, payload }
end
if state == 'confirmed' then
  return { 'already_confirmed', tonumber(deadline), '', epoch_number, payload }
end
if state == 'released' then
  return { 'released', 0, '', epoch_number, payload }
end

-- Expired: take the stock again if every sku still has it and the sale is open.
if redis.call('GET', KEYS[1]) ~= 'open' then
  return { 'expired', 0, '', epoch_number, payload }
end
local short_sku = nil
for_each_item(items, function(sku, quantity)
  if not short_sku and tonumber(redis.call('HGET', KEYS[3], sku) or '0') < tonumber(quantity) then
    short_sku = sku
  end
end)
if short_sku then
  return { 'expired', 0, short_sku, epoch_number, payload }
end
for_each_item(items, function(sku, quantity)
  redis.call('HINCRBY', KEYS[3], sku, '-' .. quantity)
  redis.call('HINCRBY', KEYS[5], sku, quantity)
end)
redis.call('HSET', KEYS[8], hold_id, 'confirmed ' .. deadline .. ' ' .. items)
add_event('confirmed', items, 'reacquired', 1)
return { 'reacquired', tonumber(deadline), '', epoch_number, payload }
