/* tests/unit/test_simulator.h — what the test_simulator_*.c executables share: a simulator in a
 * scratch directory (plain, or with the upstream simulator's appkeys.json imported and its app id
 * 5bb4ff9a…6c56, which makes GetKey/Sign reproduce keys.json/sign.json), one-call RPC helpers
 * that parse the answer, and checks of the agent's error envelope and of ASCII-only bodies.
 * Header-only, static inline, like vectors.h. */
#ifndef TH_TEST_SIMULATOR_H
#define TH_TEST_SIMULATOR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h */

#include <cJSON.h>

#include "simulator.h"
#include "tmpdir.h"
#include "vectors.h"

#define UPSTREAM_APP_ID "5bb4ff9a3837357f19dc176407a5709c62eb6c56"

typedef struct simfx {
  char dir[64];
  th_simulator *sim;
} simfx;

static inline th_simulator *simfx_open(simfx *f, int upstream, int reset) {
  th_simulator_opts o = {0};
  char appkeys[4096];
  uint8_t app_id[20];
  const char *src = getenv("TEEHOST_SOURCE");
  o.dir = f->dir;
  o.reset = reset;
  if (upstream) {
    snprintf(appkeys, sizeof appkeys, "%s/tests/vectors/dstack/appkeys.json", src ? src : ".");
    vector_unhex(UPSTREAM_APP_ID, app_id, 20);
    o.appkeys_path = appkeys;
    o.app_id = app_id;
  }
  th_err err = {0};
  th_simulator *s = th_simulator_open(&o, &err);
  if (!s) fail_msg("th_simulator_open: %s", err.message);
  return s;
}

/* setup/teardown: a plain simulator, or the upstream-keys one (state "upstream"). */
static inline int simfx_setup_with(void **state, int upstream) {
  simfx *f = calloc(1, sizeof *f);
  if (!f || tmpdir_make(f->dir, sizeof f->dir, "th-sim") != 0) return -1;
  f->sim = simfx_open(f, upstream, 0);
  *state = f;
  return 0;
}
static inline int simfx_setup(void **state) { return simfx_setup_with(state, 0); }
static inline int simfx_setup_upstream(void **state) { return simfx_setup_with(state, 1); }
static inline int simfx_teardown(void **state) {
  simfx *f = *state;
  th_simulator_free(f->sim);
  tmpdir_remove(f->dir);
  free(f);
  return 0;
}

typedef struct rpc_resp {
  int status;
  char *body;
  size_t len;
  cJSON *json; /* NULL when the body is not JSON */
} rpc_resp;

static inline void assert_ascii(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] >= 0x80 || (unsigned char)s[i] == 0)
      fail_msg("non-ASCII byte 0x%02x at %zu", (unsigned char)s[i], i);
}

/* One call; every answer must be ASCII, NUL-terminated, and JSON. */
static inline rpc_resp rpc_full(th_simulator *s, const char *method, const char *path,
                                const char *query, const char *ctype, const char *body,
                                size_t len) {
  rpc_resp r = {0};
  assert_int_equal(
      th_simulator_call(s, method, path, query, ctype, body, len, &r.status, &r.body, &r.len), 0);
  assert_non_null(r.body);
  assert_int_equal(strlen(r.body), r.len);
  assert_ascii(r.body, r.len);
  r.json = cJSON_ParseWithLength(r.body, r.len);
  if (!r.json && strcmp(r.body, "null") != 0) fail_msg("not JSON: %.200s", r.body);
  return r;
}

static inline rpc_resp rpc(th_simulator *s, const char *path, const char *body) {
  return rpc_full(s, "POST", path, NULL, "application/json", body, body ? strlen(body) : 0);
}

static inline void rpc_free(rpc_resp *r) {
  free(r->body);
  cJSON_Delete(r->json);
  memset(r, 0, sizeof *r);
}

static inline const char *rpc_str(const rpc_resp *r, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, field);
  if (!cJSON_IsString(v)) fail_msg("field %s missing or not a string in %.300s", field, r->body);
  return v->valuestring;
}

/* 200, or fail showing the body. */
static inline void assert_ok(const rpc_resp *r) {
  if (r->status != 200) fail_msg("status %d: %.300s", r->status, r->body);
}

/* 400 with the agent's pretty envelope {"error": msg-containing-want}. */
static inline void assert_rpc_error(const rpc_resp *r, const char *want) {
  if (r->status != 400) fail_msg("want 400, got %d: %.300s", r->status, r->body);
  assert_true(!strncmp(r->body, "{\n  \"error\": \"", 14));
  assert_true(r->len >= 3 && !strcmp(r->body + r->len - 3, "\"\n}"));
  const char *msg = rpc_str(r, "error");
  if (!strstr(msg, want)) fail_msg("error \"%s\" lacks \"%s\"", msg, want);
}

static inline void expect_error(th_simulator *s, const char *path, const char *body,
                                const char *want) {
  rpc_resp r = rpc(s, path, body);
  assert_rpc_error(&r, want);
  rpc_free(&r);
}

/* Bytes of a hex field of a response (malloc'd). */
static inline uint8_t *rpc_hex(const rpc_resp *r, const char *field, size_t *n) {
  return vector_unhex_alloc(rpc_str(r, field), n);
}

#endif
