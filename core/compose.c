/* core/compose.c — app-compose serialization as JavaScript writes it, compose hash, app id and
 * the app-compose builder (see compose.h for the rules and why they are hand-written).
 *
 * The strict JSON check that runs before cJSON parses (cJSON accepts more than JSON.parse and
 * truncates strings at \u0000) lives in json_strict.c with the UTF-8 / UTF-16 helpers, the
 * JavaScript number formatting in js_number.c. Here: the parse entry point, the serializer over a
 * cJSON tree, the hashes, the app id and the builder. Recursion depth is bounded by
 * TH_COMPOSE_MAX_DEPTH in both the checker and the serializer. */
#include "compose.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "js_number.h"
#include "json_strict.h"

/* ---- strict JSON check ------------------------------------------------------------------- */

/* The whole text is one JSON value (json_strict.h) and that value is an object. */
static int check_text(const char *json, size_t len, th_err *err) {
  if (th_json_strict_check(json, len, "compose", TH_COMPOSE_MAX_DEPTH, err)) return -1;
  const uint8_t *s = (const uint8_t *)json;
  size_t i = 0;
  while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') i++; /* a value follows */
  const char *kind = s[i] == '{'                  ? NULL
                     : s[i] == '['                ? "an array"
                     : s[i] == '"'                ? "a string"
                     : s[i] == 'n'                ? "null"
                     : s[i] == 't' || s[i] == 'f' ? "a boolean"
                                                  : "a number";
  if (kind)
    return th_err_set(err, TH_EBADDATA, "compose: app-compose must be a JSON object, not %s", kind);
  return 0;
}

size_t th_compose_format_number(double x, char out[TH_COMPOSE_NUMBER_MAX]) {
  return th_js_number_format(x, out);
}

cJSON *th_compose_parse(const char *json, size_t len, th_err *err) {
  if (!json && len) {
    th_err_set(err, TH_EINVAL, "compose: no text");
    return NULL;
  }
  if (check_text(json ? json : "", len, err)) return NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, NULL, 0);
  if (!root) th_err_set(err, TH_ENOMEM, "compose: out of memory parsing the JSON text");
  return root;
}

/* ---- serializer -------------------------------------------------------------------------- */

typedef struct writer {
  char *p;
  size_t len, cap;
  int oom; /* an allocation failed: writes stop, the caller reports TH_ENOMEM */
  int legacy;
  th_err *err;
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (w->oom || n == 0) return;
  if (n > w->cap - w->len) {
    size_t cap = w->cap ? w->cap : 1024;
    while (n > cap - w->len && cap <= SIZE_MAX / 2) cap *= 2;
    char *p = n <= cap - w->len ? realloc(w->p, cap) : NULL;
    if (!p) {
      w->oom = 1;
      return;
    }
    w->p = p, w->cap = cap;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

/* Legacy form: a newline and 4 spaces per level, as JSON.stringify(v, null, 4). */
static void newline(writer *w, int level) {
  static const char spaces[] = "                                                                ";
  if (!w->legacy) return;
  put(w, "\n", 1);
  for (size_t n = (size_t)level * 4; n;) {
    size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
    put(w, spaces, k);
    n -= k;
  }
}

/* The escape JSON.stringify writes for byte c, or NULL to copy it; `u` holds a \u00XX. */
static const char *escape_of(uint8_t c, char u[8]) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
      if (c >= 0x20) return NULL;
      snprintf(u, 8, "\\u%04x", c);
      return u;
  }
}

/* A JSON string as JSON.stringify writes it. Legacy form: the old SDK's replace of `": ` by `":`
 * also hits inside strings, wherever a `"` is followed by `: `: an escaped quote (`\": `) and the
 * opening quote of a string that starts with ": " (the closing quote of a key is the caller's). */
