/* tests/fuzz/fuzz_quote.c — libFuzzer target for the quote parser (core/quote.c) and the quote
 * file reader (core/hex.c).
 *
 * For every input: th_quote_parse on the raw bytes, and th_bytes_from_text then th_quote_parse on
 * its output (so hex text reaches the parser too). A failure must be a TH_EBADDATA whose message
 * starts with "quote: " ("quote file: " for the reader). A success must describe the buffer
 * consistently: the offsets tile it exactly (spec 1.7/1.8) and every byte they name is read here,
 * so ASan catches an offset that points outside; and the quote without its trailing bytes must
 * parse to the same fields. Decoded bytes must survive a hex round trip. Any violation is a bug:
 * abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "quote.h"

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_quote: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

static void require(int ok, const char *what) {
  if (!ok) fail(what, NULL);
}

/* Reads every byte of [off, off+n) through the quote's own pointer. */
static unsigned touch(const th_quote *q, size_t off, size_t n) {
  require(off <= q->len && n <= q->len - off, "a field lies outside the buffer");
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++) sum += q->bytes[off + i];
  return sum;
}

/* The layout invariants of a parsed quote. */
static void check_layout(const th_quote *q, const uint8_t *data, size_t size) {
  require(q->bytes == data && q->len == size, "bytes/len are not the buffer");
  require(q->version >= 3 && q->version <= 5, "version outside 3..5");
  require(q->tee_type == TH_TEE_SGX || q->tee_type == TH_TEE_TDX, "unknown tee_type");
  require(q->body_offset == (q->version == 5 ? 54u : 48u), "body_offset");
  require(q->body_offset + q->body_size == q->signed_len, "signed_len");
  require(q->signed_len + 4 == q->sig_data_offset, "sig_data_offset");
  require(q->sig_data_offset + q->sig_data_len + q->trailing == size, "trailing");
  size_t outer = q->version == 3 ? 0 : 6;
  require(q->version == 3 || q->outer_cert_len + 134u == q->sig_data_len, "outer_cert_len");
  require(q->qe_report_offset == q->sig_data_offset + 128 + outer, "qe_report_offset");
  require(q->qe_auth_offset == q->qe_report_offset + 384 + 64 + 2, "qe_auth_offset");
  require(q->cert_offset == q->qe_auth_offset + q->qe_auth_len + 6, "cert_offset");
  require(q->cert_offset + q->cert_len == q->sig_data_offset + q->sig_data_len, "cert_len");
  require(q->cert_type >= 1 && q->cert_type <= 5, "cert_type");
  volatile unsigned sink = 0;
  sink += touch(q, q->body_offset, q->body_size);
  sink += touch(q, q->qe_report_offset, 384 + 64);
  sink += touch(q, q->qe_auth_offset, q->qe_auth_len);
  sink += touch(q, q->cert_offset, q->cert_len);
  (void)sink;
}

static void check_parse(const uint8_t *data, size_t size) {
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, data, size, &err) != 0) {
    if (err.code != TH_EBADDATA || strncmp(err.message, "quote: ", 7) != 0)
      fail("bad parse error", err.message);
    return;
  }
  check_layout(&q, data, size);
  /* Without its trailing bytes the quote parses the same. */
  th_quote bare;
  if (th_quote_parse(&bare, data, size - q.trailing, &err) != 0)
    fail("the quote without its trailing bytes fails", err.message);
  require(bare.trailing == 0 && bare.cert_len == q.cert_len && bare.body_type == q.body_type &&
              memcmp(&bare.qe_report, &q.qe_report, sizeof q.qe_report) == 0,
          "the quote without its trailing bytes parses differently");
}

static void check_hex_round_trip(const uint8_t *bytes, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (!hex) return;
  th_hex_encode(bytes, n, hex);
  uint8_t *back;
  size_t back_len;
  th_err err = {0};
  if (th_hex_decode_alloc(hex, 2 * n, &back, &back_len, "fuzz", &err) != 0)
    fail("hex of decoded bytes does not decode", err.message);
  require(back_len == n && memcmp(back, bytes, n) == 0, "hex round trip differs");
  free(back);
  free(hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_parse(data, size);
  uint8_t *bytes;
  size_t n;
  th_err err = {0};
  if (th_bytes_from_text(data, size, &bytes, &n, &err) != 0) {
    if (err.code != TH_EBADDATA || strncmp(err.message, "quote file: ", 12) != 0)
      fail("bad quote file error", err.message);
    return 0;
  }
  check_parse(bytes, n);
  check_hex_round_trip(bytes, n);
  free(bytes);
  return 0;
}
