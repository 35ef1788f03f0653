/* core/http_server.c — see http_server.h.
 *
 * What this file owns:
 *  - th_http_server: one or two listeners (TCP and/or Unix), the list of requests handed to the
 *    owner and not yet answered, and the Unix socket file it created (unlinked on close).
 *  - th_listener: one MHD daemon plus the uv_poll watching its epoll fd and the uv_timer that
 *    carries MHD's timeouts (and "run MHD soon" after a resume).
 *  - th_conn: MHD's per-request context (client_context). It is created by MHD's URI-log
 *    callback, which is the only place that sees the raw request target (MHD splits and decodes
 *    it in place right after), and freed by MHD's request-completed callback.
 *  - th_http_req: what the owner sees. It is split from th_conn because their lifetimes differ:
 *    the owner may keep a req after MHD has finished with the connection (server closed), and
 *    MHD keeps the th_conn after the owner has answered (until the answer is queued and sent).
 *
 * Why it is built this way:
 *  - MHD runs without a thread (MHD_USE_EPOLL, external polling): its epoll fd is one fd in the
 *    libuv loop, so every MHD callback runs on the loop thread and no locking is needed.
 *    MHD_run is only ever called from listener_run(), i.e. from a uv callback, never from
 *    inside an MHD callback; calls the owner makes from on_request that would need MHD
 *    (respond, close) only record what to do and arm a 0-ms timer or defer the work.
 *  - Answers are asynchronous: at the end of a request the connection is suspended and the req
 *    handed out. th_http_req_respond() builds the MHD response, parks it in th_conn and resumes
 *    the connection; MHD calls the access handler again, which queues it (MHD only accepts a
 *    response from inside the access handler). In external-polling mode MHD 0.9.75 drops its
 *    inter-thread channel, so MHD_resume_connection wakes nothing and MHD_get_timeout does not
 *    know about it either: the 0-ms timer armed by listener_kick() is what gets the answer
 *    out. An answer given synchronously from on_request is queued at once, without suspending.
 *  - Request data: the path is MHD's percent-decoded URL path; query arguments are decoded by
 *    MHD too ('+' is a space); the raw query string is kept as sent.
 *  - We bind the listen sockets ourselves (MHD_OPTION_LISTEN_SOCKET): that gives exact error
 *    messages and codes, the actual port, 0600 on the Unix socket before anyone can connect,
 *    and our own listen backlog.
 *  - Limits: MHD has no header-size option, only a per-connection memory pool. The pool is
 *    sized to twice max_header_bytes plus room for MHD's own buffers (response headers, body
 *    reads); anything that does not fit gets MHD's own 431 (414 when the request line alone
 *    does not fit). The exact limit is then checked in the first access-handler call, which
 *    answers 431 itself. Bodies are checked against Content-Length up front (413 before the
 *    body is read) and while they stream (chunked uploads): MHD only lets us queue a response
 *    before or after the body, so an oversized stream is discarded and answered 413 at its
 *    end, and a client that keeps streaming past twice the limit is disconnected.
 *  - Closing: MHD_stop_daemon aborts the process ("called while we have suspended
 *    connections") if one is still suspended, so close first detaches every handed-out req
 *    (answering 503), resumes those connections, runs MHD once (which gets the 503 out when
 *    the socket is writable), stops the uv handles (libuv must not poll the epoll fd MHD is
 *    about to close) and only then stops the daemons. A close asked for from inside on_request
 *    waits until MHD_run has returned. The server is freed by the last handle close callback.
 *  - MHD never logs (no MHD_USE_ERROR_LOG): bad requests from clients are not our stderr's
 *    business. */
#include "http_server.h"
#include "lazy_mhd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_MAX_HEADER_BYTES ((size_t)16 * 1024)
#define DEFAULT_MAX_BODY_BYTES ((size_t)8 * 1024 * 1024)
#define DEFAULT_IDLE_TIMEOUT_S 60u
#define DEFAULT_MAX_CONNECTIONS 4096u
/* MHD needs pool space beyond the request headers: the response header it builds and a read
 * buffer for the body. */
#define POOL_SLACK_BYTES ((size_t)16 * 1024)
/* The kernel caps this at net.core.somaxconn; asking for more than SOMAXCONN's old 128 lets
 * a burst of 1,000 clients connect without SYN retries. */
#define LISTEN_BACKLOG 4096
/* MHD's deadlines derive from idle_timeout_s; clamping to a day only guards the arithmetic. */
#define MAX_TIMER_MS ((uint64_t)24 * 3600 * 1000)

typedef struct th_listener th_listener;
typedef struct th_conn th_conn;

