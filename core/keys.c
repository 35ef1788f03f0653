/* core/keys.c — see keys.h. Derivation (HKDF), the app/KMS signature chain, Sign/Verify and the
 * EVM/Solana addresses of dstack keys.
 *
 * libsecp256k1 contexts: parsing, verification and recovery use the library's constant
 * secp256k1_context_static; key generation and signing need a context of their own, which is made
 * per call in a stack buffer (secp256k1_context_preallocated_create: in 0.2 that is a ~200-byte
 * copy with no table building and no allocation) — no global state and no malloc. */
#include "keys.h"

#include <stdalign.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <secp256k1.h>
#include <secp256k1_preallocated.h>
#include <secp256k1_recovery.h>
#include <sodium.h>

#include "base58.h"
#include "hex.h"
#include "keccak.h"

/* ---- libsecp256k1 signing contexts on the stack ---- */

typedef struct sign_ctx_mem {
  alignas(max_align_t) unsigned char buf[512];
} sign_ctx_mem;

/* A signing context in mem (or, should a future libsecp256k1 need more than 512 bytes, on the
 * heap); NULL when the heap fails. Free with sign_ctx_free. */
static secp256k1_context *sign_ctx(sign_ctx_mem *mem) {
  if (secp256k1_context_preallocated_size(SECP256K1_CONTEXT_NONE) <= sizeof mem->buf)
    return secp256k1_context_preallocated_create(mem->buf, SECP256K1_CONTEXT_NONE);
  return secp256k1_context_create(SECP256K1_CONTEXT_NONE);
}

static void sign_ctx_free(secp256k1_context *ctx, sign_ctx_mem *mem) {
  if (!ctx) return;
  if ((void *)ctx == (void *)mem->buf) {
    secp256k1_context_preallocated_destroy(ctx);
    sodium_memzero(mem->buf, sizeof mem->buf);
  } else {
    secp256k1_context_destroy(ctx);
  }
}

#define STATIC_CTX secp256k1_context_static

/* ---- ed25519 ---- */

/* The RFC 8032 key pair of a seed: pk (32) and libsodium's 64-byte secret key (seed ‖ pk), which
 * the caller wipes. libsodium wants sodium_init first (cheap once done). */
static int ed25519_keypair(const uint8_t seed[32], uint8_t pk[32],
                           uint8_t sk[crypto_sign_SECRETKEYBYTES], th_err *err) {
  if (sodium_init() < 0) return th_err_set(err, TH_ENOMEM, "ed25519: libsodium init failed");
  crypto_sign_seed_keypair(pk, sk, seed);
  return 0;
}

/* ---- algorithms ---- */

int th_key_alg_parse(const char *name, int allow_prehashed, th_key_alg *alg, th_err *err) {
  if (!name || !*name || strcmp(name, "secp256k1") == 0 || strcmp(name, "k256") == 0)
    *alg = TH_KEY_SECP256K1;
  else if (strcmp(name, "ed25519") == 0)
    *alg = TH_KEY_ED25519;
  else if (allow_prehashed && strcmp(name, "secp256k1_prehashed") == 0)
    *alg = TH_KEY_SECP256K1_PREHASHED;
  else
    return th_err_set(err, TH_EINVAL, "Unsupported algorithm");
  return 0;
}

const char *th_key_alg_name(th_key_alg alg) {
  switch (alg) {
  case TH_KEY_ED25519: return "ed25519";
  case TH_KEY_SECP256K1_PREHASHED: return "secp256k1_prehashed";
  case TH_KEY_SECP256K1: break;
  }
  return "secp256k1";
}

/* ---- HKDF ---- */

/* RFC 5869 with one output block (L = 32 = HashLen): PRK = HMAC(salt, IKM), OKM = HMAC(PRK,
 * info ‖ 0x01). Written on libsodium's streaming HMAC-SHA256 rather than OpenSSL's HKDF because
 * OpenSSL 3.0 caps `info` at 1 KiB-32 KiB depending on the path, while dstack derives from paths
 * of any length (the agent takes 10 MiB bodies). The test vectors pin the result. */
