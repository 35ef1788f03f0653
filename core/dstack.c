/* core/dstack.c — the dstack guest-agent client (shared/specs/dstack.md 1, 2, 3, 12; contract in
 * core/dstack.h): request paths and bodies, the legacy /prpc/ mapping, the /Version feature
 * probe and the life of a call. Reply parsing and the typed decoders are in dstack_reply.c.
 *
 * What this file owns:
 *  - th_dstack: the borrowed transports (HTTP client or simulator), the endpoint, the cached
 *    probe result, the one probe in flight and the list of live calls;
 *  - th_dstack_call: the path and serialized body of one request and its transport handle.
 *
 * Re-entrancy: a call is unlinked before its callback runs and nothing touches the client after
 * a callback returns, except in dispatch_waiting(), which holds `busy` so a th_dstack_free from
 * a callback only marks the client closing and the free happens when the dispatch unwinds. */
#include "dstack.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 30000L

enum { PROBE_UNKNOWN, PROBE_RUNNING, PROBE_OK, PROBE_FAILED };
enum { ST_WAIT_PROBE, ST_RUNNING };
enum { FIX_NONE, FIX_LEGACY_KEY, FIX_LEGACY_QUOTE };

struct th_dstack_call {
  th_dstack *client;
  th_dstack_call *prev, *next; /* the client's live calls (not the probe) */
  int is_probe, state, fix;
  char method[49];
  char path[64];
  char report_data[129];  /* FIX_LEGACY_QUOTE: the padded hex sent */
  char probe_what[200];   /* the "OS version too old" message, "" when no probe is needed */
  char *body;
  size_t body_len;
  th_http_call *http;
  th_dstack_sim_call *sim;
  th_dstack_cb cb;
  void *ud;
};

struct th_dstack {
  th_http_client *http;
  th_simulator *sim;
  uv_loop_t *loop;
  th_tee_endpoint ep;
  char base_url[520]; /* scheme://authority of a URL endpoint; http://localhost for sockets */
  long timeout_ms;
  th_dstack_call *calls;
  th_dstack_call *probe;
  int probe_state;
  int busy, closing;
};

static void call_free(th_dstack_call *k) {
  if (!k) return;
  free(k->body);
  free(k);
}

static void unlink_call(th_dstack_call *k) {
  th_dstack *c = k->client;
  if (k->prev) k->prev->next = k->next;
  else if (c->calls == k) c->calls = k->next;
  if (k->next) k->next->prev = k->prev;
  k->prev = k->next = NULL;
}

/* ---- transports ---------------------------------------------------------------------------- */

static void transport_done(th_dstack_call *k, long status, const char *body, size_t len,
                           const th_err *terr);

static void on_http_done(void *ud, th_http_response *res, const th_err *err) {
  th_dstack_call *k = ud;
  k->http = NULL;
  if (res) transport_done(k, res->status, res->body, res->body_len, NULL);
  else transport_done(k, 0, NULL, 0, err);
  if (res && res->body) sodium_memzero(res->body, res->body_len); /* GetKey replies hold keys */
  th_http_response_free(res);
}

static void on_sim_done(void *ud, long status, const char *body, size_t len, const th_err *err) {
  th_dstack_call *k = ud;
  k->sim = NULL;
  transport_done(k, status, body, len, err);
}

static int start_transport(th_dstack_call *k, th_err *err) {
  th_dstack *c = k->client;
  th_err e = {0};
  if (c->ep.kind == TH_TEE_BUILTIN) {
    k->sim = th_dstack_sim_start(c->sim, c->loop, k->path, k->body, k->body_len, on_sim_done, k,
                                 &e);
    if (k->sim) return 0;
  } else {
    char url[600], ct_name[] = "Content-Type", ct_value[] = "application/json";
    th_http_header h = {ct_name, ct_value};
    snprintf(url, sizeof url, "%s%s", c->base_url, k->path);
    th_http_request_opts o = {.method = "POST", .url = url, .headers = &h, .nheaders = 1,
                              .body = k->body, .body_len = k->body_len,
                              .timeout_ms = c->timeout_ms};
    if (!c->ep.is_url) o.unix_socket = c->ep.target;
    k->http = th_http_request(c->http, &o, on_http_done, k, &e);
    if (k->http) return 0;
  }
  return th_err_set(err, e.code, "%s: %s", k->method, e.message);
}