struct th_listener {
  th_http_server *server;
  struct MHD_Daemon *daemon;
  uv_poll_t poll;
  uv_timer_t timer;
  bool is_unix;
  bool handles_open; /* poll and timer initialised: they must be uv_close'd */
  bool run_soon;     /* a connection was resumed: MHD must run without waiting for its fd */
};

struct th_http_server {
  uv_loop_t *loop;
  th_http_request_cb on_request;
  void *ud;
  size_t max_header_bytes;
  size_t max_body_bytes;
  bool json_errors;
  th_listener tcp;
  th_listener unx;
  int port;
  char *unix_path; /* set only when we bound the file, so close unlinks only our own */
  dev_t unix_dev;
  ino_t unix_ino;
  th_http_req *handed; /* handed-out, unanswered requests (doubly linked) */
  size_t pending;
  int in_mhd;          /* > 0 while MHD_run is on the stack */
  bool closing;
  bool close_deferred; /* close was asked for from inside an MHD callback */
  int open_handles;    /* uv handles whose close callback has not run yet */
};

enum conn_phase {
  PHASE_NEW,      /* request line seen, access handler not called yet */
  PHASE_COLLECT,  /* req built, body arriving */
  PHASE_TOO_BIG,  /* body exceeded the limit while streaming: discard, answer 413 at the end */
  PHASE_HANDED,   /* suspended, req belongs to the owner */
  PHASE_ANSWERED, /* owner answered, connection resumed, answer waits to be queued */
  PHASE_DONE      /* a response was queued */
};

struct th_conn {
  th_listener *listener;
  struct MHD_Connection *mhd;
  enum conn_phase phase;
  th_http_req *req;             /* PHASE_COLLECT/HANDED; NULL otherwise */
  char *query_string;           /* raw, taken from the request target; moved into req */
  size_t target_len;            /* raw request-target length, for the header-size check */
  size_t discarded;             /* body bytes dropped in PHASE_TOO_BIG */
  struct MHD_Response *answer;  /* PHASE_ANSWERED; NULL (out of memory) -> a plain 500 */
  unsigned status;
  bool in_handler;              /* on_request is running for this connection (not suspended) */
};

struct th_http_req {
  th_http_server *server; /* NULL once detached (server closed) */
  th_conn *conn;          /* NULL once detached */
  th_http_req *prev, *next;
  char *method;
  char *path;
  char *query_string;
  th_http_header *query;
  size_t nquery;
  th_http_header *headers;
  size_t nheaders;
  char *body;
  size_t body_len;
  size_t body_cap;
  char peer[INET6_ADDRSTRLEN + 8];
};

static const char TEXT_413[] = "Payload Too Large\n";
static const char TEXT_431[] = "Request Header Fields Too Large\n";
static const char TEXT_500[] = "Internal Server Error\n";
static const char TEXT_503[] = "Service Unavailable\n";
/* The same, for servers whose clients expect a JSON error body (json_errors). */
static const char JSON_413[] =
    "{\n  \"error\": \"Payload Too Large: the request body is over the limit\"\n}";
static const char JSON_431[] = "{\n  \"error\": \"Request Header Fields Too Large\"\n}";
static const char JSON_500[] = "{\n  \"error\": \"Internal Server Error\"\n}";
static const char JSON_503[] = "{\n  \"error\": \"Service Unavailable\"\n}";

static void listener_run(th_listener *l);
static void server_finish_close(th_http_server *s);

/* ---------- small helpers ---------- */

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static void lower_ascii(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

static bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ascii_case_equal(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
    char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
    if (x != y) return false;
  }
  return *a == *b;
}

/* A canned plain-text answer for the limits the server enforces itself. The text is static,
 * so MHD need not copy it. NULL when out of memory. */
static struct MHD_Response *canned_response(const char *text) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  if (r)
    MHD_add_response_header(r, "Content-Type",
                            text[0] == '{' ? "application/json" : "text/plain; charset=utf-8");
  return r;
}

static const char *canned_text(unsigned status, bool json) {
  switch (status) {
  case 413: return json ? JSON_413 : TEXT_413;
  case 431: return json ? JSON_431 : TEXT_431;
  case 503: return json ? JSON_503 : TEXT_503;
  default: return json ? JSON_500 : TEXT_500;
  }
}

/* Queues an answer from inside the access handler. Falls back to a plain 500 when MHD refuses
 * the owner's answer (e.g. a 1xx status to an HTTP/1.0 client); MHD_NO closes the connection. */
static enum MHD_Result queue_answer(struct MHD_Connection *mc, unsigned status,
                                    struct MHD_Response *r) {
  enum MHD_Result ok = r ? MHD_queue_response(mc, status, r) : MHD_NO;
  if (ok == MHD_YES) return MHD_YES;
  struct MHD_Response *fallback = canned_response(TEXT_500);
  if (!fallback) return MHD_NO;
  ok = MHD_queue_response(mc, 500, fallback);
  MHD_destroy_response(fallback);
  return ok;
}

