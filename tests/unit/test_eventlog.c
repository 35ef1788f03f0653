/* tests/unit/test_eventlog.c — the dstack event log: parsing the real quote-report.json log,
 * replaying it to the quote's RTMRs (also with the runtime digests stripped, as agents >= 0.5.6
 * send them), catching a forged runtime payload and a changed boot digest, the runtime digests of
 * shared/vectors/README.md 6.2, and the exact errors for malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "eventlog.h"
#include "vectors.h"

/* quote-report.json: its "event_log" text and the RTMRs of its "quote". */
static char *vector_log;
static uint8_t vector_rtmr[4][48];

/* The quote's RTMR0-3 as shared/vectors/README.md section 5 lists them. */
static const char *const readme_rtmr[4] = {
    "2e3843265f8ecdd4e2282694747f6f2f111605c33f2a8882f5734ee6f3a6ce63d8f34aeef06093dcda76fa5f9d33d8d6",
    "a1b79d76021970f57c45c4a7c395f780bab37011a4df27fe44e8559bd1abb4d6e52f12f866d1d08405448eb797a5970f",
    "1e31b59d605df7ee8160cf7966be9bafa6d0e1905de7e09695a24cd9748e71a603a51fae1297619fa0c30517addbcd07",
    "0f787c3877f3e95095d5a4d13dd0fe0233803b30120d8469866719dc28f519ce021fe1e53459121e7a5a4443147185a8",
};

static int load_vector(void **state) {
  (void)state;
  size_t len;
  char *text = vector_read("dstack/quote-report.json", &len);
  cJSON *doc = cJSON_Parse(text);
  free(text);
  if (!doc) return -1;
  const cJSON *log = cJSON_GetObjectItemCaseSensitive(doc, "event_log");
  const cJSON *quote = cJSON_GetObjectItemCaseSensitive(doc, "quote");
  if (!cJSON_IsString(log) || !cJSON_IsString(quote) || strlen(quote->valuestring) < 2 * 568)
    return cJSON_Delete(doc), -1;
  vector_log = strdup(log->valuestring);
  /* RTMR0-3 sit at offsets 376, 424, 472, 520 of a v4 TDX quote (header 48 + TD report). */
  for (int i = 0; i < 4; i++) {
    char hex[97];
    memcpy(hex, quote->valuestring + 2 * (376 + 48 * i), 96);
    hex[96] = '\0';
    vector_unhex(hex, vector_rtmr[i], 48);
  }
  cJSON_Delete(doc);
  return vector_log ? 0 : -1;
}

static int free_vector(void **state) {
  (void)state;
  free(vector_log);
  return 0;
}

static void parse_ok(const char *json, th_eventlog *log) {
  th_err err = {0};
  int rc = th_eventlog_parse(json, strlen(json), log, &err);
  if (rc != 0) fail_msg("unexpected error: %s", err.message);
}

static void parse_fails(const char *json, int code, const char *message) {
  th_eventlog log = {0};
  th_err err = {0};
  assert_int_equal(th_eventlog_parse(json, strlen(json), &log, &err), -1);
  assert_string_equal(err.message, message);
  assert_int_equal(err.code, code);
  assert_null(log.events);
  assert_int_equal(log.n, 0);
}

/* The vector's log as a cJSON tree, for tests that edit it and print it back. */
static cJSON *vector_tree(void) {
  cJSON *tree = cJSON_Parse(vector_log);
  assert_non_null(tree);
  return tree;
}

static void set_string(cJSON *tree, int index, const char *key, const char *value) {
  cJSON *ev = cJSON_GetArrayItem(tree, index);
  assert_non_null(ev);
  assert_true(cJSON_ReplaceItemInObjectCaseSensitive(ev, key, cJSON_CreateString(value)));
}

/* Prints the edited tree, frees it, and parses the text. */
static int parse_tree(cJSON *tree, th_eventlog *log, th_err *err) {
  char *text = cJSON_PrintUnformatted(tree);
  cJSON_Delete(tree);
  assert_non_null(text);
  int rc = th_eventlog_parse(text, strlen(text), log, err);
  free(text);
  return rc;
}

