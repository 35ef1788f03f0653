/* tests/unit/test_phala_key.c — core/phala_key: key lookup order, the key files and their
 * permissions, and phala 1.0.35's legacy file form.
 *
 * The legacy vector is shared/vectors/phala-cloud/api-key-storage.json (captured: the file
 * phala 1.0.35 wrote, with the machine parts that keyed it, then decrypted and migrated by phala
 * 1.1.18, which wrote the credentials.json used below). Every test works in its own mkdtemp
 * directory, removed by the teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "phala_key.h"

/* api-key-storage.json, "legacy" */
static const th_phala_machine VECTOR_MACHINE = {"vm", "linux", "x64", "AMD EPYC", "root"};
static const char VECTOR_IV[] = "1b64c5166e699c403a636e37a2d0bc37";
static const char VECTOR_FILE[] =
    "1b64c5166e699c403a636e37a2d0bc37:801355fcffbe351d7fbe4eedfc62cc725366d3b00d3e00a47b4de0122a398d67";
static const char VECTOR_KEY[] = "phak_test_0123456789abcdef";

/* api-key-storage.json, "credentials_json_v1" (2-space JSON as phala 1.1.18 writes it) */
static const char VECTOR_CREDENTIALS[] =
    "{\n  \"schema_version\": 1,\n  \"current_profile\": \"alice-team\",\n  \"profiles\": {\n"
    "    \"alice-team\": {\n      \"token\": \"phak_test_0123456789abcdef\",\n"
    "      \"api_prefix\": \"https://cloud-api.phala.com/api/v1\",\n"
    "      \"workspace\": {\n        \"name\": \"alice-team\",\n        \"slug\": \"alice-team\"\n      },\n"
    "      \"user\": {\n        \"username\": \"alice\",\n        \"email\": \"alice@example.com\"\n      },\n"
    "      \"updated_at\": \"2026-11-26T03:29:55.264Z\"\n    }\n  }\n}\n";

typedef struct fixture {
  char dir[64];   /* the "~/.phala-cloud" of the test */
  char path[128]; /* <dir>/api-key */
  char creds[128];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (tmpdir_make(f->dir, sizeof f->dir, "test_phala_key") != 0) return -1;
  snprintf(f->path, sizeof f->path, "%s/api-key", f->dir);
  snprintf(f->creds, sizeof f->creds, "%s/credentials.json", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = tmpdir_remove(f->dir);
  free(f);
  return rc;
}

static void write_file(const char *path, const char *content, mode_t mode) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(content, fp);
  fclose(fp);
  assert_int_equal(chmod(path, mode), 0);
}

static char *read_file(const char *path) {
  static char buf[4096];
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return buf;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 07777;
}

/* ---- the legacy form ----------------------------------------------------------------------- */

static void test_legacy_vector_encrypts_byte_for_byte(void **state) {
  (void)state;
  uint8_t iv[16];
  th_err err = {0};
  assert_int_equal(th_hex_decode_exact(VECTOR_IV, 32, iv, 16, "iv", &err), 0);
  char *out = NULL;
  assert_int_equal(th_phala_legacy_encrypt(&VECTOR_MACHINE, VECTOR_KEY, iv, &out, &err), 0);
  assert_string_equal(out, VECTOR_FILE);
  free(out);
}

static void test_legacy_vector_decrypts(void **state) {
  (void)state;
  th_err err = {0};
  char *key = NULL;
  assert_int_equal(th_phala_legacy_decrypt(&VECTOR_MACHINE, VECTOR_FILE, strlen(VECTOR_FILE), &key, &err), 0);
  assert_string_equal(key, VECTOR_KEY);
  sodium_free(key);
}

static void test_legacy_other_machine_fails(void **state) {
  (void)state;
  th_phala_machine m = VECTOR_MACHINE;
  snprintf(m.hostname, sizeof m.hostname, "renamed-vm");
  th_err err = {0};
  char *key = NULL;
  assert_int_equal(th_phala_legacy_decrypt(&m, VECTOR_FILE, strlen(VECTOR_FILE), &key, &err), -1);
  assert_null(key);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_non_null(strstr(err.message, "another hostname, CPU or user"));
}

static void test_legacy_malformed_content(void **state) {
  (void)state;
  static const char *const bad[] = {"1b64:00", "zz64c5166e699c403a636e37a2d0bc37:8013",
                                    "1b64c5166e699c403a636e37a2d0bc37:", "1b64c5166e699c403a636e37a2d0bc37:801355"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    th_err err = {0};
    char *key = NULL;
    assert_int_equal(th_phala_legacy_decrypt(&VECTOR_MACHINE, bad[i], strlen(bad[i]), &key, &err), -1);
    assert_int_equal(err.code, TH_EBADDATA);
    assert_non_null(strstr(err.message, "iv:ciphertext"));
  }
}