static enum MHD_Result queue_canned(const th_http_server *s, struct MHD_Connection *mc,
                                     unsigned status) {
  struct MHD_Response *r = canned_response(canned_text(status, s->json_errors));
  if (!r) return MHD_NO;
  enum MHD_Result ok = MHD_queue_response(mc, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* ---------- requests ---------- */

static void free_headers(th_http_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(h[i].name);
    free(h[i].value);
  }
  free(h);
}

static void req_free(th_http_req *req) {
  if (!req) return;
  free(req->method);
  free(req->path);
  free(req->query_string);
  free_headers(req->query, req->nquery);
  free_headers(req->headers, req->nheaders);
  free(req->body);
  free(req);
}

static void server_link(th_http_server *s, th_http_req *req) {
  req->server = s;
  req->prev = NULL;
  req->next = s->handed;
  if (s->handed) s->handed->prev = req;
  s->handed = req;
  s->pending++;
}

static void server_unlink(th_http_req *req) {
  th_http_server *s = req->server;
  if (!s) return;
  if (req->prev) req->prev->next = req->next;
  else s->handed = req->next;
  if (req->next) req->next->prev = req->prev;
  req->prev = req->next = NULL;
  req->server = NULL;
  s->pending--;
}

/* Collects one MHD key/value list into an owned th_http_header array. */
typedef struct kv_sink {
  th_http_header *items;
  size_t n, cap;
  bool lower; /* header names are case-insensitive: hand them out lower-cased */
  bool failed;
  size_t bytes; /* wire size, "name: value\r\n" each */
} kv_sink;

static enum MHD_Result kv_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size) {
  (void)kind;
  kv_sink *k = cls;
  if (k->n == k->cap) return MHD_NO; /* counted beforehand; MHD cannot add values meanwhile */
  char *name = dup_n(key, key_size);
  char *val = dup_n(value ? value : "", value ? value_size : 0);
  if (!name || !val) {
    free(name);
    free(val);
    k->failed = true;
    return MHD_NO;
  }
  if (k->lower) lower_ascii(name);
  k->items[k->n].name = name;
  k->items[k->n].value = val;
  k->n++;
  k->bytes += key_size + 2 + value_size + 2;
  return MHD_YES;
}

static int collect_values(struct MHD_Connection *mc, enum MHD_ValueKind kind, bool lower,
                          th_http_header **out, size_t *nout, size_t *bytes) {
  int count = MHD_get_connection_values(mc, kind, NULL, NULL);
  kv_sink k = {.lower = lower};
  if (count > 0) {
    k.items = calloc((size_t)count, sizeof *k.items);
    if (!k.items) return -1;
    k.cap = (size_t)count;
    MHD_get_connection_values_n(mc, kind, kv_collect, &k);
    if (k.failed) {
      free_headers(k.items, k.n);
      return -1;
    }
  }
  *out = k.items;
  *nout = k.n;
  if (bytes) *bytes = k.bytes;
  return 0;
}

static void format_peer(const th_listener *l, struct MHD_Connection *mc, char *out, size_t cap) {
  snprintf(out, cap, "unix");
  if (l->is_unix) return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr) return;
  char ip[INET6_ADDRSTRLEN];
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
  }
}

/* Builds the req from what MHD parsed. Returns NULL when out of memory; *header_bytes gets
 * the request's wire size up to the blank line. */
static th_http_req *req_build(th_conn *c, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version, size_t *header_bytes) {
  th_http_req *req = calloc(1, sizeof *req);
  if (!req) return NULL;
  size_t hbytes = 0;
  req->method = strdup(method);
  req->path = strdup(url);
  req->query_string = c->query_string ? c->query_string : strdup("");
  c->query_string = NULL;
  if (!req->method || !req->path || !req->query_string ||
      collect_values(mc, MHD_HEADER_KIND, true, &req->headers, &req->nheaders, &hbytes) ||
      collect_values(mc, MHD_GET_ARGUMENT_KIND, false, &req->query, &req->nquery, NULL)) {
    req_free(req);
    return NULL;
  }
  format_peer(c->listener, mc, req->peer, sizeof req->peer);
  *header_bytes = strlen(method) + 1 + c->target_len + 1 + strlen(version) + 2 + hbytes + 2;
  return req;
}

/* Content-Length beyond the limit is refused before the body is read. Malformed values never
 * get here: MHD answers them 400 itself. */
