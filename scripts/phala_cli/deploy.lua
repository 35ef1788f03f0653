-- phala_cli.deploy: `teehost phala deploy` — the provision flow for a new CVM (spec 3.7) and,
-- with --uuid, the compose update flow (spec 3.8), with the request bodies of phala 1.0.35.
-- Where it differs, on purpose:
--   * the compose hash (and app id) the CVM will measure is shown before anything is created or
--     changed; an update also recomputes it from the CVM's app-compose and says whether the
--     server's value matches; --dry-run computes it locally without calling the API;
--   * an update without -e keeps the CVM's env and allowed_envs; with -e they become exactly
--     the file's names; the difference is shown (names only) and confirmed first;
--   * a deploy never turns into an update by itself: ./.phala/config and PHALA_CLOUD_CVM_UUID
--     are not read (1.0.35 silently updated the CVM they named); pass --uuid;
--   * on-chain KMS (a contract to register with a wallet) is refused with a message instead of
--     half-done.
local phala = require "phala"
local json = require "json"
local cli = require "teehost.cli"
local common = require "phala_cli.common"

local HELP = [[
teehost phala deploy [COMPOSE] [options]       (COMPOSE or -c: the docker-compose file)
    new CVM: POST /cvms/provision (shows the compose hash and app id), encrypts the env to the
    app's key, POST /cvms. With --uuid CVM: updates that CVM's compose (and env with -e).
  -n, --name NAME          CVM name (default: this directory's name)
  -e, --env-file FILE      env vars sent encrypted; their names become allowed_envs
  --vcpu N                 (1)      --memory MB|2G (2048)      --disk-size GB|50G (40)
  --node-id N              node (default: the first available); also --teepod-id
  --image NAME             OS image (default: the node's first)
  --kms-id SLUG            KMS to use (Phala KMS only; on-chain KMS is not supported)
  --pre-launch-script FILE script run before docker compose in the CVM
  --uuid CVM               update this CVM instead (app id, UUID or name); asks first on a
                           terminal unless --yes
  --dry-run                build the app-compose here and show its hash; send nothing
  --wait, --timeout S      wait until the CVM runs (default timeout 600 s)
  --api-key KEY, --json, --yes]]

local SPEC = {
  { "name", "n", "value" }, { "compose", "c", "value" }, { "env-file", "e", "value" }, { "vcpu", false, "value" },
  { "memory", false, "value" }, { "disk-size", false, "value" }, { "node-id", false, "value" },
  { "teepod-id", false, "value" }, { "image", false, "value" }, { "kms-id", false, "value" },
  { "pre-launch-script", false, "value" }, { "uuid", false, "value" }, { "dry-run", false, "flag" },
  { "wait", "w", "flag" }, { "timeout", false, "value" }, { "api-key", false, "value" }, { "yes", "y", "flag" },
  { "private-key", false, "value" },
  { "rpc-url", false, "value" }, { "custom-app-id", false, "value" },
}

-- The default name: the directory's name lowercased, other characters as '-', at least 3
-- characters (padded with -cvm), at most 20 (phala 1.0.35's rule).
local function default_name()
  local dir = os.getenv("PWD") or ""
  local name = (dir:match("([^/]+)/*$") or "app"):lower():gsub("[^a-z0-9_-]", "-")
  if #name < 3 then name = name .. "-cvm" end
  return name:sub(1, 20)
end

-- MB from "2048", "2048MB", "2G", "2GB" (nil when not that).
local function megabytes(s)
  local n, unit = tostring(s):upper():match("^%s*(%d+)%s*([MG]?)B?%s*$")
  n = math.tointeger(tonumber(n or ""))
  if not n or n < 1 then return nil end
  return unit == "G" and n * 1024 or n
end

-- GB from "40", "40G", "40GB".
local function gigabytes(s)
  local n = tostring(s):upper():match("^%s*(%d+)%s*G?B?%s*$")
  n = math.tointeger(tonumber(n or ""))
  if n and n >= 1 then return n end
end

-- Reads the options into a plan {compose=, env=, script=, name=, vcpu=, …}, or nil, status.
local function plan_of(ctx)
  local o = ctx.opts
  local positional, extra = common.positionals(ctx, 1)
  if extra then return nil, extra end
  for _, k in ipairs { "private-key", "rpc-url", "custom-app-id" } do
    if o[k] then
      return nil, common.usage(ctx.name, "--" .. k .. ": on-chain KMS deployments (a DstackApp contract registered "
        .. "with a wallet) are not supported by teehost yet; use a node with Phala KMS")
    end
  end
  local path = o.compose or positional
  if o.compose and positional then
    return nil, common.usage(ctx.name, "give the compose file once (-c or COMPOSE)", HELP)
  end
  if o.uuid and not path and not o["env-file"] and not o["pre-launch-script"] then
    return nil, common.usage(ctx.name, "--uuid needs something to update: COMPOSE, -e ENV_FILE or --pre-launch-script",
      HELP)
  end
  if not path and not o.uuid then
    return nil, common.usage(ctx.name, "needs a docker-compose file (-c COMPOSE)", HELP)
  end
  local p = { name = o.name or default_name(), vcpu = 1, memory = 2048, disk_size = 40 }
  if o.vcpu then
    local n, rc = common.integer(ctx, "vcpu")
    if not n then return nil, rc end
    p.vcpu = n
  end
  if o.memory then
    p.memory = megabytes(o.memory)
    if not p.memory then
      return nil, common.usage(ctx.name, "--memory needs MB or a size like 2G, got '" .. o.memory .. "'")
    end
  end
  if o["disk-size"] then
    p.disk_size = gigabytes(o["disk-size"])
    if not p.disk_size then
      return nil, common.usage(ctx.name, "--disk-size needs GB or a size like 50G, got '" .. o["disk-size"] .. "'")
    end
  end
  local node_opt = o["node-id"] and "node-id" or "teepod-id"
  local node, nrc = common.integer(ctx, node_opt, 0)
  if nrc then return nil, nrc end
  p.node_id = node
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return nil, wrc end
  p.wait, p.timeout = wait, timeout
  if path then
    local text, crc = common.read_compose(ctx, path)
    if not text then return nil, crc end
    p.compose = text
  end
  local env, erc = common.env_file(ctx)
  if erc then return nil, erc end
  p.env = env
  if o["pre-launch-script"] then
    local script, err = cli.read_file(o["pre-launch-script"])
    if not script then return nil, common.fail(ctx, err, "ENOENT") end
    p.script = script
  end
  return p
end

local function names_of(p) return p.env and p.env.names or {} end

-- ---- --dry-run ----------------------------------------------------------------------------------

local function dry_run(ctx, p)
  local text, hash, app_id = phala.build_compose { docker_compose = p.compose, name = p.name,
    allowed_envs = names_of(p), pre_launch_script = p.script }
  if not text then return common.fail(ctx, hash, app_id) end
  common.warn_unreferenced(names_of(p), p.compose)
  return common.output(ctx, { dry_run = true, name = p.name, app_compose = text, compose_hash = hash,
    app_id = app_id, allowed_envs = json.array(names_of(p)) }, function()
    print(text)
    common.rows { { "Compose hash", hash }, { "App ID", app_id .. " (centralized KMS; Phala KMS assigns its own)" } }
    common.note("Phala Cloud writes the app-compose itself and may add members (salt, gateway domain): "
      .. "`deploy` shows the hash it will measure before creating anything.")
  end)
end

-- ---- new CVM (spec 3.7) -------------------------------------------------------------------------

local function pick_node(ctx, avail, p)
  local node
  for _, n in ipairs(type(avail.nodes) == "table" and avail.nodes or {}) do
    if not node and (not p.node_id or n.teepod_id == p.node_id) then node = n end
  end
  if not node then
    return nil, common.fail(ctx, p.node_id and ("node " .. p.node_id .. " is not available to this workspace")
      or "no node is available", "ENOTFOUND")
  end
  local images = type(node.images) == "table" and node.images or {}
  local image = ctx.opts.image or (images[1] and images[1].name)
  local found = false
  for _, img in ipairs(images) do found = found or img.name == image end
  if not found then
    return nil, common.fail(ctx, ("image %s is not on node %s"):format(common.str(image), common.str(node.name)),
      "ENOTFOUND")
  end
  for _, k in ipairs(type(avail.kms_list) == "table" and avail.kms_list or {}) do
    if ctx.opts["kms-id"] and (k.slug == ctx.opts["kms-id"] or k.id == ctx.opts["kms-id"])
        and common.str(k.chain_id) ~= "-" then
      return nil, common.fail(ctx, "KMS " .. ctx.opts["kms-id"] .. " is on-chain: registering the app contract is not "
        .. "supported by teehost yet; choose a Phala KMS", "ENOTSUP")
    end
  end
  return node, image
end

local function create(ctx, c, p)
  local f = io.open(".phala/config")
  if f then f:close() end
  if f or os.getenv("PHALA_CLOUD_CVM_UUID") then
    common.note("Note: teehost does not read ./.phala/config or PHALA_CLOUD_CVM_UUID: this creates a new CVM ",
      "(pass --uuid CVM to update one)")
  end
  common.warn_unreferenced(names_of(p), p.compose)
  local avail, msg, code, info = c:nodes()
  if not avail then return common.fail(ctx, msg, code, info) end
  local node, image = pick_node(ctx, avail, p)
  if not node then return image end
  local body = {
    name = p.name,
    compose_file = { docker_compose_file = p.compose, allowed_envs = json.array(names_of(p)), name = p.name,
                     pre_launch_script = p.script },
    vcpu = p.vcpu, memory = p.memory, disk_size = p.disk_size, image = image, teepod_id = node.teepod_id,
    kms_id = ctx.opts["kms-id"],
  }
  local prov
  prov, msg, code, info = c:provision(body)
  if not prov then return common.fail(ctx, msg, code, info) end
  if type(prov) ~= "table" or type(prov.compose_hash) ~= "string" or type(prov.app_id) ~= "string" then
    return common.fail(ctx, "POST /cvms/provision gave no compose_hash and app_id", "EPROTO")
  end
  if type(prov.app_compose) == "string" and phala.compose_hash(prov.app_compose, "raw") ~= prov.compose_hash then
    return common.fail(ctx, "the provision's compose_hash is not the SHA-256 of the app_compose it returned", "EVERIFY")
  end
  if type(prov.kms_info) == "table" and common.str(prov.kms_info.chain_id) ~= "-" then
    return common.fail(ctx, "this node provisions with an on-chain KMS: registering the app contract is not supported "
      .. "by teehost yet; choose a node with Phala KMS (--node-id)", "ENOTSUP")
  end
  common.note(("Compose hash: %s\nApp ID:       %s\n(the CVM measures this compose hash in RTMR3; "
    .. "check it with `cvms attestation`)"):format(prov.compose_hash, prov.app_id))
  local commit = { app_id = prov.app_id, compose_hash = prov.compose_hash, kms_id = ctx.opts["kms-id"] }
  if p.env then
    local hex, eerr, ecode = common.encrypt(p.env, prov.app_env_encrypt_pubkey)
    if not hex then return common.fail(ctx, eerr, ecode) end
    commit.encrypted_env = hex
  end
  local vm
  vm, msg, code, info = c:commit(commit)
  if not vm then return common.fail(ctx, msg, code, info) end
  if type(vm) ~= "table" then vm = {} end
  local uuid = vm.vm_uuid or prov.app_id
  local result = { success = true, vm_uuid = vm.vm_uuid, name = vm.name or p.name, app_id = vm.app_id or prov.app_id,
    compose_hash = prov.compose_hash, node_id = node.teepod_id, image = image, allowed_envs = json.array(names_of(p)),
    dashboard_url = common.dashboard(uuid), status = vm.status }
  return common.finish(ctx, c, result, p.wait and { uuid, "running", p.timeout, "CVM " .. result.name }, function()
    common.rows { { "CVM ID", result.vm_uuid }, { "Name", result.name }, { "App ID", result.app_id },
      { "Compose hash", result.compose_hash }, { "Status", result.status }, { "Dashboard URL", result.dashboard_url } }
  end)
end

-- ---- update (spec 3.8) --------------------------------------------------------------------------

-- The app-compose members SDK 0.0.9 sends back (captured); the server keeps the others.
local SENT = { "name", "kms_enabled", "public_logs", "public_sysinfo", "pre_launch_script" }

local function update(ctx, c, p)
  local ref, rrc = common.cvm_ref(ctx, c, ctx.opts.uuid)
  if not ref then return rrc end
  local d, current = common.cvm_and_compose(ctx, c, ref, "cannot read the CVM's app-compose: ")
  if not d then return current end
  local old_allowed = common.strings(current.allowed_envs)
  local new_allowed = p.env and p.env.names or old_allowed
  local body = { docker_compose_file = p.compose or current.docker_compose_file,
                 allowed_envs = json.array(new_allowed) }
  for _, k in ipairs(SENT) do body[k] = current[k] end
  body.name = body.name or d.name
  if p.script then body.pre_launch_script = p.script end
  if type(body.docker_compose_file) ~= "string" then
    return common.fail(ctx, "the CVM's app-compose has no docker_compose_file: give the compose file", "EPROTO")
  end
  local diff = common.env_diff(old_allowed, new_allowed)
  common.show_env_diff(diff, p.env ~= nil)
  common.warn_unreferenced(new_allowed, body.docker_compose_file)
  -- What the server should write: the current app-compose with these members replaced.
  local expected = {}
  for k, v in pairs(current) do expected[k] = v end
  for k, v in pairs(body) do expected[k] = v end
  local predicted = phala.compose_hash(expected)
  local prov, msg, code, info = c:provision_update(ref, body)
  if not prov then return common.fail(ctx, msg, code, info) end
  if type(prov) ~= "table" or type(prov.compose_hash) ~= "string" then
    return common.fail(ctx, "the compose provision gave no compose_hash", "EPROTO")
  end
  if type(prov.kms_info) == "table" and common.str(prov.kms_info.chain_id) ~= "-" then
    return common.fail(ctx, "this CVM uses an on-chain KMS: registering the new compose hash is not supported "
      .. "by teehost yet", "ENOTSUP")
  end
  local verified = predicted == prov.compose_hash
  common.note(("Compose hash: %s (%s)"):format(prov.compose_hash, verified and "teehost computed the same value"
    or "computed by Phala Cloud; teehost's own computation gave " .. tostring(predicted)))
  local ok, crc = common.confirm(ctx, ("Update CVM %s (app_%s)? It restarts with the new %s"):format(
    common.str(d.name), common.str(d.app_id), p.env and "compose and env" or "compose"))
  if not ok then return crc end
  local commit = { compose_hash = prov.compose_hash }
  if p.env then
    local hex, eerr, ecode = common.encrypt(p.env, d.encrypted_env_pubkey)
    if not hex then return common.fail(ctx, eerr, ecode) end
    commit.encrypted_env, commit.env_keys = hex, json.array(p.env.names)
  end
  local r
  r, msg, code, info = c:commit_update(ref, commit)
  if not r then return common.fail(ctx, msg, code, info) end
  local result = { success = true, updated = true, vm_uuid = d.vm_uuid, name = d.name, app_id = d.app_id,
    compose_hash = prov.compose_hash, compose_hash_verified = verified, env_sent = p.env ~= nil,
    allowed_envs = json.array(new_allowed), env_changes = diff, dashboard_url = common.dashboard(d.vm_uuid or ref) }
  local wait = p.wait and { d.vm_uuid or ref, "running", p.timeout, "CVM " .. common.str(d.name) }
  return common.finish(ctx, c, result, wait, function()
    common.rows { { "CVM ID", result.vm_uuid }, { "Name", result.name }, { "App ID", result.app_id },
      { "Compose hash", result.compose_hash }, { "Dashboard URL", result.dashboard_url } }
    print("✓ Update accepted: the CVM restarts with it")
  end)
end

return function(args)
  local ctx, rc = common.parse(args, SPEC, HELP, "deploy")
  if not ctx then return rc end
  local p, prc = plan_of(ctx)
  if not p then return prc end
  if ctx.opts["dry-run"] then
    if not p.compose then return common.usage(ctx.name, "--dry-run needs the compose file", HELP) end
    return dry_run(ctx, p)
  end
  local c, crc = common.client(ctx, ctx.opts["api-key"])
  if not c then return crc end
  if ctx.opts.uuid then return update(ctx, c, p) end
  return create(ctx, c, p)
end
