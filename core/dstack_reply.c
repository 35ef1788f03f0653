/* core/dstack_reply.c — what the client makes of a guest agent's answer (shared/specs/
 * dstack.md 1.3, 1.6, 2.1, 2.2; contract in core/dstack.h): the status and JSON body turned into
 * a result or the agent's error message, and the strict typed decoders of GetKey and GetQuote
 * replies. These read untrusted bytes: every field is type- and length-checked, and the fuzz
 * target tests/fuzz/fuzz_dstack_reply.c runs them. A decoded key is wiped when decoding fails. */
#include "dstack.h"
#include "hex.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- replies ------------------------------------------------------------------------------- */

/* A \u0000 escape inside a string: cJSON would cut the string there without a word, so such a
 * reply is refused instead (a \ escaped by another \ does not count). */
static int has_nul_escape(const char *body, size_t len) {
  const char *end = body + len;
  for (const char *p = body; (p = memchr(p, '\\', (size_t)(end - p))) != NULL; p += 2) {
    if (end - p >= 6 && !memcmp(p + 1, "u0000", 5)) return 1;
    if (end - p < 2) break; /* a backslash escapes the character after it: skip both */
  }
  return 0;
}

int th_dstack_parse_reply(const char *method, long status, const char *body, size_t len,
                          cJSON **out, th_err *err) {
  *out = NULL;
  cJSON *r = NULL;
  const char *end = NULL;
  if (body && len && !has_nul_escape(body, len)) r = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  while (r && end < body + len && strchr(" \t\r\n", *end) && *end) end++;
  if (r && end != body + len) { /* one JSON value and nothing after it */
    cJSON_Delete(r);
    r = NULL;
  }
  if (!r)
    return th_err_set(err, TH_EPROTO, "%s: the agent's answer is not JSON (HTTP %ld)", method,
                      status);
  const cJSON *e = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "error") : NULL;
  if (e || status != 200) {
    if (cJSON_IsString(e)) th_err_set(err, TH_EPROTO, "%s: %s", method, e->valuestring);
    else if (e) th_err_set(err, TH_EPROTO, "%s: agent error (HTTP %ld)", method, status);
    else th_err_set(err, TH_EPROTO, "%s: agent answered HTTP %ld", method, status);
    cJSON_Delete(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* The string field `name` of obj, or NULL with TH_EPROTO "<ctx>: <name>: …". */
static const char *field_str(const cJSON *obj, const char *ctx, const char *name, int optional,
                             th_err *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (cJSON_IsString(f)) return f->valuestring;
  if (!f && optional) return "";
  th_err_set(err, TH_EPROTO, "%s: %s: %s", ctx, name, f ? "expected a string" : "missing");
  return NULL;
}

/* th_hex_decode_exact with the error re-coded as the agent's protocol fault. */
static int hex_exact(const char *hex, uint8_t *out, size_t want, const char *what, th_err *err) {
  if (th_hex_decode_exact(hex, strlen(hex), out, want, what, err) == 0) return 0;
  if (err) err->code = TH_EPROTO;
  return -1;
}

static int decode_chain(const cJSON *arr, th_dstack_key *out, th_err *err) {
  if (!cJSON_IsArray(arr))
    return th_err_set(err, TH_EPROTO, "GetKey: signature_chain: %s",
                      arr ? "expected an array" : "missing");
  int n = cJSON_GetArraySize(arr);
  if (n > 2)
    return th_err_set(err, TH_EPROTO, "GetKey: signature_chain: expected at most 2 entries, got %d",
                      n);
  for (int i = 0; i < n; i++) {
    const cJSON *s = cJSON_GetArrayItem(arr, i);
    char what[40];
    snprintf(what, sizeof what, "GetKey: signature_chain[%d]", i);
    if (!cJSON_IsString(s)) return th_err_set(err, TH_EPROTO, "%s: expected a string", what);
    if (i == 1 && s->valuestring[0] == '\0') break; /* local key provider: no KMS signature */
    if (hex_exact(s->valuestring, out->chain[i], 65, what, err) != 0) return -1;
    out->chain_len = i + 1;
  }
  return 0;
}

int th_dstack_decode_key(const cJSON *result, th_dstack_key *out, th_err *err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(result))
    return th_err_set(err, TH_EPROTO, "GetKey: expected a JSON object");
  const char *key = field_str(result, "GetKey", "key", 0, err);
  if (!key || hex_exact(key, out->key, 32, "GetKey: key", err) != 0 ||
      decode_chain(cJSON_GetObjectItemCaseSensitive(result, "signature_chain"), out, err) != 0) {
    sodium_memzero(out, sizeof *out);
    return -1;
  }
  return 0;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static int decode_quote_fields(const cJSON *r, th_dstack_quote *out, th_err *err) {
  const char *quote = field_str(r, "GetQuote", "quote", 0, err);
  if (!quote) return -1;
  if (!quote[0]) return th_err_set(err, TH_EPROTO, "GetQuote: quote: empty");
  if (th_hex_decode_alloc(quote, strlen(quote), &out->quote, &out->quote_len, "GetQuote: quote",
                          err) != 0) {
    if (err) err->code = TH_EPROTO;
    return -1;
  }
  const char *log = field_str(r, "GetQuote", "event_log", 0, err);
  const char *rd = log ? field_str(r, "GetQuote", "report_data", 0, err) : NULL;
  const char *vm = rd ? field_str(r, "GetQuote", "vm_config", 1, err) : NULL;
  if (!vm || hex_exact(rd, out->report_data, 64, "GetQuote: report_data", err) != 0) return -1;
  out->event_log = dup_str(log);
  out->vm_config = dup_str(vm);
  if (!out->event_log || !out->vm_config)
    return th_err_set(err, TH_ENOMEM, "GetQuote: out of memory");
  return 0;
}

int th_dstack_decode_quote(const cJSON *result, th_dstack_quote *out, th_err *err) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(result))
    return th_err_set(err, TH_EPROTO, "GetQuote: expected a JSON object");
  if (decode_quote_fields(result, out, err) != 0) {
    th_dstack_quote_free(out);
    return -1;
  }
  return 0;
}

void th_dstack_quote_free(th_dstack_quote *q) {
  if (!q) return;
  free(q->quote);
  free(q->event_log);
  free(q->vm_config);
  memset(q, 0, sizeof *q);
}
