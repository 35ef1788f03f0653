/* tests/unit/test_dstack.c — core/dstack: endpoint selection (hermetic: injected environment and
 * file tests), the client against a fake agent, and the reply decoders.
 *
 * The fake agent is core/http_server on the test's own uv loop, listening on a Unix socket in a
 * mkdtemp directory and on 127.0.0.1:<any>. It records every request (method, path, Host,
 * Content-Type, Content-Length, body) and answers from a per-test table (default: 200 {"ok":true};
 * any path ending in Version: 200 {"version":"0.5.8","rev":"test"}), or holds requests unanswered
 * (stall) for the timeout and cancel tests. What the client sends is compared with
 * tests/vectors/dstack/client-requests.json (what the published SDKs send); replies come from
 * keys.json, quote-report.json and tdxquote-report-data.json. Teardown closes everything, runs
 * the loop dry and checks uv_loop_close() == 0; LSan checks for leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dstack.h"
#include "http_server.h"
#include "simulator.h"
#include "tmpdir.h"
#include "vectors.h"

/* ---- endpoint selection ------------------------------------------------------------------- */

typedef struct fake_env {
  const char *vars[8][2];
  const char *files[8];
} fake_env;

static const char *env_get(void *ud, const char *name) {
  fake_env *e = ud;
  for (int i = 0; i < 8 && e->vars[i][0]; i++)
    if (strcmp(e->vars[i][0], name) == 0) return e->vars[i][1];
  return NULL;
}

static int env_exists(void *ud, const char *path) {
  fake_env *e = ud;
  for (int i = 0; i < 8 && e->files[i]; i++)
    if (strcmp(e->files[i], path) == 0) return 1;
  return 0;
}

static int select_ep(fake_env *e, const char *explicit_tee, th_tee_endpoint *ep, th_err *err) {
  return th_tee_endpoint_select(explicit_tee, env_get, e, env_exists, e, ep, err);
}

static void expect_ep(fake_env *e, const char *explicit_tee, int kind, const char *target,
                      const char *source, const char *line) {
  th_tee_endpoint ep;
  th_err err = {0};
  char buf[600];
  if (select_ep(e, explicit_tee, &ep, &err) != 0) fail_msg("select failed: %s", err.message);
  assert_int_equal(ep.kind, kind);
  assert_string_equal(ep.target, target);
  assert_int_equal(ep.is_url, strncmp(target, "http", 4) == 0);
  assert_string_equal(ep.source, source);
  th_tee_endpoint_describe(&ep, buf, sizeof buf);
  assert_string_equal(buf, line);
}

static void test_endpoint_every_tee_mode(void **state) {
  (void)state;
  static const char *const prod[] = {"PHALA_DSTACK", "TDX_DSTACK", "PRODUCTION"};
  for (int i = 0; i < 3; i++) {
    char src[64], line[128];
    snprintf(src, sizeof src, "TEE_MODE=%s", prod[i]);
    fake_env none = {{{"TEE_MODE", prod[i]}}, {NULL}};
    snprintf(line, sizeof line, "tee: dstack at /var/run/dstack.sock (%s)", src);
    expect_ep(&none, NULL, TH_TEE_AGENT, "/var/run/dstack.sock", src, line);
    fake_env run = {{{"TEE_MODE", prod[i]}}, {"/run/dstack/tappd.sock", "/run/dstack.sock"}};
    snprintf(line, sizeof line, "tee: dstack at /run/dstack.sock (%s)", src);
    expect_ep(&run, NULL, TH_TEE_AGENT, "/run/dstack.sock", src, line);
    fake_env tappd = {{{"TEE_MODE", prod[i]}}, {"/run/dstack/tappd.sock", "/run/tappd.sock"}};
    snprintf(line, sizeof line, "tee: legacy tappd at /run/tappd.sock (%s)", src);
    expect_ep(&tappd, NULL, TH_TEE_LEGACY, "/run/tappd.sock", src, line);
  }
  fake_env local = {{{"TEE_MODE", "LOCAL"}}, {"/var/run/dstack.sock"}};
  expect_ep(&local, NULL, TH_TEE_AGENT, "http://localhost:8090", "TEE_MODE=LOCAL",
            "tee: dstack at http://localhost:8090 (TEE_MODE=LOCAL)");
  fake_env docker = {{{"TEE_MODE", "DOCKER"}}, {NULL}};
  expect_ep(&docker, NULL, TH_TEE_AGENT, "http://host.docker.internal:8090", "TEE_MODE=DOCKER",
            "tee: dstack at http://host.docker.internal:8090 (TEE_MODE=DOCKER)");
  fake_env sim = {{{"TEE_MODE", "SIMULATOR"}}, {"/var/run/dstack.sock"}};
  expect_ep(&sim, NULL, TH_TEE_BUILTIN, "", "TEE_MODE=SIMULATOR",
            "tee: built-in simulator (quotes are NOT trusted by Intel's root)");
  fake_env off = {{{"TEE_MODE", "OFF"}}, {"/var/run/dstack.sock"}};
  expect_ep(&off, NULL, TH_TEE_NONE, "", "TEE_MODE=OFF", "tee: none (TEE_MODE=OFF)");
  fake_env no = {{{"TEE_MODE", "NONE"}}, {NULL}};
  expect_ep(&no, NULL, TH_TEE_NONE, "", "TEE_MODE=NONE", "tee: none (TEE_MODE=NONE)");
}

static void test_endpoint_invalid_tee_mode(void **state) {
  (void)state;
  static const char *const bad[] = {"foo", "local", "Production", " LOCAL", "LOCAL ", "NONE\n",
                                    "TEE"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    fake_env e = {{{"TEE_MODE", bad[i]}}, {"/var/run/dstack.sock"}};
    th_tee_endpoint ep;
    th_err err = {0};
    char want[256];
    snprintf(want, sizeof want,
             "TEE_MODE: invalid value '%s' (valid: PHALA_DSTACK, TDX_DSTACK, PRODUCTION, LOCAL, "
             "DOCKER, SIMULATOR, NONE, OFF)",
             bad[i]);
    assert_int_equal(select_ep(&e, NULL, &ep, &err), -1);
    assert_int_equal(err.code, TH_EINVAL);
    assert_string_equal(err.message, want);
    /* an endpoint above TEE_MODE does not hide the typo */
    assert_int_equal(select_ep(&e, "/tmp/x.sock", &ep, &err), -1);
  }
}

