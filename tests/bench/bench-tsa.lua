-- wrk script for bench-tsa.sh: POST one DER TimeStampReq (the file given
-- as the first script argument) to /api/v1/timestamp.
local body

function init(args)
  local f = assert(io.open(args[1], "rb"))
  body = f:read("*a")
  f:close()
end

function request()
  return wrk.format("POST", "/api/v1/timestamp", { ["Content-Type"] = "application/timestamp-query" }, body)
end
