/* tests/unit/test_attestation_container.c — dstack's V0 SCALE attestation container
 * (core/attestation_container.c): decoding the simulator fixture attestation.bin into exactly the
 * fields simulator-fixture.json lists, re-encoding it byte for byte with both encoders, its
 * 33-event log replaying to the fixture's RTMRs, and refusing truncated or corrupted containers
 * with errors that name the field and the offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "attestation_container.h"
#include "vectors.h"

static uint8_t *bin;
static size_t bin_len;
static cJSON *fixture;

static int load(void **state) {
  (void)state;
  size_t len;
  char *text = vector_read("dstack/simulator-fixture.json", &len);
  fixture = cJSON_Parse(text);
  free(text);
  bin = (uint8_t *)vector_read("dstack/attestation.bin", &bin_len);
  return fixture ? 0 : -1;
}

static int unload(void **state) {
  (void)state;
  cJSON_Delete(fixture);
  free(bin);
  return 0;
}

static const char *field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static void assert_hex(const char *hex, const uint8_t *bytes, size_t len) {
  size_t n;
  uint8_t *want = vector_unhex_alloc(hex, &n);
  assert_int_equal(n, len);
  if (len) assert_memory_equal(want, bytes, len);
  free(want);
}

static void decoded_fields_equal_the_fixture(void **state) {
  (void)state;
  th_attestation a;
  th_err err = {0};
  assert_int_equal(bin_len, 9504);
  assert_int_equal(th_attestation_decode(bin, bin_len, &a, &err), 0);
  assert_int_equal(a.form, TH_ATTESTATION_V0);
  assert_hex(field(fixture, "quote"), a.quote, a.quote_len);
  assert_hex(field(fixture, "report_data"), a.report_data, 64);
  assert_string_equal(a.config, field(fixture, "config"));

  const cJSON *log = cJSON_GetObjectItemCaseSensitive(fixture, "event_log");
  assert_int_equal(a.log.n, (size_t)cJSON_GetArraySize(log));
  assert_int_equal(a.log.n, 33);
  size_t i = 0;
  for (const cJSON *e = log->child; e; e = e->next, i++) {
    const th_event *ev = &a.log.events[i];
    assert_int_equal(ev->imr, cJSON_GetObjectItemCaseSensitive(e, "imr")->valuedouble);
    assert_int_equal(ev->event_type,
                     (uint32_t)cJSON_GetObjectItemCaseSensitive(e, "event_type")->valuedouble);
    assert_hex(field(e, "digest"), ev->digest, 48);
    assert_true(ev->digest_given);
    assert_string_equal(ev->event, field(e, "event"));
    assert_hex(field(e, "event_payload"), ev->payload, ev->payload_len);
  }
  const cJSON *rt = cJSON_GetObjectItemCaseSensitive(fixture, "runtime_events");
  assert_int_equal(a.runtime_events.n, (size_t)cJSON_GetArraySize(rt));
  i = 0;
  for (const cJSON *e = rt->child; e; e = e->next, i++) {
    const th_event *ev = &a.runtime_events.events[i];
    assert_string_equal(ev->event, field(e, "event"));
    assert_hex(field(e, "payload"), ev->payload, ev->payload_len);
    assert_int_equal(ev->imr, 3);
    assert_int_equal(ev->event_type, TH_EVENT_RUNTIME);
    assert_false(ev->digest_given);
    assert_memory_equal(ev->digest, a.log.events[24 + i].digest, 48); /* the IMR-3 entries */
  }
  th_attestation_free(&a);
}

static void the_log_replays_to_the_fixture_rtmrs(void **state) {
  (void)state;
  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_attestation_decode(bin, bin_len, &a, &err), 0);
  uint8_t rtmr[4][48];
  th_eventlog_replay(&a.log, rtmr);
  const cJSON *want = cJSON_GetObjectItemCaseSensitive(fixture, "replayed_rtmrs");
  static const char *const names[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int r = 0; r < 4; r++) assert_hex(field(want, names[r]), rtmr[r], 48);
  th_attestation_free(&a);
}