static void stop_transport(th_dstack_call *k) {
  if (k->http) th_http_call_cancel(k->http);
  if (k->sim) th_dstack_sim_cancel(k->sim);
  k->http = NULL;
  k->sim = NULL;
}

/* ---- completion ---------------------------------------------------------------------------- */

/* Renames a legacy DeriveK256Key reply to GetKey's field names. */
static void fix_legacy_key(cJSON *r) {
  static const char *const from[] = {"k256_key", "k256_signature_chain"};
  static const char *const to[] = {"key", "signature_chain"};
  for (int i = 0; i < 2; i++) {
    cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(r, from[i]);
    if (item && !cJSON_AddItemToObject(r, to[i], item)) cJSON_Delete(item);
  }
}

static int fix_legacy_quote(cJSON *r, const char *report_data) {
  if (!cJSON_HasObjectItem(r, "report_data") &&
      !cJSON_AddStringToObject(r, "report_data", report_data))
    return -1;
  if (!cJSON_HasObjectItem(r, "vm_config") && !cJSON_AddStringToObject(r, "vm_config", ""))
    return -1;
  return 0;
}

static void fail_call(th_dstack_call *k, const th_err *err) {
  unlink_call(k);
  th_dstack_cb cb = k->cb;
  void *ud = k->ud;
  call_free(k);
  cb(ud, NULL, err);
}

static void finish_call(th_dstack_call *k, long status, const char *body, size_t len,
                        const th_err *terr) {
  th_err e = {0};
  cJSON *r = NULL;
  if (terr) th_err_set(&e, terr->code, "%s: %s", k->method, terr->message);
  else if (th_dstack_parse_reply(k->method, status, body, len, &r, &e) == 0 && cJSON_IsObject(r)) {
    if (k->fix == FIX_LEGACY_KEY) fix_legacy_key(r);
    if (k->fix == FIX_LEGACY_QUOTE && fix_legacy_quote(r, k->report_data) != 0) {
      cJSON_Delete(r);
      r = NULL;
      th_err_set(&e, TH_ENOMEM, "%s: out of memory", k->method);
    }
  }
  unlink_call(k);
  th_dstack_cb cb = k->cb;
  void *ud = k->ud;
  call_free(k);
  cb(ud, r, r ? NULL : &e);
}

static void client_release(th_dstack *c) {
  if (c->closing && c->busy == 0) free(c);
}

/* Starts or fails every call that waited for the probe. */
static void dispatch_waiting(th_dstack *c, const th_err *terr) {
  c->busy++;
  while (!c->closing) {
    th_dstack_call *k = NULL; /* the oldest waiting call: new calls are pushed at the head */
    for (th_dstack_call *i = c->calls; i; i = i->next)
      if (i->state == ST_WAIT_PROBE) k = i;
    if (!k) break;
    th_err e = {0};
    k->state = ST_RUNNING;
    if (terr) th_err_set(&e, terr->code, "%s: %s", k->method, terr->message);
    else if (c->probe_state == PROBE_FAILED) th_err_set(&e, TH_EPROTO, "%s", k->probe_what);
    if (e.message[0] || start_transport(k, &e) != 0) fail_call(k, &e);
  }
  c->busy--;
  client_release(c);
}

static int probe_answer_ok(long status, const char *body, size_t len) {
  cJSON *r = NULL;
  if (status != 200 || th_dstack_parse_reply("Version", status, body, len, &r, NULL) != 0)
    return 0;
  int ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "version"));
  cJSON_Delete(r);
  return ok;
}

