-- expire_hold(hold_id, now_ms, max_length, epoch): the one way a stock hold expires,
-- shared by reserve_stock, settle_hold and reclaim_expired_holds (expiry must
-- happen inside the caller's atomic script). Needs the stock KEYS layout
-- (3 available, 4 held, 6 holds, 7 deadlines, 8 settled, 9 events, 11 payloads),
-- append_event and hold_payload. Gives the hold's stock back, moves it to settled as
-- "expired <deadline> <items>" and appends exactly one hold_expired event,
-- which carries epoch (the scope's incarnation, as text) and the hold's
-- payload when it has one.
-- Returns that settled record, or nil when the hold is not active (a stale
-- deadline entry is dropped).
local function expire_hold(hold_id, now_ms, max_length, epoch)
  local items = redis.call('HGET', KEYS[6], hold_id)
  local deadline = redis.call('ZSCORE', KEYS[7], hold_id)
  redis.call('ZREM', KEYS[7], hold_id)
  if not items then
    return nil
  end
  local sku = nil
  for word in string.gmatch(items, '%S+') do
    if sku then
      redis.call('HINCRBY', KEYS[3], sku, word)
      redis.call('HINCRBY', KEYS[4], sku, '-' .. word)
      sku = nil
    else
      sku = word
    end
  end
  redis.call('HDEL', KEYS[6], hold_id)
  local record = 'expired ' .. deadline .. ' ' .. items
  redis.call('HSET', KEYS[8], hold_id, record)
  append_hold_event(max_length, hold_payload(hold_id), 'type', 'hold_expired', 'epoch', epoch,
    'hold_id', hold_id, 'items', items, 'expires_at', deadline, 'at', now_ms)
  return record
end
