-- tests/bench/http_roundtrip.lua — HTTP round trips per second, client and server in one
-- teehost process, over a Unix socket and over TCP, with 1 and 100 requests in flight.
--   teehost tests/bench/http_roundtrip.lua [SECONDS_PER_CASE]
-- Prints one line per case: "<transport> inflight=<n> <requests> req in <s> s = <rate> req/s".
local seconds = tonumber(arg[1]) or 2
local dir = os.getenv("TMPDIR") or "/tmp"
local sock = dir .. "/teehost-bench-" .. math.random(1e9) .. ".sock"

local srv <close> = assert(http.serve { port = 0, unix_socket = sock, handler = function(req)
  return { status = 200, body = req.body }
end })

local function run(transport, inflight)
  local url = transport == "tcp" and ("http://127.0.0.1:" .. srv:port() .. "/echo") or "http://x/echo"
  local unix = transport == "unix" and sock or nil
  local count, stopped = 0, false
  local t0 = task.now()
  task.spawn(function() task.sleep(seconds) stopped = true end)
  local workers = {}
  for w = 1, inflight do
    workers[w] = function()
      while not stopped do
        local r = assert(http.request { url = url, unix_socket = unix, method = "POST", body = "ping" })
        assert(r.body == "ping")
        count = count + 1
      end
    end
  end
  task.all(workers)
  local elapsed = task.now() - t0
  print(string.format("%-4s inflight=%-3d %7d req in %.2f s = %8.0f req/s", transport, inflight, count,
    elapsed, count / elapsed))
end

for _, transport in ipairs { "unix", "tcp" } do
  for _, inflight in ipairs { 1, 100 } do run(transport, inflight) end
end
