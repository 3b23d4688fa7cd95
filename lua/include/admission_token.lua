-- The waiting room's admission tokens, "<ticket>.<expires ms>.<40 hex>".
-- admission_mac(secret, ticket, expires, visitor): the 40 hex digits,
--   SHA1(secret .. SHA1(secret .. "ticket:expires:visitor")).
-- admission_token(state_key, ticket, expires, visitor): the whole token, with
--   the room's secret from its state hash (the room must have one).
local function admission_mac(secret, ticket, expires, visitor)
  return redis.sha1hex(secret .. redis.sha1hex(secret .. ticket .. ':' .. expires .. ':' .. visitor))
end

local function admission_token(state_key, ticket, expires, visitor)
  local secret = redis.call('HGET', state_key, 'secret')
  return ticket .. '.' .. expires .. '.' .. admission_mac(secret, ticket, expires, visitor)
end
