/* tests/fuzz/fuzz_http_response.c — libFuzzer target for core/http_client.c: the input is the
 * raw bytes a server answers to th_http_request.
 *
 * Shape, and why:
 *  - One th_http_client, one uv loop and one plain AF_UNIX listener (a uv_pipe_t, not MHD:
 *    the server side must send exactly the fuzz bytes, malformed or not) live for the whole
 *    process, as a client lives for a whole program in production: curl handles and cached
 *    connections left by one input meet the next. The socket sits in a mkdtemp directory.
 *  - Per input, twice: th_http_request (GET, POST with a small body, or HEAD, picked by the
 *    input's length; timeout 1 s) to the listener. The second request runs on what the first
 *    left behind (the client recycles curl handles), so it must come back with exactly the
 *    same result; doing both in one input makes such state bugs reproducible from a single
 *    corpus file, and for the same reason one ordinary exchange warms the client up before
 *    the first input.
 *  - The server side reads the request up to the blank line and the body its Content-Length
 *    announces (all of it: closing an AF_UNIX socket with unread data resets the peer), writes
 *    the input and closes. Every connection accepted during an exchange is answered that way
 *    (curl may retry on a fresh one). The loop runs until the done callback fired and every
 *    server connection is closed; a 5 s uv_timer (loop time) turns a lost callback into an
 *    abort.
 *  - The done callback checks what http_client.h promises and aborts on a violation. With a
 *    response: status in 100..999; header names lower-case without ':', CR or LF, and no
 *    status line posing as a header; values without CR/LF and without leading or trailing
 *    spaces or tabs; lookups agreeing with the list; body NUL-terminated at body_len (and
 *    empty for HEAD). Without one: an error with a known code and a message. The response is
 *    freed, so LeakSanitizer sees per-input leaks. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "http_client.h"

#define TIMEOUT_MS 1000
#define WATCHDOG_MS 5000

static const char post_body[] = "fuzz=1&body=small";

/* What a request came back with, enough to tell two outcomes apart. */
typedef struct outcome {
  bool ok;       /* a response (else an error) */
  long status;   /* response status, or the error code */
  size_t nheaders;
  size_t body_len;
  uint64_t hash; /* of the headers and the body */
} outcome;

typedef struct exchange {
  const uint8_t *data;
  size_t size;
  const char *method;
  bool done;    /* the done callback ran */
  int conns;    /* server-side connections not closed yet */
  int accepted; /* connections accepted during this exchange */
  outcome out;
} exchange;

typedef struct srv_conn {
  uv_pipe_t pipe;
  uv_write_t write;
  exchange *ex;
  char *in;
  size_t in_len, in_cap;
  bool answered;
  bool closing;
} srv_conn;

static struct {
  uv_loop_t loop;
  uv_pipe_t listener;
  uv_timer_t watchdog;
  th_http_client *client;
  exchange *ex; /* the exchange being run, NULL between them */
  char dir[64];
  char path[128];
} g;

static void fail(const char *what) {
  fprintf(stderr, "fuzz_http_response: %s\n", what);
  abort();
}

/* ---------- checking the result ---------- */

static bool has_edge_blank(const char *s) {
  size_t n = strlen(s);
  return n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
}

static void check_header(const th_http_response *res, size_t i) {
  const th_http_header *h = &res->headers[i];
  if (!h->name || !h->value) fail("header with NULL name or value");
  for (const char *p = h->name; *p; p++)
    if ((*p >= 'A' && *p <= 'Z') || *p == ':' || *p == '\r' || *p == '\n')
      fail("header name not lower-case or holding ':', CR or LF");
  if (strncmp(h->name, "http/", 5) == 0) fail("a status line reported as a header");
  if (strpbrk(h->value, "\r\n")) fail("header value holding CR or LF");
  if (has_edge_blank(h->value)) fail("header value with leading or trailing blanks");
  size_t first = 0;
  while (strcasecmp(res->headers[first].name, h->name) != 0) first++;
  if (th_http_response_header(res, h->name) != res->headers[first].value)
    fail("th_http_response_header disagrees with the list");
}

