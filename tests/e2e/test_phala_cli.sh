#!/bin/bash
# tests/e2e/test_phala_cli.sh — `teehost phala …` and `teehost tee phala …` end to end against the
# faithful fake Phala Cloud (tests/lua/fake_phala_cloud.lua) in a child teehost, reached through
# PHALA_CLOUD_API_PREFIX. Checked: every command with --json parsed, the requests and bodies the
# fake received (those of phala 1.0.35, cli-1.0.35-captured-requests.json, with numbers as
# numbers), the env the fake decrypted, error answers quoted with their detail and non-zero exits,
# retries, a stalled server (timeouts, no hang), waits, confirmations (off and on a terminal),
# .env errors with line numbers, the upgrade's env difference, and that no output holds a stack
# trace or the API key.
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
KEY=phak_test_0123456789abcdef
DEMO=4af78467e1a2c4e43abe77926f3792c631a308f2
DEMO_UUID=3e9b5f1c-7a2d-4c8e-9f01-2b3c4d5e6f70
export HOME="$work/home" PHALA_CLOUD_DIR="$work/home/.phala-cloud"
unset PHALA_CLOUD_API_KEY PHALA_CLOUD_CVM_UUID CLOUD_URL TEEHOST_PHALA_TIMEOUT
mkdir -p "$HOME" "$work/proj"
cd "$work/proj" || exit 1

# ---- the fake, with a control server beside it -------------------------------------------------
cat >"$work/fake.lua" <<'LUA'
-- Prints "<API prefix URL> <control URL>" and serves until killed. Control: POST /fail (a fault
-- of fake_phala_cloud.lua as JSON), GET /requests, POST /clear (requests and pending faults),
-- GET /cvm/<ref> (stored state, env decrypted with the vector key).
local fake = require "fake_phala_cloud"
local srv, state = fake.start { decrypt = phala.decrypt_env, boot_delay = 0.3 }

local function cvm_state(cvm)
  return { name = cvm.name, app_id = cvm.app_id, vm_uuid = cvm.vm_uuid, status = cvm.status,
           in_progress = cvm.in_progress, vcpu = cvm.vcpu, memory = cvm.memory, disk_size = cvm.disk_size,
           app_compose = cvm.app_compose, compose_hash = cvm.compose_hash, env = cvm.env or json.null }
end

local function control(req)
  local ref = req.path:match("^/cvm/(.+)$")
  if req.path == "/fail" then
    state.fail(json.decode(req.body))
  elseif req.path == "/clear" then
    state.requests, state.faults = {}, {}
  elseif req.path == "/requests" then
    local out = json.array {}
    for i, r in ipairs(state.requests) do
      out[i] = { method = r.method, path = r.path, query = r.query_string or "", body = r.body,
                 json = r.json or json.null }
    end
    return { status = 200, json = out }
  elseif ref then
    local cvm = state.find(ref)
    if not cvm then return { status = 404, json = { detail = "no such CVM" } } end
    return { status = 200, json = cvm_state(cvm) }
  else
    return { status = 404, json = { detail = "unknown control path" } }
  end
  return { status = 200, json = { ok = true } }
end

local ctl = assert(http.serve { host = "127.0.0.1", port = 0, handler = control })
print(state.url .. " http://127.0.0.1:" .. ctl:port())
io.stdout:flush()
while srv and ctl do task.sleep(3600) end
LUA
trap 'kill "$fake_pid" 2>/dev/null; rm -rf "$work"' EXIT
start_fake "$work/fake.lua"
read -r API CTL <"$work/urls"
export PHALA_CLOUD_API_PREFIX=$API

fault() { ctl POST /fail "$1" >/dev/null; }
clear_requests() { ctl POST /clear >/dev/null; } # and the faults still pending

# Every output is collected, to check at the end that none holds a stack trace or the key.

# check_py NAME PYTHON: PYTHON (with out = parsed stdout JSON of the last ck, err = its stderr
# text, reqs = the requests the fake saw since clear_requests, cvm(ref) = the fake's stored CVM)
# must be true.
check_py() {
  ctl GET /requests >"$work/reqs.json"
  if python3 - "$work" "$CTL" "$2" <<'PY'; then pass "$1"; else fail "$1" "$(cat "$work/pyerr")" "stdout: $(head -c 800 "$work/out")" "stderr: $(head -c 800 "$work/err")"; fi
import json, sys, urllib.request
work, ctl, expr = sys.argv[1:4]
def load(path):
    try:
        return json.load(open(path))
    except Exception as e:
        return {"__unparsed__": str(e)}
out = load(work + "/out")
err = open(work + "/err").read()
reqs = json.load(open(work + "/reqs.json"))
def cvm(ref):
    return json.load(urllib.request.urlopen(ctl + "/cvm/" + ref))
def paths():
    return [r["method"] + " " + r["path"] + ("?" + r["query"] if r["query"] else "") for r in reqs]
try:
    ok = eval("(" + expr.strip() + ")")
except Exception as e:
    ok = False
    print("exception:", repr(e), file=open(work + "/pyerr", "w"))
else:
    print("false:", expr, "\nrequests:", paths(), file=open(work + "/pyerr", "w"))
sys.exit(0 if ok else 1)
PY
}

