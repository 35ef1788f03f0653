/* tests/unit/test_ratls.c — P-256 key encodings and dstack RA-TLS certificates (core/p256_keys.c,
 * core/ratls_cert.c, core/ratls_read.c, core/ratls_app_info.c), against ratls.json, the two
 * example chains, appkeys.json's CA and upstream's pinned app-info bytes: DeriveKey's PKCS#8/SPKI
 * byte for byte, extension DER, evidence from the .1.8 and the legacy .1.1/.1.2 layouts and its
 * binding to the leaf key, leaves issued under the simulator CA read back with OpenSSL (signature,
 * SANs, key usage, EKU, validity, extensions), and the errors for unusable input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ecdsa.h"
#include "pck.h"
#include "ratls.h"
#include "vectors.h"

static cJSON *ratls, *appkeys;

static int load(void **state) {
  (void)state;
  size_t len;
  char *text = vector_read("dstack/ratls.json", &len);
  ratls = cJSON_Parse(text);
  free(text);
  text = vector_read("dstack/appkeys.json", &len);
  appkeys = cJSON_Parse(text);
  free(text);
  return ratls && appkeys ? 0 : -1;
}

static int unload(void **state) {
  (void)state;
  cJSON_Delete(ratls);
  cJSON_Delete(appkeys);
  return 0;
}

/* ratls.json["a"]["b"]... as a string. */
static const char *str_at(const cJSON *obj, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
  if (b) v = cJSON_GetObjectItemCaseSensitive(v, b);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void assert_hex(const char *hex, const uint8_t *bytes, size_t len) {
  size_t n;
  uint8_t *want = vector_unhex_alloc(hex, &n);
  assert_int_equal(n, len);
  if (len) assert_memory_equal(want, bytes, len);
  free(want);
}

static void assert_sha256(const char *hex, const uint8_t *bytes, size_t len) {
  uint8_t d[32];
  SHA256(bytes, len, d);
  assert_hex(hex, d, 32);
}

/* The test's own reading of a dstack extension: the bytes inside its DER OCTET STRING (malloc'd),
 * or NULL when absent. */
static uint8_t *ext_bytes(X509 *cert, const char *oid_txt, size_t *len) {
  ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
  int at = X509_get_ext_by_OBJ(cert, oid, -1);
  ASN1_OBJECT_free(oid);
  if (at < 0) return NULL;
  X509_EXTENSION *ext = X509_get_ext(cert, at);
  assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
  const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
  const unsigned char *p = ASN1_STRING_get0_data(v);
  ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(v));
  assert_non_null(inner);
  assert_ptr_equal(p, ASN1_STRING_get0_data(v) + ASN1_STRING_length(v));
  *len = (size_t)ASN1_STRING_length(inner);
  uint8_t *out = malloc(*len + 1);
  assert_non_null(out);
  memcpy(out, ASN1_STRING_get0_data(inner), *len);
  ASN1_OCTET_STRING_free(inner);
  return out;
}

static STACK_OF(X509) *chain(const char *rel) {
  size_t len;
  char *pem = vector_read(rel, &len);
  th_err err = {0};
  STACK_OF(X509) *c = th_pem_chain_parse(pem, len, rel, &err);
  free(pem);
  assert_non_null(c);
  assert_int_equal(sk_X509_num(c), 2);
  return c;
}

