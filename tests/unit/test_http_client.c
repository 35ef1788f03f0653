/* tests/unit/test_http_client.c — core/http_client against real servers on this machine.
 *
 * Fixtures (test-only, no internet):
 *  - an HTTP server built on libmicrohttpd with its own polling thread, listening on a
 *    127.0.0.1 TCP port and on a Unix socket in a mkdtemp directory (we create both listening
 *    sockets and hand them to MHD), plus, when MHD has TLS, a TLS listener with a self-signed
 *    certificate (so curl's certificate verification must reject it);
 *  - a raw one-shot TCP server answering with canned bytes, for responses MHD cannot produce
 *    (1xx with headers, folded headers, a non-TLS answer to a TLS handshake).
 * The client runs on a fresh uv loop per test; teardown closes it, runs the loop dry and
 * checks uv_loop_close() == 0 (every handle closed); LSan checks nothing leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http_client.h"

/* ---- the MHD test server ------------------------------------------------------------------ */

#define MAX_STALLED 64

typedef struct test_server {
  struct MHD_Daemon *tcp, *unx, *tls;
  int port, tls_port;
  char dir[64];
  char sock_path[128];
  pthread_mutex_t mu;
  struct MHD_Connection *stalled[MAX_STALLED]; /* suspended by /stall, resumed at stop */
  size_t nstalled;
} test_server;

typedef struct req_state {
  char *body;
  size_t len, cap;
  int stalled;
} req_state;

/* A self-signed certificate for 127.0.0.1 (valid until 2126), for the TLS rejection test. */
static const char TLS_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguSwpL4JjTqZJ5o86\n"
    "Uwla/2eLfFufeW3KFz+eq/HBhEGhRANCAAQY14TAqzR3nxv5Cz5XZCBegKStozHW\n"
    "mUJ5e0Oa8FTwJwfS9v7Nz1kXjjb35ku+ianjm++h5NCV4M7YhKX5Qj3w\n"
    "-----END PRIVATE KEY-----\n";
static const char TLS_CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkDCCATagAwIBAgIUR/kB+AOiVqkm0CBUzLRs3Ta9ffMwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNjA0MzAwNFoYDzIxMjYxMTAy\n"
    "MDQzMDA0WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQY14TAqzR3nxv5Cz5XZCBegKStozHWmUJ5e0Oa8FTwJwfS9v7Nz1kX\n"
    "jjb35ku+ianjm++h5NCV4M7YhKX5Qj3wo2QwYjAdBgNVHQ4EFgQUBKlI8mgMplt1\n"
    "+U7xne3rhv9Zm+UwHwYDVR0jBBgwFoAUBKlI8mgMplt1+U7xne3rhv9Zm+UwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC\n"
    "IQDk+tzU/2X3LGB/F4WILgu6HwRm+uzYUi21vZbTIfPjJQIgWyCyZdhsYi5VElug\n"
    "9hTcFHncvobbyXQk+dAtWQG/ZGM=\n"
    "-----END CERTIFICATE-----\n";

static const char *header_or(struct MHD_Connection *conn, const char *name, const char *dflt) {
  const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
  return v ? v : dflt;
}

