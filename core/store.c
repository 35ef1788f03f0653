/* core/store.c — the sealed store (see store.h): a SQLite file in WAL mode whose values are
 * sealed with XChaCha20-Poly1305 under the caller's sealing key. This file owns the file checks,
 * the schema, the prepared statements and the sealing; SQLite and libsodium do the real work. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "secret_file.h"

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SCHEMA_VERSION 1
#define AD_DOMAIN "teehost/store v1"
#define AD_MAX (sizeof AD_DOMAIN + 4 * (4 + TH_STORE_KEY_MAX) + 1 + 8)

struct th_store {
  sqlite3 *db;
  sqlite3_stmt *put, *get, *del, *all, *by_room;
  uint8_t *key; /* sodium_malloc'd, read-only */
  char *name, *agent;
};

static const char SCHEMA[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS records (agent_id TEXT NOT NULL, key TEXT NOT NULL, room TEXT,"
    " created INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (agent_id, key));"
    "CREATE INDEX IF NOT EXISTS records_by_time ON records (agent_id, created);"
    "CREATE INDEX IF NOT EXISTS records_by_room ON records (agent_id, room, created);"
    "PRAGMA user_version = 1;"
    "COMMIT;";

#define SELECT_ROWS "SELECT key, room, created, value FROM records WHERE agent_id = ?1 "
#define NEWEST_FIRST " ORDER BY created DESC, rowid DESC LIMIT "

static int sql_fail(const char *name, sqlite3 *db, const char *what, th_err *err) {
  int rc = sqlite3_errcode(db);
  int code = (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) ? TH_EBADDATA
             : rc == SQLITE_NOMEM                          ? TH_ENOMEM
                                                           : TH_EIO;
  return th_err_set(err, code, "store %s: %s: %s", name, what, sqlite3_errmsg(db));
}

static int check_text(const char *name, const char *what, const char *s, th_err *err) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > TH_STORE_KEY_MAX)
    return th_err_set(err, TH_EINVAL, "store %s: %s must be 1 to %d bytes", name ? name : "?",
                      what, TH_STORE_KEY_MAX);
  return 0;
}

/* ---- sealing ---- */

static size_t ad_put(uint8_t *p, const char *s) {
  size_t n = strlen(s);
  p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
  memcpy(p + 4, s, n);
  return 4 + n;
}

/* The associated data: domain, store name, agent id, record key, room (flag + text), created. */
static size_t make_ad(const th_store *st, const char *key, const char *room, int64_t created,
                      uint8_t ad[AD_MAX]) {
  size_t n = sizeof AD_DOMAIN;
  memcpy(ad, AD_DOMAIN, n);
  n += ad_put(ad + n, st->name);
  n += ad_put(ad + n, st->agent);
  n += ad_put(ad + n, key);
  ad[n++] = room != NULL;
  n += ad_put(ad + n, room ? room : "");
  for (int i = 7; i >= 0; i--) ad[n++] = (uint8_t)((uint64_t)created >> (8 * i));
  return n;
}

/* Opens blob (nonce ‖ ciphertext ‖ tag) into out (room for blob_len - NONCE_LEN - TAG_LEN). */
static int unseal(const th_store *st, const char *key, const char *room, int64_t created,
                  const uint8_t *blob, size_t blob_len, uint8_t *out, th_err *err) {
  uint8_t ad[AD_MAX];
  size_t ad_len = make_ad(st, key, room, created, ad);
  unsigned long long n = 0;
  if (blob_len < NONCE_LEN + TAG_LEN ||
      crypto_aead_xchacha20poly1305_ietf_decrypt(out, &n, NULL, blob + NONCE_LEN,
                                                 blob_len - NONCE_LEN, ad, ad_len, blob,
                                                 st->key) != 0)
    return th_err_set(err, TH_EVERIFY,
                      "store %s: record '%s' does not authenticate (tampered, or sealed under "
                      "another TEE identity)", st->name, key);
  return 0;
}

/* ---- opening ---- */

