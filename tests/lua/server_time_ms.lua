-- server_time_ms: the server's clock; the tests' trivial script for the
-- script paths of the transport (EVALSHA, NOSCRIPT, routing). Tests only.
-- KEYS: none (or any, for routing)
-- ARGV: none
-- Reply: integer, milliseconds since the Unix epoch by the Redis server clock
-- Invariant: reads only.
--- @include "server_time_ms"

return server_time_ms()
