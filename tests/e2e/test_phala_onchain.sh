#!/bin/bash
# tests/e2e/test_phala_onchain.sh — `teehost phala deploy` with an on-chain KMS (spec
# phala-cloud.md 3.7, 3.8, 5.4) end to end: the faithful fake Phala Cloud
# (tests/lua/fake_phala_cloud.lua) and a fake Ethereum node (tests/lua/fake_eth_node.lua, which
# decodes every raw transaction and recovers its sender) in one child teehost. The fake KMS
# contract publishes the root key of secret 1 (the generator point G) and the fake cloud signs the
# env key with it, as a real KMS does. Checked: the transaction the node received (sender = the
# key's address, to = the KMS contract, deployAndRegisterApp with the compose hash and the node's
# device id), the commit (contract_address, deployer_address), the env the fake decrypted, the
# update's addComposeHash; failures (no key, no RPC URL, reverted, RPC error, never mined, a KMS
# signature from another key) exit 1 with a clear message and commit nothing; no output holds
# the private key.
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
KEY=phak_test_0123456789abcdef
# The web3.js documentation's account.
PK=4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318
ADDR=0x2c7536E3605D9C16a7a3D7b1898e529396a65c23
KMS=0xbfd2d557118fc650ea25a0e7d85355d335f259d8
DEVICE6=7a3b5c9d1e2f4a6b8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b
export HOME="$work/home" PHALA_CLOUD_DIR="$work/home/.phala-cloud" PHALA_CLOUD_API_KEY=$KEY
unset PHALA_CLOUD_CVM_UUID CLOUD_URL TEEHOST_PHALA_TIMEOUT PRIVATE_KEY
mkdir -p "$HOME" "$work/proj"
cd "$work/proj" || exit 1

