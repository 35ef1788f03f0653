/* core/x509_chain.c — see x509_chain.h. */
#include "x509_chain.h"

#include "x509_cache.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t th_asn1_time_unix(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return (int64_t)timegm(&tm);
}

void th_x509_subject_cn(X509 *x, char *buf, size_t len) {
  char cn[128];
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0)
    snprintf(buf, len, "CN=%s", cn);
  else
    X509_NAME_oneline(X509_get_subject_name(x), buf, (int)len);
}

static void narrow(int64_t *from, int64_t *until, int64_t a, int64_t b) {
  if (a > *from) *from = a;
  if (b < *until) *until = b;
}

/* The window in which all certificates of the built path and both CRLs are current. */
static void validity_window(STACK_OF(X509) *path, X509_CRL *crl_a, X509_CRL *crl_b, int64_t *from,
                            int64_t *until) {
  *from = INT64_MIN;
  *until = INT64_MAX;
  for (int i = 0; i < sk_X509_num(path); i++) {
    X509 *x = sk_X509_value(path, i);
    narrow(from, until, th_asn1_time_unix(X509_get0_notBefore(x)),
           th_asn1_time_unix(X509_get0_notAfter(x)));
  }
  X509_CRL *crls[2] = {crl_a, crl_b};
  for (int i = 0; i < 2; i++) {
    if (!crls[i]) continue;
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crls[i]);
    narrow(from, until, th_asn1_time_unix(X509_CRL_get0_lastUpdate(crls[i])),
           next ? th_asn1_time_unix(next) - 1 : INT64_MIN);
  }
}

static int chain_error(X509_STORE_CTX *ctx, th_err *err) {
  int code = X509_STORE_CTX_get_error(ctx);
  X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
  char who[160] = "?";
  if (cur) th_x509_subject_cn(cur, who, sizeof who);
  const char *reason = X509_verify_cert_error_string(code);
  switch (code) {
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    return th_err_set(err, TH_EVERIFY, "untrusted root (%s for %s)", reason, who);
  case X509_V_ERR_CERT_REVOKED: {
    char serial[80] = "";
    ASN1_INTEGER *sn = cur ? X509_get_serialNumber(cur) : NULL;
    BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) snprintf(serial, sizeof serial, " (serial %s)", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return th_err_set(err, TH_EVERIFY, "certificate revoked: %s%s", who, serial);
  }
  default:
    return th_err_set(err, TH_EVERIFY, "%s: %s", reason, who);
  }
}

/* What OpenSSL does not check by default (spec 3.6): the leaf must not be a CA, and a
 * certificate with an EKU must allow serverAuth. Ours besides: every certificate the chain
 * carries must be on the verified path, so a copy of the root that differs from the trust anchor
 * (or any other stray certificate) is an error, not silently ignored. */
static int extra_path_rules(STACK_OF(X509) *chain, STACK_OF(X509) *path, th_err *err) {
  char who[160];
  for (int i = 0; i < sk_X509_num(chain); i++) {
    X509 *c = sk_X509_value(chain, i);
    int found = 0;
    for (int j = 0; j < sk_X509_num(path) && !found; j++) found = X509_cmp(c, sk_X509_value(path, j)) == 0;
    if (!found) {
      th_x509_subject_cn(c, who, sizeof who);
      return th_err_set(err, TH_EVERIFY,
                        "certificate %d of the chain (%s) is not on the path to the trust anchor%s",
                        i + 1, who, X509_check_issued(c, c) == X509_V_OK ? " (untrusted root)" : "");
    }
  }
  X509 *leaf = sk_X509_value(path, 0);
  if (X509_check_ca(leaf) != 0) {
    th_x509_subject_cn(leaf, who, sizeof who);
    return th_err_set(err, TH_EVERIFY, "leaf certificate %s is a CA", who);
  }
  for (int i = 0; i < sk_X509_num(path); i++) {
    X509 *x = sk_X509_value(path, i);
    if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) &&
        !(X509_get_extended_key_usage(x) & XKU_SSL_SERVER)) {
      th_x509_subject_cn(x, who, sizeof who);
      return th_err_set(err, TH_EVERIFY, "%s has an extended key usage without serverAuth", who);
    }
  }
  return 0;
}

