-- Loaded after report.lua by the scripts whose wrk runs go on from where the last one stopped
-- (an offset file, so a warm-up never takes the measured run's slots or notifies) and whose
-- done() gathers tallies from every thread: the booking and peer scripts, and notify-settle.
local report_setup, report_done = setup, done
local all_threads = {}
-- Globals: done() reads them from the threads; a script's init() sets offset_file and offset
-- (read_offset) and, for a contended load, per_thread.
counter, created, taken, offset, offset_file, per_thread = 0, 0, 0, 0, nil, 8

function setup(thread)
  report_setup(thread)
  table.insert(all_threads, thread)
end

-- A global of the first thread (the arguments every thread parsed alike).
function first_thread(name)
  return all_threads[1]:get(name)
end

function thread_count()
  return #all_threads
end

-- The largest and the total of a numeric global over the threads.
function threads_most(name)
  local most = 0
  for _, thread in ipairs(all_threads) do most = math.max(most, tonumber(thread:get(name)) or 0) end
  return most
end

function threads_total(name)
  local total = 0
  for _, thread in ipairs(all_threads) do total = total + (tonumber(thread:get(name)) or 0) end
  return total
end

function read_offset(path)
  local file = io.open(path, "r")
  if not file then return 0 end
  local value = tonumber(file:read("*l")) or 0
  file:close()
  return value
end

function write_offset(path, value)
  local file = assert(io.open(path, "w"))
  file:write(tostring(value) .. "\n")
  file:close()
end

-- Bearer headers, one a line of the token file.
function read_tokens(path)
  local tokens = {}
  local file = assert(io.open(path, "r"), "cannot open the token file")
  for line in file:lines() do
    if #line > 0 then table.insert(tokens, "Bearer " .. line) end
  end
  file:close()
  return tokens
end

-- Striding loads (every request its own slot): thread t takes indexes t-1, t-1+STRIDE, … from
-- the offset, and the next run starts past every index any thread may have taken.
STRIDE = 4 -- more than wrk's threads
function striding_index()
  local k = offset + counter * STRIDE + (tid or 1) - 1
  counter = counter + 1
  return k
end

function striding_done(summary, latency, requests)
  local path = first_thread("offset_file")
  write_offset(path, read_offset(path) + (threads_most("counter") + 1) * STRIDE)
  report_done(summary, latency, requests)
end

-- Contended loads (each thread sends per_thread attempts at a slot before the next): a 201 is a
-- booking, a 409 (slot_taken) the expected answer for a loser and so not an error.
function contended_index()
  local k = offset + math.floor(counter / per_thread)
  counter = counter + 1
  return k
end

function contended_response(status, headers, body)
  if status == 201 then created = created + 1 elseif status == 409 then taken = taken + 1 end
end

function contended_done(summary, latency, requests)
  local path = first_thread("offset_file")
  local per_thread = tonumber(first_thread("per_thread"))
  write_offset(path, read_offset(path) + math.floor(threads_most("counter") / per_thread) + 1)
  local refused = threads_total("taken")
  io.write(string.format("BOOKINGS created=%d slot_taken=%d\n", threads_total("created"), refused))
  summary.errors.status = summary.errors.status - refused
  report_done(summary, latency, requests)
end