# The inputs of cli-1.0.35-captured-requests.json.
cat >docker-compose.yml <<'YML'
services:
  app:
    image: alice/teehost-demo:0.1.0
    ports:
      - "3000:3000"
    volumes:
      - /var/run/tappd.sock:/var/run/tappd.sock
    environment:
      - GREETING=${GREETING}
      - API_TOKEN=${API_TOKEN}
YML
cat >.env <<'ENV'
# comment line
GREETING="héllo wörld = 1"
API_TOKEN=sk-test-abc123  # inline comment
EMPTY=
QUOTED_NL="line1\nline2"
export EXPORTED=yes
ENV
printf 'GREETING=hi\nNEW_SECRET=s3cr3t-value\n' >small.env
WANT_ENV='[{"key": "GREETING", "value": "héllo wörld = 1"}, {"key": "API_TOKEN", "value": "sk-test-abc123"}, {"key": "EMPTY", "value": ""}, {"key": "QUOTED_NL", "value": "line1\nline2"}, {"key": "EXPORTED", "value": "yes"}]'
COMPOSE_JSON=$(python3 -c 'import json; print(json.dumps(open("docker-compose.yml").read()))')

# ---- help and dispatch ----------------------------------------------------------------------------
ck "phala --help lists the command tree" 0 "cvms list | get | create" "" -- "$T" phala --help
ck "teehost help lists phala and tee" 0 "tee" "" -- "$T" help
ck "teehost tee alone prints its subcommands" 0 "phala …" "" -- "$T" tee
ck "tee phala --help is the same tree" 0 "deploy [COMPOSE]" "" -- "$T" tee phala --help
ck "tee with an unknown subcommand is a usage error" 2 "" "unknown subcommand 'frob'" -- "$T" tee frob
ck "phala without a command is a usage error" 2 "" "needs a command" -- "$T" phala
ck "an unknown command is a usage error" 2 "" "unknown command 'frob'" -- "$T" phala frob
ck "an unknown option is a usage error" 2 "" "unknown option '--frob'" -- "$T" phala cvms list --frob
ck "cvms --help lists its commands" 0 "teehost phala cvms replicate" "" -- "$T" phala cvms --help
for c in "status" "auth login" "auth logout" "auth status" "nodes" "deploy" "cvms list" "cvms get" "cvms create" \
  "cvms start" "cvms stop" "cvms restart" "cvms delete" "cvms upgrade" "cvms resize" "cvms attestation" \
  "cvms network" "cvms list-nodes" "cvms replicate"; do
  # shellcheck disable=SC2086 # the command is two words on purpose
  ck "$c --help" 0 "teehost phala" "" -- "$T" phala $c --help
done
mkdir -m 700 "$work/simhome"
ck "phala simulator start runs the dstack simulator, socket and --port" 0 "simulator: started" "" -- \
  env TEEHOST_HOME="$work/simhome" "$T" phala simulator start --port 0
ck "phala simulator status" 0 "running (pid" "" -- env TEEHOST_HOME="$work/simhome" "$T" phala simulator status
ck "phala simulator stop" 0 "simulator: stopped" "" -- env TEEHOST_HOME="$work/simhome" "$T" phala simulator stop
ck "phala simulator --help names the commands" 0 "teehost phala simulator stop" "" -- "$T" phala simulator --help
ck "docker is dispatched to phala_cli.docker" 0 "docker login" "" -- "$T" phala docker --help
mkdir -p "$work/broken/scripts/phala_cli"
echo 'error("simulated broken module")' >"$work/broken/scripts/phala_cli/docker.lua"
ck "a docker module that does not load gives a clear message" 2 "" "docker commands are not available in this build" -- \
  env TEEHOST_PATH="$work/broken" "$T" phala docker build

# ---- the local functions the commands use (bindings/phala_util.c) against the vectors ------------
cat >"$work/vectors.lua" <<'LUA'
local dir = ...
local function read(name)
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local t = f:read("a")
  f:close()
  return json.decode(t)
