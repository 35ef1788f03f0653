-- scripts/agent/character.lua — agent characters: loading a character file in a sandbox,
-- checking its shape (every error names the field that is wrong), and the agent's stable id.
--
--   local character = require "agent.character"
--   local c, err = character.load("characters/mr_tee.lua")  -- or character.load{name = …, …}
--   -- err: "character.message_examples[3][2].content.text: expected a string, got number"
--   --      (from a file, prefixed with its path: "characters/x.lua: character.name: missing …")
--   character.load_text(source, chunkname)   -- the same for a file's text (e.g. an embedded copy)
--   character.id("Mr. TEE")                  -- "xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx", stable per name
--   character.secrets(c, env)                -- settings.secrets resolved from env (default os.getenv)
--
-- A character is data (STYLE.md): a file is run with no access to os, io, require, load or the
-- globals of the host, only to read-only copies of string, table, math (no random) and utf8, and
-- with an instruction budget; it must return one table. The result is a deep copy of plain data
-- (no metatables, no functions), so what the runtime holds is exactly what was validated.
--
-- Fields (elizaOS's Character, spec eliza-tee.md §7.1, in snake case): name (required), username,
-- system, bio (string or list), topics, adjectives, posts, plugins, knowledge (lists of strings),
-- style {all, chat, post} (lists of strings), message_examples (list of conversations; a
-- conversation is a list of {name, content = {text, actions?, thought?, providers?, …}}),
-- templates (name -> string), settings (a map; settings.secrets maps a setting name to a literal
-- string or to {env = "VAR", default = "…"?}, so a character names the variables it reads instead
-- of holding their values). Any other field is an error, with a hint for the camelCase names.
--
-- The id: elizaOS derives agent ids from the name with SHA-1 (stringToUuid). Lua in teehost has
-- no SHA-1 or SHA-256, but it has Keccak-256 (phala.keccak256, core/keccak), so the id is the
-- first 16 bytes of keccak256("teehost agent id\0" .. name) with the RFC 9562 variant bits and
-- version 8 (the version for name-based UUIDs made with a hash other than MD5/SHA-1).
local M = {}

local MAX_DEPTH = 16
local INSTRUCTION_LIMIT = 10000000 -- a character file is data; this stops `while true do end`
local ID_DOMAIN = "teehost agent id\0"

-- An error raised inside validation; load() turns it into nil, message.
local Invalid = {}

local function fail(path, msg)
  error(setmetatable({ msg = path .. ": " .. msg }, Invalid), 0)
end

local function join(path, key)
  if math.type(key) == "integer" then return path .. "[" .. key .. "]" end
  if type(key) == "string" and key:match("^[%a_][%w_]*$") then return path .. "." .. key end
  if type(key) == "string" then return path .. "[" .. string.format("%q", key) .. "]" end
  return path .. "[" .. tostring(key) .. "]"
end

-- Deep copy of plain data, raw (metatables ignored); functions, userdata, threads and cycles fail.
local function copy(v, path, depth, seen)
  local kind = type(v)
  if kind == "string" or kind == "number" or kind == "boolean" then return v end
  if kind ~= "table" then
    fail(path, "expected data (a string, number, boolean or table), got " .. kind)
  end
  if seen[v] then fail(path, "a table that contains itself") end
  if depth > MAX_DEPTH then fail(path, "nested more than " .. MAX_DEPTH .. " tables deep") end
  seen[v] = true
  local out = {}
  for k, item in next, v do
    local kk = type(k)
    if kk ~= "string" and math.type(k) ~= "integer" then
      fail(join(path, k), "keys must be strings or list positions, got a " .. kk .. " key")
    end
    out[k] = copy(item, join(path, k), depth + 1, seen)
  end
  seen[v] = nil
  return out
end

local function check_type(v, want, path)
  if type(v) ~= want then fail(path, "expected a " .. want .. ", got " .. type(v)) end
end

local function check_string(v, path, non_empty)
  check_type(v, "string", path)
  if non_empty and v == "" then fail(path, "must not be empty") end
end

-- Keys sorted so that the field an error names does not depend on the table's iteration order.
local function sorted_keys(t)
  local keys = {}
  for k in next, t do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) == "number" end
    return a < b
  end)
  return keys
end

