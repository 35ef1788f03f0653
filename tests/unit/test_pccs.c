/* tests/unit/test_pccs.c — core/pccs against a real PCCS on loopback.
 *
 * The fake PCCS is core/http_server on the test's own loop, serving a vector collateral
 * (tests/vectors/dcap/) exactly as a PCCS does (shared/specs/tdx-quote.md 2.5): the PCK CRL as a
 * DER body with the URL-encoded issuer chain in SGX-PCK-CRL-Issuer-Chain, {"tcbInfo":<text>,
 * "signature":"<hex>"} with TCB-Info-Issuer-Chain (Intel's TDX spelling) or
 * SGX-TCB-Info-Issuer-Chain (SGX), {"enclaveIdentity":…} with SGX-Enclave-Identity-Issuer-Chain,
 * and the root CA CRL as hex text. The client is the real core/http_client on the same loop.
 * Teardown closes everything, runs the loop dry and checks uv_loop_close() == 0; LSan checks
 * that nothing leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "http_server.h"
#include "pccs.h"
#include "vectors.h"

#define RUN_TIMEOUT_NS ((uint64_t)30 * 1000 * 1000 * 1000)
#define MAX_HELD 16
#define NOW_TDX 1752000000 /* inside tdx_quote's window (vectors README 3.1) */

/* ---- the vector served ------------------------------------------------------------------- */

typedef struct served {
  char *pck_crl_chain, *tcb_chain, *qe_chain; /* URL-encoded PEM */
  uint8_t *pck_crl_der;
  size_t pck_crl_len;
  char *root_crl_hex;
  uint8_t *root_crl_der;
  size_t root_crl_len;
  char *tcb_body, *qe_body;
  char *tcb_info, *qe_identity; /* the file's texts, to compare with */
} served;

static char *url_encode(const char *s) {
  char *out = malloc(3 * strlen(s) + 1), *o = out;
  assert_non_null(out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        strchr("-_.~", c))
      *o++ = (char)c;
    else
      o += sprintf(o, "%%%02X", c);
  }
  *o = '\0';
  return out;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(o, key);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static char *body_of(const char *member, const char *text, const char *sig) {
  size_t n = strlen(member) + strlen(text) + strlen(sig) + 64;
  char *b = malloc(n);
  assert_non_null(b);
  snprintf(b, n, "{\"%s\":%s,\"signature\":\"%s\"}", member, text, sig);
  return b;
}

static void served_load(served *s, const char *name) {
  size_t n;
  char *text = vector_read(name, &n);
  cJSON *o = cJSON_Parse(text);
  assert_non_null(o);
  s->pck_crl_chain = url_encode(str(o, "pck_crl_issuer_chain"));
  s->tcb_chain = url_encode(str(o, "tcb_info_issuer_chain"));
  s->qe_chain = url_encode(str(o, "qe_identity_issuer_chain"));
  s->pck_crl_der = vector_unhex_alloc(str(o, "pck_crl"), &s->pck_crl_len);
  s->root_crl_hex = strdup(str(o, "root_ca_crl"));
  s->root_crl_der = vector_unhex_alloc(s->root_crl_hex, &s->root_crl_len);
  s->tcb_info = strdup(str(o, "tcb_info"));
  s->qe_identity = strdup(str(o, "qe_identity"));
  s->tcb_body = body_of("tcbInfo", s->tcb_info, str(o, "tcb_info_signature"));
  s->qe_body = body_of("enclaveIdentity", s->qe_identity, str(o, "qe_identity_signature"));
  cJSON_Delete(o);
  free(text);
}

static void served_free(served *s) {
  free(s->pck_crl_chain);
  free(s->tcb_chain);
  free(s->qe_chain);
  free(s->pck_crl_der);
  free(s->root_crl_hex);
  free(s->root_crl_der);
  free(s->tcb_body);
  free(s->qe_body);
  free(s->tcb_info);
  free(s->qe_identity);
}

/* A vector quote and core/quote's reading of it (q points into bytes). */
typedef struct loaded_quote {
  uint8_t *bytes;
  th_quote q;
} loaded_quote;

