/* core/report_data.c — see report_data.h. SHA-2 and SHA-3 come from OpenSSL's EVP digests (one
 * EVP_MD_CTX per TdxQuote call: the only allocation here, next to a quote it is noise), the typed
 * SHA-512 from libsodium's streaming SHA-512 (its state lives on the stack and cannot fail, so
 * th_report_data_typed stays void), Keccak from core/keccak (OpenSSL 3.0 has none). */
#include "report_data.h"

#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "keccak.h"

int th_report_data_padded(const uint8_t *data, size_t len, uint8_t out[64], th_err *err) {
  if (len > 64) return th_err_set(err, TH_EINVAL, "Report data is too long");
  if (len) memcpy(out, data, len);
  memset(out + len, 0, 64 - len);
  return 0;
}

int th_report_data_raw(const uint8_t *data, size_t len, uint8_t out[64], th_err *err) {
  if (len != 64) return th_err_set(err, TH_EINVAL, "invalid content length");
  memcpy(out, data, 64);
  return 0;
}

/* TdxQuote's algorithms: an OpenSSL digest, or Keccak with keccak_len output bytes. */
typedef struct hash_alg {
  const char *name;
  const EVP_MD *(*md)(void);
  size_t keccak_len;
} hash_alg;

static const hash_alg hash_algs[] = {
    {"sha256", EVP_sha256, 0},     {"sha384", EVP_sha384, 0},     {"sha512", EVP_sha512, 0},
    {"sha3-256", EVP_sha3_256, 0}, {"sha3-384", EVP_sha3_384, 0}, {"sha3-512", EVP_sha3_512, 0},
    {"keccak256", NULL, 32},       {"keccak384", NULL, 48},       {"keccak512", NULL, 64},
};

/* out = H(tag ‖ ":" ‖ data), zero-padded to 64 bytes. */
static int tagged_hash(const hash_alg *h, const char *tag, const uint8_t *data, size_t len,
                       uint8_t out[64], th_err *err) {
  memset(out, 0, 64);
  if (!h->md) {
    th_keccak_ctx k;
    th_keccak_init(&k, h->keccak_len);
    th_keccak_update(&k, tag, strlen(tag));
    th_keccak_update(&k, ":", 1);
    th_keccak_update(&k, data, len);
    th_keccak_final(&k, out);
    return 0;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, h->md(), NULL) &&
           EVP_DigestUpdate(ctx, tag, strlen(tag)) && EVP_DigestUpdate(ctx, ":", 1) &&
           (len == 0 || EVP_DigestUpdate(ctx, data, len)) && EVP_DigestFinal_ex(ctx, out, NULL);
  EVP_MD_CTX_free(ctx);
  if (!ok) return th_err_set(err, TH_ENOMEM, "report data: %s digest failed", h->name);
  return 0;
}

int th_report_data_tdx_quote(const char *hash_algorithm, const char *prefix, const uint8_t *data,
                             size_t len, uint8_t out[64], const char **effective_algorithm,
                             const char **effective_prefix, th_err *err) {
  const char *alg = hash_algorithm && *hash_algorithm ? hash_algorithm : "sha512";
  if (strcmp(alg, "raw") == 0) {
    if (th_report_data_raw(data, len, out, err) < 0) return -1;
    if (effective_algorithm) *effective_algorithm = "raw";
    if (effective_prefix) *effective_prefix = "";
    return 0;
  }
  const hash_alg *h = NULL;
  for (size_t i = 0; i < sizeof hash_algs / sizeof hash_algs[0] && !h; i++)
    if (strcmp(alg, hash_algs[i].name) == 0) h = &hash_algs[i];
  if (!h) return th_err_set(err, TH_EINVAL, "invalid hash algorithm");
  const char *tag = prefix && *prefix ? prefix : "app-data";
  if (tagged_hash(h, tag, data, len, out, err) < 0) return -1;
  if (effective_algorithm) *effective_algorithm = h->name;
  if (effective_prefix) *effective_prefix = tag;
  return 0;
}

void th_report_data_typed(const char *tag, const uint8_t *content, size_t len, uint8_t out[64]) {
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, (const unsigned char *)tag, strlen(tag));
  crypto_hash_sha512_update(&st, (const unsigned char *)":", 1);
  crypto_hash_sha512_update(&st, content, len);
  crypto_hash_sha512_final(&st, out);
}