static int put_string(writer *w, const char *str) {
  const uint8_t *s = (const uint8_t *)str;
  size_t n = strlen(str), bad_at = th_utf8_valid_prefix(s, n), i = 0, run = 0;
  if (bad_at < n)
    return th_err_set(w->err, TH_EBADDATA,
                      "compose: string is not valid UTF-8 (byte 0x%02x at %zu)", s[bad_at], bad_at);
  put(w, "\"", 1);
  if (w->legacy && s[0] == ':' && s[1] == ' ') {
    put(w, ":", 1);
    i = run = 2;
  }
  while (i < n) {
    char u[8];
    const char *esc = escape_of(s[i], u);
    if (!esc) {
      i++;
      continue;
    }
    put(w, str + run, i - run);
    puts_(w, esc);
    if (w->legacy && s[i] == '"' && s[i + 1] == ':' && s[i + 2] == ' ') {
      put(w, ":", 1);
      i += 2;
    }
    run = ++i;
  }
  put(w, str + run, n - run);
  put(w, "\"", 1);
  return 0;
}

/* One member of an object as JavaScript holds it: the last value of a key, at the place of its
 * first occurrence. */
typedef struct member {
  const char *key;
  const cJSON *value;
  size_t pos;     /* first occurrence among the cJSON children */
  uint32_t index; /* value of an array-index key */
  int is_index;   /* "0".."4294967294" in canonical form: listed first by every JS object */
} member;

static int array_index(const char *k, uint32_t *out) {
  uint64_t v = 0;
  size_t n = strlen(k);
  if (n == 0 || n > 10 || (k[0] == '0' && n > 1)) return 0;
  for (size_t i = 0; i < n; i++) {
    if (k[i] < '0' || k[i] > '9') return 0;
    v = v * 10 + (uint64_t)(k[i] - '0');
  }
  if (v > 4294967294u) return 0;
  *out = (uint32_t)v;
  return 1;
}