end
local bad = {}
local v = read("compose-hash.json")
for _, c in ipairs(v.cases) do
  for form, key in pairs { compact = "dstack_sdk_compact", normalized = "dstack_sdk_compact_normalized",
                           legacy = "phala_cloud_legacy_indent4" } do
    local hash, app_id, text = phala.compose_hash(c.input, form)
    if hash ~= c[key].hash or app_id ~= c[key].app_id or text ~= c[key].hashed_string then
      bad[#bad + 1] = c.name .. " " .. form
    end
  end
end
local raw = v.raw_case
if phala.compose_hash(raw.app_compose_json, "raw") ~= raw.sha256 then bad[#bad + 1] = "raw" end
local k = read("kms-pubkey-signature.json")
for _, c in ipairs(k.cases) do
  local ok, _, code = phala.check_kms_signature(c.app_id, c.public_key_hex, c.signature_hex, k.cases[1].recovered_signer)
  local want = c.name == "doc_example" or nil
  if ok ~= want or (not ok and code ~= "EVERIFY" and code ~= "EBADDATA") then bad[#bad + 1] = "kms " .. c.name end
end
print(#bad == 0 and "all vectors match" or ("mismatch: " .. table.concat(bad, ", ")))
LUA
ck "compose_hash (compact, normalized, legacy, raw) and check_kms_signature reproduce the vectors" 0 \
  "all vectors match" "" -- "$T" "$work/vectors.lua" "$TEEHOST_SOURCE/tests/vectors/phala-cloud"
ck "parse_env names a bad line, never its text" 0 "nil	line 2: missing '=' after the name	EBADDATA" "" -- \
  "$T" -e 'print(phala.parse_env("A=1\nsecret-ish text\n"))'
ck "build_compose refuses an invalid allowed_envs name" 0 "is not a valid variable name" "" -- \
  "$T" -e 'print(phala.build_compose{docker_compose = "services: {}", name = "x", allowed_envs = {"export X"}})'

# ---- no key, auth --------------------------------------------------------------------------------
ck "status without a key exits 1 and says how to log in" 1 "" "teehost phala auth login" -- "$T" phala status
ck "cvms list without a key exits 1" 1 "" "no API key" -- "$T" phala cvms list
ck "--json failures print {success: false}" 1 '"success": false' "" -- "$T" phala cvms list --json
check_py "… with the error code" 'out["code"] == "ENOKEY" and "no API key" in out["error"]'

clear_requests
ck "auth login with a wrong key fails with the API's detail" 1 "" "401 Unauthorized: Invalid API key; the key was not saved" -- \
  "$T" phala auth login phak_wrong_key
check_py "… after one GET auth/me" 'paths() == ["GET /auth/me"]'
ck "… and saves nothing" 1 "" "" -- test -e "$PHALA_CLOUD_DIR/api-key"
ck "auth login with an empty key is a usage error" 2 "" "needs an API key" -- "$T" phala auth login ""
ck "auth login reads the key from stdin and saves it once it works" 0 "Welcome alice!" "" -- \
  bash -c "printf '%s\n' '$KEY' | '$T' phala auth login"
ck "the key file is 0600" 0 "600" "" -- stat -c %a "$PHALA_CLOUD_DIR/api-key"
ck "its directory is 0700" 0 "700" "" -- stat -c %a "$PHALA_CLOUD_DIR"
ck "auth login KEY --json" 0 '"username": "alice"' "" -- "$T" phala auth login "$KEY" --json
check_py "… names the file" 'out["saved_to"].endswith("/api-key") and out["success"] is True'

ck "status --json" 0 "" "" -- "$T" phala status --json
check_py "… gives apiUrl, username, team_name and numbers as numbers" \
  'out["apiUrl"] == "'"$API"'" and out["username"] == "alice" and out["team_name"] == "alice-team" and out["credits"] == 10.5'
ck "auth status prints the user and the workspace" 0 "alice-team" "" -- "$T" phala auth status
ck "tee phala auth status works too" 0 "Logged in as: alice" "" -- "$T" tee phala auth status
ck "status --api-key with a wrong key exits 1 with the detail" 1 "" "Invalid API key" -- \
  "$T" phala status --api-key phak_wrong
ck "PHALA_CLOUD_API_KEY wins over the file (a wrong one: 401, exit 1)" 1 "" "401 Unauthorized: Invalid API key" -- \
  env PHALA_CLOUD_API_KEY=phak_bad "$T" phala cvms list

# ---- reading CVMs ----------------------------------------------------------------------------------
clear_requests
ck "cvms list --json" 0 "" "" -- "$T" phala cvms list --json
check_py "… is the API's array, after GET cvms?user_id=0" \
  'out[0]["hosted"]["app_id"] == "'$DEMO'" and paths() == ["GET /cvms?user_id=0"]'
ck "cvms list prints a table" 0 "teehost-demo  $DEMO" "" -- "$T" phala cvms list
ck "cvms ls is list" 0 "running" "" -- "$T" phala cvms ls
clear_requests
ck "cvms get APP_ID --json" 0 "" "" -- "$T" phala cvms get $DEMO --json
check_py "… GET cvms/app_<id>, numbers as numbers" \
  'out["vm_uuid"] == "'$DEMO_UUID'" and out["vcpu"] == 1 and out["memory"] == 2048 and paths() == ["GET /cvms/app_'$DEMO'"]'
ck "cvms get by UUID" 0 "App ID:    $DEMO" "" -- "$T" phala cvms get $DEMO_UUID
ck "cvms get by app_ id" 0 "teehost-demo" "" -- "$T" phala cvms get app_$DEMO
ck "cvms get by name" 0 "$DEMO_UUID" "" -- "$T" phala cvms get teehost-demo
ck "cvms get of an unknown id: 404 with the detail, exit 1" 1 "" "404 Not Found: CVM not found" -- \
  "$T" phala cvms get 0000000000000000000000000000000000000000
ck "… --json" 1 "" "" -- "$T" phala cvms get 0000000000000000000000000000000000000000 --json
check_py "… {success: false, status: 404, detail}" 'out["status"] == 404 and out["detail"] == "CVM not found"'
ck "cvms get of an unknown name" 1 "" "no CVM named 'nope'" -- "$T" phala cvms get nope
ck "cvms get without a CVM off a terminal is a usage error" 2 "" "give the CVM" -- "$T" phala cvms get
ck "cvms network --json" 0 "" "" -- "$T" phala cvms network $DEMO --json
check_py "… is the network answer" 'out["is_online"] is True and out["internal_ip"].startswith("10.0.3.")'
ck "cvms attestation --json" 0 "" "" -- "$T" phala cvms attestation $DEMO --json
check_py "… has the TCB info and app_compose" \
  'out["tcb_info"]["app_compose"].startswith("{") and len(out["app_certificates"]) == 2'
ck "cvms attestation checks the compose hash against the event log" 0 \
  "4af78467e1a2c4e43abe77926f3792c631a308f2d60e2265c017f605c119d55d (SHA-256 of app_compose), matches the compose-hash event" \
  "" -- "$T" phala cvms attestation teehost-demo
clear_requests
ck "nodes --json" 0 "" "" -- "$T" phala nodes --json
check_py "… GET teepods/available, both nodes and the KMS list" \
  'len(out["nodes"]) == 2 and out["kms_list"][0]["chain_id"] == 8453 and paths() == ["GET /teepods/available"]'
ck "nodes list prints nodes and images" 0 "image dstack-0.5.3 (v0.5.3)" "" -- "$T" phala nodes list
ck "cvms list-nodes is the same" 0 "prod5 (id 3)" "" -- "$T" phala cvms list-nodes

# ---- cvms create (legacy, spec 3.4) ------------------------------------------------------------------
clear_requests
ck "cvms create with an env file --json" 0 '"status": "creating"' "" -- \
  "$T" phala cvms create -n teehost-new -c docker-compose.yml -e .env --teepod-id 3 --image dstack-0.3.6 --json
check_py "… asks the v0.3 nodes, the env key, then creates" 'paths() == ["GET /teepods/available?v03x_only=1",
  "POST /cvms/pubkey/from_cvm_configuration", "POST /cvms/from_cvm_configuration"]'
check_py "… with 1.0.35's configuration plus allowed_envs, numbers as numbers" '
  reqs[1]["json"] == {"teepod_id": 3, "name": "teehost-new", "image": "dstack-0.3.6", "vcpu": 1, "memory": 2048,
    "disk_size": 40, "listed": False, "compose_manifest": {"docker_compose_file": '"$COMPOSE_JSON"',
    "docker_config": {"url": "", "username": "", "password": ""}, "features": ["kms", "tproxy-net"],
    "kms_enabled": True, "manifest_version": 2, "name": "teehost-new", "public_logs": True, "public_sysinfo": True,
    "tproxy_enabled": True, "allowed_envs": ["GREETING", "API_TOKEN", "EMPTY", "QUOTED_NL", "EXPORTED"]}}'
check_py "… the env decrypts to the dotenv values" 'cvm(out["app_id"])["env"] == '"$WANT_ENV"
check_py "… and the salt and key of step 1 are sent back" \
  'reqs[2]["json"]["app_id_salt"] and len(reqs[2]["json"]["app_env_encrypt_pubkey"]) == 64'
NEW_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["app_id"])' "$work/out")
# The fake attests every CVM with the demo's event log: for this one it measured another compose.
ck "cvms attestation fails (exit 1) when the event log measured another compose hash" 1 "" \
  "the event log measured compose hash $DEMO" -- "$T" phala cvms attestation "$NEW_ID" --json
ck "cvms create --wait waits until it runs" 0 '"status": "running"' "is running" -- \
  "$T" phala cvms create -n teehost-w -c docker-compose.yml --wait --json
ck "cvms create: an image the node lacks" 1 "" "image dstack-9.9 is not on node prod5" -- \
  "$T" phala cvms create -n x1 -c docker-compose.yml --image dstack-9.9
ck "cvms create: a taken name is the API's 409 with its detail" 1 "" "already exists [ERR-01-004]" -- \
  "$T" phala cvms create -n teehost-demo -c docker-compose.yml
ck "cvms create: --vcpu must be a number" 2 "" "--vcpu needs a whole number" -- \
  "$T" phala cvms create -n x2 -c docker-compose.yml --vcpu two
ck "cvms create: a missing compose file is named" 1 "" "nope.yml" -- "$T" phala cvms create -n x3 -c nope.yml

# ---- start, stop, restart, resize, delete ----------------------------------------------------------
clear_requests
ck "stop off a terminal without --yes refuses (exit 2)" 2 "" "pass --yes" -- "$T" phala cvms stop "$NEW_ID"
check_py "… before any request" 'reqs == []'
ck "stop --yes --wait --json" 0 '"status": "stopped"' "" -- "$T" phala cvms stop "$NEW_ID" --yes --wait --json
check_py "… POST …/stop without a body" \
  '[r for r in reqs if r["method"] == "POST"] == [{"method": "POST", "path": "/cvms/app_'"$NEW_ID"'/stop", "query": "", "body": "", "json": None}]'
ck "start --wait" 0 "start requested" "is running" -- "$T" phala cvms start "$NEW_ID" --wait
ck "restart -y --json" 0 '"status": "restarting"' "" -- "$T" phala cvms restart "$NEW_ID" -y --json
ck "restart by name with --force" 0 "restart requested" "" -- "$T" phala cvms restart teehost-new --force
ck "start --timeout must be seconds" 2 "" "--timeout needs seconds" -- "$T" phala cvms start "$NEW_ID" --timeout soon
clear_requests
ck "resize sends numbers and a real boolean" 0 '"vcpu": 2' "vcpu 1 -> 2" -- \
  "$T" phala cvms resize "$NEW_ID" -v 2 -m 4096 -d 50 -r false -y --json
check_py "… PATCH …/resources {vcpu: 2, memory: 4096, disk_size: 50, allow_restart: false}" \
  'reqs[-1]["method"] == "PATCH" and reqs[-1]["json"] == {"vcpu": 2, "memory": 4096, "disk_size": 50, "allow_restart": False}'
check_py "… and the fake stored them" 'cvm("'"$NEW_ID"'")["memory"] == 4096 and cvm("'"$NEW_ID"'")["disk_size"] == 50'
ck "resize without sizes is a usage error" 2 "" "give --vcpu, --memory or --disk-size" -- "$T" phala cvms resize "$NEW_ID" -y
ck "resize -r maybe is a usage error" 2 "" "--allow-restart needs true or false" -- \
  "$T" phala cvms resize "$NEW_ID" -v 2 -r maybe -y
ck "resize off a terminal without -y refuses" 2 "" "pass --yes" -- "$T" phala cvms resize "$NEW_ID" -v 3
clear_requests
ck "delete off a terminal without --yes refuses" 2 "" "pass --yes" -- "$T" phala cvms delete teehost-w
check_py "… before any request" 'reqs == []'
ck "delete by name --force --json" 0 '"success": true' "" -- "$T" phala cvms delete teehost-w --force --json
check_py "… looks the name up, then DELETE cvms/app_<id>" \
  'paths()[0] == "GET /cvms?user_id=0" and paths()[1] == "DELETE /cvms/app_" + out["deleted"]'
ck "the deleted CVM is gone" 1 "" "no CVM named 'teehost-w'" -- "$T" phala cvms get teehost-w

# ---- upgrade: allowed_envs never dropped, the difference shown --------------------------------------
clear_requests
ck "upgrade off a terminal shows the env difference, then refuses" 2 "" "removed: API_TOKEN" -- \
  "$T" phala cvms upgrade $DEMO -c docker-compose.yml -e small.env
check_py "… names only, no values" '"s3cr3t" not in err and "added:   NEW_SECRET" in err and "kept:    GREETING" in err'
check_py "… and sends no update" '"PUT" not in [r["method"] for r in reqs]'
ck "… warns about names the compose does not use" 2 "" "NEW_SECRET" -- \
  "$T" phala cvms upgrade $DEMO -e small.env
clear_requests
ck "upgrade -c without -e keeps the env and allowed_envs" 0 '"env_sent": false' "unchanged (no -e given)" -- \
  "$T" phala cvms upgrade $DEMO -c docker-compose.yml --yes --json
check_py "… GET detail, GET compose_file, PUT compose" 'paths() == ["GET /cvms/app_'$DEMO'",
  "GET /cvms/app_'$DEMO'/compose_file", "PUT /cvms/app_'$DEMO'/compose"]'
check_py "… with the current allowed_envs and name, no env" '
  reqs[2]["json"]["compose_manifest"]["allowed_envs"] == ["GREETING", "API_TOKEN"]
  and reqs[2]["json"]["compose_manifest"]["name"] == "teehost-demo" and "encrypted_env" not in reqs[2]["json"]
  and reqs[2]["json"]["allow_restart"] is True'
ck "upgrade -e replaces the env with exactly the file's names" 0 '"removed": [' "" -- \
  "$T" phala cvms upgrade $DEMO -e small.env --yes --json --wait
check_py "… reports the difference" 'out["env_changes"] == {"added": ["NEW_SECRET"], "kept": ["GREETING"],
  "removed": ["API_TOKEN"]} and out["status"] == "running"'
