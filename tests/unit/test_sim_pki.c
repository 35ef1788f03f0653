/* tests/unit/test_sim_pki.c — the simulator's DCAP PKI (core/sim_pki.h, shared/specs/
 * tdx-quote.md section 4): the key-derivation check value of 4.2, stored and reused files with
 * private modes, refusals (open permissions, another seed, a damaged file), the certificate
 * chains under OpenSSL's strict verifier with both CRLs (accepted under the simulated root,
 * rejected under Intel's), the SGX extension, v4/v5 quote bytes and signatures, and the collateral
 * JSON and its signatures. Chains and keys are taken from the public outputs (collateral, quote),
 * not from the object's insides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h> 
#include "tmpdir.h"
/* after setjmp.h, stdarg.h, stddef.h */

#include <cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "quote.h"
#include "sim_pki.h"
#include "sim_pki_internal.h"
#include "vectors.h"

#define T_NOW 1750000000 /* 2025-06-15T15:06:40Z */

static const char *const FILES[] = {"seed",    "root.der",     "pck_ca.der", "pck.der",
                                    "tcb.der", "root_crl.der", "pck_crl.der"};

typedef struct fixture {
  char dir[64];
  uint8_t seed[32];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  if (tmpdir_make(f->dir, sizeof f->dir, "test_sim_pki") != 0) return -1;
  memset(f->seed, 0x31, sizeof f->seed);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  tmpdir_remove(f->dir);
  free(f);
  return 0;
}

static void path_of(const fixture *f, const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", f->dir, name);
}

static th_sim_pki *open_ok(const fixture *f, const uint8_t *seed) {
  th_err err = {0};
  th_sim_pki *pki = th_sim_pki_open(f->dir, seed, &err);
  if (!pki) fail_msg("open: %s", err.message);
  return pki;
}

/* Opening must fail with `code`; returns the error, for the caller to check its message. */
static th_err open_fails(const fixture *f, const uint8_t *seed, int code) {
  th_err err = {0};
  assert_null(th_sim_pki_open(f->dir, seed, &err));
  assert_int_equal(err.code, code);
  return err;
}

/* ---- derivation ---- */

static void derivation_matches_the_spec_check_value(void **state) {
  (void)state;
  uint8_t seed[32], scalar[32], pub[64], want_scalar[32], want_pub[64];
  memset(seed, 0x31, sizeof seed);
  vector_unhex("f049792a84f3e743debb88bf2dba6c3eebcb2a3c4d2cc38104331d700cfb7f89", want_scalar, 32);
  vector_unhex(
      "8afafcdc8362b9f56fdeab940ec18cb13cc1a78eff69248567a2b534d940bff0"
      "c22d8b54b408663705e7267104eb34bf0ac69914996c5614143dc77f5b993200",
      want_pub, 64);
  th_err err = {0};
  assert_int_equal(th_sim_derive_p256(seed, "tdx-root", scalar, pub, &err), 0);
  assert_memory_equal(scalar, want_scalar, 32);
  assert_memory_equal(pub, want_pub, 64);
  /* Other labels give other keys. */
  assert_int_equal(th_sim_derive_p256(seed, "tdx-pck", scalar, NULL, &err), 0);
  assert_memory_not_equal(scalar, want_scalar, 32);
}

/* ---- files ---- */

static void open_twice_reuses_the_stored_root(void **state) {
  fixture *f = *state;
  th_sim_pki *a = open_ok(f, f->seed);
  size_t alen = 0, blen = 0;
  const uint8_t *ader = th_sim_pki_root_der(a, &alen);
  uint8_t *copy = malloc(alen);
  memcpy(copy, ader, alen);
  th_sim_pki_free(a);
  th_sim_pki *b = open_ok(f, NULL); /* the stored seed */
  const uint8_t *bder = th_sim_pki_root_der(b, &blen);
  assert_int_equal(alen, blen);
  assert_memory_equal(copy, bder, alen);
  uint8_t *rt = NULL;
  assert_int_equal(i2d_X509(th_sim_pki_root(b), &rt), (int)blen);
  assert_memory_equal(rt, bder, blen);
  OPENSSL_free(rt);
  th_sim_pki_free(b);
  th_sim_pki *c = open_ok(f, f->seed); /* the same seed given again */
  assert_memory_equal(copy, th_sim_pki_root_der(c, &blen), alen);
  th_sim_pki_free(c);
  free(copy);
}