static void quote_load(loaded_quote *lq, const char *name) {
  size_t n;
  lq->bytes = vector_quote(name, &n);
  th_err err = {0};
  if (th_quote_parse(&lq->q, lq->bytes, n, &err) != 0) fail_msg("%s: %s", name, err.message);
}

/* ---- the fixture -------------------------------------------------------------------------- */

enum { ROUTE_PCK_CRL, ROUTE_TCB, ROUTE_QE, ROUTE_ROOT_CRL, ROUTE_CDP, ROUTE_OTHER, NROUTES };

typedef struct fixture {
  uv_loop_t loop;
  uv_timer_t ticker; /* keeps UV_RUN_ONCE from blocking forever, so deadlines are checked */
  th_http_client *http;
  th_http_server *server;
  th_pccs *pccs;
  served s;
  loaded_quote quote;           /* the quote whose collateral the tests fetch */
  const char *tee, *fmspc, *ca; /* what the requests must ask for */
  int hits[NROUTES];
  int fail_route;     /* answer 404 on this route; -1 = none */
  int hold;           /* keep requests unanswered */
  th_http_req *held[MAX_HELD];
  size_t nheld;
  char *qe_chain_override; /* URL-encoded chain to send instead of the vector's */
  const char *tcb_body_override;
  const char *failed_check; /* set in server callbacks, where an assert would longjmp out of MHD */
} fixture;

#define STR2(x) #x
#define STR(x) STR2(x)
#define CHECK(f, cond)                                                             \
  do {                                                                             \
    if (!(cond) && !(f)->failed_check) (f)->failed_check = "line " STR(__LINE__); \
  } while (0)

#define RUN_UNTIL(f, expr)                                                          \
  do {                                                                              \
    uint64_t deadline_ = uv_hrtime() + RUN_TIMEOUT_NS;                              \
    while (!(expr)) {                                                               \
      if ((f)->failed_check) fail_msg("check failed at %s", (f)->failed_check);     \
      assert_true(uv_hrtime() < deadline_);                                         \
      uv_run(&(f)->loop, UV_RUN_ONCE);                                              \
    }                                                                               \
  } while (0)

static void run_for_ms(fixture *f, uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000;
  while (uv_hrtime() < end) uv_run(&f->loop, UV_RUN_ONCE);
}

static const char *query(th_http_req *req, const char *name) {
  size_t n = 0;
  const th_http_header *q = th_http_req_query(req, &n);
  for (size_t i = 0; i < n; i++)
    if (strcmp(q[i].name, name) == 0) return q[i].value;
  return "";
}

static int route_of(fixture *f, th_http_req *req) {
  char want[128];
  const char *path = th_http_req_path(req);
  if (strcmp(path, "/sgx/certification/v4/pckcrl") == 0) {
    CHECK(f, strcmp(query(req, "ca"), f->ca) == 0 && strcmp(query(req, "encoding"), "der") == 0);
    return ROUTE_PCK_CRL;
  }
  snprintf(want, sizeof want, "/%s/certification/v4/tcb", f->tee);
  if (strcmp(path, want) == 0) {
    CHECK(f, strcmp(query(req, "fmspc"), f->fmspc) == 0);
    return ROUTE_TCB;
  }
  snprintf(want, sizeof want, "/%s/certification/v4/qe/identity", f->tee);
  if (strcmp(path, want) == 0) {
    CHECK(f, strcmp(query(req, "update"), "standard") == 0);
    return ROUTE_QE;
  }
  if (strcmp(path, "/sgx/certification/v4/rootcacrl") == 0) return ROUTE_ROOT_CRL;
  if (strcmp(path, "/IntelSGXRootCA.der") == 0) return ROUTE_CDP;
  return ROUTE_OTHER;
}

