/* core/http_server.h — HTTP/1.1 server: libmicrohttpd in external-epoll mode on the libuv loop.
 *
 * MHD runs with no thread of its own: its epoll fd is watched with a uv_poll and its timeouts
 * with a uv_timer; MHD_run is called from those (and after a resume). One th_http_server
 * listens on a loopback TCP port, a Unix socket path, or both (one MHD daemon per listener).
 *
 * Requests: MHD's callbacks collect the method, path, query, headers and body into a
 * th_http_req, suspend the connection (MHD_suspend_connection) and hand the request to the
 * owner's on_request callback. The owner answers later, from any loop callback, with
 * th_http_req_respond(), which resumes the connection. So a handler may take as long as it
 * likes (e.g. await other HTTP calls) without blocking other connections.
 *
 * Limits and errors answered by the server itself, without calling on_request:
 *   request line + headers larger than max_header_bytes -> 431 (MHD's own answer),
 *   body larger than max_body_bytes (by Content-Length or as it streams) -> 413,
 *   malformed request -> 400 (MHD's own answer); a client that disconnects mid-request is
 *   dropped and costs nothing. The server keeps serving in every case.
 *
 * Ownership:
 *  - th_http_server_start() returns a server owned by the caller; th_http_server_close() stops
 *    listening, closes every connection, and frees the server once libuv has run its handles'
 *    close callbacks (run the loop afterwards). A Unix socket file it created is unlinked.
 *  - A th_http_req passed to on_request belongs to the owner until it calls
 *    th_http_req_respond() (or th_http_req_drop()) exactly once, which frees it. It stays valid
 *    even if the client disconnected or the server was closed meanwhile; then the answer is
 *    simply discarded. All strings from the accessors are borrowed from the req. */
#ifndef TH_HTTP_SERVER_H
#define TH_HTTP_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "error.h"
#include "http_client.h" /* th_http_header */

typedef struct th_http_server th_http_server;
typedef struct th_http_req th_http_req;

typedef void (*th_http_request_cb)(void *ud, th_http_req *req);

typedef struct th_http_server_opts {
  const char *host;        /* TCP address to bind; "127.0.0.1" when NULL */
  int port;                /* TCP port; 0 = pick a free one; -1 = no TCP listener */
  const char *unix_socket; /* Unix socket path to listen on (mode 0600), or NULL. A stale socket
                              file nobody listens on is replaced; a live one is EADDRINUSE. */
  size_t max_header_bytes; /* 0 = default 16 KiB */
  size_t max_body_bytes;   /* 0 = default 8 MiB */
  unsigned idle_timeout_s; /* close idle/slow connections after this; 0 = default 60 */
  unsigned max_connections;/* 0 = default 4096 */
  int json_errors;         /* the server's own answers (413, 431, 500, 503) as JSON bodies
                              {"error": "…"} (the dstack agent's error shape), not plain text */
} th_http_server_opts;

/* Starts listening. Returns NULL with err filled: TH_EINVAL (no listener asked for, bad host),
 * TH_EADDRINUSE ("listen on 127.0.0.1:8090: Address already in use"), TH_EIO. */
th_http_server *th_http_server_start(uv_loop_t *loop, const th_http_server_opts *opts,
                                     th_http_request_cb on_request, void *ud, th_err *err);

/* The TCP port actually bound (useful with port 0), or -1 when there is no TCP listener. */
int th_http_server_port(const th_http_server *server);

/* Stops the server (see Ownership). Requests handed out and not yet answered stay valid.
 * NULL is ok. */
void th_http_server_close(th_http_server *server);

/* Number of requests handed to on_request and not yet answered. */
size_t th_http_server_pending(const th_http_server *server);

const char *th_http_req_method(const th_http_req *req); /* "GET" */
const char *th_http_req_path(const th_http_req *req);   /* "/a/b", without the query */
const char *th_http_req_query_string(const th_http_req *req); /* raw "a=1&b=2", or "" */
/* Decoded query arguments, in order; names and values percent-decoded. */
const th_http_header *th_http_req_query(const th_http_req *req, size_t *n);
/* Request headers in order, names lower-cased. */
const th_http_header *th_http_req_headers(const th_http_req *req, size_t *n);
const char *th_http_req_header(const th_http_req *req, const char *lower_name); /* or NULL */
const char *th_http_req_body(const th_http_req *req, size_t *len); /* NUL-terminated */
/* The peer: "127.0.0.1:53422" for TCP, "unix" for a Unix socket. */
const char *th_http_req_peer(const th_http_req *req);

/* Answers the request and frees req. Headers are sent as given (Content-Length is computed;
 * don't pass it). Returns 0, or -1 with err filled if the answer could not be queued (the
 * connection was gone: TH_ECONNRESET; bad status/header: TH_EINVAL); req is freed either way. */
int th_http_req_respond(th_http_req *req, int status, const th_http_header *headers,
                        size_t nheaders, const char *body, size_t body_len, th_err *err);

/* Frees req without a useful answer: the client gets 503 if it is still connected. */
void th_http_req_drop(th_http_req *req);

#endif
