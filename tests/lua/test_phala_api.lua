-- tests/lua/test_phala_api.lua — the phala module (core/phala_api + core/phala_key through the
-- real bindings) against the faithful fake Phala Cloud API (fake_phala_cloud.lua): every
-- endpoint, the headers and bodies that reach the server, error answers quoted with their
-- detail, retries counted on the server, timeouts that do not hang, phala.wait, the key files,
-- and the environment variables (in a child teehost, since a script cannot set its own env).
-- luacheck: ignore 211/srv (servers are closed by their <close> variables)
local t = require "harness"
local fake = require "fake_phala_cloud"

local KEY = fake.API_KEY
local DEMO = fake.DEMO_APP_ID
local DEMO_UUID = "3e9b5f1c-7a2d-4c8e-9f01-2b3c4d5e6f70"
local COMPOSE = "services:\n  app:\n    image: alice/teehost-demo:0.1.0\n    ports:\n      - \"3000:3000\"\n"

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -m 700 " .. tmp))

-- A fresh fake and a client for it; fast retries so that error paths take milliseconds.
local function setup(fake_opts, client_opts)
  local srv, state = fake.start(fake_opts)
  local o = { api_key = KEY, base_url = state.url, retry_delay = 0.01, timeout = 5 }
  for k, v in pairs(client_opts or {}) do o[k] = v end
  local c = assert(phala.client(o))
  return srv, state, c
end


-- The provision body phala 1.0.35 `deploy` sends (cli-1.0.35-captured-requests.json).
local function provision_body(name, allowed)
  return { name = name, compose_file = { docker_compose_file = COMPOSE, allowed_envs = json.array(allowed or {}),
                                         name = name },
           vcpu = 1, memory = 2048, disk_size = 40, image = "dstack-0.5.3", teepod_id = 3 }
end

local function deploy(c, name, extra)
  local p = assert(c:provision(provision_body(name)))
  local body = { app_id = p.app_id, compose_hash = p.compose_hash }
  for k, v in pairs(extra or {}) do body[k] = v end
  return assert(c:commit(body)), p
end

-- ---- the fake itself --------------------------------------------------------------------------

