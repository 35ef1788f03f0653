-- tests/lua/test_models.lua — the agent's two models: the built-in offline model (action choice
-- by name, simile and validate; replies from the nearest message example; the bio fallback;
-- determinism) and the OpenAI-compatible client against a fake chat server on loopback (request
-- shape, tolerant <response> parsing, HTTP errors, bad JSON, timeouts, the key kept out of logs
-- and out of a child process's real stderr).
local t = require "harness"
local offline = require "agent.models.offline"
local openai = require "agent.models.openai"

-- luacheck: ignore 211/srv (servers held open by <close> only)
local KEY = "sk-test-SECRET-4f2a9c0d17"

-- A private temp dir for the child process's script and output.
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -m 700 " .. tmp))

local function character()
  return {
    name = "Sergeant Enclave",
    system = "You are Sergeant Enclave, a drill instructor for trusted computing.",
    bio = { "enclave enforcer", "Turned street smarts into cryptographic discipline.", "attestation authority" },
    topics = { "remote attestation", "key derivation", "TDX" },
    adjectives = { "loud", "precise" },
    style = { all = { "Be commanding." }, chat = { "Keep answers short." } },
    message_examples = {
      {
        { name = "{{user}}", content = { text = "What is a TEE?" } },
        { name = "Sergeant Enclave", content = { text = "A vault inside the CPU, {{user}}. Nobody peeks." } },
      },
      {
        { name = "{{user}}", content = { text = "How does remote attestation work?" } },
        { name = "{{agentName}}", content = { text = "The CPU signs what runs. You check the signature." } },
      },
      {
        { name = "{{user}}", content = { text = "Can you generate an attestation report?" } },
        { name = "Sergeant Enclave",
          content = { text = "Report coming up, soldier.", actions = { "REPLY", "REMOTE_ATTESTATION" } } },
      },
      {
        { name = "{{user}}", content = { text = "Can you generate an attestation report?" } },
        { name = "Sergeant Enclave", content = { text = "Second answer to the same words.", actions = { "REPLY" } } },
      },
      {
        { name = "{{user}}", content = { text = "Tell me about secure key derivation" } },
        { name = "Sergeant Enclave", content = { text = "Keys come from the measurement. Same code, same key." } },
      },
    },
  }
end

local function actions(opts)
  opts = opts or {}
  return {
    { name = "REPLY", similes = { "RESPOND" }, description = "Reply in words" },
    { name = "IGNORE", similes = {}, description = "Stay silent" },
    { name = "REMOTE_ATTESTATION", similes = { "TEE_QUOTE", "ATTEST", "QUOTE", "PROVE" },
      description = "Generate a remote attestation", validate = opts.validate },
    { name = "SEND_TOKENS", similes = { "TRANSFER" }, description = "Send tokens" },
  }
end

local function ctx_for(text, opts)
  opts = opts or {}
  return {
    character = opts.character or character(),
    message = { text = text, user = "alice", room = "room-1" },
    actions = opts.actions or actions(opts),
    state = { text = opts.state or "# Time\nIt is noon." },
  }
end

-- Offline model ----------------------------------------------------------------------------

t.test("offline: the same input gives the same output, also from fresh tables", function()
  local ctx = ctx_for("Please prove you run in a TEE and explain remote attestation")
  local a = offline.respond(ctx)
  local b = offline.respond(ctx)
  local c = offline.respond(ctx_for("Please prove you run in a TEE and explain remote attestation"))
  t.eq(b, a)
  t.eq(c, a)
  t.eq(type(a.thought), "string")
  t.eq(a.actions, { "REPLY", "REMOTE_ATTESTATION" })
end)

t.test("offline: an action is chosen by its name as a phrase, case-insensitively", function()
  local res = offline.respond(ctx_for("run a Remote-Attestation for me"))
  t.eq(res.actions, { "REPLY", "REMOTE_ATTESTATION" })
  t.contains(res.thought, "REMOTE_ATTESTATION matched 'REMOTE_ATTESTATION'")
end)

t.test("offline: an action is chosen by a simile; plurals count; unrelated actions are not", function()
  t.eq(offline.respond(ctx_for("PROVE IT, sergeant!")).actions, { "REPLY", "REMOTE_ATTESTATION" })
  local res = offline.respond(ctx_for("show me your quotes"))
  t.eq(res.actions, { "REPLY", "REMOTE_ATTESTATION" })
  t.contains(res.thought, "matched 'QUOTE'")
  t.eq(offline.respond(ctx_for("transfer 5 tokens to bob")).actions, { "REPLY", "SEND_TOKENS" })
  -- "attestations" is not the word "attest": whole words only
  t.eq(offline.respond(ctx_for("attested? attesting?")).actions, { "REPLY" })
  -- control actions are never picked by keyword
  t.eq(offline.respond(ctx_for("ignore this and respond")).actions, { "REPLY" })
end)

t.test("offline: validate=false or an erroring validate excludes the action; validate sees the message", function()
  local seen
  local res = offline.respond(ctx_for("prove it", { validate = function(m) seen = m return false end }))
  t.eq(res.actions, { "REPLY" })
  t.eq(seen and seen.text, "prove it")
  t.eq(offline.respond(ctx_for("prove it", { validate = function() error("no TEE") end })).actions, { "REPLY" })
  t.eq(offline.respond(ctx_for("prove it", { validate = function() return true end })).actions,
    { "REPLY", "REMOTE_ATTESTATION" })
end)

t.test("offline: the reply comes from the nearest example, with placeholders filled", function()
  local res = offline.respond(ctx_for("how does attestation work"))
  t.eq(res.text, "The CPU signs what runs. You check the signature.")
  t.contains(res.thought, "example 2")
  res = offline.respond(ctx_for("so what is a tee?"))
  t.eq(res.text, "A vault inside the CPU, alice. Nobody peeks.")
  t.eq(res.actions, { "REPLY" })
  res = offline.respond(ctx_for("explain key derivation"))
  t.eq(res.text, "Keys come from the measurement. Same code, same key.")
end)

t.test("offline: a tie goes to the earlier example, whose available actions are reused", function()
  local res = offline.respond(ctx_for("could you generate a report"))
  t.eq(res.text, "Report coming up, soldier.")
  t.eq(res.actions, { "REPLY", "REMOTE_ATTESTATION" })
  t.contains(res.thought, "REMOTE_ATTESTATION from the example")
  -- the example's action is not reused when the action is not available
  local avail = actions()
  table.remove(avail, 3)
  res = offline.respond(ctx_for("could you generate a report", { actions = avail }))
  t.eq(res.text, "Report coming up, soldier.")
  t.eq(res.actions, { "REPLY" })
end)

t.test("offline: with no similar example the text is built from name, bio and topics", function()
  local res = offline.respond(ctx_for("banana smoothie recipe"))
  t.contains(res.text, "Sergeant Enclave here.")
  t.contains(res.text, "Ask me about remote attestation, key derivation, TDX.")
  local bio_hits = 0
  for _, b in ipairs(character().bio) do
    if res.text:find(b, 1, true) then bio_hits = bio_hits + 1 end
  end
  t.eq(bio_hits, 1, "exactly one bio entry is used")
  t.eq(res.actions, { "REPLY" })
  t.contains(res.thought, "no similar example")
  t.eq(offline.respond(ctx_for("banana smoothie recipe")).text, res.text)
  local c = character()
  c.message_examples, c.topics, c.bio = nil, nil, "Guards enclaves"
  t.eq(offline.respond(ctx_for("hello", { character = c })).text,
    "Sergeant Enclave here. Sergeant Enclave, Guards enclaves, at your service.")
end)

t.test("offline: misuse raises", function()
  t.raises("ctx needs a character and a message", offline.respond, { message = {} })
end)

-- OpenAI-compatible client ------------------------------------------------------------------

local WELL = "<response><thought>They want proof.</thought><actions>REPLY, REMOTE_ATTESTATION</actions>"
  .. "<text>Proof coming &amp; fast &lt;3</text></response>"

local function completion(content)
  return { status = 200, json = { id = "c1", object = "chat.completion",
    choices = { { index = 0, message = { role = "assistant", content = content }, finish_reason = "stop" } } } }
end

-- Answers chosen by the user message's text.
local SCENARIOS = {
  ["well-formed"] = function() return completion(WELL) end,
  fenced = function()
    return completion("Here you go:\n```xml\n" .. WELL .. "\n```\nAnything else?")
  end,
  ["no-actions"] = function()
    return completion("<response><thought>Just talk.</thought><text>Words only.</text></response>")
  end,
  plain = function() return completion("  Plain words, no XML at all.\n") end,
  ["401"] = function() return { status = 401, json = { error = { message = "bad key", type = "auth" } } } end,
  ["500"] = function() return { status = 500, body = "upstream exploded" } end,
  ["echo-key"] = function(req)
    return { status = 400, json = { error = { message = "key " .. req.headers.authorization .. " rejected" } } }
  end,
  badjson = function()
    return { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"choices": [' }
  end,
  ["no-content"] = function() return completion(json.null) end,
  slow = function() task.sleep(1) return completion(WELL) end,
}

local function fake_chat()
  local seen = {}
  local srv = assert(http.serve { port = 0, handler = function(req)
    local body = json.decode(req.body)
    seen[#seen + 1] = { method = req.method, path = req.path, headers = req.headers, body = body }
    if req.path ~= "/v1/chat/completions" then return { status = 404, json = { error = { message = "no route" } } } end
    return SCENARIOS[body.messages[2].content](req)
  end })
  return srv, seen, "http://127.0.0.1:" .. srv:port() .. "/v1"
end

local function client(url, opts)
  local logs = {}
  opts = opts or {}
  local m = openai.new { base_url = url, api_key = not opts.no_key and KEY, model = "test-model",
                         timeout = opts.timeout or 5, log = function(line) logs[#logs + 1] = line end }
  return m, logs
end

local function no_key_in(list)
  for _, s in ipairs(list) do t.ok(not s:find(KEY, 1, true), "the key leaked into: " .. s) end
end

t.test("openai: the request has the path, bearer key, model and system+user messages", function()
  local srv <close>, seen, url = fake_chat()
  local m = client(url .. "/")
  local res = assert(m.respond(ctx_for("well-formed", { validate = function() return false end })))
  t.eq(res.text, "Proof coming & fast <3")
  local r = seen[1]
  t.eq({ r.method, r.path, r.headers.authorization }, { "POST", "/v1/chat/completions", "Bearer " .. KEY })
  t.contains(r.headers["content-type"], "application/json")
  t.eq(r.body.model, "test-model")
  t.eq(#r.body.messages, 2)
  t.eq({ r.body.messages[1].role, r.body.messages[2].role }, { "system", "user" })
  t.eq(r.body.messages[2].content, "well-formed")
  local sys = r.body.messages[1].content
  for _, want in ipairs { "You are Sergeant Enclave, a drill instructor", "- enclave enforcer", "- TDX",
      "- loud", "- Be commanding.", "- Keep answers short.", "- SEND_TOKENS: Send tokens (also: TRANSFER)",
      "# Context\n# Time\nIt is noon.", "<response>", "<thought>", "<actions>", "<text>", "REPLY first" } do
    t.contains(sys, want)
  end
  t.ok(not sys:find("REMOTE_ATTESTATION", 1, true), "an action whose validate fails is not offered")
end)

t.test("openai: without a key there is no Authorization header", function()
  local srv <close>, seen, url = fake_chat()
  local m = client(url, { no_key = true })
  assert(m.respond(ctx_for("well-formed")))
  t.eq(seen[1].headers.authorization, nil)
  t.eq(#seen, 1)
end)

t.test("openai: a well-formed <response> gives thought, actions and unescaped text, no log", function()
  local srv <close>, _, url = fake_chat()
  local m, logs = client(url)
  local res, err = m.respond(ctx_for("well-formed"))
  t.eq(err, nil)
  t.eq(res, { thought = "They want proof.", actions = { "REPLY", "REMOTE_ATTESTATION" },
              text = "Proof coming & fast <3" })
  t.eq(logs, {})
end)

t.test("openai: a <response> inside ```xml fences with text around it parses the same, no log", function()
  local srv <close>, _, url = fake_chat()
  local m, logs = client(url)
  t.eq(m.respond(ctx_for("fenced")), { thought = "They want proof.", actions = { "REPLY", "REMOTE_ATTESTATION" },
                                       text = "Proof coming & fast <3" })
  t.eq(logs, {})
end)

t.test("openai: a missing <actions> gives no actions and one log line", function()
  local srv <close>, _, url = fake_chat()
  local m, logs = client(url)
  t.eq(m.respond(ctx_for("no-actions")), { thought = "Just talk.", actions = {}, text = "Words only." })
  t.eq(#logs, 1)
  t.contains(logs[1], "model: test-model reply is not the requested XML (missing or unclosed <actions>")
  t.ok(not logs[1]:find("\n"), "one line")
end)

t.test("openai: plain text with no XML becomes the whole text, no actions, one log line", function()
  local srv <close>, _, url = fake_chat()
  local m, logs = client(url)
  t.eq(m.respond(ctx_for("plain")), { thought = "", actions = {}, text = "Plain words, no XML at all." })
  t.eq(#logs, 1)
  t.contains(logs[1], "(no <response> XML, 30 bytes)")
  t.ok(not logs[1]:find("Plain words", 1, true), "the log line does not carry the body")
end)

t.test("openai: HTTP errors give nil and 'model: <status> <error.message>'", function()
  local srv <close>, _, url = fake_chat()
  local m, logs = client(url)
  t.eq({ m.respond(ctx_for("401")) }, { nil, "model: 401 bad key", "EHTTP" })
  t.eq({ m.respond(ctx_for("500")) }, { nil, "model: 500 upstream exploded", "EHTTP" })
  local res, err = m.respond(ctx_for("echo-key"))
  t.eq(res, nil)
  t.eq(err, "model: 400 key Bearer *** rejected")
  t.eq(logs, {})
end)

t.test("openai: malformed JSON or no content gives nil and says so", function()
  local srv <close>, _, url = fake_chat()
  local m = client(url)
  local res, err, code = m.respond(ctx_for("badjson"))
  t.eq({ res, code }, { nil, "EPROTO" })
  t.contains(err, "model: 200 answer is not JSON: json: unexpected end of input")
  res, err = m.respond(ctx_for("no-content"))
  t.eq({ res, err }, { nil, "model: 200 answer has no choices[1].message.content" })
end)

t.test("openai: an answer slower than the timeout gives nil, a timeout message and ETIMEDOUT", function()
  local srv <close>, _, url = fake_chat()
  local m = client(url, { timeout = 0.3 })
  local started = task.now()
  local res, err, code = m.respond(ctx_for("slow"))
  t.eq({ res, code }, { nil, "ETIMEDOUT" })
  t.contains(err, "model: request to " .. url .. "/chat/completions failed: ")
  t.contains(err, "timed out")
  t.ok(task.now() - started < 1.5, "returned at the timeout")
end)

t.test("openai: a refused connection and a bad URL give nil, never raise", function()
  local srv, _, url = fake_chat()
  srv:close()
  local res, err, code = client(url).respond(ctx_for("well-formed"))
  t.eq({ res, code }, { nil, "ECONNREFUSED" })
  t.contains(err, "model: request to " .. url .. "/chat/completions failed")
  res, err = client("notaurl").respond(ctx_for("well-formed"))
  t.eq(res, nil)
  t.contains(err, "model: request to notaurl/chat/completions failed")
end)

t.test("openai: misuse raises", function()
  t.raises("ctx needs a character and a message", client("http://127.0.0.1:1").respond, { character = {} })
end)

t.test("openai: parse is tolerant: unclosed <text>, no wrapper, nested tags, entities", function()
  t.eq({ openai.parse("<response><thought>x</thought><actions>REPLY</actions><text>cut off") },
    { { thought = "x", actions = { "REPLY" }, text = "cut off" }, "missing or unclosed <text>" })
  local res, why = openai.parse("<thought>a</thought><actions> A ,, B </actions><text>&quot;hi&apos;</text>")
  t.eq(res, { thought = "a", actions = { "A", "B" }, text = "\"hi'" })
  t.eq(why, "missing or unclosed <response>")
  res = openai.parse("<response><thought>t</thought><actions></actions><text>a <text>b</text> c</text></response>")
  t.eq(res, { thought = "t", actions = {}, text = "a <text>b</text> c" })
  res, why = openai.parse("Format: <text>sample</text>\n<response><thought>t</thought><actions>REPLY</actions>"
    .. "<text>real</text></response>")
  t.eq({ res, why }, { { thought = "t", actions = { "REPLY" }, text = "real" }, nil })
  t.eq({ openai.parse(nil) }, { { thought = "", actions = {}, text = "" }, "no <response> XML" })
end)

-- Runs `teehost script` in the background (a blocking os.execute would stop the fake server in
-- this process) with stdout and stderr captured apart; returns both and the exit status.
local children = 0
local function child(env_prefix, script)
  children = children + 1
  local base = string.format("%s/child%d", tmp, children)
  local f = assert(io.open(base .. ".lua", "w"))
  f:write(script)
  f:close()
  os.execute(string.format("(env -u OPENAI_BASE_URL -u OPENAI_API_KEY -u OPENAI_MODEL -u OPENAI_TIMEOUT %s %s %s.lua"
    .. " > %s.out 2> %s.err; echo $? > %s.rc.tmp; mv %s.rc.tmp %s.rc) &",
    env_prefix, os.getenv("TEEHOST"), base, base, base, base, base, base))
  local deadline = task.now() + 60
  while not io.open(base .. ".rc") and task.now() < deadline do task.sleep(0.05) end
  local rc = assert(io.open(base .. ".rc"), "the child teehost did not finish"):read("n")
  return io.open(base .. ".out"):read("a"), io.open(base .. ".err"):read("a"), rc
end

local CHILD = [[
local openai = require "agent.models.openai"
local defaults = openai.new()
print(defaults.base_url, defaults.model)
local ctx = { character = { name = "N" }, message = { text = ARG }, actions = {}, state = {} }
local res, err = openai.respond(ctx)
if res then print(res.text) else io.stderr:write(err, "\n") end
]]

local function child_script(text)
  return (CHILD:gsub("ARG", string.format("%q", text)))
end

if os.getenv("TEEHOST") then
  t.test("openai: env settings are used; the key never reaches the real stderr", function()
    local srv <close>, seen, url = fake_chat()
    local env = string.format("OPENAI_BASE_URL='%s' OPENAI_API_KEY='%s' OPENAI_MODEL=env-model", url, KEY)
    local out, err, rc = child(env, child_script("plain"))
    t.eq(rc, 0, err)
    t.eq(out, url .. "\tenv-model\nPlain words, no XML at all.\n")
    t.contains(err, "model: env-model reply is not the requested XML (no <response> XML, 30 bytes)")
    t.eq(select(2, err:gsub("\n", "")), 1, "exactly one line on stderr: " .. err)
    t.eq({ seen[1].body.model, seen[1].headers.authorization }, { "env-model", "Bearer " .. KEY })
    out, err, rc = child(env, child_script("echo-key"))
    t.eq(rc, 0, err)
    t.eq(err, "model: 400 key Bearer *** rejected\n")
    no_key_in { out, err }
  end)

  t.test("openai: defaults without env: api.openai.com, gpt-4o-mini", function()
    local out, _, rc = child("", "local m = require('agent.models.openai').new() print(m.base_url, m.model)")
    t.eq(rc, 0)
    t.eq(out, "https://api.openai.com/v1\tgpt-4o-mini\n")
  end)
else
  print("skip - openai child-process tests (TEEHOST not set)")
end

local ok, err = pcall(t.run)
os.execute("rm -rf " .. tmp)
if not ok then error(err, 0) end