static EVP_PKEY *derive_key_example(void) {
  uint8_t scalar[32];
  th_err err = {0};
  vector_unhex(str_at(ratls, "derive_key_example", "p256_private_scalar"), scalar, 32);
  EVP_PKEY *key = th_p256_from_scalar(scalar, &err);
  assert_non_null(key);
  return key;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static void derive_key_example_encodes_like_dstack(void **state) {
  (void)state;
  EVP_PKEY *key = derive_key_example();
  th_err err = {0};
  uint8_t *der, *spki;
  char *pem;
  size_t der_len, pem_len, spki_len;
  assert_int_equal(th_p256_pkcs8_der(key, &der, &der_len, &err), 0);
  assert_int_equal(der_len, 138);
  assert_hex(str_at(ratls, "derive_key_example", "pkcs8_der"), der, der_len);
  assert_int_equal(th_p256_pkcs8_pem(key, &pem, &pem_len, &err), 0);
  assert_string_equal(pem, str_at(ratls, "derive_key_example", "key_pem"));
  assert_int_equal(pem_len, strlen(pem));
  assert_int_equal(th_p256_spki_der(key, &spki, &spki_len, &err), 0);
  assert_int_equal(spki_len, 91);
  assert_hex(str_at(ratls, "derive_key_example", "spki_der"), spki, spki_len);
  assert_hex(str_at(ratls, "example_chain", "leaf_spki_der"), spki, spki_len);

  /* Loading the PEM back gives the same key. */
  EVP_PKEY *again = th_p256_from_pkcs8_pem(pem, pem_len, &err);
  assert_non_null(again);
  assert_int_equal(EVP_PKEY_eq(key, again), 1);
  EVP_PKEY_free(again);
  OPENSSL_cleanse(der, der_len);
  OPENSSL_cleanse(pem, pem_len);
  free(der);
  free(pem);
  free(spki);
  EVP_PKEY_free(key);
}

static void generated_keys_are_fresh_p256_keys(void **state) {
  (void)state;
  th_err err = {0};
  EVP_PKEY *a = th_p256_generate(&err), *b = th_p256_generate(&err);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_not_equal(EVP_PKEY_eq(a, b), 1);
  uint8_t *der;
  size_t len;
  assert_int_equal(th_p256_pkcs8_der(a, &der, &len, &err), 0);
  assert_int_equal(len, 138);
  OPENSSL_cleanse(der, len);
  free(der);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
}

static void unusable_keys_are_refused(void **state) {
  (void)state;
  th_err err = {0};
  assert_null(th_p256_from_pkcs8_pem("not a key", 9, &err));
  assert_string_equal(err.message, "P-256 key: not a PEM private key");
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  assert_non_null(ed);
  BIO *bio = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, ed, NULL, NULL, 0, NULL, NULL), 1);
  char *pem;
  long n = BIO_get_mem_data(bio, &pem);
  assert_null(th_p256_from_pkcs8_pem(pem, (size_t)n, &err));
  assert_string_equal(err.message, "P-256 key: the PEM key is not a P-256 key");
  uint8_t *der;
  size_t len;
  assert_int_equal(th_p256_pkcs8_der(ed, &der, &len, &err), -1);
  assert_string_equal(err.message, "PKCS#8: not a P-256 key");
  BIO_free(bio);
  EVP_PKEY_free(ed);
}

/* ---- reading the example chains ------------------------------------------------------------ */