static void test_legacy_file_loads_with_its_machine(void **state) {
  fixture *f = *state;
  write_file(f->path, VECTOR_FILE, 0600);
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, &VECTOR_MACHINE, &err), 1);
  assert_string_equal(k.key, VECTOR_KEY);
  assert_int_equal(k.source, TH_PHALA_KEY_LEGACY_FILE);
  assert_string_equal(k.path, f->path);
  th_phala_key_clear(&k);
  assert_null(k.key);
}

static void test_legacy_file_of_another_machine_names_the_file(void **state) {
  fixture *f = *state;
  write_file(f->path, VECTOR_FILE, 0600);
  th_phala_machine m = VECTOR_MACHINE;
  snprintf(m.username, sizeof m.username, "bob");
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, &m, &err), -1);
  assert_null(k.key);
  assert_int_equal(k.source, TH_PHALA_KEY_LEGACY_FILE);
  assert_non_null(strstr(err.message, f->path));
  assert_non_null(strstr(err.message, "log in again"));
}

static void test_machine_parts_are_nodes(void **state) {
  (void)state;
  th_phala_machine m;
  th_err err = {0};
  assert_int_equal(th_phala_machine_get(&m, &err), 0);
  char host[256];
  assert_int_equal(gethostname(host, sizeof host), 0);
  assert_string_equal(m.hostname, host);
  struct passwd *pw = getpwuid(geteuid());
  assert_non_null(pw);
  assert_string_equal(m.username, pw->pw_name);
#if defined(__linux__) && defined(__x86_64__)
  assert_string_equal(m.platform, "linux");
  assert_string_equal(m.arch, "x64");
#endif
}

/* ---- files and lookup order ---------------------------------------------------------------- */

static void test_save_then_load_round_trip(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_int_equal(th_phala_key_save(f->dir, VECTOR_KEY, &err), 0);
  assert_string_equal(read_file(f->path), VECTOR_KEY); /* plain, no trailing newline */
  assert_int_equal(mode_of(f->path), 0600);
  assert_int_equal(mode_of(f->dir), 0700);
  th_phala_key k;
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 1);
  assert_string_equal(k.key, VECTOR_KEY);
  assert_int_equal(k.source, TH_PHALA_KEY_FILE);
  th_phala_key_clear(&k);
  /* a second save replaces the first */
  assert_int_equal(th_phala_key_save(f->dir, "phak_second", &err), 0);
  assert_string_equal(read_file(f->path), "phak_second");
  assert_int_equal(th_phala_key_delete(f->dir, &err), 1);
  assert_int_equal(th_phala_key_delete(f->dir, &err), 0);
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 0);
  assert_null(k.key);
  assert_int_equal(k.source, TH_PHALA_KEY_NONE);
}

static void test_save_creates_dir_0700_and_tightens_0755(void **state) {
  fixture *f = *state;
  char sub[128];
  snprintf(sub, sizeof sub, "%s/new", f->dir);
  th_err err = {0};
  assert_int_equal(th_phala_key_save(sub, VECTOR_KEY, &err), 0);
  assert_int_equal(mode_of(sub), 0700);
  assert_int_equal(chmod(f->dir, 0755), 0); /* as phala 1.0.35 leaves it */
  assert_int_equal(th_phala_key_save(f->dir, VECTOR_KEY, &err), 0);
  assert_int_equal(mode_of(f->dir), 0700);
  assert_int_equal(mode_of(f->path), 0600);
}

static void test_save_refuses_what_is_not_a_key(void **state) {
  fixture *f = *state;
  static const char *const bad[] = {"", "two words", "line\nbreak", "tab\there"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    th_err err = {0};
    assert_int_equal(th_phala_key_save(f->dir, bad[i], &err), -1);
    assert_int_equal(err.code, TH_EINVAL);
    assert_non_null(strstr(err.message, "not an API key"));
  }
  assert_int_equal(access(f->path, F_OK), -1);
}

static void test_readable_key_file_refused_with_fix(void **state) {
  fixture *f = *state;
  static const mode_t modes[] = {0644, 0640, 0604, 0660, 0620};
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
    write_file(f->path, VECTOR_KEY, modes[i]);
    th_phala_key k;
    th_err err = {0};
    assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), -1);
    assert_null(k.key);
    assert_int_equal(err.code, TH_EINVAL);
    char want[256];
    snprintf(want, sizeof want, "fix with `chmod 600 %s`", f->path);
    assert_non_null(strstr(err.message, want));
    snprintf(want, sizeof want, "(mode %04o)", (unsigned)modes[i]);
    assert_non_null(strstr(err.message, want));
    assert_null(strstr(err.message, "phak_")); /* never any part of the key */
  }
}