static bool content_length_too_big(struct MHD_Connection *mc, size_t max) {
  const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!cl) return false;
  errno = 0;
  char *end;
  unsigned long long n = strtoull(cl, &end, 10);
  if (errno == ERANGE) return true;
  return end != cl && n > max;
}

static bool body_append(th_http_req *req, const char *data, size_t n) {
  if (req->body_cap - req->body_len <= n) {
    size_t cap = req->body_cap ? req->body_cap : 4096;
    while (cap - req->body_len <= n) {
      if (cap > SIZE_MAX / 2) return false;
      cap *= 2;
    }
    char *p = realloc(req->body, cap);
    if (!p) return false;
    req->body = p;
    req->body_cap = cap;
  }
  memcpy(req->body + req->body_len, data, n);
  req->body_len += n;
  req->body[req->body_len] = '\0';
  return true;
}

/* ---------- MHD callbacks ---------- */

/* The connection's slot for its current th_conn (the socket context set up by on_notify), so
 * a th_conn MHD never completes (it drops some connections after the URI-log callback without
 * calling the completed callback) is freed when the connection closes. */
static th_conn **conn_slot(struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void conn_free(th_conn *c);

static void on_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe) {
  (void)cls;
  (void)mc;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = calloc(1, sizeof(th_conn *));
    return;
  }
  th_conn **slot = *socket_context;
  if (slot && *slot) conn_free(*slot);
  free(slot);
  *socket_context = NULL;
}

/* Called by MHD with the raw request target before it splits and decodes it in place; the
 * return value becomes the request's client_context (also kept in the connection's slot). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc) {
  th_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL; /* the access handler then closes the connection */
  c->listener = cls;
  c->mhd = mc;
  c->phase = PHASE_NEW;
  if (uri) {
    c->target_len = strlen(uri);
    const char *q = strchr(uri, '?');
    c->query_string = q ? strdup(q + 1) : NULL;
    if (q && !c->query_string) {
      free(c);
      return NULL;
    }
  }
  th_conn **slot = conn_slot(mc);
  if (slot) {
    if (*slot) conn_free(*slot);
    *slot = c;
  }
  return c;
}

static enum MHD_Result first_call(th_conn *c, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version) {
  th_http_server *s = c->listener->server;
  size_t header_bytes = 0;
  th_http_req *req = req_build(c, mc, url, method, version, &header_bytes);
  if (!req) return MHD_NO;
  unsigned refuse = 0;
  if (header_bytes > s->max_header_bytes) refuse = 431;
  else if (content_length_too_big(mc, s->max_body_bytes)) refuse = 413;
  if (refuse) {
    req_free(req);
    c->phase = PHASE_DONE;
    /* queued before the body: MHD refuses the body and closes after answering */
    return queue_canned(s, mc, refuse);
  }
  c->req = req;
  c->phase = PHASE_COLLECT;
  return MHD_YES;
}

static enum MHD_Result body_call(th_conn *c, const char *data, size_t *size) {
  size_t n = *size;
  size_t max = c->listener->server->max_body_bytes;
  *size = 0;
  if (c->phase == PHASE_COLLECT) {
    if (c->req->body_len + n <= max) return body_append(c->req, data, n) ? MHD_YES : MHD_NO;
    req_free(c->req);
    c->req = NULL;
    c->phase = PHASE_TOO_BIG;
  }
  if (c->phase != PHASE_TOO_BIG) return MHD_YES;
  c->discarded += n;
  /* draining is only polite up to a point; past it the client just gets disconnected */
  return c->discarded > max ? MHD_NO : MHD_YES;
}

