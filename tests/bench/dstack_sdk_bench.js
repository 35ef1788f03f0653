// tests/bench/dstack_sdk_bench.js — the reference client under load: npm @phala/dstack-sdk 0.5.8's
// DstackClient making GetKey or GetQuote calls against one agent, N calls in flight, the same
// loop as tests/bench/dstack_client.lua does with teehost's client.
//   node tests/bench/dstack_sdk_bench.js SOCKET_OR_URL getkey|getquote INFLIGHT SECONDS
//   node tests/bench/dstack_sdk_bench.js SOCKET_OR_URL cold
// INFLIGHT async loops each call getKey("bench/"+i, "p") or getQuote("x") until SECONDS have
// passed (after one warm-up call), counting completions and failures; prints one JSON line:
//   {"client":"dstack-sdk","op":…,"inflight":…,"calls":…,"errors":…,"seconds":…,"calls_per_s":…,
//    "first_error":…}
// `cold` makes one getKey call and exits (dstack.py times the whole process).
'use strict';
const { DstackClient } = require('@phala/dstack-sdk');

async function main() {
  const [endpoint, op, inflightArg = '1', secondsArg = '2'] = process.argv.slice(2);
  const inflight = Number(inflightArg);
  const seconds = Number(secondsArg);
  if (!endpoint || !['getkey', 'getquote', 'cold'].includes(op) || !(inflight >= 1) || !(seconds > 0)) {
    console.error('usage: node dstack_sdk_bench.js SOCKET_OR_URL getkey|getquote|cold [INFLIGHT SECONDS]');
    process.exit(2);
  }
  const client = new DstackClient(endpoint);
  if (op === 'cold') {
    const k = await client.getKey('cold', 'p');
    process.exit(k.key.length === 32 ? 0 : 1);
  }
  const call = op === 'getkey' ? (i) => client.getKey(`bench/${i}`, 'p') : () => client.getQuote('x');
  await call(0); // warm-up, and a clear failure when the agent does not answer at all

  let done = 0;
  let errors = 0;
  let firstError = null;
  let stopped = false;
  const t0 = process.hrtime.bigint();
  const timer = setTimeout(() => (stopped = true), seconds * 1000);
  const worker = async (i) => {
    while (!stopped) {
      try {
        await call(i);
        done++;
      } catch (e) {
        errors++;
        firstError = firstError || String(e && e.message ? e.message : e);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, (_, i) => worker(i + 1)));
  clearTimeout(timer);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({
    client: 'dstack-sdk', op, inflight, calls: done, errors, seconds: elapsed, calls_per_s: done / elapsed,
    first_error: firstError,
  }));
  process.exit(0);
}

main().catch((e) => {
  console.error(`dstack_sdk_bench: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