/* parse_tree, which must succeed, then a check against the quote's RTMRs, which must fail with
 * TH_EVERIFY (the message is left in err). */
static void parse_tree_fails_the_check(cJSON *tree, th_eventlog *log, th_err *err) {
  assert_int_equal(parse_tree(tree, log, err), 0);
  assert_int_equal(th_eventlog_check(log, (const uint8_t(*)[48])vector_rtmr, err), -1);
  assert_int_equal(err->code, TH_EVERIFY);
}

static void readme_rtmr_hex(int i, char out[16]) {
  snprintf(out, 16, "%.4s\xe2\x80\xa6%.4s", readme_rtmr[i], readme_rtmr[i] + 92);
}

static void the_vector_quote_has_the_readme_rtmrs(void **state) {
  (void)state;
  for (int i = 0; i < 4; i++) {
    uint8_t want[48];
    vector_unhex(readme_rtmr[i], want, 48);
    assert_memory_equal(vector_rtmr[i], want, 48);
  }
}

static void the_quote_report_log_has_28_events_13_5_2_8(void **state) {
  (void)state;
  th_eventlog log;
  parse_ok(vector_log, &log);
  assert_int_equal(log.n, 28);
  size_t per_imr[4] = {0};
  for (size_t i = 0; i < log.n; i++) per_imr[log.events[i].imr]++;
  assert_int_equal(per_imr[0], 13);
  assert_int_equal(per_imr[1], 5);
  assert_int_equal(per_imr[2], 2);
  assert_int_equal(per_imr[3], 8);
  assert_string_equal(log.events[22].event, "compose-hash");
  assert_int_equal(log.events[22].payload_len, 32);
  assert_int_equal(log.events[22].event_type, TH_EVENT_RUNTIME);
  assert_int_equal(log.events[0].event_type, 0x8000000bu);
  assert_string_equal(log.events[0].event, "");
  assert_int_equal(log.events[20].payload_len, 0); /* system-preparing */
  th_eventlog_free(&log);
  assert_null(log.events);
  assert_int_equal(log.n, 0);
}

static void the_quote_report_log_replays_to_the_quote_rtmrs(void **state) {
  (void)state;
  th_eventlog log;
  parse_ok(vector_log, &log);
  uint8_t rtmr[4][48];
  th_eventlog_replay(&log, rtmr);
  assert_memory_equal(rtmr, vector_rtmr, sizeof rtmr);
  th_err err = {0};
  assert_int_equal(th_eventlog_check(&log, (const uint8_t(*)[48])vector_rtmr, &err), 0);
  th_eventlog_free(&log);
}

/* The stored runtime digests (as text in the JSON) equal SHA-384 of type:event:payload. */
static void recomputed_runtime_digests_equal_the_stored_ones(void **state) {
  (void)state;
  th_eventlog log;
  parse_ok(vector_log, &log);
  cJSON *tree = vector_tree();
  int runtime = 0;
  for (size_t i = 0; i < log.n; i++) {
    const th_event *ev = &log.events[i];
    if (ev->event_type != TH_EVENT_RUNTIME) continue;
    runtime++;
    uint8_t stored[48], again[48];
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tree, (int)i), "digest");
    vector_unhex(d->valuestring, stored, 48);
    th_eventlog_runtime_digest(ev->event_type, ev->event, ev->payload, ev->payload_len, again);
    assert_memory_equal(again, stored, 48);
    assert_memory_equal(ev->digest, stored, 48);
    assert_true(ev->digest_given);
  }
  assert_int_equal(runtime, 8);
  cJSON_Delete(tree);
  th_eventlog_free(&log);
}

/* Agents >= 0.5.6 send runtime digests as "": the replay recomputes them. */
static void a_log_with_blank_runtime_digests_replays_the_same(void **state) {
  (void)state;
  cJSON *tree = vector_tree();
  for (int i = 20; i < 28; i++) set_string(tree, i, "digest", "");
  th_eventlog log;
  th_err err = {0};
  assert_int_equal(parse_tree(tree, &log, &err), 0);
  for (size_t i = 20; i < 28; i++) assert_false(log.events[i].digest_given);
  assert_int_equal(th_eventlog_check(&log, (const uint8_t(*)[48])vector_rtmr, &err), 0);
  th_eventlog_free(&log);
}

