-- visit_waiting_room: join (take a place or keep one), status (heartbeat and
-- where the visitor stands) or advance (housekeeping only) in one room. Every
-- action first expires admissions past their token TTL and drops waiting
-- visitors past the heartbeat timeout, then admits the lowest tickets while
-- the rate (token bucket) and the cap allow; each part does at most `steps`.
-- KEYS: 1 waiting (zset visitor -> ticket), 2 seen (zset visitor -> last
--       heartbeat ms), 3 active (zset visitor -> token expiry ms), 4 admitted
--       (hash visitor -> "ticket admitted_at_ms"), 5 state (hash) — one room,
--       one hash tag
-- ARGV: 1 action ("join" | "status" | "advance"), 2 visitor ("" for advance),
--       3 rate (visitors/s, decimal, 0 = no limit), 4 cap (0 = none),
--       5 token ttl ms (>= 1), 6 heartbeat timeout ms (0 = none),
--       7 steps (1..10000), 8 secret candidate (join: 32 hex digits, else ""),
--       9 admission opens at ms (0 = open from the start), 10 rate
--       measurement window ms (>= 1000)
-- Reply: { state ("waiting" | "admitted" | "not_in_room"), ticket, position,
--   estimated wait ms (-1 unknown), admitted_at ms, expires_at ms, token,
--   new ticket (0/1), admitted, abandoned, expired, more due (0/1) }
-- Invariant: a visitor is in at most one of waiting and active; admissions go
-- in ticket order; per interval T (server clock) at most max(1, rate) + rate x T
-- admissions; ZCARD active <= cap after every call that admits.
--- @include "server_time_ms"
--- @include "whole_number"
--- @include "admission_token"

local action = ARGV[1]
local visitor = ARGV[2]
local rate = tonumber(ARGV[3])
local cap = whole(ARGV[4], 0, max_quantity)
local ttl_ms = whole(ARGV[5], 1, max_quantity)
local heartbeat_ms = whole(ARGV[6], 0, max_quantity)
local steps = whole(ARGV[7], 1, 10000)
local secret = ARGV[8]
local opens_at = whole(ARGV[9], 0, max_quantity)
local window_ms = whole(ARGV[10], 1000, max_quantity)
if action ~= 'join' and action ~= 'status' and action ~= 'advance' then
  return redis.error_reply('ERR visit_waiting_room: unknown action')
end
if (action == 'advance') ~= (visitor == '') then
  return redis.error_reply('ERR visit_waiting_room: bad visitor')
end
if not rate or rate ~= rate or rate < 0 or rate > 1000000 then
  return redis.error_reply('ERR visit_waiting_room: bad rate')
end
if not cap then
  return redis.error_reply('ERR visit_waiting_room: bad cap')
end
if not ttl_ms then
  return redis.error_reply('ERR visit_waiting_room: bad token ttl')
end
if not heartbeat_ms then
  return redis.error_reply('ERR visit_waiting_room: bad heartbeat timeout')
end
if not steps then
  return redis.error_reply('ERR visit_waiting_room: bad steps')
end
if not opens_at then
  return redis.error_reply('ERR visit_waiting_room: bad opening time')
end
if not window_ms then
  return redis.error_reply('ERR visit_waiting_room: bad window')
end
if action == 'join' and not string.match(secret, '^' .. string.rep('%x', 32) .. '$') then
  return redis.error_reply('ERR visit_waiting_room: bad secret')
end

local now = server_time_ms()
local admitted_count, abandoned_count, expired_count, more_due = 0, 0, 0, 0

local function stale(member)
  if heartbeat_ms == 0 then
    return false
  end
  local last = redis.call('ZSCORE', KEYS[2], member)
  return last ~= false and tonumber(last) < now - heartbeat_ms
end

