/* tests/fuzz/fuzz_http_request.c — libFuzzer target for core/http_server.c: the input is the raw
 * bytes a client sends to a th_http_server.
 *
 * Shape, and why:
 *  - One server (and its uv loop) lives for the whole process: starting libmicrohttpd per input
 *    would cost more than the request itself, and a long-lived server is also what production
 *    runs, so state carried from one connection to the next is fuzzed too. It listens on a Unix
 *    socket in a mkdtemp directory (no ports to collide with parallel jobs) with small limits
 *    (4 KiB of headers, 64 KiB of body), so the 413/431 paths are in reach of small inputs.
 *  - Per input, a libuv pipe on the same loop connects, writes the bytes, waits until the
 *    server has read them (SIOCOUTQ, checked after every poll phase), then shuts its write side
 *    down and reads (and discards) whatever comes back until the server closes. libmicrohttpd
 *    misses an EOF that arrives in the same epoll edge as the data, or while the connection
 *    is suspended, and would then hold an incomplete request until its idle timeout: hence
 *    the wait before the shutdown (drain_poll) and a full close once nothing has come back
 *    for 50 ms after it (quiet_restart). Everything is single-threaded and driven by the
 *    loop's timers (loop time, no sleeping); a 2 s deadline bounds any input.
 *  - on_request goes through the whole request API and checks what the header promises (names
 *    lower-cased, body NUL-terminated and within the limit, header lookups agree with the
 *    list, peer "unix"). A byte of the request (the last of the query, else of the path) picks
 *    how it is answered: at once, from a 0-ms timer (the resume-after-suspend path), or
 *    dropped, and which status is used (invalid ones included). The answer echoes the request's
 *    method, path, query and header values in response headers, so respond's CR/LF check is
 *    exercised: it must refuse exactly the answers holding CR or LF in a value.
 *  - Invariants violated -> abort(). After each input every req has been answered (pending is
 *    0) and every per-input handle is closed, so LeakSanitizer sees per-input leaks. */
#include <linux/sockios.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#include "http_server.h"

#define DEADLINE_MS 2000
#define STALL_MS 20 /* the server read nothing more for this long: stop waiting for it */
#define QUIET_MS 50 /* nothing came back for this long after the shutdown: hang up */
#define MAX_HEADER_BYTES 4096
#define MAX_BODY_BYTES 65536
#define MAX_ECHOED 8
#define NMODES 6

/* Statuses the answer may use, picked by the selector byte; 99 and 1000 must be refused. */
static const int statuses[] = {200, 404, 204, 101, 500, 99, 1000, 304};
#define NSTATUSES (sizeof statuses / sizeof statuses[0])

typedef struct fuzz_client {
  uv_pipe_t pipe;
  uv_connect_t connect;
  uv_write_t write;
  uv_shutdown_t shutdown;
  uv_buf_t out;
  int unread;            /* bytes the server had not read at the last look */
  uint64_t last_progress; /* loop time the server last read some */
  bool shut;             /* the write side is shut down */
  bool closing;
  bool closed;
  char rbuf[16384];
} fuzz_client;

typedef struct deferred {
  uv_timer_t timer;
  th_http_req *req;
  int mode;
} deferred;

static struct {
  uv_loop_t loop;
  uv_timer_t deadline;
  uv_check_t drain_check; /* after each poll phase: has the server read everything yet? */
  uv_timer_t drain_tick;  /* keeps the loop from blocking while we wait for that */
  uv_timer_t quiet;       /* after the shutdown: restarted by every byte that comes back */
  th_http_server *server;
  char dir[64];
  char path[128];
  size_t deferred; /* deferred answers whose timer is not closed yet */
} g;

static void fail(const char *what) {
  fprintf(stderr, "fuzz_http_request: %s\n", what);
  abort();
}

/* ---------- checking the request ---------- */

static bool has_upper(const char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z') return true;
  return false;
}

static bool has_crlf(const char *s) { return strpbrk(s, "\r\n") != NULL; }

