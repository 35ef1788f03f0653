/* core/error.c — see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int th_err_set(th_err *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return -1;
}

const char *th_err_name(int code) {
  static const char *const names[TH_ERR_CODE_COUNT] = {
      [TH_OK] = "OK",
      [TH_EINVAL] = "EINVAL",
      [TH_ENOMEM] = "ENOMEM",
      [TH_EIO] = "EIO",
      [TH_ECONNREFUSED] = "ECONNREFUSED",
      [TH_ECONNRESET] = "ECONNRESET",
      [TH_ETIMEDOUT] = "ETIMEDOUT",
      [TH_ECANCELED] = "ECANCELED",
      [TH_ENOTFOUND] = "ENOTFOUND",
      [TH_ETLS] = "ETLS",
      [TH_EADDRINUSE] = "EADDRINUSE",
      [TH_EPROTO] = "EPROTO",
      [TH_ETOOBIG] = "ETOOBIG",
      [TH_EBADDATA] = "EBADDATA",
      [TH_EVERIFY] = "EVERIFY",
  };
  if (code < 0 || code >= TH_ERR_CODE_COUNT) return "EUNKNOWN";
  return names[code];
}