static int cmp_key_pos(const void *a, const void *b) {
  const member *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_index(const member *x, const member *y) {
  if (x->is_index != y->is_index) return x->is_index ? -1 : 1;
  if (x->is_index) return x->index < y->index ? -1 : x->index > y->index;
  return 0;
}

static int cmp_sorted(const void *a, const void *b) {
  int c = cmp_index(a, b);
  return c ? c : th_utf16_cmp(((const member *)a)->key, ((const member *)b)->key);
}

static int cmp_parse_order(const void *a, const void *b) {
  const member *x = a, *y = b;
  int c = cmp_index(x, y);
  return c ? c : x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Folds duplicate keys of m[0, n) (sorted by key, then position) into one member each. */
static size_t fold_duplicates(member *m, size_t n) {
  size_t out = 0;
  for (size_t i = 0; i < n; out++) {
    size_t j = i;
    while (j + 1 < n && strcmp(m[j + 1].key, m[i].key) == 0) j++;
    m[out] = m[i];
    m[out].value = m[j].value;
    i = j + 1;
  }
  return out;
}

/* The members of obj as JSON.parse would hold them; *m is malloc'd (NULL when there are none). */
static int collect(writer *w, const cJSON *obj, member **m, size_t *n) {
  size_t count = 0, i = 0;
  for (const cJSON *c = obj->child; c; c = c->next) count++;
  *m = NULL, *n = 0;
  if (!count) return 0;
  if (!(*m = calloc(count, sizeof **m)))
    return th_err_set(w->err, TH_ENOMEM, "compose: out of memory");
  for (const cJSON *c = obj->child; c; c = c->next, i++) {
    if (!c->string) return th_err_set(w->err, TH_EINVAL, "compose: object member without a key");
    size_t len = strlen(c->string), at = th_utf8_valid_prefix((const uint8_t *)c->string, len);
    if (at < len)
      return th_err_set(w->err, TH_EBADDATA, "compose: key is not valid UTF-8 (byte 0x%02x at %zu)",
                        (uint8_t)c->string[at], at);
    uint32_t index = 0;
    int is_index = array_index(c->string, &index);
    (*m)[i] = (member){c->string, c, i, index, is_index};
  }
  qsort(*m, count, sizeof **m, cmp_key_pos);
  *n = fold_duplicates(*m, count);
  return 0;
}

static const member *find(const member *m, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(m[i].key, key) == 0) return &m[i];
  return NULL;
}

static void drop(member *m, size_t *n, const char *key) {
  const member *f = find(m, *n, key);
  if (!f) return;
  size_t at = (size_t)(f - m);
  memmove(m + at, m + at + 1, (*n - at - 1) * sizeof *m);
  (*n)--;
}

static int is_string(const member *f, const char *s) {
  return f && cJSON_IsString(f->value) && f->value->valuestring &&
         strcmp(f->value->valuestring, s) == 0;
}

/* JavaScript's !value for what JSON can hold: "", 0, -0, NaN, false, null. */
static int js_falsy(const cJSON *v) {
  if (cJSON_IsNull(v) || cJSON_IsFalse(v)) return 1;
  if (cJSON_IsNumber(v)) return v->valuedouble == 0 || isnan(v->valuedouble);
  return cJSON_IsString(v) && v->valuestring && !v->valuestring[0];
}

/* dstack-sdk preprocessAppCompose: top level only. */
static void normalize(member *m, size_t *n) {
  const member *runner = find(m, *n, "runner");
  if (is_string(runner, "bash"))
    drop(m, n, "docker_compose_file");
  else if (is_string(runner, "docker-compose"))
    drop(m, n, "bash_script");
  const member *pls = find(m, *n, "pre_launch_script");
  if (pls && js_falsy(pls->value)) drop(m, n, "pre_launch_script");
}

static int put_value(writer *w, const cJSON *v, int depth, int sorted);

/* `sorted`: the SDK's sortObject still applies (it stops at an object it does not sort). */
static int put_object(writer *w, const cJSON *obj, int depth, int sorted, int top_normalize) {
  member *m;
  size_t n;
  if (collect(w, obj, &m, &n)) return free(m), -1;
  if (sorted && find(m, n, "constructor")) sorted = 0; /* obj.constructor !== Object */
  if (top_normalize) normalize(m, &n);
  if (sorted) drop(m, &n, "__proto__");
  if (n > 1) qsort(m, n, sizeof *m, sorted ? cmp_sorted : cmp_parse_order);
  put(w, "{", 1);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (i) put(w, ",", 1);
    newline(w, depth);
    rc = put_string(w, m[i].key);
    put(w, ":", 1);
    if (rc == 0) rc = put_value(w, m[i].value, depth, sorted);
  }
  if (n) newline(w, depth - 1);
  put(w, "}", 1);
  free(m);
  return rc;
}

static int put_array(writer *w, const cJSON *arr, int depth, int sorted) {
  int rc = 0;
  put(w, "[", 1);
  for (const cJSON *c = arr->child; c && rc == 0; c = c->next) {
    if (c != arr->child) put(w, ",", 1);
    newline(w, depth);
    rc = put_value(w, c, depth, sorted);
  }
  if (arr->child) newline(w, depth - 1);
  put(w, "]", 1);
  return rc;
}

static int put_value(writer *w, const cJSON *v, int depth, int sorted) {
  char num[TH_COMPOSE_NUMBER_MAX];
  switch (v->type & 0xFF) {
    case cJSON_NULL: return puts_(w, "null"), 0;
    case cJSON_False: return puts_(w, "false"), 0;
    case cJSON_True: return puts_(w, "true"), 0;
    case cJSON_Number: return put(w, num, th_compose_format_number(v->valuedouble, num)), 0;
    case cJSON_String:
      if (!v->valuestring)
        return th_err_set(w->err, TH_EINVAL, "compose: string item without text");
      return put_string(w, v->valuestring);
    case cJSON_Array:
    case cJSON_Object:
      if (depth + 1 > TH_COMPOSE_MAX_DEPTH)
        return th_err_set(w->err, TH_ETOOBIG, "compose: nesting deeper than %d",
                          TH_COMPOSE_MAX_DEPTH);
      if (cJSON_IsArray(v)) return put_array(w, v, depth + 1, sorted);
      return put_object(w, v, depth + 1, sorted, 0);
    default:
      return th_err_set(w->err, TH_EINVAL, "compose: unsupported cJSON item type 0x%x", v->type);
  }
}

