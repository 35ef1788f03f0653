/* core/error.h — the error record every core call fills on failure.
 *
 * A core function that can fail returns an int status (0 = ok, -1 = failed) or NULL, and fills
 * the th_err the caller passed (which may be NULL when the caller does not care). The message
 * names what was wrong ("connect to /x.sock: No such file or directory"); the code is a stable
 * category that the Lua bindings hand to scripts as a string name ("ECONNREFUSED").
 * Nothing here allocates: th_err lives wherever the caller puts it. */
#ifndef TH_ERROR_H
#define TH_ERROR_H

enum th_err_code {
  TH_OK = 0,
  TH_EINVAL,       /* the caller passed something unusable */
  TH_ENOMEM,       /* an allocation failed */
  TH_EIO,          /* any other I/O failure */
  TH_ECONNREFUSED, /* could not connect (socket path missing, port closed, ...) */
  TH_ECONNRESET,   /* the peer closed or broke the connection mid-exchange */
  TH_ETIMEDOUT,    /* a deadline passed */
  TH_ECANCELED,    /* the operation was cancelled by its owner */
  TH_ENOTFOUND,    /* a host name did not resolve */
  TH_ETLS,         /* TLS handshake or certificate verification failed */
  TH_EADDRINUSE,   /* a listen address is taken */
  TH_EPROTO,       /* the peer spoke the protocol wrongly */
  TH_ETOOBIG,      /* a size limit was exceeded */
  TH_EBADDATA,     /* untrusted bytes (quote, collateral, event log) are malformed */
  TH_EVERIFY,      /* a signature, chain, policy or TCB check failed */
  TH_ERR_CODE_COUNT
};

typedef struct th_err {
  int code;          /* enum th_err_code */
  char message[256]; /* NUL-terminated, truncated if longer */
} th_err;

/* Fills err (if not NULL) with code and a printf-formatted message. Always returns -1, so a
 * failing function can `return th_err_set(err, TH_EINVAL, "…")`. */
int th_err_set(th_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The stable name of a code: "EINVAL", "ECONNREFUSED", … ("EUNKNOWN" for out-of-range). */
const char *th_err_name(int code);

#endif
