/* tests/unit/test_simulator_quote.c — the simulator's evidence (core/simulator.h;
 * shared/specs/dstack.md 2.2–2.5, 3, 6, 7, 8, 10):
 *  - GetQuote: a v4 quote with REPORTDATA = the padded data (tdxquote-report-data.json), RTMRs =
 *    the replay of the returned event log, MRCONFIGID = 01 ‖ compose_hash ‖ 0…, MRTD and RTMR0–2 =
 *    the upstream fixture's (simulator-fixture.json), and it verifies under the simulated root
 *    with the simulated collateral (UpToDate), not under Intel's;
 *  - EmitEvent: RTMR3 changes, the event appears in the next quote's log and in Info;
 *  - Info: every field, values consistent with the log and recomputable (spec 7.5);
 *  - TdxQuote/RawQuote report data per the vectors; Attest a V0 container of the same evidence;
 *  - GetTlsKey/DeriveKey: the chain verifies against the CA, the evidence binds to the leaf,
 *    .1.4/.1.9/EKU/validity per request; DeriveKey's key is ratls.json's. */
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <time.h>

#include "collateral.h"
#include "eventlog.h"
#include "quote.h"
#include "ratls.h"
#include "test_simulator.h"
#include "verify.h"

static const char *jget(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItem(o, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

/* The quote of a response, parsed; *bytes to free. */
static void parse_quote(const rpc_resp *r, th_quote *q, uint8_t **bytes) {
  size_t n;
  th_err err = {0};
  *bytes = rpc_hex(r, "quote", &n);
  if (th_quote_parse(q, *bytes, n, &err) != 0) fail_msg("quote: %s", err.message);
  assert_int_equal(q->version, 4);
}

/* The returned event log replays to the quote's RTMRs. */
static void check_replay(const char *log_json, const th_quote *q, th_eventlog *log) {
  th_err err = {0};
  if (th_eventlog_parse(log_json, strlen(log_json), log, &err) != 0)
    fail_msg("event log: %s", err.message);
  if (th_eventlog_check(log, q->td.rtmr, &err) != 0) fail_msg("%s", err.message);
}

static void get_quote_is_complete_and_verifies(void **state) {
  simfx *f = *state;
  cJSON *fix = vector_json("dstack/simulator-fixture.json");
  const cJSON *td = cJSON_GetObjectItem(fix, "td_report");
  cJSON *vec = vector_json("dstack/tdxquote-report-data.json");
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(vec, "get_quote")) {
    const cJSON *want = cJSON_GetObjectItem(c, "report_data");
    char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "request"));
    rpc_resp r = rpc(f->sim, "/GetQuote", body);
    free(body);
    if (!cJSON_IsString(want)) {
      assert_rpc_error(&r, jget(c, "error"));
      rpc_free(&r);
      continue;
    }
    assert_ok(&r);
    assert_string_equal(rpc_str(&r, "report_data"), want->valuestring);
    th_quote q;
    uint8_t *bytes, rd[64], mrtd[48], rtmr[48], cfg[48] = {1};
    parse_quote(&r, &q, &bytes);
    vector_unhex(want->valuestring, rd, 64);
    assert_memory_equal(q.td.reportdata, rd, 64);
    vector_unhex(jget(td, "mr_td"), mrtd, 48);
    assert_memory_equal(q.td.mrtd, mrtd, 48);
    const char *names[] = {"rtmr0", "rtmr1", "rtmr2"};
    for (int i = 0; i < 3; i++) {
      vector_unhex(jget(cJSON_GetObjectItem(fix, "replayed_rtmrs"), names[i]), rtmr, 48);
      assert_memory_equal(q.td.rtmr[i], rtmr, 48);
    }
    th_eventlog log;
    check_replay(rpc_str(&r, "event_log"), &q, &log);
    /* MRCONFIGID binds Info's compose hash */
    rpc_resp info = rpc(f->sim, "/Info", "{}");
    vector_unhex(rpc_str(&info, "compose_hash"), cfg + 1, 32);
    assert_memory_equal(q.td.mrconfigid, cfg, 48);
    cJSON *vm = cJSON_Parse(rpc_str(&r, "vm_config"));
    assert_non_null(cJSON_GetObjectItem(vm, "os_image_hash"));
    cJSON_Delete(vm);
    /* verifies under the simulated root, UpToDate; Intel's root rejects it */
    th_err err = {0};
    size_t cn;
    int64_t now = (int64_t)time(NULL);
    char *cj = th_sim_pki_collateral_json(th_simulator_pki(f->sim), now, 0, &cn, &err);
    assert_non_null(cj);
    th_collateral *col = th_collateral_parse(cj, cn, &err);
    assert_non_null(col);
    th_verify_opts o = {.root = th_sim_pki_root(th_simulator_pki(f->sim)), .now = now};
    th_verify_result res = {0};
    if (th_verify_quote(&q, col, &o, &res, &err) != 0) fail_msg("verify: %s", err.message);
    assert_int_equal(res.status, TH_TCB_UP_TO_DATE);
    th_verify_result_clear(&res);
    o.root = NULL;
    assert_int_equal(th_verify_quote(&q, col, &o, &res, &err), -1);
    th_verify_result_clear(&res);
    th_collateral_unref(col);
    free(cj);
    th_eventlog_free(&log);
    rpc_free(&info);
    free(bytes);
    rpc_free(&r);
  }
  cJSON_Delete(vec);
  cJSON_Delete(fix);
}

