-- restore_stock: rebuilds a scope from what the host persisted, after Redis
-- lost data, under a new incarnation (epoch). Three steps, one per call:
--   begin   starts the incarnation: the scope's state is wiped (the events
--           stream is kept), the stock written with nothing held or
--           confirmed, and the state set to "restoring", so reserve and
--           settle answer "restoring" and reclaims find nothing until finish.
--   add     records at most 1000 confirmed holds: their units move from
--           available to confirmed and the hold ids are remembered as
--           confirmed (with their payloads), so a retried confirm or reserve
--           of one changes nothing.
--   finish  opens the scope and appends a `restored` event.
-- Holds that were active (not confirmed) when Redis lost data are not
-- restored: their stock is available again, and confirming one later answers
-- unknown_hold.
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 mode
--   "begin":  2 after_epoch (the highest epoch the host knows of, 0 for none),
--             3 opens_at ("" keeps KEYS[12] as it is, absent after a loss:
--             open now; else ms since the Unix epoch, 0..2^53, 0 = open now),
--             then pairs: sku, quantity (each sku once, quantity 1..2^53)
--   "add":    2 epoch, then triples: hold id, items ("sku qty sku qty ...",
--             each sku loaded, quantities 1..2^53), payload ("" for none),
--             1..1000 holds
--   "finish": 2 epoch, 3 events stream cap (0 = no cap)
-- Reply: begin { "restoring", epoch }; add { holds added, units added };
--   finish { "restored", epoch }; the restored event carries opens_at (ms)
--   when the scope has one. add or finish for an epoch that is not the
--   scope's (another begin or a load replaced it) is an error; a retried
--   finish replies as the first did; a hold id added again with the same
--   items and payload adds nothing, with other items or another payload is
--   an error (nothing written).
-- Why the epoch is new forever: it is the server clock in microseconds, kept
--   above after_epoch and above the epoch the key holds now. An epoch that
--   Redis lost was read from a clock before the loss; the new one is read
--   after it, and it is above every epoch the host persisted events of.
-- Invariant: per sku, initial = available + held + confirmed and
--   available >= 0: confirmed units beyond the stock are refused.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "new_epoch"
--- @include "whole_number"
--- @include "hold_payload"

local max_batch = 1000
local mode = ARGV[1]

if mode == 'begin' then
  local after_epoch = whole(ARGV[2], 0, max_quantity - 1)
  local opens_at = ARGV[3]
  local pair_count = (#ARGV - 3) / 2
  if not after_epoch or pair_count < 1 or pair_count % 1 ~= 0 then
    return redis.error_reply('ERR restore_stock: bad arguments')
  end
  if opens_at ~= '' and not whole(opens_at, 0, max_quantity) then
    return redis.error_reply('ERR restore_stock: bad opens_at')
  end
  for i = 1, pair_count do
    if ARGV[2 + 2 * i] == '' or not whole(ARGV[3 + 2 * i], 1, max_quantity) then
      return redis.error_reply('ERR restore_stock: bad sku or quantity')
    end
  end
  local epoch = new_epoch(math.max(after_epoch, tonumber(redis.call('GET', KEYS[10]) or '0')))
  redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8],
  KEYS[11])
  if opens_at ~= '' then
    if tonumber(opens_at) > 0 then
      redis.call('SET', KEYS[12], string.format('%d', tonumber(opens_at)))
    else
      redis.call('UNLINK', KEYS[12])
    end
  end
  for i = 1, pair_count do
    local sku = ARGV[2 + 2 * i]
    local quantity = ARGV[3 + 2 * i]
    redis.call('HSET', KEYS[2], sku, quantity)
    redis.call('HSET', KEYS[3], sku, quantity)
    redis.call('HSET', KEYS[4], sku, 0)
    redis.call('HSET', KEYS[5], sku, 0)
  end
  redis.call('SET', KEYS[10], string.format('%d', epoch))
  redis.call('SET', KEYS[1], 'restoring')
  return { 'restoring', epoch }
end

if mode ~= 'add' and mode ~= 'finish' then
  return redis.error_reply('ERR restore_stock: unknown mode')
end
local epoch = whole(ARGV[2], 1, max_quantity)
if not epoch then
  return redis.error_reply('ERR restore_stock: bad epoch')