cat >"$work/fakes.lua" <<'LUA'
-- Prints "<API prefix URL> <RPC URL> <control URL>" and serves until killed. Control: POST /fail
-- (a fault of the fake cloud), POST /eth/fail (a JSON-RPC error), POST /eth/set {revert=,
-- never_mine=, bad_signature=}, GET /requests, GET /eth/txs, POST /clear, GET /cvm/<ref>.
local cloud = require "fake_phala_cloud"
local node = require "fake_eth_node"
local ROOT = ("0"):rep(63) .. "1"        -- the KMS root's secret: 1, its key is G
local OTHER = ("0"):rep(63) .. "2"
local G = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
local function hex(b) return (b:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
local function unhex(h) return (h:gsub("^0x", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end)) end
local bad_signature = false

-- The KMS signature of spec 5.4 over the fake's env key for app_id.
local function kms_pubkey(_, app_id)
  local msg = "dstack-env-encrypt-pubkey:" .. unhex(app_id) .. unhex(cloud.ENV_PUBKEY)
  local r, s, v = phala.eth_sign(phala.keccak256(msg), bad_signature and OTHER or ROOT)
  return { public_key = cloud.ENV_PUBKEY, signature = hex(r .. s) .. ("%02x"):format(v) }
end

local srv, state = cloud.start { decrypt = phala.decrypt_env, boot_delay = 0.3, kms_pubkey = kms_pubkey }
local esrv, eth = node.start { chain_id = 8453, kms_contract = "0xbfd2d557118fc650ea25a0e7d85355d335f259d8",
                               kms_root_pubkey = G }

local function control(req)
  local ref = req.path:match("^/cvm/(.+)$")
  if req.path == "/fail" then
    state.fail(json.decode(req.body))
  elseif req.path == "/eth/fail" then
    eth.fail(json.decode(req.body))
  elseif req.path == "/eth/set" then
    local s = json.decode(req.body)
    eth.revert, eth.never_mine, bad_signature = s.revert == true, s.never_mine == true, s.bad_signature == true
  elseif req.path == "/clear" then
    state.requests, state.faults, eth.faults = {}, {}, {}
  elseif req.path == "/requests" then
    local out = json.array {}
    for i, r in ipairs(state.requests) do
      out[i] = { method = r.method, path = r.path, query = r.query_string or "", body = r.body,
                 json = r.json or json.null }
    end
    return { status = 200, json = out }
  elseif req.path == "/eth/txs" then
    local out = json.array {}
    for i, tx in ipairs(eth.txs) do
      out[i] = { from = tx.from, to = tx.to, nonce = tx.nonce, chain_id = tx.chain_id, gas = tx.gas,
                 max_fee = tx.max_fee, hash = tx.hash, call = tx.call, status = tx.receipt.status }
    end
    return { status = 200, json = out }
  elseif ref then
    local cvm = state.find(ref)
    if not cvm then return { status = 404, json = { detail = "no such CVM" } } end
    return { status = 200, json = { name = cvm.name, app_id = cvm.app_id, kms_id = cvm.kms_id or json.null,
                                    compose_hash = cvm.compose_hash, env = cvm.env or json.null } }
  else
    return { status = 404, json = { detail = "unknown control path" } }
  end
  return { status = 200, json = { ok = true } }
end

local ctl = assert(http.serve { host = "127.0.0.1", port = 0, handler = control })
print(state.url .. " " .. eth.url .. " http://127.0.0.1:" .. ctl:port())
io.stdout:flush()
while srv and esrv and ctl do task.sleep(3600) end
LUA
trap 'kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT
start_fake "$work/fakes.lua"
read -r API RPC CTL <"$work/urls"
export PHALA_CLOUD_API_PREFIX=$API

clear_requests() { ctl POST /clear >/dev/null; }
eth_set() { ctl POST /eth/set "$1" >/dev/null; }


# check_py NAME PYTHON: with out (stdout JSON), err, reqs (the cloud's requests since the last
# clear), txs (the node's decoded transactions), cvm(ref), commits() (POST /cvms bodies).
check_py() {
  ctl GET /requests >"$work/reqs.json"
  ctl GET /eth/txs >"$work/txs.json"
  if python3 - "$work" "$CTL" "$2" <<'PY'; then pass "$1"; else fail "$1" "$(cat "$work/pyerr")" "stdout: $(head -c 800 "$work/out")" "stderr: $(head -c 800 "$work/err")"; fi
import json, sys, urllib.request
work, ctl, expr = sys.argv[1:4]
try:
    out = json.load(open(work + "/out"))
except Exception as e:
    out = {"__unparsed__": str(e)}
err = open(work + "/err").read()
reqs = json.load(open(work + "/reqs.json"))
txs = json.load(open(work + "/txs.json"))
def cvm(ref):
    return json.load(urllib.request.urlopen(ctl + "/cvm/" + ref))
def commits():
    return [r["json"] for r in reqs if r["method"] == "POST" and r["path"] == "/cvms"]
def paths():
    return [r["method"] + " " + r["path"] for r in reqs]
try:
    ok = eval("(" + expr.strip() + ")")
except Exception as e:
    ok = False
    print("exception:", repr(e), file=open(work + "/pyerr", "w"))
else:
    print("false:", expr, "\nrequests:", paths(), "\ntxs:", txs, file=open(work + "/pyerr", "w"))
sys.exit(0 if ok else 1)
PY
}

cat >docker-compose.yml <<'YML'
services:
  app:
    image: alice/teehost-demo:0.1.0
    environment:
      - GREETING=${GREETING}
      - API_TOKEN=${API_TOKEN}
YML
printf 'GREETING=hello\nAPI_TOKEN=sk-onchain-secret\n' >.env
printf 'GREETING=bonjour\nAPI_TOKEN=sk-onchain-secret2\n' >v2.env
sed 's/0.1.0/0.2.0/' docker-compose.yml >v2.yml

DEPLOY=("$T" phala deploy docker-compose.yml --node-id 6 --kms-id base-prod5 -e .env --rpc-url "$RPC" --json)

# ---- success ----------------------------------------------------------------------------------------
clear_requests
ck "on-chain deploy with --private-key succeeds" 0 '"contract_address"' "Deploying the app contract" -- \
  "${DEPLOY[@]}" -n chain-one --private-key "0x$PK"
check_py "… the node got one type-2 transaction from the key's address to the KMS contract, chain 8453" \
  "len(txs) == 1 and txs[0]['from'] == '${ADDR,,}' and txs[0]['to'] == '$KMS' and txs[0]['chain_id'] == 8453
   and txs[0]['nonce'] == 0 and txs[0]['status'] == '0x1'"
check_py "… calling deployAndRegisterApp(deployer = sender, the node's device id, the provision's compose hash)" \
  "txs[0]['call']['name'] == 'deployAndRegisterApp' and txs[0]['call']['deployer'] == '${ADDR,,}'
   and txs[0]['call']['device_id'] == '$DEVICE6' and txs[0]['call']['allow_any_device'] is False
   and txs[0]['call']['disable_upgrades'] is False
   and txs[0]['call']['compose_hash'] == commits()[0]['compose_hash'] == out['compose_hash']"
check_py "… the commit names the new contract as app_id and contract_address, and the deployer" \
  "len(commits()) == 1 and commits()[0]['contract_address'] == txs[0]['call']['app_id']
   and commits()[0]['app_id'] == txs[0]['call']['app_id'][2:] and commits()[0]['deployer_address'] == '$ADDR'
   and commits()[0]['kms_id'] == 'base-prod5' and out['app_id'] == commits()[0]['app_id']
   and out['contract_address'] == txs[0]['call']['app_id'] and out['transaction'] == txs[0]['hash']"
check_py "… the provision asked for the on-chain KMS and the env key came from GET /kms/base-prod5/pubkey/<app>" \
  "paths() == ['GET /teepods/available', 'POST /cvms/provision', 'GET /kms/base-prod5/pubkey/'
   + txs[0]['call']['app_id'][2:], 'POST /cvms'] and reqs[1]['json']['kms_id'] == 'base-prod5'"
