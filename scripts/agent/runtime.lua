-- scripts/agent/runtime.lua — the agent runtime: one character, its plugins, a model and a memory
-- store, and the message pipeline of elizaOS (spec eliza-tee.md §7.3–7.7) in Lua.
--
--   local runtime = require "agent.runtime"
--   local agent = runtime.new { character = c, model = offline, store = st?, env = {…}?, log = fn? }
--   agent:register_plugin(plugin)            -- runs plugin.init(agent) (may wait); true | nil, err
--   runtime.plugin("tee")                    -- agent/plugins/tee.lua by a character's plugin name
--   local out = agent:handle { text = "hi", user = "ann"?, room = "lobby"? }
--   -- out.replies = { { text =, actions = { NAME… }, attachments = { … } }, … }
--   -- out.thought, out.state (composed providers), out.results (one per dispatched action)
--   agent:setting("WALLET_SECRET_SALT")      -- character secrets, then settings, then environment
--   agent:recent(room_id, n)                 -- the newest n memories of a room, oldest first
--   agent.id, agent.name, agent.routes; agent.data[plugin name] is where a plugin keeps its state
--   agent:service("tee")                     -- a started service's instance (elizaOS getService)
--   agent:stop()                             -- stops the services, newest first
--
-- A plugin is { name, description?, init(agent)?, actions?, providers?, evaluators?, routes?,
-- services? }:
--   service   { name, start(agent) -> instance (may wait), stop?(instance) } — long-lived objects
--             other plugins reach by name, as elizaOS's Service (started when the plugin registers);
--   action    { name, similes?, description, examples?, validate(agent, message, state) -> bool[, why],
--               handler(agent, message, state, options, callback) -> { success, text?, error? }? }
--   provider  { name, description?, position?, get(agent, message, state) -> { text?, values?, data? } }
--   evaluator { name, description?, always_run?, validate?(agent, message, state), handler(agent, message,
--               state, replies) }
--   route     { type = "GET"|"POST"|…, path, name?, handler(req, agent) -> http.serve answer }
-- message (as handlers see it): { id, text, user, room, entity_id, room_id, created (unix ms) }.
--
-- Pipeline of agent:handle (each step one function below):
--   1. the message is written to memory (room-scoped);
--   2. should-respond: no answer to an empty text or to the agent's own name;
--   3. providers run concurrently (task.all); a provider that raises is reported in the state
--      (state.errors[name] and a line in state.text) and the others still count — one bad
--      provider never fails the message (weakness §10.1 of the spec);
--   4. model.respond(ctx) (agent/models/offline.lua describes ctx) chooses actions and text;
--      a model failure becomes a reply that says so;
--   5. actions run in order, found by name or simile (§7.7: exact, then substring, on names with
--      case and "_" ignored); REPLY sends the model's text; IGNORE/NONE send nothing; validate is
--      checked first; a handler may wait; a handler that raises, or returns success = false
--      without answering, produces a reply naming the action and what failed — never silence;
--   6. evaluators whose validate passes run (only when the agent replied, unless always_run);
--   7. the replies are written to memory.
-- Memory: store:put(key, json, {room = room_id}) and store:search{room =, limit =} (the sealed
-- store of agent/sealed.lua, or runtime.memory_store() when none can be opened).
local json = require "json"
local character_mod = require "agent.character"

local M = {}

local Agent = {}
Agent.__index = Agent

local CONTROL = { REPLY = true, IGNORE = true, NONE = true }

-- Wall-clock milliseconds: os.time() has whole seconds, task.now() is monotonic with sub-second
-- precision; their sum from one reference point gives ms that never go backwards.
local wall0, mono0 = os.time(), task.now()
function M.now_ms()
  return math.floor((wall0 + (task.now() - mono0)) * 1000)
end

