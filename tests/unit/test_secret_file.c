/* tests/unit/test_secret_file.c — core/secret_file: the 0700 directory (created, refused or
 * tightened when open), 0600 files written atomically, refusal of a secret file group or others
 * can reach (with the fix in the message), and symlinks refused. Every test works in its own
 * mkdtemp directory, removed by the teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmpdir.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret_file.h"

static const th_secret_words W3 = {"test", "is readable by others", 3, "it is a secret"};
static const th_secret_words W4 = {"test", "is accessible by group or others", 4,
                                   "it holds your API key"};

typedef struct fixture {
  char dir[64];   /* the test's directory */
  char sub[96];   /* <dir>/keys, not created by the setup */
  char path[128]; /* <dir>/keys/secret */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  if (tmpdir_make(f->dir, sizeof f->dir, "test_secret_file") != 0) return -1;
  snprintf(f->sub, sizeof f->sub, "%s/keys", f->dir);
  snprintf(f->path, sizeof f->path, "%s/secret", f->sub);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = tmpdir_remove(f->dir);
  free(f);
  return rc;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  return st.st_mode & 07777;
}

static void write_plain(const char *path, const char *content, mode_t mode) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(content, fp);
  fclose(fp);
  assert_int_equal(chmod(path, mode), 0);
}

/* Reads path with `flags`; asserts it was read and holds `want`. */
static void read_is(const char *path, unsigned flags, const char *want) {
  uint8_t *buf = NULL;
  size_t len = 0;
  th_err err = {0};
  int rc = th_secret_read(&W3, path, flags, 4096, &buf, &len, &err);
  if (rc != 1) fail_msg("read %s: %d %s", path, rc, err.message);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(buf, want, len);
  assert_int_equal(buf[len], '\0');
  if (flags & TH_SECRET_SODIUM) sodium_free(buf);
  else free(buf);
}

static size_t entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static void test_dir_created_0700_and_file_written_0600(void **state) {
  fixture *f = *state;
  th_err err = {0};
  mode_t old = umask(0); /* the modes must not depend on the umask */
  int rc = th_secret_dir(&W3, f->sub, 0, &err);
  if (rc == 0) rc = th_secret_write(&W3, f->sub, "secret", "s3cret", 6, &err);
  umask(old);
  if (rc != 0) fail_msg("%s", err.message);
  assert_int_equal(mode_of(f->sub), 0700);
  assert_int_equal(mode_of(f->path), 0600);
  read_is(f->path, TH_SECRET_PRIVATE | TH_SECRET_NOFOLLOW, "s3cret");
  read_is(f->path, TH_SECRET_PRIVATE | TH_SECRET_SODIUM, "s3cret");
  assert_int_equal(entries(f->sub), 1); /* no temp file left */
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), 0); /* again: it is fine as it is */
}

static void test_open_file_refused_with_fix(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), 0);
  write_plain(f->path, "s3cret", 0644);
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(th_secret_read(&W3, f->path, TH_SECRET_PRIVATE, 4096, &buf, &len, &err), -1);
  assert_null(buf);
  assert_int_equal(err.code, TH_EINVAL);
  char want[512];
  snprintf(want, sizeof want, "test: %s is readable by others (mode 644); it is a secret: "
           "fix with `chmod 600 %s`", f->path, f->path);
  assert_string_equal(err.message, want);
  assert_null(strstr(err.message, "s3cret"));
  assert_int_equal(th_secret_read(&W4, f->path, TH_SECRET_PRIVATE, 4096, &buf, &len, &err), -1);
  assert_non_null(strstr(err.message, "is accessible by group or others (mode 0644)"));
  assert_non_null(strstr(err.message, "it holds your API key"));
  /* Without TH_SECRET_PRIVATE the mode is not looked at (a certificate is public). */
  read_is(f->path, 0, "s3cret");
}

static void test_open_dir_refused_or_tightened(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_int_equal(mkdir(f->sub, 0700), 0);
  assert_int_equal(chmod(f->sub, 0755), 0);
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  char want[512];
  snprintf(want, sizeof want, "test: %s is readable by others (mode 755); it holds secrets: "
           "fix with `chmod 700 %s`", f->sub, f->sub);
  assert_string_equal(err.message, want);
  assert_int_equal(mode_of(f->sub), 0755); /* refusing changes nothing */
  assert_int_equal(th_secret_dir(&W4, f->sub, 1, &err), 0);
  assert_int_equal(mode_of(f->sub), 0700);
}