static void transport_done(th_dstack_call *k, long status, const char *body, size_t len,
                           const th_err *terr) {
  if (!k->is_probe) {
    finish_call(k, status, body, len, terr);
    return;
  }
  th_dstack *c = k->client;
  c->probe = NULL;
  call_free(k);
  if (terr) c->probe_state = PROBE_UNKNOWN;
  else c->probe_state = probe_answer_ok(status, body, len) ? PROBE_OK : PROBE_FAILED;
  dispatch_waiting(c, terr);
}

/* ---- requests ------------------------------------------------------------------------------ */

static int method_ok(const char *m) {
  size_t n = strlen(m);
  if (n == 0 || n > 48) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.", m[i]))
      return 0;
  return 1;
}

static int is_explicit_legacy(const char *m) {
  static const char *const legacy[] = {"TdxQuote", "DeriveKey", "RawQuote", "DeriveK256Key"};
  if (strncmp(m, "Tappd.", 6) == 0) return 1;
  for (size_t i = 0; i < sizeof legacy / sizeof *legacy; i++)
    if (strcmp(m, legacy[i]) == 0) return 1;
  return 0;
}

/* The path for method on this endpoint; fix says how the reply is adapted. */
static int route(const th_dstack *c, const char *m, char *path, size_t size, int *fix,
                 th_err *err) {
  static const char *const mapped[][2] = {{"GetKey", "DeriveK256Key"},
                                          {"GetQuote", "RawQuote"},
                                          {"Info", "Info"},
                                          {"Version", "Version"}};
  *fix = FIX_NONE;
  if (is_explicit_legacy(m)) {
    snprintf(path, size, "/prpc/Tappd.%s", strncmp(m, "Tappd.", 6) == 0 ? m + 6 : m);
    return 0;
  }
  if (c->ep.kind != TH_TEE_LEGACY) {
    snprintf(path, size, "/%s", m);
    return 0;
  }
  for (size_t i = 0; i < sizeof mapped / sizeof *mapped; i++) {
    if (strcmp(m, mapped[i][0]) != 0) continue;
    snprintf(path, size, "/prpc/Tappd.%s", mapped[i][1]);
    *fix = i == 0 ? FIX_LEGACY_KEY : i == 1 ? FIX_LEGACY_QUOTE : FIX_NONE;
    return 0;
  }
  return th_err_set(err, TH_EINVAL,
                    "%s needs dstack 0.4.2 or later (this is a legacy tappd endpoint)", m);
}

/* The "OS version too old" message when the call needs the /Version probe, else "". */
static void probe_need(const char *m, const cJSON *body, char *what, size_t size) {
  what[0] = '\0';
  if (strcmp(m, "GetKey") == 0) {
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(body, "algorithm");
    const char *a = cJSON_IsString(alg) ? alg->valuestring : "";
    if (*a && strcmp(a, "secp256k1") != 0 && strcmp(a, "k256") != 0)
      snprintf(what, size,
               "algorithm \"%.64s\" is not supported: OS version too old (Version RPC "
               "unavailable)",
               a);
  } else if (strcmp(m, "GetTlsKey") == 0) {
    static const char *const opts[] = {"not_before", "not_after", "with_app_info"};
    char used[64] = "";
    for (int i = 0; i < 3; i++) {
      const cJSON *o = cJSON_GetObjectItemCaseSensitive(body, opts[i]);
      if (!o || cJSON_IsNull(o)) continue;
      size_t n = strlen(used);
      snprintf(used + n, sizeof used - n, "%s%s", n ? ", " : "", opts[i]);
    }
    if (used[0])
      snprintf(what, size,
               "TLS key options [%s] are not supported: OS version too old (Version RPC "
               "unavailable)",
               used);
  }
}

