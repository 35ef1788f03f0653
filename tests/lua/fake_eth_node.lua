-- tests/lua/fake_eth_node.lua — a fake Ethereum JSON-RPC node on http.serve with the KMS and
-- app contracts of an on-chain dstack KMS (spec phala-cloud.md 3.7, 3.8), for running
-- `teehost phala deploy` unchanged against it.
--
--   local node = require "fake_eth_node"
--   local srv, state = node.start { chain_id = 8453, kms_contract = "0x…", kms_root_pubkey = "02…" }
--   -- state.url is the RPC URL; state.txs lists the transactions it accepted, decoded
--
-- What it checks, as a real node and the contracts would: the raw transaction is decoded here
-- (its own RLP decoder, not the client's) and must be EIP-1559 (type 2) with 12 fields; the
-- sender is recovered from yParity/r/s over keccak256(0x02 || rlp(first 9 fields)); the chain id,
-- the sender's next nonce, maxFeePerGas >= the base fee, a gas limit >= the estimate; `to` is
-- the KMS contract with deployAndRegisterApp(address,bool,bool,bytes32,bytes32) whose deployer
-- is the sender, or an app contract this node deployed with addComposeHash(bytes32) sent by
-- its owner. A bad transaction gets a JSON-RPC error, as eth_sendRawTransaction does.
-- The app id is the CREATE address of (sender, nonce): last 20 bytes of keccak256(rlp([sender,
-- nonce])). Receipts carry AppDeployedViaFactory(address indexed appId, address indexed
-- deployer) and AppRegistered(address appId) from the KMS contract, or ComposeHashAdded(bytes32)
-- from the app. eth_call kmsInfo() on the KMS contract returns (k256Pubkey, caPubkey, quote,
-- eventlog) ABI-encoded.
-- Faults: state.fail { method =, message = } (one JSON-RPC error for that method);
-- opts/state.revert = true (receipts with status 0x0); state.never_mine = true (no receipt);
-- state.pending_polls = n (receipt null for the first n polls). state.calls counts methods.
local M = {}

local function hex(b) return (b:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function unhex(h) return (h:gsub("^0x", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
local function int_of(b)
  local n = 0
  for i = 1, #b do n = (n << 8) | b:byte(i) end
  return n
end
local function q(n) return ("0x%x"):format(n) end
local function int_bytes(n)
  local s = ""
  while n > 0 do s, n = string.char(n & 0xff) .. s, n >> 8 end
  return s
end

-- ---- RLP, written out so that the node does not share code with the client it checks ----------

local function rlp_decode(b, pos, stop)
  local p = b:byte(pos)
  assert(p, "rlp: truncated")
  local function len_at(short, long)
    if p <= long then return pos + 1, p - short end
    local n = p - long
    return pos + 1 + n, int_of(b:sub(pos + 1, pos + n))
  end
  if p < 0x80 then return b:sub(pos, pos), pos + 1 end
  if p < 0xc0 then
    local s, len = len_at(0x80, 0xb7)
    assert(s + len - 1 <= stop, "rlp: string past the end")
    return b:sub(s, s + len - 1), s + len
  end
  local s, len = len_at(0xc0, 0xf7)
  local last = s + len - 1
  assert(last <= stop, "rlp: list past the end")
  local out = {}
  while s <= last do out[#out + 1], s = rlp_decode(b, s, last) end
  return out, last + 1
end

local function rlp_encode(v)
  local function head(len, base)
    if len < 56 then return string.char(base + len) end
    local l = int_bytes(len)
    return string.char(base + 55 + #l) .. l
  end
  if type(v) == "string" then
    if #v == 1 and v:byte() < 0x80 then return v end
    return head(#v, 0x80) .. v
  end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = rlp_encode(x) end
  local body = table.concat(parts)
  return head(#body, 0xc0) .. body
end

-- ---- the contracts ----------------------------------------------------------------------------

local function sel(sig) return hex(phala.keccak256(sig):sub(1, 4)) end
local function topic(sig) return "0x" .. hex(phala.keccak256(sig)) end
local function pad(addr) return "0x" .. ("0"):rep(24) .. addr:gsub("^0x", ""):lower() end
local DEPLOY = "deployAndRegisterApp(address,bool,bool,bytes32,bytes32)"
local ADD_HASH = "addComposeHash(bytes32)"
M.TOPIC_DEPLOYED = topic("AppDeployedViaFactory(address,address)")
M.TOPIC_REGISTERED = topic("AppRegistered(address)")
M.TOPIC_HASH_ADDED = topic("ComposeHashAdded(bytes32)")

local function words(data)
  local w = {}
  for i = 5, #data, 32 do w[#w + 1] = data:sub(i, i + 31) end
  return w
end

local function word_address(w)
  if #w ~= 32 or w:sub(1, 12) ~= ("\0"):rep(12) then return nil end
  return "0x" .. hex(w:sub(13))
end

local function word_bool(w)
  if w == ("\0"):rep(32) then return false end
  if w == ("\0"):rep(31) .. "\1" then return true end
end

-- ABI encoding of four `bytes` values (the kmsInfo() getter's return).
local function abi_bytes4(values)
  local head, tail = {}, {}
  local off = 32 * #values
  for i, v in ipairs(values) do
    head[i] = ("\0"):rep(24) .. string.pack(">I8", off)
    local padded = v .. ("\0"):rep((32 - #v % 32) % 32)
    tail[i] = ("\0"):rep(24) .. string.pack(">I8", #v) .. padded
    off = off + 32 + #padded
  end
  return "0x" .. hex(table.concat(head) .. table.concat(tail))
end

-- A transaction the contracts accept: decoded call and the logs it emits, or nil and why.
local function execute(state, tx)
  local to, data = tx.to, tx.data
  if to == state.kms_contract and hex(data:sub(1, 4)) == sel(DEPLOY) then
    local w = words(data)
    if #data ~= 4 + 5 * 32 then return nil, "deployAndRegisterApp: want 5 words of arguments" end
    local call = { name = "deployAndRegisterApp", deployer = word_address(w[1]), disable_upgrades = word_bool(w[2]),
                   allow_any_device = word_bool(w[3]), device_id = hex(w[4]), compose_hash = hex(w[5]) }
    if call.deployer ~= tx.from then return nil, "execution reverted: deployer is not the sender" end
    if call.disable_upgrades == nil or call.allow_any_device == nil then return nil, "execution reverted: bad bool" end
    local created = phala.keccak256(rlp_encode { unhex(tx.from), int_bytes(tx.nonce) })
    local app = state.app_id or ("0x" .. hex(created:sub(13)))
    state.apps[app] = { owner = tx.from, hashes = { [call.compose_hash] = true } }
    call.app_id = app
    return call, {
      { address = state.kms_contract, topics = { M.TOPIC_DEPLOYED, pad(app), pad(tx.from) }, data = "0x" },
      { address = state.kms_contract, topics = { M.TOPIC_REGISTERED }, data = pad(app) },
    }
  end
  local app = state.apps[to]
  if app and hex(data:sub(1, 4)) == sel(ADD_HASH) then
    if #data ~= 36 then return nil, "addComposeHash: want 1 word of arguments" end
    if app.owner ~= tx.from then return nil, "execution reverted: OwnableUnauthorizedAccount" end
    local h = hex(data:sub(5))
    app.hashes[h] = true
    return { name = "addComposeHash", app_id = to, compose_hash = h },
      { { address = to, topics = { M.TOPIC_HASH_ADDED }, data = "0x" .. h } }
  end
  return nil, "execution reverted: no such function on " .. to
end

-- ---- transactions -----------------------------------------------------------------------------

-- Decodes and checks a raw transaction: the transaction table, or nil and why.
local function decode_tx(state, raw_hex)
  local raw = unhex(raw_hex)
  if raw:byte(1) ~= 2 then return nil, "transaction type not supported (want 2)" end
  local ok, f = pcall(rlp_decode, raw, 2, #raw)
  if not ok or type(f) ~= "table" or #f ~= 12 then return nil, "rlp: want a list of 12 fields" end
  local unsigned = {}
  for i = 1, 9 do unsigned[i] = f[i] end
  local digest = phala.keccak256("\2" .. rlp_encode(unsigned))
  local function word(b) return ("\0"):rep(32 - #b) .. b end
  local from, why = phala.eth_recover(digest, word(f[11]), word(f[12]), int_of(f[10]))
  if not from then return nil, "invalid sender: " .. why end
  local tx = { chain_id = int_of(f[1]), nonce = int_of(f[2]), max_priority_fee = int_of(f[3]), max_fee = int_of(f[4]),
               gas = int_of(f[5]), to = "0x" .. hex(f[6]), value = int_of(f[7]), data = f[8], access_list = f[9],
               from = from:lower(), hash = "0x" .. hex(phala.keccak256(raw)), raw = raw_hex }
  if tx.chain_id ~= state.chain_id then return nil, "invalid chain id" end
  if tx.nonce ~= (state.nonces[tx.from] or 0) then return nil, "nonce too low or too high" end
  if state.base_fee and tx.max_fee < state.base_fee then return nil, "max fee per gas less than block base fee" end
  if tx.max_priority_fee > tx.max_fee then return nil, "max priority fee per gas higher than max fee per gas" end
  if tx.gas < state.gas_estimate then return nil, "intrinsic gas too low" end
  if #tx.to ~= 42 or tx.value ~= 0 or #f[9] ~= 0 then return nil, "unexpected to, value or access list" end
  return tx
end

local H = {}

function H.eth_chainId(state) return q(state.chain_id) end
function H.eth_getTransactionCount(state, p) return q(state.nonces[tostring(p[1]):lower()] or 0) end
function H.eth_maxPriorityFeePerGas(state) return q(state.priority_fee) end
function H.eth_gasPrice(state) return q((state.base_fee or 0) + state.priority_fee) end
function H.eth_getBlockByNumber(state)
  return { number = q(state.block), baseFeePerGas = state.base_fee and q(state.base_fee) or nil }
end
function H.eth_estimateGas(state, p)
  local c = p[1] or {}
  if type(c.from) ~= "string" or type(c.to) ~= "string" or type(c.data) ~= "string" then
    return nil, "eth_estimateGas: want from, to and data"
  end
  return q(state.gas_estimate)
end

function H.eth_call(state, p)
  local c = p[1] or {}
  if type(c.to) == "string" and c.to:lower() == state.kms_contract and c.data == "0x" .. sel("kmsInfo()") then
    return abi_bytes4 { unhex(state.kms_root_pubkey), "", "", "" }
  end
  return nil, "execution reverted"
end

function H.eth_sendRawTransaction(state, p)
  local tx, why = decode_tx(state, tostring(p[1]))
  if not tx then return nil, why end
  local call, logs = execute(state, tx)
  if not call then return nil, logs end
  tx.call = call
  state.nonces[tx.from] = tx.nonce + 1
  state.block = state.block + 1
  for i, l in ipairs(logs) do l.logIndex, l.transactionHash, l.blockNumber = q(i - 1), tx.hash, q(state.block) end
  tx.receipt = { transactionHash = tx.hash, blockNumber = q(state.block), from = tx.from, to = tx.to,
                 status = state.revert and "0x0" or "0x1", gasUsed = q(state.gas_estimate),
                 logs = state.revert and json.array {} or json.array(logs) }
  state.txs[#state.txs + 1] = tx
  state.by_hash[tx.hash] = tx
  return tx.hash
end

function H.eth_getTransactionReceipt(state, p)
  local tx = state.by_hash[tostring(p[1])]
  if not tx or state.never_mine then return json.null end
  tx.polls = (tx.polls or 0) + 1
  if tx.polls <= state.pending_polls then return json.null end
  return tx.receipt
end

local function handle(state, req)
  local ok, msg = pcall(json.decode, req.body)
  if req.method ~= "POST" or not ok or type(msg) ~= "table" or type(msg.method) ~= "string" then
    return { status = 400,
             json = { jsonrpc = "2.0", id = json.null, error = { code = -32700, message = "Parse error" } } }
  end
  state.calls[msg.method] = (state.calls[msg.method] or 0) + 1
  local function answer(v) return { status = 200, json = { jsonrpc = "2.0", id = msg.id, result = v } } end
  local function err(code, m)
    return { status = 200, json = { jsonrpc = "2.0", id = msg.id, error = { code = code, message = m } } }
  end
  for i, f in ipairs(state.faults) do
    if f.method == msg.method then
      table.remove(state.faults, i)
      return err(f.code or -32000, f.message or "fault")
    end
  end
  local h = H[msg.method]
  if not h then return err(-32601, "the method " .. msg.method .. " does not exist/is not available") end
  local result, why = h(state, type(msg.params) == "table" and msg.params or {})
  if result == nil then return err(-32000, why) end
  return answer(result)
end

-- start{ chain_id = 8453, kms_contract = "0x…", kms_root_pubkey = hex33, app_id = "0x…" (fixed;
--        default: the CREATE address), base_fee = 1 gwei (false: a chain without EIP-1559),
--        priority_fee = 0.1 gwei, gas_estimate = 300000, revert, never_mine, pending_polls = 1 }
-- -> server, state
function M.start(opts)
  opts = opts or {}
  local state = {
    chain_id = opts.chain_id or 8453, kms_contract = (opts.kms_contract or ""):lower(),
    kms_root_pubkey = opts.kms_root_pubkey or "", app_id = opts.app_id and opts.app_id:lower(),
    base_fee = opts.base_fee == nil and 1000000000 or opts.base_fee or nil,
    priority_fee = opts.priority_fee or 100000000,
    gas_estimate = opts.gas_estimate or 300000, revert = opts.revert, never_mine = opts.never_mine,
    pending_polls = opts.pending_polls or 1, block = 1000, nonces = {}, txs = {}, by_hash = {}, apps = {},
    faults = {}, calls = {},
  }
  function state.fail(f) state.faults[#state.faults + 1] = f end
  local srv = assert(http.serve { host = "127.0.0.1", port = opts.port or 0,
                                  handler = function(req) return handle(state, req) end })
  state.url = "http://127.0.0.1:" .. srv:port() .. "/"
  return srv, state
end

return M
