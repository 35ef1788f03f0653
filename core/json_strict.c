/* core/json_strict.c — the strict JSON checker and its UTF-8 helpers (see json_strict.h for what
 * is accepted and why cJSON's own parser is not enough). */
#include "json_strict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes readable), 0 if there is none; the code
 * point goes to *cp. Overlong forms, surrogates and values above U+10FFFF are refused. */
static size_t utf8_seq(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  size_t len;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, v = c & 0x1Fu, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, v = c & 0x0Fu, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, v = c & 0x07u, min = 0x10000;
  else
    return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

/* Offset of the first byte of s[0, n) that does not start valid UTF-8, or n. */
size_t th_utf8_valid_prefix(const uint8_t *s, size_t n) {
  size_t i = 0;
  uint32_t cp;
  while (i < n) {
    size_t l = utf8_seq(s + i, n - i, &cp);
    if (!l) return i;
    i += l;
  }
  return n;
}

/* A code point's rank in UTF-16 code-unit order: supplementary characters (high surrogate
 * D800-DBFF first) sort between U+D7FF and U+E000. */
static uint32_t utf16_rank(uint32_t cp) {
  if (cp < 0xD800) return cp;
  if (cp >= 0x10000) return cp - 0x10000 + 0xD800;
  return cp + 0x100000;
}

int th_utf16_cmp(const char *a, const char *b) {
  const uint8_t *p = (const uint8_t *)a, *q = (const uint8_t *)b;
  size_t np = strlen(a), nq = strlen(b);
  while (np && nq) {
    uint32_t x = 0, y = 0; /* utf8_seq fills them: the strings were checked before */
    size_t lx = utf8_seq(p, np, &x), ly = utf8_seq(q, nq, &y);
    if (utf16_rank(x) != utf16_rank(y)) return utf16_rank(x) < utf16_rank(y) ? -1 : 1;
    p += lx, np -= lx, q += ly, nq -= ly;
  }
  return np ? 1 : nq ? -1 : 0;
}

/* ---- strict JSON check ------------------------------------------------------------------- */

typedef struct scan {
  const uint8_t *s;
  size_t n, i;
  const char *what; /* the error prefix */
  int max_depth;
  th_err *err;
} scan;

static int bad(scan *sc, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int bad(scan *sc, size_t at, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return th_err_set(sc->err, TH_EBADDATA, "%s: invalid JSON at byte %zu: %s", sc->what, at, msg);
}

/* Names the byte at sc->i for an error ("'x'", "byte 0x01", "end of text"). */
static int unexpected(scan *sc, const char *wanted) {
  if (sc->i >= sc->n) return bad(sc, sc->i, "%s, got the end of the text", wanted);
  uint8_t c = sc->s[sc->i];
  if (c > 0x20 && c < 0x7f) return bad(sc, sc->i, "%s, got '%c'", wanted, c);
  return bad(sc, sc->i, "%s, got byte 0x%02x", wanted, c);
}

static void skip_ws(scan *sc) {
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' ||
                           sc->s[sc->i] == '\r'))
    sc->i++;
}

static int hex4(scan *sc, size_t at, unsigned *u) {
  *u = 0;
  for (size_t j = 0; j < 4; j++) {
    if (at + j >= sc->n) return bad(sc, at + j, "\\u escape breaks off");
    int c = sc->s[at + j];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return bad(sc, at + j, "bad hex digit in a \\u escape");
    *u = *u << 4 | (unsigned)v;
  }
  return 0;
}

