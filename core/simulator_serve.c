/* core/simulator_serve.c — the simulator on the libuv loop: core/http_server on a Unix socket
 * (0600) and/or a loopback TCP port, every request answered synchronously by th_simulator_call.
 *
 * HTTP details a dstack client depends on (shared/specs/dstack.md 1.3, 11) are core/http_server's:
 * Content-Length always, "Name: value" headers, the connection closed once the client half-closes,
 * 413 for a body over 10 MiB, 400 for malformed HTTP — and it keeps serving after all of them.
 * Every answer here carries Content-Type: application/json. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "simulator_internal.h"

struct th_simulator_server {
  th_simulator *sim;
  th_http_server *http;
};

static void on_request(void *ud, th_http_req *req) {
  th_simulator_server *srv = ud;
  static const char oom[] = "{\n  \"error\": \"simulator: out of memory\"\n}";
  th_http_header ct = {(char *)"Content-Type", (char *)"application/json"};
  size_t len = 0, rlen = 0;
  const char *body = th_http_req_body(req, &len);
  char *resp = NULL;
  int status = 500;
  if (th_simulator_call(srv->sim, th_http_req_method(req), th_http_req_path(req),
                        th_http_req_query_string(req), th_http_req_header(req, "content-type"),
                        body, len, &status, &resp, &rlen) != 0) {
    th_http_req_respond(req, 500, &ct, 1, oom, sizeof oom - 1, NULL);
    return;
  }
  th_http_req_respond(req, status, &ct, 1, resp, rlen, NULL);
  sodium_memzero(resp, rlen); /* GetKey and DeriveKey replies hold keys */
  free(resp);
}

th_simulator_server *th_simulator_serve(th_simulator *sim, uv_loop_t *loop, const char *unix_socket,
                                        int port, th_err *err) {
  if (!sim || !loop) return th_err_set(err, TH_EINVAL, "simulator: no simulator or loop"), NULL;
  th_simulator_server *srv = calloc(1, sizeof *srv);
  if (!srv) return th_sim_oom(err), NULL;
  srv->sim = sim;
  th_http_server_opts o = {0};
  o.host = "127.0.0.1";
  o.port = port;
  o.unix_socket = unix_socket;
  o.max_body_bytes = 10u << 20;
  o.json_errors = 1; /* a 413 still carries {"error": …}: the SDKs parse every body as JSON */
  if (!(srv->http = th_http_server_start(loop, &o, on_request, srv, err))) {
    free(srv);
    return NULL;
  }
  return srv;
}

int th_simulator_server_port(const th_simulator_server *srv) {
  return th_http_server_port(srv->http);
}

void th_simulator_server_close(th_simulator_server *srv) {
  if (!srv) return;
  th_http_server_close(srv->http); /* frees itself once the loop has closed its handles */
  free(srv);
}
