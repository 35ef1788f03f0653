/* core/attestation_container.c — dstack's VersionedAttestation, V0 SCALE (see
 * attestation_container.h).
 *
 * Written by hand: SCALE (Parity's codec) has no C library, and the subset dstack uses here is
 * small — u8, u32le, fixed arrays and compact-length-prefixed Vec/String. The reader is a cursor
 * over untrusted bytes that checks every length before it reads. */
#include "attestation_container.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct cursor {
  const uint8_t *p;
  size_t len, off;
  th_err *err;
} cursor;

static int need(cursor *c, size_t n, const char *field) {
  if (c->len - c->off >= n) return 0;
  return th_err_set(c->err, TH_EBADDATA,
                    "attestation: %s: truncated at offset %zu (need %zu bytes, %zu left)", field,
                    c->off, n, c->len - c->off);
}

static int read_u32(cursor *c, const char *field, uint32_t *v) {
  if (need(c, 4, field)) return -1;
  const uint8_t *b = c->p + c->off;
  *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  c->off += 4;
  return 0;
}

/* A SCALE compact length (modes 0-2; mode 3 only encodes values >= 2^30, above every cap), in
 * its canonical (shortest) form as parity-scale-codec requires, and at most `cap`. */
static int read_compact(cursor *c, const char *field, uint32_t cap, size_t *v) {
  size_t at = c->off;
  if (need(c, 1, field)) return -1;
  const uint8_t *b = c->p + c->off;
  uint32_t mode = b[0] & 3, n, min;
  if (mode == 3)
    return th_err_set(c->err, TH_ETOOBIG, "attestation: %s: length of 2^30 or more at offset %zu",
                      field, at);
  size_t width = mode == 0 ? 1 : mode == 1 ? 2 : 4;
  if (need(c, width, field)) return -1;
  n = b[0];
  for (size_t i = 1; i < width; i++) n |= (uint32_t)b[i] << (8 * i);
  n >>= 2;
  min = mode == 0 ? 0 : mode == 1 ? 64 : 1u << 14;
  if (n < min)
    return th_err_set(c->err, TH_EBADDATA,
                      "attestation: %s: non-canonical compact length at offset %zu", field, at);
  if (n > cap)
    return th_err_set(c->err, TH_ETOOBIG,
                      "attestation: %s: length %u exceeds the limit %u at offset %zu", field, n,
                      cap, at);
  c->off += width;
  *v = n;
  return 0;
}

/* A Vec<u8>: a malloc'd copy (NUL-terminated, so a String needs no second copy). */
static int read_bytes(cursor *c, const char *field, uint32_t cap, uint8_t **out, size_t *len) {
  size_t n;
  if (read_compact(c, field, cap, &n) || need(c, n, field)) return -1;
  uint8_t *buf = malloc(n + 1);
  if (!buf) return th_err_set(c->err, TH_ENOMEM, "attestation: %s: out of memory", field);
  if (n) memcpy(buf, c->p + c->off, n);
  buf[n] = 0;
  c->off += n;
  *out = buf;
  *len = n;
  return 0;
}

/* A String as a C string: no NUL inside (the event log's names never hold one, and a NUL would
 * cut what a C caller sees short of what was measured). */
static int read_string(cursor *c, const char *field, char **out) {
  size_t at = c->off, n = 0;
  uint8_t *s = NULL;
  if (read_bytes(c, field, TH_ATTESTATION_MAX_STRING, &s, &n)) return -1;
  if (memchr(s, 0, n)) {
    free(s);
    return th_err_set(c->err, TH_EBADDATA, "attestation: %s: NUL inside the string at offset %zu",
                      field, at);
  }
  *out = (char *)s;
  return 0;
}

static const char *name(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return buf;
}

/* The digest as core/eventlog.c keeps it: padded, or recomputed for a runtime event. */
static int settle_digest(cursor *c, th_event *ev, const uint8_t *digest, size_t len, size_t i,
                         size_t at) {
  memset(ev->digest, 0, 48);
  if (len) memcpy(ev->digest, digest, len);
  ev->digest_given = len > 0;
  if (ev->event_type != TH_EVENT_RUNTIME) return 0;
  uint8_t want[48];
  th_eventlog_runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, want);
  if (ev->digest_given && (len != 48 || memcmp(ev->digest, want, 48) != 0))
    return th_err_set(c->err, TH_EBADDATA,
                      "attestation: event_log[%zu] (%.64s): digest at offset %zu does not match "
                      "its payload",
                      i, ev->event, at);
  memcpy(ev->digest, want, 48);
  return 0;
}

