/* core/sim_pki_files.c — the simulator PKI's directory and files (DESIGN.md "Files on disk"):
 * the directory is 0700 and ours, every file is written atomically with mode 0600 (temp file
 * O_CREAT|O_EXCL|O_NOFOLLOW, fsync, rename, fsync of the directory), and a secret file (the seed)
 * or directory open to group/others is refused with a message saying how to fix it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_pki_internal.h"

static int join(char *buf, size_t size, const char *dir, const char *name, th_err *err) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size)
    return th_err_set(err, TH_EINVAL, "simulator PKI: path too long: %s", dir);
  return 0;
}

int th_sim_check_dir(const char *dir, th_err *err) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return th_err_set(err, TH_EIO, "simulator PKI: cannot create %s: %s", dir, strerror(errno));
  struct stat st;
  if (stat(dir, &st) != 0)
    return th_err_set(err, TH_EIO, "simulator PKI: cannot read %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return th_err_set(err, TH_EINVAL, "simulator PKI: %s is not a directory", dir);
  if (st.st_uid != geteuid())
    return th_err_set(err, TH_EINVAL, "simulator PKI: %s belongs to another user (uid %u)", dir,
                      (unsigned)st.st_uid);
  if (st.st_mode & 077)
    return th_err_set(err, TH_EINVAL,
                      "simulator PKI: %s is readable by others (mode %03o); it holds secrets: "
                      "fix with `chmod 700 %s`",
                      dir, (unsigned)(st.st_mode & 0777), dir);
  return 0;
}

static int check_file(int fd, const char *path, int secret, size_t max, struct stat *st,
                      th_err *err) {
  if (fstat(fd, st) != 0)
    return th_err_set(err, TH_EIO, "simulator PKI: cannot read %s: %s", path, strerror(errno));
  if (!S_ISREG(st->st_mode))
    return th_err_set(err, TH_EBADDATA, "simulator PKI: %s is not a regular file", path);
  if (secret && (st->st_mode & 077))
    return th_err_set(err, TH_EINVAL,
                      "simulator PKI: %s is readable by others (mode %03o); it is a secret: "
                      "fix with `chmod 600 %s`",
                      path, (unsigned)(st->st_mode & 0777), path);
  if ((size_t)st->st_size > max)
    return th_err_set(err, TH_EBADDATA, "simulator PKI: %s is too large (%lld bytes)", path,
                      (long long)st->st_size);
  return 0;
}

int th_sim_read_file(const char *dir, const char *name, int secret, size_t max, uint8_t **out,
                     size_t *len, th_err *err) {
  char path[4096];
  if (join(path, sizeof path, dir, name, err) != 0) return -1;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return 0;
  if (fd < 0)
    return th_err_set(err, TH_EIO, "simulator PKI: cannot open %s: %s", path, strerror(errno));
  struct stat st;
  uint8_t *buf = NULL;
  ssize_t n = 0;
  if (check_file(fd, path, secret, max, &st, err) != 0) goto fail;
  if (!(buf = malloc((size_t)st.st_size + 1))) {
    th_err_set(err, TH_ENOMEM, "out of memory");
    goto fail;
  }
  n = read(fd, buf, (size_t)st.st_size + 1); /* one more: notices a file that grew */
  if (n != (ssize_t)st.st_size) {
    th_err_set(err, TH_EIO, "simulator PKI: cannot read %s: %s", path,
               n < 0 ? strerror(errno) : "size changed");
    goto fail;
  }
  close(fd);
  *out = buf;
  *len = (size_t)n;
  return 1;
fail:
  if (buf) {
    memset(buf, 0, (size_t)st.st_size);
    free(buf);
  }
  close(fd);
  return -1;
}

static int write_all(int fd, const uint8_t *data, size_t len) {
  while (len) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
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

int th_sim_write_file(const char *dir, const char *name, const uint8_t *data, size_t len,
                      th_err *err) {
  char path[4096], tmp[4096], tmp_name[256];
  snprintf(tmp_name, sizeof tmp_name, ".%s.%ld.tmp", name, (long)getpid());
  if (join(path, sizeof path, dir, name, err) != 0 ||
      join(tmp, sizeof tmp, dir, tmp_name, err) != 0)
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return th_err_set(err, TH_EIO, "simulator PKI: cannot create %s: %s", tmp, strerror(errno));
  if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    th_err_set(err, TH_EIO, "simulator PKI: cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    th_err_set(err, TH_EIO, "simulator PKI: cannot rename %s to %s: %s", tmp, path,
               strerror(errno));
    unlink(tmp);
    return -1;
  }
  sync_dir(dir);
  return 0;
}