static void example_chain_evidence_is_bound_to_its_leaf(void **state) {
  (void)state;
  STACK_OF(X509) *c = chain("dstack/ratls-example-chain.pem");
  X509 *leaf = sk_X509_value(c, 0);
  assert_int_equal(X509_verify(leaf, X509_get0_pubkey(sk_X509_value(c, 1))), 1);
  size_t len;
  uint8_t *att = ext_bytes(leaf, "1.3.6.1.4.1.62397.1.8", &len);
  assert_non_null(att);
  assert_int_equal(len, cJSON_GetObjectItem(cJSON_GetObjectItem(ratls, "example_chain"),
                                            "attestation_extension_len")
                            ->valuedouble);
  assert_sha256(str_at(ratls, "example_chain", "attestation_extension_sha256"), att, len);

  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_ratls_evidence(leaf, &a, &err), 0);
  assert_int_equal(a.form, TH_ATTESTATION_V0);
  assert_hex(str_at(ratls, "example_chain", "expected_report_data"), a.report_data, 64);
  assert_hex(str_at(ratls, "example_chain", "expected_report_data"), a.quote + 568, 64);
  assert_int_equal(a.log.n, cJSON_GetObjectItem(cJSON_GetObjectItem(ratls, "example_chain"),
                                                "stripped_event_count")
                                ->valuedouble);
  assert_int_equal(th_ratls_check_binding(leaf, a.report_data, &err), 0);
  /* The decoded container re-encodes to the extension's bytes. */
  uint8_t *out;
  size_t out_len;
  assert_int_equal(th_attestation_encode(&a, &out, &out_len, &err), 0);
  assert_int_equal(out_len, len);
  assert_memory_equal(out, att, len);
  free(out);
  assert_int_equal(th_ratls_check_attestation(leaf, &a, &err), 0);
  a.quote[600] ^= 1; /* inside the quote's REPORTDATA (568..632) */
  assert_int_equal(th_ratls_check_attestation(leaf, &a, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_string_equal(err.message,
                      "RA-TLS: the quote's REPORTDATA differs from the attestation's report_data");
  a.quote[600] ^= 1;
  /* A changed report data does not bind. */
  a.report_data[0] ^= 1;
  assert_int_equal(th_ratls_check_binding(leaf, a.report_data, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_string_equal(err.message,
                      "RA-TLS: report data is not SHA-512(\"ratls-cert:\" || the certificate's "
                      "public key): the evidence is not bound to this certificate");
  th_attestation_free(&a);
  free(att);
  sk_X509_pop_free(c, X509_free);
}

static void legacy_chain_evidence_comes_from_quote_and_log(void **state) {
  (void)state;
  STACK_OF(X509) *c = chain("dstack/ratls-example-legacy-chain.pem");
  X509 *leaf = sk_X509_value(c, 0);
  assert_int_equal(X509_verify(leaf, X509_get0_pubkey(sk_X509_value(c, 1))), 1);
  size_t qlen, llen;
  uint8_t *q = ext_bytes(leaf, "1.3.6.1.4.1.62397.1.1", &qlen);
  uint8_t *l = ext_bytes(leaf, "1.3.6.1.4.1.62397.1.2", &llen);
  assert_non_null(q);
  assert_non_null(l);
  assert_sha256(str_at(ratls, "example_legacy_chain", "quote_sha256"), q, qlen);
  assert_sha256(str_at(ratls, "example_legacy_chain", "event_log_json_sha256"), l, llen);

  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_ratls_evidence(leaf, &a, &err), 0);
  assert_int_equal(a.form, TH_ATTESTATION_LEGACY);
  assert_int_equal(a.quote_len, qlen);
  assert_memory_equal(a.quote, q, qlen);
  assert_hex(str_at(ratls, "example_chain", "expected_report_data"), a.report_data, 64);
  assert_int_equal(th_ratls_check_binding(leaf, a.report_data, &err), 0);
  assert_int_equal(th_ratls_check_attestation(leaf, &a, &err), 0);
  assert_int_equal(a.log.n, 33);
  assert_int_equal(a.runtime_events.n, 9);
  assert_string_equal(a.runtime_events.events[0].event, "system-preparing");
  assert_string_equal(a.runtime_events.events[8].event, "system-ready");
  assert_string_equal(a.config, "");
  th_attestation_free(&a);
  free(q);
  free(l);
  sk_X509_pop_free(c, X509_free);
}

static void a_certificate_without_evidence_says_so(void **state) {
  (void)state;
  STACK_OF(X509) *c = chain("dstack/ratls-example-chain.pem");
  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_ratls_evidence(sk_X509_value(c, 1), &a, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message,
                      "RA-TLS: the certificate carries no attestation (no extension "
                      "1.3.6.1.4.1.62397.1.8 or .1.1)");
  th_attestation_free(&a);
  sk_X509_pop_free(c, X509_free);
}

/* ---- issuing --------------------------------------------------------------------------------- */

typedef struct ca {
  X509 *cert;
  EVP_PKEY *key;
} ca;

static ca simulator_ca(void) {
  const char *pem = str_at(appkeys, "ca_cert", NULL);
  const char *key = str_at(cJSON_GetObjectItem(appkeys, "key_provider"), "None", "key");
  th_err err = {0};
  ca out;
  BIO *bio = BIO_new_mem_buf(pem, -1);
  out.cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  out.key = th_p256_from_pkcs8_pem(key, strlen(key), &err);
  assert_non_null(out.cert);
  assert_non_null(out.key);
  return out;
}

static void ca_free(ca *c) {
  X509_free(c->cert);
  EVP_PKEY_free(c->key);
}

static X509 *issue(const th_ratls_cert_request *req, EVP_PKEY *leaf_key, ca *c) {
  char *pem = NULL;
  th_err err = {0};
  if (th_ratls_issue(req, leaf_key, c->key, c->cert, &pem, &err) != 0) fail_msg("%s", err.message);
  BIO *bio = BIO_new_mem_buf(pem, -1);
  X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  assert_non_null(cert);
  assert_int_equal(X509_verify(cert, c->key), 1);
  assert_int_equal(X509_check_issued(c->cert, cert), X509_V_OK);
  free(pem);
  return cert;
}

static void extension_examples_have_the_vector_der(void **state) {
  (void)state;
  ca c = simulator_ca();
  EVP_PKEY *key = derive_key_example();
  uint8_t app_id[20];
  const cJSON *ex = cJSON_GetObjectItem(ratls, "extension_examples");
  vector_unhex(str_at(cJSON_GetArrayItem(ex, 1), "content_hex", NULL), app_id, 20);
  th_ratls_cert_request req = {.subject = "example.com",
                               .special_usage = str_at(cJSON_GetArrayItem(ex, 0), "content", NULL),
                               .app_id = app_id};
  X509 *cert = issue(&req, key, &c);
  for (int i = 0; i < 2; i++) {
    const cJSON *e = cJSON_GetArrayItem(ex, i);
    ASN1_OBJECT *oid = OBJ_txt2obj(str_at(e, "oid", NULL), 1);
    int at = X509_get_ext_by_OBJ(cert, oid, -1);
    ASN1_OBJECT_free(oid);
    assert_true(at >= 0);
    unsigned char *der = NULL;
    int n = i2d_X509_EXTENSION(X509_get_ext(cert, at), &der);
    assert_hex(str_at(e, "extension_der", NULL), der, (size_t)n);
    OPENSSL_free(der);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  ca_free(&c);
}

/* The fixture container with report data bound to `key`, as the simulator would embed it. */
static uint8_t *bound_container(EVP_PKEY *key, size_t *len, uint8_t report_data[64]) {
  size_t bin_len, spki_len;
  uint8_t *bin = (uint8_t *)vector_read("dstack/attestation.bin", &bin_len), *spki, *out;
  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_attestation_decode(bin, bin_len, &a, &err), 0);
  assert_int_equal(th_p256_spki_der(key, &spki, &spki_len, &err), 0);
  uint8_t *msg = malloc(11 + spki_len);
  memcpy(msg, "ratls-cert:", 11);
  memcpy(msg + 11, spki, spki_len);
  SHA512(msg, 11 + spki_len, report_data);
  memcpy(a.report_data, report_data, 64);
  memcpy(a.quote + 568, report_data, 64);
  assert_int_equal(th_attestation_encode(&a, &out, len, &err), 0);
  th_attestation_free(&a);
  free(msg);
  free(spki);
  free(bin);
  return out;
}

static void issued_leaf_carries_bound_evidence(void **state) {
  (void)state;
  ca c = simulator_ca();
  th_err err = {0};
  EVP_PKEY *key = th_p256_generate(&err);
  uint8_t rd[64], *att;
  size_t att_len;
  att = bound_container(key, &att_len, rd);
  static const uint8_t info[] = {0x98, 0xc4, 0};
  const char *alt[] = {"example.com", "203.0.113.10", "::1"};
  th_ratls_cert_request req = {.subject = "example.com", .alt_names = alt, .n_alt_names = 3,
                               .server_auth = 1, .special_usage = "app:custom",
                               .attestation = att, .attestation_len = att_len,
                               .app_info = info, .app_info_len = sizeof info};
  X509 *cert = issue(&req, key, &c);

  /* Subject, SANs (DNS, IPv4, IPv6), key usage (critical), EKU serverAuth only. */
  char cn[64];
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  assert_string_equal(cn, "example.com");
  GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  assert_int_equal(sk_GENERAL_NAME_num(sans), 3);
  assert_int_equal(sk_GENERAL_NAME_value(sans, 0)->type, GEN_DNS);
  assert_int_equal(sk_GENERAL_NAME_value(sans, 1)->type, GEN_IPADD);
  assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(sans, 1)->d.iPAddress), 4);
  assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(sans, 2)->d.iPAddress), 16);
  GENERAL_NAMES_free(sans);
  assert_int_equal(X509_check_host(cert, "example.com", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(cert, "203.0.113.10", 0), 1);
  assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
  assert_int_equal(
      X509_EXTENSION_get_critical(X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_key_usage, -1))),
      1);
  assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_SERVER);

  /* Extensions read back; the evidence binds the leaf key. */
  size_t n;
  uint8_t *v = ext_bytes(cert, "1.3.6.1.4.1.62397.1.4", &n);
  assert_int_equal(n, 10);
  assert_memory_equal(v, "app:custom", 10);
  free(v);
  v = ext_bytes(cert, "1.3.6.1.4.1.62397.1.9", &n);
  assert_int_equal(n, sizeof info);
  assert_memory_equal(v, info, n);
  free(v);
  assert_null(ext_bytes(cert, "1.3.6.1.4.1.62397.1.1", &n));
  assert_null(ext_bytes(cert, "1.3.6.1.4.1.62397.1.3", &n));
  th_attestation a;
  assert_int_equal(th_ratls_evidence(cert, &a, &err), 0);
  assert_memory_equal(a.report_data, rd, 64);
  assert_int_equal(a.log.n, 33);
  assert_int_equal(th_ratls_check_binding(cert, a.report_data, &err), 0);
  assert_int_equal(th_ratls_check_attestation(cert, &a, &err), 0);
  th_attestation_free(&a);

  /* Default validity: 1975-01-01 to about now + 3650 days. */
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), 157766400), 0);
  time_t later = time(NULL) + 3650L * 86400;
  assert_true(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), later - 60) >= 0);
  assert_true(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), later + 60) <= 0);
  X509_free(cert);
  free(att);
  EVP_PKEY_free(key);
  ca_free(&c);
}

