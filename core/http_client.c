/* core/http_client.c — asynchronous HTTP client: libcurl's multi interface on a libuv loop.
 *
 * What this file owns:
 *  - th_http_client: one CURLM multi handle, one uv_timer_t (curl's timeout) and one uv_poll_t
 *    per socket curl asks us to watch (struct sock_ctx), plus the list of calls in flight.
 *  - th_http_call: one CURL easy handle with everything it points to (request header list,
 *    copied body, error buffer) and the response being collected (status, headers, body).
 *
 * How it is driven (curl's docs/examples/multi-uv.c, minus that example's known flaws):
 *  - curl tells us which sockets to watch through on_curl_socket (CURLMOPT_SOCKETFUNCTION).
 *    Each socket gets a sock_ctx remembered by curl via curl_multi_assign, so a reused fd
 *    number never finds a stale context. On CURL_POLL_REMOVE the poll is stopped and closed at
 *    once (curl closes the fd right after) and the context is freed in the close callback,
 *    because libuv owns the handle until then.
 *  - curl's single timeout goes to on_curl_timer (CURLMOPT_TIMERFUNCTION): -1 stops the timer,
 *    anything else (0 included) (re)arms it. We never call curl_multi_socket_action from inside
 *    a curl callback: curl forbids that recursion, and a 0 ms uv timer is "soon" enough.
 *  - After EVERY curl_multi_socket_action we drain curl_multi_info_read, so finished transfers
 *    complete promptly whichever socket or timer event finished them.
 *  - A poll error (status < 0) is passed on as CURL_CSELECT_ERR so curl looks at the socket
 *    and fails or retries the transfer itself; libuv has stopped the poll on error, so it is
 *    restarted if curl still wants the socket.
 *
 * Re-entrancy: a call is removed from the multi handle, unlinked and freed BEFORE its callback
 * runs, and the callback only gets locals. So a callback may start requests, cancel others or
 * close the client; after each callback we check `closing` and stop touching curl if it is set.
 * The client's memory itself stays valid until libuv runs the close callbacks of its handles
 * (the timer and every poll), which happens on a later loop iteration; only then is it freed.
 *
 * If one of our curl callbacks cannot do its job (out of memory, uv error), it returns -1,
 * which makes curl mark the whole multi handle dead; curl would then only fail transfers it
 * happens to run again, so we fail every call in flight ourselves (fail_all) and curl revives
 * the handle once it is empty.
 *
 * Process-wide state: curl_global_init is not ours alone and is not safe to call concurrently
 * in every libcurl build, so it is run exactly once per process via pthread_once and never
 * undone (curl_global_cleanup at exit would race with any other user). Nothing else is global. */
#include "http_client.h"
#include "lazy_curl.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

typedef struct sock_ctx sock_ctx;

struct th_http_client {
  uv_loop_t *loop;
  CURLM *multi;          /* NULL once closing */
  uv_timer_t timer;      /* curl's one timeout */
  th_http_call *calls;   /* in flight: added to the multi handle, callback not yet run */
  size_t active;         /* length of `calls` */
  sock_ctx *socks;       /* every poll context whose close callback has not run yet */
  size_t open_handles;   /* timer + polls not yet closed; the client is freed at 0 */
  int closing;
  int cb_error;          /* th_err code of a curl callback that returned -1, else 0 */
};

struct sock_ctx {
  uv_poll_t poll;
  th_http_client *client;
  curl_socket_t fd;
  int events;   /* UV_READABLE|UV_WRITABLE as curl last asked */
  int closing;  /* uv_close was called; waiting for on_poll_closed */
  sock_ctx *prev, *next;
};

struct th_http_call {
  th_http_client *client;
  th_http_call *prev, *next;
  CURL *easy;
  th_http_done_cb cb;
  void *ud;
  struct curl_slist *req_headers;
  char *body;           /* our copy: CURLOPT_POSTFIELDS does not copy */
  char *strings;        /* one block holding method, url, target and host (for messages) */
  const char *method;
  const char *url;
  const char *target;   /* unix socket path or host:port, as in "connect to <target>" */
  const char *host;
  long timeout_ms;
  int nomem;            /* a body/header callback failed to allocate */
  int doomed;           /* fail_all is failing this call */
  th_http_header *hdrs; /* response headers so far (of the latest status line) */
  size_t nhdrs, hdrs_cap;
  char *resp;           /* response body so far; capacity always leaves room for a NUL */
  size_t resp_len, resp_cap;
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- process-wide curl initialisation ---------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- small helpers ------------------------------------------------------------------------ */

static char ascii_lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch; }