static void check_pairs(const th_http_header *h, size_t n) {
  if (n && !h) fail("pairs: NULL array with a count");
  for (size_t i = 0; i < n; i++)
    if (!h[i].name || !h[i].value) fail("pairs: NULL name or value");
}

/* Every header name is lower-case, and th_http_req_header finds the first of its name.
 * Returns the headers' wire-size lower bound ("name: value\r\n" each). */
static size_t check_headers(const th_http_req *req) {
  size_t n = 0, bytes = 0;
  const th_http_header *h = th_http_req_headers(req, &n);
  check_pairs(h, n);
  for (size_t i = 0; i < n; i++) {
    if (has_upper(h[i].name)) fail("header name not lower-cased");
    size_t first = 0;
    while (strcmp(h[first].name, h[i].name) != 0) first++;
    if (th_http_req_header(req, h[i].name) != h[first].value) fail("header lookup disagrees");
    bytes += strlen(h[i].name) + 2 + strlen(h[i].value) + 2;
  }
  const char *absent = "x-fuzz-never-sent-by-anyone";
  bool listed = false;
  for (size_t i = 0; i < n; i++) listed = listed || strcmp(h[i].name, absent) == 0;
  if (!listed && th_http_req_header(req, absent)) fail("lookup found an absent header");
  return bytes;
}

static void check_request(const th_http_req *req) {
  const char *method = th_http_req_method(req), *path = th_http_req_path(req);
  const char *qs = th_http_req_query_string(req), *peer = th_http_req_peer(req);
  if (!method || !*method || !path || !qs || !peer) fail("NULL or empty request field");
  if (strcmp(peer, "unix") != 0) fail("peer of a Unix socket is not \"unix\"");
  size_t nq = 0;
  const th_http_header *q = th_http_req_query(req, &nq);
  check_pairs(q, nq);
  size_t len = 0;
  const char *body = th_http_req_body(req, &len);
  if (!body || body[len] != '\0') fail("body not NUL-terminated");
  if (len > MAX_BODY_BYTES) fail("body over max_body_bytes reached on_request");
  /* decoded path and trimmed values are never longer than on the wire */
  size_t header_bytes = strlen(method) + 1 + strlen(path) + (*qs ? 1 + strlen(qs) : 0) + 1 +
                        check_headers(req) + 2;
  if (header_bytes > MAX_HEADER_BYTES) fail("headers over max_header_bytes reached on_request");
}

/* ---------- answering ---------- */

/* The last byte of the query string, else of the path: it picks mode and status. */
static unsigned selector(const th_http_req *req) {
  const char *s = th_http_req_query_string(req);
  if (!*s) s = th_http_req_path(req);
  size_t n = strlen(s);
  return n ? (unsigned char)s[n - 1] : 0;
}

/* Response headers echoing the request; with echo_names, request header names are used as
 * response header names too (MHD refuses some, e.g. Transfer-Encoding: then respond fails). */
static size_t build_echo(const th_http_req *req, bool echo_names, th_http_header *out,
                         bool *crlf) {
  size_t n = 0, nh = 0;
  out[n++] = (th_http_header){"x-method", (char *)th_http_req_method(req)};
  out[n++] = (th_http_header){"x-path", (char *)th_http_req_path(req)};
  out[n++] = (th_http_header){"x-query", (char *)th_http_req_query_string(req)};
  out[n++] = (th_http_header){"x-peer", (char *)th_http_req_peer(req)};
  const th_http_header *h = th_http_req_headers(req, &nh);
  for (size_t i = 0; i < nh && i < MAX_ECHOED; i++)
    out[n++] = (th_http_header){echo_names ? h[i].name : "x-echo", h[i].value};
  *crlf = false;
  for (size_t i = 0; i < n; i++) *crlf = *crlf || has_crlf(out[i].value);
  return n;
}

