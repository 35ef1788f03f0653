/* tests/unit/test_simulator_rpc.c — the simulator's RPC layer (core/simulator.h;
 * shared/specs/dstack.md 1.4–1.6, 2, 3, 11): routing of both services on one call surface,
 * the JSON request rules (strict types, unknown fields ignored, null only where optional, empty
 * body = defaults, hex with leading 0x stripped), GET query strings, the error envelope, ASCII
 * bodies with fields in proto order, and every request the published SDKs send
 * (client-requests.json) accepted. */
#include "test_simulator.h"

static void routes_current_and_legacy_paths(void **state) {
  simfx *f = *state;
  const char *ok[] = {"/Version", "/prpc/Version",    "/prpc/Tappd.Version",
                      "/Info",    "/prpc/Tappd.Info", "/GpuInfo"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    rpc_resp r = rpc(f->sim, ok[i], "{}");
    assert_ok(&r);
    rpc_free(&r);
  }
  rpc_resp r = rpc(f->sim, "/Version", NULL);
  assert_string_equal(r.body, "{\"version\":\"0.5.8\",\"rev\":\"teehost-simulator\"}");
  rpc_free(&r);
  r = rpc(f->sim, "/GpuInfo", "");
  assert_string_equal(r.body, "{\"attestation\":\"\"}");
  rpc_free(&r);
  r = rpc_full(f->sim, "GET", "/prpc/Tappd.Version", NULL, NULL, NULL, 0);
  assert_ok(&r);
  rpc_free(&r);
}

static void unknown_methods_and_paths(void **state) {
  simfx *f = *state;
  expect_error(f->sim, "/Nope", "{}", "Service not found: Nope");
  expect_error(f->sim, "/prpc/Tappd.Nope", "{}", "Service not found: Nope");
  /* each service has only its own methods */
  expect_error(f->sim, "/DeriveKey", "{}", "Service not found: DeriveKey");
  expect_error(f->sim, "/prpc/GetKey", "{}", "Service not found: GetKey");
  const char *deep[] = {"/a/b", "/prpc/Tappd.Info/x", "/", "/prpc/", "", "Info"};
  for (size_t i = 0; i < sizeof deep / sizeof *deep; i++) {
    rpc_resp r = rpc(f->sim, deep[i], "{}");
    assert_int_equal(r.status, 404);
    rpc_free(&r);
  }
  rpc_resp r = rpc_full(f->sim, "DELETE", "/Info", NULL, NULL, NULL, 0);
  assert_int_equal(r.status, 404);
  rpc_free(&r);
}

static void json_rules(void **state) {
  simfx *f = *state;
  /* empty body and {} are the defaults; unknown fields are ignored */
  rpc_resp a = rpc(f->sim, "/GetKey", "");
  rpc_resp b = rpc(f->sim, "/GetKey", "{\"zzz\":[1,{\"x\":null}],\"path\":\"\"}");
  assert_ok(&a);
  assert_string_equal(a.body, b.body);
  rpc_free(&a);
  rpc_free(&b);
  /* strict types */
  expect_error(f->sim, "/GetKey", "{\"path\":5}", "invalid type: integer `5`, expected a string");
  expect_error(f->sim, "/GetKey", "{\"path\":null}", "invalid type: null");
  expect_error(f->sim, "/GetTlsKey", "{\"usage_ra_tls\":\"true\"}", "expected a boolean");
  expect_error(f->sim, "/GetTlsKey", "{\"not_before\":\"1\"}", "expected u64");
  expect_error(f->sim, "/GetTlsKey", "{\"not_before\":1.5}", "expected u64");
  expect_error(f->sim, "/GetTlsKey", "{\"not_before\":-1}", "expected u64");
  expect_error(f->sim, "/GetTlsKey", "{\"alt_names\":\"x\"}", "expected a sequence");
  expect_error(f->sim, "/GetTlsKey", "{\"alt_names\":[1]}", "expected a string");
  expect_error(f->sim, "/GetQuote", "{\"report_data\":12}", "expected a hex string");
  expect_error(f->sim, "/GetKey", "[]", "expected a JSON object");
  expect_error(f->sim, "/GetKey", "{\"path\":\"a\",\"path\":\"b\"}", "duplicate field `path`");
  /* malformed JSON, whatever the content type */
  expect_error(f->sim, "/GetKey", "{\"path\":", "invalid JSON");
  expect_error(f->sim, "/GetKey", "{\"path\":\"\xff\"}", "invalid UTF-8");
  rpc_resp r = rpc_full(f->sim, "POST", "/GetKey", NULL, "text/plain", "nope", 4);
  assert_rpc_error(&r, "invalid JSON");
  rpc_free(&r);
  r = rpc_full(f->sim, "POST", "/GetKey", NULL, "application/octet-stream", "{}", 2);
  assert_ok(&r);
  rpc_free(&r);
  /* null is fine for the optional validity fields */
  r = rpc(f->sim, "/GetTlsKey", "{\"not_before\":null,\"not_after\":null}");
  assert_ok(&r);
  rpc_free(&r);
  /* Empty-taking methods ignore the body entirely */
  r = rpc(f->sim, "/Version", "garbage");
  assert_ok(&r);
  rpc_free(&r);
}