/* Right-pads a report_data hex string with zeros to 64 bytes for RawQuote (which does not pad);
 * longer, odd or non-string values are sent unchanged for the agent to refuse. */
static int pad_report_data(th_dstack_call *k, const cJSON *body, cJSON **sent) {
  const cJSON *rd = cJSON_GetObjectItemCaseSensitive(body, "report_data");
  const char *hex = cJSON_IsString(rd) ? rd->valuestring : rd ? NULL : "";
  *sent = cJSON_CreateObject();
  if (!*sent) return -1;
  if (!hex) return cJSON_AddItemToObject(*sent, "report_data", cJSON_Duplicate(rd, 1)) ? 0 : -1;
  while ((hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))) hex += 2;
  size_t n = strlen(hex);
  if (n <= 128 && n % 2 == 0) {
    memcpy(k->report_data, hex, n);
    memset(k->report_data + n, '0', 128 - n);
    k->report_data[128] = '\0';
    hex = k->report_data;
  }
  return cJSON_AddStringToObject(*sent, "report_data", hex) ? 0 : -1;
}

static int serialize(th_dstack_call *k, const cJSON *body) {
  cJSON *padded = NULL;
  if (k->fix == FIX_LEGACY_QUOTE) {
    if (pad_report_data(k, body, &padded) != 0) {
      cJSON_Delete(padded);
      return -1;
    }
    body = padded;
  }
  k->body = body ? cJSON_PrintUnformatted(body) : NULL;
  if (!body && (k->body = malloc(3))) memcpy(k->body, "{}", 3);
  cJSON_Delete(padded);
  if (!k->body) return -1;
  k->body_len = strlen(k->body);
  return 0;
}

static th_dstack_call *call_new(th_dstack *c, const char *method, const cJSON *body, int fix,
                                const char *path, th_err *err) {
  th_dstack_call *k = calloc(1, sizeof *k);
  if (!k) {
    th_err_set(err, TH_ENOMEM, "%s: out of memory", method);
    return NULL;
  }
  k->client = c;
  k->fix = fix;
  snprintf(k->method, sizeof k->method, "%s", method);
  snprintf(k->path, sizeof k->path, "%s", path);
  if (serialize(k, body) != 0) {
    call_free(k);
    th_err_set(err, TH_ENOMEM, "%s: out of memory", method);
    return NULL;
  }
  return k;
}

static int start_probe(th_dstack *c, th_err *err) {
  char path[64];
  int fix;
  if (route(c, "Version", path, sizeof path, &fix, err) != 0) return -1;
  th_dstack_call *p = call_new(c, "Version", NULL, FIX_NONE, path, err);
  if (!p) return -1;
  p->is_probe = 1;
  if (start_transport(p, err) != 0) {
    call_free(p);
    return -1;
  }
  c->probe = p;
  c->probe_state = PROBE_RUNNING;
  return 0;
}

/* Starts k now, or parks it behind the /Version probe. */
static int launch(th_dstack *c, th_dstack_call *k, th_err *err) {
  if (!k->probe_what[0] || c->probe_state == PROBE_OK) {
    k->state = ST_RUNNING;
    return start_transport(k, err);
  }
  if (c->probe_state == PROBE_FAILED) return th_err_set(err, TH_EPROTO, "%s", k->probe_what);
  if (c->probe_state == PROBE_UNKNOWN && start_probe(c, err) != 0) return -1;
  k->state = ST_WAIT_PROBE;
  return 0;
}