static void directory_is_0700_and_files_are_0600(void **state) {
  fixture *f = *state;
  rmdir(f->dir); /* let open create it */
  th_sim_pki_free(open_ok(f, NULL));
  struct stat st;
  assert_int_equal(stat(f->dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  char path[128];
  for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
    path_of(f, FILES[i], path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
  }
  path_of(f, "seed", path, sizeof path);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 32);
}

static void a_group_readable_seed_is_refused(void **state) {
  fixture *f = *state;
  th_sim_pki_free(open_ok(f, f->seed));
  char path[128];
  path_of(f, "seed", path, sizeof path);
  assert_int_equal(chmod(path, 0640), 0);
  th_err err = open_fails(f, f->seed, TH_EINVAL);
  assert_non_null(strstr(err.message, path));
  assert_non_null(strstr(err.message, "is readable by others (mode 640)"));
  assert_non_null(strstr(err.message, "chmod 600"));
}

static void a_group_readable_directory_is_refused(void **state) {
  fixture *f = *state;
  assert_int_equal(chmod(f->dir, 0750), 0);
  th_err err = open_fails(f, f->seed, TH_EINVAL);
  assert_non_null(strstr(err.message, "chmod 700"));
}

static void another_seed_than_the_stored_one_is_refused(void **state) {
  fixture *f = *state;
  th_sim_pki_free(open_ok(f, f->seed));
  uint8_t other[32];
  memset(other, 0x32, sizeof other);
  th_err err = open_fails(f, other, TH_EINVAL);
  assert_non_null(strstr(err.message, "different seed"));
}

static void a_damaged_certificate_file_is_named_and_can_be_recreated(void **state) {
  fixture *f = *state;
  th_sim_pki_free(open_ok(f, f->seed));
  char path[128];
  path_of(f, "pck.der", path, sizeof path);
  FILE *fp = fopen(path, "wb");
  fputs("not a certificate", fp);
  fclose(fp);
  th_err err = open_fails(f, NULL, TH_EBADDATA);
  assert_non_null(strstr(err.message, path));
  assert_non_null(strstr(err.message, "not a valid certificate"));
  unlink(path); /* a missing file is re-created from the same keys */
  th_sim_pki_free(open_ok(f, NULL));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
}

/* ---- collateral and chain helpers ---- */

typedef struct outputs {
  th_sim_pki *pki;
  cJSON *col;
  uint8_t *quote;
  size_t quote_len;
  STACK_OF(X509) * pck_chain; /* from the quote: leaf, PCK CA, root */
  STACK_OF(X509) * tcb_chain; /* from tcb_info_issuer_chain */
  X509_CRL *root_crl, *pck_crl;
} outputs;

static STACK_OF(X509) * pem_chain(const char *pem, size_t len) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  STACK_OF(X509) *sk = sk_X509_new_null();
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) sk_X509_push(sk, x);
  ERR_clear_error(); /* "no start line" after the last certificate */
  BIO_free(bio);
  return sk;
}

static X509_CRL *hex_crl(const char *hex) {
  size_t n;
  uint8_t *der = vector_unhex_alloc(hex, &n);
  const uint8_t *p = der;
  X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
  assert_non_null(crl);
  assert_ptr_equal(p, der + n);
  free(der);
  return crl;
}

static const char *col_string(cJSON *col, const char *key) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(col, key);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void outputs_load(outputs *o, const fixture *f, int flags, int version) {
  memset(o, 0, sizeof *o);
  o->pki = open_ok(f, f->seed);
  th_err err = {0};
  size_t len = 0;
  char *json = th_sim_pki_collateral_json(o->pki, T_NOW, flags, &len, &err);
  if (!json) fail_msg("collateral: %s", err.message);
  assert_int_equal(strlen(json), len);
  o->col = cJSON_ParseWithLength(json, len);
  assert_non_null(o->col);
  free(json);
  th_sim_td td;
  th_sim_td_defaults(&td);
  memset(td.reportdata, 0xab, sizeof td.reportdata);
  assert_int_equal(th_sim_pki_quote(o->pki, &td, version, &o->quote, &o->quote_len, &err), 0);
  size_t pem_at = version == 5 ? 1328 : 1258;
  uint32_t m;
  memcpy(&m, o->quote + pem_at - 4, 4);
  o->pck_chain = pem_chain((const char *)o->quote + pem_at, m - 1);
  const char *tcb = col_string(o->col, "tcb_info_issuer_chain");
  o->tcb_chain = pem_chain(tcb, strlen(tcb));
  o->root_crl = hex_crl(col_string(o->col, "root_ca_crl"));
  o->pck_crl = hex_crl(col_string(o->col, "pck_crl"));
}