static void test_endpoint_precedence(void **state) {
  (void)state;
  fake_env all = {{{"TEE_MODE", "LOCAL"},
                   {"DSTACK_SIMULATOR_ENDPOINT", "http://127.0.0.1:8091"},
                   {"TAPPD_SIMULATOR_ENDPOINT", "/tmp/tappd-sim.sock"}},
                  {"/var/run/dstack.sock"}};
  expect_ep(&all, "/nonexistent/agent.sock", TH_TEE_AGENT, "/nonexistent/agent.sock", "--tee",
            "tee: dstack at /nonexistent/agent.sock (--tee)");
  expect_ep(&all, "", TH_TEE_AGENT, "http://127.0.0.1:8091", "DSTACK_SIMULATOR_ENDPOINT",
            "tee: dstack at http://127.0.0.1:8091 (DSTACK_SIMULATOR_ENDPOINT)");
  all.vars[1][1] = ""; /* empty counts as unset */
  expect_ep(&all, NULL, TH_TEE_LEGACY, "/tmp/tappd-sim.sock", "TAPPD_SIMULATOR_ENDPOINT",
            "tee: legacy tappd at /tmp/tappd-sim.sock (TAPPD_SIMULATOR_ENDPOINT)");
  all.vars[2][1] = "";
  expect_ep(&all, NULL, TH_TEE_AGENT, "http://localhost:8090", "TEE_MODE=LOCAL",
            "tee: dstack at http://localhost:8090 (TEE_MODE=LOCAL)");
  all.vars[0][1] = "";
  expect_ep(&all, NULL, TH_TEE_AGENT, "/var/run/dstack.sock", "default",
            "tee: dstack at /var/run/dstack.sock");
  /* TEE_MODE=NONE does not override an explicit simulator endpoint */
  fake_env none = {{{"TEE_MODE", "NONE"}, {"DSTACK_SIMULATOR_ENDPOINT", "https://sim:1/x"}}, {NULL}};
  expect_ep(&none, NULL, TH_TEE_AGENT, "https://sim:1/x", "DSTACK_SIMULATOR_ENDPOINT",
            "tee: dstack at https://sim:1/x (DSTACK_SIMULATOR_ENDPOINT)");
  /* a tappd.sock named explicitly speaks the legacy API; TEE_MODE is recorded */
  expect_ep(&none, "/var/run/tappd.sock", TH_TEE_LEGACY, "/var/run/tappd.sock", "--tee",
            "tee: legacy tappd at /var/run/tappd.sock (--tee)");
  th_tee_endpoint ep;
  assert_int_equal(select_ep(&none, NULL, &ep, NULL), 0);
  assert_string_equal(ep.mode, "NONE");
}

static void test_endpoint_default_sockets(void **state) {
  (void)state;
  static const char *const order[] = {"/var/run/dstack.sock", "/run/dstack.sock",
                                      "/var/run/dstack/dstack.sock", "/run/dstack/dstack.sock"};
  for (int i = 0; i < 4; i++) {
    fake_env e = {{{NULL}}, {"/var/run/tappd.sock"}};
    for (int j = i, k = 1; j < 4; j++) e.files[k++] = order[j];
    char line[128];
    snprintf(line, sizeof line, "tee: dstack at %s", order[i]);
    expect_ep(&e, NULL, TH_TEE_AGENT, order[i], "default", line);
  }
  static const char *const tappd[] = {"/var/run/tappd.sock", "/run/tappd.sock",
                                      "/var/run/dstack/tappd.sock", "/run/dstack/tappd.sock"};
  for (int i = 0; i < 4; i++) {
    fake_env e = {{{"TEE_MODE", ""}}, {tappd[i], "/run/dstack/tappd.sock"}};
    char line[128];
    snprintf(line, sizeof line, "tee: legacy tappd at %s", tappd[i]);
    expect_ep(&e, NULL, TH_TEE_LEGACY, tappd[i], "default", line);
  }
  fake_env nothing = {{{NULL}}, {"/var/run/dstack.sock.bak"}};
  expect_ep(&nothing, NULL, TH_TEE_BUILTIN, "", "default",
            "tee: built-in simulator (quotes are NOT trusted by Intel's root)");
}

/* ---- the fake agent ------------------------------------------------------------------------- */

#define MAX_SEEN 16

typedef struct seen_req {
  char method[16], path[128], host[128], ctype[128], clen[32];
  char *body;
  size_t body_len;
} seen_req;

typedef struct canned {
  const char *path;
  int status;
  const char *body;
} canned;

typedef struct fx {
  uv_loop_t loop;
  char dir[64], sock[128];
  th_http_server *srv;
  th_http_client *http;
  int port;
  seen_req seen[MAX_SEEN];
  int nseen;
  int stall;
  th_http_req *held[MAX_SEEN];
  int nheld;
  canned canned[8];
  th_simulator *sim; /* the BUILTIN tests' simulator, state in <dir>/sim */
} fx;

static void copy_hdr(char *dst, size_t size, const th_http_req *req, const char *name) {
  const char *v = th_http_req_header(req, name);
  snprintf(dst, size, "%s", v ? v : "(none)");
}

static void on_agent_request(void *ud, th_http_req *req) {
  fx *f = ud;
  assert_true(f->nseen < MAX_SEEN);
  seen_req *s = &f->seen[f->nseen++];
  snprintf(s->method, sizeof s->method, "%s", th_http_req_method(req));
  snprintf(s->path, sizeof s->path, "%s", th_http_req_path(req));
  copy_hdr(s->host, sizeof s->host, req, "host");
  copy_hdr(s->ctype, sizeof s->ctype, req, "content-type");
  copy_hdr(s->clen, sizeof s->clen, req, "content-length");
  const char *b = th_http_req_body(req, &s->body_len);
  s->body = malloc(s->body_len + 1);
  assert_non_null(s->body);
  memcpy(s->body, b, s->body_len);
  s->body[s->body_len] = '\0';
  if (f->stall) {
    f->held[f->nheld++] = req;
    return;
  }
  int status = 200;
  const char *body = "{\"ok\":true}";
  size_t plen = strlen(s->path);
  if (plen >= 7 && strcmp(s->path + plen - 7, "Version") == 0)
    body = "{\"version\":\"0.5.8\",\"rev\":\"test\"}";
  for (int i = 0; i < 8 && f->canned[i].path; i++)
    if (strcmp(f->canned[i].path, s->path) == 0) {
      status = f->canned[i].status;
      body = f->canned[i].body;
    }
  char n[] = "Content-Type", v[] = "application/json";
  th_http_header h = {n, v};
  th_http_req_respond(req, status, &h, 1, body, strlen(body), NULL);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(tmpdir_make(f->dir, sizeof f->dir, "test_dstack"), 0);
  snprintf(f->sock, sizeof f->sock, "%s/agent.sock", f->dir);
  th_http_server_opts o = {.port = 0, .unix_socket = f->sock};
  th_err err = {0};
  f->srv = th_http_server_start(&f->loop, &o, on_agent_request, f, &err);
  if (!f->srv) fail_msg("server: %s", err.message);
  f->port = th_http_server_port(f->srv);
  f->http = th_http_client_new(&f->loop, &err);
  assert_non_null(f->http);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  for (int i = 0; i < f->nheld; i++) th_http_req_drop(f->held[i]);
  th_http_client_close(f->http);
  th_http_server_close(f->srv);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  th_simulator_free(f->sim);
  for (int i = 0; i < f->nseen; i++) free(f->seen[i].body);
  assert_int_equal(tmpdir_remove(f->dir), 0);
  free(f);
  return 0;
}

