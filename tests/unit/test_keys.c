/* tests/unit/test_keys.c — dstack's keys (core/keys.h; shared/specs/dstack.md 2.1, 2.7, 2.8, 4,
 * 9; eliza-tee.md 4.2).
 *
 * Vectors (tests/vectors/, made with @noble and cross-checked with python3-ecdsa, OpenSSL and
 * libsecp256k1, provenance in their how_computed):
 *  dstack/keys.json — for both app keys: the app public keys and address; for each of the eight
 *    path/purpose entries: the HKDF key, compressed and uncompressed secp256k1 keys, EIP-55
 *    address, ed25519 key, Solana keypair and address, chain[0] message, its keccak, the 65-byte
 *    signature and its recovered signer, and the whole GetKey body for every algorithm alias; the
 *    KMS signature (chain[1]) recovering to the root that dstack's Go SDK test pins; the chain
 *    verifier accepting every real chain and rejecting a wrong root, a flipped byte in chain[0]
 *    or chain[1], a wrong purpose.
 *  dstack/sign.json — every Sign case: signature, signature_chain and public_key byte for byte;
 *    Verify says valid on them and invalid after a flipped bit; Sign/Verify's error messages.
 *  phala-cloud/eliza-plugin-tee-observed.json — plugin-tee's derivation from a DeriveKey DER.
 * Self-made (no vector needed, the property is the test): a fresh random KMS root key's
 * signature verifies through th_key_verify_chain; the zero scalar is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "keccak.h"
#include "keys.h"
#include "vectors.h"

static cJSON *keys_json, *sign_json, *eliza_json;

static int load(void **state) {
  (void)state;
  keys_json = vector_json("dstack/keys.json");
  sign_json = vector_json("dstack/sign.json");
  eliza_json = vector_json("phala-cloud/eliza-plugin-tee-observed.json");
  return keys_json && sign_json && eliza_json && sodium_init() >= 0 ? 0 : -1;
}

static int unload(void **state) {
  (void)state;
  cJSON_Delete(keys_json);
  cJSON_Delete(sign_json);
  cJSON_Delete(eliza_json);
  return 0;
}

static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item) fail_msg("vector field %s missing", key);
  return item;
}

static const char *str(const cJSON *obj, const char *key) {
  const cJSON *item = field(obj, key);
  if (!cJSON_IsString(item)) fail_msg("vector field %s is not a string", key);
  return item->valuestring;
}

static const cJSON *apps(void) { return field(keys_json, "apps"); }

/* got (n bytes) must be exactly the hex want. */
static void assert_hex(const uint8_t *got, size_t n, const char *want) {
  uint8_t w[128];
  assert_true(n <= sizeof w);
  vector_unhex(want, w, n);
  assert_memory_equal(got, w, n);
}

static const cJSON *app_named(const char *name) {
  const cJSON *app;
  cJSON_ArrayForEach(app, apps()) if (strcmp(str(app, "name"), name) == 0) return app;
  fail_msg("no app %s in keys.json", name);
  return NULL;
}

/* The app's k256_signature (65 bytes) into sig; returns sig, or NULL when the vector has "". */
static const uint8_t *k256_signature(const cJSON *app, uint8_t sig[65]) {
  const char *hex = str(app, "k256_signature");
  if (!*hex) return NULL;
  vector_unhex(hex, sig, 65);
  return sig;
}

/* ---- keys.json ---- */

static void app_public_keys_and_address(void **state) {
  (void)state;
  const cJSON *app;
  cJSON_ArrayForEach(app, apps()) {
    uint8_t key[32], pub[33], full[65];
    size_t pub_len;
    char addr[43];
    vector_unhex(str(app, "app_key"), key, 32);
    assert_int_equal(th_key_public(TH_KEY_SECP256K1, key, pub, &pub_len, NULL), 0);
    assert_int_equal(pub_len, 33);
    assert_hex(pub, 33, str(app, "app_pubkey_compressed"));
    assert_int_equal(th_secp256k1_public_uncompressed(key, full, NULL), 0);
    assert_hex(full, 65, str(app, "app_pubkey_uncompressed"));
    assert_int_equal(th_evm_address(key, addr, NULL), 0);
    assert_string_equal(addr, str(app, "app_address"));
    uint8_t again[33];
    assert_int_equal(th_secp256k1_compress(full, 65, again, NULL), 0);
    assert_memory_equal(again, pub, 33);
  }
}