static void emit_event_extends_rtmr3(void **state) {
  simfx *f = *state;
  rpc_resp a = rpc(f->sim, "/GetQuote", "{}");
  th_quote qa, qb;
  uint8_t *ba, *bb;
  parse_quote(&a, &qa, &ba);
  rpc_resp e = rpc(f->sim, "/EmitEvent", "{\"event\":\"my-app-event\",\"payload\":\"68656c6c6f\"}");
  assert_ok(&e);
  assert_string_equal(e.body, "null");
  rpc_resp b = rpc(f->sim, "/GetQuote", "{}");
  parse_quote(&b, &qb, &bb);
  assert_memory_equal(qa.td.rtmr[2], qb.td.rtmr[2], 48);
  assert_memory_not_equal(qa.td.rtmr[3], qb.td.rtmr[3], 48);
  th_eventlog log;
  check_replay(rpc_str(&b, "event_log"), &qb, &log);
  const th_event *last = &log.events[log.n - 1];
  assert_string_equal(last->event, "my-app-event");
  assert_int_equal(last->imr, 3);
  assert_int_equal(last->payload_len, 5);
  assert_memory_equal(last->payload, "hello", 5);
  /* RTMR3 = SHA-384(old RTMR3 ‖ SHA-384(01000008 ":" name ":" payload)) */
  uint8_t m[96], pre[64];
  memcpy(pre, "\x01\x00\x00\x08:my-app-event:hello", 4 + 1 + 12 + 1 + 5);
  memcpy(m, qa.td.rtmr[3], 48);
  SHA384(pre, 23, m + 48);
  uint8_t want[48];
  SHA384(m, 96, want);
  assert_memory_equal(qb.td.rtmr[3], want, 48);
  /* Info reflects it */
  rpc_resp info = rpc(f->sim, "/Info", "{}");
  cJSON *tcb = cJSON_Parse(rpc_str(&info, "tcb_info"));
  char hex[97];
  for (int i = 0; i < 48; i++)
    snprintf(hex + 2 * i, 3, "%02x", qb.td.rtmr[3][i]);
  assert_string_equal(jget(tcb, "rtmr3"), hex);
  const cJSON *ev =
      cJSON_GetArrayItem(cJSON_GetObjectItem(tcb, "event_log"),
                         cJSON_GetArraySize(cJSON_GetObjectItem(tcb, "event_log")) - 1);
  assert_string_equal(jget(ev, "event"), "my-app-event");
  cJSON_Delete(tcb);
  rpc_free(&info);
  th_eventlog_free(&log);
  free(ba);
  free(bb);
  rpc_free(&a);
  rpc_free(&b);
  rpc_free(&e);
}

static const th_event *find(const th_eventlog *log, const char *name) {
  for (size_t i = 0; i < log->n; i++)
    if (log->events[i].imr == 3 && !strcmp(log->events[i].event, name)) return &log->events[i];
  fail_msg("no runtime event %s", name);
  return NULL;
}

static void assert_hex_eq(const char *hex, const uint8_t *p, size_t n) {
  uint8_t *b = malloc(n ? n : 1);
  assert_int_equal(strlen(hex), 2 * n);
  vector_unhex(hex, b, n);
  assert_memory_equal(b, p, n);
  free(b);
}

