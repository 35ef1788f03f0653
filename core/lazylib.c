/* core/lazylib.c — see lazylib.h. */
#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

/* pthread_once gives no argument to its routine: the library being loaded is handed over
 * through this thread-local pointer, set only around the pthread_once call. */
static _Thread_local th_lazylib *loading;

static void load_once(void) {
  th_lazylib *lib = loading;
  void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(lib->error, sizeof lib->error, "%s", dlerror());
    return;
  }
  for (size_t i = 0; lib->names[i]; i++) {
    lib->syms[i] = dlsym(h, lib->names[i]);
    if (!lib->syms[i]) {
      snprintf(lib->error, sizeof lib->error, "%s has no symbol %s", lib->soname, lib->names[i]);
      return; /* keep the handle: the process may still use the library otherwise */
    }
  }
  lib->ok = 1;
}

int th_lazylib_ready(th_lazylib *lib) {
  loading = lib;
  pthread_once(&lib->once, load_once);
  loading = NULL;
  return lib->ok;
}

int th_lazylib_load(th_lazylib *lib, const char *package, th_err *err) {
  if (th_lazylib_ready(lib)) return 0;
  return th_err_set(err, TH_EIO, "%s cannot be loaded: %s; install the Debian package %s",
                    lib->soname, lib->error, package);
}