check_py "… the env was encrypted to the KMS-signed key (the fake decrypted it)" \
  "cvm(out['app_id'])['env'] == [{'key': 'GREETING', 'value': 'hello'}, {'key': 'API_TOKEN', 'value': 'sk-onchain-secret'}]"
APP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["app_id"])' "$work/out")

clear_requests
ck "PRIVATE_KEY from the environment works too (and is the next nonce)" 0 '"success": true' "" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-two
check_py "… second transaction, nonce 1, another app contract" \
  "len(txs) == 2 and txs[1]['nonce'] == 1 and txs[1]['call']['app_id'] != txs[0]['call']['app_id']
   and commits()[0]['contract_address'] == txs[1]['call']['app_id']"

# ---- update: addComposeHash on the app contract ----------------------------------------------------
clear_requests
ck "update of an on-chain CVM adds the new compose hash to its app contract" 0 '"updated": true' \
  "Adding the compose hash to app contract" -- \
  env PRIVATE_KEY="$PK" "$T" phala deploy --uuid "$APP" -c v2.yml -e v2.env --rpc-url "$RPC" --yes --json
check_py "… addComposeHash(the PATCHed compose hash) sent by the owner to the app contract" \
  "len(txs) == 3 and txs[2]['call']['name'] == 'addComposeHash' and txs[2]['to'] == '0x$APP'
   and txs[2]['from'] == '${ADDR,,}' and [r['json']['compose_hash'] for r in reqs if r['method'] == 'PATCH']
   == [txs[2]['call']['compose_hash']] and out['transaction'] == txs[2]['hash']"
check_py "… the new env went to the KMS-signed key of the app (checked, then decrypted by the fake)" \
  "'GET /kms/base-prod5/pubkey/$APP' in paths()
   and cvm('$APP')['env'] == [{'key': 'GREETING', 'value': 'bonjour'}, {'key': 'API_TOKEN', 'value': 'sk-onchain-secret2'}]"
eth_set '{"bad_signature": true}'
clear_requests
ck "update with -e: an env key not signed by the KMS root is refused before anything changes" 1 "" \
  "is not signed by the root key of KMS contract $KMS" -- \
  env PRIVATE_KEY="$PK" "$T" phala deploy --uuid "$APP" -c docker-compose.yml -e .env --rpc-url "$RPC" --yes
check_py "… no PATCH, no transaction" "len(txs) == 3 and not any(p.startswith('PATCH') for p in paths())"
eth_set '{}'
clear_requests
ck "update of an on-chain CVM without a key is refused before anything changes" 1 "" "give --private-key" -- \
  "$T" phala deploy --uuid "$APP" -c docker-compose.yml --rpc-url "$RPC" --yes
check_py "… no PATCH, no transaction (no key)" "len(txs) == 3 and not any(p.startswith('PATCH') for p in paths())"

