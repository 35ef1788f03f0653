/* core/sim_pki_files.c — the simulator PKI's directory and files (DESIGN.md "Files on disk"),
 * on core/secret_file: the directory is 0700 and ours, every file is written atomically with
 * mode 0600, and a secret file (the seed) or directory open to group/others is refused with a
 * message saying how to fix it. */
#include <stdio.h>

#include "secret_file.h"
#include "sim_pki_internal.h"

static const th_secret_words WORDS = {"simulator PKI", "is readable by others", 3,
                                      "it is a secret"};

int th_sim_check_dir(const char *dir, th_err *err) { return th_secret_dir(&WORDS, dir, 0, err); }

int th_sim_read_file(const char *dir, const char *name, int secret, size_t max, uint8_t **out,
                     size_t *len, th_err *err) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= sizeof path)
    return th_err_set(err, TH_EINVAL, "simulator PKI: path too long: %s", dir);
  return th_secret_read(&WORDS, path, TH_SECRET_NOFOLLOW | (secret ? TH_SECRET_PRIVATE : 0), max,
                        out, len, err);
}

int th_sim_write_file(const char *dir, const char *name, const uint8_t *data, size_t len,
                      th_err *err) {
  return th_secret_write(&WORDS, dir, name, data, len, err);
}
