// tests/bench/dstack_sdk_check.js — the real npm @phala/dstack-sdk 0.5.8 (with its viem and solana
// helpers) run unchanged against a dstack guest agent, checking every answer the way a careful
// application would (shared/specs/dstack.md sections 1-3, 7.5, 9, 11). It proves that teehost's
// simulator is usable by the SDK; it knows nothing about teehost and works on any agent that
// follows section 11.
//
//   node tests/bench/dstack_sdk_check.js ENDPOINT [COLLATERAL_JSON ROOT_DER] [--quote-out FILE]
//                                        [--kms-root HEX]
//
// ENDPOINT is a Unix socket path or http://127.0.0.1:PORT. With COLLATERAL_JSON and ROOT_DER
// (from `teehost quote collateral --simulator -o … --root-out …`) a quote from getQuote is also
// verified by the reference verifier @phala/dcap-qvl and must be UpToDate. --quote-out writes the
// binary quote of one getQuote call, so the caller can verify it with `teehost quote verify`.
// --kms-root pins the KMS root public key (33 bytes compressed, hex) that every signature chain
// must recover to; without it the chains must agree on one root.
// Prints one line per check, `ok - NAME` or `not ok - NAME: REASON`, then a summary; exits 1 when
// any check failed. State accumulates on the agent (emitEvent extends RTMR3), so every check is
// relative to what the agent reports at the time: the script can run many times on one agent.
// The SDK's own console.warn notices are silenced unless DSTACK_CHECK_VERBOSE is set.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const { DstackClient, TappdClient } = require('@phala/dstack-sdk');
const { toViemAccount, toViemAccountSecure } = require('@phala/dstack-sdk/viem');
const { toKeypair, toKeypairSecure } = require('@phala/dstack-sdk/solana');
const { secp256k1 } = require('@noble/curves/secp256k1');
const { ed25519 } = require('@noble/curves/ed25519');
const { keccak_256 } = require('@noble/hashes/sha3');
const { getAddress } = require('viem');
const { privateKeyToAccount } = require('viem/accounts');
const { PublicKey } = require('@solana/web3.js');

const CHECK_TIMEOUT_MS = 20000;
const RUNTIME_EVENT = 0x08000001;
const OID_DSTACK = '2b0601040183e73d01'; // 1.3.6.1.4.1.62397.1
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

// ---- assertions and the check runner ----------------------------------------------------------

let passed = 0;
let failed = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${short(got)}, want ${short(want)}`);
}
function short(v) {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 140 ? `${s.slice(0, 137)}...` : s;
}
async function rejects(promise, pattern, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert(err, `${what}: resolved, want a rejection`);
  if (pattern) assert(pattern.test(err.message), `${what}: rejected with ${short(err.message)}, want ${pattern}`);
  return err;
}

async function check(name, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e && e.message ? e.message : e}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---- bytes, hashes, quotes, event logs --------------------------------------------------------

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Buffer.from(h, 'hex');
const hash = (alg, ...parts) => crypto.createHash(alg).update(Buffer.concat(parts.map((p) => Buffer.from(p)))).digest();
const ZERO48 = '00'.repeat(48);

function isHex(s, bytes) {
  if (typeof s !== 'string' || !/^[0-9a-f]*$/.test(s) || s.length % 2 !== 0) return false;
  return bytes === undefined || s.length === 2 * bytes;
}

// TDX v4 quote: header 48, TD report at 48 (offsets of spec section 6).
function parseQuote(quoteHex) {
  assert(isHex(quoteHex), `quote is not lowercase hex: ${short(quoteHex)}`);
  const q = unhex(quoteHex);
  assert(q.length >= 632 + 4, `quote is ${q.length} bytes, too short for a TDX v4 quote`);
  const f = (a, b) => q.subarray(a, b).toString('hex');
  return {
    bytes: q,
    version: q.readUInt16LE(0),
    teeType: q.readUInt32LE(4),
    mrtd: f(184, 232),
    mrconfigid: f(232, 280),
    mrowner: f(280, 328),
    mrownerconfig: f(328, 376),
    rtmr: [0, 1, 2, 3].map((i) => f(376 + 48 * i, 424 + 48 * i)),
    reportdata: f(568, 632),
  };
}

function checkQuoteShape(p) {
  eq(p.version, 4, 'quote version');
  eq(p.teeType, 0x81, 'quote TEE type');
}

// Runtime event digest, V1 (spec 7.2): SHA-384(le32(0x08000001) ‖ ":" ‖ event ‖ ":" ‖ payload).
function runtimeDigest(event, payloadHex) {
  const type = Buffer.from([1, 0, 0, 8]);
  return hash('sha384', type, ':', Buffer.from(event, 'utf8'), ':', unhex(payloadHex)).toString('hex');
}

// Replay per spec 7.3, recomputing runtime digests (and checking the given ones when present).
function replay(log) {
  const r = [ZERO48, ZERO48, ZERO48, ZERO48];
  for (const [i, e] of log.entries()) {
    let d = e.digest;
    if (e.imr === 3 && e.event_type === RUNTIME_EVENT) {
      const want = runtimeDigest(e.event, e.event_payload);
      if (d !== '') eq(d, want, `event_log[${i}] (${e.event}) digest`);
      d = want;
    }
    assert(e.imr >= 0 && e.imr <= 3, `event_log[${i}]: imr ${e.imr} out of range`);
    r[e.imr] = hash('sha384', unhex(r[e.imr]), unhex(d.padEnd(96, '0'))).toString('hex');
  }
  return r;
}

function checkEventLog(log, where) {
  assert(Array.isArray(log), `${where} is not an array`);
  assert(log.length > 0, `${where} is empty`);
  for (const [i, e] of log.entries()) {
    const types = { imr: 'number', event_type: 'number', digest: 'string', event: 'string', event_payload: 'string' };
    for (const [k, t] of Object.entries(types)) eq(typeof e[k], t, `${where}[${i}].${k} type`);
    assert(Number.isInteger(e.imr) && Number.isInteger(e.event_type), `${where}[${i}]: imr/event_type not integers`);
    assert(isHex(e.digest) && isHex(e.event_payload), `${where}[${i}]: digest/event_payload not lowercase hex`);
  }
}

function runtimePayload(log, name) {
  const e = log.find((x) => x.imr === 3 && x.event === name);
  return e ? e.event_payload : '';
}

// mr_aggregated (spec 7.5): SHA-256(MRTD ‖ RTMR0..2 ‖ RTMR3' [‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG]).
function mrAggregated(p, rtmr3) {
  const parts = [p.mrtd, p.rtmr[0], p.rtmr[1], p.rtmr[2], rtmr3];
  const cfg = [p.mrconfigid, p.mrowner, p.mrownerconfig];
  if (cfg.some((x) => /[^0]/.test(x))) parts.push(...cfg);
  return hash('sha256', unhex(parts.join(''))).toString('hex');
}

// ---- DER (certificate extensions) and the SCALE V0 attestation container -----------------------

function tlv(buf, off) {
  const tag = buf[off];
  let len = buf[off + 1];
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    assert(n >= 1 && n <= 4, `DER: length of ${n} bytes at ${off}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i];
    hdr += n;
  }
  const start = off + hdr;
  assert(start + len <= buf.length, `DER: element at ${off} overruns`);
  return { tag, start, end: start + len };
}

