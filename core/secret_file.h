/* core/secret_file.h — private files on disk, kept the way ssh keeps keys: a 0700 directory
 * that is ours, files of mode 0600 written atomically, and a secret file or directory that
 * group or others can reach refused with a message saying how to fix it.
 *
 * Used by the simulator PKI (its seed, certificates and CRLs) and by the Phala Cloud key files.
 * Writing: temp file <dir>/.<name>.<pid>.tmp opened O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600,
 * written, fsync'd, renamed over <dir>/<name>, then the directory is fsync'd (best effort). A
 * reader never sees a half-written file, and a symlink planted at the temp name is refused.
 *
 * Errors: -1 with th_err (core/error.h). Every message starts with the caller's "<who>: " and
 * names the path, never the content. The refusals of open permissions are TH_EINVAL and end
 * with the fix: "… fix with `chmod 600 <path>`" (a file), "… fix with `chmod 700 <dir>`" (a
 * directory). Their wording before the mode comes from th_secret_words, so each caller keeps
 * its own ("is readable by others (mode 640)", "is accessible by group or others (mode 0640)").
 *
 * Ownership: nothing here keeps memory. th_secret_read hands its buffer to the caller (see
 * TH_SECRET_SODIUM for how to free it) and wipes it itself when it fails. */
#ifndef TH_SECRET_FILE_H
#define TH_SECRET_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The caller's words in messages. Static strings; none may be NULL. */
typedef struct th_secret_words {
  const char *who;    /* message prefix without ": ", e.g. "simulator PKI" */
  const char *open;   /* says the mode is too open, e.g. "is readable by others" */
  int mode_digits;    /* octal digits of the mode shown: 3 ("mode 640") or 4 ("mode 0640") */
  const char *holds;  /* why a file must be private, e.g. "it is a secret" */
} th_secret_words;

/* Flags of th_secret_read. */
enum {
  TH_SECRET_PRIVATE = 1,  /* refuse a file group or others can reach (mode & 077) */
  TH_SECRET_NOFOLLOW = 2, /* refuse to follow a symlink at path (O_NOFOLLOW) */
  TH_SECRET_SODIUM = 4    /* buffer is sodium_malloc'd (free with sodium_free), else malloc'd:
                             the caller wipes it if it matters, then free()s it */
};

/* Creates dir with mode 0700 if it is missing, then checks it: a directory, owned by the
 * effective user. When group or others can reach it: with `tighten`, chmod 700 it (phala 1.0
 * left its directory 0755); without, refuse it (TH_EINVAL, "… fix with `chmod 700 <dir>`"). */
int th_secret_dir(const th_secret_words *w, const char *dir, int tighten, th_err *err);

/* Reads the regular file at path whole: at most `max` bytes, NUL-terminated (the NUL is not
 * counted in *len). Returns 1 when read, 0 when it does not exist (ENOENT), -1 with err: not a
 * regular file or too large (TH_EBADDATA), too open with TH_SECRET_PRIVATE (TH_EINVAL), a
 * symlink with TH_SECRET_NOFOLLOW (TH_EIO), unreadable or changing size while read (TH_EIO). */
int th_secret_read(const th_secret_words *w, const char *path, unsigned flags, size_t max,
                   uint8_t **out, size_t *len, th_err *err);

/* Writes len bytes to <dir>/<name> atomically with mode 0600 (see above). dir must exist
 * (th_secret_dir); name is a plain file name. */
int th_secret_write(const th_secret_words *w, const char *dir, const char *name, const void *data,
                    size_t len, th_err *err);

#endif