static void outputs_free(outputs *o) {
  th_sim_pki_free(o->pki);
  cJSON_Delete(o->col);
  free(o->quote);
  sk_X509_pop_free(o->pck_chain, X509_free);
  sk_X509_pop_free(o->tcb_chain, X509_free);
  X509_CRL_free(o->root_crl);
  X509_CRL_free(o->pck_crl);
}

/* `openssl verify -x509_strict -crl_check_all -attime T -CAfile anchor -untrusted … leaf`:
 * returns X509_V_OK or the error. */
static int verify_chain(X509 *leaf, X509 *untrusted, X509 *anchor, X509_CRL *a, X509_CRL *b) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *inter = sk_X509_new_null();
  STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
  if (untrusted) sk_X509_push(inter, untrusted);
  sk_X509_CRL_push(crls, a);
  sk_X509_CRL_push(crls, b);
  assert_int_equal(X509_STORE_add_cert(store, anchor), 1);
  assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, inter), 1);
  X509_STORE_CTX_set0_crls(ctx, crls);
  X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_flags(
      param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_time(param, T_NOW);
  int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  sk_X509_free(inter);
  sk_X509_CRL_free(crls);
  return rc;
}

static X509 *intel_root(void) {
  size_t n;
  char *der = vector_read("dcap/TrustedRootCA.der", &n);
  const unsigned char *p = (const unsigned char *)der;
  X509 *x = d2i_X509(NULL, &p, (long)n);
  free(der);
  assert_non_null(x);
  return x;
}

static void chains_verify_strictly_under_the_simulated_root(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  assert_int_equal(sk_X509_num(o.pck_chain), 3);
  assert_int_equal(sk_X509_num(o.tcb_chain), 2);
  X509 *pck = sk_X509_value(o.pck_chain, 0), *pck_ca = sk_X509_value(o.pck_chain, 1);
  X509 *root = th_sim_pki_root(o.pki), *tcb = sk_X509_value(o.tcb_chain, 0);
  assert_int_equal(X509_cmp(sk_X509_value(o.pck_chain, 2), root), 0);
  assert_int_equal(X509_cmp(sk_X509_value(o.tcb_chain, 1), root), 0);
  assert_int_equal(verify_chain(pck, pck_ca, root, o.root_crl, o.pck_crl), X509_V_OK);
  assert_int_equal(verify_chain(tcb, NULL, root, o.root_crl, o.pck_crl), X509_V_OK);
  assert_int_equal(X509_check_ca(pck), 0); /* leaves are not CAs, as webpki requires */
  assert_int_equal(X509_check_ca(tcb), 0);
  assert_int_equal(X509_get_ext_by_NID(pck, NID_ext_key_usage, -1), -1);
  /* The CRL issuer chain in the collateral is PCK CA then root. */
  const char *crl_chain = col_string(o.col, "pck_crl_issuer_chain");
  STACK_OF(X509) *cc = pem_chain(crl_chain, strlen(crl_chain));
  assert_int_equal(sk_X509_num(cc), 2);
  assert_int_equal(X509_cmp(sk_X509_value(cc, 0), pck_ca), 0);
  sk_X509_pop_free(cc, X509_free);
  outputs_free(&o);
}

