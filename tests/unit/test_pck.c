/* tests/unit/test_pck.c — core/pck: PEM chains and the SGX extension of PCK leaf certificates.
 *
 * The real chains come from the vector quotes (tests/vectors/dcap/), found by core/quote at the
 * offsets of shared/specs/tdx-quote.md 1.7/1.8; expected extension values are those of
 * shared/vectors/README.md section 5. Malformed extensions are built here: a bare certificate
 * (no key, no signature: the parser reads extensions only) carrying hand-assembled DER, each
 * byte string's layout written next to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pck.h"
#include "quote.h"
#include "vectors.h"

/* ---- vectors ------------------------------------------------------------------------------- */

/* Where each quote's PEM chain (with its trailing NUL) lies: spec 1.7 (TDX v4, v5) and 1.8. */
typedef struct chain_at {
  const char *quote;
  size_t offset, len;
} chain_at;
static const chain_at TDX_QUOTE = {"dcap/tdx_quote", 1258, 3678};
static const chain_at TDX_OUTDATED = {"dcap/tdx_quote_outdated", 1328, 3678};
static const chain_at SGX_QUOTE = {"dcap/sgx_quote", 1052, 3548};

/* The quote's PEM chain as core/quote finds it (checked against the spec's offsets). */
static STACK_OF(X509) *vector_chain(const chain_at *at) {
  size_t n;
  uint8_t *b = vector_quote(at->quote, &n);
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, b, n, &err) != 0) fail_msg("%s: %s", at->quote, err.message);
  assert_int_equal(q.cert_type, 5);
  assert_int_equal(q.cert_offset, at->offset);
  assert_int_equal(q.cert_len, at->len);
  assert_int_equal(b[q.cert_offset + q.cert_len - 1], 0); /* the counted NUL */
  STACK_OF(X509) *chain =
      th_pem_chain_parse((const char *)b + q.cert_offset, q.cert_len, "quote", &err);
  if (!chain) fail_msg("%s", err.message);
  free(b);
  return chain;
}

static void assert_hex(const uint8_t *got, const char *want_hex) {
  uint8_t want[64];
  size_t n = strlen(want_hex) / 2;
  vector_unhex(want_hex, want, n);
  assert_memory_equal(got, want, n);
}

typedef struct expect {
  const char *fmspc, *cpusvn, *ppid;
  unsigned pcesvn;
  int sgx_type, has_instance_id;
  const char *ca;
} expect;

static void check_vector(const chain_at *at, const expect *e) {
  STACK_OF(X509) *chain = vector_chain(at);
  assert_int_equal(sk_X509_num(chain), 3);
  X509 *leaf = sk_X509_value(chain, 0);
  th_pck_ext ext;
  th_err err = {0};
  if (th_pck_ext_parse(leaf, &ext, &err) != 0) fail_msg("%s", err.message);
  assert_hex(ext.fmspc, e->fmspc);
  assert_hex(ext.pceid, "0000");
  assert_hex(ext.cpusvn, e->cpusvn);
  assert_memory_equal(ext.comp_svn, ext.cpusvn, 16); /* Intel keeps .2.1–.2.16 equal */
  assert_int_equal(ext.pcesvn, e->pcesvn);
  assert_hex(ext.ppid, e->ppid);
  assert_int_equal(ext.sgx_type, e->sgx_type);
  assert_int_equal(ext.has_platform_instance_id, e->has_instance_id);
  assert_string_equal(th_pck_ca_kind(leaf), e->ca);
  sk_X509_pop_free(chain, X509_free);
}

static void test_tdx_quote_chain(void **state) {
  (void)state;
  expect e = {"b0c06f000000", "03030202040100050000000000000000",
              "811dca2a26b952e85bb6448b097ba4fd", 11, 1, 1, "platform"};
  check_vector(&TDX_QUOTE, &e);
}

static void test_tdx_quote_outdated_chain(void **state) {
  (void)state;
  expect e = {"90c06f000000", "03030202040100030000000000000000",
              "66498c9263c04ed2f0657c530ac2b0cb", 13, 1, 1, "platform"};
  check_vector(&TDX_OUTDATED, &e);
}

static void test_sgx_quote_chain_processor_ca(void **state) {
  (void)state;
  expect e = {"00a067110000", "0b0b0202ff0100000000000000000000",
              "d04ec06d4e6d92dc90d0ad3cf5ee2ddf", 13, 0, 0, "processor"};
  check_vector(&SGX_QUOTE, &e);
}

