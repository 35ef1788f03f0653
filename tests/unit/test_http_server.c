/* tests/unit/test_http_server.c — core/http_server against real sockets.
 *
 * Each test creates its own uv loop, starts a server on an ephemeral loopback port and/or a
 * Unix socket in a mkdtemp directory, and plays the client with raw libuv streams on the same
 * loop (so the whole exchange is single-threaded and deterministic). Requests are written
 * byte for byte, so malformed and oversized ones are exactly what the test says.
 *
 * What libmicrohttpd 0.9.75 itself answers (checked here, relied on by http_server.c):
 *  - headers that do not fit the connection's memory pool -> 431; a request line (URL) that
 *    alone does not fit -> 414;
 *  - a request line it cannot parse, a header line without a colon, a non-numeric
 *    Content-Length -> 400; "HTTP/9.9" -> 505; but a request line with no space at all
 *    ("GARBAGE") is not answered: MHD just closes the connection. MHD does not insist on a
 *    Host header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "http_server.h"

#define MAX_HELD 256
#define RUN_TIMEOUT_NS ((uint64_t)30 * 1000 * 1000 * 1000)

/* ---------- the client side ---------- */

typedef struct client {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_connect_t connect;
  uv_write_t write;
  char *out;
  size_t out_len;
  bool hangup_after_write; /* disconnect as soon as the request is written */
  char *in;
  size_t in_len, in_cap;
  int error; /* first error other than EOF (connect, write or read) */
  bool done; /* handle closed */
  int local_port;
  char rbuf[16384];
} client;

static void client_closed(uv_handle_t *h) { ((client *)h->data)->done = true; }

static void client_close(client *c) {
  if (!uv_is_closing(&c->h.handle)) uv_close(&c->h.handle, client_closed);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  client *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (n > 0) {
    if (c->in_len + (size_t)n + 1 > c->in_cap) {
      c->in_cap = (c->in_len + (size_t)n + 1) * 2;
      c->in = realloc(c->in, c->in_cap);
      if (!c->in) abort();
    }
    memcpy(c->in + c->in_len, buf->base, (size_t)n);
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
  } else if (n < 0) {
    if (n != UV_EOF && !c->error) c->error = (int)n;
    client_close(c);
  }
}

static void client_wrote(uv_write_t *w, int status) {
  client *c = w->data;
  if (status < 0 && !c->error) c->error = status;
  if (c->hangup_after_write) client_close(c);
}

static void client_connected(uv_connect_t *req, int status) {
  client *c = req->data;
  if (status < 0) {
    c->error = status;
    client_close(c);
    return;
  }
  if (c->h.handle.type == UV_TCP) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
      c->local_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
  c->write.data = c;
  int rc = uv_read_start(&c->h.stream, client_alloc, client_read);
  if (!rc) rc = uv_write(&c->write, &c->h.stream, &b, 1, client_wrote);
  if (rc) {
    c->error = rc;
    client_close(c);
  }
}

static void client_prepare(client *c, const char *data, size_t len) {
  c->out = malloc(len ? len : 1);
  assert_non_null(c->out);
  memcpy(c->out, data, len);
  c->out_len = len;
  c->h.handle.data = c;
  c->connect.data = c;
}

static client *client_new(void) {
  client *c = calloc(1, sizeof *c);
  assert_non_null(c);
  return c;
}

static void client_free(client *c) {
  if (!c) return;
  assert_true(c->done);
  free(c->out);
  free(c->in);
  free(c);
}

static client *client_tcp(uv_loop_t *loop, int port, const char *data, size_t len) {
  client *c = client_new();
  assert_int_equal(uv_tcp_init(loop, &c->h.tcp), 0);
  client_prepare(c, data, len);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", port, &sa);
  assert_int_equal(uv_tcp_connect(&c->connect, &c->h.tcp, (struct sockaddr *)&sa,
                                  client_connected),
                   0);
  return c;
}

static client *client_unix(uv_loop_t *loop, const char *path, const char *data, size_t len) {
  client *c = client_new();
  assert_int_equal(uv_pipe_init(loop, &c->h.pipe, 0), 0);
  client_prepare(c, data, len);
  uv_pipe_connect(&c->connect, &c->h.pipe, path, client_connected);
  return c;
}

/* The status of the (first) response, or -1 when nothing HTTP-like arrived. */
static int resp_status(const client *c) {
  if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) return -1;
  return atoi(c->in + 9);
}

static const char *resp_body(const client *c) {
  const char *p = c->in ? strstr(c->in, "\r\n\r\n") : NULL;
  return p ? p + 4 : NULL;
}

