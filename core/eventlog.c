/* core/eventlog.c — the dstack event log (see eventlog.h): strict parsing with cJSON, runtime
 * digests and RTMR replay with OpenSSL's SHA-384.
 *
 * The log is untrusted: it travels next to a quote, and only its replay is bound to the quote. So
 * every field is checked for type and range, and a runtime event's digest is always recomputed
 * from the name and payload we hand back, so what a caller reads is what was measured. Events are
 * numbered from 0 in errors, as in the JSON array. */
#include "eventlog.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

#define MAX_LOG_BYTES ((size_t)16 << 20)
#define MAX_EVENTS 100000
#define DIGEST_LEN 48

typedef struct span {
  const void *p;
  size_t n;
} span;

/* SHA-384 over the concatenation of parts: 0, or -1 when OpenSSL could not allocate. */
static int sha384(const span *parts, size_t count, uint8_t out[DIGEST_LEN]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL);
  for (size_t i = 0; ok && i < count; i++)
    ok = parts[i].n == 0 || EVP_DigestUpdate(ctx, parts[i].p, parts[i].n);
  ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
  EVP_MD_CTX_free(ctx);
  return ok ? 0 : -1;
}

/* dstack's V1 runtime digest: SHA-384(u32le(event_type) ‖ ":" ‖ event ‖ ":" ‖ payload). */
static int runtime_digest(uint32_t event_type, const char *event, const uint8_t *payload,
                          size_t payload_len, uint8_t out[DIGEST_LEN]) {
  const uint8_t le[4] = {(uint8_t)event_type, (uint8_t)(event_type >> 8),
                         (uint8_t)(event_type >> 16), (uint8_t)(event_type >> 24)};
  const span parts[] = {
      {le, 4}, {":", 1}, {event, strlen(event)}, {":", 1}, {payload, payload_len}};
  return sha384(parts, sizeof parts / sizeof parts[0], out);
}

/* The void entry points below cannot report a failed allocation inside OpenSSL; they write all
 * 0xff bytes instead, a value no SHA-384 chain yields, so it can never match a quote. */
void th_eventlog_runtime_digest(uint32_t event_type, const char *event, const uint8_t *payload,
                                size_t payload_len, uint8_t out[48]) {
  if (runtime_digest(event_type, event, payload, payload_len, out) != 0)
    memset(out, 0xff, DIGEST_LEN);
}

static int replay(const th_eventlog *log, uint8_t rtmr[4][48]) {
  memset(rtmr, 0, 4 * DIGEST_LEN);
  for (size_t i = 0; log && i < log->n; i++) {
    const th_event *ev = &log->events[i];
    uint8_t *r = rtmr[ev->imr & 3]; /* parse guarantees 0..3; the mask guards hand-made logs */
    const span parts[] = {{r, DIGEST_LEN}, {ev->digest, DIGEST_LEN}};
    if (sha384(parts, 2, r) != 0) return -1;
  }
  return 0;
}

void th_eventlog_replay(const th_eventlog *log, uint8_t rtmr[4][48]) {
  if (replay(log, rtmr) != 0) memset(rtmr, 0xff, 4 * DIGEST_LEN);
}

/* "1e31…cd07": enough of a 48-byte value to tell two apart in an error message. */
static void short_hex(const uint8_t v[DIGEST_LEN], char out[16]) {
  snprintf(out, 16, "%02x%02x\xe2\x80\xa6%02x%02x", v[0], v[1], v[46], v[47]);
}

int th_eventlog_check(const th_eventlog *log, const uint8_t quote_rtmr[4][48], th_err *err) {
  uint8_t got[4][DIGEST_LEN];
  if (replay(log, got) != 0)
    return th_err_set(err, TH_ENOMEM, "event log: out of memory while hashing");
  for (int i = 0; i < 4; i++) {
    if (memcmp(got[i], quote_rtmr[i], DIGEST_LEN) == 0) continue;
    char a[16], b[16];
    short_hex(got[i], a);
    short_hex(quote_rtmr[i], b);
    return th_err_set(err, TH_EVERIFY, "event log: RTMR%d replays to %s but the quote has %s", i,
                      a, b);
  }
  return 0;
}

