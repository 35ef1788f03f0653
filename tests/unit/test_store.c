/* tests/unit/test_store.c — core/store: records put, read, deleted and searched (newest first,
 * by room, limited); survival across close and reopen; tamper detection (a flipped ciphertext
 * byte, a value moved to another key, agent or room, another sealing key or store name), each
 * failing with TH_EVERIFY naming the record; the 0700 directory and 0600 files, and refusal of
 * an open file with the fix; 1,000 records; and a writer SIGKILLed mid-loop losing nothing it
 * reported committed. The tampering is done with the SQLite API directly, as an attacker with
 * the file would. Every test works in its own mkdtemp directory, removed by the teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmpdir.h"

#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static const uint8_t KEY_A[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t KEY_B[32] = {99};

static const char TAMPERED[] = "store mem: record '%s' does not authenticate (tampered, or sealed "
                               "under another TEE identity)";

typedef struct fixture {
  char dir[64];   /* the test's directory */
  char sub[96];   /* <dir>/store, created by the store */
  char path[128]; /* <dir>/store/mem.db */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || sodium_init() < 0) return -1;
  if (tmpdir_make(f->dir, sizeof f->dir, "test_store") != 0) return -1;
  snprintf(f->sub, sizeof f->sub, "%s/store", f->dir);
  snprintf(f->path, sizeof f->path, "%s/mem.db", f->sub);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  int rc = tmpdir_remove(f->dir);
  free(f);
  return rc;
}

static th_store *open_as(const fixture *f, const char *name, const char *agent, const uint8_t *key) {
  th_err err = {0};
  th_store *st = th_store_open(f->path, name, agent, key, &err);
  if (!st) fail_msg("open: %s", err.message);
  return st;
}

static void put(th_store *st, const char *key, const char *room, const char *value) {
  th_err err = {0};
  if (th_store_put(st, key, room, value, strlen(value), &err) != 0) fail_msg("put: %s", err.message);
}

/* Asserts that key reads back as want. */
static void read_back(th_store *st, const char *key, const char *want) {
  th_err err = {0};
  uint8_t *v = NULL;
  size_t n = 0;
  int rc = th_store_get(st, key, &v, &n, &err);
  if (rc != 1) fail_msg("get %s: rc %d: %s", key, rc, err.message);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
  assert_int_equal(v[n], 0);
  sodium_free(v);
}

/* Asserts that reading key fails with TH_EVERIFY and the message naming it. */
static void read_tampered(th_store *st, const char *key) {
  th_err err = {0};
  uint8_t *v = (uint8_t *)"x";
  size_t n = 7;
  assert_int_equal(th_store_get(st, key, &v, &n, &err), -1);
  assert_null(v);
  assert_int_equal(n, 0);
  assert_int_equal(err.code, TH_EVERIFY);
  char want[256];
  snprintf(want, sizeof want, TAMPERED, key);
  assert_string_equal(err.message, want);
}

/* Runs SQL on the file directly, as someone holding the file would. */
static void tamper(const fixture *f, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_close(db);
}