static int read_tdx_event(cursor *c, size_t i, th_event *ev) {
  char f[64];
  uint8_t *digest = NULL;
  size_t digest_len, digest_at, imr_at = c->off;
  if (read_u32(c, name(f, sizeof f, "event_log[%zu].imr", i), &ev->imr)) return -1;
  if (ev->imr > 3)
    return th_err_set(c->err, TH_EBADDATA, "attestation: %s: must be 0..3 (got %u) at offset %zu",
                      f, ev->imr, imr_at);
  if (read_u32(c, name(f, sizeof f, "event_log[%zu].event_type", i), &ev->event_type)) return -1;
  digest_at = c->off;
  if (read_bytes(c, name(f, sizeof f, "event_log[%zu].digest", i), 48, &digest, &digest_len))
    return -1;
  int rc = read_string(c, name(f, sizeof f, "event_log[%zu].event", i), &ev->event) ||
           read_bytes(c, name(f, sizeof f, "event_log[%zu].event_payload", i),
                      TH_ATTESTATION_MAX_STRING, &ev->payload, &ev->payload_len) ||
           settle_digest(c, ev, digest, digest_len, i, digest_at);
  free(digest);
  return rc ? -1 : 0;
}

static int read_runtime_event(cursor *c, size_t i, th_event *ev) {
  char f[64];
  if (read_string(c, name(f, sizeof f, "runtime_events[%zu].event", i), &ev->event) ||
      read_bytes(c, name(f, sizeof f, "runtime_events[%zu].payload", i),
                 TH_ATTESTATION_MAX_STRING, &ev->payload, &ev->payload_len))
    return -1;
  ev->imr = 3;
  ev->event_type = TH_EVENT_RUNTIME;
  th_eventlog_runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, ev->digest);
  return 0;
}

static int read_events(cursor *c, const char *field, size_t min_size, th_eventlog *log,
                       int (*one)(cursor *, size_t, th_event *)) {
  size_t n;
  if (read_compact(c, field, TH_ATTESTATION_MAX_EVENTS, &n)) return -1;
  if (n == 0) return 0;
  /* Each event takes at least min_size bytes: a count the rest cannot hold is refused before
   * allocating for it. */
  if (need(c, n * min_size, field)) return -1;
  log->events = calloc(n, sizeof *log->events);
  if (!log->events) return th_err_set(c->err, TH_ENOMEM, "attestation: %s: out of memory", field);
  log->n = n; /* zeroed entries free cleanly if a later one fails */
  for (size_t i = 0; i < n; i++)
    if (one(c, i, &log->events[i])) return -1;
  return 0;
}

static int decode_v0(cursor *c, th_attestation *out) {
  if (need(c, 2, "header")) return -1;
  if (c->p[1] != 0)
    return th_err_set(c->err, TH_EBADDATA,
                      "attestation: quote kind %u at offset 1 is not supported (only 0, DstackTdx)",
                      c->p[1]);
  c->off = 2;
  if (read_bytes(c, "quote", TH_ATTESTATION_MAX_QUOTE, &out->quote, &out->quote_len) ||
      read_events(c, "event_log", 11, &out->log, read_tdx_event) ||
      read_events(c, "runtime_events", 2, &out->runtime_events, read_runtime_event) ||
      need(c, 64, "report_data"))
    return -1;
  memcpy(out->report_data, c->p + c->off, 64);
  c->off += 64;
  if (read_string(c, "config", &out->config)) return -1;
  if (c->off != c->len)
    return th_err_set(c->err, TH_EBADDATA, "attestation: %zu trailing bytes at offset %zu",
                      c->len - c->off, c->off);
  out->form = TH_ATTESTATION_V0;
  return 0;
}

