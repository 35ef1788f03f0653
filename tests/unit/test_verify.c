/* tests/unit/test_verify.c — core/verify against the real Intel-signed vectors (tests/vectors/
 * dcap, from dcap-qvl's sample/) at the times and with the outcomes stated in the shared vectors
 * README (sections 3.1–3.6), the mutation table of 3.6, and a sweep that flips every byte of
 * tdx_quote's signed and bound structure and expects the named check to fail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collateral.h"
#include "hex.h"
#include "quote.h"
#include "vectors.h"
#include "verify.h"
#include "x509_cache.h"

/* Verifies; returns 0/-1 and fills r/err. */
static int run(const uint8_t *bytes, size_t len, th_collateral *col, int64_t now,
               th_verify_result *r, th_err *err) {
  th_quote q;
  if (th_quote_parse(&q, bytes, len, err) != 0) {
    memset(r, 0, sizeof *r);
    r->failed_check = -1; /* a parse error */
    return -1;
  }
  th_verify_opts opts = {.now = now};
  return th_verify_quote(&q, col, &opts, r, err);
}

/* Drops the checks the verifier remembers in the collateral, after its signed bytes changed. */
static void forget_checks(th_collateral *c) {
  if (c->memo_free) c->memo_free(c->memo);
  c->memo = NULL;
}

static void expect_ok(const uint8_t *b, size_t n, th_collateral *col, int64_t now,
                      const char *status) {
  th_verify_result r;
  th_err err = {0};
  if (run(b, n, col, now, &r, &err) != 0) fail_msg("at %lld: %s", (long long)now, err.message);
  assert_string_equal(th_tcb_status_name(r.status), status);
  th_verify_result_clear(&r);
}

static void expect_fail(const uint8_t *b, size_t n, th_collateral *col, int64_t now, int check,
                        const char *text) {
  th_verify_result r;
  th_err err = {0};
  if (run(b, n, col, now, &r, &err) == 0) fail_msg("at %lld: verified, want '%s'", (long long)now, text);
  if (check >= 0 && r.failed_check != check)
    fail_msg("at %lld: failed '%s', want check '%s'", (long long)now, err.message,
             th_verify_check_name(check));
  if (!strstr(err.message, text)) fail_msg("'%s' does not contain '%s'", err.message, text);
}

static void tdx_quote_is_up_to_date(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dcap/tdx_quote", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_collateral.json");
  th_verify_result r;
  th_err err = {0};
  assert_int_equal(run(b, n, col, 1752000000, &r, &err), 0);
  assert_string_equal(th_tcb_status_name(r.status), "UpToDate");
  assert_int_equal(r.advisories.n, 0);
  assert_int_equal(r.qe_status, TH_TCB_UP_TO_DATE);
  assert_int_equal(r.platform_status, TH_TCB_UP_TO_DATE);
  char hex[64];
  th_hex_encode(r.pck.fmspc, 6, hex);
  assert_string_equal(hex, "b0c06f000000");
  th_hex_encode(r.pck.ppid, 16, hex);
  assert_string_equal(hex, "811dca2a26b952e85bb6448b097ba4fd");
  assert_int_equal(r.pck.pcesvn, 11);
  th_verify_result_clear(&r);
  /* the window of 3.1, both ends, and the times outside it */
  expect_ok(b, n, col, 1750329147, "UpToDate");
  expect_ok(b, n, col, 1752919234, "UpToDate");
  expect_fail(b, n, col, 1750328162, TH_CHECK_TCB_INFO, "TCB info: issue date");
  expect_fail(b, n, col, 1750328163, TH_CHECK_QE_IDENTITY, "QE identity: issue date");
  expect_fail(b, n, col, 1750329146, TH_CHECK_QE_IDENTITY, "in the future");
  expect_fail(b, n, col, 1752919235, TH_CHECK_PCK_CHAIN, "CRL has expired");
  expect_fail(b, n, col, 1752920163, TH_CHECK_PCK_CHAIN, "CRL has expired");
  expect_fail(b, n, col, 1752920164, TH_CHECK_TCB_INFO, "TCB info: expired");
  /* the 70 zero bytes after the signature data are not part of the quote */
  expect_ok(b, 4936, col, 1752000000, "UpToDate");
  th_collateral_unref(col);
  free(b);
}