th_dstack_call *th_dstack_request(th_dstack *client, const char *method, const cJSON *body,
                                  th_dstack_cb cb, void *ud, th_err *err) {
  if (!client || !method || !cb || client->closing) {
    th_err_set(err, TH_EINVAL, "dstack request: missing client, method or callback");
    return NULL;
  }
  if (client->ep.kind == TH_TEE_NONE) {
    th_err_set(err, TH_EINVAL, "no TEE: TEE_MODE is %s", client->ep.mode[0] ? client->ep.mode : "NONE");
    return NULL;
  }
  if (!method_ok(method)) {
    th_err_set(err, TH_EINVAL, "dstack: bad method name '%.48s' (1 to 48 of A-Z a-z 0-9 _ .)",
               method);
    return NULL;
  }
  if (body && !cJSON_IsObject(body)) {
    th_err_set(err, TH_EINVAL, "%s: the request body must be a JSON object", method);
    return NULL;
  }
  char path[64];
  int fix;
  if (route(client, method, path, sizeof path, &fix, err) != 0) return NULL;
  th_dstack_call *k = call_new(client, method, body, fix, path, err);
  if (!k) return NULL;
  k->cb = cb;
  k->ud = ud;
  probe_need(method, body, k->probe_what, sizeof k->probe_what);
  if (launch(client, k, err) != 0) {
    call_free(k);
    return NULL;
  }
  k->next = client->calls;
  if (client->calls) client->calls->prev = k;
  client->calls = k;
  return k;
}

void th_dstack_cancel(th_dstack_call *call) {
  if (!call) return;
  stop_transport(call);
  unlink_call(call);
  call_free(call);
}

void th_dstack_set_timeout(th_dstack *client, long timeout_ms) {
  if (client) client->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
}

/* ---- the client ---------------------------------------------------------------------------- */

/* scheme://authority of url (its path, query and fragment dropped), into out. */
static int url_base(const char *url, char *out, size_t size, th_err *err) {
  const char *p = strstr(url, "://");
  if (!p) return th_err_set(err, TH_EINVAL, "dstack: '%s' is not a URL", url);
  size_t n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
  if (n >= size) return th_err_set(err, TH_EINVAL, "dstack: URL too long");
  memcpy(out, url, n);
  out[n] = '\0';
  return 0;
}

th_dstack *th_dstack_new(th_http_client *http, const th_tee_endpoint *ep, th_simulator *sim,
                         uv_loop_t *loop, th_err *err) {
  if (!ep || !loop) {
    th_err_set(err, TH_EINVAL, "dstack: missing endpoint or loop");
    return NULL;
  }
  int remote = ep->kind == TH_TEE_AGENT || ep->kind == TH_TEE_LEGACY;
  if (!remote && ep->kind != TH_TEE_BUILTIN && ep->kind != TH_TEE_NONE) {
    th_err_set(err, TH_EINVAL, "dstack: unknown endpoint kind %d", ep->kind);
    return NULL;
  }
  if ((remote && (!http || !ep->target[0])) || (ep->kind == TH_TEE_BUILTIN && !sim)) {
    th_err_set(err, TH_EINVAL, "dstack: %s", remote ? "an HTTP client and a target are needed"
                                                    : "the built-in simulator is needed");
    return NULL;
  }
  th_dstack *c = calloc(1, sizeof *c);
  if (!c) {
    th_err_set(err, TH_ENOMEM, "dstack: out of memory");
    return NULL;
  }
  *c = (th_dstack){.http = http, .sim = sim, .loop = loop, .ep = *ep,
                   .timeout_ms = DEFAULT_TIMEOUT_MS};
  c->ep.target[sizeof c->ep.target - 1] = '\0';
  c->ep.mode[sizeof c->ep.mode - 1] = '\0';
  if (remote && ep->is_url && url_base(c->ep.target, c->base_url, sizeof c->base_url, err) != 0) {
    free(c);
    return NULL;
  }
  if (remote && !ep->is_url) snprintf(c->base_url, sizeof c->base_url, "http://localhost");
  return c;
}

void th_dstack_free(th_dstack *client) {
  if (!client || client->closing) return;
  client->closing = 1;
  if (client->probe) {
    stop_transport(client->probe);
    call_free(client->probe);
    client->probe = NULL;
  }
  while (client->calls) th_dstack_cancel(client->calls);
  client_release(client);
}