static void answer(fixture *f, th_http_req *req, int route) {
  const served *s = &f->s;
  int sgx = strcmp(f->tee, "sgx") == 0;
  th_http_header h = {NULL, NULL};
  const char *body = "not found";
  size_t len = 9;
  int status = 200;
  if (route == ROUTE_PCK_CRL) {
    h = (th_http_header){"SGX-PCK-CRL-Issuer-Chain", s->pck_crl_chain};
    body = (const char *)s->pck_crl_der, len = s->pck_crl_len;
  } else if (route == ROUTE_TCB) {
    h = (th_http_header){sgx ? "SGX-TCB-Info-Issuer-Chain" : "TCB-Info-Issuer-Chain",
                         s->tcb_chain};
    body = f->tcb_body_override ? f->tcb_body_override : s->tcb_body, len = strlen(body);
  } else if (route == ROUTE_QE) {
    h = (th_http_header){"SGX-Enclave-Identity-Issuer-Chain",
                         f->qe_chain_override ? f->qe_chain_override : s->qe_chain};
    body = s->qe_body, len = strlen(body);
  } else if (route == ROUTE_ROOT_CRL) {
    body = s->root_crl_hex, len = strlen(body);
  } else if (route == ROUTE_CDP) {
    body = (const char *)s->root_crl_der, len = s->root_crl_len;
  } else {
    status = 404;
  }
  if (route == f->fail_route) status = 404, body = "not found", len = 9, h.name = NULL;
  th_err err = {0};
  CHECK(f, th_http_req_respond(req, status, &h, h.name ? 1 : 0, body, len, &err) == 0);
}

static void on_request(void *ud, th_http_req *req) {
  fixture *f = ud;
  int route = route_of(f, req);
  f->hits[route]++;
  if (f->hold && f->nheld < MAX_HELD) {
    f->held[f->nheld++] = req;
    return;
  }
  answer(f, req, route);
}

static int total_hits(const fixture *f) {
  int n = 0;
  for (int i = 0; i < NROUTES; i++) n += f->hits[i];
  return n;
}

static void tick(uv_timer_t *t) { (void)t; }

static int setup_with(void **state, const char *collateral, const char *quote, const char *tee,
                      const char *fmspc, const char *ca) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  th_err err = {0};
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(uv_timer_init(&f->loop, &f->ticker), 0);
  assert_int_equal(uv_timer_start(&f->ticker, tick, 10, 10), 0);
  served_load(&f->s, collateral);
  quote_load(&f->quote, quote);
  f->tee = tee, f->fmspc = fmspc, f->ca = ca;
  f->fail_route = -1;
  th_http_server_opts o = {.port = 0};
  f->server = th_http_server_start(&f->loop, &o, on_request, f, &err);
  if (!f->server) fail_msg("server: %s", err.message);
  f->http = th_http_client_new(&f->loop, &err);
  assert_non_null(f->http);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", th_http_server_port(f->server));
  f->pccs = th_pccs_new(&f->loop, f->http, url, &err);
  assert_non_null(f->pccs);
  *state = f;
  return 0;
}

static int setup_tdx(void **state) {
  return setup_with(state, "dcap/tdx_quote_collateral.json", "dcap/tdx_quote", "tdx",
                    "B0C06F000000", "platform");
}

static int setup_sgx(void **state) {
  return setup_with(state, "dcap/sgx_quote_collateral.json", "dcap/sgx_quote", "sgx",
                    "00A067110000", "processor");
}

static void closed_noop(uv_handle_t *h) { (void)h; }

static int teardown(void **state) {
  fixture *f = *state;
  const char *failed = f->failed_check;
  th_pccs_free(f->pccs);
  for (size_t i = 0; i < f->nheld; i++) th_http_req_drop(f->held[i]);
  th_http_client_close(f->http);
  th_http_server_close(f->server);
  uv_close((uv_handle_t *)&f->ticker, closed_noop);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0); /* every handle closed */
  served_free(&f->s);
  free(f->quote.bytes);
  free(f->qe_chain_override);
  free(f);
  if (failed) fail_msg("check failed at %s", failed);
  return 0;
}

/* ---- fetching -------------------------------------------------------------------------------- */

typedef struct result {
  int called;
  th_collateral *col;
  th_err err;
  fixture *free_pccs_of; /* free the PCCS from inside the callback */
} result;

static void on_done(void *ud, th_collateral *col, const th_err *err) {
  result *r = ud;
  r->called++;
  r->col = col;
  if (err) r->err = *err;
  if (r->free_pccs_of) {
    th_pccs_free(r->free_pccs_of->pccs);
    r->free_pccs_of->pccs = NULL;
  }
}