check_py "… sends allowed_envs and env_keys = the names, env encrypted to the CVM key" '
  [r for r in reqs if r["method"] == "PUT"][-1]["json"]["compose_manifest"]["allowed_envs"] == ["GREETING", "NEW_SECRET"]
  and [r for r in reqs if r["method"] == "PUT"][-1]["json"]["env_keys"] == ["GREETING", "NEW_SECRET"]
  and cvm("'$DEMO'")["env"] == [{"key": "GREETING", "value": "hi"}, {"key": "NEW_SECRET", "value": "s3cr3t-value"}]'
ck "upgrade needs -c or -e" 2 "" "give -c COMPOSE, -e ENV_FILE or both" -- "$T" phala cvms upgrade $DEMO --yes

# ---- replicate -------------------------------------------------------------------------------------
clear_requests
ck "replicate UUID --teepod-id 3 -e .env --json" 0 '"status": "creating"' "not in the app's allowed_envs" -- \
  "$T" phala cvms replicate $DEMO_UUID --teepod-id 3 -e .env --json
check_py "… GET …/compose for the key, then POST …/replicas with a number and the env" '
  paths() == ["GET /cvms/3e9b5f1c7a2d4c8e9f012b3c4d5e6f70/compose", "POST /cvms/3e9b5f1c7a2d4c8e9f012b3c4d5e6f70/replicas"]
  and reqs[1]["json"]["teepod_id"] == 3 and len(reqs[1]["json"]["encrypted_env"]) > 120'
