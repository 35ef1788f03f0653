#!/bin/bash
# tests/e2e/test_agent_start.sh — `teehost start` from the outside: the default agent (Mr. TEE,
# offline model, built-in simulator) on a free port; its REST API answers, an attestation request
# returns a quote that `teehost quote verify --root simulator` accepts with report data equal to
# SHA-512("app-data:" ‖ the returned JSON) (computed here with sha512sum), bad requests get 400/404,
# the starter's /mr-tee-status answers, and Ctrl-C stops it cleanly (exit 130, no sanitizer report).
. "$(dirname "$0")/lib.sh"

home="$work/home"
mkdir -m 0700 "$home"
export TEEHOST_HOME="$home"
unset TEE_MODE WALLET_SECRET_SALT OPENAI_BASE_URL OPENAI_API_KEY TEE_ATTESTATION_UPLOAD_URL \
  DSTACK_SIMULATOR_ENDPOINT TAPPD_SIMULATOR_ENDPOINT

"$TEEHOST" start --port 0 >"$work/start.out" 2>"$work/start.err" </dev/null &
agent=$!
trap 'kill "$agent" 2>/dev/null; [ -n "${sock:-}" ] && tmux -L "$sock" kill-server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q "listening on" "$work/start.out" 2>/dev/null && break; sleep 0.05; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/start.out")
if [ -z "$base" ]; then
  fail "teehost start prints its URL" "stdout: $(cat "$work/start.out")" "stderr: $(cat "$work/start.err")"
  finish
  exit 1
fi
pass "teehost start prints its URL"
grep -qF "agent Mr. TEE listening on $base (tee: built-in simulator (quotes are NOT trusted by Intel's root))" \
  "$work/start.out" && pass "the start line names the agent and the TEE" || fail "start line" "$(cat "$work/start.out")"

# is NAME ACTUAL EXPECTED
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi; }
# js EXPR < JSON: prints a field of JSON read from stdin (python3 is in the CI image).
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

is "GET /health" "$(curl -s "$base/health")" '{"agent":"Mr. TEE","status":"ok","tee":"builtin"}'
id=$(curl -s "$base/api/agents" | js 'd[0]["id"]')
is "GET /api/agents" "$(curl -s "$base/api/agents" | js 'len(d), d[0]["name"]')" "1 Mr. TEE"

curl -s -X POST -H 'content-type: application/json' "$base/api/agents/$id/message" \
  -d '{"text":"please prove you run in a TEE — remote attestation","user":"e2e"}' >"$work/reply.json"
is "the attestation message plans REPLY then REMOTE_ATTESTATION" \
  "$(js 'd["replies"][0]["actions"]' <"$work/reply.json")" "['REPLY', 'REMOTE_ATTESTATION']"
js 'd["replies"][1]["attachments"][0]["quote"]' <"$work/reply.json" >"$work/quote.hex"
js 'd["replies"][1]["attachments"][0]["report_json"]' <"$work/reply.json" | tr -d '\n' >"$work/report.json"
js 'd["replies"][1]["attachments"][0]["report_data"]' <"$work/reply.json" >"$work/report_data"
if "$TEEHOST" quote verify "$work/quote.hex" --root simulator --json >"$work/verify.json" 2>"$work/verify.err"; then
  pass "the quote in the reply verifies under the simulated root"
else
  fail "the quote in the reply verifies under the simulated root" "$(cat "$work/verify.err")"
fi
want=$( (printf 'app-data:'; cat "$work/report.json") | sha512sum | cut -d' ' -f1)
is "report data = sha512(\"app-data:\" ‖ report JSON)" "$(cat "$work/report_data")" "$want"
is "the verified quote carries that report data" "$(js 'd["report"]["reportdata"]' <"$work/verify.json")" "$want"
is "the report JSON names the message" "$(js 'd["message"]["content"]' <"$work/report.json")" \
  "please prove you run in a TEE — remote attestation"
is "the reply names the quote's sha256" \
  "$(js 'd["replies"][1]["attachments"][0]["quote_sha256"]' <"$work/reply.json")" \
  "$(python3 -c 'import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.stdin.read().strip())).hexdigest())' \
     <"$work/quote.hex")"