/* Whether the response text contains line (e.g. "\r\nX-Reply: yes\r\n"), ignoring case. */
static bool resp_has_header(const client *c, const char *line) {
  return c->in && strcasestr(c->in, line) != NULL;
}

/* ---------- the fixture ---------- */

typedef struct fixture fixture;
typedef void (*handler_fn)(fixture *f, th_http_req *req);

struct fixture {
  uv_loop_t loop;
  uv_timer_t ticker; /* keeps UV_RUN_ONCE from blocking forever, so deadlines are checked */
  char dir[64];
  char sock[128];
  th_http_server *server;
  handler_fn handler;
  int nrequests;
  th_http_req *held[MAX_HELD];
  size_t nheld;
  /* what the last request looked like, copied out of the req */
  char method[16], path[256], query_string[256], peer[64], body_text[64];
  size_t body_len;
  int respond_rc;
  th_err respond_err;
  const char *expect_body; /* for the large-upload test */
  size_t expect_len;
  bool body_ok;
  const char *failed_check; /* set by CHECK in callbacks, where a cmocka assert would longjmp
                               out of MHD_run and leave the server wedged */
};

#define STR2(x) #x
#define STR(x) STR2(x)
#define CHECK(f, cond)                                                             \
  do {                                                                             \
    if (!(cond) && !(f)->failed_check) (f)->failed_check = "line " STR(__LINE__); \
  } while (0)

static bool streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

#define RUN_UNTIL(f, expr)                                  \
  do {                                                      \
    uint64_t deadline_ = uv_hrtime() + RUN_TIMEOUT_NS;      \
    while (!(expr)) {                                       \
      if ((f)->failed_check) fail_msg("check failed at %s", (f)->failed_check); \
      assert_true(uv_hrtime() < deadline_);                 \
      uv_run(&(f)->loop, UV_RUN_ONCE);                      \
    }                                                       \
  } while (0)

static void tick(uv_timer_t *t) { (void)t; }

/* Runs the loop for ms; returns how many iterations that took (the 10-ms ticker alone makes
 * about ms/10; a busy-polling server makes thousands). */
static unsigned run_for_ms(fixture *f, uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * 1000000;
  unsigned n = 0;
  for (; uv_hrtime() < end; n++) uv_run(&f->loop, UV_RUN_ONCE);
  return n;
}

static void on_request(void *ud, th_http_req *req) {
  fixture *f = ud;
  f->nrequests++;
  snprintf(f->method, sizeof f->method, "%s", th_http_req_method(req));
  snprintf(f->path, sizeof f->path, "%s", th_http_req_path(req));
  snprintf(f->query_string, sizeof f->query_string, "%s", th_http_req_query_string(req));
  snprintf(f->peer, sizeof f->peer, "%s", th_http_req_peer(req));
  const char *body = th_http_req_body(req, &f->body_len);
  snprintf(f->body_text, sizeof f->body_text, "%s", body);
  f->handler(f, req);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(uv_timer_init(&f->loop, &f->ticker), 0);
  assert_int_equal(uv_timer_start(&f->ticker, tick, 10, 10), 0);
  snprintf(f->dir, sizeof f->dir, "/tmp/th_http_server_XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
  *state = f;
  return 0;
}

static void closed_noop(uv_handle_t *h) { (void)h; }

static int teardown(void **state) {
  fixture *f = *state;
  const char *failed = f->failed_check;
  th_http_server_close(f->server);
  for (size_t i = 0; i < f->nheld; i++)
    if (f->held[i]) th_http_req_drop(f->held[i]);
  uv_close((uv_handle_t *)&f->ticker, closed_noop);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  /* fails if the server left a handle open */
  assert_int_equal(uv_loop_close(&f->loop), 0);
  unlink(f->sock);
  assert_int_equal(rmdir(f->dir), 0);
  free(f);
  if (failed) fail_msg("check failed at %s", failed);
  return 0;
}

static th_http_server *start(fixture *f, th_http_server_opts *o) {
  th_err err = {0};
  th_http_server *s = th_http_server_start(&f->loop, o, on_request, f, &err);
  if (!s) fail_msg("start: %s (%s)", err.message, th_err_name(err.code));
  return s;
}

static void start_tcp(fixture *f) {
  th_http_server_opts o = {.port = 0};
  f->server = start(f, &o);
  assert_true(th_http_server_port(f->server) > 0);
}

static int port_of(fixture *f) { return th_http_server_port(f->server); }

static client *get(fixture *f, const char *path) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                   path);
  return client_tcp(&f->loop, port_of(f), buf, (size_t)n);
}

/* ---------- handlers ---------- */

