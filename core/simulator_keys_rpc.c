/* core/simulator_keys_rpc.c — the simulator's key methods and the small ones: GetKey (and the
 * legacy DeriveK256Key, the same answer renamed), Sign, Verify (shared/specs/dstack.md 2.1, 2.7,
 * 2.8, 3), EmitEvent (2.9), Version (2.6), GpuInfo (2.10).
 *
 * All key material comes from core/keys with the app key; derived secrets live on the stack and
 * are wiped before return. Response fields in proto order, hex lowercase.
 *
 * GetKey is a pure function of (algorithm, path, purpose) and the app key — RFC 6979 signatures
 * included — and costs two secp256k1 multiplications, so results are kept in a small
 * direct-mapped cache in sodium_malloc memory (locked, guarded, wiped when the simulator is
 * freed): a hit answers the identical bytes without the curve work. */
#include <sodium.h>
#include <string.h>

#include "keys.h"
#include "simulator_internal.h"

static const uint8_t *app_key(const th_simulator *s) { return s->secret + TH_SIM_APP_KEY; }

#define KEY_CACHE_SLOTS 256

struct th_sim_key_slot {
  uint8_t tag[32]; /* BLAKE2b of (algorithm, path, purpose); all zero = empty */
  th_key_result k;
};

/* The slot for this request and its tag; NULL when the cache cannot be had (no locked memory:
 * then every call derives). */
static struct th_sim_key_slot *cache_slot(th_simulator *s, th_key_alg alg, const th_sim_req *r,
                                          uint8_t tag[32]) {
  if (!s->key_cache) {
    size_t size = KEY_CACHE_SLOTS * sizeof *s->key_cache;
    if (!(s->key_cache = sodium_malloc(size))) return NULL;
    sodium_memzero(s->key_cache, size);
  }
  crypto_generichash_state h;
  uint8_t a = (uint8_t)alg;
  size_t plen = strlen(r->path);
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)plen >> (8 * i));
  crypto_generichash_init(&h, NULL, 0, 32);
  crypto_generichash_update(&h, &a, 1);
  crypto_generichash_update(&h, len, sizeof len); /* so (path, purpose) splits are unambiguous */
  crypto_generichash_update(&h, (const uint8_t *)r->path, plen);
  crypto_generichash_update(&h, (const uint8_t *)r->purpose, strlen(r->purpose));
  crypto_generichash_final(&h, tag, 32);
  return &s->key_cache[(tag[0] | (unsigned)tag[1] << 8) % KEY_CACHE_SLOTS];
}

static int get_key(th_simulator *s, const th_sim_req *r, th_sbuf *out, const char *key_name,
                   const char *chain_name, th_err *err) {
  th_key_alg alg;
  th_key_result k;
  uint8_t tag[32];
  if (th_key_alg_parse(r->algorithm, 0, &alg, err) != 0) return -1;
  struct th_sim_key_slot *slot = cache_slot(s, alg, r, tag);
  if (slot && sodium_memcmp(slot->tag, tag, 32) == 0) {
    k = slot->k;
  } else if (th_key_get(app_key(s), s->k256_sig, r->path, strlen(r->path), r->purpose,
                        strlen(r->purpose), alg, &k, err) != 0) {
    sodium_memzero(&k, sizeof k);
    return -1;
  } else if (slot) {
    memcpy(slot->tag, tag, 32);
    slot->k = k;
  }
  th_sbuf_cstr(out, "{\"");
  th_sbuf_cstr(out, key_name);
  th_sbuf_cstr(out, "\":");
  th_sbuf_hex(out, k.key, 32);
  th_sbuf_cstr(out, ",\"");
  th_sbuf_cstr(out, chain_name);
  th_sbuf_cstr(out, "\":[");
  th_sbuf_hex(out, k.chain0, 65);
  th_sbuf_cstr(out, ",");
  th_sbuf_hex(out, k.chain1, k.has_chain1 ? 65 : 0);
  th_sbuf_cstr(out, "]}");
  sodium_memzero(&k, sizeof k);
  return 0;
}

int th_sim_get_key(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  return get_key(s, r, out, "key", "signature_chain", err);
}

int th_sim_derive_k256_key(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  return get_key(s, r, out, "k256_key", "k256_signature_chain", err);
}

int th_sim_sign(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  th_key_alg alg;
  th_key_result k;
  uint8_t sig[64];
  if (th_key_alg_parse(r->algorithm, 1, &alg, err) != 0) return -1;
  th_key_alg base = alg == TH_KEY_ED25519 ? TH_KEY_ED25519 : TH_KEY_SECP256K1;
  int rc = th_key_get(app_key(s), s->k256_sig, "vms", 3, "signing", 7, base, &k, err);
  if (rc == 0) rc = th_key_sign(alg, k.key, th_sim_ptr(&r->data), r->data.n, sig, err);
  if (rc == 0) {
    th_sbuf_cstr(out, "{\"signature\":");
    th_sbuf_hex(out, sig, 64);
    th_sbuf_cstr(out, ",\"signature_chain\":[");
    th_sbuf_hex(out, sig, 64);
    th_sbuf_cstr(out, ",");
    th_sbuf_hex(out, k.chain0, 65);
    th_sbuf_cstr(out, ",");
    th_sbuf_hex(out, k.chain1, k.has_chain1 ? 65 : 0);
    th_sbuf_cstr(out, "],\"public_key\":");
    th_sbuf_hex(out, k.pub, k.pub_len);
    th_sbuf_cstr(out, "}");
  }
  sodium_memzero(&k, sizeof k);
  return rc;
}

int th_sim_verify(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  (void)s;
  th_key_alg alg;
  int valid = 0;
  if (th_key_alg_parse(r->algorithm, 1, &alg, err) != 0 ||
      th_key_verify(alg, th_sim_ptr(&r->data), r->data.n, th_sim_ptr(&r->signature), r->signature.n,
                    th_sim_ptr(&r->public_key), r->public_key.n, &valid, err) != 0)
    return -1;
  th_sbuf_cstr(out, valid ? "{\"valid\":true}" : "{\"valid\":false}");
  return 0;
}

int th_sim_emit_event(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  if (th_sim_events_emit(s, r->event, th_sim_ptr(&r->payload), r->payload.n, err) != 0) return -1;
  th_sbuf_cstr(out, "null");
  return 0;
}

int th_sim_version(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  (void)s, (void)r, (void)err;
  th_sbuf_cstr(out, "{\"version\":\"0.5.8\",\"rev\":\"teehost-simulator\"}");
  return 0;
}

int th_sim_gpu_info(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  (void)s, (void)r, (void)err;
  th_sbuf_cstr(out, "{\"attestation\":\"\"}");
  return 0;
}