static th_tee_endpoint ep_unix(const fx *f, int kind) {
  th_tee_endpoint ep = {.kind = kind};
  snprintf(ep.target, sizeof ep.target, "%s", f->sock);
  return ep;
}

static th_tee_endpoint ep_tcp(const fx *f, int kind) {
  th_tee_endpoint ep = {.kind = kind, .is_url = 1};
  snprintf(ep.target, sizeof ep.target, "http://127.0.0.1:%d/ignored/path?q=1", f->port);
  return ep;
}

static th_dstack *client_for(fx *f, th_tee_endpoint ep) {
  th_err err = {0};
  th_dstack *c = th_dstack_new(f->http, &ep, NULL, &f->loop, &err);
  if (!c) fail_msg("th_dstack_new: %s", err.message);
  return c;
}

typedef struct res {
  int done;
  cJSON *json;
  th_err err;
} res;

static void on_done(void *ud, cJSON *r, const th_err *e) {
  res *x = ud;
  x->done++;
  x->json = r;
  if (e) x->err = *e;
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until *flag. A 5 ms tick bounds each UV_RUN_ONCE: an iteration runs due timers
 * first and then still blocks in poll, so a callback fired from a timer (a failed connect, the
 * built-in transport) would otherwise be seen only at the loop's next event. */
static void run_until(fx *f, const int *flag) {
  uv_timer_t tick;
  uv_timer_init(&f->loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  uint64_t deadline = uv_now(&f->loop) + 20000;
  while (!*flag && uv_now(&f->loop) < deadline) uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  if (!*flag) fail_msg("no callback within 20 s");
}

/* Runs method(body_json) to completion; the result in *out. */
static void call(fx *f, th_dstack *c, const char *method, const char *body_json, res *out) {
  memset(out, 0, sizeof *out);
  cJSON *body = body_json ? cJSON_Parse(body_json) : NULL;
  th_err err = {0};
  th_dstack_call *k = th_dstack_request(c, method, body, on_done, out, &err);
  cJSON_Delete(body);
  if (!k) fail_msg("%s did not start: %s", method, err.message);
  assert_int_equal(out->done, 0); /* never called from inside th_dstack_request */
  run_until(f, &out->done);
  assert_int_equal(out->done, 1);
}

static void expect_error(fx *f, th_dstack *c, const char *method, const char *body, int code,
                         const char *message) {
  res r;
  call(f, c, method, body, &r);
  assert_null(r.json);
  assert_string_equal(r.err.message, message);
  assert_int_equal(r.err.code, code);
}

/* ---- what the client sends: the SDKs' recorded requests ------------------------------------- */

/* Replays every recorded SDK call of client-requests.json whose sdk name contains `which`: the
 * last request's path names the method and its body is what we pass; the agent must see the
 * same request sequence (the /Version probe included). exact: compare Host, Content-Length and
 * the body byte for byte (the JS Unix transport), else Content-Type and the body as JSON. */
static void replay_sdk_requests(fx *f, const char *which, int tcp, int exact) {
  cJSON *doc = vector_json("dstack/client-requests.json");
  int replayed = 0;
  const cJSON *callv;
  cJSON_ArrayForEach(callv, cJSON_GetObjectItem(doc, "calls")) {
    if (!strstr(cJSON_GetObjectItem(callv, "sdk")->valuestring, which)) continue;
    const cJSON *reqs = cJSON_GetObjectItem(callv, "requests");
    int n = cJSON_GetArraySize(reqs);
    const cJSON *last = cJSON_GetArrayItem(reqs, n - 1);
    char path[128];
    assert_int_equal(sscanf(cJSON_GetObjectItem(last, "request_line")->valuestring,
                            "POST %127s HTTP/1.1", path), 1);
    const char *method = strncmp(path, "/prpc/", 6) == 0 ? path + 6 : path + 1;
    for (int i = 0; i < f->nseen; i++) free(f->seen[i].body);
    f->nseen = 0;
    th_dstack *c = client_for(f, tcp ? ep_tcp(f, TH_TEE_AGENT) : ep_unix(f, TH_TEE_AGENT));
    res r;
    call(f, c, method, cJSON_GetObjectItem(last, "body")->valuestring, &r);
    if (!r.json) fail_msg("%s: %s", method, r.err.message);
    cJSON_Delete(r.json);
    th_dstack_free(c);
    assert_int_equal(f->nseen, n);
    for (int i = 0; i < n; i++) {
      const cJSON *want = cJSON_GetArrayItem(reqs, i);
      seen_req *s = &f->seen[i];
      char line[200];
      snprintf(line, sizeof line, "%s %s HTTP/1.1", s->method, s->path);
      assert_string_equal(line, cJSON_GetObjectItem(want, "request_line")->valuestring);
      const char *wbody = cJSON_GetObjectItem(want, "body")->valuestring;
      const cJSON *h;
      cJSON_ArrayForEach(h, cJSON_GetObjectItem(want, "headers")) {
        char hl[300];
        if (strncmp(h->valuestring, "Content-Type:", 13) == 0) {
          snprintf(hl, sizeof hl, "Content-Type: %s", s->ctype);
          assert_string_equal(hl, h->valuestring);
        } else if (exact && strncmp(h->valuestring, "Content-Length:", 15) == 0) {
          snprintf(hl, sizeof hl, "Content-Length: %s", s->clen);
          assert_string_equal(hl, h->valuestring);
        } else if (!tcp && strncmp(h->valuestring, "Host:", 5) == 0) {
          snprintf(hl, sizeof hl, "Host: %s", s->host);
          assert_string_equal(hl, h->valuestring);
        }
      }
      if (exact) {
        assert_string_equal(s->body, wbody);
      } else {
        cJSON *a = cJSON_Parse(s->body), *b = cJSON_Parse(wbody);
        assert_true(cJSON_Compare(a, b, 1));
        assert_null(strstr(s->body, ", ")); /* compact */
        cJSON_Delete(a);
        cJSON_Delete(b);
      }
      char clen[32];
      snprintf(clen, sizeof clen, "%zu", s->body_len);
      assert_string_equal(s->clen, clen); /* byte length, whatever the transport */
    }
    replayed++;
  }
  cJSON_Delete(doc);
  assert_true(replayed >= 5);
}

static void test_sends_what_js_sdk_sends_unix(void **state) {
  replay_sdk_requests(*state, "Unix-socket", 0, 1);
}

static void test_sends_what_js_sdk_sends_tcp(void **state) {
  fx *f = *state;
  replay_sdk_requests(f, "Unix-socket", 1, 1);
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%d", f->port);
  assert_string_equal(f->seen[0].host, host); /* the URL's path and query were dropped */
}

static void test_sends_what_python_sdk_sends(void **state) {
  replay_sdk_requests(*state, "Python", 0, 0);
}

/* ---- replies ---------------------------------------------------------------------------------- */

static void test_getkey_reply_from_vectors(void **state) {
  fx *f = *state;
  cJSON *doc = vector_json("dstack/keys.json");
  int checked = 0;
  const cJSON *app, *e;
  cJSON_ArrayForEach(app, cJSON_GetObjectItem(doc, "apps")) {
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(app, "entries")) {
      const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "secp256k1"),
                                              "get_key_response");
      char *reply = cJSON_PrintUnformatted(want);
      f->canned[0] = (canned){"/GetKey", 200, reply};
      th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
      res r;
      call(f, c, "GetKey", "{\"path\":\"x\",\"purpose\":\"\",\"algorithm\":\"secp256k1\"}", &r);
      th_dstack_free(c);
      free(reply);
      assert_non_null(r.json);
      th_dstack_key k;
      th_err err = {0};
      if (th_dstack_decode_key(r.json, &k, &err) != 0) fail_msg("%s", err.message);
      cJSON_Delete(r.json);
      uint8_t key[32], sig[2][65];
      vector_unhex(cJSON_GetObjectItem(want, "key")->valuestring, key, 32);
      const cJSON *chain = cJSON_GetObjectItem(want, "signature_chain");
      int n = cJSON_GetArraySize(chain);
      if (n == 2 && !cJSON_GetArrayItem(chain, 1)->valuestring[0]) n = 1; /* no KMS signature */
      for (int i = 0; i < n; i++)
        vector_unhex(cJSON_GetArrayItem(chain, i)->valuestring, sig[i], 65);
      assert_memory_equal(k.key, key, 32);
      assert_int_equal(k.chain_len, n);
      for (int i = 0; i < n; i++) assert_memory_equal(k.chain[i], sig[i], 65);
      checked++;
    }
  }
  cJSON_Delete(doc);
  assert_true(checked >= 8);
}