static void it_re_encodes_byte_for_byte(void **state) {
  (void)state;
  th_attestation a;
  th_err err = {0};
  uint8_t *out = NULL, *out2 = NULL;
  size_t len = 0, len2 = 0;
  assert_int_equal(th_attestation_decode(bin, bin_len, &a, &err), 0);
  assert_int_equal(th_attestation_encode(&a, &out, &len, &err), 0);
  assert_int_equal(len, bin_len);
  assert_memory_equal(out, bin, bin_len);
  assert_int_equal(th_attestation_encode_v0(a.quote, a.quote_len, &a.log, a.report_data,
                                            a.config, &out2, &len2, &err),
                   0);
  assert_int_equal(len2, bin_len);
  assert_memory_equal(out2, bin, bin_len);
  free(out);
  free(out2);
  th_attestation_free(&a);
}

/* Every proper prefix is refused with an "attestation: " error and leaves nothing behind. */
static void every_truncation_is_refused(void **state) {
  (void)state;
  for (size_t n = 0; n < bin_len; n++) {
    th_attestation a;
    th_err err = {0};
    if (th_attestation_decode(bin, n, &a, &err) == 0) fail_msg("prefix of %zu bytes accepted", n);
    if (strncmp(err.message, "attestation: ", 13) != 0) fail_msg("%zu: %s", n, err.message);
    assert_null(a.quote);
    assert_null(a.log.events);
    assert_null(a.config);
    th_attestation_free(&a);
  }
}

static void expect_error(const uint8_t *bytes, size_t len, int code, const char *message) {
  th_attestation a;
  th_err err = {0};
  assert_int_equal(th_attestation_decode(bytes, len, &a, &err), -1);
  assert_string_equal(err.message, message);
  assert_int_equal(err.code, code);
  th_attestation_free(&a);
}

static void truncations_name_field_and_offset(void **state) {
  (void)state;
  expect_error(bin, 0, TH_EBADDATA, "attestation: empty container");
  expect_error(bin, 1, TH_EBADDATA,
               "attestation: header: truncated at offset 0 (need 2 bytes, 1 left)");
  expect_error(bin, 100, TH_EBADDATA,
               "attestation: quote: truncated at offset 4 (need 5010 bytes, 96 left)");
  /* 33 events of at least 11 bytes each (two u32 and three empty Vecs). */
  expect_error(bin, 5015 + 10, TH_EBADDATA,
               "attestation: event_log: truncated at offset 5015 (need 363 bytes, 10 left)");
  /* 9 runtime events of at least 2 bytes. */
  expect_error(bin, 8450 + 5, TH_EBADDATA,
               "attestation: runtime_events: truncated at offset 8451 (need 18 bytes, 4 left)");
  expect_error(bin, 8949 - 1, TH_EBADDATA,
               "attestation: report_data: truncated at offset 8885 (need 64 bytes, 63 left)");
  /* config: 553 bytes, a two-byte compact length at 8949. */
  expect_error(bin, 8949 + 10, TH_EBADDATA,
               "attestation: config: truncated at offset 8951 (need 553 bytes, 8 left)");
}

