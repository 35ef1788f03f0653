/* tests/unit/test_simulator_serve.c — the simulator served over HTTP (th_simulator_serve;
 * shared/specs/dstack.md 1.2, 1.3, 11 "HTTP"), on a Unix socket and on loopback TCP:
 *  - the JS Unix-socket client's one-shot exchange: request with Content-Length, read until that
 *    many body bytes, half-close, and the server must close (EOF) — else the JS call hangs;
 *  - keep-alive: several requests on one connection (httpx);
 *  - headers written "Name: value" with Content-Type: application/json and Content-Length;
 *  - a 20 MiB body is refused with 413 and a JSON {"error": …} body, and the next request is
 *    answered;
 *  - the socket file is 0600 and gone after close.
 * The loop runs on the test's thread; the client is a plain blocking-socket thread that wakes
 * the loop (uv_async) when its script is done. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_simulator.h"

typedef struct srvfx {
  simfx sim;
  uv_loop_t loop;
  uv_async_t done;
  th_simulator_server *srv;
  char sock[128];
  int port;
  void (*script)(struct srvfx *);
  char failure[512]; /* the client thread's first failure */
} srvfx;

#define CHECK(fx, cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond) && !(fx)->failure[0]) snprintf((fx)->failure, sizeof(fx)->failure, __VA_ARGS__);   \
  } while (0)

static int connect_to(srvfx *f, int tcp) {
  int fd;
  if (tcp) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return close(fd), -1;
  } else {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", f->sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return close(fd), -1;
  }
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

static int send_request(int fd, const char *method, const char *path, const char *body) {
  char head[512];
  snprintf(head, sizeof head,
           "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n",
           method, path, strlen(body));
  return send_all(fd, head, strlen(head)) || send_all(fd, body, strlen(body));
}

typedef struct http_resp {
  int status;
  char head[2048];
  char body[65536];
  size_t body_len;
} http_resp;

/* Reads one response as the JS client does: headers, then exactly Content-Length bytes. */
static int read_response(int fd, http_resp *r) {
  size_t hn = 0;
  memset(r, 0, sizeof *r);
  while (hn < 4 || memcmp(r->head + hn - 4, "\r\n\r\n", 4)) {
    if (hn + 1 >= sizeof r->head || recv(fd, r->head + hn, 1, 0) != 1) return -1;
    hn++;
  }
  const char *cl = strstr(r->head, "\r\nContent-Length: ");
  if (!cl || sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) return -1;
  size_t want = (size_t)strtoul(cl + 18, NULL, 10);
  if (want >= sizeof r->body) return -1;
  while (r->body_len < want) {
    ssize_t k = recv(fd, r->body + r->body_len, want - r->body_len, 0);
    if (k <= 0) return -1;
    r->body_len += (size_t)k;
  }
  return 0;
}

static void one_shot(srvfx *f, int tcp, const char *path, const char *body, int want_status) {
  int fd = connect_to(f, tcp);
  CHECK(f, fd >= 0, "connect failed");
  if (fd < 0) return;
  http_resp r;
  CHECK(f, send_request(fd, "POST", path, body) == 0, "send failed");
  CHECK(f, read_response(fd, &r) == 0, "no response to %s", path);
  CHECK(f, r.status == want_status, "%s: status %d", path, r.status);
  CHECK(f, strstr(r.head, "\r\nContent-Type: application/json\r\n") != NULL,
        "no content type: %.400s", r.head);
  shutdown(fd, SHUT_WR); /* the JS client's end() */
  char c;
  ssize_t k = recv(fd, &c, 1, 0);
  CHECK(f, k == 0, "server did not close after the half-close (recv %zd, errno %d)", k, errno);
  close(fd);
}

static void keep_alive(srvfx *f, int tcp) {
  int fd = connect_to(f, tcp);
  CHECK(f, fd >= 0, "connect failed");
  if (fd < 0) return;
  for (int i = 0; i < 3; i++) {
    http_resp r;
    CHECK(f, send_request(fd, "POST", i == 1 ? "/prpc/Tappd.Info" : "/GetKey", "{}") == 0,
          "send %d failed", i);
    CHECK(f, read_response(fd, &r) == 0 && r.status == 200, "keep-alive request %d failed", i);
  }
  close(fd);
}