static void test_getquote_reply_from_vector(void **state) {
  fx *f = *state;
  size_t len, qlen;
  char *reply = vector_read("dstack/quote-report.json", &len);
  f->canned[0] = (canned){"/GetQuote", 200, reply};
  th_dstack *c = client_for(f, ep_tcp(f, TH_TEE_AGENT));
  res r;
  call(f, c, "GetQuote", "{\"report_data\":\"68656c6c6f\"}", &r);
  th_dstack_free(c);
  assert_non_null(r.json);
  th_dstack_quote q;
  th_err err = {0};
  if (th_dstack_decode_quote(r.json, &q, &err) != 0) fail_msg("%s", err.message);
  uint8_t *want = vector_quote("dstack/quote-report.json", &qlen);
  assert_int_equal(q.quote_len, qlen);
  assert_memory_equal(q.quote, want, qlen);
  uint8_t rd[64];
  vector_unhex(cJSON_GetObjectItem(r.json, "report_data")->valuestring, rd, 64);
  assert_memory_equal(q.report_data, rd, 64);
  assert_string_equal(q.event_log, cJSON_GetObjectItem(r.json, "event_log")->valuestring);
  assert_string_equal(q.vm_config, cJSON_GetObjectItem(r.json, "vm_config")->valuestring);
  assert_true(strlen(q.vm_config) > 0);
  th_dstack_quote_free(&q);
  th_dstack_quote_free(&q); /* idempotent */
  free(want);
  free(reply);
  cJSON_Delete(r.json);
}

static void test_agent_error_carries_message(void **state) {
  fx *f = *state;
  f->canned[0] = (canned){"/GetQuote", 400, "{\n  \"error\": \"Report data is too long\"\n}"};
  f->canned[1] = (canned){"/GetKey", 200, "{\"error\":\"Unsupported algorithm\"}"};
  f->canned[2] = (canned){"/Info", 404, "{\"detail\":\"nope\"}"};
  f->canned[3] = (canned){"/Sign", 400, "{\"error\":42}"};
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  expect_error(f, c, "GetQuote", "{\"report_data\":\"00\"}", TH_EPROTO,
               "GetQuote: Report data is too long");
  expect_error(f, c, "GetKey", NULL, TH_EPROTO, "GetKey: Unsupported algorithm");
  expect_error(f, c, "Info", NULL, TH_EPROTO, "Info: agent answered HTTP 404");
  expect_error(f, c, "Sign", NULL, TH_EPROTO, "Sign: agent error (HTTP 400)");
  th_dstack_free(c);
}

static void test_non_json_reply(void **state) {
  fx *f = *state;
  f->canned[0] = (canned){"/GetKey", 200, "<html>hello</html>"};
  f->canned[1] = (canned){"/Info", 502, "Bad Gateway"};
  f->canned[2] = (canned){"/GetQuote", 200, ""};
  f->canned[3] = (canned){"/Attest", 200, "{\"a\":1} trailing"};
  th_dstack *c = client_for(f, ep_tcp(f, TH_TEE_AGENT));
  expect_error(f, c, "GetKey", NULL, TH_EPROTO, "GetKey: the agent's answer is not JSON (HTTP 200)");
  expect_error(f, c, "Info", NULL, TH_EPROTO, "Info: the agent's answer is not JSON (HTTP 502)");
  expect_error(f, c, "GetQuote", NULL, TH_EPROTO,
               "GetQuote: the agent's answer is not JSON (HTTP 200)");
  expect_error(f, c, "Attest", NULL, TH_EPROTO, "Attest: the agent's answer is not JSON (HTTP 200)");
  th_dstack_free(c);
}