/* Whether respond's outcome fits the answer it was given. */
static bool outcome_ok(int rc, const th_err *err, bool invalid, bool echo_names, bool later) {
  if (rc == 0) return !invalid;
  if (err->code == TH_ECONNRESET) return later && !invalid;
  return err->code == TH_EINVAL && (invalid || echo_names);
}

static void answer(th_http_req *req, int mode) {
  if (mode == 2 || mode == 3) {
    th_http_req_drop(req);
    return;
  }
  bool later = mode & 1, echo_names = mode >= 4, crlf;
  unsigned sel = selector(req);
  int status = statuses[(sel / NMODES) % NSTATUSES];
  th_http_header hdrs[4 + MAX_ECHOED];
  size_t nh = build_echo(req, echo_names, hdrs, &crlf);
  size_t len = 0;
  const char *body = th_http_req_body(req, &len);
  size_t before = th_http_server_pending(g.server);
  bool connected = before > 0; /* only handed-out reqs count; a detached one is not */
  th_err err = {0};
  int rc = th_http_req_respond(req, status, hdrs, nh, body, len, &err);
  if (!outcome_ok(rc, &err, crlf || status < 100 || status > 999, echo_names, later)) {
    fprintf(stderr, "respond: rc %d, %s: %s\n", rc, th_err_name(err.code), err.message);
    fail("respond's result does not fit its answer");
  }
  if (rc != 0 && !*err.message) fail("respond failed without a message");
  if (connected && th_http_server_pending(g.server) != before - 1) fail("pending not decreased");
}

static void deferred_closed(uv_handle_t *h) {
  free(h->data);
  g.deferred--;
}

static void deferred_fire(uv_timer_t *t) {
  deferred *d = t->data;
  answer(d->req, d->mode);
  uv_close((uv_handle_t *)&d->timer, deferred_closed);
}

static void defer(th_http_req *req, int mode) {
  deferred *d = calloc(1, sizeof *d);
  if (!d) fail("out of memory");
  d->req = req;
  d->mode = mode;
  uv_timer_init(&g.loop, &d->timer);
  d->timer.data = d;
  g.deferred++;
  uv_timer_start(&d->timer, deferred_fire, 0, 0);
}

/* Modes: 0 answer now, 1 answer later, 2 drop now, 3 drop later, 4/5 like 0/1 echoing header
 * names. */
static void on_request(void *ud, th_http_req *req) {
  (void)ud;
  check_request(req);
  int mode = (int)(selector(req) % NMODES);
  if (mode & 1) defer(req, mode);
  else answer(req, mode);
}

/* ---------- the client ---------- */

static void client_closed(uv_handle_t *h) { ((fuzz_client *)h->data)->closed = true; }

static void drain_stop(void) {
  uv_check_stop(&g.drain_check);
  uv_timer_stop(&g.drain_tick);
}

static void client_close(fuzz_client *c) {
  if (c->closing) return;
  c->closing = true;
  drain_stop();
  uv_timer_stop(&g.quiet);
  uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  fuzz_client *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_quiet(uv_timer_t *t) { client_close(t->data); }

/* After the shutdown the server either answers and closes, or waits for bytes that will
 * never come (libmicrohttpd also misses an EOF that arrives while a connection is suspended):
 * a full close after QUIET_MS without a byte makes it give up at once. */
static void quiet_restart(fuzz_client *c) {
  g.quiet.data = c;
  uv_timer_start(&g.quiet, on_quiet, QUIET_MS, 0);
}

/* The answer is discarded; EOF (the server closed) or an error ends the input. */
static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  fuzz_client *c = s->data;
  if (n < 0) client_close(c);
  else if (n > 0 && c->shut) quiet_restart(c);
}

static void client_shut(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* the server may have closed first: reading tells */
}

static void client_shutdown(fuzz_client *c) {
  c->shutdown.data = c;
  c->shut = true;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, client_shut) != 0) client_close(c);
  else quiet_restart(c);
}

/* Bytes written and not yet read by the server, or 0 when that cannot be told. */
static int unread_bytes(fuzz_client *c) {
  uv_os_fd_t fd;
  int outq = 0;
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0) return 0;
  return outq;
}

