-- Scenario peer-django-appointment-contention: booking-contention's load
-- (bench/lua/booking_contention.lua) against the django-appointment peer: every client on the
-- same slot of one staff member at a time (capacity 1, the package's only one); each wrk thread
-- sends PER_THREAD attempts at a slot before moving on, so with 2 threads 16 attempts meet every
-- slot. A 409 (slot_taken) is the expected answer for the losers and is not counted as an error.
-- Arguments: [1] offset file, [2] staff id, [3] service id, [4] first client id, [5] clients,
-- [6] first day's 00:00 as a UTC epoch, [7] starts per day, [8] attempts per slot, [9] days.
dofile("report.lua")

local staff, service, first_client, clients, day0, per_day, days, offset
local i = 0
counter, created, taken, offset_file, per_thread = 0, 0, 0, nil, 8 -- globals: done() reads them

local all_threads = {}
local report_setup, report_done = setup, done
function setup(thread)
  report_setup(thread)
  table.insert(all_threads, thread)
end

local function read_offset(path)
  local file = io.open(path, "r")
  if not file then return 0 end
  local value = tonumber(file:read("*l")) or 0
  file:close()
  return value
end

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
  local k = offset + math.floor(counter / per_thread)
  counter = counter + 1
  i = (i + 1) % clients
  local day, slot = math.floor(k / per_day), k % per_day
  assert(day < days, "peer-django-appointment-contention ran out of slots: seed more days")
  local body = string.format(
    '{"staff":%d,"service":%d,"client":%d,"date":"%s","start_time":"%02d:%02d"}',
    staff, service, first_client + i, os.date("!%Y-%m-%d", day0 + day * 86400),
    math.floor(slot * 5 / 60), slot * 5 % 60)
  return wrk.format("POST", "/peer/appointments", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 elseif status == 409 then taken = taken + 1 end
end

function done(summary, latency, requests)
  local most, made, refused = 0, 0, 0
  for _, thread in ipairs(all_threads) do
    most = math.max(most, tonumber(thread:get("counter")) or 0)
    made = made + (tonumber(thread:get("created")) or 0)
    refused = refused + (tonumber(thread:get("taken")) or 0)
  end
  local path = all_threads[1]:get("offset_file")
  local per_thread = tonumber(all_threads[1]:get("per_thread"))
  local base = read_offset(path)
  local file = assert(io.open(path, "w"))
  file:write(tostring(base + math.floor(most / per_thread) + 1) .. "\n")
  file:close()
  io.write(string.format("BOOKINGS created=%d slot_taken=%d\n", made, refused))
  summary.errors.status = summary.errors.status - refused
  report_done(summary, latency, requests)
end