int th_key_hkdf(const uint8_t *ikm, size_t ikm_len, const void *info, size_t info_len,
                uint8_t out[32], th_err *err) {
  static const uint8_t salt[] = "RATLS", one = 1;
  uint8_t prk[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  if (sodium_init() < 0) return th_err_set(err, TH_ENOMEM, "HKDF: libsodium failed to initialise");
  crypto_auth_hmacsha256_init(&st, salt, sizeof salt - 1);
  crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
  crypto_auth_hmacsha256_final(&st, prk);
  crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
  crypto_auth_hmacsha256_update(&st, info, info_len);
  crypto_auth_hmacsha256_update(&st, &one, 1);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(prk, sizeof prk);
  sodium_memzero(&st, sizeof st);
  return 0;
}

/* ---- secp256k1 ---- */

/* The public key of a secret scalar. */
static int secp_pubkey(const uint8_t secret[32], secp256k1_pubkey *pub, th_err *err) {
  if (!secp256k1_ec_seckey_verify(STATIC_CTX, secret))
    return th_err_set(err, TH_EINVAL, "Failed to parse k256 key");
  sign_ctx_mem mem;
  secp256k1_context *ctx = sign_ctx(&mem);
  int ok = ctx && secp256k1_ec_pubkey_create(ctx, pub, secret);
  sign_ctx_free(ctx, &mem);
  if (!ctx) return th_err_set(err, TH_ENOMEM, "secp256k1: cannot create a context");
  if (!ok) return th_err_set(err, TH_EINVAL, "Failed to parse k256 key");
  return 0;
}

static void secp_serialize(const secp256k1_pubkey *pub, uint8_t *out, size_t len) {
  secp256k1_ec_pubkey_serialize(STATIC_CTX, out, &len, pub,
                                len == 33 ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED);
}

int th_secp256k1_public_uncompressed(const uint8_t secret[32], uint8_t out[65], th_err *err) {
  secp256k1_pubkey pub;
  if (secp_pubkey(secret, &pub, err) < 0) return -1;
  secp_serialize(&pub, out, 65);
  return 0;
}

int th_secp256k1_compress(const uint8_t *pub, size_t len, uint8_t out[33], th_err *err) {
  secp256k1_pubkey p;
  if ((len != 33 && len != 65) || !secp256k1_ec_pubkey_parse(STATIC_CTX, &p, pub, len))
    return th_err_set(err, TH_EINVAL, "invalid public key");
  secp_serialize(&p, out, 33);
  return 0;
}

int th_key_public(th_key_alg alg, const uint8_t secret[32], uint8_t pub[33], size_t *pub_len,
                  th_err *err) {
  if (alg == TH_KEY_ED25519) {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    int rc = ed25519_keypair(secret, pub, sk, err);
    sodium_memzero(sk, sizeof sk);
    *pub_len = 32;
    return rc;
  }
  secp256k1_pubkey p;
  if (secp_pubkey(secret, &p, err) < 0) return -1;
  secp_serialize(&p, pub, 33);
  *pub_len = 33;
  return 0;
}

int th_secp256k1_sign_recoverable(const uint8_t secret[32], const uint8_t digest[32],
                                  uint8_t sig[65], th_err *err) {
  sign_ctx_mem mem;
  secp256k1_context *ctx = sign_ctx(&mem);
  secp256k1_ecdsa_recoverable_signature s;
  int recid = 0;
  /* NULL nonce function: RFC 6979 with HMAC-SHA256; libsecp256k1 always emits low-s. */
  int ok = ctx && secp256k1_ecdsa_sign_recoverable(ctx, &s, digest, secret, NULL, NULL) &&
           secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &s);
  sign_ctx_free(ctx, &mem);
  if (!ctx) return th_err_set(err, TH_ENOMEM, "secp256k1: cannot create a context");
  if (!ok) return th_err_set(err, TH_EINVAL, "Failed to parse k256 key");
  sig[64] = (uint8_t)recid;
  return 0;
}

