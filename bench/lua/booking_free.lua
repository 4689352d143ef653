-- Scenario booking-free: POST /api/v1/bookings, every request a slot nobody else asks for
-- (20 services, each on its own window of capacity 1, 287 five-minute slots a day), as the
-- next resident in the token file. Each run goes on from where the last one stopped (runs.lua).
-- Arguments: [1] token file, [2] offset file, [3] first_epoch, [4] services, [5] starts per day,
-- [6] days.
dofile("report.lua")
dofile("runs.lua")

local tokens, i = {}, 0
local first_epoch, services, per_day, days
local runid = ""

function init(args)
  tokens = read_tokens(args[1])
  offset_file = args[2]
  offset = read_offset(offset_file)
  first_epoch, services, per_day, days =
    tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  seed_random()
  i = math.random(1, #tokens)
  runid = os.time() .. "-" .. math.random(1, 1000000000)
end

function request()
  local k = striding_index()
  i = i % #tokens + 1
  local service = k % services
  local rest = math.floor(k / services)
  local day, slot = math.floor(rest / per_day), rest % per_day
  assert(day < days, "booking-free ran out of slots: seed more days")
  local starts = os.date("!%Y-%m-%dT%H:%M:00+00:00", first_epoch + day * 86400 + slot * 300)
  local body = string.format('{"service":"bench-free-%02d","starts_at":"%s"}', service, starts)
  return wrk.format("POST", "/api/v1/bookings", {
    ["Authorization"] = tokens[i],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("free-%s-%d-%d", runid, tid or 0, counter),
  }, body)
end

done = striding_done
