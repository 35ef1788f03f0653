/* core/keys.h — dstack's key derivation and the keys it hands out (shared/specs/dstack.md
 * sections 2.1, 2.7, 2.8, 4 and 9; shared/specs/eliza-tee.md 4.2).
 *
 * secp256k1 on libsecp256k1 (recoverable signatures, RFC 6979 nonces, low-s), ed25519 on
 * libsodium (the 32 derived bytes are the RFC 8032 seed), HKDF-SHA256 on OpenSSL, keccak-256 from
 * core/keccak, base58 from core/base58. Nothing here keeps state between calls: a libsecp256k1
 * signing context is made per call in a stack buffer (0.6 µs: libsecp256k1 0.2 ships its tables
 * precomputed; not randomized, which would cost 33 µs a call), parsing, verification and recovery
 * use secp256k1_context_static. The only allocation is OpenSSL's HKDF context in th_key_hkdf
 * (fetch + derive ≈ 3 µs).
 *
 * Secrets: every function that takes a secret takes a pointer the caller owns (the bindings keep
 * them in sodium_malloc memory); intermediate secrets on the stack are wiped (sodium_memzero)
 * before return. No message ever contains a secret.
 *
 * Errors: -1 with th_err; the messages that the simulator returns as HTTP 400 bodies are the
 * agent's own (spec 1.6): "Unsupported algorithm", "Pre-hashed signing requires a 32-byte digest,
 * but received N bytes", "invalid public key", "Failed to parse k256 key". */
#ifndef TH_KEYS_H
#define TH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum th_key_alg {
  TH_KEY_SECP256K1 = 0,
  TH_KEY_ED25519 = 1,
  TH_KEY_SECP256K1_PREHASHED = 2 /* Sign/Verify only */
} th_key_alg;

/* GetKey's algorithm names: "secp256k1", "k256" and "" -> TH_KEY_SECP256K1; "ed25519" ->
 * TH_KEY_ED25519. With allow_prehashed (Sign/Verify) also "secp256k1_prehashed". Anything else:
 * -1, TH_EINVAL "Unsupported algorithm". */
int th_key_alg_parse(const char *name, int allow_prehashed, th_key_alg *alg, th_err *err);
const char *th_key_alg_name(th_key_alg alg); /* "secp256k1", "ed25519", "secp256k1_prehashed" */

/* HKDF-SHA256 with salt "RATLS" (RFC 5869): out = HKDF(ikm, "RATLS", info, 32). Fails only when
 * OpenSSL does (TH_ENOMEM "HKDF: cannot create an OpenSSL HKDF context", TH_EINVAL "HKDF:
 * derivation failed"). */
int th_key_hkdf(const uint8_t *ikm, size_t ikm_len, const void *info, size_t info_len,
                uint8_t out[32], th_err *err);

/* The public key of a derived secret: secp256k1 -> 33-byte compressed SEC1 (pub_len 33),
 * ed25519 -> 32 bytes. A secret that is not a valid secp256k1 scalar fails with TH_EINVAL
 * "Failed to parse k256 key". */
int th_key_public(th_key_alg alg, const uint8_t secret[32], uint8_t pub[33], size_t *pub_len,
                  th_err *err);
/* 65-byte uncompressed (0x04 ‖ X ‖ Y) secp256k1 public key of a secret. */
int th_secp256k1_public_uncompressed(const uint8_t secret[32], uint8_t out[65], th_err *err);
/* Parses a 33- or 65-byte SEC1 secp256k1 key and writes its compressed form. */
int th_secp256k1_compress(const uint8_t *pub, size_t len, uint8_t out[33], th_err *err);

/* Recoverable ECDSA over a 32-byte digest: r (32) ‖ s (32) ‖ v (1, 0 or 1); RFC 6979, low-s. */
int th_secp256k1_sign_recoverable(const uint8_t secret[32], const uint8_t digest[32],
                                  uint8_t sig[65], th_err *err);
/* Recovers the compressed signer key of a 65-byte signature over digest; TH_EVERIFY
 * "secp256k1: signature does not recover (v = N)" when it does not (v not 0..3, r/s out of
 * range, no point). */
int th_secp256k1_recover(const uint8_t digest[32], const uint8_t sig[65], uint8_t pub[33],
                         th_err *err);

/* dstack's Sign (spec 2.7): secp256k1 signs SHA-256(data) (64 bytes r‖s, RFC 6979, low-s);
 * secp256k1_prehashed signs data itself (must be 32 bytes, else TH_EINVAL "Pre-hashed signing
 * requires a 32-byte digest, but received N bytes"); ed25519 signs data (64 bytes).
 * Writes 64 bytes to sig. */
