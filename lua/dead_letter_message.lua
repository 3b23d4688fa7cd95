-- dead_letter_message: moves one pending entry to its dead-letter stream and
-- acknowledges it, atomically, so it is never lost and never duplicated.
-- KEYS[1]: the source stream; KEYS[2]: its dead-letter stream (same hash tag)
-- ARGV[1]: group; ARGV[2]: consumer that owns the entry; ARGV[3]: entry id;
-- ARGV[4]: last error text
-- Reply: {1, dead-letter entry id} when moved; {0, ''} when the entry is not
-- pending for this consumer (already moved or acknowledged, or taken over by
-- another consumer), so a retry after a timeout does nothing.
-- The dead-letter entry holds original_id, stream, group, consumer,
-- deliveries (from the PEL), last_error, then the original fields, each
-- name prefixed with "field:" (payload_missing=1 when the entry was deleted
-- from the stream, payload_truncated=1 when it had too many fields to copy).
-- Invariant: the XADD to KEYS[2] and the XACK on KEYS[1] happen together or
-- not at all. Redis 6.2+ (XPENDING with a consumer filter).
local stream = KEYS[1]
local dead_stream = KEYS[2]
local group = ARGV[1]
local consumer = ARGV[2]
local id = ARGV[3]
local last_error = ARGV[4]

local max_copied_fields = 2000

local pending = redis.call('XPENDING', stream, group, id, id, 1, consumer)
if #pending == 0 then
  return {0, ''}
end
local deliveries = tonumber(pending[1][4])
if deliveries == nil then
  return redis.error_reply('ERR dead_letter_message: unexpected XPENDING reply')
end

local fields = {'original_id', id, 'stream', stream, 'group', group, 'consumer', consumer,
                'deliveries', tostring(deliveries), 'last_error', last_error}
local entries = redis.call('XRANGE', stream, id, id)
if #entries == 0 then
  fields[#fields + 1] = 'payload_missing'
  fields[#fields + 1] = '1'
else
  local payload = entries[1][2]
  if #payload > 2 * max_copied_fields then
    fields[#fields + 1] = 'payload_truncated'
    fields[#fields + 1] = '1'
  else
    for i = 1, #payload, 2 do
      fields[#fields + 1] = 'field:' .. payload[i]
      fields[#fields + 1] = payload[i + 1]
    end
  end
end

local dead_id = redis.call('XADD', dead_stream, '*', unpack(fields))
redis.call('XACK', stream, group, id)
return {1, dead_id}
