/* core/phala_api.c — the Phala Cloud API client: headers, URL joining, retries with backoff,
 * JSON answers and error messages that quote the API's `detail` (see phala_api.h).
 *
 * What this file owns:
 *  - th_phala_client: the base URL, the headers' values (the API key in sodium_malloc'd memory)
 *    and the list of calls in flight.
 *  - th_phala_req: one call: its copied method, URL and body, the http call of the current
 *    attempt, and a uv_timer for the backoff between attempts. A call's memory is freed in its
 *    timer's close callback, because libuv owns the handle until then; everything else about
 *    the call (list membership, the http call) ends before its callback runs. */
#include "phala_api.h"

#include <ctype.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_ATTEMPTS 3
#define DEFAULT_DELAY_MS 500
#define DEFAULT_BUDGET_MS 60000
#define SNIPPET_MAX 120

struct th_phala_client {
  uv_loop_t *loop;
  th_http_client *http;
  char *base;        /* no trailing '/' */
  char *api_key;     /* sodium_malloc'd, wiped by sodium_free */
  char *api_version;
  char *user_agent;
  long timeout_ms, delay_ms, budget_ms;
  int max_attempts;
  th_phala_req *reqs; /* in flight */
};

struct th_phala_req {
  th_phala_client *client;
  th_phala_req *prev, *next;
  char *method, *url, *body;
  const char *path; /* into url, for messages */
  th_http_call *call;
  uv_timer_t timer; /* backoff; closed (freeing the req) when the call ends */
  uint64_t started;
  int attempts;
  th_phala_done_cb cb;
  void *ud;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
  return 0;
}

static const char *reason_phrase(long status) {
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 425: return "Too Early";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return NULL;
  }
}

/* Appends printf output at *pos, never past size (buf stays NUL-terminated). */
static void append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void append(char *buf, size_t size, size_t *pos, const char *fmt, ...) {
  if (*pos + 1 >= size) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
  va_end(ap);
  if (n > 0) *pos = (size_t)n >= size - *pos ? size - 1 : *pos + (size_t)n;
}

/* Appends at most max bytes of s with control characters turned into spaces, so a server's
 * text can neither break a log line nor drive a terminal. */
static void append_clean(char *buf, size_t size, size_t *pos, const char *s, size_t max) {
  for (size_t i = 0; s[i] && i < max && *pos + 1 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[(*pos)++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
  }
  buf[*pos] = '\0';
}

/* ---- error messages (spec §1.3) ------------------------------------------------------------ */

static int loc_part_hidden(const char *s) {
  return !strcmp(s, "body") || !strcmp(s, "query") || !strcmp(s, "path") || !strcmp(s, "header");
}

/* One validation item: "compose_file.name: Field required" (0.2.x's formatting). */
static void append_validation_item(char *buf, size_t size, size_t *pos, const cJSON *item) {
  const cJSON *loc = cJSON_GetObjectItemCaseSensitive(item, "loc");
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(item, "msg");
  int parts = 0;
  const cJSON *parts_list = cJSON_IsArray(loc) ? loc : NULL, *p;
  cJSON_ArrayForEach(p, parts_list) {
    if (cJSON_IsString(p) && loc_part_hidden(p->valuestring)) continue;
    if (parts++) append(buf, size, pos, ".");
    if (cJSON_IsString(p)) append_clean(buf, size, pos, p->valuestring, SNIPPET_MAX);
    else if (cJSON_IsNumber(p)) append(buf, size, pos, "%d", p->valueint);
  }
  if (parts) append(buf, size, pos, ": ");
  append_clean(buf, size, pos, cJSON_IsString(msg) ? msg->valuestring : "invalid", SNIPPET_MAX);
}

/* A structured detail (0.2.x era): "message [ERR-…]; first suggestion". */
static void append_structured(char *buf, size_t size, size_t *pos, const cJSON *d) {
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(d, "message");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(d, "error_code");
  const cJSON *sugg = cJSON_GetObjectItemCaseSensitive(d, "suggestions");
  append_clean(buf, size, pos, cJSON_IsString(msg) ? msg->valuestring : "error", SNIPPET_MAX * 2);
  if (cJSON_IsString(code)) {
    append(buf, size, pos, " [");
    append_clean(buf, size, pos, code->valuestring, 32);
    append(buf, size, pos, "]");
  }
  const cJSON *first = cJSON_IsArray(sugg) ? sugg->child : NULL;
  if (cJSON_IsString(first)) {
    append(buf, size, pos, "; ");
    append_clean(buf, size, pos, first->valuestring, SNIPPET_MAX);
  }
}

/* Appends what the server said: detail (3 shapes), else a message/error member, else the
 * start of the body. Returns whether anything was appended. */
static int append_server_text(char *buf, size_t size, size_t *pos, const char *body, size_t len) {
  cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *d = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "detail") : NULL;
  if (!d && cJSON_IsObject(j)) d = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (!d && cJSON_IsObject(j)) d = cJSON_GetObjectItemCaseSensitive(j, "error");
  size_t start = *pos;
  append(buf, size, pos, ": ");
  if (cJSON_IsString(d) && *d->valuestring) {
    append_clean(buf, size, pos, d->valuestring, size);
  } else if (cJSON_IsArray(d) && d->child) {
    for (const cJSON *item = d->child; item; item = item->next) {
      append_validation_item(buf, size, pos, item);
      if (item->next) append(buf, size, pos, "; ");
    }
  } else if (cJSON_IsObject(d)) {
    append_structured(buf, size, pos, d);
  } else if (body && len && !j) {
    while (len && isspace((unsigned char)*body)) {
      body++;
      len--;
    }
    while (len && isspace((unsigned char)body[len - 1])) len--;
    append_clean(buf, size, pos, body, len < SNIPPET_MAX ? len : SNIPPET_MAX);
  }
  cJSON_Delete(j);
  if (*pos == start + 2) { /* nothing usable: drop the ": " */
    *pos = start;
    buf[start] = '\0';
    return 0;
  }
  return 1;
}