grep -q "UpToDate under the simulated root" "$work/reply.json" && pass "the reply says it verified" \
  || fail "the reply says it verified" "$(head -c 600 "$work/reply.json")"

nonce=00ff$(printf 'ab%.0s' $(seq 30))
curl -s "$base/api/attestation?nonce=$nonce" >"$work/att.json"
is "GET /api/attestation verifies" "$(js 'd["verified"]["ok"], d["verified"]["status"]' <"$work/att.json")" \
  "True UpToDate"
is "its report data is the nonce, zero-padded" "$(js 'd["report_data"]' <"$work/att.json")" \
  "$nonce$(printf '00%.0s' $(seq 32))"

code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
is "bad JSON is 400" "$(code -X POST "$base/api/agents/$id/message" -d '{oops')" 400
grep -q '"error":"the body is not JSON' "$work/body" && pass "with an error message" || fail "400 body" "$(cat "$work/body")"
is "a missing text is 400" "$(code -X POST "$base/api/agents/$id/message" -d '{"user":"x"}')" 400
is "an unknown agent is 404" "$(code -X POST "$base/api/agents/nobody/message" -d '{"text":"hi"}')" 404
is "a bad nonce is 400" "$(code "$base/api/attestation?nonce=xyz")" 400
is "GET /mr-tee-status" "$(curl -s "$base/mr-tee-status")" \
  '{"message":"Mr. TEE is operational, fool!","tee":"builtin","tee_mode":"NOT SET","tee_vendor":"phala"}'

kill -INT "$agent"
wait "$agent"
rc=$?
is "Ctrl-C stops the agent (exit 130)" "$rc" 130
if grep -q -E "Sanitizer|runtime error:|stack traceback" "$work/start.err"; then
  fail "no sanitizer report or traceback" "$(head -c 3000 "$work/start.err")"
else
  pass "no sanitizer report or traceback"
fi

# TEE_MODE=NONE: the agent starts and answers; attestation says it is unavailable; memory is not sealed.
TEE_MODE=NONE "$TEEHOST" start --port 0 >"$work/none.out" 2>"$work/none.err" </dev/null &
agent=$!
for _ in $(seq 200); do grep -q "listening on" "$work/none.out" 2>/dev/null && break; sleep 0.05; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/none.out")
is "TEE_MODE=NONE: /health says tee none" "$(curl -s "$base/health" | js 'd["tee"]')" none
curl -s -X POST "$base/api/agents/$id/message" -d '{"text":"remote attestation, now"}' >"$work/none.json"
grep -q "Remote attestation is unavailable" "$work/none.json" && pass "TEE_MODE=NONE: the reply says attestation is unavailable" \
  || fail "TEE_MODE=NONE: unavailable reply" "$(head -c 800 "$work/none.json")"
is "TEE_MODE=NONE: the agent still answered first" "$(js 'd["replies"][0]["text"] != ""' <"$work/none.json")" True
is "TEE_MODE=NONE: /api/attestation is 503" "$(code "$base/api/attestation?nonce=00")" 503
grep -q "memory is NOT sealed" "$work/none.err" && pass "TEE_MODE=NONE: says memory is not sealed" \
  || fail "not sealed warning" "$(cat "$work/none.err")"
kill -INT "$agent"
wait "$agent"
is "TEE_MODE=NONE: Ctrl-C exit 130" "$?" 130