function children(buf, el) {
  const out = [];
  for (let off = el.start; off < el.end;) {
    const c = tlv(buf, off);
    out.push(c);
    off = c.end;
  }
  return out;
}

// Map from dotted-tail ("1.8") to extnValue content for the dstack arc, plus every OID's hex.
function certExtensions(raw) {
  const cert = tlv(raw, 0);
  const tbs = children(raw, cert)[0];
  const exts = {};
  const box = children(raw, tbs).find((c) => c.tag === 0xa3);
  if (!box) return exts;
  for (const ext of children(raw, children(raw, box)[0])) {
    const parts = children(raw, ext);
    const oid = raw.subarray(parts[0].start, parts[0].end).toString('hex');
    const value = parts[parts.length - 1];
    exts[oid] = raw.subarray(value.start, value.end);
  }
  return exts;
}

// A dstack extension's bytes: extnValue = OCTET STRING { OCTET STRING { bytes } } (spec 10.3).
function dstackExt(exts, n) {
  const v = exts[`${OID_DSTACK}${n.toString(16).padStart(2, '0')}`];
  if (!v) return null;
  const inner = tlv(v, 0);
  eq(inner.tag, 0x04, `extension .1.${n} inner tag`);
  eq(inner.end, v.length, `extension .1.${n} inner length`);
  return v.subarray(inner.start, inner.end);
}

