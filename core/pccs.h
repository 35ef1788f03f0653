/* core/pccs.h — fetches DCAP collateral from a PCCS or Intel's PCS (v4 API, shared/specs/
 * tdx-quote.md 2.5) through the async HTTP client, and caches it per (tee, FMSPC, CA).
 *
 * Ownership: the caller owns the th_pccs (th_pccs_new/free); the loop and the th_http_client it
 * borrows must outlive it. th_pccs_free cancels fetches in flight (their callbacks are not
 * called); run the loop afterwards so the timers of undelivered cache hits close.
 * A fetch's callback receives a collateral reference it owns (th_collateral_unref) or, on
 * failure, NULL and a borrowed error, e.g. TH_ECONNREFUSED "PCCS https://pccs.example: connect
 * to pccs.example:443: Connection refused (offline? give --collateral FILE instead)",
 * TH_EPROTO "GET https://…/tcb?fmspc=B0C06F000000: HTTP 404". Callbacks run from the loop, never
 * from inside th_pccs_fetch.
 *
 * Cache: a collateral stays cached until the earliest nextUpdate among its TCB info, QE identity
 * and CRLs has passed (compared with the `now` given to each fetch); concurrent fetches of the
 * same key share one set of requests. */
#ifndef TH_PCCS_H
#define TH_PCCS_H

#include <stdint.h>

#include "collateral.h"
#include "error.h"
#include "http_client.h"
#include "quote.h"

typedef struct th_pccs th_pccs;

/* loop: the loop the HTTP client runs on; cache hits are delivered from it (a 0-ms timer).
 * base_url: e.g. "https://pccs.phala.network" or "https://api.trustedservices.intel.com"; a
 * trailing "/", "/sgx/certification/v4" or "/tdx/certification/v4" is stripped. */
th_pccs *th_pccs_new(uv_loop_t *loop, th_http_client *http, const char *base_url, th_err *err);
void th_pccs_free(th_pccs *p);

typedef void (*th_pccs_done_cb)(void *ud, th_collateral *col, const th_err *err);

/* Fetches (or serves from cache) the collateral for the quote's platform: tee from the quote,
 * FMSPC and CA from the PCK leaf in its certification data (type 5). Returns 0, or -1 with err
 * filled (nothing started, callback never called) when the quote carries no usable PCK data:
 * types 2/3 (encrypted PPID, no chain in the quote) give TH_EINVAL "quote carries an encrypted
 * PPID (type 2): give a PCK certificate chain in the collateral" (pckcert is not fetched). */
int th_pccs_fetch(th_pccs *p, const th_quote *q, int64_t now, th_pccs_done_cb cb, void *ud,
                  th_err *err);

/* Number of cached collaterals (for tests and the REPL). */
size_t th_pccs_cache_size(const th_pccs *p);

#endif