static void info_is_consistent(void **state) {
  simfx *f = *state;
  rpc_resp r = rpc(f->sim, "/Info", "{}");
  assert_ok(&r);
  rpc_resp q = rpc(f->sim, "/GetQuote", "{}");
  th_quote qt;
  uint8_t *qb;
  parse_quote(&q, &qt, &qb);
  cJSON *tcb = cJSON_Parse(rpc_str(&r, "tcb_info"));
  assert_non_null(tcb);
  assert_non_null(strstr(rpc_str(&r, "tcb_info"), "{\n  \"mrtd\": \""));
  const char *keys[] = {"mrtd",      "rtmr0",         "rtmr1",         "rtmr2",
                        "rtmr3",     "mr_aggregated", "os_image_hash", "compose_hash",
                        "device_id", "event_log",     "app_compose"};
  const cJSON *c = tcb->child;
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++, c = c->next)
    assert_string_equal(c->string, keys[i]);
  /* the full log in tcb_info replays to the quote */
  char *log_text = cJSON_PrintUnformatted(cJSON_GetObjectItem(tcb, "event_log"));
  th_eventlog log;
  check_replay(log_text, &qt, &log);
  free(log_text);
  assert_hex_eq(rpc_str(&r, "app_id"), find(&log, "app-id")->payload, 20);
  assert_hex_eq(rpc_str(&r, "instance_id"), find(&log, "instance-id")->payload, 20);
  assert_hex_eq(rpc_str(&r, "compose_hash"), find(&log, "compose-hash")->payload, 32);
  assert_hex_eq(rpc_str(&r, "os_image_hash"), find(&log, "os-image-hash")->payload, 32);
  const th_event *kp = find(&log, "key-provider");
  assert_int_equal(strlen(rpc_str(&r, "key_provider_info")), kp->payload_len);
  assert_memory_equal(rpc_str(&r, "key_provider_info"), kp->payload, kp->payload_len);
  assert_memory_equal(th_simulator_app_id(f->sim), find(&log, "app-id")->payload, 20);
  /* compose_hash = SHA-256(app_compose); app_name is its name */
  uint8_t h[32], agg[32], m[48 * 8];
  const char *compose = jget(tcb, "app_compose");
  SHA256((const uint8_t *)compose, strlen(compose), h);
  assert_hex_eq(rpc_str(&r, "compose_hash"), h, 32);
  cJSON *cj = cJSON_Parse(compose);
  assert_string_equal(jget(cj, "name"), rpc_str(&r, "app_name"));
  cJSON_Delete(cj);
  SHA256((const uint8_t *)"", 0, h);
  assert_hex_eq(rpc_str(&r, "device_id"), h, 32);
  /* mr_aggregated per 7.5 from the quote */
  memcpy(m, qt.td.mrtd, 48);
  memcpy(m + 48, qt.td.rtmr, 192);
  memcpy(m + 240, qt.td.mrconfigid, 48);
  memcpy(m + 288, qt.td.mrowner, 48);
  memcpy(m + 336, qt.td.mrownerconfig, 48);
  SHA256(m, sizeof m, agg);
  assert_hex_eq(rpc_str(&r, "mr_aggregated"), agg, 32);
  assert_string_equal(jget(tcb, "mr_aggregated"), rpc_str(&r, "mr_aggregated"));
  /* vm_config names the same os image; app_cert is a chain */
  cJSON *vm = cJSON_Parse(rpc_str(&r, "vm_config"));
  assert_string_equal(jget(vm, "os_image_hash"), rpc_str(&r, "os_image_hash"));
  cJSON_Delete(vm);
  assert_non_null(strstr(rpc_str(&r, "app_cert"), "-----BEGIN CERTIFICATE-----"));
  th_eventlog_free(&log);
  cJSON_Delete(tcb);
  free(qb);
  rpc_free(&q);
  rpc_free(&r);
}

