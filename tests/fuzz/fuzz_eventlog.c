/* tests/fuzz/fuzz_eventlog.c — libFuzzer target for the event log parser (core/eventlog.c).
 *
 * For every input: th_eventlog_parse. A refusal must be a clean "event log: ..." error with an
 * empty log. An accepted log must hold only IMRs 0..3 and runtime events whose digest is the
 * recomputed one; replayed and checked against all-zero RTMRs it must pass exactly when it is
 * empty (a non-empty chain of SHA-384 never yields zeros). Any violation: abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_eventlog: %s\ninput (%zu bytes): %.*s\n", what, size, (int)size,
          (const char *)data);
  abort();
}

static void check_events(const th_eventlog *log, const uint8_t *data, size_t size) {
  for (size_t i = 0; i < log->n; i++) {
    const th_event *ev = &log->events[i];
    if (ev->imr > 3) fail("imr out of range", data, size);
    if (!ev->event || (ev->payload_len && !ev->payload)) fail("missing event or payload", data, size);
    if (ev->event_type != TH_EVENT_RUNTIME) continue;
    uint8_t want[48];
    th_eventlog_runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, want);
    if (memcmp(ev->digest, want, 48) != 0) fail("runtime digest not recomputed", data, size);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  th_eventlog log;
  th_err err = {0};
  if (th_eventlog_parse((const char *)data, size, &log, &err) != 0) {
    if (strncmp(err.message, "event log: ", 11) != 0) fail(err.message, data, size);
    if (err.code != TH_EBADDATA && err.code != TH_ETOOBIG && err.code != TH_ENOMEM)
      fail(err.message, data, size);
    if (log.events || log.n) fail("a refused log is not empty", data, size);
    return 0;
  }
  check_events(&log, data, size);
  static const uint8_t zero[4][48];
  int rc = th_eventlog_check(&log, zero, &err);
  if (rc != (log.n ? -1 : 0)) fail("check against zero RTMRs", data, size);
  if (rc && strncmp(err.message, "event log: RTMR", 15) != 0) fail(err.message, data, size);
  th_eventlog_free(&log);
  return 0;
}
