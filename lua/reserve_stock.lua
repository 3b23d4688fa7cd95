-- reserve_stock: holds stock of several skus of one scope for one hold id
-- until a deadline, all or nothing. First gives back the stock of at most
-- `reclaim limit` expired holds, so stock returns even when nobody sweeps.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 hold id, 2 ttl in ms (positive integer), 3 reclaim limit,
--       4 events stream cap (0 = no cap), 5 payload (the host's bytes kept with
--       the hold, "" for none), then pairs: sku, quantity (each sku once)
-- Reply: { status, expires_at ms (0 when none), short sku ("" when none), epoch }
--   status: "reserved" | "already_reserved" (this hold id was reserved
--   before; its expiry, whatever happened since, 0 for a restored hold) |
--   "insufficient_stock" | "sale_closed" | "restoring" (a restore runs) |
--   "not_open" (the server clock is before the scope's opens_at, KEYS[12]) |
--   "unknown_sku" (also when the scope is not loaded)
-- Invariant: per sku, initial = available + held + confirmed, available >= 0.
-- A hold id reserves at most once per loaded scope (holds + settled remember it).
-- The payload is stored in the payloads hash with the hold (not when empty)
-- and carried by the reserved event; a retry keeps the first attempt's.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "hold_payload"
--- @include "expire_hold"

local hold_id = ARGV[1]
local ttl_ms = tonumber(ARGV[2])
local reclaim_limit = tonumber(ARGV[3])
local events_max = stream_max_length(ARGV[4])
if not ttl_ms or ttl_ms < 1 or ttl_ms % 1 ~= 0 then
  return redis.error_reply('ERR reserve_stock: bad ttl')
end
if not reclaim_limit or reclaim_limit < 0 or reclaim_limit % 1 ~= 0 then
  return redis.error_reply('ERR reserve_stock: bad reclaim limit')
end
if not events_max then
  return redis.error_reply('ERR reserve_stock: bad events stream cap')
end
local payload = ARGV[5]
local pair_count = (#ARGV - 5) / 2
if pair_count < 1 or pair_count % 1 ~= 0 then
  return redis.error_reply('ERR reserve_stock: expected sku/quantity pairs')
end
local quantities = {}
for i = 1, pair_count do
  -- Digits only: HINCRBY must not fail half way through the writes.
  local text = ARGV[5 + 2 * i]
  local quantity = tonumber(text)
  if not string.match(text, '^[1-9]%d*$') or quantity > 9007199254740992 then
    return redis.error_reply('ERR reserve_stock: bad quantity')
  end
  quantities[i] = quantity
end

-- The scope's incarnation, carried in every event and reply; a restore in
-- progress (restore_stock.lua) refuses everything until it finishes.
local epoch = redis.call('GET', KEYS[10]) or '0'
local epoch_number = tonumber(epoch)
local state = redis.call('GET', KEYS[1])
if state == 'restoring' then
  return { 'restoring', 0, '', epoch_number }
end

local now_ms = server_time_ms()

if reclaim_limit > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now_ms, 'LIMIT', 0, reclaim_limit)
  for _, expired_id in ipairs(due) do
    expire_hold(expired_id, now_ms, events_max, epoch)
  end
end

-- A retry of an earlier attempt (after a timeout) must not reserve twice.
local active_deadline = redis.call('ZSCORE', KEYS[7], hold_id)
if active_deadline then
  return { 'already_reserved', tonumber(active_deadline), '', epoch_number }
end
local settled = redis.call('HGET', KEYS[8], hold_id)
if settled then
  local _, _, settled_deadline = string.find(settled, '^%S+ (%d+)')
  return { 'already_reserved', tonumber(settled_deadline), '', epoch_number }
end

if not state then
  return { 'unknown_sku', 0, ARGV[6], epoch_number }
end
if state ~= 'open' then
  return { 'sale_closed', 0, '', epoch_number }
end
if now_ms < tonumber(redis.call('GET', KEYS[12]) or '0') then
  return { 'not_open', 0, '', epoch_number }
end
for i = 1, pair_count do
  local sku = ARGV[4 + 2 * i]
  local available = redis.call('HGET', KEYS[3], sku)
  if not available then
    return { 'unknown_sku', 0, sku, epoch_number }
  end
  if tonumber(available) < quantities[i] then
    return { 'insufficient_stock', 0, sku, epoch_number }
  end
end

local items = {}
for i = 1, pair_count do
  local sku = ARGV[4 + 2 * i]
  local quantity = ARGV[5 + 2 * i]
  redis.call('HINCRBY', KEYS[3], sku, '-' .. quantity)
  redis.call('HINCRBY', KEYS[4], sku, quantity)
  items[i] = sku .. ' ' .. quantity
end
local items_text = table.concat(items, ' ')
local expires_at = now_ms + ttl_ms
redis.call('HSET', KEYS[6], hold_id, items_text)
redis.call('ZADD', KEYS[7], expires_at, hold_id)
if payload ~= '' then
  redis.call('HSET', KEYS[11], hold_id, payload)
end
append_hold_event(events_max, payload, 'type', 'reserved', 'epoch', epoch, 'hold_id', hold_id,
  'items', items_text, 'expires_at', expires_at, 'at', now_ms)
return { 'reserved', expires_at, '', epoch_number }