int th_attestation_decode(const uint8_t *bytes, size_t len, th_attestation *out, th_err *err) {
  memset(out, 0, sizeof *out);
  if (!bytes || len == 0) return th_err_set(err, TH_EBADDATA, "attestation: empty container");
  uint8_t b = bytes[0];
  if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
    return th_err_set(err, TH_EBADDATA,
                      "attestation: V1 (msgpack) containers are not supported yet");
  if (b != 0)
    return th_err_set(err, TH_EBADDATA,
                      "attestation: unknown container version byte 0x%02x at offset 0", b);
  cursor c = {bytes, len, 0, err};
  if (decode_v0(&c, out) == 0) return 0;
  th_attestation_free(out);
  return -1;
}

void th_attestation_free(th_attestation *a) {
  if (!a) return;
  free(a->quote);
  th_eventlog_free(&a->log);
  th_eventlog_free(&a->runtime_events);
  free(a->config);
  memset(a, 0, sizeof *a);
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  int failed; /* out of memory or a length SCALE cannot hold; checked once at the end */
} wbuf;

static void put(wbuf *w, const void *data, size_t n) {
  if (w->failed || n == 0) return;
  if (w->cap - w->len < n) {
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n) cap *= 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
      w->failed = 1;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, data, n);
  w->len += n;
}

static void put_u32(wbuf *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(w, b, 4);
}

static void put_compact(wbuf *w, size_t n) {
  if (n < 64) {
    uint8_t b = (uint8_t)(n << 2);
    put(w, &b, 1);
  } else if (n < (1u << 14)) {
    uint8_t b[2] = {(uint8_t)(n << 2 | 1), (uint8_t)(n >> 6)};
    put(w, b, 2);
  } else if (n < (1u << 30)) {
    put_u32(w, (uint32_t)(n << 2 | 2));
  } else {
    w->failed = 1; /* never reached: the inputs are far smaller */
  }
}

static void put_vec(wbuf *w, const void *data, size_t n) {
  put_compact(w, n);
  put(w, data, n);
}

static void put_str(wbuf *w, const char *s) { put_vec(w, s ? s : "", s ? strlen(s) : 0); }

static void put_tdx_event(wbuf *w, const th_event *ev) {
  put_u32(w, ev->imr);
  put_u32(w, ev->event_type);
  put_vec(w, ev->digest, ev->digest_given ? 48 : 0);
  put_str(w, ev->event);
  put_vec(w, ev->payload, ev->payload_len);
}

static int encode(const uint8_t *quote, size_t quote_len, const th_eventlog *log,
                  const th_eventlog *runtime, const uint8_t report_data[64], const char *config,
                  uint8_t **out, size_t *out_len, th_err *err) {
  static const uint8_t header[2] = {0, 0}; /* V0, DstackTdx */
  size_t n_log = log ? log->n : 0, n_rt = 0;
  wbuf w = {0};
  put(&w, header, 2);
  put_vec(&w, quote, quote_len);
  put_compact(&w, n_log);
  for (size_t i = 0; i < n_log; i++) put_tdx_event(&w, &log->events[i]);
  if (runtime) {
    n_rt = runtime->n;
  } else {
    for (size_t i = 0; i < n_log; i++) n_rt += log->events[i].imr == 3;
  }
  put_compact(&w, n_rt);
  const th_eventlog *src = runtime ? runtime : log;
  for (size_t i = 0; src && i < src->n; i++) {
    if (!runtime && src->events[i].imr != 3) continue;
    put_str(&w, src->events[i].event);
    put_vec(&w, src->events[i].payload, src->events[i].payload_len);
  }
  put(&w, report_data, 64);
  put_str(&w, config);
  if (w.failed) {
    free(w.p);
    return th_err_set(err, TH_ENOMEM, "attestation: out of memory while encoding");
  }
  *out = w.p;
  *out_len = w.len;
  return 0;
}

int th_attestation_encode_v0(const uint8_t *quote, size_t quote_len, const th_eventlog *log,
                             const uint8_t report_data[64], const char *config, uint8_t **out,
                             size_t *out_len, th_err *err) {
  return encode(quote, quote_len, log, NULL, report_data, config, out, out_len, err);
}

int th_attestation_encode(const th_attestation *a, uint8_t **out, size_t *out_len, th_err *err) {
  return encode(a->quote, a->quote_len, &a->log, &a->runtime_events, a->report_data, a->config,
                out, out_len, err);
}
