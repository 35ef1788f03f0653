/* tests/unit/vectors.h — the unit tests' access to tests/vectors/ (below $TEEHOST_SOURCE, which
 * CTest sets): a whole file, a JSON file parsed, the quote bytes of a quote file, a parsed
 * collateral, and hex decoding
 * that does not go through the code under test.
 *
 * Header-only: every function is `static inline`, so each test keeps only what it calls (and an
 * unused one is no warning). A failure fails the calling test through cmocka. */
#ifndef TH_TESTS_UNIT_VECTORS_H
#define TH_TESTS_UNIT_VECTORS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h */
#include <cjson/cJSON.h>

#include "collateral.h"
#include "hex.h"

/* The whole file tests/vectors/<rel> (e.g. "dcap/tdx_quote"), malloc'd with a NUL after its *len
 * bytes (free()). Fails the test when the file cannot be read. */
static inline char *vector_read(const char *rel, size_t *len) {
  const char *src = getenv("TEEHOST_SOURCE");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/vectors/%s", src ? src : ".", rel);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s (set TEEHOST_SOURCE)", path);
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  char *buf = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!buf || got != (size_t)n) {
    free(buf);
    fail_msg("cannot read %s", path);
  }
  buf[n] = '\0';
  *len = (size_t)n;
  return buf;
}


/* tests/vectors/<rel> parsed as JSON (cJSON_Delete() it). Fails the test when the file cannot be
 * read or is not JSON. */
static inline cJSON *vector_json(const char *rel) {
  size_t n;
  char *text = vector_read(rel, &n);
  cJSON *j = cJSON_ParseWithLength(text, n);
  free(text);
  if (!j) fail_msg("tests/vectors/%s is not JSON", rel);
  return j;
}
/* The quote bytes of a vector (free()): the hex of the JSON field "quote" of a .json file
 * (dstack/quote-report.json), bytes 4..5014 of dstack/attestation.bin (after its SCALE length
 * prefix, vectors README 6.2), else the file through th_bytes_from_text (hex text decoded, binary
 * copied). */
static inline uint8_t *vector_quote(const char *rel, size_t *len) {
  size_t n;
  char *file = vector_read(rel, &n);
  uint8_t *q = NULL;
  th_err err = {0};
  if (strstr(rel, ".json")) {
    char *start = strstr(file, "\"quote\"");
    assert_non_null(start);
    start = strchr(start + 7, '"') + 1;
    char *end = strchr(start, '"');
    assert_int_equal(th_hex_decode_alloc(start, (size_t)(end - start), &q, len, "quote", &err), 0);
  } else if (strstr(rel, "attestation.bin")) {
    assert_true(n >= 5014);
    q = malloc(5010);
    assert_non_null(q);
    memcpy(q, file + 4, 5010);
    *len = 5010;
  } else {
    assert_int_equal(th_bytes_from_text((const uint8_t *)file, n, &q, len, &err), 0);
  }
  free(file);
  return q;
}

/* The collateral JSON file tests/vectors/<rel>, parsed (th_collateral_unref()). Fails the test
 * with the file's name and the parser's message when it does not parse. */
static inline th_collateral *vector_collateral(const char *rel) {
  size_t n;
  char *json = vector_read(rel, &n);
  th_err err = {0};
  th_collateral *c = th_collateral_parse(json, n, &err);
  free(json);
  if (!c) fail_msg("%s: %s", rel, err.message);
  return c;
}

/* n bytes from the first 2n hex digits of hex (either case), by sscanf: the tests' own decoder,
 * independent of core/hex. */
static inline void vector_hex_bytes(const char *hex, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

/* Decodes exactly n bytes: hex must be 2n hex digits. */
static inline void vector_unhex(const char *hex, uint8_t *out, size_t n) {
  assert_int_equal(strlen(hex), 2 * n);
  vector_hex_bytes(hex, out, n);
}

/* Decodes strlen(hex) / 2 bytes into a malloc'd buffer (*len bytes; free()). */
static inline uint8_t *vector_unhex_alloc(const char *hex, size_t *len) {
  *len = strlen(hex) / 2;
  uint8_t *b = malloc(*len ? *len : 1);
  assert_non_null(b);
  vector_hex_bytes(hex, b, *len);
  return b;
}

#endif
