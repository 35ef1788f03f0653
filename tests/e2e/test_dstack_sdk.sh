#!/bin/bash
# tests/e2e/test_dstack_sdk.sh — the simulator used unchanged by the real npm @phala/dstack-sdk
# 0.5.8 (and its viem/solana helpers): `teehost simulator start` in the background on a Unix
# socket and a loopback port, tests/bench/dstack_sdk_check.js run over each (every line it prints
# is one check here), its quotes verified by `teehost quote verify --root simulator` and by
# @phala/dcap-qvl under the exported simulator root, teehost's own client (tee.get_key) and the
# SDK's viem/solana helpers agreeing on one path's addresses, then `teehost simulator stop`, which
# must remove the socket and the pid file. The npm references live in tests/bench/node_modules
# (scripts/install-deps.sh); when they are missing this test installs them, and skips (saying
# why) only when that fails. No simulator outlives the test, whatever fails (EXIT trap).
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
BENCH=$TEEHOST_SOURCE/tests/bench
export TEEHOST_HOME="$work/home"
mkdir -p "$TEEHOST_HOME" && chmod 700 "$TEEHOST_HOME"
unset TEE_MODE DSTACK_SIMULATOR_ENDPOINT TAPPD_SIMULATOR_ENDPOINT
PID_FILE=$TEEHOST_HOME/simulator/simulator.pid
sock=$work/run/dstack.sock
mkdir -p "$work/run"
simpid=""

# A process that runs (a zombie waiting for its reaper has stopped running).
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Whatever happened: stop the simulator (politely, then by its pid), then remove the temp dir.
cleanup() {
  if [ -f "$PID_FILE" ] || [ -n "$simpid" ]; then
    "$T" simulator stop >/dev/null 2>&1
    for p in $simpid $(head -n1 "$PID_FILE" 2>/dev/null); do
      if alive "$p"; then
        kill -TERM "$p" 2>/dev/null
        sleep 1
        kill -KILL "$p" 2>/dev/null
      fi
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the npm references ---
refs_present() {
  for m in @phala/dstack-sdk @phala/dcap-qvl viem @solana/web3.js @noble/curves @noble/hashes; do
    [ -d "$BENCH/node_modules/$m" ] || return 1
  done
}
if ! command -v node >/dev/null 2>&1; then
  echo "skip: node is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
if ! refs_present; then
  if ! (cd "$BENCH" && npm install --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1 || ! refs_present; then
    echo "skip: tests/bench/node_modules lacks the npm references and npm could not install them:"
    { grep -m 4 -E 'code|Error|ERR' "$work/npm.log" || tail -n 4 "$work/npm.log"; } | sed 's/^/  /'
    exit 0
  fi
fi

# --- start ---
check "start in the background on a socket and a port" 0 "export DSTACK_SIMULATOR_ENDPOINT=$sock" "" -- \
  "$T" simulator start --socket "$sock" --port 0
simpid=$(grep -o 'started (pid [0-9]*' "$work/out" | grep -o '[0-9]*$')
port=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" | head -n1 | grep -o '[0-9]*$')
if [ -n "$simpid" ] && [ -n "$port" ]; then
  pass "start names its pid and port"
else
  fail "start names its pid and port" "stdout: $(cat "$work/out")"
fi
[ -S "$sock" ] && pass "the socket exists" || fail "the socket exists" "$(ls -la "$work/run")"
[ "$(head -n1 "$PID_FILE" 2>/dev/null)" = "$simpid" ] && pass "the pid file names it" || \
  fail "the pid file names it" "$(cat "$PID_FILE" 2>&1)"
check "status: running, with its KMS root" 0 "kms root: " "" -- "$T" simulator status
kms_root=$(sed -n 's/^kms root: *//p' "$work/out" | head -n1)
check "collateral --simulator exports collateral and root" 0 "" "" -- \
  "$T" quote collateral --simulator -o "$work/sim.json" --root-out "$work/sim_root.der"

# Runs the SDK check over one endpoint; each of its lines becomes a check named "LABEL: …".
sdk_checks() {
  label=$1 endpoint=$2
  kms_arg=()
  [ -n "$kms_root" ] && kms_arg=(--kms-root "$kms_root")
  node "$BENCH/dstack_sdk_check.js" "$endpoint" "$work/sim.json" "$work/sim_root.der" \
    --quote-out "$work/$label.quote" "${kms_arg[@]}" >"$work/sdk.out" 2>"$work/sdk.err" </dev/null
  rc=$?
  n=0
  while IFS= read -r line; do
    case $line in
      "ok - "*) pass "$label: ${line#ok - }"; n=$((n + 1)) ;;
      "not ok - "*) fail "$label: ${line#not ok - }"; n=$((n + 1)) ;;
    esac
  done <"$work/sdk.out"
  # A crash part-way must not pass for a short run: the script prints 56 checks.
  if [ "$rc" -eq 0 ] && [ "$n" -ge 50 ] && grep -q '^[0-9]* passed, 0 failed$' "$work/sdk.out"; then
    pass "$label: the SDK check ran to the end ($n checks)"
  else
    fail "$label: the SDK check ran to the end" "exit status $rc after $n checks" \
      "stdout tail: $(tail -n 3 "$work/sdk.out")" "stderr: $(head -c 1500 "$work/sdk.err")"
  fi
  check "$label: getQuote's quote verifies with teehost --root simulator" 0 "UpToDate" "" -- \
    "$T" quote verify "$work/$label.quote" --root simulator
}

