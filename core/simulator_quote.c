/* core/simulator_quote.c — the quote methods: GetQuote and Attest (shared/specs/dstack.md 2.2,
 * 2.3, 5.1), the legacy TdxQuote and RawQuote (3, 5.2).
 *
 * Report data rules and their error texts are core/report_data's; the quote is a fresh signed v4
 * quote over the current event log (simulator_events.c); the event_log string is the cached one,
 * full and with digests (a superset every client accepts, spec 7.4). Attest wraps the same
 * evidence in a V0 container (spec 8) with the sys-config text. */
#include <stdlib.h>

#include "ratls.h"
#include "report_data.h"
#include "simulator_internal.h"

static int quote_for(th_simulator *s, const uint8_t rd[64], uint8_t **q, size_t *n, th_err *err) {
  if (th_sim_events_json(s, err) != 0) return -1;
  return th_sim_make_quote(s, rd, q, n, err);
}

int th_sim_get_quote(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  uint8_t rd[64], *q = NULL;
  size_t n;
  if (th_report_data_padded(th_sim_ptr(&r->report_data), r->report_data.n, rd, err) != 0 ||
      quote_for(s, rd, &q, &n, err) != 0)
    return -1;
  th_sbuf_cstr(out, "{\"quote\":");
  th_sbuf_hex(out, q, n);
  th_sbuf_cstr(out, ",\"event_log\":");
  th_sbuf_raw(out, s->log_json_str, s->log_json_str_len);
  th_sbuf_cstr(out, ",\"report_data\":");
  th_sbuf_hex(out, rd, 64);
  th_sbuf_cstr(out, ",\"vm_config\":");
  th_sbuf_jcstr(out, s->vm_config);
  th_sbuf_cstr(out, "}");
  free(q);
  return 0;
}

int th_sim_attest(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  uint8_t rd[64], *q = NULL, *att = NULL;
  size_t n, alen;
  if (th_report_data_padded(th_sim_ptr(&r->report_data), r->report_data.n, rd, err) != 0 ||
      quote_for(s, rd, &q, &n, err) != 0)
    return -1;
  int rc = th_attestation_encode_v0(q, n, &s->log, rd, s->sys_config, &att, &alen, err);
  free(q);
  if (rc != 0) return -1;
  th_sbuf_cstr(out, "{\"attestation\":");
  th_sbuf_hex(out, att, alen);
  th_sbuf_cstr(out, "}");
  free(att);
  return 0;
}

static int legacy_answer(th_simulator *s, const uint8_t rd[64], const char *alg, const char *pfx,
                         th_sbuf *out, th_err *err) {
  uint8_t *q = NULL;
  size_t n;
  if (quote_for(s, rd, &q, &n, err) != 0) return -1;
  th_sbuf_cstr(out, "{\"quote\":");
  th_sbuf_hex(out, q, n);
  th_sbuf_cstr(out, ",\"event_log\":");
  th_sbuf_raw(out, s->log_json_str, s->log_json_str_len);
  th_sbuf_cstr(out, ",\"hash_algorithm\":");
  th_sbuf_jcstr(out, alg);
  th_sbuf_cstr(out, ",\"prefix\":");
  th_sbuf_jcstr(out, pfx);
  th_sbuf_cstr(out, "}");
  free(q);
  return 0;
}

int th_sim_tdx_quote(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  uint8_t rd[64];
  const char *alg = NULL, *pfx = NULL;
  if (th_report_data_tdx_quote(r->hash_algorithm, r->prefix, th_sim_ptr(&r->report_data),
                               r->report_data.n, rd, &alg, &pfx, err) != 0)
    return -1;
  return legacy_answer(s, rd, alg, pfx, out, err);
}

int th_sim_raw_quote(th_simulator *s, const th_sim_req *r, th_sbuf *out, th_err *err) {
  uint8_t rd[64];
  if (th_report_data_raw(th_sim_ptr(&r->report_data), r->report_data.n, rd, err) != 0) return -1;
  return legacy_answer(s, rd, "raw", "", out, err);
}
