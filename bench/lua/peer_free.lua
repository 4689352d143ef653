-- Scenario peer-django-appointment: booking-free's load (bench/lua/booking_free.lua) against the
-- django-appointment peer: POST /peer/appointments, every request a slot nobody else asks for
-- (20 staff members, each with its own 5-minute service, 287 slots a day), as the next client.
-- The same request order, stride and offset file as booking-free (runs.lua).
-- Arguments: [1] offset file, [2] staff ids (comma-separated), [3] their service ids,
-- [4] first client id, [5] clients, [6] first day's 00:00 as a UTC epoch, [7] starts per day,
-- [8] days.
dofile("report.lua")
dofile("runs.lua")

local staff, services = {}, {}
local first_client, clients, day0, per_day, days
local i = 0

local function ids(csv)
  local out = {}
  for value in string.gmatch(csv, "%d+") do table.insert(out, tonumber(value)) end
  return out
end

function init(args)
  offset_file = args[1]
  offset = read_offset(offset_file)
  staff, services = ids(args[2]), ids(args[3])
  first_client, clients, day0, per_day, days =
    tonumber(args[4]), tonumber(args[5]), tonumber(args[6]), tonumber(args[7]), tonumber(args[8])
  seed_random()
  i = math.random(0, clients - 1)
end

function request()
  local k = striding_index()
  i = (i + 1) % clients
  local n = k % #staff
  local rest = math.floor(k / #staff)
  local day, slot = math.floor(rest / per_day), rest % per_day
  assert(day < days, "peer-django-appointment ran out of slots: seed more days")
  local body = string.format(
    '{"staff":%d,"service":%d,"client":%d,"date":"%s","start_time":"%02d:%02d"}',
    staff[n + 1], services[n + 1], first_client + i, os.date("!%Y-%m-%d", day0 + day * 86400),
    math.floor(slot * 5 / 60), slot * 5 % 60)
  return wrk.format("POST", "/peer/appointments", {["Content-Type"] = "application/json"}, body)
end

done = striding_done