static void eku_and_validity_are_as_asked(void **state) {
  (void)state;
  ca c = simulator_ca();
  th_err err = {0};
  EVP_PKEY *key = th_p256_generate(&err);
  th_ratls_cert_request req = {.subject = "", .has_not_before = 1, .not_before = 1700000000,
                               .has_not_after = 1, .not_after = 4102444800 /* 2100 */};
  X509 *cert = issue(&req, key, &c);
  assert_true(X509_get_ext_by_NID(cert, NID_ext_key_usage, -1) < 0);
  assert_true(X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) < 0);
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), 1700000000), 0);
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), 4102444800), 0);
  assert_int_equal(X509_get0_notAfter(cert)->type, V_ASN1_GENERALIZEDTIME);
  assert_int_equal(th_ratls_evidence(cert, &(th_attestation){0}, &err), -1);
  X509_free(cert);

  req.client_auth = 1;
  cert = issue(&req, key, &c);
  assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
  X509_free(cert);
  req.server_auth = 1;
  cert = issue(&req, key, &c);
  assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_SERVER | XKU_SSL_CLIENT);
  X509_free(cert);

  /* A CN longer than X.509's suggested 64 characters is written as asked (rcgen does too). */
  char long_cn[101];
  memset(long_cn, 'a', 100);
  long_cn[100] = 0;
  req.subject = long_cn;
  cert = issue(&req, key, &c);
  char cn[128];
  assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                             sizeof cn),
                   100);
  X509_free(cert);

  char *pem = NULL;
  const char *bad[] = {"ok.example", "caf\xc3\xa9.example"};
  req.alt_names = bad;
  req.n_alt_names = 2;
  assert_int_equal(th_ratls_issue(&req, key, c.key, c.cert, &pem, &err), -1);
  assert_string_equal(err.message, "alt_names[1]: not a printable ASCII name");
  req.n_alt_names = 0;
  req.not_after = req.not_before;
  assert_int_equal(th_ratls_issue(&req, key, c.key, c.cert, &pem, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "not_before must be earlier than not_after");
  assert_null(pem);
  EVP_PKEY_free(key);
  ca_free(&c);
}

