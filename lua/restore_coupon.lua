-- restore_coupon: rebuilds a coupon from what the host persisted, after Redis
-- lost data, under a new incarnation (epoch). Three steps, one per call:
--   begin   starts the incarnation: the coupon's state is wiped (the events
--           stream is kept) and the template written with `restoring` set,
--           so issue / revoke / register answer 'restoring' until finish.
--   add     records at most 1000 persisted (user, sequence) units.
--   finish  sets the stock to total - units restored, clears `restoring` and
--           appends a `restored` event; the sale goes on under the epoch.
-- KEYS[1] <coupon>:meta     hash total, opens_at_ms, closes_at_ms, per_user_limit,
--                           epoch, retired, restoring, restored (units so far)
-- KEYS[2] <coupon>:stock    units left to issue
-- KEYS[3] <coupon>:issued   hash user -> held sequences, ascending, comma-separated
-- KEYS[4] <coupon>:queue    zset user -> the user's earliest held sequence
-- KEYS[5] <coupon>:seq      the last sequence handed out
-- KEYS[6] <coupon>:revoked  how many issues were revoked
-- KEYS[7] <coupon>:events   stream
-- ARGV[1] 'begin': ARGV[2] total (0..2^53), ARGV[3] opens_at_ms, ARGV[4] closes_at_ms,
--           ARGV[5] per_user_limit, ARGV[6] after_epoch (the highest epoch
--           the host knows of, 0 for none)
--         'add': ARGV[2] epoch, then pairs user, sequence (1..1000 pairs)
--         'finish': ARGV[2] epoch, ARGV[3] coupon id (for the event),
--           ARGV[4] events stream cap, applied with MAXLEN ~ (0 = no cap)
-- Reply: begin {'restoring', epoch}; add {units added, units restored so far};
--   finish {'restored', units held, remaining, last sequence, epoch}. An add
--   or finish for an epoch that is not being restored is an error (another
--   begin or a register replaced it); a retried finish of the current epoch
--   replies as the first did. A repeated (user, sequence) adds nothing, so a
--   retried add is harmless.
-- Why the epoch is new forever: it is the server clock in microseconds, kept
--   above after_epoch and above the epoch the key holds now. An epoch that
--   Redis lost was read from a clock before the loss; the new one is read
--   after it, and it is above every epoch the host persisted events of.
-- Invariant (after finish): total = remaining + held units, held units =
--   seq - revoked - retired, no user above per_user_limit, seq = the highest
--   restored sequence, so sequences go on after every persisted one.
--- @include "server_time_ms"
--- @include "append_event"
--- @include "new_epoch"
--- @include "whole_number"

local max_batch = 1000

local mode = ARGV[1]