class Scale {
  constructor(b) {
    this.b = b;
    this.o = 0;
  }
  need(n) {
    assert(this.o + n <= this.b.length, `container truncated at ${this.o} (need ${n} more)`);
  }
  u8() {
    this.need(1);
    return this.b[this.o++];
  }
  u32() {
    this.need(4);
    const v = this.b.readUInt32LE(this.o);
    this.o += 4;
    return v;
  }
  compact() {
    this.need(1);
    const m = this.b[this.o] & 3;
    if (m === 0) return this.u8() >> 2;
    if (m === 1) {
      this.need(2);
      const v = this.b.readUInt16LE(this.o) >> 2;
      this.o += 2;
      return v;
    }
    if (m === 2) return this.u32() >>> 2;
    throw new Error('container: big-integer compact length');
  }
  bytes(n = this.compact()) {
    this.need(n);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

function parseContainer(buf) {
  const s = new Scale(buf);
  eq(s.u8(), 0, 'container version byte (V0)');
  eq(s.u8(), 0, 'container quote kind (DstackTdx)');
  const quote = s.bytes();
  const events = [];
  for (let n = s.compact(); n > 0; n--) {
    const imr = s.u32();
    const eventType = s.u32();
    const digest = hex(s.bytes());
    const event = s.bytes().toString('utf8');
    events.push({ imr, event_type: eventType, digest, event, event_payload: hex(s.bytes()) });
  }
  const runtime = [];
  for (let n = s.compact(); n > 0; n--) runtime.push({ event: s.bytes().toString('utf8'), payload: hex(s.bytes()) });
  const reportData = hex(s.bytes(64));
  const config = s.bytes().toString('utf8');
  eq(s.o, buf.length, 'container length (bytes left over)');
  return { quote: hex(quote), events, runtime, reportData, config };
}

function replayRuntime(runtime) {
  let r = ZERO48;
  for (const e of runtime) r = hash('sha384', unhex(r), unhex(runtimeDigest(e.event, e.payload))).toString('hex');
  return r;
}

// A container (Attest, RA-TLS .1.8) is consistent: quote REPORTDATA = report data, runtime
// events replay to the quote's RTMR3, and (fullLog: Attest's log is the full one, spec 7.4;
// RA-TLS logs may drop boot events) the TDX events to RTMR0-2.
function checkContainer(c, wantReportData, what, fullLog) {
  const p = parseQuote(c.quote);
  checkQuoteShape(p);
  eq(c.reportData, wantReportData, `${what} report_data`);
  eq(p.reportdata, wantReportData, `${what} quote REPORTDATA`);
  eq(replayRuntime(c.runtime), p.rtmr[3], `${what} runtime events replayed vs quote RTMR3`);
  const r = replay(c.events);
  for (const i of [0, 1, 2]) {
    if (fullLog) eq(r[i], p.rtmr[i], `${what} event log replayed RTMR${i}`);
  }
  return p;
}

// ---- raw requests (what the SDK hides: status codes and error bodies) --------------------------

function rawPost(endpoint, path, body) {
  return new Promise((resolve, reject) => {
    const isUrl = /^https?:\/\//.test(endpoint);
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    headers.Connection = 'close';
    const opts = { method: 'POST', headers, path };
    if (isUrl) {
      const u = new URL(path, endpoint);
      Object.assign(opts, { hostname: u.hostname, port: u.port });
    } else {
      Object.assign(opts, { socketPath: endpoint, host: 'localhost' });
    }
    const req = http.request(opts, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function expectError(endpoint, path, body, status, message) {
  const r = await rawPost(endpoint, path, body);
  eq(r.status, status, `POST ${path} ${body}: status`);
  let j;
  try {
    j = JSON.parse(r.body);
  } catch {
    throw new Error(`POST ${path}: body is not JSON: ${short(r.body)}`);
  }
  eq(j.error, message, `POST ${path} ${body}: error`);
}

// ---- the checks ------------------------------------------------------------------------------

function recover(msgHash, sig, what) {
  eq(sig.length, 65, `${what} length`);
  assert(sig[64] === 0 || sig[64] === 1, `${what}: recovery id ${sig[64]}, want 0 or 1`);
  const s = secp256k1.Signature.fromCompact(sig.subarray(0, 64)).addRecoveryBit(sig[64]);
  return s.recoverPublicKey(msgHash).toRawBytes(true);
}

const derivedPub = (alg, key) => (alg === 'ed25519' ? ed25519.getPublicKey(key) : secp256k1.getPublicKey(key, true));

// Verifies a GetKey answer's chain (spec 4.2, 4.3); returns {appPub, kmsPub} in hex.
function verifyChain(r, alg, purpose, appIdHex) {
  eq(r.key.length, 32, 'key length');
  eq(r.signature_chain.length, 2, 'signature_chain length');
  const pub = derivedPub(alg, r.key);
  const appMsg = keccak_256(Buffer.from(`${purpose}:${hex(pub)}`, 'utf8'));
  const appPub = recover(appMsg, r.signature_chain[0], 'signature_chain[0]');
  const kmsMsg = Buffer.concat([Buffer.from('dstack-kms-issued:'), unhex(appIdHex), appPub]);
  const kmsPub = recover(keccak_256(kmsMsg), r.signature_chain[1], 'signature_chain[1]');
  return { appPub: hex(appPub), kmsPub: hex(kmsPub) };
}

class Checker {
  constructor(endpoint, label) {
    this.endpoint = endpoint;
    this.label = label;
    this.kmsRoots = new Set();
    this.appPubs = new Set();
  }

  name(n) {
    return `${this.label}: ${n}`;
  }

  // Info consistent with itself and with a quote taken right after it (spec 2.5, 7.5, 11).
  async infoConsistent(c) {
    const info = await c.info();
    const fields = ['app_id', 'instance_id', 'app_cert', 'app_name', 'device_id', 'mr_aggregated', 'os_image_hash',
      'key_provider_info', 'compose_hash', 'vm_config', 'cloud_vendor', 'cloud_product'];
    for (const f of fields) eq(typeof info[f], 'string', `Info.${f} type`);
    assert(isHex(info.app_id, 20), `Info.app_id is not 20 bytes of hex: ${short(info.app_id)}`);
    assert(isHex(info.compose_hash, 32), `Info.compose_hash is not 32 bytes of hex: ${short(info.compose_hash)}`);
    assert(info.instance_id === '' || isHex(info.instance_id, 20), `Info.instance_id: ${short(info.instance_id)}`);
    assert(isHex(info.mr_aggregated, 32), `Info.mr_aggregated: ${short(info.mr_aggregated)}`);
    eq(info.device_id, hash('sha256', '').toString('hex'), 'Info.device_id (SHA-256 of "" on TDX)');
    const tcb = info.tcb_info;
    assert(tcb && typeof tcb === 'object', 'tcb_info did not parse to an object');
    const tcbKeys = ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mr_aggregated', 'os_image_hash', 'compose_hash',
      'device_id', 'app_compose'];
    for (const k of tcbKeys) eq(typeof tcb[k], 'string', `tcb_info.${k} type`);
    checkEventLog(tcb.event_log, 'tcb_info.event_log');
    const log = tcb.event_log;
    eq(info.app_id, runtimePayload(log, 'app-id'), 'Info.app_id vs the app-id runtime event');
    eq(info.instance_id, runtimePayload(log, 'instance-id'), 'Info.instance_id vs the instance-id runtime event');
    eq(info.compose_hash, runtimePayload(log, 'compose-hash'), 'Info.compose_hash vs the compose-hash runtime event');
    eq(tcb.compose_hash, info.compose_hash, 'tcb_info.compose_hash vs Info.compose_hash');
    const composeSha = hash('sha256', Buffer.from(tcb.app_compose, 'utf8')).toString('hex');
    eq(composeSha, info.compose_hash, 'SHA-256(tcb_info.app_compose) vs compose_hash');
    if (log.some((e) => e.imr === 3 && e.event === 'key-provider')) {
      const kp = unhex(runtimePayload(log, 'key-provider')).toString('utf8');
      eq(info.key_provider_info, kp, 'Info.key_provider_info vs key-provider event');
    }
    let compose;
    try {
      compose = JSON.parse(tcb.app_compose);
    } catch {
      throw new Error(`tcb_info.app_compose is not JSON: ${short(tcb.app_compose)}`);
    }
    if (typeof compose.name === 'string') eq(info.app_name, compose.name, 'Info.app_name vs app_compose.name');
    eq(tcb.os_image_hash, info.os_image_hash, 'tcb_info.os_image_hash vs Info.os_image_hash');
    eq(tcb.device_id, info.device_id, 'tcb_info.device_id vs Info.device_id');
    if (info.vm_config !== '') {
      const vm = JSON.parse(info.vm_config);
      if (vm.os_image_hash !== undefined) {
        eq(info.os_image_hash, vm.os_image_hash, 'Info.os_image_hash vs vm_config.os_image_hash');
      }
    }
    if (log.some((e) => e.imr === 3 && e.event === 'os-image-hash')) {
      eq(runtimePayload(log, 'os-image-hash'), info.os_image_hash, 'os-image-hash event vs Info.os_image_hash');
    }
    for (const pem of info.app_cert.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || []) {
      new crypto.X509Certificate(pem); // throws on a malformed certificate
    }
    const replayed = replay(log);
    for (const i of [0, 1, 2, 3]) eq(replayed[i], tcb[`rtmr${i}`], `tcb_info.event_log replayed vs tcb_info.rtmr${i}`);

    const q = await c.getQuote('info-consistency');
    const p = parseQuote(q.quote);
    eq(tcb.mrtd, p.mrtd, 'tcb_info.mrtd vs quote MRTD');
    for (const i of [0, 1, 2, 3]) eq(tcb[`rtmr${i}`], p.rtmr[i], `tcb_info.rtmr${i} vs quote RTMR${i}`);
    const mra = mrAggregated(p, replayed[3]);
    eq(info.mr_aggregated, mra, 'Info.mr_aggregated vs SHA-256(MRTD‖RTMR0-2‖RTMR3′‖MRCONFIGID‖MROWNER‖MROWNERCONFIG)');
    eq(tcb.mr_aggregated, mra, 'tcb_info.mr_aggregated');
    eq(p.mrconfigid, `01${info.compose_hash}${'00'.repeat(15)}`, 'quote MRCONFIGID (0x01 ‖ compose_hash ‖ zeros)');
    return { info, quote: p };
  }

  async basics(c) {
    await check(this.name('info(): tcb_info parsed, identity = runtime events, compose_hash, RTMRs and mr_aggregated'), async () => {
      this.info = (await this.infoConsistent(c)).info;
    });
    await check(this.name('isReachable()'), async () => eq(await c.isReachable(), true, 'isReachable'));
    await check(this.name('version()'), async () => {
      const v = await c.version();
      eq(typeof v.version, 'string', 'version type');
      eq(typeof v.rev, 'string', 'rev type');
      assert(v.version.length > 0, 'version is empty');
    });
  }

  appId() {
    assert(this.info, 'info() failed earlier: no app_id to check against');
    return this.info.app_id;
  }

  async getKeys(c) {
    for (const alg of ['secp256k1', 'ed25519']) {
      await check(this.name(`getKey(path, purpose, "${alg}"): deterministic, chain recovers to the KMS root`), async () => {
        const path = `sdk-check/${alg}`;
        const purpose = 'conformance';
        const a = await c.getKey(path, purpose, alg);
        const b = await c.getKey(path, purpose, alg);
        eq(a.__name__, 'GetKeyResponse', '__name__');
        eq(hex(a.key), hex(b.key), 'key across two calls');
        eq(a.signature_chain.map(hex).join(), b.signature_chain.map(hex).join(), 'signature_chain across two calls');
        const other = await c.getKey(`${path}/other`, purpose, alg);
        assert(hex(other.key) !== hex(a.key), 'another path gave the same key');
        const { appPub, kmsPub } = verifyChain(a, alg, purpose, this.appId());
        verifyChain(other, alg, purpose, this.appId());
        this.appPubs.add(appPub);
        this.kmsRoots.add(kmsPub);
        eq(this.appPubs.size, 1, `app keys seen (${[...this.appPubs]})`);
        eq(this.kmsRoots.size, 1, `KMS roots seen (${[...this.kmsRoots]})`);
      });
    }
    await check(this.name('getKey: the same 32 bytes for secp256k1, k256 and ed25519; defaults work'), async () => {
      const s = await c.getKey('sdk-check/same', 'p');
      const k = await c.getKey('sdk-check/same', 'p', 'k256');
      const e = await c.getKey('sdk-check/same', 'p', 'ed25519');
      eq(hex(k.key), hex(s.key), 'k256 key');
      eq(hex(e.key), hex(s.key), 'ed25519 seed');
      const d = await c.getKey();
      const { kmsPub } = verifyChain(d, 'secp256k1', '', this.appId());
      this.kmsRoots.add(kmsPub);
      eq(this.kmsRoots.size, 1, 'KMS roots seen');
    });
  }

  async quotes(c, collateral, root, quoteOut) {
    const cases = [
      ['"hello" (string -> UTF-8)', 'hello', Buffer.from('hello').toString('hex')],
      ['"" (64 zero bytes)', '', ''],
      ['64 random bytes', crypto.randomBytes(64), null],
      ['Uint8Array of 20 bytes', new Uint8Array(20).fill(0xab), 'ab'.repeat(20)],
    ];
    for (const [label, data, h] of cases) {
      await check(this.name(`getQuote(${label}): report_data padded, REPORTDATA, replayRtmrs() = quote RTMRs`), async () => {
        const want = (h === null ? hex(data) : h).padEnd(128, '0');
        const q = await c.getQuote(data);
        eq(q.report_data, want, 'report_data');
        const p = parseQuote(q.quote);
        checkQuoteShape(p);
        eq(p.reportdata, want, 'quote REPORTDATA (bytes 568..632)');
        eq(typeof q.event_log, 'string', 'event_log type');
        eq(typeof q.vm_config, 'string', 'vm_config type');
        const log = JSON.parse(q.event_log);
        checkEventLog(log, 'event_log');
        const sdk = q.replayRtmrs();
        for (const i of [0, 1, 2, 3]) eq(sdk[i], p.rtmr[i], `replayRtmrs()[${i}] vs quote RTMR${i} (bytes ${376 + 48 * i}..)`);
        const ours = replay(log);
        for (const i of [0, 1, 2, 3]) eq(ours[i], p.rtmr[i], `replay with recomputed digests, RTMR${i}`);
      });
    }
    if (quoteOut) {
      await check(this.name(`getQuote quote saved to ${quoteOut}`), async () => {
        const q = await c.getQuote('teehost quote verify');
        fs.writeFileSync(quoteOut, unhex(q.quote));
      });
    }
    if (collateral && root) {
      await check(this.name('@phala/dcap-qvl verifies getQuote\'s quote under the simulator root: UpToDate'), async () => {
        const { QuoteVerifier } = require('@phala/dcap-qvl');
        const v = QuoteVerifier.newWithRootCa(fs.readFileSync(root));
        const col = JSON.parse(fs.readFileSync(collateral, 'utf8'));
        const q = await c.getQuote(crypto.randomBytes(32));
        const r = v.verify(new Uint8Array(unhex(q.quote)), col, Math.floor(Date.now() / 1000));
        eq(r.status, 'UpToDate', 'dcap-qvl status');
        const a = await c.attest('dcap-qvl');
        const aq = new Uint8Array(unhex(parseContainer(unhex(a.attestation)).quote));
        const ar = v.verify(aq, col, Math.floor(Date.now() / 1000));
        eq(ar.status, 'UpToDate', 'dcap-qvl status of attest()\'s quote');
      });
    }
  }

  async attest(c) {
    await check(this.name('attest(): V0 container, report data padded, events replay to the quote'), async () => {
      const a = await c.attest('attest-check');
      eq(a.__name__, 'AttestResponse', '__name__');
      assert(isHex(a.attestation), 'attestation is not lowercase hex');
      const ct = parseContainer(unhex(a.attestation));
      checkContainer(ct, Buffer.from('attest-check').toString('hex').padEnd(128, '0'), 'attestation', true);
    });
  }

  async emit(c) {
    await check(this.name('emitEvent(name, payload): RTMR3 extended by the V1 digest, replayRtmrs() and Info follow'), async () => {
      const before = parseQuote((await c.getQuote('before-emit')).quote);
      const name = 'sdk-check-event';
      const payload = `payload ${crypto.randomBytes(8).toString('hex')}`;
      await c.emitEvent(name, payload);
      const q = await c.getQuote('after-emit');
      const p = parseQuote(q.quote);
      assert(p.rtmr[3] !== before.rtmr[3], 'RTMR3 did not change');
      for (const i of [0, 1, 2]) eq(p.rtmr[i], before.rtmr[i], `RTMR${i} (must not change)`);
      const digest = runtimeDigest(name, Buffer.from(payload).toString('hex'));
      const extended = hash('sha384', unhex(before.rtmr[3]), unhex(digest)).toString('hex');
      eq(p.rtmr[3], extended, 'RTMR3 = SHA-384(RTMR3 before ‖ event digest)');
      const log = JSON.parse(q.event_log);
      const last = log[log.length - 1];
      eq(last.event, name, 'last event name');
      eq(last.event_payload, Buffer.from(payload).toString('hex'), 'last event payload');
      eq(last.imr, 3, 'last event imr');
      eq(last.event_type, RUNTIME_EVENT, 'last event type');
      eq(q.replayRtmrs()[3], p.rtmr[3], 'replayRtmrs()[3] after emitEvent');
      const { info, quote } = await this.infoConsistent(c);
      eq(info.tcb_info.rtmr3, quote.rtmr[3], 'tcb_info.rtmr3 after emitEvent');
      await rejects(c.emitEvent('', 'x'), /Event name cannot be empty/, 'emitEvent("")');
    });
  }

  async tls(c) {
    const what = 'getTlsKey({subject, altNames, usageRaTls, server+client auth}): key, chain, SAN, EKU, .1.8 bound to the key';
    await check(this.name(what), async () => {
      const subject = 'sdk-check.example';
      const altNames = [subject, 'localhost'];
      const r = await c.getTlsKey({ subject, altNames, usageRaTls: true, usageServerAuth: true, usageClientAuth: true });
      eq(r.__name__, 'GetTlsKeyResponse', '__name__');
      assert(/^-----BEGIN PRIVATE KEY-----\n/.test(r.key), `key is not a PKCS#8 PEM: ${short(r.key)}`);
      const key = crypto.createPrivateKey(r.key);
      eq(key.asymmetricKeyType, 'ec', 'key type');
      eq(key.asymmetricKeyDetails.namedCurve, 'prime256v1', 'key curve');
      eq(hex(r.asUint8Array()), hex(key.export({ type: 'pkcs8', format: 'der' })), 'asUint8Array() vs the PKCS#8 DER');
      eq(r.certificate_chain.length, 2, 'certificate_chain length');
      const [leaf, ca] = r.certificate_chain.map((pem) => new crypto.X509Certificate(pem));
      assert(leaf.verify(ca.publicKey), 'leaf signature does not verify with the CA key');
      assert(leaf.checkIssued(ca), 'leaf issuer does not match the CA subject');
      assert(ca.verify(ca.publicKey), 'CA is not self-signed');
      assert(ca.ca, 'second certificate is not a CA');
      assert(leaf.subject.split('\n').includes(`CN=${subject}`), `leaf subject ${short(leaf.subject)}`);
      const san = leaf.subjectAltName || '';
      for (const n of altNames) assert(san.includes(`DNS:${n}`), `SAN lacks DNS:${n}: ${short(san)}`);
      assert(leaf.checkPrivateKey(key), 'leaf public key is not the returned key\'s');
      const eku = leaf.keyUsage || [];
      assert(eku.includes(EKU_SERVER) && eku.includes(EKU_CLIENT), `EKU ${short(eku.join(','))}, want serverAuth and clientAuth`);
      const exts = certExtensions(leaf.raw);
      const usage = dstackExt(exts, 4);
      assert(usage, 'no special-usage extension .1.4');
      eq(usage.toString(), 'app:custom', '.1.4 special usage');
      const att = dstackExt(exts, 8);
      assert(att, 'no RA-TLS attestation extension 1.3.6.1.4.1.62397.1.8');
      const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
      const want = hash('sha512', 'ratls-cert:', spki).toString('hex');
      checkContainer(parseContainer(att), want, '.1.8 attestation');
      const again = await c.getTlsKey({ subject });
      assert(again.key !== r.key, 'two getTlsKey calls returned the same key (want a fresh key each time)');
    });
    await check(this.name('getTlsKey without usageRaTls: no evidence; serverAuth only by default'), async () => {
      const r = await c.getTlsKey({ subject: 'plain.example' });
      const leaf = new crypto.X509Certificate(r.certificate_chain[0]);
      const exts = certExtensions(leaf.raw);
      assert(!dstackExt(exts, 8) && !dstackExt(exts, 1), 'attestation extension present without usageRaTls');
      const eku = leaf.keyUsage || [];
      assert(eku.includes(EKU_SERVER) && !eku.includes(EKU_CLIENT), `EKU ${short(eku.join(','))}, want serverAuth only`);
    });
    await check(this.name('getTlsKey({notBefore, notAfter, withAppInfo}): validity as asked, .1.9 app info'), async () => {
      const nb = 1767225600; // 2026-01-01T00:00:00Z
      const na = 1798761600; // 2027-01-01T00:00:00Z
      const r = await c.getTlsKey({ subject: 'validity.example', notBefore: nb, notAfter: na, withAppInfo: true });
      assert(!('error' in r), `agent answered an error: ${short(r.error)}`);
      const leaf = new crypto.X509Certificate(r.certificate_chain[0]);
      eq(Date.parse(leaf.validFrom) / 1000, nb, 'notBefore');
      eq(Date.parse(leaf.validTo) / 1000, na, 'notAfter');
      assert(dstackExt(certExtensions(leaf.raw), 9), 'no app-info extension .1.9 with withAppInfo');
    });
    await check(this.name('getTlsKey with notBefore >= notAfter: the agent\'s error'), async () => {
      const r = await c.getTlsKey({ subject: 'bad.example', notBefore: 2000, notAfter: 1000 });
      eq(r.error, 'not_before must be earlier than not_after', 'error');
      assert(r.key === undefined, 'a key came with the error');
    });
  }

  async signVerify(c) {
    const base = { secp256k1: 'secp256k1', secp256k1_prehashed: 'secp256k1', ed25519: 'ed25519' };
    for (const alg of Object.keys(base)) {
      await check(this.name(`sign/verify ${alg}: signature checks locally, key = getKey("vms", "signing"), verify() true/false`), async () => {
        const data = alg === 'secp256k1_prehashed' ? hash('sha256', 'sdk-check') : Buffer.from('sdk-check message');
        const s = await c.sign(alg, data);
        eq(s.signature.length, 64, 'signature length');
        eq(s.public_key.length, alg === 'ed25519' ? 32 : 33, 'public_key length');
        const ok = alg === 'ed25519' ? ed25519.verify(s.signature, data, s.public_key)
          : secp256k1.verify(s.signature, alg === 'secp256k1' ? hash('sha256', data) : data, s.public_key);
        assert(ok, 'signature does not verify locally');
        const k = await c.getKey('vms', 'signing', base[alg]);
        eq(hex(s.public_key), hex(derivedPub(base[alg], k.key)), 'public_key vs getKey("vms", "signing")');
        eq(s.signature_chain.length, 3, 'signature_chain length');
        eq(hex(s.signature_chain[0]), hex(s.signature), 'signature_chain[0]');
        eq(hex(s.signature_chain[1]), hex(k.signature_chain[0]), 'signature_chain[1] vs GetKey chain[0]');
        eq(hex(s.signature_chain[2]), hex(k.signature_chain[1]), 'signature_chain[2] vs GetKey chain[1]');
        eq((await c.verify(alg, data, s.signature, s.public_key)).valid, true, 'verify() of the signature');
        const bad = Buffer.from(data);
        bad[0] ^= 1;
        eq((await c.verify(alg, bad, s.signature, s.public_key)).valid, false, 'verify() of altered data');
      });
    }
    await check(this.name('sign("secp256k1_prehashed", not 32 bytes) throws client-side'), async () => {
      await rejects(c.sign('secp256k1_prehashed', 'short'), /requires a 32-byte digest/, 'sign');
    });
  }

  async helpers(c) {
    await check(this.name('viem toViemAccount/toViemAccountSecure on getKey: EIP-55 address, stable'), async () => {
      const a = toViemAccount(await c.getKey('wallet/ethereum', 'mainnet'));
      const b = toViemAccount(await c.getKey('wallet/ethereum', 'mainnet'));
      assert(/^0x[0-9a-fA-F]{40}$/.test(a.address), `address ${a.address}`);
      eq(getAddress(a.address), a.address, 'EIP-55 checksum');
      eq(b.address, a.address, 'address across calls');
      const secure = toViemAccountSecure(await c.getKey('wallet/ethereum', 'mainnet'));
      eq(secure.address, a.address, 'toViemAccountSecure address');
      const sig = await a.signMessage({ message: 'dstack' });
      assert(/^0x[0-9a-f]{130}$/.test(sig), 'signMessage');
    });
    await check(this.name('viem helpers on getTlsKey: plain = first 32 DER bytes, secure = SHA-256(DER)'), async () => {
      const r = await c.getTlsKey({ subject: 'viem.example' });
      const plain = toViemAccount(r);
      const secure = toViemAccountSecure(r);
      eq(getAddress(plain.address), plain.address, 'EIP-55 checksum (plain)');
      eq(plain.address, privateKeyToAccount(`0x${hex(r.asUint8Array(32))}`).address, 'plain address');
      const secureKey = `0x${hash('sha256', r.asUint8Array()).toString('hex')}`;
      eq(secure.address, privateKeyToAccount(secureKey).address, 'secure address');
    });
    await check(this.name('solana toKeypair/toKeypairSecure on getKey(ed25519): base58 address = ed25519 key, stable'), async () => {
      const r = await c.getKey('wallet/solana', '', 'ed25519');
      const kp = toKeypair(r);
      const b58 = kp.publicKey.toBase58();
      assert(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(b58), `address ${b58}`);
      eq(new PublicKey(b58).toBase58(), b58, 'base58 round trip');
      eq(hex(kp.publicKey.toBytes()), hex(ed25519.getPublicKey(r.key)), 'public key');
      eq(toKeypair(await c.getKey('wallet/solana', '', 'ed25519')).publicKey.toBase58(), b58, 'address across calls');
      eq(toKeypairSecure(r).publicKey.toBase58(), b58, 'toKeypairSecure address');
    });
    await check(this.name('solana helpers on getTlsKey: valid base58 addresses'), async () => {
      const r = await c.getTlsKey({ subject: 'solana.example' });
      const plain = toKeypair(r).publicKey.toBase58();
      const secure = toKeypairSecure(r).publicKey.toBase58();
      eq(new PublicKey(plain).toBase58(), plain, 'plain');
      eq(hex(new PublicKey(secure).toBytes()), hex(ed25519.getPublicKey(hash('sha256', r.asUint8Array()))), 'secure');
    });
  }

  async errors(c) {
    await check(this.name('getQuote with 65 bytes throws client-side'), async () => {
      await rejects(c.getQuote(Buffer.alloc(65, 1)), /Report data is too large/, 'getQuote(65 bytes)');
    });
    await check(this.name('getKey with an unsupported algorithm rejects'), async () => {
      await rejects(c.getKey('p', 'q', 'rsa'), null, 'getKey("rsa")');
    });
    await check(this.name('raw: bad requests get 400 {"error": …} (spec 1.6) and the agent keeps serving'), async () => {
      const ep = this.endpoint;
      await expectError(ep, '/GetKey', '{"path":"p","purpose":"","algorithm":"rsa"}', 400, 'Unsupported algorithm');
      await expectError(ep, '/GetQuote', JSON.stringify({ report_data: '01'.repeat(65) }), 400, 'Report data is too long');
      await expectError(this.endpoint, '/NoSuchMethod', '{}', 400, 'Service not found: NoSuchMethod');
      const r = await rawPost(this.endpoint, '/GetQuote', '{"report_data":"abc"}');
      eq(r.status, 400, 'odd-length hex: status');
      const ok = await rawPost(this.endpoint, '/EmitEvent', '{"event":"raw-check","payload":""}');
      eq(ok.status, 200, 'EmitEvent: status');
      eq(ok.body, 'null', 'EmitEvent body');
      eq(await c.isReachable(), true, 'isReachable after the errors');
    });
  }

  async legacy(t, label, dstackInfo) {
    const n = (s) => `${this.label}: TappdClient (${label}) ${s}`;
    await check(n('isReachable() (/prpc/Tappd.Info)'), async () => eq(await t.isReachable(), true, 'isReachable'));
    await check(n('deriveKey(path, subject, altNames): PEM key, chain of 2, CN, SAN, deterministic per path'), async () => {
      const a = await t.deriveKey('legacy/path', 'legacy.example', ['legacy.example']);
      const b = await t.deriveKey('legacy/path', 'legacy.example', ['legacy.example']);
      const key = crypto.createPrivateKey(a.key);
      eq(key.asymmetricKeyDetails.namedCurve, 'prime256v1', 'key curve');
      eq(a.certificate_chain.length, 2, 'certificate_chain length');
      const [leaf, ca] = a.certificate_chain.map((pem) => new crypto.X509Certificate(pem));
      assert(leaf.verify(ca.publicKey), 'leaf does not verify with the CA');
      assert(leaf.checkPrivateKey(key), 'leaf key is not the returned key');
      assert(leaf.subject.split('\n').includes('CN=legacy.example'), `subject ${short(leaf.subject)}`);
      assert((leaf.subjectAltName || '').includes('DNS:legacy.example'), `SAN ${short(leaf.subjectAltName)}`);
      eq(b.key, a.key, 'key across two calls');
      const other = await t.deriveKey('legacy/other');
      assert(other.key !== a.key, 'another path gave the same key');
    });
    await check(n('tdxQuote(data): REPORTDATA = SHA-512("app-data:" ‖ data), replayRtmrs() = quote'), async () => {
      const q = await t.tdxQuote('legacy-data');
      const p = parseQuote(q.quote);
      checkQuoteShape(p);
      eq(p.reportdata, hash('sha512', 'app-data:legacy-data').toString('hex'), 'quote REPORTDATA');
      eq(q.hash_algorithm, 'sha512', 'hash_algorithm echoed');
      eq(q.prefix, 'app-data', 'prefix echoed');
      const r = q.replayRtmrs();
      for (const i of [0, 1, 2, 3]) eq(r[i], p.rtmr[i], `replayRtmrs()[${i}]`);
    });
    await check(n('tdxQuote(data, "raw"): data left-padded by the SDK lands at the end of REPORTDATA'), async () => {
      const q = await t.tdxQuote('raw-data', 'raw');
      const p = parseQuote(q.quote);
      eq(p.reportdata, Buffer.from('raw-data').toString('hex').padStart(128, '0'), 'quote REPORTDATA');
      eq(q.hash_algorithm, 'raw', 'hash_algorithm echoed');
      const r = q.replayRtmrs();
      for (const i of [0, 1, 2, 3]) eq(r[i], p.rtmr[i], `replayRtmrs()[${i}]`);
    });
    await check(n('info() (bare /Info on the tappd endpoint)'), async () => {
      const info = await t.info();
      assert(dstackInfo, 'DstackClient info() failed earlier');
      eq(info.app_id, dstackInfo.app_id, 'app_id vs DstackClient');
      eq(info.tcb_info.compose_hash, dstackInfo.compose_hash, 'tcb_info.compose_hash');
    });
    await check(n('getKey (bare /GetKey on the tappd endpoint) = DstackClient getKey'), async () => {
      const a = await t.getKey('legacy/key', 'x');
      const b = await new DstackClient(this.endpoint).getKey('legacy/key', 'x');
      eq(hex(a.key), hex(b.key), 'key');
    });
  }
}

async function main() {
  const args = process.argv.slice(2);
  const option = (flag) => {
    const i = args.indexOf(flag);
    if (i < 0) return null;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const quoteOut = option('--quote-out');
  const kmsRoot = option('--kms-root');
  const [endpoint, collateral, root] = args;
  if (!endpoint) {
    console.error('usage: node dstack_sdk_check.js ENDPOINT [COLLATERAL_JSON ROOT_DER] [--quote-out FILE]'
      + ' [--kms-root HEX]');
    process.exit(2);
  }
  if (!process.env.DSTACK_CHECK_VERBOSE) console.warn = () => {};
  delete process.env.DSTACK_SIMULATOR_ENDPOINT;
  delete process.env.TAPPD_SIMULATOR_ENDPOINT;

  const explicit = new Checker(endpoint, 'explicit');
  const c = new DstackClient(endpoint);
  await explicit.basics(c);
  await explicit.getKeys(c);
  await explicit.quotes(c, collateral, root, quoteOut);
  await explicit.attest(c);
  await explicit.tls(c);
  await explicit.emit(c);
  await explicit.signVerify(c);
  await explicit.helpers(c);
  await explicit.errors(c);
  await explicit.legacy(new TappdClient(endpoint), 'explicit', explicit.info);

  process.env.DSTACK_SIMULATOR_ENDPOINT = endpoint;
  process.env.TAPPD_SIMULATOR_ENDPOINT = endpoint;
  const viaEnv = new Checker(endpoint, 'DSTACK_SIMULATOR_ENDPOINT');
  const e = new DstackClient();
  await check(viaEnv.name('the client uses the endpoint from the environment'), async () => {
    eq(e.endpoint, endpoint, 'endpoint');
  });
  await viaEnv.basics(e);
  await check(viaEnv.name('same identity and keys as the explicit client'), async () => {
    assert(viaEnv.info && explicit.info, 'info() failed earlier');
    eq(viaEnv.info.app_id, explicit.info.app_id, 'app_id');
    eq(hex((await e.getKey('env/k', 'p')).key), hex((await c.getKey('env/k', 'p')).key), 'getKey');
  });
  await viaEnv.getKeys(e);
  await viaEnv.quotes(e);
  await check('TAPPD_SIMULATOR_ENDPOINT: TappdClient uses the endpoint from the environment', async () => {
    eq(new TappdClient().endpoint, endpoint, 'endpoint');
  });
  await viaEnv.legacy(new TappdClient(), 'TAPPD_SIMULATOR_ENDPOINT', viaEnv.info);
  await check('one KMS root across both clients', async () => {
    eq(new Set([...explicit.kmsRoots, ...viaEnv.kmsRoots]).size, 1, 'KMS roots seen');
  });
  if (kmsRoot) {
    await check('the signature chains recover to the published KMS root (--kms-root)', async () => {
      eq([...explicit.kmsRoots][0], kmsRoot.toLowerCase().replace(/^0x/, ''), 'KMS root');
    });
  }

  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

if (require.main === module) {
  main().catch((e) => {
    console.log(`not ok - unexpected: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
} else {
  // The pure helpers, for checking them against the vectors in tests/vectors/dstack.
  module.exports = {
    checkContainer, parseQuote, runtimeDigest, replay, mrAggregated, certExtensions, dstackExt, parseContainer,
    replayRuntime, verifyChain,
  };
}
