-- max_quantity: 2^53, the largest whole number Lua's doubles keep exact.
-- whole(text, low, high): text as a number when it is decimal digits only (no
--   sign, exponent or fraction, so a script may store it as given and
--   HINCRBY it later) and low <= number <= high; else nil.
local max_quantity = 9007199254740992

local function whole(text, low, high)
  if type(text) ~= 'string' or not string.match(text, '^%d+$') then
    return nil
  end
  local number = tonumber(text)
  if number < low or number > high then
    return nil
  end
  return number
end