static void sgx_quote_needs_configuration_and_sw_hardening(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dcap/sgx_quote", &n);
  th_collateral *col = vector_collateral("dcap/sgx_quote_collateral.json");
  th_verify_result r;
  th_err err = {0};
  assert_int_equal(run(b, n, col, 1752000000, &r, &err), 0);
  assert_string_equal(th_tcb_status_name(r.status), "ConfigurationAndSWHardeningNeeded");
  assert_int_equal(r.advisories.n, 2);
  assert_string_equal(r.advisories.ids[0], "INTEL-SA-00289");
  assert_string_equal(r.advisories.ids[1], "INTEL-SA-00615");
  assert_int_equal(r.qe_status, TH_TCB_UP_TO_DATE);
  th_verify_result_clear(&r);
  expect_ok(b, n, col, 1750330571, "ConfigurationAndSWHardeningNeeded");
  expect_ok(b, n, col, 1752919278, "ConfigurationAndSWHardeningNeeded");
  expect_fail(b, n, col, 1750330570, TH_CHECK_TCB_INFO, "in the future");
  expect_fail(b, n, col, 1752919279, TH_CHECK_QE_IDENTITY, "QE identity: expired");
  expect_fail(b, n, col, 1752922572, TH_CHECK_TCB_INFO, "TCB info: expired");
  th_collateral_unref(col);
  free(b);
}

static void outdated_v5_quote_matches_no_tcb_level(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dcap/tdx_quote_outdated", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_outdated_collateral.json");
  expect_fail(b, n, col, 1773000000, TH_CHECK_TCB_LEVEL, "no matching TCB level found");
  expect_fail(b, n, col, 1771412331, TH_CHECK_TCB_LEVEL, "no matching TCB level found");
  expect_fail(b, n, col, 1774003274, TH_CHECK_TCB_LEVEL, "no matching TCB level found");
  expect_fail(b, n, col, 1771412330, TH_CHECK_TCB_INFO, "in the future");
  expect_fail(b, n, col, 1774003336, TH_CHECK_QE_IDENTITY, "expired");
  expect_fail(b, n, col, 1774004332, TH_CHECK_TCB_INFO, "expired");
  th_collateral *other = vector_collateral("dcap/tdx_quote_collateral.json");
  expect_fail(b, n, other, 1752000000, TH_CHECK_PCK_CHAIN, "not yet valid");
  th_collateral_unref(other);
  th_collateral_unref(col);
  free(b);
}

static void dstack_quote_report_is_up_to_date(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dstack/quote-report.json", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_outdated_collateral.json");
  expect_ok(b, n, col, 1773000000, "UpToDate");
  expect_ok(b, n, col, 1771412331, "UpToDate");
  expect_ok(b, n, col, 1774003274, "UpToDate");
  expect_fail(b, n, col, 1774003275, TH_CHECK_PCK_CHAIN, "CRL has expired");
  th_collateral_unref(col);
  free(b);
}

static void old_hex_quotes_match_no_tcb_level(void **state) {
  (void)state;
  const char *files[] = {"dcap/tdx-quote.hex", "dcap/quote-from-tappd.hex"};
  th_collateral *col = vector_collateral("dcap/tdx_quote_collateral.json");
  for (int i = 0; i < 2; i++) {
    size_t n;
    uint8_t *b = vector_quote(files[i], &n);
    assert_int_equal(n, 5006);
    expect_fail(b, n, col, 1752000000, TH_CHECK_TCB_LEVEL, "no matching TCB level found");
    free(b);
  }
  th_collateral_unref(col);
}

