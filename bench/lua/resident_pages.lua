-- Scenario resident-pages: signed-in residents opening the resident app's main pages, round robin
-- over every (resident, page) line, each thread starting at its own random line.
-- The page file has one line a page: session cookie, page name and path, separated by tabs.
-- Every answer but 200 counts as an error: a redirect to the login page is a fast wrong answer.
-- Arguments: [1] page file, [2] tally file ("ok other", added to by every wrk run).
dofile("report.lua")

local cookies, paths, n, i = {}, {}, 0, 0
ok, other, tally_file = 0, 0, nil -- globals: done() reads them per thread

local all_threads = {}
local report_setup, report_done = setup, done
function setup(thread)
  report_setup(thread)
  table.insert(all_threads, thread)
end

function init(args)
  tally_file = args[2]
  local file = assert(io.open(args[1], "r"), "cannot open the page file " .. tostring(args[1]))
  for line in file:lines() do
    local cookie, _, path = string.match(line, "^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if cookie then
      n = n + 1
      cookies[n], paths[n] = cookie, path
    end
  end
  file:close()
  assert(n > 0, "the page file is empty")
  seed_random()
  i = math.random(1, n)
end

function request()
  i = i % n + 1
  return wrk.format("GET", paths[i], { Cookie = cookies[i], ["Accept-Language"] = "zh-CN" })
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(all_threads) do
    good = good + (tonumber(thread:get("ok")) or 0)
    bad = bad + (tonumber(thread:get("other")) or 0)
  end
  local path = all_threads[1]:get("tally_file")
  local file = assert(io.open(path, "r"), "cannot open the tally file")
  local good0, bad0 = file:read("*n", "*n")
  file:close()
  file = assert(io.open(path, "w"))
  file:write(string.format("%d %d\n", (good0 or 0) + good, (bad0 or 0) + bad))
  file:close()
  io.write(string.format("PAGES ok=%d other=%d\n", good, bad))
  -- wrk counts only statuses >= 400; here every answer but 200 is an error.
  summary.errors.status = bad
  report_done(summary, latency, requests)
end