static void hex_rules(void **state) {
  simfx *f = *state;
  rpc_resp a = rpc(f->sim, "/GetQuote", "{\"report_data\":\"0x0x12AB\"}");
  assert_ok(&a);
  assert_string_equal(rpc_str(&a, "report_data"),
                      "12ab000000000000000000000000000000000000000000000000000000000000"
                      "0000000000000000000000000000000000000000000000000000000000000000");
  rpc_free(&a);
  expect_error(f->sim, "/GetQuote", "{\"report_data\":\"123\"}", "Odd number of digits");
  expect_error(f->sim, "/GetQuote", "{\"report_data\":\"12g4\"}",
               "Invalid character 'g' at position 2");
  expect_error(f->sim, "/EmitEvent", "{\"event\":\"x\",\"payload\":\"0X12\"}",
               "Invalid character 'X' at position 1");
  char big[200] = "{\"report_data\":\"";
  for (int i = 0; i < 65; i++)
    strcat(big, "ab");
  strcat(big, "\"}");
  expect_error(f->sim, "/GetQuote", big, "Report data is too long");
  expect_error(f->sim, "/Attest", big, "Report data is too long");
}

static void get_query_is_the_request(void **state) {
  simfx *f = *state;
  rpc_resp a = rpc(f->sim, "/GetKey", "{\"path\":\"a b/c\",\"purpose\":\"p\"}");
  rpc_resp b = rpc_full(f->sim, "GET", "/GetKey", "path=a+b%2Fc&purpose=p", NULL, NULL, 0);
  assert_ok(&b);
  assert_string_equal(a.body, b.body);
  rpc_free(&a);
  rpc_free(&b);
  b = rpc_full(f->sim, "GET", "/GetQuote", "report_data=0x1234", NULL, "ignored", 7);
  assert_ok(&b);
  assert_true(!strncmp(rpc_str(&b, "report_data"), "123400", 6));
  rpc_free(&b);
  b = rpc_full(f->sim, "GET", "/GetTlsKey",
               "subject=x&alt_names[0]=a.example&alt_names%5B1%5D=b.example&usage_server_auth=true"
               "&not_before=1700000000&not_after=1800000000",
               NULL, NULL, 0);
  assert_ok(&b);
  rpc_free(&b);
  b = rpc_full(f->sim, "GET", "/GetTlsKey", "usage_ra_tls=yes", NULL, NULL, 0);
  assert_rpc_error(&b, "expected a boolean");
  rpc_free(&b);
  b = rpc_full(f->sim, "GET", "/GetTlsKey", "subject=%ff%a0", NULL, NULL, 0);
  assert_rpc_error(&b, "invalid UTF-8 in the query string");
  rpc_free(&b);
  b = rpc_full(f->sim, "GET", "/GetKey", "path=a&path=b", NULL, NULL, 0);
  assert_rpc_error(&b, "duplicate field `path`");
  rpc_free(&b);
}

static void responses_are_ascii_in_proto_order(void **state) {
  simfx *f = *state;
  /* a non-ASCII purpose only enters the signature; a non-ASCII event name shows up escaped */
  rpc_resp r =
      rpc(f->sim, "/EmitEvent", "{\"event\":\"\xc3\xa9v\xf0\x9f\x94\x91\",\"payload\":\"\"}");
  assert_ok(&r);
  assert_string_equal(r.body, "null");
  rpc_free(&r);
  r = rpc(f->sim, "/GetQuote", "{}");
  assert_non_null(strstr(r.body, "\\\\u00e9v\\\\ud83d\\\\udd11"));
  const char *order[] = {"\"quote\":", "\"event_log\":", "\"report_data\":", "\"vm_config\":"};
  const char *prev = r.body;
  for (int i = 0; i < 4; i++) {
    const char *p = strstr(r.body, order[i]);
    assert_non_null(p);
    assert_true(p >= prev);
    prev = p;
  }
  rpc_free(&r);
  r = rpc(f->sim, "/Info", "{}");
  const char *info[] = {
      "app_id",    "instance_id",   "app_cert",      "tcb_info",          "app_name",
      "device_id", "mr_aggregated", "os_image_hash", "key_provider_info", "compose_hash",
      "vm_config", "cloud_vendor",  "cloud_product"};
  const cJSON *c = r.json->child;
  for (size_t i = 0; i < sizeof info / sizeof *info; i++, c = c->next) {
    assert_non_null(c);
    assert_string_equal(c->string, info[i]);
  }
  assert_null(c);
  rpc_free(&r);
}

