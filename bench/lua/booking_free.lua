-- Scenario booking-free: POST /api/v1/bookings, every request a slot nobody else asks for
-- (20 services, each on its own window of capacity 1, 287 five-minute slots a day), as the
-- next resident in the token file. Each run goes on from where the last one stopped (an offset
-- file), so the warm-up never takes the measured run's slots.
-- Arguments: [1] token file, [2] offset file, [3] first_epoch, [4] services, [5] starts per day,
-- [6] days.
dofile("report.lua")

local STRIDE = 4 -- more than wrk's threads: thread t takes indexes t-1, t-1+STRIDE, …
local tokens, n, i = {}, 0, 0
local offset, first_epoch, services, per_day, days
local runid = ""
counter, offset_file = 0, nil -- globals: done() reads them from the threads

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
  first_epoch, services, per_day, days =
    tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  seed_random()
  i = math.random(1, n)
  runid = os.time() .. "-" .. math.random(1, 1000000000)
end

function request()
  local k = offset + counter * STRIDE + (tid or 1) - 1
  counter = counter + 1
  i = i % n + 1
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

function done(summary, latency, requests)
  local most = 0
  for _, thread in ipairs(all_threads) do
    most = math.max(most, tonumber(thread:get("counter")) or 0)
  end
  local path = all_threads[1]:get("offset_file")
  local base = read_offset(path)
  local file = assert(io.open(path, "w"))
  file:write(tostring(base + (most + 1) * STRIDE) .. "\n")
  file:close()
  report_done(summary, latency, requests)
end