static void a_legacy_leaf_with_a_compressed_log_is_refused(void **state) {
  (void)state;
  ca c = simulator_ca();
  th_err err = {0};
  EVP_PKEY *key = th_p256_generate(&err);
  size_t qlen;
  uint8_t *quote = (uint8_t *)vector_read("dstack/attestation.bin", &qlen);
  th_ratls_cert_request req = {.subject = "x", .quote = quote + 4, .quote_len = 5010,
                               .event_log_json = "ELGZv1\x1f\x8b"};
  X509 *cert = issue(&req, key, &c);
  th_attestation a;
  assert_int_equal(th_ratls_evidence(cert, &a, &err), -1);
  assert_string_equal(err.message, "RA-TLS: compressed event logs (ELGZv1) are not supported");
  X509_free(cert);
  free(quote);
  EVP_PKEY_free(key);
  ca_free(&c);
}

static void a_created_ca_issues_verifiable_leaves(void **state) {
  (void)state;
  th_err err = {0};
  EVP_PKEY *key = th_p256_generate(&err);
  ca c = {th_ratls_ca_create(key, "Dstack KMS CA", &err), key};
  assert_non_null(c.cert);
  assert_int_equal(X509_verify(c.cert, key), 1);
  assert_int_equal(X509_check_ca(c.cert), 1);
  assert_int_equal(X509_get_key_usage(c.cert) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN),
                   KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(c.cert), 157766400), 0);
  char *pem;
  assert_int_equal(th_x509_pem(c.cert, &pem, &err), 0);
  assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----\n"));
  free(pem);
  EVP_PKEY *leaf_key = th_p256_generate(&err);
  th_ratls_cert_request req = {.subject = "leaf"};
  X509 *leaf = issue(&req, leaf_key, &c);
  /* A full chain check with OpenSSL's verifier. */
  X509_STORE *store = X509_STORE_new();
  X509_STORE_add_cert(store, c.cert);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
  assert_int_equal(X509_verify_cert(ctx), 1);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  /* The wrong CA key is refused before signing. */
  th_ratls_cert_request r2 = {.subject = "x"};
  assert_int_equal(th_ratls_issue(&r2, leaf_key, leaf_key, c.cert, &pem, &err), -1);
  assert_string_equal(err.message, "certificate: the CA key does not match the CA certificate");
  X509_free(leaf);
  EVP_PKEY_free(leaf_key);
  ca_free(&c);
}