static void intels_root_does_not_accept_the_simulated_chains(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  X509 *intel = intel_root();
  X509 *pck = sk_X509_value(o.pck_chain, 0), *pck_ca = sk_X509_value(o.pck_chain, 1);
  assert_int_equal(verify_chain(pck, pck_ca, intel, o.root_crl, o.pck_crl),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(verify_chain(sk_X509_value(o.tcb_chain, 0), NULL, intel, o.root_crl, o.pck_crl),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  X509_free(intel);
  outputs_free(&o);
}

static void the_revoke_flag_lists_the_pck_leaf_in_a_fresh_pck_crl(void **state) {
  outputs o;
  outputs_load(&o, *state, TH_SIM_REVOKE_PCK, 4);
  X509 *pck = sk_X509_value(o.pck_chain, 0), *pck_ca = sk_X509_value(o.pck_chain, 1);
  STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(o.pck_crl);
  assert_int_equal(sk_X509_REVOKED_num(revoked), 1);
  const ASN1_INTEGER *serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, 0));
  assert_int_equal(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(pck)), 0);
  assert_int_equal(ASN1_INTEGER_get(serial), 3);
  assert_int_equal(verify_chain(pck, pck_ca, th_sim_pki_root(o.pki), o.root_crl, o.pck_crl),
                   X509_V_ERR_CERT_REVOKED);
  outputs_free(&o);
  /* Not stored: the next collateral has the empty CRL again. */
  outputs_load(&o, *state, 0, 4);
  assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(o.pck_crl)) <= 0); /* -1: no list */
  assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(o.root_crl)) <= 0);
  assert_int_equal(verify_chain(sk_X509_value(o.pck_chain, 0), sk_X509_value(o.pck_chain, 1),
                                th_sim_pki_root(o.pki), o.root_crl, o.pck_crl),
                   X509_V_OK);
  outputs_free(&o);
}

/* ---- the SGX extension ---- */

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
  for (size_t i = 0; i + m <= n; i++)
    if (!memcmp(hay + i, needle, m)) return 1;
  return 0;
}

static void the_pck_leaf_carries_the_sgx_extension(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  X509 *pck = sk_X509_value(o.pck_chain, 0);
  ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
  int at = X509_get_ext_by_OBJ(pck, oid, -1);
  assert_true(at >= 0);
  assert_int_equal(X509_get_ext_by_OBJ(pck, oid, at), -1); /* once */
  X509_EXTENSION *ext = X509_get_ext(pck, at);
  assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
  const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
  const uint8_t *der = ASN1_STRING_get0_data(v);
  size_t n = (size_t)ASN1_STRING_length(v);
#define SGX_OID 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01
  const uint8_t fmspc[] = {0x30, 0x14, 0x06, 0x0a, SGX_OID, 0x04, 0x04, 0x06, 0, 0, 0, 0, 0, 0};
  const uint8_t pcesvn[] = {0x30, 0x10, 0x06, 0x0b, SGX_OID, 0x02, 0x11, 0x02, 0x01, 13};
  const uint8_t cpusvn[] = {0x30, 0x1f, 0x06, 0x0b, SGX_OID, 0x02, 0x12, 0x04, 0x10, 3, 3, 2, 2,
                            4,    1,    0,    5,    0,       0,    0,    0,    0,    0, 0, 0};
  const uint8_t comp08[] = {0x30, 0x10, 0x06, 0x0b, SGX_OID, 0x02, 0x08, 0x02, 0x01, 5};
  const uint8_t sgx_type[] = {0x30, 0x0f, 0x06, 0x0a, SGX_OID, 0x05, 0x0a, 0x01, 0x01};
  const uint8_t pce_id[] = {0x30, 0x10, 0x06, 0x0a, SGX_OID, 0x03, 0x04, 0x02, 0, 0};
#undef SGX_OID
  assert_true(contains(der, n, fmspc, sizeof fmspc));
  assert_true(contains(der, n, pcesvn, sizeof pcesvn));
  assert_true(contains(der, n, cpusvn, sizeof cpusvn));
  assert_true(contains(der, n, comp08, sizeof comp08));
  assert_true(contains(der, n, sgx_type, sizeof sgx_type));
  assert_true(contains(der, n, pce_id, sizeof pce_id));
  /* 7 entries (Platform-CA layout), each a 2-element SEQUENCE; the TCB has 18. */
  const uint8_t *p = der;
  STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)n);
  assert_non_null(top);
  assert_ptr_equal(p, der + n);
  assert_int_equal(sk_ASN1_TYPE_num(top), 7);
  ASN1_TYPE *tcb_entry = sk_ASN1_TYPE_value(top, 1);
  assert_int_equal(ASN1_TYPE_get(tcb_entry), V_ASN1_SEQUENCE);
  p = tcb_entry->value.sequence->data;
  STACK_OF(ASN1_TYPE) *pair = d2i_ASN1_SEQUENCE_ANY(NULL, &p, tcb_entry->value.sequence->length);
  assert_int_equal(sk_ASN1_TYPE_num(pair), 2);
  ASN1_TYPE *comps = sk_ASN1_TYPE_value(pair, 1);
  p = comps->value.sequence->data;
  STACK_OF(ASN1_TYPE) *tcb = d2i_ASN1_SEQUENCE_ANY(NULL, &p, comps->value.sequence->length);
  assert_int_equal(sk_ASN1_TYPE_num(tcb), 18);
  sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
  sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
  sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
  ASN1_OBJECT_free(oid);
  outputs_free(&o);
}

