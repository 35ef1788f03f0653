/* core/p256_keys.c — P-256 key pairs and their encodings for dstack's TLS keys (see ratls.h):
 * generation, PKCS#8 DER/PEM, SubjectPublicKeyInfo DER and loading a PKCS#8 PEM.
 *
 * All encoding is OpenSSL's: its 3.0 default PKCS#8 output for P-256 (v0, SEC1 inner key with the
 * public key and without parameters, 138 bytes) is byte-identical to what dstack returns
 * (shared/specs/dstack.md 10.4), which tests/unit/test_ratls.c checks against ratls.json. Private
 * key bytes pass only through secure-memory BIOs and are wiped; the returned copies are the
 * caller's to wipe and free. */
#include "ratls.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

EVP_PKEY *th_p256_generate(th_err *err) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (!key) {
    ERR_clear_error();
    th_err_set(err, TH_ENOMEM, "P-256 key generation failed");
  }
  return key;
}

/* Copies a BIO's contents into a malloc'd, NUL-terminated buffer, wiping nothing itself. */
static int bio_take(BIO *bio, uint8_t **out, size_t *len, const char *what, th_err *err) {
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  if (n <= 0) return th_err_set(err, TH_ENOMEM, "%s: encoding failed", what);
  uint8_t *copy = malloc((size_t)n + 1);
  if (!copy) return th_err_set(err, TH_ENOMEM, "%s: out of memory", what);
  memcpy(copy, data, (size_t)n);
  copy[n] = 0;
  *out = copy;
  *len = (size_t)n;
  return 0;
}

static int is_p256(EVP_PKEY *key) {
  char group[32];
  size_t n = 0;
  return key && EVP_PKEY_is_a(key, "EC") &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        &n) == 1 &&
         strcmp(group, "prime256v1") == 0;
}

int th_p256_pkcs8_der(EVP_PKEY *key, uint8_t **der, size_t *len, th_err *err) {
  if (!is_p256(key)) return th_err_set(err, TH_EINVAL, "PKCS#8: not a P-256 key");
  BIO *bio = BIO_new(BIO_s_secmem());
  int rc = -1;
  if (!bio || i2d_PKCS8PrivateKey_bio(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
    th_err_set(err, TH_ENOMEM, "PKCS#8: DER encoding failed");
  else
    rc = bio_take(bio, der, len, "PKCS#8", err);
  ERR_clear_error();
  BIO_free(bio); /* a secmem BIO wipes its buffer */
  return rc;
}

int th_p256_pkcs8_pem(EVP_PKEY *key, char **pem, size_t *len, th_err *err) {
  if (!is_p256(key)) return th_err_set(err, TH_EINVAL, "PKCS#8: not a P-256 key");
  BIO *bio = BIO_new(BIO_s_secmem());
  int rc = -1;
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
    th_err_set(err, TH_ENOMEM, "PKCS#8: PEM encoding failed");
  else
    rc = bio_take(bio, (uint8_t **)pem, len, "PKCS#8", err);
  ERR_clear_error();
  BIO_free(bio);
  return rc;
}

int th_p256_spki_der(EVP_PKEY *key, uint8_t **der, size_t *len, th_err *err) {
  if (!is_p256(key)) return th_err_set(err, TH_EINVAL, "SPKI: not a P-256 key");
  int n = i2d_PUBKEY(key, NULL);
  uint8_t *buf = n > 0 ? malloc((size_t)n + 1) : NULL;
  uint8_t *p = buf;
  if (!buf || i2d_PUBKEY(key, &p) != n) {
    free(buf);
    ERR_clear_error();
    return th_err_set(err, TH_ENOMEM, "SPKI: DER encoding failed");
  }
  buf[n] = 0;
  *der = buf;
  *len = (size_t)n;
  return 0;
}

/* Never prompt on a terminal for an encrypted key: refuse instead. */
static int no_password(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

EVP_PKEY *th_p256_from_pkcs8_pem(const char *pem, size_t len, th_err *err) {
  if (!pem || len > INT32_MAX) {
    th_err_set(err, TH_EINVAL, "P-256 key: no PEM given");
    return NULL;
  }
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
  BIO_free(bio);
  ERR_clear_error();
  if (!key) {
    th_err_set(err, TH_EBADDATA, "P-256 key: not a PEM private key");
    return NULL;
  }
  if (!is_p256(key)) {
    EVP_PKEY_free(key);
    th_err_set(err, TH_EBADDATA, "P-256 key: the PEM key is not a P-256 key");
    return NULL;
  }
  return key;
}
