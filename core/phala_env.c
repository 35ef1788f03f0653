/* core/phala_env.c — see phala_env.h. */
#include "phala_env.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "keccak.h"
#include "keys.h"

/* ---- the plaintext: JSON.stringify ------------------------------------------------------- */

/* Output that is either written (out set) or only measured (out NULL), so that one walk sizes
 * the secure buffer and a second fills it. */
typedef struct sink {
  char *out;
  size_t n;
} sink;

static void put(sink *k, const char *s, size_t len) {
  if (k->out) memcpy(k->out + k->n, s, len);
  k->n += len;
}

/* s as JS's QuoteJSONString writes it. s is valid UTF-8 (checked), so there is no lone
 * surrogate to escape and every byte >= 0x20 other than " and \ goes out raw. */
static void put_json_string(sink *k, const char *s) {
  static const char hex[] = "0123456789abcdef";
  put(k, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    const char *esc = *p == '"'    ? "\\\""
                      : *p == '\\' ? "\\\\"
                      : *p == '\b' ? "\\b"
                      : *p == '\f' ? "\\f"
                      : *p == '\n' ? "\\n"
                      : *p == '\r' ? "\\r"
                      : *p == '\t' ? "\\t"
                                   : NULL;
    if (esc) {
      put(k, esc, 2);
    } else if (*p < 0x20) {
      char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
      put(k, u, 6);
    } else {
      put(k, (const char *)p, 1);
    }
  }
  put(k, "\"", 1);
}

static void put_env(sink *k, const th_dotenv_var *vars, size_t count) {
  put(k, "{\"env\":[", 8);
  for (size_t i = 0; i < count; i++) {
    put(k, i ? ",{\"key\":" : "{\"key\":", i ? 8 : 7);
    put_json_string(k, vars[i].name);
    put(k, ",\"value\":", 9);
    put_json_string(k, vars[i].value);
    put(k, "}", 1);
  }
  put(k, "]}", 2);
}

int th_phala_env_json(const th_dotenv_var *vars, size_t count, char **out, size_t *out_len,
                      th_err *err) {
  *out = NULL;
  *out_len = 0;
  for (size_t i = 0; i < count; i++)
    if (th_dotenv_check_var(vars[i].name, vars[i].value, i + 1, err)) return -1;
  if (sodium_init() < 0) return th_err_set(err, TH_ENOMEM, "env: libsodium init failed");
  sink measure = {NULL, 0};
  put_env(&measure, vars, count);
  sink fill = {sodium_malloc(measure.n + 1), 0};
  if (!fill.out) return th_err_set(err, TH_ENOMEM, "env: out of memory");
  put_env(&fill, vars, count);
  fill.out[fill.n] = '\0';
  *out = fill.out;
  *out_len = fill.n;
  return 0;
}

/* ---- X25519 and AES-256-GCM -------------------------------------------------------------- */

/* Decodes exactly n bytes of hex after an optional "0x" (what the JS code strips). */
static int unhex(const char *hex, uint8_t *out, size_t n, const char *what, th_err *err) {
  if (hex[0] == '0' && hex[1] == 'x') hex += 2;
  return th_hex_decode_exact(hex, strlen(hex), out, n, what, err);
}

int th_phala_env_public_key_from_hex(const char *hex, uint8_t key[32], th_err *err) {
  return unhex(hex, key, 32, "env public key", err);
}

int th_phala_env_public_key(const uint8_t private_key[32], uint8_t public_key[32], th_err *err) {
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, private_key, 32);
  size_t len = 32;
  int ok = key && EVP_PKEY_get_raw_public_key(key, public_key, &len) == 1 && len == 32;
  EVP_PKEY_free(key);
  if (ok) return 0;
  ERR_clear_error();
  return th_err_set(err, TH_ENOMEM, "X25519: cannot compute the public key");
}

/* shared = X25519(sk, peer). 0 = done, 1 = the result is zero (peer is a low-order point, which
 * OpenSSL refuses to derive with), -1 = OpenSSL failed otherwise (err filled). */
static int x25519(const uint8_t sk[32], const uint8_t peer[32], uint8_t shared[32], th_err *err) {
  EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
  EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
  EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
  size_t len = 32;
  int rc = -1;
  if (!ctx || !pub || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pub) != 1) {
    th_err_set(err, TH_ENOMEM, "X25519: OpenSSL setup failed");
  } else if (EVP_PKEY_derive(ctx, shared, &len) != 1 || len != 32) {
    rc = 1;
  } else {
    uint8_t any = 0;
    for (size_t i = 0; i < 32; i++) any |= shared[i];
    rc = any ? 0 : 1;
  }
  if (rc != 0) ERR_clear_error();
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pub);
  EVP_PKEY_free(priv);
  return rc;
}