check_py "… the replica got the dotenv values" 'cvm(out["vm_uuid"])["env"] == '"$WANT_ENV"

# ---- deploy: provision flow (spec 3.7) ---------------------------------------------------------------
clear_requests
ck "deploy -e .env COMPOSE --json" 0 '"success": true' "Compose hash: " -- \
  "$T" phala deploy --node-id 3 -n teehost-dep -e .env docker-compose.yml --json
check_py "… GET nodes, POST provision, POST cvms" \
  'paths() == ["GET /teepods/available", "POST /cvms/provision", "POST /cvms"]'
check_py "… the provision body of 1.0.35 (allowed_envs from the one parser)" '
  reqs[1]["json"] == {"name": "teehost-dep", "compose_file": {"docker_compose_file": '"$COMPOSE_JSON"',
    "allowed_envs": ["GREETING", "API_TOKEN", "EMPTY", "QUOTED_NL", "EXPORTED"], "name": "teehost-dep"},
    "vcpu": 1, "memory": 2048, "disk_size": 40, "image": "dstack-0.3.6", "teepod_id": 3}'
check_py "… the commit body, and the hash shown before it" '
  sorted(reqs[2]["json"]) == ["app_id", "compose_hash", "encrypted_env"]
  and reqs[2]["json"]["compose_hash"] == out["compose_hash"] and ("Compose hash: " + out["compose_hash"]) in err'