static void answer_path(fixture *f, th_http_req *req) {
  const char *p = th_http_req_path(req);
  th_http_header h[] = {{"X-Reply", "yes"}, {"Content-Type", "text/plain"}};
  f->respond_rc = th_http_req_respond(req, 200, h, 2, p, strlen(p), &f->respond_err);
}

static void hold(fixture *f, th_http_req *req) {
  CHECK(f, f->nheld < MAX_HELD);
  if (f->nheld < MAX_HELD) f->held[f->nheld++] = req;
  else th_http_req_drop(req);
}

/* ---------- tests ---------- */

static void inspect_get(fixture *f, th_http_req *req) {
  size_t n = 0;
  const th_http_header *q = th_http_req_query(req, &n);
  CHECK(f, n == 4);
  if (n == 4) {
    CHECK(f, streq(q[0].name, "x") && streq(q[0].value, "1"));
    CHECK(f, streq(q[1].name, "y") && streq(q[1].value, "hello world"));
    CHECK(f, streq(q[2].name, "flag") && streq(q[2].value, ""));
    CHECK(f, streq(q[3].name, "z z") && streq(q[3].value, "a+b c"));
  }
  const th_http_header *h = th_http_req_headers(req, &n);
  CHECK(f, n == 4);
  if (n == 4) {
    CHECK(f, streq(h[0].name, "host") && streq(h[0].value, "t"));
    CHECK(f, streq(h[1].name, "x-mixed-case") && streq(h[1].value, "Value 1"));
    CHECK(f, streq(h[2].name, "x-dup"));
    CHECK(f, streq(h[3].name, "connection"));
  }
  CHECK(f, streq(th_http_req_header(req, "x-mixed-case"), "Value 1"));
  CHECK(f, streq(th_http_req_header(req, "x-dup"), "first"));
  CHECK(f, th_http_req_header(req, "x-missing") == NULL);
  CHECK(f, th_http_server_pending(f->server) == 1);
  answer_path(f, req);
}

static void test_get_decodes_request(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = inspect_get;
  const char *rq = "GET /a%20b/c?x=1&y=hello%20world&flag&z+z=a%2Bb+c HTTP/1.1\r\n"
                   "Host: t\r\nX-Mixed-Case: Value 1\r\nX-Dup: first\r\n"
                   "Connection: close\r\n\r\n";
  client *c = client_tcp(&f->loop, port_of(f), rq, strlen(rq));
  RUN_UNTIL(f, c->done);
  assert_int_equal(f->nrequests, 1);
  assert_string_equal(f->method, "GET");
  assert_string_equal(f->path, "/a b/c");
  assert_string_equal(f->query_string, "x=1&y=hello%20world&flag&z+z=a%2Bb+c");
  assert_int_equal(f->body_len, 0);
  assert_string_equal(f->body_text, "");
  char peer[64];
  snprintf(peer, sizeof peer, "127.0.0.1:%d", c->local_port);
  assert_string_equal(f->peer, peer);
  assert_int_equal(f->respond_rc, 0);
  assert_int_equal(th_http_server_pending(f->server), 0);
  assert_int_equal(c->error, 0);
  assert_int_equal(resp_status(c), 200);
  assert_true(resp_has_header(c, "\r\nX-Reply: yes\r\n"));
  assert_true(resp_has_header(c, "\r\nContent-Length: 6\r\n"));
  assert_string_equal(resp_body(c), "/a b/c");
  client_free(c);
}

static void check_upload(fixture *f, th_http_req *req) {
  size_t len = 0;
  const char *body = th_http_req_body(req, &len);
  f->body_ok = len == f->expect_len && memcmp(body, f->expect_body, len) == 0 &&
               body[len] == '\0';
  char reply[64];
  int n = snprintf(reply, sizeof reply, "got %zu", len);
  f->respond_rc = th_http_req_respond(req, 201, NULL, 0, reply, (size_t)n, NULL);
}