/* The parent directory (0700, ours) and the file itself (created 0600, refused when open). */
static int check_files(const char *path, const char *name, th_err *err) {
  char who[64 + TH_STORE_KEY_MAX];
  snprintf(who, sizeof who, "store %s", name);
  const th_secret_words w = {who, "is accessible by group or others", 4, "it holds sealed records"};
  const char *slash = strrchr(path, '/');
  if (slash && slash != path) {
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return th_err_set(err, TH_ENOMEM, "store %s: out of memory", name);
    int rc = th_secret_dir(&w, dir, 0, err);
    free(dir);
    if (rc != 0) return -1;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return th_err_set(err, TH_EIO, "store %s: cannot open %s: %s", name, path, strerror(errno));
  struct stat sb;
  int rc = fstat(fd, &sb);
  close(fd);
  if (rc != 0) return th_err_set(err, TH_EIO, "store %s: cannot read %s: %s", name, path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return th_err_set(err, TH_EINVAL, "store %s: %s is not a regular file", name, path);
  if (sb.st_uid != geteuid())
    return th_err_set(err, TH_EINVAL, "store %s: %s belongs to another user (uid %u)", name, path,
                      (unsigned)sb.st_uid);
  if (sb.st_mode & 077)
    return th_err_set(err, TH_EINVAL,
                      "store %s: %s is accessible by group or others (mode %04o); it holds sealed "
                      "records: fix with `chmod 600 %s`", name, path, (unsigned)(sb.st_mode & 07777),
                      path);
  return 0;
}

/* Runs a one-row statement and copies its first column's text (or "") into buf. */
static int query_text(th_store *st, const char *sql, char *buf, size_t size, th_err *err) {
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
    return sql_fail(st->name, st->db, sql, err);
  int rc = sqlite3_step(q);
  const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
  snprintf(buf, size, "%s", t ? (const char *)t : "");
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    sql_fail(st->name, st->db, sql, err);
    sqlite3_finalize(q);
    return -1;
  }
  sqlite3_finalize(q);
  return 0;
}

static int prepare(th_store *st, const char *sql, sqlite3_stmt **out, th_err *err) {
  if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
    return sql_fail(st->name, st->db, "prepare", err);
  return 0;
}

static int setup_db(th_store *st, const char *path, th_err *err) {
  char buf[32];
  if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK)
    return st->db ? sql_fail(st->name, st->db, path, err)
                  : th_err_set(err, TH_ENOMEM, "store %s: out of memory", st->name);
  sqlite3_busy_timeout(st->db, 5000);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
  if (query_text(st, "PRAGMA journal_mode = WAL", buf, sizeof buf, err) != 0) return -1;
  if (strcmp(buf, "wal") != 0)
    return th_err_set(err, TH_EIO, "store %s: %s: cannot use WAL mode (journal mode %s)", st->name,
                      path, buf);
  if (query_text(st, "PRAGMA user_version", buf, sizeof buf, err) != 0) return -1;
  if (atoi(buf) > SCHEMA_VERSION)
    return th_err_set(err, TH_EBADDATA, "store %s: %s has schema version %s (this teehost knows %d)",
                      st->name, path, buf, SCHEMA_VERSION);
  /* The schema is written only into a new file: re-running it on every open would be a write
   * transaction (and its fsyncs) each time an agent starts. */
  if (sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
      (atoi(buf) < SCHEMA_VERSION && sqlite3_exec(st->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)) {
    sql_fail(st->name, st->db, "schema", err);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
  }
  return prepare(st, "INSERT OR REPLACE INTO records (agent_id, key, room, created, value) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)", &st->put, err) ||
         prepare(st, "SELECT room, created, value FROM records WHERE agent_id = ?1 AND key = ?2",
                 &st->get, err) ||
         prepare(st, "DELETE FROM records WHERE agent_id = ?1 AND key = ?2", &st->del, err) ||
         prepare(st, SELECT_ROWS NEWEST_FIRST "?2", &st->all, err) ||
         prepare(st, SELECT_ROWS "AND room = ?2" NEWEST_FIRST "?3", &st->by_room, err)
             ? -1 : 0;
}

th_store *th_store_open(const char *path, const char *name, const char *agent_id,
                        const uint8_t key[32], th_err *err) {
  if (check_text(NULL, "the store name", name, err) || check_text(name, "the agent id", agent_id, err))
    return NULL;
  if (!path || !*path || !key) {
    th_err_set(err, TH_EINVAL, "store %s: a path and a sealing key are needed", name);
    return NULL;
  }
  if (sodium_init() < 0) {
    th_err_set(err, TH_EIO, "store %s: libsodium failed to initialize", name);
    return NULL;
  }
  if (check_files(path, name, err) != 0) return NULL;
  th_store *st = calloc(1, sizeof *st);
  if (!st || !(st->name = strdup(name)) || !(st->agent = strdup(agent_id)) ||
      !(st->key = sodium_malloc(32))) {
    th_err_set(err, TH_ENOMEM, "store %s: out of memory", name);
    th_store_close(st);
    return NULL;
  }
  memcpy(st->key, key, 32);
  sodium_mprotect_readonly(st->key);
  if (setup_db(st, path, err) != 0) {
    th_store_close(st);
    return NULL;
  }
  return st;
}

void th_store_close(th_store *st) {
  if (!st) return;
  sqlite3_stmt *stmts[] = {st->put, st->get, st->del, st->all, st->by_room};
  for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) sqlite3_finalize(stmts[i]);
  sqlite3_close(st->db);
  sodium_free(st->key); /* wipes */
  free(st->name);
  free(st->agent);
  free(st);
}

