/* core/phala_api.h — the Phala Cloud API client (shared/specs/phala-cloud.md §1, §3).
 *
 * One generic asynchronous call, th_phala_call(client, method, path, json_body, cb, ud), over
 * the shared th_http_client. The client adds the headers of spec §1.2 (X-API-Key on every
 * request, X-Phala-Version, Content-Type: application/json even without a body, Accept: any type, a
 * User-Agent naming teehost), joins `path` to the base URL with exactly one '/', parses JSON
 * answers with cJSON and turns error answers into messages that quote the API's `detail` and
 * the HTTP status: "Phala Cloud: 401 Unauthorized: Invalid API key" (string detail),
 * "Phala Cloud: 422 Unprocessable Entity: name: Field required" (validation list, `loc`
 * joined with '.' without body/query/path/header, items joined with "; "),
 * "Phala Cloud: 409 Conflict: App ID already in use [ERR-03-007]; Omit app_id …" (structured).
 * The endpoint paths themselves are the caller's (bindings/phala.c keeps their table).
 *
 * Retries: GET and HEAD (reads: repeating them changes nothing) are retried on a timeout, a
 * connection error and the answers 408, 425, 429, 500, 502, 503, 504; any method is retried
 * when the connection was refused (the request never left). Not retried: POST/PUT/PATCH/DELETE
 * after they may have reached the server (a repeated DELETE whose first attempt worked would
 * report a 404, a repeated PUT …/compose restarts the CVM twice), 409 (a conflict in this API
 * is a business error, not contention). The delay doubles from retry_delay_ms (a Retry-After
 * in seconds is honoured when larger); no retry starts once retry_budget_ms have passed since
 * the call began or max_attempts requests were sent.
 *
 * Ownership and threading: everything runs on the loop's thread. The caller owns the client
 * (th_phala_client_free); the loop and the th_http_client must outlive it. The API key is
 * copied into sodium_malloc'd memory, wiped when the client is freed, and never appears in an
 * error message (libcurl keeps its own copy of each request's header lines while it runs). th_phala_client_free cancels every call in flight: no callback runs after it
 * (a call's memory is released once libuv has closed its timer, so run the loop afterwards).
 * Callbacks run from libuv callbacks, never inside th_phala_call. */
#ifndef TH_PHALA_API_H
#define TH_PHALA_API_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

#include "error.h"
#include "http_client.h"

/* The prefix of @phala/cloud 0.2.x and phala 1.1.x (the API moved from .network to .com). */
#define TH_PHALA_DEFAULT_BASE_URL "https://cloud-api.phala.com/api/v1"
/* The version 1.0.35 sends; the response shapes of spec §3.2 belong to it. */
#define TH_PHALA_DEFAULT_API_VERSION "2025-05-31"

typedef struct th_phala_client th_phala_client;
typedef struct th_phala_req th_phala_req;

typedef struct th_phala_opts {
  const char *base_url;    /* the full prefix, with /api/v1 (PHALA_CLOUD_API_PREFIX); NULL: default */
  const char *api_key;     /* required; copied */
  const char *api_version; /* X-Phala-Version; NULL: TH_PHALA_DEFAULT_API_VERSION */
  const char *user_agent;  /* NULL: "teehost" */
  long timeout_ms;         /* per request; 0: 30000 (spec §1.2) */
  int max_attempts;        /* requests per retryable call, the first included; 0: 3 */
  long retry_delay_ms;     /* delay before the first retry, doubled after each; 0: 500 */
  long retry_budget_ms;    /* no retry starts later than this after the call began; 0: 60000 */
} th_phala_opts;

typedef struct th_phala_response {
  long status;     /* HTTP status of the last attempt */
  cJSON *json;     /* the parsed body, or NULL when it was empty or not JSON */
  char *body;      /* the raw body, NUL-terminated (body_len excludes the NUL) */
  size_t body_len;
  int json_type;   /* 1 when the server labelled the body application/json (or +json) */
  int attempts;    /* requests sent for this call */
} th_phala_response;

/* res is owned by the callback (th_phala_response_free) and is non-NULL whenever the API
 * answered. err (borrowed, valid during the callback) is non-NULL when the call failed:
 *   an error answer (status >= 400; res holds it): TH_EINVAL for 4xx, TH_EIO for 5xx, with
 *     the message described above;
 *   a 2xx answer labelled JSON that does not parse (res holds it, json NULL): TH_EPROTO
 *     "Phala Cloud: GET cvms: the answer is not valid JSON (200, 14 bytes): {"username":…";
 *   no answer (res NULL): the http_client's code, its message prefixed with "Phala Cloud: "
 *     and followed by " (after N attempts)" when retries were made. */
typedef void (*th_phala_done_cb)(void *ud, th_phala_response *res, const th_err *err);

/* Returns a client, or NULL with err (TH_EINVAL: no key, a key with control characters, a base
 * URL that is not http(s)://; TH_ENOMEM). */
th_phala_client *th_phala_client_new(uv_loop_t *loop, th_http_client *http,
                                     const th_phala_opts *opts, th_err *err);

/* Cancels every call in flight (no callbacks) and frees the client. NULL is ok. */
void th_phala_client_free(th_phala_client *client);

/* The base URL in use (no trailing '/'); borrowed. */
const char *th_phala_client_base_url(const th_phala_client *client);

/* Starts METHOD <base>/<path>. path is relative ("cvms?user_id=0"; a leading '/' is dropped)
 * and must already be URL-safe (no spaces or control characters). json_body (NUL-terminated,
 * copied) is sent as is, or nothing when NULL. Returns the call (owned by the client; valid
 * until its callback returns or it is cancelled), or NULL with err (TH_EINVAL, TH_ENOMEM);
 * then cb is never called. */
th_phala_req *th_phala_call(th_phala_client *client, const char *method, const char *path,
                            const char *json_body, th_phala_done_cb cb, void *ud, th_err *err);

/* Aborts a call in flight: its callback will not run. Not after the callback started. */
void th_phala_req_cancel(th_phala_req *req);

void th_phala_response_free(th_phala_response *res);

/* Writes the message for an error answer ("Phala Cloud: 404 Not Found: CVM not found") into
 * buf (always NUL-terminated). body may be NULL. th_phala_call uses it; exposed so that other
 * callers word API errors alike. */
void th_phala_error_message(char *buf, size_t size, long status, const char *body,
                            size_t body_len);

#endif
