/* core/simulator_request.c — decoding an RPC request into th_sim_req the way the agent's serde
 * does (shared/specs/dstack.md 1.4–1.5).
 *
 * JSON: one object; field names exact; unknown fields ignored; a known field twice is an error;
 * strict types (a bool is a JSON boolean, "true" is not); null only for optional fields; an empty
 * body is the all-default message. bytes fields are hex strings of either case with every leading
 * "0x" stripped; odd length or a non-hex digit is an error with the hex crate's words. The text
 * is checked by core/json_strict first (cJSON alone takes invalid UTF-8, raw controls and cuts
 * strings at \u0000) and then parsed by cJSON.
 * GET: the query string is the request (serde_qs): a=1&b=x, lists as alt_names[0]=x or
 * alt_names[]=x, '+' and %XX decoded (the result must be UTF-8); values are text and converted
 * per field type.
 * Both paths build a cJSON object and run one decoder over it, so the rules cannot drift. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "simulator_internal.h"

/* Integral and small enough to print as an integer (no casts of out-of-range doubles). */
static int is_int(double d) { return d > -9.0e18 && d < 9.0e18 && d == (double)(long long)d; }

/* serde's way of naming what it got: "integer `5`", "string \"x\"", "null", … */
static void describe(const cJSON *v, char *out, size_t n) {
  if (cJSON_IsNull(v))
    snprintf(out, n, "null");
  else if (cJSON_IsBool(v))
    snprintf(out, n, "boolean `%s`", cJSON_IsTrue(v) ? "true" : "false");
  else if (cJSON_IsString(v))
    snprintf(out, n, "string \"%.40s\"", v->valuestring);
  else if (cJSON_IsArray(v))
    snprintf(out, n, "sequence");
  else if (cJSON_IsObject(v))
    snprintf(out, n, "map");
  else if (is_int(v->valuedouble))
    snprintf(out, n, "integer `%.0f`", v->valuedouble);
  else
    snprintf(out, n, "floating point `%g`", v->valuedouble);
}

static int type_error(const cJSON *v, const char *field, const char *want, th_err *err) {
  char got[80];
  describe(v, got, sizeof got);
  return th_err_set(err, TH_EINVAL, "invalid type: %s, expected %s (field `%s`)", got, want, field);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int decode_hex(const char *s, th_sim_bytes *out, const char *field, th_err *err) {
  while (s[0] == '0' && s[1] == 'x')
    s += 2;
  size_t n = strlen(s);
  if (n % 2) return th_err_set(err, TH_EINVAL, "Odd number of digits (field `%s`)", field);
  for (size_t i = 0; i < n; i++)
    if (hexval((unsigned char)s[i]) < 0) {
      unsigned char c = (unsigned char)s[i];
      if (c >= 0x20 && c < 0x7f)
        return th_err_set(err, TH_EINVAL, "Invalid character '%c' at position %zu (field `%s`)", c,
                          i, field);
      return th_err_set(err, TH_EINVAL, "Invalid character at position %zu (field `%s`)", i, field);
    }
  out->n = n / 2;
  if (!out->n) return 0;
  if (!(out->p = malloc(out->n))) return th_sim_oom(err);
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < out->n; i++)
    out->p[i] = (uint8_t)(hexval(u[2 * i]) << 4 | hexval(u[2 * i + 1]));
  return 0;
}

static int parse_u64_text(const char *s, uint64_t *v) {
  if (!*s) return -1;
  uint64_t r = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || r > (UINT64_MAX - 9) / 10) return -1;
    r = r * 10 + (uint64_t)(*s - '0');
  }
  *v = r;
  return 0;
}

static int set_u64(const cJSON *v, int qs, th_sim_opt_u64 *o, const char *f, th_err *err) {
  if (cJSON_IsNull(v)) return o->set = 0, 0;
  if (qs && cJSON_IsString(v)) {
    if (parse_u64_text(v->valuestring, &o->v) != 0) return type_error(v, f, "u64", err);
    return o->set = 1, 0;
  }
  if (!cJSON_IsNumber(v)) return type_error(v, f, "u64", err);
  double d = v->valuedouble;
  if (d < 0 || d >= 18446744073709551616.0)
    return th_err_set(err, TH_EINVAL, "invalid value: %g, expected u64 (field `%s`)", d, f);
  if (d != (double)(uint64_t)d) return type_error(v, f, "u64", err);
  o->v = (uint64_t)d;
  return o->set = 1, 0;
}

static int set_bool(const cJSON *v, int qs, int *o, const char *f, th_err *err) {
  if (qs && cJSON_IsString(v) && !strcmp(v->valuestring, "true")) return *o = 1, 0;
  if (qs && cJSON_IsString(v) && !strcmp(v->valuestring, "false")) return *o = 0, 0;
  if (!cJSON_IsBool(v)) return type_error(v, f, "a boolean", err);
  *o = cJSON_IsTrue(v);
  return 0;
}

static int set_strs(const cJSON *v, th_sim_strs *o, const char *f, th_err *err) {
  if (!cJSON_IsArray(v)) return type_error(v, f, "a sequence", err);
  size_t n = (size_t)cJSON_GetArraySize(v);
  if (n && !(o->v = calloc(n, sizeof *o->v))) return th_sim_oom(err);
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (!cJSON_IsString(e)) return type_error(e, f, "a string", err);
    o->v[o->n++] = e->valuestring;
  }
  return 0;
}

