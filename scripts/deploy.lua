-- scripts/deploy.lua — deploy a docker-compose app to a new Phala Cloud CVM, then prove from its
-- attestation that the compose you sent is what runs.
--
--   export PHALA_CLOUD_API_KEY=phak_…            (or `teehost phala auth login` once)
--   teehost scripts/deploy.lua --compose docker-compose.yml --env .env --name my-agent
--
-- This is a recipe to copy and edit (cp scripts/deploy.lua my-deploy.lua). The steps are at the
-- bottom, one line each, in the order they run; each prints its name and what it found, and the
-- first that fails ends the script with "deploy: <step>: <reason>" and exit status 1 (2 for a
-- usage error). Add a step by writing a function that returns a value and a short note (or nil
-- and a reason) and calling step("name", fn, …) where it belongs. Things you may want to edit are
-- marked EDIT.
--
-- What the checks prove (shared/specs/phala-cloud.md §6, §7; specs/dstack.md §5–7):
--   verify quote    the TDX quote on the CVM's RA-TLS certificate is signed by genuine TDX
--                   hardware (Intel's root, collateral from a PCCS; --root simulator for tests)
--                   and its TCB status is accepted (ACCEPTED below);
--   event log       replaying tcb_info.event_log gives exactly the quote's RTMR0–3, so every
--                   event in it was measured (runtime-event digests are recomputed from their
--                   payloads, so a payload cannot be changed under a genuine digest);
--   compose hash    the compose-hash event in RTMR3 equals the compose hash committed; the
--                   app-compose text the answer shows hashes to it and holds the docker-compose
--                   file and allowed_envs this script sent (Phala Cloud may add fields: salt,
--                   features…, so the hash can differ from the one computed before sending);
--                   MRCONFIGID, when it binds a compose hash (01 ‖ hash), binds this one; the
--                   app-id event equals the app id;
--   report data     when the answer states the report data the quote was made over
--                   (`report_data`, dstack's GetQuote field), the quote's REPORTDATA equals it
--                   right-padded with zeros to 64 bytes: the quote was made for this answer and
--                   not taken from another one. (To prove freshness, have your app quote a nonce
--                   you choose and compare here.)
--
-- Secrets: .env values are only encrypted to the app's key (X25519 + AES-256-GCM) and never
-- printed; names are. The API key is never printed.
local attest = require "attest"
local cli = require "teehost.cli"
local json = require "json"
local phala = require "phala"

local HELP = [[
teehost scripts/deploy.lua --compose FILE --name NAME [options]
    --compose FILE       docker-compose file (required)
    --env FILE           .env file: its variables are sent encrypted, their names as allowed_envs
    --name NAME          CVM and app name (required)
    --node-id N          node (teepod) to deploy on (default: the server's choice)
    --vcpu N --memory MB --disk GB --image NAME     CVM resources and dstack image
    --root intel|simulator|FILE     trust anchor for the quote (default intel)
    --collateral FILE    collateral JSON for the quote (default: fetched from a PCCS)
    --timeout S          how long to wait for the CVM to run (default 600)
    --json               print the report as JSON (step lines go to stderr)
  Uses PHALA_CLOUD_API_KEY (or the saved key) and PHALA_CLOUD_API_PREFIX.]]

local ACCEPTED = { UpToDate = true } -- EDIT: TCB statuses you accept (e.g. SWHardeningNeeded = true)

local opts, pos = cli.parse({ ... }, {
  compose = "value", env = "value", name = "value", ["node-id"] = "value", vcpu = "value",
  memory = "value", disk = "value", image = "value", root = "value", collateral = "value",
  timeout = "value", json = "flag", help = "flag",
})
if opts and opts.help then print(HELP) return 0 end
if not opts then return cli.usage(pos, HELP) end
if #pos > 0 then return cli.usage("unexpected argument '" .. pos[1] .. "'", HELP) end
if not opts.compose or not opts.name then return cli.usage("--compose and --name are required", HELP) end
for _, k in ipairs { "node-id", "vcpu", "memory", "disk", "timeout" } do
  if opts[k] and not tonumber(opts[k]) then return cli.usage("--" .. k .. " needs a number", HELP) end
end

-- ---- printing ---------------------------------------------------------------------------------

local out = opts.json and io.stderr or io.stdout -- step lines; stdout stays for the JSON report
io.stdout:setvbuf("line")
local done, pending = 0, false

-- A line of detail inside a step (warnings, progress), under the step's name.
local function detail(line)
  if pending then out:write("\n") end
  pending = false
  out:write("    ", line, "\n")
end

-- step(name, fn, ...): runs fn(...) -> value, note and prints "[n] name: note". When fn returns
-- nil, reason (or raises), the recipe ends there with "deploy: name: reason".
local function step(name, fn, ...)
  done = done + 1
  out:write(string.format("[%d] %s", done, name))
  out:flush()
  pending = true
  local ok, value, note = pcall(fn, ...)
  local failed = not ok or value == nil
  local shown = failed and "FAILED" or tostring(note or "ok")
  if pending then out:write(": ", shown, "\n") else detail("-> " .. shown) end
  pending = false
  if failed then error({ step = name, reason = tostring(ok and note or value) }, 0) end
  return value
end

-- ---- the steps ---------------------------------------------------------------------------------

local function short(hex) return #hex > 16 and hex:sub(1, 16) .. "…" or hex end
local function text(v) return type(v) == "string" and v ~= "" and v or nil end

local function read_compose()
  local yaml, err = cli.read_file(opts.compose)
  if not yaml then return nil, err end
  return yaml, string.format("%s (%d bytes)", opts.compose, #yaml)
end

-- {vars = {{key=, value=}…}, names = {…}}: the values are secrets, only the names are shown.
local function read_env()
  local env = { vars = {}, names = {} }
  if not opts.env then return env, "no --env: no variables" end
  local body, err = cli.read_file(opts.env)
  if not body then return nil, err end
  local parsed, perr, warnings = phala.parse_env(body)
  if not parsed then return nil, opts.env .. ": " .. tostring(perr) end
  for _, w in ipairs(warnings) do detail("warning: " .. opts.env .. ": " .. w) end
  for i, v in ipairs(parsed) do
    env.vars[i], env.names[i] = { key = v.name, value = v.value }, v.name
  end
  return env, string.format("%s: %d variables (%s)", opts.env, #env.names, table.concat(env.names, ", "))
end

local function build_app_compose(yaml, env)
  local app_compose, err = phala.build_compose { docker_compose = yaml, name = opts.name, allowed_envs = env.names }
  if not app_compose then return nil, err end
  return app_compose, string.format("%d bytes, allowed_envs [%s]", #app_compose, table.concat(env.names, ", "))
end

local function compute_hash(app_compose)
  local hash, app_id = phala.compose_hash(app_compose)
  if not hash then return nil, app_id end
  return { hash = hash, app_id = app_id }, string.format("%s (app id %s), before sending", hash, app_id)
end

local function provision(app_compose, local_hash)
  local p, err = phala.provision {
    name = opts.name, compose_file = json.decode(app_compose), image = opts.image,
    vcpu = tonumber(opts.vcpu), memory = tonumber(opts.memory), disk_size = tonumber(opts.disk),
    teepod_id = tonumber(opts["node-id"]), -- EDIT: more fields (kms_id, listed, …: spec §3.7)
  }
  if not p then return nil, err end
  if not text(p.compose_hash) or not text(p.app_id) then return nil, "the reply lacks compose_hash or app_id" end
  local same = p.compose_hash == local_hash.hash and "the same as computed"
    or "Phala Cloud rewrote the app-compose; the attested text is checked below"
  return p, string.format("app id %s, compose hash %s (%s)", p.app_id, short(p.compose_hash), same)
end

local function encrypt_env(env, p)
  if #env.vars == 0 then return "", "nothing to encrypt" end
  local pubkey = text(p.app_env_encrypt_pubkey)
  if not pubkey then return nil, "the provision reply has no app_env_encrypt_pubkey (on-chain KMS is not handled)" end
  local hex, err = phala.encrypt_env(env.vars, pubkey)
  if not hex then return nil, err end
  env.vars = nil -- the values are not needed any more (and are never printed)
  return hex, string.format("%d variables to the app's key %s", #env.names, short(pubkey))
end

local function commit(p, encrypted_env, env)
  local vm, err = phala.commit {
    app_id = p.app_id, compose_hash = p.compose_hash,
    encrypted_env = encrypted_env ~= "" and encrypted_env or nil,
    env_keys = #env.names > 0 and json.array(env.names) or nil,
  }
  if not vm then return nil, err end
  return vm, string.format("CVM %s (%s), status %s", tostring(vm.id), tostring(vm.vm_uuid), tostring(vm.status))
end

local function wait_running(p)
  local seen
  local d, err = phala.wait(p.app_id, "running", {
    timeout = tonumber(opts.timeout) or 600,
    progress = function(cvm)
      if cvm.status ~= seen then detail("status " .. tostring(cvm.status)) end
      seen = cvm.status
    end,
  })
  if not d then return nil, err end
  return d, "running"
end

-- The quote is on the end-entity RA-TLS certificate (spec §3.10).
local function fetch_attestation(p)
  local att, err = phala.attestation(p.app_id)
  if not att then return nil, err end
  if type(att) ~= "table" then return nil, "the answer is not a JSON object" end
  local quote = text(att.quote)
  for _, cert in ipairs(type(att.app_certificates) == "table" and att.app_certificates or {}) do
    quote = quote or text(cert.quote)
  end
  att.quote = quote
  local tcb = type(att.tcb_info) == "table" and att.tcb_info or nil
  if not att.quote then return nil, "no quote on the app certificates (is the CVM's certificate issued yet?)" end
  if not tcb or type(tcb.event_log) ~= "table" then return nil, "no tcb_info.event_log in the answer" end
  return att, string.format("quote %d hex digits, %d events", #att.quote, #tcb.event_log)
end

local function verify_quote(att)
  local root = opts.root
  local vopts = { root = root }
  if root and root ~= "intel" and root ~= "simulator" then
    local der, err = cli.read_file(root)
    if not der then return nil, err end
    vopts.root = der
  end
  if opts.collateral then
    local col, err = cli.read_file(opts.collateral)
    if not col then return nil, err end
    vopts.collateral = col
  end
  local r, err = attest.verify(att.quote, vopts)
  if not r then return nil, err end
  if not ACCEPTED[r.status] then return nil, "TCB status " .. r.status .. " is not accepted (see ACCEPTED)" end
  return r, string.format("TDX quote v%d, TCB status %s", r.version, r.status)
end

local function check_event_log(att)
  local ok, err = attest.check_event_log(att.quote, att.tcb_info.event_log)
  if not ok then return nil, err end
  return true, string.format("%d events replay to the quote's RTMR0–3", #att.tcb_info.event_log)
end

local function runtime_event(log, name)
  for _, e in ipairs(log) do
    if e.imr == 3 and e.event == name then return text(e.event_payload) and e.event_payload:lower() or "" end
  end
end

local function same_names(list, names)
  if type(list) ~= "table" or #list ~= #names then return false end
  local set = {}
  for _, n in ipairs(list) do set[n] = true end
  for _, n in ipairs(names) do if not set[n] then return false end end
  return true
end

local function check_compose_hash(att, verified, p, yaml, env)
  local tcb = att.tcb_info
  local measured = runtime_event(tcb.event_log, "compose-hash")
  if not measured then return nil, "no compose-hash event in the event log" end
  if measured ~= p.compose_hash:lower() then
    return nil, string.format("the CVM measured %s, but the app-compose committed hashes to %s", measured,
                              p.compose_hash)
  end
  local config = verified.report.mrconfigid
  if config:sub(1, 2) == "01" and config:sub(3, 66) ~= measured then
    return nil, "MRCONFIGID binds compose hash " .. config:sub(3, 66) .. ", not the measured one"
  end
  local app_id = runtime_event(tcb.event_log, "app-id")
  if app_id and app_id ~= p.app_id:lower() then
    return nil, "the app-id event says " .. app_id .. ", not " .. p.app_id
  end
  local shown = text(tcb.app_compose)
  if not shown then return measured, "measured in RTMR3 (the answer shows no app-compose text)" end
  if phala.compose_hash(shown, "raw") ~= measured then
    return nil, "tcb_info.app_compose does not hash to the measured " .. measured
  end
  local ok, c = pcall(json.decode, shown)
  if not ok or type(c) ~= "table" or c.docker_compose_file ~= yaml then
    return nil, "the measured app-compose does not hold the docker-compose file that was sent"
  end
  if not same_names(c.allowed_envs, env.names) then
    return nil, "the measured app-compose's allowed_envs are not the variables that were sent"
  end
  return measured, measured .. " measured in RTMR3, and it is the app-compose sent"
end

local function check_report_data(att, verified)
  local claimed = text(att.report_data) or text(att.tcb_info.report_data)
  if not claimed then return "absent", "the answer states none: nothing to bind" end
  claimed = claimed:gsub("^0x", ""):lower()
  if #claimed > 128 or not claimed:match("^%x*$") then return nil, "the answer's report_data is not hex of 64 bytes" end
  claimed = claimed .. ("0"):rep(128 - #claimed)
  if verified.report.reportdata ~= claimed then
    return nil, string.format("the quote was made over %s, but the answer says %s", short(verified.report.reportdata),
                              short(claimed))
  end
  return "verified", short(claimed) .. " is the quote's REPORTDATA"
end

-- ---- the recipe --------------------------------------------------------------------------------

local function deploy()
  local yaml        = step("read compose", read_compose)
  local env         = step("read env", read_env)
  local app_compose = step("build app-compose", build_app_compose, yaml, env)
  local local_hash  = step("compose hash", compute_hash, app_compose)
  local p           = step("provision", provision, app_compose, local_hash)
  local encrypted   = step("encrypt env", encrypt_env, env, p)
  local vm          = step("commit", commit, p, encrypted, env)
  local cvm         = step("wait until running", wait_running, p)
  local att         = step("fetch attestation", fetch_attestation, p)
  local verified    = step("verify quote", verify_quote, att)
  step("replay event log", check_event_log, att)
  local hash        = step("check compose hash", check_compose_hash, att, verified, p, yaml, env)
  local rd          = step("check report data", check_report_data, att, verified)
  return {
    ok = true, name = opts.name, app_id = p.app_id, cvm_id = vm.id, vm_uuid = vm.vm_uuid, status = cvm.status,
    tcb_status = verified.status, compose_hash = hash, compose_hash_verified = true, rtmrs_verified = true,
    compose_hash_before_sending = local_hash.hash, report_data = rd,
  }
end

local ok, r = pcall(deploy)
if not ok then
  local failure = type(r) == "table" and r or { step = "deploy", reason = tostring(r) }
  io.stderr:write("deploy: ", failure.step, ": ", failure.reason, "\n")
  if opts.json then print(json.encode { ok = false, step = failure.step, error = failure.reason }) end
  return 1
end
if opts.json then
  print(json.encode(r, { indent = 2 }))
else
  print(string.format([[
deployed %s and verified it
  app id        %s
  CVM           %s (%s)
  status        %s
  TCB status    %s
  compose hash  %s ✓ measured in RTMR3
  RTMRs         ✓ event log replays to the quote
  report data   %s]], r.name, r.app_id, tostring(r.cvm_id), tostring(r.vm_uuid), r.status, r.tcb_status, r.compose_hash,
    r.report_data == "verified" and "✓ bound to the quote" or "— none stated"))
end
return 0
