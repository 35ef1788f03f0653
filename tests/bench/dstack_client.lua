-- tests/bench/dstack_client.lua — teehost's dstack client under load: GetKey or GetQuote calls
-- per second against one agent (a running `teehost simulator`), N calls in flight.
--   teehost tests/bench/dstack_client.lua SOCKET_OR_URL getkey|getquote INFLIGHT SECONDS
-- tee.use switches to the given agent; INFLIGHT tasks each loop `tee.get_key("bench/"..i, "p")`
-- or `tee.get_quote("x")` until SECONDS have passed (after one warm-up call), counting
-- completions and failures. Prints one JSON line:
--   {"client":"teehost","op":…,"inflight":…,"calls":…,"errors":…,"seconds":…,"calls_per_s":…,
--    "first_error":…}
-- tests/bench/dstack_sdk_bench.js prints the same line for @phala/dstack-sdk; dstack.py runs both.
local tee = require "tee"
local task = require "task"
local json = require "json"

local endpoint, op = arg[1], arg[2]
local inflight = math.tointeger(tonumber(arg[3] or "1"))
local seconds = tonumber(arg[4] or "2")
if not endpoint or (op ~= "getkey" and op ~= "getquote") or not inflight or inflight < 1 or not seconds then
  io.stderr:write("usage: teehost dstack_client.lua SOCKET_OR_URL getkey|getquote INFLIGHT SECONDS\n")
  os.exit(2)
end

tee.use(endpoint)

local calls = {
  getkey = function(i) return tee.get_key("bench/" .. i, "p") end,
  getquote = function() return tee.get_quote("x") end,
}
local call = calls[op]
assert(call(0)) -- warm-up, and a clear failure when the agent does not answer at all

local done, errors, first_error = 0, 0, nil
local stopped = false
local t0 = task.now()
task.spawn(function()
  task.sleep(seconds)
  stopped = true
end)
local workers = {}
for w = 1, inflight do
  workers[w] = function()
    while not stopped do
      local ok, why = call(w)
      if ok then
        done = done + 1
      else
        errors = errors + 1
        first_error = first_error or tostring(why)
      end
    end
  end
end
task.all(workers)
local elapsed = task.now() - t0

print(json.encode {
  client = "teehost", op = op, inflight = inflight, calls = done, errors = errors,
  seconds = elapsed, calls_per_s = done / elapsed, first_error = first_error,
})