-- An in-memory stand-in with the sealed store's interface (put, get, search), for tests and for
-- an agent whose sealed store cannot be opened (no TEE). Nothing survives the process.
function M.memory_store()
  local records, n = {}, 0
  local st = {}
  function st.put(_, key, value, opts)
    n = n + 1
    records[key] = { key = key, value = value, room = opts and opts.room, created = M.now_ms(), seq = n }
    return true
  end
  function st.get(_, key)
    local r = records[key]
    return r and r.value
  end
  function st.search(_, q)
    local list = {}
    for _, r in pairs(records) do
      if not q.room or r.room == q.room then list[#list + 1] = r end
    end
    table.sort(list, function(a, b) return a.seq > b.seq end)
    while q.limit and #list > q.limit do list[#list] = nil end
    return list
  end
  return st
end

-- The one built-in provider: the room's last messages, oldest first.
M.recent_messages = {
  name = "RECENT_MESSAGES", position = -1,
  get = function(agent, message)
    local list = assert(agent:recent(message.room_id, 10))
    local lines = {}
    for _, r in ipairs(list) do lines[#lines + 1] = tostring(r.user) .. ": " .. tostring(r.text) end
    return { text = #lines > 0 and ("Recent messages:\n" .. table.concat(lines, "\n")) or "",
      data = { messages = list } }
  end,
}

-- runtime.new{character =, model =, store =?, env =?, log =?}
function M.new(opts)
  assert(type(opts) == "table", "runtime.new: expected an options table")
  local c = opts.character
  assert(type(c) == "table" and type(c.name) == "string", "runtime.new: character must be a loaded character")
  assert(type(opts.model) == "table" and type(opts.model.respond) == "function",
    "runtime.new: model must have respond(ctx)")
  local self = setmetatable({
    character = c, model = opts.model, id = character_mod.id(c.name), name = c.name,
    store = opts.store or M.memory_store(), env = opts.env,
    log = opts.log or function(line) io.stderr:write(line, "\n") end,
    plugins = {}, actions = {}, providers = { M.recent_messages }, evaluators = {}, routes = {}, seq = 0, data = {},
    services = {}, service_order = {},
  }, Agent)
  self.secrets = character_mod.secrets(c, opts.env)
  return self
end

-- First set value of: character secrets, character settings, environment (spec §7.1).
function Agent:setting(key)
  local v = self.secrets[key]
  if v == nil and self.character.settings then
    local s = self.character.settings[key]
    if type(s) == "string" then v = s end
  end
  if v == nil then
    if self.env then v = self.env[key] else v = os.getenv(key) end
  end
  if v == "" then v = nil end
  return v
end

local function append(dst, list)
  for _, x in ipairs(list or {}) do dst[#dst + 1] = x end
end

function Agent:register_plugin(p)
  assert(type(p) == "table" and type(p.name) == "string", "register_plugin: a plugin needs a name")
  if p.init then
    local ok, res, why = pcall(p.init, self)
    if not ok then return nil, "plugin " .. p.name .. ": init: " .. tostring(res) end
    if res == nil and why then return nil, "plugin " .. p.name .. ": " .. tostring(why) end
  end
  for _, a in ipairs(p.actions or {}) do
    assert(type(a.name) == "string" and type(a.handler) == "function",
      "plugin " .. p.name .. ": an action needs a name and a handler")
  end
  for _, sv in ipairs(p.services or {}) do
    assert(type(sv.name) == "string" and type(sv.start) == "function",
      "plugin " .. p.name .. ": a service needs a name and a start function")
    if self.services[sv.name] then return nil, "plugin " .. p.name .. ": service " .. sv.name .. " already exists" end
    local ok, inst, why = pcall(sv.start, self)
    if not ok or inst == nil then
      return nil, "plugin " .. p.name .. ": service " .. sv.name .. ": " .. tostring(ok and why or inst)
    end
    self.services[sv.name] = inst
    self.service_order[#self.service_order + 1] = { def = sv, instance = inst }
  end
  append(self.actions, p.actions)
  append(self.providers, p.providers)
  append(self.evaluators, p.evaluators)
  append(self.routes, p.routes)
  table.sort(self.providers, function(a, b) return (a.position or 0) < (b.position or 0) end)
  self.plugins[#self.plugins + 1] = p
  return true
end

function Agent:service(name)
  return self.services[name]
end

-- Stops every started service, the newest first; a stop that raises is logged, not fatal.
function Agent:stop()
  for i = #self.service_order, 1, -1 do
    local entry = self.service_order[i]
    if entry.def.stop then
      local ok, err = pcall(entry.def.stop, entry.instance)
      if not ok then self.log("agent: service " .. entry.def.name .. ": stop: " .. tostring(err)) end
    end
    self.services[entry.def.name] = nil
  end
  self.service_order = {}
end

-- A plugin by the name a character lists ("mr-tee-starter" -> agent/plugins/mr_tee_starter.lua).
function M.plugin(name)
  local ok, p = pcall(require, "agent.plugins." .. name:gsub("-", "_"))
  if ok then return p end
  if tostring(p):find("module '[^']*' not found") then return nil, "unknown plugin '" .. name .. "'" end
  return nil, "plugin " .. name .. ": " .. tostring(p)
end

-- ---- memory ---------------------------------------------------------------------------------

function Agent:remember(room_id, record)
  self.seq = self.seq + 1
  local key = string.format("m%d-%d", M.now_ms(), self.seq)
  local ok, err = self.store:put(key, json.encode(record), { room = room_id })
  if not ok then self.log("agent: memory not written: " .. tostring(err)) end
end

function Agent:recent(room_id, n)
  local list, err = self.store:search { room = room_id, limit = n }
  if not list then return nil, err end
  -- Oldest first by the key's (ms, sequence): records written in the same millisecond keep their order.
  local function order(r)
    local ms, seq = tostring(r.key):match("^m(%d+)-(%d+)$")
    return tonumber(ms) or 0, tonumber(seq) or 0
  end
  table.sort(list, function(a, b)
    local am, as = order(a)
    local bm, bs = order(b)
    if am ~= bm then return am < bm end
    return as < bs
  end)
  local out = {}
  for _, r in ipairs(list) do
    local rec = json.decode(r.value)
    if type(rec) == "table" then out[#out + 1] = rec end
  end
  return out
end

-- ---- pipeline -------------------------------------------------------------------------------

local function normalize(self, msg)
  assert(type(msg) == "table" and type(msg.text) == "string", "agent:handle: message.text must be a string")
  local user = (type(msg.user) == "string" and msg.user ~= "") and msg.user or "user"
  local room = (type(msg.room) == "string" and msg.room ~= "") and msg.room or "default"
  return {
    text = msg.text, user = user, room = room, created = M.now_ms(),
    entity_id = character_mod.id("user:" .. user), room_id = character_mod.id("room:" .. self.id .. ":" .. room),
  }
end

local function should_respond(self, message)
  if message.text:match("^%s*$") then return false end
  return message.user ~= self.name
end

-- Runs every provider concurrently; errors are kept in the state, never raised.
function Agent:compose_state(message)
  local state = { values = {}, data = { providers = {} }, errors = {}, text = "" }
  local fns = {}
  for i, p in ipairs(self.providers) do
    fns[i] = function()
      return table.pack(pcall(p.get, self, message, state))
    end
  end
  local results = #fns > 0 and task.all(fns) or { n = 0 }
  local texts = {}
  for i, p in ipairs(self.providers) do
    local r = results[i]
    if not r[1] then
      state.errors[p.name] = tostring(r[2])
      texts[#texts + 1] = "(provider " .. p.name .. " failed: " .. tostring(r[2]) .. ")"
    elseif type(r[2]) == "table" then
      state.data.providers[p.name] = r[2]
      if type(r[2].text) == "string" and r[2].text ~= "" then texts[#texts + 1] = r[2].text end
      for k, v in pairs(r[2].values or {}) do state.values[k] = v end
    end
  end
  state.text = table.concat(texts, "\n")
  return state
end

local function norm(name) return (name:lower():gsub("_", "")) end

-- §7.7: exact name, substring of names either way, exact simile, substring simile.
function Agent:find_action(name)
  local n = norm(name)
  if n == "" then return nil end
  local tests = {
    function(a) return norm(a.name) == n end,
    function(a) local m = norm(a.name) return m:find(n, 1, true) or n:find(m, 1, true) end,
    function(a)
      for _, s in ipairs(a.similes or {}) do if norm(s) == n then return true end end
    end,
    function(a)
      for _, s in ipairs(a.similes or {}) do
        local m = norm(s)
        if m:find(n, 1, true) or n:find(m, 1, true) then return true end
      end
    end,
  }
  for _, t in ipairs(tests) do
    for _, a in ipairs(self.actions) do
      if t(a) then return a end
    end
  end
  return nil
end

-- The actions as the model sees them: validate(message) bound to this agent and state.
local function model_actions(self, message, state)
  local list = {}
  for i, a in ipairs(self.actions) do
    list[i] = {
      name = a.name, similes = a.similes, description = a.description,
      validate = a.validate and function() return a.validate(self, message, state) == true end,
    }
  end
  return list
end

local function reply(text, actions, attachments)
  return { text = text, actions = json.array(actions or {}), attachments = json.array(attachments or {}) }
end

-- Runs one action; appends its replies; returns its result.
local function run_action(self, action, message, state, replies, previous)
  local answered = false
  local function callback(content)
    answered = true
    replies[#replies + 1] = reply(content.text or "", content.actions or { action.name }, content.attachments)
  end
  if action.validate then
    local ok, yes, why = pcall(action.validate, self, message, state)
    if not ok or not yes then
      local reason = not ok and tostring(yes) or why or "its validate check said no"
      callback { text = action.name .. " is not available: " .. reason }
      return { action = action.name, success = false, error = reason }
    end
  end
  local ok, res = xpcall(action.handler, debug.traceback, self, message, state,
    { previous = previous }, callback)
  if not ok then
    local first = tostring(res):match("^[^\n]*")
    self.log("agent: action " .. action.name .. " failed: " .. tostring(res))
    callback { text = action.name .. " failed: " .. first }
    return { action = action.name, success = false, error = first }
  end
  res = type(res) == "table" and res or { success = res ~= false }
  if res.success == false and not answered then
    callback { text = res.text or (action.name .. " failed: " .. tostring(res.error or "no reason given")) }
  end
  res.action = action.name
  return res
end

local function dispatch(self, response, message, state)
  local replies, results = {}, {}
  local names = response.actions or {}
  local text = response.text or ""
  local plain = #names == 0 and text ~= ""
  for _, name in ipairs(names) do
    if name == "REPLY" then plain = true end
  end
  if plain and text ~= "" then replies[1] = reply(text, names) end
  for _, name in ipairs(names) do
    if not CONTROL[name] then
      local action = self:find_action(name)
      if action then
        results[#results + 1] = run_action(self, action, message, state, replies, results)
      else
        self.log("agent: the model asked for an unknown action " .. name)
        results[#results + 1] = { action = name, success = false, error = "unknown action" }
      end
    end
  end
  return replies, results
end

local function evaluate(self, message, state, replies)
  for _, e in ipairs(self.evaluators) do
    if #replies > 0 or e.always_run then
      local ok, err = pcall(function()
        if not e.validate or e.validate(self, message, state) then e.handler(self, message, state, replies) end
      end)
      if not ok then
        state.errors["evaluator " .. e.name] = tostring(err)
        self.log("agent: evaluator " .. e.name .. " failed: " .. tostring(err))
      end
    end
  end
end

function Agent:handle(msg)
  local message = normalize(self, msg)
  self:remember(message.room_id, { user = message.user, text = message.text, created = message.created })
  if not should_respond(self, message) then return { replies = {}, results = {} } end
  local state = self:compose_state(message)
  local ctx = {
    character = self.character, state = state, actions = model_actions(self, message, state),
    message = { text = message.text, user = message.user, room = message.room },
  }
  local ok, res, err = pcall(self.model.respond, ctx)
  local replies, results
  if not ok or not res then
    local why = tostring(ok and err or res)
    self.log("agent: model failed: " .. why)
    replies, results = { reply("Sorry, my model failed: " .. why, { "NONE" }) }, {}
    res = { thought = "" }
  else
    replies, results = dispatch(self, res, message, state)
  end
  evaluate(self, message, state, replies)
  for _, r in ipairs(replies) do
    self:remember(message.room_id, { user = self.name, text = r.text, actions = r.actions, created = M.now_ms() })
  end
  return { replies = replies, thought = res.thought, state = state, results = results }
end

return M
