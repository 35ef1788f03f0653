/* core/hex.c — see hex.h. */
#include "hex.h"

#include <stdlib.h>
#include <string.h>

/* Digit value + 1 for each byte, 0 for a non-digit: one table load per character instead of
 * three range tests (quotes and replies are kilobytes of hex). */
static const uint8_t DIGIT[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};

static int hex_value(unsigned char c) {
  return DIGIT[c] - 1;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Names a bad character so that a control byte does not garble the message. */
static int bad_digit(const char *what, unsigned char c, size_t at, th_err *err) {
  if (c >= 0x20 && c < 0x7f)
    return th_err_set(err, TH_EBADDATA, "%s: bad hex digit '%c' at %zu", what, c, at);
  return th_err_set(err, TH_EBADDATA, "%s: bad hex digit 0x%02x at %zu", what, c, at);
}

void th_hex_encode(const uint8_t *bytes, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * len] = '\0';
}

/* Decodes 2*n digits known to be of even count; the caller has checked the length. */
static int decode(const char *hex, size_t n, uint8_t *out, const char *what, th_err *err) {
  for (size_t i = 0; i < n; i++) {
    unsigned hi = DIGIT[(unsigned char)hex[2 * i]], lo = DIGIT[(unsigned char)hex[2 * i + 1]];
    if (!hi) return bad_digit(what, (unsigned char)hex[2 * i], 2 * i, err);
    if (!lo) return bad_digit(what, (unsigned char)hex[2 * i + 1], 2 * i + 1, err);
    out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
  }
  return 0;
}

int th_hex_decode_exact(const char *hex, size_t len, uint8_t *out, size_t want, const char *what,
                        th_err *err) {
  if (len % 2 != 0 || len / 2 != want)
    return th_err_set(err, TH_EBADDATA, "%s: expected %zu hex digits, got %zu", what, 2 * want,
                      len);
  return decode(hex, want, out, what, err);
}

int th_hex_decode_alloc(const char *hex, size_t len, uint8_t **out, size_t *out_len,
                        const char *what, th_err *err) {
  *out = NULL;
  *out_len = 0;
  if (len % 2 != 0)
    return th_err_set(err, TH_EBADDATA, "%s: odd number of hex digits (%zu)", what, len);
  uint8_t *buf = malloc(len / 2 ? len / 2 : 1);
  if (!buf) return th_err_set(err, TH_ENOMEM, "%s: out of memory", what);
  if (decode(hex, len / 2, buf, what, err) != 0) {
    free(buf);
    return -1;
  }
  *out = buf;
  *out_len = len / 2;
  return 0;
}

/* Hex text, leading white space skipped, starts with a hex digit (which covers a 0x prefix); a
 * binary quote starts with its version byte (3, 4 or 5), which is neither. */
static int looks_like_hex(const uint8_t *data, size_t len) {
  size_t i = 0;
  while (i < len && is_space(data[i])) i++;
  return i < len && hex_value(data[i]) >= 0;
}

/* Decodes hex digits with white space anywhere between them (wrapped lines) and an optional 0x
 * prefix; `out` holds at least ndigits/2 bytes. Counts the digits when out is NULL. */
static int decode_text(const uint8_t *data, size_t len, uint8_t *out, size_t *ndigits,
                       th_err *err) {
  size_t i = 0, n = 0;
  while (i < len && is_space(data[i])) i++;
  if (len - i >= 2 && data[i] == '0' && (data[i + 1] == 'x' || data[i + 1] == 'X')) i += 2;
  for (; i < len; i++) {
    if (is_space(data[i])) continue;
    int v = hex_value(data[i]);
    if (v < 0) return bad_digit("quote file", data[i], i, err);
    if (out) out[n / 2] = (uint8_t)(n % 2 ? out[n / 2] | v : v << 4);
    n++;
  }
  *ndigits = n;
  return 0;
}

int th_bytes_from_text(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len,
                       th_err *err) {
  *out = NULL;
  *out_len = 0;
  if (!looks_like_hex(data, len)) {
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return th_err_set(err, TH_ENOMEM, "quote file: out of memory");
    if (len) memcpy(copy, data, len);
    *out = copy;
    *out_len = len;
    return 0;
  }
  size_t n;
  if (decode_text(data, len, NULL, &n, err) != 0) return -1;
  if (n % 2 != 0)
    return th_err_set(err, TH_EBADDATA, "quote file: odd number of hex digits (%zu)", n);
  uint8_t *buf = malloc(n / 2 ? n / 2 : 1);
  if (!buf) return th_err_set(err, TH_ENOMEM, "quote file: out of memory");
  decode_text(data, len, buf, &n, err);
  *out = buf;
  *out_len = n / 2;
  return 0;
}