static void test_missing_socket(void **state) {
  fx *f = *state;
  th_tee_endpoint ep = {.kind = TH_TEE_AGENT};
  snprintf(ep.target, sizeof ep.target, "%s/missing.sock", f->dir);
  th_dstack *c = client_for(f, ep);
  char want[600];
  snprintf(want, sizeof want, "Info: connect to %s: No such file or directory", ep.target);
  expect_error(f, c, "Info", NULL, TH_ECONNREFUSED, want);
  th_dstack_free(c);
}

static void test_timeout(void **state) {
  fx *f = *state;
  f->stall = 1;
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  th_dstack_set_timeout(c, 200);
  res r;
  call(f, c, "GetKey", NULL, &r);
  assert_null(r.json);
  assert_int_equal(r.err.code, TH_ETIMEDOUT);
  assert_true(strncmp(r.err.message, "GetKey: POST http://localhost/GetKey: timed out", 47) == 0);
  th_dstack_free(c);
}

static void test_cancel_and_free_in_flight(void **state) {
  fx *f = *state;
  f->stall = 1;
  th_dstack *c = client_for(f, ep_tcp(f, TH_TEE_AGENT));
  res r1 = {0}, r2 = {0};
  th_dstack_call *k1 = th_dstack_request(c, "GetKey", NULL, on_done, &r1, NULL);
  th_dstack_call *k2 = th_dstack_request(c, "Info", NULL, on_done, &r2, NULL);
  assert_non_null(k1);
  assert_non_null(k2);
  while (f->nheld < 2) uv_run(&f->loop, UV_RUN_ONCE); /* the server's own events wake us */
  th_dstack_cancel(k1);
  th_dstack_free(c); /* cancels k2 */
  for (int i = 0; i < f->nheld; i++) th_http_req_drop(f->held[i]);
  f->nheld = 0;
  for (int i = 0; i < 20; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_int_equal(r1.done, 0);
  assert_int_equal(r2.done, 0);
  th_dstack_cancel(NULL);
  th_dstack_free(NULL);
}

static void test_none_mode_fails_synchronously(void **state) {
  fx *f = *state;
  th_tee_endpoint ep = {.kind = TH_TEE_NONE, .mode = "OFF"};
  th_err err = {0};
  th_dstack *c = th_dstack_new(NULL, &ep, NULL, &f->loop, &err);
  assert_non_null(c);
  res r = {0};
  assert_null(th_dstack_request(c, "GetKey", NULL, on_done, &r, &err));
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "no TEE: TEE_MODE is OFF");
  th_dstack_free(c);
  ep = (th_tee_endpoint){.kind = TH_TEE_NONE, .mode = "NONE"};
  c = th_dstack_new(NULL, &ep, NULL, &f->loop, &err);
  assert_null(th_dstack_request(c, "GetQuote", NULL, on_done, &r, &err));
  assert_string_equal(err.message, "no TEE: TEE_MODE is NONE");
  th_dstack_free(c);
  assert_int_equal(r.done, 0);
  assert_int_equal(f->nseen, 0);
}

static void test_bad_arguments(void **state) {
  fx *f = *state;
  th_err err = {0};
  th_tee_endpoint ep = ep_unix(f, TH_TEE_AGENT);
  assert_null(th_dstack_new(NULL, &ep, NULL, &f->loop, &err));
  assert_int_equal(err.code, TH_EINVAL);
  th_tee_endpoint b = {.kind = TH_TEE_BUILTIN};
  assert_null(th_dstack_new(f->http, &b, NULL, &f->loop, &err));
  assert_string_equal(err.message, "dstack: the built-in simulator is needed");
  th_dstack *c = client_for(f, ep);
  res r = {0};
  assert_null(th_dstack_request(c, "Get/Key", NULL, on_done, &r, &err));
  assert_string_equal(err.message, "dstack: bad method name 'Get/Key' (1 to 48 of A-Z a-z 0-9 _ .)");
  assert_null(th_dstack_request(c, "", NULL, on_done, &r, &err));
  cJSON *arr = cJSON_CreateArray();
  assert_null(th_dstack_request(c, "GetKey", arr, on_done, &r, &err));
  assert_string_equal(err.message, "GetKey: the request body must be a JSON object");
  cJSON_Delete(arr);
  th_dstack_free(c);
  assert_int_equal(f->nseen, 0);
}

/* ---- legacy tappd endpoints ------------------------------------------------------------------- */

static void test_legacy_getkey_renamed(void **state) {
  fx *f = *state;
  static const char reply[] =
      "{\"k256_key\":\"aa221ae548b5a8f52fcb8687cfd873712f6a1232b2717e5ee3d58ab74f21905b\","
      "\"k256_signature_chain\":[\"64ce2f1b381d04f7404fda78bdc942c314d89b7069d97eea1897e51b249dd"
      "3b1700995cbf7efe7ff04195dd6e31f153b702eeeeaffc5941510739dc39b9bd9cf01\",\"\"]}";
  f->canned[0] = (canned){"/prpc/Tappd.DeriveK256Key", 200, reply};
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_LEGACY));
  res r;
  call(f, c, "GetKey", "{\"path\":\"p\",\"purpose\":\"q\",\"algorithm\":\"secp256k1\"}", &r);
  assert_string_equal(f->seen[0].path, "/prpc/Tappd.DeriveK256Key");
  assert_string_equal(f->seen[0].body, "{\"path\":\"p\",\"purpose\":\"q\",\"algorithm\":\"secp256k1\"}");
  assert_non_null(r.json);
  assert_null(cJSON_GetObjectItem(r.json, "k256_key"));
  th_dstack_key k;
  th_err err = {0};
  if (th_dstack_decode_key(r.json, &k, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(k.chain_len, 1);
  assert_int_equal(k.key[0], 0xaa);
  assert_int_equal(k.chain[0][64], 0x01);
  cJSON_Delete(r.json);
  /* explicitly legacy methods keep their reply as it is */
  call(f, c, "Tappd.DeriveK256Key", NULL, &r);
  assert_non_null(cJSON_GetObjectItem(r.json, "k256_key"));
  cJSON_Delete(r.json);
  th_dstack_free(c);
}

static void test_legacy_getquote_padded(void **state) {
  fx *f = *state;
  f->canned[0] = (canned){"/prpc/Tappd.RawQuote", 200,
                          "{\"quote\":\"0400\",\"event_log\":\"[]\",\"hash_algorithm\":\"raw\","
                          "\"prefix\":\"\"}"};
  cJSON *doc = vector_json("dstack/tdxquote-report-data.json");
  th_dstack *c = client_for(f, ep_tcp(f, TH_TEE_LEGACY));
  int checked = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "get_quote")) {
    const cJSON *want = cJSON_GetObjectItem(e, "report_data");
    const cJSON *req = cJSON_GetObjectItem(e, "request");
    char *body = cJSON_PrintUnformatted(req);
    res r;
    call(f, c, "GetQuote", body, &r);
    free(body);
    seen_req *s = &f->seen[f->nseen - 1];
    assert_string_equal(s->path, "/prpc/Tappd.RawQuote");
    cJSON *sent = cJSON_Parse(s->body);
    const char *sent_rd = cJSON_GetObjectItem(sent, "report_data")->valuestring;
    if (want) {
      assert_string_equal(sent_rd, want->valuestring);
      th_dstack_quote q;
      th_err err = {0};
      if (th_dstack_decode_quote(r.json, &q, &err) != 0) fail_msg("%s", err.message);
      uint8_t rd[64];
      vector_unhex(want->valuestring, rd, 64);
      assert_memory_equal(q.report_data, rd, 64);
      assert_string_equal(q.vm_config, "");
      assert_int_equal(q.quote_len, 2);
      th_dstack_quote_free(&q);
    } else { /* too long: sent unchanged for the agent to refuse */
      assert_string_equal(sent_rd,
                          cJSON_GetObjectItem(req, "report_data")->valuestring);
    }
    cJSON_Delete(sent);
    cJSON_Delete(r.json);
    checked++;
  }
  assert_int_equal(checked, 4);
  th_dstack_free(c);
  cJSON_Delete(doc);
}

