-- tests/lua/test_eth.lua — scripts/phala_cli/eth.lua (RLP, ABI words, EIP-1559 signing, the
-- JSON-RPC transaction flow) and the phala module's Ethereum bindings (bindings/phala_eth.c).
-- Vectors: the RLP examples of the Ethereum wiki (RLP page); keccak256("") and the ERC-20
-- `transfer(address,uint256)` selector (0xa9059cbb); the web3.js documentation's account
-- (key 0x4c0883a6…, address 0x2c7536E3…); two signed EIP-1559 transactions from ethereumjs
-- (packages/tx/test/json/eip1559.json at ef29902, as quoted by MEWwalletKit's tests). The
-- transaction flow runs against tests/lua/fake_eth_node.lua, which decodes what it receives.
-- luacheck: ignore 211/srv (servers are closed by their <close> variables)
local t = require "harness"
local eth = require "phala_cli.eth"
local node = require "fake_eth_node"

local function unhex(h) return assert(eth.unhex(h)) end

-- ---- RLP -------------------------------------------------------------------------------------------

local LOREM = "Lorem ipsum dolor sit amet, consectetur adipisicing elit"
local RLP = {
  { "dog", "83646f67" },
  { { "cat", "dog" }, "c88363617483646f67" },
  { "", "80" },
  { {}, "c0" },
  { 0, "80" },
  { "\0", "00" },
  { 15, "0f" },
  { 1024, "820400" },
  { { {}, { {} }, { {}, { {} } } }, "c7c0c1c0c3c0c1c0" },
  { LOREM, "b838" .. eth.hex(LOREM) },
}

t.test("RLP encodes the Ethereum wiki's examples", function()
  for _, v in ipairs(RLP) do t.eq(eth.hex(eth.rlp(v[1])), v[2], v[2]) end
end)

t.test("RLP decodes them back (integers come back as their bytes)", function()
  for _, v in ipairs(RLP) do
    local want = math.type(v[1]) == "integer" and eth.int_bytes(v[1]) or v[1]
    t.eq(eth.rlp_decode(unhex(v[2])), want, v[2])
  end
end)

t.test("RLP refuses truncated and trailing bytes", function()
  t.eq({ eth.rlp_decode(unhex("83646f")) }, { nil, "rlp: string runs past the data" })
  t.eq({ eth.rlp_decode(unhex("c88363617483646f")) }, { nil, "rlp: list runs past the data" })
  t.eq({ eth.rlp_decode(unhex("8080")) }, { nil, "rlp: bytes after the item" })
  t.eq({ eth.rlp_decode("") }, { nil, "rlp: truncated" })
end)

-- ---- quantities, hashes, ABI ---------------------------------------------------------------------

t.test("hex quantities: integers up to 2^63-1, anything larger or malformed is an error", function()
  t.eq(eth.quantity("0x0"), 0)
  t.eq(eth.quantity("0x1a"), 26)
  t.eq(eth.quantity("0x7fffffffffffffff"), math.maxinteger)
  t.eq(eth.quantity("0x00000000000000000000001"), 1)
  t.eq({ eth.quantity("0x8000000000000000", "balance") },
    { nil, "balance: 0x8000000000000000 does not fit in 63 bits" })
  t.eq({ eth.quantity("0x10000000000000000") }, { nil, "quantity: 0x10000000000000000 does not fit in 63 bits" })
  t.eq({ eth.quantity("12") }, { nil, "quantity: not a hex quantity (12)" })
  t.eq({ eth.quantity("0x") }, { nil, "quantity: not a hex quantity (0x)" })
  t.eq(eth.qhex(0), "0x0")
  t.eq(eth.qhex(1024), "0x400")
end)

t.test("keccak256 and function selectors", function()
  t.eq(eth.hex(phala.keccak256("")), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
  t.eq(eth.hex(eth.selector("transfer(address,uint256)")), "a9059cbb")
  t.raises("bad argument", phala.keccak256, {})
end)

t.test("ABI words and call data of static arguments", function()
  local data = assert(eth.call_data("transfer(address,uint256)",
    { { "address", "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" }, { "uint", 1000 } }))
  t.eq(eth.hex(data), "a9059cbb" .. ("0"):rep(24) .. "2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    .. ("0"):rep(61) .. "3e8")
  t.eq(eth.hex(eth.word("bool", true)), ("0"):rep(63) .. "1")
  t.eq(eth.hex(eth.word("bool", false)), ("0"):rep(64))
  t.eq({ eth.call_data("f(bytes32)", { { "bytes32", "0x12" } }) },
    { nil, "f(bytes32) argument 1: bytes32: want 32 bytes, got 1" })
  t.eq({ eth.call_data("f(address)", { { "address", "0xzz" } }) },
    { nil, "f(address) argument 1: address: not an even number of hex digits" })
end)

t.test("ABI dynamic bytes in return data", function()
  local w = function(n) return ("\0"):rep(24) .. string.pack(">I8", n) end
  local data = w(64) .. w(128) .. w(3) .. "abc" .. ("\0"):rep(29) .. w(0)
  t.eq(eth.abi_bytes(data, 1), "abc")
  t.eq(eth.abi_bytes(data, 2), "")
  t.eq({ eth.abi_bytes(w(32) .. w(999), 1) }, { nil, "abi: return value 1 runs past the data" })
  t.eq({ eth.abi_bytes(w(4096), 1) }, { nil, "abi: bad offset of return value 1" })
end)

-- ---- keys and signatures --------------------------------------------------------------------------

local WEB3_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
local WEB3_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"

t.test("eth_address gives the EIP-55 address of a key; a bad key says what is wrong without it", function()
  t.eq(phala.eth_address(WEB3_KEY), WEB3_ADDRESS)
  t.eq(phala.eth_address(WEB3_KEY:sub(3)), WEB3_ADDRESS)
  t.eq({ phala.eth_address("0x01") },
    { nil, "private key: want 64 hex digits (32 bytes), got 2 characters", "EINVAL" })
  local r = { phala.eth_address(("zz"):rep(32)) }
  t.eq(r, { nil, "private key: not hex (want 64 hex digits)", "EINVAL" })
    t.eq({ phala.eth_address(("0"):rep(64)) }, { nil, "Failed to parse k256 key", "EINVAL" })
end)

t.test("eth_sign and eth_recover agree; a changed digest recovers someone else", function()
  local d = phala.keccak256("teehost")
  local r, s, v = phala.eth_sign(d, WEB3_KEY)
  t.eq({ #r, #s, math.type(v) }, { 32, 32, "integer" })
  t.ok(v == 0 or v == 1)
  t.eq(phala.eth_recover(d, r, s, v), WEB3_ADDRESS)
  t.ok(phala.eth_recover(phala.keccak256("other"), r, s, v) ~= WEB3_ADDRESS)
  t.eq({ phala.eth_recover(d, r, s, 2) }, { nil, "signature: y parity 2 is not 0 or 1", "EVERIFY" })
  t.raises("want a 32-byte digest", phala.eth_sign, "short", WEB3_KEY)
end)

-- ethereumjs eip1559.json: chain 7822 (0x1e8e), to 0x…aaaa, empty data, key 0x8f2a5594….
local EJS_KEY = "0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"
local EIP1559 = {
  { tx = { chain_id = 7822, nonce = 819, value = 43203529, max_priority_fee = 75853, max_fee = 121212, gas = 35552,
           to = "0x000000000000000000000000000000000000aaaa" }, key = EJS_KEY,
    raw = "02f870821e8e8203338301284d8301d97c828ae094000000000000000000000000000000000000aaaa8402933bc980c080a0d067f2"
      .. "167008c59219652f91cbf8788dbca5f771f6e91e2b7657e85b78b472e0a01d305af9fe81fdba43f0dfcd400ed24dcace0a7e30d4e857"
      .. "01dcaaf484cd079e",
    hash = "0xa3bf78ff247cad934aa5fb13e05f11e59c93511523ff8a622e59c3a34700e5c8" },
  { tx = { chain_id = 7822, nonce = 353, value = 61901619, max_priority_fee = 38850, max_fee = 136295, gas = 32593,
           to = "0x000000000000000000000000000000000000aaaa" }, key = EJS_KEY,
    raw = "02f86f821e8e8201618297c283021467827f5194000000000000000000000000000000000000aaaa8403b08b3380c001a004205678"
      .. "f13fc1d7b10feea6513dfa76e24418b6e08097d95c6f93a3b64e536da01d45ad61bfece43862de2cce7d2575a8c1d08c26c87f3cb5f26"
      .. "d7b0be54a91b2" },
  { tx = { chain_id = 123, nonce = 0, value = 0x16345785D8A0000, max_priority_fee = 7, max_fee = 7, gas = 0x5208,
           to = "0x61fac28c810253ea3a42ebbb1a5cf8687765e4ee" },
    key = "e3046226c9d5f6b7fda49b00123fe96ab2fac359315f27169b5c984059b3540f",
    raw = "02f86a7b8007078252089461fac28c810253ea3a42ebbb1a5cf8687765e4ee88016345785d8a000080c001a01f75fb4ae321bb55"
      .. "c0e7569d940ce133e775fb4494500ac6de9aeb16f45f20d1a05bf9b98c50422e3ada79a6920b1007bc36a1c36d178dbc1b44dfbd97f"
      .. "c56cf13",
    hash = "0xbe76a9ae424fe7a42da7db0f42db0ced82929710d9c19cfdaa7e18c634e6ae54" },
}

t.test("EIP-1559 transactions are signed and serialized as ethereumjs's vectors", function()
  for i, v in ipairs(EIP1559) do
    local raw, hash = eth.sign(v.tx, v.key)
    t.eq(eth.hex(raw), v.raw, "vector " .. i)
    if v.hash then t.eq(hash, v.hash, "hash of vector " .. i) end
  end
end)

-- ---- the transaction flow against the fake node ---------------------------------------------------

local KMS = "0xbfd2d557118fc650ea25a0e7d85355d335f259d8"
local G = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" -- the key of secret 1
local HASH = ("ab"):rep(32)

local function deploy_call(deployer)
  return { to = KMS, data = assert(eth.call_data("deployAndRegisterApp(address,bool,bool,bytes32,bytes32)", {
    { "address", deployer }, { "bool", false }, { "bool", false }, { "bytes32", ("11"):rep(32) },
    { "bytes32", HASH } })) }
end

t.test("transact: the node decodes a signed type-2 transaction from the key's address", function()
  local srv <close>, state = node.start { kms_contract = KMS, kms_root_pubkey = G }
  local rpc = eth.rpc(state.url, 5)
  local sent
  local receipt = assert(eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS),
    { chain_id = 8453, timeout = 5, poll = 0.01, on_sent = function(h) sent = h end }))
  t.eq(#state.txs, 1)
  local tx = state.txs[1]
  t.eq({ tx.from, tx.to, tx.chain_id, tx.nonce, sent }, { WEB3_ADDRESS:lower(), KMS, 8453, 0, tx.hash })
  t.eq({ tx.call.name, tx.call.deployer, tx.call.compose_hash, tx.call.allow_any_device },
    { "deployAndRegisterApp", WEB3_ADDRESS:lower(), HASH, false })
  t.eq({ tx.max_priority_fee, tx.max_fee, tx.gas }, { 100000000, 2100000000, 360000 })
  t.ok(state.calls.eth_getTransactionReceipt >= 2, "polled until mined")
  local log = assert(eth.find_log(receipt, KMS, "AppDeployedViaFactory(address,address)"))
  t.eq(eth.topic_address(log.topics[2]), tx.call.app_id)
  t.eq(eth.topic_address(log.topics[3]), WEB3_ADDRESS:lower())
  t.eq(eth.find_log(receipt, KMS, "AppDeployedViaFactory(address,address,address)"), nil)
  -- the next one takes the next nonce
  assert(eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), { timeout = 5, poll = 0.01 }))
  t.eq(state.txs[2].nonce, 1)
  t.ok(state.txs[2].call.app_id ~= tx.call.app_id, "CREATE addresses differ by nonce")
end)

t.test("transact: legacy fee fallback, reverts, RPC errors, wrong chain, never mined", function()
  local srv <close>, state = node.start { kms_contract = KMS, kms_root_pubkey = G, base_fee = false }
  local rpc = eth.rpc(state.url, 5)
  local o = { timeout = 5, poll = 0.01 }
  assert(eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), o))
  t.eq({ state.txs[1].max_fee, state.txs[1].max_priority_fee }, { 100000000, 100000000 })
  state.revert = true
  local r, msg, code = eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), o)
  t.eq({ r, code }, { nil, "EREVERTED" })
  t.contains(msg, "failed on chain (status 0x0): nothing was registered")
  state.revert = false
  state.fail { method = "eth_estimateGas", message = "execution reverted: AppAuth implementation not set" }
  t.eq({ eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), o) },
    { nil, "eth_estimateGas: the RPC node refused: execution reverted: AppAuth implementation not set", "ERPC" })
  -- the node checks the deployer argument: someone else's address is refused
  t.eq({ eth.transact(rpc, WEB3_KEY, deploy_call("0x" .. ("22"):rep(20)), o) },
    { nil, "eth_sendRawTransaction: the RPC node refused: execution reverted: deployer is not the sender", "ERPC" })
  t.eq({ eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), { chain_id = 1 }) },
    { nil, "the RPC node is on chain 8453, the KMS on chain 1: give the RPC URL of chain 1", "EINVAL" })
  state.never_mine = true
  local t0 = task.now()
  r, msg, code = eth.transact(rpc, WEB3_KEY, deploy_call(WEB3_ADDRESS), { timeout = 0.2, poll = 0.05 })
  t.eq({ r, code }, { nil, "ETIMEDOUT" })
  t.contains(msg, "was not mined within 0.2 s")
  t.ok(task.now() - t0 < 2, "the wait ends at the timeout")
  t.eq({ eth.transact(eth.rpc("http://127.0.0.1:1/", 2), WEB3_KEY, deploy_call(WEB3_ADDRESS), o) },
    { nil, "eth_chainId: connect to 127.0.0.1:1: Connection refused", "ECONNREFUSED" })
end)

t.test("kms_root_key reads k256Pubkey from the KMS contract's kmsInfo()", function()
  local srv <close>, state = node.start { kms_contract = KMS, kms_root_pubkey = G }
  local rpc = eth.rpc(state.url, 5)
  t.eq(eth.kms_root_key(rpc, KMS), "0x" .. G)
  t.eq({ eth.kms_root_key(rpc, "0x" .. ("33"):rep(20)) },
    { nil, "eth_call: the RPC node refused: execution reverted", "ERPC" })
  state.kms_root_pubkey = "1234"
  t.eq({ eth.kms_root_key(rpc, KMS) }, { nil, "the KMS contract's kmsInfo() holds no secp256k1 root key", "EPROTO" })
end)

t.run()
