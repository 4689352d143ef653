-- Scenario booking-contention: POST /api/v1/bookings with every client on the same slot at a
-- time: each wrk thread sends PER_THREAD attempts at a slot before moving to the next one, so
-- with 2 threads 16 attempts meet every slot of capacity 4. A 409 (slot_taken) is the expected
-- answer for the losers, so it is not counted as an error; anything else >= 400 is.
-- Arguments: [1] token file, [2] offset file, [3] first_epoch, [4] starts per day,
-- [5] attempts per slot, [6] days.
dofile("report.lua")

local tokens, n, i = {}, 0, 0
local offset, first_epoch, per_day, days
local runid = ""
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
  local file = assert(io.open(args[1], "r"), "cannot open the token file")
  for line in file:lines() do
    if #line > 0 then n = n + 1; tokens[n] = "Bearer " .. line end
  end
  file:close()
  offset_file = args[2]
  offset = read_offset(offset_file)
  first_epoch, per_day = tonumber(args[3]), tonumber(args[4])
  per_thread = math.floor(tonumber(args[5]) / 2)
  days = tonumber(args[6])
  seed_random()
  i = math.random(1, n)
  runid = os.time() .. "-" .. math.random(1, 1000000000)
end

function request()
  local k = offset + math.floor(counter / per_thread)
  counter = counter + 1
  i = i % n + 1
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