static void corrupted_containers_are_refused(void **state) {
  (void)state;
  uint8_t *b = malloc(bin_len + 1);
  assert_non_null(b);

  static const uint8_t v1[] = {0x83, 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 1};
  expect_error(v1, sizeof v1, TH_EBADDATA,
               "attestation: V1 (msgpack) containers are not supported yet");
  static const uint8_t v9[] = {0x09, 0};
  expect_error(v9, sizeof v9, TH_EBADDATA,
               "attestation: unknown container version byte 0x09 at offset 0");
  static const uint8_t gcp[] = {0, 1, 0};
  expect_error(gcp, sizeof gcp, TH_EBADDATA,
               "attestation: quote kind 1 at offset 1 is not supported (only 0, DstackTdx)");
  static const uint8_t noncanon[] = {0, 0, 0x05, 0x00}; /* 2-byte mode for length 1 */
  expect_error(noncanon, sizeof noncanon, TH_EBADDATA,
               "attestation: quote: non-canonical compact length at offset 2");
  static const uint8_t huge[] = {0, 0, 0x06, 0x00, 0x40, 0x00}; /* 4-byte mode: 2^20 + 1 */
  expect_error(huge, sizeof huge, TH_ETOOBIG,
               "attestation: quote: length 1048577 exceeds the limit 1048576 at offset 2");
  static const uint8_t bigint[] = {0, 0, 0x03, 0, 0, 0, 0x40};
  expect_error(bigint, sizeof bigint, TH_ETOOBIG,
               "attestation: quote: length of 2^30 or more at offset 2");
  static const uint8_t many[] = {0, 0, 0, 0x05, 0x40}; /* 4097 events */
  expect_error(many, sizeof many, TH_ETOOBIG,
               "attestation: event_log: length 4097 exceeds the limit 4096 at offset 3");

  memcpy(b, bin, bin_len);
  b[bin_len] = 0;
  expect_error(b, bin_len + 1, TH_EBADDATA, "attestation: 1 trailing bytes at offset 9504");

  memcpy(b, bin, bin_len);
  b[5015] = 7; /* the first event's imr */
  expect_error(b, bin_len, TH_EBADDATA,
               "attestation: event_log[0].imr: must be 0..3 (got 7) at offset 5015");

  /* A changed byte in a stored runtime digest (the key-provider event's, from the fixture). */
  const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(fixture, "event_log"), 30);
  uint8_t digest[48];
  vector_unhex(field(ev, "digest"), digest, 48);
  memcpy(b, bin, bin_len);
  uint8_t *at = memmem(b, bin_len, digest, 48);
  assert_non_null(at);
  at[47] ^= 1;
  char want[160];
  snprintf(want, sizeof want,
           "attestation: event_log[30] (key-provider): digest at offset %zu does not match its "
           "payload",
           (size_t)(at - b) - 1);
  expect_error(b, bin_len, TH_EBADDATA, want);

  /* A NUL inside an event name ("system-preparing" is the first IMR-3 event). */
  memcpy(b, bin, bin_len);
  at = memmem(b, bin_len, "system-preparing", 16);
  assert_non_null(at);
  at[6] = 0;
  snprintf(want, sizeof want,
           "attestation: event_log[24].event: NUL inside the string at offset %zu",
           (size_t)(at - b) - 1);
  expect_error(b, bin_len, TH_EBADDATA, want);
  free(b);
}

/* An empty log and an empty quote encode to the smallest container, which decodes back. */
static void an_empty_container_round_trips(void **state) {
  (void)state;
  static const uint8_t rd[64] = {1, 2, 3};
  uint8_t *out;
  size_t len;
  th_err err = {0};
  th_eventlog none = {0};
  assert_int_equal(th_attestation_encode_v0(NULL, 0, &none, rd, NULL, &out, &len, &err), 0);
  assert_int_equal(len, 2 + 1 + 1 + 1 + 64 + 1);
  th_attestation a;
  assert_int_equal(th_attestation_decode(out, len, &a, &err), 0);
  assert_int_equal(a.quote_len, 0);
  assert_int_equal(a.log.n, 0);
  assert_int_equal(a.runtime_events.n, 0);
  assert_memory_equal(a.report_data, rd, 64);
  assert_string_equal(a.config, "");
  th_attestation_free(&a);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decoded_fields_equal_the_fixture),
      cmocka_unit_test(the_log_replays_to_the_fixture_rtmrs),
      cmocka_unit_test(it_re_encodes_byte_for_byte),
      cmocka_unit_test(every_truncation_is_refused),
      cmocka_unit_test(truncations_name_field_and_offset),
      cmocka_unit_test(corrupted_containers_are_refused),
      cmocka_unit_test(an_empty_container_round_trips),
  };
  return cmocka_run_group_tests(tests, load, unload);
}