/* Asks the PCCS for the collateral of the fixture's quote. */
static void fetch(fixture *f, int64_t now, result *r) {
  th_err err = {0};
  if (th_pccs_fetch(f->pccs, &f->quote.q, now, on_done, r, &err) != 0)
    fail_msg("fetch: %s", err.message);
  assert_int_equal(r->called, 0); /* never from inside th_pccs_fetch */
}

/* fetch, then runs the loop until the callback came. */
static void fetch_wait(fixture *f, int64_t now, result *r) {
  fetch(f, now, r);
  RUN_UNTIL(f, r->called);
}

/* fetch_wait at NOW_TDX; the fetch must succeed (r->col holds the reference). */
static void fetch_ok(fixture *f, result *r) {
  fetch_wait(f, NOW_TDX, r);
  if (!r->col) fail_msg("%s", r->err.message);
}

/* fetch_wait at NOW_TDX; the fetch must fail with `code` (the message is in r->err). */
static void fetch_fails(fixture *f, result *r, int code) {
  fetch_wait(f, NOW_TDX, r);
  assert_null(r->col);
  assert_int_equal(r->err.code, code);
}

static void assert_same_crl(X509_CRL *crl, const uint8_t *der, size_t len) {
  unsigned char *d = NULL;
  int n = i2d_X509_CRL(crl, &d);
  assert_int_equal(n, (int)len);
  assert_memory_equal(d, der, len);
  OPENSSL_free(d);
}

static void assert_matches_file(fixture *f, const th_collateral *c) {
  assert_string_equal(c->tcb_info_json, f->s.tcb_info);
  assert_string_equal(c->qe_identity_json, f->s.qe_identity);
  assert_same_crl(c->pck_crl, f->s.pck_crl_der, f->s.pck_crl_len);
  assert_same_crl(c->root_ca_crl, f->s.root_crl_der, f->s.root_crl_len);
  assert_non_null(c->pck_crl_issuer_chain);
  assert_int_equal(sk_X509_num(c->tcb_info_issuer_chain), 2);
  assert_int_equal(sk_X509_num(c->qe_identity_issuer_chain), 2);
  assert_null(c->pck_certificate_chain);
}

/* The signatures as the file has them (hex in the JSON). */
static void assert_signatures_match(const th_collateral *c, const char *collateral) {
  size_t n;
  char *text = vector_read(collateral, &n);
  cJSON *o = cJSON_Parse(text);
  size_t len;
  uint8_t *tcb = vector_unhex_alloc(str(o, "tcb_info_signature"), &len), *qe;
  assert_memory_equal(c->tcb_info_signature, tcb, 64);
  qe = vector_unhex_alloc(str(o, "qe_identity_signature"), &len);
  assert_memory_equal(c->qe_identity_signature, qe, 64);
  free(tcb);
  free(qe);
  cJSON_Delete(o);
  free(text);
}

static void test_fetch_equals_the_file(void **state) {
  fixture *f = *state;
  result r = {0};
  fetch_ok(f, &r);
  assert_matches_file(f, r.col);
  assert_signatures_match(r.col, "dcap/tdx_quote_collateral.json");
  assert_int_equal(f->hits[ROUTE_PCK_CRL] + f->hits[ROUTE_TCB] + f->hits[ROUTE_QE] +
                       f->hits[ROUTE_ROOT_CRL],
                   4);
  assert_int_equal(total_hits(f), 4);
  assert_int_equal(th_pccs_cache_size(f->pccs), 1);
  th_collateral_unref(r.col);
}

static void test_sgx_fetch_processor_ca(void **state) {
  fixture *f = *state;
  result r = {0};
  fetch_ok(f, &r);
  assert_matches_file(f, r.col);
  assert_string_equal(r.col->tcb_info.id, "SGX");
  th_collateral_unref(r.col);
}

static void test_second_fetch_from_cache(void **state) {
  fixture *f = *state;
  result a = {0}, b = {0}, c = {0};
  fetch_wait(f, NOW_TDX, &a);
  assert_non_null(a.col);
  fetch_wait(f, NOW_TDX + 60, &b); /* cached: delivered from the loop, no request */
  assert_ptr_equal(b.col, a.col);
  assert_int_equal(total_hits(f), 4);
  /* the PCK CRL's nextUpdate (1752919235, vectors README 3.1) is the earliest: then refetch */
  fetch_wait(f, 1752919235, &c);
  assert_non_null(c.col);
  assert_ptr_not_equal(c.col, a.col);
  assert_int_equal(total_hits(f), 8);
  assert_int_equal(th_pccs_cache_size(f->pccs), 1);
  th_collateral_unref(a.col);
  th_collateral_unref(b.col);
  th_collateral_unref(c.col);
}