static void a_forged_runtime_payload_under_its_old_digest_is_refused(void **state) {
  (void)state;
  cJSON *tree = vector_tree();
  set_string(tree, 22, "event_payload",
             "0000000000000000000000000000000000000000000000000000000000000000");
  th_eventlog log;
  th_err err = {0};
  assert_int_equal(parse_tree(tree, &log, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message,
                      "event log: event 22 (compose-hash): digest does not match its payload");
  assert_null(log.events);
}

/* With the digest blanked the forged payload parses, but RTMR3 no longer matches the quote. */
static void a_forged_runtime_payload_without_digest_fails_the_check(void **state) {
  (void)state;
  cJSON *tree = vector_tree();
  set_string(tree, 22, "digest", "");
  set_string(tree, 22, "event_payload", "00");
  th_eventlog log;
  th_err err = {0};
  parse_tree_fails_the_check(tree, &log, &err);
  char got[16], want[16], message[256];
  uint8_t rtmr[4][48];
  th_eventlog_replay(&log, rtmr);
  snprintf(got, sizeof got, "%02x%02x\xe2\x80\xa6%02x%02x", rtmr[3][0], rtmr[3][1], rtmr[3][46],
           rtmr[3][47]);
  readme_rtmr_hex(3, want);
  snprintf(message, sizeof message, "event log: RTMR3 replays to %s but the quote has %s", got,
           want);
  assert_string_equal(err.message, message);
  th_eventlog_free(&log);
}

/* Boot-event digests are taken as given, so changing one changes its RTMR. */
static void a_changed_boot_digest_fails_the_check_naming_the_rtmr(void **state) {
  (void)state;
  cJSON *tree = vector_tree();
  assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(tree, 16), 0)->valueint, 2); /* imr 2 */
  set_string(tree, 16, "digest", "00");
  th_eventlog log;
  th_err err = {0};
  parse_tree_fails_the_check(tree, &log, &err);
  const char *prefix = "event log: RTMR2 replays to ";
  char suffix[64], want[16];
  readme_rtmr_hex(2, want);
  snprintf(suffix, sizeof suffix, " but the quote has %s", want);
  assert_int_equal(strncmp(err.message, prefix, strlen(prefix)), 0);
  assert_string_equal(err.message + strlen(err.message) - strlen(suffix), suffix);
  assert_string_equal(want, "1e31\xe2\x80\xa6" "cd07");
  th_eventlog_free(&log);
}

static void sha384_of(const uint8_t *data, size_t len, uint8_t out[48]) {
  assert_int_equal(EVP_Digest(data, len, out, NULL, EVP_sha384(), NULL), 1);
}

/* A boot digest shorter than 48 bytes, or empty, is right-padded with zeros (dstack SDK). */
static void a_short_boot_digest_is_zero_padded(void **state) {
  (void)state;
  th_eventlog log;
  parse_ok("[{\"imr\":1,\"event_type\":4,\"digest\":\"abCD\",\"event\":\"\",\"event_payload\":\"\"},"
           "{\"imr\":2,\"event_type\":4,\"digest\":\"\",\"event\":\"x\",\"event_payload\":\"00\"}]",
           &log);
  assert_true(log.events[0].digest_given);
  assert_false(log.events[1].digest_given);
  uint8_t block[96] = {0}, want1[48], want2[48], rtmr[4][48], zero[48] = {0};
  block[48] = 0xab;
  block[49] = 0xcd;
  sha384_of(block, 96, want1); /* SHA-384(zeros ‖ abcd 00…00) */
  block[48] = block[49] = 0;
  sha384_of(block, 96, want2); /* SHA-384(zeros ‖ zeros) */
  th_eventlog_replay(&log, rtmr);
  assert_memory_equal(rtmr[0], zero, 48);
  assert_memory_equal(rtmr[1], want1, 48);
  assert_memory_equal(rtmr[2], want2, 48);
  assert_memory_equal(rtmr[3], zero, 48);
  th_eventlog_free(&log);
}