static void test_post_large_body_intact(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = check_upload;
  size_t body_len = 3u * 1024 * 1024 + 17;
  char *body = malloc(body_len);
  assert_non_null(body);
  uint32_t x = 12345;
  for (size_t i = 0; i < body_len; i++) {
    x = x * 1103515245u + 12345u;
    body[i] = (char)(x >> 16); /* includes NUL bytes */
  }
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    body_len);
  char *rq = malloc((size_t)hn + body_len);
  assert_non_null(rq);
  memcpy(rq, head, (size_t)hn);
  memcpy(rq + hn, body, body_len);
  f->expect_body = body;
  f->expect_len = body_len;
  client *c = client_tcp(&f->loop, port_of(f), rq, (size_t)hn + body_len);
  free(rq);
  RUN_UNTIL(f, c->done);
  assert_int_equal(f->nrequests, 1);
  assert_true(f->body_ok);
  assert_int_equal(resp_status(c), 201);
  char expect[64];
  snprintf(expect, sizeof expect, "got %zu", body_len);
  assert_string_equal(resp_body(c), expect);
  client_free(c);

  /* the same, chunked: the body arrives in pieces of unknown total size */
  size_t chunked_len = 100000;
  f->expect_len = chunked_len;
  f->body_ok = false;
  size_t cap = chunked_len * 2 + 4096, n = 0;
  char *crq = malloc(cap);
  assert_non_null(crq);
  n += (size_t)snprintf(crq, cap,
                        "POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\n\r\n");
  for (size_t off = 0; off < chunked_len; off += 7000) {
    size_t k = chunked_len - off < 7000 ? chunked_len - off : 7000;
    n += (size_t)snprintf(crq + n, cap - n, "%zx\r\n", k);
    memcpy(crq + n, body + off, k);
    n += k;
    memcpy(crq + n, "\r\n", 2);
    n += 2;
  }
  n += (size_t)snprintf(crq + n, cap - n, "0\r\n\r\n");
  c = client_tcp(&f->loop, port_of(f), crq, n);
  free(crq);
  RUN_UNTIL(f, c->done);
  assert_int_equal(f->nrequests, 2);
  assert_true(f->body_ok);
  assert_int_equal(resp_status(c), 201);
  assert_string_equal(resp_body(c), "got 100000");
  client_free(c);
  free(body);
}

static void answer_late(uv_timer_t *t) {
  fixture *f = t->data;
  CHECK(f, f->nheld == 1);
  th_http_header h = {"X-Late", "1"};
  f->respond_rc = th_http_req_respond(f->held[0], 200, &h, 1, "late", 4, &f->respond_err);
  f->held[0] = NULL;
  uv_close((uv_handle_t *)t, closed_noop);
}

static void test_delayed_answer_via_timer(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = hold;
  uv_timer_t later;
  uv_timer_init(&f->loop, &later);
  later.data = f;
  client *c = get(f, "/slow");
  RUN_UNTIL(f, f->nheld == 1);
  assert_int_equal(th_http_server_pending(f->server), 1);
  /* a suspended connection costs nothing while it waits: the loop sleeps */
  assert_true(run_for_ms(f, 200) < 100);
  assert_false(c->done);
  uint64_t t0 = uv_hrtime();
  uv_timer_start(&later, answer_late, 150, 0);
  /* a second client is served meanwhile: the held request blocks nothing */
  f->handler = answer_path;
  client *other = get(f, "/fast");
  RUN_UNTIL(f, other->done);
  assert_false(c->done);
  assert_int_equal(resp_status(other), 200);
  RUN_UNTIL(f, c->done);
  assert_true(uv_hrtime() - t0 >= 100 * 1000000ull);
  assert_int_equal(f->respond_rc, 0);
  assert_int_equal(th_http_server_pending(f->server), 0);
  assert_int_equal(resp_status(c), 200);
  assert_true(resp_has_header(c, "\r\nX-Late: 1\r\n"));
  assert_string_equal(resp_body(c), "late");
  f->nheld = 0;
  client_free(c);
  client_free(other);
}

static void answer_now_if_odd(fixture *f, th_http_req *req) {
  /* half answered synchronously from inside on_request, half held */
  const char *p = th_http_req_path(req);
  if (atoi(p + 2) % 2) answer_path(f, req);
  else hold(f, req);
}

static void test_many_concurrent_connections(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = answer_now_if_odd;
  enum { N = 200 };
  client *cs[N];
  for (int i = 0; i < N; i++) {
    char path[32];
    snprintf(path, sizeof path, "/c%d", i);
    cs[i] = get(f, path);
  }
  RUN_UNTIL(f, f->nheld == N / 2);
  assert_int_equal(th_http_server_pending(f->server), N / 2);
  for (size_t i = 0; i < f->nheld; i++) {
    const char *p = th_http_req_path(f->held[i]);
    assert_int_equal(th_http_req_respond(f->held[i], 200, NULL, 0, p, strlen(p), NULL), 0);
    f->held[i] = NULL;
  }
  f->nheld = 0;
  for (int i = 0; i < N; i++) RUN_UNTIL(f, cs[i]->done);
  assert_int_equal(f->nrequests, N);
  assert_int_equal(th_http_server_pending(f->server), 0);
  for (int i = 0; i < N; i++) {
    char path[32];
    snprintf(path, sizeof path, "/c%d", i);
    assert_int_equal(cs[i]->error, 0);
    assert_int_equal(resp_status(cs[i]), 200);
    assert_string_equal(resp_body(cs[i]), path);
    client_free(cs[i]);
  }
}