local function check_list(v, path, check_item, what)
  if type(v) ~= "table" then fail(path, "expected a list of " .. what .. ", got " .. type(v)) end
  local n = 0
  for _ in next, v do n = n + 1 end
  for _, k in ipairs(sorted_keys(v)) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(join(path, k), "not a list position (a list's keys are 1, 2, … with no gaps)")
    end
  end
  for i = 1, n do check_item(v[i], join(path, i)) end
end

local function check_map(v, path, check_value)
  check_type(v, "table", path)
  for _, k in ipairs(sorted_keys(v)) do
    if type(k) ~= "string" then fail(join(path, k), "expected a name as key, got a " .. type(k)) end
    check_value(v[k], join(path, k), k)
  end
end

local function string_item(v, path) check_string(v, path) end
local function string_list(v, path) check_list(v, path, string_item, "strings") end

local function check_fields(v, path, fields, hints)
  check_type(v, "table", path)
  for _, k in ipairs(sorted_keys(v)) do
    if type(k) ~= "string" then fail(join(path, k), "expected a field name, got a " .. type(k)) end
    if not fields[k] then
      local names = {}
      for name in pairs(fields) do names[#names + 1] = name end
      table.sort(names)
      local hint = hints and hints[k]
      fail(join(path, k), hint and ("unknown field (did you mean " .. hint .. "?)")
        or ("unknown field (valid: " .. table.concat(names, ", ") .. ")"))
    end
  end
  for _, k in ipairs(sorted_keys(fields)) do
    if v[k] ~= nil then fields[k](v[k], join(path, k)) end
  end
end

local function check_content(v, path)
  check_type(v, "table", path)
  if v.text == nil then fail(join(path, "text"), "missing (every example message has a text)") end
  check_string(v.text, join(path, "text"))
  if v.actions ~= nil then check_list(v.actions, join(path, "actions"), function(a, p)
    check_string(a, p, true)
  end, "action names") end
  if v.providers ~= nil then string_list(v.providers, join(path, "providers")) end
  if v.thought ~= nil then check_string(v.thought, join(path, "thought")) end
  for _, k in ipairs(sorted_keys(v)) do
    if type(k) ~= "string" then fail(join(path, k), "expected a field name, got a " .. type(k)) end
  end
end

local function check_message(v, path)
  check_fields(v, path, {
    name = function(name, p) check_string(name, p, true) end,
    content = check_content,
  })
  if v.name == nil then fail(join(path, "name"), "missing (who says this message)") end
  if v.content == nil then fail(join(path, "content"), "missing (what the message says)") end
end

local function check_conversation(v, path)
  check_list(v, path, check_message, "messages")
  if #v == 0 then fail(path, "a conversation needs at least one message") end
end

local function check_secret(v, path)
  if type(v) == "string" then return end
  if type(v) ~= "table" then
    fail(path, "expected a string or {env = \"VARIABLE\"}, got " .. type(v))
  end
  check_fields(v, path, {
    env = function(name, p)
      check_string(name, p)
      if not name:match("^[%a_][%w_]*$") then
        fail(p, "not an environment variable name: " .. string.format("%q", name))
      end
    end,
    default = check_string,
  })
  if v.env == nil then fail(join(path, "env"), "missing (the environment variable to read)") end
end

local function check_settings(v, path)
  check_map(v, path, function(value, p, key)
    if key == "secrets" then check_map(value, p, check_secret) end
  end)
end

local FIELDS = {
  name = function(v, p) check_string(v, p, true) end,
  username = check_string,
  system = check_string,
  bio = function(v, p)
    if type(v) == "string" then return end
    if type(v) ~= "table" then fail(p, "expected a string or a list of strings, got " .. type(v)) end
    check_list(v, p, string_item, "strings")
  end,
  topics = string_list,
  adjectives = string_list,
  posts = string_list,
  knowledge = string_list,
  plugins = function(v, p) check_list(v, p, function(x, q) check_string(x, q, true) end, "plugin names") end,
  style = function(v, p) check_fields(v, p, { all = string_list, chat = string_list, post = string_list }) end,
  message_examples = function(v, p) check_list(v, p, check_conversation, "conversations") end,
  templates = function(v, p) check_map(v, p, string_item) end,
  settings = check_settings,
}

local HINTS = {
  messageExamples = "message_examples", postExamples = "posts", message_example = "message_examples",
  post_examples = "posts", secrets = "settings.secrets", examples = "message_examples",
  description = "bio", prompt = "system", plugin = "plugins", topic = "topics",
}

local function validate(t)
  if type(t) ~= "table" then fail("character", "expected a table, got " .. type(t)) end
  local c = copy(t, "character", 1, {})
  check_fields(c, "character", FIELDS, HINTS)
  if c.name == nil then fail("character.name", "missing (every character has a name)") end
  return c
end

-- Runs fn(...) and turns a validation failure into nil, message; other errors are bugs: re-raised.
local function protect(fn, ...)
  local ok, result = pcall(fn, ...)
  if ok then return result end
  if getmetatable(result) == Invalid then return nil, result.msg end
  error(result, 0)
end

local function readonly_copy(lib, except)
  local out = {}
  for k, v in pairs(lib) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

local function sandbox()
  local env = {
    string = readonly_copy(string, { dump = true }),
    table = readonly_copy(table),
    math = readonly_copy(math, { random = true, randomseed = true }),
    utf8 = readonly_copy(utf8),
    ipairs = ipairs, pairs = pairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
  }
  return setmetatable(env, {
    __index = function(_, k)
      error(string.format("'%s' is not available in a character file (a character file only returns a table)",
        tostring(k)), 2)
    end,
    __newindex = function(_, k)
      error(string.format("a character file cannot set the global '%s' (use local)", tostring(k)), 2)
    end,
  })
end

-- Runs a loaded chunk in its own coroutine with an instruction budget; returns its one result.
local function run(chunk, name)
  local co = coroutine.create(chunk)
  local steps = 0
  debug.sethook(co, function()
    steps = steps + 1000
    if steps > INSTRUCTION_LIMIT then
      error(name .. ": runs too long (more than " .. INSTRUCTION_LIMIT .. " instructions; a character is data)", 0)
    end
  end, "", 1000)
  local res = table.pack(coroutine.resume(co))
  coroutine.close(co)
  if not res[1] then return nil, tostring(res[2]) end
  if coroutine.status(co) ~= "dead" then return nil, name .. ": a character file must not yield" end
  if res.n ~= 2 or type(res[2]) ~= "table" then
    return nil, name .. ": a character file must return one table, got "
      .. (res.n == 1 and "nothing" or res.n > 2 and (res.n - 1) .. " values" or type(res[2]))
  end
  return res[2]
end

-- Loads a character from a file's text; chunkname is what errors call it (usually the path).
function M.load_text(source, chunkname)
  assert(type(source) == "string", "character.load_text: source must be a string")
  chunkname = chunkname or "character"
  local chunk, err = load(source, "@" .. chunkname, "t", sandbox())
  if not chunk then return nil, err end
  local t, run_err = run(chunk, chunkname)
  if not t then return nil, run_err end
  local c, bad = protect(validate, t)
  if not c then return nil, chunkname .. ": " .. bad end
  return c
end

-- character.load(path | table) -> character | nil, message
function M.load(src)
  if type(src) == "table" then return protect(validate, src) end
  if type(src) ~= "string" then
    return nil, "character: expected a file path or a table, got " .. type(src)
  end
  local f, err = io.open(src, "rb")
  if not f then return nil, "cannot open character file " .. tostring(err) end
  local text, read_err = f:read("a")
  f:close()
  if not text then return nil, "cannot read character file " .. src .. ": " .. tostring(read_err) end
  return M.load_text(text, src)
end

-- A stable UUID for an agent name (version 8, RFC 9562 variant; see the header).
function M.id(name)
  assert(type(name) == "string" and name ~= "", "character.id: name must be a non-empty string")
  local b = { phala.keccak256(ID_DOMAIN .. name):byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x80
  b[9] = (b[9] & 0x3f) | 0x80
  local hex = string.format(string.rep("%02x", 16), table.unpack(b))
  return string.format("%s-%s-%s-%s-%s", hex:sub(1, 8), hex:sub(9, 12), hex:sub(13, 16), hex:sub(17, 20),
    hex:sub(21, 32))
end

-- settings.secrets resolved: name -> value (literal, or the variable's value, or its default).
-- env: a table of variables, or nil for the process environment. Empty variables count as unset.
function M.secrets(c, env)
  local get = env and function(k) return env[k] end or os.getenv
  local out = {}
  local secrets = c.settings and c.settings.secrets or {}
  for k, v in pairs(secrets) do
    if type(v) == "string" then
      out[k] = v
    else
      local value = get(v.env)
      if value == nil or value == "" then value = v.default end
      out[k] = value
    end
  end
  return out
end

return M
