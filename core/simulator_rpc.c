/* core/simulator_rpc.c — one RPC as the agent dispatches it (shared/specs/dstack.md 1.4–1.6):
 * the route, the request message of each method, and the error envelope.
 *
 * Routes: POST|GET /<Method> is the current service (DstackGuest); POST|GET /prpc/<Method> and
 * /prpc/Tappd.<Method> the legacy one (Tappd). Both are answered on every listener. A method is
 * one path segment: deeper or empty paths and other HTTP methods are 404; an unknown method is
 * 400 "Service not found: <method>". Request: GET → the query string; otherwise the body as JSON
 * whatever its Content-Type (no client speaks protobuf; a body that does not parse is a 400).
 * Methods taking Empty ignore the body. Errors: 400 with the pretty-printed {"error": …}. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "simulator_internal.h"

#define F(n, t)                                                                                    \
  { #n, t, offsetof(th_sim_req, n) }
#define END                                                                                        \
  { NULL, TH_F_STR, 0 }

static const th_sim_field KEY_F[] = {F(path, TH_F_STR), F(purpose, TH_F_STR),
                                     F(algorithm, TH_F_STR), END};
static const th_sim_field QUOTE_F[] = {F(report_data, TH_F_BYTES), END};
static const th_sim_field TDX_F[] = {F(report_data, TH_F_BYTES), F(hash_algorithm, TH_F_STR),
                                     F(prefix, TH_F_STR), END};
static const th_sim_field TLS_F[] = {F(subject, TH_F_STR),
                                     F(alt_names, TH_F_STRS),
                                     F(usage_ra_tls, TH_F_BOOL),
                                     F(usage_server_auth, TH_F_BOOL),
                                     F(usage_client_auth, TH_F_BOOL),
                                     F(not_before, TH_F_OPT_U64),
                                     F(not_after, TH_F_OPT_U64),
                                     F(with_app_info, TH_F_BOOL),
                                     END};
static const th_sim_field DERIVE_F[] = {F(path, TH_F_STR),
                                        F(subject, TH_F_STR),
                                        F(alt_names, TH_F_STRS),
                                        F(usage_ra_tls, TH_F_BOOL),
                                        F(usage_server_auth, TH_F_BOOL),
                                        F(usage_client_auth, TH_F_BOOL),
                                        F(random_seed, TH_F_BOOL),
                                        END};
static const th_sim_field SIGN_F[] = {F(algorithm, TH_F_STR), F(data, TH_F_BYTES), END};
static const th_sim_field VERIFY_F[] = {F(algorithm, TH_F_STR), F(data, TH_F_BYTES),
                                        F(signature, TH_F_BYTES), F(public_key, TH_F_BYTES), END};
static const th_sim_field EMIT_F[] = {F(event, TH_F_STR), F(payload, TH_F_BYTES), END};

static const th_sim_method CURRENT[] = {{"GetKey", KEY_F, th_sim_get_key},
                                        {"GetQuote", QUOTE_F, th_sim_get_quote},
                                        {"Attest", QUOTE_F, th_sim_attest},
                                        {"GetTlsKey", TLS_F, th_sim_get_tls_key},
                                        {"Info", NULL, th_sim_info},
                                        {"Version", NULL, th_sim_version},
                                        {"Sign", SIGN_F, th_sim_sign},
                                        {"Verify", VERIFY_F, th_sim_verify},
                                        {"EmitEvent", EMIT_F, th_sim_emit_event},
                                        {"GpuInfo", NULL, th_sim_gpu_info},
                                        {NULL, NULL, NULL}};

static const th_sim_method LEGACY[] = {{"DeriveKey", DERIVE_F, th_sim_derive_key},
                                       {"DeriveK256Key", KEY_F, th_sim_derive_k256_key},
                                       {"TdxQuote", TDX_F, th_sim_tdx_quote},
                                       {"RawQuote", QUOTE_F, th_sim_raw_quote},
                                       {"Info", NULL, th_sim_info},
                                       {"Version", NULL, th_sim_version},
                                       {NULL, NULL, NULL}};

static int answer(int status, const char *text, int *st, char **resp, size_t *len) {
  size_t n = strlen(text);
  char *p = malloc(n + 1);
  if (!p) return -1;
  memcpy(p, text, n + 1);
  *st = status, *resp = p, *len = n;
  return 0;
}

static int answer_error(const char *msg, int *st, char **resp, size_t *len) {
  th_sbuf b = {0};
  th_sbuf_cstr(&b, "{\n  \"error\": ");
  th_sbuf_jcstr(&b, msg);
  th_sbuf_cstr(&b, "\n}");
  if (!(*resp = th_sbuf_take(&b, len))) return -1;
  *st = 400;
  return 0;
}

/* Splits the path into (service table, method name); NULL for a 404. */
static const th_sim_method *route(const char *path, const char **name) {
  const th_sim_method *table = CURRENT;
  if (!path || path[0] != '/') return NULL;
  path++;
  if (!strncmp(path, "prpc/", 5)) {
    path += 5;
    if (!strncmp(path, "Tappd.", 6)) path += 6;
    table = LEGACY;
  }
  if (!*path || strchr(path, '/')) return NULL;
  *name = path;
  return table;
}

static int run(th_simulator *sim, const th_sim_method *m, const char *http_method,
               const char *query, const char *body, size_t body_len, th_sbuf *out, th_err *err) {
  th_sim_req req;
  int rc;
  if (!m->fields) {
    memset(&req, 0, sizeof req);
    rc = 0;
  } else if (!strcmp(http_method, "GET")) {
    rc = th_sim_req_query(m->fields, query ? query : "", &req, err);
  } else {
    rc = th_sim_req_json(m->fields, body, body ? body_len : 0, &req, err);
  }
  if (rc == 0) rc = m->fn(sim, &req, out, err);
  th_sim_req_free(&req);
  return rc;
}

int th_simulator_call(th_simulator *sim, const char *method, const char *path, const char *query,
                      const char *content_type, const char *body, size_t body_len, int *status,
                      char **resp, size_t *resp_len) {
  (void)content_type; /* JSON either way (see top) */
  const char *name = NULL;
  const th_sim_method *table = route(path, &name);
  if (!table || !method || (strcmp(method, "POST") && strcmp(method, "GET")))
    return answer(404, "{\"error\":\"not found\"}", status, resp, resp_len);
  const th_sim_method *m = table;
  while (m->name && strcmp(m->name, name))
    m++;
  if (!m->name) {
    char msg[200];
    snprintf(msg, sizeof msg, "Service not found: %.150s", name);
    return answer_error(msg, status, resp, resp_len);
  }
  th_sbuf out = {0};
  th_err err = {0};
  if (run(sim, m, method, query, body, body_len, &out, &err) != 0) {
    th_sbuf_free(&out);
    /* only our own allocation failures are fatal; a library's TH_ENOMEM for input it cannot
     * encode (e.g. an OpenSSL refusal while issuing a certificate) is answered as a 400 */
    if (err.code == TH_ENOMEM && !strcmp(err.message, TH_SIM_OOM_MESSAGE)) return -1;
    return answer_error(err.message, status, resp, resp_len);
  }
  if (!(*resp = th_sbuf_take(&out, resp_len))) return -1;
  *status = 200;
  return 0;
}