const char *th_compose_form_name(enum th_compose_form form) {
  switch (form) {
    case TH_COMPOSE_COMPACT: return "compact";
    case TH_COMPOSE_NORMALIZED: return "normalized";
    case TH_COMPOSE_LEGACY: return "legacy";
  }
  return NULL;
}

char *th_compose_serialize(const cJSON *compose, enum th_compose_form form, size_t *out_len,
                           th_err *err) {
  writer w = {NULL, 0, 0, 0, form == TH_COMPOSE_LEGACY, err};
  if (!th_compose_form_name(form)) {
    th_err_set(err, TH_EINVAL, "compose: unknown form %d", (int)form);
    return NULL;
  }
  if (!cJSON_IsObject(compose)) {
    th_err_set(err, TH_EINVAL, "compose: app-compose must be a JSON object");
    return NULL;
  }
  int rc = put_object(&w, compose, 1, 1, form != TH_COMPOSE_COMPACT);
  put(&w, "", 1); /* room for the NUL */
  if (rc == 0 && w.oom) rc = th_err_set(err, TH_ENOMEM, "compose: out of memory");
  if (rc) {
    free(w.p);
    return NULL;
  }
  w.p[w.len - 1] = '\0';
  if (out_len) *out_len = w.len - 1;
  return w.p;
}

char *th_compose_serialize_text(const char *json, size_t len, enum th_compose_form form,
                                size_t *out_len, th_err *err) {
  cJSON *tree = th_compose_parse(json, len, err);
  if (!tree) return NULL;
  char *text = th_compose_serialize(tree, form, out_len, err);
  cJSON_Delete(tree);
  return text;
}

/* ---- hashes ------------------------------------------------------------------------------ */

int th_compose_hash_bytes(const void *bytes, size_t len, char hash[TH_COMPOSE_HASH_HEX],
                          th_err *err) {
  uint8_t md[32];
  if (EVP_Digest(len ? bytes : "", len, md, NULL, EVP_sha256(), NULL) != 1)
    return th_err_set(err, TH_ENOMEM, "compose: SHA-256 failed (out of memory?)");
  th_hex_encode(md, sizeof md, hash);
  return 0;
}

int th_compose_hash(const cJSON *compose, enum th_compose_form form, char hash[TH_COMPOSE_HASH_HEX],
                    th_err *err) {
  size_t len;
  char *text = th_compose_serialize(compose, form, &len, err);
  if (!text) return -1;
  int rc = th_compose_hash_bytes(text, len, hash, err);
  free(text);
  return rc;
}

int th_compose_hash_text(const char *json, size_t len, enum th_compose_form form,
                         char hash[TH_COMPOSE_HASH_HEX], th_err *err) {
  cJSON *tree = th_compose_parse(json, len, err);
  if (!tree) return -1;
  int rc = th_compose_hash(tree, form, hash, err);
  cJSON_Delete(tree);
  return rc;
}

int th_compose_app_id(const char *hash_hex, char app_id[TH_COMPOSE_APP_ID_HEX], th_err *err) {
  uint8_t md[32];
  if (!hash_hex) return th_err_set(err, TH_EINVAL, "compose: no compose hash");
  if (th_hex_decode_exact(hash_hex, strlen(hash_hex), md, sizeof md, "compose hash", err))
    return -1;
  th_hex_encode(md, 20, app_id);
  return 0;
}

