/* core/simulator_events.c — the simulated TD's event log, its RTMRs and its quotes.
 *
 * The log (shared/specs/dstack.md 7): the upstream fixture's boot events on IMR 0–2 (digests
 * only, simulator_boot.c), then dstack's runtime events in boot order on IMR 3 — system-preparing,
 * app-id, compose-hash, instance-id, boot-mr-done, os-image-hash, key-provider, storage-fs,
 * system-ready — then whatever EmitEvent appends (V1 digests, spec 7.2), capped at
 * TH_SIM_MAX_APP_EVENTS events and TH_SIM_MAX_EVENT_BYTES of names and payloads. RTMRs are kept
 * as the running replay (7.3), so a quote never replays the log. Digests are always filled in.
 *
 * The compact JSON of the log, and the same as a JSON string (GetQuote's event_log), are built
 * once and rebuilt only after an EmitEvent (gen): GetQuote is a hot path. Quotes are complete v4
 * quotes from core/sim_pki with MRTD, MRCONFIGID = 0x01 ‖ compose_hash ‖ zeros, the RTMRs and the
 * call's REPORTDATA. */
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "simulator_internal.h"

static int add_event(th_simulator *s, uint32_t imr, uint32_t type, const uint8_t *digest,
                     const char *name, const uint8_t *payload, size_t len, th_err *err) {
  if (s->log.n == s->log_cap) {
    size_t cap = s->log_cap ? s->log_cap * 2 : 64;
    th_event *e = realloc(s->log.events, cap * sizeof *e);
    if (!e) return th_sim_oom(err);
    s->log.events = e;
    s->log_cap = cap;
  }
  th_event *ev = &s->log.events[s->log.n];
  memset(ev, 0, sizeof *ev);
  ev->imr = imr;
  ev->event_type = type;
  ev->digest_given = 1;
  ev->event = strdup(name);
  ev->payload = len ? malloc(len) : NULL;
  if (!ev->event || (len && !ev->payload)) {
    free(ev->event);
    free(ev->payload);
    return th_sim_oom(err);
  }
  if (len) memcpy(ev->payload, payload, len);
  ev->payload_len = len;
  if (digest)
    memcpy(ev->digest, digest, 48);
  else
    th_eventlog_runtime_digest(type, name, payload, len, ev->digest);
  uint8_t m[96];
  memcpy(m, s->rtmr[imr], 48);
  memcpy(m + 48, ev->digest, 48);
  SHA384(m, sizeof m, s->rtmr[imr]);
  s->log.n++;
  return 0;
}

static int runtime(th_simulator *s, const char *name, const void *payload, size_t len,
                   th_err *err) {
  return add_event(s, 3, TH_EVENT_RUNTIME, NULL, name, payload, len, err);
}

int th_sim_events_init(th_simulator *s, th_err *err) {
  for (size_t i = 0; i < TH_SIM_BOOT_EVENTS; i++) {
    const th_sim_boot_event *b = &th_sim_boot_events[i];
    if (add_event(s, b->imr, b->event_type, b->digest, "", NULL, 0, err) != 0) return -1;
  }
  const char *kp = s->key_provider_info;
  if (runtime(s, "system-preparing", NULL, 0, err) || runtime(s, "app-id", s->app_id, 20, err) ||
      runtime(s, "compose-hash", s->compose_hash, 32, err) ||
      runtime(s, "instance-id", s->instance_id, 20, err) ||
      runtime(s, "boot-mr-done", NULL, 0, err) ||
      runtime(s, "os-image-hash", s->os_image_hash, 32, err) ||
      runtime(s, "key-provider", kp, strlen(kp), err) || runtime(s, "storage-fs", "zfs", 3, err) ||
      runtime(s, "system-ready", NULL, 0, err))
    return -1;
  th_sim_td_defaults(&s->td);
  memcpy(s->td.mrtd, th_sim_boot_mrtd, 48);
  memset(s->td.mrconfigid, 0, 48);
  s->td.mrconfigid[0] = 0x01;
  memcpy(s->td.mrconfigid + 1, s->compose_hash, 32);
  return 0;
}

