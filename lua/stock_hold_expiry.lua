-- stock_hold_expiry: how many holds of a scope are past their deadline but
-- not yet reclaimed, and how overdue the oldest of them is (for metrics).
-- KEYS: 1 state, 2 initial, 3 available, 4 held, 5 confirmed, 6 holds,
--       7 deadlines, 8 settled, 9 events, 10 epoch, 11 payloads, 12 opens_at
--       (all of one scope, one hash tag)
-- ARGV: none
-- Reply: { expired hold count, milliseconds the oldest expired deadline lies
--          in the past by the server clock (0 when none) }
-- Invariant: read-only. Cost: O(log N) in the scope's holds.
--- @include "server_time_ms"

local now_ms = server_time_ms()
local expired = redis.call('ZCOUNT', KEYS[7], '-inf', now_ms)
local overdue_ms = 0
if expired > 0 then
  local oldest = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
  overdue_ms = math.max(0, now_ms - math.floor(tonumber(oldest[2])))
end
return { expired, overdue_ms }
