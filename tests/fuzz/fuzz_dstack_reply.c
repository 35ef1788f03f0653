/* tests/fuzz/fuzz_dstack_reply.c — libFuzzer target for the agent-reply path of core/dstack: an
 * untrusted HTTP body goes through th_dstack_parse_reply (strict JSON check, cJSON, the "error"
 * member, the status) and, when it parses, through both typed decoders (th_dstack_decode_key,
 * th_dstack_decode_quote), as the client does with GetKey/GetQuote answers.
 * Properties: every failure leaves a NUL-terminated message prefixed by the method; a decoded
 * key's chain_len is 0..2; a decoded quote has a non-empty quote and NUL-terminated strings; a
 * failed key decode leaves the key wiped. The first input byte picks the HTTP status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dstack.h"

static void check_err(const th_err *e, const char *prefix) {
  if (!memchr(e->message, '\0', sizeof e->message)) abort();
  if (strncmp(e->message, prefix, strlen(prefix)) != 0) abort();
  if (e->code != TH_EPROTO && e->code != TH_ENOMEM) abort();
}

static void decode_both(const cJSON *r) {
  th_dstack_key k;
  th_err e = {0};
  if (th_dstack_decode_key(r, &k, &e) == 0) {
    if (k.chain_len < 0 || k.chain_len > 2) abort();
  } else {
    static const uint8_t zero[32];
    if (memcmp(k.key, zero, sizeof zero) != 0) abort();
    check_err(&e, "GetKey: ");
  }
  th_dstack_quote q;
  if (th_dstack_decode_quote(r, &q, &e) == 0) {
    if (!q.quote || q.quote_len == 0 || !q.event_log || !q.vm_config) abort();
    (void)strlen(q.event_log);
    (void)strlen(q.vm_config);
  } else {
    if (q.quote || q.event_log || q.vm_config) abort();
    check_err(&e, "GetQuote: ");
  }
  th_dstack_quote_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const long statuses[] = {200, 200, 200, 400, 404, 500, 0, 201};
  long status = statuses[data[0] % (sizeof statuses / sizeof *statuses)];
  char *body = malloc(size); /* exact size, no NUL: the parser must respect len */
  if (!body) return 0;
  memcpy(body, data + 1, size - 1);
  cJSON *r = NULL;
  th_err e = {0};
  if (th_dstack_parse_reply("GetKey", status, body, size - 1, &r, &e) == 0) {
    if (!r || status != 200) abort();
    decode_both(r);
    cJSON_Delete(r);
  } else {
    if (r) abort();
    check_err(&e, "GetKey: ");
  }
  free(body);
  return 0;
}