const char *th_store_name(const th_store *st) { return st->name; }
const char *th_store_agent(const th_store *st) { return st->agent; }

/* ---- records ---- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Steps a write statement to completion and resets it. */
static int run_write(th_store *st, sqlite3_stmt *q, const char *what, th_err *err) {
  int rc = sqlite3_step(q);
  if (rc != SQLITE_DONE) sql_fail(st->name, st->db, what, err);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

int th_store_put(th_store *st, const char *key, const char *room, const void *value, size_t len,
                 th_err *err) {
  if (check_text(st->name, "a record key", key, err) ||
      (room && check_text(st->name, "a room", room, err)))
    return -1;
  if (len > TH_STORE_VALUE_MAX)
    return th_err_set(err, TH_ETOOBIG, "store %s: record '%s': value of %zu bytes is over %u",
                      st->name, key, len, TH_STORE_VALUE_MAX);
  if (len && !value) return th_err_set(err, TH_EINVAL, "store %s: record '%s': no value", st->name, key);
  size_t blob_len = NONCE_LEN + len + TAG_LEN;
  uint8_t *blob = malloc(blob_len);
  if (!blob) return th_err_set(err, TH_ENOMEM, "store %s: out of memory", st->name);
  int64_t created = now_ms();
  uint8_t ad[AD_MAX];
  size_t ad_len = make_ad(st, key, room, created, ad);
  randombytes_buf(blob, NONCE_LEN);
  crypto_aead_xchacha20poly1305_ietf_encrypt(blob + NONCE_LEN, NULL, value, len, ad, ad_len, NULL,
                                             blob, st->key);
  sqlite3_bind_text(st->put, 1, st->agent, -1, SQLITE_STATIC);
  sqlite3_bind_text(st->put, 2, key, -1, SQLITE_STATIC);
  if (room) sqlite3_bind_text(st->put, 3, room, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st->put, 4, created);
  sqlite3_bind_blob(st->put, 5, blob, (int)blob_len, SQLITE_STATIC);
  int rc = run_write(st, st->put, "put", err);
  free(blob); /* ciphertext: nothing to wipe */
  return rc;
}

int th_store_get(th_store *st, const char *key, uint8_t **value, size_t *len, th_err *err) {
  *value = NULL;
  *len = 0;
  if (check_text(st->name, "a record key", key, err)) return -1;
  sqlite3_bind_text(st->get, 1, st->agent, -1, SQLITE_STATIC);
  sqlite3_bind_text(st->get, 2, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st->get), result = 0;
  if (rc == SQLITE_ROW) {
    const char *room = (const char *)sqlite3_column_text(st->get, 0);
    int64_t created = sqlite3_column_int64(st->get, 1);
    const uint8_t *blob = sqlite3_column_blob(st->get, 2);
    size_t blob_len = (size_t)sqlite3_column_bytes(st->get, 2);
    size_t n = blob_len >= NONCE_LEN + TAG_LEN ? blob_len - NONCE_LEN - TAG_LEN : 0;
    uint8_t *out = sodium_malloc(n + 1);
    if (!out) {
      result = th_err_set(err, TH_ENOMEM, "store %s: out of secure memory", st->name);
    } else if (unseal(st, key, room, created, blob, blob_len, out, err) != 0) {
      sodium_free(out);
      result = -1;
    } else {
      out[n] = 0;
      *value = out;
      *len = n;
      result = 1;
    }
  } else if (rc != SQLITE_DONE) {
    result = sql_fail(st->name, st->db, "get", err);
  }
  sqlite3_reset(st->get);
  sqlite3_clear_bindings(st->get);
  return result;
}

int th_store_delete(th_store *st, const char *key, th_err *err) {
  if (check_text(st->name, "a record key", key, err)) return -1;
  sqlite3_bind_text(st->del, 1, st->agent, -1, SQLITE_STATIC);
  sqlite3_bind_text(st->del, 2, key, -1, SQLITE_STATIC);
  if (run_write(st, st->del, "delete", err) != 0) return -1;
  return sqlite3_changes(st->db) > 0;
}

/* ---- search ---- */

/* A row read by a search, before its value is opened: offsets into the list's names. */
typedef struct row {
  size_t key_off, room_off; /* room_off SIZE_MAX: no room */
  int64_t created;
  uint8_t *blob;
  size_t blob_len;
} row;

typedef struct collected {
  row *rows;
  size_t count, cap;
  char *names;
  size_t names_len, names_cap;
} collected;

static int append_name(collected *c, const char *s, size_t *off) {
  size_t n = strlen(s) + 1;
  if (c->names_len + n > c->names_cap) {
    size_t cap = (c->names_cap ? c->names_cap * 2 : 256) + n;
    char *p = realloc(c->names, cap);
    if (!p) return -1;
    c->names = p;
    c->names_cap = cap;
  }
  memcpy(c->names + c->names_len, s, n);
  *off = c->names_len;
  c->names_len += n;
  return 0;
}

/* Copies the current row of q into c. */
static int collect_row(collected *c, sqlite3_stmt *q) {
  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    row *p = realloc(c->rows, cap * sizeof *p);
    if (!p) return -1;
    c->rows = p;
    c->cap = cap;
  }
  row *r = &c->rows[c->count];
  const char *key = (const char *)sqlite3_column_text(q, 0); /* NULL only when out of memory */
  const char *room = (const char *)sqlite3_column_text(q, 1);
  r->room_off = SIZE_MAX;
  r->created = sqlite3_column_int64(q, 2);
  const void *blob = sqlite3_column_blob(q, 3);
  r->blob_len = (size_t)sqlite3_column_bytes(q, 3);
  if (!key || append_name(c, key, &r->key_off) != 0 ||
      (room && append_name(c, room, &r->room_off) != 0) || !(r->blob = malloc(r->blob_len + 1)))
    return -1;
  if (r->blob_len) memcpy(r->blob, blob, r->blob_len);
  c->count++;
  return 0;
}