static void legacy_quotes_follow_the_vectors(void **state) {
  simfx *f = *state;
  cJSON *vec = vector_json("dstack/tdxquote-report-data.json");
  const char *lists[] = {"tdx_quote", "raw_quote"};
  const char *paths[] = {"/prpc/Tappd.TdxQuote", "/prpc/RawQuote"};
  int n = 0;
  for (int l = 0; l < 2; l++) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(vec, lists[l])) {
      char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "request"));
      rpc_resp r = rpc(f->sim, paths[l], body);
      free(body);
      n++;
      const cJSON *err = cJSON_GetObjectItem(c, "error");
      if (cJSON_IsString(err)) {
        assert_rpc_error(&r, err->valuestring);
        rpc_free(&r);
        continue;
      }
      assert_ok(&r);
      th_quote q;
      uint8_t *b, rd[64];
      parse_quote(&r, &q, &b);
      vector_unhex(jget(c, "report_data"), rd, 64);
      assert_memory_equal(q.td.reportdata, rd, 64);
      const cJSON *alg = cJSON_GetObjectItem(c, "response_hash_algorithm");
      const cJSON *pfx = cJSON_GetObjectItem(c, "response_prefix");
      assert_string_equal(rpc_str(&r, "hash_algorithm"),
                          cJSON_IsString(alg) ? alg->valuestring : "raw");
      assert_string_equal(rpc_str(&r, "prefix"), cJSON_IsString(pfx) ? pfx->valuestring : "");
      th_eventlog log;
      check_replay(rpc_str(&r, "event_log"), &q, &log);
      th_eventlog_free(&log);
      free(b);
      rpc_free(&r);
    }
  }
  assert_true(n >= 5);
  cJSON_Delete(vec);
}

static void attest_wraps_the_same_evidence(void **state) {
  simfx *f = *state;
  rpc_resp r = rpc(f->sim, "/Attest", "{\"report_data\":\"1234deadbeaf\"}");
  assert_ok(&r);
  size_t n;
  uint8_t *bytes = rpc_hex(&r, "attestation", &n);
  assert_int_equal(bytes[0], 0);
  th_attestation a;
  th_err err = {0};
  if (th_attestation_decode(bytes, n, &a, &err) != 0) fail_msg("%s", err.message);
  th_quote q;
  assert_int_equal(th_quote_parse(&q, a.quote, a.quote_len, &err), 0);
  assert_memory_equal(q.td.reportdata, "\x12\x34\xde\xad\xbe\xaf\0\0", 8);
  assert_memory_equal(a.report_data, q.td.reportdata, 64);
  assert_int_equal(th_eventlog_check(&a.log, (const uint8_t(*)[48])q.td.rtmr, &err), 0);
  cJSON *cfg = cJSON_Parse(a.config);
  assert_non_null(cJSON_GetObjectItem(cfg, "vm_config"));
  cJSON_Delete(cfg);
  th_attestation_free(&a);
  free(bytes);
  rpc_free(&r);
}

/* ---- certificates ---- */

static X509 *pem_cert(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(x);
  return x;
}

static void check_chain(const rpc_resp *r, X509 **leaf_out) {
  const cJSON *chain = cJSON_GetObjectItem(r->json, "certificate_chain");
  assert_int_equal(cJSON_GetArraySize(chain), 2);
  X509 *leaf = pem_cert(cJSON_GetArrayItem(chain, 0)->valuestring);
  X509 *ca = pem_cert(cJSON_GetArrayItem(chain, 1)->valuestring);
  X509_STORE *st = X509_STORE_new();
  X509_STORE_add_cert(st, ca);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, st, leaf, NULL);
  if (X509_verify_cert(ctx) != 1)
    fail_msg("chain: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  /* the key is the leaf's */
  BIO *b = BIO_new_mem_buf(rpc_str(r, "key"), -1);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  assert_non_null(k);
  assert_int_equal(X509_check_private_key(leaf, k), 1);
  EVP_PKEY_free(k);
  BIO_free(b);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  X509_free(ca);
  *leaf_out = leaf;
}

static int has_ext(X509 *x, const char *oid) {
  ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
  int i = X509_get_ext_by_OBJ(x, o, -1);
  ASN1_OBJECT_free(o);
  return i >= 0;
}