int th_key_sign(th_key_alg alg, const uint8_t secret[32], const uint8_t *data, size_t len,
                uint8_t sig[64], th_err *err);
/* dstack's Verify (spec 2.8): *valid = 1/0. Malformed sizes are errors (TH_EINVAL): signature not
 * 64 bytes ("invalid signature"), secp256k1 key not a 33/65-byte point or ed25519 key not 32
 * bytes ("invalid public key"), prehashed data not 32 bytes (the Sign message). A secp256k1
 * signature with r or s out of range or a high s (k256 and libsecp256k1 accept only low-s) is
 * valid = 0, not an error. */
int th_key_verify(th_key_alg alg, const uint8_t *data, size_t len, const uint8_t *sig,
                  size_t sig_len, const uint8_t *pub, size_t pub_len, int *valid, th_err *err);

/* Addresses. EVM: "0x" + EIP-55 checksummed hex of the last 20 bytes of keccak256(X ‖ Y); out
 * holds 43 bytes with the NUL. Solana: base58 (Bitcoin alphabet) of the 32-byte ed25519 public
 * key; out holds at least 45 bytes with the NUL. */
void th_evm_address_from_public(const uint8_t uncompressed[65], char out[43]);
int th_evm_address(const uint8_t secret[32], char out[43], th_err *err);
int th_solana_address(const uint8_t seed[32], char out[45], th_err *err);

/* The signature chain (spec 4.2, 4.3).
 * chain[0]: the app key's recoverable signature over keccak256(purpose ‖ ":" ‖ hex(pub)).
 * chain[1]: the KMS root's over keccak256("dstack-kms-issued:" ‖ app_id(20) ‖ app_pub(33)). */
int th_key_app_signature(const uint8_t app_key[32], const char *purpose, size_t purpose_len,
                         const uint8_t *pub, size_t pub_len, uint8_t sig[65], th_err *err);
int th_key_kms_signature(const uint8_t kms_root_key[32], const uint8_t app_id[20],
                         const uint8_t app_pub[33], uint8_t sig[65], th_err *err);

/* Verifies a chain (spec 4.3): recovers the app key from chain0 over (purpose, pub), then the KMS
 * key from chain1 over (app_id, app key). With kms_root (33 bytes compressed) given, the recovered
 * KMS key must equal it. Fills the recovered keys when the out pointers are not NULL (only on
 * success). pub is 1..65 bytes (else TH_EINVAL). Errors, TH_EVERIFY: "signature chain: app
 * signature does not recover", "signature chain: KMS signature does not recover", "signature
 * chain: signed by KMS key <66 hex digits>, not the trusted root <66 hex digits>". A tampered
 * chain usually still recovers, to some other key: only the root comparison catches it, so
 * verifying without kms_root proves nothing about the KMS. */
int th_key_verify_chain(const char *purpose, size_t purpose_len, const uint8_t *pub,
                        size_t pub_len, const uint8_t chain0[65], const uint8_t chain1[65],
                        const uint8_t app_id[20], const uint8_t *kms_root /* 33 or NULL */,
                        uint8_t app_pub_out[33], uint8_t kms_pub_out[33], th_err *err);

/* GetKey as the agent computes it (spec 2.1): key = HKDF(app_key, path); chain0 over the derived
 * public key of alg (TH_KEY_SECP256K1_PREHASHED counts as secp256k1, as in Sign); chain1 = a copy
 * of k256_signature (65 bytes) or absent (NULL: has_chain1 0, chain1 zeroed). On failure key is
 * wiped. */
typedef struct th_key_result {
  uint8_t key[32]; /* secret: the caller wipes it */
  uint8_t pub[33];
  size_t pub_len;
  uint8_t chain0[65];
  uint8_t chain1[65];
  int has_chain1;
} th_key_result;
int th_key_get(const uint8_t app_key[32], const uint8_t *k256_signature /* 65 or NULL */,
               const char *path, size_t path_len, const char *purpose, size_t purpose_len,
               th_key_alg alg, th_key_result *out, th_err *err);

/* elizaOS plugin-tee's phala-derive-key provider (eliza-tee.md 4.2) from the PKCS#8 DER of a
 * DeriveKey reply: solana seed = SHA-256(der), address base58 of its ed25519 public key; EVM key
 * = keccak256(der), address EIP-55. Out-pointers for the secrets may be NULL. */
int th_eliza_derive(const uint8_t *der, size_t der_len, char solana_address[45],
                    char evm_address[43], uint8_t solana_seed[32], uint8_t evm_key[32],
                    th_err *err);

#endif
