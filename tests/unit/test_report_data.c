/* tests/unit/test_report_data.c — the 64 REPORTDATA bytes of GetQuote/Attest, Tappd.TdxQuote
 * and Tappd.RawQuote (core/report_data.h, shared/specs/dstack.md sections 3 and 5), and the
 * Keccak-384/-512 they use (core/keccak.h).
 *
 * Vectors: tests/vectors/dstack/tdxquote-report-data.json (@noble/hashes, cross-checked with
 * hashlib and a pure-Python Keccak): every tdx_quote case (nine algorithms, defaults, a custom
 * prefix, one ending in ':', empty data, raw, the two errors) gives its report_data, echoed
 * algorithm and prefix or its error message byte for byte; each hashed case's hashed_input_hex is
 * also hashed directly (th_keccak for the keccak ones) to the same bytes; raw_quote and get_quote
 * likewise (get_quote's "0x" and missing-field inputs are decoded here as the agent's hex layer
 * would: what reaches th_report_data_padded is the bytes); the sdk_client_side JS case reproduces
 * through the default algorithm. The typed form: SHA-512 of "ratls-cert:" ‖ content against
 * the hashed_input of a sha512 case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "keccak.h"
#include "report_data.h"
#include "vectors.h"

static cJSON *vectors;

static int load(void **state) {
  (void)state;
  vectors = vector_json("dstack/tdxquote-report-data.json");
  return 0;
}

static int unload(void **state) {
  (void)state;
  cJSON_Delete(vectors);
  return 0;
}

/* A string field, or NULL when absent. */
static const char *opt_str(const cJSON *obj, const char *key) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (item && !cJSON_IsString(item)) fail_msg("vector field %s is not a string", key);
  return item ? item->valuestring : NULL;
}

static const char *str(const cJSON *obj, const char *key) {
  const char *s = opt_str(obj, key);
  if (!s) fail_msg("vector field %s missing", key);
  return s;
}

static const cJSON *list(const char *key) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(vectors, key);
  if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) == 0) fail_msg("no %s vectors", key);
  return item;
}

/* The request's report_data bytes (the JSON hex, with an optional 0x), malloc'd. */
static uint8_t *request_data(const cJSON *c, size_t *len) {
  const char *hex = opt_str(cJSON_GetObjectItemCaseSensitive(c, "request"), "report_data");
  if (!hex) hex = "";
  if (strncmp(hex, "0x", 2) == 0) hex += 2;
  return vector_unhex_alloc(hex, len);
}

static void assert_report_data(const uint8_t got[64], const cJSON *c) {
  uint8_t want[64];
  vector_unhex(str(c, "report_data"), want, 64);
  assert_memory_equal(got, want, 64);
}

/* Hashes hashed_input_hex with the case's algorithm independently of th_report_data_tdx_quote
 * (keccak: th_keccak; the others are checked through the main path only). */
static void check_keccak_input(const char *alg, const cJSON *c) {
  size_t out_len = strcmp(alg, "keccak256") == 0   ? 32
                   : strcmp(alg, "keccak384") == 0 ? 48
                   : strcmp(alg, "keccak512") == 0 ? 64
                                                   : 0;
  if (!out_len) return;
  size_t n;
  uint8_t *in = vector_unhex_alloc(str(c, "hashed_input_hex"), &n), got[64] = {0};
  th_keccak(in, n, got, out_len);
  free(in);
  assert_report_data(got, c);
  if (out_len == 32) { /* the Keccak-256 API gives the same digest */
    uint8_t again[64] = {0};
    in = vector_unhex_alloc(str(c, "hashed_input_hex"), &n);
    th_keccak256(in, n, again);
    free(in);
    assert_memory_equal(again, got, 64);
  }
}

static void tdx_quote_cases(void **state) {
  (void)state;
  const cJSON *c;
  int hashed = 0, errors = 0;
  cJSON_ArrayForEach(c, list("tdx_quote")) {
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(c, "request");
    const char *alg = opt_str(req, "hash_algorithm"), *prefix = opt_str(req, "prefix");
    size_t len;
    uint8_t *data = request_data(c, &len), out[64];
    const char *eff_alg = NULL, *eff_prefix = NULL;
    th_err err = {0};
    int rc = th_report_data_tdx_quote(alg, prefix, data, len, out, &eff_alg, &eff_prefix, &err);
    free(data);
    const char *want_err = opt_str(c, "error");
    if (want_err) {
      assert_int_equal(rc, -1);
      assert_int_equal(err.code, TH_EINVAL);
      assert_string_equal(err.message, want_err);
      errors++;
      continue;
    }
    assert_int_equal(rc, 0);
    assert_report_data(out, c);
    assert_string_equal(eff_alg, str(c, "response_hash_algorithm"));
    assert_string_equal(eff_prefix, str(c, "response_prefix"));
    if (opt_str(c, "hashed_input_hex")) {
      check_keccak_input(eff_alg, c);
      hashed++;
    }
  }
  assert_true(hashed >= 12); /* nine algorithms, defaults, prefixes, empty data */
  assert_int_equal(errors, 2);
}