/* AES-256-GCM with a 12-byte IV and no AAD; encrypt writes tag, decrypt checks it.
 * 1 = done, 0 = the tag does not match (decrypt), -1 = OpenSSL failed otherwise. */
static int aes_gcm(int encrypt, const uint8_t key[32], const uint8_t iv[12], const uint8_t *in,
                   size_t len, uint8_t *out, uint8_t tag[16]) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
           EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
           EVP_CipherInit_ex(c, NULL, NULL, key, iv, encrypt) == 1 &&
           (encrypt || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1);
  size_t done = 0;
  while (ok && done < len) { /* EVP takes int lengths */
    int chunk = len - done > (1u << 30) ? 1 << 30 : (int)(len - done), got = 0;
    ok = EVP_CipherUpdate(c, out + done, &got, in + done, chunk) == 1 && got == chunk;
    done += (size_t)chunk;
  }
  int rc = ok ? 1 : -1, n = 0;
  if (ok && EVP_CipherFinal_ex(c, out + done, &n) != 1) rc = encrypt ? -1 : 0;
  if (rc == 1 && encrypt && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) rc = -1;
  EVP_CIPHER_CTX_free(c); /* also wipes the key schedule */
  if (rc != 1) ERR_clear_error();
  return rc;
}

/* ---- encryptEnvVars and its inverse ------------------------------------------------------ */

/* blob = ephemeral_pk ‖ iv ‖ AES-256-GCM(plain) ‖ tag, of 60 + len bytes. */
static int seal(const uint8_t server_pk[32], const uint8_t esk[32], const uint8_t iv[12],
                const char *plain, size_t len, uint8_t *blob, th_err *err) {
  uint8_t shared[32];
  int rc = th_phala_env_public_key(esk, blob, err);
  if (rc == 0 && (rc = x25519(esk, server_pk, shared, err)) == 1)
    th_err_set(err, TH_EBADDATA,
               "env public key: low-order point (the shared secret would be zero)");
  if (rc == 0) {
    memcpy(blob + 32, iv, 12);
    if (aes_gcm(1, shared, iv, (const uint8_t *)plain, len, blob + 44, blob + 44 + len) != 1)
      rc = th_err_set(err, TH_ENOMEM, "env: AES-256-GCM encryption failed");
  }
  OPENSSL_cleanse(shared, sizeof shared);
  return rc ? -1 : 0;
}

int th_phala_env_encrypt_fixed(const th_dotenv_var *vars, size_t count, const char *public_key_hex,
                               const uint8_t ephemeral_sk[32], const uint8_t iv[12], char **out_hex,
                               th_err *err) {
  *out_hex = NULL;
  uint8_t server_pk[32];
  char *plain = NULL;
  size_t len = 0;
  if (th_phala_env_public_key_from_hex(public_key_hex, server_pk, err) ||
      th_phala_env_json(vars, count, &plain, &len, err))
    return -1;
  size_t total = TH_PHALA_ENV_OVERHEAD + len;
  uint8_t *blob = malloc(total);
  char *hex = malloc(2 * total + 1);
  int rc = -1;
  if (!blob || !hex) {
    th_err_set(err, TH_ENOMEM, "env: out of memory");
  } else if (seal(server_pk, ephemeral_sk, iv, plain, len, blob, err) == 0) {
    th_hex_encode(blob, total, hex);
    rc = 0;
  }
  sodium_free(plain); /* wipes the plaintext */
  free(blob);
  if (rc)
    free(hex);
  else
    *out_hex = hex;
  return rc;
}

int th_phala_env_encrypt(const th_dotenv_var *vars, size_t count, const char *public_key_hex,
                         char **out_hex, th_err *err) {
  uint8_t esk[32], iv[12];
  *out_hex = NULL;
  if (RAND_priv_bytes(esk, sizeof esk) != 1 || RAND_bytes(iv, sizeof iv) != 1) {
    ERR_clear_error();
    return th_err_set(err, TH_EIO, "env: OpenSSL's random generator failed");
  }
  int rc = th_phala_env_encrypt_fixed(vars, count, public_key_hex, esk, iv, out_hex, err);
  OPENSSL_cleanse(esk, sizeof esk);
  return rc;
}

