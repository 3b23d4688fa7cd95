-- verify_admission: checks the admission token a visitor presents. Read-only.
-- KEYS: 1 waiting, 2 seen, 3 active, 4 admitted, 5 state (one room, one hash
--       tag; see visit_waiting_room.lua)
-- ARGV: 1 visitor, 2 token ("<ticket>.<expires_at ms>.<40 hex>")
-- Reply: "valid" | "expired" (genuine, past its expiry or the admission's) |
--   "revoked" (genuine, the visitor left or completed since) | "invalid"
--   (forged, malformed, another visitor's or room's, an earlier visit's)
-- Invariant: "valid" only for a token this room made for this visitor's
-- current admission, before the token's expiry and the admission's, by the
-- server clock.
--- @include "server_time_ms"
--- @include "admission_token"

local visitor = ARGV[1]
local ticket, expires, mac = string.match(ARGV[2], '^(%d+)%.(%d+)%.(%x+)$')
if not ticket then
  return 'invalid'
end
local secret = redis.call('HGET', KEYS[5], 'secret')
if not secret then
  return 'invalid'
end
-- Lua interns strings, so == compares pointers and leaks no timing.
if admission_mac(secret, ticket, expires, visitor) ~= mac then
  return 'invalid'
end

local now = server_time_ms()
if tonumber(expires) <= now then
  return 'expired'
end
local record = redis.call('HGET', KEYS[4], visitor)
if not record then
  return 'revoked'
end
if string.match(record, '^(%d+) ') ~= ticket then
  return 'invalid'
end
local active_expires = redis.call('ZSCORE', KEYS[3], visitor)
if not active_expires or tonumber(active_expires) <= now then
  return 'expired'
end
return 'valid'
