/* core/pccs.c — DCAP collateral from a PCCS or Intel's PCS (v4 API, shared/specs/tdx-quote.md
 * 2.5), fetched with the async HTTP client and cached per (tee, FMSPC, CA).
 *
 * What this file owns:
 *  - th_pccs: the normalised base URL, the cache (newest first, at most CACHE_MAX entries), the
 *    fetches in flight and the cache hits waiting to be delivered from the loop.
 *  - fetch: one set of four concurrent GETs (PCK CRL, TCB info, QE identity, root CA CRL) for a
 *    key, plus the callers waiting for it (a second th_pccs_fetch of the same key joins as a
 *    waiter instead of sending requests of its own). Intel's PCS has no rootcacrl endpoint: on a
 *    404 there, the root certificate's CRL distribution point is fetched instead, once the QE
 *    identity's issuer chain (which ends with the root) has arrived.
 *  - delivery: a cache hit, delivered by a 0-ms uv_timer so that the callback never runs inside
 *    th_pccs_fetch. Its memory is freed in the timer's close callback (libuv owns it till then).
 *
 * Re-entrancy: a callback may start fetches or free the th_pccs. A finished fetch is unlinked
 * before its waiters are called; if th_pccs_free runs meanwhile it marks that fetch cancelled,
 * so the remaining waiters are dropped without a call. */
#include "pccs.h"

#include <cjson/cJSON.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "json_span.h"
#include "pck.h"

#define CACHE_MAX 64
#define REQUEST_TIMEOUT_MS 30000
#define OFFLINE_HINT " (offline? give --collateral FILE instead)"

typedef struct key {
  char tee[4];      /* "sgx" / "tdx" */
  uint8_t fmspc[6];
  char ca[10];      /* "platform" / "processor" */
} key;

typedef struct cache_entry {
  struct cache_entry *next;
  key k;
  th_collateral *col; /* one reference */
  int64_t until;      /* served while now < until */
} cache_entry;

typedef struct waiter {
  struct waiter *next;
  th_pccs_done_cb cb;
  void *ud;
} waiter;

enum { R_PCK_CRL, R_TCB, R_QE, R_ROOT_CRL, R_COUNT };

typedef struct fetch fetch;

typedef struct request {
  fetch *f;
  int which;
  char *url;
  th_http_call *call;    /* in flight, else NULL */
  th_http_response *res; /* its 2xx answer, once arrived */
} request;

struct fetch {
  fetch *next;
  th_pccs *p;
  key k;
  waiter *waiters, **tail;
  request req[R_COUNT];
  int pending;          /* requests in flight */
  int root_fallback;    /* 0; 1 = rootcacrl said 404, fetch the CDP; 2 = CDP request sent */
  int cancelled;        /* th_pccs_free ran while its waiters were being called */
};

typedef struct delivery {
  uv_timer_t timer;
  struct delivery *next;
  th_pccs *p;
  th_collateral *col; /* the reference handed to cb */
  th_pccs_done_cb cb;
  void *ud;
} delivery;

struct th_pccs {
  uv_loop_t *loop;
  th_http_client *http;
  char *base;
  cache_entry *cache;
  fetch *fetches;
  delivery *deliveries;
  fetch *delivering; /* the fetch whose waiters are being called, if any */
};

/* ---- small helpers ------------------------------------------------------------------------- */

static char *str_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static char *str_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) {
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  return s;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes a header value ('+' stays '+': it is a base64 digit in PEM). */
static char *url_decode(const char *s, const char *what, th_err *err) {
  size_t n = strlen(s), j = 0;
  char *out = malloc(n + 1);
  if (!out) {
    th_err_set(err, TH_ENOMEM, "%s: out of memory", what);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      out[j++] = s[i];
    } else if (i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out[j++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
      i += 2;
    } else {
      th_err_set(err, TH_EBADDATA, "%s: bad percent-encoding at %zu", what, i);
      free(out);
      return NULL;
    }
  }
  out[j] = '\0';
  return out;
}

/* Body bytes of a CRL: hex text (a PCCS's rootcacrl) or DER (everything else). malloc'd. */
static int crl_bytes(const th_http_response *res, uint8_t **out, size_t *n, th_err *err) {
  const char *b = res->body;
  size_t len = res->body_len, i = 0;
  while (len && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' ')) len--;
  while (i < len && hexval(b[i]) >= 0) i++;
  if (len > 0 && i == len && len % 2 == 0)
    return th_hex_decode_alloc(b, len, out, n, "PCCS: CRL", err);
  *n = res->body_len;
  if (!(*out = malloc(*n ? *n : 1))) return th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
  memcpy(*out, b, *n);
  return 0;
}