/* Header names compare case-insensitively, in ASCII whatever the C locale says. */
static int names_equal(const char *a, const char *b) {
  while (*a && ascii_lower(*a) == ascii_lower(*b)) a++, b++;
  return !*a && !*b;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\0'; }

/* RFC 9112 2.2: a bare CR may be replaced by SP; NUL likewise (it would cut the C string). */
static void blank_out(char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\0') s[i] = ' ';
}

/* RFC 9110 tchar: what a method or header name may consist of. */
static int is_token(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) continue;
    if (!strchr("!#$%&'*+-.^_`|~", ch)) return 0;
  }
  return 1;
}

/* Grows *buf so that it holds at least `need` bytes: doubling keeps appends amortised O(1);
 * every size computation is overflow-checked because a response may be arbitrarily large. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem, size_t min_cap) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : min_cap;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) {
      ncap = need;
      break;
    }
    ncap *= 2;
  }
  if (ncap > SIZE_MAX / elem) return -1;
  void *p = realloc(*buf, ncap * elem);
  if (!p) return -1;
  *buf = p;
  *cap = ncap;
  return 0;
}

static void headers_free(th_http_header *h, size_t n) {
  /* name and value share one allocation (see header_add), owned through `name`. */
  for (size_t i = 0; i < n; i++) free(h[i].name);
  free(h);
}

/* The OS error text, without strerror's shared buffer (another thread may use it). */
static const char *os_error_text(int errnum, char *buf, size_t len) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return strerror_r(errnum, buf, len);
#else
  if (strerror_r(errnum, buf, len) != 0) snprintf(buf, len, "error %d", errnum);
  return buf;
#endif
}

/* ---- response collection (curl write/header callbacks) ------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
  th_http_call *call = userp;
  size_t n = size * nmemb; /* size is always 1 for write callbacks */
  if (n > SIZE_MAX - call->resp_len - 1 ||
      grow((void **)&call->resp, &call->resp_cap, call->resp_len + n + 1, 1, 256) != 0) {
    call->nomem = 1;
    return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
  }
  memcpy(call->resp + call->resp_len, data, n);
  call->resp_len += n;
  return n;
}

/* Trims blanks on both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n) {
  while (*n && is_blank((*s)[0])) (*s)++, (*n)--;
  while (*n && is_blank((*s)[*n - 1])) (*n)--;
}

/* Stores one header as a single allocation "name\0value\0": half the mallocs per header. */
static int header_add(th_http_call *call, const char *name, size_t nlen, const char *val,
                      size_t vlen) {
  if (grow((void **)&call->hdrs, &call->hdrs_cap, call->nhdrs + 1, sizeof *call->hdrs, 8) != 0)
    return -1;
  char *block = malloc(nlen + vlen + 2);
  if (!block) return -1;
  for (size_t i = 0; i < nlen; i++) block[i] = ascii_lower(name[i]);
  block[nlen] = '\0';
  blank_out(block, nlen);
  memcpy(block + nlen + 1, val, vlen);
  blank_out(block + nlen + 1, vlen);
  block[nlen + 1 + vlen] = '\0';
  call->hdrs[call->nhdrs].name = block;
  call->hdrs[call->nhdrs].value = block + nlen + 1;
  call->nhdrs++;
  return 0;
}

/* An obsolete folded continuation line (RFC 9112 5.2): joined to the previous value by one
 * space, which is what the RFC tells recipients to do. */
