-- phala_cli.eth: the Ethereum side of an on-chain KMS deployment (spec phala-cloud.md 3.7, 3.8):
-- RLP, the ABI words of static calls, an EIP-1559 (type 2) transaction signed with a private
-- key, a JSON-RPC client, the receipt wait, event logs, and the KMS contract's k256 root key.
-- Written here because the project has no Ethereum library (no web3/ethers in C or Lua) and the
-- needs are small: static arguments only, value always 0, one contract call per deployment.
-- Hashing, signing and recovery are C (phala.keccak256, phala.eth_sign, phala.eth_recover).
-- Numbers: Lua 5.4 integers (64-bit); a hex quantity that does not fit is an error, never a
-- float. The private key is a Lua string (which cannot be wiped); it is handed to C only for
-- signing and never put in a message.
local phala = require "phala"
local json = require "json"

local M = {}

-- ---- hex and quantities -------------------------------------------------------------------------

function M.hex(bytes)
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

function M.to_hex(bytes) return "0x" .. M.hex(bytes) end

-- Raw bytes of hex text ("0x" allowed): bytes, or nil and why.
function M.unhex(s, what)
  what = what or "hex"
  if type(s) ~= "string" then return nil, what .. ": not a string" end
  s = s:gsub("^0[xX]", "")
  if #s % 2 ~= 0 or s:find("[^%x]") then return nil, what .. ": not an even number of hex digits" end
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

-- An integer from a JSON-RPC quantity ("0x1a"): n, or nil and why (not hex, or >= 2^63).
function M.quantity(s, what)
  what = what or "quantity"
  if type(s) ~= "string" or not s:match("^0[xX]%x+$") then
    return nil, what .. ": not a hex quantity (" .. tostring(s):sub(1, 80) .. ")"
  end
  local digits = s:sub(3):gsub("^0+", "")
  if #digits > 16 or (#digits == 16 and tonumber(digits:sub(1, 1), 16) >= 8) then
    return nil, what .. ": " .. s .. " does not fit in 63 bits"
  end
  return digits == "" and 0 or tonumber(digits, 16)
end

-- A JSON-RPC quantity of an integer >= 0.
function M.qhex(n)
  assert(math.type(n) == "integer" and n >= 0, "quantity: want an integer >= 0")
  return ("0x%x"):format(n)
end

-- Big-endian bytes of an integer >= 0, no leading zeros (0 -> "").
function M.int_bytes(n)
  assert(math.type(n) == "integer" and n >= 0, "int_bytes: want an integer >= 0")
  local out = {}
  while n > 0 do
    table.insert(out, 1, string.char(n & 0xff))
    n = n >> 8
  end
  return table.concat(out)
end

-- ---- RLP (Ethereum yellow paper, appendix B) ------------------------------------------------------