/* ---- builder ----------------------------------------------------------------------------- */

void th_compose_options_init(th_compose_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->kms_enabled = opt->gateway_enabled = true;
  opt->public_logs = opt->public_sysinfo = opt->public_tcbinfo = true;
}

/* Text that becomes a cJSON string must be UTF-8 without NUL (cJSON strings end there). */
static int check_text_field(const char *what, const char *s, size_t len, th_err *err) {
  const char *nul = memchr(s, '\0', len);
  if (nul)
    return th_err_set(err, TH_EBADDATA, "compose: %s has a NUL byte at %zu", what,
                      (size_t)(nul - s));
  size_t at = th_utf8_valid_prefix((const uint8_t *)s, len);
  if (at < len)
    return th_err_set(err, TH_EBADDATA, "compose: %s is not valid UTF-8 (byte 0x%02x at %zu)", what,
                      (uint8_t)s[at], at);
  return 0;
}

/* A POSIX-style variable name: what a compose file's ${NAME} can refer to. */
static int env_name_ok(const char *s) {
  if (!s || !(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) return 0;
  for (s++; *s; s++)
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
          (*s >= '0' && *s <= '9')))
      return 0;
  return 1;
}

static int check_options(const char *dc, size_t len, const th_compose_options *opt, th_err *err) {
  if (!opt || (!dc && len)) return th_err_set(err, TH_EINVAL, "compose: no options or text");
  if (!opt->name || !opt->name[0])
    return th_err_set(err, TH_EINVAL, "compose: the app name is empty");
  size_t script = opt->pre_launch_script ? strlen(opt->pre_launch_script) : 0;
  if (len > TH_COMPOSE_MAX_FILES_BYTES || script > TH_COMPOSE_MAX_FILES_BYTES - len)
    return th_err_set(err, TH_ETOOBIG,
                      "compose: docker-compose file and pre-launch script are %zu bytes, over "
                      "Phala Cloud's limit of %zu",
                      len + script, TH_COMPOSE_MAX_FILES_BYTES);
  if (check_text_field("the docker-compose file", dc ? dc : "", len, err) ||
      check_text_field("the app name", opt->name, strlen(opt->name), err) ||
      check_text_field("the pre-launch script",
                       opt->pre_launch_script ? opt->pre_launch_script : "", script, err) ||
      (opt->key_provider_id && check_text_field("key_provider_id", opt->key_provider_id,
                                                strlen(opt->key_provider_id), err)))
    return -1;
  if (opt->n_allowed_envs && !opt->allowed_envs)
    return th_err_set(err, TH_EINVAL, "compose: allowed_envs missing");
  for (size_t i = 0; i < opt->n_allowed_envs; i++) {
    const char *e = opt->allowed_envs[i];
    if (!env_name_ok(e))
      return th_err_set(err, TH_EINVAL,
                        "compose: allowed_envs[%zu] \"%.64s\" is not a valid "
                        "variable name",
                        i, e ? e : "(null)");
    for (size_t j = 0; j < i; j++)
      if (strcmp(opt->allowed_envs[j], e) == 0)
        return th_err_set(err, TH_EINVAL, "compose: allowed_envs lists \"%s\" twice", e);
  }
  return 0;
}

static int add_allowed_envs(cJSON *o, const th_compose_options *opt) {
  cJSON *a = cJSON_AddArrayToObject(o, "allowed_envs");
  for (size_t i = 0; a && i < opt->n_allowed_envs; i++) {
    cJSON *s = cJSON_CreateString(opt->allowed_envs[i]);
    if (!s || !cJSON_AddItemToArray(a, s)) return cJSON_Delete(s), -1;
  }
  return a ? 0 : -1;
}