/* ---- quotes ---- */

static uint32_t u32le(const uint8_t *p) {
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned u16le(const uint8_t *p) { return p[0] | p[1] << 8; }

/* Verifies a raw r||s ECDSA-P256/SHA-256 signature (converted to DER here, independently of
 * core/ecdsa.c). */
static int verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t sig[64]) {
  ECDSA_SIG *s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
  uint8_t *der = NULL;
  int dlen = i2d_ECDSA_SIG(s, &der);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestVerify(md, der, (size_t)dlen, msg, len) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(s);
  ERR_clear_error();
  return ok;
}

static EVP_PKEY *xy_key(const uint8_t xy[64]) {
  uint8_t point[65] = {0x04};
  memcpy(point + 1, xy, 64);
  OSSL_PARAM params[] = {
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
      OSSL_PARAM_END,
  };
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
  assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
  EVP_PKEY_CTX_free(ctx);
  return key;
}

/* Checks the layout of spec 1.7 at sig (the signature data), the two signatures and the key
 * binding. */
static void check_quote(outputs *o, size_t signed_len) {
  const uint8_t *q = o->quote;
  uint32_t sig_len = u32le(q + signed_len);
  const uint8_t *s = q + signed_len + 4;
  assert_int_equal(o->quote_len, signed_len + 4 + sig_len);
  assert_int_equal(u16le(q + 2), 2);
  assert_int_equal(u32le(q + 4), 0x81);
  static const uint8_t vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                     0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
  assert_memory_equal(q + 12, vendor, 16);
  EVP_PKEY *att = xy_key(s + 64);
  assert_true(verify_raw(att, q, signed_len, s));
  uint8_t *tampered = malloc(signed_len);
  memcpy(tampered, q, signed_len);
  tampered[signed_len - 1] ^= 1;
  assert_false(verify_raw(att, tampered, signed_len, s));
  free(tampered);
  EVP_PKEY_free(att);
  assert_int_equal(u16le(s + 128), 6);
  uint32_t outer = u32le(s + 130);
  assert_int_equal(sig_len, 64 + 64 + 2 + 4 + outer);
  const uint8_t *report = s + 134, *qe_sig = s + 518;
  EVP_PKEY *pck = X509_get0_pubkey(sk_X509_value(o->pck_chain, 0));
  assert_true(verify_raw(pck, report, 384, qe_sig));
  assert_int_equal(u16le(s + 582), 32);
  for (int i = 0; i < 32; i++) assert_int_equal(s[584 + i], i);
  uint8_t buf[96], h[32], zero[32] = {0};
  memcpy(buf, s + 64, 64);
  memcpy(buf + 64, s + 584, 32);
  SHA256(buf, sizeof buf, h);
  assert_memory_equal(report + 320, h, 32);
  assert_memory_equal(report + 352, zero, 32);
  assert_int_equal(u16le(s + 616), 5);
  uint32_t m = u32le(s + 618);
  assert_int_equal(outer, 384 + 64 + 2 + 32 + 2 + 4 + m);
  assert_int_equal(q[o->quote_len - 1], 0); /* the PEM's NUL, counted in m */
  assert_memory_equal(s + 622, "-----BEGIN CERTIFICATE-----", 27);
}

static void parse_with_core_quote(outputs *o, int version) {
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, o->quote, o->quote_len, &err) != 0) fail_msg("parse: %s", err.message);
  assert_int_equal(q.version, version);
  assert_int_equal(q.tee_type, TH_TEE_TDX);
  assert_int_equal(q.body_type, version == 5 ? TH_BODY_TD15 : TH_BODY_TD10);
  assert_int_equal(q.signed_len, version == 5 ? 702 : 632);
  assert_int_equal(q.trailing, 0);
  assert_int_equal(q.cert_type, TH_CERT_PCK_CHAIN);
  assert_int_equal(q.qe_auth_len, 32);
  assert_int_equal(q.qe_report.isvprodid, 2);
  assert_int_equal(q.qe_report.isvsvn, 4);
  assert_int_equal(q.td.tee_tcb_svn[0], 6);
  assert_int_equal(q.td.td_attributes[3], 0x10);
  assert_int_equal(q.td.reportdata[63], 0xab);
}

