-- Loaded by every bench script: when wrk finishes, print one machine-readable RESULT line
-- (bench/load.py parses it). wrk counts HTTP statuses >= 400 as err_status.
function done(summary, latency, requests)
  local e, secs = summary.errors, summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      .. "err_status=%d err_timeout=%d err_connect=%d err_read=%d err_write=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.timeout, e.connect, e.read, e.write))
end

-- Give each wrk thread its own id, so random streams and unique keys differ per thread.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function seed_random()
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end
