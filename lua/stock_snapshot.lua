-- stock_snapshot: the per-sku figures of a scope, optionally closing it
-- first (end of sale: later reserves get "sale_closed"; outstanding holds may
-- still be confirmed, released or expire).
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: 1 "close" | "read", 2 events stream cap (0 = no cap)
-- Reply: { state ("not_loaded" | "open" | "closed" | "restoring"), active hold
--          count, epoch, opens_at (ms since the Unix epoch, 0 = open at load),
--          then per sku: sku, initial, available, held, confirmed }
--   A scope being restored is not closed by "close".
-- Invariant (what callers check): per sku, initial = available + held + confirmed.
-- Cost: O(skus of the scope), bounded by the load limit.
--- @include "server_time_ms"
--- @include "append_event"

local close = ARGV[1] == 'close'
local events_max = stream_max_length(ARGV[2])
if ARGV[1] ~= 'close' and ARGV[1] ~= 'read' then
  return redis.error_reply('ERR stock_snapshot: unknown mode')
end
if not events_max then
  return redis.error_reply('ERR stock_snapshot: bad events stream cap')
end

local state = redis.call('GET', KEYS[1])
if not state then
  return { 'not_loaded', 0, 0, 0 }
end
local epoch = redis.call('GET', KEYS[10]) or '0'
if close and state == 'open' then
  redis.call('SET', KEYS[1], 'closed')
  append_event(KEYS[9], events_max, 'type', 'sale_closed', 'epoch', epoch, 'at', server_time_ms())
  state = 'closed'
end
local reply = { state, redis.call('HLEN', KEYS[6]), tonumber(epoch),
  tonumber(redis.call('GET', KEYS[12]) or '0') }
local initial = redis.call('HGETALL', KEYS[2])
for i = 1, #initial, 2 do
  local sku = initial[i]
  reply[#reply + 1] = sku
  reply[#reply + 1] = tonumber(initial[i + 1])
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[3], sku))
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[4], sku))
  reply[#reply + 1] = tonumber(redis.call('HGET', KEYS[5], sku))
end
return reply