void th_eventlog_free(th_eventlog *log) {
  if (!log) return;
  for (size_t i = 0; i < log->n; i++) {
    free(log->events[i].event);
    free(log->events[i].payload);
  }
  free(log->events);
  log->events = NULL;
  log->n = 0;
}

/* ---- parsing ---- */

/* Fails with "event log: event <i>: <what>". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int bad(th_err *err, size_t i, const char *fmt, ...) {
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return th_err_set(err, TH_EBADDATA, "event log: event %zu: %s", i, what);
}

/* Decodes the hex string member `key` into a malloc'd buffer (free()). */
static int get_hex(const cJSON *obj, const char *key, size_t i, uint8_t **out, size_t *out_len,
                   th_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return bad(err, i, "missing \"%s\"", key);
  if (!cJSON_IsString(v)) return bad(err, i, "%s must be a hex string", key);
  char what[64];
  snprintf(what, sizeof what, "event log: event %zu: %s", i, key);
  return th_hex_decode_alloc(v->valuestring, strlen(v->valuestring), out, out_len, what, err);
}

/* Reads the integer member `key` in 0..max. The range test comes first: it rejects NaN and
 * infinities before the cast, which would be undefined for them. */
static int get_uint(const cJSON *obj, const char *key, double max, size_t i, uint32_t *out,
                    th_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return bad(err, i, "missing \"%s\"", key);
  if (!cJSON_IsNumber(v)) return bad(err, i, "%s must be an integer 0..%.0f", key, max);
  double d = v->valuedouble;
  if (!(d >= 0 && d <= max) || d != (double)(uint32_t)d)
    return bad(err, i, "%s must be 0..%.0f (got %.15g)", key, max, d);
  *out = (uint32_t)d;
  return 0;
}

/* cJSON keeps the first of two equal keys where other readers keep the last (dstack's serde
 * rejects them), so a duplicate could show different events to different verifiers: refuse it.
 * V2 runtime events ("version":2) hash differently; say so instead of reporting a mismatch. */
static int check_keys(const cJSON *obj, size_t i, th_err *err) {
  static const char *const keys[] = {"imr", "event_type", "digest", "event", "event_payload"};
  int seen[sizeof keys / sizeof keys[0]] = {0};
  for (const cJSON *a = obj->child; a; a = a->next) { /* one pass: an object may be huge */
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
      if (strcmp(a->string, keys[k]) == 0 && seen[k]++)
        return bad(err, i, "duplicate \"%s\"", keys[k]);
    if (strcmp(a->string, "version") == 0 && !(cJSON_IsNumber(a) && a->valuedouble == 1))
      return bad(err, i, "only version 1 events are supported");
  }
  return 0;
}

static int parse_event(const cJSON *obj, size_t i, th_event *ev, th_err *err) {
  if (!cJSON_IsObject(obj)) return bad(err, i, "not a JSON object");
  if (check_keys(obj, i, err) || get_uint(obj, "imr", 3, i, &ev->imr, err) ||
      get_uint(obj, "event_type", UINT32_MAX, i, &ev->event_type, err))
    return -1;
  uint8_t *digest;
  size_t digest_len;
  if (get_hex(obj, "digest", i, &digest, &digest_len, err)) return -1;
  if (digest_len > DIGEST_LEN) {
    free(digest);
    return bad(err, i, "digest is %zu bytes (at most 48)", digest_len);
  }
  memset(ev->digest, 0, DIGEST_LEN); /* a short digest is right-padded with zeros, as the SDK does */
  if (digest_len) memcpy(ev->digest, digest, digest_len);
  free(digest);
  ev->digest_given = digest_len > 0;

  const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "event");
  if (!name) return bad(err, i, "missing \"event\"");
  if (!cJSON_IsString(name)) return bad(err, i, "event must be a string");
  ev->event = strdup(name->valuestring);
  if (!ev->event) return th_err_set(err, TH_ENOMEM, "event log: out of memory");
  if (get_hex(obj, "event_payload", i, &ev->payload, &ev->payload_len, err)) return -1;

  if (ev->event_type != TH_EVENT_RUNTIME) return 0;
  uint8_t want[DIGEST_LEN];
  if (runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, want))
    return th_err_set(err, TH_ENOMEM, "event log: out of memory while hashing");
  /* A stored runtime digest must be the whole SHA-384 of what we report: a forged payload under
   * a genuine digest would otherwise replay correctly. */
  if (ev->digest_given && (digest_len != DIGEST_LEN || memcmp(ev->digest, want, DIGEST_LEN)))
    return th_err_set(err, TH_EBADDATA,
                      "event log: event %zu (%.64s): digest does not match its payload", i,
                      ev->event);
  memcpy(ev->digest, want, DIGEST_LEN);
  return 0;
}