/* Every answer carries what the server saw, so tests can check what arrived. */
static enum MHD_Result reply(struct MHD_Connection *conn, const char *method, req_state *st,
                             unsigned status, const char *body, size_t len, const char *id) {
  char blen[32], tlen[32];
  const char *xtest = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Test");
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  snprintf(blen, sizeof blen, "%zu", st->len);
  snprintf(tlen, sizeof tlen, "%d", xtest ? (int)strlen(xtest) : -1);
  MHD_add_response_header(r, "X-Method", method);
  MHD_add_response_header(r, "X-Test", xtest ? xtest : "(none)"); /* MHD drops "" values */
  MHD_add_response_header(r, "X-Test-Len", tlen);
  MHD_add_response_header(r, "X-Content-Type", header_or(conn, "Content-Type", "(none)"));
  MHD_add_response_header(r, "X-Expect", header_or(conn, "Expect", "(none)"));
  MHD_add_response_header(r, "X-Body-Len", blen);
  MHD_add_response_header(r, "X-Padded", "   padded value   ");
  MHD_add_response_header(r, "Set-Cookie", "a=1");
  MHD_add_response_header(r, "Set-Cookie", "b=2");
  if (id) MHD_add_response_header(r, "X-Id", id);
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result stall(test_server *s, struct MHD_Connection *conn, req_state *st) {
  pthread_mutex_lock(&s->mu);
  if (s->nstalled == MAX_STALLED) {
    pthread_mutex_unlock(&s->mu);
    return MHD_NO;
  }
  s->stalled[s->nstalled++] = conn;
  st->stalled = 1;
  MHD_suspend_connection(conn);
  pthread_mutex_unlock(&s->mu);
  return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  test_server *s = cls;
  req_state *st = *con_cls;
  (void)version;
  if (!st) {
    if (!(st = calloc(1, sizeof *st))) return MHD_NO;
    *con_cls = st;
    return MHD_YES;
  }
  if (*upload_size) {
    if (st->len + *upload_size > st->cap) {
      size_t ncap = st->cap ? st->cap : 4096;
      while (ncap < st->len + *upload_size) ncap *= 2;
      char *nb = realloc(st->body, ncap);
      if (!nb) return MHD_NO;
      st->body = nb;
      st->cap = ncap;
    }
    memcpy(st->body + st->len, upload, *upload_size);
    st->len += *upload_size;
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/close") == 0) return MHD_NO; /* drop the connection without answering */
  if (strcmp(url, "/stall") == 0 && !st->stalled) return stall(s, conn, st);
  if (strcmp(url, "/status/404") == 0) return reply(conn, method, st, 404, "not found", 9, NULL);
  if (strncmp(url, "/id/", 4) == 0)
    return reply(conn, method, st, 200, url + 4, strlen(url + 4), url + 4);
  if (strcmp(url, "/hello") == 0) return reply(conn, method, st, 200, "hello, world", 12, NULL);
  return reply(conn, method, st, 200, st->body ? st->body : "", st->len, NULL); /* echo */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  req_state *st = *con_cls;
  (void)cls, (void)conn, (void)toe;
  if (st) {
    free(st->body);
    free(st);
    *con_cls = NULL;
  }
}

static int tcp_listener(int *port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 4096), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static int unix_listener(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_true(strlen(path) < sizeof sa.sun_path);
  strcpy(sa.sun_path, path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 4096), 0); /* 1,000 clients connect at once */
  return fd;
}

static struct MHD_Daemon *start_daemon(test_server *s, int fd, int tls) {
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME; /* epoll: > 1024 fds */
  struct MHD_Daemon *d;
  if (tls)
    d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET,
                         fd, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_HTTPS_MEM_KEY, TLS_KEY,
                         MHD_OPTION_HTTPS_MEM_CERT, TLS_CERT, MHD_OPTION_END);
  else
    d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_END);
  assert_non_null(d);
  return d;
}

static void server_start(test_server *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  strcpy(s->dir, "/tmp/th_http_client_XXXXXX");
  assert_non_null(mkdtemp(s->dir));
  snprintf(s->sock_path, sizeof s->sock_path, "%s/srv.sock", s->dir);
  s->tcp = start_daemon(s, tcp_listener(&s->port), 0);
  s->unx = start_daemon(s, unix_listener(s->sock_path), 0);
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES)
    s->tls = start_daemon(s, tcp_listener(&s->tls_port), 1);
}

static void server_stop(test_server *s) {
  /* MHD must not be stopped with suspended connections: let the stalled ones answer. */
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->nstalled; i++) MHD_resume_connection(s->stalled[i]);
  s->nstalled = 0;
  pthread_mutex_unlock(&s->mu);
  struct MHD_Daemon *ds[] = {s->tcp, s->unx, s->tls};
  for (size_t i = 0; i < 3; i++)
    if (ds[i]) MHD_stop_daemon(ds[i]); /* closes the listening socket it was given, too */
  unlink(s->sock_path);
  rmdir(s->dir);
  pthread_mutex_destroy(&s->mu);
}

static size_t stalled_count(test_server *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->nstalled;
  pthread_mutex_unlock(&s->mu);
  return n;
}

/* ---- a raw one-shot server for canned answers ---------------------------------------------- */

typedef struct raw_server {
  int fd, port;
  int read_request; /* read the request head before answering */
  const char *reply;
  pthread_t thread;
} raw_server;

