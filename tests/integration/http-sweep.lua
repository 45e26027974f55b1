-- wrk script for http-sweep.sh: counts answers per wall-clock second in
-- each thread and prints "per-second: N N N ..." for the seconds of the run
-- (os.time()), so that a stall shows as a second without answers.
-- Usage: wrk -s http-sweep.lua URL -- SECONDS
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  start = os.time()
  secs = tonumber(args[1]) or 5
end

function response(status, headers, body)
  local t = os.time()
  counts[t] = (counts[t] or 0) + 1
end

function done(summary, latency, requests)
  local total, lo, secs = {}, nil, 5
  for _, th in ipairs(threads) do
    local s = th:get("start")
    secs = th:get("secs")
    if lo == nil or s < lo then lo = s end
    for k, v in pairs(th:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  local out = {}
  for t = lo, lo + secs do table.insert(out, tostring(total[t] or 0)) end
  io.write("per-second: " .. table.concat(out, " ") .. "\n")
end
