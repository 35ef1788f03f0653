/* core/lazy_mhd.h — libmicrohttpd is loaded on the first call (see lazylib.h). */
#ifndef TH_LAZY_MHD_H
#define TH_LAZY_MHD_H

#include "error.h"

/* Loads libmicrohttpd now. Returns 0, or -1 with err saying which library is missing. */
int th_lazy_mhd_load(th_err *err);

#endif
