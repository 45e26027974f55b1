-- wrk script for bench-ctlog.sh: POST add-pre-chain bodies, each request a
-- different precertificate (one JSON body per line of the file given as
-- the first script argument), so that deduplication does not collapse
-- them. Threads start at different offsets of the file; the optional third
-- argument shifts every thread's offset (a measured run after a warm-up run
-- then submits bodies the warm-up did not).
local bodies = {}
local counter = 0
local n_threads_seen = 0

function setup(thread)
  thread:set("tid", n_threads_seen)
  n_threads_seen = n_threads_seen + 1
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    bodies[#bodies + 1] = line
  end
  f:close()
  local nthreads = tonumber(args[2] or "1")
  local shift = tonumber(args[3] or "0")
  counter = math.floor(#bodies / nthreads) * (tid or 0) + shift
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/ct/v1/add-pre-chain", { ["Content-Type"] = "application/json" }, body)
end