static int key_equal(const key *a, const key *b) {
  return strcmp(a->tee, b->tee) == 0 && memcmp(a->fmspc, b->fmspc, 6) == 0 &&
         strcmp(a->ca, b->ca) == 0;
}

/* ---- the cache ----------------------------------------------------------------------------- */

static int64_t crl_next_update(X509_CRL *crl, int64_t dflt) {
  const ASN1_TIME *t = crl ? X509_CRL_get0_nextUpdate(crl) : NULL;
  struct tm tm;
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return dflt;
  return (int64_t)timegm(&tm);
}

/* The earliest nextUpdate of the collateral's four dated parts. */
static int64_t collateral_until(const th_collateral *c) {
  int64_t until = c->tcb_info.next_update;
  if (c->qe_identity.next_update < until) until = c->qe_identity.next_update;
  int64_t a = crl_next_update(c->pck_crl, until), b = crl_next_update(c->root_ca_crl, until);
  if (a < until) until = a;
  if (b < until) until = b;
  return until;
}

static void cache_prune(th_pccs *p, int64_t now) {
  size_t n = 0;
  for (cache_entry **e = &p->cache; *e;) {
    if ((*e)->until > now && n < CACHE_MAX - 1) { /* room for one more after pruning */
      e = &(*e)->next;
      n++;
      continue;
    }
    cache_entry *dead = *e;
    *e = dead->next;
    th_collateral_unref(dead->col);
    free(dead);
  }
}

static cache_entry *cache_find(th_pccs *p, const key *k) {
  for (cache_entry *e = p->cache; e; e = e->next)
    if (key_equal(&e->k, k)) return e;
  return NULL;
}

static void cache_put(th_pccs *p, const key *k, th_collateral *col) {
  cache_entry *e = cache_find(p, k);
  if (e) { /* replaced: a fetch that started after an entry expired */
    th_collateral_unref(e->col);
  } else {
    if (!(e = calloc(1, sizeof *e))) return; /* not cached: only slower next time */
    e->k = *k;
    e->next = p->cache;
    p->cache = e;
  }
  e->col = th_collateral_ref(col);
  e->until = collateral_until(col);
}

size_t th_pccs_cache_size(const th_pccs *p) {
  size_t n = 0;
  for (const cache_entry *e = p ? p->cache : NULL; e; e = e->next) n++;
  return n;
}

/* ---- cache hits: delivered from the loop --------------------------------------------------- */

static void delivery_closed(uv_handle_t *h) { free(h->data); }

static void delivery_unlink(delivery *d) {
  for (delivery **x = &d->p->deliveries; *x; x = &(*x)->next) {
    if (*x == d) {
      *x = d->next;
      return;
    }
  }
}

static void on_delivery(uv_timer_t *t) {
  delivery *d = t->data;
  delivery_unlink(d);
  uv_close((uv_handle_t *)&d->timer, delivery_closed);
  d->cb(d->ud, d->col, NULL); /* may free the th_pccs: d is no longer on its list */
}

static int deliver_later(th_pccs *p, th_collateral *col, th_pccs_done_cb cb, void *ud,
                         th_err *err) {
  delivery *d = calloc(1, sizeof *d);
  if (!d) return th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
  if (uv_timer_init(p->loop, &d->timer) != 0) {
    free(d);
    return th_err_set(err, TH_EIO, "PCCS: cannot start a timer");
  }
  d->timer.data = d;
  d->p = p;
  d->col = th_collateral_ref(col);
  d->cb = cb;
  d->ud = ud;
  d->next = p->deliveries;
  p->deliveries = d;
  uv_timer_start(&d->timer, on_delivery, 0, 0);
  return 0;
}