t.test("the fake's SHA-256 reproduces the vectors' compose hash and env key", function()
  t.eq(fake.sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  t.eq(fake.sha256_hex(fake.DEMO_COMPOSE), fake.DEMO_COMPOSE_HASH)
  t.eq(fake.DEMO_COMPOSE_HASH:sub(1, 40), DEMO)
  t.eq(fake.sha256_hex(fake.ENV_PRIVKEY_DERIVATION),
    "2e64dc64a640e416ecc13928e7c35635eaf1f2831c3178ec279afc3f88047cd0")
  t.eq(json.encode(json.decode(fake.DEMO_COMPOSE)), fake.DEMO_COMPOSE, "stored text is json.encode's")
end)

-- ---- transport ----------------------------------------------------------------------------------

t.test("every request carries the headers of spec 1.2; the key never shows in tostring", function()
  local srv <close>, state, c = setup()
  local me = assert(c:me())
  t.eq({ me.username, me.email, me.team_name, me.credits }, { "alice", "alice@example.com", "alice-team", 10.5 })
  local h = state.last().headers
  t.eq(h["x-api-key"], KEY)
  t.eq(h["x-phala-version"], "2025-05-31")
  t.eq(h["content-type"], "application/json")
  t.eq(h["accept"], "*/*")
  t.ok(h["user-agent"]:match("^teehost/"), h["user-agent"])
  t.eq(state.last().path, "/auth/me")
  t.eq(state.last().body, "")
  t.ok(not tostring(c):find(KEY, 1, true) and not tostring(c):find("phak", 1, true), tostring(c))
  t.contains(tostring(c), state.url)
  t.eq(c:base_url(), state.url)
end)

t.test("the prefix is joined with exactly one slash", function()
  local srv <close>, state = fake.start()
  local c = assert(phala.client { api_key = KEY, base_url = state.url .. "//" })
  t.eq(c:base_url(), state.url)
  assert(c:call("GET", "/auth/me"))
  assert(c:call("GET", "auth/me"))
  t.eq(state.count("GET", "^/auth/me$"), 2)
end)

t.test("X-Phala-Version 2026-01-21 gets the nested shapes", function()
  local srv <close>, _, c = setup(nil, { api_version = "2026-01-21" })
  local me = assert(c:me())
  t.eq({ me.user.username, me.workspace.slug, me.credits.balance }, { "alice", "alice-team", "10.50" })
  local d = assert(c:get_cvm(DEMO))
  t.eq({ d.node_info.name, d.kms_info.encrypted_env_pubkey, d.progress }, { "prod5", fake.ENV_PUBKEY, json.null })
  t.eq(fake.sha256_hex(d.compose_file), d.compose_hash)
  local page = assert(c:call("GET", "cvms/paginated?page=1&page_size=10"))
  t.eq({ page.total, page.items[1].app_id, page.items[1].resource.instance_type }, { 1, DEMO, "tdx.small" })
end)

-- ---- endpoints ----------------------------------------------------------------------------------

t.test("list_cvms and get_cvm, with every form of CVM id", function()
  local srv <close>, state, c = setup()
  local list = assert(c:list_cvms())
  t.ok(json.is_array(list))
  t.eq({ #list, list[1].hosted.app_id, list[1].node.region_identifier }, { 1, DEMO, "us-west" })
  t.eq(state.last().query_string, "user_id=0")
  for _, id in ipairs { DEMO, "app_" .. DEMO, DEMO_UUID, (DEMO_UUID:gsub("-", "")) } do
    local d = assert(c:get_cvm(id))
    t.eq({ d.app_id, d.vm_uuid, d.status, d.in_progress, d.encrypted_env_pubkey },
      { DEMO, DEMO_UUID, "running", false, fake.ENV_PUBKEY }, id)
  end
  t.eq(state.requests[2].path, "/cvms/app_" .. DEMO, "bare app ids get app_")
  t.eq(state.requests[4].path, "/cvms/" .. DEMO_UUID:gsub("-", ""), "UUIDs lose their dashes")
end)

t.test("nodes, with ?v03x_only=1 as 1.0.35 cvms create asks", function()
  local srv <close>, state, c = setup()
  local all = assert(c:nodes())
  t.eq(#all.nodes, 2)
  t.eq(all.kms_list[1].slug, "base-prod5")
  t.eq(all.nodes[1].images[2].version, json.array { 0, 5, 3 })
  local legacy = assert(c:nodes { v03x_only = true })
  t.eq(#legacy.nodes, 1)
  t.eq(state.last().query_string, "v03x_only=1")
end)

t.test("provision + commit creates a CVM that becomes running; phala.wait sees it", function()
  local srv <close>, state, c = setup { boot_delay = 0.1 }
  local p = assert(c:provision(provision_body("agent-one", { "GREETING" })))
  local stored = state.provisions[p.app_id].app_compose
  t.eq(p.compose_hash, fake.sha256_hex(stored))
  t.eq(p.app_id, p.compose_hash:sub(1, 40))
  t.eq(p.app_env_encrypt_pubkey, fake.ENV_PUBKEY)
  t.eq(json.decode(stored).allowed_envs, json.array { "GREETING" })
  local vm = assert(c:commit { app_id = p.app_id, compose_hash = p.compose_hash,
                               encrypted_env = ("ab"):rep(80) })
  t.eq({ vm.name, vm.status, vm.app_id, vm.instance_id }, { "agent-one", "creating", p.app_id, json.null })
  local seen = {}
  local d = assert(c:wait(p.app_id, "running", { timeout = 5, interval = 0.02,
                                                 progress = function(x) seen[#seen + 1] = x.status end }))
  t.eq({ d.status, d.in_progress }, { "running", false })
  t.eq(seen[1], "creating")
  t.eq(seen[#seen], "running")
  t.eq(state.find(p.app_id).encrypted_env, ("ab"):rep(80))
  t.eq(#assert(c:list_cvms()), 2)
end)

t.test("commit with another compose hash is refused with the structured detail", function()
  local srv <close>, state, c = setup()
  local p = assert(c:provision(provision_body("agent-two")))
  local r, msg, code, info = c:commit { app_id = p.app_id, compose_hash = ("0"):rep(64) }
  t.eq({ r, code, info.status, info.error_code }, { nil, "HTTP_400", 400, "ERR-01-006" })
  t.eq(msg, "Phala Cloud: 400 Bad Request: Compose hash invalid or expired [ERR-01-006]; "
    .. "Provision again and commit its compose_hash")
  t.eq(state.count("POST", "^/cvms$"), 1, "a POST is not retried")
end)

t.test("legacy create: pubkey then from_cvm_configuration", function()
  local srv <close>, state, c = setup()
  local config = {
    teepod_id = 3, name = "legacy-one", image = "dstack-0.3.6", vcpu = 1, memory = 2048, disk_size = 40,
    compose_manifest = { docker_compose_file = COMPOSE, docker_config = { url = "", username = "", password = "" },
                         features = { "kms", "tproxy-net" }, kms_enabled = true, manifest_version = 2,
                         name = "legacy-one", public_logs = true, public_sysinfo = true, tproxy_enabled = true },
    listed = false,
  }
  local pk = assert(c:cvm_pubkey(config))
  t.eq(pk.app_env_encrypt_pubkey, fake.ENV_PUBKEY)
  config.app_env_encrypt_pubkey, config.app_id_salt = pk.app_env_encrypt_pubkey, pk.app_id_salt
  config.encrypted_env = ("cd"):rep(70)
  local vm = assert(c:create_cvm(config))
  t.eq({ vm.name, vm.status, vm.base_image }, { "legacy-one", "creating", "dstack-0.3.6" })
  t.eq(json.decode(state.find(vm.app_id).app_compose).salt, pk.app_id_salt)
  assert(c:wait(vm.app_id, "running", { timeout = 5, interval = 0.02 }))
end)

t.test("start, stop and restart send no body and pass through their states", function()
  local srv <close>, state, c = setup { boot_delay = false }
  local vm = assert(c:stop_cvm(DEMO))
  t.eq(vm.status, "stopping")
  t.eq(state.last().body, "")
  t.eq(state.last().path, "/cvms/app_" .. DEMO .. "/stop")
  state.advance(DEMO)
  t.eq(assert(c:get_cvm(DEMO)).status, "stopped")
  t.eq(assert(c:start_cvm(DEMO)).status, "starting")
  state.advance(DEMO)
  t.eq(assert(c:restart_cvm("app_" .. DEMO)).status, "restarting")
  t.eq(state.bodies_on_actions, 0)
end)

t.test("resize sends numbers as numbers and booleans as booleans", function()
  local srv <close>, state, c = setup()
  -- what a command line gives: strings
  t.eq(assert(c:resize_cvm(DEMO, { vcpu = "2", memory = "4096", disk_size = 50, allow_restart = "false" })), true)
  local sent = state.last().json
  t.eq({ math.type(sent.vcpu), sent.vcpu, math.type(sent.memory), sent.disk_size, sent.allow_restart },
    { "integer", 2, "integer", 50, false })
  local d = assert(c:get_cvm(DEMO))
  t.eq({ d.vcpu, d.memory, d.disk_size, d.status }, { 2, 4096, 50, "running" })
  local before = #state.requests
  local r, msg, code = c:resize_cvm(DEMO, { vcpu = "two" })
  t.eq({ r, msg, code }, { nil, "phala.resize_cvm: vcpu must be a whole number, got 'two'", "EINVAL" })
  r, msg = c:resize_cvm(DEMO, { allow_restart = "maybe" })
  t.eq({ r, msg }, { nil, "phala.resize_cvm: allow_restart must be true or false, got 'maybe'" })
  t.eq(#state.requests, before, "nothing was sent")
end)

t.test("upgrade (PUT compose) replaces the compose and says what it revoked", function()
  local srv <close>, state, c = setup()
  local r = assert(c:upgrade_cvm(DEMO, {
    compose_manifest = { docker_compose_file = COMPOSE .. "# v2\n", manifest_version = 1, runner = "docker-compose",
                         version = "1.0.0", features = { "kms", "tproxy-net" }, name = "app_" .. DEMO,
                         allowed_envs = json.array { "GREETING" } },
    allow_restart = true, env_keys = json.array { "GREETING" },
  }))
  t.eq(r.detail, "Compose file updated")
  local cvm = state.find(DEMO)
  t.eq(json.decode(cvm.app_compose).docker_compose_file, COMPOSE .. "# v2\n")
  t.eq(json.decode(cvm.app_compose).salt, "e7c1f0d2b3a4", "the server keeps its salt")
  t.eq(cvm.revoked_envs, { "API_TOKEN" })
  t.eq(cvm.status, "restarting")
end)

t.test("attestation returns the stored app-compose, whose hash the event log measures", function()
  local srv <close>, _, c = setup()
  local a = assert(c:attestation(DEMO))
  t.eq(a.tcb_info.app_compose, fake.DEMO_COMPOSE)
  t.eq(a.compose_file, fake.DEMO_COMPOSE)
  local measured
  for _, e in ipairs(a.tcb_info.event_log) do if e.event == "compose-hash" then measured = e.event_payload end end
  t.eq(measured, fake.sha256_hex(a.tcb_info.app_compose))
  t.eq(a.app_certificates[1].sans, json.null)
  local n = assert(c:network(DEMO))
  t.eq({ n.is_online, #n.public_urls }, { true, 1 })
end)

t.test("compose-file update flow: get, provision_update, commit_update", function()
  local srv <close>, state, c = setup()
  local cf = assert(c:get_compose_file(DEMO_UUID))
  t.eq(cf.salt, "e7c1f0d2b3a4")
  local upd = { docker_compose_file = COMPOSE, allowed_envs = json.array { "GREETING", "API_TOKEN", "NEW" },
                name = cf.name, kms_enabled = true, public_logs = true, public_sysinfo = true }
  local p = assert(c:provision_update(DEMO_UUID, upd))
  t.eq(p.app_id, DEMO)
  t.ok(p.compose_hash ~= fake.DEMO_COMPOSE_HASH)
  t.eq(assert(c:commit_update(DEMO_UUID, { compose_hash = p.compose_hash, encrypted_env = ("ef"):rep(61),
                                          env_keys = json.array { "GREETING", "API_TOKEN", "NEW" } })), true)
  local cvm = state.find(DEMO)
  t.eq(cvm.compose_hash, p.compose_hash)
  t.eq(json.decode(cvm.app_compose).salt, "e7c1f0d2b3a4")
  local r, msg, code = c:commit_update(DEMO_UUID, { compose_hash = p.compose_hash })
  t.eq({ r, code }, { nil, "HTTP_400" })
  t.contains(msg, "[ERR-01-006]")
end)

t.test("get_compose, replicate, kms_pubkey, delete", function()
  local srv <close>, state, c = setup()
  local cc = assert(c:get_compose(DEMO_UUID))
  t.eq({ cc.env_pubkey, cc.compose_file.name }, { fake.ENV_PUBKEY, "teehost-demo" })
  local rep = assert(c:replicate(DEMO_UUID, { teepod_id = "3" }))
  t.eq({ rep.app_id, rep.status }, { DEMO, "creating" })
  t.ok(rep.vm_uuid ~= DEMO_UUID)
  t.eq(math.type(state.last().json.teepod_id), "integer")
  local k = assert(c:kms_pubkey("base-prod5", "0x" .. DEMO))
  t.eq(k.public_key, fake.ENV_PUBKEY)
  t.eq(state.last().path, "/kms/base-prod5/pubkey/0x" .. DEMO)
  local r, msg, code = c:kms_pubkey("nope", DEMO)
  t.eq({ r, msg, code }, { nil, "Phala Cloud: 404 Not Found: KMS not found", "HTTP_404" })
  t.eq(assert(c:delete_cvm(rep.vm_uuid)), true)
  t.eq(state.last().method, "DELETE")
  t.eq(#assert(c:list_cvms()), 1)
end)

t.test("the generic call reaches any path", function()
  local srv <close>, _, c = setup()
  local page = assert(c:call("GET", "cvms/paginated?page=1&page_size=50"))
  t.eq({ page.total, page.items[1].hosted.app_id }, { 1, DEMO })
  local r, _, code = c:call("POST", "cvms/provision", '{"name": 5}')
  t.eq({ r, code }, { nil, "HTTP_422" })
end)

-- ---- errors ---------------------------------------------------------------------------------------

t.test("an unknown CVM is a 404 quoting the detail, with the answer in a 4th value", function()
  local srv <close>, state, c = setup()
  local r, msg, code, info = c:get_cvm(("0"):rep(40))
  t.eq({ r, msg, code }, { nil, "Phala Cloud: 404 Not Found: CVM not found", "HTTP_404" })
  t.eq({ info.status, info.detail, info.attempts, info.body.detail }, { 404, "CVM not found", 1, "CVM not found" })
  t.eq(state.count("GET", "^/cvms/app_0+$"), 1, "a 404 is not retried")
end)

t.test("a wrong API key is 401 with the API's detail, not retried", function()
  local srv <close>, state, c = setup(nil, { api_key = "phak_wrong" })
  local r, msg, code = c:list_cvms()
  t.eq({ r, msg, code }, { nil, "Phala Cloud: 401 Unauthorized: Invalid API key", "HTTP_401" })
  t.eq(#state.requests, 1)
  t.ok(not msg:find("phak_wrong", 1, true))
end)

t.test("422 details name the field, nested and several at once", function()
  local srv <close>, _, c = setup()
  local r, msg, code, info = c:provision { compose_file = {} }
  t.eq({ r, code }, { nil, "HTTP_422" })
  t.eq(msg, "Phala Cloud: 422 Unprocessable Entity: name: Field required; "
    .. "compose_file.docker_compose_file: Field required")
  t.eq(info.detail[1].loc, json.array { "body", "name" })
  r, msg = c:provision { name = "x", compose_file = { docker_compose_file = COMPOSE, allowed_envs = { 1 } } }
  t.eq(r, nil)
  t.eq(msg, "Phala Cloud: 422 Unprocessable Entity: compose_file.allowed_envs.0: Input should be a valid string")
end)

t.test("the vectors' error bodies are quoted as 0.2.x would show them", function()
  local srv <close>, state, c = setup()
  state.fail { path = "^/cvms/provision$", status = 409, json = { detail = {
    error_code = "ERR-03-007", message = "App ID already in use",
    details = { { field = "app_id", value = DEMO } }, suggestions = { "Omit app_id to let the server pick one" },
    links = json.array {} } } }
  local r, msg, code, info = c:provision(provision_body("x"))
  t.eq({ r, code, info.error_code }, { nil, "HTTP_409", "ERR-03-007" })
  t.eq(msg, "Phala Cloud: 409 Conflict: App ID already in use [ERR-03-007]; Omit app_id to let the server pick one")
  state.fail { path = "^/cvms/provision$", status = 422, json = { detail = {
    { type = "missing", loc = { "body", "name" }, msg = "Field required", input = json.object {} } } } }
  r, msg = c:provision(provision_body("x"))
  t.eq({ r, msg }, { nil, "Phala Cloud: 422 Unprocessable Entity: name: Field required" })
end)

t.test("a malformed JSON answer is a clear EPROTO error, not retried", function()
  local srv <close>, state, c = setup()
  state.fail { path = "^/auth/me$", malformed = true }
  local r, msg, code = c:me()
  t.eq({ r, code }, { nil, "EPROTO" })
  t.contains(msg, "Phala Cloud: GET auth/me: the answer is not valid JSON (200, 30 bytes)")
  t.eq(state.count("GET", "^/auth/me$"), 1)
end)

t.test("a GET answered 500 once is retried and succeeds", function()
  local srv <close>, state, c = setup()
  state.fail { path = "^/cvms$", status = 500 }
  local list = assert(c:list_cvms())
  t.eq(#list, 1)
  t.eq(state.count("GET", "^/cvms$"), 2)
end)

t.test("retries stop at max_attempts and the last answer is quoted", function()
  local srv <close>, state, c = setup(nil, { max_attempts = 3 })
  state.fail { path = "^/auth/me$", status = 503, times = 5 }
  local r, msg, code, info = c:me()
  t.eq({ r, msg, code, info.attempts }, { nil, "Phala Cloud: 503 Service Unavailable: Service Unavailable",
    "HTTP_503", 3 })
  t.eq(state.count("GET", "^/auth/me$"), 3)
  local one <close> = assert(phala.client { api_key = KEY, base_url = state.url, max_attempts = 1 })
  state.faults = {}
  state.fail { path = "^/auth/me$", status = 500 }
  r, msg = one:me()
  t.eq({ r, msg }, { nil, "Phala Cloud: 500 Internal Server Error: Internal Server Error" })
end)

t.test("POST, PUT, PATCH and DELETE are not retried after a 5xx", function()
  local srv <close>, state, c = setup()
  for _, call in ipairs {
    { "POST", "/start$", function() return c:start_cvm(DEMO) end },
    { "PUT", "/compose$", function()
      return c:upgrade_cvm(DEMO, { compose_manifest = { docker_compose_file = "x" } })
    end },
    { "PATCH", "/resources$", function() return c:resize_cvm(DEMO, { vcpu = 2 }) end },
    { "DELETE", "^/cvms/[^/]+$", function() return c:delete_cvm(DEMO) end },
  } do
    state.fail { method = call[1], path = call[2], status = 502 }
    local r, _, code = call[3]()
    t.eq({ r, code }, { nil, "HTTP_502" }, call[1])
    t.eq(state.count(call[1], call[2]), 1, call[1])
  end
end)

t.test("a proxy's HTML error page is quoted, a GET retried past it", function()
  local srv <close>, state, c = setup()
  state.fail { method = "POST", html = true }
  local r, msg = c:stop_cvm(DEMO)
  t.eq({ r, msg }, { nil, "Phala Cloud: 502 Bad Gateway: <html><body><h1>502 Bad Gateway</h1></body></html>" })
  state.fail { method = "GET", html = true }
  t.eq(assert(c:get_cvm(DEMO)).app_id, DEMO)
end)

t.test("Retry-After is honoured", function()
  local srv <close>, state, c = setup()
  state.fail { path = "^/auth/me$", status = 429, headers = { ["retry-after"] = "1" } }
  local t0 = task.now()
  assert(c:me())
  t.ok(task.now() - t0 >= 0.9, "waited " .. (task.now() - t0))
  t.eq(state.count("GET", "^/auth/me$"), 2)
end)

t.test("a stalled server gives ETIMEDOUT after the attempts, never a hang", function()
  local srv <close>, state, c = setup(nil, { timeout = 0.2, max_attempts = 2 })
  state.fail { path = "^/auth/me$", stall = 0.6, times = 2 }
  local t0 = task.now()
  local r, msg, code = c:me()
  t.eq({ r, code }, { nil, "ETIMEDOUT" })
  t.contains(msg, "Phala Cloud: GET " .. state.url .. "/auth/me: timed out")
  t.contains(msg, "(after 2 attempts)")
  t.ok(task.now() - t0 < 1.5, "took " .. (task.now() - t0))
  -- a slow answer inside the timeout is fine
  state.fail { path = "^/auth/me$", delay = 0.1 }
  t.eq(assert(c:me()).username, "alice")
end)

t.test("connection refused is retried, then reported", function()
  local srv, state = fake.start()
  local url = state.url
  srv:close()
  local c = assert(phala.client { api_key = KEY, base_url = url, retry_delay = 0.01, max_attempts = 2 })
  local r, msg, code = c:provision(provision_body("x"))
  t.eq({ r, code }, { nil, "ECONNREFUSED" })
  t.contains(msg, "Phala Cloud: connect to 127.0.0.1:")
  t.contains(msg, "(after 2 attempts)")
end)

t.test("ids that are not path segments are refused before sending", function()
  local srv <close>, state, c = setup()
  for _, id in ipairs { "../auth/me", "a b", "", "x?y=1", "a/b" } do
    local r, msg, code = c:get_cvm(id)
    t.eq({ r, code }, { nil, "EINVAL" }, id)
    t.contains(msg, "is not a CVM id")
  end
  t.eq(#state.requests, 0)
end)

-- ---- wait -----------------------------------------------------------------------------------------

t.test("wait times out with the last status, then reaches it once the CVM boots", function()
  local srv <close>, state, c = setup { boot_delay = false }
  local vm = deploy(c, "slow-boot")
  local t0 = task.now()
  local r, msg, code = c:wait(vm.app_id, "running", { timeout = 0.3, interval = 0.05 })
  t.eq({ r, code }, { nil, "ETIMEDOUT" })
  t.eq(msg, "Phala Cloud: CVM " .. vm.app_id
    .. " did not reach 'running' within 0.3 s (status 'creating', in progress)")
  t.ok(task.now() - t0 < 1, "took " .. (task.now() - t0))
  task.spawn(function() task.sleep(0.1) state.advance(vm.app_id) end)
  t.eq(assert(c:wait(vm.app_id, "running", { timeout = 3, interval = 0.05 })).status, "running")
end)

t.test("wait stops at once on a 404 and keeps its deadline when the server stalls", function()
  local srv <close>, state, c = setup(nil, { timeout = 5 })
  local r, msg, code = c:wait(("1"):rep(40), "running", { timeout = 5, interval = 0.05 })
  t.eq({ r, msg, code }, { nil, "Phala Cloud: 404 Not Found: CVM not found", "HTTP_404" })
  state.fail { path = "^/cvms/", stall = 1, times = 10 }
  local t0 = task.now()
  r, msg, code = c:wait(DEMO, "stopped", { timeout = 0.3, interval = 0.05 })
  t.eq({ r, code }, { nil, "ETIMEDOUT" })
  t.contains(msg, "did not reach 'stopped' within 0.3 s (no answer: timed out")
  t.ok(task.now() - t0 < 0.8, "took " .. (task.now() - t0))
end)

-- ---- env encryption (core/phala_env) and the fake's decryption -----------------------------------

local PRIVATE = fake.sha256_hex(fake.ENV_PRIVKEY_DERIVATION)

t.test("decrypt_env opens the vectors' ciphertexts; env_public_key gives the fake's key", function()
  t.eq(phala.env_public_key(PRIVATE), fake.ENV_PUBKEY)
  local f = assert(io.open(os.getenv("TEEHOST_SOURCE") .. "/tests/vectors/phala-cloud/env-encryption.json"))
  local vec = json.decode(f:read("a"))
  f:close()
  t.eq(vec.server_private_key_hex, PRIVATE)
  for _, case in ipairs(vec.random_cases) do
    t.eq(assert(phala.decrypt_env(case.encrypted_env_hex, PRIVATE)), case.plaintext_json, case.name)
  end
  local r, msg, code = phala.decrypt_env(vec.random_cases[1].encrypted_env_hex, ("11"):rep(32))
  t.eq({ r, code }, { nil, "EVERIFY" })
  t.contains(msg, "authentication failed")
end)

t.test("encrypt_env: lists keep their order, maps are sorted, bad input is refused", function()
  local h = assert(phala.encrypt_env({ { key = "B", value = "2" }, { key = "A", value = "h\u{e9}" } }, fake.ENV_PUBKEY))
  local plain = '{"env":[{"key":"B","value":"2"},{"key":"A","value":"h\u{e9}"}]}'
  t.eq(#h, 2 * (60 + #plain))
  t.eq(phala.decrypt_env(h, PRIVATE), plain)
  t.eq(phala.decrypt_env(assert(phala.encrypt_env({ B = "2", A = "1" }, "0x" .. fake.ENV_PUBKEY)), PRIVATE),
    '{"env":[{"key":"A","value":"1"},{"key":"B","value":"2"}]}')
  t.eq(phala.decrypt_env(assert(phala.encrypt_env({}, fake.ENV_PUBKEY)), PRIVATE), '{"env":[]}')
  local r, msg, code = phala.encrypt_env({ { key = "bad name", value = "x" } }, fake.ENV_PUBKEY)
  t.eq({ r, msg, code }, { nil, "env var 1: invalid name (allowed: A-Z a-z 0-9 _ . -)", "EINVAL" })
  r, msg, code = phala.encrypt_env({}, "abc")
  t.eq({ r, code }, { nil, "EBADDATA" })
  t.contains(msg, "env public key")
  t.raises("item 1 must be {key = string, value = string}", phala.encrypt_env, { { "A", "1" } }, fake.ENV_PUBKEY)
end)

t.test("the fake decrypts encrypted_env with the vector key and checks allowed_envs", function()
  local srv <close>, state, c = setup { decrypt = phala.decrypt_env }
  local p = assert(c:provision(provision_body("with-env", { "GREETING" })))
  local env = { { key = "GREETING", value = "hi" }, { key = "API_TOKEN", value = "sk" } }
  local r, msg, code = c:commit { app_id = p.app_id, compose_hash = p.compose_hash,
                                  encrypted_env = assert(phala.encrypt_env(env, p.app_env_encrypt_pubkey)) }
  t.eq({ r, code }, { nil, "HTTP_422" })
  t.contains(msg, "encrypted_env: Value error, env keys not listed in allowed_envs (dstack would drop them): API_TOKEN")
  local vm = assert(c:commit { app_id = p.app_id, compose_hash = p.compose_hash,
                               encrypted_env = assert(phala.encrypt_env({ env[1] }, p.app_env_encrypt_pubkey)) })
  t.eq(state.find(vm.app_id).env, { { key = "GREETING", value = "hi" } })
  r, msg, code = c:commit_update(vm.app_id, { compose_hash = "x", encrypted_env = ("11"):rep(70) })
  t.eq({ r, code }, { nil, "HTTP_400" })
  t.contains(msg, "ERR-01-006")
  -- a ciphertext for another key does not open
  local cf = assert(c:get_compose_file(vm.app_id))
  local up = assert(c:provision_update(vm.app_id, { docker_compose_file = cf.docker_compose_file,
                                                   allowed_envs = cf.allowed_envs }))
  local other = phala.env_public_key(("22"):rep(32))
  r, msg, code = c:commit_update(vm.app_id, { compose_hash = up.compose_hash,
                                              encrypted_env = assert(phala.encrypt_env({ env[1] }, other)) })
  t.eq({ r, code }, { nil, "HTTP_400" })
  t.contains(msg, "cannot decrypt encrypted_env: encrypted_env: authentication failed")
end)

t.test("on a dstack 0.3 image keys outside allowed_envs are accepted and recorded as dropped", function()
  local srv <close>, state, c = setup { decrypt = phala.decrypt_env }
  local body = provision_body("old-image", {})
  body.image = "dstack-0.3.6"
  local p = assert(c:provision(body))
  local vm = assert(c:commit { app_id = p.app_id, compose_hash = p.compose_hash, encrypted_env =
    assert(phala.encrypt_env({ { key = "SECRET", value = "s" } }, p.app_env_encrypt_pubkey)) })
  t.eq(state.find(vm.app_id).dropped_envs, { "SECRET" })
end)

-- ---- closing and cancelling -----------------------------------------------------------------------

t.test("closing a client fails its calls in flight; a cancelled call leaves nothing behind", function()
  local srv <close>, state, c = setup()
  state.fail { path = "^/auth/me$", stall = 0.3, times = 2 }
  local pending = task.spawn(function() return c:me() end)
  local cancelled = task.spawn(function() return c:me() end)
  task.sleep(0.05)
  cancelled:cancel()
  c:close()
  local r, msg, code = pending:join()
  t.eq({ r, code }, { nil, "ECANCELED" })
  t.eq(msg, "Phala Cloud: GET auth/me: the client was closed")
  t.raises("attempt to use a closed phala.Client", c.me, c)
  t.eq(tostring(c), "phala.Client<closed>")
  c:close() -- twice is fine
  task.sleep(0.35) -- the stalled handlers finish against nobody
end)

t.test("closing a client while a call waits to retry cancels the retry", function()
  local srv <close>, state, c = setup(nil, { retry_delay = 0.3 })
  state.fail { path = "^/auth/me$", status = 500 }
  local pending = task.spawn(function() return c:me() end)
  task.sleep(0.1) -- answered 500, backing off
  c:close()
  local r, _, code = pending:join()
  t.eq({ r, code }, { nil, "ECANCELED" })
  task.sleep(0.3)
  t.eq(state.count("GET", "^/auth/me$"), 1, "no retry after close")
end)

t.test("misuse raises; a bad key or URL is an expected failure", function()
  t.raises("unknown option 'bogus'", phala.client, { bogus = 1 })
  t.raises("max_attempts must be 1..100", phala.client, { api_key = KEY, max_attempts = 1000 })
  local srv <close>, _, c = setup()
  t.raises("phala.provision: the body must be a table, got string", c.provision, c, "not a table")
  t.raises("cannot encode a function", c.provision, c, { name = print })
  t.raises("phala.get_cvm: argument 1 must be a string, got number", c.get_cvm, c, 42)
  t.raises("phala.call: give a method and a path", c.call, c, "GET")
  local r, msg, code = phala.client { api_key = "phak\nX-Evil: 1" }
  t.eq({ r, msg, code }, { nil, "Phala Cloud: the API key contains a control character", "EINVAL" })
  r, msg, code = phala.client { api_key = KEY, base_url = "ftp://x" }
  t.eq({ r, code }, { nil, "EINVAL" })
  t.contains(msg, "PHALA_CLOUD_API_PREFIX")
end)

-- ---- the key files and the environment ------------------------------------------------------------

local function mode(path) return io.popen("stat -c %a " .. path):read("l") end

t.test("save_key, key_info, a client from the key file, refusal of a readable file, delete_key", function()
  local srv <close>, state = fake.start()
  local dir = tmp .. "/keys"
  t.eq(assert(phala.save_key(KEY, dir)), dir .. "/api-key")
  t.eq({ mode(dir), mode(dir .. "/api-key") }, { "700", "600" })
  local info = assert(phala.key_info(dir))
  if not os.getenv("PHALA_CLOUD_API_KEY") then
    t.eq(info, { source = "file", path = dir .. "/api-key" })
    local c = assert(phala.client { key_dir = dir, base_url = state.url })
    t.eq(assert(c:me()).username, "alice")
    t.eq(tostring(c), "phala.Client<" .. state.url .. ", key file>")
    t.eq(state.last().headers["x-api-key"], KEY)
    os.execute("chmod 644 " .. dir .. "/api-key")
    local r, msg, code = phala.client { key_dir = dir, base_url = state.url }
    t.eq({ r, code }, { nil, "EINVAL" })
    t.contains(msg, "fix with `chmod 600 " .. dir .. "/api-key`")
    t.eq({ phala.delete_key(dir) }, { true, true })
    t.eq({ phala.delete_key(dir) }, { true, false })
    r, msg, code = phala.client { key_dir = dir }
    t.eq({ r, code }, { nil, "ENOKEY" })
    t.eq(msg, "Phala Cloud: no API key: set PHALA_CLOUD_API_KEY or run `teehost phala auth login`")
  end
  local r, msg, code = phala.save_key("two words", dir)
  t.eq({ r, code }, { nil, "EINVAL" })
  t.contains(msg, "not an API key")
end)

-- Runs `teehost script` with env in the background (a blocking os.execute would stop the fake,
-- which runs in this process) and returns its output and exit status.
local children = 0
local function child(env, script)
  children = children + 1
  local base = string.format("%s/child%d", tmp, children)
  local f = assert(io.open(base .. ".lua", "w"))
  f:write(script)
  f:close()
  local vars = {}
  for k, v in pairs(env) do vars[#vars + 1] = string.format("%s='%s'", k, v) end
  os.execute(string.format("(env -u PHALA_CLOUD_API_KEY -u PHALA_CLOUD_API_PREFIX -u PHALA_CLOUD_DIR %s %s %s.lua "
    .. "> %s.out 2>&1; echo $? > %s.rc.tmp; mv %s.rc.tmp %s.rc) &", table.concat(vars, " "),
    os.getenv("TEEHOST"), base, base, base, base, base))
  local deadline = task.now() + 60
  while not io.open(base .. ".rc") and task.now() < deadline do task.sleep(0.05) end
  local rc = assert(io.open(base .. ".rc"), "the child teehost did not finish"):read("n")
  return io.open(base .. ".out"):read("a"), rc
end

local function home(name)
  local dir = tmp .. "/" .. name
  os.execute("mkdir -p -m 700 " .. dir)
  return dir
end

local function env_test(name, fn)
  if os.getenv("TEEHOST") then t.test(name, fn) else print("skip - " .. name .. " (TEEHOST not set)") end
end

env_test("module functions use PHALA_CLOUD_API_PREFIX and PHALA_CLOUD_API_KEY", function()
  local srv <close>, state = fake.start()
  local out, rc = child({ PHALA_CLOUD_API_PREFIX = state.url, PHALA_CLOUD_API_KEY = KEY, HOME = home("empty") }, [[
    local me = assert(phala.me())
    local list = assert(phala.list_cvms())
    local d = assert(phala.wait("]] .. DEMO .. [[", "running", { timeout = 5, interval = 0.05 }))
    print(me.username, #list, d.status, phala.key_info().source)
  ]])
  t.eq({ out, rc }, { "alice\t1\trunning\tenv\n", 0 })
  t.eq(state.count("GET", "^/auth/me$"), 1)
  t.eq(state.requests[1].headers["x-api-key"], KEY)
end)

env_test("without any key the module says how to log in", function()
  local out, rc = child({ HOME = home("empty") }, [[
    local r, msg, code = phala.me()
    print(r, msg, code)
    print(phala.key_info())
    local t0 = task.now()
    print(phala.wait("]] .. DEMO .. [[", "running", { timeout = 30 }))
    print(task.now() - t0 < 5)
  ]])
  local msg = "nil\tPhala Cloud: no API key: set PHALA_CLOUD_API_KEY or run `teehost phala auth login`\tENOKEY\n"
  t.eq({ out, rc }, { msg .. msg .. msg .. "true\n", 0 })
end)

env_test("a phala 1.1 credentials.json profile gives the key and its api_prefix", function()
  local srv <close>, state = fake.start()
  local h = home("creds")
  os.execute("mkdir -p -m 700 " .. h .. "/.phala-cloud")
  local f = assert(io.open(h .. "/.phala-cloud/credentials.json", "w"))
  f:write(json.encode({ schema_version = 1, current_profile = "alice-team", profiles = { ["alice-team"] = {
    token = KEY, api_prefix = state.url, workspace = { name = "alice-team", slug = "alice-team" },
    user = { username = "alice", email = "alice@example.com" }, updated_at = "2026-11-26T03:29:55.264Z" } } },
    { indent = 2 }))
  f:close()
  os.execute("chmod 600 " .. h .. "/.phala-cloud/credentials.json")
  local script = [[
    local info = phala.key_info()
    print(assert(phala.me()).username, info.source, info.profile, info.api_prefix == ']] .. state.url .. [[')
  ]]
  local out, rc = child({ HOME = h }, script)
  t.eq({ out, rc }, { "alice\tcredentials\talice-team\ttrue\n", 0 })
  -- PHALA_CLOUD_DIR moves the directory
  out, rc = child({ HOME = home("empty"), PHALA_CLOUD_DIR = h .. "/.phala-cloud" }, script)
  t.eq({ out, rc }, { "alice\tcredentials\talice-team\ttrue\n", 0 })
  t.eq(state.count("GET", "^/auth/me$"), 2)
end)

t.run()
os.execute("rm -rf " .. tmp)