/* Queues the answer the owner parked in the connection (PHASE_ANSWERED). */
static enum MHD_Result queue_parked(th_conn *c, struct MHD_Connection *mc) {
  struct MHD_Response *r = c->answer;
  c->answer = NULL;
  c->phase = PHASE_DONE;
  enum MHD_Result ok = queue_answer(mc, c->status, r);
  if (r) MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result hand_out(th_conn *c, struct MHD_Connection *mc) {
  th_http_server *s = c->listener->server;
  if (s->closing) {
    req_free(c->req);
    c->req = NULL;
    c->phase = PHASE_DONE;
    return queue_canned(s, mc, 503);
  }
  th_http_req *req = c->req;
  req->conn = c;
  c->phase = PHASE_HANDED;
  server_link(s, req);
  /* An owner that answers at once (the simulator does) gets its answer queued right here; only
   * a deferred answer costs a suspend, a resume and another MHD_run. */
  c->in_handler = true;
  s->on_request(s->ud, req);
  c->in_handler = false;
  if (c->phase == PHASE_ANSWERED) return queue_parked(c, mc);
  MHD_suspend_connection(mc);
  return MHD_YES;
}

static enum MHD_Result final_call(th_conn *c, struct MHD_Connection *mc) {
  switch (c->phase) {
  case PHASE_COLLECT:
    return hand_out(c, mc);
  case PHASE_TOO_BIG:
    c->phase = PHASE_DONE;
    return queue_canned(c->listener->server, mc, 413);
  case PHASE_HANDED:
    /* not expected (we resume only after an answer), but stay suspended rather than spin */
    MHD_suspend_connection(mc);
    return MHD_YES;
  case PHASE_ANSWERED:
    return queue_parked(c, mc);
  default:
    return MHD_YES;
  }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  (void)cls;
  th_conn *c = *con_cls;
  if (!c) return MHD_NO; /* on_uri ran out of memory */
  if (c->phase == PHASE_NEW) return first_call(c, mc, url, method, version);
  if (*upload_data_size) return body_call(c, upload_data, upload_data_size);
  return final_call(c, mc);
}

/* The request is over for MHD (answered, client gone, or daemon stopping). A req the owner
 * still holds is detached, not freed: the owner frees it when it answers. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)mc;
  (void)toe;
  th_conn *c = *con_cls;
  if (!c) return;
  *con_cls = NULL;
  th_conn **slot = conn_slot(mc);
  if (slot && *slot == c) *slot = NULL;
  conn_free(c);
}

static void conn_free(th_conn *c) {
  if (c->req) {
    if (c->phase == PHASE_HANDED) {
      server_unlink(c->req);
      c->req->conn = NULL;
    } else {
      req_free(c->req);
    }
  }
  if (c->answer) MHD_destroy_response(c->answer);
  free(c->query_string);
  free(c);
}

/* ---------- the loop side ---------- */

static void on_timer(uv_timer_t *t) { listener_run(t->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status; /* on an error MHD_run finds out what broke */
  (void)events;
  listener_run(p->data);
}

/* Re-arms the timer after every MHD_run: MHD's next deadline, or 0 when a resumed connection
 * or already-buffered data is waiting (MHD then reports 0 itself for the latter). */
static void listener_arm(th_listener *l) {
  MHD_UNSIGNED_LONG_LONG ms = 0;
  if (!l->run_soon && MHD_get_timeout(l->daemon, &ms) != MHD_YES) {
    uv_timer_stop(&l->timer);
    return;
  }
  if (ms > MAX_TIMER_MS) ms = MAX_TIMER_MS;
  uv_timer_start(&l->timer, on_timer, (uint64_t)ms, 0);
}

static void listener_run(th_listener *l) {
  th_http_server *s = l->server;
  l->run_soon = false;
  s->in_mhd++;
  MHD_run(l->daemon);
  s->in_mhd--;
  if (s->close_deferred) {
    if (s->in_mhd == 0) server_finish_close(s);
    return;
  }
  if (!s->closing) listener_arm(l);
}

/* Makes MHD look at a resumed connection soon, from a fresh loop callback rather than from
 * inside whatever MHD callback we may be in. */
static void listener_kick(th_listener *l) {
  l->run_soon = true;
  if (!l->server->closing) uv_timer_start(&l->timer, on_timer, 0, 0);
}

/* Parks the answer in the connection and resumes it; the access handler queues it. The req
 * stops being the connection's: the caller frees it. */
static void conn_answer(th_http_req *req, unsigned status, struct MHD_Response *r) {
  th_conn *c = req->conn;
  server_unlink(req);
  req->conn = NULL;
  c->req = NULL;
  c->answer = r;
  c->status = status;
  c->phase = PHASE_ANSWERED;
  if (c->in_handler) return; /* hand_out queues it when on_request returns */
  MHD_resume_connection(c->mhd);
  listener_kick(c->listener);
}

/* ---------- answering ---------- */

static int check_answer(int status, const th_http_header *headers, size_t nheaders,
                        const char *body, size_t body_len, th_err *err) {
  if (status < 100 || status > 999)
    return th_err_set(err, TH_EINVAL, "respond: bad status %d", status);
  if (!body && body_len)
    return th_err_set(err, TH_EINVAL, "respond: body is NULL but body_len is %zu", body_len);
  if (nheaders && !headers) return th_err_set(err, TH_EINVAL, "respond: headers is NULL");
  for (size_t i = 0; i < nheaders; i++) {
    const char *name = headers[i].name, *value = headers[i].value;
    if (!name || !*name || !value)
      return th_err_set(err, TH_EINVAL, "respond: header %zu has no name or value", i);
    for (const char *p = name; *p; p++)
      if (!is_token_char((unsigned char)*p))
        return th_err_set(err, TH_EINVAL, "respond: bad header name \"%s\"", name);
    if (strpbrk(value, "\r\n"))
      return th_err_set(err, TH_EINVAL, "respond: header \"%s\" has CR/LF in its value", name);
  }
  return 0;
}

/* MHD computes Content-Length itself and refuses it from us; it also cannot send an empty
 * value (0.9.75 rejects it), so such headers are left out rather than failing the answer. */
static struct MHD_Response *build_answer(const th_http_header *headers, size_t nheaders,
                                         const char *body, size_t body_len, th_err *err) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(body_len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) {
    th_err_set(err, TH_ENOMEM, "respond: out of memory");
    return NULL;
  }
  for (size_t i = 0; i < nheaders; i++) {
    const char *name = headers[i].name, *value = headers[i].value;
    if (!*value || ascii_case_equal(name, "content-length")) continue;
    if (MHD_add_response_header(r, name, value) != MHD_YES) {
      MHD_destroy_response(r);
      th_err_set(err, TH_EINVAL, "respond: header \"%s: %s\" refused", name, value);
      return NULL;
    }
  }
  return r;
}

int th_http_req_respond(th_http_req *req, int status, const th_http_header *headers,
                        size_t nheaders, const char *body, size_t body_len, th_err *err) {
  if (!req) return th_err_set(err, TH_EINVAL, "respond: no request");
  int rc = check_answer(status, headers, nheaders, body, body_len, err);
  struct MHD_Response *r = NULL;
  if (rc == 0 && req->conn) {
    r = build_answer(headers, nheaders, body, body_len, err);
    if (!r) rc = -1;
  }
  if (!req->conn) {
    if (rc == 0) rc = th_err_set(err, TH_ECONNRESET, "respond: the connection is gone");
  } else if (r) {
    conn_answer(req, (unsigned)status, r);
  } else {
    /* the owner's answer is unusable; the client still deserves one */
    bool json = req->conn->listener->server->json_errors;
    conn_answer(req, 500, canned_response(canned_text(500, json)));
  }
  req_free(req);
  return rc;
}

void th_http_req_drop(th_http_req *req) {
  if (!req) return;
  if (req->conn) {
    bool json = req->conn->listener->server->json_errors;
    conn_answer(req, 503, canned_response(canned_text(503, json)));
  }
  req_free(req);
}

/* ---------- accessors ---------- */

const char *th_http_req_method(const th_http_req *req) { return req->method; }
const char *th_http_req_path(const th_http_req *req) { return req->path; }
const char *th_http_req_query_string(const th_http_req *req) { return req->query_string; }
const char *th_http_req_peer(const th_http_req *req) { return req->peer; }

const th_http_header *th_http_req_query(const th_http_req *req, size_t *n) {
  if (n) *n = req->nquery;
  return req->query;
}

const th_http_header *th_http_req_headers(const th_http_req *req, size_t *n) {
  if (n) *n = req->nheaders;
  return req->headers;
}

const char *th_http_req_header(const th_http_req *req, const char *lower_name) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcmp(req->headers[i].name, lower_name) == 0) return req->headers[i].value;
  return NULL;
}

