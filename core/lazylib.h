/* core/lazylib.h — load a shared library on first use instead of at process start.
 *
 * Why: libcurl and libmicrohttpd drag in some 30 further libraries (Kerberos, LDAP, GnuTLS,
 * libssh2, nghttp2, ...) whose loading and constructors cost teehost ~7 ms and ~5 MB at every
 * start, although most runs (`-e`, the REPL, scripts without HTTP) never use them. So
 * core/lazy_curl.c and core/lazy_mhd.c define the functions teehost calls, with the exact
 * prototypes of the libraries' headers, and forward each call through a pointer that dlsym
 * filled when the first call loaded the library. The rest of core/ calls curl and MHD as usual.
 *
 * State: each library's handle and symbol table is process-wide by nature (the dynamic loader's
 * state is), written once under pthread_once and read-only afterwards. */
#ifndef TH_LAZYLIB_H
#define TH_LAZYLIB_H

#include <pthread.h>

#include "error.h"

typedef struct th_lazylib {
  const char *soname;        /* "libcurl.so.4" */
  const char *const *names;  /* the symbols to resolve, NULL-terminated */
  void **syms;               /* filled in the same order */
  pthread_once_t once;
  int ok;                    /* set once loading succeeded */
  char error[200];           /* why loading failed */
} th_lazylib;

/* Loads the library and all its symbols, once. Returns 0, or -1 with err filled
 * (TH_EIO "libcurl.so.4 cannot be loaded: …; install libcurl4"). */
int th_lazylib_load(th_lazylib *lib, const char *package, th_err *err);

/* Whether the library is usable (loads it first if needed). */
int th_lazylib_ready(th_lazylib *lib);

/* The real function `name`, typed; only valid after th_lazylib_ready returned true. The slot
 * holds what dlsym returned; POSIX guarantees function and object pointers share a
 * representation, which is what dlsym itself relies on. */
#define TH_LAZY_REAL(lib, index, name) (*(__typeof__(&name) *)&(lib)->syms[index])

#endif