int th_secp256k1_recover(const uint8_t digest[32], const uint8_t sig[65], uint8_t pub[33],
                         th_err *err) {
  secp256k1_ecdsa_recoverable_signature s;
  secp256k1_pubkey p;
  if (sig[64] > 3 ||
      !secp256k1_ecdsa_recoverable_signature_parse_compact(STATIC_CTX, &s, sig, sig[64]) ||
      !secp256k1_ecdsa_recover(STATIC_CTX, &p, &s, digest))
    return th_err_set(err, TH_EVERIFY, "secp256k1: signature does not recover (v = %u)", sig[64]);
  secp_serialize(&p, pub, 33);
  return 0;
}

/* ---- Sign / Verify ---- */

static int secp_sign(const uint8_t secret[32], const uint8_t digest[32], uint8_t sig[64],
                     th_err *err) {
  if (!secp256k1_ec_seckey_verify(STATIC_CTX, secret))
    return th_err_set(err, TH_EINVAL, "Failed to parse k256 key");
  sign_ctx_mem mem;
  secp256k1_context *ctx = sign_ctx(&mem);
  secp256k1_ecdsa_signature s;
  int ok = ctx && secp256k1_ecdsa_sign(ctx, &s, digest, secret, NULL, NULL) &&
           secp256k1_ecdsa_signature_serialize_compact(ctx, sig, &s);
  sign_ctx_free(ctx, &mem);
  if (!ctx) return th_err_set(err, TH_ENOMEM, "secp256k1: cannot create a context");
  if (!ok) return th_err_set(err, TH_EINVAL, "Failed to parse k256 key");
  return 0;
}

static int prehashed_len_ok(size_t len, th_err *err) {
  if (len == 32) return 0;
  return th_err_set(err, TH_EINVAL,
                    "Pre-hashed signing requires a 32-byte digest, but received %zu bytes", len);
}

int th_key_sign(th_key_alg alg, const uint8_t secret[32], const uint8_t *data, size_t len,
                uint8_t sig[64], th_err *err) {
  uint8_t digest[32];
  switch (alg) {
  case TH_KEY_ED25519: {
    uint8_t pk[32], sk[crypto_sign_SECRETKEYBYTES];
    int rc = ed25519_keypair(secret, pk, sk, err);
    if (rc == 0) crypto_sign_detached(sig, NULL, data, len, sk);
    sodium_memzero(sk, sizeof sk);
    return rc;
  }
  case TH_KEY_SECP256K1_PREHASHED:
    if (prehashed_len_ok(len, err) < 0) return -1;
    return secp_sign(secret, data, sig, err);
  case TH_KEY_SECP256K1: break;
  }
  SHA256(data, len, digest);
  return secp_sign(secret, digest, sig, err);
}

/* ECDSA verification; a signature whose r or s is out of range, or whose s is high (k256 and
 * libsecp256k1 both accept only low-s), does not verify. */
static int secp_verify(const uint8_t digest[32], const uint8_t sig[64], const uint8_t *pub,
                       size_t pub_len, int *valid, th_err *err) {
  secp256k1_pubkey p;
  secp256k1_ecdsa_signature s;
  if ((pub_len != 33 && pub_len != 65) || !secp256k1_ec_pubkey_parse(STATIC_CTX, &p, pub, pub_len))
    return th_err_set(err, TH_EINVAL, "invalid public key");
  *valid = secp256k1_ecdsa_signature_parse_compact(STATIC_CTX, &s, sig) &&
           secp256k1_ecdsa_verify(STATIC_CTX, &s, digest, &p);
  return 0;
}