/* ---- app info -------------------------------------------------------------------------------- */

/* Upstream's pinned v0.5.11 encoding: LEGACY_POSITIONAL_APP_INFO in Dstack-TEE/dstack
 * ra-tls/src/cert.rs (app_info_encoding tests), for its sample_app_info(). */
static void app_info_matches_upstreams_positional_bytes(void **state) {
  (void)state;
  static const char upstream[] =
      "98c403a1a2a3c402b1b2c402c1c2c401d1c42051515151515151515151515151"
      "51515151515151515151515151515151515151c4206262626262626262626262"
      "626262626262626262626262626262626262626262c402e1e2c4036b6d73";
  static const uint8_t app_id[] = {0xa1, 0xa2, 0xa3}, compose[] = {0xb1, 0xb2},
                       instance[] = {0xc1, 0xc2}, device[] = {0xd1}, os[] = {0xe1, 0xe2};
  uint8_t mr_system[32], mr_aggregated[32];
  memset(mr_system, 0x51, 32);
  memset(mr_aggregated, 0x62, 32);
  th_app_info info = {app_id, 3, compose, 2, instance, 2, device, 1, mr_system, 32,
                      mr_aggregated, 32, os, 2, (const uint8_t *)"kms", 3};
  uint8_t *out;
  size_t len;
  th_err err = {0};
  assert_int_equal(th_app_info_msgpack(&info, &out, &len, &err), 0);
  assert_hex(upstream, out, len);
  free(out);

  /* Long fields switch to bin16. */
  uint8_t big[300] = {0};
  th_app_info wide = {.key_provider_info = big, .key_provider_info_len = sizeof big};
  assert_int_equal(th_app_info_msgpack(&wide, &out, &len, &err), 0);
  assert_int_equal(len, 1 + 7 * 2 + 3 + 300);
  assert_memory_equal(out + 15, "\xc5\x01\x2c", 3);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(derive_key_example_encodes_like_dstack),
      cmocka_unit_test(generated_keys_are_fresh_p256_keys),
      cmocka_unit_test(unusable_keys_are_refused),
      cmocka_unit_test(example_chain_evidence_is_bound_to_its_leaf),
      cmocka_unit_test(legacy_chain_evidence_comes_from_quote_and_log),
      cmocka_unit_test(a_certificate_without_evidence_says_so),
      cmocka_unit_test(extension_examples_have_the_vector_der),
      cmocka_unit_test(issued_leaf_carries_bound_evidence),
      cmocka_unit_test(eku_and_validity_are_as_asked),
      cmocka_unit_test(a_legacy_leaf_with_a_compressed_log_is_refused),
      cmocka_unit_test(a_created_ca_issues_verifiable_leaves),
      cmocka_unit_test(app_info_matches_upstreams_positional_bytes),
  };
  return cmocka_run_group_tests(tests, load, unload);
}
