-- tests/lua/test_character.lua — agent characters and the starter's configuration checks:
-- Mr. TEE loads with every field and the counts of spec eliza-tee.md §6.2; agent ids are stable,
-- distinct and well-formed (expected values computed independently, see below); every kind of bad
-- character is refused with a message naming the field; character files run sandboxed (syntax
-- errors with file:line, no os/io/require, no globals, no endless loops); and config.check
-- follows the TEE_MODE / TEE_VENDOR / WALLET_SECRET_SALT table of §2.1 and §6.3 message for message.
local t = require "harness"
local character = require "agent.character"
local config = require "agent.config"

local SOURCE = os.getenv("TEEHOST_SOURCE") or "."
local MR_TEE = SOURCE .. "/characters/mr_tee.lua"

local function has_action(conversation, action)
  for _, msg in ipairs(conversation) do
    for _, a in ipairs(msg.content.actions or {}) do
      if a == action then return true end
    end
  end
  return false
end

t.test("Mr. TEE loads with every field, the starter's counts and the REMOTE_ATTESTATION examples", function()
  local c = assert(character.load(MR_TEE))
  t.eq(c.name, "Mr. TEE")
  t.eq(c.plugins, { "tee" })
  for _, word in ipairs({ "Mr. TEE", "drill sergeant", "Trusted Execution Environment", "REMOTE_ATTESTATION",
    "trust, but verify" }) do
    t.contains(c.system, word, "system prompt")
  end
  t.eq(#c.bio, 18, "bio lines")
  t.ok(#c.topics >= 5, "topics")
  t.ok(#c.adjectives >= 5, "adjectives")
  t.eq({ #c.style.all, #c.style.chat, #c.style.post }, { 8, 5, 4 }, "style all/chat/post")
  t.eq(#c.posts, 10, "posts")
  for i, post in ipairs(c.posts) do
    t.ok(post:match(" #%w+$"), "post " .. i .. " ends in a hashtag: " .. post)
  end
  t.eq(#c.message_examples, 11, "example conversations")
  local attesting = 0
  for i, conv in ipairs(c.message_examples) do
    t.eq(#conv, 2, "conversation " .. i .. " has two turns")
    t.eq(conv[1].name, "{{user}}")
    t.eq(conv[2].name, "Mr. TEE")
    t.ok(#conv[2].content.text > 10, "reply " .. i .. " says something")
    if has_action(conv, "REMOTE_ATTESTATION") then
      attesting = attesting + 1
      t.eq(conv[2].content.actions, { "REPLY", "REMOTE_ATTESTATION" }, "conversation " .. i)
      t.eq(conv[1].content.actions, nil, "the user does not carry actions")
    else
      t.eq(conv[2].content.actions, nil, "text-only conversation " .. i)
    end
  end
  t.eq(attesting, 6, "conversations that end in an attestation")
  t.eq(c.settings.secrets, {
    TEE_MODE = { env = "TEE_MODE" },
    TEE_VENDOR = { env = "TEE_VENDOR", default = "phala" },
    WALLET_SECRET_SALT = { env = "WALLET_SECRET_SALT" },
  })
end)

t.test("Mr. TEE's secrets are read from the environment, never stored in the file", function()
  local c = assert(character.load(MR_TEE))
  t.eq(character.secrets(c, { TEE_MODE = "SIMULATOR", WALLET_SECRET_SALT = "pepper-and-salt" }),
    { TEE_MODE = "SIMULATOR", TEE_VENDOR = "phala", WALLET_SECRET_SALT = "pepper-and-salt" })
  t.eq(character.secrets(c, { TEE_MODE = "", TEE_VENDOR = "" }), { TEE_VENDOR = "phala" },
    "empty variables count as unset")
  t.eq(character.secrets({ name = "x", settings = { secrets = { K = "literal" } } }, {}), { K = "literal" })
  t.eq(character.secrets({ name = "x" }, {}), {})
end)

-- Expected ids computed outside teehost with Node and viem's keccak256 (tests/bench/node_modules):
-- keccak256(utf8("teehost agent id\0" + name)), first 16 bytes, byte 6 = (b & 0x0f) | 0x80,
-- byte 8 = (b & 0x3f) | 0x80, formatted 8-4-4-4-12 in lower-case hex.
t.test("agent ids are stable UUIDs (version 8, RFC 9562 variant), distinct per name", function()
  t.eq(character.id("Mr. TEE"), "ef231772-a695-8909-956e-2d8ee14cb6a6")
  t.eq(character.id("Eliza"), "1fae4246-194e-885c-a4c6-b3deb791b4dd")
  t.eq(character.id("mr. tee"), "68612c3a-0fec-84a4-8c2e-eafac8aefb0d", "case matters")
  t.eq(character.id("Mr. TEE"), character.id("Mr. TEE"))
  local seen = {}
  for i = 1, 200 do
    local id = character.id("agent " .. i)
    t.ok(id:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-8%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"), id)
    t.ok(id == id:lower(), "lower-case hex: " .. id)
    t.ok(not seen[id], "distinct: " .. id)
    seen[id] = true
  end
  t.raises("name must be a non-empty string", character.id, "")
  t.raises("name must be a non-empty string", character.id, 42)
end)

-- A minimal valid character; each bad case below changes one thing in a fresh copy.
local function base()
  return {
    name = "Tester",
    bio = { "one", "two" },
    style = { all = { "short" } },
    message_examples = {
      { { name = "{{user}}", content = { text = "hi" } }, { name = "Tester", content = { text = "hello" } } },
      { { name = "{{user}}", content = { text = "a" } } },
      { { name = "{{user}}", content = { text = "q" } }, { name = "Tester", content = { text = "r" } } },
    },
    settings = { secrets = { K = { env = "K" } } },
  }
end

local BAD = {
  { function(c) c.name = nil end, "character.name: missing (every character has a name)" },
  { function(c) c.name = 7 end, "character.name: expected a string, got number" },
  { function(c) c.name = "" end, "character.name: must not be empty" },
  { function(c) c.system = { "x" } end, "character.system: expected a string, got table" },
  { function(c) c.bio = 5 end, "character.bio: expected a string or a list of strings, got number" },
  { function(c) c.bio[2] = true end, "character.bio[2]: expected a string, got boolean" },
  { function(c) c.topics = { "a", extra = "b" } end,
    "character.topics.extra: not a list position (a list's keys are 1, 2, … with no gaps)" },
  { function(c) c.adjectives = { "a", nil, "c" } end,
    "character.adjectives[3]: not a list position (a list's keys are 1, 2, … with no gaps)" },
  { function(c) c.posts = { "a", 2 } end, "character.posts[2]: expected a string, got number" },
  { function(c) c.plugins = { "tee", "" } end, "character.plugins[2]: must not be empty" },
  { function(c) c.style.tone = { "x" } end, "character.style.tone: unknown field (valid: all, chat, post)" },
  { function(c) c.style.chat = "be nice" end, "character.style.chat: expected a list of strings, got string" },
  { function(c) c.message_examples[3][2].content.text = 42 end,
    "character.message_examples[3][2].content.text: expected a string, got number" },
  { function(c) c.message_examples[1][1].content = nil end,
    "character.message_examples[1][1].content: missing (what the message says)" },
  { function(c) c.message_examples[1][2].content.text = nil end,
    "character.message_examples[1][2].content.text: missing (every example message has a text)" },
  { function(c) c.message_examples[1][2].name = nil end,
    "character.message_examples[1][2].name: missing (who says this message)" },
  { function(c) c.message_examples[1][2].user = "x" end,
    "character.message_examples[1][2].user: unknown field (valid: content, name)" },
  { function(c) c.message_examples[2][1].content.actions = "REMOTE_ATTESTATION" end,
    "character.message_examples[2][1].content.actions: expected a list of action names, got string" },
  { function(c) c.message_examples[2] = {} end,
    "character.message_examples[2]: a conversation needs at least one message" },
  { function(c) c.message_examples = { { name = "x", content = { text = "y" } } } end,
    "character.message_examples[1].content: not a list position (a list's keys are 1, 2, … with no gaps)" },
  { function(c) c.messageExamples = {} end,
    "character.messageExamples: unknown field (did you mean message_examples?)" },
  { function(c) c.postExamples = {} end, "character.postExamples: unknown field (did you mean posts?)" },
  { function(c) c.colour = "red" end, "character.colour: unknown field (valid: adjectives, bio, knowledge, "
    .. "message_examples, name, plugins, posts, settings, style, system, templates, topics, username)" },
  { function(c) c.settings.secrets.K = 5 end,
    "character.settings.secrets.K: expected a string or {env = \"VARIABLE\"}, got number" },
  { function(c) c.settings.secrets.K = { env = "1 BAD" } end,
    "character.settings.secrets.K.env: not an environment variable name: \"1 BAD\"" },
  { function(c) c.settings.secrets.K = { default = "x" } end,
    "character.settings.secrets.K.env: missing (the environment variable to read)" },
  { function(c) c.settings.on_start = print end,
    "character.settings.on_start: expected data (a string, number, boolean or table), got function" },
  { function(c) c.settings.self = c.settings end, "character.settings.self: a table that contains itself" },
  { function(c) c.settings[true] = 1 end,
    "character.settings[true]: keys must be strings or list positions, got a boolean key" },
  { function(c) c.settings["bad key"] = {} c.settings["bad key"][1.5] = 1 end,
    "character.settings[\"bad key\"][1.5]: keys must be strings or list positions, got a number key" },
  { function(c) c.templates = { reply = 1 } end, "character.templates.reply: expected a string, got number" },
}

t.test("each bad character is refused with a message that names the field", function()
  t.ok(#BAD >= 10)
  local seen = {}
  for i, case in ipairs(BAD) do
    local c = base()
    case[1](c)
    local got, err = character.load(c)
    t.eq(got, nil, "case " .. i .. " is refused")
    t.eq(err, case[2], "case " .. i)
    t.ok(not seen[err], "case " .. i .. " gives its own message")
    seen[err] = true
  end
  t.eq(select(2, character.load(42)), "character: expected a file path or a table, got number")
end)

t.test("a valid character is returned as a plain copy, metatables and all extras checked", function()
  local src = base()
  src.bio = "a single string is a valid bio"
  src.knowledge = { "docs/tee.md" }
  src.templates = { reply = "{{agentName}} says" }
  src.message_examples[1][2].content.actions = { "REPLY" }
  src.message_examples[1][2].content.thought = "be brief"
  src.message_examples[1][2].content.source = "discord" -- extra content keys are allowed
  setmetatable(src, { __index = function() return "sneaky" end })
  local c = assert(character.load(src))
  t.ok(c ~= src and c.settings ~= src.settings, "a copy")
  t.eq(getmetatable(c), nil)
  t.eq(c.username, nil, "the source's __index does not leak into the copy")
  t.eq(c.bio, "a single string is a valid bio")
  t.eq(c.message_examples[1][2].content, { text = "hello", actions = { "REPLY" }, thought = "be brief",
    source = "discord" })
  src.name = "Changed"
  t.eq(c.name, "Tester", "later changes to the source do not reach the loaded character")
end)

-- Writes `text` to a temporary .lua file, calls fn(path), removes the file.
local function with_file(text, fn)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local ok, err = pcall(fn, path)
  os.remove(path)
  if not ok then error(err, 0) end
end

t.test("character files: syntax errors give file:line; os, io, require and globals are refused", function()
  with_file("return {\n  name = \"x\",\n  bio = {\"a\" \"b\"},\n}\n", function(path)
    local c, err = character.load(path)
    t.eq(c, nil)
    t.contains(err, path .. ":3:", "syntax error at its line")
  end)
  local cases = {
    { "local home = os.getenv('HOME')\nreturn {name = home}\n", ":1: 'os' is not available in a character file "
      .. "(a character file only returns a table)" },
    { "return {\n  name = io.read('l'),\n}\n", ":2: 'io' is not available in a character file" },
    { "local x = require 'json'\nreturn {name = 'x'}\n", ":1: 'require' is not available in a character file" },
    { "return {name = load('return 1')()}\n", ":1: 'load' is not available in a character file" },
    { "return {name = getmetatable('').__index.upper('x')}\n", ":1: 'getmetatable' is not available" },
    { "name = 'x'\nreturn {name = name}\n", ":1: a character file cannot set the global 'name' (use local)" },
  }
  for _, case in ipairs(cases) do
    with_file(case[1], function(path)
      local c, err = character.load(path)
      t.eq(c, nil, case[1])
      t.contains(err, path .. case[2], case[1])
    end)
  end
end)

t.test("character files must return one table, and finish", function()
  local cases = {
    { "local t = {name = 'x'}\n", ": a character file must return one table, got nothing" },
    { "return 'Mr. TEE'\n", ": a character file must return one table, got string" },
    { "return {name = 'a'}, {name = 'b'}\n", ": a character file must return one table, got 2 values" },
    { "while true do end\n", ": runs too long (more than 10000000 instructions; a character is data)" },
    { "return {name = 3}\n", ": character.name: expected a string, got number" },
  }
  for _, case in ipairs(cases) do
    with_file(case[1], function(path)
      local c, err = character.load(path)
      t.eq(c, nil, case[1])
      t.eq(err, path .. case[2], case[1])
    end)
  end
  local c, err = character.load("/nonexistent/dir/x.lua")
  t.eq(c, nil)
  t.eq(err, "cannot open character file /nonexistent/dir/x.lua: No such file or directory")
end)

t.test("character files may use string, table, math and utf8 without changing the host's", function()
  local src = "string.upper = nil\nlocal bio = {}\nfor i = 1, 3 do bio[i] = ('line %d'):format(i) end\n"
    .. "return {name = table.concat({'Mr.', 'TEE'}, ' '), bio = bio, topics = {tostring(math.max(1, 2))},"
    .. " adjectives = {utf8.char(233)}}\n"
  local c = assert(character.load_text(src, "inline"))
  t.eq(c.name, "Mr. TEE")
  t.eq(c.bio, { "line 1", "line 2", "line 3" })
  t.eq(c.topics, { "2" })
  t.eq(c.adjectives, { "é" })
  t.eq(type(string.upper), "function", "the host's string table is untouched")
  t.eq(select(2, character.load_text("return {name = math.random()}", "inline")),
    "inline:1: attempt to call a nil value (field 'random')", "no randomness")
end)

-- config.check: the §2.1 table. Valid: each teehost mode, phala, salts of 8..128 characters.
t.test("config: every teehost TEE_MODE, TEE_VENDOR=phala, salts of 8 to 128 characters are valid", function()
  t.eq(config.check({}), true, "all unset")
  local modes = { "PHALA_DSTACK", "TDX_DSTACK", "PRODUCTION", "LOCAL", "DOCKER", "SIMULATOR", "NONE", "OFF" }
  for _, mode in ipairs(modes) do
    t.eq(config.check({ TEE_MODE = mode }), true, mode)
  end
  t.eq(config.check({ TEE_VENDOR = "phala" }), true)
  for _, salt in ipairs({ "12345678", string.rep("s", 128), "  12345678  ", "\t" .. string.rep("x", 128) .. "\n",
    string.rep("é", 8), string.rep("é", 100) }) do
    t.eq(config.check({ WALLET_SECRET_SALT = salt }), true, string.format("salt %q", salt))
  end
  t.eq(config.check({ TEE_MODE = "PRODUCTION", TEE_VENDOR = "phala", WALLET_SECRET_SALT = "secret_salty" }), true)
end)

local MODE_ERR = "TEE_MODE must be one of PHALA_DSTACK, TDX_DSTACK, PRODUCTION, LOCAL, DOCKER, SIMULATOR, NONE, OFF "
  .. "(case-sensitive, no spaces) or unset; got "
local VENDOR_ERR = "TEE_VENDOR must be phala (lower case, no spaces) or unset; got "
local SHORT = "WALLET_SECRET_SALT is too short: it must have at least 8 characters, not counting leading and "
  .. "trailing whitespace"
local LONG = "WALLET_SECRET_SALT is too long: it must have at most 128 characters, not counting leading and "
  .. "trailing whitespace"

t.test("config: lower-case, padded, empty and unknown values are refused with exact messages", function()
  local cases = {
    { { TEE_MODE = "local" }, MODE_ERR .. '"local"' },
    { { TEE_MODE = "Production" }, MODE_ERR .. '"Production"' },
    { { TEE_MODE = " LOCAL" }, MODE_ERR .. '" LOCAL"' },
    { { TEE_MODE = "LOCAL\n" }, MODE_ERR .. '"LOCAL\\\n"' },
    { { TEE_MODE = "" }, MODE_ERR .. '""' },
    { { TEE_MODE = "INVALID_MODE" }, MODE_ERR .. '"INVALID_MODE"' },
    { { TEE_MODE = string.rep("X", 100) }, MODE_ERR .. '"' .. string.rep("X", 64) .. '..."' },
    { { TEE_MODE = 1 }, "TEE_MODE must be a string, got number" },
    { { TEE_VENDOR = "PHALA" }, VENDOR_ERR .. '"PHALA"' },
    { { TEE_VENDOR = " phala" }, VENDOR_ERR .. '" phala"' },
    { { TEE_VENDOR = "" }, VENDOR_ERR .. '""' },
    { { TEE_VENDOR = "intel" }, VENDOR_ERR .. '"intel"' },
    { { WALLET_SECRET_SALT = "short" }, SHORT },
    { { WALLET_SECRET_SALT = "" }, SHORT },
    { { WALLET_SECRET_SALT = "          " }, SHORT },
    { { WALLET_SECRET_SALT = "  1234567  " }, SHORT },
    { { WALLET_SECRET_SALT = string.rep("é", 7) }, SHORT },
    { { WALLET_SECRET_SALT = string.rep("a", 129) }, LONG },
    { { WALLET_SECRET_SALT = string.rep("é", 129) }, LONG },
  }
  for _, case in ipairs(cases) do
    local ok, errors = config.check(case[1])
    local what = string.format("%q", tostring(next(case[1])) .. "=" .. tostring(select(2, next(case[1]))))
    t.eq(ok, nil, what)
    t.eq(errors, { case[2] }, what)
  end
end)

t.test("config: every bad variable is reported, in order, and the salt's value never appears", function()
  local salt = "s3cr3t!"
  local ok, errors = config.check({ TEE_MODE = "local", TEE_VENDOR = "PHALA", WALLET_SECRET_SALT = salt })
  t.eq(ok, nil)
  t.eq(errors, { MODE_ERR .. '"local"', VENDOR_ERR .. '"PHALA"', SHORT })
  for _, e in ipairs(errors) do t.ok(not e:find(salt, 1, true), e) end
  local _, long_errors = config.check({ WALLET_SECRET_SALT = string.rep("k", 200) })
  t.ok(not long_errors[1]:find("kkkkkkkk", 1, true), long_errors[1])
  t.raises("env must be a table or nil, got string", config.check, "TEE_MODE=LOCAL")
end)

t.test("config: check() with no table reads the process environment", function()
  local env = {}
  for _, k in ipairs({ "TEE_MODE", "TEE_VENDOR", "WALLET_SECRET_SALT" }) do env[k] = os.getenv(k) end
  t.eq(table.pack(config.check()), table.pack(config.check(env)))
end)

t.test("the copy of Mr. TEE compiled into the binary loads (package.embedded)", function()
  local text = assert(package.embedded("characters/mr_tee.lua"))
  local c = assert(character.load_text(text, "characters/mr_tee.lua"))
  t.eq(c.name, "Mr. TEE")
  local none, why = package.embedded("characters/nope.lua")
  t.eq(none, nil)
  t.ok(why:find("no embedded file", 1, true), why)
end)

t.run()