static int header_fold(th_http_call *call, const char *val, size_t vlen) {
  trim(&val, &vlen);
  if (call->nhdrs == 0 || vlen == 0) return 0;
  th_http_header *h = &call->hdrs[call->nhdrs - 1];
  size_t nlen = strlen(h->name), olen = strlen(h->value);
  char *block = realloc(h->name, nlen + 1 + olen + 1 + vlen + 1);
  if (!block) return -1;
  char *value = block + nlen + 1;
  size_t sep = olen ? 1 : 0; /* an empty value gains no leading space */
  value[olen] = ' ';
  memcpy(value + olen + sep, val, vlen);
  blank_out(value + olen + sep, vlen);
  value[olen + sep + vlen] = '\0';
  h->name = block;
  h->value = value;
  return 0;
}

static int header_line(th_http_call *call, const char *line, size_t n) {
  /* curl ends the header block at a line that starts with CR or LF, whatever follows */
  if (n && (line[0] == '\r' || line[0] == '\n')) return 0;
  while (n && (line[n - 1] == '\r' || line[n - 1] == '\n')) n--;
  if (n >= 5 && strncasecmp(line, "HTTP/", 5) == 0) { /* curl's own test ignores case */
    /* A new status line (after a 1xx, or a proxy's CONNECT answer): only the final response's
     * headers are reported, so drop what was collected so far. */
    headers_free(call->hdrs, call->nhdrs);
    call->hdrs = NULL;
    call->nhdrs = call->hdrs_cap = 0;
    return 0;
  }
  if (n == 0) return 0; /* the blank line ending a header block */
  if (line[0] == ' ' || line[0] == '\t') return header_fold(call, line, n);
  const char *colon = memchr(line, ':', n);
  if (!colon) return 0; /* not a header; curl would not pass one, nothing to keep */
  const char *name = line, *val = colon + 1;
  size_t nlen = (size_t)(colon - line), vlen = n - nlen - 1;
  trim(&name, &nlen);
  trim(&val, &vlen);
  if (nlen == 0) return 0;
  return header_add(call, name, nlen, val, vlen);
}

static size_t on_header(char *data, size_t size, size_t nitems, void *userp) {
  th_http_call *call = userp;
  size_t n = size * nitems;
  if (header_line(call, data, n) != 0) {
    call->nomem = 1;
    return 0;
  }
  return n;
}

/* ---- call lifetime ------------------------------------------------------------------------ */

/* Easy handles are not reused: libcurl before 8.1.0 (Debian 12 has 7.88.1) keeps a dangling
 * header pointer across curl_easy_reset, and a folded first header line in the next response
 * then reads and reallocates freed memory (curl issue #11101; found by fuzz_http_response). */
static void call_free(th_http_call *call) {
  if (call->easy) curl_easy_cleanup(call->easy);
  curl_slist_free_all(call->req_headers);
  free(call->body);
  free(call->strings);
  headers_free(call->hdrs, call->nhdrs);
  free(call->resp);
  free(call);
}

static void call_link(th_http_client *c, th_http_call *call) {
  call->prev = NULL;
  call->next = c->calls;
  if (c->calls) c->calls->prev = call;
  c->calls = call;
  c->active++;
}

/* Takes the call out of the multi handle and the client's list; after this nothing of the
 * client refers to it, so it can be freed and its callback may do anything. */
static void call_detach(th_http_call *call) {
  th_http_client *c = call->client;
  curl_multi_remove_handle(c->multi, call->easy);
  if (call->prev) call->prev->next = call->next;
  else c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  c->active--;
}

/* Moves the collected response into a th_http_response. NULL only when out of memory. */
static th_http_response *take_response(th_http_call *call) {
  th_http_response *res = malloc(sizeof *res);
  if (!res) return NULL;
  if (!call->resp) {
    call->resp = malloc(1); /* HEAD, 204, empty body: still a NUL-terminated string */
    if (!call->resp) {
      free(res);
      return NULL;
    }
  }
  call->resp[call->resp_len] = '\0'; /* on_body always leaves room for it */
  res->status = 0;
  curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &res->status);
  res->headers = call->hdrs;
  res->nheaders = call->nhdrs;
  res->body = call->resp;
  res->body_len = call->resp_len;
  call->hdrs = NULL;
  call->nhdrs = call->hdrs_cap = 0;
  call->resp = NULL;
  call->resp_len = call->resp_cap = 0;
  return res;
}

/* ---- error mapping ------------------------------------------------------------------------- */

