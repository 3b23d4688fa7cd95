-- refuse_with_tryagain: answers TRYAGAIN (a refusal clients retry) until it
-- has been called more than ARGV[1] times, then the number of calls. Tests
-- only: drives the transient retry path of the transport.
-- KEYS: 1 call counter (a string)
-- ARGV: 1 refusals before the first success
-- Reply: integer, the calls so far, or the error TRYAGAIN while refusing
-- Invariant: each call adds exactly one to the counter.
local calls = redis.call('INCR', KEYS[1])
if calls <= tonumber(ARGV[1]) then
  return redis.error_reply('TRYAGAIN refuse_with_tryagain: refused on purpose')
end
return calls
