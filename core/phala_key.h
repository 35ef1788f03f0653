/* core/phala_key.h — where the Phala Cloud API key comes from, and where it is kept
 * (shared/specs/phala-cloud.md §2.2–2.4, §10 item 7).
 *
 * Order of lookup: PHALA_CLOUD_API_KEY (its value is passed in: core reads no environment),
 * then <dir>/api-key, then the current profile's token in <dir>/credentials.json (phala 1.1.x).
 * <dir> is $PHALA_CLOUD_DIR or ~/.phala-cloud (th_phala_key_dir).
 *
 * <dir>/api-key may hold the key as plain text (what teehost writes, and what phala 1.1.x
 * migrates) or in phala 1.0.35's form hex(iv):hex(AES-256-CBC(key)) keyed by
 * SHA-256("hostname|platform|arch|cpu0 model|username"). That form is obfuscation, not
 * protection (anyone who can read the file can recompute the key) and breaks when the hostname
 * changes, so teehost reads it but writes plain text, protected the way ssh protects keys: a
 * 0600 file in a 0700 directory, written atomically (core/secret_file). A key file that group
 * or others may read or write is refused with a message saying how to fix it.
 *
 * Secrets: a loaded key lives in sodium_malloc'd memory and is wiped by th_phala_key_clear;
 * file buffers and decrypted bytes are wiped before they are freed. No message here contains
 * the key or any part of it. */
#ifndef TH_PHALA_KEY_H
#define TH_PHALA_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum th_phala_key_source {
  TH_PHALA_KEY_NONE = 0,
  TH_PHALA_KEY_ENV,         /* PHALA_CLOUD_API_KEY */
  TH_PHALA_KEY_FILE,        /* <dir>/api-key, plain text */
  TH_PHALA_KEY_LEGACY_FILE, /* <dir>/api-key in phala 1.0.35's machine-bound form */
  TH_PHALA_KEY_CREDENTIALS  /* <dir>/credentials.json, current profile */
};

typedef struct th_phala_key {
  char *key;             /* NUL-terminated, sodium_malloc'd; NULL when none was found */
  int source;            /* enum th_phala_key_source */
  char path[512];        /* the file it came from; "" for the environment */
  char profile[128];     /* credentials.json: the profile's name */
  char api_prefix[512];  /* credentials.json: the profile's api_prefix, or "" */
} th_phala_key;

/* The machine parts phala 1.0.35 keys its file with (Node's os.hostname(), os.platform(),
 * os.arch(), os.cpus()[0].model or "", os.userInfo().username). */
typedef struct th_phala_machine {
  char hostname[256];
  char platform[32];
  char arch[32];
  char cpu_model[256];
  char username[256];
} th_phala_machine;

/* Writes override (when non-empty) or "<home>/.phala-cloud" into buf. */
int th_phala_key_dir(char *buf, size_t size, const char *home, const char *override, th_err *err);

/* Finds the key (order above) and fills *out. Returns 1 when found, 0 when there is none
 * (out->key NULL), -1 with err when a file exists but cannot be used: group/world accessible
 * (TH_EINVAL, "… fix with `chmod 600 <path>`"), unreadable, malformed, or a 1.0.35 file this
 * machine cannot decrypt. machine: the parts to decrypt a 1.0.35 file with; NULL = this
 * machine's (th_phala_machine_get). dir may be NULL (then only env_key is looked at). */
int th_phala_key_load(th_phala_key *out, const char *env_key, const char *dir,
                      const th_phala_machine *machine, th_err *err);

/* Wipes and frees the key; *k is zeroed. */
void th_phala_key_clear(th_phala_key *k);

/* Writes key as plain text to <dir>/api-key (mode 0600, via a temp file, fsync, rename),
 * creating dir with mode 0700 or tightening it to 0700. Check the key first (GET auth/me):
 * saving is the last step of a login. TH_EINVAL for an empty key or one with characters an API
 * key cannot have (anything but printable ASCII). */
int th_phala_key_save(const char *dir, const char *key, th_err *err);

/* Removes <dir>/api-key. Returns 1 when it existed, 0 when not, -1 with err. */
int th_phala_key_delete(const char *dir, th_err *err);

/* This machine's parts, computed as Node computes them (both use libuv). */
int th_phala_machine_get(th_phala_machine *m, th_err *err);

/* The 1.0.35 file content for key: hex(iv) ":" hex(ciphertext), malloc'd into *out. */
int th_phala_legacy_encrypt(const th_phala_machine *m, const char *key, const uint8_t iv[16],
                            char **out, th_err *err);

/* Decrypts 1.0.35 file content; *key_out is sodium_malloc'd (free with sodium_free). */
int th_phala_legacy_decrypt(const th_phala_machine *m, const char *content, size_t len,
                            char **key_out, th_err *err);

#endif
