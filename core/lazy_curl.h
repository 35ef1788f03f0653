/* core/lazy_curl.h — libcurl is loaded on the first call (see lazylib.h). */
#ifndef TH_LAZY_CURL_H
#define TH_LAZY_CURL_H

#include "error.h"

/* Loads libcurl now. Returns 0, or -1 with err saying which library is missing. */
int th_lazy_curl_load(th_err *err);

#endif
