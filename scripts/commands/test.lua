-- usage: teehost test [DIR] [--name TEXT]
-- summary: run a project's agent tests (DIR/tests/*.lua) and print "N passed, N failed, N skipped"
--
-- A test file returns a table: test name -> function(ctx) (the test; an error fails it, it may
-- wait on the loop) or -> string (skipped; the string says why). Tests run in name order, files in
-- path order. ctx.agent(character_path?) builds an agent of the project (DIR/character.lua when it
-- exists, else Mr. TEE) with its plugins, the offline model and an in-memory store:
--
--   -- tests/attestation.lua
--   return {
--     ["asks for a quote"] = function(ctx)
--       local out = ctx.agent():handle { text = "remote attestation please" }
--       assert(out.replies[2].attachments[1].quote, "no quote")
--     end,
--     ["needs real hardware"] = "skipped until CI has TDX",
--   }
--
-- Unlike `elizaos test` (spec eliza-tee.md §9): no tests is a failure (exit 1), a file that does not
-- load counts as a failed test, --name only filters (the others count as skipped), and no flag
-- turns tests off. Exit 0 only when at least one test ran and none failed.
local cli = require "teehost.cli"
local character = require "agent.character"
local runtime = require "agent.runtime"
local offline = require "agent.models.offline"

local HELP = [[
teehost test [DIR] [--name TEXT]
    DIR          the project (default .); its tests are DIR/tests/*.lua
    --name TEXT  run only the tests whose name contains TEXT (the others are skipped)]]

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function test_files(dir)
  local p = io.popen("ls -1 -- " .. shell_quote(dir .. "/tests") .. " 2>/dev/null")
  local files = {}
  for name in p:lines() do
    if name:match("%.lua$") then files[#files + 1] = dir .. "/tests/" .. name end
  end
  p:close()
  table.sort(files)
  return files
end

local function make_ctx(dir)
  local ctx = {}
  function ctx.agent(path)
    local c, err
    if not path and io.open(dir .. "/character.lua") then path = dir .. "/character.lua" end
    if path then c, err = character.load(path)
    else c, err = character.load_text(assert(package.embedded("characters/mr_tee.lua")), "characters/mr_tee.lua") end
    if not c then error(err, 2) end
    local agent = runtime.new { character = c, model = offline, log = function() end }
    for _, name in ipairs(c.plugins or {}) do
      assert(agent:register_plugin(assert(runtime.plugin(name))))
    end
    return agent
  end
  return ctx
end

local function sorted_names(t)
  local names = {}
  for k in pairs(t) do
    if type(k) == "string" then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

local function run_file(file, ctx, filter, count)
  print("Running test file: " .. file)
  local chunk, err = loadfile(file, "t")
  local ok, tests = false, err
  if chunk then ok, tests = pcall(chunk) end
  if not ok or type(tests) ~= "table" then
    count.failed = count.failed + 1
    print("[X] " .. file .. ": " .. (ok and "must return a table of name -> function" or tostring(tests)))
    return
  end
  for _, name in ipairs(sorted_names(tests)) do
    local fn = tests[name]
    if filter and not name:find(filter, 1, true) then
      count.skipped = count.skipped + 1
    elseif type(fn) ~= "function" then
      count.skipped = count.skipped + 1
      print("[-] " .. name .. " (skipped: " .. tostring(fn) .. ")")
    else
      local good, why = xpcall(fn, debug.traceback, ctx)
      if good then
        count.passed = count.passed + 1
        print("[✓] " .. name)
      else
        count.failed = count.failed + 1
        print("[X] " .. name .. "\n    " .. tostring(why):gsub("\n", "\n    "))
      end
    end
  end
end

local function main(args)
  local opts, pos = cli.parse(args, { name = "value", help = "flag" })
  if not opts then return cli.usage(pos, HELP) end
  if opts.help then print(HELP) return 0 end
  if #pos > 1 then return cli.usage("test takes at most one DIR", HELP) end
  local dir = (pos[1] or "."):gsub("/+$", "")
  if dir == "" then dir = "/" end
  local files = test_files(dir)
  if #files == 0 then return cli.fail("no tests found: " .. dir .. "/tests/*.lua (see teehost help test)") end
  package.path = dir .. "/?.lua;" .. package.path
  local count = { passed = 0, failed = 0, skipped = 0 }
  local ctx = make_ctx(dir)
  for _, f in ipairs(files) do run_file(f, ctx, opts.name, count) end
  print(string.format("%d passed, %d failed, %d skipped", count.passed, count.failed, count.skipped))
  if count.failed > 0 then return 1 end
  if count.passed == 0 then return cli.fail("no test ran") end
  return 0
end

return main({ ... })
