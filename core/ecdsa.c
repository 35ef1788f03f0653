/* core/ecdsa.c — see ecdsa.h. */
#include "ecdsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <string.h>

static EVP_PKEY *key_from_params(OSSL_PARAM *params, int selection) {
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) EVP_PKEY_fromdata(ctx, &key, selection, params);
  EVP_PKEY_CTX_free(ctx);
  return key;
}

EVP_PKEY *th_p256_public_from_xy(const uint8_t xy[64], const char *what, th_err *err) {
  uint8_t point[65];
  point[0] = 0x04;
  memcpy(point + 1, xy, 64);
  OSSL_PARAM params[] = {
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
      OSSL_PARAM_END,
  };
  EVP_PKEY *key = key_from_params(params, EVP_PKEY_PUBLIC_KEY);
  if (!key) {
    ERR_clear_error();
    th_err_set(err, TH_EBADDATA, "%s: not a P-256 point", what);
  }
  return key;
}

EVP_PKEY *th_p256_from_scalar(const uint8_t scalar[32], th_err *err) {
  EVP_PKEY *key = NULL;
  EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT *pub = group ? EC_POINT_new(group) : NULL;
  BIGNUM *d = BN_secure_new();
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  uint8_t point[65];
  if (!pub || !d || !bld || !BN_bin2bn(scalar, 32, d) ||
      EC_POINT_mul(group, pub, d, NULL, NULL, NULL) != 1 ||
      EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, NULL) !=
          sizeof point ||
      !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
      !(params = OSSL_PARAM_BLD_to_param(bld))) {
    goto done;
  }
  key = key_from_params(params, EVP_PKEY_KEYPAIR);
done:
  if (!key) {
    ERR_clear_error();
    th_err_set(err, TH_EINVAL, "P-256 key from scalar failed");
  }
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_clear_free(d);
  EC_POINT_free(pub);
  EC_GROUP_free(group);
  return key;
}

int th_p256_public_xy(EVP_PKEY *key, uint8_t xy[64], th_err *err) {
  uint8_t point[65];
  size_t n = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &n) != 1 ||
      n != sizeof point || point[0] != 0x04) {
    ERR_clear_error();
    return th_err_set(err, TH_EINVAL, "not an uncompressed P-256 public key");
  }
  memcpy(xy, point + 1, 64);
  return 0;
}

/* raw r||s -> DER; returns the DER length or 0. */
static int raw_to_der(const uint8_t sig[64], uint8_t *der, size_t cap) {
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
  int n = 0;
  if (s && r && ss && ECDSA_SIG_set0(s, r, ss) == 1) {
    r = ss = NULL; /* owned by s now */
    if ((size_t)i2d_ECDSA_SIG(s, NULL) <= cap) n = i2d_ECDSA_SIG(s, &der);
  }
  BN_free(r);
  BN_free(ss);
  ECDSA_SIG_free(s);
  return n > 0 ? n : 0;
}

int th_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t sig[64],
                        th_err *err) {
  uint8_t der[80];
  int der_len = raw_to_der(sig, der, sizeof der);
  if (!der_len) return th_err_set(err, TH_ENOMEM, "ECDSA signature conversion failed");
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) return th_err_set(err, TH_ENOMEM, "out of memory");
  int rc = -1;
  if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1)
    rc = EVP_DigestVerify(md, der, (size_t)der_len, msg, len) == 1 ? 1 : 0;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (rc < 0) th_err_set(err, TH_EINVAL, "ECDSA verification could not start");
  return rc;
}

/* Signs with an initialised DigestSign context (consumed), writing raw r||s. */
static int sign_with(EVP_MD_CTX *md, const uint8_t *msg, size_t len, uint8_t sig[64], th_err *err) {
  uint8_t der[80];
  size_t der_len = sizeof der;
  const uint8_t *p = der;
  int ok = 0;
  ECDSA_SIG *s = NULL;
  if (EVP_DigestSign(md, der, &der_len, msg, len) == 1 &&
      (s = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL) {
    ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) == 32;
  }
  ECDSA_SIG_free(s);
  ERR_clear_error();
  return ok ? 0 : th_err_set(err, TH_EINVAL, "ECDSA signing failed");
}

int th_ecdsa_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64], th_err *err) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int rc = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1
               ? sign_with(md, msg, len, sig, err)
               : th_err_set(err, TH_EINVAL, "ECDSA signing failed");
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return rc;
}

EVP_MD_CTX *th_ecdsa_signer(EVP_PKEY *key, th_err *err) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1) return md;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  th_err_set(err, TH_ENOMEM, "ECDSA: cannot make a signing context");
  return NULL;
}

int th_ecdsa_sign_with(const EVP_MD_CTX *signer, const uint8_t *msg, size_t len, uint8_t sig[64],
                       th_err *err) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int rc = md && EVP_MD_CTX_copy_ex(md, signer) == 1
               ? sign_with(md, msg, len, sig, err)
               : th_err_set(err, TH_ENOMEM, "ECDSA: cannot copy the signing context");
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return rc;
}