local function drop_waiting(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end

local function expire_admission(member)
  redis.call('ZREM', KEYS[3], member)
  redis.call('HDEL', KEYS[4], member)
  expired_count = expired_count + 1
end

-- 1. Admissions past their token TTL free their slots.
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, steps + 1)
for index = 1, math.min(#due, steps) do
  expire_admission(due[index])
end
if #due > steps then
  more_due = 1
end

-- 2. Waiting visitors past the heartbeat timeout lose their place.
if heartbeat_ms > 0 then
  local lost = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - heartbeat_ms), 'LIMIT',
    0, steps + 1)
  for index = 1, math.min(#lost, steps) do
    drop_waiting(lost[index])
  end
  abandoned_count = abandoned_count + math.min(#lost, steps)
  if #lost > steps then
    more_due = 1
  end
end

-- 3. The caller: a heartbeat for a waiting visitor, a ticket for a new one.
-- caller_expires: the admission's expiry, caller_ticket: the waiting ticket.
local new_ticket = 0
local caller_expires, caller_ticket = false, false
if action ~= 'advance' then
  local expires = redis.call('ZSCORE', KEYS[3], visitor)
  if expires and tonumber(expires) <= now then
    expire_admission(visitor)
    expires = false
  end
  caller_expires = expires and tonumber(expires)
  if not expires then
    local ticket = redis.call('ZSCORE', KEYS[1], visitor)
    if ticket and stale(visitor) then
      drop_waiting(visitor)
      abandoned_count = abandoned_count + 1
      ticket = false
    end
    if not ticket and action == 'join' then
      if redis.call('HEXISTS', KEYS[5], 'secret') == 0 then
        -- The key name makes rooms joined through one WaitingRoom differ.
        redis.call('HSET', KEYS[5], 'secret', redis.sha1hex(secret .. KEYS[5]))
      end
      ticket = redis.call('HINCRBY', KEYS[5], 'tickets', 1)
      redis.call('ZADD', KEYS[1], ticket, visitor)
      new_ticket = 1
    end
    if ticket and heartbeat_ms > 0 then
      redis.call('ZADD', KEYS[2], now, visitor)
    end
    caller_ticket = ticket and tonumber(ticket)
  end
end

-- 4. Admission in ticket order, by the token bucket and the cap.
local saved = redis.call('HMGET', KEYS[5], 'bucket_level', 'bucket_at', 'window_start',
  'window_count', 'previous_start', 'previous_count')
-- wanted: what the rate and the cap allow; allowance: that within the steps.
local wanted = math.huge
if now < opens_at then
  wanted = 0
end
local level = 0
if rate > 0 then
  local burst = math.max(1, rate)
  level = tonumber(saved[1])
  local refilled_at = tonumber(saved[2])
  if not level or not refilled_at then
    level = burst
  else
    level = math.min(burst, level + math.max(0, now - refilled_at) * rate / 1000)
  end
  wanted = math.min(wanted, math.floor(level))
end
if cap > 0 then
  wanted = math.min(wanted, cap - redis.call('ZCARD', KEYS[3]))
end
local allowance = math.min(wanted, steps)
local budget = steps
while admitted_count < allowance and budget > 0 do
  local head = redis.call('ZRANGE', KEYS[1], 0, math.min(allowance - admitted_count, budget) - 1,
    'WITHSCORES')
  if #head == 0 then
    break
  end
  for index = 1, #head, 2 do
    local member = head[index]
    budget = budget - 1
    if stale(member) then
      abandoned_count = abandoned_count + 1
      drop_waiting(member)
    else
      drop_waiting(member)
      redis.call('ZADD', KEYS[3], now + ttl_ms, member)
      redis.call('HSET', KEYS[4], member, head[index + 1] .. ' ' .. now)
      admitted_count = admitted_count + 1
      if member == visitor then
        caller_expires, caller_ticket = now + ttl_ms, false
      end
    end
  end
end
if budget == 0 and admitted_count < wanted and redis.call('ZCARD', KEYS[1]) > 0 then
  more_due = 1
end

-- 5. The books: bucket, measured rate, totals.
-- Written only when they change: the bucket's level is kept as of bucket_at
-- and refilled by the elapsed time when read.
local window_start = tonumber(saved[3])
local window_count = tonumber(saved[4]) or 0
local previous_start = tonumber(saved[5])
local previous_count = tonumber(saved[6]) or 0
local fields = {}
if not window_start or now - window_start >= window_ms then
  if window_start then
    previous_start, previous_count = window_start, window_count
    table.insert(fields, 'previous_start')
    table.insert(fields, previous_start)
    table.insert(fields, 'previous_count')
    table.insert(fields, previous_count)
  end
  window_start, window_count = now, 0
  table.insert(fields, 'window_start')
  table.insert(fields, window_start)
end
if admitted_count > 0 or #fields > 0 then
  window_count = window_count + admitted_count
  table.insert(fields, 'window_count')
  table.insert(fields, window_count)
end
if rate > 0 and (admitted_count > 0 or not saved[1]) then
  table.insert(fields, 'bucket_level')
  table.insert(fields, tostring(level - admitted_count))
  table.insert(fields, 'bucket_at')
  table.insert(fields, now)
end
if #fields > 0 then
  redis.call('HSET', KEYS[5], unpack(fields))
end
if admitted_count > 0 then
  redis.call('HINCRBY', KEYS[5], 'admitted', admitted_count)
end
if abandoned_count > 0 then
  redis.call('HINCRBY', KEYS[5], 'abandoned', abandoned_count)
end
if expired_count > 0 then
  redis.call('HINCRBY', KEYS[5], 'expired', expired_count)
end

-- 6. The reply about the caller.
local state, ticket, position, estimate, admitted_at, expires_at, token =
  'not_in_room', 0, 0, -1, 0, 0, ''
if caller_expires then
  local record = redis.call('HGET', KEYS[4], visitor)
  local ticket_text, at_text = string.match(record, '^(%d+) (%d+)$')
  state, ticket, admitted_at, expires_at = 'admitted', tonumber(ticket_text), tonumber(at_text),
    caller_expires
  token = admission_token(KEYS[5], ticket_text, string.format('%d', caller_expires), visitor)
elseif caller_ticket then
  state, ticket = 'waiting', caller_ticket
  position = redis.call('ZRANK', KEYS[1], visitor)
  local measured = nil
  if now < opens_at then
    measured = rate
  elseif previous_start and now > previous_start then
    measured = (previous_count + window_count) * 1000 / (now - previous_start)
  elseif now - window_start >= 1000 then
    measured = window_count * 1000 / (now - window_start)
  elseif rate > 0 then
    measured = rate
  end
  if measured and measured > 0 then
    estimate = math.ceil((position + 1) * 1000 / measured) + math.max(0, opens_at - now)
  end
end
return { state, ticket, position, estimate, admitted_at, expires_at, token, new_ticket,
  admitted_count, abandoned_count, expired_count, more_due }
