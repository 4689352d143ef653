-- Scenario booking-contention: POST /api/v1/bookings with every client on the same slot at a
-- time: each wrk thread sends per_thread attempts at a slot before moving to the next one, so
-- with 2 threads 16 attempts meet every slot of capacity 4. A 409 (slot_taken) is the expected
-- answer for the losers, so it is not counted as an error; anything else >= 400 is (runs.lua).
-- Arguments: [1] token file, [2] offset file, [3] first_epoch, [4] starts per day,
-- [5] attempts per slot, [6] days.
dofile("report.lua")
dofile("runs.lua")

local tokens, i = {}, 0
local first_epoch, per_day, days
local runid = ""

function init(args)
  tokens = read_tokens(args[1])
  offset_file = args[2]
  offset = read_offset(offset_file)
  first_epoch, per_day = tonumber(args[3]), tonumber(args[4])
  per_thread = math.floor(tonumber(args[5]) / 2)
  days = tonumber(args[6])
  seed_random()
  i = math.random(1, #tokens)
  runid = os.time() .. "-" .. math.random(1, 1000000000)
end

function request()
  local k = contended_index()
  i = i % #tokens + 1
  local day, slot = math.floor(k / per_day), k % per_day
  assert(day < days, "booking-contention ran out of slots: seed more days")
  local starts = os.date("!%Y-%m-%dT%H:%M:00+00:00", first_epoch + day * 86400 + slot * 300)
  local body = string.format('{"service":"bench-contention","starts_at":"%s"}', starts)
  return wrk.format("POST", "/api/v1/bookings", {
    ["Authorization"] = tokens[i],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("busy-%s-%d-%d", runid, tid or 0, counter),
  }, body)
end

response = contended_response
done = contended_done