/* An empty algorithm or prefix string counts as absent, as in the agent. */
static void tdx_quote_empty_strings_are_defaults(void **state) {
  (void)state;
  const cJSON *c = cJSON_GetArrayItem(list("tdx_quote"), 0);
  assert_null(opt_str(cJSON_GetObjectItemCaseSensitive(c, "request"), "hash_algorithm"));
  size_t len;
  uint8_t *data = request_data(c, &len), out[64];
  const char *eff_alg, *eff_prefix;
  assert_int_equal(th_report_data_tdx_quote("", "", data, len, out, &eff_alg, &eff_prefix, NULL),
                   0);
  free(data);
  assert_report_data(out, c);
  assert_string_equal(eff_alg, "sha512");
  assert_string_equal(eff_prefix, "app-data");
}

static void raw_quote_cases(void **state) {
  (void)state;
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, list("raw_quote")) {
    size_t len;
    uint8_t *data = request_data(c, &len), out[64];
    th_err err = {0};
    int rc = th_report_data_raw(data, len, out, &err);
    free(data);
    if (opt_str(c, "error")) {
      assert_int_equal(rc, -1);
      assert_string_equal(err.message, str(c, "error"));
    } else {
      assert_int_equal(rc, 0);
      assert_report_data(out, c);
    }
    n++;
  }
  assert_int_equal(n, 2);
}

static void get_quote_padding(void **state) {
  (void)state;
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, list("get_quote")) {
    size_t len;
    uint8_t *data = request_data(c, &len), out[64];
    th_err err = {0};
    memset(out, 0xee, sizeof out);
    int rc = th_report_data_padded(data, len, out, &err);
    free(data);
    if (opt_str(c, "error")) {
      assert_int_equal(rc, -1);
      assert_int_equal(err.code, TH_EINVAL);
      assert_string_equal(err.message, str(c, "error"));
    } else {
      assert_int_equal(rc, 0);
      assert_report_data(out, c);
    }
    n++;
  }
  assert_int_equal(n, 4);
  /* Exactly 64 bytes pass unchanged. */
  uint8_t in[64], out[64];
  for (size_t i = 0; i < 64; i++) in[i] = (uint8_t)(i + 1);
  assert_int_equal(th_report_data_padded(in, 64, out, NULL), 0);
  assert_memory_equal(in, out, 64);
}

static void sdk_client_side_default_algorithm(void **state) {
  (void)state;
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, list("sdk_client_side")) {
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(c, "request");
    if (!req || !opt_str(c, "report_data")) continue;
    size_t len;
    uint8_t *data = request_data(c, &len), out[64];
    assert_int_equal(th_report_data_tdx_quote(opt_str(req, "hash_algorithm"), NULL, data, len, out,
                                              NULL, NULL, NULL),
                     0);
    free(data);
    assert_report_data(out, c);
    n++;
  }
  assert_int_equal(n, 1);
}

/* Typed report data is SHA-512(tag ‖ ":" ‖ content): the default TdxQuote case is exactly that
 * with tag "app-data". */
static void typed_is_sha512_of_tag_colon_content(void **state) {
  (void)state;
  const cJSON *c = cJSON_GetArrayItem(list("tdx_quote"), 0);
  assert_string_equal(str(c, "response_hash_algorithm"), "sha512");
  size_t len;
  uint8_t *data = request_data(c, &len), out[64];
  th_report_data_typed("app-data", data, len, out);
  assert_report_data(out, c);
  th_report_data_typed("app-dat", data, len, out);
  uint8_t want[64];
  vector_unhex(str(c, "report_data"), want, 64);
  assert_memory_not_equal(out, want, 64);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tdx_quote_cases),
      cmocka_unit_test(tdx_quote_empty_strings_are_defaults),
      cmocka_unit_test(raw_quote_cases),
      cmocka_unit_test(get_quote_padding),
      cmocka_unit_test(sdk_client_side_default_algorithm),
      cmocka_unit_test(typed_is_sha512_of_tag_colon_content),
  };
  return cmocka_run_group_tests(tests, load, unload);
}