void th_phala_error_message(char *buf, size_t size, long status, const char *body,
                            size_t body_len) {
  if (!size) return;
  buf[0] = '\0';
  size_t pos = 0;
  const char *phrase = reason_phrase(status);
  if (phrase) append(buf, size, &pos, "Phala Cloud: %ld %s", status, phrase);
  else append(buf, size, &pos, "Phala Cloud: HTTP %ld", status);
  append_server_text(buf, size, &pos, body, body_len);
}

/* ---- the client ---------------------------------------------------------------------------- */

static long or_default(long v, long dflt) { return v > 0 ? v : dflt; }

static int check_base(const char *base, th_err *err) {
  if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
    return th_err_set(err, TH_EINVAL, "Phala Cloud: the API prefix must start with http:// or https:// "
                                      "(PHALA_CLOUD_API_PREFIX?), got '%.80s'", base);
  if (has_control(base) || strchr(base, ' '))
    return th_err_set(err, TH_EINVAL, "Phala Cloud: the API prefix contains a space or control character");
  return 0;
}

static char *copy_key(const char *key, th_err *err) {
  if (!key || !*key) {
    th_err_set(err, TH_EINVAL, "Phala Cloud: no API key");
    return NULL;
  }
  if (has_control(key)) { /* it goes into a header line */
    th_err_set(err, TH_EINVAL, "Phala Cloud: the API key contains a control character");
    return NULL;
  }
  if (sodium_init() < 0) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: libsodium failed to initialise");
    return NULL;
  }
  size_t n = strlen(key) + 1;
  char *copy = sodium_malloc(n);
  if (!copy) th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  else memcpy(copy, key, n);
  return copy;
}

th_phala_client *th_phala_client_new(uv_loop_t *loop, th_http_client *http,
                                     const th_phala_opts *o, th_err *err) {
  const char *base = o->base_url && *o->base_url ? o->base_url : TH_PHALA_DEFAULT_BASE_URL;
  if (check_base(base, err) != 0) return NULL;
  th_phala_client *c = calloc(1, sizeof *c);
  if (!c) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
    return NULL;
  }
  c->loop = loop;
  c->http = http;
  if (!(c->api_key = copy_key(o->api_key, err))) {
    free(c);
    return NULL;
  }
  c->base = strdup(base);
  c->api_version = dup_or(o->api_version, TH_PHALA_DEFAULT_API_VERSION);
  c->user_agent = dup_or(o->user_agent, "teehost");
  if (!c->base || !c->api_version || !c->user_agent) {
    th_phala_client_free(c);
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
    return NULL;
  }
  size_t n = strlen(c->base);
  while (n > 0 && c->base[n - 1] == '/') c->base[--n] = '\0';
  c->timeout_ms = or_default(o->timeout_ms, DEFAULT_TIMEOUT_MS);
  c->delay_ms = or_default(o->retry_delay_ms, DEFAULT_DELAY_MS);
  c->budget_ms = or_default(o->retry_budget_ms, DEFAULT_BUDGET_MS);
  c->max_attempts = o->max_attempts > 0 ? o->max_attempts : DEFAULT_ATTEMPTS;
  return c;
}