static void an_empty_log_replays_to_zeros(void **state) {
  (void)state;
  th_eventlog log;
  parse_ok(" [ ]\n", &log);
  assert_int_equal(log.n, 0);
  uint8_t rtmr[4][48], zero[4][48] = {{0}};
  memset(rtmr, 0x55, sizeof rtmr);
  th_eventlog_replay(&log, rtmr);
  assert_memory_equal(rtmr, zero, sizeof rtmr);
  th_err err = {0};
  assert_int_equal(th_eventlog_check(&log, (const uint8_t(*)[48])zero, &err), 0);
  assert_int_equal(th_eventlog_check(&log, (const uint8_t(*)[48])vector_rtmr, &err), -1);
  assert_string_equal(err.message, "event log: RTMR0 replays to 0000\xe2\x80\xa6"
                                   "0000 but the quote has 2e38\xe2\x80\xa6" "d8d6");
  th_eventlog_free(&log);
}

/* shared/vectors/README.md 6.2: the 9 runtime events of attestation.bin. */
static void runtime_digests_match_the_attestation_vectors(void **state) {
  (void)state;
  static const struct {
    const char *event, *payload; /* payload: hex, or "text:" and the UTF-8 text */
    const char *digest;
  } rows[] = {
      {"system-preparing", "",
       "f9974020ef507068183313d0ca808e0d1ca9b2d1ad0c61f5784e7157c362c06536f5ddacdad4451693f48fcc72fff624"},
      {"app-id", "5bb4ff9a3837357f19dc176407a5709c62eb6c56",
       "ddd202447c612b8bb8723d2ce3b9882b7cfc0ede203c36b15639cc80b181b61a7692850c5333a1c6effef82a73d0a4f2"},
      {"compose-hash", "c143116fef3940e7f776bfc0919c256232ae5338a6e948c96b711e0b2383483a",
       "d8b35b90041c4a31c3b6b46c95a902cf45b25aa8cde3b94a48543c2cb36bc40028c553a8899349e4a47658c6087f2c5f"},
      {"instance-id", "1691ed1b47506cad7d08834668691d88246f5b1f",
       "33a612f97b0923a36f64db28aaad100f6def4a836e5a8e55f410c215701f1fdb956046fa81817fd73a3ca62a574303b3"},
      {"boot-mr-done", "",
       "98bd7e6bd3952720b65027fd494834045d06b4a714bf737a06b874638b3ea00ff402f7f583e3e3b05e921c8570433ac6"},
      {"os-image-hash", "e61be43dd1cc6a6f5edefd7c51b608983780839b0000ce60dd99737dcffe09b9",
       "e35295dc3179aa63a70720ae3e8b3306133717774cca19650d2c2d5c9ae9532359e3a5616703cbca902c6f25940b99bc"},
      {"key-provider",
       "text:{\"name\":\"kms\",\"id\":\"3059301306072a8648ce3d020106082a8648ce3d0301070342000419b2457dd9b8"
       "aa6446d980f136fff7812ecd6c77740eeb0e28b10d56c0c00028a5b6e59dcea307d583bd1f70769e9c116df2bcfb17"
       "58a95d8613e7de1c8482c0\"}",
       "cc0ae424f1335f3059359f712f72f0aebee7a01fba2e4d527f3ea9299bac808a3ea1f8ae2982875fb3c9697fd6f4a5f2"},
      {"storage-fs", "text:zfs",
       "ba51104636900268b0e059fa3d266419d079d1e94aea26fb9fcbb8d764bf4c89a67ac271b8a0d1a3989945132a111fc7"},
      {"system-ready", "",
       "1a76b2a80a0be71eae59f80945d876351a7a3fb8e9fd1ff1cede5734aa84ea11fd72b4edfbb6f04e5a85edd114c751bd"},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    uint8_t payload[256], want[48], got[48];
    size_t len;
    if (strncmp(rows[r].payload, "text:", 5) == 0) {
      len = strlen(rows[r].payload + 5);
      memcpy(payload, rows[r].payload + 5, len);
    } else {
      len = strlen(rows[r].payload) / 2;
      vector_unhex(rows[r].payload, payload, len);
    }
    vector_unhex(rows[r].digest, want, 48);
    th_eventlog_runtime_digest(TH_EVENT_RUNTIME, rows[r].event, len ? payload : NULL, len, got);
    assert_memory_equal(got, want, 48);
  }
}