static void test_not_a_directory_refused(void **state) {
  fixture *f = *state;
  th_err err = {0};
  write_plain(f->sub, "x", 0600);
  assert_int_equal(th_secret_dir(&W3, f->sub, 1, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_non_null(strstr(err.message, "is not a directory"));
}

static void test_write_replaces_atomically(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), 0);
  assert_int_equal(th_secret_write(&W3, f->sub, "secret", "old", 3, &err), 0);
  FILE *reader = fopen(f->path, "r"); /* a reader that opened the old file */
  assert_non_null(reader);
  struct stat before, after;
  assert_int_equal(stat(f->path, &before), 0);
  assert_int_equal(th_secret_write(&W3, f->sub, "secret", "new content", 11, &err), 0);
  assert_int_equal(stat(f->path, &after), 0);
  assert_true(before.st_ino != after.st_ino); /* a new file renamed over, not rewritten */
  char got[16] = {0};
  assert_int_equal(fread(got, 1, sizeof got - 1, reader), 3);
  fclose(reader);
  assert_string_equal(got, "old"); /* the reader still sees the whole old file */
  read_is(f->path, TH_SECRET_PRIVATE, "new content");
  assert_int_equal(mode_of(f->path), 0600);
  assert_int_equal(entries(f->sub), 1);
  /* Replacing an existing file that was left too open leaves it 0600. */
  assert_int_equal(chmod(f->path, 0644), 0);
  assert_int_equal(th_secret_write(&W3, f->sub, "secret", "third", 5, &err), 0);
  assert_int_equal(mode_of(f->path), 0600);
}

static void test_symlinks_refused(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), 0);
  /* A symlink planted at the temp name: the write must not follow it (O_EXCL|O_NOFOLLOW). */
  char target[128], tmp[192];
  snprintf(target, sizeof target, "%s/target", f->dir);
  snprintf(tmp, sizeof tmp, "%s/.secret.%ld.tmp", f->sub, (long)getpid());
  assert_int_equal(symlink(target, tmp), 0);
  assert_int_equal(th_secret_write(&W3, f->sub, "secret", "s3cret", 6, &err), -1);
  assert_int_equal(err.code, TH_EIO);
  assert_non_null(strstr(err.message, "cannot create"));
  assert_int_equal(access(target, F_OK), -1); /* nothing written through the link */
  assert_int_equal(access(f->path, F_OK), -1);
  assert_int_equal(unlink(tmp), 0);
  /* A symlink at the path: refused when reading with TH_SECRET_NOFOLLOW, followed without. */
  write_plain(target, "elsewhere", 0600);
  assert_int_equal(symlink(target, f->path), 0);
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(
      th_secret_read(&W3, f->path, TH_SECRET_PRIVATE | TH_SECRET_NOFOLLOW, 4096, &buf, &len, &err),
      -1);
  assert_null(buf);
  assert_int_equal(err.code, TH_EIO);
  read_is(f->path, TH_SECRET_PRIVATE, "elsewhere");
}

static void test_missing_large_and_odd_files(void **state) {
  fixture *f = *state;
  th_err err = {0};
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(th_secret_dir(&W3, f->sub, 0, &err), 0);
  assert_int_equal(th_secret_read(&W3, f->path, TH_SECRET_PRIVATE, 16, &buf, &len, &err), 0);
  write_plain(f->path, "0123456789abcdefX", 0600); /* 17 bytes */
  assert_int_equal(th_secret_read(&W3, f->path, TH_SECRET_SODIUM, 16, &buf, &len, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_non_null(strstr(err.message, "is too large (17 bytes)"));
  assert_int_equal(th_secret_read(&W3, f->sub, 0, 16, &buf, &len, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_non_null(strstr(err.message, "is not a regular file"));
  assert_null(buf);
  write_plain(f->path, "", 0600); /* empty is read as empty */
  read_is(f->path, TH_SECRET_PRIVATE | TH_SECRET_SODIUM, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_dir_created_0700_and_file_written_0600, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_file_refused_with_fix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_dir_refused_or_tightened, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_a_directory_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_replaces_atomically, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlinks_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_large_and_odd_files, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