/* Flips one bit of the stored value of key at index at (negative: from the end). */
static void flip_byte(const fixture *f, const char *key, int at) {
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM records WHERE key = ?1", -1, &q, NULL), SQLITE_OK);
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int n = sqlite3_column_bytes(q, 0);
  uint8_t buf[256];
  assert_true(n > 0 && n <= (int)sizeof buf);
  memcpy(buf, sqlite3_column_blob(q, 0), (size_t)n);
  sqlite3_finalize(q);
  buf[at < 0 ? n + at : at] ^= 0x01;
  assert_int_equal(sqlite3_prepare_v2(db, "UPDATE records SET value = ?1 WHERE key = ?2", -1, &q, NULL), SQLITE_OK);
  sqlite3_bind_blob(q, 1, buf, n, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(q), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

static mode_t mode_of(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

static void put_get_delete(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "agent-1", KEY_A);
  assert_string_equal(th_store_name(st), "mem");
  assert_string_equal(th_store_agent(st), "agent-1");
  put(st, "greeting", "room-1", "hello");
  put(st, "empty", NULL, "");
  read_back(st, "greeting", "hello");
  read_back(st, "empty", "");
  put(st, "greeting", NULL, "hello again"); /* replaces */
  read_back(st, "greeting", "hello again");
  th_err err = {0};
  uint8_t *v = NULL;
  size_t n = 0;
  assert_int_equal(th_store_get(st, "missing", &v, &n, &err), 0);
  assert_null(v);
  assert_int_equal(th_store_delete(st, "greeting", &err), 1);
  assert_int_equal(th_store_delete(st, "greeting", &err), 0);
  assert_int_equal(th_store_get(st, "greeting", &v, &n, &err), 0);
  th_store_close(st);
}

static void bad_arguments_are_refused(void **state) {
  fixture *f = *state;
  th_err err = {0};
  assert_null(th_store_open(f->path, "mem", "", KEY_A, &err));
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "store mem: the agent id must be 1 to 1024 bytes");
  th_store *st = open_as(f, "mem", "a", KEY_A);
  assert_int_equal(th_store_put(st, "", NULL, "v", 1, &err), -1);
  assert_string_equal(err.message, "store mem: a record key must be 1 to 1024 bytes");
  assert_int_equal(th_store_put(st, "k", NULL, "v", TH_STORE_VALUE_MAX + 1, &err), -1);
  assert_int_equal(err.code, TH_ETOOBIG);
  assert_string_equal(err.message, "store mem: record 'k': value of 16777217 bytes is over 16777216");
  th_store_close(st);
}

static void search_is_newest_first_by_room_and_limited(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  static const char *const keys[] = {"k1", "k2", "k3", "k4", "k5"};
  static const char *const rooms[] = {"odd", "even", "odd", "even", NULL};
  for (int i = 0; i < 5; i++) put(st, keys[i], rooms[i], keys[i]);
  put(st, "k2", "even", "k2 again"); /* rewritten: now the newest */
  th_err err = {0};
  th_store_list l;
  assert_int_equal(th_store_search(st, NULL, 0, &l, &err), 0);
  static const char *const order[] = {"k2", "k5", "k4", "k3", "k1"};
  assert_int_equal(l.count, 5);
  for (int i = 0; i < 5; i++) assert_string_equal(l.items[i].key, order[i]);
  assert_string_equal((const char *)l.items[0].value, "k2 again");
  assert_int_equal(l.items[0].len, 8);
  assert_null(l.items[1].room);
  assert_string_equal(l.items[2].room, "even");
  for (int i = 1; i < 5; i++) assert_true(l.items[i - 1].created >= l.items[i].created);
  assert_true(l.items[0].created > 1700000000000);
  th_store_list_free(&l);
  assert_int_equal(th_store_search(st, NULL, 2, &l, &err), 0);
  assert_int_equal(l.count, 2);
  assert_string_equal(l.items[1].key, "k5");
  th_store_list_free(&l);
  assert_int_equal(th_store_search(st, "odd", 10, &l, &err), 0);
  assert_int_equal(l.count, 2);
  assert_string_equal(l.items[0].key, "k3");
  assert_string_equal((const char *)l.items[1].value, "k1");
  th_store_list_free(&l);
  assert_int_equal(th_store_search(st, "nobody", 10, &l, &err), 0);
  assert_int_equal(l.count, 0);
  th_store_list_free(&l);
  th_store_close(st);
}

static void records_survive_close_and_reopen(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  put(st, "kept", "r", "across restarts");
  th_store_close(st);
  st = open_as(f, "mem", "a", KEY_A);
  read_back(st, "kept", "across restarts");
  th_store_close(st);
}

static void a_flipped_ciphertext_byte_fails_naming_the_record(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  put(st, "diary", NULL, "dear diary");
  put(st, "other", NULL, "fine");
  flip_byte(f, "diary", -1); /* the last byte of the tag */
  read_tampered(st, "diary");
  read_back(st, "other", "fine");
  th_err err = {0};
  th_store_list l;
  assert_int_equal(th_store_search(st, NULL, 0, &l, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_null(l.items);
  put(st, "diary", NULL, "dear diary");
  flip_byte(f, "diary", 24); /* the first byte of the ciphertext, after the nonce */
  read_tampered(st, "diary");
  th_store_close(st);
}

static void a_value_moved_to_another_key_room_or_time_fails(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  put(st, "k1", "r", "one");
  put(st, "k2", "r", "two");
  put(st, "k3", "r", "three");
  tamper(f, "UPDATE records SET value = (SELECT value FROM records WHERE key = 'k1') WHERE key = 'k2'");
  read_back(st, "k1", "one");
  read_tampered(st, "k2");
  tamper(f, "UPDATE records SET room = 'elsewhere' WHERE key = 'k1'");
  read_tampered(st, "k1");
  tamper(f, "UPDATE records SET created = created + 1 WHERE key = 'k3'");
  read_tampered(st, "k3");
  th_store_close(st);
}

static void another_sealing_key_or_store_name_fails(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  put(st, "k", NULL, "sealed");
  th_store_close(st);
  st = open_as(f, "mem", "a", KEY_B); /* another TEE identity */
  read_tampered(st, "k");
  th_store_close(st);
  st = open_as(f, "other", "a", KEY_A); /* the file renamed to another store */
  th_err err = {0};
  uint8_t *v = NULL;
  size_t n = 0;
  assert_int_equal(th_store_get(st, "k", &v, &n, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_non_null(strstr(err.message, "store other: record 'k' does not authenticate"));
  th_store_close(st);
}

static void agents_are_isolated_and_a_moved_agent_id_fails(void **state) {
  fixture *f = *state;
  th_store *alice = open_as(f, "mem", "alice", KEY_A);
  th_store *bob = open_as(f, "mem", "bob", KEY_A);
  put(alice, "k", NULL, "alice's");
  th_err err = {0};
  uint8_t *v = NULL;
  size_t n = 0;
  assert_int_equal(th_store_get(bob, "k", &v, &n, &err), 0);
  th_store_list l;
  assert_int_equal(th_store_search(bob, NULL, 0, &l, &err), 0);
  assert_int_equal(l.count, 0);
  th_store_list_free(&l);
  tamper(f, "UPDATE records SET agent_id = 'bob' WHERE key = 'k'");
  read_tampered(bob, "k");
  th_store_close(alice);
  th_store_close(bob);
}

static void files_are_private(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  put(st, "k", NULL, "v");
  assert_int_equal(mode_of(f->sub), 0700);
  assert_int_equal(mode_of(f->path), 0600);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_int_equal(mode_of(wal), 0600);
  th_store_close(st);
}

static void an_open_file_or_directory_is_refused_with_the_fix(void **state) {
  fixture *f = *state;
  th_store_close(open_as(f, "mem", "a", KEY_A));
  assert_int_equal(chmod(f->path, 0640), 0);
  th_err err = {0};
  assert_null(th_store_open(f->path, "mem", "a", KEY_A, &err));
  assert_int_equal(err.code, TH_EINVAL);
  char want[512];
  snprintf(want, sizeof want, "store mem: %s is accessible by group or others (mode 0640); it holds "
           "sealed records: fix with `chmod 600 %s`", f->path, f->path);
  assert_string_equal(err.message, want);
  assert_int_equal(chmod(f->path, 0600), 0);
  assert_int_equal(chmod(f->sub, 0750), 0);
  assert_null(th_store_open(f->path, "mem", "a", KEY_A, &err));
  assert_int_equal(err.code, TH_EINVAL);
  snprintf(want, sizeof want, "fix with `chmod 700 %s`", f->sub);
  assert_non_null(strstr(err.message, want));
  assert_int_equal(chmod(f->sub, 0700), 0);
}

static void a_file_that_is_not_a_database_is_refused(void **state) {
  fixture *f = *state;
  assert_int_equal(mkdir(f->sub, 0700), 0);
  FILE *fp = fopen(f->path, "w");
  assert_non_null(fp);
  for (int i = 0; i < 512; i++) fputs("not sqlite ", fp);
  fclose(fp);
  assert_int_equal(chmod(f->path, 0600), 0);
  th_err err = {0};
  assert_null(th_store_open(f->path, "mem", "a", KEY_A, &err));
  assert_int_equal(err.code, TH_EBADDATA);
  assert_non_null(strstr(err.message, "file is not a database"));
}

static void a_thousand_records(void **state) {
  fixture *f = *state;
  th_store *st = open_as(f, "mem", "a", KEY_A);
  char key[32], value[64];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(value, sizeof value, "value number %d", i);
    put(st, key, (i % 3) ? "chat" : NULL, value);
  }
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(value, sizeof value, "value number %d", i);
    read_back(st, key, value);
  }
  th_err err = {0};
  th_store_list l;
  assert_int_equal(th_store_search(st, NULL, 0, &l, &err), 0);
  assert_int_equal(l.count, 1000);
  assert_string_equal(l.items[0].key, "key-999");
  assert_string_equal(l.items[999].key, "key-0");
  th_store_list_free(&l);
  assert_int_equal(th_store_search(st, "chat", 0, &l, &err), 0);
  assert_int_equal(l.count, 666);
  th_store_list_free(&l);
  th_store_close(st);
}

/* The child: puts records in a loop and reports each committed index on the pipe. */
static void crash_writer(const fixture *f, int fd) {
  th_err err = {0};
  th_store *st = th_store_open(f->path, "mem", "a", KEY_A, &err);
  if (!st) _exit(2);
  char key[32], value[64];
  for (int i = 0;; i++) {
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "committed %d", i);
    if (th_store_put(st, key, "crash", value, strlen(value), &err) != 0) _exit(3);
    if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(4);
  }
}

static void a_killed_writer_loses_nothing_it_reported(void **state) {
  fixture *f = *state;
  th_store_close(open_as(f, "mem", "a", KEY_A)); /* the schema exists before the race */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    crash_writer(f, fds[1]);
  }
  close(fds[1]);
  int last = -1, i;
  while (last < 50 && read(fds[0], &i, sizeof i) == (ssize_t)sizeof i) last = i;
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  while (read(fds[0], &i, sizeof i) == (ssize_t)sizeof i) last = i; /* reported before the kill */
  close(fds[0]);
  assert_true(last >= 50);
  th_store *st = open_as(f, "mem", "a", KEY_A);
  char key[32], value[64];
  for (i = 0; i <= last; i++) {
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "committed %d", i);
    read_back(st, key, value);
  }
  th_err err = {0};
  th_store_list l;
  assert_int_equal(th_store_search(st, "crash", 0, &l, &err), 0); /* every record authenticates */
  assert_true(l.count >= (size_t)last + 1 && l.count <= (size_t)last + 2);
  th_store_list_free(&l);
  th_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(put_get_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_arguments_are_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(search_is_newest_first_by_room_and_limited, setup, teardown),
      cmocka_unit_test_setup_teardown(records_survive_close_and_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(a_flipped_ciphertext_byte_fails_naming_the_record, setup, teardown),
      cmocka_unit_test_setup_teardown(a_value_moved_to_another_key_room_or_time_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(another_sealing_key_or_store_name_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(agents_are_isolated_and_a_moved_agent_id_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(files_are_private, setup, teardown),
      cmocka_unit_test_setup_teardown(an_open_file_or_directory_is_refused_with_the_fix, setup, teardown),
      cmocka_unit_test_setup_teardown(a_file_that_is_not_a_database_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(a_thousand_records, setup, teardown),
      cmocka_unit_test_setup_teardown(a_killed_writer_loses_nothing_it_reported, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
