/* core/eventlog.h — the dstack event log: parse its JSON, recompute runtime-event digests, replay
 * RTMR0–3 and compare them with a quote.
 *
 * Spec: shared/specs/dstack.md (event log) and shared/vectors/README.md 6.3. The JSON is an array
 * of {"imr":0-3, "event_type":u32, "digest":hex (may be ""), "event":string,
 * "event_payload":hex}. Runtime events (event_type 0x08000001, dstack's "V1") have digest
 * SHA-384(u32le(event_type) ‖ ":" ‖ event ‖ ":" ‖ payload); their digests are recomputed, and a
 * non-empty stored digest that differs is an error (a forged payload must not pass). Other events
 * keep their stored digest (a digest shorter than 48 bytes is right-padded with zeros, as the
 * dstack SDK does). Replay: RTMR[i] = SHA-384(RTMR[i] ‖ digest), starting from 48 zero bytes.
 *
 * Ownership: th_eventlog_parse fills a th_eventlog the caller owns (th_eventlog_free). */
#ifndef TH_EVENTLOG_H
#define TH_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TH_EVENT_RUNTIME 0x08000001u

typedef struct th_event {
  uint32_t imr;
  uint32_t event_type;
  uint8_t digest[48]; /* as replayed: recomputed for runtime events, padded otherwise */
  int digest_given;   /* the JSON carried a non-empty digest */
  char *event;        /* NUL-terminated, may contain no NUL itself */
  uint8_t *payload;
  size_t payload_len;
} th_event;

typedef struct th_eventlog {
  th_event *events;
  size_t n;
} th_eventlog;

/* Errors (TH_EBADDATA) name the event: "event log: event 12: imr must be 0..3 (got 7)",
 * "event log: event 30 (compose-hash): digest does not match its payload",
 * "event log: not a JSON array". */
int th_eventlog_parse(const char *json, size_t len, th_eventlog *out, th_err *err);
void th_eventlog_free(th_eventlog *log);

/* Replays the log into rtmr[0..3]. */
void th_eventlog_replay(const th_eventlog *log, uint8_t rtmr[4][48]);

/* Replays and compares with the quote's RTMRs: 0, or -1 with TH_EVERIFY
 * "event log: RTMR2 replays to 1e31…cd07 but the quote has 0000…0000". */
int th_eventlog_check(const th_eventlog *log, const uint8_t quote_rtmr[4][48], th_err *err);

/* The runtime digest of one event (exposed for the simulator, which extends RTMR3). */
void th_eventlog_runtime_digest(uint32_t event_type, const char *event, const uint8_t *payload,
                                size_t payload_len, uint8_t out[48]);

#endif
