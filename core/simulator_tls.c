/* core/simulator_tls.c — certificates the simulator issues: GetTlsKey (shared/specs/dstack.md
 * 2.4), the legacy DeriveKey (3) and the demo certificate Info reports (2.5).
 *
 * Chain [leaf, CA], leaf signed by the simulator's CA (core/ratls does the X.509 work): .1.4
 * "app:custom" always; with usage_ra_tls the .1.8 V0 attestation container whose report data is
 * SHA-512("ratls-cert:" ‖ leaf SPKI DER) (spec 10.4), the quote carrying the same; .1.9 app info
 * when asked. GetTlsKey's key is fresh; DeriveKey's P-256 scalar is HKDF(app key, path) (or of a
 * random IKM with random_seed) — built into an EVP_PKEY here with OpenSSL's param builder. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "ratls.h"
#include "report_data.h"
#include "simulator_internal.h"

typedef struct leaf_opts {
  const char *subject;
  const th_sim_strs *alt_names;
  int ra_tls, server_auth, client_auth, app_info;
  th_sim_opt_u64 not_before, not_after;
} leaf_opts;

/* The .1.8 container for key: a quote over SHA-512("ratls-cert:" ‖ SPKI). */
static int evidence(th_simulator *s, EVP_PKEY *key, uint8_t **att, size_t *len, th_err *err) {
  uint8_t *spki = NULL, *q = NULL, rd[64];
  size_t n, qn;
  if (th_p256_spki_der(key, &spki, &n, err) != 0) return -1;
  th_report_data_typed("ratls-cert", spki, n, rd);
  free(spki);
  if (th_sim_make_quote(s, rd, &q, &qn, err) != 0) return -1;
  int rc = th_attestation_encode_v0(q, qn, &s->log, rd, s->sys_config, att, len, err);
  free(q);
  return rc;
}

static int app_info(th_simulator *s, uint8_t **out, size_t *len, th_err *err) {
  uint8_t mr_system[32], mr_agg[32];
  th_sim_mr_system(s, mr_system);
  th_sim_mr_aggregated(s, mr_agg);
  th_app_info i = {s->app_id,
                   20,
                   s->compose_hash,
                   32,
                   s->instance_id,
                   20,
                   s->device_id,
                   32,
                   mr_system,
                   32,
                   mr_agg,
                   32,
                   s->os_image_hash,
                   32,
                   (const uint8_t *)s->key_provider_info,
                   strlen(s->key_provider_info)};
  return th_app_info_msgpack(&i, out, len, err);
}

/* Issues the leaf for key; *pem malloc'd. */
static int issue(th_simulator *s, const leaf_opts *o, EVP_PKEY *key, char **pem, th_err *err) {
  uint8_t *att = NULL, *info = NULL;
  size_t att_len = 0, info_len = 0;
  if ((o->ra_tls && evidence(s, key, &att, &att_len, err) != 0) ||
      (o->app_info && app_info(s, &info, &info_len, err) != 0)) {
    free(att);
    return -1;
  }
  th_ratls_cert_request r = {0};
  r.subject = o->subject;
  r.alt_names = o->alt_names->v;
  r.n_alt_names = o->alt_names->n;
  r.server_auth = o->server_auth, r.client_auth = o->client_auth;
  r.has_not_before = o->not_before.set, r.not_before = o->not_before.v;
  r.has_not_after = o->not_after.set, r.not_after = o->not_after.v;
  r.special_usage = "app:custom";
  r.attestation = att, r.attestation_len = att_len;
  r.app_info = info, r.app_info_len = info_len;
  int rc = th_ratls_issue(&r, key, s->ca_key, s->ca_cert, pem, err);
  free(att);
  free(info);
  return rc;
}

