/* core/store.h — the sealed store: an agent's records in a SQLite file, each value sealed so that
 * only the same TEE identity, store, agent and record key can open it (DESIGN.md "The agent",
 * "Files on disk").
 *
 * One database file per store at a path the caller gives (the Lua layer: $TEEHOST_HOME/store/
 * <name>.db). Its directory is created 0700 (or refused when group or others can reach it), the
 * file is created 0600 before SQLite opens it, and an existing file that group or others can
 * reach is refused with "… fix with `chmod 600 <path>`" (TH_EINVAL). SQLite gives its -wal and
 * -shm files the database file's mode.
 *
 * Durability: WAL journal with synchronous=FULL. In WAL mode NORMAL already survives a killed
 * process, but after a power loss or kernel crash it may lose the last transactions that were
 * reported committed; FULL fsyncs the WAL at every commit, so a crash of any kind mid-write loses
 * at most the write in progress. Agent memories are written at conversation speed, so one fsync
 * per put costs nothing that matters.
 *
 * Records: (agent_id, key) is unique; room (nullable) groups records for search; created is unix
 * milliseconds of the last put. The value is sealed with XChaCha20-Poly1305 (libsodium
 * crypto_aead_xchacha20poly1305_ietf) under the caller's 32-byte sealing key, a fresh random
 * 24-byte nonce per put stored before the ciphertext. Its associated data binds the store name,
 * the agent id, the record key, the room and the created time (each length-prefixed), so a value
 * copied to another key, agent, store or room, a changed timestamp, a flipped byte, or a file
 * opened under another sealing key (another TEE identity) fails with TH_EVERIFY "store <name>:
 * record '<key>' does not authenticate (tampered, or sealed under another TEE identity)" — never
 * garbage. Keys, rooms and times are stored in the clear (they index the table).
 *
 * All calls are synchronous (a local file; one put is one small transaction). Several handles,
 * in one process or several, may open the same file; SQLite serializes writers (busy timeout 5 s).
 *
 * Ownership: th_store owns its SQLite connection, its prepared statements and a sodium_malloc
 * copy of the sealing key (the caller wipes its own). Plaintexts handed out live in sodium_malloc
 * memory the caller frees (sodium_free wipes); plaintexts decrypted for a search are wiped with
 * the list. Nothing is global. Errors: -1 (or NULL) with th_err; messages start "store <name>: ". */
#ifndef TH_STORE_H
#define TH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct th_store th_store;

#define TH_STORE_KEY_MAX 1024               /* bytes of a record key, room or agent id */
#define TH_STORE_VALUE_MAX (16u << 20)      /* bytes of one value */

/* Opens (creating if missing) the store file at path for one agent. name is the store's name
 * (in messages and sealed into every record); agent_id selects the agent's records; key is the
 * 32-byte sealing key, copied. All strings non-empty, at most TH_STORE_KEY_MAX bytes. Returns
 * the store, or NULL with err: TH_EINVAL (bad argument, directory or file reachable by group or
 * others, not a regular file), TH_EBADDATA (not a SQLite database, or a newer schema), TH_EIO. */
th_store *th_store_open(const char *path, const char *name, const char *agent_id,
                        const uint8_t key[32], th_err *err);

/* Seals value (len bytes, may be 0) and writes it under key, replacing any record of that key;
 * room may be NULL. The record's created time becomes now. 0, or -1 with err (TH_EINVAL bad key
 * or room, TH_ETOOBIG value over TH_STORE_VALUE_MAX, TH_EIO). */
int th_store_put(th_store *st, const char *key, const char *room, const void *value, size_t len,
                 th_err *err);

/* Reads and opens the record of key. Returns 1 with *value (sodium_malloc'd, len + 1 bytes, NUL
 * after the value; free with sodium_free) and *len; 0 when there is no such record (*value NULL);
 * -1 with err (TH_EVERIFY when it does not authenticate, TH_EIO). */
int th_store_get(th_store *st, const char *key, uint8_t **value, size_t *len, th_err *err);

/* Deletes the record of key: 1 deleted, 0 there was none, -1 with err. */
int th_store_delete(th_store *st, const char *key, th_err *err);

/* One record of a search. key and room are borrowed from the list; value points into the list's
 * sodium_malloc block (NUL after it). */
typedef struct th_store_record {
  const char *key;
  const char *room;  /* NULL when the record has none */
  int64_t created;   /* unix milliseconds */
  const uint8_t *value;
  size_t len;
} th_store_record;

/* A search result; free with th_store_list_free (which wipes the values). */
typedef struct th_store_list {
  th_store_record *items;
  size_t count;
  char *names;     /* malloc'd: every key and room, NUL-terminated, back to back */
  uint8_t *plain;  /* sodium_malloc'd: every value, NUL after each */
  size_t plain_size;
} th_store_list;

/* The agent's records, newest first (created, then order of writing), only those of room when
 * room is not NULL, at most limit of them (limit <= 0: all). Every value is opened: one record
 * that does not authenticate fails the whole search with TH_EVERIFY naming it. 0 with *out
 * filled (count may be 0), or -1 with err and *out empty. */
int th_store_search(th_store *st, const char *room, int64_t limit, th_store_list *out, th_err *err);

/* Wipes and frees a list's contents and zeroes it. NULL or an empty list is ok. */
void th_store_list_free(th_store_list *list);

/* The store's name and agent id (borrowed, valid until close). */
const char *th_store_name(const th_store *st);
const char *th_store_agent(const th_store *st);

/* Finalizes the statements, closes the database (checkpointing the WAL when it is the last
 * connection) and wipes the sealing key. NULL is ok. */
void th_store_close(th_store *st);

#endif
