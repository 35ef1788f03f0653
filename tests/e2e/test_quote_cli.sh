#!/bin/bash
# tests/e2e/test_quote_cli.sh — `teehost quote verify|show|collateral` from the outside: exit
# status policy (0 only for an accepted status), JSON output, hex/stdin input, usage errors, and
# the simulator's exported collateral and root accepted by the npm reference verifier
# @phala/dcap-qvl (installed by scripts/install-deps.sh into tests/bench/node_modules).
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
V=$TEEHOST_SOURCE/tests/vectors/dcap
NOW=1752000000
export TEEHOST_HOME="$work/home"

check "verify: the TDX vector is UpToDate (exit 0)" 0 "status:   UpToDate" "" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now $NOW
check "verify prints the measurements" 0 "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407" "" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now $NOW
check "verify: an SGX status other than UpToDate exits 1 and says how to accept it" 1 \
  "ConfigurationAndSWHardeningNeeded" "add --accept ConfigurationAndSWHardeningNeeded" -- \
  "$T" quote verify "$V/sgx_quote" --collateral "$V/sgx_quote_collateral.json" --now $NOW
check "verify --accept takes the status" 0 "INTEL-SA-00289, INTEL-SA-00615" "" -- \
  "$T" quote verify "$V/sgx_quote" --collateral "$V/sgx_quote_collateral.json" --now $NOW \
  --accept SWHardeningNeeded,ConfigurationAndSWHardeningNeeded
check "verify: expired collateral fails with the reason" 1 "" "FAILED: TCB info: expired" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now 1752920164
check "verify: no matching TCB level fails" 1 "" "TCB level: no matching TCB level found" -- \
  "$T" quote verify "$V/tdx_quote_outdated" --collateral "$V/tdx_quote_outdated_collateral.json" --now 1773000000
check "verify reads hex from stdin" 0 "UpToDate" "" -- bash -c \
  "'$T' quote verify - --collateral '$V/tdx_quote_collateral.json' --now $NOW < <(od -An -v -tx1 '$V/tdx_quote' | tr -d ' \\n')"
check "verify --json prints the result" 0 '"status": "UpToDate"' "" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now $NOW --json
check "verify --json on failure" 1 '"verified": false' "" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/sgx_quote_collateral.json" --now $NOW --json
check "verify: a root file that is not a certificate is named" 1 "" "root: not a DER certificate" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now $NOW --root "$V/tdx_quote"
check "verify: a missing file is named" 1 "" "nope.bin" -- "$T" quote verify "$work/nope.bin" --now $NOW
check "verify: --now must be a number" 2 "" "--now needs a unix time" -- "$T" quote verify "$V/tdx_quote" --now soon
check "verify: unknown option is a usage error" 2 "" "unknown option '--frob'" -- "$T" quote verify "$V/tdx_quote" --frob
check "quote without a command is a usage error" 2 "" "quote needs a command" -- "$T" quote
check "help lists quote" 0 "quote" "" -- "$T" help
check "show prints the fields" 0 "TDX quote v5 (TD report 1.5)" "" -- "$T" quote show "$V/tdx_quote_outdated"
check "show --json" 0 '"fmspc": "90c06f000000"' "" -- "$T" quote show "$V/tdx_quote_outdated" --json
check "show of a truncated quote names the problem" 1 "" "quote: truncated" -- bash -c "head -c 700 '$V/tdx_quote' | '$T' quote show -"

# The simulator: a quote, its collateral and root exported, verified by teehost and by dcap-qvl.
"$T" -e 'io.write(attest.simulator_quote{mrtd=("11"):rep(48), reportdata="cafe"})' >"$work/sim.quote"
check "collateral --simulator exports collateral and root" 0 "" "" -- \
  "$T" quote collateral --simulator -o "$work/sim.json" --root-out "$work/sim_root.der"
check "a simulated quote verifies with --root simulator" 0 "UpToDate" "" -- "$T" quote verify "$work/sim.quote" --root simulator
check "and with the exported files" 0 "UpToDate" "" -- \
  "$T" quote verify "$work/sim.quote" --collateral "$work/sim.json" --root "$work/sim_root.der"
check "and fails under Intel's root" 1 "" "untrusted root" -- \
  "$T" quote verify "$work/sim.quote" --collateral "$work/sim.json"
check "Intel's quote fails under the simulated root" 1 "" "untrusted root" -- \
  "$T" quote verify "$V/tdx_quote" --collateral "$V/tdx_quote_collateral.json" --now $NOW --root "$work/sim_root.der"
check "exported files are private" 0 "600" "" -- stat -c %a "$TEEHOST_HOME/simulator/dcap/seed"

QVL=$TEEHOST_SOURCE/tests/bench/node_modules/@phala/dcap-qvl
cat >"$work/qvl.js" <<'JS'
const fs = require("fs");
const { QuoteVerifier } = require(process.argv[2]);
const [quote, col, root] = process.argv.slice(3).map((f) => fs.readFileSync(f));
const now = Math.floor(Date.now() / 1000);
const v = root ? QuoteVerifier.newWithRootCa(root) : QuoteVerifier.newProd();
try {
  const r = v.verify(new Uint8Array(quote), JSON.parse(col), now);
  console.log("status", r.status);
} catch (e) {
  console.log("rejected:", e.message);
  process.exit(1);
}
JS
check "dcap-qvl accepts the simulated quote with the simulated root" 0 "status UpToDate" "" -- \
  node "$work/qvl.js" "$QVL" "$work/sim.quote" "$work/sim.json" "$work/sim_root.der"
check "dcap-qvl rejects it under Intel's root" 1 "rejected: Failed to verify certificate chain" "" -- \
  node "$work/qvl.js" "$QVL" "$work/sim.quote" "$work/sim.json"

finish
