-- tests/lua/test_task.lua — the scheduler and the task module, in the real host.
local t = require "harness"

local function now() return os.clock() end -- CPU time: only used to show we did not spin

t.test("the main chunk is a coroutine the scheduler runs", function()
  local co, main = coroutine.running()
  t.ok(co and not main, "main chunk runs in a coroutine")
  t.ok(coroutine.isyieldable())
end)

t.test("task.spawn runs concurrently and join returns every result", function()
  local order = {}
  local a = task.spawn(function(x)
    task.sleep(0.03)
    order[#order + 1] = "a"
    return x, x * 2
  end, 5)
  local b = task.spawn(function()
    task.sleep(0.01)
    order[#order + 1] = "b"
    return "b"
  end)
  local x, y = a:join()
  t.eq({ x, y }, { 5, 10 })
  t.eq(b:join(), "b")
  t.eq(order, { "b", "a" }, "the shorter sleep finishes first")
  t.eq(a:status(), "done")
end)

t.test("a task starts only after the spawner yields", function()
  local started = false
  local tk = task.spawn(function() started = true end)
  t.eq(started, false)
  t.eq(tk:status(), "pending")
  task.yield()
  t.eq(started, true)
end)

t.test("join raises the task's error; joining a finished task works too", function()
  local tk = task.spawn(function() error("kaput", 0) end)
  t.raises("kaput", tk.join, tk)
  t.eq(tk:status(), "failed")
  t.raises("kaput", tk.join, tk)
  local ok = task.spawn(function() return 1, nil, 3 end)
  task.sleep(0.01)
  t.eq({ ok:join() }, { 1, nil, 3 })
  t.eq(select("#", ok:join()), 3)
end)

t.test("task.sleep waits about as long as asked without spinning", function()
  local c0 = now()
  local w0 = os.time()
  task.sleep(0.2)
  t.ok(os.clock() - c0 < 0.1, "sleeping used little CPU")
  t.ok(os.time() - w0 <= 1)
  t.raises("seconds must be between 0 and 1e9", task.sleep, -1)
  t.raises("number expected", task.sleep, "x")
end)

t.test("task.all returns results in order, whatever order they finish in", function()
  local r = task.all {
    function() task.sleep(0.03) return "slow" end,
    function() return "now" end,
    function() task.sleep(0.01) return "mid" end,
  }
  t.eq(r.n, 3)
  t.eq({ r[1], r[2], r[3] }, { "slow", "now", "mid" })
  t.eq(task.all({}).n, 0)
  t.raises("element 2 is a number", task.all, { function() end, 7 })
end)

t.test("task.all raises the first error and cancels the rest", function()
  local finished = false
  local err = t.raises("second failed", task.all, {
    function() task.sleep(0.5) finished = true end,
    function() task.sleep(0.01) error("second failed", 0) end,
    function() task.sleep(0.02) error("third failed", 0) end,
  })
  t.eq(err, "second failed")
  task.sleep(0.6)
  t.eq(finished, false, "the slow sibling was cancelled")
end)

t.test("task.timeout returns results in time and nil, message, ETIMEDOUT late", function()
  t.eq({ task.timeout(1, function(a, b) return a + b, "x" end, 1, 2) }, { 3, "x" })
  local closed = false
  local r, msg, code = task.timeout(0.05, function()
    local guard <close> = setmetatable({}, { __close = function() closed = true end }) -- luacheck: ignore 211
    task.sleep(5)
  end)
  t.eq({ r, msg, code }, { nil, "timed out after 0.05 s", "ETIMEDOUT" })
  t.eq(closed, true, "the timed-out task's to-be-closed variables were closed")
  t.raises("inner", task.timeout, 1, function() error("inner", 0) end)
end)

t.test("cancel stops a waiting task and its joiners see 'task cancelled'", function()
  local reached = false
  local tk = task.spawn(function() task.sleep(5) reached = true end)
  task.sleep(0.01)
  tk:cancel()
  t.eq(tk:status(), "cancelled")
  t.raises("task cancelled", tk.join, tk)
  task.sleep(0.01)
  t.eq(reached, false)
  local pending = task.spawn(function() reached = true end)
  pending:cancel()
  task.yield()
  t.eq(reached, false, "a task cancelled before it started never runs")
end)

t.test("a coroutine.yield inside a task yields to the loop and comes back", function()
  local other = false
  task.spawn(function() other = true end)
  coroutine.yield()
  t.eq(other, true)
end)

t.test("a dropped coroutine that waits is still completed by the scheduler", function()
  local done = false
  local co = coroutine.wrap(function()
    task.sleep(0.02)
    done = true
  end)
  co() -- returns at once: the coroutine is pinned by its wait
  co = nil -- luacheck: ignore
  collectgarbage()
  collectgarbage()
  t.eq(done, false)
  task.sleep(0.05)
  t.eq(done, true)
end)

t.test("resuming a coroutine that waits is an error, not a crash", function()
  local co = coroutine.create(function() task.sleep(0.05) return "never" end)
  t.eq(coroutine.resume(co), true)
  local ok, err = coroutine.resume(co)
  t.eq(ok, false)
  t.contains(err, "task.sleep: coroutine resumed while it was waiting")
  task.sleep(0.1) -- the sleep's timer fires later and must find nothing to resume
  t.eq(coroutine.status(co), "dead")
end)

t.test("waiting where Lua cannot yield raises a clear error", function()
  local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
    task.sleep(0)
    return a < b
  end)
  t.eq(ok, false)
  t.contains(err, "task.sleep: cannot wait here")
end)

t.test("a thousand tasks sleeping at once all finish", function()
  local fns = {}
  for i = 1, 1000 do fns[i] = function() task.sleep(0.01) return i end end
  local r = task.all(fns)
  local sum = 0
  for i = 1, 1000 do sum = sum + r[i] end
  t.eq(sum, 500500)
end)

t.test("task.current names the running task", function()
  local tk
  tk = task.spawn(function() return task.current() == tk end)
  t.eq(tk:join(), true)
  t.contains(tostring(tk), "task.Task<done")
end)

t.run()
