-- tests/lua/test_store.lua — the store module through the real bindings, sealed with a real tee
-- Key from the built-in simulator: records put, read, deleted and searched; misuse raising;
-- private files; another TEE identity reading EVERIFY; agents isolated; 1,000 concurrent task
-- operations; and records surviving into a second teehost process over the same TEEHOST_HOME.
-- Tampering with the file's bytes is tested in tests/unit/test_store.c.
local t = require "harness"
local store = require "store"
local tee = require "tee"
local sealed = require "agent.sealed"

local home = assert(os.getenv("TEEHOST_HOME"), "TEEHOST_HOME is set by CTest")
-- A name of our own: the Lua tests share TEEHOST_HOME and run in parallel.
local function pid()
  local f = assert(io.open("/proc/self/stat"))
  local n = f:read("n")
  f:close()
  return n
end
local prefix = string.format("test-store-%d", pid())
local made = {}

local function name_of(suffix)
  local name = prefix .. "-" .. suffix
  if not made[name] then
    made[name] = true
    made[#made + 1] = name
  end
  return name
end

local function path_of(name) return home .. "/store/" .. name .. ".db" end

local function mode(path) return io.popen("stat -c %a " .. path):read("l") end

t.test("put, get, delete and search newest first, by room, limited", function()
  local st = assert(sealed.open(name_of("basic"), "agent-1"))
  t.ok(tostring(st):find("store.Store<" .. prefix .. "-basic agent=agent-1>", 1, true), tostring(st))
  t.eq(st:put("greeting", "hello", { room = "lobby" }), true)
  t.eq(st:put("binary", "a\0b\255", { room = "lobby" }), true)
  t.eq(st:put("note", ""), true)
  t.eq(st:get("greeting"), "hello")
  t.eq(st:get("binary"), "a\0b\255")
  t.eq(st:get("note"), "")
  t.eq(select("#", st:get("missing")), 1)
  t.eq(st:get("missing"), nil)
  local all = st:search()
  t.eq(#all, 3)
  t.eq({ all[1].key, all[2].key, all[3].key }, { "note", "binary", "greeting" })
  t.eq(all[1].room, nil)
  t.eq(all[2].room, "lobby")
  t.eq(all[3].value, "hello")
  t.eq(math.type(all[1].created), "integer")
  t.ok(all[1].created >= all[3].created and all[1].created > 1700000000000, all[1].created)
  local lobby = st:search { room = "lobby", limit = 1 }
  t.eq(#lobby, 1)
  t.eq(lobby[1].key, "binary")
  t.eq(#st:search { room = "nowhere" }, 0)
  t.eq(st:delete("greeting"), true)
  t.eq(st:delete("greeting"), false)
  t.eq(st:get("greeting"), nil)
  st:close()
  t.eq(tostring(st), "store.Store<closed>")
end)

t.test("misuse raises; a closed store or key says so", function()
  local key = assert(tee.get_key(sealed.KEY_PATH, sealed.KEY_PURPOSE))
  t.raises("must be 1 to 64 letters", store.open, "../escape", { key = key })
  t.raises("must be 1 to 64 letters", store.open, ".hidden", { key = key })
  t.raises("opts.key must be a tee Key", store.open, name_of("misuse"))
  t.raises("must be 1 to 64 letters", store.open, "a\0b", { key = key })
  t.raises("opts.key must be a tee Key", store.open, name_of("misuse"), { key = key:secret_hex() })
  t.raises("unknown option 'path'", store.open, name_of("misuse"), { key = key, path = "/tmp/x" })
  local st = assert(store.open(name_of("misuse"), { key = key }))
  t.ok(tostring(st):find("agent=default", 1, true), tostring(st))
  t.raises("key must be 1 to 1024 bytes", st.put, st, "", "v")
  t.raises("key must be 1 to 1024 bytes", st.get, st, "a\0b")
  t.raises("key must be 1 to 1024 bytes", st.put, st, string.rep("k", 1025), "v")
  t.raises("unknown option 'rooms'", st.put, st, "k", "v", { rooms = "x" })
  t.raises("limit must be at least 1", st.search, st, { limit = 0 })
  t.raises("bad argument #3", st.put, st, "k", {})
  do
    local scoped <close> = assert(store.open(name_of("misuse"), { key = key, agent_id = "scoped" }))
    scoped:put("k", "v")
  end
  st:close()
  st:close() -- twice is fine
  t.raises("attempt to use a closed store", st.get, st, "k")
  key:close()
  t.raises("attempt to use a closed key", store.open, name_of("misuse"), { key = key })
end)

t.test("the store directory is 0700 and the file 0600", function()
  local name = name_of("modes")
  local st = assert(sealed.open(name, "a"))
  st:put("k", "v")
  t.eq(mode(home .. "/store"), "700")
  t.eq(mode(path_of(name)), "600")
  t.eq(mode(path_of(name) .. "-wal"), "600")
  st:close()
end)

t.test("another TEE identity reads EVERIFY, another agent reads nothing", function()
  local name = name_of("identity")
  local st = assert(sealed.open(name, "a"))
  st:put("secret", "for my eyes only", { room = "r" })
  local other_key = assert(tee.get_key("another/app", "sealing"))
  local other <close> = assert(store.open(name, { key = other_key, agent_id = "a" }))
  local v, why, code = other:get("secret")
  t.eq({ v, code }, { nil, "EVERIFY" })
  t.eq(why, "store " .. name .. ": record 'secret' does not authenticate (tampered, or sealed under "
    .. "another TEE identity)")
  local list, why2, code2 = other:search { room = "r" }
  t.eq({ list, code2 }, { nil, "EVERIFY" })
  t.contains(why2, "record 'secret'")
  local bob <close> = assert(sealed.open(name, "b"))
  t.eq(bob:get("secret"), nil)
  t.eq(#bob:search(), 0)
  t.eq(st:get("secret"), "for my eyes only")
  st:close()
end)

t.test("1,000 concurrent task operations", function()
  local st <close> = assert(sealed.open(name_of("concurrent"), "a"))
  local results, tasks = {}, {}
  for i = 1, 1000 do
    tasks[i] = task.spawn(function()
      local key = "k" .. (i % 100)
      assert(st:put(key .. "-" .. i, "value " .. i, { room = "room" .. (i % 10) }))
      task.yield()
      results[i] = st:get(key .. "-" .. i)
      if i % 50 == 0 then assert(st:delete(key .. "-" .. i)) end
    end)
  end
  for _, tk in ipairs(tasks) do tk:join() end
  for i = 1, 1000 do t.eq(results[i], "value " .. i, "task " .. i) end
  t.eq(#st:search(), 980)
  local r3 = st:search { room = "room3" }
  t.eq(#r3, 100)
  for _, r in ipairs(r3) do t.eq(r.room, "room3") end
end)

t.test("records survive into a second teehost process over the same TEEHOST_HOME", function()
  local teehost = os.getenv("TEEHOST")
  if not teehost then
    print("skip - (TEEHOST not set)")
    return
  end
  local name = name_of("restart")
  local st = assert(sealed.open(name, "a"))
  st:put("before", "written by the first process", { room = "r" })
  st:close()
  local chunk = string.format([[
    local st = assert(require("agent.sealed").open(%q, "a"))
    io.write(assert(st:get("before")), "\n")
    assert(st:put("after", "written by the second process", { room = "r" }))
    st:close()]], name)
  local errfile = path_of(name) .. ".stderr"
  local p = assert(io.popen(string.format("%s -e %q 2>%s; echo rc=$?", teehost, chunk, errfile)))
  local out = p:read("a")
  p:close()
  local f = assert(io.open(errfile))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  t.eq(out, "written by the first process\nrc=0\n", "the second process (stderr: " .. err .. ")")
  st = assert(sealed.open(name, "a"))
  t.eq(st:get("after"), "written by the second process")
  local list = st:search { room = "r" }
  t.eq({ list[1].key, list[2].key }, { "after", "before" })
  st:close()
end)

local ok, err = pcall(t.run)
for _, name in ipairs(made) do
  for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(path_of(name) .. suffix) end
end
if not ok then error(err, 0) end