end
local state = redis.call('GET', KEYS[1])
if tonumber(redis.call('GET', KEYS[10]) or '0') ~= epoch or not state then
  return redis.error_reply('ERR restore_stock: epoch ' .. ARGV[2] .. ' is not being restored')
end

if mode == 'finish' then
  local events_max = stream_max_length(ARGV[3])
  if not events_max then
    return redis.error_reply('ERR restore_stock: bad events stream cap')
  end
  if state == 'restoring' then
    redis.call('SET', KEYS[1], 'open')
    local opens_at = redis.call('GET', KEYS[12])
    if opens_at then
      append_event(KEYS[9], events_max, 'type', 'restored', 'epoch', ARGV[2], 'confirmed_holds',
        redis.call('HLEN', KEYS[8]), 'at', server_time_ms(), 'opens_at', opens_at)
    else
      append_event(KEYS[9], events_max, 'type', 'restored', 'epoch', ARGV[2], 'confirmed_holds',
        redis.call('HLEN', KEYS[8]), 'at', server_time_ms())
    end
  end
  return { 'restored', epoch }
end

-- add: check every hold and the stock first, write only when all pass.
if state ~= 'restoring' then
  return redis.error_reply('ERR restore_stock: epoch ' .. ARGV[2] .. ' is not being restored')
end
local hold_count = (#ARGV - 2) / 3
if hold_count < 1 or hold_count > max_batch or hold_count % 1 ~= 0 then
  return redis.error_reply('ERR restore_stock: expected 1..1000 hold/items/payload triples')
end
local needed = {}
local skus = {}
local fresh = {}
local seen = {}
local units = 0
for i = 1, hold_count do
  local hold_id = ARGV[3 * i]
  local items = ARGV[1 + 3 * i]
  if hold_id == '' then
    return redis.error_reply('ERR restore_stock: empty hold id')
  end
  -- Items hold no newline (skus are key ids): record and payload compare as one.
  local record = 'confirmed 0 ' .. items .. '\n' .. ARGV[2 + 3 * i]
  local known = seen[hold_id]
  if not known then
    local settled = redis.call('HGET', KEYS[8], hold_id)
    if settled then
      known = settled .. '\n' .. hold_payload(hold_id)
    end
  end
  if known and known ~= record then
    return redis.error_reply(
      'ERR restore_stock: a hold id is restored twice with other items or payload')
  end
  if not known then
    seen[hold_id] = record
    fresh[#fresh + 1] = i
    local sku = nil
    local pairs_found = 0
    -- Bounded by the length of one ARGV entry.
    for word in string.gmatch(items, '%S+') do
      if sku then
        local quantity = whole(word, 1, max_quantity)
        if not quantity then
          return redis.error_reply('ERR restore_stock: bad quantity')
        end
        if not needed[sku] then
          if redis.call('HEXISTS', KEYS[2], sku) == 0 then
            return redis.error_reply('ERR restore_stock: a hold names a sku that is not loaded')
          end
          needed[sku] = 0
          skus[#skus + 1] = sku
        end
        needed[sku] = needed[sku] + quantity
        units = units + quantity
        pairs_found = pairs_found + 1
        sku = nil
      else
        sku = word
      end
    end
    if sku or pairs_found == 0 then
      return redis.error_reply('ERR restore_stock: expected items "sku qty sku qty ..."')
    end
  end
end
for _, sku in ipairs(skus) do
  if tonumber(redis.call('HGET', KEYS[3], sku)) < needed[sku] then
    return redis.error_reply('ERR restore_stock: confirmed units exceed the stock of a sku')
  end
end

for _, sku in ipairs(skus) do
  redis.call('HINCRBY', KEYS[3], sku, string.format('-%d', needed[sku]))
  redis.call('HINCRBY', KEYS[5], sku, string.format('%d', needed[sku]))
end
for _, i in ipairs(fresh) do
  redis.call('HSET', KEYS[8], ARGV[3 * i], 'confirmed 0 ' .. ARGV[1 + 3 * i])
  if ARGV[2 + 3 * i] ~= '' then
    redis.call('HSET', KEYS[11], ARGV[3 * i], ARGV[2 + 3 * i])
  end
end
return { #fresh, units }
