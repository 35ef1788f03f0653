/* tests/unit/test_simulator_keys.c — the simulator's keys and identity (core/simulator.h;
 * shared/specs/dstack.md 2.1, 2.7, 2.8, 3, 4, 11 "State and identity"):
 *  - with the upstream appkeys.json imported and app id 5bb4ff9a…, GetKey and the legacy
 *    DeriveK256Key answer keys.json's whole response bodies byte for byte (every alias), Sign
 *    answers sign.json's, and Verify accepts those signatures and rejects a changed one;
 *  - the KMS root the simulator publishes is what chain[1] recovers to (upstream: 0321529e…);
 *  - identity.json: 0600 in a 0700 dir, the same keys after reopening, new ones after reset,
 *    a group-readable file refused with the chmod hint. */
#include <sys/stat.h>
#include <unistd.h>

#include "test_simulator.h"

static const cJSON *upstream_app(const cJSON *keys) {
  const cJSON *app;
  cJSON_ArrayForEach(app, cJSON_GetObjectItem(keys, "apps")) {
    if (!strcmp(cJSON_GetObjectItem(app, "name")->valuestring, "upstream-simulator-appkeys"))
      return app;
  }
  fail_msg("keys.json has no upstream-simulator-appkeys");
  return NULL;
}

/* POST path {"path":…,"purpose":…,"algorithm":alg} must answer exactly `want` (compact JSON). */
static void check_get_key(th_simulator *s, const char *path, const cJSON *entry, const char *alg,
                          const cJSON *want_obj, const char *rename_key, const char *rename_chain) {
  cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "path", cJSON_GetObjectItem(entry, "path")->valuestring);
  cJSON_AddStringToObject(req, "purpose", cJSON_GetObjectItem(entry, "purpose")->valuestring);
  cJSON_AddStringToObject(req, "algorithm", alg);
  char *body = cJSON_PrintUnformatted(req);
  cJSON *want = cJSON_Duplicate(want_obj, 1);
  if (rename_key) { /* DeriveK256Key: GetKey's answer with its fields renamed */
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, rename_key, cJSON_Duplicate(cJSON_GetObjectItem(want, "key"), 1));
    cJSON_AddItemToObject(w, rename_chain,
                          cJSON_Duplicate(cJSON_GetObjectItem(want, "signature_chain"), 1));
    cJSON_Delete(want);
    want = w;
  }
  char *want_text = cJSON_PrintUnformatted(want);
  rpc_resp r = rpc(s, path, body);
  assert_ok(&r);
  assert_string_equal(r.body, want_text);
  rpc_free(&r);
  free(want_text);
  free(body);
  cJSON_Delete(want);
  cJSON_Delete(req);
}

static void get_key_reproduces_keys_json(void **state) {
  simfx *f = *state;
  cJSON *keys = vector_json("dstack/keys.json");
  const cJSON *app = upstream_app(keys), *e;
  int n = 0;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(app, "entries")) {
    const cJSON *k = cJSON_GetObjectItem(e, "secp256k1"), *alias;
    cJSON_ArrayForEach(alias, cJSON_GetObjectItem(k, "algorithm_aliases")) {
      check_get_key(f->sim, "/GetKey", e, alias->valuestring,
                    cJSON_GetObjectItem(k, "get_key_response"), NULL, NULL);
      n++;
    }
    check_get_key(f->sim, "/GetKey", e, "ed25519",
                  cJSON_GetObjectItem(cJSON_GetObjectItem(e, "ed25519"), "get_key_response"), NULL,
                  NULL);
    check_get_key(f->sim, "/prpc/Tappd.DeriveK256Key", e, "secp256k1",
                  cJSON_GetObjectItem(k, "get_key_response"), "k256_key", "k256_signature_chain");
    n += 2;
  }
  assert_int_equal(n, 8 * 5);
  cJSON_Delete(keys);
}

static void kms_root_is_what_chain1_recovers_to(void **state) {
  simfx *f = *state;
  uint8_t want[33];
  cJSON *keys = vector_json("dstack/keys.json");
  const cJSON *check = cJSON_GetObjectItem(upstream_app(keys), "kms_signature_check");
  const cJSON *root = cJSON_GetObjectItem(check, "recovered_kms_root_pubkey_compressed");
  assert_true(cJSON_IsString(root));
  vector_unhex(root->valuestring, want, 33);
  assert_memory_equal(th_simulator_kms_root(f->sim), want, 33);
  uint8_t id[20];
  vector_unhex(UPSTREAM_APP_ID, id, 20);
  assert_memory_equal(th_simulator_app_id(f->sim), id, 20);
  cJSON_Delete(keys);
}

static void sign_reproduces_sign_json_and_verify_checks(void **state) {
  simfx *f = *state;
  cJSON *sign = vector_json("dstack/sign.json");
  const cJSON *c;
  int n = 0;
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(sign, "cases")) {
    if (strcmp(cJSON_GetObjectItem(c, "app")->valuestring, "upstream-simulator-appkeys")) continue;
    const char *alg = cJSON_GetObjectItem(c, "algorithm")->valuestring;
    const char *data = cJSON_GetObjectItem(c, "data")->valuestring;
    char body[1024], *want = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "response"));
    snprintf(body, sizeof body, "{\"algorithm\":\"%s\",\"data\":\"%s\"}", alg, data);
    rpc_resp r = rpc(f->sim, "/Sign", body);
    assert_ok(&r);
    assert_string_equal(r.body, want);
    /* Verify accepts it, and rejects it with one bit of the signature flipped */
    char sig[129];
    snprintf(sig, sizeof sig, "%s", rpc_str(&r, "signature"));
    for (int flip = 0; flip < 2; flip++) {
      if (flip) sig[10] = sig[10] == '0' ? '1' : '0';
      snprintf(body, sizeof body,
               "{\"algorithm\":\"%s\",\"data\":\"%s\",\"signature\":\"%s\",\"public_key\":\"%s\"}",
               alg, data, sig, rpc_str(&r, "public_key"));
      rpc_resp v = rpc(f->sim, "/Verify", body);
      assert_ok(&v);
      assert_string_equal(v.body, flip ? "{\"valid\":false}" : "{\"valid\":true}");
      rpc_free(&v);
    }
    rpc_free(&r);
    free(want);
    n++;
  }
  assert_int_equal(n, 7);
  cJSON_Delete(sign);
}