const char *th_http_req_body(const th_http_req *req, size_t *len) {
  if (len) *len = req->body_len;
  return req->body ? req->body : "";
}

int th_http_server_port(const th_http_server *server) { return server ? server->port : -1; }

size_t th_http_server_pending(const th_http_server *server) {
  return server ? server->pending : 0;
}

/* ---------- closing ---------- */

static void on_handle_closed(uv_handle_t *h) {
  th_http_server *s = ((th_listener *)h->data)->server;
  if (--s->open_handles == 0) free(s);
}

/* Answers every handed-out request 503 and resumes its connection, so MHD_stop_daemon finds
 * nothing suspended. The reqs stay with the owner, detached. */
static void detach_all(th_http_server *s) {
  while (s->handed) {
    th_http_req *req = s->handed;
    conn_answer(req, 503, canned_response(canned_text(503, s->json_errors)));
  }
}

static void listener_stop(th_listener *l) {
  if (!l->daemon) return;
  l->server->in_mhd++;
  MHD_run(l->daemon); /* queues (and usually sends) the answers to the resumed connections */
  l->server->in_mhd--;
  if (l->handles_open) {
    /* before MHD_stop_daemon closes the epoll fd: libuv must not poll a closed fd */
    uv_close((uv_handle_t *)&l->poll, on_handle_closed);
    uv_close((uv_handle_t *)&l->timer, on_handle_closed);
    l->handles_open = false;
  }
  MHD_stop_daemon(l->daemon); /* closes the listen socket and every connection */
  l->daemon = NULL;
}