static int is_tls_error(CURLcode rc) {
  switch (rc) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
    return 1;
  default:
    return 0;
  }
}

static int is_reset_error(CURLcode rc) {
  return rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
         rc == CURLE_PARTIAL_FILE;
}

static void connect_failure(const th_http_call *call, const char *why, th_err *err) {
  long os_errno = 0;
  char buf[128];
  curl_easy_getinfo(call->easy, CURLINFO_OS_ERRNO, &os_errno);
  if (os_errno > 0) why = os_error_text((int)os_errno, buf, sizeof buf);
  th_err_set(err, TH_ECONNREFUSED, "connect to %s: %s", call->target, why);
}

static void timeout_failure(const th_http_call *call, th_err *err) {
  double secs = (double)call->timeout_ms / 1000.0;
  if (call->timeout_ms <= 0) /* curl's own connect timeout: report how long it took */
    curl_easy_getinfo(call->easy, CURLINFO_TOTAL_TIME, &secs);
  th_err_set(err, TH_ETIMEDOUT, "%s %s: timed out after %g s", call->method, call->url, secs);
}

/* Errors that mean the peer's bytes were not acceptable HTTP (e.g. "Received HTTP/0.9",
 * "Header without colon", a status line curl rejects). */
static int is_protocol_error(CURLcode rc) {
  return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY ||
         rc == CURLE_BAD_CONTENT_ENCODING || rc == CURLE_BAD_FUNCTION_ARGUMENT ||
         rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM || rc == CURLE_RANGE_ERROR;
}

/* Fills err for a transfer that ended with rc != CURLE_OK (or ran out of memory). */
static void describe_failure(const th_http_call *call, CURLcode rc, th_err *err) {
  const char *why = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
  if (call->nomem || rc == CURLE_OUT_OF_MEMORY)
    th_err_set(err, TH_ENOMEM, "%s %s: out of memory", call->method, call->url);
  else if (rc == CURLE_COULDNT_CONNECT)
    connect_failure(call, why, err);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    timeout_failure(call, err);
  else if (rc == CURLE_COULDNT_RESOLVE_HOST)
    th_err_set(err, TH_ENOTFOUND, "resolve host '%s': %s", call->host, curl_easy_strerror(rc));
  else if (is_tls_error(rc))
    th_err_set(err, TH_ETLS, "TLS with %s: %s", call->host, why);
  else if (is_reset_error(rc))
    th_err_set(err, TH_ECONNRESET, "%s %s: connection closed by peer: %s", call->method,
               call->url, why);
  else if (rc == CURLE_URL_MALFORMAT)
    th_err_set(err, TH_EINVAL, "%s %s: %s", call->method, call->url, why);
  else if (is_protocol_error(rc)) /* the URL was checked before starting: this is the peer */
    th_err_set(err, TH_EPROTO, "%s %s: the server's answer is not valid HTTP: %s", call->method,
               call->url, why);
  else
    th_err_set(err, TH_EIO, "%s %s: %s", call->method, call->url, why);
}

/* ---- completion ---------------------------------------------------------------------------- */

/* Finishes a call curl reported done: detach, build the result, free, then call back. */
static void complete(th_http_call *call, CURLcode rc) {
  th_err err = {0};
  th_http_response *res = NULL;
  call_detach(call);
  if (rc == CURLE_OK && !call->nomem) {
    res = take_response(call);
    if (!res) {
      th_err_set(&err, TH_ENOMEM, "%s %s: out of memory", call->method, call->url);
    } else if (res->status < 100 || res->status > 999) {
      th_err_set(&err, TH_EPROTO, "%s %s: bad status %ld in the status line", call->method,
                 call->url, res->status);
      th_http_response_free(res);
      res = NULL;
    }
  } else {
    describe_failure(call, rc, &err);
  }
  th_http_done_cb cb = call->cb;
  void *ud = call->ud;
  call_free(call);
  cb(ud, res, res ? NULL : &err);
}

static void check_done(th_http_client *c) {
  CURLMsg *msg;
  int left;
  while (!c->closing && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    char *priv = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    complete((th_http_call *)(void *)priv, msg->data.result);
  }
}