local function rlp_length(len, short, long)
  if len < 56 then return string.char(short + len) end
  local l = M.int_bytes(len)
  return string.char(long + #l) .. l
end

-- item: a byte string, an integer >= 0 (its minimal big-endian bytes) or a list of items.
function M.rlp(item)
  local t = math.type(item)
  if t == "integer" then item = M.int_bytes(item) end
  if type(item) == "string" then
    if #item == 1 and item:byte() < 0x80 then return item end
    return rlp_length(#item, 0x80, 0xb7) .. item
  end
  assert(type(item) == "table", "rlp: want a string, an integer or a list")
  local parts = {}
  for i, v in ipairs(item) do parts[i] = M.rlp(v) end
  local body = table.concat(parts)
  return rlp_length(#body, 0xc0, 0xf7) .. body
end

-- One item at pos: item (strings and lists), next position; or nil and why.
local function decode_at(b, pos, limit)
  if pos > limit then return nil, "rlp: truncated" end
  local p = b:byte(pos)
  local function sized(short, long)
    if p <= long then return pos + 1, p - short end
    local n = p - long
    if pos + n > limit or n > 7 then return nil, "rlp: length runs past the data" end
    local len = 0
    for i = 1, n do len = (len << 8) | b:byte(pos + i) end
    return pos + 1 + n, len
  end
  if p < 0x80 then return b:sub(pos, pos), pos + 1 end
  if p < 0xc0 then
    local start, len = sized(0x80, 0xb7)
    if not start or start + len - 1 > limit then return nil, "rlp: string runs past the data" end
    return b:sub(start, start + len - 1), start + len
  end
  local start, len = sized(0xc0, 0xf7)
  if not start or start + len - 1 > limit then return nil, "rlp: list runs past the data" end
  local list, q, stop = {}, start, start + len - 1
  while q <= stop do
    local v, nxt = decode_at(b, q, stop)
    if v == nil then return nil, nxt end
    list[#list + 1], q = v, nxt
  end
  return list, stop + 1
end

-- Decodes bytes that hold exactly one item: the item, or nil and why.
function M.rlp_decode(bytes)
  local v, nxt = decode_at(bytes, 1, #bytes)
  if v == nil then return nil, nxt end
  if nxt ~= #bytes + 1 then return nil, "rlp: bytes after the item" end
  return v
end

-- ---- ABI (static arguments only) --------------------------------------------------------------------

function M.selector(signature) return phala.keccak256(signature):sub(1, 4) end
function M.topic(signature) return M.to_hex(phala.keccak256(signature)) end

local function word_of_bytes(raw) return ("\0"):rep(32 - #raw) .. raw end

-- 32-byte words: an address (20 bytes, left-padded), a bool, a bytes32 (hex), an integer.
function M.word(kind, v)
  if kind == "bool" then return word_of_bytes(v and "\1" or "") end
  if kind == "uint" then return word_of_bytes(M.int_bytes(v)) end
  local raw, why = M.unhex(v, kind)
  if not raw then return nil, why end
  if kind == "address" and #raw ~= 20 then return nil, "address: want 20 bytes, got " .. #raw end
  if kind == "bytes32" and #raw ~= 32 then return nil, "bytes32: want 32 bytes, got " .. #raw end
  return word_of_bytes(raw)
end

-- Call data of `signature` (e.g. "addComposeHash(bytes32)") with static args {kind, value}.
function M.call_data(signature, args)
  local parts = { M.selector(signature) }
  for i, a in ipairs(args or {}) do
    local w, why = M.word(a[1], a[2])
    if not w then return nil, ("%s argument %d: %s"):format(signature, i, why) end
    parts[#parts + 1] = w
  end
  return table.concat(parts)
end

-- The integer in a 32-byte word (nil when it does not fit in 63 bits).
local function word_int(w)
  if #w ~= 32 or w:sub(1, 24) ~= ("\0"):rep(24) or w:byte(25) >= 0x80 then return nil end
  local n = 0
  for i = 25, 32 do n = (n << 8) | w:byte(i) end
  return n
end

-- The i-th (1-based) dynamic `bytes` value of ABI-encoded return data: bytes, or nil and why.
function M.abi_bytes(data, i)
  local off = word_int(data:sub(32 * (i - 1) + 1, 32 * i))
  if not off or off + 32 > #data then return nil, "abi: bad offset of return value " .. i end
  local len = word_int(data:sub(off + 1, off + 32))
  if not len or off + 32 + len > #data then return nil, "abi: return value " .. i .. " runs past the data" end
  return data:sub(off + 33, off + 32 + len)
end

-- ---- EIP-1559 transactions ----------------------------------------------------------------------

-- The fields of a type-2 transaction, in the order of EIP-1559's payload (value: an integer, 0
-- when absent; data: raw bytes; no access list).
local function payload(tx)
  local to = assert(M.unhex(tx.to, "to"))
  return { tx.chain_id, tx.nonce, tx.max_priority_fee, tx.max_fee, tx.gas, to, tx.value or 0, tx.data or "", {} }
end

-- The hash a type-2 transaction signs: keccak256(0x02 || rlp(payload)).
function M.signing_hash(tx) return phala.keccak256("\2" .. M.rlp(payload(tx))) end

-- Raw signed transaction bytes and its hash, or nil and why.
function M.sign(tx, private_key)
  local r, s, v = phala.eth_sign(M.signing_hash(tx), private_key)
  if not r then return nil, s end
  local fields = payload(tx)
  -- r and s are integers in RLP: no leading zero bytes.
  fields[#fields + 1], fields[#fields + 2], fields[#fields + 3] = v, (r:gsub("^%z+", "")), (s:gsub("^%z+", ""))
  local raw = "\2" .. M.rlp(fields)
  return raw, M.to_hex(phala.keccak256(raw))
end

-- ---- JSON-RPC ------------------------------------------------------------------------------------

local Rpc = {}
Rpc.__index = Rpc

-- A client of the node at url (http or https). timeout: seconds per request.
function M.rpc(url, timeout)
  return setmetatable({ url = url, timeout = timeout or 30, id = 0 }, Rpc)
end

-- The result of method(params), or nil, message, code (ERPC for an error answer).
function Rpc:call(method, params)
  self.id = self.id + 1
  local res, msg, code = http.request { url = self.url, method = "POST", timeout = self.timeout,
    headers = { ["content-type"] = "application/json" },
    body = json.encode { jsonrpc = "2.0", id = self.id, method = method, params = json.array(params or {}) } }
  if not res then return nil, ("%s: %s"):format(method, msg), code end
  local ok, v = pcall(json.decode, res.body)
  if res.status ~= 200 and not (ok and type(v) == "table" and v.error) then
    return nil, ("%s: the RPC node answered HTTP %d"):format(method, res.status), "EPROTO"
  end
  if not ok or type(v) ~= "table" then return nil, method .. ": the RPC node's answer is not JSON", "EPROTO" end
  if type(v.error) == "table" then
    local m = type(v.error.message) == "string" and v.error.message or "error"
    return nil, ("%s: the RPC node refused: %s"):format(method, m:gsub("%c", "?"):sub(1, 300)), "ERPC"
  end
  if v.result == nil then return nil, method .. ": the RPC node's answer has no result", "EPROTO" end
  return v.result
end

-- An integer result of method(params), or nil, message, code.
function Rpc:quantity(method, params)
  local r, msg, code = self:call(method, params)
  if r == nil then return nil, msg, code end
  local n, why = M.quantity(r, method)
  if not n then return nil, why, "EPROTO" end
  return n
end

-- Fees: EIP-1559 from the latest block's base fee and eth_maxPriorityFeePerGas; eth_gasPrice for
-- both when the chain has no base fee or the node does not answer the priority fee.
local function fees(rpc)
  local block, msg, code = rpc:call("eth_getBlockByNumber", { "latest", false })
  if block == nil then return nil, msg, code end
  local base = type(block) == "table" and type(block.baseFeePerGas) == "string" and block.baseFeePerGas
  local prio = base and rpc:quantity("eth_maxPriorityFeePerGas")
  if base and prio then
    local b, why = M.quantity(base, "baseFeePerGas")
    if not b then return nil, why, "EPROTO" end
    if b > (math.maxinteger - prio) // 2 then return nil, "fees: the base fee is too large", "EPROTO" end
    return prio, 2 * b + prio
  end
  local price
  price, msg, code = rpc:quantity("eth_gasPrice")
  if not price then return nil, msg, code end
  return price, price
end

-- Sends a contract call {to=, data=} from the key's account and waits for its receipt.
-- opts: chain_id (the chain the caller expects, checked), timeout (s, the wait for mining),
-- poll (s), on_sent(hash). Returns the receipt (status 0x1), or nil, message, code.
function M.transact(rpc, private_key, call, opts)
  local from, ferr = phala.eth_address(private_key)
  if not from then return nil, "private key: " .. ferr, "EINVAL" end
  local to = M.unhex(call.to, "to")
  if not to or #to ~= 20 then
    return nil, "contract address: want 20 bytes of hex, got " .. tostring(call.to), "EINVAL"
  end
  local chain, msg, code = rpc:quantity("eth_chainId")
  if not chain then return nil, msg, code end
  if opts.chain_id and chain ~= opts.chain_id then
    return nil, ("the RPC node is on chain %d, the KMS on chain %d: give the RPC URL of chain %d"):format(chain,
      opts.chain_id, opts.chain_id), "EINVAL"
  end
  local nonce
  nonce, msg, code = rpc:quantity("eth_getTransactionCount", { from, "pending" })
  if not nonce then return nil, msg, code end
  local prio, max_fee = fees(rpc)
  if not prio then return nil, max_fee end
  local gas
  gas, msg, code = rpc:quantity("eth_estimateGas", { { from = from, to = call.to, data = M.to_hex(call.data) } })
  if not gas then return nil, msg, code end
  local tx = { chain_id = chain, nonce = nonce, max_priority_fee = prio, max_fee = max_fee,
               gas = gas + gas // 5, to = call.to, data = call.data }
  local raw, hash = M.sign(tx, private_key)
  if not raw then return nil, "signing: " .. hash, "EINVAL" end
  local sent
  sent, msg, code = rpc:call("eth_sendRawTransaction", { M.to_hex(raw) })
  if not sent then return nil, msg, code end
  if type(sent) ~= "string" or sent:lower() ~= hash then
    return nil, "eth_sendRawTransaction: the node names another transaction hash", "EPROTO"
  end
  if opts.on_sent then opts.on_sent(hash) end
  local deadline = task.now() + (opts.timeout or 600)
  while true do
    local receipt
    receipt, msg, code = rpc:call("eth_getTransactionReceipt", { hash })
    if receipt == nil then return nil, msg, code end
    if type(receipt) == "table" then
      if receipt.status ~= "0x1" then
        return nil, ("transaction %s failed on chain (status %s): nothing was registered"):format(hash,
          tostring(receipt.status)), "EREVERTED"
      end
      receipt.from = from
      return receipt
    end
    if task.now() >= deadline then
      return nil, ("transaction %s was not mined within %g s (it may still be: check it on the chain's "
        .. "explorer before retrying)"):format(hash, opts.timeout or 600), "ETIMEDOUT"
    end
    task.sleep(math.min(opts.poll or 1, math.max(0.05, deadline - task.now())))
  end
end

-- The first log of receipt emitted by address with topic0 = keccak256(event): the log or nil.
function M.find_log(receipt, address, event)
  local topic = M.topic(event)
  for _, log in ipairs(type(receipt.logs) == "table" and receipt.logs or {}) do
    if type(log) == "table" and type(log.address) == "string" and log.address:lower() == address:lower()
        and type(log.topics) == "table" and type(log.topics[1]) == "string" and log.topics[1]:lower() == topic then
      return log
    end
  end
end

-- The address in a 32-byte topic ("0x" + 64 hex): "0x" + 40 lowercase hex, or nil.
function M.topic_address(t)
  if type(t) ~= "string" or not t:match("^0[xX]" .. ("0"):rep(24) .. ("%x"):rep(40) .. "$") then return nil end
  return "0x" .. t:sub(27):lower()
end

-- The KMS root's compressed secp256k1 key ("0x" + 66 hex) from the KMS contract's public
-- `kmsInfo()` getter (k256Pubkey, caPubkey, quote, eventlog: four `bytes`), or nil, message, code.
function M.kms_root_key(rpc, kms_contract)
  local r, msg, code = rpc:call("eth_call", { { to = kms_contract, data = M.to_hex(M.selector("kmsInfo()")) },
                                              "latest" })
  if r == nil then return nil, msg, code end
  local data, why = M.unhex(r, "kmsInfo()")
  local key
  if data then key, why = M.abi_bytes(data, 1) end
  if not key then return nil, "the KMS contract's kmsInfo(): " .. why, "EPROTO" end
  if #key == 65 and key:byte(1) == 4 then key = string.char(2 + (key:byte(65) & 1)) .. key:sub(2, 33) end
  if #key ~= 33 or (key:byte(1) ~= 2 and key:byte(1) ~= 3) then
    return nil, "the KMS contract's kmsInfo() holds no secp256k1 root key", "EPROTO"
  end
  return M.to_hex(key)
end

return M
