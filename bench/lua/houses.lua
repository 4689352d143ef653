-- Scenario houses-read: GET /api/v1/houses, each request as the next resident in the token file,
-- so consecutive requests belong to different residents.
-- Arguments: [1] path of a file with one bearer token per line.
dofile("report.lua")

local tokens, n, i = {}, 0, 0

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the token file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then
      n = n + 1
      tokens[n] = "Bearer " .. line
    end
  end
  file:close()
  assert(n > 0, "the token file is empty")
  seed_random()
  i = math.random(1, n)
end

function request()
  i = i % n + 1
  return wrk.format("GET", "/api/v1/houses", { Authorization = tokens[i] })
end
