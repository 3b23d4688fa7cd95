-- Stock hold payloads: the host's opaque bytes stored with a hold (order id,
-- user id, ...) in KEYS[11], a hash hold id -> payload, written by the script
-- that creates the hold and kept as long as the hold id is remembered. An
-- empty payload is none: nothing is stored and no event carries the field.
-- Needs append_event and the stock KEYS layout (9 events, 11 payloads).
-- hold_payload(hold_id): the hold's payload, '' when none.
-- append_hold_event(max_length, payload, field, value, ...): append_event on
--   the events stream with `payload` added as the last field when not ''.
local function hold_payload(hold_id)
  return redis.call('HGET', KEYS[11], hold_id) or ''
end

local function append_hold_event(max_length, payload, ...)
  local fields = { ... }
  if payload ~= '' then
    fields[#fields + 1] = 'payload'
    fields[#fields + 1] = payload
  end
  return append_event(KEYS[9], max_length, unpack(fields))
end
