-- Events streams with the caller's cap; 0 means no cap, everywhere.
-- stream_max_length(text): the cap argument as a number, or nil unless it is
--   an integer >= 0.
-- append_event(stream, max_length, field, value, ...): XADD with MAXLEN ~
--   max_length (0: no cap); returns the entry id.
local function stream_max_length(text)
  local value = tonumber(text)
  if value == nil or value < 0 or value % 1 ~= 0 then
    return nil
  end
  return value
end

local function append_event(stream, max_length, ...)
  if max_length > 0 then
    return redis.call('XADD', stream, 'MAXLEN', '~', max_length, '*', ...)
  end
  return redis.call('XADD', stream, '*', ...)
end