/* The chain's middle and last certificates are the PCK CA and the root: no SGX extension. */
static void test_ca_certificate_has_no_extension(void **state) {
  (void)state;
  STACK_OF(X509) *chain = vector_chain(&TDX_QUOTE);
  th_pck_ext ext;
  th_err err = {0};
  assert_int_equal(th_pck_ext_parse(sk_X509_value(chain, 2), &ext, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, "PCK certificate: SGX extension missing");
  sk_X509_pop_free(chain, X509_free);
}

/* ---- malformed PEM ------------------------------------------------------------------------- */

static void expect_pem_error(const char *pem, size_t len, const char *message) {
  th_err err = {0};
  assert_null(th_pem_chain_parse(pem, len, "test chain", &err));
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, message);
}

static void test_pem_empty_and_garbage(void **state) {
  (void)state;
  expect_pem_error("", 0, "test chain: no certificate in the PEM chain");
  expect_pem_error("\0\0\0", 3, "test chain: no certificate in the PEM chain");
  expect_pem_error("hello, world\n", 13,
                   "test chain: unexpected text at byte 0 (want -----BEGIN CERTIFICATE-----)");
  expect_pem_error(NULL, 0, "test chain: no certificate in the PEM chain");
  const char *bad = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
  expect_pem_error(bad, strlen(bad), "test chain: certificate 1 of the PEM chain is malformed");
  /* found by fuzz_pck: an END line overlapping the BEGIN line's dashes */
  const char *overlap = "-----BEGIN CERTIFICATE---------END CERTIFICATE-----\n";
  expect_pem_error(overlap, strlen(overlap), "test chain: certificate 1 has no END line");
}

static void test_pem_truncated(void **state) {
  (void)state;
  size_t n;
  uint8_t *q = vector_quote(TDX_QUOTE.quote, &n);
  const char *pem = (const char *)q + TDX_QUOTE.offset;
  expect_pem_error(pem, 500, "test chain: certificate 1 has no END line");
  /* cut inside the second certificate: the first one parsed, the second is broken */
  const char *second = strstr(strstr(pem, "-----END CERTIFICATE-----") + 1, "-----BEGIN");
  assert_non_null(second);
  expect_pem_error(pem, (size_t)(second - pem) + 200, "test chain: certificate 2 has no END line");
  /* a damaged END line must not let the block swallow the next certificate */
  char *copy = malloc(TDX_QUOTE.len);
  assert_non_null(copy);
  memcpy(copy, pem, TDX_QUOTE.len);
  char *end1 = strstr(copy, "-----END CERTIFICATE-----");
  end1[6] ^= 1;
  expect_pem_error(copy, TDX_QUOTE.len, "test chain: certificate 1 of the PEM chain is malformed");
  end1[6] ^= 1;
  char *begin2 = strstr(end1 + 1, "-----BEGIN");
  begin2[7] ^= 1; /* a damaged BEGIN line: not skipped over, an error */
  expect_pem_error(copy, TDX_QUOTE.len,
                   "test chain: unexpected text at byte 1773 (want -----BEGIN CERTIFICATE-----)");
  free(copy);
  free(q);
}

/* Past the NUL nothing is read; before it, text after the last END line is not a certificate
 * and is refused (a damaged block must not be skipped silently). */
static void test_pem_trailing_text(void **state) {
  (void)state;
  size_t n;
  uint8_t *q = vector_quote(TDX_QUOTE.quote, &n);
  const char *pem = (const char *)q + TDX_QUOTE.offset;
  size_t text_len = TDX_QUOTE.len - 1;
  char *buf = malloc(text_len + 64);
  assert_non_null(buf);
  memcpy(buf, pem, text_len);
  memcpy(buf + text_len, "\0trailing words\n", 16);
  th_err err = {0};
  STACK_OF(X509) *chain = th_pem_chain_parse(buf, text_len + 16, "test", &err);
  assert_non_null(chain);
  assert_int_equal(sk_X509_num(chain), 3);
  sk_X509_pop_free(chain, X509_free);
  memcpy(buf + text_len, "trailing words\n", 15);
  expect_pem_error(buf, text_len + 15,
                   "test chain: unexpected text at byte 3677 (want -----BEGIN CERTIFICATE-----)");
  free(buf);
  free(q);
}

