-- Scenario peer-django-appointment-contention: booking-contention's load
-- (bench/lua/booking_contention.lua) against the django-appointment peer: every client on the
-- same slot of one staff member at a time (capacity 1, the package's only one); each wrk thread
-- sends per_thread attempts at a slot before moving on, so with 2 threads 16 attempts meet every
-- slot. A 409 (slot_taken) is the expected answer for the losers and is not counted as an error.
-- Arguments: [1] offset file, [2] staff id, [3] service id, [4] first client id, [5] clients,
-- [6] first day's 00:00 as a UTC epoch, [7] starts per day, [8] attempts per slot, [9] days.
dofile("report.lua")
dofile("runs.lua")

local staff, service, first_client, clients, day0, per_day, days
local i = 0

function init(args)
  offset_file = args[1]
  offset = read_offset(offset_file)
  staff, service, first_client, clients = tonumber(args[2]), tonumber(args[3]),
    tonumber(args[4]), tonumber(args[5])
  day0, per_day = tonumber(args[6]), tonumber(args[7])
  per_thread = math.floor(tonumber(args[8]) / 2)
  days = tonumber(args[9])
  seed_random()
  i = math.random(0, clients - 1)
end

function request()
  local k = contended_index()
  i = (i + 1) % clients
  local day, slot = math.floor(k / per_day), k % per_day
  assert(day < days, "peer-django-appointment-contention ran out of slots: seed more days")
  local body = string.format(
    '{"staff":%d,"service":%d,"client":%d,"date":"%s","start_time":"%02d:%02d"}',
    staff, service, first_client + i, os.date("!%Y-%m-%d", day0 + day * 86400),
    math.floor(slot * 5 / 60), slot * 5 % 60)
  return wrk.format("POST", "/peer/appointments", {["Content-Type"] = "application/json"}, body)
end

response = contended_response
done = contended_done