static void *raw_serve(void *arg) {
  raw_server *r = arg;
  struct pollfd p = {.fd = r->fd, .events = POLLIN};
  if (poll(&p, 1, 10000) != 1) return NULL; /* the test failed before connecting */
  int c = accept(r->fd, NULL, NULL);
  if (c < 0) return NULL;
  char buf[4096];
  size_t got = 0;
  while (r->read_request && got < sizeof buf - 1) {
    ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
    if (n <= 0) break;
    got += (size_t)n;
    buf[got] = '\0';
    if (strstr(buf, "\r\n\r\n")) break;
  }
  if (write(c, r->reply, strlen(r->reply)) < 0) perror("raw server write");
  shutdown(c, SHUT_WR);
  while (read(c, buf, sizeof buf) > 0) { /* wait for the client to close first */
  }
  close(c);
  return NULL;
}

static void raw_start(raw_server *r, const char *reply, int read_request) {
  r->reply = reply;
  r->read_request = read_request;
  r->fd = tcp_listener(&r->port);
  assert_int_equal(pthread_create(&r->thread, NULL, raw_serve, r), 0);
}

static void raw_stop(raw_server *r) {
  pthread_join(r->thread, NULL);
  close(r->fd);
}

/* ---- client side helpers ------------------------------------------------------------------ */

typedef struct fixture {
  test_server srv;
  uv_loop_t loop;
  th_http_client *client;
} fixture;

typedef struct result {
  int calls;
  th_http_response *res;
  th_err err;
} result;

static void on_done(void *ud, th_http_response *res, const th_err *err) {
  result *r = ud;
  r->calls++;
  assert_true((res == NULL) != (err == NULL)); /* exactly one of them */
  r->res = res;
  if (err) r->err = *err;
}

static void never_called(void *ud, th_http_response *res, const th_err *err) {
  (void)ud, (void)res, (void)err;
  fail_msg("a cancelled request's callback ran");
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  th_err err = {0};
  assert_non_null(f);
  server_start(&f->srv);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->client = th_http_client_new(&f->loop, &err);
  assert_non_null(f->client);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  th_http_client_close(f->client);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0); /* the client closed all its handles */
  server_stop(&f->srv);
  free(f);
  return 0;
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until pred(arg) or max_ms passed; a ticking timer keeps uv_run from blocking
 * forever and from returning early while the server (another thread) is still working. */
