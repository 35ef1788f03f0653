/* core/secret_file.c — 0700 directories, 0600 files written atomically, refusal of secrets
 * that group or others can reach (see secret_file.h). */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_SIZE 4096

static int join(const th_secret_words *w, char *buf, size_t size, const char *dir,
                const char *name, th_err *err) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size)
    return th_err_set(err, TH_EINVAL, "%s: path too long: %s", w->who, dir);
  return 0;
}

int th_secret_dir(const th_secret_words *w, const char *dir, int tighten, th_err *err) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return th_err_set(err, TH_EIO, "%s: cannot create %s: %s", w->who, dir, strerror(errno));
  struct stat st;
  if (stat(dir, &st) != 0)
    return th_err_set(err, TH_EIO, "%s: cannot read %s: %s", w->who, dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return th_err_set(err, TH_EINVAL, "%s: %s is not a directory", w->who, dir);
  if (st.st_uid != geteuid())
    return th_err_set(err, TH_EINVAL, "%s: %s belongs to another user (uid %u)", w->who, dir,
                      (unsigned)st.st_uid);
  if (!(st.st_mode & 077)) return 0;
  if (tighten) {
    if (chmod(dir, 0700) != 0)
      return th_err_set(err, TH_EIO, "%s: cannot chmod 700 %s: %s", w->who, dir, strerror(errno));
    return 0;
  }
  return th_err_set(err, TH_EINVAL,
                    "%s: %s %s (mode %0*o); it holds secrets: fix with `chmod 700 %s`", w->who,
                    dir, w->open, w->mode_digits, (unsigned)(st.st_mode & 07777), dir);
}

static void *alloc(unsigned flags, size_t n) {
  if (!(flags & TH_SECRET_SODIUM)) return malloc(n);
  return sodium_init() < 0 ? NULL : sodium_malloc(n);
}

static void release(unsigned flags, void *buf, size_t n) {
  if (!buf) return;
  if (flags & TH_SECRET_SODIUM) {
    sodium_free(buf); /* wipes */
  } else {
    sodium_memzero(buf, n);
    free(buf);
  }
}

int th_secret_read(const th_secret_words *w, const char *path, unsigned flags, size_t max,
                   uint8_t **out, size_t *len, th_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & TH_SECRET_NOFOLLOW) ? O_NOFOLLOW : 0));
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0)
    return th_err_set(err, TH_EIO, "%s: cannot open %s: %s", w->who, path, strerror(errno));
  struct stat st;
  uint8_t *buf = NULL;
  size_t size = 0;
  ssize_t n;
  if (fstat(fd, &st) != 0) {
    th_err_set(err, TH_EIO, "%s: cannot read %s: %s", w->who, path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    th_err_set(err, TH_EBADDATA, "%s: %s is not a regular file", w->who, path);
    goto fail;
  }
  if ((flags & TH_SECRET_PRIVATE) && (st.st_mode & 077)) {
    th_err_set(err, TH_EINVAL, "%s: %s %s (mode %0*o); %s: fix with `chmod 600 %s`", w->who,
               path, w->open, w->mode_digits, (unsigned)(st.st_mode & 07777), w->holds, path);
    goto fail;
  }
  if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
    th_err_set(err, TH_EBADDATA, "%s: %s is too large (%lld bytes)", w->who, path,
               (long long)st.st_size);
    goto fail;
  }
  size = (size_t)st.st_size + 1;
  if (!(buf = alloc(flags, size))) {
    th_err_set(err, TH_ENOMEM, "%s: out of memory", w->who);
    goto fail;
  }
  do n = read(fd, buf, size); /* one more: notices a file that grew */
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)st.st_size) {
    th_err_set(err, TH_EIO, "%s: cannot read %s: %s", w->who, path,
               n < 0 ? strerror(errno) : "size changed");
    goto fail;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = (size_t)n;
  return 1;
fail:
  release(flags, buf, size);
  close(fd);
  return -1;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t got = write(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static void sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd); /* best effort: the rename is already visible */
    close(fd);
  }
}

int th_secret_write(const th_secret_words *w, const char *dir, const char *name, const void *data,
                    size_t len, th_err *err) {
  char path[PATH_SIZE], tmp[PATH_SIZE], tmp_name[256];
  int n = snprintf(tmp_name, sizeof tmp_name, ".%s.%ld.tmp", name, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof tmp_name)
    return th_err_set(err, TH_EINVAL, "%s: file name too long: %.60s", w->who, name);
  if (join(w, path, sizeof path, dir, name, err) != 0 ||
      join(w, tmp, sizeof tmp, dir, tmp_name, err) != 0)
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return th_err_set(err, TH_EIO, "%s: cannot create %s: %s", w->who, tmp, strerror(errno));
  /* fchmod: the umask may have taken bits away; 0600 is what the file must be. */
  if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return th_err_set(err, TH_EIO, "%s: cannot write %s: %s", w->who, tmp, strerror(e));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return th_err_set(err, TH_EIO, "%s: cannot rename %s to %s: %s", w->who, tmp, path,
                      strerror(e));
  }
  sync_dir(dir);
  return 0;
}