#define EV(imr, type, digest, event, payload)                                                     \
  "{\"imr\":" imr ",\"event_type\":" type ",\"digest\":" digest ",\"event\":" event              \
  ",\"event_payload\":" payload "}"
#define OK_EV EV("0", "1", "\"\"", "\"\"", "\"\"")

static void malformed_logs_are_refused_with_a_clear_error(void **state) {
  (void)state;
  static const struct {
    const char *json, *message;
  } cases[] = {
      {"", "event log: not valid JSON (error near byte 0)"},
      {"[", "event log: not valid JSON (error near byte 0)"},
      {"[1,]", "event log: not valid JSON (error near byte 3)"},
      {"[] x", "event log: not valid JSON (trailing data at byte 3)"},
      {"[][]", "event log: not valid JSON (trailing data at byte 2)"},
      {"{}", "event log: not a JSON array"},
      {"\"[]\"", "event log: not a JSON array"},
      {"[1]", "event log: event 0: not a JSON object"},
      {"[" OK_EV ",[]]", "event log: event 1: not a JSON object"},
      {"[" EV("7", "1", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: imr must be 0..3 (got 7)"},
      {"[" EV("-1", "1", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: imr must be 0..3 (got -1)"},
      {"[" EV("1.5", "1", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: imr must be 0..3 (got 1.5)"},
      {"[" EV("\"0\"", "1", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: imr must be an integer 0..3"},
      {"[{\"event_type\":1,\"digest\":\"\",\"event\":\"\",\"event_payload\":\"\"}]",
       "event log: event 0: missing \"imr\""},
      {"[" EV("0", "4294967296", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: event_type must be 0..4294967295 (got 4294967296)"},
      {"[" EV("0", "1e999", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: event_type must be 0..4294967295 (got inf)"},
      {"[" EV("0", "null", "\"\"", "\"\"", "\"\"") "]",
       "event log: event 0: event_type must be an integer 0..4294967295"},
      {"[" EV("0", "1", "\"abc\"", "\"\"", "\"\"") "]",
       "event log: event 0: digest: odd number of hex digits (3)"},
      {"[" EV("0", "1", "\"0g\"", "\"\"", "\"\"") "]",
       "event log: event 0: digest: bad hex digit 'g' at 1"},
      {"[" EV("0", "1", "\"0\\n\"", "\"\"", "\"\"") "]",
       "event log: event 0: digest: bad hex digit 0x0a at 1"},
      {"[" EV("0", "1", "48", "\"\"", "\"\"") "]",
       "event log: event 0: digest must be a hex string"},
      {"[" EV("0", "1",
              "\"000000000000000000000000000000000000000000000000000000000000000000000000000000000"
              "00000000000000000\"",
              "\"\"", "\"\"") "]",
       "event log: event 0: digest is 49 bytes (at most 48)"},
      {"[" EV("0", "1", "\"\"", "null", "\"\"") "]", "event log: event 0: event must be a string"},
      {"[" EV("0", "1", "\"\"", "\"\"", "\"zz\"") "]",
       "event log: event 0: event_payload: bad hex digit 'z' at 0"},
      {"[" EV("0", "1", "\"\"", "\"\"", "[]") "]",
       "event log: event 0: event_payload must be a hex string"},
      {"[{\"imr\":0,\"event_type\":1,\"digest\":\"\",\"event\":\"\"}]",
       "event log: event 0: missing \"event_payload\""},
      {"[{\"imr\":0,\"imr\":3,\"event_type\":1,\"digest\":\"\",\"event\":\"\",\"event_payload\":\"\"}]",
       "event log: event 0: duplicate \"imr\""},
      {"[{\"version\":2,\"imr\":3,\"event_type\":134217729,\"digest\":\"\",\"event\":\"a\","
       "\"event_payload\":\"\",\"preimage\":\"\"}]",
       "event log: event 0: only version 1 events are supported"},
      {"[" EV("3", "134217729", "\"\"", "\"app-id\\u0000x\"", "\"\"") "]",
       "event log: \\u0000 in a string is not supported"},
      {"[" EV("3", "134217729", "\"00\"", "\"app-id\"", "\"\"") "]",
       "event log: event 0 (app-id): digest does not match its payload"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    parse_fails(cases[c].json, TH_EBADDATA, cases[c].message);
  /* An escaped backslash before "u0000" is plain text, not a NUL. */
  th_eventlog log;
  parse_ok("[" EV("3", "134217729", "\"\"", "\"a\\\\u0000\"", "\"\"") "]", &log);
  assert_string_equal(log.events[0].event, "a\\u0000");
  th_eventlog_free(&log);
  /* A raw NUL would end cJSON's C string early; it is refused wherever it is. */
  static const char with_nul[] = "[" EV("0", "1", "\"\"", "\"a\0b\"", "\"\"") "]";
  th_err err = {0};
  assert_int_equal(th_eventlog_parse(with_nul, sizeof with_nul - 1, &log, &err), -1);
  assert_string_equal(err.message, "event log: not valid JSON (NUL byte at 47)");
}

static void oversized_logs_are_refused(void **state) {
  (void)state;
  th_eventlog log;
  th_err err = {0};
  size_t big = ((size_t)16 << 20) + 1;
  char *text = malloc(big);
  assert_non_null(text);
  memset(text, ' ', big);
  text[0] = '[';
  text[big - 1] = ']';
  assert_int_equal(th_eventlog_parse(text, big, &log, &err), -1);
  assert_int_equal(err.code, TH_ETOOBIG);
  assert_string_equal(err.message, "event log: 16777217 bytes (at most 16 MiB)");
  free(text);

  /* 100001 events: refused by count before any event is read. */
  size_t n = 100001;
  text = malloc(2 * n + 1);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++) memcpy(text + 2 * i, ",0", 2);
  text[0] = '[';
  text[2 * n] = ']';
  assert_int_equal(th_eventlog_parse(text, 2 * n + 1, &log, &err), -1);
  assert_int_equal(err.code, TH_ETOOBIG);
  assert_string_equal(err.message, "event log: 100001 events (at most 100000)");
  free(text);
}

static void a_null_error_record_is_allowed(void **state) {
  (void)state;
  th_eventlog log;
  assert_int_equal(th_eventlog_parse("{}", 2, &log, NULL), -1);
  assert_int_equal(th_eventlog_parse("[]", 2, &log, NULL), 0);
  uint8_t zero[4][48] = {{0}};
  assert_int_equal(th_eventlog_check(&log, (const uint8_t(*)[48])zero, NULL), 0);
  th_eventlog_free(&log);
  th_eventlog_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_vector_quote_has_the_readme_rtmrs),
      cmocka_unit_test(the_quote_report_log_has_28_events_13_5_2_8),
      cmocka_unit_test(the_quote_report_log_replays_to_the_quote_rtmrs),
      cmocka_unit_test(recomputed_runtime_digests_equal_the_stored_ones),
      cmocka_unit_test(a_log_with_blank_runtime_digests_replays_the_same),
      cmocka_unit_test(a_forged_runtime_payload_under_its_old_digest_is_refused),
      cmocka_unit_test(a_forged_runtime_payload_without_digest_fails_the_check),
      cmocka_unit_test(a_changed_boot_digest_fails_the_check_naming_the_rtmr),
      cmocka_unit_test(a_short_boot_digest_is_zero_padded),
      cmocka_unit_test(an_empty_log_replays_to_zeros),
      cmocka_unit_test(runtime_digests_match_the_attestation_vectors),
      cmocka_unit_test(malformed_logs_are_refused_with_a_clear_error),
      cmocka_unit_test(oversized_logs_are_refused),
      cmocka_unit_test(a_null_error_record_is_allowed),
  };
  return cmocka_run_group_tests(tests, load_vector, free_vector);
}