/* plain (len bytes) = the decryption of blob (60 + len bytes). */
static int open_blob(uint8_t *blob, size_t len, const uint8_t private_key[32], char *plain,
                     th_err *err) {
  uint8_t shared[32];
  int rc = x25519(private_key, blob, shared, err);
  if (rc == 1)
    th_err_set(err, TH_EBADDATA,
               "encrypted_env: ephemeral key is a low-order point (the shared secret would be "
               "zero)");
  if (rc == 0) {
    int r = aes_gcm(0, shared, blob + 32, blob + 44, len, (uint8_t *)plain, blob + 44 + len);
    if (r == 0)
      rc = th_err_set(err, TH_EVERIFY,
                      "encrypted_env: authentication failed (wrong key, or the data was altered)");
    else if (r < 0)
      rc = th_err_set(err, TH_ENOMEM, "encrypted_env: AES-256-GCM decryption failed");
  }
  OPENSSL_cleanse(shared, sizeof shared);
  return rc ? -1 : 0;
}

int th_phala_env_decrypt(const char *hex, size_t len, const uint8_t private_key[32],
                         char **plaintext, size_t *plaintext_len, th_err *err) {
  *plaintext = NULL;
  *plaintext_len = 0;
  uint8_t *blob = NULL;
  size_t n = 0;
  if (th_hex_decode_alloc(hex, len, &blob, &n, "encrypted_env", err)) return -1;
  if (n < TH_PHALA_ENV_OVERHEAD) {
    free(blob);
    return th_err_set(err, TH_EBADDATA,
                      "encrypted_env: %zu bytes is too short (ephemeral key 32 + IV 12 + tag 16 "
                      "= 60)",
                      n);
  }
  size_t plain_len = n - TH_PHALA_ENV_OVERHEAD;
  char *plain = sodium_init() < 0 ? NULL : sodium_malloc(plain_len + 1);
  int rc = plain ? open_blob(blob, plain_len, private_key, plain, err)
                 : th_err_set(err, TH_ENOMEM, "encrypted_env: out of memory");
  free(blob);
  if (rc) {
    sodium_free(plain); /* may hold unauthenticated plaintext: wiped */
    return -1;
  }
  plain[plain_len] = '\0';
  *plaintext = plain;
  *plaintext_len = plain_len;
  return 0;
}

/* ---- the KMS signature on the env key (section 5.4) -------------------------------------- */

int th_phala_env_kms_signer(const uint8_t app_id[20], const uint8_t public_key[32],
                            const uint8_t signature[65], uint8_t signer[33], th_err *err) {
  static const char prefix[] = "dstack-env-encrypt-pubkey:";
  uint8_t digest[32];
  th_keccak256_ctx k;
  th_keccak256_init(&k);
  th_keccak256_update(&k, prefix, sizeof prefix - 1);
  th_keccak256_update(&k, app_id, 20);
  th_keccak256_update(&k, public_key, 32);
  th_keccak256_final(&k, digest);
  if (signature[64] > 3)
    return th_err_set(err, TH_EVERIFY, "KMS signature: recovery id %u out of range (0..3)",
                      signature[64]);
  if (th_secp256k1_recover(digest, signature, signer, NULL) != 0)
    return th_err_set(err, TH_EVERIFY, "KMS signature: no key recovers from it");
  return 0;
}

int th_phala_env_check_kms_signature(const char *app_id_hex, const char *public_key_hex,
                                     const char *signature_hex, const uint8_t trusted_signer[33],
                                     th_err *err) {
  uint8_t app_id[20], public_key[32], signature[65], signer[33];
  if (unhex(app_id_hex, app_id, 20, "KMS signature: app_id", err) ||
      unhex(public_key_hex, public_key, 32, "KMS signature: public key", err) ||
      unhex(signature_hex, signature, 65, "KMS signature", err) ||
      th_phala_env_kms_signer(app_id, public_key, signature, signer, err))
    return -1;
  if (memcmp(signer, trusted_signer, 33) == 0) return 0;
  char got[67], want[67];
  th_hex_encode(signer, 33, got);
  th_hex_encode(trusted_signer, 33, want);
  return th_err_set(err, TH_EVERIFY,
                    "KMS signature: signed by 0x%s, not by the trusted KMS signer 0x%s", got, want);
}
