-- leave_waiting_room: leave (give up a place or a slot), complete (an
-- admitted visitor is done) or renew (an admission lasts token ttl longer)
-- for one visitor of one room. An admission past its token expiry is expired
-- first, whether or not a sweep got to it yet.
-- KEYS: 1 waiting, 2 seen, 3 active, 4 admitted, 5 state (one room, one hash
--       tag; see visit_waiting_room.lua)
-- ARGV: 1 action ("leave" | "complete" | "renew"), 2 visitor,
--       3 token ttl ms (renew: >= 1, else "0")
-- Reply: { status, expires_at ms (renewed, else 0), token (renewed, else "") }
--   leave:    "left_queue" | "freed_slot" | "not_in_room"
--   complete: "completed" | "not_admitted"
--   renew:    "renewed" | "not_admitted"
-- Invariant: a visitor is in at most one of waiting and active; renew only
-- moves an active admission's expiry later.
--- @include "server_time_ms"
--- @include "whole_number"
--- @include "admission_token"

local action = ARGV[1]
local visitor = ARGV[2]
local ttl_ms = whole(ARGV[3], 0, max_quantity)
if action ~= 'leave' and action ~= 'complete' and action ~= 'renew' then
  return redis.error_reply('ERR leave_waiting_room: unknown action')
end
if not ttl_ms or (action == 'renew' and ttl_ms < 1) then
  return redis.error_reply('ERR leave_waiting_room: bad token ttl')
end

local now = server_time_ms()

local expires = redis.call('ZSCORE', KEYS[3], visitor)
if expires and tonumber(expires) <= now then
  redis.call('ZREM', KEYS[3], visitor)
  redis.call('HDEL', KEYS[4], visitor)
  redis.call('HINCRBY', KEYS[5], 'expired', 1)
  expires = false
end

if action == 'renew' then
  if not expires then
    return { 'not_admitted', 0, '' }
  end
  local ticket_text = string.match(redis.call('HGET', KEYS[4], visitor), '^(%d+) ')
  local new_expires = math.max(tonumber(expires), now + ttl_ms)
  redis.call('ZADD', KEYS[3], 'XX', new_expires, visitor)
  return { 'renewed', new_expires,
    admission_token(KEYS[5], ticket_text, string.format('%d', new_expires), visitor) }
end

if expires then
  redis.call('ZREM', KEYS[3], visitor)
  redis.call('HDEL', KEYS[4], visitor)
  if action == 'complete' then
    redis.call('HINCRBY', KEYS[5], 'completed', 1)
    return { 'completed', 0, '' }
  end
  redis.call('HINCRBY', KEYS[5], 'left', 1)
  return { 'freed_slot', 0, '' }
end
if action == 'complete' then
  return { 'not_admitted', 0, '' }
end
if redis.call('ZREM', KEYS[1], visitor) == 1 then
  redis.call('ZREM', KEYS[2], visitor)
  redis.call('HINCRBY', KEYS[5], 'left', 1)
  return { 'left_queue', 0, '' }
end
return { 'not_in_room', 0, '' }
