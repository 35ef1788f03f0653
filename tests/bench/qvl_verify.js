// tests/bench/qvl_verify.js — the reference verifier's rate: @phala/dcap-qvl (npm) on one quote.
//   node tests/bench/qvl_verify.js QUOTE COLLATERAL_JSON NOW SECONDS [EXPECTED_STATUS]
// verify(quote: Uint8Array, collateral: object with the snake_case keys of our JSON vectors,
// nowSecs: number) -> { status, advisory_ids, report, ppid }; it throws on failure.
// Warms up with 20 calls, then verifies in a loop for SECONDS and prints one JSON line:
// {"verifies_per_s":…, "status":…, "mean_ms":…}. Exits 1 on an error or an unexpected status.
'use strict';
const fs = require('fs');
const { verify } = require('@phala/dcap-qvl');

const [quotePath, collateralPath, nowArg, secondsArg, expected] = process.argv.slice(2);
const quote = new Uint8Array(fs.readFileSync(quotePath));
const collateral = JSON.parse(fs.readFileSync(collateralPath, 'utf8'));
const now = Number(nowArg);
const seconds = Number(secondsArg || 2);

let status;
try {
  for (let i = 0; i < 20; i++) status = verify(quote, collateral, now).status;
} catch (e) {
  console.error(`dcap-qvl: verification failed: ${e.message}${e.cause ? ` (${e.cause.message || e.cause})` : ''}`);
  process.exit(1);
}
if (expected && status !== expected) {
  console.error(`dcap-qvl: status ${status}, expected ${expected}`);
  process.exit(1);
}

let n = 0;
const t0 = process.hrtime.bigint();
const deadline = t0 + BigInt(Math.round(seconds * 1e9));
let t = t0;
while (t < deadline) {
  verify(quote, collateral, now);
  n++;
  t = process.hrtime.bigint();
}
const elapsed = Number(t - t0) / 1e9;
console.log(JSON.stringify({ verifies_per_s: n / elapsed, status, mean_ms: (elapsed * 1000) / n }));
