/* core/phala_env.h — Phala Cloud / dstack encrypted environment variables and the KMS signature
 * on the env-encryption key (shared/specs/phala-cloud.md 5.1–5.4), on OpenSSL 3 and core/keys
 * (libsecp256k1 key recovery).
 *
 * encrypted_env, as dstack-sdk's encryptEnvVars makes it and dstack decrypts it in the CVM:
 *   plaintext = UTF-8 of JSON.stringify({env: [{key, value}, ...]}) (compact, JS escaping)
 *   shared    = X25519(ephemeral_sk, app env public key): the raw 32 bytes are the AES-256-GCM
 *               key (no KDF, no hashing); 12-byte random IV, no AAD, 16-byte tag appended
 *   result    = lowercase hex of ephemeral_pk (32) ‖ iv (12) ‖ ciphertext ‖ tag (16), no prefix
 * Stricter than upstream (section 5.1 weakness): the public key must be exactly 64 hex digits
 * after an optional "0x", and a key whose shared secret is zero (a low-order point) is refused.
 *
 * Secrets: the plaintext JSON lives in sodium_malloc memory, wiped when freed; the ephemeral
 * scalar and the shared secret are wiped (OPENSSL_cleanse) before a call returns. No message
 * holds a value. */
#ifndef TH_PHALA_ENV_H
#define TH_PHALA_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "dotenv.h"
#include "error.h"

#define TH_PHALA_ENV_OVERHEAD 60 /* ephemeral key 32 + IV 12 + tag 16 */

/* The plaintext: JSON.stringify({env: vars}) byte for byte (escapes \" \\ \b \f \n \r \t and
 * \u00xx for other control characters; everything else, U+007F and non-ASCII included, raw;
 * no vars gives {"env":[]}). Every pair must pass th_dotenv_check_var (TH_EINVAL otherwise).
 * *out is NUL-terminated, *out_len bytes, in sodium_malloc memory: sodium_free() it. */
int th_phala_env_json(const th_dotenv_var *vars, size_t count, char **out, size_t *out_len,
                      th_err *err);

/* The app's env-encryption public key from its hex (64 digits, either case, optional "0x"):
 * TH_EBADDATA "env public key: expected 64 hex digits, got 63" or "...: bad hex digit 'g' at 5". */
int th_phala_env_public_key_from_hex(const char *hex, uint8_t key[32], th_err *err);

/* encryptEnvVars(vars, public_key_hex) with a fresh ephemeral key and IV from OpenSSL's RNG.
 * *out_hex is malloc'd (free()), NUL-terminated, 2 * (60 + plaintext bytes) digits. Errors:
 * those of th_phala_env_json and th_phala_env_public_key_from_hex, TH_EBADDATA "env public
 * key: low-order point (the shared secret would be zero)", TH_ENOMEM. */
int th_phala_env_encrypt(const th_dotenv_var *vars, size_t count, const char *public_key_hex,
                         char **out_hex, th_err *err);

/* For known-answer tests only: the same with the ephemeral private key and the IV given. Never
 * use it for real secrets (a reused IV with the same key breaks AES-GCM). */
int th_phala_env_encrypt_fixed(const th_dotenv_var *vars, size_t count, const char *public_key_hex,
                               const uint8_t ephemeral_sk[32], const uint8_t iv[12], char **out_hex,
                               th_err *err);

/* What dstack does in the CVM (and the fake server in the tests): decrypts len hex digits with
 * the app's env private key and returns the plaintext JSON, not parsed, NUL-terminated,
 * in sodium_malloc memory (sodium_free()). Errors:
 *   TH_EBADDATA "encrypted_env: odd number of hex digits (87)", "...: bad hex digit ...",
 *               "encrypted_env: 44 bytes is too short (ephemeral key 32 + IV 12 + tag 16 = 60)",
 *               "encrypted_env: ephemeral key is a low-order point (the shared secret would be
 *               zero)"
 *   TH_EVERIFY  "encrypted_env: authentication failed (wrong key, or the data was altered)". */
int th_phala_env_decrypt(const char *hex, size_t len, const uint8_t private_key[32],
                         char **plaintext, size_t *plaintext_len, th_err *err);

/* The X25519 public key of an env private key (what the server publishes). */
int th_phala_env_public_key(const uint8_t private_key[32], uint8_t public_key[32], th_err *err);

/* Section 5.4, verifyEnvEncryptPublicKey: recovers the secp256k1 key that signed
 * keccak256("dstack-env-encrypt-pubkey" ‖ ":" ‖ app_id ‖ public_key) with signature r ‖ s ‖ v
 * (v = recovery id 0..3), as a compressed SEC1 key. Recovering a key proves nothing by itself:
 * compare it with the trusted KMS signer (th_phala_env_check_kms_signature does).
 * TH_EVERIFY "KMS signature: recovery id 27 out of range (0..3)" or "KMS signature: no key
 * recovers from it" (r or s out of range, or no curve point). */
int th_phala_env_kms_signer(const uint8_t app_id[20], const uint8_t public_key[32],
                            const uint8_t signature[65], uint8_t signer[33], th_err *err);

/* The check teehost makes before encrypting to a key an on-chain KMS handed out: app_id (40 hex
 * digits), public_key (64) and signature (130) as the KMS reply carries them (either case,
 * optional "0x"), and the signer must equal trusted_signer (compressed SEC1, from the KMS
 * contract). 0 when it does; TH_EBADDATA for malformed hex ("KMS signature: expected 130 hex
 * digits, got 128"); TH_EVERIFY "KMS signature: signed by 0x02bb…9e67, not by the trusted KMS
 * signer 0x0217…c38f" (both keys in full). */
int th_phala_env_check_kms_signature(const char *app_id_hex, const char *public_key_hex,
                                     const char *signature_hex, const uint8_t trusted_signer[33],
                                     th_err *err);

#endif
