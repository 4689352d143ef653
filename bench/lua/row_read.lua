-- Ceiling: one primary-key read of a random row out of the seeded ones.
-- Arguments: [1] number of seeded rows (default 100000).
dofile("report.lua")

local rows = 100000

function init(args)
  rows = tonumber(args[1]) or rows
  seed_random()
end

function request()
  return wrk.format("GET", "/bench/rows/" .. math.random(1, rows))
end
