-- phala_cli.cvms: `teehost phala cvms …` (spec 3.1-3.6, 3.9, 3.10, 4). The requests and bodies
-- are those of phala 1.0.35 (cli-1.0.35-captured-requests.json), except where it was wrong:
--   * a CVM is named by app id (with or without app_), UUID (with or without dashes) or name;
--     it goes straight to its endpoint (no `GET cvms?user_id=0` first), so an unknown one is
--     the API's 404 with its detail;
--   * create sends allowed_envs = the env file's names (dstack >= 0.5 drops unlisted vars);
--   * upgrade never empties allowed_envs: without -e the CVM keeps its env and allowed_envs
--     (read from GET cvms/<id>/compose_file); with -e they become exactly the file's names; the
--     difference is shown and confirmed first; the manifest keeps the CVM's name and settings;
--   * resize sends numbers and a real boolean (1.0.35: strings, and `-r false` meant true);
--   * attestation recomputes the compose hash from tcb_info.app_compose and fails (exit 1)
--     when the event log measured another one; every failure exits non-zero.
local phala = require "phala"
local json = require "json"
local common = require "phala_cli.common"
local nodes = require "phala_cli.nodes"

local WAIT_OPTS = "[--wait] [--timeout S]"
local HELP = {
  list = "teehost phala cvms list|ls [--json]\n    all CVMs of the workspace.",
  get = "teehost phala cvms get CVM [--json]\n    one CVM (CVM: app id, UUID or name).",
  create = [[
teehost phala cvms create -n NAME -c COMPOSE [-e ENV_FILE] [--vcpu N] [--memory MB] [--disk-size GB]
                          [--teepod-id N] [--image NAME] [--wait] [--timeout S] [--json]
    the legacy (dstack 0.3) create of phala 1.0.35: the node's env key, then the CVM with the
    env file encrypted to it. Defaults: 1 vCPU, 2048 MB, 40 GB, the first node, dstack-0.3.6.
    For dstack >= 0.5 use `teehost phala deploy`.]],
  start = "teehost phala cvms start CVM " .. WAIT_OPTS .. " [--json]\n    --wait: until it runs.",
  stop = "teehost phala cvms stop CVM [--yes] " .. WAIT_OPTS .. " [--json]\n    asks first on a terminal.",
  restart = "teehost phala cvms restart CVM [--yes] " .. WAIT_OPTS .. " [--json]\n    asks first on a terminal.",
  delete = "teehost phala cvms delete CVM [--yes|--force] [--json]\n    deletes it for good; asks first on a terminal.",
  upgrade = [[
teehost phala cvms upgrade CVM [-c COMPOSE] [-e ENV_FILE] [--yes] [--wait] [--timeout S] [--json]
    replaces the docker-compose file and/or the env, then the CVM restarts. With -e the file
    becomes the CVM's whole env and allowed_envs; without it the CVM keeps both. The change of
    env names is shown (names only) and confirmed before anything is sent.]],
  resize = [[
teehost phala cvms resize CVM [-v VCPU] [-m MEMORY_MB] [-d DISK_GB] [-r true|false] [--yes]
                          [--wait] [--timeout S] [--json]
    -r/--allow-restart true restarts the CVM to apply the change now (default false: it applies
    at the next restart).]],
  attestation = [[
teehost phala cvms attestation CVM [--json]
    certificates, TCB measurements and event log of a running CVM; checks that the compose hash
    measured in the event log is the SHA-256 of its app-compose (exit 1 when not).]],
  network = "teehost phala cvms network CVM [--json]\n    online state, internal IP and public URLs.",
  ["list-nodes"] = "teehost phala cvms list-nodes [--json]\n    the same as `teehost phala nodes`.",
  replicate = [[
teehost phala cvms replicate CVM [--teepod-id N] [-e ENV_FILE] [--wait] [--timeout S] [--json]
    another instance of the CVM's app, on node N (default: the same node); with -e a new env,
    encrypted to the app's key.]],
}
local ORDER = { "list", "get", "create", "start", "stop", "restart", "delete", "upgrade", "resize",
                "attestation", "network", "list-nodes", "replicate" }

local function group_help()
  local parts = { "teehost phala cvms COMMAND (--help on each); CVM is an app id, a UUID or a name\n" }
  for _, k in ipairs(ORDER) do parts[#parts + 1] = HELP[k] end
  return table.concat(parts, "\n")
end

local WAIT_SPEC = { { "wait", "w", "flag" }, { "timeout", false, "value" } }
local function with(spec, extra)
  local out = {}
  for _, s in ipairs(spec) do out[#out + 1] = s end
  for _, s in ipairs(extra or {}) do out[#out + 1] = s end
  return out
end

-- ---- showing CVMs -------------------------------------------------------------------------------

local function app_url(d)
  local urls = type(d.public_urls) == "table" and d.public_urls or {}
  if urls[1] and urls[1].app then return urls[1].app end
  return d.app_url
end

local function show_cvm(d)
  local node = type(d.teepod) == "table" and d.teepod or {}
  common.rows {
    { "Name", d.name },
    { "App ID", d.app_id },
    { "CVM UUID", d.vm_uuid },
    { "Status", common.str(d.status) .. (d.in_progress == true and " (in progress)" or "") },
    { "Node", node.name and ("%s (id %s)"):format(node.name, common.str(node.id)) or d.teepod_id },
    { "vCPU", d.vcpu },
    { "Memory", d.memory and (common.str(d.memory) .. " MB") },
    { "Disk", d.disk_size and (common.str(d.disk_size) .. " GB") },
    { "Image", d.base_image },
    { "App URL", app_url(d) },
    { "Dashboard", type(d.app_id) == "string" and common.dashboard("app_" .. d.app_id) or nil },
  }
end

-- Parses args for command name: ctx and its CVM argument (nil when absent), or nil, status.
local function parse(args, name, spec, want_cvm)
  local ctx, rc = common.parse(args, spec or {}, HELP[name], "cvms " .. name)
  if not ctx then return nil, rc end
  local arg, extra = common.positionals(ctx, want_cvm and 1 or 0)
  if extra then return nil, extra end
  return ctx, arg
end

-- A client, and the CVM reference for arg: c, ref or nil, status.
local function connect(ctx, arg)
  local c, crc = common.client(ctx)
  if not c then return nil, crc end
  local ref, rrc = common.cvm_ref(ctx, c, arg)
  if not ref then return nil, rrc end
  return c, ref
end

-- Parses args for command name (one CVM) and asks c:fn(ref): ctx and the answer, or nil, status.
local function fetch(args, name, fn)
  local ctx, arg = parse(args, name, {}, true)
  if not ctx then return nil, arg end
  local c, ref = connect(ctx, arg)
  if not c then return nil, ref end
  local v, msg, code, info = c[fn](c, ref)
  if not v then return nil, common.fail(ctx, msg, code, info) end
  return ctx, v
end

-- The end of a command that starts a CVM: vm shown and the line done printed (not with --json);
-- with wait (nil, or the arguments ref, want, timeout, label of common.wait), waits; then vm, or
-- what the wait gave, as JSON (--json). Returns the exit status.
local function started(ctx, c, vm, done, wait)
  if not ctx.json then
    show_cvm(vm)
    print(done)
  end
  if wait then
    local d, drc = common.wait(ctx, c, table.unpack(wait))
    if not d then return drc end
    vm = d
  end
  if ctx.json then common.print_json(vm) end
  return 0
end

-- ---- list, get, network, list-nodes -------------------------------------------------------------

local function list(args)
  local ctx, rc = parse(args, "list")
  if not ctx then return rc end
  local c, crc = common.client(ctx)
  if not c then return crc end
  local items, msg, code, info = c:list_cvms()
  if not items then return common.fail(ctx, msg, code, info) end
  if type(items) ~= "table" then return common.fail(ctx, "GET cvms: the answer is not a JSON array", "EPROTO") end
  return common.output(ctx, items, function()
    if #items == 0 then return print("No CVMs found") end
    local rows = {}
    for i, item in ipairs(items) do
      local h, node = item.hosted or {}, item.node or {}
      rows[i] = { h.name or item.name, h.app_id, h.id, item.status or h.status, node.name, node.region_identifier }
    end
    common.columns({ "NAME", "APP ID", "CVM UUID", "STATUS", "NODE", "REGION" }, rows)
  end)
end

local function get(args)
  local ctx, d = fetch(args, "get", "get_cvm")
  if not ctx then return d end
  return common.output(ctx, d, show_cvm)
end

local function network(args)
  local ctx, n = fetch(args, "network", "network")
  if not ctx then return n end
  return common.output(ctx, n, function()
    local urls = {}
    for _, u in ipairs(type(n.public_urls) == "table" and n.public_urls or {}) do
      urls[#urls + 1] = common.str(u.app)
    end
    common.rows {
      { "Online", n.is_online == true and "yes" or "no" }, { "Public", n.is_public == true and "yes" or "no" },
      { "Internal IP", n.internal_ip }, { "Last handshake", n.latest_handshake },
      { "Public URLs", #urls > 0 and table.concat(urls, " ") or nil }, { "Error", n.error },
    }
  end)
end

local function list_nodes(args)
  local ctx, rc = common.parse(args, {}, HELP["list-nodes"], "cvms list-nodes")
  if not ctx then return rc end
  return nodes.list(ctx)
end

-- ---- start, stop, restart, delete ---------------------------------------------------------------

local ACTIONS = {
  start = { fn = "start_cvm", target = "running" },
  stop = { fn = "stop_cvm", target = "stopped", ask = "Stop CVM %s?" },
  restart = { fn = "restart_cvm", target = "running", ask = "Restart CVM %s?" },
}

local function action(name, args)
  local a = ACTIONS[name]
  local ctx, arg = parse(args, name, with(WAIT_SPEC, { { "yes", "y", "flag" }, { "force", "f", "flag" } }), true)
  if not ctx then return arg end
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return wrc end
  if a.ask and not common.can_confirm(ctx, name) then return 2 end
  local c, ref = connect(ctx, arg)
  if not c then return ref end
  if a.ask then
    local ok, crc = common.confirm(ctx, a.ask:format(ref))
    if not ok then return crc end
  end
  local vm, msg, code, info = c[a.fn](c, ref)
  if not vm then return common.fail(ctx, msg, code, info) end
  if type(vm) ~= "table" then vm = { app_id = ref, status = "accepted" } end
  return started(ctx, c, vm, ("✓ %s requested"):format(name),
    wait and { vm.vm_uuid or ref, a.target, timeout, "CVM " .. common.str(vm.name or ref) })
end

local function delete(args)
  local ctx, arg = parse(args, "delete", { { "yes", "y", "flag" }, { "force", "f", "flag" } }, true)
  if not ctx then return arg end
  if not common.can_confirm(ctx, "delete") then return 2 end
  local c, ref = connect(ctx, arg)
  if not c then return ref end
  local ok, crc = common.confirm(ctx, ("Delete CVM %s for good?"):format(ref))
  if not ok then return crc end
  local done, msg, code, info = c:delete_cvm(ref)
  if not done then return common.fail(ctx, msg, code, info) end
  return common.output(ctx, { success = true, deleted = ref }, function() print("✓ CVM " .. ref .. " deleted") end)
end

-- ---- create (legacy, spec 3.4) ------------------------------------------------------------------

local function has_image(node, name)
  local names = {}
  for _, img in ipairs(type(node.images) == "table" and node.images or {}) do
    if img.name == name then return true end
    names[#names + 1] = common.str(img.name)
  end
  return false, table.concat(names, ", ")
end

local function create(args)
  local ctx, rc = common.parse(args, with(WAIT_SPEC, {
    { "name", "n", "value" }, { "compose", "c", "value" }, { "vcpu", false, "value" }, { "memory", false, "value" },
    { "disk-size", false, "value" }, { "teepod-id", false, "value" }, { "image", false, "value" },
    { "env-file", "e", "value" }, { "skip-env", false, "flag" }, { "debug", false, "flag" },
  }), HELP.create, "cvms create")
  if not ctx then return rc end
  local _, extra = common.positionals(ctx, 0)
  if extra then return extra end
  local o = ctx.opts
  local name = o.name or (common.interactive() and common.ask("CVM name: ")) or nil
  local compose_path = o.compose or (common.interactive() and common.ask("docker-compose file: ")) or nil
  if not name or name == "" then return common.usage(ctx.name, "needs -n NAME", HELP.create) end
  if not compose_path or compose_path == "" then return common.usage(ctx.name, "needs -c COMPOSE", HELP.create) end
  local sizes = {}
  for _, k in ipairs { { "vcpu", 1 }, { "memory", 2048 }, { "disk-size", 40 }, { "teepod-id", false } } do
    local n, bad = common.integer(ctx, k[1], k[1] == "teepod-id" and 0 or 1)
    if bad then return bad end
    if n == nil then n = k[2] or nil end
    sizes[k[1]] = n
  end
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return wrc end
  local compose, crc = common.read_compose(ctx, compose_path)
  if not compose then return crc end
  local env, erc = common.env_file(ctx)
  if erc then return erc end
  local c, clrc = common.client(ctx)
  if not c then return clrc end
  local avail, msg, code, info = c:nodes { v03x_only = true }
  if not avail then return common.fail(ctx, msg, code, info) end
  local node
  for _, n in ipairs(type(avail.nodes) == "table" and avail.nodes or {}) do
    if not sizes["teepod-id"] or n.teepod_id == sizes["teepod-id"] then node = node or n end
  end
  if not node then
    local which = sizes["teepod-id"] and ("node " .. sizes["teepod-id"] .. " is") or "no node is"
    return common.fail(ctx, which .. " available for a dstack 0.3 create", "ENOTFOUND")
  end
  local image = o.image or "dstack-0.3.6"
  local found, names = has_image(node, image)
  if not found then
    return common.fail(ctx, ("image %s is not on node %s (it has: %s)"):format(image, common.str(node.name), names),
      "ENOTFOUND")
  end
  local manifest, merr, mcode = phala.build_compose { docker_compose = compose, name = name, legacy_v03 = true,
                                                     allowed_envs = env and env.names or nil }
  if not manifest then return common.fail(ctx, merr, mcode) end
  local body = { teepod_id = node.teepod_id, name = name, image = image, vcpu = sizes.vcpu, memory = sizes.memory,
                 disk_size = sizes["disk-size"], compose_manifest = json.decode(manifest), listed = false }
  local pk
  pk, msg, code, info = c:cvm_pubkey(body)
  if not pk then return common.fail(ctx, msg, code, info) end
  if env then
    local hex, eerr, ecode = common.encrypt(env, pk.app_env_encrypt_pubkey)
    if not hex then return common.fail(ctx, eerr, ecode) end
    body.encrypted_env = hex
  end
  body.app_env_encrypt_pubkey, body.app_id_salt = pk.app_env_encrypt_pubkey, pk.app_id_salt
  local vm
  vm, msg, code, info = c:create_cvm(body)
  if not vm then return common.fail(ctx, msg, code, info) end
  return started(ctx, c, vm,
    ("✓ CVM is being created%s"):format(env and (" with " .. #env.names .. " encrypted env vars") or ""),
    wait and { vm.vm_uuid or vm.app_id, "running", timeout, "CVM " .. name })
end

-- ---- upgrade (spec 3.5) -------------------------------------------------------------------------

-- What the new manifest keeps from the CVM's current app-compose.
local KEEP = { "manifest_version", "runner", "version", "features", "name", "kms_enabled", "public_logs",
               "public_sysinfo", "tproxy_enabled" }

local function upgrade(args)
  local ctx, arg = parse(args, "upgrade", with(WAIT_SPEC, { { "compose", "c", "value" },
    { "env-file", "e", "value" }, { "yes", "y", "flag" }, { "force", "f", "flag" }, { "debug", false, "flag" } }), true)
  if not ctx then return arg end
  local o = ctx.opts
  if not o.compose and not o["env-file"] then
    return common.usage(ctx.name, "give -c COMPOSE, -e ENV_FILE or both", HELP.upgrade)
  end
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return wrc end
  local compose
  if o.compose then
    local crc
    compose, crc = common.read_compose(ctx, o.compose)
    if not compose then return crc end
  end
  local env, erc = common.env_file(ctx)
  if erc then return erc end
  local c, ref = connect(ctx, arg)
  if not c then return ref end
  local d, current = common.cvm_and_compose(ctx, c, ref,
    "cannot read the CVM's current app-compose, so its allowed_envs would be lost: ")
  if not d then return current end
  local old_allowed = common.strings(current.allowed_envs)
  local new_allowed = env and env.names or old_allowed
  local manifest = { docker_compose_file = compose or current.docker_compose_file,
                     allowed_envs = json.array(new_allowed) }
  for _, k in ipairs(KEEP) do manifest[k] = current[k] end
  manifest.manifest_version = manifest.manifest_version or 2
  manifest.runner = manifest.runner or "docker-compose"
  manifest.version = manifest.version or "1.0.0"
  manifest.features = manifest.features or json.array { "kms", "tproxy-net" }
  manifest.name = manifest.name or d.name
  if type(manifest.docker_compose_file) ~= "string" then
    return common.fail(ctx, "the CVM's app-compose has no docker_compose_file: give -c COMPOSE", "EPROTO")
  end
  local diff = common.env_diff(old_allowed, new_allowed)
  common.show_env_diff(diff, env ~= nil)
  common.warn_unreferenced(new_allowed, manifest.docker_compose_file)
  local ok, crc = common.confirm(ctx, ("Upgrade CVM %s (app_%s)? It restarts with the new %s"):format(
    common.str(d.name), common.str(d.app_id), compose and env and "compose and env" or compose and "compose" or "env"))
  if not ok then return crc end
  local body = { compose_manifest = manifest, allow_restart = true }
  if env then
    local hex, eerr, ecode = common.encrypt(env, d.encrypted_env_pubkey)
    if not hex then return common.fail(ctx, eerr, ecode) end
    body.encrypted_env, body.env_keys = hex, json.array(env.names)
  end
  local r, msg, code, info = c:upgrade_cvm(ref, body)
  if not r then return common.fail(ctx, msg, code, info) end
  local detail = type(r) == "table" and r.detail or nil
  if not ctx.json then
    print(("✓ Upgrade of %s accepted%s"):format(common.str(d.name), detail and (": " .. common.str(detail)) or ""))
  end
  local result = { success = true, app_id = d.app_id, name = d.name, detail = detail, env_sent = env ~= nil,
                   allowed_envs = json.array(new_allowed), env_changes = diff }
  return common.finish(ctx, c, result, wait and { d.vm_uuid or ref, "running", timeout, "CVM " .. common.str(d.name) })
end

-- ---- resize (spec 3.6) --------------------------------------------------------------------------

local function resize(args)
  local ctx, arg = parse(args, "resize", with(WAIT_SPEC, { { "vcpu", "v", "value" }, { "memory", "m", "value" },
    { "disk-size", "d", "value" }, { "allow-restart", "r", "value" }, { "yes", "y", "flag" } }), true)
  if not ctx then return arg end
  local body = {}
  for opt, field in pairs { vcpu = "vcpu", memory = "memory", ["disk-size"] = "disk_size" } do
    local n, bad = common.integer(ctx, opt)
    if bad then return bad end
    body[field] = n
  end
  if not next(body) then return common.usage(ctx.name, "give --vcpu, --memory or --disk-size", HELP.resize) end
  local restart, brc = common.boolean(ctx, "allow-restart")
  if brc then return brc end
  body.allow_restart = restart == true
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return wrc end
  local c, ref = connect(ctx, arg)
  if not c then return ref end
  local d, msg, code, info = c:get_cvm(ref)
  if not d then return common.fail(ctx, msg, code, info) end
  local changes = {}
  for _, f in ipairs { "vcpu", "memory", "disk_size" } do
    if body[f] then changes[#changes + 1] = ("%s %s -> %s"):format(f, common.str(d[f]), body[f]) end
  end
  common.note("Resize ", common.str(d.name), ": ", table.concat(changes, ", "),
    body.allow_restart and " (restarts now)" or " (applies at the next restart; -r true restarts now)")
  local ok, crc = common.confirm(ctx, ("Resize CVM %s?"):format(common.str(d.name)))
  if not ok then return crc end
  local r
  r, msg, code, info = c:resize_cvm(ref, body)
  if not r then return common.fail(ctx, msg, code, info) end
  if not ctx.json then print("✓ Resize of " .. common.str(d.name) .. " accepted") end
  local result = { success = true, app_id = d.app_id, name = d.name, vcpu = body.vcpu, memory = body.memory,
                   disk_size = body.disk_size, allow_restart = body.allow_restart }
  return common.finish(ctx, c, result,
    wait and body.allow_restart and { d.vm_uuid or ref, "running", timeout, "CVM " .. common.str(d.name) })
end

-- ---- attestation (spec 3.10) --------------------------------------------------------------------

-- The payload of the first event named name in the log, or nil.
local function event_payload(log, name)
  for _, e in ipairs(type(log) == "table" and log or {}) do
    if e.event == name then return e.event_payload end
  end
end

-- Checks tcb_info: {compose_hash=, measured=, app_id_event=, ok=} (ok false on a mismatch).
local function check_tcb(tcb)
  local r = { ok = true }
  if type(tcb) ~= "table" then return r end
  r.measured = event_payload(tcb.event_log, "compose-hash")
  r.app_id_event = event_payload(tcb.event_log, "app-id")
  if type(tcb.app_compose) == "string" then
    r.compose_hash = phala.compose_hash(tcb.app_compose, "raw")
    if type(r.measured) == "string" and r.measured:lower() ~= r.compose_hash then r.ok = false end
  end
  return r
end

local function show_attestation(a, check)
  common.rows { { "Name", a.name }, { "Online", a.is_online == true and "yes" or "no" },
                { "Public", a.is_public == true and "yes" or "no" }, { "Error", a.error } }
  local certs = type(a.app_certificates) == "table" and a.app_certificates or {}
  if #certs > 0 then print("Certificates:") end
  for _, cert in ipairs(certs) do
    local s, i = cert.subject or {}, cert.issuer or {}
    print(("  [%s] %s (issuer %s), %s .. %s%s"):format(common.str(cert.position_in_chain), common.str(s.common_name),
      common.str(i.common_name), common.str(cert.not_before), common.str(cert.not_after),
      common.str(cert.quote) ~= "-" and ", with TDX quote" or ""))
  end
  local tcb = a.tcb_info
  if type(tcb) ~= "table" then return end
  print("TCB:")
  for _, k in ipairs { "mrtd", "rootfs_hash", "rtmr0", "rtmr1", "rtmr2", "rtmr3" } do
    if tcb[k] ~= nil then print(("  %-12s %s"):format(k, common.str(tcb[k]))) end
  end
  if check.compose_hash then
    print(("  %-12s %s (SHA-256 of app_compose)%s"):format("compose_hash", check.compose_hash,
      check.measured == nil and "" or check.ok and ", matches the compose-hash event"
        or (", but the event log measured " .. common.str(check.measured))))
  end
  print("Event log:")
  for _, e in ipairs(type(tcb.event_log) == "table" and tcb.event_log or {}) do
    if type(e.event) == "string" and e.event ~= "" then
      print(("  imr %s  %-18s %s"):format(common.str(e.imr), e.event, common.str(e.event_payload)))
    end
  end
end

local function attestation(args)
  local ctx, a = fetch(args, "attestation", "attestation")
  if not ctx then return a end
  if type(a) ~= "table" then return common.fail(ctx, "the attestation answer is not a JSON object", "EPROTO") end
  local check = check_tcb(a.tcb_info)
  common.output(ctx, a, function() show_attestation(a, check) end)
  if not check.ok then
    io.stderr:write(common.PROG, " ", ctx.name, ": the event log measured compose hash ", common.str(check.measured),
      " but tcb_info.app_compose hashes to ", check.compose_hash, "\n")
    return 1
  end
  if type(a.tcb_info) ~= "table" then
    io.stderr:write(common.PROG, " ", ctx.name, ": no TCB info in the answer", a.error ~= nil and a.error ~= json.null
      and (": " .. common.str(a.error)) or " (is the CVM running?)", "\n")
    return 1
  end
  return 0
end

-- ---- replicate ----------------------------------------------------------------------------------

local function replicate(args)
  local ctx, arg = parse(args, "replicate", with(WAIT_SPEC, { { "teepod-id", false, "value" },
    { "node-id", false, "value" }, { "env-file", "e", "value" } }), true)
  if not ctx then return arg end
  local node, nrc = common.integer(ctx, ctx.opts["teepod-id"] and "teepod-id" or "node-id", 0)
  if nrc then return nrc end
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return wrc end
  local env, erc = common.env_file(ctx)
  if erc then return erc end
  local c, ref = connect(ctx, arg)
  if not c then return ref end
  local body = { teepod_id = node }
  if env then
    local comp, msg, code, info = c:get_compose(ref)
    if not comp then return common.fail(ctx, msg, code, info) end
    local allowed = {}
    for _, k in ipairs(common.strings(type(comp.compose_file) == "table" and comp.compose_file.allowed_envs)) do
      allowed[k] = true
    end
    local missing = {}
    for _, k in ipairs(env.names) do if not allowed[k] then missing[#missing + 1] = k end end
    if #missing > 0 then
      common.warn("not in the app's allowed_envs (dstack >= 0.5 drops them; change them with `cvms upgrade -e`): ",
        table.concat(missing, ", "))
    end
    local hex, eerr, ecode = common.encrypt(env, comp.env_pubkey)
    if not hex then return common.fail(ctx, eerr, ecode) end
    body.encrypted_env = hex
  end
  local vm, msg, code, info = c:replicate(ref, next(body) and body or nil)
  if not vm then return common.fail(ctx, msg, code, info) end
  return started(ctx, c, vm, "✓ Replica is being created",
    wait and { vm.vm_uuid or ref, "running", timeout, "replica " .. common.str(vm.vm_uuid) })
end

-- ---- dispatch -----------------------------------------------------------------------------------

local COMMANDS = {
  list = list, ls = list, get = get, create = create, delete = delete, upgrade = upgrade, resize = resize,
  attestation = attestation, network = network, ["list-nodes"] = list_nodes, replicate = replicate,
}
for name in pairs(ACTIONS) do COMMANDS[name] = function(args) return action(name, args) end end

return function(args) return common.dispatch("cvms", args, COMMANDS, group_help()) end