static client *get_with_header(fixture *f, size_t value_len) {
  char *v = malloc(value_len + 1);
  assert_non_null(v);
  memset(v, 'v', value_len);
  v[value_len] = '\0';
  size_t cap = value_len + 256;
  char *rq = malloc(cap);
  assert_non_null(rq);
  int n = snprintf(rq, cap, "GET /h HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\nConnection: close\r\n\r\n",
                   v);
  client *c = client_tcp(&f->loop, port_of(f), rq, (size_t)n);
  free(v);
  free(rq);
  return c;
}

static void test_oversized_headers_431(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = 0, .max_header_bytes = 4096};
  f->server = start(f, &o);
  f->handler = answer_path;

  client *c = get_with_header(f, 3900); /* whole head just under 4096 */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  client_free(c);

  c = get_with_header(f, 4100); /* over the limit, fits MHD's pool: our own 431 */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 431);
  client_free(c);

  c = get_with_header(f, 64 * 1024); /* does not fit the pool: MHD's own answer is 431 */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 431);
  client_free(c);

  /* a request line that alone overflows the pool: MHD answers 414 URI Too Long */
  size_t ulen = 64 * 1024;
  char *rq = malloc(ulen + 64);
  assert_non_null(rq);
  memcpy(rq, "GET /", 5);
  memset(rq + 5, 'u', ulen);
  int n = snprintf(rq + 5 + ulen, 64, " HTTP/1.1\r\nHost: t\r\n\r\n");
  c = client_tcp(&f->loop, port_of(f), rq, 5 + ulen + (size_t)n);
  free(rq);
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 414);
  client_free(c);

  assert_int_equal(f->nrequests, 1);
  c = get(f, "/still-serving");
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_string_equal(resp_body(c), "/still-serving");
  assert_int_equal(f->nrequests, 2);
  client_free(c);
}

static client *post_chunked(fixture *f, size_t total, size_t piece) {
  size_t cap = total * 2 + 1024, n = 0;
  char *rq = malloc(cap);
  assert_non_null(rq);
  n += (size_t)snprintf(rq, cap,
                        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\n\r\n");
  for (size_t off = 0; off < total; off += piece) {
    size_t k = total - off < piece ? total - off : piece;
    n += (size_t)snprintf(rq + n, cap - n, "%zx\r\n", k);
    memset(rq + n, 'b', k);
    n += k;
    n += (size_t)snprintf(rq + n, cap - n, "\r\n");
  }
  n += (size_t)snprintf(rq + n, cap - n, "0\r\n\r\n");
  client *c = client_tcp(&f->loop, port_of(f), rq, n);
  free(rq);
  return c;
}

static client *post_sized(fixture *f, size_t declared, size_t sent) {
  char *rq = malloc(sent + 256);
  assert_non_null(rq);
  int n = snprintf(rq, 256,
                   "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   declared);
  memset(rq + n, 'b', sent);
  client *c = client_tcp(&f->loop, port_of(f), rq, (size_t)n + sent);
  free(rq);
  return c;
}

static void test_body_over_limit_413(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = 0, .max_body_bytes = 1000};
  f->server = start(f, &o);
  f->handler = answer_path;

  client *c = post_sized(f, 1000, 1000); /* exactly the limit is fine */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_int_equal(f->body_len, 1000);
  client_free(c);

  c = post_sized(f, 5000, 5000); /* refused by Content-Length, before the body */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 413);
  client_free(c);

  c = post_sized(f, 50ull * 1000 * 1000 * 1000, 0); /* absurd length, nothing sent */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 413);
  client_free(c);

  c = post_chunked(f, 1500, 500); /* over the limit while streaming */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 413);
  assert_string_equal(resp_body(c), "Payload Too Large\n");
  client_free(c);

  c = post_chunked(f, 50000, 500); /* keeps streaming far past it: disconnected */
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), -1);
  client_free(c);

  assert_int_equal(f->nrequests, 1);
  c = get(f, "/ok");
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_int_equal(f->nrequests, 2);
  client_free(c);
}

static int raw_status(fixture *f, const char *rq) {
  client *c = client_tcp(&f->loop, port_of(f), rq, strlen(rq));
  RUN_UNTIL(f, c->done);
  int st = resp_status(c);
  client_free(c);
  return st;
}