/* {"key": PEM, "certificate_chain": [leaf, CA]} */
static int answer(th_simulator *s, const leaf_opts *o, EVP_PKEY *key, th_sbuf *out, th_err *err) {
  char *leaf = NULL, *kpem = NULL;
  size_t n = 0;
  int rc = issue(s, o, key, &leaf, err);
  if (rc == 0) rc = th_p256_pkcs8_pem(key, &kpem, &n, err);
  if (rc == 0) {
    th_sbuf_cstr(out, "{\"key\":");
    th_sbuf_jstr(out, kpem, n);
    th_sbuf_cstr(out, ",\"certificate_chain\":[");
    th_sbuf_jcstr(out, leaf);
    th_sbuf_cstr(out, ",");
    th_sbuf_jcstr(out, s->ca_cert_pem);
    th_sbuf_cstr(out, "]}");
  }
  if (kpem) sodium_memzero(kpem, n);
  free(kpem);
  free(leaf);
  return rc;
}

int th_sim_get_tls_key(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  leaf_opts o = {r->subject,           &r->alt_names,    r->usage_ra_tls, r->usage_server_auth,
                 r->usage_client_auth, r->with_app_info, r->not_before,   r->not_after};
  if (o.not_before.set && o.not_after.set && o.not_before.v >= o.not_after.v)
    return th_err_set(err, TH_EINVAL, "not_before must be earlier than not_after");
  EVP_PKEY *key = th_p256_generate(err);
  if (!key) return -1;
  int rc = answer(s, &o, key, out, err);
  EVP_PKEY_free(key);
  return rc;
}

/* An EVP_PKEY for the P-256 scalar k (1 <= k < n, else "invalid P-256 key"). */
static EVP_PKEY *p256_from_scalar(const uint8_t k[32], th_err *err) {
  EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  BIGNUM *d = BN_secure_new();
  EC_POINT *p = g ? EC_POINT_new(g) : NULL;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY *key = NULL;
  uint8_t pub[65];
  if (!g || !d || !p || !bld || !ctx || !BN_bin2bn(k, 32, d)) {
    th_sim_oom(err);
  } else if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
    th_err_set(err, TH_EINVAL, "invalid P-256 key");
  } else if (!EC_POINT_mul(g, p, d, NULL, NULL, NULL) ||
             EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, 65, NULL) != 65 ||
             !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
             !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
             !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65) ||
             !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
             EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) <= 0) {
    th_err_set(err, TH_EIO, "simulator: cannot build a P-256 key");
  }
  OSSL_PARAM *priv = params ? OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY) : NULL;
  if (priv && priv->data) OPENSSL_cleanse(priv->data, priv->data_size); /* no clear_free in 3.0 */
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  EC_POINT_free(p);
  BN_clear_free(d);
  EC_GROUP_free(g);
  return key;
}

int th_sim_derive_key(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  uint8_t ikm[32], k[32];
  const uint8_t *src = s->secret + TH_SIM_APP_KEY;
  if (r->random_seed) {
    if (RAND_bytes(ikm, 32) != 1) return th_err_set(err, TH_EIO, "simulator: no randomness");
    src = ikm;
  }
  int rc = th_key_hkdf(src, 32, r->path, strlen(r->path), k, err);
  EVP_PKEY *key = rc == 0 ? p256_from_scalar(k, err) : NULL;
  sodium_memzero(ikm, sizeof ikm);
  sodium_memzero(k, sizeof k);
  if (!key) return -1;
  th_sim_opt_u64 none = {0, 0};
  leaf_opts o = {
      r->subject, &r->alt_names, r->usage_ra_tls, r->usage_server_auth, r->usage_client_auth, 0,
      none,       none};
  rc = answer(s, &o, key, out, err);
  EVP_PKEY_free(key);
  return rc;
}

int th_sim_demo_cert(th_simulator *s, th_err *err) {
  th_sim_strs none = {NULL, 0};
  th_sim_opt_u64 unset = {0, 0};
  leaf_opts o = {"demo-cert", &none, 1, 0, 1, 0, unset, unset};
  EVP_PKEY *key = th_p256_generate(err);
  char *leaf = NULL;
  int rc = key ? issue(s, &o, key, &leaf, err) : -1;
  EVP_PKEY_free(key);
  if (rc != 0) return -1;
  th_sbuf b = {0};
  th_sbuf_cstr(&b, leaf);
  th_sbuf_cstr(&b, s->ca_cert_pem);
  free(leaf);
  return (s->app_cert = th_sbuf_take(&b, NULL)) ? 0 : th_sim_oom(err);
}