static void check_response(const exchange *ex, const th_http_response *res) {
  if (res->status < 100 || res->status > 999) {
    fprintf(stderr, "status %ld\n", res->status);
    fail("status out of 100..999");
  }
  if (res->nheaders && !res->headers) fail("headers NULL with a count");
  for (size_t i = 0; i < res->nheaders; i++) check_header(res, i);
  if (!res->body || res->body[res->body_len] != '\0') fail("body not NUL-terminated");
  if (strcmp(ex->method, "HEAD") == 0 && res->body_len) fail("a HEAD response has a body");
  const char *absent = "X-Fuzz-Never-Sent-By-Anyone";
  bool listed = false;
  for (size_t i = 0; i < res->nheaders; i++)
    listed = listed || strcasecmp(res->headers[i].name, absent) == 0;
  if (!listed && th_http_response_header(res, absent)) fail("lookup found an absent header");
}

static void check_error(const th_err *err) {
  if (!err) fail("neither a response nor an error");
  if (err->code <= TH_OK || err->code >= TH_ERR_CODE_COUNT) fail("error with an unknown code");
  if (!memchr(err->message, '\0', sizeof err->message)) fail("error message not terminated");
  if (!err->message[0]) fail("error with an empty message");
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3u;
  return h;
}

static outcome summarize(const th_http_response *res, const th_err *err) {
  outcome o = {.ok = res != NULL, .status = res ? res->status : err->code};
  if (!res) return o;
  o.nheaders = res->nheaders;
  o.body_len = res->body_len;
  o.hash = 0xcbf29ce484222325u;
  for (size_t i = 0; i < res->nheaders; i++) {
    o.hash = fnv1a(o.hash, res->headers[i].name, strlen(res->headers[i].name) + 1);
    o.hash = fnv1a(o.hash, res->headers[i].value, strlen(res->headers[i].value) + 1);
  }
  o.hash = fnv1a(o.hash, res->body, res->body_len);
  return o;
}

static void on_done(void *ud, th_http_response *res, const th_err *err) {
  exchange *ex = ud;
  if (ex != g.ex || ex->done) fail("done callback for a finished input, or twice");
  ex->done = true;
  if (res && err) fail("both a response and an error");
  if (res) check_response(ex, res);
  else check_error(err);
  ex->out = summarize(res, err);
  th_http_response_free(res);
}

/* ---------- the server side ---------- */

static void conn_closed(uv_handle_t *h) {
  srv_conn *c = h->data;
  c->ex->conns--;
  free(c->in);
  free(c);
}

static void conn_close(srv_conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  srv_conn *c = h->data;
  if (c->in_cap - c->in_len < suggested) {
    c->in_cap = c->in_len + suggested;
    c->in = realloc(c->in, c->in_cap + 1);
    if (!c->in) fail("out of memory");
  }
  *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/* The request's Content-Length, or 0 (curl sends a body only with one here). */
static size_t content_length(const char *head) {
  const char *p = head;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncasecmp(p, "content-length:", 15) == 0) return strtoul(p + 15, NULL, 10);
  }
  return 0;
}

/* Whether the whole request (headers and body) has arrived. */
static bool request_complete(srv_conn *c) {
  c->in[c->in_len] = '\0';
  const char *end = strstr(c->in, "\r\n\r\n");
  if (!end) return false;
  size_t head = (size_t)(end - c->in) + 4;
  return c->in_len >= head + content_length(c->in);
}

static void conn_wrote(uv_write_t *w, int status) {
  (void)status; /* curl may have given up already */
  conn_close(w->data);
}

static void conn_answer(srv_conn *c) {
  c->answered = true;
  uv_read_stop((uv_stream_t *)&c->pipe);
  if (c->ex->size == 0) {
    conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)c->ex->data, (unsigned)c->ex->size);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, conn_wrote) != 0) conn_close(c);
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  srv_conn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->in_len += (size_t)n;
  if (!c->answered && request_complete(c)) conn_answer(c);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) fail("listen failed");
  if (!g.ex) fail("a connection between exchanges");
  srv_conn *c = calloc(1, sizeof *c);
  if (!c) fail("out of memory");
  c->ex = g.ex;
  uv_pipe_init(&g.loop, &c->pipe, 0);
  c->pipe.data = c;
  c->ex->conns++;
  c->ex->accepted++;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
      uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read) != 0)
    conn_close(c);
}

