/* core/lazy_curl.c — the libcurl functions teehost calls, loaded on first use (see lazylib.h).
 *
 * Each definition has the prototype of <curl/curl.h>, so the compiler checks it against the
 * real one. curl's variadic setters take exactly one argument whose type follows from the
 * option number's range (CURLOPTTYPE_*), which is how they are forwarded here. */
#define CURL_DISABLE_TYPECHECK /* the type-checking macros would rename our definitions */
#include <curl/curl.h>
#include <stdarg.h>

#include "lazy_curl.h"
#include "lazylib.h"

#define CURL_SYMBOLS(X)                                                                        \
  X(curl_global_init) X(curl_version_info) X(curl_free) X(curl_easy_init) X(curl_easy_setopt) \
  X(curl_easy_getinfo) X(curl_easy_cleanup) X(curl_easy_strerror) X(curl_multi_init)         \
  X(curl_multi_setopt) X(curl_multi_assign) X(curl_multi_socket_action)                       \
  X(curl_multi_info_read) X(curl_multi_add_handle) X(curl_multi_remove_handle)                \
  X(curl_multi_cleanup) X(curl_multi_strerror) X(curl_slist_append) X(curl_slist_free_all)    \
  X(curl_url) X(curl_url_cleanup) X(curl_url_get) X(curl_url_set) X(curl_url_strerror)

#define INDEX(name) I_##name,
enum { CURL_SYMBOLS(INDEX) N_SYMBOLS };
#define NAME(name) #name,
static const char *const names[] = {CURL_SYMBOLS(NAME) NULL};
static void *syms[N_SYMBOLS];
static th_lazylib lib = {"libcurl.so.4", names, syms, PTHREAD_ONCE_INIT, 0, {0}};

#define READY() th_lazylib_ready(&lib)
#define REAL(name) TH_LAZY_REAL(&lib, I_##name, name)

int th_lazy_curl_load(th_err *err) { return th_lazylib_load(&lib, "libcurl4", err); }

CURLcode curl_global_init(long flags) { return READY() ? REAL(curl_global_init)(flags) : CURLE_FAILED_INIT; }
curl_version_info_data *curl_version_info(CURLversion v) { return READY() ? REAL(curl_version_info)(v) : NULL; }
void curl_free(void *p) {
  if (READY()) REAL(curl_free)(p);
}

CURL *curl_easy_init(void) { return READY() ? REAL(curl_easy_init)() : NULL; }
void curl_easy_cleanup(CURL *h) {
  if (READY()) REAL(curl_easy_cleanup)(h);
}
const char *curl_easy_strerror(CURLcode c) { return READY() ? REAL(curl_easy_strerror)(c) : "libcurl not loaded"; }

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...) {
  if (!READY()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, opt);
  CURLcode rc;
  switch ((int)opt / 10000 * 10000) {
  case CURLOPTTYPE_LONG: rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, long)); break;
  case CURLOPTTYPE_OFF_T: rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, curl_off_t)); break;
  case CURLOPTTYPE_FUNCTIONPOINT: rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, void (*)(void))); break;
  default: rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, void *)); break; /* object, blob */
  }
  va_end(ap);
  return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
  if (!READY()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, info);
  CURLcode rc = REAL(curl_easy_getinfo)(h, info, va_arg(ap, void *)); /* always a pointer */
  va_end(ap);
  return rc;
}

CURLM *curl_multi_init(void) { return READY() ? REAL(curl_multi_init)() : NULL; }

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...) {
  if (!READY()) return CURLM_INTERNAL_ERROR;
  va_list ap;
  va_start(ap, opt);
  CURLMcode rc;
  switch ((int)opt / 10000 * 10000) {
  case CURLOPTTYPE_LONG: rc = REAL(curl_multi_setopt)(m, opt, va_arg(ap, long)); break;
  case CURLOPTTYPE_OFF_T: rc = REAL(curl_multi_setopt)(m, opt, va_arg(ap, curl_off_t)); break;
  case CURLOPTTYPE_FUNCTIONPOINT: rc = REAL(curl_multi_setopt)(m, opt, va_arg(ap, void (*)(void))); break;
  default: rc = REAL(curl_multi_setopt)(m, opt, va_arg(ap, void *)); break;
  }
  va_end(ap);
  return rc;
}

CURLMcode curl_multi_assign(CURLM *m, curl_socket_t s, void *p) {
  return READY() ? REAL(curl_multi_assign)(m, s, p) : CURLM_INTERNAL_ERROR;
}
CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running) {
  return READY() ? REAL(curl_multi_socket_action)(m, s, ev, running) : CURLM_INTERNAL_ERROR;
}
CURLMsg *curl_multi_info_read(CURLM *m, int *left) { return READY() ? REAL(curl_multi_info_read)(m, left) : NULL; }
CURLMcode curl_multi_add_handle(CURLM *m, CURL *h) {
  return READY() ? REAL(curl_multi_add_handle)(m, h) : CURLM_INTERNAL_ERROR;
}
CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h) {
  return READY() ? REAL(curl_multi_remove_handle)(m, h) : CURLM_INTERNAL_ERROR;
}
CURLMcode curl_multi_cleanup(CURLM *m) { return READY() ? REAL(curl_multi_cleanup)(m) : CURLM_INTERNAL_ERROR; }
const char *curl_multi_strerror(CURLMcode c) { return READY() ? REAL(curl_multi_strerror)(c) : "libcurl not loaded"; }

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s) {
  return READY() ? REAL(curl_slist_append)(l, s) : NULL;
}
void curl_slist_free_all(struct curl_slist *l) {
  if (READY()) REAL(curl_slist_free_all)(l);
}

CURLU *curl_url(void) { return READY() ? REAL(curl_url)() : NULL; }
void curl_url_cleanup(CURLU *u) {
  if (READY()) REAL(curl_url_cleanup)(u);
}
CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags) {
  return READY() ? REAL(curl_url_get)(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}
CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags) {
  return READY() ? REAL(curl_url_set)(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}
const char *curl_url_strerror(CURLUcode c) { return READY() ? REAL(curl_url_strerror)(c) : "libcurl not loaded"; }