int th_sim_events_emit(th_simulator *s, const char *name, const uint8_t *payload, size_t len,
                       th_err *err) {
  size_t nlen = strlen(name);
  if (s->app_events >= TH_SIM_MAX_APP_EVENTS)
    return th_err_set(err, TH_EINVAL, "event log is full: at most %d events may be emitted",
                      TH_SIM_MAX_APP_EVENTS);
  if (nlen + len > TH_SIM_MAX_EVENT_BYTES - s->app_event_bytes)
    return th_err_set(err, TH_EINVAL,
                      "event log is full: emitted names and payloads may total "
                      "at most %u bytes",
                      TH_SIM_MAX_EVENT_BYTES);
  if (runtime(s, name, payload, len, err) != 0) return -1;
  s->app_events++;
  s->app_event_bytes += nlen + len;
  s->gen++;
  return 0;
}

static void put_entry(th_sbuf *b, const th_event *e) {
  th_sbuf_cstr(b, "{\"imr\":");
  th_sbuf_u64(b, e->imr);
  th_sbuf_cstr(b, ",\"event_type\":");
  th_sbuf_u64(b, e->event_type);
  th_sbuf_cstr(b, ",\"digest\":");
  th_sbuf_hex(b, e->digest, 48);
  th_sbuf_cstr(b, ",\"event\":");
  th_sbuf_jcstr(b, e->event);
  th_sbuf_cstr(b, ",\"event_payload\":");
  th_sbuf_hex(b, e->payload, e->payload_len);
  th_sbuf_cstr(b, "}");
}

int th_sim_events_json(th_simulator *s, th_err *err) {
  if (s->caches_valid && s->log_gen == s->gen) return 0;
  th_sbuf b = {0}, q = {0};
  th_sbuf_cstr(&b, "[");
  for (size_t i = 0; i < s->log.n; i++) {
    if (i) th_sbuf_cstr(&b, ",");
    put_entry(&b, &s->log.events[i]);
  }
  th_sbuf_cstr(&b, "]");
  if (!b.oom) th_sbuf_jstr(&q, b.p, b.len);
  size_t n1 = 0, n2 = 0;
  char *j = th_sbuf_take(&b, &n1), *js = th_sbuf_take(&q, &n2);
  if (!j || !js) {
    free(j);
    free(js);
    return th_sim_oom(err);
  }
  free(s->log_json);
  free(s->log_json_str);
  s->log_json = j, s->log_json_len = n1;
  s->log_json_str = js, s->log_json_str_len = n2;
  s->log_gen = s->gen;
  s->caches_valid = 1;
  return 0;
}

void th_sim_events_pretty(const th_simulator *s, th_sbuf *b, const char *in) {
  for (size_t i = 0; i < s->log.n; i++) {
    const th_event *e = &s->log.events[i];
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "{\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "  \"imr\": ");
    th_sbuf_u64(b, e->imr);
    th_sbuf_cstr(b, ",\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "  \"event_type\": ");
    th_sbuf_u64(b, e->event_type);
    th_sbuf_cstr(b, ",\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "  \"digest\": ");
    th_sbuf_hex(b, e->digest, 48);
    th_sbuf_cstr(b, ",\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "  \"event\": ");
    th_sbuf_jcstr(b, e->event);
    th_sbuf_cstr(b, ",\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, "  \"event_payload\": ");
    th_sbuf_hex(b, e->payload, e->payload_len);
    th_sbuf_cstr(b, "\n");
    th_sbuf_cstr(b, in);
    th_sbuf_cstr(b, i + 1 < s->log.n ? "},\n" : "}\n");
  }
}

int th_sim_make_quote(th_simulator *s, const uint8_t report_data[64], uint8_t **q, size_t *n,
                      th_err *err) {
  th_sim_td td = s->td;
  memcpy(td.rtmr, s->rtmr, sizeof td.rtmr);
  memcpy(td.reportdata, report_data, 64);
  return th_sim_pki_quote(s->pki, &td, 4, q, n, err);
}