check_py "… the output has the ids and the dashboard" '
  out["vm_uuid"] and out["app_id"] == out["compose_hash"][:40] and out["dashboard_url"].endswith(out["vm_uuid"])'
check_py "… the CVM got the dotenv values" 'cvm(out["app_id"])["env"] == '"$WANT_ENV"
DEP_UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm_uuid"])' "$work/out")
clear_requests
ck "deploy with 1.0.35's sizes (2G, 50G) and --wait" 0 '"status": "running"' "is running" -- \
  "$T" phala deploy -c docker-compose.yml -n teehost-dep2 --memory 2G --disk-size 50G --vcpu 2 --wait --json
check_py "… sends them as numbers" 'reqs[1]["json"]["memory"] == 2048 and reqs[1]["json"]["disk_size"] == 50
  and reqs[1]["json"]["vcpu"] == 2 and reqs[1]["json"]["compose_file"]["allowed_envs"] == []'
ck "deploy prints the CVM" 0 "Dashboard URL:" "Compose hash:" -- \
  "$T" phala deploy docker-compose.yml -n teehost-dep3
ck "deploy: --memory must be a size" 2 "" "--memory needs MB" -- "$T" phala deploy docker-compose.yml --memory lots
ck "deploy without a compose file is a usage error" 2 "" "needs a docker-compose file" -- "$T" phala deploy
ck "deploy with an on-chain KMS option is refused clearly" 2 "" "on-chain KMS" -- \
  "$T" phala deploy docker-compose.yml --private-key 0x01