static void unlink_own_socket(th_http_server *s) {
  if (!s->unix_path) return;
  struct stat st;
  /* someone may have replaced the file since; only remove the one we bound */
  if (lstat(s->unix_path, &st) == 0 && st.st_dev == s->unix_dev && st.st_ino == s->unix_ino)
    unlink(s->unix_path);
  free(s->unix_path);
  s->unix_path = NULL;
}

static void server_finish_close(th_http_server *s) {
  s->close_deferred = false;
  detach_all(s);
  listener_stop(&s->tcp);
  listener_stop(&s->unx);
  unlink_own_socket(s);
  if (s->open_handles == 0) free(s);
}

void th_http_server_close(th_http_server *server) {
  if (!server || server->closing) return;
  server->closing = true;
  if (server->in_mhd) {
    /* called from on_request: stopping MHD under its own feet would free the connection it
     * is processing; listener_run finishes the close when MHD_run returns */
    server->close_deferred = true;
    return;
  }
  server_finish_close(server);
}

/* ---------- listening ---------- */

static int errno_code(int e) {
  switch (e) {
  case EADDRINUSE: return TH_EADDRINUSE;
  case ENOMEM:
  case ENOBUFS: return TH_ENOMEM;
  default: return TH_EIO;
  }
}

/* Parses host into sa. Numeric addresses only (and "localhost"): binding must not wait on
 * name resolution. */
static bool parse_host(const char *host, int port, struct sockaddr_storage *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  struct sockaddr_in *in = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof *in;
    return true;
  }
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(host);
  if (n >= 2 && n < sizeof buf && host[0] == '[' && host[n - 1] == ']') {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return true;
  }
  return false;
}

static void format_hostport(const char *host, int port, bool v6, char *out, size_t cap) {
  if (v6 && host[0] != '[') snprintf(out, cap, "[%s]:%d", host, port);
  else snprintf(out, cap, "%s:%d", host, port);
}

static int tcp_socket(th_http_server *s, const char *host, int port, bool *v6, th_err *err) {
  struct sockaddr_storage sa;
  socklen_t len;
  if (!parse_host(host, port, &sa, &len)) {
    th_err_set(err, TH_EINVAL, "listen on %s:%d: not a numeric IP address", host, port);
    return -1;
  }
  *v6 = sa.ss_family == AF_INET6;
  char where[INET6_ADDRSTRLEN + 16];
  format_hostport(host, port, *v6, where, sizeof where);
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    th_err_set(err, errno_code(errno), "listen on %s: %s", where, strerror(errno));
    return -1;
  }
  int one = 1;
  /* lets a restarted server bind while old connections sit in TIME_WAIT; on Linux it never
   * lets two live listeners share a port */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (*v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
    int e = errno;
    close(fd);
    th_err_set(err, errno_code(e), "listen on %s: %s", where, strerror(e));
    return -1;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  return fd;
}

/* A socket file nobody accepts on (connect: ECONNREFUSED) is a leftover of a dead server and
 * is removed; a live one (connect succeeds or would block) means the address is taken. */
static int unix_probe(const char *path, const struct sockaddr_un *sa, th_err *err) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return th_err_set(err, errno_code(errno), "listen on %s: %s", path, strerror(errno));
  int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
  int e = errno;
  close(fd);
  if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
    return th_err_set(err, TH_EADDRINUSE, "listen on %s: %s", path, strerror(EADDRINUSE));
  struct stat st;
  if (e == ECONNREFUSED && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  return 0;
}

static int unix_socket(th_http_server *s, const char *path, th_err *err) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (!*path || strlen(path) >= sizeof sa.sun_path) {
    th_err_set(err, TH_EINVAL, "listen on %s: socket path empty or too long", path);
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path));
  if (unix_probe(path, &sa, err)) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    th_err_set(err, errno_code(errno), "listen on %s: %s", path, strerror(errno));
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    th_err_set(err, errno_code(e), "listen on %s: %s", path, strerror(e));
    return -1;
  }
  /* connect() needs write permission on the file, and nobody can connect before listen():
   * so restricting it here, between the two, leaves no window (and needs no umask, which is
   * process-wide). */
  struct stat st;
  s->unix_path = strdup(path);
  if (!s->unix_path || chmod(path, 0600) != 0 || stat(path, &st) != 0 ||
      listen(fd, LISTEN_BACKLOG) != 0) {
    int e = s->unix_path ? errno : ENOMEM;
    close(fd);
    unlink(path);
    free(s->unix_path);
    s->unix_path = NULL;
    th_err_set(err, errno_code(e), "listen on %s: %s", path, strerror(e));
    return -1;
  }
  s->unix_dev = st.st_dev;
  s->unix_ino = st.st_ino;
  return fd;
}

/* MHD closes the listen socket on some start failures and not on others; the socket's inode
 * tells whether fd still is ours (the number may have been reused meanwhile). */