/* The 1.0.35 `cvms create` compose_manifest (spec 3.4), key order as sent. */
static int build_v03(cJSON *o, const char *dc, const th_compose_options *opt) {
  cJSON *cfg = cJSON_AddStringToObject(o, "docker_compose_file", dc)
                   ? cJSON_AddObjectToObject(o, "docker_config")
                   : NULL;
  int ok = cfg && cJSON_AddStringToObject(cfg, "url", "") &&
           cJSON_AddStringToObject(cfg, "username", "") &&
           cJSON_AddStringToObject(cfg, "password", "");
  cJSON *features = cJSON_AddArrayToObject(o, "features");
  ok = ok && features;
  if (ok && opt->kms_enabled) ok = cJSON_AddItemToArray(features, cJSON_CreateString("kms"));
  if (ok && opt->gateway_enabled)
    ok = cJSON_AddItemToArray(features, cJSON_CreateString("tproxy-net"));
  ok = ok && cJSON_AddBoolToObject(o, "kms_enabled", opt->kms_enabled) &&
       cJSON_AddNumberToObject(o, "manifest_version", 2) &&
       cJSON_AddStringToObject(o, "name", opt->name) &&
       cJSON_AddBoolToObject(o, "public_logs", opt->public_logs) &&
       cJSON_AddBoolToObject(o, "public_sysinfo", opt->public_sysinfo) &&
       cJSON_AddBoolToObject(o, "tproxy_enabled", opt->gateway_enabled);
  if (ok && opt->n_allowed_envs) ok = add_allowed_envs(o, opt) == 0;
  return ok ? 0 : -1;
}

/* dstack >= 0.5 (vmm-cli.py `compose`, spec 6.5). */
static int build_v05(cJSON *o, const char *dc, const th_compose_options *opt) {
  int ok = cJSON_AddNumberToObject(o, "manifest_version", 2) &&
           cJSON_AddStringToObject(o, "name", opt->name) &&
           cJSON_AddStringToObject(o, "runner", "docker-compose") &&
           cJSON_AddStringToObject(o, "docker_compose_file", dc) &&
           cJSON_AddBoolToObject(o, "kms_enabled", opt->kms_enabled) &&
           cJSON_AddBoolToObject(o, "gateway_enabled", opt->gateway_enabled) &&
           cJSON_AddBoolToObject(o, "public_logs", opt->public_logs) &&
           cJSON_AddBoolToObject(o, "public_sysinfo", opt->public_sysinfo) &&
           cJSON_AddBoolToObject(o, "public_tcbinfo", opt->public_tcbinfo) &&
           cJSON_AddBoolToObject(o, "local_key_provider_enabled", opt->local_key_provider_enabled);
  if (ok && opt->key_provider_id)
    ok = cJSON_AddStringToObject(o, "key_provider_id", opt->key_provider_id) != NULL;
  ok = ok && add_allowed_envs(o, opt) == 0 &&
       cJSON_AddBoolToObject(o, "no_instance_id", opt->no_instance_id) &&
       cJSON_AddBoolToObject(o, "secure_time", opt->secure_time);
  return ok ? 0 : -1;
}

cJSON *th_compose_build(const char *dc, size_t len, const th_compose_options *opt, th_err *err) {
  if (check_options(dc, len, opt, err)) return NULL;
  char *text = malloc(len + 1);
  cJSON *o = cJSON_CreateObject();
  int rc = text && o ? 0 : -1;
  if (rc == 0) {
    if (len) memcpy(text, dc, len);
    text[len] = '\0';
    rc = opt->legacy_v03 ? build_v03(o, text, opt) : build_v05(o, text, opt);
  }
  if (rc == 0 && opt->pre_launch_script &&
      !cJSON_AddStringToObject(o, "pre_launch_script", opt->pre_launch_script))
    rc = -1;
  free(text);
  if (rc == 0) return o;
  cJSON_Delete(o);
  th_err_set(err, TH_ENOMEM, "compose: out of memory");
  return NULL;
}