const char *th_phala_client_base_url(const th_phala_client *c) { return c->base; }

void th_phala_req_cancel(th_phala_req *r);

void th_phala_client_free(th_phala_client *c) {
  if (!c) return;
  while (c->reqs) th_phala_req_cancel(c->reqs);
  sodium_free(c->api_key);
  free(c->base);
  free(c->api_version);
  free(c->user_agent);
  free(c);
}

void th_phala_response_free(th_phala_response *res) {
  if (!res) return;
  cJSON_Delete(res->json);
  free(res->body);
  free(res);
}

/* ---- one call ------------------------------------------------------------------------------ */

static void req_free_on_close(uv_handle_t *h) {
  th_phala_req *r = h->data;
  free(r->method);
  free(r->url);
  free(r->body);
  free(r);
}

/* Unlinks the call from its client and releases it (the memory goes with the timer). */
static void req_end(th_phala_req *r) {
  th_phala_client *c = r->client;
  if (r->prev) r->prev->next = r->next;
  else if (c->reqs == r) c->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, req_free_on_close);
}

void th_phala_req_cancel(th_phala_req *r) {
  if (r->call) th_http_call_cancel(r->call);
  r->call = NULL;
  req_end(r);
}

/* Ends the call and hands res/err to the owner. The call is unlinked first, so the callback
 * may free the client. */
static void deliver(th_phala_req *r, th_phala_response *res, const th_err *err) {
  th_phala_done_cb cb = r->cb;
  void *ud = r->ud;
  req_end(r);
  cb(ud, res, err);
}

static int is_read(const char *method) { return !strcmp(method, "GET") || !strcmp(method, "HEAD"); }