int th_key_verify(th_key_alg alg, const uint8_t *data, size_t len, const uint8_t *sig,
                  size_t sig_len, const uint8_t *pub, size_t pub_len, int *valid, th_err *err) {
  uint8_t digest[32];
  *valid = 0;
  if (sig_len != 64) return th_err_set(err, TH_EINVAL, "invalid signature");
  switch (alg) {
  case TH_KEY_ED25519:
    if (pub_len != 32) return th_err_set(err, TH_EINVAL, "invalid public key");
    if (sodium_init() < 0) return th_err_set(err, TH_ENOMEM, "ed25519: libsodium init failed");
    *valid = crypto_sign_verify_detached(sig, data, len, pub) == 0;
    return 0;
  case TH_KEY_SECP256K1_PREHASHED:
    if (prehashed_len_ok(len, err) < 0) return -1;
    return secp_verify(data, sig, pub, pub_len, valid, err);
  case TH_KEY_SECP256K1: break;
  }
  SHA256(data, len, digest);
  return secp_verify(digest, sig, pub, pub_len, valid, err);
}

/* ---- addresses ---- */

void th_evm_address_from_public(const uint8_t uncompressed[65], char out[43]) {
  uint8_t h[32];
  th_keccak256(uncompressed + 1, 64, h);
  out[0] = '0';
  out[1] = 'x';
  th_hex_encode(h + 12, 20, out + 2);
  /* EIP-55: upper-case hex letter i when nibble i of keccak256(lowercase hex) is >= 8. */
  th_keccak256(out + 2, 40, h);
  for (size_t i = 0; i < 40; i++) {
    unsigned nibble = i % 2 ? h[i / 2] & 0x0f : h[i / 2] >> 4;
    char *c = &out[2 + i];
    if (nibble >= 8 && *c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A');
  }
}

int th_evm_address(const uint8_t secret[32], char out[43], th_err *err) {
  uint8_t pub[65];
  if (th_secp256k1_public_uncompressed(secret, pub, err) < 0) return -1;
  th_evm_address_from_public(pub, out);
  return 0;
}

int th_solana_address(const uint8_t seed[32], char out[45], th_err *err) {
  uint8_t pk[32], sk[crypto_sign_SECRETKEYBYTES];
  int rc = ed25519_keypair(seed, pk, sk, err);
  sodium_memzero(sk, sizeof sk);
  if (rc < 0) return -1;
  return th_base58_encode(pk, 32, out, 45, NULL, err);
}

/* ---- the signature chain ---- */

/* keccak256(purpose ‖ ":" ‖ lowercase hex(pub)). */
static int app_digest(const char *purpose, size_t purpose_len, const uint8_t *pub, size_t pub_len,
                      uint8_t digest[32], th_err *err) {
  char hex[2 * 65 + 1];
  if (pub_len == 0 || pub_len > 65)
    return th_err_set(err, TH_EINVAL, "signature chain: public key of %zu bytes", pub_len);
  th_hex_encode(pub, pub_len, hex);
  th_keccak256_ctx k;
  th_keccak256_init(&k);
  th_keccak256_update(&k, purpose, purpose_len);
  th_keccak256_update(&k, ":", 1);
  th_keccak256_update(&k, hex, 2 * pub_len);
  th_keccak256_final(&k, digest);
  return 0;
}

/* keccak256("dstack-kms-issued:" ‖ app_id ‖ app_pub). */
static void kms_digest(const uint8_t app_id[20], const uint8_t app_pub[33], uint8_t digest[32]) {
  static const char tag[] = "dstack-kms-issued:";
  th_keccak256_ctx k;
  th_keccak256_init(&k);
  th_keccak256_update(&k, tag, sizeof tag - 1);
  th_keccak256_update(&k, app_id, 20);
  th_keccak256_update(&k, app_pub, 33);
  th_keccak256_final(&k, digest);
}

int th_key_app_signature(const uint8_t app_key[32], const char *purpose, size_t purpose_len,
                         const uint8_t *pub, size_t pub_len, uint8_t sig[65], th_err *err) {
  uint8_t digest[32];
  if (app_digest(purpose, purpose_len, pub, pub_len, digest, err) < 0) return -1;
  return th_secp256k1_sign_recoverable(app_key, digest, sig, err);
}

int th_key_kms_signature(const uint8_t kms_root_key[32], const uint8_t app_id[20],
                         const uint8_t app_pub[33], uint8_t sig[65], th_err *err) {
  uint8_t digest[32];
  kms_digest(app_id, app_pub, digest);
  return th_secp256k1_sign_recoverable(kms_root_key, digest, sig, err);
}

int th_key_verify_chain(const char *purpose, size_t purpose_len, const uint8_t *pub,
                        size_t pub_len, const uint8_t chain0[65], const uint8_t chain1[65],
                        const uint8_t app_id[20], const uint8_t *kms_root,
                        uint8_t app_pub_out[33], uint8_t kms_pub_out[33], th_err *err) {
  uint8_t digest[32], app_pub[33], kms_pub[33];
  if (app_digest(purpose, purpose_len, pub, pub_len, digest, err) < 0) return -1;
  if (th_secp256k1_recover(digest, chain0, app_pub, NULL) < 0)
    return th_err_set(err, TH_EVERIFY, "signature chain: app signature does not recover");
  kms_digest(app_id, app_pub, digest);
  if (th_secp256k1_recover(digest, chain1, kms_pub, NULL) < 0)
    return th_err_set(err, TH_EVERIFY, "signature chain: KMS signature does not recover");
  if (kms_root && memcmp(kms_pub, kms_root, 33) != 0) {
    char got[67], want[67];
    th_hex_encode(kms_pub, 33, got);
    th_hex_encode(kms_root, 33, want);
    return th_err_set(err, TH_EVERIFY,
                      "signature chain: signed by KMS key %s, not the trusted root %s", got, want);
  }
  if (app_pub_out) memcpy(app_pub_out, app_pub, 33);
  if (kms_pub_out) memcpy(kms_pub_out, kms_pub, 33);
  return 0;
}

/* ---- GetKey ---- */

int th_key_get(const uint8_t app_key[32], const uint8_t *k256_signature, const char *path,
               size_t path_len, const char *purpose, size_t purpose_len, th_key_alg alg,
               th_key_result *out, th_err *err) {
  th_key_alg base = alg == TH_KEY_ED25519 ? TH_KEY_ED25519 : TH_KEY_SECP256K1;
  if (th_key_hkdf(app_key, 32, path, path_len, out->key, err) < 0 ||
      th_key_public(base, out->key, out->pub, &out->pub_len, err) < 0 ||
      th_key_app_signature(app_key, purpose, purpose_len, out->pub, out->pub_len, out->chain0,
                           err) < 0) {
    sodium_memzero(out->key, sizeof out->key);
    return -1;
  }
  out->has_chain1 = k256_signature != NULL;
  if (k256_signature)
    memcpy(out->chain1, k256_signature, 65);
  else
    memset(out->chain1, 0, 65);
  return 0;
}

/* ---- elizaOS plugin-tee ---- */

int th_eliza_derive(const uint8_t *der, size_t der_len, char solana_address[45],
                    char evm_address[43], uint8_t solana_seed[32], uint8_t evm_key[32],
                    th_err *err) {
  uint8_t seed[32], key[32];
  SHA256(der, der_len, seed);
  th_keccak256(der, der_len, key);
  int rc = th_solana_address(seed, solana_address, err) < 0 ||
                   th_evm_address(key, evm_address, err) < 0
               ? -1
               : 0;
  if (rc == 0 && solana_seed) memcpy(solana_seed, seed, 32);
  if (rc == 0 && evm_key) memcpy(evm_key, key, 32);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(key, sizeof key);
  return rc;
}