/* cJSON turns "\u0000" into a NUL that silently cuts its C string short ("app-id\u0000x" would
 * read as "app-id"); no event log field needs one. Called on text cJSON accepted, where a
 * backslash appears only inside strings and always starts an escape. */
static int has_nul_escape(const char *s, size_t len) {
  for (size_t k = 0; k + 1 < len; k++) {
    if (s[k] != '\\') continue;
    if (len - k >= 6 && memcmp(s + k + 1, "u0000", 5) == 0) return 1;
    k++; /* skip the escaped character: in "\\u0000" the u is plain text */
  }
  return 0;
}

/* The whole text must be one JSON value: cJSON stops after the value and would let trailing
 * bytes, or a raw NUL that ends its C strings, pass unnoticed. */
static cJSON *parse_json(const char *json, size_t len, th_err *err) {
  const char *nul = memchr(json, '\0', len);
  if (nul) {
    th_err_set(err, TH_EBADDATA, "event log: not valid JSON (NUL byte at %zu)",
               (size_t)(nul - json));
    return NULL;
  }
  const char *end = json;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) {
    th_err_set(err, TH_EBADDATA, "event log: not valid JSON (error near byte %zu)",
               (size_t)(end - json));
    return NULL;
  }
  while (end < json + len && strchr(" \t\r\n", *end)) end++;
  if (end < json + len) {
    th_err_set(err, TH_EBADDATA, "event log: not valid JSON (trailing data at byte %zu)",
               (size_t)(end - json));
  } else if (has_nul_escape(json, len)) {
    th_err_set(err, TH_EBADDATA, "event log: \\u0000 in a string is not supported");
  } else {
    return root;
  }
  cJSON_Delete(root);
  return NULL;
}

static int parse_events(const cJSON *root, th_eventlog *out, th_err *err) {
  if (!cJSON_IsArray(root)) return th_err_set(err, TH_EBADDATA, "event log: not a JSON array");
  size_t n = 0;
  for (const cJSON *c = root->child; c; c = c->next) n++;
  if (n > MAX_EVENTS)
    return th_err_set(err, TH_ETOOBIG, "event log: %zu events (at most %d)", n, MAX_EVENTS);
  if (n == 0) return 0;
  out->events = calloc(n, sizeof *out->events);
  if (!out->events) return th_err_set(err, TH_ENOMEM, "event log: out of memory");
  out->n = n; /* zeroed entries free cleanly if a later one fails */
  size_t i = 0;
  for (const cJSON *c = root->child; c; c = c->next, i++)
    if (parse_event(c, i, &out->events[i], err)) return -1;
  return 0;
}

int th_eventlog_parse(const char *json, size_t len, th_eventlog *out, th_err *err) {
  if (!out) return th_err_set(err, TH_EINVAL, "event log: no output");
  out->events = NULL;
  out->n = 0;
  if (!json && len) return th_err_set(err, TH_EINVAL, "event log: no input");
  if (len > MAX_LOG_BYTES)
    return th_err_set(err, TH_ETOOBIG, "event log: %zu bytes (at most 16 MiB)", len);
  cJSON *root = parse_json(json ? json : "", len, err);
  if (!root) return -1;
  int rc = parse_events(root, out, err);
  cJSON_Delete(root);
  if (rc) th_eventlog_free(out);
  return rc;
}