static void test_concurrent_fetches_coalesce(void **state) {
  fixture *f = *state;
  result a = {0}, b = {0};
  fetch(f, NOW_TDX, &a);
  fetch(f, NOW_TDX, &b);
  RUN_UNTIL(f, a.called && b.called);
  assert_non_null(a.col);
  assert_ptr_equal(a.col, b.col);
  assert_int_equal(total_hits(f), 4);
  th_collateral_unref(a.col);
  th_collateral_unref(b.col);
}

static void test_not_found_names_url(void **state) {
  fixture *f = *state;
  f->fail_route = ROUTE_TCB;
  result r = {0};
  fetch_fails(f, &r, TH_EPROTO);
  char want[200];
  snprintf(want, sizeof want,
           "GET http://127.0.0.1:%d/tdx/certification/v4/tcb?fmspc=B0C06F000000: HTTP 404",
           th_http_server_port(f->server));
  assert_string_equal(r.err.message, want);
  assert_int_equal(th_pccs_cache_size(f->pccs), 0);
  RUN_UNTIL(f, total_hits(f) == 4 && th_http_client_active(f->http) == 0);
}

static void test_bad_body_is_baddata(void **state) {
  fixture *f = *state;
  f->tcb_body_override = "{\"tcbInfo\":{},\"signature\":\"00\"}";
  result r = {0};
  fetch_fails(f, &r, TH_EBADDATA);
  assert_non_null(strstr(r.err.message, "/tdx/certification/v4/tcb?fmspc=B0C06F000000: "
                                        "signature: expected 128 hex digits, got 2"));
}

static int unused_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd); /* bound, never listened: connecting is refused */
  return ntohs(sa.sin_port);
}

static void test_connection_refused_says_offline(void **state) {
  fixture *f = *state;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", unused_port());
  th_err err = {0};
  th_pccs_free(f->pccs);
  f->pccs = th_pccs_new(&f->loop, f->http, url, &err);
  assert_non_null(f->pccs);
  result r = {0};
  fetch_fails(f, &r, TH_ECONNREFUSED);
  url[strlen(url) - 1] = '\0'; /* named as normalised */
  char want[128];
  snprintf(want, sizeof want, "PCCS %s: connect to 127.0.0.1:", url);
  assert_true(strncmp(r.err.message, want, strlen(want)) == 0);
  const char *hint = "(offline? give --collateral FILE instead)";
  size_t ml = strlen(r.err.message);
  assert_true(ml > strlen(hint));
  assert_string_equal(r.err.message + ml - strlen(hint), hint);
  assert_int_equal(total_hits(f), 0);
}

static void test_free_in_flight_no_callback(void **state) {
  fixture *f = *state;
  f->hold = 1;
  result r = {0};
  fetch(f, NOW_TDX, &r);
  RUN_UNTIL(f, f->nheld == 4);
  assert_int_equal(th_http_client_active(f->http), 4);
  th_pccs_free(f->pccs);
  f->pccs = NULL;
  assert_int_equal(th_http_client_active(f->http), 0);
  run_for_ms(f, 50);
  assert_int_equal(r.called, 0);
}

/* A waiter's callback frees the PCCS: the other waiter is dropped without a call. */
static void test_free_from_callback(void **state) {
  fixture *f = *state;
  result a = {.free_pccs_of = f}, b = {0};
  fetch(f, NOW_TDX, &a);
  fetch(f, NOW_TDX, &b);
  RUN_UNTIL(f, a.called);
  run_for_ms(f, 20);
  assert_int_equal(b.called, 0);
  assert_null(f->pccs);
  th_collateral_unref(a.col);
}