static void test_env_key_comes_first_and_is_checked(void **state) {
  fixture *f = *state;
  write_file(f->path, "phak_from_file", 0600);
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, "  phak_from_env\n", f->dir, NULL, &err), 1);
  assert_string_equal(k.key, "phak_from_env");
  assert_int_equal(k.source, TH_PHALA_KEY_ENV);
  assert_string_equal(k.path, "");
  th_phala_key_clear(&k);
  assert_int_equal(th_phala_key_load(&k, "phak\r\nX-Injected: 1", f->dir, NULL, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_non_null(strstr(err.message, "PHALA_CLOUD_API_KEY"));
  assert_null(strstr(err.message, "phak"));
  /* empty env: the file */
  assert_int_equal(th_phala_key_load(&k, "", f->dir, NULL, &err), 1);
  assert_string_equal(k.key, "phak_from_file");
  th_phala_key_clear(&k);
}

static void test_credentials_json_of_phala_1_1(void **state) {
  fixture *f = *state;
  write_file(f->creds, VECTOR_CREDENTIALS, 0600);
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 1);
  assert_string_equal(k.key, VECTOR_KEY);
  assert_int_equal(k.source, TH_PHALA_KEY_CREDENTIALS);
  assert_string_equal(k.profile, "alice-team");
  assert_string_equal(k.api_prefix, "https://cloud-api.phala.com/api/v1");
  assert_string_equal(k.path, f->creds);
  th_phala_key_clear(&k);
  /* api-key comes before credentials.json */
  write_file(f->path, "phak_legacy_path", 0600);
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 1);
  assert_string_equal(k.key, "phak_legacy_path");
  th_phala_key_clear(&k);
}

static void test_credentials_of_other_schema_ignored(void **state) {
  fixture *f = *state;
  static const char *const ignored[] = {
      "{\"schema_version\":2,\"current_profile\":\"a\",\"profiles\":{\"a\":{\"token\":\"phak_x\"}}}",
      "{\"schema_version\":1,\"current_profile\":\"\",\"profiles\":{\"a\":{\"token\":\"phak_x\"}}}",
      "{\"schema_version\":1,\"current_profile\":\"a\"}",
      "{\"schema_version\":1,\"current_profile\":\"b\",\"profiles\":{\"a\":{\"token\":\"phak_x\"}}}",
  };
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
    write_file(f->creds, ignored[i], 0600);
    th_phala_key k;
    th_err err = {0};
    assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 0);
    assert_null(k.key);
  }
  write_file(f->creds, "{not json", 0600);
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  write_file(f->creds, VECTOR_CREDENTIALS, 0644);
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), -1);
  assert_non_null(strstr(err.message, "chmod 600"));
}

static void test_key_file_that_is_not_a_key(void **state) {
  fixture *f = *state;
  write_file(f->path, "two words", 0600);
  th_phala_key k;
  th_err err = {0};
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_non_null(strstr(err.message, "does not hold an API key"));
  assert_null(strstr(err.message, "two"));
  /* surrounding white space (an editor's newline) is fine */
  write_file(f->path, "phak_edited\n", 0600);
  assert_int_equal(th_phala_key_load(&k, NULL, f->dir, NULL, &err), 1);
  assert_string_equal(k.key, "phak_edited");
  th_phala_key_clear(&k);
}

static void test_key_dir(void **state) {
  (void)state;
  char buf[64];
  th_err err = {0};
  assert_int_equal(th_phala_key_dir(buf, sizeof buf, "/home/a", NULL, &err), 0);
  assert_string_equal(buf, "/home/a/.phala-cloud");
  assert_int_equal(th_phala_key_dir(buf, sizeof buf, "/home/a", "/srv/phala", &err), 0);
  assert_string_equal(buf, "/srv/phala");
  assert_int_equal(th_phala_key_dir(buf, sizeof buf, "", "", &err), -1);
  assert_non_null(strstr(err.message, "HOME"));
  assert_int_equal(th_phala_key_load(&(th_phala_key){0}, NULL, NULL, NULL, &err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_legacy_vector_encrypts_byte_for_byte),
      cmocka_unit_test(test_legacy_vector_decrypts),
      cmocka_unit_test(test_legacy_other_machine_fails),
      cmocka_unit_test(test_legacy_malformed_content),
      cmocka_unit_test_setup_teardown(test_legacy_file_loads_with_its_machine, setup, teardown),
      cmocka_unit_test_setup_teardown(test_legacy_file_of_another_machine_names_the_file, setup, teardown),
      cmocka_unit_test(test_machine_parts_are_nodes),
      cmocka_unit_test_setup_teardown(test_save_then_load_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_creates_dir_0700_and_tightens_0755, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_refuses_what_is_not_a_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readable_key_file_refused_with_fix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_env_key_comes_first_and_is_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credentials_json_of_phala_1_1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_credentials_of_other_schema_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_file_that_is_not_a_key, setup, teardown),
      cmocka_unit_test(test_key_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