static void get_tls_key_ra_tls(void **state) {
  simfx *f = *state;
  rpc_resp r = rpc(f->sim, "/GetTlsKey",
                   "{\"subject\":\"example.com\",\"alt_names\":[\"example.com\",\"127.0.0.1\"],"
                   "\"usage_ra_tls\":true,\"usage_server_auth\":true,\"usage_client_auth\":false,"
                   "\"with_app_info\":true}");
  assert_ok(&r);
  X509 *leaf;
  check_chain(&r, &leaf);
  assert_int_equal(X509_check_host(leaf, "example.com", 0, 0, NULL), 1);
  assert_true(has_ext(leaf, "1.3.6.1.4.1.62397.1.4"));
  assert_true(has_ext(leaf, "1.3.6.1.4.1.62397.1.9"));
  assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
  assert_false(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
  th_attestation a;
  th_err err = {0};
  if (th_ratls_evidence(leaf, &a, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(th_ratls_check_binding(leaf, a.report_data, &err), 0);
  th_quote q;
  assert_int_equal(th_quote_parse(&q, a.quote, a.quote_len, &err), 0);
  assert_memory_equal(q.td.reportdata, a.report_data, 64);
  assert_int_equal(th_eventlog_check(&a.log, (const uint8_t(*)[48])q.td.rtmr, &err), 0);
  th_attestation_free(&a);
  X509_free(leaf);
  rpc_free(&r);
}

static void get_tls_key_plain_and_validity(void **state) {
  simfx *f = *state;
  rpc_resp r = rpc(f->sim, "/GetTlsKey",
                   "{\"subject\":\"x\",\"usage_client_auth\":true,\"not_before\":1700000000,"
                   "\"not_after\":1800000000}");
  assert_ok(&r);
  X509 *leaf;
  (void)leaf;
  const cJSON *chain = cJSON_GetObjectItem(r.json, "certificate_chain");
  leaf = pem_cert(cJSON_GetArrayItem(chain, 0)->valuestring);
  assert_false(has_ext(leaf, "1.3.6.1.4.1.62397.1.8"));
  assert_false(has_ext(leaf, "1.3.6.1.4.1.62397.1.9"));
  assert_true(has_ext(leaf, "1.3.6.1.4.1.62397.1.4"));
  assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf), 1700000000), 0);
  assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), 1800000000), 0);
  X509_free(leaf);
  rpc_free(&r);
  expect_error(f->sim, "/GetTlsKey", "{\"not_before\":5,\"not_after\":5}",
               "not_before must be earlier than not_after");
  /* two calls, two keys */
  rpc_resp a = rpc(f->sim, "/GetTlsKey", "{}"), b = rpc(f->sim, "/GetTlsKey", "{}");
  assert_string_not_equal(rpc_str(&a, "key"), rpc_str(&b, "key"));
  rpc_free(&a);
  rpc_free(&b);
}

static void derive_key_matches_ratls_json(void **state) {
  simfx *f = *state;
  cJSON *vec = vector_json("dstack/ratls.json");
  const cJSON *ex = cJSON_GetObjectItem(vec, "derive_key_example");
  rpc_resp r =
      rpc(f->sim, "/prpc/Tappd.DeriveKey",
          "{\"path\":\"ratls-example\",\"subject\":\"example.com\",\"usage_ra_tls\":true}");
  assert_ok(&r);
  assert_string_equal(rpc_str(&r, "key"), jget(ex, "key_pem"));
  X509 *leaf;
  check_chain(&r, &leaf);
  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_ratls_evidence(leaf, &a, &err), 0);
  assert_hex_eq(jget(ex, "ratls_report_data"), a.report_data, 64);
  th_attestation_free(&a);
  X509_free(leaf);
  rpc_free(&r);
  /* random_seed: a different key each time */
  rpc_resp x = rpc(f->sim, "/prpc/DeriveKey", "{\"path\":\"ratls-example\",\"random_seed\":true}");
  assert_ok(&x);
  assert_string_not_equal(rpc_str(&x, "key"), jget(ex, "key_pem"));
  rpc_free(&x);
  cJSON_Delete(vec);
}

int main(void) {
#define P(t) cmocka_unit_test_setup_teardown(t, simfx_setup, simfx_teardown)
#define U(t) cmocka_unit_test_setup_teardown(t, simfx_setup_upstream, simfx_teardown)
  const struct CMUnitTest tests[] = {
      P(get_quote_is_complete_and_verifies),
      P(emit_event_extends_rtmr3),
      P(info_is_consistent),
      P(legacy_quotes_follow_the_vectors),
      P(attest_wraps_the_same_evidence),
      P(get_tls_key_ra_tls),
      P(get_tls_key_plain_and_validity),
      U(derive_key_matches_ratls_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