/* chain[0] of one entry × algorithm: message, keccak, signature, recovered signer. */
static void check_chain0(const uint8_t app_key[32], const cJSON *entry, const cJSON *alg_obj,
                         const uint8_t *pub, size_t pub_len) {
  const char *purpose = str(entry, "purpose");
  char msg[256];
  char hex[131];
  th_hex_encode(pub, pub_len, hex);
  snprintf(msg, sizeof msg, "%s:%s", purpose, hex);
  assert_string_equal(msg, str(alg_obj, "signature_chain_0_message"));
  uint8_t digest[32], sig[65], signer[33];
  th_keccak256(msg, strlen(msg), digest);
  assert_hex(digest, 32, str(alg_obj, "signature_chain_0_keccak256"));
  assert_int_equal(th_key_app_signature(app_key, purpose, strlen(purpose), pub, pub_len, sig, NULL),
                   0);
  assert_hex(sig, 65, str(alg_obj, "signature_chain_0"));
  assert_int_equal(th_secp256k1_recover(digest, sig, signer, NULL), 0);
  assert_hex(signer, 33, str(alg_obj, "signature_chain_0_recovers_to"));
}

/* The GetKey body of one algorithm name: key, chain[0], chain[1] (or "" without a KMS). */
static void check_get_key(const uint8_t app_key[32], const uint8_t *kms_sig, const cJSON *entry,
                          const char *alg_name, const cJSON *response) {
  th_key_alg alg;
  th_key_result r;
  const char *path = str(entry, "path"), *purpose = str(entry, "purpose");
  assert_int_equal(th_key_alg_parse(alg_name, 0, &alg, NULL), 0);
  assert_int_equal(th_key_get(app_key, kms_sig, path, strlen(path), purpose, strlen(purpose), alg,
                              &r, NULL),
                   0);
  const cJSON *chain = field(response, "signature_chain");
  assert_int_equal(cJSON_GetArraySize(chain), 2);
  assert_hex(r.key, 32, str(response, "key"));
  assert_hex(r.chain0, 65, cJSON_GetArrayItem(chain, 0)->valuestring);
  const char *chain1 = cJSON_GetArrayItem(chain, 1)->valuestring;
  assert_int_equal(r.has_chain1, *chain1 != '\0');
  if (r.has_chain1) assert_hex(r.chain1, 65, chain1);
  sodium_memzero(r.key, sizeof r.key);
}

static void entry_secp256k1(const uint8_t app_key[32], const uint8_t *kms_sig,
                            const cJSON *entry) {
  const cJSON *s = field(entry, "secp256k1");
  uint8_t key[32], pub[33], full[65];
  size_t pub_len;
  char addr[43];
  const char *path = str(entry, "path");
  assert_int_equal(th_key_hkdf(app_key, 32, path, strlen(path), key, NULL), 0);
  assert_hex(key, 32, str(entry, "derived_key"));
  assert_int_equal(th_key_public(TH_KEY_SECP256K1, key, pub, &pub_len, NULL), 0);
  assert_int_equal(pub_len, 33);
  assert_hex(pub, 33, str(s, "pubkey_compressed"));
  assert_int_equal(th_secp256k1_public_uncompressed(key, full, NULL), 0);
  assert_hex(full, 65, str(s, "pubkey_uncompressed"));
  assert_int_equal(th_evm_address(key, addr, NULL), 0);
  assert_string_equal(addr, str(s, "evm_address_eip55"));
  check_chain0(app_key, entry, s, pub, 33);
  const cJSON *alias;
  int n = 0;
  cJSON_ArrayForEach(alias, field(s, "algorithm_aliases")) {
    check_get_key(app_key, kms_sig, entry, alias->valuestring, field(s, "get_key_response"));
    n++;
  }
  assert_int_equal(n, 3);
}