static th_http_call *first_doomed(th_http_client *c) {
  for (th_http_call *call = c->calls; call; call = call->next)
    if (call->doomed) return call;
  return NULL;
}

/* The multi handle failed as a whole (see the header comment): fail every call that was in
 * flight. Calls started by those callbacks are not doomed: by then the multi handle is empty
 * and usable again. Rescanning from the head keeps this correct whatever callbacks cancel. */
static void fail_all(th_http_client *c, CURLMcode mc) {
  int code = c->cb_error ? c->cb_error : (mc == CURLM_OUT_OF_MEMORY ? TH_ENOMEM : TH_EIO);
  const char *why = c->cb_error == TH_ENOMEM ? "out of memory" : curl_multi_strerror(mc);
  c->cb_error = 0;
  for (th_http_call *call = c->calls; call; call = call->next) call->doomed = 1;
  th_http_call *call;
  while (!c->closing && (call = first_doomed(c)) != NULL) {
    th_err err;
    th_err_set(&err, code, "%s %s: %s", call->method, call->url, why);
    call_detach(call);
    th_http_done_cb cb = call->cb;
    void *ud = call->ud;
    call_free(call);
    cb(ud, NULL, &err);
  }
}

/* Runs curl for one event, then completes whatever finished. */
static void socket_action(th_http_client *c, curl_socket_t fd, int ev_bitmask) {
  int running = 0;
  CURLMcode mc = curl_multi_socket_action(c->multi, fd, ev_bitmask, &running);
  check_done(c);
  if (mc != CURLM_OK && !c->closing) fail_all(c, mc);
}

/* ---- libuv side ------------------------------------------------------------------------------ */

static void client_free(th_http_client *c) { free(c); }

static void handle_closed(th_http_client *c) {
  c->open_handles--;
  if (c->closing && c->open_handles == 0) client_free(c);
}

static void on_timer_closed(uv_handle_t *h) { handle_closed(h->data); }

static void on_poll_closed(uv_handle_t *h) {
  sock_ctx *ctx = h->data;
  th_http_client *c = ctx->client;
  if (ctx->prev) ctx->prev->next = ctx->next;
  else c->socks = ctx->next;
  if (ctx->next) ctx->next->prev = ctx->prev;
  free(ctx);
  handle_closed(c);
}