/* sc->i is on the 'u' of a \u escape; leaves it after the escape (or the surrogate pair). */
static int scan_unicode_escape(scan *sc) {
  size_t at = sc->i - 1;
  unsigned u, lo;
  if (hex4(sc, sc->i + 1, &u)) return -1;
  sc->i += 5;
  if (u == 0) return bad(sc, at, "\\u0000 is not supported (cJSON strings end at NUL)");
  if (u >= 0xDC00 && u <= 0xDFFF) return bad(sc, at, "unpaired surrogate \\u%04x", u);
  if (u < 0xD800 || u > 0xDBFF) return 0;
  if (sc->i + 1 >= sc->n || sc->s[sc->i] != '\\' || sc->s[sc->i + 1] != 'u' ||
      hex4(sc, sc->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
    return bad(sc, at, "unpaired surrogate \\u%04x", u); /* replaces hex4's error, if any */
  sc->i += 6;
  return 0;
}

static int scan_string(scan *sc) {
  size_t start = sc->i++;
  while (sc->i < sc->n) {
    uint8_t c = sc->s[sc->i];
    uint32_t cp;
    if (c == '"') return sc->i++, 0;
    if (c < 0x20) return bad(sc, sc->i, "control character 0x%02x in a string", c);
    if (c >= 0x80) {
      size_t l = utf8_seq(sc->s + sc->i, sc->n - sc->i, &cp);
      if (!l) return bad(sc, sc->i, "invalid UTF-8");
      sc->i += l;
      continue;
    }
    if (c != '\\') {
      sc->i++;
      continue;
    }
    if (++sc->i >= sc->n) break;
    c = sc->s[sc->i];
    if (c == 'u') {
      if (scan_unicode_escape(sc)) return -1;
    } else if (c && strchr("\"\\/bfnrt", c)) {
      sc->i++;
    } else if (c > 0x20 && c < 0x7f) {
      return bad(sc, sc->i - 1, "bad escape '\\%c'", c);
    } else {
      return bad(sc, sc->i - 1, "bad escape");
    }
  }
  return bad(sc, start, "unterminated string");
}

static size_t skip_digits(scan *sc) {
  size_t from = sc->i;
  while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') sc->i++;
  return sc->i - from;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, at most 63 characters (cJSON's buffer). */
static int scan_number(scan *sc) {
  size_t start = sc->i;
  if (sc->s[sc->i] == '-') sc->i++;
  if (sc->i < sc->n && sc->s[sc->i] == '0')
    sc->i++;
  else if (!skip_digits(sc))
    return unexpected(sc, "expected a digit");
  if (sc->i < sc->n && sc->s[sc->i] == '.') {
    sc->i++;
    if (!skip_digits(sc)) return unexpected(sc, "expected a digit after '.'");
  }
  if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
    sc->i++;
    if (sc->i < sc->n && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-')) sc->i++;
    if (!skip_digits(sc)) return unexpected(sc, "expected a digit in the exponent");
  }
  if (sc->i - start > 63) return bad(sc, start, "number longer than 63 characters");
  return 0;
}

static int scan_value(scan *sc, int depth);

/* sc->i is on '{' or '['; `depth` counts this container. */
static int scan_container(scan *sc, int depth) {
  int object = sc->s[sc->i] == '{';
  char close = object ? '}' : ']';
  if (depth > sc->max_depth) return bad(sc, sc->i, "nesting deeper than %d", sc->max_depth);
  sc->i++;
  skip_ws(sc);
  if (sc->i < sc->n && sc->s[sc->i] == close) return sc->i++, 0;
  for (;;) {
    if (object) {
      if (sc->i >= sc->n || sc->s[sc->i] != '"') return unexpected(sc, "expected a string key");
      if (scan_string(sc)) return -1;
      skip_ws(sc);
      if (sc->i >= sc->n || sc->s[sc->i] != ':') return unexpected(sc, "expected ':' after a key");
      sc->i++;
    }
    if (scan_value(sc, depth)) return -1;
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == close) return sc->i++, 0;
    if (sc->i >= sc->n || sc->s[sc->i] != ',')
      return unexpected(sc, object ? "expected ',' or '}'" : "expected ',' or ']'");
    sc->i++;
    skip_ws(sc);
  }
}

static int scan_literal(scan *sc, const char *word) {
  size_t len = strlen(word);
  if (sc->n - sc->i < len || memcmp(sc->s + sc->i, word, len) != 0)
    return unexpected(sc, "expected a value");
  sc->i += len;
  return 0;
}

static int scan_value(scan *sc, int depth) {
  skip_ws(sc);
  if (sc->i >= sc->n) return unexpected(sc, "expected a value");
  switch (sc->s[sc->i]) {
    case '{':
    case '[': return scan_container(sc, depth + 1);
    case '"': return scan_string(sc);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
      if (sc->s[sc->i] == '-' || (sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9'))
        return scan_number(sc);
      return unexpected(sc, "expected a value");
  }
}

/* The whole text is one JSON value and that value is an object. */

int th_json_strict_check(const char *json, size_t len, const char *what, int max_depth,
                         th_err *err) {
  scan sc = {(const uint8_t *)json, len, 0, what, max_depth, err};
  if (scan_value(&sc, 0)) return -1;
  skip_ws(&sc);
  if (sc.i < sc.n) return unexpected(&sc, "expected the end of the text");
  return 0;
}