static void entry_ed25519(const uint8_t app_key[32], const uint8_t *kms_sig, const cJSON *entry) {
  const cJSON *e = field(entry, "ed25519");
  uint8_t key[32], pub[33], keypair[64];
  size_t pub_len;
  char addr[45];
  const char *path = str(entry, "path");
  assert_int_equal(th_key_hkdf(app_key, 32, path, strlen(path), key, NULL), 0);
  assert_int_equal(th_key_public(TH_KEY_ED25519, key, pub, &pub_len, NULL), 0);
  assert_int_equal(pub_len, 32);
  assert_hex(pub, 32, str(e, "public_key"));
  memcpy(keypair, key, 32);
  memcpy(keypair + 32, pub, 32);
  assert_hex(keypair, 64, str(e, "solana_keypair_secret_key"));
  assert_int_equal(th_solana_address(key, addr, NULL), 0);
  assert_string_equal(addr, str(e, "solana_address_base58"));
  check_chain0(app_key, entry, e, pub, 32);
  check_get_key(app_key, kms_sig, entry, "ed25519", field(e, "get_key_response"));
}

static void get_key_every_entry(void **state) {
  (void)state;
  const cJSON *app, *entry;
  int n = 0;
  cJSON_ArrayForEach(app, apps()) {
    uint8_t app_key[32], kms_buf[65];
    vector_unhex(str(app, "app_key"), app_key, 32);
    const uint8_t *kms_sig = k256_signature(app, kms_buf);
    cJSON_ArrayForEach(entry, field(app, "entries")) {
      entry_secp256k1(app_key, kms_sig, entry);
      entry_ed25519(app_key, kms_sig, entry);
      n++;
    }
  }
  assert_int_equal(n, 16);
}

/* keys.json's kms_signature_check: the KMS message, its keccak, and the recovered root, which is
 * the constant of dstack's Go SDK test. */