static void test_garbage_request_400(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = answer_path;
  assert_int_equal(raw_status(f, "hello world foo bar\r\n\r\n"), 400);
  assert_int_equal(raw_status(f, "GET / FOO/1.1\r\nHost: t\r\n\r\n"), 400);
  assert_int_equal(raw_status(f, "GET /\r\n\r\n"), 400); /* HTTP/0.9 is not spoken */
  assert_int_equal(raw_status(f, "GET / HTTP/1.1\r\nThis line has no colon\r\n\r\n"), 400);
  assert_int_equal(raw_status(f, "GET / HTTP/1.1\r\nContent-Length: banana\r\n\r\n"), 400);
  assert_int_equal(raw_status(f, "GET / HTTP/9.9\r\nHost: t\r\n\r\n"), 505);
  /* no space at all: MHD closes without an answer */
  assert_int_equal(raw_status(f, "\x01\x02\x03garbage\r\n\r\n"), -1);
  assert_int_equal(raw_status(f, "GARBAGE\r\n\r\n"), -1);
  assert_int_equal(f->nrequests, 0);
  client *c = get(f, "/after-garbage");
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_int_equal(f->nrequests, 1);
  client_free(c);
}

static void test_truncated_body_then_disconnect(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = answer_path;
  const char *head = "POST /t HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n";
  char rq[2048];
  size_t hn = strlen(head);
  memcpy(rq, head, hn);
  memset(rq + hn, 'x', 1000);
  client *c = client_tcp(&f->loop, port_of(f), rq, hn + 1000);
  c->hangup_after_write = true;
  /* and one that stops in the middle of its headers */
  const char *half = "GET /half HTTP/1.1\r\nHost: t\r\nX-Unfini";
  client *d = client_tcp(&f->loop, port_of(f), half, strlen(half));
  d->hangup_after_write = true;
  RUN_UNTIL(f, c->done && d->done);
  run_for_ms(f, 100); /* let the server see the hang-ups */
  assert_int_equal(f->nrequests, 0);
  assert_int_equal(th_http_server_pending(f->server), 0);
  client_free(c);
  client_free(d);
  c = get(f, "/next");
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_int_equal(f->nrequests, 1);
  client_free(c);
}

static void test_unix_socket_mode_and_unlink(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = -1, .unix_socket = f->sock};
  f->server = start(f, &o);
  f->handler = answer_path;
  assert_int_equal(th_http_server_port(f->server), -1);
  struct stat st;
  assert_int_equal(stat(f->sock, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);
  const char *rq = "GET /u HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  client *c = client_unix(&f->loop, f->sock, rq, strlen(rq));
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  assert_string_equal(resp_body(c), "/u");
  assert_string_equal(f->peer, "unix");
  client_free(c);
  th_http_server_close(f->server);
  f->server = NULL;
  assert_int_equal(lstat(f->sock, &st), -1);
  assert_int_equal(errno, ENOENT);
}

static void test_both_listeners(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = 0, .unix_socket = f->sock};
  f->server = start(f, &o);
  f->handler = answer_path;
  const char *rq = "GET /via-unix HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  client *u = client_unix(&f->loop, f->sock, rq, strlen(rq));
  client *t = get(f, "/via-tcp");
  RUN_UNTIL(f, u->done && t->done);
  assert_string_equal(resp_body(u), "/via-unix");
  assert_string_equal(resp_body(t), "/via-tcp");
  client_free(u);
  client_free(t);
}

static void test_unix_stale_socket_replaced(void **state) {
  fixture *f = *state;
  /* a socket file left behind by a dead server: bound, never listening, fd gone */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(f->sock) < sizeof sa.sun_path);
  memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  assert_int_equal(access(f->sock, F_OK), 0);

  th_http_server_opts o = {.port = -1, .unix_socket = f->sock};
  f->server = start(f, &o);
  f->handler = answer_path;
  const char *rq = "GET /fresh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  client *c = client_unix(&f->loop, f->sock, rq, strlen(rq));
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  client_free(c);
}

static void test_unix_live_socket_in_use(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = -1, .unix_socket = f->sock};
  f->server = start(f, &o);
  f->handler = answer_path;

  th_err err = {0};
  assert_null(th_http_server_start(&f->loop, &o, on_request, f, &err));
  assert_int_equal(err.code, TH_EADDRINUSE);
  char expect[256];
  snprintf(expect, sizeof expect, "listen on %s: Address already in use", f->sock);
  assert_string_equal(err.message, expect);

  /* the failed attempt left the live server's socket alone */
  const char *rq = "GET /alive HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  client *c = client_unix(&f->loop, f->sock, rq, strlen(rq));
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 200);
  client_free(c);

  /* a regular file is never deleted to make room */
  char file[160];
  snprintf(file, sizeof file, "%s/plain", f->dir);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  th_http_server_opts o2 = {.port = -1, .unix_socket = file};
  assert_null(th_http_server_start(&f->loop, &o2, on_request, f, &err));
  assert_int_equal(err.code, TH_EADDRINUSE);
  assert_int_equal(access(file, F_OK), 0);
  unlink(file);
}