static void sign_and_verify_errors(void **state) {
  simfx *f = *state;
  expect_error(f->sim, "/Sign", "{\"algorithm\":\"rsa\",\"data\":\"00\"}", "Unsupported algorithm");
  expect_error(f->sim, "/Sign", "{\"algorithm\":\"secp256k1_prehashed\",\"data\":\"0011\"}",
               "Pre-hashed signing requires a 32-byte digest, but received 2 bytes");
  expect_error(f->sim, "/GetKey", "{\"algorithm\":\"secp256k1_prehashed\"}",
               "Unsupported algorithm");
  expect_error(f->sim, "/Verify",
               "{\"algorithm\":\"ed25519\",\"data\":\"00\",\"signature\":\"" /* 64 zero bytes */
               "00000000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "000000000000000000000000000000000000000000000\",\"public_key\":\"0011\"}",
               "invalid public key");
}

/* ---- persistence ---- */

static void read_key(th_simulator *s, char out[65]) {
  rpc_resp r = rpc(s, "/GetKey", "{\"path\":\"p\"}");
  assert_ok(&r);
  snprintf(out, 65, "%s", rpc_str(&r, "key"));
  rpc_free(&r);
}

static void identity_is_private_and_stable(void **state) {
  simfx *f = *state;
  char path[128], k1[65], k2[65], k3[65];
  struct stat st;
  uint8_t id1[20], root1[33];
  snprintf(path, sizeof path, "%s/identity.json", f->dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(f->dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  read_key(f->sim, k1);
  memcpy(id1, th_simulator_app_id(f->sim), 20);
  memcpy(root1, th_simulator_kms_root(f->sim), 33);
  th_simulator_free(f->sim);
  f->sim = simfx_open(f, 0, 0); /* reopen: same identity */
  read_key(f->sim, k2);
  assert_string_equal(k1, k2);
  assert_memory_equal(th_simulator_app_id(f->sim), id1, 20);
  assert_memory_equal(th_simulator_kms_root(f->sim), root1, 33);
  th_simulator_free(f->sim);
  f->sim = simfx_open(f, 0, 1); /* reset: a new one */
  read_key(f->sim, k3);
  assert_string_not_equal(k1, k3);
  assert_memory_not_equal(th_simulator_app_id(f->sim), id1, 20);
  assert_memory_not_equal(th_simulator_kms_root(f->sim), root1, 33);
}

static void group_readable_identity_is_refused(void **state) {
  simfx *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/identity.json", f->dir);
  th_simulator_free(f->sim);
  f->sim = NULL;
  assert_int_equal(chmod(path, 0640), 0);
  th_simulator_opts o = {.dir = f->dir};
  th_err err = {0};
  assert_null(th_simulator_open(&o, &err));
  assert_int_equal(err.code, TH_EINVAL);
  assert_non_null(strstr(err.message, "chmod 600"));
  assert_non_null(strstr(err.message, path));
  assert_int_equal(chmod(path, 0600), 0);
  f->sim = simfx_open(f, 0, 0);
}

static void imported_keys_survive_a_reopen_without_import(void **state) {
  simfx *f = *state;
  char k1[65], k2[65];
  read_key(f->sim, k1);
  th_simulator_free(f->sim);
  f->sim = simfx_open(f, 0, 0);
  read_key(f->sim, k2);
  assert_string_equal(k1, k2);
  uint8_t id[20];
  vector_unhex(UPSTREAM_APP_ID, id, 20);
  assert_memory_equal(th_simulator_app_id(f->sim), id, 20);
}

static void two_simulators_are_independent(void **state) {
  simfx *f = *state;
  simfx g = {0};
  assert_int_equal(tmpdir_make(g.dir, sizeof g.dir, "th-sim2"), 0);
  g.sim = simfx_open(&g, 0, 0);
  char a[65], b[65];
  read_key(f->sim, a);
  read_key(g.sim, b);
  assert_string_not_equal(a, b);
  th_simulator_free(g.sim);
  tmpdir_remove(g.dir);
}

static void open_needs_a_dir(void **state) {
  (void)state;
  th_simulator_opts o = {0};
  th_err err = {0};
  assert_null(th_simulator_open(&o, &err));
  assert_int_equal(err.code, TH_EINVAL);
}

int main(void) {
#define U(t) cmocka_unit_test_setup_teardown(t, simfx_setup_upstream, simfx_teardown)
#define P(t) cmocka_unit_test_setup_teardown(t, simfx_setup, simfx_teardown)
  const struct CMUnitTest tests[] = {
      U(get_key_reproduces_keys_json),
      U(kms_root_is_what_chain1_recovers_to),
      U(sign_reproduces_sign_json_and_verify_checks),
      U(sign_and_verify_errors),
      U(imported_keys_survive_a_reopen_without_import),
      P(identity_is_private_and_stable),
      P(group_readable_identity_is_refused),
      P(two_simulators_are_independent),
      cmocka_unit_test(open_needs_a_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
