/* tests/fuzz/fuzz_attestation.c — libFuzzer target for dstack's attestation container decoder
 * (core/attestation_container.c).
 *
 * For every input: th_attestation_decode. A refusal must be a clean "attestation: ..." error with
 * an empty struct. An accepted container must hold only IMRs 0..3, runtime digests equal to the
 * recomputed ones, sizes within the caps, and must re-encode to bytes that decode again and
 * re-encode identically (a digest shorter than 48 bytes is padded, so the first re-encoding may
 * differ from the input; from then on it is fixed). Any violation: abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation_container.h"

static void fail(const char *what, size_t size) {
  fprintf(stderr, "fuzz_attestation: %s (input of %zu bytes)\n", what, size);
  abort();
}

static void check_log(const th_eventlog *log, size_t size) {
  if (log->n > TH_ATTESTATION_MAX_EVENTS) fail("too many events", size);
  for (size_t i = 0; i < log->n; i++) {
    const th_event *ev = &log->events[i];
    if (ev->imr > 3) fail("imr out of range", size);
    if (!ev->event || !ev->payload) fail("missing event or payload", size);
    if (strlen(ev->event) > TH_ATTESTATION_MAX_STRING) fail("event name too long", size);
    if (ev->event_type != TH_EVENT_RUNTIME) continue;
    uint8_t want[48];
    th_eventlog_runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, want);
    if (memcmp(ev->digest, want, 48) != 0) fail("runtime digest not recomputed", size);
  }
}

static void check_round_trip(const th_attestation *a, size_t size) {
  uint8_t *once = NULL, *twice = NULL;
  size_t once_len, twice_len;
  th_attestation b;
  th_err err = {0};
  if (th_attestation_encode(a, &once, &once_len, &err) != 0) fail(err.message, size);
  if (th_attestation_decode(once, once_len, &b, &err) != 0) fail(err.message, size);
  if (th_attestation_encode(&b, &twice, &twice_len, &err) != 0) fail(err.message, size);
  if (twice_len != once_len || memcmp(once, twice, once_len) != 0)
    fail("re-encoding is not stable", size);
  if (b.quote_len != a->quote_len || b.log.n != a->log.n ||
      b.runtime_events.n != a->runtime_events.n || strcmp(b.config, a->config) != 0 ||
      memcmp(b.report_data, a->report_data, 64) != 0)
    fail("re-encoding changed the fields", size);
  th_attestation_free(&b);
  free(once);
  free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  th_attestation a;
  th_err err = {0};
  if (th_attestation_decode(data, size, &a, &err) != 0) {
    if (strncmp(err.message, "attestation: ", 13) != 0) fail(err.message, size);
    if (err.code != TH_EBADDATA && err.code != TH_ETOOBIG && err.code != TH_ENOMEM)
      fail(err.message, size);
    if (a.quote || a.log.events || a.runtime_events.events || a.config)
      fail("a refused container is not empty", size);
    return 0;
  }
  if (a.quote_len > TH_ATTESTATION_MAX_QUOTE || !a.quote || !a.config) fail("fields", size);
  check_log(&a.log, size);
  check_log(&a.runtime_events, size);
  check_round_trip(&a, size);
  th_attestation_free(&a);
  return 0;
}