static void kms_signature_recovers_to_the_root(void **state) {
  (void)state;
  const cJSON *app = app_named("upstream-simulator-appkeys");
  const cJSON *check = field(app, "kms_signature_check");
  uint8_t app_id[20], app_pub[33], msg[18 + 20 + 33], digest[32], sig[65], root[33];
  vector_unhex(str(check, "app_id"), app_id, 20);
  vector_unhex(str(app, "app_pubkey_compressed"), app_pub, 33);
  memcpy(msg, "dstack-kms-issued:", 18);
  memcpy(msg + 18, app_id, 20);
  memcpy(msg + 38, app_pub, 33);
  assert_hex(msg, sizeof msg, str(check, "message_hex"));
  th_keccak256(msg, sizeof msg, digest);
  assert_hex(digest, 32, str(check, "message_keccak256"));
  vector_unhex(str(check, "signature"), sig, 65);
  assert_hex(sig, 65, str(app, "k256_signature"));
  assert_int_equal(sig[64], field(check, "recovery_id")->valueint);
  assert_int_equal(th_secp256k1_recover(digest, sig, root, NULL), 0);
  assert_hex(root, 33, str(check, "recovered_kms_root_pubkey_compressed"));
  assert_hex(root, 33, str(field(app, "expected_from_upstream_go_test"),
                           "kms_root_pubkey_compressed"));
  /* A v outside 0..3 does not recover. */
  sig[64] = 27;
  th_err err = {0};
  assert_int_equal(th_secp256k1_recover(digest, sig, root, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_string_equal(err.message, "secp256k1: signature does not recover (v = 27)");
}

typedef struct chain_case {
  uint8_t pub[33];
  size_t pub_len;
  uint8_t chain0[65], chain1[65], app_id[20], root[33], app_pub[33];
  const char *purpose;
} chain_case;

static int verify(const chain_case *c, const char *purpose, th_err *err) {
  return th_key_verify_chain(purpose, strlen(purpose), c->pub, c->pub_len, c->chain0, c->chain1,
                             c->app_id, c->root, NULL, NULL, err);
}

static void assert_rejected(const chain_case *c, const char *purpose) {
  th_err err = {0};
  assert_int_equal(verify(c, purpose, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_non_null(strstr(err.message, "signature chain: "));
}

static void verify_chain_accepts_real_chains_and_rejects_tampering(void **state) {
  (void)state;
  const cJSON *app = app_named("upstream-simulator-appkeys"), *entry;
  static const char *const algs[] = {"secp256k1", "ed25519"};
  int n = 0;
  cJSON_ArrayForEach(entry, field(app, "entries")) {
    for (int a = 0; a < 2; a++) {
      const cJSON *o = field(entry, algs[a]);
      const cJSON *chain = field(field(o, "get_key_response"), "signature_chain");
      chain_case c;
      c.purpose = str(entry, "purpose");
      c.pub_len = a == 0 ? 33 : 32;
      vector_unhex(str(o, a == 0 ? "pubkey_compressed" : "public_key"), c.pub, c.pub_len);
      vector_unhex(cJSON_GetArrayItem(chain, 0)->valuestring, c.chain0, 65);
      vector_unhex(cJSON_GetArrayItem(chain, 1)->valuestring, c.chain1, 65);
      vector_unhex(str(field(app, "kms_signature_check"), "app_id"), c.app_id, 20);
      vector_unhex(str(field(app, "expected_from_upstream_go_test"), "kms_root_pubkey_compressed"),
                   c.root, 33);
      uint8_t app_pub[33], kms_pub[33];
      th_err err = {0};
      assert_int_equal(th_key_verify_chain(c.purpose, strlen(c.purpose), c.pub, c.pub_len,
                                           c.chain0, c.chain1, c.app_id, c.root, app_pub, kms_pub,
                                           &err),
                       0);
      assert_hex(app_pub, 33, str(app, "app_pubkey_compressed"));
      assert_memory_equal(kms_pub, c.root, 33);
      /* A wrong root: the message names both keys. */
      chain_case bad = c;
      bad.root[32] ^= 1;
      char want[256], got_hex[67], root_hex[67];
      th_hex_encode(c.root, 33, got_hex);
      th_hex_encode(bad.root, 33, root_hex);
      snprintf(want, sizeof want, "signature chain: signed by KMS key %s, not the trusted root %s",
               got_hex, root_hex);
      assert_int_equal(verify(&bad, c.purpose, &err), -1);
      assert_string_equal(err.message, want);
      /* Flipped bytes in either signature, a wrong purpose, another app id, another key. */
      for (size_t i = 0; i < 64; i += 21) {
        bad = c;
        bad.chain0[i] ^= 0x40;
        assert_rejected(&bad, c.purpose);
        bad = c;
        bad.chain1[i] ^= 0x40;
        assert_rejected(&bad, c.purpose);
      }
      bad = c;
      bad.chain0[64] ^= 1;
      assert_rejected(&bad, c.purpose);
      bad = c;
      bad.chain0[64] = 4;
      assert_int_equal(verify(&bad, c.purpose, &err), -1);
      assert_string_equal(err.message, "signature chain: app signature does not recover");
      bad = c;
      bad.chain1[64] = 4;
      assert_int_equal(verify(&bad, c.purpose, &err), -1);
      assert_string_equal(err.message, "signature chain: KMS signature does not recover");
      assert_rejected(&c, "wrong-purpose");
      bad = c;
      bad.app_id[0] ^= 1;
      assert_rejected(&bad, c.purpose);
      bad = c;
      bad.pub[5] ^= 1;
      assert_rejected(&bad, c.purpose);
      n++;
    }
  }
  assert_int_equal(n, 16);
}

/* Self-made: a simulator-style fresh KMS root signs an app key; the chain of a GetKey under that
 * app key verifies against the root's public key and no other. */
static void fresh_kms_root_signature_verifies(void **state) {
  (void)state;
  uint8_t root_key[32], root_pub[33], app_key[32], app_pub[33], app_id[20], kms_sig[65];
  size_t len;
  do randombytes_buf(root_key, 32);
  while (th_key_public(TH_KEY_SECP256K1, root_key, root_pub, &len, NULL) < 0);
  do randombytes_buf(app_key, 32);
  while (th_key_public(TH_KEY_SECP256K1, app_key, app_pub, &len, NULL) < 0);
  randombytes_buf(app_id, 20);
  assert_int_equal(th_key_kms_signature(root_key, app_id, app_pub, kms_sig, NULL), 0);
  assert_true(kms_sig[64] <= 1);
  for (int alg = 0; alg < 2; alg++) {
    th_key_result r;
    assert_int_equal(th_key_get(app_key, kms_sig, "p", 1, "use", 3, (th_key_alg)alg, &r, NULL), 0);
    assert_true(r.has_chain1);
    assert_memory_equal(r.chain1, kms_sig, 65);
    uint8_t got_app[33], got_kms[33];
    assert_int_equal(th_key_verify_chain("use", 3, r.pub, r.pub_len, r.chain0, r.chain1, app_id,
                                         root_pub, got_app, got_kms, NULL),
                     0);
    assert_memory_equal(got_app, app_pub, 33);
    assert_memory_equal(got_kms, root_pub, 33);
    root_pub[10] ^= 1;
    assert_int_equal(th_key_verify_chain("use", 3, r.pub, r.pub_len, r.chain0, r.chain1, app_id,
                                         root_pub, NULL, NULL, NULL),
                     -1);
    root_pub[10] ^= 1;
    sodium_memzero(r.key, sizeof r.key);
  }
}

/* ---- sign.json ---- */

static void sign_every_case(void **state) {
  (void)state;
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, field(sign_json, "cases")) {
    const cJSON *app = app_named(str(c, "app")), *resp = field(c, "response");
    th_key_alg alg, base;
    assert_int_equal(th_key_alg_parse(str(c, "algorithm"), 1, &alg, NULL), 0);
    assert_string_equal(th_key_alg_name(alg), str(c, "algorithm"));
    base = alg == TH_KEY_ED25519 ? TH_KEY_ED25519 : TH_KEY_SECP256K1;
    uint8_t app_key[32], kms_buf[65], sig[64];
    vector_unhex(str(app, "app_key"), app_key, 32);
    const uint8_t *kms_sig = k256_signature(app, kms_buf);
    th_key_result r;
    assert_int_equal(th_key_get(app_key, kms_sig, "vms", 3, "signing", 7, base, &r, NULL), 0);
    size_t len;
    uint8_t *data = vector_unhex_alloc(str(c, "data"), &len);
    assert_int_equal(th_key_sign(alg, r.key, data, len, sig, NULL), 0);
    assert_hex(sig, 64, str(resp, "signature"));
    assert_hex(r.pub, r.pub_len, str(resp, "public_key"));
    assert_int_equal(strlen(str(resp, "public_key")), 2 * r.pub_len);
    const cJSON *chain = field(resp, "signature_chain");
    assert_int_equal(cJSON_GetArraySize(chain), 3);
    assert_hex(sig, 64, cJSON_GetArrayItem(chain, 0)->valuestring);
    assert_hex(r.chain0, 65, cJSON_GetArrayItem(chain, 1)->valuestring);
    const char *c2 = cJSON_GetArrayItem(chain, 2)->valuestring;
    assert_int_equal(r.has_chain1, *c2 != '\0');
    if (r.has_chain1) assert_hex(r.chain1, 65, c2);
    /* Verify: valid, then invalid after one flipped bit of the signature or the data. */
    int valid = -1;
    assert_int_equal(th_key_verify(alg, data, len, sig, 64, r.pub, r.pub_len, &valid, NULL), 0);
    assert_int_equal(valid, 1);
    if (base == TH_KEY_SECP256K1) { /* the uncompressed key is accepted too */
      uint8_t full[65];
      assert_int_equal(th_secp256k1_public_uncompressed(r.key, full, NULL), 0);
      assert_int_equal(th_key_verify(alg, data, len, sig, 64, full, 65, &valid, NULL), 0);
      assert_int_equal(valid, 1);
    }
    sig[63] ^= 1;
    assert_int_equal(th_key_verify(alg, data, len, sig, 64, r.pub, r.pub_len, &valid, NULL), 0);
    assert_int_equal(valid, 0);
    sig[63] ^= 1;
    if (len) {
      data[0] ^= 0x80;
      assert_int_equal(th_key_verify(alg, data, len, sig, 64, r.pub, r.pub_len, &valid, NULL), 0);
      assert_int_equal(valid, 0);
    }
    free(data);
    sodium_memzero(r.key, sizeof r.key);
    n++;
  }
  assert_int_equal(n, 14);
}

/* secp256k1 signs SHA-256(data): the vectors' signed_digest, signed as prehashed, is the same
 * signature. */
static void secp256k1_signs_the_sha256_digest(void **state) {
  (void)state;
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, field(sign_json, "cases")) {
    if (strcmp(str(c, "algorithm"), "secp256k1") != 0) continue;
    uint8_t app_key[32], key[32], digest[32], sig[64];
    vector_unhex(str(app_named(str(c, "app")), "app_key"), app_key, 32);
    assert_int_equal(th_key_hkdf(app_key, 32, "vms", 3, key, NULL), 0);
    vector_unhex(str(c, "signed_digest"), digest, 32);
    assert_int_equal(th_key_sign(TH_KEY_SECP256K1_PREHASHED, key, digest, 32, sig, NULL), 0);
    assert_hex(sig, 64, str(field(c, "response"), "signature"));
    n++;
  }
  assert_int_equal(n, 6);
}

static void expect_error(int rc, const th_err *err, int code, const char *message) {
  assert_int_equal(rc, -1);
  assert_int_equal(err->code, code);
  assert_string_equal(err->message, message);
}

static void sign_and_verify_errors(void **state) {
  (void)state;
  uint8_t key[32], sig[64] = {0}, pub[65] = {0}, data[5] = {1, 2, 3, 4, 5};
  th_err err = {0};
  th_key_alg alg;
  int valid = -1;
  memset(key, 0x11, 32);
  expect_error(th_key_sign(TH_KEY_SECP256K1_PREHASHED, key, data, 5, sig, &err), &err, TH_EINVAL,
               "Pre-hashed signing requires a 32-byte digest, but received 5 bytes");
  expect_error(th_key_verify(TH_KEY_SECP256K1_PREHASHED, data, 5, sig, 64, pub, 33, &valid, &err),
               &err, TH_EINVAL,
               "Pre-hashed signing requires a 32-byte digest, but received 5 bytes");
  expect_error(th_key_verify(TH_KEY_ED25519, data, 5, sig, 64, pub, 31, &valid, &err), &err,
               TH_EINVAL, "invalid public key");
  expect_error(th_key_verify(TH_KEY_ED25519, data, 5, sig, 64, pub, 33, &valid, &err), &err,
               TH_EINVAL, "invalid public key");
  expect_error(th_key_verify(TH_KEY_SECP256K1, data, 5, sig, 64, pub, 32, &valid, &err), &err,
               TH_EINVAL, "invalid public key");
  pub[0] = 0x02; /* x = 0 is not on the curve */
  expect_error(th_key_verify(TH_KEY_SECP256K1, data, 5, sig, 64, pub, 33, &valid, &err), &err,
               TH_EINVAL, "invalid public key");
  expect_error(th_secp256k1_compress(pub, 33, pub, &err), &err, TH_EINVAL, "invalid public key");
  expect_error(th_key_verify(TH_KEY_SECP256K1, data, 5, sig, 63, pub, 33, &valid, &err), &err,
               TH_EINVAL, "invalid signature");
  assert_int_equal(valid, 0);
  expect_error(th_key_alg_parse("rsa", 1, &alg, &err), &err, TH_EINVAL, "Unsupported algorithm");
  expect_error(th_key_alg_parse("secp256k1_prehashed", 0, &alg, &err), &err, TH_EINVAL,
               "Unsupported algorithm");
  expect_error(th_key_alg_parse("Ed25519", 0, &alg, &err), &err, TH_EINVAL,
               "Unsupported algorithm");
}

static void invalid_scalar_is_refused(void **state) {
  (void)state;
  uint8_t zero[32] = {0}, pub[33], full[65], sig[65], digest[32] = {1};
  size_t len;
  char addr[43];
  th_err err = {0};
  expect_error(th_key_public(TH_KEY_SECP256K1, zero, pub, &len, &err), &err, TH_EINVAL,
               "Failed to parse k256 key");
  expect_error(th_secp256k1_public_uncompressed(zero, full, &err), &err, TH_EINVAL,
               "Failed to parse k256 key");
  expect_error(th_evm_address(zero, addr, &err), &err, TH_EINVAL, "Failed to parse k256 key");
  expect_error(th_secp256k1_sign_recoverable(zero, digest, sig, &err), &err, TH_EINVAL,
               "Failed to parse k256 key");
  expect_error(th_key_sign(TH_KEY_SECP256K1, zero, digest, 1, sig, &err), &err, TH_EINVAL,
               "Failed to parse k256 key");
  /* For ed25519 the 32 bytes are a seed: any value works. */
  assert_int_equal(th_key_public(TH_KEY_ED25519, zero, pub, &len, NULL), 0);
}

static void algorithm_names(void **state) {
  (void)state;
  static const struct {
    const char *name;
    th_key_alg alg;
  } ok[] = {{"secp256k1", TH_KEY_SECP256K1}, {"k256", TH_KEY_SECP256K1}, {"", TH_KEY_SECP256K1},
            {"ed25519", TH_KEY_ED25519}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    th_key_alg alg = TH_KEY_SECP256K1_PREHASHED;
    assert_int_equal(th_key_alg_parse(ok[i].name, 0, &alg, NULL), 0);
    assert_int_equal(alg, ok[i].alg);
  }
  assert_string_equal(th_key_alg_name(TH_KEY_SECP256K1), "secp256k1");
  assert_string_equal(th_key_alg_name(TH_KEY_ED25519), "ed25519");
  assert_string_equal(th_key_alg_name(TH_KEY_SECP256K1_PREHASHED), "secp256k1_prehashed");
}

/* ---- plugin-tee ---- */

static void eliza_derive_matches_plugin_tee(void **state) {
  (void)state;
  const cJSON *derived = field(eliza_json, "derived");
  size_t len;
  uint8_t *der = vector_unhex_alloc(str(eliza_json, "derive_key_der_hex"), &len);
  assert_int_equal(len, 138);
  char sol[45], evm[43];
  uint8_t seed[32], key[32];
  assert_int_equal(th_eliza_derive(der, len, sol, evm, seed, key, NULL), 0);
  assert_hex(seed, 32, str(derived, "solana_seed_sha256_der_hex"));
  assert_string_equal(sol, str(derived, "solana_public_key_base58"));
  assert_hex(key, 32, str(derived, "evm_private_key_keccak256_der_hex"));
  assert_string_equal(evm, str(derived, "evm_address_eip55"));
  char text[160];
  snprintf(text, sizeof text, "Solana Public Key: %s\nEVM Address: %s", sol, evm);
  assert_string_equal(text, str(derived, "provider_text"));
  /* The secrets are optional outputs. */
  memset(sol, 0, sizeof sol);
  assert_int_equal(th_eliza_derive(der, len, sol, evm, NULL, NULL, NULL), 0);
  assert_string_equal(sol, str(derived, "solana_public_key_base58"));
  der[len - 1] ^= 1;
  assert_int_equal(th_eliza_derive(der, len, sol, evm, NULL, NULL, NULL), 0);
  assert_string_not_equal(sol, str(derived, "solana_public_key_base58"));
  assert_string_not_equal(evm, str(derived, "evm_address_eip55"));
  free(der);
}

/* HKDF of any info length (dstack paths are not capped; OpenSSL 3.0's HKDF refuses long info):
 * checked against RFC 5869 computed with OpenSSL's HMAC, an independent implementation. */
static void hkdf_takes_long_paths(void **state) {
  (void)state;
  static const uint8_t ikm[32] = {7};
  size_t lens[] = {0, 5, 1024, 32768, 32769, 200000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t n = lens[i];
    uint8_t *info = malloc(n + 1), got[32], prk[32], want[32];
    unsigned int len = 32;
    memset(info, 'a', n);
    assert_int_equal(th_key_hkdf(ikm, sizeof ikm, info, n, got, NULL), 0);
    assert_non_null(HMAC(EVP_sha256(), "RATLS", 5, ikm, sizeof ikm, prk, &len));
    info[n] = 1;
    assert_non_null(HMAC(EVP_sha256(), prk, 32, info, n + 1, want, &len));
    assert_memory_equal(got, want, 32);
    free(info);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hkdf_takes_long_paths),
      cmocka_unit_test(app_public_keys_and_address),
      cmocka_unit_test(get_key_every_entry),
      cmocka_unit_test(kms_signature_recovers_to_the_root),
      cmocka_unit_test(verify_chain_accepts_real_chains_and_rejects_tampering),
      cmocka_unit_test(fresh_kms_root_signature_verifies),
      cmocka_unit_test(sign_every_case),
      cmocka_unit_test(secp256k1_signs_the_sha256_digest),
      cmocka_unit_test(sign_and_verify_errors),
      cmocka_unit_test(invalid_scalar_is_refused),
      cmocka_unit_test(algorithm_names),
      cmocka_unit_test(eliza_derive_matches_plugin_tee),
  };
  return cmocka_run_group_tests(tests, load, unload);
}