/* Every request both SDKs send is answered 200, except the ones the spec says fail. */
static void client_requests_are_accepted(void **state) {
  simfx *f = *state;
  cJSON *doc = vector_json("dstack/client-requests.json");
  const cJSON *call, *req;
  int count = 0;
  cJSON_ArrayForEach(call, cJSON_GetObjectItem(doc, "calls")) {
    const char *what = cJSON_GetObjectItem(call, "call")->valuestring;
    cJSON_ArrayForEach(req, cJSON_GetObjectItem(call, "requests")) {
      char method[8], path[128];
      const char *line = cJSON_GetObjectItem(req, "request_line")->valuestring;
      const char *body = cJSON_GetObjectItem(req, "body")->valuestring;
      assert_int_equal(sscanf(line, "%7s %127s", method, path), 2);
      rpc_resp r = rpc_full(f->sim, method, path, NULL, "application/json", body, strlen(body));
      count++;
      if (strstr(what, "tdx_quote(\"hello dstack\")")) { /* Python's unpadded raw: spec 3 */
        assert_rpc_error(&r, "invalid content length");
      } else if (strstr(what, "verify(")) {
        assert_ok(&r);
        assert_string_equal(r.body, "{\"valid\":false}");
      } else if (r.status != 200) {
        fail_msg("%s: %s -> %d %s", what, path, r.status, r.body);
      }
      rpc_free(&r);
    }
  }
  assert_true(count >= 30);
  cJSON_Delete(doc);
}

static void emit_event_limits(void **state) {
  simfx *f = *state;
  rpc_resp r = rpc(f->sim, "/EmitEvent", "{}"); /* empty name: accepted, like the agent */
  assert_ok(&r);
  rpc_free(&r);
  int i;
  for (i = 1; i < 5000; i++) {
    r = rpc(f->sim, "/EmitEvent", "{\"event\":\"e\"}");
    int st = r.status;
    if (st != 200) {
      assert_rpc_error(&r, "event log is full");
      rpc_free(&r);
      break;
    }
    rpc_free(&r);
  }
  assert_int_equal(i, 4096);
  r = rpc(f->sim, "/GetQuote", "{}"); /* still serving */
  assert_ok(&r);
  rpc_free(&r);
}

/* Each method with a request message refuses a wrongly typed field with a 400 naming it. */
static void bad_input_to_every_endpoint(void **state) {
  simfx *f = *state;
  static const struct {
    const char *path, *body, *want;
  } cases[] = {
      {"/GetKey", "{\"purpose\":[]}", "expected a string (field `purpose`)"},
      {"/GetKey", "{\"algorithm\":\"rsa\"}", "Unsupported algorithm"},
      {"/GetQuote", "{\"report_data\":\"zz\"}", "Invalid character 'z' at position 0"},
      {"/Attest", "{\"report_data\":\"abc\"}", "Odd number of digits"},
      {"/GetTlsKey", "{\"subject\":true}", "expected a string (field `subject`)"},
      {"/GetTlsKey", "{\"with_app_info\":1}", "expected a boolean (field `with_app_info`)"},
      {"/GetTlsKey", "{\"not_after\":{}}", "expected u64 (field `not_after`)"},
      {"/Sign", "{\"algorithm\":\"ed25519\",\"data\":null}", "invalid type: null"},
      {"/Verify", "{\"algorithm\":\"secp256k1\",\"signature\":\"00\"}", "invalid signature"},
      {"/EmitEvent", "{\"event\":1}", "expected a string (field `event`)"},
      {"/prpc/Tappd.DeriveKey", "{\"random_seed\":\"no\"}", "expected a boolean"},
      {"/prpc/Tappd.DeriveK256Key", "{\"path\":false}", "expected a string (field `path`)"},
      {"/prpc/Tappd.TdxQuote", "{\"hash_algorithm\":\"md5\",\"report_data\":\"00\"}",
       "invalid hash algorithm"},
      {"/prpc/Tappd.TdxQuote", "{\"prefix\":7}", "expected a string (field `prefix`)"},
      {"/prpc/Tappd.RawQuote", "{\"report_data\":\"0x\"}", "invalid content length"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_error(f->sim, cases[i].path, cases[i].body, cases[i].want);
  rpc_resp r = rpc(f->sim, "/Info", "{}"); /* and it still serves */
  assert_ok(&r);
  rpc_free(&r);
}

int main(void) {
#define P(t) cmocka_unit_test_setup_teardown(t, simfx_setup, simfx_teardown)
  const struct CMUnitTest tests[] = {
      P(routes_current_and_legacy_paths),
      P(unknown_methods_and_paths),
      P(json_rules),
      P(hex_rules),
      P(get_query_is_the_request),
      P(responses_are_ascii_in_proto_order),
      P(client_requests_are_accepted),
      P(emit_event_limits),
      P(bad_input_to_every_endpoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
