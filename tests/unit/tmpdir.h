/* tests/unit/tmpdir.h — a private scratch directory per test: made with mkdtemp under /tmp and
 * removed with everything in it (nftw, depth first, links not followed), so no test shells out
 * to rm. Header-only and static inline, like vectors.h: each test is one executable. */
#ifndef TH_TEST_TMPDIR_H
#define TH_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/<name>.XXXXXX into buf (size >= 64); 0 or -1. */
static inline int tmpdir_make(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "/tmp/%s.XXXXXX", name);
  return mkdtemp(buf) ? 0 : -1;
}

static inline int tmpdir_remove_one(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes dir and everything below it; 0 or -1. */
static inline int tmpdir_remove(const char *dir) {
  return nftw(dir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
