-- Scenario notify-settle: replay pre-signed WeChat Pay notifies, each exactly once, in order.
-- The request file has one notify a line: timestamp, nonce, signature, serial and the body,
-- separated by tabs (signed by bench/scenarios/notify_settle.py just before the load, so wrk
-- does no RSA work). Thread t of T sends lines offset+t, offset+t+T, …; the tally file keeps
-- the next offset across wrk runs (warm-up, measurement, a retry), so no notify is sent twice.
-- Every answer but 200 counts as an error (a refused notify would be a fast wrong answer).
-- Arguments: [1] request file, [2] tally file ("offset sent ok other"), [3] wrk threads.
dofile("report.lua")
dofile("runs.lua")

local lines, count, base, stride = {}, 0, 0, 2
ok, other, tally_file = 0, 0, nil -- globals: done() reads them from the threads
local report_done = done

local function read_tally(path)
  local file = assert(io.open(path, "r"), "cannot open the tally file")
  local offset, sent, good, bad = file:read("*n", "*n", "*n", "*n")
  file:close()
  return offset or 0, sent or 0, good or 0, bad or 0
end

function init(args)
  tally_file = args[2]
  stride = tonumber(args[3])
  base = read_tally(tally_file)
  local mine = (tid or 1) - 1
  local file = assert(io.open(args[1], "r"), "cannot open the request file")
  local index = 0
  for line in file:lines() do
    if index >= base and (index - base) % stride == mine then
      count = count + 1
      lines[count] = line
    end
    index = index + 1
  end
  file:close()
end

function request()
  counter = counter + 1
  local line = lines[counter]
  assert(line, "notify-settle ran out of signed notifies: raise BENCH_NOTIFY_ORDERS")
  local t1 = string.find(line, "\t", 1, true)
  local t2 = string.find(line, "\t", t1 + 1, true)
  local t3 = string.find(line, "\t", t2 + 1, true)
  local t4 = string.find(line, "\t", t3 + 1, true)
  return wrk.format("POST", "/payments/notify/wechatpay", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Mozilla/4.0",
    ["Wechatpay-Timestamp"] = string.sub(line, 1, t1 - 1),
    ["Wechatpay-Nonce"] = string.sub(line, t1 + 1, t2 - 1),
    ["Wechatpay-Signature"] = string.sub(line, t2 + 1, t3 - 1),
    ["Wechatpay-Serial"] = string.sub(line, t3 + 1, t4 - 1),
    ["Wechatpay-Signature-Type"] = "WECHATPAY2-SHA256-RSA2048",
  }, string.sub(line, t4 + 1))
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local sent, good, bad = threads_total("counter"), threads_total("ok"), threads_total("other")
  local path = first_thread("tally_file")
  local offset, sent0, good0, bad0 = read_tally(path)
  local file = assert(io.open(path, "w"))
  file:write(string.format("%d %d %d %d\n", offset + threads_most("counter") * thread_count(),
    sent0 + sent, good0 + good, bad0 + bad))
  file:close()
  io.write(string.format("NOTIFIES sent=%d ok=%d other=%d\n", sent, good, bad))
  -- wrk counts only statuses >= 400; here every answer but 200 is an error.
  summary.errors.status = bad
  report_done(summary, latency, requests)
end