sdk_checks socket "$sock"
sdk_checks http "http://127.0.0.1:$port"

# teehost's own client and the SDK see the same key through the same socket.
check "teehost's client: EVM and Solana addresses of one path, its chain verifies to the KMS root" 0 "0x" "" -- \
  env DSTACK_SIMULATOR_ENDPOINT="$sock" "$T" -e '
    local k = assert(tee.get_key("wallet/ethereum", "mainnet"))
    print(k:evm_address())
    print(k:solana_address())
    assert(k:verify_chain(arg[1] ~= "" and arg[1] or nil))' "$kms_root"
ours=$(tr '\n' ' ' <"$work/out")
[ -n "${ours// /}" ] || ours="(teehost printed no addresses)"
check "the SDK's viem and solana helpers: the same addresses" 0 "$ours" "" -- \
  env NODE_PATH="$BENCH/node_modules" node -e '
    const { DstackClient } = require("@phala/dstack-sdk");
    const { toViemAccount } = require("@phala/dstack-sdk/viem");
    const { toKeypair } = require("@phala/dstack-sdk/solana");
    (async () => {
      const c = new DstackClient(process.argv[1]);
      const evm = toViemAccount(await c.getKey("wallet/ethereum", "mainnet")).address;
      const sol = toKeypair(await c.getKey("wallet/ethereum", "mainnet", "ed25519")).publicKey.toBase58();
      console.log(`${evm} ${sol} `);
    })();' "$sock"

# --- after the load: still alive, then stop cleanly ---
alive "$simpid" && pass "the simulator survived every request" || \
  fail "the simulator survived every request" "log: $(tail -n 20 "$TEEHOST_HOME/simulator/simulator.log" 2>&1)"
check "stop" 0 "simulator: stopped" "" -- "$T" simulator stop
[ ! -e "$sock" ] && pass "stop removed the socket" || fail "stop removed the socket"
[ ! -e "$PID_FILE" ] && pass "stop removed the pid file" || fail "stop removed the pid file"
alive "$simpid" && fail "the process is gone" "pid $simpid still runs" || pass "the process is gone"
if grep -q -E "Sanitizer|runtime error:" "$TEEHOST_HOME/simulator/simulator.log" 2>/dev/null; then
  fail "no sanitizer report in the simulator's log" "$(grep -E -A 20 "Sanitizer|runtime error:" "$TEEHOST_HOME/simulator/simulator.log" | head -c 3000)"
else
  pass "no sanitizer report in the simulator's log"
fi
simpid=""
finish
