-- phala_cli.onchain: what `teehost phala deploy` does with an on-chain KMS (spec 3.7 "Between
-- the steps", 3.8 step 3, 5.4): the key and RPC a transaction needs, the app contract deployed
-- through the KMS contract (deployAndRegisterApp, its AppDeployedViaFactory event), the KMS root
-- key read from the contract before any gas is spent, and the env key taken only when its KMS
-- signature recovers that root. The transactions themselves are phala_cli.eth's.
local phala = require "phala"
local json = require "json"
local common = require "phala_cli.common"
local eth = require "phala_cli.eth"

local M = {}

-- The wait for a transaction to be mined (seconds; --timeout overrides) and the receipt poll.
M.TX_TIMEOUT = 300
local TX_POLL = 1
local CHAIN_HINT = "on-chain KMS deployments pay for an app contract with the deployer's key: "
  .. "give --private-key (or PRIVATE_KEY) and --rpc-url"
M.CHAIN_HINT = CHAIN_HINT

local DEPLOY_APP = "deployAndRegisterApp(address,bool,bool,bytes32,bytes32)"
local APP_DEPLOYED = "AppDeployedViaFactory(address,address)" -- (address indexed appId, address indexed deployer)

-- The KMS entry when it is on-chain (it has a chain id), else nil.
function M.chain_kms(k)
  if type(k) == "table" and math.tointeger(k.chain_id) then return k end
end

function M.kms_entry(avail, id)
  for _, k in ipairs(id and type(avail.kms_list) == "table" and avail.kms_list or {}) do
    if type(k) == "table" and (k.slug == id or k.id == id) then return k end
  end
end

-- What an on-chain transaction needs: {key=, from=, rpc=, chain_id=, contract=, slug=}, or nil and
-- the exit status (nothing has been sent). why: what makes this deployment on-chain.
function M.chain_access(ctx, p, kms, why)
  local chain_id = math.tointeger(kms.chain_id)
  local contract = kms.kms_contract_address
  if type(contract) ~= "string" or not contract:match("^0[xX]" .. ("%x"):rep(40) .. "$") then
    return nil, common.fail(ctx, why .. ", but its entry names no KMS contract address", "EPROTO")
  end
  local key = ctx.opts["private-key"] or os.getenv("PRIVATE_KEY")
  if not key or key == "" then return nil, common.fail(ctx, why .. ": " .. CHAIN_HINT, "EINVAL") end
  local from, err = phala.eth_address(key)
  if not from then return nil, common.fail(ctx, "PRIVATE_KEY: " .. err, "EINVAL") end
  if not p.rpc_url then
    return nil, common.fail(ctx, ("%s: give --rpc-url, a JSON-RPC endpoint of its chain (%d)"):format(why, chain_id),
      "EINVAL")
  end
  return { key = key, from = from, rpc = eth.rpc(p.rpc_url, 30), chain_id = chain_id, contract = contract:lower(),
           slug = common.str(kms.slug ~= json.null and kms.slug or kms.id) }
end

-- Sends one contract call and waits for it to be mined: the receipt, or nil and the exit status.
function M.transact(ctx, p, chain, call, label)
  common.note(("%s, from %s on chain %d"):format(label, chain.from, chain.chain_id))
  local receipt, msg, code = eth.transact(chain.rpc, chain.key, call, { chain_id = chain.chain_id,
    timeout = p.tx_timeout, poll = TX_POLL, on_sent = function(h) common.note("Transaction sent: " .. h) end })
  chain.key = nil -- a Lua string cannot be wiped; at least nothing here keeps it
  if not receipt then return nil, common.fail(ctx, msg, code) end
  return receipt
end

-- The env key Phala Cloud hands out for app ("0x" + 40 hex), taken only if its signature
-- recovers root, the key the KMS contract publishes (spec 5.4). kept: what the failure leaves
-- behind. Returns the key (hex), or nil and the exit status.
function M.verified_env_key(ctx, c, chain, app, root, kept)
  local k, msg, code, info = c:kms_pubkey(chain.slug, app:sub(3))
  if not k then return nil, common.fail(ctx, "the app's env key: " .. msg .. kept, code, info) end
  if type(k) ~= "table" or type(k.public_key) ~= "string" or type(k.signature) ~= "string" then
    return nil, common.fail(ctx, "GET /kms/" .. chain.slug .. "/pubkey gave no public_key and signature" .. kept,
      "EPROTO")
  end
  local ok, err = phala.check_kms_signature(app, k.public_key, k.signature, root)
  if not ok then
    return nil, common.fail(ctx, ("the env key Phala Cloud gave for app %s is not signed by the root key of KMS "
      .. "contract %s (%s): the env is not encrypted to it%s"):format(app, chain.contract, err, kept), "EVERIFY")
  end
  return k.public_key
end

-- The KMS root key the contract publishes; with --kms-root it must be that key (a pin guards
-- against an RPC node and an API that lie together).
function M.root_key(ctx, chain)
  local root, msg, code = eth.kms_root_key(chain.rpc, chain.contract)
  if not root then return nil, common.fail(ctx, "cannot read the KMS root key (nothing was sent): " .. msg, code) end
  local pin = ctx.opts["kms-root"] and ctx.opts["kms-root"]:lower():gsub("^0x", "")
  if pin and root:lower():gsub("^0x", "") ~= pin then
    return nil, common.fail(ctx, ("KMS contract %s names root key %s, not the --kms-root you trust (%s): nothing "
      .. "was sent"):format(chain.contract, root, pin), "EVERIFY")
  end
  return root
end

-- Deploys the app contract through the KMS contract, then takes the env key Phala Cloud hands
-- out for it (verified_env_key). Returns {app_id=, deployer=, pubkey=, tx=}, or nil and the exit
-- status.
function M.deploy_app(ctx, c, p, chain, prov, node)
  local root, rrc = M.root_key(ctx, chain)
  if not root then return nil, rrc end
  local device = prov.device_id ~= json.null and prov.device_id or node.device_id
  device = type(device) == "string" and device:match("^" .. ("%x"):rep(64) .. "$") and device or nil
  local data, why = eth.call_data(DEPLOY_APP, { { "address", chain.from }, { "bool", false },
    { "bool", device == nil }, { "bytes32", device or ("0"):rep(64) }, { "bytes32", prov.compose_hash } })
  if not data then return nil, common.fail(ctx, "the provision's compose hash: " .. why, "EPROTO") end
  if not device then common.note("Note: no device id for this node: the app contract allows any device") end
  local receipt, rc = M.transact(ctx, p, chain, { to = chain.contract, data = data },
    "Deploying the app contract through KMS contract " .. chain.contract)
  if not receipt then return nil, rc end
  local log = eth.find_log(receipt, chain.contract, APP_DEPLOYED)
  local app = log and eth.topic_address(log.topics[2])
  if not app or eth.topic_address(log.topics[3]) ~= chain.from:lower() then
    return nil, common.fail(ctx, ("transaction %s has no %s event of the KMS contract for deployer %s: cannot tell "
      .. "the app id; no CVM was created"):format(common.str(receipt.transactionHash), APP_DEPLOYED, chain.from),
      "EPROTO")
  end
  local pubkey, krc = M.verified_env_key(ctx, c, chain, app, root,
    (" (app contract %s stays on chain; no CVM was created)"):format(app))
  if not pubkey then return nil, krc end
  return { app_id = app, deployer = chain.from, pubkey = pubkey, tx = receipt.transactionHash }
end

return M