# On a terminal (tmux), stdin lines are chat: the reply is printed; Ctrl-C stops agent and chat.
if command -v tmux >/dev/null; then
  sock="th-agent-$$"
  tm() { tmux -L "$sock" "$@"; }
  tm new-session -d -s chat -x 160 -y 50 "TEEHOST_HOME='$home' ASAN_OPTIONS='${ASAN_OPTIONS:-}' '$TEEHOST' start \
    --port 0 2>'$work/chat.err'; echo \$? >'$work/chat.rc'; sleep 30"
  seen() { for _ in $(seq 100); do tm capture-pane -p -t chat | grep -qF -- "$1" && return 0; sleep 0.1; done; return 1; }
  seen "you>" && pass "terminal: a chat prompt" || fail "terminal: a chat prompt" "$(tm capture-pane -p -t chat)"
  tm send-keys -t chat 'remote attestation please' Enter
  seen "Verified here first: status UpToDate" && pass "terminal: a chat line gets the agent's replies" \
    || fail "terminal: chat replies" "$(tm capture-pane -p -t chat)"
  tm send-keys -t chat C-c
  for _ in $(seq 100); do [ -s "$work/chat.rc" ] && break; sleep 0.1; done
  is "terminal: Ctrl-C stops the agent (exit 130)" "$(cat "$work/chat.rc" 2>/dev/null)" 130
  tm kill-server 2>/dev/null
else
  fail "terminal chat" "tmux missing: scripts/install-deps.sh installs it"
fi

# A bad configuration stops the start with every error (exit 1), before anything listens.
check "an invalid TEE_MODE is refused" 2 "" "TEE_MODE" -- env TEE_MODE=bogus "$TEEHOST" start --port 0
check "a short salt is refused by the starter's checks" 1 "" "WALLET_SECRET_SALT is too short" -- \
  env WALLET_SECRET_SALT=short "$TEEHOST" start --port 0
check "a bad port is a usage error" 2 "" "--port needs a number" -- "$TEEHOST" start --port 99999
check_interrupted "--tee: an agent that is not there: the agent starts and says memory is not sealed" 1.5 130 \
  "(tee: dstack at $work/none.sock" "memory is NOT sealed and NOT kept" -- \
  "$TEEHOST" start --port 0 --tee "$work/none.sock"
check "a missing character file is named" 1 "" "nope.lua" -- "$TEEHOST" start --port 0 --character "$work/nope.lua"
# --character characters/mr_tee.lua works from any directory (the copy compiled into the binary),
# as the Dockerfile's command uses it; SIGINT after it listens.
(cd "$work" && exec "$TEEHOST" start --port 0 --character characters/mr_tee.lua >"$work/c.out" 2>"$work/c.err") &
cpid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/c.out" 2>/dev/null && break; sleep 0.05; done
grep -q "agent Mr. TEE listening on" "$work/c.out" && pass "--character characters/mr_tee.lua from another directory" \
  || fail "--character characters/mr_tee.lua from another directory" "$(cat "$work/c.out" "$work/c.err")"
kill -INT "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null

# teehost test: a project's tests, counted; failures and no tests fail the run.
mkdir -p "$work/proj/tests" "$work/empty/tests"
cat >"$work/proj/tests/agent.lua" <<'LUA'
return {
  ["attests on request"] = function(ctx)
    local out = ctx.agent():handle { text = "remote attestation please" }
    local att = out.replies[2].attachments[1]
    assert(attest.verify(att.quote, { root = "simulator" }).report.reportdata == att.report_data)
  end,
  ["answers without a TEE question"] = function(ctx)
    assert(#ctx.agent():handle({ text = "what is a TEE?" }).replies == 1)
  end,
  ["needs TDX hardware"] = "no TDX in CI",
}
LUA
check "teehost test counts passed and skipped" 0 "2 passed, 0 failed, 1 skipped" "" -- "$TEEHOST" test "$work/proj"
check "teehost test marks each test" 0 "[✓] attests on request" "" -- "$TEEHOST" test "$work/proj"
check "--name filters (the others are skipped)" 0 "1 passed, 0 failed, 2 skipped" "" -- \
  "$TEEHOST" test "$work/proj" --name attests
cat >"$work/proj/tests/broken.lua" <<'LUA'
return { ["fails"] = function() error("expected failure here") end }
LUA
check "a failing test fails the run" 1 "2 passed, 1 failed, 1 skipped" "" -- "$TEEHOST" test "$work/proj"
check "the failure is shown" 1 "expected failure here" "" -- "$TEEHOST" test "$work/proj"
check "no tests is a failure" 1 "" "no tests found" -- "$TEEHOST" test "$work/empty"
finish