static void test_port_in_use(void **state) {
  fixture *f = *state;
  start_tcp(f);
  th_http_server_opts o = {.host = "127.0.0.1", .port = port_of(f)};
  th_err err = {0};
  assert_null(th_http_server_start(&f->loop, &o, on_request, f, &err));
  assert_int_equal(err.code, TH_EADDRINUSE);
  char expect[128];
  snprintf(expect, sizeof expect, "listen on 127.0.0.1:%d: Address already in use", port_of(f));
  assert_string_equal(err.message, expect);
}

static void test_bad_options(void **state) {
  fixture *f = *state;
  th_err err = {0};
  th_http_server_opts none = {.port = -1};
  assert_null(th_http_server_start(&f->loop, &none, on_request, f, &err));
  assert_int_equal(err.code, TH_EINVAL);
  th_http_server_opts host = {.host = "not-an-address", .port = 0};
  assert_null(th_http_server_start(&f->loop, &host, on_request, f, &err));
  assert_int_equal(err.code, TH_EINVAL);
  th_http_server_opts port = {.port = 70000};
  assert_null(th_http_server_start(&f->loop, &port, on_request, f, &err));
  assert_int_equal(err.code, TH_EINVAL);
  char longpath[200];
  memset(longpath, 'p', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = '\0';
  th_http_server_opts lp = {.port = -1, .unix_socket = longpath};
  assert_null(th_http_server_start(&f->loop, &lp, on_request, f, &err));
  assert_int_equal(err.code, TH_EINVAL);
  /* a TCP listener started before a failing Unix one is torn down again */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/no/such/dir/s.sock", f->dir);
  th_http_server_opts both = {.port = 0, .unix_socket = missing};
  assert_null(th_http_server_start(&f->loop, &both, on_request, f, &err));
  assert_int_equal(err.code, TH_EIO);
  assert_non_null(strstr(err.message, "No such file or directory"));
}

static void test_close_with_request_handed_out(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = hold;
  client *a = get(f, "/a");
  client *b = get(f, "/b");
  RUN_UNTIL(f, f->nheld == 2);
  assert_int_equal(th_http_server_pending(f->server), 2);
  th_http_server_close(f->server);
  f->server = NULL;
  RUN_UNTIL(f, a->done && b->done);
  /* resumed and answered before the daemon stopped */
  assert_int_equal(resp_status(a), 503);
  assert_int_equal(resp_status(b), 503);
  /* the reqs are still valid for the owner */
  const char *p0 = th_http_req_path(f->held[0]), *p1 = th_http_req_path(f->held[1]);
  assert_true((!strcmp(p0, "/a") && !strcmp(p1, "/b")) || (!strcmp(p0, "/b") && !strcmp(p1, "/a")));
  size_t n = 0;
  th_http_req_headers(f->held[0], &n);
  assert_int_equal(n, 2);
  th_err err = {0};
  assert_int_equal(th_http_req_respond(f->held[0], 200, NULL, 0, "x", 1, &err), -1);
  assert_int_equal(err.code, TH_ECONNRESET);
  th_http_req_drop(f->held[1]);
  f->nheld = 0;
  client_free(a);
  client_free(b);
}

static void close_from_handler(fixture *f, th_http_req *req) {
  hold(f, req);
  th_http_server_close(f->server); /* from inside an MHD callback: deferred */
  f->server = NULL;
}

static void test_close_inside_on_request(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = close_from_handler;
  client *c = get(f, "/x");
  RUN_UNTIL(f, c->done);
  assert_int_equal(f->nrequests, 1);
  assert_int_equal(resp_status(c), 503);
  th_err err = {0};
  assert_int_equal(th_http_req_respond(f->held[0], 200, NULL, 0, NULL, 0, &err), -1);
  assert_int_equal(err.code, TH_ECONNRESET);
  f->nheld = 0;
  client_free(c);
}

static void respond_bad_header(fixture *f, th_http_req *req) {
  th_http_header h[] = {{"X-Ok", "fine"}, {"X-Bad", "a\r\nInjected: 1"}};
  f->respond_rc = th_http_req_respond(req, 200, h, 2, "body", 4, &f->respond_err);
}

static void respond_bad_name(fixture *f, th_http_req *req) {
  th_http_header h[] = {{"X Bad", "v"}};
  f->respond_rc = th_http_req_respond(req, 200, h, 1, "body", 4, &f->respond_err);
}

static void respond_bad_status(fixture *f, th_http_req *req) {
  f->respond_rc = th_http_req_respond(req, 99, NULL, 0, "body", 4, &f->respond_err);
}

static void test_bad_answer_is_einval(void **state) {
  fixture *f = *state;
  start_tcp(f);
  handler_fn bad[] = {respond_bad_header, respond_bad_name, respond_bad_status};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    f->handler = bad[i];
    f->respond_rc = 0;
    memset(&f->respond_err, 0, sizeof f->respond_err);
    client *c = get(f, "/bad");
    RUN_UNTIL(f, c->done);
    assert_int_equal(f->respond_rc, -1);
    assert_int_equal(f->respond_err.code, TH_EINVAL);
    /* the client still gets an answer, and nothing of the rejected one */
    assert_int_equal(resp_status(c), 500);
    assert_false(resp_has_header(c, "Injected"));
    assert_false(resp_has_header(c, "X-Ok"));
    client_free(c);
  }
  assert_int_equal(th_http_server_pending(f->server), 0);
}