static void test_der_helpers(void **state) {
  (void)state;
  size_t n;
  uint8_t *root = (uint8_t *)vector_read("dcap/TrustedRootCA.der", &n);
  th_err err = {0};
  X509 *x = th_x509_from_der(root, n, "root", &err);
  assert_non_null(x);
  X509_free(x);
  assert_null(th_x509_from_der(root, n - 1, "root", &err));
  assert_string_equal(err.message, "root: not a DER certificate");
  uint8_t *longer = malloc(n + 2);
  assert_non_null(longer);
  memcpy(longer, root, n);
  longer[n] = longer[n + 1] = 0;
  assert_null(th_x509_from_der(longer, n + 2, "root", &err));
  assert_string_equal(err.message, "root: 2 bytes after the DER certificate");
  assert_null(th_crl_from_der(root, n, "crl", &err));
  assert_string_equal(err.message, "crl: not a DER CRL");
  assert_int_equal(err.code, TH_EBADDATA);
  free(longer);
  free(root);
}

/* ---- hand-made extensions ------------------------------------------------------------------ */

typedef struct buf {
  uint8_t b[1024];
  size_t n;
} buf;

/* Appends tag, a DER length (short or 2-byte long form) and the content. */
static void tlv(buf *out, uint8_t tag, const buf *content) {
  out->b[out->n++] = tag;
  if (content->n < 128) {
    out->b[out->n++] = (uint8_t)content->n;
  } else {
    out->b[out->n++] = 0x82;
    out->b[out->n++] = (uint8_t)(content->n >> 8);
    out->b[out->n++] = (uint8_t)content->n;
  }
  memcpy(out->b + out->n, content->b, content->n);
  out->n += content->n;
}

static buf raw(const uint8_t *b, size_t n) {
  buf r = {.n = n};
  memcpy(r.b, b, n);
  return r;
}