static void wrong_collateral_and_wrong_root_are_rejected(void **state) {
  (void)state;
  size_t n, sn;
  uint8_t *b = vector_quote("dcap/tdx_quote", &n);
  uint8_t *s = vector_quote("dcap/sgx_quote", &sn);
  th_collateral *tdx = vector_collateral("dcap/tdx_quote_collateral.json");
  th_collateral *sgx = vector_collateral("dcap/sgx_quote_collateral.json");
  expect_fail(b, n, sgx, 1752000000, TH_CHECK_QE_IDENTITY, "does not fit a TDX quote");
  expect_fail(s, sn, tdx, 1752000000, TH_CHECK_QE_IDENTITY, "does not fit an SGX quote");
  /* a trust anchor that is not Intel's: the PCK CA certificate itself */
  th_quote q;
  th_err err = {0};
  assert_int_equal(th_quote_parse(&q, b, n, &err), 0);
  STACK_OF(X509) *chain =
      th_pem_chain_parse((const char *)b + q.cert_offset, q.cert_len, "chain", &err);
  assert_non_null(chain);
  th_verify_opts opts = {.now = 1752000000, .root = sk_X509_value(chain, 1)};
  th_verify_result r;
  assert_int_equal(th_verify_quote(&q, tdx, &opts, &r, &err), -1);
  /* the PCK CRL is issued by this anchor, so the root check passes; the TCB chain does not */
  assert_int_equal(r.failed_check, TH_CHECK_TCB_INFO);
  assert_non_null(strstr(err.message, "untrusted root"));
  /* the Intel root as anchor with a CRL set that has no CRL of it: root check fails first */
  th_collateral *no_root_crl = vector_collateral("dcap/tdx_quote_collateral.json");
  X509_CRL *saved = no_root_crl->root_ca_crl;
  no_root_crl->root_ca_crl = NULL;
  opts.root = NULL;
  assert_int_equal(th_verify_quote(&q, no_root_crl, &opts, &r, &err), -1);
  assert_int_equal(r.failed_check, TH_CHECK_ROOT);
  assert_non_null(strstr(err.message, "untrusted root: no CRL in the collateral is issued by"));
  no_root_crl->root_ca_crl = saved;
  th_collateral_unref(no_root_crl);
  /* the memo of the first anchor must not leak into the second: Intel's root verifies again */
  opts.root = NULL;
  assert_int_equal(th_verify_quote(&q, tdx, &opts, &r, &err), 0);
  th_verify_result_clear(&r);
  sk_X509_pop_free(chain, X509_free);
  th_collateral_unref(tdx);
  th_collateral_unref(sgx);
  free(b);
  free(s);
}

/* shared vectors README 3.6: one byte changed, the named check fails. */
static void mutations_fail_the_named_check(void **state) {
  (void)state;
  size_t n;
  uint8_t *orig = vector_quote("dcap/tdx_quote", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_collateral.json");
  struct {
    size_t off;
    int check;
    const char *text;
  } cases[] = {
      {568, TH_CHECK_QUOTE_SIGNATURE, "not signed by its attestation key"},
      {184, TH_CHECK_QUOTE_SIGNATURE, "quote signature"},
      {636, TH_CHECK_QUOTE_SIGNATURE, "quote signature"},
      {700, TH_CHECK_QE_HASH, "does not bind the attestation key"},
      {1090, TH_CHECK_QE_REPORT_SIGNATURE, "not signed by the PCK key"},
      {1154, TH_CHECK_QE_REPORT_SIGNATURE, "QE report signature"},
  };
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    memcpy(b, orig, n);
    b[cases[i].off] ^= 1;
    expect_fail(b, n, col, 1752000000, cases[i].check, cases[i].text);
  }
  memcpy(b, orig, n);
  b[2] = 3; /* attestation key type ECDSA-384 */
  expect_fail(b, n, col, 1752000000, TH_CHECK_QUOTE_FORMAT, "unsupported attestation key type 3");
  memcpy(b, orig, n);
  b[12] ^= 0xff; /* QE vendor */
  expect_fail(b, n, col, 1752000000, TH_CHECK_QUOTE_FORMAT, "unknown QE vendor ID");
  b[0] = 6;
  expect_fail(b, n, col, 1752000000, -1, "version 6");
  expect_fail(orig, 1000, col, 1752000000, -1, "quote");
  expect_fail(orig, 4935, col, 1752000000, -1, "quote");
  free(b);
  th_collateral_unref(col);
  free(orig);
}

/* For the byte-flip sweeps: verifies at 1752000000 and returns 0 when check `want` (-1: a parse
 * error) fails, else prints what happened to byte `off` of `what` and returns 1. */