/* ---- fetches: lifetime --------------------------------------------------------------------- */

static void fetch_unlink(fetch *f) {
  for (fetch **x = &f->p->fetches; *x; x = &(*x)->next) {
    if (*x == f) {
      *x = f->next;
      return;
    }
  }
}

/* Frees a fetch that is no longer linked: cancels its requests, drops its waiters uncalled. */
static void fetch_free(fetch *f) {
  for (int i = 0; i < R_COUNT; i++) {
    th_http_call_cancel(f->req[i].call);
    th_http_response_free(f->req[i].res);
    free(f->req[i].url);
  }
  while (f->waiters) {
    waiter *w = f->waiters;
    f->waiters = w->next;
    free(w);
  }
  free(f);
}

/* Calls every waiter with the result (a new reference each) or the error, then frees f. */
static void fetch_deliver(fetch *f, th_collateral *col, const th_err *err) {
  th_pccs *p = f->p;
  fetch_unlink(f);
  for (int i = 0; i < R_COUNT; i++) { /* nothing may complete once waiters run */
    th_http_call_cancel(f->req[i].call);
    f->req[i].call = NULL;
  }
  p->delivering = f;
  while (f->waiters && !f->cancelled) {
    waiter *w = f->waiters;
    f->waiters = w->next;
    w->cb(w->ud, col ? th_collateral_ref(col) : NULL, col ? NULL : err);
    free(w);
  }
  if (!f->cancelled) p->delivering = NULL; /* else p is gone */
  fetch_free(f);
}

static void fetch_fail(fetch *f, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void fetch_fail(fetch *f, int code, const char *fmt, ...) {
  th_err err = {.code = code};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err.message, sizeof err.message, fmt, ap);
  va_end(ap);
  fetch_deliver(f, NULL, &err);
}

/* ---- fetches: assembling the collateral ---------------------------------------------------- */

/* The pieces decoded from the four answers; owned until th_collateral_from_parts copied them. */
typedef struct pieces {
  char *pck_crl_chain, *tcb_chain, *qe_chain;
  uint8_t *root_crl, *pck_crl;
  uint8_t tcb_sig[64], qe_sig[64];
  th_collateral_parts parts;
} pieces;

static void pieces_free(pieces *pc) {
  free(pc->pck_crl_chain);
  free(pc->tcb_chain);
  free(pc->qe_chain);
  free(pc->root_crl);
  free(pc->pck_crl);
}

/* The issuer chain header of an answer, percent-decoded; NULL (+ error when required) if absent. */
static char *chain_header(const request *r, const char *name, const char *alt, int required,
                          th_err *err) {
  const char *v = th_http_response_header(r->res, name);
  if (!v && alt) v = th_http_response_header(r->res, alt);
  if (!v) {
    if (required) th_err_set(err, TH_EPROTO, "GET %s: no %s header", r->url, name);
    return NULL;
  }
  char what[64];
  snprintf(what, sizeof what, "PCCS: header %s", name);
  return url_decode(v, what, err);
}

static int decode_sig(const char *hex, uint8_t sig[64], const char *url, th_err *err) {
  char what[300];
  snprintf(what, sizeof what, "GET %s: signature", url);
  return th_hex_decode_exact(hex, strlen(hex), sig, 64, what, err);
}

/* {"<member>": {…}, "signature": "<128 hex>"}: the signed bytes' span and the signature. */
static int signed_body(const request *r, const char *member, const char **text, size_t *len,
                       uint8_t sig[64], th_err *err) {
  const char *body = r->res->body;
  size_t start = 0, end = 0;
  cJSON *root = cJSON_ParseWithLength(body, r->res->body_len);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, member);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "signature");
  int rc = -1;
  if (!cJSON_IsObject(m) || !cJSON_IsString(s))
    th_err_set(err, TH_EBADDATA, "GET %s: the body is not {\"%s\": {…}, \"signature\": \"…\"}",
               r->url, member);
  else if (th_json_member_span(body, r->res->body_len, member, &start, &end) != 0)
    th_err_set(err, TH_EBADDATA, "GET %s: cannot find the bytes of \"%s\"", r->url, member);
  else
    rc = decode_sig(s->valuestring, sig, r->url, err);
  cJSON_Delete(root);
  *text = body + start;
  *len = end - start;
  return rc;
}