# ---- failures: each exits 1, says why, commits nothing ----------------------------------------------
clear_requests
ck "no private key: refused before provisioning" 1 "" "KMS base-prod5 is on-chain: on-chain KMS deployments" -- \
  "${DEPLOY[@]}" -n chain-nokey
check_py "… nothing provisioned or committed, no transaction" \
  "paths() == ['GET /teepods/available'] and len(txs) == 3 and out.get('success') is False"
ck "no RPC URL: refused" 1 "" "give --rpc-url, a JSON-RPC endpoint of its chain (8453)" -- \
  env PRIVATE_KEY="$PK" "$T" phala deploy docker-compose.yml -n chain-norpc --node-id 6 --kms-id base-prod5
ck "a malformed --private-key is a usage error that does not echo it" 2 "" "private key: not hex" -- \
  "${DEPLOY[@]}" -n chain-badkey --private-key "zz${PK:2}"
ck "a malformed --rpc-url is a usage error" 2 "" "--rpc-url needs an http:// or https:// URL" -- \
  "${DEPLOY[@]}" -n chain-badrpc --rpc-url ftp://x --private-key "$PK"

clear_requests
eth_set '{"revert": true}'
ck "a reverted transaction fails clearly" 1 "" "failed on chain (status 0x0): nothing was registered" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-revert
check_py "… no commit" "commits() == [] and len(txs) == 4 and txs[3]['status'] == '0x0'"

clear_requests
eth_set '{}'
ctl POST /eth/fail '{"method": "eth_estimateGas", "message": "execution reverted: AppAuth implementation not set"}' >/dev/null
ck "an RPC error is quoted" 1 "" "eth_estimateGas: the RPC node refused: execution reverted: AppAuth implementation not set" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-rpcerr
check_py "… no transaction, no commit" "commits() == [] and len(txs) == 4"

clear_requests
eth_set '{"bad_signature": true}'
ck "an env key signed by another key than the KMS root is refused" 1 "" "is not signed by the root key of KMS contract $KMS" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-badsig
check_py "… the message names the contract that stays on chain; nothing committed" \
  "commits() == [] and len(txs) == 5 and ('app contract ' + txs[4]['call']['app_id'] + ' stays on chain') in err"

clear_requests
eth_set '{"never_mine": true}'
ck "a transaction never mined times out with --timeout" 1 "" "was not mined within 1 s" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-slow --timeout 1
check_py "… no commit" "commits() == []"
eth_set '{}'

clear_requests
ck "a Phala KMS deploy ignores PRIVATE_KEY and sends no transaction" 0 '"success": true' "" -- \
  env PRIVATE_KEY=not-a-key "$T" phala deploy docker-compose.yml -n phala-kms --node-id 3 -e .env --json
check_py "… and no KMS pubkey request" "len(txs) == 6 and not any('/kms/' in p for p in paths())"

# ---- --kms-root: a pinned root must be the one the contract names -------------------------------------
G=0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798 # the fake KMS root (secret 1)
clear_requests
ck "--kms-root pinning the contract's root key deploys" 0 '"success": true' "" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-pinned --kms-root "0x$G"
clear_requests
ck "--kms-root naming another key stops before any transaction or commit" 1 "" \
  "not the --kms-root you trust" -- \
  env PRIVATE_KEY="$PK" "${DEPLOY[@]}" -n chain-wrongpin --kms-root "03${G:2}"
check_py "… no commit, and no transaction since the last" "'POST /cvms' not in paths() and len(txs) == 7"
ck "a malformed --kms-root is a usage error" 2 "" "--kms-root needs a compressed secp256k1 public key" -- \
  "${DEPLOY[@]}" -n chain-badpin --kms-root 1234

# ---- what no output may hold -------------------------------------------------------------------------
if grep -qi "$PK" "$work/all" "$work/fake.err"; then fail "no output shows the private key" "$(grep -m3 -i "$PK" "$work/all")"
else pass "no output shows the private key"; fi
if grep -q "stack traceback" "$work/all"; then fail "no output has a stack trace" "$(grep -m3 -B2 "stack traceback" "$work/all")"
else pass "no output has a stack trace"; fi
if grep -q "sk-onchain-secret" "$work/all"; then fail "no output shows an env value" "$(grep -m3 sk-onchain "$work/all")"
else pass "no output shows an env value"; fi

finish