static int misses_check(const uint8_t *b, size_t n, th_collateral *col, int want, const char *what,
                        size_t off) {
  th_verify_result r;
  th_err err = {0};
  if (run(b, n, col, 1752000000, &r, &err) == 0) {
    th_verify_result_clear(&r);
    print_error("%s byte %zu flipped: still verifies\n", what, off);
    return 1;
  }
  if (r.failed_check == want) return 0;
  print_error("%s byte %zu flipped: '%s' (want check '%s')\n", what, off, err.message,
              want < 0 ? "parse" : th_verify_check_name(want));
  return 1;
}

/* Which check must fail when byte `off` of tdx_quote flips (layout: spec 1.7, n = 32). */
static int expected_check(size_t off) {
  if (off < 2 || (off >= 4 && off < 8)) return -1;             /* version, tee type: parse */
  if (off < 4 || (off >= 12 && off < 28)) return TH_CHECK_QUOTE_FORMAT; /* key type, vendor */
  if (off < 632) return TH_CHECK_QUOTE_SIGNATURE;             /* header and TD report */
  if (off < 636) return -1;                                   /* sig_len */
  if (off < 700) return TH_CHECK_QUOTE_SIGNATURE;             /* the signature */
  if (off < 764) return TH_CHECK_QE_HASH;                     /* attestation key */
  if (off < 770) return -1;                                   /* outer type and size */
  if (off < 1218) return TH_CHECK_QE_REPORT_SIGNATURE;        /* QE report and its signature */
  if (off < 1220) return -1;                                  /* auth data size */
  if (off < 1252) return TH_CHECK_QE_HASH;                    /* auth data */
  if (off == 1252) return TH_CHECK_PCK_CHAIN;                 /* inner type 5 -> 4: no chain */
  if (off == 1253) return -1;                                 /* inner type 0x0105: parse */
  if (off < 1258) return -1;                                  /* inner size */
  return TH_CHECK_PCK_CHAIN;                                  /* the PEM chain */
}