static void drop_it(fixture *f, th_http_req *req) {
  (void)f;
  th_http_req_drop(req);
}

static void answer_with_extras(fixture *f, th_http_req *req) {
  /* Content-Length is computed by the server; an empty value cannot be sent by MHD */
  th_http_header h[] = {{"Content-Length", "999"}, {"X-Empty", ""}, {"X-Kept", "k"}};
  f->respond_rc = th_http_req_respond(req, 404, h, 3, "nope", 4, &f->respond_err);
}

static void test_drop_and_header_handling(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = drop_it;
  client *c = get(f, "/drop");
  RUN_UNTIL(f, c->done);
  assert_int_equal(resp_status(c), 503);
  client_free(c);

  f->handler = answer_with_extras;
  c = get(f, "/extras");
  RUN_UNTIL(f, c->done);
  assert_int_equal(f->respond_rc, 0);
  assert_int_equal(resp_status(c), 404);
  assert_true(resp_has_header(c, "\r\nContent-Length: 4\r\n"));
  assert_false(resp_has_header(c, "999"));
  assert_true(resp_has_header(c, "\r\nX-Kept: k\r\n"));
  assert_string_equal(resp_body(c), "nope");
  client_free(c);
}

static void test_keepalive_pipelined(void **state) {
  fixture *f = *state;
  start_tcp(f);
  f->handler = hold;
  const char *rq = "GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
                   "POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                   "Connection: close\r\n\r\nabc";
  client *c = client_tcp(&f->loop, port_of(f), rq, strlen(rq));
  RUN_UNTIL(f, f->nheld == 1);
  assert_string_equal(th_http_req_path(f->held[0]), "/one");
  assert_int_equal(th_http_req_respond(f->held[0], 200, NULL, 0, "1", 1, NULL), 0);
  RUN_UNTIL(f, f->nheld == 2);
  assert_string_equal(th_http_req_path(f->held[1]), "/two");
  assert_string_equal(f->body_text, "abc");
  assert_int_equal(th_http_req_respond(f->held[1], 200, NULL, 0, "22", 2, NULL), 0);
  f->nheld = 0;
  RUN_UNTIL(f, c->done);
  const char *second = strstr(c->in + 1, "HTTP/1.1 200");
  assert_non_null(second);
  assert_int_equal(resp_status(c), 200);
  assert_non_null(strstr(c->in, "\r\n\r\n1HTTP/1.1 200"));
  assert_non_null(strstr(second, "\r\n\r\n22"));
  client_free(c);
}

static void test_idle_timeout(void **state) {
  fixture *f = *state;
  th_http_server_opts o = {.port = 0, .idle_timeout_s = 1};
  f->server = start(f, &o);
  f->handler = answer_path;
  const char *partial = "GET /idle HT";
  uint64_t t0 = uv_hrtime();
  client *c = client_tcp(&f->loop, port_of(f), partial, strlen(partial));
  RUN_UNTIL(f, c->done);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  assert_true(ms >= 900);
  assert_true(ms < 5000);
  assert_int_equal(f->nrequests, 0);
  client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* client writes to connections the server already refused */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_decodes_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_large_body_intact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delayed_answer_via_timer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent_connections, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_headers_431, setup, teardown),
      cmocka_unit_test_setup_teardown(test_body_over_limit_413, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_request_400, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_body_then_disconnect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unix_socket_mode_and_unlink, setup, teardown),
      cmocka_unit_test_setup_teardown(test_both_listeners, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unix_stale_socket_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unix_live_socket_in_use, setup, teardown),
      cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_with_request_handed_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_inside_on_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_answer_is_einval, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drop_and_header_handling, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