/* A cache hit still waiting for the loop when the PCCS is freed: no callback, no leak. */
static void test_free_with_cache_hit_pending(void **state) {
  fixture *f = *state;
  result a = {0}, b = {0};
  fetch_wait(f, NOW_TDX, &a);
  fetch(f, NOW_TDX, &b);
  th_pccs_free(f->pccs);
  f->pccs = NULL;
  run_for_ms(f, 20);
  assert_int_equal(b.called, 0);
  th_collateral_unref(a.col);
}

static void test_base_url_normalised(void **state) {
  fixture *f = *state;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/tdx/certification/v4/",
           th_http_server_port(f->server));
  th_err err = {0};
  th_pccs_free(f->pccs);
  f->pccs = th_pccs_new(&f->loop, f->http, url, &err);
  result r = {0};
  fetch_ok(f, &r);
  assert_int_equal(f->hits[ROUTE_OTHER], 0);
  th_collateral_unref(r.col);
  assert_null(th_pccs_new(&f->loop, f->http, "ftp://example.com", &err));
  assert_int_equal(err.code, TH_EINVAL);
}

static void test_encrypted_ppid_needs_chain(void **state) {
  fixture *f = *state;
  f->quote.q.cert_type = TH_CERT_PPID_RSA3072;
  result r = {0};
  th_err err = {0};
  assert_int_equal(th_pccs_fetch(f->pccs, &f->quote.q, NOW_TDX, on_done, &r, &err), -1);
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "quote carries an encrypted PPID (type 3): give a PCK "
                                   "certificate chain in the collateral");
  run_for_ms(f, 10);
  assert_int_equal(r.called, 0);
  assert_int_equal(total_hits(f), 0);
}

/* ---- Intel's PCS: no rootcacrl, the root's CRL distribution point instead ------------------ */

/* A self-signed stand-in for the root whose CDP is this server (none when port is 0): the real
 * root's CDP is on the internet. The collateral does not verify chains, so any certificate fits. */
static char *root_with_cdp(int port) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  assert_true(key && x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"test root", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_set_pubkey(x, key);
  if (port > 0) {
    char cdp[96];
    snprintf(cdp, sizeof cdp, "URI:http://127.0.0.1:%d/IntelSGXRootCA.der", port);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_crl_distribution_points, cdp);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  assert_true(X509_sign(x, key, EVP_sha256()) > 0);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char *data = NULL;
  long n = BIO_get_mem_data(bio, &data);
  char *pem = strndup(data, (size_t)n);
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

static void test_root_crl_from_distribution_point(void **state) {
  fixture *f = *state;
  char *pem = root_with_cdp(th_http_server_port(f->server));
  f->qe_chain_override = url_encode(pem);
  f->fail_route = ROUTE_ROOT_CRL;
  result r = {0};
  fetch_ok(f, &r);
  assert_int_equal(f->hits[ROUTE_ROOT_CRL], 1);
  assert_int_equal(f->hits[ROUTE_CDP], 1); /* served as DER */
  assert_same_crl(r.col->root_ca_crl, f->s.root_crl_der, f->s.root_crl_len);
  th_collateral_unref(r.col);
  free(pem);
}

static void test_root_crl_404_without_distribution_point(void **state) {
  fixture *f = *state;
  char *pem = root_with_cdp(0);
  f->qe_chain_override = url_encode(pem);
  f->fail_route = ROUTE_ROOT_CRL;
  result r = {0};
  fetch_fails(f, &r, TH_EPROTO);
  char want[200];
  snprintf(want, sizeof want,
           "GET http://127.0.0.1:%d/sgx/certification/v4/rootcacrl: HTTP 404, and the root "
           "certificate names no CRL distribution point",
           th_http_server_port(f->server));
  assert_string_equal(r.err.message, want);
  free(pem);
}
int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fetch_equals_the_file, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_sgx_fetch_processor_ca, setup_sgx, teardown),
      cmocka_unit_test_setup_teardown(test_second_fetch_from_cache, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_fetches_coalesce, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_not_found_names_url, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_bad_body_is_baddata, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_connection_refused_says_offline, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_free_in_flight_no_callback, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_free_from_callback, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_free_with_cache_hit_pending, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_base_url_normalised, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_encrypted_ppid_needs_chain, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_root_crl_from_distribution_point, setup_tdx, teardown),
      cmocka_unit_test_setup_teardown(test_root_crl_404_without_distribution_point, setup_tdx,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
