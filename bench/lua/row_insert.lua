-- Ceiling: one INSERT in a transaction, with a key that is unique per run, thread and request.
dofile("report.lua")

local runid, counter = "", 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  seed_random()
  runid = os.time() .. "-" .. math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local body = string.format('{"ext_txn_id":"wx-%s-%d-%d","account_id":%d,"amount_fen":12345}',
    runid, tid or 0, counter, math.random(1, 100000))
  return wrk.format("POST", "/bench/writes", headers, body)
end
