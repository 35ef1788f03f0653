#!/bin/bash
# tests/e2e/test_tee_cli.sh — the TEE from the outside: the endpoint chosen at start-up and
# reported once (TEE_MODE, DSTACK_SIMULATOR_ENDPOINT, --tee; an invalid TEE_MODE is a start-up
# error), `teehost simulator start|status|env|stop` as a daemon (a second start reports the
# running one, stop removes socket and pid file), the elizaOS-style alias, and the simulator's
# secret files (0600 in 0700; a group-readable one refused with a fix-it message).
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
export TEEHOST_HOME="$work/home"
unset TEE_MODE DSTACK_SIMULATOR_ENDPOINT TAPPD_SIMULATOR_ENDPOINT
trap '"$T" simulator stop >/dev/null 2>&1; rm -rf "$work"' EXIT

# --- the endpoint at start-up ---
check "no TEE here: the built-in simulator, reported once on stderr at first use" 0 "builtin" \
  "tee: built-in simulator (quotes are NOT trusted by Intel's root)" -- \
  "$T" -e 'print(tee.endpoint().kind); tee.get_key("a"); tee.get_key("b")'
[ "$(grep -c '^tee:' "$work/err")" = 1 ] && pass "… exactly once" || fail "… exactly once" "$(cat "$work/err")"
check "a script that never calls the TEE prints nothing extra" 0 "1" "" -- "$T" -e 'print(1)'
[ -s "$work/err" ] && fail "… stderr is empty" "$(cat "$work/err")" || pass "… stderr is empty"
check "an invalid TEE_MODE is a start-up error listing the valid values" 2 "" \
  "TEE_MODE: invalid value 'local' (valid: PHALA_DSTACK, TDX_DSTACK, PRODUCTION, LOCAL, DOCKER, SIMULATOR, NONE, OFF)" -- \
  env TEE_MODE=local "$T" -e 'print(1)'
check "TEE_MODE=NONE: key and quote calls return nil and a message" 0 "nil	no TEE: TEE_MODE is NONE" \
  "tee: none" -- env TEE_MODE=NONE "$T" -e 'print(tee.get_key("x"))'
check "TEE_MODE=LOCAL points at localhost:8090" 0 "http://localhost:8090" "" -- \
  env TEE_MODE=LOCAL "$T" -e 'print(tee.endpoint().target)'
check "DSTACK_SIMULATOR_ENDPOINT wins over TEE_MODE" 0 "$work/x.sock" "" -- \
  env TEE_MODE=LOCAL DSTACK_SIMULATOR_ENDPOINT="$work/x.sock" "$T" -e 'print(tee.endpoint().target)'
check "--tee wins over the environment" 0 "http://127.0.0.1:1" "" -- \
  env DSTACK_SIMULATOR_ENDPOINT="$work/x.sock" "$T" --tee http://127.0.0.1:1 -e 'print(tee.endpoint().target)'
check "a missing agent socket: the call fails naming it" 0 "nil" "No such file or directory" -- \
  "$T" --tee "$work/missing.sock" -e 'local k, why = tee.get_key("x"); print(k); io.stderr:write(why, "\n")'
check "commands do not report the endpoint" 0 "" "" -- "$T" simulator env
if grep -q "tee:" "$work/err"; then fail "commands stay quiet" "$(cat "$work/err")"; else pass "commands stay quiet"; fi

# --- the daemon ---
check "start in the background" 0 "export DSTACK_SIMULATOR_ENDPOINT=$TEEHOST_HOME/simulator/dstack.sock" "" -- \
  "$T" simulator start --port 0
[ -S "$TEEHOST_HOME/simulator/dstack.sock" ] && pass "the socket exists" || fail "the socket exists"
check "status: running, where, the KMS root" 0 "kms root: 0" "" -- "$T" simulator status
check "a second start reports the running one" 0 "already running" "" -- "$T" simulator start
check "env prints both export lines" 0 "export TAPPD_SIMULATOR_ENDPOINT=$TEEHOST_HOME/simulator/dstack.sock" "" -- \
  "$T" simulator env
check "a script talks to it over the socket and verifies its quote" 0 "UpToDate" "dstack at" -- \
  env DSTACK_SIMULATOR_ENDPOINT="$TEEHOST_HOME/simulator/dstack.sock" "$T" -e '
    local q = assert(tee.get_quote("x"))
    print(assert(attest.verify(q.quote, { root = "simulator" })).status)'
check "the same key over the socket as in-process (stable state)" 0 "same" "" -- bash -c "
  a=\$(DSTACK_SIMULATOR_ENDPOINT='$TEEHOST_HOME/simulator/dstack.sock' '$T' -e 'print(tee.get_key(\"k\"):public_key())' 2>/dev/null)
  b=\$('$T' -e 'print(tee.get_key(\"k\"):public_key())' 2>/dev/null)
  [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && echo same"
check "curl speaks to it (GET /Info, 400 on bad input)" 0 '"error": "Report data is too long"' "" -- bash -c "
  curl -s --unix-socket '$TEEHOST_HOME/simulator/dstack.sock' http://localhost/Info >/dev/null &&
  curl -s --unix-socket '$TEEHOST_HOME/simulator/dstack.sock' -H 'Content-Type: application/json' \
    -d '{\"report_data\":\"$(printf '%0130d' 0)\"}' http://localhost/GetQuote"
check "stop" 0 "simulator: stopped" "" -- "$T" simulator stop
[ ! -e "$TEEHOST_HOME/simulator/dstack.sock" ] && pass "stop removed the socket" || fail "stop removed the socket"
[ ! -e "$TEEHOST_HOME/simulator/simulator.pid" ] && pass "stop removed the pid file" || fail "stop removed the pid file"
check "status when stopped exits 3" 3 "not running" "" -- "$T" simulator status

# --- the elizaOS spelling ---
check "teehost tee phala simulator start" 0 "simulator: started" "" -- "$T" tee phala simulator start
check "teehost tee phala simulator stop" 0 "simulator: stopped" "" -- "$T" tee phala simulator stop

# --- secrets on disk ---
mode() { stat -c %a "$1"; }
[ "$(mode "$TEEHOST_HOME/simulator")" = 700 ] && pass "simulator dir is 0700" || fail "simulator dir is 0700" "$(mode "$TEEHOST_HOME/simulator")"
[ "$(mode "$TEEHOST_HOME/simulator/identity.json")" = 600 ] && pass "identity.json is 0600" || \
  fail "identity.json is 0600" "$(ls -l "$TEEHOST_HOME/simulator")"
chmod 640 "$TEEHOST_HOME/simulator/identity.json"
check "a group-readable identity is refused with the fix" 0 "nil" "chmod 600" -- \
  "$T" -e 'local k, why = tee.get_key("x"); print(k); io.stderr:write(tostring(why), "\n")'
chmod 600 "$TEEHOST_HOME/simulator/identity.json"
check "--reset makes new keys" 0 "changed" "" -- bash -c "
  a=\$('$T' -e 'print(tee.get_key(\"k\"):public_key())' 2>/dev/null)
  '$T' simulator start --reset >/dev/null && '$T' simulator stop >/dev/null
  b=\$('$T' -e 'print(tee.get_key(\"k\"):public_key())' 2>/dev/null)
  [ -n \"\$a\" ] && [ -n \"\$b\" ] && [ \"\$a\" != \"\$b\" ] && echo changed"
finish