/* ---------- setup and the exchanges ---------- */

static void cleanup_at_exit(void) {
  unlink(g.path);
  rmdir(g.dir);
}

static void on_watchdog(uv_timer_t *t) {
  exchange *ex = t->data;
  fprintf(stderr, "done callback %s, %d server connection(s) open, %d accepted\n",
          ex->done ? "ran" : "never ran", ex->conns, ex->accepted);
  fail("the exchange did not finish within 5 s of loop time (timeout_ms is 1 s)");
}

static void setup(void) {
  signal(SIGPIPE, SIG_IGN); /* the fuzz bytes may be written after curl gave up */
  if (uv_loop_init(&g.loop) != 0) fail("uv_loop_init");
  uv_timer_init(&g.loop, &g.watchdog);
  snprintf(g.dir, sizeof g.dir, "/tmp/fuzz_http_response_XXXXXX");
  if (!mkdtemp(g.dir)) fail("mkdtemp");
  snprintf(g.path, sizeof g.path, "%s/s.sock", g.dir);
  atexit(cleanup_at_exit);
  uv_pipe_init(&g.loop, &g.listener, 0);
  if (uv_pipe_bind(&g.listener, g.path) != 0 ||
      uv_listen((uv_stream_t *)&g.listener, 64, on_connection) != 0)
    fail("cannot listen on the Unix socket");
  th_err err = {0};
  g.client = th_http_client_new(&g.loop, &err);
  if (!g.client) fail(err.message);
}

static const char *pick_method(size_t size) {
  static const char *const methods[] = {"GET", "POST", "HEAD"};
  return methods[size % 3];
}

static void start_request(exchange *ex) {
  bool post = strcmp(ex->method, "POST") == 0;
  th_http_header hdrs[] = {{"Accept", "*/*"}, {"X-Fuzz", "1"}};
  th_http_request_opts o = {.method = ex->method,
                            .url = "http://fuzz.invalid/p?q=1",
                            .unix_socket = g.path,
                            .headers = hdrs,
                            .nheaders = 2,
                            .body = post ? post_body : NULL,
                            .body_len = post ? sizeof post_body - 1 : 0,
                            .timeout_ms = TIMEOUT_MS};
  th_err err = {0};
  if (!th_http_request(g.client, &o, on_done, ex, &err)) fail(err.message);
}

/* One request answered with the input; returns what it came back with. */
static outcome run_exchange(const uint8_t *data, size_t size) {
  exchange ex = {.data = data, .size = size, .method = pick_method(size)};
  g.ex = &ex;
  g.watchdog.data = &ex;
  uv_timer_start(&g.watchdog, on_watchdog, WATCHDOG_MS, 0);
  start_request(&ex);
  while (!ex.done || ex.conns > 0) uv_run(&g.loop, UV_RUN_ONCE);
  uv_timer_stop(&g.watchdog);
  if (th_http_client_active(g.client) != 0) fail("a request is still active after its callback");
  g.ex = NULL;
  return ex.out;
}

/* One ordinary exchange first, so that even the first input runs on a client that has served
 * a request before (a recycled curl handle), as it would in production. */
static void warm_up(void) {
  static const char ok[] = "HTTP/1.1 200 OK\r\nX-Warm: up\r\nContent-Length: 2\r\n\r\nok";
  outcome o = run_exchange((const uint8_t *)ok, sizeof ok - 1);
  if (!o.ok || o.status != 200) fail("the warm-up request failed");
}

static bool same_outcome(const outcome *a, const outcome *b) {
  return a->ok == b->ok && a->status == b->status && a->nheaders == b->nheaders &&
         a->body_len == b->body_len && a->hash == b->hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g.client) {
    setup();
    warm_up();
  }
  if (size > UINT32_MAX) return 0;
  outcome first = run_exchange(data, size);
  outcome again = run_exchange(data, size);
  if (!same_outcome(&first, &again)) {
    fprintf(stderr, "first: %s %ld, %zu headers, body %zu; again: %s %ld, %zu headers, body %zu\n",
            first.ok ? "status" : "error", first.status, first.nheaders, first.body_len,
            again.ok ? "status" : "error", again.status, again.nheaders, again.body_len);
    fail("the same response read twice gave different results");
  }
  return 0;
}
