-- tests/lua/test_agent.lua — the agent runtime (agent/runtime.lua), the `tee` plugin, the starter
-- plugin and the REST API (agent/api.lua), in-process on the built-in simulator. Expected report
-- data is never computed here: it comes from a second quote over the same JSON (the TEE's own rule)
-- and from the quote itself, and quotes are checked by attest.verify under the simulated root.
local t = require "harness"
local character = require "agent.character"
local runtime = require "agent.runtime"
local offline = require "agent.models.offline"
local tee_plugin = require "agent.plugins.tee"
local starter = require "agent.plugins.mr_tee_starter"
local api = require "agent.api"

tee.use("builtin")

local function mr_tee()
  return assert(character.load_text(assert(package.embedded("characters/mr_tee.lua")), "characters/mr_tee.lua"))
end

local function new_agent(opts)
  opts = opts or {}
  local a = runtime.new { character = opts.character or mr_tee(), model = opts.model or offline, env = opts.env or {},
    log = function() end }
  for _, p in ipairs(opts.plugins or { tee_plugin }) do assert(a:register_plugin(p)) end
  return a
end

-- A model that always asks for the given actions (to test dispatch without the offline model's choices).
local function fixed_model(actions, text)
  return { name = "fixed", respond = function() return { thought = "", actions = actions, text = text or "" } end }
end

local function attachment_of(out)
  for _, r in ipairs(out.replies) do
    for _, a in ipairs(r.attachments) do
      if a.type == "tee-attestation" then return a, r end
    end
  end
  return nil
end

local function texts(out)
  local list = {}
  for _, r in ipairs(out.replies) do list[#list + 1] = r.text end
  return table.concat(list, "\n")
end

t.test("Mr. TEE loads and the tee plugin registers REMOTE_ATTESTATION with plugin-tee's similes in order", function()
  local a = new_agent()
  t.eq(a.name, "Mr. TEE")
  t.eq(a.id, character.id("Mr. TEE"))
  local action = a:find_action("REMOTE_ATTESTATION")
  t.ok(action, "REMOTE_ATTESTATION registered")
  t.eq(action.similes, { "REMOTE_ATTESTATION", "TEE_REMOTE_ATTESTATION", "TEE_ATTESTATION", "TEE_QUOTE",
    "ATTESTATION", "TEE_ATTESTATION_QUOTE" })
  t.eq(action.description, "Generate a remote attestation to prove that the agent is running in a TEE")
  t.eq(a:find_action("tee_quote"), action, "found by simile, case and _ ignored")
  t.eq(a:find_action("SEND_TOKENS"), nil)
end)

t.test("the report JSON has plugin-tee's key order and JSON.stringify's escaping", function()
  local s = tee_plugin.report_json("agent-1", 1700000000123,
    { entity_id = "e", room_id = "r", text = 'say "hi"\n\\ ünï' })
  t.eq(s, '{"agentId":"agent-1","timestamp":1700000000123,"message":{"entityId":"e","roomId":"r",'
    .. '"content":"say \\"hi\\"\\n\\\\ ünï"}}')
end)

t.test("asking for remote attestation returns a quote that verifies, bound to the returned JSON", function()
  local a = new_agent()
  local text = "please prove you run in a TEE — remote attestation"
  local out = a:handle { text = text, user = "ann", room = "r1" }
  t.eq(out.replies[1].actions, { "REPLY", "REMOTE_ATTESTATION" }, "the plan")
  local att, r = attachment_of(out)
  t.ok(att, "an attestation attachment")
  t.contains(r.text, "RA quote")
  t.contains(r.text, "UpToDate")
  local v = assert(attest.verify(att.quote, { root = "simulator" }))
  t.eq(v.status, "UpToDate")
  t.eq(v.report.reportdata, att.report_data, "the reply's report_data is the quote's")
  -- Recompute: the same JSON quoted again must give the same report data (sha512("app-data:" ‖ json)).
  local again = assert(tee.tdx_quote(att.report_json))
  t.eq(attest.parse(again.quote).report.reportdata, att.report_data)
  local other = assert(tee.tdx_quote(att.report_json .. " "))
  t.ok(attest.parse(other.quote).report.reportdata ~= att.report_data, "another JSON gives other report data")
  local j = json.decode(att.report_json)
  t.eq(j.agentId, a.id)
  t.eq(j.message.content, text)
  t.eq(j.message.roomId, character.id("room:" .. a.id .. ":r1"))
  t.eq(j.message.entityId, character.id("user:ann"))
  t.ok(att.report_json:find('^{"agentId":"[^"]+","timestamp":%d+,"message":{"entityId":'), att.report_json)
  t.eq(att.verified.ok, true)
  t.eq(att.verified.root, "simulator")
  t.contains(r.text, att.report_json, "the JSON is published in the reply")
end)

t.test("on a current dstack agent the quote's report data is sha256(report JSON), zero-padded", function()
  local json_text = tee_plugin.report_json("a", 1, { entity_id = "e", room_id = "r", text = "x" })
  local q, rule = assert(tee_plugin.quote_report(json_text, "agent"))
  t.eq(rule, "sha256(report_json) || 32 zero bytes")
  -- SHA-256 of these exact bytes, computed with sha256sum:
  t.eq(json_text, '{"agentId":"a","timestamp":1,"message":{"entityId":"e","roomId":"r","content":"x"}}')
  t.eq(attest.parse(q.quote).report.reportdata,
    "874a5ea90fbb6637e1f232c55e023d5d44cb295a409587585affdf6ebf069efd" .. ("00"):rep(32))
end)

t.test("services: the tee plugin's service is reachable by name, stopped newest first", function()
  local agent = new_agent()
  local svc = t.ok(agent:service("tee"), "the tee service")
  t.eq(svc.endpoint().kind, "builtin")
  local k = assert(svc.get_key("svc/test", "p"))
  t.eq(#k:public_key(), 66)
  local stopped = {}
  local mk = function(name) return { name = name, start = function() return { name = name } end,
    stop = function(inst) stopped[#stopped + 1] = inst.name end } end
  assert(agent:register_plugin { name = "p1", services = { mk("a"), mk("b") } })
  local ok, why = agent:register_plugin { name = "p2", services = { mk("a") } }
  t.eq(ok, nil)
  t.ok(why:find("service a already exists", 1, true), why)
  ok, why = agent:register_plugin { name = "p3", services = { { name = "c", start = function() error("boom") end } } }
  t.eq(ok, nil)
  t.ok(why:find("service c: ", 1, true) and why:find("boom", 1, true), why)
  agent:stop()
  t.eq(stopped, { "b", "a" })
  t.eq(agent:service("tee"), nil)
end)

t.test("a simile chosen by the model dispatches REMOTE_ATTESTATION", function()
  local a = new_agent { model = fixed_model({ "TEE_QUOTE" }) }
  local out = a:handle { text = "anything" }
  t.ok(attachment_of(out), "attested via simile")
  t.eq(out.results[1].action, "REMOTE_ATTESTATION")
  t.eq(out.results[1].success, true)
end)

t.test("TEE_MODE none: the agent still answers and says attestation is unavailable", function()
  tee.use("none")
  local ok, err = pcall(function()
    local a = new_agent()
    local out = a:handle { text = "please prove you run in a TEE — remote attestation" }
    t.ok(#out.replies >= 2, "a text reply and the action's reply")
    t.ok(out.replies[1].text ~= "", "the agent answered")
    t.contains(texts(out), "Remote attestation is unavailable")
    t.eq(attachment_of(out), nil)
    t.contains(out.state.text, "remote attestation unavailable", "the provider says so too")
    local plain = a:handle { text = "what is a TEE?" }
    t.ok(#plain.replies >= 1 and plain.replies[1].text ~= "", "ordinary questions still answered")
  end)
  tee.use("builtin")
  assert(ok, err)
end)

t.test("a handler error becomes a reply naming the action and the error", function()
  local boom = { name = "boom", actions = { { name = "EXPLODE", description = "fails", similes = { "KABOOM" },
    handler = function() error("fuse lit at both ends") end } } }
  local a = new_agent { plugins = { boom }, model = fixed_model({ "REPLY", "KABOOM" }, "watch this") }
  local out = a:handle { text = "explode" }
  t.eq(out.replies[1].text, "watch this")
  t.contains(out.replies[2].text, "EXPLODE failed:")
  t.contains(out.replies[2].text, "fuse lit at both ends")
  t.eq(out.results[1].success, false)
end)

t.test("a handler that fails without answering, or a failing validate, is reported too", function()
  local p = { name = "p", actions = {
    { name = "QUIET_FAIL", description = "", handler = function() return { success = false, error = "disk full" } end },
    { name = "LOCKED", description = "", validate = function() return false, "needs a key" end,
      handler = function() error("must not run") end },
  } }
  local a = new_agent { plugins = { p }, model = fixed_model({ "QUIET_FAIL", "LOCKED", "NO_SUCH_ACTION" }) }
  local out = a:handle { text = "go" }
  t.eq(#out.replies, 2)
  t.eq(out.replies[1].text, "QUIET_FAIL failed: disk full")
  t.eq(out.replies[2].text, "LOCKED is not available: needs a key")
  t.eq(out.results[3], { action = "NO_SUCH_ACTION", success = false, error = "unknown action" })
end)

t.test("should-respond: no answer to an empty text or to the agent itself; IGNORE sends nothing", function()
  local a = new_agent()
  t.eq(#a:handle({ text = "   " }).replies, 0)
  t.eq(#a:handle({ text = "remote attestation", user = "Mr. TEE" }).replies, 0)
  local b = new_agent { model = fixed_model({ "IGNORE" }, "") }
  t.eq(#b:handle({ text = "hello" }).replies, 0)
end)

t.test("a model failure becomes a reply that says so", function()
  local a = new_agent { model = { respond = function() return nil, "model: 503 overloaded" end } }
  local out = a:handle { text = "hello" }
  t.eq(out.replies[1].text, "Sorry, my model failed: model: 503 overloaded")
end)

t.test("a provider error is reported in the state and the message is still answered", function()
  local p = { name = "p", providers = {
    { name = "BROKEN", get = function() error("socket gone", 0) end },
    { name = "FINE", get = function() task.sleep(0.01) return { text = "fine text", values = { fine = 1 } } end },
  } }
  local a = new_agent { plugins = { tee_plugin, p } }
  local out = a:handle { text = "what is a TEE?" }
  t.eq(out.state.errors.BROKEN, "socket gone")
  t.contains(out.state.text, "provider BROKEN failed: socket gone")
  t.contains(out.state.text, "fine text")
  t.eq(out.state.values.fine, 1)
  t.contains(out.state.text, "TEE: built-in simulator")
  t.ok(out.replies[1] and out.replies[1].text ~= "", "answered")
end)

t.test("providers run concurrently", function()
  local p = { name = "slow", providers = {} }
  for i = 1, 5 do p.providers[i] = { name = "S" .. i, get = function() task.sleep(0.1) return { text = "" } end } end
  local a = new_agent { plugins = { p } }
  local t0 = task.now()
  a:handle { text = "hello" }
  t.ok(task.now() - t0 < 0.35, "five 0.1 s providers took " .. (task.now() - t0) .. " s")
end)

t.test("the wallet provider derives plugin-tee's addresses once, from the salt", function()
  local a = new_agent { env = { WALLET_SECRET_SALT = "secret_salty" } }
  local w = assert(tee.eliza_derive("secret_salty"))
  local state = a:compose_state({ room_id = "x", text = "" })
  t.eq(state.values.evm_address, w.evm_address)
  t.eq(state.values.solana_public_key, w.solana_public_key)
  local b = new_agent()
  t.contains(b:compose_state({ room_id = "x", text = "" }).text, "Wallet secret salt is not configured")
end)

t.test("memory: the message and the replies are written, per room", function()
  local a = new_agent()
  a:handle { text = "what is a TEE?", user = "ann", room = "one" }
  a:handle { text = "hello there", user = "bob", room = "two" }
  local one = assert(a:recent(character.id("room:" .. a.id .. ":one"), 10))
  t.eq(one[1].user, "ann")
  t.eq(one[1].text, "what is a TEE?")
  t.eq(one[2].user, "Mr. TEE")
  for _, r in ipairs(one) do t.ok(r.user ~= "bob", "room two does not leak into room one") end
end)

t.test("the sealed store works as the agent's memory", function()
  local sealed = require "agent.sealed"
  local st = assert(sealed.open("agent-test-h11", "test"))
  local a = runtime.new { character = mr_tee(), model = offline, store = st, env = {}, log = function() end }
  local room = "sealed-" .. runtime.now_ms() -- the store file outlives this run
  a:handle { text = "hello", room = room }
  local list = assert(a:recent(character.id("room:" .. a.id .. ":" .. room), 5))
  t.eq(#list, 2)
  t.eq(list[1].text, "hello")
  t.eq(list[2].user, "Mr. TEE")
  st:close()
end)

t.test("the starter plugin's config check stops an invalid configuration, naming each variable", function()
  local a = runtime.new { character = mr_tee(), model = offline, env = { TEE_MODE = "prod", WALLET_SECRET_SALT = "x" },
    log = function() end }
  local ok, err = a:register_plugin(starter)
  t.eq(ok, nil)
  t.contains(err, "TEE_MODE must be one of")
  t.contains(err, "WALLET_SECRET_SALT is too short")
  local b = runtime.new { character = mr_tee(), model = offline, env = { TEE_MODE = "SIMULATOR" },
    log = function() end }
  t.eq(b:register_plugin(starter), true)
end)

-- ---- the REST API ---------------------------------------------------------------------------

local function with_api(agent, fn)
  local srv = assert(api.serve { agents = { agent }, port = 0 })
  local base = "http://127.0.0.1:" .. srv:port()
  local ok, err = pcall(fn, base)
  srv:close()
  assert(ok, err)
end

local function post(url, body)
  return assert(http.request { url = url, method = "POST", body = body,
    headers = { ["content-type"] = "application/json" } })
end

t.test("REST API: health, agents, message with attestation, errors", function()
  local a = new_agent { plugins = { tee_plugin, starter }, env = { TEE_MODE = "SIMULATOR" } }
  with_api(a, function(base)
    local h = assert(http.request(base .. "/health"))
    t.eq(h.status, 200)
    t.eq(json.decode(h.body), { status = "ok", agent = "Mr. TEE", tee = "builtin" })
    local list = json.decode(assert(http.request(base .. "/api/agents")).body)
    t.eq(list, { { id = a.id, name = "Mr. TEE" } })
    local r = post(base .. "/api/agents/" .. a.id .. "/message",
      json.encode { text = "remote attestation please", user = "ann", room = "api" })
    t.eq(r.status, 200)
    local body = json.decode(r.body)
    t.eq(body.replies[1].actions, { "REPLY", "REMOTE_ATTESTATION" })
    local att = body.replies[2].attachments[1]
    t.eq(assert(attest.verify(att.quote, { root = "simulator" })).report.reportdata, att.report_data)
    local bad = post(base .. "/api/agents/" .. a.id .. "/message", "{not json")
    t.eq(bad.status, 400)
    t.contains(json.decode(bad.body).error, "not JSON")
    bad = post(base .. "/api/agents/" .. a.id .. "/message", json.encode { text = 5 })
    t.eq(bad.status, 400)
    t.eq(json.decode(bad.body).error, "field text: expected a non-empty string")
    bad = post(base .. "/api/agents/" .. a.id .. "/message", json.encode { text = "x", room = {} })
    t.eq(json.decode(bad.body).error, "field room: expected a string")
    local missing = post(base .. "/api/agents/00000000-0000-0000-0000-000000000000/message", json.encode { text = "x" })
    t.eq(missing.status, 404)
    t.contains(json.decode(missing.body).error, "no agent with id")
    t.eq(assert(http.request(base .. "/nowhere")).status, 404)
    t.eq(assert(http.request(base .. "/api/agents/" .. a.id .. "/message")).status, 405)
  end)
end)

t.test("REST API: attestation with a nonce verifies and carries the nonce as report data", function()
  local a = new_agent()
  with_api(a, function(base)
    local r = assert(http.request(base .. "/api/attestation?nonce=00ff" .. ("ab"):rep(30)))
    t.eq(r.status, 200)
    local body = json.decode(r.body)
    t.eq(body.verified.ok, true)
    t.eq(body.verified.status, "UpToDate")
    local v = assert(attest.verify(body.quote, { root = "simulator" }))
    t.eq(v.report.reportdata, "00ff" .. ("ab"):rep(30) .. ("00"):rep(32))
    t.eq(body.report_data, v.report.reportdata)
    t.eq(attest.check_event_log(body.quote, body.event_log), true)
    for _, q in ipairs { "", "?nonce=abc", "?nonce=zz", "?nonce=" .. ("00"):rep(65) } do
      local e = assert(http.request(base .. "/api/attestation" .. q))
      t.eq(e.status, 400, q)
      t.contains(json.decode(e.body).error, "nonce")
    end
  end)
end)

t.test("REST API: the starter's status routes", function()
  local a = new_agent { plugins = { tee_plugin, starter }, env = { TEE_MODE = "SIMULATOR" } }
  with_api(a, function(base)
    local s = json.decode(assert(http.request(base .. "/mr-tee-status")).body)
    t.eq(s, { message = "Mr. TEE is operational, fool!", tee_mode = "SIMULATOR", tee_vendor = "phala",
      tee = "builtin" })
    local p = json.decode(assert(http.request(base .. "/public/tee-status")).body)
    t.eq(p, { status = "active", tee_enabled = true, vendor = "phala" })
    t.eq(assert(http.request { url = base .. "/mr-tee-status", method = "POST", body = "" }).status, 405)
  end)
end)

t.test("optional upload: the report link on success, the server's error on failure", function()
  local fail_next = false
  local seen
  local fake = assert(http.serve { port = 0, handler = function(req)
    seen = req
    if fail_next then return { status = 429, json = { error = "Too many requests. Please try again later." } } end
    return { status = 200, json = { success = true, checksum = "c0ffee" } }
  end })
  local url = "http://127.0.0.1:" .. fake:port() .. "/api/upload"
  local ok, err = pcall(function()
    local a = new_agent { env = { TEE_ATTESTATION_UPLOAD_URL = url } }
    local out = a:handle { text = "remote attestation" }
    local att, r = attachment_of(out)
    t.contains(r.text, "Report: http://127.0.0.1:" .. fake:port() .. "/reports/c0ffee")
    t.eq(att.upload.ok, true)
    t.contains(seen.headers["content-type"], "multipart/form-data; boundary=")
    t.contains(seen.body, 'name="file"; filename="quote.bin"')
    local bytes = att.quote:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)
    t.contains(seen.body, "application/octet-stream\r\n\r\n" .. bytes .. "\r\n--", "the raw quote bytes")
    fail_next = true
    local _, r2 = attachment_of(a:handle { text = "remote attestation" })
    t.contains(r2.text, "failed: HTTP 429: Too many requests")
  end)
  fake:close()
  assert(ok, err)
end)

t.run()
