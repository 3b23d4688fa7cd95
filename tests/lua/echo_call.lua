-- echo_call: replies what the call carried, so tests can check that keys and
-- arguments reach the server byte for byte. Tests only.
-- KEYS: any number (not touched)
-- ARGV: any number
-- Reply: array: the number of keys, then every key, then every argument
-- Invariant: reads nothing, writes nothing.
local reply = {#KEYS}
for index = 1, #KEYS do
  reply[#reply + 1] = KEYS[index]
end
for index = 1, #ARGV do
  reply[#reply + 1] = ARGV[index]
end
return reply