static void test_legacy_info_and_unmapped(void **state) {
  fx *f = *state;
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_LEGACY));
  res r;
  call(f, c, "Info", NULL, &r);
  assert_string_equal(f->seen[0].path, "/prpc/Tappd.Info");
  assert_string_equal(f->seen[0].body, "{}");
  cJSON_Delete(r.json);
  call(f, c, "Version", NULL, &r);
  assert_string_equal(f->seen[1].path, "/prpc/Tappd.Version");
  cJSON_Delete(r.json);
  call(f, c, "TdxQuote", "{\"report_data\":\"00\",\"hash_algorithm\":\"sha256\"}", &r);
  assert_string_equal(f->seen[2].path, "/prpc/Tappd.TdxQuote");
  assert_string_equal(f->seen[2].body, "{\"report_data\":\"00\",\"hash_algorithm\":\"sha256\"}");
  cJSON_Delete(r.json);
  static const char *const unmapped[] = {"GetTlsKey", "Attest", "Sign", "EmitEvent"};
  for (int i = 0; i < 4; i++) {
    th_err err = {0};
    char want[128];
    assert_null(th_dstack_request(c, unmapped[i], NULL, on_done, &r, &err));
    snprintf(want, sizeof want,
             "%s needs dstack 0.4.2 or later (this is a legacy tappd endpoint)", unmapped[i]);
    assert_string_equal(err.message, want);
    assert_int_equal(err.code, TH_EINVAL);
  }
  th_dstack_free(c);
  assert_int_equal(f->nseen, 3);
}

static void test_explicit_legacy_methods_on_agent(void **state) {
  fx *f = *state;
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  static const char *const m[][2] = {{"Tappd.TdxQuote", "/prpc/Tappd.TdxQuote"},
                                     {"TdxQuote", "/prpc/Tappd.TdxQuote"},
                                     {"DeriveKey", "/prpc/Tappd.DeriveKey"},
                                     {"RawQuote", "/prpc/Tappd.RawQuote"},
                                     {"DeriveK256Key", "/prpc/Tappd.DeriveK256Key"},
                                     {"GetKey", "/GetKey"},
                                     {"GetQuote", "/GetQuote"}};
  for (int i = 0; i < 7; i++) {
    res r;
    call(f, c, m[i][0], "{\"report_data\":\"00\"}", &r);
    assert_string_equal(f->seen[i].path, m[i][1]);
    assert_string_equal(f->seen[i].body, "{\"report_data\":\"00\"}"); /* no padding here */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ok")));
    cJSON_Delete(r.json);
  }
  th_dstack_free(c);
}

/* ---- the /Version probe ----------------------------------------------------------------------- */

static void test_version_probe_once_and_cached(void **state) {
  fx *f = *state;
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  res r1 = {0}, r2 = {0}, r3;
  const char *ed = "{\"path\":\"a\",\"purpose\":\"\",\"algorithm\":\"ed25519\"}";
  cJSON *body = cJSON_Parse(ed);
  /* two concurrent calls share one probe */
  assert_non_null(th_dstack_request(c, "GetKey", body, on_done, &r1, NULL));
  assert_non_null(th_dstack_request(c, "GetKey", body, on_done, &r2, NULL));
  cJSON_Delete(body);
  run_until(f, &r1.done);
  run_until(f, &r2.done);
  call(f, c, "GetKey", ed, &r3);
  cJSON_Delete(r3.json);
  call(f, c, "GetTlsKey", "{\"subject\":\"x\",\"not_before\":1}", &r3);
  cJSON_Delete(r1.json);
  cJSON_Delete(r2.json);
  cJSON_Delete(r3.json);
  assert_int_equal(f->nseen, 5);
  assert_string_equal(f->seen[0].path, "/Version");
  for (int i = 1; i < 4; i++) assert_string_equal(f->seen[i].path, "/GetKey");
  assert_string_equal(f->seen[4].path, "/GetTlsKey");
  th_dstack_free(c);
  /* secp256k1, k256, "" and no algorithm, and TLS keys without the new options: no probe */
  c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  call(f, c, "GetKey", "{\"algorithm\":\"k256\"}", &r3);
  cJSON_Delete(r3.json);
  call(f, c, "GetKey", "{\"algorithm\":\"\"}", &r3);
  cJSON_Delete(r3.json);
  call(f, c, "GetTlsKey", "{\"not_before\":null,\"usage_ra_tls\":true}", &r3);
  cJSON_Delete(r3.json);
  th_dstack_free(c);
  assert_int_equal(f->nseen, 8);
  for (int i = 5; i < 8; i++) assert_true(strcmp(f->seen[i].path, "/Version") != 0);
}