static void close_if_still_ours(int fd, const struct stat *before) {
  struct stat now;
  if (fstat(fd, &now) == 0 && now.st_dev == before->st_dev && now.st_ino == before->st_ino)
    close(fd);
}

static int listener_start(th_http_server *s, th_listener *l, int fd, bool is_unix, bool v6,
                          const th_http_server_opts *o, th_err *err) {
  l->server = s;
  l->is_unix = is_unix;
  unsigned idle = o->idle_timeout_s ? o->idle_timeout_s : DEFAULT_IDLE_TIMEOUT_S;
  unsigned maxc = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
  size_t pool = s->max_header_bytes * 2 + POOL_SLACK_BYTES;
  struct stat st;
  if (fstat(fd, &st) != 0) memset(&st, 0, sizeof st);
  /* no MHD_USE_ERROR_LOG: MHD would print every bad request to stderr */
  l->daemon = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
      on_access, l, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      pool, MHD_OPTION_CONNECTION_LIMIT, maxc, MHD_OPTION_CONNECTION_TIMEOUT, idle,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)l, MHD_OPTION_NOTIFY_CONNECTION, on_notify,
      (void *)l, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
      (void *)l, MHD_OPTION_END);
  if (!l->daemon) {
    close_if_still_ours(fd, &st);
    return th_err_set(err, TH_EIO, "listen on %s: cannot start the HTTP daemon",
                      is_unix ? o->unix_socket : "TCP");
  }
  return 0;
}

static int listener_watch(th_listener *l, th_err *err) {
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  if (!di) return th_err_set(err, TH_EIO, "http server: MHD has no epoll fd");
  int rc = uv_poll_init(l->server->loop, &l->poll, di->epoll_fd);
  if (rc) return th_err_set(err, TH_EIO, "http server: %s", uv_strerror(rc));
  uv_timer_init(l->server->loop, &l->timer);
  l->poll.data = l;
  l->timer.data = l;
  l->handles_open = true;
  l->server->open_handles += 2;
  rc = uv_poll_start(&l->poll, UV_READABLE, on_poll);
  if (rc) return th_err_set(err, TH_EIO, "http server: %s", uv_strerror(rc));
  listener_kick(l);
  return 0;
}

static int check_opts(const th_http_server_opts *o, th_err *err) {
  if (o->port < -1 || o->port > 65535)
    return th_err_set(err, TH_EINVAL, "http server: bad port %d", o->port);
  if (o->port < 0 && !o->unix_socket)
    return th_err_set(err, TH_EINVAL, "http server: no listener (no port, no unix_socket)");
  if (o->max_header_bytes > SIZE_MAX / 4)
    return th_err_set(err, TH_EINVAL, "http server: max_header_bytes too large");
  return 0;
}

static int start_listeners(th_http_server *s, const th_http_server_opts *o, th_err *err) {
  if (o->port >= 0) {
    bool v6 = false;
    const char *host = o->host ? o->host : "127.0.0.1";
    int fd = tcp_socket(s, host, o->port, &v6, err);
    if (fd < 0 || listener_start(s, &s->tcp, fd, false, v6, o, err)) return -1;
  }
  if (o->unix_socket) {
    int fd = unix_socket(s, o->unix_socket, err);
    if (fd < 0 || listener_start(s, &s->unx, fd, true, false, o, err)) return -1;
  }
  return 0;
}

th_http_server *th_http_server_start(uv_loop_t *loop, const th_http_server_opts *opts,
                                     th_http_request_cb on_request, void *ud, th_err *err) {
  if (!loop || !opts || !on_request) {
    th_err_set(err, TH_EINVAL, "http server: loop, opts and on_request are required");
    return NULL;
  }
  if (check_opts(opts, err)) return NULL;
  if (th_lazy_mhd_load(err) != 0) return NULL;
  th_http_server *s = calloc(1, sizeof *s);
  if (!s) {
    th_err_set(err, TH_ENOMEM, "http server: out of memory");
    return NULL;
  }
  s->loop = loop;
  s->on_request = on_request;
  s->ud = ud;
  s->port = -1;
  s->max_header_bytes = opts->max_header_bytes ? opts->max_header_bytes : DEFAULT_MAX_HEADER_BYTES;
  s->max_body_bytes = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
  s->json_errors = opts->json_errors != 0;
  s->tcp.server = s->unx.server = s;
  if (start_listeners(s, opts, err) ||
      (s->tcp.daemon && listener_watch(&s->tcp, err)) ||
      (s->unx.daemon && listener_watch(&s->unx, err))) {
    /* nothing was handed out yet; handles already open free s from their close callbacks */
    s->closing = true;
    server_finish_close(s);
    return NULL;
  }
  return s;
}
