#!/bin/bash
# tests/e2e/test_deploy.sh — scripts/deploy.lua end to end against the fake Phala Cloud
# (tests/lua/fake_phala_cloud.lua) in another teehost process. The fake's attestation answer is
# real evidence: a dstack-style event log whose RTMR3 runtime events include compose-hash = the
# hash of the app-compose the fake stored at provision, replayed with attest.replay, and a
# simulator quote (signed under the simulated PKI in $TEEHOST_HOME) carrying those RTMRs,
# MRCONFIGID 01 ‖ compose hash and the report data the answer states. The CVM's name picks a
# tamper: the happy path passes; a changed compose-hash event (re-replayed, so quote and log still
# agree), one flipped quote byte and a report data the quote was not made over each fail, naming
# the step. Input and API failures fail with one clear line, never a stack trace.
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
DEPLOY=$TEEHOST_SOURCE/scripts/deploy.lua
export TEEHOST_HOME="$work/home"
export LUA_PATH="$TEEHOST_SOURCE/tests/lua/?.lua;;"
export PHALA_CLOUD_API_KEY=phak_test_0123456789abcdef
fakes=""
stop_fakes() { for p in $fakes; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap stop_fakes EXIT

# The launcher: fake_phala_cloud with env decryption (so allowed_envs is enforced) and an
# attestation hook. arg[1]: file to write the URL to; arg[2]: "fail500" makes every attestation
# GET answer 500.
cat >"$work/fake.lua" <<'LUA'
local fake = require "fake_phala_cloud"
local url_file, mode = ...

local MRTD = "c68518a0ebb42136c12b2275164f8c72f25fa9a34392228687ed6e9caeb9c0f1dbd895e9cf475121c029dc47e70e91fd"
local KEY_PROVIDER = '{"name":"kms","id":"3059301306072a8648ce3d020106082a8648ce3d03010703420004"}'

local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

-- Boot events (IMR 0-2, TCG types, digests taken as given) and dstack's runtime events (IMR 3,
-- digests left "" as agents >= 0.5.6 send them: verifiers recompute them from the payloads).
local function event_log(cvm, compose_hash)
  local log = json.array {}
  for i, imr in ipairs { 0, 0, 0, 1, 1, 2 } do
    log[#log + 1] = { imr = imr, event_type = 2147483651, digest = fake.sha256_hex("boot " .. i) .. ("ab"):rep(16),
                      event = "", event_payload = "" }
  end
  for _, e in ipairs { { "system-preparing", "" }, { "app-id", cvm.app_id }, { "compose-hash", compose_hash },
                       { "instance-id", cvm.instance_id or "" }, { "boot-mr-done", "" },
                       { "key-provider", hex(KEY_PROVIDER) }, { "storage-fs", hex("ext4") },
                       { "system-ready", "" } } do
    log[#log + 1] = { imr = 3, event_type = 134217729, digest = "", event = e[1], event_payload = e[2] }
  end
  return log
end

local function certificate(cn, issuer, position, quote)
  return {
    subject = { common_name = cn, organization = json.null, country = json.null, state = json.null,
                locality = json.null },
    issuer = { common_name = issuer, organization = "Dstack", country = json.null },
    serial_number = "0x" .. fake.sha256_hex(cn):sub(1, 16), not_before = "2025-10-01T11:58:00Z",
    not_after = "2026-10-01T11:58:00Z", version = "v3", fingerprint = fake.sha256_hex(cn .. issuer),
    signature_algorithm = "ecdsa-with-SHA256", sans = json.null, is_ca = position > 0,
    position_in_chain = position, quote = quote or json.null,
  }
end

-- The attestation answer of spec 3.10 for cvm; a name with tamper-compose, tamper-quote or
-- tamper-reportdata in it chooses what to tamper.
local function attestation(cvm)
  local measured = cvm.compose_hash
  local function tamper(what) return cvm.name:find("tamper-" .. what, 1, true) end
  if tamper "compose" then measured = fake.sha256_hex("another compose") end
  local log = event_log(cvm, measured)
  local rtmr = assert(attest.replay(log))
  local report_data = fake.sha256_hex("report data of " .. cvm.app_id)
  local quote = attest.simulator_quote {
    mrtd = MRTD, rtmr0 = rtmr.rtmr0, rtmr1 = rtmr.rtmr1, rtmr2 = rtmr.rtmr2, rtmr3 = rtmr.rtmr3,
    reportdata = tamper "reportdata" and fake.sha256_hex("another nonce") or report_data,
    mrconfigid = "01" .. measured .. ("00"):rep(15),
  }
  if tamper "quote" then -- one bit of MRTD (quote offset 200), under the signature
    quote = quote:sub(1, 200) .. string.char(quote:byte(201) ~ 1) .. quote:sub(202)
  end
  local domain = "dstack-prod5.phala.network"
  return {
    name = cvm.name, is_online = true, is_public = true, error = json.null,
    app_certificates = json.array { certificate(cvm.app_id .. "." .. domain, "Dstack App CA", 0, hex(quote)),
                                    certificate("Dstack App CA", "Dstack KMS CA", 1) },
    tcb_info = { mrtd = MRTD, rootfs_hash = fake.sha256_hex("rootfs"), rtmr0 = rtmr.rtmr0, rtmr1 = rtmr.rtmr1,
                 rtmr2 = rtmr.rtmr2, rtmr3 = rtmr.rtmr3, event_log = log, app_compose = cvm.app_compose },
    compose_file = cvm.app_compose, report_data = report_data,
  }
end

local _, state = fake.start { boot_delay = 0, decrypt = phala.decrypt_env, attestation = attestation }
if mode == "fail500" then
  state.fail { method = "GET", path = "/attestation$", status = 500, times = 1000,
               json = { detail = "attestation service unavailable" } }
end
local f = assert(io.open(url_file, "w"))
f:write(state.url, "\n")
f:close()
LUA

# start_fake NAME [MODE]: starts a fake, waits for its URL, sets $url.
start_fake() {
  "$T" "$work/fake.lua" "$work/$1.url" "${2:-}" >"$work/$1.out" 2>"$work/$1.err" &
  fakes="$fakes $!"
  for _ in $(seq 200); do [ -s "$work/$1.url" ] && break; sleep 0.05; done
  url=$(cat "$work/$1.url")
}
start_fake main
export PHALA_CLOUD_API_PREFIX=$url

mkdir -p "$work/app"
cat >"$work/app/docker-compose.yml" <<'YAML'
services:
  agent:
    image: alice/teehost-agent@sha256:4b1c0f3e8a7b6d5c4b3a29180706f5e4d3c2b1a0918273645546372819a0b1c2
    volumes:
      - /var/run/dstack.sock:/var/run/dstack.sock
    environment:
      - API_TOKEN=${API_TOKEN}
      - GREETING=${GREETING}
YAML
cat >"$work/app/.env" <<'ENV'
# secrets for the agent
API_TOKEN=sk-live-SECRETVALUE-7f3a
export GREETING="hello world"
ENV
printf 'API_TOKEN=x\nthis is not a definition\n' >"$work/app/bad.env"

# Every check also keeps its stderr, to look for stack traces at the end.
checks() { check "$@"; cat "$work/err" >>"$work/all.err"; }
d() { timeout 120 "$T" "$DEPLOY" --compose "$work/app/docker-compose.yml" --root simulator --timeout 30 "$@"; }

# ---- the happy path -------------------------------------------------------------------------------

checks "happy path: deploys, verifies and reports" 0 "compose hash" "" -- d --env "$work/app/.env" --name happy
cp "$work/out" "$work/happy.out"
check_in() { # NAME FILE TEXT
  if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "$(basename "$2") lacks: $3" "$(head -c 2500 "$2")"; fi
}
check_in "happy: the TCB status is shown" "$work/happy.out" "TCB status    UpToDate"
check_in "happy: the compose hash is checked" "$work/happy.out" "✓ measured in RTMR3"
check_in "happy: the RTMRs are checked" "$work/happy.out" "RTMRs         ✓ event log replays to the quote"
check_in "happy: the report data is checked" "$work/happy.out" "report data   ✓ bound to the quote"
check_in "happy: each step is named" "$work/happy.out" "[13] check report data:"
check_in "happy: the hash is computed before sending" "$work/happy.out" "before sending"
check_in "happy: only env names are shown" "$work/happy.out" "2 variables (API_TOKEN, GREETING)"
if grep -q SECRETVALUE "$work/happy.out" "$work/err" "$work/main.out" "$work/main.err"; then
  fail "happy: no secret value in any output"
else
  pass "happy: no secret value in any output"
fi
# the compose-hash line before the provision line: computed before anything was sent
hash_line=$(grep -n '^\[4\] compose hash' "$work/happy.out" | cut -d: -f1)
prov_line=$(grep -n '^\[5\] provision' "$work/happy.out" | cut -d: -f1)
if [ -n "$hash_line" ] && [ -n "$prov_line" ] && [ "$hash_line" -lt "$prov_line" ]; then
  pass "happy: the compose hash is printed before provisioning"
else
  fail "happy: the compose hash is printed before provisioning" "$(head -c 1500 "$work/happy.out")"
fi

checks "happy --json: the report is JSON" 0 '"compose_hash_verified": true' "" -- \
  d --env "$work/app/.env" --name happy-json --json
if "$T" -e 'local r = json.decode(io.read("a")) assert(r.ok and r.tcb_status == "UpToDate"
    and r.report_data == "verified" and #r.compose_hash == 64 and r.app_id)' <"$work/out" >/dev/null 2>&1; then
  pass "happy --json: parses with ok, tcb_status, report_data, compose_hash, app_id"
else
  fail "happy --json: parses with ok, tcb_status, report_data, compose_hash, app_id" "$(head -c 1500 "$work/out")"
fi
checks "no --env: deploys with no variables" 0 "report data   ✓" "" -- d --name happy-noenv

# ---- tampered evidence: each fails, naming the step -----------------------------------------------

checks "tampered compose-hash event: fails on the compose hash" 1 "" "deploy: check compose hash: the CVM measured" -- \
  d --env "$work/app/.env" --name tamper-compose
check_in "  and the quote and event log still passed" "$work/out" "[11] replay event log: "
checks "tampered quote byte: fails quote verification" 1 "" "deploy: verify quote: quote signature:" -- \
  d --env "$work/app/.env" --name tamper-quote
checks "wrong report data: fails the report data binding" 1 "" "deploy: check report data: the quote was made over" -- \
  d --env "$work/app/.env" --name tamper-reportdata
checks "tampered --json: ok false with the step" 1 '"step":"check compose hash"' "" -- \
  d --env "$work/app/.env" --name tamper-compose-json --json
checks "the Intel root refuses the simulator's quote" 1 "" "deploy: verify quote: root CA: untrusted root" -- \
  timeout 120 "$T" "$DEPLOY" --compose "$work/app/docker-compose.yml" --name intel-root \
  --collateral <("$T" -e 'io.write(attest.simulator_collateral())')

# ---- inputs and the API failing -------------------------------------------------------------------

checks "a missing .env fails clearly" 1 "" "deploy: read env: cannot read $work/app/nope.env" -- \
  d --env "$work/app/nope.env" --name no-env-file
checks "a bad .env line fails with its line number" 1 "" "deploy: read env: $work/app/bad.env: line 2" -- \
  d --env "$work/app/bad.env" --name bad-env
checks "a missing compose file fails clearly" 1 "" "deploy: read compose: cannot read" -- \
  timeout 120 "$T" "$DEPLOY" --compose "$work/nope.yml" --name x
checks "a wrong API key: 401 with the server's detail" 1 "" "Invalid API key" -- \
  env PHALA_CLOUD_API_KEY=phak_wrong timeout 120 "$T" "$DEPLOY" --compose "$work/app/docker-compose.yml" --name wrong-key
check_in "  named as the provision step" "$work/err" "deploy: provision:"
start_fake down fail500
checks "attestation 500 after retries: fails with the detail" 1 "" "attestation service unavailable" -- \
  env PHALA_CLOUD_API_PREFIX="$url" timeout 120 "$T" "$DEPLOY" --compose "$work/app/docker-compose.yml" \
  --env "$work/app/.env" --name down --root simulator
check_in "  named as the fetch step" "$work/err" "deploy: fetch attestation:"
checks "--name is required (usage, exit 2)" 2 "" "--compose and --name are required" -- \
  "$T" "$DEPLOY" --compose "$work/app/docker-compose.yml"
checks "an unknown option is a usage error" 2 "" "unknown option '--frob'" -- "$T" "$DEPLOY" --frob
checks "--help prints the options" 0 "--collateral FILE" "" -- "$T" "$DEPLOY" --help

# No failure above printed a Lua stack trace.
if grep -q "stack traceback" "$work"/*.err; then
  fail "no stack trace anywhere" "$(grep -B2 -A5 'stack traceback' "$work"/*.err | head -40)"
else
  pass "no stack trace anywhere"
fi
finish