static int run_until(fixture *f, int (*pred)(void *), void *arg, unsigned max_ms) {
  uv_timer_t tick;
  uv_timer_init(&f->loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  uint64_t deadline = uv_now(&f->loop) + max_ms;
  while (!pred(arg) && uv_now(&f->loop) < deadline) uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  return pred(arg);
}

static int result_done(void *arg) { return ((result *)arg)->calls > 0; }
static int never(void *arg) { return arg == NULL; } /* arg is never NULL: run for max_ms */

static th_http_call *start(fixture *f, const th_http_request_opts *o, result *r) {
  th_err err = {0};
  th_http_call *call = th_http_request(f->client, o, on_done, r, &err);
  if (!call) fail_msg("th_http_request failed: %s %s", th_err_name(err.code), err.message);
  return call;
}

/* Runs one request to completion and returns its result (response or error). */
static result perform(fixture *f, const th_http_request_opts *o) {
  result r = {0};
  start(f, o, &r);
  assert_true(run_until(f, result_done, &r, 20000));
  assert_int_equal(r.calls, 1);
  assert_int_equal(th_http_client_active(f->client), 0);
  return r;
}

static th_http_response *perform_ok(fixture *f, const th_http_request_opts *o) {
  result r = perform(f, o);
  if (!r.res) fail_msg("request failed: %s %s", th_err_name(r.err.code), r.err.message);
  return r.res;
}

static th_err perform_err(fixture *f, const th_http_request_opts *o) {
  result r = perform(f, o);
  if (r.res) fail_msg("request unexpectedly answered with status %ld", r.res->status);
  return r.err;
}

static void url(char *buf, size_t len, int port, const char *path) {
  snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
}

static void assert_hello(const th_http_response *res, const char *method) {
  assert_int_equal(res->status, 200);
  assert_int_equal(res->body_len, 12);
  assert_string_equal(res->body, "hello, world");
  assert_string_equal(th_http_response_header(res, "x-method"), method);
  /* every name arrives lower-cased, every value trimmed */
  for (size_t i = 0; i < res->nheaders; i++)
    for (const char *p = res->headers[i].name; *p; p++) assert_false(*p >= 'A' && *p <= 'Z');
  assert_non_null(th_http_response_header(res, "x-padded"));
  assert_string_equal(th_http_response_header(res, "X-Padded"), "padded value");
  assert_string_equal(th_http_response_header(res, "content-length"), "12");
  /* a repeated name appears repeatedly, in arrival order */
  const char *cookies[2] = {NULL, NULL};
  size_t n = 0;
  for (size_t i = 0; i < res->nheaders; i++)
    if (strcmp(res->headers[i].name, "set-cookie") == 0 && n < 2)
      cookies[n++] = res->headers[i].value;
  assert_int_equal(n, 2);
  assert_string_equal(cookies[0], "a=1");
  assert_string_equal(cookies[1], "b=2");
  assert_string_equal(th_http_response_header(res, "set-cookie"), "a=1");
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_get_tcp(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/hello");
  th_http_request_opts o = {.url = u};
  th_http_response *res = perform_ok(f, &o);
  assert_hello(res, "GET");
  assert_string_equal(th_http_response_header(res, "x-expect"), "(none)");
  th_http_response_free(res);
}

static void test_get_unix(void **state) {
  fixture *f = *state;
  th_http_request_opts o = {.method = "GET", .url = "http://localhost/hello",
                            .unix_socket = f->srv.sock_path};
  th_http_response *res = perform_ok(f, &o);
  assert_hello(res, "GET");
  th_http_response_free(res);
}

static void test_post_large_binary_body(void **state) {
  fixture *f = *state;
  const size_t len = 5u << 20;
  char *body = malloc(len), u[128], lenstr[32];
  assert_non_null(body);
  for (size_t i = 0; i < len; i++) body[i] = (char)((i * 7 + i / 251) & 0xff); /* NULs too */
  body[0] = body[len / 2] = body[len - 1] = '\0';
  url(u, sizeof u, f->srv.port, "/echo");
  th_http_request_opts o = {.method = "POST", .url = u, .body = body, .body_len = len};
  th_http_call *call = th_http_request(f->client, &o, on_done, NULL, NULL);
  assert_non_null(call);
  th_http_call_cancel(call); /* (the copy is owned by the call: no leak when cancelled) */
  th_http_response *res = perform_ok(f, &o);
  assert_int_equal(res->status, 200);
  assert_int_equal(res->body_len, len);
  assert_memory_equal(res->body, body, len);
  assert_int_equal(res->body[len], '\0');
  snprintf(lenstr, sizeof lenstr, "%zu", len);
  assert_string_equal(th_http_response_header(res, "x-body-len"), lenstr);
  /* no 100-continue round trip, and curl's form content type is not invented */
  assert_string_equal(th_http_response_header(res, "x-expect"), "(none)");
  assert_string_equal(th_http_response_header(res, "x-content-type"), "(none)");
  th_http_response_free(res);
  free(body);
}

static void test_custom_methods_and_headers(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/echo");
  th_http_header hs[] = {{"X-Test", "  hello there "}, {"Content-Type", "text/plain"}};
  th_http_request_opts put = {.method = "PUT", .url = u, .headers = hs, .nheaders = 2,
                              .body = "put\0body", .body_len = 8};
  th_http_response *res = perform_ok(f, &put);
  assert_int_equal(res->status, 200);
  assert_string_equal(th_http_response_header(res, "x-method"), "PUT");
  assert_string_equal(th_http_response_header(res, "x-test"), "hello there");
  assert_string_equal(th_http_response_header(res, "x-content-type"), "text/plain");
  assert_int_equal(res->body_len, 8);
  assert_memory_equal(res->body, "put\0body", 8);
  th_http_response_free(res);

  th_http_request_opts del = {.method = "DELETE", .url = u, .headers = hs, .nheaders = 1};
  res = perform_ok(f, &del);
  assert_string_equal(th_http_response_header(res, "x-method"), "DELETE");
  assert_string_equal(th_http_response_header(res, "x-test"), "hello there");
  assert_string_equal(th_http_response_header(res, "x-body-len"), "0");
  assert_int_equal(res->body_len, 0);
  th_http_response_free(res);

  th_http_header empty[] = {{"X-Test", ""}}; /* sent as an empty header, not dropped */
  th_http_request_opts get = {.url = u, .headers = empty, .nheaders = 1, .body = "q",
                              .body_len = 1};
  res = perform_ok(f, &get);
  assert_string_equal(th_http_response_header(res, "x-method"), "GET");
  assert_string_equal(th_http_response_header(res, "x-test-len"), "0");
  assert_string_equal(res->body, "q");
  th_http_response_free(res);

  th_http_request_opts patch = {.method = "PATCH", .url = u, .body = "p", .body_len = 1,
                                .unix_socket = f->srv.sock_path};
  res = perform_ok(f, &patch);
  assert_string_equal(th_http_response_header(res, "x-method"), "PATCH");
  assert_string_equal(res->body, "p");
  th_http_response_free(res);
}

static void test_user_expect_header_and_empty_post(void **state) {
  fixture *f = *state;
  char u[128], body[3000];
  memset(body, 'x', sizeof body);
  url(u, sizeof u, f->srv.port, "/echo");
  th_http_header hs[] = {{"Expect", "100-continue"}};
  th_http_request_opts o = {.method = "POST", .url = u, .headers = hs, .nheaders = 1,
                            .body = body, .body_len = sizeof body};
  th_http_response *res = perform_ok(f, &o); /* a 100 Continue precedes the final answer */
  assert_int_equal(res->status, 200);
  assert_string_equal(th_http_response_header(res, "x-expect"), "100-continue");
  assert_int_equal(res->body_len, sizeof body);
  th_http_response_free(res);

  th_http_request_opts empty = {.method = "POST", .url = u};
  res = perform_ok(f, &empty);
  assert_string_equal(th_http_response_header(res, "x-method"), "POST");
  assert_string_equal(th_http_response_header(res, "x-body-len"), "0");
  th_http_response_free(res);
}

static void test_head(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/hello");
  th_http_request_opts o = {.method = "HEAD", .url = u, .body = "ignored", .body_len = 7};
  th_http_response *res = perform_ok(f, &o);
  assert_int_equal(res->status, 200);
  assert_string_equal(th_http_response_header(res, "x-method"), "HEAD");
  assert_string_equal(th_http_response_header(res, "x-body-len"), "0");
  assert_string_equal(th_http_response_header(res, "content-length"), "12");
  assert_int_equal(res->body_len, 0);
  assert_non_null(res->body);
  assert_string_equal(res->body, "");
  th_http_response_free(res);
}

static void test_404_is_a_response(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/status/404");
  th_http_request_opts o = {.url = u};
  th_http_response *res = perform_ok(f, &o);
  assert_int_equal(res->status, 404);
  assert_string_equal(res->body, "not found");
  th_http_response_free(res);
}

static void test_missing_unix_socket(void **state) {
  fixture *f = *state;
  char path[192], expect[256];
  snprintf(path, sizeof path, "%s/missing.sock", f->srv.dir);
  th_http_request_opts o = {.url = "http://localhost/x", .unix_socket = path};
  th_err err = perform_err(f, &o);
  assert_int_equal(err.code, TH_ECONNREFUSED);
  snprintf(expect, sizeof expect, "connect to %s: No such file or directory", path);
  assert_string_equal(err.message, expect);
}

static void test_closed_tcp_port(void **state) {
  fixture *f = *state;
  int port;
  close(tcp_listener(&port)); /* a port that was free a moment ago and is closed now */
  char u[128], expect[128];
  url(u, sizeof u, port, "/x");
  th_http_request_opts o = {.url = u};
  th_err err = perform_err(f, &o);
  assert_int_equal(err.code, TH_ECONNREFUSED);
  snprintf(expect, sizeof expect, "connect to 127.0.0.1:%d: Connection refused", port);
  assert_string_equal(err.message, expect);
}

static void test_timeout(void **state) {
  fixture *f = *state;
  char u[128], expect[192];
  url(u, sizeof u, f->srv.port, "/stall");
  th_http_request_opts o = {.url = u, .timeout_ms = 300};
  uint64_t t0 = uv_hrtime();
  th_err err = perform_err(f, &o);
  uint64_t ms = (uv_hrtime() - t0) / 1000000u;
  assert_int_equal(err.code, TH_ETIMEDOUT);
  snprintf(expect, sizeof expect, "GET %s: timed out after 0.3 s", u);
  assert_string_equal(err.message, expect);
  assert_true(ms >= 290 && ms < 5000);
  assert_int_equal(stalled_count(&f->srv), 1); /* the server did receive it, then stalled */
}

static void test_connection_closed_by_peer(void **state) {
  fixture *f = *state;
  char u[128], prefix[192];
  url(u, sizeof u, f->srv.port, "/close");
  th_http_request_opts o = {.url = u};
  th_err err = perform_err(f, &o);
  assert_int_equal(err.code, TH_ECONNRESET);
  snprintf(prefix, sizeof prefix, "GET %s: connection closed by peer: ", u);
  assert_true(strncmp(err.message, prefix, strlen(prefix)) == 0);
}

static void expect_einval(fixture *f, const th_http_request_opts *o, const char *part) {
  th_err err = {0};
  result r = {0};
  assert_null(th_http_request(f->client, o, on_done, &r, &err));
  assert_int_equal(err.code, TH_EINVAL);
  if (part && !strstr(err.message, part)) fail_msg("'%s' lacks '%s'", err.message, part);
}

static void test_invalid_requests(void **state) {
  fixture *f = *state;
  char longpath[200];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = '\0';
  th_http_header bad_name[] = {{"Bad Name", "x"}};
  th_http_header bad_value[] = {{"X-Ok", "a\r\nX-Injected: y"}};
  const th_http_request_opts cases[] = {
      {.url = NULL},
      {.url = ""},
      {.url = "not a url"},
      {.url = "ftp://127.0.0.1/file"},
      {.url = "foo://127.0.0.1/"},
      {.url = "http://"},
      {.url = "http://127.0.0.1/", .method = "GE T"},
      {.url = "http://127.0.0.1/", .method = ""},
      {.url = "http://127.0.0.1/", .headers = bad_name, .nheaders = 1},
      {.url = "http://127.0.0.1/", .headers = bad_value, .nheaders = 1},
      {.url = "http://127.0.0.1/", .timeout_ms = -1},
      {.url = "http://127.0.0.1/", .unix_socket = longpath},
      {.url = "http://127.0.0.1/", .body_len = 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_einval(f, &cases[i], NULL);
  expect_einval(f, &cases[3], "unsupported URL scheme 'ftp'");
  expect_einval(f, NULL, "no URL");
  th_err err = {0};
  th_http_request_opts ok = {.url = "http://127.0.0.1/"};
  assert_null(th_http_request(f->client, &ok, NULL, NULL, &err)); /* no callback */
  assert_int_equal(err.code, TH_EINVAL);
  assert_null(th_http_request(NULL, &ok, on_done, NULL, &err));
  assert_int_equal(err.code, TH_EINVAL);
  assert_null(th_http_request(f->client, cases + 0, on_done, NULL, NULL)); /* err may be NULL */
  assert_int_equal(th_http_client_active(f->client), 0);
  run_until(f, never, f, 50); /* and nothing is called back later */
}

static void test_tls_errors(void **state) {
  fixture *f = *state;
  raw_server raw;
  char u[128], prefix[64];
  /* A server that answers a TLS handshake with plain HTTP. */
  raw_start(&raw, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0);
  snprintf(u, sizeof u, "https://127.0.0.1:%d/", raw.port);
  th_http_request_opts o = {.url = u, .timeout_ms = 10000};
  th_err err = perform_err(f, &o);
  raw_stop(&raw);
  assert_int_equal(err.code, TH_ETLS);
  snprintf(prefix, sizeof prefix, "TLS with 127.0.0.1: ");
  assert_true(strncmp(err.message, prefix, strlen(prefix)) == 0);

  if (!f->srv.tls) skip(); /* libmicrohttpd built without TLS */
  /* A real TLS server with a self-signed certificate: verification must refuse it. */
  snprintf(u, sizeof u, "https://127.0.0.1:%d/hello", f->srv.tls_port);
  err = perform_err(f, &o);
  assert_int_equal(err.code, TH_ETLS);
  assert_true(strncmp(err.message, prefix, strlen(prefix)) == 0);
}

static void test_only_final_response_headers(void **state) {
  fixture *f = *state;
  raw_server raw;
  char u[128];
  raw_start(&raw,
            "HTTP/1.1 103 Early Hints\r\n"
            "Link: </style.css>; rel=preload\r\n"
            "X-Early: 1\r\n"
            "\r\n"
            "HTTP/1.1 200 OK\r\n"
            "Content-Length: 2\r\n"
            "X-Tabs:\t \tspaced out\t \r\n"
            "X-Empty:\r\n"
            "X-Folded: first\r\n"
            "   second\r\n"
            "Connection: close\r\n"
            "\r\n"
            "ok",
            1);
  url(u, sizeof u, raw.port, "/");
  th_http_request_opts o = {.url = u};
  th_http_response *res = perform_ok(f, &o);
  raw_stop(&raw);
  assert_int_equal(res->status, 200);
  assert_string_equal(res->body, "ok");
  assert_null(th_http_response_header(res, "link"));
  assert_null(th_http_response_header(res, "x-early"));
  assert_string_equal(th_http_response_header(res, "x-tabs"), "spaced out");
  assert_string_equal(th_http_response_header(res, "x-empty"), "");
  assert_string_equal(th_http_response_header(res, "x-folded"), "first second");
  assert_string_equal(res->headers[0].name, "content-length"); /* arrival order */
  assert_int_equal(res->nheaders, 5);
  th_http_response_free(res);
}

#define MANY 1000

typedef struct many_ctx {
  int id;
  int *done, *good;
} many_ctx;

static void on_many(void *ud, th_http_response *res, const th_err *err) {
  many_ctx *m = ud;
  char id[16];
  snprintf(id, sizeof id, "%d", m->id);
  (*m->done)++;
  if (err) print_error("request %d failed: %s\n", m->id, err->message);
  if (res && res->status == 200 && strcmp(res->body, id) == 0 &&
      strcmp(th_http_response_header(res, "x-id"), id) == 0)
    (*m->good)++;
  th_http_response_free(res);
}

static int many_done(void *arg) { return *(int *)arg == MANY; }

static void test_many_concurrent_unix(void **state) {
  fixture *f = *state;
  static many_ctx ctx[MANY];
  int done = 0, good = 0;
  char u[64];
  for (int i = 0; i < MANY; i++) {
    ctx[i] = (many_ctx){.id = i * 7 + 3, .done = &done, .good = &good};
    snprintf(u, sizeof u, "http://localhost/id/%d", ctx[i].id);
    th_http_request_opts o = {.url = u, .unix_socket = f->srv.sock_path, .timeout_ms = 60000};
    th_err err = {0};
    if (!th_http_request(f->client, &o, on_many, &ctx[i], &err)) fail_msg("%s", err.message);
  }
  assert_int_equal(th_http_client_active(f->client), MANY);
  assert_true(run_until(f, many_done, &done, 90000));
  assert_int_equal(good, MANY);
  assert_int_equal(th_http_client_active(f->client), 0);
}

typedef struct stall_wait {
  test_server *srv;
  size_t n;
} stall_wait;

static int stalled_reached(void *arg) {
  stall_wait *w = arg;
  return stalled_count(w->srv) >= w->n;
}

static void test_cancel_in_flight(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/stall");
  th_http_request_opts o = {.url = u};
  th_http_call *call = th_http_request(f->client, &o, never_called, NULL, NULL);
  assert_non_null(call);
  stall_wait w = {&f->srv, 1};
  assert_true(run_until(f, stalled_reached, &w, 10000)); /* the server holds the request */
  assert_int_equal(th_http_client_active(f->client), 1);
  th_http_call_cancel(call);
  assert_int_equal(th_http_client_active(f->client), 0);
  run_until(f, never, f, 100);
  /* cancelled before it ever ran, too */
  th_http_call_cancel(th_http_request(f->client, &o, never_called, NULL, NULL));
  run_until(f, never, f, 50);
  /* the client is still usable */
  url(u, sizeof u, f->srv.port, "/hello");
  th_http_response *res = perform_ok(f, &o);
  assert_hello(res, "GET");
  th_http_response_free(res);
}

static void test_close_with_requests_in_flight(void **state) {
  fixture *f = *state;
  char u[128];
  url(u, sizeof u, f->srv.port, "/stall");
  th_http_request_opts o = {.url = u};
  th_http_request_opts ou = {.url = "http://localhost/stall", .unix_socket = f->srv.sock_path};
  assert_non_null(th_http_request(f->client, &o, never_called, NULL, NULL));
  assert_non_null(th_http_request(f->client, &o, never_called, NULL, NULL));
  assert_non_null(th_http_request(f->client, &ou, never_called, NULL, NULL));
  stall_wait w = {&f->srv, 3};
  assert_true(run_until(f, stalled_reached, &w, 10000));
  url(u, sizeof u, f->srv.port, "/hello"); /* and one that has not even connected yet */
  assert_non_null(th_http_request(f->client, &o, never_called, NULL, NULL));
  assert_int_equal(th_http_client_active(f->client), 4);
  th_http_client_close(f->client);
  f->client = NULL;
  uv_run(&f->loop, UV_RUN_DEFAULT); /* returns once the client's handles are closed */
  th_http_client_close(NULL);       /* a no-op */
}

static void test_close_idle_client(void **state) {
  fixture *f = *state;
  th_http_client *c = th_http_client_new(&f->loop, NULL);
  assert_non_null(c);
  assert_int_equal(th_http_client_active(c), 0);
  th_http_client_close(c);
  uv_run(&f->loop, UV_RUN_DEFAULT);
}

typedef struct chain {
  fixture *f;
  result first, second;
  char url2[128];
} chain;

static void on_second(void *ud, th_http_response *res, const th_err *err) {
  chain *c = ud;
  on_done(&c->second, res, err);
}

static void on_first_starts_another(void *ud, th_http_response *res, const th_err *err) {
  chain *c = ud;
  on_done(&c->first, res, err);
  assert_int_equal(th_http_client_active(c->f->client), 0); /* removed before the callback */
  th_http_request_opts o = {.url = c->url2, .unix_socket = c->f->srv.sock_path};
  th_err e = {0};
  assert_non_null(th_http_request(c->f->client, &o, on_second, c, &e));
  assert_int_equal(th_http_client_active(c->f->client), 1);
}

static int second_done(void *arg) { return ((chain *)arg)->second.calls > 0; }

static void test_callback_starts_request(void **state) {
  fixture *f = *state;
  chain c = {.f = f};
  char u[128];
  url(u, sizeof u, f->srv.port, "/hello");
  snprintf(c.url2, sizeof c.url2, "http://localhost/id/42");
  th_http_request_opts o = {.url = u};
  assert_non_null(th_http_request(f->client, &o, on_first_starts_another, &c, NULL));
  assert_true(run_until(f, second_done, &c, 20000));
  assert_int_equal(c.first.calls, 1);
  assert_int_equal(c.second.calls, 1);
  assert_non_null(c.first.res);
  assert_non_null(c.second.res);
  assert_string_equal(c.second.res->body, "42");
  th_http_response_free(c.first.res);
  th_http_response_free(c.second.res);
}

typedef struct closer {
  fixture *f;
  int calls;
} closer;

static void on_done_closes_client(void *ud, th_http_response *res, const th_err *err) {
  closer *c = ud;
  c->calls++;
  assert_non_null(res);
  assert_null(err);
  th_http_response_free(res);
  th_http_client_close(c->f->client); /* the others, finished or not, are never called back */
  c->f->client = NULL;
}

static void test_callback_closes_client(void **state) {
  fixture *f = *state;
  closer c = {.f = f};
  char u[128];
  url(u, sizeof u, f->srv.port, "/hello");
  th_http_request_opts o = {.url = u};
  th_http_request_opts ou = {.url = "http://localhost/hello", .unix_socket = f->srv.sock_path};
  for (int i = 0; i < 20; i++) {
    assert_non_null(th_http_request(f->client, &o, on_done_closes_client, &c, NULL));
    assert_non_null(th_http_request(f->client, &ou, on_done_closes_client, &c, NULL));
  }
  url(u, sizeof u, f->srv.port, "/stall");
  assert_non_null(th_http_request(f->client, &o, never_called, NULL, NULL));
  uv_run(&f->loop, UV_RUN_DEFAULT); /* ends once the client closed itself and its handles */
  assert_int_equal(c.calls, 1);
  assert_null(f->client);
}

int main(void) {
  /* 1,000 client connections plus the server's side of them need more fds than the usual
   * soft limit of 1024. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 65536 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  /* Hermetic: no proxy from the environment between us and 127.0.0.1. */
  const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                           "all_proxy",  "ALL_PROXY"};
  for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);

  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_get_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_large_binary_body, setup, teardown),
      cmocka_unit_test_setup_teardown(test_custom_methods_and_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_expect_header_and_empty_post, setup, teardown),
      cmocka_unit_test_setup_teardown(test_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_404_is_a_response, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_unix_socket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_closed_tcp_port, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_closed_by_peer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_only_final_response_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent_unix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_idle_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_callback_starts_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_callback_closes_client, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