static void a_v4_quote_has_the_spec_layout_and_verifies(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  assert_int_equal(u16le(o.quote), 4);
  assert_int_equal(u32le(o.quote + 632), o.quote_len - 636);
  assert_int_equal(u16le(o.quote + 764), 6);
  assert_int_equal(u16le(o.quote + 1218), 32);
  assert_int_equal(u16le(o.quote + 1252), 5);
  assert_memory_equal(o.quote + 48, "\x06\x01\x03", 3);            /* TEE_TCB_SVN */
  assert_memory_equal(o.quote + 168, "\0\0\0\x10\0\0\0\0", 8);     /* TDATTRIBUTES */
  assert_memory_equal(o.quote + 176, "\xe7\x02\x06\0\0\0\0\0", 8); /* XFAM */
  assert_int_equal(o.quote[568], 0xab);                            /* REPORTDATA */
  check_quote(&o, 632);
  parse_with_core_quote(&o, 4);
  outputs_free(&o);
}

static void a_v5_quote_signs_702_bytes(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 5);
  assert_int_equal(u16le(o.quote), 5);
  assert_memory_equal(o.quote + 48, "\x03\x00\x88\x02\x00\x00", 6);
  assert_memory_equal(o.quote + 54, "\x06\x01\x03", 3);
  assert_int_equal(u32le(o.quote + 702), o.quote_len - 706);
  assert_int_equal(u16le(o.quote + 834), 6);
  assert_int_equal(u16le(o.quote + 1322), 5);
  check_quote(&o, 702);
  parse_with_core_quote(&o, 5);
  th_err err = {0};
  th_sim_td td;
  th_sim_td_defaults(&td);
  uint8_t *q = NULL;
  size_t len = 0;
  assert_int_equal(th_sim_pki_quote(o.pki, &td, 3, &q, &len, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_non_null(strstr(err.message, "version 3 unsupported"));
  outputs_free(&o);
}

/* ---- collateral ---- */

static void check_signed_text(outputs *o, const char *key, const char *sig_key) {
  const char *text = col_string(o->col, key), *sig_hex = col_string(o->col, sig_key);
  uint8_t sig[64];
  vector_unhex(sig_hex, sig, 64);
  for (const char *c = sig_hex; *c; c++)
    assert_true((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'));
  EVP_PKEY *tcb = X509_get0_pubkey(sk_X509_value(o->tcb_chain, 0));
  assert_true(verify_raw(tcb, (const uint8_t *)text, strlen(text), sig));
  char *copy = strdup(text);
  copy[10] ^= 1;
  assert_false(verify_raw(tcb, (const uint8_t *)copy, strlen(copy), sig));
  free(copy);
}

static void the_collateral_has_the_nine_keys_and_verifying_signatures(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  static const char *const keys[] = {
      "pck_crl_issuer_chain",     "root_ca_crl", "pck_crl",
      "tcb_info_issuer_chain",    "tcb_info",    "tcb_info_signature",
      "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"};
  int n = 0;
  for (cJSON *it = o.col->child; it; it = it->next, n++) {
    assert_true(n < 9);
    assert_string_equal(it->string, keys[n]);
    assert_true(cJSON_IsString(it));
  }
  assert_int_equal(n, 9);
  check_signed_text(&o, "tcb_info", "tcb_info_signature");
  check_signed_text(&o, "qe_identity", "qe_identity_signature");
  assert_string_equal(col_string(o.col, "qe_identity_issuer_chain"),
                      col_string(o.col, "tcb_info_issuer_chain"));
  outputs_free(&o);
}

static void the_tcb_info_and_qe_identity_match_the_quote(void **state) {
  outputs o;
  outputs_load(&o, *state, 0, 4);
  cJSON *tcb = cJSON_Parse(col_string(o.col, "tcb_info"));
  cJSON *qe = cJSON_Parse(col_string(o.col, "qe_identity"));
  assert_non_null(tcb);
  assert_non_null(qe);
  /* t - 1 day, t + 30 days, for t = 2025-06-15T15:06:40Z. */
  assert_string_equal(cJSON_GetObjectItem(tcb, "issueDate")->valuestring, "2025-06-14T15:06:40Z");
  assert_string_equal(cJSON_GetObjectItem(tcb, "nextUpdate")->valuestring, "2025-07-15T15:06:40Z");
  assert_string_equal(cJSON_GetObjectItem(qe, "issueDate")->valuestring, "2025-06-14T15:06:40Z");
  assert_string_equal(cJSON_GetObjectItem(qe, "nextUpdate")->valuestring, "2025-07-15T15:06:40Z");
  assert_string_equal(cJSON_GetObjectItem(tcb, "id")->valuestring, "TDX");
  assert_string_equal(cJSON_GetObjectItem(tcb, "fmspc")->valuestring, "000000000000");
  assert_string_equal(tcb->child->string, "id"); /* key order of spec 4.7 */
  assert_string_equal(tcb->child->next->string, "version");
  /* Levels: first matches the PCK (CPUSVN, PCESVN 13) and the quote's TEE_TCB_SVN 6,1,3. */
  cJSON *levels = cJSON_GetObjectItem(tcb, "tcbLevels");
  assert_int_equal(cJSON_GetArraySize(levels), 2);
  cJSON *first = cJSON_GetArrayItem(levels, 0), *second = cJSON_GetArrayItem(levels, 1);
  cJSON *ftcb = cJSON_GetObjectItem(first, "tcb");
  assert_string_equal(cJSON_GetObjectItem(first, "tcbStatus")->valuestring, "UpToDate");
  assert_int_equal(cJSON_GetObjectItem(ftcb, "pcesvn")->valueint, 13);
  cJSON *sgx = cJSON_GetObjectItem(ftcb, "sgxtcbcomponents"),
        *tdx = cJSON_GetObjectItem(ftcb, "tdxtcbcomponents");
  assert_int_equal(cJSON_GetArraySize(sgx), 16);
  assert_int_equal(cJSON_GetArraySize(tdx), 16);
  for (int i = 0; i < 16; i++)
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(sgx, i), "svn")->valueint,
                     TH_SIM_CPUSVN[i]);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tdx, 2), "svn")->valueint, 3);
  assert_string_equal(cJSON_GetObjectItem(second, "tcbStatus")->valuestring, "OutOfDate");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(second, "advisoryIDs")), 1);
  cJSON *module = cJSON_GetArrayItem(cJSON_GetObjectItem(tcb, "tdxModuleIdentities"), 0);
  assert_string_equal(cJSON_GetObjectItem(module, "id")->valuestring, "TDX_01");
  /* QE identity: mrsigner = the QE report's MRSIGNER in upper hex; isvprodid 2, isvsvn 4. */
  const uint8_t *mrsigner = o.quote + 636 + 134 + 128;
  char want[65];
  for (int i = 0; i < 32; i++) snprintf(want + 2 * i, 3, "%02X", mrsigner[i]);
  assert_string_equal(cJSON_GetObjectItem(qe, "mrsigner")->valuestring, want);
  assert_string_equal(cJSON_GetObjectItem(qe, "id")->valuestring, "TD_QE");
  assert_int_equal(cJSON_GetObjectItem(qe, "isvprodid")->valueint, 2);
  cJSON_Delete(tcb);
  cJSON_Delete(qe);
  outputs_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(derivation_matches_the_spec_check_value),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(open_twice_reuses_the_stored_root),
      T(directory_is_0700_and_files_are_0600),
      T(a_group_readable_seed_is_refused),
      T(a_group_readable_directory_is_refused),
      T(another_seed_than_the_stored_one_is_refused),
      T(a_damaged_certificate_file_is_named_and_can_be_recreated),
      T(chains_verify_strictly_under_the_simulated_root),
      T(intels_root_does_not_accept_the_simulated_chains),
      T(the_revoke_flag_lists_the_pck_leaf_in_a_fresh_pck_crl),
      T(the_pck_leaf_carries_the_sgx_extension),
      T(a_v4_quote_has_the_spec_layout_and_verifies),
      T(a_v5_quote_signs_702_bytes),
      T(the_collateral_has_the_nine_keys_and_verifying_signatures),
      T(the_tcb_info_and_qe_identity_match_the_quote),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