static int decode_pieces(fetch *f, pieces *pc, th_err *err) {
  th_collateral_parts *p = &pc->parts;
  request *r = f->req;
  pc->pck_crl_chain = chain_header(&r[R_PCK_CRL], "SGX-PCK-CRL-Issuer-Chain", NULL, 0, err);
  if (!pc->pck_crl_chain && th_http_response_header(r[R_PCK_CRL].res, "SGX-PCK-CRL-Issuer-Chain"))
    return -1; /* present but malformed */
  if (!(pc->tcb_chain = chain_header(&r[R_TCB], "SGX-TCB-Info-Issuer-Chain",
                                     "TCB-Info-Issuer-Chain", 1, err)) ||
      !(pc->qe_chain =
            chain_header(&r[R_QE], "SGX-Enclave-Identity-Issuer-Chain", NULL, 1, err)) ||
      crl_bytes(r[R_PCK_CRL].res, &pc->pck_crl, &p->pck_crl_len, err) ||
      crl_bytes(r[R_ROOT_CRL].res, &pc->root_crl, &p->root_ca_crl_len, err) ||
      signed_body(&r[R_TCB], "tcbInfo", &p->tcb_info_json, &p->tcb_info_len, pc->tcb_sig, err) ||
      signed_body(&r[R_QE], "enclaveIdentity", &p->qe_identity_json, &p->qe_identity_len,
                  pc->qe_sig, err))
    return -1;
  p->pck_crl_issuer_chain = pc->pck_crl_chain;
  p->tcb_info_issuer_chain = pc->tcb_chain;
  p->qe_identity_issuer_chain = pc->qe_chain;
  p->pck_crl_der = pc->pck_crl;
  p->root_ca_crl_der = pc->root_crl;
  p->tcb_info_signature = pc->tcb_sig;
  p->qe_identity_signature = pc->qe_sig;
  return 0;
}

static void fetch_finish(fetch *f) {
  pieces pc = {0};
  th_err err = {0};
  th_collateral *col = NULL;
  if (decode_pieces(f, &pc, &err) == 0) col = th_collateral_from_parts(&pc.parts, &err);
  pieces_free(&pc);
  if (col) cache_put(f->p, &f->k, col);
  fetch_deliver(f, col, &err);
  th_collateral_unref(col);
}

/* ---- fetches: requests --------------------------------------------------------------------- */

static void on_response(void *ud, th_http_response *res, const th_err *err);

static int request_start(fetch *f, int which, th_err *err) {
  request *r = &f->req[which];
  th_http_request_opts o = {.url = r->url, .timeout_ms = REQUEST_TIMEOUT_MS};
  r->f = f;
  r->which = which;
  if (!(r->call = th_http_request(f->p->http, &o, on_response, r, err))) return -1;
  f->pending++;
  return 0;
}

/* The first URI of the certificate's CRL distribution points, malloc'd, or NULL. */
static char *crl_dp_uri(X509 *x) {
  STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
  char *uri = NULL;
  for (int i = 0; !uri && i < sk_DIST_POINT_num(dps); i++) {
    DIST_POINT_NAME *dpn = sk_DIST_POINT_value(dps, i)->distpoint;
    for (int j = 0; !uri && dpn && dpn->type == 0 && j < sk_GENERAL_NAME_num(dpn->name.fullname);
         j++) {
      GENERAL_NAME *gn = sk_GENERAL_NAME_value(dpn->name.fullname, j);
      if (gn->type == GEN_URI)
        uri = str_printf("%.*s", ASN1_STRING_length(gn->d.uniformResourceIdentifier),
                         (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier));
    }
  }
  CRL_DIST_POINTS_free(dps);
  return uri;
}