/* The end of the request is only sent once the server has read all of it (or stopped
 * reading): libmicrohttpd (0.9.75, epoll) takes a short read as "drained", so an EOF that
 * arrives together with the data goes unnoticed. */
static void drain_poll(uv_check_t *h) {
  fuzz_client *c = h->data;
  int unread = unread_bytes(c);
  uint64_t now = uv_now(&g.loop);
  if (unread != c->unread) {
    c->unread = unread;
    c->last_progress = now;
  }
  if (unread > 0 && now - c->last_progress < STALL_MS) return;
  drain_stop();
  client_shutdown(c);
}

static void drain_tick(uv_timer_t *t) { (void)t; }

static void drain_start(fuzz_client *c) {
  c->unread = -1;
  c->last_progress = uv_now(&g.loop);
  g.drain_check.data = c;
  uv_check_start(&g.drain_check, drain_poll);
  uv_timer_start(&g.drain_tick, drain_tick, 1, 1);
}

static void client_wrote(uv_write_t *w, int status) {
  fuzz_client *c = w->data;
  if (status < 0 || c->closing) client_close(c); /* refused mid-request: nothing to shut down */
  else drain_start(c);
}

static void client_connected(uv_connect_t *req, int status) {
  fuzz_client *c = req->data;
  if (status < 0 || uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read) != 0) {
    client_close(c);
    return;
  }
  c->write.data = c;
  if (c->out.len == 0) drain_start(c);
  else if (uv_write(&c->write, (uv_stream_t *)&c->pipe, &c->out, 1, client_wrote) != 0)
    client_close(c);
}

static void on_deadline(uv_timer_t *t) { client_close(t->data); }

/* ---------- setup and the per-input run ---------- */

static void cleanup_at_exit(void) {
  unlink(g.path);
  rmdir(g.dir);
}

static void start_server(void) {
  signal(SIGPIPE, SIG_IGN); /* the server may close while the client still writes */
  if (uv_loop_init(&g.loop) != 0) fail("uv_loop_init");
  uv_timer_init(&g.loop, &g.deadline);
  uv_check_init(&g.loop, &g.drain_check);
  uv_timer_init(&g.loop, &g.drain_tick);
  uv_timer_init(&g.loop, &g.quiet);
  snprintf(g.dir, sizeof g.dir, "/tmp/fuzz_http_request_XXXXXX");
  if (!mkdtemp(g.dir)) fail("mkdtemp");
  snprintf(g.path, sizeof g.path, "%s/s.sock", g.dir);
  atexit(cleanup_at_exit);
  th_http_server_opts o = {.port = -1,
                           .unix_socket = g.path,
                           .max_header_bytes = MAX_HEADER_BYTES,
                           .max_body_bytes = MAX_BODY_BYTES,
                           .idle_timeout_s = 5};
  th_err err = {0};
  g.server = th_http_server_start(&g.loop, &o, on_request, NULL, &err);
  if (!g.server) fail(err.message);
}

static void run_input(const uint8_t *data, size_t size) {
  fuzz_client c;
  memset(&c, 0, sizeof c);
  c.out = uv_buf_init((char *)data, (unsigned)size);
  uv_pipe_init(&g.loop, &c.pipe, 0);
  c.pipe.data = &c;
  c.connect.data = &c;
  uv_pipe_connect(&c.connect, &c.pipe, g.path, client_connected);
  g.deadline.data = &c;
  uv_timer_start(&g.deadline, on_deadline, DEADLINE_MS, 0);
  while (!c.closed) uv_run(&g.loop, UV_RUN_ONCE);
  uv_timer_stop(&g.deadline);
  while (g.deferred) uv_run(&g.loop, UV_RUN_ONCE);
  if (th_http_server_pending(g.server) != 0) fail("a request is still pending after the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g.server) start_server();
  if (size > UINT32_MAX) return 0;
  run_input(data, size);
  return 0;
}