static void every_byte_flip_fails_the_right_check(void **state) {
  (void)state;
  size_t n;
  uint8_t *orig = vector_quote("dcap/tdx_quote", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_collateral.json");
  /* up to the last END line: the newline and NUL after it and the padding are not signed */
  const size_t end = 4936 - 2;
  uint8_t *b = malloc(n);
  int failures = 0;
  for (size_t off = 0; off < end; off++) {
    memcpy(b, orig, n);
    b[off] ^= 1;
    failures += misses_check(b, n, col, expected_check(off), "quote", off);
  }
  assert_int_equal(failures, 0);
  free(b);
  th_collateral_unref(col);
  free(orig);
}

/* Every byte of the signed collateral texts and of their signatures matters. */
static void collateral_byte_flips_fail(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dcap/tdx_quote", &n);
  th_collateral *good = vector_collateral("dcap/tdx_quote_collateral.json");
  /* flip each byte of tcb_info / qe_identity (as stored, signed) and of the signatures */
  struct {
    const char *name;
    int check;
  } fields[] = {{"tcb_info", TH_CHECK_TCB_INFO}, {"qe_identity", TH_CHECK_QE_IDENTITY}};
  for (int f = 0; f < 2; f++) {
    char *text = f == 0 ? good->tcb_info_json : good->qe_identity_json;
    size_t len = f == 0 ? good->tcb_info_len : good->qe_identity_len;
    int failures = 0;
    for (size_t off = 0; off < len; off++) {
      text[off] ^= 1;
      forget_checks(good);
      failures += misses_check(b, n, good, fields[f].check, fields[f].name, off);
      text[off] ^= 1;
    }
    assert_int_equal(failures, 0);
  }
  for (int f = 0; f < 2; f++) {
    uint8_t *sig = f == 0 ? good->tcb_info_signature : good->qe_identity_signature;
    for (int off = 0; off < 64; off++) {
      sig[off] ^= 1;
      forget_checks(good);
      expect_fail(b, n, good, 1752000000, fields[f].check, "signature is invalid");
      sig[off] ^= 1;
    }
  }
  th_collateral_unref(good);
  free(b);
}

static void memo_gives_same_answers(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = vector_quote("dcap/tdx_quote", &n);
  th_collateral *col = vector_collateral("dcap/tdx_quote_collateral.json");
  for (int i = 0; i < 3; i++) expect_ok(b, n, col, 1752000000 + i, "UpToDate");
  /* outside the window remembered by the memo, the chain is checked again */
  expect_fail(b, n, col, 1752919235, TH_CHECK_PCK_CHAIN, "CRL has expired");
  expect_ok(b, n, col, 1752000000, "UpToDate");
  b[1100] ^= 1; /* same PEM bytes (memo hit), tampered QE report */
  expect_fail(b, n, col, 1752000000, TH_CHECK_QE_REPORT_SIGNATURE, "QE report signature");
  th_collateral_unref(col);
  free(b);
}

/* The cross-collateral cache (decoded certificates, verified chains and signatures) must never
 * change an answer: not for another time, not for changed bytes, not for another anchor. */
static void cache_gives_same_answers(void **state) {
  (void)state;
  size_t n, jn;
  uint8_t *b = vector_quote("dcap/tdx_quote", &n);
  char *json = vector_read("dcap/tdx_quote_collateral.json", &jn);
  th_x509_cache *cache = th_x509_cache_new(16);
  th_verify_opts opts = {.now = 1752000000, .cache = cache};
  th_quote q;
  th_err err = {0};
  th_verify_result r;
  assert_int_equal(th_quote_parse(&q, b, n, &err), 0);
  for (int i = 0; i < 3; i++) { /* a fresh collateral each time: only the cache carries over */
    th_collateral *c = th_collateral_parse_cached(json, jn, cache, &err);
    assert_non_null(c);
    opts.now = 1752000000;
    assert_int_equal(th_verify_quote(&q, c, &opts, &r, &err), 0);
    th_verify_result_clear(&r);
    opts.now = 1752919235; /* PCK CRL expired: the remembered chain result must not apply */
    assert_int_equal(th_verify_quote(&q, c, &opts, &r, &err), -1);
    assert_non_null(strstr(err.message, "CRL has expired"));
    c->tcb_info_json[10] ^= 1; /* changed signed bytes: the remembered signature must not apply */
    forget_checks(c);
    opts.now = 1752000000;
    assert_int_equal(th_verify_quote(&q, c, &opts, &r, &err), -1);
    assert_int_equal(r.failed_check, TH_CHECK_TCB_INFO);
    th_collateral_unref(c);
  }
  /* another anchor: the PCK CA as root must fail although Intel's chains are remembered */
  th_collateral *c = th_collateral_parse_cached(json, jn, cache, &err);
  STACK_OF(X509) *chain =
      th_pem_chain_parse((const char *)b + q.cert_offset, q.cert_len, "chain", &err);
  opts.root = sk_X509_value(chain, 1);
  assert_int_equal(th_verify_quote(&q, c, &opts, &r, &err), -1);
  assert_non_null(strstr(err.message, "untrusted root"));
  sk_X509_pop_free(chain, X509_free);
  th_collateral_unref(c);
  th_x509_cache_free(cache);
  free(json);
  free(b);
}

static void built_in_root_is_intels(void **state) {
  (void)state;
  size_t n;
  char *der = vector_read("dcap/TrustedRootCA.der", &n);
  assert_int_equal(n, TH_INTEL_ROOT_CA_DER_LEN);
  assert_memory_equal(der, TH_INTEL_ROOT_CA_DER, n);
  free(der);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(built_in_root_is_intels),
      cmocka_unit_test(tdx_quote_is_up_to_date),
      cmocka_unit_test(sgx_quote_needs_configuration_and_sw_hardening),
      cmocka_unit_test(outdated_v5_quote_matches_no_tcb_level),
      cmocka_unit_test(dstack_quote_report_is_up_to_date),
      cmocka_unit_test(old_hex_quotes_match_no_tcb_level),
      cmocka_unit_test(wrong_collateral_and_wrong_root_are_rejected),
      cmocka_unit_test(mutations_fail_the_named_check),
      cmocka_unit_test(memo_gives_same_answers),
      cmocka_unit_test(cache_gives_same_answers),
      cmocka_unit_test(every_byte_flip_fails_the_right_check),
      cmocka_unit_test(collateral_byte_flips_fail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
