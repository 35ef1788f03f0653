/* core/simulator_buf.c — the simulator's JSON output: a growable buffer and an ASCII-only JSON
 * string writer.
 *
 * Why by hand: the agent's answers must be ASCII (shared/specs/dstack.md 1.3 — the JS Unix-socket
 * client counts characters, not bytes), with fields in proto order and always present. cJSON
 * prints raw UTF-8 and cannot be told the order of a response we build field by field, so the
 * handlers write their JSON through these few functions. A failed allocation sets oom once;
 * later appends do nothing and th_sbuf_take returns NULL. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator_internal.h"

int th_sim_oom(th_err *err) { return th_err_set(err, TH_ENOMEM, "%s", TH_SIM_OOM_MESSAGE); }

static int grow(th_sbuf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) {
    if (cap > SIZE_MAX / 2) return b->oom = 1, -1;
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) return b->oom = 1, -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

void th_sbuf_raw(th_sbuf *b, const char *s, size_t n) {
  if (grow(b, n) != 0) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void th_sbuf_cstr(th_sbuf *b, const char *s) { th_sbuf_raw(b, s, strlen(s)); }

static void put_u16(th_sbuf *b, unsigned v) {
  char t[8];
  snprintf(t, sizeof t, "\\u%04x", v & 0xffffu);
  th_sbuf_raw(b, t, 6);
}

/* Decodes one UTF-8 sequence at s[0, n): the code point and its length, or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  size_t need;
  uint32_t v, min;
  if (c < 0xc2) return 0;
  if (c < 0xe0)
    need = 1, v = c & 0x1f, min = 0x80;
  else if (c < 0xf0)
    need = 2, v = c & 0x0f, min = 0x800;
  else if (c < 0xf5)
    need = 3, v = c & 0x07, min = 0x10000;
  else
    return 0;
  if (need >= n) return 0;
  for (size_t i = 1; i <= need; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return need + 1;
}

static void put_escaped(th_sbuf *b, unsigned char c) {
  switch (c) {
  case '"':
    th_sbuf_raw(b, "\\\"", 2);
    break;
  case '\\':
    th_sbuf_raw(b, "\\\\", 2);
    break;
  case '\b':
    th_sbuf_raw(b, "\\b", 2);
    break;
  case '\f':
    th_sbuf_raw(b, "\\f", 2);
    break;
  case '\n':
    th_sbuf_raw(b, "\\n", 2);
    break;
  case '\r':
    th_sbuf_raw(b, "\\r", 2);
    break;
  case '\t':
    th_sbuf_raw(b, "\\t", 2);
    break;
  default:
    put_u16(b, c);
  }
}

void th_sbuf_jstr(th_sbuf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (grow(b, n + 2) != 0) return;
  b->p[b->len++] = '"';
  size_t i = 0;
  while (i < n) {
    size_t run = i; /* copy plain ASCII runs at once */
    while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
      run++;
    if (run > i) th_sbuf_raw(b, str + i, run - i);
    if ((i = run) >= n) break;
    if (s[i] < 0x80) {
      put_escaped(b, s[i++]);
      continue;
    }
    uint32_t cp;
    size_t k = utf8_next(s + i, n - i, &cp);
    if (!k) {
      put_u16(b, 0xfffd);
      i++;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put_u16(b, 0xd800 + (cp >> 10));
      put_u16(b, 0xdc00 + (cp & 0x3ff));
    } else {
      put_u16(b, cp);
    }
    i += k;
  }
  th_sbuf_raw(b, "\"", 1);
}

void th_sbuf_jcstr(th_sbuf *b, const char *s) { th_sbuf_jstr(b, s, strlen(s)); }

void th_sbuf_hex(th_sbuf *b, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  if (n > (SIZE_MAX - 3) / 2 || grow(b, 2 * n + 2) != 0) {
    b->oom = 1;
    return;
  }
  char *o = b->p + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    *o++ = digits[p[i] >> 4];
    *o++ = digits[p[i] & 15];
  }
  *o++ = '"';
  b->len += 2 * n + 2;
  b->p[b->len] = '\0';
}

void th_sbuf_u64(th_sbuf *b, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%" PRIu64, v);
  th_sbuf_raw(b, t, (size_t)n);
}

char *th_sbuf_take(th_sbuf *b, size_t *len) {
  if (!b->oom && grow(b, 0) != 0) b->oom = 1; /* an empty buffer still gets its NUL */
  if (b->oom) {
    th_sbuf_free(b);
    return NULL;
  }
  char *p = b->p;
  if (len) *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

void th_sbuf_free(th_sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

void th_sbuf_pretty_hex(th_sbuf *b, const char *name, const uint8_t *p, size_t n) {
  th_sbuf_cstr(b, "  ");
  th_sbuf_jcstr(b, name);
  th_sbuf_cstr(b, ": ");
  th_sbuf_hex(b, p, n);
  th_sbuf_cstr(b, ",\n");
}