if mode == 'begin' then
  -- 0 only for a shard of a sharded coupon whose units all live on other
  -- shards (sharded_coupon_issuer.hpp); FirstComeCouponIssuer sends >= 1.
  local total = whole(ARGV[2], 0, max_quantity)
  local opens_at = whole(ARGV[3], 0, max_quantity)
  local closes_at = whole(ARGV[4], 0, max_quantity)
  local per_user_limit = whole(ARGV[5], 1, 100)
  local after_epoch = whole(ARGV[6], 0, max_quantity - 1)
  if not total or not opens_at or not closes_at or not per_user_limit or not after_epoch
      or opens_at >= closes_at then
    return redis.error_reply('ERR restore_coupon: bad arguments')
  end
  local epoch = new_epoch(math.max(after_epoch,
    tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')))
  redis.call('UNLINK', KEYS[1], KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[1], 'total', ARGV[2], 'opens_at_ms', ARGV[3], 'closes_at_ms', ARGV[4],
    'per_user_limit', ARGV[5], 'epoch', string.format('%d', epoch), 'retired', '0',
    'restoring', '1', 'restored', '0')
  redis.call('SET', KEYS[2], '0')
  redis.call('SET', KEYS[5], '0')
  redis.call('SET', KEYS[6], '0')
  return {'restoring', epoch}
end

if mode ~= 'add' and mode ~= 'finish' then
  return redis.error_reply('ERR restore_coupon: unknown mode')
end
local epoch = whole(ARGV[2], 1, max_quantity)
if not epoch then
  return redis.error_reply('ERR restore_coupon: bad epoch')
end
local meta = redis.call('HMGET', KEYS[1], 'total', 'per_user_limit', 'epoch', 'restoring',
  'restored')
local total = tonumber(meta[1])
local per_user_limit = tonumber(meta[2])

if mode == 'finish' then
  local max_length = stream_max_length(ARGV[4])
  if not max_length then
    return redis.error_reply('ERR restore_coupon: bad arguments')
  end
  if tonumber(meta[3]) ~= epoch then
    return redis.error_reply('ERR restore_coupon: epoch ' .. ARGV[2] .. ' is not being restored')
  end
  local seq = tonumber(redis.call('GET', KEYS[5]) or '0')
  if not meta[4] then
    -- A retried finish: the restore is done, reply with the figures now.
    local held = seq - tonumber(redis.call('GET', KEYS[6]) or '0')
      - tonumber(redis.call('HGET', KEYS[1], 'retired') or '0')
    return {'restored', held, tonumber(redis.call('GET', KEYS[2]) or '0'), seq, epoch}
  end
  local held = tonumber(meta[5])
  local remaining = total - held
  redis.call('SET', KEYS[2], string.format('%d', remaining))
  redis.call('HSET', KEYS[1], 'retired', string.format('%d', seq - held))
  redis.call('HDEL', KEYS[1], 'restoring', 'restored')
  append_event(KEYS[7], max_length, 'type', 'restored', 'coupon', ARGV[3], 'epoch', ARGV[2],
    'issued', string.format('%d', held), 'sequence', string.format('%d', seq), 'restored_at_ms',
    string.format('%d', server_time_ms()))
  return {'restored', held, remaining, seq, epoch}
end

-- add: validate every pair and the limits first, write only when all pass.
local pair_count = (#ARGV - 2) / 2
if pair_count < 1 or pair_count > max_batch or pair_count % 1 ~= 0 then
  return redis.error_reply('ERR restore_coupon: expected 1..1000 user/sequence pairs')
end
if not meta[4] or tonumber(meta[3]) ~= epoch then
  return redis.error_reply('ERR restore_coupon: epoch ' .. ARGV[2] .. ' is not being restored')
end
local held_by = {}
local changed = {}
local added = 0
local highest = 0
for i = 1, pair_count do
  local user = ARGV[1 + 2 * i]
  local sequence = whole(ARGV[2 + 2 * i], 1, max_quantity)
  if user == '' or not sequence then
    return redis.error_reply('ERR restore_coupon: bad user or sequence')
  end
  local held = held_by[user]
  if not held then
    held = {}
    -- At most per_user_limit (<= 100) entries, so the loop is bounded.
    for text in string.gmatch(redis.call('HGET', KEYS[3], user) or '', '%d+') do
      held[#held + 1] = tonumber(text)
    end
    held_by[user] = held
  end
  local known = false
  for _, existing in ipairs(held) do
    if existing == sequence then
      known = true
    end
  end
  if not known then
    if #held >= per_user_limit then
      return redis.error_reply('ERR restore_coupon: a user would hold more than per_user_limit')
    end
    held[#held + 1] = sequence
    changed[#changed + 1] = user
    added = added + 1
    highest = math.max(highest, sequence)
  end
end
local restored = tonumber(meta[5]) + added
if restored > total then
  return redis.error_reply('ERR restore_coupon: more units than the coupon total')
end

for _, user in ipairs(changed) do
  local held = held_by[user]
  if held then
    held_by[user] = nil
    table.sort(held)
    local texts = {}
    for index, sequence in ipairs(held) do
      texts[index] = string.format('%d', sequence)
    end
    redis.call('HSET', KEYS[3], user, table.concat(texts, ','))
    redis.call('ZADD', KEYS[4], texts[1], user)
  end
end
if highest > tonumber(redis.call('GET', KEYS[5]) or '0') then
  redis.call('SET', KEYS[5], string.format('%d', highest))
end
redis.call('HSET', KEYS[1], 'restored', string.format('%d', restored))
return {added, restored}