static void test_version_probe_failure_cached(void **state) {
  fx *f = *state;
  f->canned[0] = (canned){"/Version", 400, "{\n  \"error\": \"Service not found: Version\"\n}"};
  th_dstack *c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  const char *msg = "algorithm \"ed25519\" is not supported: OS version too old (Version RPC "
                    "unavailable)";
  expect_error(f, c, "GetKey", "{\"algorithm\":\"ed25519\"}", TH_EPROTO, msg);
  th_err err = {0};
  res r = {0};
  cJSON *body = cJSON_Parse("{\"subject\":\"x\",\"not_after\":2,\"with_app_info\":true}");
  assert_null(th_dstack_request(c, "GetTlsKey", body, on_done, &r, &err));
  cJSON_Delete(body);
  assert_int_equal(err.code, TH_EPROTO);
  assert_string_equal(err.message, "TLS key options [not_after, with_app_info] are not supported: "
                                   "OS version too old (Version RPC unavailable)");
  assert_int_equal(f->nseen, 1); /* the probe only, once */
  call(f, c, "GetKey", "{\"algorithm\":\"secp256k1\"}", &r); /* unaffected */
  cJSON_Delete(r.json);
  th_dstack_free(c);
  /* a 200 without a version string is no success either */
  f->canned[0] = (canned){"/Version", 200, "{\"rev\":\"x\"}"};
  c = client_for(f, ep_unix(f, TH_TEE_AGENT));
  expect_error(f, c, "GetKey", "{\"algorithm\":\"ed25519\"}", TH_EPROTO, msg);
  th_dstack_free(c);
}

static void test_version_probe_unreachable_not_cached(void **state) {
  fx *f = *state;
  th_tee_endpoint ep = {.kind = TH_TEE_AGENT};
  snprintf(ep.target, sizeof ep.target, "%s/gone.sock", f->dir);
  th_dstack *c = client_for(f, ep);
  char want[600];
  snprintf(want, sizeof want, "GetKey: connect to %s: No such file or directory", ep.target);
  expect_error(f, c, "GetKey", "{\"algorithm\":\"ed25519\"}", TH_ECONNREFUSED, want);
  expect_error(f, c, "GetKey", "{\"algorithm\":\"ed25519\"}", TH_ECONNREFUSED, want); /* probed */
  th_dstack_free(c);
}

/* Freeing the client from the first waiting call's callback: the second is never called back. */
typedef struct free_ctx {
  th_dstack *client;
  int calls;
} free_ctx;

static void free_client_cb(void *ud, cJSON *r, const th_err *e) {
  free_ctx *x = ud;
  (void)e;
  cJSON_Delete(r);
  x->calls++;
  th_dstack_free(x->client);
}

static void test_free_from_callback(void **state) {
  fx *f = *state;
  f->canned[0] = (canned){"/Version", 404, "{}"};
  free_ctx x = {client_for(f, ep_unix(f, TH_TEE_AGENT)), 0};
  cJSON *body = cJSON_Parse("{\"algorithm\":\"ed25519\"}");
  assert_non_null(th_dstack_request(x.client, "GetKey", body, free_client_cb, &x, NULL));
  assert_non_null(th_dstack_request(x.client, "GetKey", body, free_client_cb, &x, NULL));
  cJSON_Delete(body);
  run_until(f, &x.calls);
  for (int i = 0; i < 10; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_int_equal(x.calls, 1);
}

/* ---- the built-in simulator ------------------------------------------------------------------- */

static th_dstack *builtin_client(fx *f) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/sim", f->dir);
  th_simulator_opts o = {.dir = dir};
  th_err err = {0};
  f->sim = th_simulator_open(&o, &err);
  if (!f->sim) fail_msg("simulator: %s", err.message);
  th_tee_endpoint ep = {.kind = TH_TEE_BUILTIN};
  th_dstack *c = th_dstack_new(NULL, &ep, f->sim, &f->loop, &err);
  if (!c) fail_msg("th_dstack_new: %s", err.message);
  return c;
}

static void test_builtin_answers_like_an_agent(void **state) {
  fx *f = *state;
  th_dstack *c = builtin_client(f);
  res r;
  th_err err = {0};
  call(f, c, "GetKey", "{\"path\":\"wallet/ethereum\",\"purpose\":\"mainnet\"}", &r);
  th_dstack_key k;
  if (th_dstack_decode_key(r.json, &k, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(k.chain_len, 2);
  cJSON_Delete(r.json);
  /* GetQuote pads report_data as tdxquote-report-data.json says */
  size_t len;
  char *text = vector_read("dstack/tdxquote-report-data.json", &len);
  cJSON *doc = cJSON_ParseWithLength(text, len);
  free(text);
  const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "get_quote"), 0);
  char *body = cJSON_PrintUnformatted(cJSON_GetObjectItem(v, "request"));
  call(f, c, "GetQuote", body, &r);
  free(body);
  th_dstack_quote q;
  if (th_dstack_decode_quote(r.json, &q, &err) != 0) fail_msg("%s", err.message);
  uint8_t rd[64];
  vector_unhex(cJSON_GetObjectItem(v, "report_data")->valuestring, rd, 64);
  assert_memory_equal(q.report_data, rd, 64);
  assert_true(q.quote_len > 1000);
  th_dstack_quote_free(&q);
  cJSON_Delete(r.json);
  cJSON_Delete(doc);
  /* the ed25519 probe goes to the simulator's /Version and passes */
  call(f, c, "GetKey", "{\"path\":\"s\",\"algorithm\":\"ed25519\"}", &r);
  assert_non_null(r.json);
  cJSON_Delete(r.json);
  call(f, c, "Info", NULL, &r);
  assert_true(cJSON_IsString(cJSON_GetObjectItem(r.json, "app_id")));
  cJSON_Delete(r.json);
  expect_error(f, c, "GetQuote",
               "{\"report_data\":\"00000000000000000000000000000000000000000000000000000000000000"
               "00000000000000000000000000000000000000000000000000000000000000000000\"}",
               TH_EPROTO, "GetQuote: Report data is too long");
  expect_error(f, c, "NoSuchMethod", NULL, TH_EPROTO, "NoSuchMethod: Service not found: NoSuchMethod");
  th_dstack_free(c);
}

static void test_builtin_cancel_and_free(void **state) {
  fx *f = *state;
  th_dstack *c = builtin_client(f);
  res r1 = {0}, r2 = {0}, r3 = {0};
  th_dstack_call *k = th_dstack_request(c, "GetKey", NULL, on_done, &r1, NULL);
  assert_non_null(k);
  th_dstack_cancel(k);
  assert_non_null(th_dstack_request(c, "Info", NULL, on_done, &r2, NULL));
  cJSON *ed = cJSON_Parse("{\"algorithm\":\"ed25519\"}");
  assert_non_null(th_dstack_request(c, "GetKey", ed, on_done, &r3, NULL)); /* behind the probe */
  cJSON_Delete(ed);
  th_dstack_free(c);
  for (int i = 0; i < 10; i++) uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_int_equal(r1.done + r2.done + r3.done, 0);
}

