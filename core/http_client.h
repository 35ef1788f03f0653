/* core/http_client.h — asynchronous HTTP/1.1 client: libcurl's multi interface driven by libuv.
 *
 * One th_http_client per loop serves any number of concurrent requests over TCP, TLS (system CA
 * store, peer and host verified) and Unix domain sockets. curl's sockets are watched with
 * uv_poll and its timeout with one uv_timer, following curl's multi-uv pattern (with
 * curl_multi_info_read after every curl_multi_socket_action, poll errors reported to curl as
 * CURL_CSELECT_ERR, timeout 0 = "call me soon", -1 = stop the timer).
 *
 * Threading: everything runs on the loop's thread; callbacks are invoked from libuv callbacks,
 * never from inside the call that started the request.
 *
 * Ownership:
 *  - th_http_client_new() returns a client; th_http_client_close() starts its shutdown: every
 *    request still in flight is cancelled (its callback is NOT called), handles are closed and the
 *    client frees itself once libuv has run their close callbacks (run the loop after closing).
 *  - th_http_request() copies everything it needs from opts (URL, headers, body), so opts may be
 *    freed as soon as it returns. It returns a th_http_call* owned by the client: valid until its
 *    callback has returned or th_http_call_cancel() was called, whichever comes first.
 *  - The done callback receives ownership of `res` (free with th_http_response_free) when the
 *    request completed; on failure res is NULL and err (borrowed, valid during the callback only)
 *    says why. */
#ifndef TH_HTTP_CLIENT_H
#define TH_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

#include "error.h"

typedef struct th_http_client th_http_client;
typedef struct th_http_call th_http_call;

typedef struct th_http_header {
  char *name;  /* request: as given; response: lower-cased */
  char *value; /* without surrounding white space */
} th_http_header;

typedef struct th_http_request_opts {
  const char *method;      /* "GET" when NULL; any token ("HEAD" sends no body and reads none) */
  const char *url;         /* http:// or https:// URL; required */
  const char *unix_socket; /* connect to this Unix socket path instead of the URL's host; or NULL */
  const th_http_header *headers; /* request headers, nheaders of them */
  size_t nheaders;
  const char *body; /* request body (binary-safe), body_len bytes; NULL = none */
  size_t body_len;
  long timeout_ms; /* whole-request deadline; 0 = none */
} th_http_request_opts;

typedef struct th_http_response {
  long status;              /* e.g. 200 */
  th_http_header *headers;  /* final response's headers, names lower-case, in arrival order;
                               a repeated name appears repeatedly */
  size_t nheaders;
  char *body; /* NUL-terminated for convenience; body_len excludes the NUL; any size */
  size_t body_len;
} th_http_response;

/* err (borrowed) is non-NULL exactly when res is NULL. Codes and messages:
 *   TH_ECONNREFUSED "connect to /x.sock: No such file or directory" (the OS error's text; the
 *                   target is the socket path, or host:port for TCP),
 *   TH_ETIMEDOUT    "GET http://h/p: timed out after 1.5 s",
 *   TH_ENOTFOUND    "resolve host 'nope.invalid': …",
 *   TH_ETLS         "TLS with example.com: <curl's reason>",
 *   TH_ECONNRESET   "GET http://h/p: connection closed by peer: <curl's reason>",
 *   TH_EPROTO       "GET http://h/p: the server's answer is not valid HTTP: <curl's reason>"
 *                   (also a status outside 100..999: "GET http://h/p: bad status 0 in the status line"),
 *   TH_EIO          anything else, with curl's error buffer text. */
typedef void (*th_http_done_cb)(void *ud, th_http_response *res, const th_err *err);

th_http_client *th_http_client_new(uv_loop_t *loop, th_err *err);

/* Cancels all in-flight requests (no callbacks) and frees the client after its handles close.
 * NULL is ok. */
void th_http_client_close(th_http_client *client);

/* Starts a request. Returns NULL with err filled (TH_EINVAL: no URL, bad method, unsupported
 * scheme; TH_ENOMEM) if it cannot start; then the callback will never be called. */
th_http_call *th_http_request(th_http_client *client, const th_http_request_opts *opts,
                              th_http_done_cb cb, void *ud, th_err *err);

/* Aborts a request in flight; its callback will not be called. Must not be called after the
 * callback started. */
void th_http_call_cancel(th_http_call *call);

/* Number of requests in flight (started, callback not yet called, not cancelled). */
size_t th_http_client_active(const th_http_client *client);

void th_http_response_free(th_http_response *res);

/* The value of the first header called `name` (compared case-insensitively), or NULL. */
const char *th_http_response_header(const th_http_response *res, const char *name);

#endif