static int set_field(const th_sim_field *fd, const cJSON *v, int qs, th_sim_req *req, th_err *err) {
  char *slot = (char *)req + fd->off;
  switch (fd->type) {
  case TH_F_STR:
    if (!cJSON_IsString(v)) return type_error(v, fd->name, "a string", err);
    *(const char **)(void *)slot = v->valuestring;
    return 0;
  case TH_F_BOOL:
    return set_bool(v, qs, (int *)(void *)slot, fd->name, err);
  case TH_F_OPT_U64:
    return set_u64(v, qs, (th_sim_opt_u64 *)(void *)slot, fd->name, err);
  case TH_F_BYTES:
    if (!cJSON_IsString(v)) return type_error(v, fd->name, "a hex string", err);
    return decode_hex(v->valuestring, (th_sim_bytes *)(void *)slot, fd->name, err);
  case TH_F_STRS:
    return set_strs(v, (th_sim_strs *)(void *)slot, fd->name, err);
  }
  return th_err_set(err, TH_EINVAL, "simulator: bad field type");
}

static void defaults(th_sim_req *req) {
  memset(req, 0, sizeof *req);
  req->path = req->purpose = req->algorithm = req->subject = "";
  req->hash_algorithm = req->prefix = req->event = "";
}

static int decode_tree(const th_sim_field *fields, cJSON *tree, int qs, th_sim_req *req,
                       th_err *err) {
  req->tree = tree;
  if (!cJSON_IsObject(tree)) return type_error(tree, "(request)", "a JSON object", err);
  unsigned seen = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, tree) {
    for (unsigned i = 0; fields[i].name; i++) {
      if (strcmp(v->string, fields[i].name) != 0) continue;
      if (seen & (1u << i))
        return th_err_set(err, TH_EINVAL, "duplicate field `%s`", fields[i].name);
      seen |= 1u << i;
      if (set_field(&fields[i], v, qs, req, err) != 0) return -1;
    }
  }
  return 0;
}

int th_sim_req_json(const th_sim_field *fields, const char *body, size_t len, th_sim_req *req,
                    th_err *err) {
  defaults(req);
  if (len == 0) return 0;
  if (th_json_strict_check(body, len, "request", 64, err) != 0) return -1;
  cJSON *tree = cJSON_ParseWithLength(body, len);
  if (!tree) return th_sim_oom(err); /* the text passed the strict check: only memory fails */
  return decode_tree(fields, tree, 0, req, err);
}

static char *pct_decode(const char *s, size_t n) {
  char *o = malloc(n + 1);
  if (!o) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+')
      o[k++] = ' ';
    else if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
             hexval((unsigned char)s[i + 2]) >= 0) {
      o[k++] = (char)(hexval((unsigned char)s[i + 1]) << 4 | hexval((unsigned char)s[i + 2]));
      i += 2;
    } else
      o[k++] = s[i];
  }
  o[k] = '\0';
  return o;
}

/* Adds one decoded key=value pair to the object: "name" as a string, "name[…]" to the list. */
static int qs_add(cJSON *obj, char *key, char *val) {
  char *br = strchr(key, '[');
  if (!br) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) return 1; /* duplicate */
    return cJSON_AddStringToObject(obj, key, val) ? 0 : -1;
  }
  *br = '\0';
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!arr && !(arr = cJSON_AddArrayToObject(obj, key))) return -1;
  if (!cJSON_IsArray(arr)) return 1;
  cJSON *s = cJSON_CreateString(val);
  return s && cJSON_AddItemToArray(arr, s) ? 0 : -1;
}

int th_sim_req_query(const th_sim_field *fields, const char *query, th_sim_req *req, th_err *err) {
  defaults(req);
  cJSON *obj = cJSON_CreateObject();
  if (!obj) return th_sim_oom(err);
  req->tree = obj;
  for (const char *p = query; *p;) {
    const char *end = strchr(p, '&');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    char *k = pct_decode(p, kn), *v = eq ? pct_decode(eq + 1, n - kn - 1) : pct_decode("", 0);
    int rc = k && v ? 0 : -1;
    if (rc == 0 && (th_utf8_valid_prefix((const uint8_t *)k, strlen(k)) != strlen(k) ||
                    th_utf8_valid_prefix((const uint8_t *)v, strlen(v)) != strlen(v)))
      rc = 2; /* serde_qs takes UTF-8 text only */
    if (rc == 0 && n) rc = qs_add(obj, k, v);
    if (rc == 1) th_err_set(err, TH_EINVAL, "duplicate field `%s`", k);
    if (rc == 2) th_err_set(err, TH_EINVAL, "invalid UTF-8 in the query string");
    free(k);
    free(v);
    if (rc < 0) return th_sim_oom(err);
    if (rc > 0) return -1;
    p += n + (end ? 1 : 0);
  }
  return decode_tree(fields, obj, 1, req, err);
}

void th_sim_req_free(th_sim_req *req) {
  th_sim_bytes *b[] = {&req->report_data, &req->data, &req->signature, &req->public_key,
                       &req->payload};
  for (size_t i = 0; i < sizeof b / sizeof *b; i++)
    free(b[i]->p);
  free((void *)req->alt_names.v);
  cJSON_Delete(req->tree);
  memset(req, 0, sizeof *req);
}