/* Intel's PCS has no rootcacrl: fetch the root certificate's CRL distribution point. */
static int start_root_fallback(fetch *f, th_err *err) {
  request *qe = &f->req[R_QE], *r = &f->req[R_ROOT_CRL];
  char *pem = chain_header(qe, "SGX-Enclave-Identity-Issuer-Chain", NULL, 1, err);
  STACK_OF(X509) *chain = pem ? th_pem_chain_parse(pem, strlen(pem), "PCCS: QE identity issuer "
                                                   "chain", err) : NULL;
  char *uri = chain ? crl_dp_uri(sk_X509_value(chain, sk_X509_num(chain) - 1)) : NULL;
  free(pem);
  sk_X509_pop_free(chain, X509_free);
  if (!chain) return -1;
  if (!uri || (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0)) {
    th_err_set(err, TH_EPROTO, "GET %s: HTTP 404, and the root certificate names no CRL "
               "distribution point", r->url);
    free(uri);
    return -1;
  }
  free(r->url);
  r->url = uri;
  f->root_fallback = 2;
  return request_start(f, R_ROOT_CRL, err);
}

/* Wraps a transport error: names the PCCS, and hints at offline use when it is unreachable. */
static void fail_transport(fetch *f, const th_err *err) {
  int offline = err->code == TH_ECONNREFUSED || err->code == TH_ENOTFOUND ||
                err->code == TH_ETIMEDOUT;
  fetch_fail(f, err->code, "PCCS %s: %s%s", f->p->base, err->message, offline ? OFFLINE_HINT : "");
}

static void on_response(void *ud, th_http_response *res, const th_err *err) {
  request *r = ud;
  fetch *f = r->f;
  th_err e = {0};
  r->call = NULL;
  f->pending--;
  if (!res) {
    fail_transport(f, err);
    return;
  }
  if (res->status == 404 && r->which == R_ROOT_CRL && f->root_fallback == 0) {
    th_http_response_free(res);
    f->root_fallback = 1;
  } else if (res->status < 200 || res->status > 299) {
    long status = res->status;
    th_http_response_free(res);
    fetch_fail(f, TH_EPROTO, "GET %s: HTTP %ld", r->url, status);
    return;
  } else {
    r->res = res;
  }
  if (f->root_fallback == 1 && f->req[R_QE].res && start_root_fallback(f, &e) != 0)
    fetch_deliver(f, NULL, &e);
  else if (f->pending == 0)
    fetch_finish(f);
}

static int build_urls(fetch *f) {
  const char *b = f->p->base, *tee = f->k.tee;
  char fmspc[13];
  for (int i = 0; i < 6; i++) snprintf(fmspc + 2 * i, 3, "%02X", f->k.fmspc[i]);
  f->req[R_PCK_CRL].url =
      str_printf("%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", b, f->k.ca);
  f->req[R_TCB].url = str_printf("%s/%s/certification/v4/tcb?fmspc=%s", b, tee, fmspc);
  f->req[R_QE].url = str_printf("%s/%s/certification/v4/qe/identity?update=standard", b, tee);
  f->req[R_ROOT_CRL].url = str_printf("%s/sgx/certification/v4/rootcacrl", b);
  for (int i = 0; i < R_COUNT; i++)
    if (!f->req[i].url) return -1;
  return 0;
}

static fetch *fetch_start(th_pccs *p, const key *k, th_err *err) {
  fetch *f = calloc(1, sizeof *f);
  if (!f) {
    th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
    return NULL;
  }
  f->p = p;
  f->k = *k;
  f->tail = &f->waiters;
  if (build_urls(f) != 0) {
    th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
    fetch_free(f);
    return NULL;
  }
  for (int i = 0; i < R_COUNT; i++) {
    if (request_start(f, i, err) != 0) {
      fetch_free(f); /* cancels the ones already started */
      return NULL;
    }
  }
  f->next = p->fetches;
  p->fetches = f;
  return f;
}

/* ---- the public calls ---------------------------------------------------------------------- */

/* Strips "/", "/sgx/certification/v4" or "/tdx/certification/v4" from the end. */
static void normalise(char *url) {
  static const char *const suffixes[] = {"/sgx/certification/v4", "/tdx/certification/v4"};
  size_t n = strlen(url);
  while (n && url[n - 1] == '/') url[--n] = '\0';
  for (int i = 0; i < 2; i++) {
    size_t s = strlen(suffixes[i]);
    if (n >= s && strcmp(url + n - s, suffixes[i]) == 0) url[n -= s] = '\0';
  }
  while (n && url[n - 1] == '/') url[--n] = '\0';
}