static void oversize_then_next(srvfx *f, int tcp) {
  int fd = connect_to(f, tcp);
  CHECK(f, fd >= 0, "connect failed");
  if (fd < 0) return;
  size_t big = 20u << 20;
  char head[256];
  snprintf(head, sizeof head,
           "POST /GetKey HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\n\r\n",
           big);
  send_all(fd, head, strlen(head));
  char *chunk = calloc(1, 1 << 16);
  memset(chunk, ' ', 1 << 16);
  for (size_t sent = 0; sent < big; sent += 1 << 16)
    if (send_all(fd, chunk, 1 << 16) != 0) break; /* the server may stop reading: fine */
  free(chunk);
  http_resp r;
  CHECK(f, read_response(fd, &r) == 0 && r.status == 413, "oversize body: want 413, got %d",
        r.status);
  CHECK(f, strstr(r.body, "\"error\": \"Payload Too Large") != NULL,
        "oversize body: want a JSON error body, got %.80s", r.body);
  close(fd);
  one_shot(f, tcp, "/Version", "{}", 200);
}

static void script_unix(srvfx *f) {
  one_shot(f, 0, "/GetKey", "{\"path\":\"a\",\"purpose\":\"b\",\"algorithm\":\"secp256k1\"}", 200);
  one_shot(f, 0, "/GetQuote", "{\"report_data\":\"68656c6c6f\"}", 200);
  one_shot(f, 0, "/Nope", "{}", 400);
  one_shot(f, 0, "/GetQuote", "{\"report_data\":\"1\"}", 400);
  keep_alive(f, 0);
  oversize_then_next(f, 0);
}

static void script_tcp(srvfx *f) {
  one_shot(f, 1, "/Info", "{}", 200);
  keep_alive(f, 1);
  oversize_then_next(f, 1);
  int fd = connect_to(f, 1); /* malformed HTTP, then still serving */
  if (fd >= 0) {
    send_all(fd, "GARBAGE\r\n\r\n", 11);
    char c;
    while (recv(fd, &c, 1, 0) > 0) {
    }
    close(fd);
  }
  one_shot(f, 1, "/Version", "{}", 200);
}

static void *client_main(void *arg) {
  srvfx *f = arg;
  f->script(f);
  uv_async_send(&f->done);
  return NULL;
}

static void on_done(uv_async_t *a) {
  srvfx *f = a->data;
  th_simulator_server_close(f->srv);
  f->srv = NULL;
  uv_close((uv_handle_t *)a, NULL);
}

static void run_script(srvfx *f, int unix_sock, int tcp, void (*script)(srvfx *)) {
  th_err err = {0};
  assert_int_equal(uv_loop_init(&f->loop), 0);
  snprintf(f->sock, sizeof f->sock, "%s/agent.sock", f->sim.dir);
  f->srv = th_simulator_serve(f->sim.sim, &f->loop, unix_sock ? f->sock : NULL, tcp ? 0 : -1, &err);
  if (!f->srv) fail_msg("serve: %s", err.message);
  f->port = th_simulator_server_port(f->srv);
  if (unix_sock) {
    struct stat st;
    assert_int_equal(stat(f->sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
  } else {
    assert_true(f->port > 0);
  }
  f->script = script;
  f->done.data = f;
  assert_int_equal(uv_async_init(&f->loop, &f->done, on_done), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, client_main, f), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(t, NULL);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  if (f->failure[0]) fail_msg("%s", f->failure);
  if (unix_sock) assert_int_equal(access(f->sock, F_OK), -1);
}

static int setup(void **state) {
  srvfx *f = calloc(1, sizeof *f);
  if (!f || tmpdir_make(f->sim.dir, sizeof f->sim.dir, "th-simsrv") != 0) return -1;
  f->sim.sim = simfx_open(&f->sim, 0, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  srvfx *f = *state;
  th_simulator_free(f->sim.sim);
  tmpdir_remove(f->sim.dir);
  free(f);
  return 0;
}

static void serves_on_a_unix_socket(void **state) { run_script(*state, 1, 0, script_unix); }
static void serves_on_tcp(void **state) { run_script(*state, 0, 1, script_tcp); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(serves_on_a_unix_socket, setup, teardown),
      cmocka_unit_test_setup_teardown(serves_on_tcp, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
