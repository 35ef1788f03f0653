-- tests/lua/harness.lua — the tiny test framework of the Lua tests that run inside teehost.
--
--   local t = require "harness"
--   t.test("json decodes arrays", function() t.eq(json.decode("[1]")[1], 1) end)
--   t.run()   -- prints one line per test and "N passed, N failed"; raises if any failed
--
-- Tests run one after another in the main coroutine, so they may await (http, task.sleep ...).
local M = {}
local tests = {}

function M.test(name, fn)
  tests[#tests + 1] = { name = name, fn = fn }
end

local pretty = require "teehost.pretty"

local function show(v)
  return pretty.format(v)
end

local function deep_eq(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not deep_eq(v, b[k], seen) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

function M.eq(got, want, what)
  if not deep_eq(got, want) then
    error(string.format("%sexpected %s, got %s", what and (what .. ": ") or "", show(want), show(got)), 2)
  end
end

function M.ok(cond, what)
  if not cond then error("expected a true value" .. (what and (": " .. what) or ""), 2) end
  return cond
end

-- Asserts that fn(...) raises an error whose message contains `pattern` (plain text).
function M.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error containing " .. show(pattern) .. ", got none", 2) end
  if not tostring(err):find(pattern, 1, true) then
    error("expected an error containing " .. show(pattern) .. ", got " .. show(tostring(err)), 2)
  end
  return err
end

-- Asserts that s contains `pattern` (plain text).
function M.contains(s, pattern, what)
  if type(s) ~= "string" or not s:find(pattern, 1, true) then
    error(string.format("%sexpected %s to contain %s", what and (what .. ": ") or "", show(s), show(pattern)), 2)
  end
end

function M.run()
  local passed, failed = 0, 0
  local only = os.getenv("TEST_ONLY")
  for _, tc in ipairs(tests) do
    if not only or tc.name:find(only, 1, true) then
      local ok, err = xpcall(tc.fn, debug.traceback)
      if ok then
        passed = passed + 1
        print("ok - " .. tc.name)
      else
        failed = failed + 1
        print("not ok - " .. tc.name .. "\n  " .. tostring(err):gsub("\n", "\n  "))
      end
    end
  end
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 then error(failed .. " test(s) failed", 0) end
end

return M