static void sock_close(sock_ctx *ctx) {
  if (ctx->closing) return;
  ctx->closing = 1;
  uv_poll_stop(&ctx->poll); /* before curl closes the fd: epoll must forget it first */
  uv_close((uv_handle_t *)&ctx->poll, on_poll_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_ctx *ctx = h->data;
  th_http_client *c = ctx->client;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  socket_action(c, ctx->fd, flags);
  /* libuv stops a poll that reported an error; if curl still wants this socket (it neither
   * removed nor re-armed it), keep watching so the transfer cannot stall. ctx is still valid
   * memory here even if closed meanwhile: it is freed only in on_poll_closed. */
  if (status < 0 && !ctx->closing && !c->closing && ctx->events && !uv_is_active((uv_handle_t *)h))
    uv_poll_start(h, ctx->events, on_poll);
}

static void on_timer(uv_timer_t *t) {
  th_http_client *c = t->data;
  socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

/* ---- curl multi callbacks (never call back into curl from here) ------------------------------ */

static sock_ctx *sock_new(th_http_client *c, curl_socket_t fd) {
  sock_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    c->cb_error = TH_ENOMEM;
    return NULL;
  }
  if (uv_poll_init_socket(c->loop, &ctx->poll, fd) != 0) {
    free(ctx); /* the handle was not initialised: nothing for libuv to close */
    c->cb_error = TH_EIO;
    return NULL;
  }
  ctx->poll.data = ctx;
  ctx->client = c;
  ctx->fd = fd;
  ctx->next = c->socks;
  if (c->socks) c->socks->prev = ctx;
  c->socks = ctx;
  c->open_handles++;
  return ctx;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  th_http_client *c = userp;
  sock_ctx *ctx = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (ctx) sock_close(ctx); /* curl forgets socketp itself */
    return 0;
  }
  if (c->closing) return 0; /* all polls are being closed; nothing new to watch */
  if (!ctx) {
    ctx = sock_new(c, fd);
    if (!ctx) return -1;
    curl_multi_assign(c->multi, fd, ctx);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  ctx->events = events;
  int rc = events ? uv_poll_start(&ctx->poll, events, on_poll) : uv_poll_stop(&ctx->poll);
  if (rc != 0) {
    c->cb_error = TH_EIO;
    return -1;
  }
  return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  th_http_client *c = userp;
  (void)multi;
  if (c->closing) return 0;
  if (timeout_ms < 0) uv_timer_stop(&c->timer);
  else uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- client -------------------------------------------------------------------------------- */

th_http_client *th_http_client_new(uv_loop_t *loop, th_err *err) {
  if (!loop) {
    th_err_set(err, TH_EINVAL, "http client: no loop");
    return NULL;
  }
  if (th_lazy_curl_load(err) != 0) return NULL;
  if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK) {
    th_err_set(err, TH_EIO, "http client: curl_global_init failed: %s",
               curl_easy_strerror(curl_init_rc));
    return NULL;
  }
  th_http_client *c = calloc(1, sizeof *c);
  if (!c || !(c->multi = curl_multi_init())) {
    free(c);
    th_err_set(err, TH_ENOMEM, "http client: out of memory");
    return NULL;
  }
  c->loop = loop;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  uv_timer_init(loop, &c->timer); /* cannot fail for a valid loop */
  c->timer.data = c;
  c->open_handles = 1;
  return c;
}

void th_http_client_close(th_http_client *c) {
  if (!c || c->closing) return;
  c->closing = 1;
  /* Removing an easy handle may report sockets removed: on_curl_socket closes their polls. */
  while (c->calls) {
    th_http_call *call = c->calls;
    call_detach(call);
    call_free(call);
  }
  /* Stop watching every socket before curl_multi_cleanup closes the cached connections. */
  for (sock_ctx *ctx = c->socks; ctx; ctx = ctx->next) sock_close(ctx);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
}

size_t th_http_client_active(const th_http_client *c) { return c ? c->active : 0; }

/* ---- starting a request -------------------------------------------------------------------- */

static int check_opts(const th_http_client *c, const th_http_request_opts *o, const char *method,
                      th_err *err) {
  if (!c || c->closing) return th_err_set(err, TH_EINVAL, "http request: client is closed");
  if (!o || !o->url || !*o->url) return th_err_set(err, TH_EINVAL, "http request: no URL");
  if (!is_token(method)) return th_err_set(err, TH_EINVAL, "http request: bad method '%s'", method);
  if (o->timeout_ms < 0) return th_err_set(err, TH_EINVAL, "http request: negative timeout");
  if (o->unix_socket &&
      (!*o->unix_socket || strlen(o->unix_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
    return th_err_set(err, TH_EINVAL, "http request: bad unix socket path '%s'", o->unix_socket);
  if (o->nheaders && !o->headers) return th_err_set(err, TH_EINVAL, "http request: no headers");
  for (size_t i = 0; i < o->nheaders; i++) {
    const th_http_header *h = &o->headers[i];
    if (!is_token(h->name))
      return th_err_set(err, TH_EINVAL, "http request: bad header name '%s'",
                        h->name ? h->name : "(null)");
    /* CR/LF in a value would let a caller inject headers or a second request. */
    if (h->value && strpbrk(h->value, "\r\n"))
      return th_err_set(err, TH_EINVAL, "http request: bad value for header '%s'", h->name);
  }
  if (o->body_len && !o->body) return th_err_set(err, TH_EINVAL, "http request: no body");
  return 0;
}

/* Copies method, url, target and host into one block for the error messages. */
static int set_strings(th_http_call *call, const char *method, const char *url,
                       const char *unix_socket, const char *host, const char *port) {
  size_t ml = strlen(method), ul = strlen(url), hl = strlen(host);
  size_t tl = unix_socket ? strlen(unix_socket) : hl + 1 + strlen(port);
  char *s = malloc(ml + 1 + ul + 1 + tl + 1 + hl + 1);
  if (!s) return -1;
  call->strings = s;
  call->method = memcpy(s, method, ml + 1);
  call->url = memcpy(s + ml + 1, url, ul + 1);
  char *target = s + ml + 1 + ul + 1;
  if (unix_socket) memcpy(target, unix_socket, tl + 1);
  else snprintf(target, tl + 1, "%s:%s", host, port);
  call->target = target;
  call->host = memcpy(target + tl + 1, host, hl + 1);
  return 0;
}

static int url_error(th_err *err, const char *url, CURLUcode uc) {
  if (uc == CURLUE_OUT_OF_MEMORY) return th_err_set(err, TH_ENOMEM, "http request: out of memory");
  return th_err_set(err, TH_EINVAL, "invalid URL '%s': %s", url, curl_url_strerror(uc));
}

/* Parses the URL up front so a bad or non-HTTP URL fails at once, and keeps its host:port. */
static int parse_url(th_http_call *call, const char *method, const char *url,
                     const char *unix_socket, th_err *err) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  CURLUcode uc;
  if (!u) return th_err_set(err, TH_ENOMEM, "http request: out of memory");
  if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK ||
      (uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK) {
    url_error(err, url, uc);
  } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    th_err_set(err, TH_EINVAL, "unsupported URL scheme '%s' in '%s'", scheme, url);
  } else if ((uc = curl_url_get(u, CURLUPART_HOST, &host, 0)) != CURLUE_OK ||
             (uc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) != CURLUE_OK) {
    url_error(err, url, uc);
  } else if (set_strings(call, method, url, unix_socket, host, port) != 0) {
    th_err_set(err, TH_ENOMEM, "http request: out of memory");
  } else {
    rc = 0;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

static int has_header(const th_http_request_opts *o, const char *name) {
  for (size_t i = 0; i < o->nheaders; i++)
    if (names_equal(o->headers[i].name, name)) return 1;
  return 0;
}

static int add_header(struct curl_slist **list, const char *line) {
  struct curl_slist *l = curl_slist_append(*list, line);
  if (!l) return -1;
  *list = l;
  return 0;
}

/* Builds curl's header list. curl reads "Name:" as "do not send Name" and "Name;" as "send
 * Name with an empty value", so empty values use the latter. */
static int build_headers(th_http_call *call, const th_http_request_opts *o, int has_body) {
  /* No "Expect: 100-continue" round trip before larger bodies unless the caller asks for it:
   * it costs a round trip (or curl's 1 s wait when the server ignores it). */
  if (!has_header(o, "Expect") && add_header(&call->req_headers, "Expect:") != 0) return -1;
  /* curl labels a POSTFIELDS body as a form; an unlabelled body is more honest. */
  if (has_body && !has_header(o, "Content-Type") &&
      add_header(&call->req_headers, "Content-Type:") != 0)
    return -1;
  for (size_t i = 0; i < o->nheaders; i++) {
    const char *name = o->headers[i].name, *val = o->headers[i].value ? o->headers[i].value : "";
    size_t vlen = strlen(val);
    trim(&val, &vlen);
    size_t len = strlen(name) + 2 + vlen + 1;
    char *line = malloc(len);
    if (!line) return -1;
    if (vlen) snprintf(line, len, "%s: %.*s", name, (int)vlen, val);
    else snprintf(line, len, "%s;", name);
    int rc = add_header(&call->req_headers, line);
    free(line);
    if (rc != 0) return -1;
  }
  return 0;
}

static int setopt_failed(th_err *err, CURLcode rc, const char *what) {
  if (rc == CURLE_OUT_OF_MEMORY) return th_err_set(err, TH_ENOMEM, "http request: out of memory");
  return th_err_set(err, TH_EINVAL, "http request: %s: %s", what, curl_easy_strerror(rc));
}

#define SETOPT(easy, opt, val)                                                                   \
  do {                                                                                           \
    CURLcode setopt_rc_ = curl_easy_setopt((easy), (opt), (val));                                \
    if (setopt_rc_ != CURLE_OK) return setopt_failed(err, setopt_rc_, #opt);                     \
  } while (0)

/* What the request sends: method and body. A body is sent through POSTFIELDS whatever the
 * method (CUSTOMREQUEST renames the POST); HEAD uses NOBODY so curl reads no body either. */
static int set_method_and_body(th_http_call *call, const th_http_request_opts *o, int has_body,
                               th_err *err) {
  CURL *e = call->easy;
  int is_get = strcmp(call->method, "GET") == 0, is_post = strcmp(call->method, "POST") == 0;
  if (strcmp(call->method, "HEAD") == 0) {
    SETOPT(e, CURLOPT_NOBODY, 1L);
    return 0;
  }
  if (has_body || is_post) {
    if (o->body_len) {
      call->body = malloc(o->body_len);
      if (!call->body) return th_err_set(err, TH_ENOMEM, "http request: out of memory");
      memcpy(call->body, o->body, o->body_len);
    }
    SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    SETOPT(e, CURLOPT_POSTFIELDS, call->body ? call->body : "");
  }
  if (!is_get && !is_post) SETOPT(e, CURLOPT_CUSTOMREQUEST, call->method);
  else if (is_get && has_body) SETOPT(e, CURLOPT_CUSTOMREQUEST, "GET");
  return 0;
}

static int setup_easy(th_http_call *call, const th_http_request_opts *o, th_err *err) {
  CURL *e = call->easy;
  int has_body = o->body != NULL && strcmp(call->method, "HEAD") != 0;
  SETOPT(e, CURLOPT_PRIVATE, (void *)call);
  SETOPT(e, CURLOPT_ERRORBUFFER, call->errbuf);
  SETOPT(e, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM: we are one thread of a bigger program */
#if LIBCURL_VERSION_NUM >= 0x075500
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SETOPT(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SETOPT(e, CURLOPT_URL, call->url);
  if (o->unix_socket) SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
  if (o->timeout_ms > 0) SETOPT(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
  SETOPT(e, CURLOPT_WRITEDATA, (void *)call);
  SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(e, CURLOPT_HEADERDATA, (void *)call);
  if (set_method_and_body(call, o, has_body, err) != 0) return -1;
  if (build_headers(call, o, has_body) != 0)
    return th_err_set(err, TH_ENOMEM, "http request: out of memory");
  SETOPT(e, CURLOPT_HTTPHEADER, call->req_headers);
  return 0;
}

th_http_call *th_http_request(th_http_client *c, const th_http_request_opts *o,
                              th_http_done_cb cb, void *ud, th_err *err) {
  const char *method = (o && o->method) ? o->method : "GET";
  if (check_opts(c, o, method, err) != 0) return NULL;
  if (!cb) {
    th_err_set(err, TH_EINVAL, "http request: no callback");
    return NULL;
  }
  th_http_call *call = calloc(1, sizeof *call);
  if (!call) {
    th_err_set(err, TH_ENOMEM, "http request: out of memory");
    return NULL;
  }
  call->client = c;
  call->cb = cb;
  call->ud = ud;
  call->timeout_ms = o->timeout_ms;
  if (parse_url(call, method, o->url, o->unix_socket, err) != 0) goto fail;
  call->easy = curl_easy_init();
  if (!call->easy) {
    th_err_set(err, TH_ENOMEM, "http request: out of memory");
    goto fail;
  }
  if (setup_easy(call, o, err) != 0) goto fail;
  CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
  if (mc != CURLM_OK) {
    th_err_set(err, mc == CURLM_OUT_OF_MEMORY ? TH_ENOMEM : TH_EIO, "%s %s: %s", call->method,
               call->url, curl_multi_strerror(mc));
    goto fail;
  }
  call_link(c, call);
  return call;
fail:
  call_free(call);
  return NULL;
}

void th_http_call_cancel(th_http_call *call) {
  if (!call) return;
  call_detach(call);
  call_free(call);
}

/* ---- responses ------------------------------------------------------------------------------ */

void th_http_response_free(th_http_response *res) {
  if (!res) return;
  headers_free(res->headers, res->nheaders);
  free(res->body);
  free(res);
}

const char *th_http_response_header(const th_http_response *res, const char *name) {
  if (!res || !name) return NULL;
  for (size_t i = 0; i < res->nheaders; i++)
    if (names_equal(res->headers[i].name, name)) return res->headers[i].value;
  return NULL;
}