/* SEQUENCE { OID 1.2.840.113741.1.13.1[.2].arc, value } */
static void entry(buf *list, int tcb, uint8_t arc, uint8_t tag, const uint8_t *v, size_t vn) {
  static const uint8_t base[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
  buf oid = raw(base, sizeof base), e = {0}, val = raw(v, vn);
  if (tcb) oid.b[oid.n++] = 0x02;
  oid.b[oid.n++] = arc;
  tlv(&e, 0x06, &oid);
  tlv(&e, tag, &val);
  tlv(list, 0x30, &e);
}

enum { OMIT_PCESVN = 1, DUP_FMSPC = 2, SHORT_FMSPC = 4, NEGATIVE_PCESVN = 8 };

/* A valid Processor-CA style extension (.1–.5), changed as `flags` say. */
static buf make_ext(int flags) {
  static const uint8_t ppid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  static const uint8_t cpusvn[16] = {3, 3, 2, 2, 4, 1, 0, 5};
  static const uint8_t fmspc[6] = {0x00, 0x90, 0x6E, 0xA1, 0x00, 0x00};
  static const uint8_t pceid[2] = {0, 0}, pcesvn[2] = {0x00, 0xC8}, neg[1] = {0xF0};
  static const uint8_t type[1] = {1};
  buf tcb = {0}, tcbseq = {0}, list = {0}, ext = {0};
  for (uint8_t i = 1; i <= 16; i++) entry(&tcb, 1, i, 0x02, &cpusvn[i - 1], 1);
  if (flags & NEGATIVE_PCESVN) entry(&tcb, 1, 17, 0x02, neg, 1);
  else if (!(flags & OMIT_PCESVN)) entry(&tcb, 1, 17, 0x02, pcesvn, 2); /* 200 = 02 02 00 C8 */
  entry(&tcb, 1, 18, 0x04, cpusvn, 16);
  tlv(&tcbseq, 0x30, &tcb);
  entry(&list, 0, 1, 0x04, ppid, 16);
  /* .2's value is the TCB SEQUENCE itself: write the entry by hand */
  {
    static const uint8_t oid2[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01, 0x02};
    buf o = raw(oid2, sizeof oid2), e = {0};
    tlv(&e, 0x06, &o);
    memcpy(e.b + e.n, tcbseq.b, tcbseq.n);
    e.n += tcbseq.n;
    tlv(&list, 0x30, &e);
  }
  entry(&list, 0, 3, 0x04, pceid, 2);
  entry(&list, 0, 4, 0x04, fmspc, (flags & SHORT_FMSPC) ? 5 : 6);
  if (flags & DUP_FMSPC) entry(&list, 0, 4, 0x04, fmspc, 6);
  entry(&list, 0, 5, 0x0A, type, 1);
  tlv(&ext, 0x30, &list);
  return ext;
}

/* A certificate with nothing but the given extension DER (added `times` times). */
static X509 *cert_with(const uint8_t *der, size_t n, int times) {
  X509 *x = X509_new();
  ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
  assert_true(x && obj && os && ASN1_OCTET_STRING_set(os, der, (int)n));
  for (int i = 0; i < times; i++) {
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
  }
  ASN1_OBJECT_free(obj);
  ASN1_OCTET_STRING_free(os);
  return x;
}

static void expect_ext(const buf *ext, int times, const char *message) {
  X509 *x = cert_with(ext->b, ext->n, times);
  th_pck_ext out;
  th_err err = {0};
  int rc = th_pck_ext_parse(x, &out, &err);
  X509_free(x);
  if (!message) {
    if (rc != 0) fail_msg("%s", err.message);
    return;
  }
  assert_int_equal(rc, -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, message);
}

static void test_handmade_extension_parses(void **state) {
  (void)state;
  buf ext = make_ext(0);
  X509 *x = cert_with(ext.b, ext.n, 1);
  th_pck_ext out;
  th_err err = {0};
  assert_int_equal(th_pck_ext_parse(x, &out, &err), 0);
  assert_int_equal(out.pcesvn, 200);
  assert_hex(out.fmspc, "00906ea10000");
  assert_int_equal(out.sgx_type, 1);
  assert_int_equal(out.has_platform_instance_id, 0);
  assert_string_equal(th_pck_ca_kind(x), "processor"); /* no issuer CN */
  X509_free(x);
}

static void test_malformed_extensions(void **state) {
  (void)state;
  buf ext = make_ext(SHORT_FMSPC);
  expect_ext(&ext, 1, "PCK certificate: FMSPC must be 6 bytes (got 5)");
  ext = make_ext(DUP_FMSPC);
  expect_ext(&ext, 1, "PCK certificate: FMSPC appears twice in the SGX extension");
  ext = make_ext(OMIT_PCESVN);
  expect_ext(&ext, 1, "PCK certificate: PCESVN missing");
  ext = make_ext(NEGATIVE_PCESVN);
  expect_ext(&ext, 1, "PCK certificate: PCESVN is not an INTEGER in 0..65535");
  ext = make_ext(0);
  expect_ext(&ext, 2, "PCK certificate: SGX extension appears twice");
  /* every truncation of a valid extension fails cleanly (and never reads past the end) */
  for (size_t n = 0; n < ext.n; n++) {
    X509 *x = cert_with(ext.b, n, 1);
    th_pck_ext out;
    th_err err = {0};
    assert_int_equal(th_pck_ext_parse(x, &out, &err), -1);
    assert_int_equal(err.code, TH_EBADDATA);
    X509_free(x);
  }
  const uint8_t not_seq[] = {0x04, 0x01, 0x00};
  buf b = raw(not_seq, sizeof not_seq);
  expect_ext(&b, 1, "PCK certificate: SGX extension is not a DER SEQUENCE");
  const uint8_t long_len[] = {0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF, 0x00};
  b = raw(long_len, sizeof long_len);
  expect_ext(&b, 1, "PCK certificate: SGX extension is not a DER SEQUENCE");
  const uint8_t empty_list[] = {0x30, 0x00};
  b = raw(empty_list, sizeof empty_list);
  expect_ext(&b, 1, "PCK certificate: PPID missing");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tdx_quote_chain),
      cmocka_unit_test(test_tdx_quote_outdated_chain),
      cmocka_unit_test(test_sgx_quote_chain_processor_ca),
      cmocka_unit_test(test_ca_certificate_has_no_extension),
      cmocka_unit_test(test_pem_empty_and_garbage),
      cmocka_unit_test(test_pem_truncated),
      cmocka_unit_test(test_pem_trailing_text),
      cmocka_unit_test(test_der_helpers),
      cmocka_unit_test(test_handmade_extension_parses),
      cmocka_unit_test(test_malformed_extensions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