ck "deploy --kms-id of an on-chain KMS is refused clearly" 1 "" "is on-chain" -- \
  "$T" phala deploy docker-compose.yml -n x4 --node-id 6 --kms-id base-prod5
clear_requests
ck "deploy --dry-run --json" 0 '"dry_run": true' "" -- "$T" phala deploy --dry-run -e .env docker-compose.yml -n dry --json
check_py "… computes the hash of its app-compose and sends nothing" '
  __import__("hashlib").sha256(out["app_compose"].encode()).hexdigest() == out["compose_hash"] and reqs == []
  and __import__("json").loads(out["app_compose"])["allowed_envs"] == ["GREETING", "API_TOKEN", "EMPTY", "QUOTED_NL", "EXPORTED"]'

# ---- deploy --uuid: update flow (spec 3.8) -----------------------------------------------------------
clear_requests
ck "deploy --uuid off a terminal shows hash and env difference, then refuses" 2 "" "removed: API_TOKEN, EMPTY" -- \
  "$T" phala deploy --uuid "$DEP_UUID" -e small.env docker-compose.yml
check_py "… without committing" '"PATCH" not in [r["method"] for r in reqs]'
clear_requests
ck "deploy --uuid -e --yes --json" 0 '"updated": true' "teehost computed the same value" -- \
  "$T" phala deploy --uuid "$DEP_UUID" -e small.env docker-compose.yml --yes --json --wait
DEP_PLAIN=${DEP_UUID//-/}
check_py "… GET detail, GET compose_file, POST provision, PATCH compose_file" 'paths()[:4] == [
  "GET /cvms/'"$DEP_PLAIN"'", "GET /cvms/'"$DEP_PLAIN"'/compose_file", "POST /cvms/'"$DEP_PLAIN"'/compose_file/provision",
  "PATCH /cvms/'"$DEP_PLAIN"'/compose_file"]'
check_py "… provision body as 1.0.35 sent it" 'reqs[2]["json"] == {"allowed_envs": ["GREETING", "NEW_SECRET"],
  "docker_compose_file": '"$COMPOSE_JSON"', "name": "teehost-dep", "kms_enabled": True, "public_logs": True,
  "public_sysinfo": True}'
check_py "… commit body, hash verified, env replaced" 'sorted(reqs[3]["json"]) == ["compose_hash", "encrypted_env", "env_keys"]
  and out["compose_hash_verified"] is True and out["status"] == "running"
  and cvm("'"$DEP_UUID"'")["env"] == [{"key": "GREETING", "value": "hi"}, {"key": "NEW_SECRET", "value": "s3cr3t-value"}]'
clear_requests
ck "deploy --uuid without -e keeps the env" 0 '"env_sent": false' "unchanged (no -e given)" -- \
  "$T" phala deploy --uuid teehost-dep docker-compose.yml --yes --json
check_py "… allowed_envs kept, no env in the commit" \
  'reqs[-2]["json"]["allowed_envs"] == ["GREETING", "NEW_SECRET"] and sorted(reqs[-1]["json"]) == ["compose_hash"]'

# ---- error paths -----------------------------------------------------------------------------------
clear_requests
fault '{"method": "GET", "path": "^/cvms$", "status": 500}'
ck "a 500 on a GET is retried" 0 "teehost-demo" "" -- "$T" phala cvms list
check_py "… the server saw two GETs" 'paths() == ["GET /cvms?user_id=0", "GET /cvms?user_id=0"]'
clear_requests
fault '{"method": "POST", "path": "/start$", "status": 500, "json": {"detail": "node prod5 is down"}}'
ck "a 500 on a POST is not retried; the detail is shown" 1 "" "500 Internal Server Error: node prod5 is down" -- \
  "$T" phala cvms start $DEMO
check_py "… one POST" '[r["method"] for r in reqs] == ["POST"]'
fault '{"method": "POST", "path": "^/cvms/provision$", "status": 422, "json": {"detail": [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {}}]}}'
ck "a 422 shows the validation detail" 1 "" "422 Unprocessable Entity: name: Field required" -- \
  "$T" phala deploy docker-compose.yml -n x5
fault '{"method": "GET", "path": "^/auth/me$", "malformed": true}'
ck "malformed JSON is an error, not a crash" 1 "" "not valid JSON" -- "$T" phala status
fault '{"method": "GET", "path": "^/teepods/available$", "html": true, "times": 5}'
ck "a proxy's HTML 502 (after retries) exits 1" 1 "" "502" -- "$T" phala nodes
fault '{"method": "GET", "path": "^/auth/me$", "stall": 40, "times": 5}'
start=$(date +%s)
ck "a stalled server times out instead of hanging" 1 "" "timed out" -- \
  env TEEHOST_PHALA_TIMEOUT=1 timeout 60 "$T" phala status
