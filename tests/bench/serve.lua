-- tests/bench/serve.lua — a teehost echo server for outside load (curl, the SDK benchmarks):
--   teehost tests/bench/serve.lua PORTFILE [UNIX_SOCKET]
-- Writes the bound TCP port to PORTFILE, serves until interrupted.
local portfile, sock = arg[1], arg[2]
local srv = assert(http.serve { port = 0, unix_socket = sock, handler = function(req)
  return { status = 200, body = req.body ~= "" and req.body or "pong" }
end })
local f = assert(io.open(portfile, "w"))
f:write(srv:port(), "\n")
f:close()
