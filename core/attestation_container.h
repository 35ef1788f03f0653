/* core/attestation_container.h — dstack's VersionedAttestation container (shared/specs/dstack.md
 * section 8): what `Attest` returns and what RA-TLS extension 1.3.6.1.4.1.62397.1.8 carries.
 *
 * V0 (first byte 0x00, SCALE, shared/vectors/README.md 6.2):
 *   u8 0 | u8 0 (DstackTdx) | Vec<u8> quote | Vec<TdxEvent> event_log |
 *   Vec<RuntimeEvent> runtime_events | [u8;64] report_data | String config
 * with SCALE compact lengths; TdxEvent = u32le imr | u32le event_type | Vec<u8> digest |
 * String event | Vec<u8> event_payload; RuntimeEvent = String event | Vec<u8> payload.
 * V1 (first byte a msgpack map prefix) is recognised and refused for now.
 *
 * Decoding takes untrusted bytes: every read is bounds-checked; quote, strings and payloads are
 * capped at 1 MiB and each event list at 4096 entries; no trailing bytes. Events are filled like
 * core/eventlog.c fills them from JSON: digest = the 48 bytes replayed (a runtime event's digest
 * recomputed from its name and payload, and a non-empty stored one that differs is refused;
 * others right-padded), digest_given = the container carried a non-empty digest, imr 0..3, names
 * without NUL. Errors (TH_EBADDATA, TH_ETOOBIG for the caps) name the field and the offset:
 * "attestation: event_log[3].digest: truncated at offset 5200 (need 48 bytes, 7 left)".
 *
 * Ownership: th_attestation_decode fills a struct the caller owns (th_attestation_free, also
 * after a failure: it is left empty then); encoders return a malloc'd buffer (free()). */
#ifndef TH_ATTESTATION_CONTAINER_H
#define TH_ATTESTATION_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "eventlog.h"

#define TH_ATTESTATION_MAX_QUOTE (1u << 20)
#define TH_ATTESTATION_MAX_STRING (1u << 20)
#define TH_ATTESTATION_MAX_EVENTS 4096u

enum th_attestation_form {
  TH_ATTESTATION_V0 = 0,     /* SCALE container */
  TH_ATTESTATION_V1 = 1,     /* msgpack container */
  TH_ATTESTATION_LEGACY = 2, /* RA-TLS .1.1 quote + .1.2 event-log JSON (th_ratls_evidence) */
};

typedef struct th_attestation {
  uint8_t *quote;
  size_t quote_len;
  th_eventlog log;            /* the TDX event log (all IMRs) */
  uint8_t report_data[64];
  char *config;               /* NUL-terminated ("" for the legacy form) */
  int form;                   /* enum th_attestation_form */
  th_eventlog runtime_events; /* V0's own list (imr 3, TH_EVENT_RUNTIME, digest recomputed,
                                 digest_given 0); legacy form: the log's IMR-3 entries */
} th_attestation;

/* Encodes V0 with runtime_events = the log's IMR-3 entries (name + payload); an event's digest is
 * written as its 48 bytes when digest_given, else empty. config NULL = "". */
int th_attestation_encode_v0(const uint8_t *quote, size_t quote_len, const th_eventlog *log,
                             const uint8_t report_data[64], const char *config, uint8_t **out,
                             size_t *out_len, th_err *err);
/* Encodes V0 from a decoded container, with its own runtime_events list: re-encoding what
 * th_attestation_decode read gives the same bytes (when each digest was 0 or 48 bytes). */
int th_attestation_encode(const th_attestation *a, uint8_t **out, size_t *out_len, th_err *err);

/* Decodes a container; see the top for the checks. */
int th_attestation_decode(const uint8_t *bytes, size_t len, th_attestation *out, th_err *err);
void th_attestation_free(th_attestation *a);

#endif