int th_x509_verify_chain(STACK_OF(X509) *chain, X509 *anchor, X509_CRL *crl_a, X509_CRL *crl_b,
                         int64_t now, int64_t *from, int64_t *until, th_err *err) {
  if (!chain || sk_X509_num(chain) < 1) return th_err_set(err, TH_EVERIFY, "empty certificate chain");
  int rc = -1;
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
  if (!store || !ctx || !untrusted || !crls || X509_STORE_add_cert(store, anchor) != 1) {
    th_err_set(err, TH_ENOMEM, "out of memory");
    goto done;
  }
  for (int i = 1; i < sk_X509_num(chain); i++) sk_X509_push(untrusted, sk_X509_value(chain, i));
  if (crl_a) sk_X509_CRL_push(crls, crl_a);
  if (crl_b) sk_X509_CRL_push(crls, crl_b);
  if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
    th_err_set(err, TH_ENOMEM, "out of memory");
    goto done;
  }
  X509_STORE_CTX_set0_crls(ctx, crls);
  X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
  if (X509_verify_cert(ctx) != 1) {
    chain_error(ctx, err);
    goto done;
  }
  STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
  if (extra_path_rules(chain, path, err) != 0) goto done;
  int64_t f, u;
  validity_window(path, crl_a, crl_b, &f, &u);
  if (from) *from = f;
  if (until) *until = u;
  rc = 0;
done:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  sk_X509_free(untrusted);
  sk_X509_CRL_free(crls);
  ERR_clear_error();
  return rc;
}

int th_x509_check_anchor_crl(X509 *anchor, X509_CRL *crl_a, X509_CRL *crl_b, int64_t now,
                             th_err *err) {
  X509_NAME *subject = X509_get_subject_name(anchor);
  X509_CRL *crl = NULL;
  if (crl_a && X509_NAME_cmp(X509_CRL_get_issuer(crl_a), subject) == 0) crl = crl_a;
  else if (crl_b && X509_NAME_cmp(X509_CRL_get_issuer(crl_b), subject) == 0) crl = crl_b;
  char who[160];
  th_x509_subject_cn(anchor, who, sizeof who);
  if (!crl)
    return th_err_set(err, TH_EVERIFY,
                      "untrusted root: no CRL in the collateral is issued by the trust anchor %s",
                      who);
  EVP_PKEY *key = X509_get0_pubkey(anchor);
  int ok = key && X509_CRL_verify(crl, key) == 1;
  ERR_clear_error();
  if (!ok) return th_err_set(err, TH_EVERIFY, "the root CA CRL's signature is invalid under %s", who);
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
  if (!next || now >= th_asn1_time_unix(next))
    return th_err_set(err, TH_EVERIFY, "the root CA CRL has expired");
  if (now < th_asn1_time_unix(X509_CRL_get0_lastUpdate(crl)))
    return th_err_set(err, TH_EVERIFY, "the root CA CRL is not yet valid");
  X509_REVOKED *rev = NULL;
  if (X509_CRL_get0_by_serial(crl, &rev, X509_get_serialNumber(anchor)) == 1)
    return th_err_set(err, TH_EVERIFY, "the trust anchor %s is revoked by its own CRL", who);
  return 0;
}

/* SHA-256 over the SHA-256s of the anchor, the chain's certificates and the CRLs. */
static int chain_key(STACK_OF(X509) *chain, X509 *anchor, X509_CRL *crl_a, X509_CRL *crl_b,
                     uint8_t key[32]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned int n;
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
  ok = ok && X509_digest(anchor, EVP_sha256(), d, &n) == 1 && EVP_DigestUpdate(md, d, n) == 1;
  for (int i = 0; ok && i < sk_X509_num(chain); i++)
    ok = X509_digest(sk_X509_value(chain, i), EVP_sha256(), d, &n) == 1 &&
         EVP_DigestUpdate(md, d, n) == 1;
  X509_CRL *crls[2] = {crl_a, crl_b};
  for (int i = 0; ok && i < 2; i++)
    ok = !crls[i] || (X509_CRL_digest(crls[i], EVP_sha256(), d, &n) == 1 &&
                      EVP_DigestUpdate(md, d, n) == 1);
  ok = ok && EVP_DigestFinal_ex(md, key, NULL) == 1;
  EVP_MD_CTX_free(md);
  return ok ? 0 : -1;
}

int th_x509_verify_chain_cached(STACK_OF(X509) *chain, X509 *anchor, X509_CRL *crl_a,
                                X509_CRL *crl_b, int64_t now, th_x509_cache *cache,
                                int64_t *from, int64_t *until, th_err *err) {
  uint8_t key[32];
  int keyed = cache && chain && sk_X509_num(chain) > 0 &&
              chain_key(chain, anchor, crl_a, crl_b, key) == 0;
  if (keyed && th_x509_cache_result_ok(cache, key, now, from, until)) return 0;
  int64_t f, u;
  if (th_x509_verify_chain(chain, anchor, crl_a, crl_b, now, &f, &u, err) != 0) return -1;
  if (keyed) th_x509_cache_result_put(cache, key, f, u);
  if (from) *from = f;
  if (until) *until = u;
  return 0;
}
