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
--   * on-chain KMS (spec 3.7 "Between the steps", 3.8 step 3; phala_cli.onchain): the app contract is deployed (or
--     the new compose hash added) with the key of --private-key/PRIVATE_KEY through --rpc-url,
--     and the env is encrypted only to a key whose KMS signature recovers the root key the KMS
--     contract publishes (kmsInfo().k256Pubkey; spec 5.4, weakness 14); the chain is checked,
--     the root key is read before any gas is spent, and every failure stops before POST /cvms;
--   * -i asks for every value no flag gave (the compose file found here, the name, the .env, the
--     sizes, the node and image from the API's list), checks each answer as the flag would and
--     asks again with the reason, then shows a summary with the compose hash and the same
--     command without questions, and creates the CVM only once confirmed (unless --yes).
local phala = require "phala"
local json = require "json"
local cli = require "teehost.cli"
local common = require "phala_cli.common"
local prompt = require "phala_cli.prompt"
local eth = require "phala_cli.eth"
local onchain = require "phala_cli.onchain"

local HELP = [[
teehost phala deploy [COMPOSE] [options]       (COMPOSE or -c: the docker-compose file)
    new CVM: POST /cvms/provision (shows the compose hash and app id), encrypts the env to the
    app's key, POST /cvms. With --uuid CVM: updates that CVM's compose (and env with -e).
  -i, --interactive        on a terminal: ask for each value not given below (defaults: the
                           compose file here, .env, the first node and image), show a summary
                           with the compose hash, create once confirmed (unless --yes)
  -n, --name NAME          CVM name (default: this directory's name)
  -e, --env-file FILE      env vars sent encrypted; their names become allowed_envs
  --vcpu N                 (1)      --memory MB|2G (2048)      --disk-size GB|50G (40)
  --node-id N              node (default: the first available); also --teepod-id
  --image NAME             OS image (default: the node's first)
  --kms-id SLUG            KMS to use; an on-chain KMS (one with a chain id) also needs:
  --private-key HEX        the deployer's key, which pays for and owns the app contract (better:
                           the PRIVATE_KEY environment variable, which `ps` does not show)
  --rpc-url URL            JSON-RPC endpoint of the KMS's chain
  --kms-root HEX           the KMS root key you trust (33-byte compressed secp256k1, hex); the
                           contract's kmsInfo() must name the same key, so a lying RPC node and
                           a lying API together cannot pick the key your env is encrypted to
  --pre-launch-script FILE script run before docker compose in the CVM
  --uuid CVM               update this CVM instead (app id, UUID or name); asks first on a
                           terminal unless --yes
  --dry-run                build the app-compose here and show its hash; send nothing
  --wait, --timeout S      wait until the CVM runs (default timeout 600 s); S also bounds the
                           wait for an on-chain transaction to be mined (default 300 s)
  --api-key KEY, --json, --yes]]

local SPEC = {
  { "name", "n", "value" }, { "compose", "c", "value" }, { "env-file", "e", "value" }, { "vcpu", false, "value" },
  { "memory", false, "value" }, { "disk-size", false, "value" }, { "node-id", false, "value" },
  { "teepod-id", false, "value" }, { "image", false, "value" }, { "kms-id", false, "value" },
  { "pre-launch-script", false, "value" }, { "uuid", false, "value" }, { "dry-run", false, "flag" },
  { "wait", "w", "flag" }, { "timeout", false, "value" }, { "api-key", false, "value" }, { "yes", "y", "flag" },
  { "private-key", false, "value" },
  { "rpc-url", false, "value" }, { "custom-app-id", false, "value" }, { "interactive", "i", "flag" },
  { "kms-root", false, "value" },
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

-- The rules of the values that both a flag and an -i answer give: value, or nil and why.
local CHECK = {}

function CHECK.vcpu(s)
  local n = math.tointeger(tonumber(s))
  if n and n >= 1 then return n end
  return nil, ("needs a whole number, at least 1; got '%s'"):format(s)
end

function CHECK.memory(s)
  local n = megabytes(s)
  if n then return n end
  return nil, "needs MB or a size like 2G, got '" .. s .. "'"
end

function CHECK.disk_size(s)
  local n = gigabytes(s)
  if n then return n end
  return nil, "needs GB or a size like 50G, got '" .. s .. "'"
end

-- Reads the options into a plan {compose=, env=, script=, name=, vcpu=, …}, or nil, status.
local function plan_of(ctx)
  local o = ctx.opts
  local positional, extra = common.positionals(ctx, 1)
  if extra then return nil, extra end
  if o["custom-app-id"] then
    return nil, common.usage(ctx.name, "--custom-app-id: teehost deploys the app contract of an on-chain KMS itself "
      .. "(deployAndRegisterApp); reusing a contract is not supported")
  end
  if o["private-key"] and not phala.eth_address(o["private-key"]) then
    local _, why = phala.eth_address(o["private-key"])
    return nil, common.usage(ctx.name, "--private-key: " .. why .. " (an on-chain KMS deployment needs the deployer's "
      .. "secp256k1 key)")
  end
  if o["kms-root"] and not o["kms-root"]:lower():gsub("^0x", ""):match("^0[23]" .. ("%x"):rep(64) .. "$") then
    return nil, common.usage(ctx.name, "--kms-root needs a compressed secp256k1 public key: 66 hex digits "
      .. "starting 02 or 03")
  end
  if o["rpc-url"] and not o["rpc-url"]:match("^https?://[^%s]+$") then
    return nil, common.usage(ctx.name, "--rpc-url needs an http:// or https:// URL of the on-chain KMS's chain")
  end
  local path = o.compose or positional
  if o.compose and positional then
    return nil, common.usage(ctx.name, "give the compose file once (-c or COMPOSE)", HELP)
  end
  if o.uuid and not path and not o["env-file"] and not o["pre-launch-script"] then
    return nil, common.usage(ctx.name, "--uuid needs something to update: COMPOSE, -e ENV_FILE or --pre-launch-script",
      HELP)
  end
  if o.interactive and o.uuid then
    return nil, common.usage(ctx.name, "-i asks for a new CVM's settings; to update one, give --uuid with COMPOSE, "
      .. "-e ENV_FILE or --pre-launch-script (it asks before changing anything)", HELP)
  end
  if o.interactive and (path == "-" or o["env-file"] == "-") then
    return nil, common.usage(ctx.name, "with -i the terminal is stdin: give the files' paths, not '-'")
  end
  if not path and not o.uuid and not o.interactive then
    return nil, common.usage(ctx.name, "needs a docker-compose file (-c COMPOSE, or -i to be asked)", HELP)
  end
  local p = { name = o.name or default_name(), vcpu = 1, memory = 2048, disk_size = 40, image = o.image,
              compose_path = path, env_path = o["env-file"], rpc_url = o["rpc-url"] }
  for _, k in ipairs { "vcpu", "memory", "disk-size" } do
    if o[k] then
      local key = k:gsub("-", "_")
      local v, why = CHECK[key](o[k])
      if not v then return nil, common.usage(ctx.name, "--" .. k .. " " .. why, k == "vcpu" and HELP or nil) end
      p[key] = v
    end
  end
  local node_opt = o["node-id"] and "node-id" or "teepod-id"
  local node, nrc = common.integer(ctx, node_opt, 0)
  if nrc then return nil, nrc end
  p.node_id = node
  local wait, timeout, wrc = common.wait_opts(ctx)
  if wait == nil then return nil, wrc end
  p.wait, p.timeout = wait, timeout
  p.tx_timeout = o.timeout and timeout or onchain.TX_TIMEOUT
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

-- ---- -i: the questions ---------------------------------------------------------------------------

-- The compose files -i offers, in this order, when one is in this directory.
local COMPOSE_NAMES = { "docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml" }

local function is_file(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local ok = f:read(0) ~= nil or f:read("a") ~= nil -- a directory opens but does not read
  f:close()
  return ok
end

local function detected_compose()
  for _, n in ipairs(COMPOSE_NAMES) do
    if is_file(n) then return n end
  end
end

function CHECK.compose(s)
  if s == "" then return nil, "give the path of the docker-compose file" end
  if s == "-" then return nil, "stdin is this terminal: give a file's path" end
  local text, err = cli.read_file(s)
  if not text then return nil, err or ("cannot read " .. s) end
  if text:match("^%s*$") then return nil, s .. " is empty" end
  return { path = s, text = text }
end

-- 1.0.35's -i rule for names (the flag takes any name, as 1.0.35's did).
function CHECK.name(s)
  if #s < 3 or #s > 20 then return nil, ("a CVM name has 3 to 20 characters, '%s' has %d"):format(s, #s) end
  if not s:match("^[%w_-]+$") then return nil, "a CVM name has only letters, digits, '_' and '-'" end
  return s
end

-- An env file (false: none), read with the one parser.
function CHECK.env(s)
  if s == "" or s == "none" then return false end
  if s == "-" then return nil, "stdin is this terminal: give a file's path" end
  local env, err = common.read_env(s)
  if not env then return nil, err end
  return { path = s, env = env }
end

local SIZES = {
  { flag = "vcpu", key = "vcpu", question = "vCPUs" },
  { flag = "memory", key = "memory", question = "Memory in MB (or a size like 4G)" },
  { flag = "disk-size", key = "disk_size", question = "Disk size in GB" },
}

-- A name from the API for the terminal: control characters (escape sequences) shown as '?'.
local function clean(v) return (common.str(v):gsub("%c", "?")) end

local function nodes_of(avail) return type(avail.nodes) == "table" and avail.nodes or {} end
local function images_of(node) return type(node.images) == "table" and node.images or {} end

-- The node list's lines: name, id, region, images, padded into columns.
local function node_labels(nodes)
  local w = 0
  for _, n in ipairs(nodes) do w = math.max(w, #clean(n.name)) end
  return function(n)
    local imgs = {}
    for _, img in ipairs(images_of(n)) do imgs[#imgs + 1] = clean(img.name) end
    return ("%-" .. w .. "s  id %-4s %-12s images: %s%s"):format(clean(n.name), clean(n.teepod_id),
      clean(n.region_identifier), table.concat(imgs, ", "),
      n.support_onchain_kms == true and "  (on-chain KMS node)" or "")
  end
end

-- Asks for the node and the image that no flag gave (the list comes from the API; p.avail keeps
-- it for create). Returns true, or nil and an exit status.
local function ask_placement(ctx, c, p, ended)
  local o = ctx.opts
  local avail, msg, code, info = c:nodes()
  if not avail then return nil, common.fail(ctx, msg, code, info) end
  p.avail = avail
  local nodes = nodes_of(avail)
  if #nodes == 0 then return nil, common.fail(ctx, "no node is available", "ENOTFOUND") end
  if not (o["node-id"] or o["teepod-id"]) then
    io.stderr:write("Nodes available to this workspace:\n")
    local node = prompt.choose("Node", nodes, node_labels(nodes), function(n) return n.name end)
    if not node then return ended() end
    p.node_id = node.teepod_id
  end
  if o.image then return true end
  local node
  for _, n in ipairs(nodes) do
    if not node and (p.node_id == nil or n.teepod_id == p.node_id) then node = n end
  end
  if not node or #images_of(node) == 0 then return true end -- pick_node says what is wrong
  io.stderr:write(("OS images on node %s:\n"):format(clean(node.name)))
  local img = prompt.choose("Image", images_of(node), function(i)
    return clean(i.name) .. (i.is_dev == true and "  (dev)" or "")
  end, function(i) return i.name end)
  if not img then return ended() end
  p.image = img.name
  return true
end

-- -i: asks, in the order of the help, for each value no flag gave; c is nil with --dry-run
-- (then only what the app-compose holds is asked). Returns true, or nil and an exit status.
local function interview(ctx, c, p)
  local o = ctx.opts
  local function ended()
    return nil, common.usage(ctx.name, "no answer (end of input): stopped before creating anything")
  end
  if not p.compose then
    local a = prompt.ask("Docker compose file", detected_compose(), CHECK.compose)
    if not a then return ended() end
    p.compose_path, p.compose = a.path, a.text
  end
  if not o.name then
    p.name = prompt.ask("CVM name", p.name, CHECK.name)
    if not p.name then return ended() end
  end
  if not o["env-file"] then
    local a = prompt.ask("Env file, its names become allowed_envs ('none': no env)",
      is_file(".env") and ".env" or nil, CHECK.env)
    if a == nil then return ended() end
    if a then p.env_path, p.env = a.path, a.env end
  end
  if not c then return true end
  for _, q in ipairs(SIZES) do
    if not o[q.flag] then
      p[q.key] = prompt.ask(q.question, tostring(p[q.key]), CHECK[q.key])
      if not p[q.key] then return ended() end
    end
  end
  return ask_placement(ctx, c, p, ended)
end

-- The same deployment as one command line without questions.
local function command_line(ctx, p, node, image)
  local w = { "teehost", "phala", "deploy", "-c", p.compose_path, "-n", p.name }
  local function add(...) for _, v in ipairs { ... } do w[#w + 1] = v end end
  if p.env_path then add("-e", p.env_path) end
  add("--vcpu", p.vcpu, "--memory", p.memory, "--disk-size", p.disk_size, "--node-id", node.teepod_id,
    "--image", image)
  for _, k in ipairs { "kms-id", "rpc-url", "pre-launch-script", "timeout" } do
    if ctx.opts[k] then add("--" .. k, ctx.opts[k]) end
  end
  if ctx.opts.wait then add("--wait") end
  if ctx.json then add("--json") end
  for i, v in ipairs(w) do w[i] = prompt.shell_word(v) end
  return table.concat(w, " ")
end

-- The KMS the provision chose: --kms-id, else what the reply names.
local function kms_of(ctx, prov)
  if ctx.opts["kms-id"] then return ctx.opts["kms-id"] end
  local info = type(prov.kms_info) == "table" and prov.kms_info or {}
  for _, v in ipairs { prov.kms_id, info.slug, info.id } do
    if type(v) == "string" and v ~= "" then return v end
  end
  return "the node's default"
end

-- What -i is about to create, on stderr (stdout stays for the result).
local function summary(ctx, p, node, image, prov)
  local names = names_of(p)
  local env = "none"
  if p.env_path then
    env = ("%s: %s (values sent encrypted to the app's key)"):format(p.env_path,
      #names > 0 and table.concat(names, ", ") or "no variables")
  end
  local rows = {
    { "Compose file", p.compose_path }, { "Name", p.name }, { "Env file", env }, { "vCPUs", p.vcpu },
    { "Memory", p.memory .. " MB" }, { "Disk size", p.disk_size .. " GB" },
    { "Node", ("%s (id %s)"):format(clean(node.name), clean(node.teepod_id)) }, { "Image", clean(image) },
    { "KMS", clean(kms_of(ctx, prov)) },
    { "Compose hash", prov.compose_hash .. " (measured in RTMR3)" },
    { "App ID", prov.app_id or "the address of the app contract deployed next (on-chain KMS)" },
  }
  io.stderr:write("\nAbout to create this CVM:\n")
  for _, r in ipairs(rows) do io.stderr:write(("  %-13s %s\n"):format(r[1] .. ":", clean(r[2]))) end
  io.stderr:write("Same without questions:\n  ", command_line(ctx, p, node, image), "\n")
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
  local image = p.image or (images[1] and images[1].name)
  local found = false
  for _, img in ipairs(images) do found = found or img.name == image end
  if not found then
    return nil, common.fail(ctx, ("image %s is not on node %s"):format(common.str(image), common.str(node.name)),
      "ENOTFOUND")
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
  local avail, msg, code, info = p.avail
  if not avail then
    avail, msg, code, info = c:nodes()
    if not avail then return common.fail(ctx, msg, code, info) end
  end
  local node, image = pick_node(ctx, avail, p)
  if not node then return image end
  local chain, arc
  local chosen = onchain.chain_kms(onchain.kms_entry(avail, ctx.opts["kms-id"]))
  if chosen then
    chain, arc = onchain.chain_access(ctx, p, chosen, "KMS " .. ctx.opts["kms-id"] .. " is on-chain")
    if not chain then return arc end
  end
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
  if type(prov) ~= "table" or type(prov.compose_hash) ~= "string" then
    return common.fail(ctx, "POST /cvms/provision gave no compose_hash", "EPROTO")
  end
  local ckms = onchain.chain_kms(prov.kms_info)
  if ckms and (not chain or chain.contract ~= common.str(ckms.kms_contract_address):lower()) then
    chain, arc = onchain.chain_access(ctx, p, ckms, ("this node provisions with an on-chain KMS (%s)"):format(
      common.str(ckms.slug ~= json.null and ckms.slug or ckms.id)))
    if not chain then return arc end
  end
  if prov.app_id == json.null then prov.app_id = nil end
  if not chain and type(prov.app_id) ~= "string" then
    return common.fail(ctx, "POST /cvms/provision gave no app_id", "EPROTO")
  end
  if type(prov.app_compose) == "string" and phala.compose_hash(prov.app_compose, "raw") ~= prov.compose_hash then
    return common.fail(ctx, "the provision's compose_hash is not the SHA-256 of the app_compose it returned", "EVERIFY")
  end
  if ctx.opts.interactive then
    summary(ctx, p, node, image, prov)
    local ok, crc = common.confirm(ctx, ("Create CVM %s on node %s?"):format(p.name, common.str(node.name)))
    if not ok then return crc end
  else
    common.note(("Compose hash: %s\nApp ID:       %s\n(the CVM measures this compose hash in RTMR3; "
      .. "check it with `cvms attestation`)"):format(prov.compose_hash, prov.app_id or "the app contract's address"))
  end
  local commit = { app_id = prov.app_id, compose_hash = prov.compose_hash, kms_id = ctx.opts["kms-id"] }
  local env_key, deployed = prov.app_env_encrypt_pubkey, nil
  if chain then
    local drc
    deployed, drc = onchain.deploy_app(ctx, c, p, chain, prov, node)
    if not deployed then return drc end
    commit.app_id, commit.kms_id = deployed.app_id:sub(3), commit.kms_id or chain.slug
    commit.contract_address, commit.deployer_address = deployed.app_id, deployed.deployer
    env_key = deployed.pubkey
  end
  if p.env then
    local hex, eerr, ecode = common.encrypt(p.env, env_key)
    if not hex then return common.fail(ctx, eerr, ecode) end
    commit.encrypted_env = hex
  end
  local vm
  vm, msg, code, info = c:commit(commit)
  if not vm then return common.fail(ctx, msg, code, info) end
  if type(vm) ~= "table" then vm = {} end
  local uuid = vm.vm_uuid or commit.app_id
  local result = { success = true, vm_uuid = vm.vm_uuid, name = vm.name or p.name, app_id = vm.app_id or commit.app_id,
    compose_hash = prov.compose_hash, node_id = node.teepod_id, image = image, allowed_envs = json.array(names_of(p)),
    dashboard_url = common.dashboard(uuid), status = vm.status, contract_address = commit.contract_address,
    deployer_address = commit.deployer_address, transaction = deployed and deployed.tx }
  return common.finish(ctx, c, result, p.wait and { uuid, "running", p.timeout, "CVM " .. result.name }, function()
    common.rows { { "CVM ID", result.vm_uuid }, { "Name", result.name }, { "App ID", result.app_id },
      { "Compose hash", result.compose_hash }, { "Status", result.status }, { "Dashboard URL", result.dashboard_url } }
    if deployed then
      common.rows { { "App contract", result.contract_address }, { "Deployer", result.deployer_address },
        { "Transaction", result.transaction } }
    end
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
  local ckms, chain = onchain.chain_kms(prov.kms_info), nil
  local app = ("0x" .. common.str(prov.app_id ~= json.null and prov.app_id or d.app_id):gsub("^app_", "")
    :gsub("^0[xX]", "")):lower()
  local env_key = d.encrypted_env_pubkey
  if ckms and (prov.compose_hash_registered ~= true or p.env) then
    local crc
    chain, crc = onchain.chain_access(ctx, p, ckms, "this CVM uses an on-chain KMS: the new compose hash must be "
      .. "added to its app contract and the env key checked")
    if not chain then return crc end
    if not app:match("^0x" .. ("%x"):rep(40) .. "$") then
      return common.fail(ctx, "the CVM's app id is not a contract address: " .. app, "EPROTO")
    end
    if p.env then
      local root
      root, crc = onchain.root_key(ctx, chain)
      if not root then return crc end
      env_key, crc = onchain.verified_env_key(ctx, c, chain, app, root, " (nothing was changed)")
      if not env_key then return crc end
    end
    if prov.compose_hash_registered == true then chain = nil end
  end
  local verified = predicted == prov.compose_hash
  common.note(("Compose hash: %s (%s)"):format(prov.compose_hash, verified and "teehost computed the same value"
    or "computed by Phala Cloud; teehost's own computation gave " .. tostring(predicted)))
  local ok, crc = common.confirm(ctx, ("Update CVM %s (app_%s)? It restarts with the new %s"):format(
    common.str(d.name), common.str(d.app_id), p.env and "compose and env" or "compose"))
  if not ok then return crc end
  local tx
  if chain then
    local data, why = eth.call_data("addComposeHash(bytes32)", { { "bytes32", prov.compose_hash } })
    if not data then return common.fail(ctx, "the provision's compose hash: " .. why, "EPROTO") end
    local receipt, trc = onchain.transact(ctx, p, chain, { to = app, data = data },
      "Adding the compose hash to app contract " .. app)
    if not receipt then return trc end
    tx = receipt.transactionHash
  end
  local commit = { compose_hash = prov.compose_hash }
  if p.env then
    local hex, eerr, ecode = common.encrypt(p.env, env_key)
    if not hex then return common.fail(ctx, eerr, ecode) end
    commit.encrypted_env, commit.env_keys = hex, json.array(p.env.names)
  end
  local r
  r, msg, code, info = c:commit_update(ref, commit)
  if not r then return common.fail(ctx, msg, code, info) end
  local result = { success = true, updated = true, vm_uuid = d.vm_uuid, name = d.name, app_id = d.app_id,
    compose_hash = prov.compose_hash, compose_hash_verified = verified, env_sent = p.env ~= nil,
    allowed_envs = json.array(new_allowed), env_changes = diff, dashboard_url = common.dashboard(d.vm_uuid or ref),
    transaction = tx }
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
  local asks = ctx.opts.interactive
  if asks and not common.interactive() then
    return common.usage(ctx.name, "-i asks questions, so it needs a terminal (stdin and stderr); off a terminal "
      .. "give the values as flags: COMPOSE (or -c), -n NAME, -e ENV_FILE, --vcpu, --memory, --disk-size, "
      .. "--node-id, --image")
  end
  if ctx.opts["dry-run"] then
    if asks then
      local ok, irc = interview(ctx, nil, p)
      if not ok then return irc end
    end
    if not p.compose then return common.usage(ctx.name, "--dry-run needs the compose file", HELP) end
    return dry_run(ctx, p)
  end
  local c, crc = common.client(ctx, ctx.opts["api-key"])
  if not c then return crc end
  if ctx.opts.uuid then return update(ctx, c, p) end
  if asks then
    local ok, irc = interview(ctx, c, p)
    if not ok then return irc end
  end
  return create(ctx, c, p)
end
