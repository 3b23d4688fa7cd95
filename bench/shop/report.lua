-- Shared by the shop bench scripts (loaded with dofile): counts responses by
-- status per thread and prints one SHOP_RESULT line that shop_before_after.sh
-- parses. Latencies in milliseconds.
local threads = {}
local next_seed = 1

function setup(thread)
  thread:set("seed", next_seed * 7919 + os.time())
  next_seed = next_seed + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(seed)
  s200, s201, s202, s4xx, s5xx = 0, 0, 0, 0, 0
end

function count(status)
  if status == 200 then s200 = s200 + 1
  elseif status == 201 then s201 = s201 + 1
  elseif status == 202 then s202 = s202 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else s4xx = s4xx + 1 end
end

function done(summary, latency, requests)
  local totals = {s200 = 0, s201 = 0, s202 = 0, s4xx = 0, s5xx = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    "SHOP_RESULT requests=%d seconds=%.3f p50=%.2f p95=%.2f p99=%.2f s200=%d s201=%d s202=%d " ..
    "s4xx=%d s5xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, totals.s200, totals.s201,
    totals.s202, totals.s4xx, totals.s5xx,
    errors.connect + errors.read + errors.write + errors.timeout))
end
