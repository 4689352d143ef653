-- Scenario availability: GET /api/v1/bookings/availability for 30 days of a service on 20
-- windows, each request as the next resident in the token file.
-- Arguments: [1] token file, [2] service code, [3] first day, [4] last day.
dofile("report.lua")

local tokens, n, i = {}, 0, 0
local path = ""

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the token file")
  for line in file:lines() do
    if #line > 0 then n = n + 1; tokens[n] = "Bearer " .. line end
  end
  file:close()
  path = string.format("/api/v1/bookings/availability?service=%s&date_from=%s&date_to=%s",
    args[2], args[3], args[4])
  seed_random()
  i = math.random(1, n)
end

function request()
  i = i % n + 1
  return wrk.format("GET", path, { Authorization = tokens[i] })
end