static int status_retryable(long s) {
  return s == 408 || s == 425 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static int error_retryable(const char *method, int code) {
  if (code == TH_ECONNREFUSED) return 1; /* nothing was sent: safe for any method */
  return is_read(method) && (code == TH_ETIMEDOUT || code == TH_ECONNRESET || code == TH_EIO ||
                             code == TH_ENOTFOUND || code == TH_EPROTO);
}

static int start_attempt(th_phala_req *r, th_err *err);

static void on_backoff(uv_timer_t *t) {
  th_phala_req *r = t->data;
  th_err err = {0};
  if (start_attempt(r, &err) != 0) deliver(r, NULL, &err);
}

/* Schedules another attempt if the policy allows one; returns 0 when it did. */
static int maybe_retry(th_phala_req *r, long retry_after_ms) {
  th_phala_client *c = r->client;
  if (r->attempts >= c->max_attempts) return -1;
  long delay = c->delay_ms;
  for (int i = 1; i < r->attempts && delay < c->budget_ms; i++) delay *= 2;
  if (retry_after_ms > delay) delay = retry_after_ms;
  uint64_t elapsed = uv_now(c->loop) - r->started;
  if (elapsed + (uint64_t)delay > (uint64_t)c->budget_ms) return -1;
  return uv_timer_start(&r->timer, on_backoff, (uint64_t)delay, 0) == 0 ? 0 : -1;
}

static long retry_after_ms(const th_http_response *res) {
  const char *v = th_http_response_header(res, "retry-after");
  if (!v || !isdigit((unsigned char)*v)) return 0;
  long s = strtol(v, NULL, 10);
  return s > 0 && s < 3600 ? s * 1000 : 0;
}

static int labelled_json(const th_http_response *res) {
  const char *ct = th_http_response_header(res, "content-type");
  if (!ct) return 0;
  size_t n = strcspn(ct, ";");
  return (n >= 16 && strncasecmp(ct, "application/json", 16) == 0 && n == 16) ||
         (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* Moves the http response into a th_phala_response, parsing JSON bodies. */
static th_phala_response *take_response(th_phala_req *r, th_http_response *hr) {
  th_phala_response *res = calloc(1, sizeof *res);
  if (!res) return NULL;
  res->status = hr->status;
  res->body = hr->body;
  res->body_len = hr->body_len;
  hr->body = NULL;
  res->json_type = labelled_json(hr);
  res->attempts = r->attempts;
  if (res->body_len) res->json = cJSON_ParseWithLength(res->body, res->body_len);
  return res;
}

static void fail_json(th_phala_req *r, th_phala_response *res) {
  th_err err;
  char snippet[64] = "";
  size_t pos = 0;
  append_clean(snippet, sizeof snippet, &pos, res->body, 40);
  th_err_set(&err, TH_EPROTO, "Phala Cloud: %s %s: the answer is not valid JSON (%ld, %zu bytes): %s",
             r->method, r->path, res->status, res->body_len, snippet);
  deliver(r, res, &err);
}

static void on_http_done(void *ud, th_http_response *hr, const th_err *herr) {
  th_phala_req *r = ud;
  r->call = NULL;
  if (!hr) {
    if (error_retryable(r->method, herr->code) && maybe_retry(r, 0) == 0) return;
    th_err err;
    th_err_set(&err, herr->code, "Phala Cloud: %s", herr->message);
    if (r->attempts > 1) {
      size_t pos = strlen(err.message);
      append(err.message, sizeof err.message, &pos, " (after %d attempts)", r->attempts);
    }
    deliver(r, NULL, &err);
    return;
  }
  if (is_read(r->method) && status_retryable(hr->status) && maybe_retry(r, retry_after_ms(hr)) == 0) {
    th_http_response_free(hr);
    return;
  }
  th_phala_response *res = take_response(r, hr);
  th_http_response_free(hr);
  th_err err;
  if (!res) {
    th_err_set(&err, TH_ENOMEM, "Phala Cloud: out of memory");
    deliver(r, NULL, &err);
  } else if (res->status >= 400) {
    err.code = res->status >= 500 ? TH_EIO : TH_EINVAL;
    th_phala_error_message(err.message, sizeof err.message, res->status, res->body, res->body_len);
    deliver(r, res, &err);
  } else if (res->json_type && res->body_len && !res->json) {
    fail_json(r, res);
  } else {
    deliver(r, res, NULL);
  }
}

static int start_attempt(th_phala_req *r, th_err *err) {
  th_phala_client *c = r->client;
  const th_http_header headers[] = {
      {"X-API-Key", c->api_key},
      {"X-Phala-Version", c->api_version},
      {"Content-Type", "application/json"},
      {"Accept", "*/*"},
      {"User-Agent", c->user_agent},
  };
  th_http_request_opts o = {0};
  o.method = r->method;
  o.url = r->url;
  o.headers = headers;
  o.nheaders = sizeof headers / sizeof headers[0];
  o.body = r->body;
  o.body_len = r->body ? strlen(r->body) : 0;
  o.timeout_ms = c->timeout_ms;
  r->attempts++;
  r->call = th_http_request(c->http, &o, on_http_done, r, err);
  if (!r->call) {
    char msg[sizeof err->message];
    memcpy(msg, err->message, sizeof msg);
    th_err_set(err, err->code, "Phala Cloud: %s", msg);
    return -1;
  }
  return 0;
}

static int check_call_args(const char *method, const char *path, th_err *err) {
  if (!method || !*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
    return th_err_set(err, TH_EINVAL, "Phala Cloud: bad method '%.20s'", method ? method : "");
  if (!path || has_control(path) || strchr(path, ' '))
    return th_err_set(err, TH_EINVAL, "Phala Cloud: the path must not contain spaces or control characters");
  return 0;
}

/* "<base>/<path>" with exactly one '/' between them. */
static char *join_url(const char *base, const char *path) {
  while (*path == '/') path++;
  size_t n = strlen(base) + 1 + strlen(path) + 1;
  char *url = malloc(n);
  if (url) snprintf(url, n, "%s/%s", base, path);
  return url;
}

th_phala_req *th_phala_call(th_phala_client *c, const char *method, const char *path,
                            const char *json_body, th_phala_done_cb cb, void *ud, th_err *err) {
  if (check_call_args(method, path, err) != 0) return NULL;
  th_phala_req *r = calloc(1, sizeof *r);
  if (!r) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
    return NULL;
  }
  r->client = c;
  r->cb = cb;
  r->ud = ud;
  r->method = strdup(method);
  r->url = join_url(c->base, path);
  r->body = json_body ? strdup(json_body) : NULL;
  if (!r->method || !r->url || (json_body && !r->body)) {
    free(r->method);
    free(r->url);
    free(r->body);
    free(r);
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
    return NULL;
  }
  r->path = r->url + strlen(c->base) + 1;
  uv_timer_init(c->loop, &r->timer);
  r->timer.data = r;
  r->started = uv_now(c->loop);
  r->next = c->reqs;
  if (c->reqs) c->reqs->prev = r;
  c->reqs = r;
  if (start_attempt(r, err) != 0) {
    req_end(r);
    return NULL;
  }
  return r;
}