th_pccs *th_pccs_new(uv_loop_t *loop, th_http_client *http, const char *base_url, th_err *err) {
  if (!loop || !http || !base_url) {
    th_err_set(err, TH_EINVAL, "PCCS: no loop, HTTP client or base URL");
    return NULL;
  }
  if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0) {
    th_err_set(err, TH_EINVAL, "PCCS: the URL must start with http:// or https:// (got \"%.100s\")",
               base_url);
    return NULL;
  }
  th_pccs *p = calloc(1, sizeof *p);
  if (!p || !(p->base = strdup(base_url))) {
    free(p);
    th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
    return NULL;
  }
  normalise(p->base);
  p->loop = loop;
  p->http = http;
  return p;
}

void th_pccs_free(th_pccs *p) {
  if (!p) return;
  if (p->delivering) p->delivering->cancelled = 1; /* it frees itself once its callback returns */
  while (p->fetches) {
    fetch *f = p->fetches;
    p->fetches = f->next;
    fetch_free(f);
  }
  while (p->deliveries) {
    delivery *d = p->deliveries;
    p->deliveries = d->next;
    th_collateral_unref(d->col);
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, delivery_closed);
  }
  while (p->cache) {
    cache_entry *e = p->cache;
    p->cache = e->next;
    th_collateral_unref(e->col);
    free(e);
  }
  free(p->base);
  free(p);
}

/* The cache key of a quote: tee, and FMSPC and CA from the PCK leaf of its chain (type 5). */
static int quote_key(const th_quote *q, key *k, th_err *err) {
  if (q->cert_type == TH_CERT_PPID_RSA2048 || q->cert_type == TH_CERT_PPID_RSA3072)
    return th_err_set(err, TH_EINVAL, "quote carries an encrypted PPID (type %u): give a PCK "
                      "certificate chain in the collateral", q->cert_type);
  if (q->cert_type != TH_CERT_PCK_CHAIN)
    return th_err_set(err, TH_EINVAL, "quote: certification data type %u carries no PCK "
                      "certificate chain (want 5)", q->cert_type);
  if (!q->bytes || q->cert_offset > q->len || q->cert_len > q->len - q->cert_offset)
    return th_err_set(err, TH_EINVAL, "quote: certification data lies outside the quote");
  STACK_OF(X509) *chain = th_pem_chain_parse((const char *)q->bytes + q->cert_offset, q->cert_len,
                                             "quote: PCK certificate chain", err);
  if (!chain) return -1;
  th_pck_ext ext;
  X509 *leaf = sk_X509_value(chain, 0);
  int rc = th_pck_ext_parse(leaf, &ext, err);
  if (rc == 0) {
    memset(k, 0, sizeof *k);
    snprintf(k->tee, sizeof k->tee, "%s", q->tee_type == TH_TEE_TDX ? "tdx" : "sgx");
    memcpy(k->fmspc, ext.fmspc, 6);
    snprintf(k->ca, sizeof k->ca, "%s", th_pck_ca_kind(leaf));
  }
  sk_X509_pop_free(chain, X509_free);
  return rc;
}

int th_pccs_fetch(th_pccs *p, const th_quote *q, int64_t now, th_pccs_done_cb cb, void *ud,
                  th_err *err) {
  key k;
  if (!p || !q || !cb) return th_err_set(err, TH_EINVAL, "PCCS fetch: no PCCS, quote or callback");
  if (quote_key(q, &k, err) != 0) return -1;
  cache_prune(p, now);
  cache_entry *e = cache_find(p, &k);
  if (e) return deliver_later(p, e->col, cb, ud, err);
  fetch *f = p->fetches;
  while (f && !key_equal(&f->k, &k)) f = f->next;
  if (!f && !(f = fetch_start(p, &k, err))) return -1;
  waiter *w = calloc(1, sizeof *w);
  if (!w) {
    if (!f->waiters) { /* just started for this caller alone */
      fetch_unlink(f);
      fetch_free(f);
    }
    return th_err_set(err, TH_ENOMEM, "PCCS: out of memory");
  }
  w->cb = cb;
  w->ud = ud;
  *f->tail = w;
  f->tail = &w->next;
  return 0;
}
