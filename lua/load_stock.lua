-- load_stock: puts a scope's stock in place at sale start and opens the scope.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 mode ("fail_if_loaded" | "replace"), 2 events stream cap (0 = no cap),
--       3 opens_at ms since the Unix epoch (0 = open now; 0..2^53),
--       then pairs: sku, quantity (positive integer <= 2^53, each sku once)
-- Reply: { "loaded" | "already_loaded", the scope's epoch (0 when none) }
-- Invariant: afterwards, per sku, initial = available and held = confirmed = 0.
-- opens_at > 0 is kept in KEYS[12]: reserve answers "not_open" while the
-- server clock is before it; the loaded event then carries it.
-- A load starts a new incarnation: epoch = the server clock in microseconds,
-- above the epoch the key held (restore_stock.lua says why it is new forever);
-- it travels in every event of the scope.
-- "replace" starts the scope over: outstanding holds and settled hold ids are
-- forgotten (no events for them); the events stream is kept.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "new_epoch"

local mode = ARGV[1]
local events_max = stream_max_length(ARGV[2])
if mode ~= 'fail_if_loaded' and mode ~= 'replace' then
  return redis.error_reply('ERR load_stock: unknown mode')
end
if not events_max then
  return redis.error_reply('ERR load_stock: bad events stream cap')
end
local opens_at = ARGV[3]
if not opens_at or not string.match(opens_at, '^%d+$') or tonumber(opens_at) > 9007199254740992 then
  return redis.error_reply('ERR load_stock: bad opens_at')
end
opens_at = tonumber(opens_at)
local pair_count = (#ARGV - 3) / 2
if pair_count < 1 or pair_count % 1 ~= 0 then
  return redis.error_reply('ERR load_stock: expected sku/quantity pairs')
end
for i = 1, pair_count do
  -- Digits only: HINCRBY must not fail half way through the writes.
  local text = ARGV[3 + 2 * i]
  local quantity = tonumber(text)
  if not string.match(text, '^[1-9]%d*$') or quantity > 9007199254740992 then
    return redis.error_reply('ERR load_stock: bad quantity')
  end
end

if mode == 'fail_if_loaded' and redis.call('EXISTS', KEYS[1]) == 1 then
  return { 'already_loaded', tonumber(redis.call('GET', KEYS[10]) or '0') }
end
-- Start clean (a replace, or leftovers of a scope whose state key is gone).
-- UNLINK frees large hashes in the background instead of blocking Redis.
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8],
  KEYS[11], KEYS[12])
if opens_at > 0 then
  redis.call('SET', KEYS[12], string.format('%d', opens_at))
end

local skus = {}
for i = 1, pair_count do
  local sku = ARGV[2 + 2 * i]
  local quantity = ARGV[3 + 2 * i]
  redis.call('HSET', KEYS[2], sku, quantity)
  redis.call('HSET', KEYS[3], sku, quantity)
  redis.call('HSET', KEYS[4], sku, 0)
  redis.call('HSET', KEYS[5], sku, 0)
  skus[#skus + 1] = sku .. ' ' .. quantity
end
redis.call('SET', KEYS[1], 'open')
local epoch = string.format('%d', new_epoch(tonumber(redis.call('GET', KEYS[10]) or '0')))
redis.call('SET', KEYS[10], epoch)
if opens_at > 0 then
  append_event(KEYS[9], events_max, 'type', 'loaded', 'epoch', epoch, 'items',
    table.concat(skus, ' '), 'at', server_time_ms(), 'opens_at', string.format('%d', opens_at))
else
  append_event(KEYS[9], events_max, 'type', 'loaded', 'epoch', epoch, 'items',
    table.concat(skus, ' '), 'at', server_time_ms())
end
return { 'loaded', tonumber(epoch) }