/* ---- reply parsing and decoding --------------------------------------------------------------- */

static void test_parse_reply(void **state) {
  (void)state;
  cJSON *r;
  th_err err = {0};
  assert_int_equal(th_dstack_parse_reply("EmitEvent", 200, "null", 4, &r, &err), 0);
  assert_true(cJSON_IsNull(r));
  cJSON_Delete(r);
  assert_int_equal(th_dstack_parse_reply("Info", 200, " {\"a\":1}\r\n", 10, &r, &err), 0);
  cJSON_Delete(r);
  /* length respected: the NUL-less prefix "{}" of "{}x" */
  assert_int_equal(th_dstack_parse_reply("Info", 200, "{}x", 2, &r, &err), 0);
  cJSON_Delete(r);
  assert_int_equal(th_dstack_parse_reply("Info", 200, "{\"a\":\"\\u0000\"}", 14, &r, &err), -1);
  assert_string_equal(err.message, "Info: the agent's answer is not JSON (HTTP 200)");
  assert_null(r);
  /* an escaped backslash before "u0000" is text, not a NUL */
  assert_int_equal(th_dstack_parse_reply("Info", 200, "{\"a\":\"\\\\u0000\"}", 15, &r, &err), 0);
  assert_string_equal(cJSON_GetObjectItem(r, "a")->valuestring, "\\u0000");
  cJSON_Delete(r);
  assert_int_equal(th_dstack_parse_reply("Info", 200, "{\"a\":1} x", 10, &r, &err), -1);
  assert_int_equal(th_dstack_parse_reply("Info", 201, "{}", 2, &r, &err), -1);
  assert_string_equal(err.message, "Info: agent answered HTTP 201");
  assert_int_equal(th_dstack_parse_reply("X", 0, NULL, 0, &r, NULL), -1);
}

static void expect_key_error(const char *json, const char *message) {
  cJSON *j = cJSON_Parse(json);
  th_dstack_key k;
  th_err err = {0};
  assert_int_equal(th_dstack_decode_key(j, &k, &err), -1);
  assert_string_equal(err.message, message);
  assert_int_equal(err.code, TH_EPROTO);
  static const uint8_t zero[32];
  assert_memory_equal(k.key, zero, 32); /* wiped */
  cJSON_Delete(j);
}

#define K64 "aa221ae548b5a8f52fcb8687cfd873712f6a1232b2717e5ee3d58ab74f21905b"
#define S65 K64 K64 "01"

static void test_decode_key_errors(void **state) {
  (void)state;
  expect_key_error("[]", "GetKey: expected a JSON object");
  expect_key_error("{\"signature_chain\":[]}", "GetKey: key: missing");
  expect_key_error("{\"key\":1,\"signature_chain\":[]}", "GetKey: key: expected a string");
  expect_key_error("{\"key\":\"0123456789\",\"signature_chain\":[]}",
                   "GetKey: key: expected 64 hex digits, got 10");
  expect_key_error("{\"key\":\"" K64 "\"}", "GetKey: signature_chain: missing");
  expect_key_error("{\"key\":\"" K64 "\",\"signature_chain\":{}}",
                   "GetKey: signature_chain: expected an array");
  expect_key_error("{\"key\":\"" K64 "\",\"signature_chain\":[\"" S65 "\",\"" S65 "\",\"\"]}",
                   "GetKey: signature_chain: expected at most 2 entries, got 3");
  expect_key_error("{\"key\":\"" K64 "\",\"signature_chain\":[\"\",\"" S65 "\"]}",
                   "GetKey: signature_chain[0]: expected 130 hex digits, got 0");
  expect_key_error("{\"key\":\"" K64 "\",\"signature_chain\":[\"" S65 "\",null]}",
                   "GetKey: signature_chain[1]: expected a string");
  cJSON *j = cJSON_Parse("{\"key\":\"" K64 "\",\"signature_chain\":[]}");
  th_dstack_key k;
  assert_int_equal(th_dstack_decode_key(j, &k, NULL), 0);
  assert_int_equal(k.chain_len, 0);
  cJSON_Delete(j);
}

static void expect_quote_error(const char *json, const char *message) {
  cJSON *j = cJSON_Parse(json);
  th_dstack_quote q;
  th_err err = {0};
  assert_int_equal(th_dstack_decode_quote(j, &q, &err), -1);
  assert_string_equal(err.message, message);
  assert_int_equal(err.code, TH_EPROTO);
  assert_null(q.quote);
  cJSON_Delete(j);
}

static void test_decode_quote_errors(void **state) {
  (void)state;
  expect_quote_error("null", "GetQuote: expected a JSON object");
  expect_quote_error("{}", "GetQuote: quote: missing");
  expect_quote_error("{\"quote\":\"\"}", "GetQuote: quote: empty");
  expect_quote_error("{\"quote\":\"abc\"}", "GetQuote: quote: odd number of hex digits (3)");
  expect_quote_error("{\"quote\":\"ab\",\"event_log\":[]}", "GetQuote: event_log: expected a string");
  expect_quote_error("{\"quote\":\"ab\",\"event_log\":\"[]\",\"report_data\":\"00\"}",
                     "GetQuote: report_data: expected 128 hex digits, got 2");
  expect_quote_error("{\"quote\":\"ab\",\"event_log\":\"[]\",\"report_data\":\"" K64 K64
                     "\",\"vm_config\":{}}",
                     "GetQuote: vm_config: expected a string");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_endpoint_every_tee_mode),
      cmocka_unit_test(test_endpoint_invalid_tee_mode),
      cmocka_unit_test(test_endpoint_precedence),
      cmocka_unit_test(test_endpoint_default_sockets),
      cmocka_unit_test_setup_teardown(test_sends_what_js_sdk_sends_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sends_what_js_sdk_sends_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sends_what_python_sdk_sends, setup, teardown),
      cmocka_unit_test_setup_teardown(test_getkey_reply_from_vectors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_getquote_reply_from_vector, setup, teardown),
      cmocka_unit_test_setup_teardown(test_agent_error_carries_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_non_json_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_socket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_and_free_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_none_mode_fails_synchronously, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_getkey_renamed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_getquote_padded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_info_and_unmapped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_explicit_legacy_methods_on_agent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_probe_once_and_cached, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_probe_failure_cached, setup, teardown),
      cmocka_unit_test_setup_teardown(test_version_probe_unreachable_not_cached, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_builtin_answers_like_an_agent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_builtin_cancel_and_free, setup, teardown),
      cmocka_unit_test(test_parse_reply),
      cmocka_unit_test(test_decode_key_errors),
      cmocka_unit_test(test_decode_quote_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