static void collected_free(collected *c) {
  for (size_t i = 0; i < c->count; i++) free(c->rows[i].blob);
  free(c->rows);
  free(c->names);
}

/* Opens every collected value into one sodium_malloc block and fills out. */
static int open_all(th_store *st, collected *c, th_store_list *out, th_err *err) {
  size_t total = 1;
  for (size_t i = 0; i < c->count; i++) {
    size_t b = c->rows[i].blob_len;
    total += (b >= NONCE_LEN + TAG_LEN ? b - NONCE_LEN - TAG_LEN : 0) + 1;
  }
  out->items = calloc(c->count ? c->count : 1, sizeof *out->items);
  out->plain = sodium_malloc(total);
  out->plain_size = total;
  if (!out->items || !out->plain)
    return th_err_set(err, TH_ENOMEM, "store %s: out of memory", st->name);
  out->names = c->names; /* taken */
  c->names = NULL;
  uint8_t *p = out->plain;
  for (size_t i = 0; i < c->count; i++) {
    row *r = &c->rows[i];
    th_store_record *it = &out->items[i];
    it->key = out->names + r->key_off;
    it->room = r->room_off == SIZE_MAX ? NULL : out->names + r->room_off;
    it->created = r->created;
    if (unseal(st, it->key, it->room, r->created, r->blob, r->blob_len, p, err) != 0) return -1;
    it->value = p;
    it->len = r->blob_len - NONCE_LEN - TAG_LEN;
    p[it->len] = 0;
    p += it->len + 1;
    out->count = i + 1;
  }
  return 0;
}

int th_store_search(th_store *st, const char *room, int64_t limit, th_store_list *out, th_err *err) {
  memset(out, 0, sizeof *out);
  if (room && check_text(st->name, "a room", room, err)) return -1;
  sqlite3_stmt *q = room ? st->by_room : st->all;
  sqlite3_bind_text(q, 1, st->agent, -1, SQLITE_STATIC);
  if (room) sqlite3_bind_text(q, 2, room, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, room ? 3 : 2, limit > 0 ? limit : -1);
  collected c = {0};
  int rc, failed = 0;
  while (!failed && (rc = sqlite3_step(q)) == SQLITE_ROW)
    if (collect_row(&c, q) != 0) failed = th_err_set(err, TH_ENOMEM, "store %s: out of memory", st->name);
  if (!failed && rc != SQLITE_DONE) failed = sql_fail(st->name, st->db, "search", err);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (!failed && open_all(st, &c, out, err) != 0) failed = -1;
  collected_free(&c);
  if (failed) th_store_list_free(out);
  return failed ? -1 : 0;
}

void th_store_list_free(th_store_list *list) {
  if (!list) return;
  if (list->plain) sodium_free(list->plain); /* wipes every value */
  free(list->items);
  free(list->names);
  memset(list, 0, sizeof *list);
}
