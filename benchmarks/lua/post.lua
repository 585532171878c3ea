-- POST the body of a file: wrk ... -s post.lua URL -- BODY_FILE CONTENT_TYPE [COOKIE]
-- done() prints one JSON line the harness parses (latencies in microseconds).

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = args[2]
  if args[3] then wrk.headers["Cookie"] = args[3] end
end

done = require("done")