took=$(( $(date +%s) - start ))
if [ "$took" -lt 30 ]; then pass "… within seconds ($took s)"; else fail "stall took $took s"; fi
fault '{"method": "GET", "path": "^/cvms/[^/]+$", "stall": 40, "times": 20}'
start=$(date +%s)
ck "a wait on a stalled server ends at --timeout" 1 "" "did not reach 'running' within 2 s" -- \
  env TEEHOST_PHALA_TIMEOUT=30 timeout 60 "$T" phala cvms start "$NEW_ID" --wait --timeout 2
took=$(( $(date +%s) - start ))
if [ "$took" -lt 20 ]; then pass "… promptly ($took s)"; else fail "wait took $took s"; fi
clear_requests
printf 'A=1\nthis line is wrong\n' >bad.env
ck "a bad .env line is named by its number" 1 "" "bad.env: line 2: missing '=' after the name" -- \
  "$T" phala deploy docker-compose.yml -e bad.env
cp "$work/err" "$work/bad_env_err"
ck "… without echoing the line" 1 "" "" -- grep -q "this line is wrong" "$work/bad_env_err"
printf 'TOKEN=a\nTOKEN=b\n' >dup.env
ck "a duplicate name in .env is an error" 1 "" "line 2: duplicate name TOKEN (first defined on line 1)" -- \
  "$T" phala cvms upgrade $DEMO -e dup.env --yes
ck "a missing .env is named" 1 "" "nope.env" -- "$T" phala deploy docker-compose.yml -e nope.env

# ---- on a terminal: confirmation prompts, progress, a hidden key prompt -----------------------------
# pty_run ANSWER PROMPT CMD...: runs CMD on a pseudo-terminal, types ANSWER once PROMPT shows;
# the transcript goes to $work/out, the exit status is the command's.
pty_run() {
  python3 - "$@" >"$work/out" 2>"$work/err" <<'PY'
import os, pty, select, sys, time
answer, prompt, cmd = sys.argv[1], sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
out, sent, deadline = b"", not prompt, time.time() + 30
while time.time() < deadline:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and prompt in out:
        os.write(fd, answer.encode())
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
  rc=$?
  cat "$work/out" >>"$work/all"
  return $rc
}
tty_check() { # NAME WANT_RC WANT_TEXT ANSWER PROMPT CMD...
  name=$1 want_rc=$2 want=$3
  shift 3
  pty_run "$@"
  rc=$?
  if [ "$rc" != "$want_rc" ]; then fail "$name" "exit $rc, want $want_rc" "$(head -c 1500 "$work/out")"
  elif ! grep -qF -- "$want" "$work/out"; then fail "$name" "transcript lacks: $want" "$(head -c 1500 "$work/out")"
  else pass "$name"; fi
}
tty_check "on a terminal, delete asks and 'n' cancels" 1 "Cancelled: nothing was changed" \
  "n"$'\r' "[y/N]" "$T" phala cvms delete teehost-dep3
ck "… the CVM is still there" 0 "teehost-dep3" "" -- "$T" phala cvms get teehost-dep3
tty_check "on a terminal, 'y' deletes" 0 "deleted" "y"$'\r' "[y/N]" "$T" phala cvms delete teehost-dep3
tty_check "on a terminal, a wait draws progress" 0 "⟳ CVM teehost-new:" "" "" "$T" phala cvms restart "$NEW_ID" --yes --wait
rm -f "$PHALA_CLOUD_DIR/api-key"
tty_check "on a terminal, auth login asks for the key without echo" 0 "Welcome alice!" \
  "$KEY"$'\r' "API key: " "$T" phala auth login
ck "… and saved it" 0 "" "" -- test -s "$PHALA_CLOUD_DIR/api-key"

# ---- auth logout -------------------------------------------------------------------------------------
ck "auth logout --json" 0 '"removed": true' "" -- "$T" phala auth logout --json
ck "… the key file is gone" 1 "" "" -- test -e "$PHALA_CLOUD_DIR/api-key"
ck "auth logout again: nothing to remove, still exit 0" 0 "No API key was saved" "" -- "$T" phala auth logout
ck "after logout, status exits 1" 1 "" "no API key" -- "$T" phala status

# ---- what no output may hold ---------------------------------------------------------------------------
if grep -q "stack traceback" "$work/all"; then fail "no output has a stack trace" "$(grep -m3 -B2 "stack traceback" "$work/all")"
else pass "no output has a stack trace"; fi
if grep -qF "$KEY" "$work/all" || grep -q "phak_test" "$work/all"; then
  fail "no output shows the API key or its prefix" "$(grep -m3 -e "$KEY" -e phak_test "$work/all")"
else pass "no output shows the API key or its prefix"; fi
if grep -q "sk-test-abc123\|s3cr3t-value" "$work/all"; then fail "no output shows an env value" "$(grep -m3 -e sk-test -e s3cr3t "$work/all")"
else pass "no output shows an env value"; fi

finish
