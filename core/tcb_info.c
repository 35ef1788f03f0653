/* core/tcb_info.c — TCB info and QE identity JSON (spec 2.2, 2.3) into plain structs, with
 * cJSON. See tcb_info.h for the rules; the canonical sort of TCB levels is here because every
 * consumer (core/verify) relies on it. */
#include "tcb_info.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

/* ---- TCB status names ---------------------------------------------------------------------- */

static const char *const STATUS_NAMES[TH_TCB_STATUS_COUNT] = {
    [TH_TCB_UP_TO_DATE] = "UpToDate",
    [TH_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [TH_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [TH_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [TH_TCB_OUT_OF_DATE] = "OutOfDate",
    [TH_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [TH_TCB_REVOKED] = "Revoked",
};

const char *th_tcb_status_name(int status) {
  if (status < 0 || status >= TH_TCB_STATUS_COUNT) return "Unknown";
  return STATUS_NAMES[status];
}

int th_tcb_status_parse(const char *name) {
  for (int i = 0; name && i < TH_TCB_STATUS_COUNT; i++)
    if (strcmp(name, STATUS_NAMES[i]) == 0) return i;
  return -1;
}

/* ---- typed access to cJSON objects, with errors that say where ------------------------------ */

/* The document being parsed ("collateral: tcb_info") and the path inside it ("tcbLevels[2]"). */
typedef struct jctx {
  const char *doc;
  char path[96];
  th_err *err;
} jctx;

static int jfail(const jctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int jfail(const jctx *c, const char *fmt, ...) {
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return th_err_set(c->err, TH_EBADDATA, "%s: %s%s%s", c->doc, what, c->path[0] ? " in " : "",
                    c->path);
}

/* A copy of c whose path has `name` (or name[i] when i >= 0) appended. */
static jctx jsub(const jctx *c, const char *name, long i) {
  jctx s = *c;
  size_t n = strlen(s.path);
  const char *dot = n ? "." : "";
  if (i >= 0)
    snprintf(s.path + n, sizeof s.path - n, "%s%s[%ld]", dot, name, i);
  else
    snprintf(s.path + n, sizeof s.path - n, "%s%s", dot, name);
  return s;
}

static const char *type_name(int type) {
  switch (type) {
  case cJSON_String: return "a string";
  case cJSON_Number: return "a number";
  case cJSON_Object: return "an object";
  case cJSON_Array: return "an array";
  default: return "a value";
  }
}

/* obj[key] of the given cJSON type; NULL when absent (error only if `required`) or mistyped. */
static const cJSON *jget(const jctx *c, const cJSON *obj, const char *key, int type, int required,
                         int *failed) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  *failed = 0;
  if (!v && !required) return NULL;
  if (!v) {
    *failed = 1;
    jfail(c, "missing \"%s\"", key);
    return NULL;
  }
  if ((v->type & 0xFF) != type) {
    *failed = 1;
    jfail(c, "\"%s\" must be %s", key, type_name(type));
    return NULL;
  }
  return v;
}

static const cJSON *jreq(const jctx *c, const cJSON *obj, const char *key, int type) {
  int failed;
  return jget(c, obj, key, type, 1, &failed);
}

static int jint(const jctx *c, const cJSON *obj, const char *key, int64_t min, int64_t max,
                int64_t *out) {
  const cJSON *v = jreq(c, obj, key, cJSON_Number);
  if (!v) return -1;
  double d = v->valuedouble;
  if (!(d >= (double)min && d <= (double)max) || (double)(int64_t)d != d)
    return jfail(c, "\"%s\" must be an integer in %lld..%lld", key, (long long)min,
                 (long long)max);
  *out = (int64_t)d;
  return 0;
}

static int jint32(const jctx *c, const cJSON *obj, const char *key, int *out) {
  int64_t v = 0;
  if (jint(c, obj, key, INT32_MIN, INT32_MAX, &v) != 0) return -1;
  *out = (int)v;
  return 0;
}

static int junsigned(const jctx *c, const cJSON *obj, const char *key, uint32_t max,
                     uint32_t *out) {
  int64_t v = 0;
  if (jint(c, obj, key, 0, max, &v) != 0) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Copies obj[key] (a string shorter than cap) into dst. */
static int jstr(const jctx *c, const cJSON *obj, const char *key, char *dst, size_t cap) {
  const cJSON *v = jreq(c, obj, key, cJSON_String);
  if (!v) return -1;
  size_t n = strlen(v->valuestring);
  if (n >= cap) return jfail(c, "\"%s\" is too long (%zu bytes, at most %zu)", key, n, cap - 1);
  memcpy(dst, v->valuestring, n + 1);
  return 0;
}

/* obj[key]: exactly n bytes as hex, either case; errors name "<doc>: <path>.<key>". */
static int jhex(const jctx *c, const cJSON *obj, const char *key, uint8_t *out, size_t n) {
  const cJSON *v = jreq(c, obj, key, cJSON_String);
  if (!v) return -1;
  char what[200];
  snprintf(what, sizeof what, "%s: %s%s%s", c->doc, c->path, c->path[0] ? "." : "", key);
  return th_hex_decode_exact(v->valuestring, strlen(v->valuestring), out, n, what, c->err);
}

static int jdate(const jctx *c, const cJSON *obj, const char *key, int64_t *out) {
  const cJSON *v = jreq(c, obj, key, cJSON_String);
  if (!v) return -1;
  if (th_rfc3339_parse(v->valuestring, out) != 0)
    return jfail(c, "%s is not an RFC 3339 time", key);
  return 0;
}

/* Parses a whole text as one JSON object (nothing but white space after it). */
static cJSON *jparse(const jctx *c, const char *json, size_t len) {
  const char *end = NULL;
  cJSON *root = json ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
  if (!root) {
    size_t at = (json && end >= json && end <= json + len) ? (size_t)(end - json) : 0;
    jfail(c, "not valid JSON (at byte %zu)", at);
    return NULL;
  }
  for (const char *p = end; p < json + len; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
      jfail(c, "not valid JSON (data after the object at byte %zu)", (size_t)(p - json));
      cJSON_Delete(root);
      return NULL;
    }
  }
  if (!cJSON_IsObject(root)) {
    jfail(c, "not a JSON object");
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

/* ---- levels --------------------------------------------------------------------------------- */

static void advisories_free(th_advisories *a) {
  for (size_t i = 0; i < a->n; i++) free(a->ids[i]);
  free(a->ids);
  a->ids = NULL;
  a->n = 0;
}

/* "advisoryIDs": optional array of strings. */
static int parse_advisories(const jctx *c, const cJSON *lvl, th_advisories *out) {
  int failed;
  const cJSON *arr = jget(c, lvl, "advisoryIDs", cJSON_Array, 0, &failed);
  if (!arr) return failed ? -1 : 0;
  int n = cJSON_GetArraySize(arr);
  if (n == 0) return 0;
  if (!(out->ids = calloc((size_t)n, sizeof *out->ids)))
    return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
  const cJSON *id;
  cJSON_ArrayForEach(id, arr) {
    if (!cJSON_IsString(id)) return jfail(c, "advisoryIDs[%zu] must be a string", out->n);
    if (!(out->ids[out->n] = strdup(id->valuestring)))
      return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
    out->n++;
  }
  return 0;
}

/* tcbDate, tcbStatus and advisoryIDs, shared by every kind of level. */
static int parse_level_common(const jctx *c, const cJSON *lvl, int *status, char *date,
                              th_advisories *adv) {
  if (jstr(c, lvl, "tcbDate", date, 32) != 0) return -1;
  const cJSON *st = jreq(c, lvl, "tcbStatus", cJSON_String);
  if (!st) return -1;
  if ((*status = th_tcb_status_parse(st->valuestring)) < 0)
    return jfail(c, "bad tcbStatus \"%.40s\"", st->valuestring);
  return parse_advisories(c, lvl, adv);
}

static int parse_isv_level(const jctx *c, const cJSON *lvl, th_isv_level *out) {
  if (!cJSON_IsObject(lvl)) return jfail(c, "a level must be an object");
  const cJSON *tcb = jreq(c, lvl, "tcb", cJSON_Object);
  jctx sub = jsub(c, "tcb", -1);
  if (!tcb || junsigned(&sub, tcb, "isvsvn", UINT32_MAX, &out->isvsvn) != 0) return -1;
  return parse_level_common(c, lvl, &out->status, out->tcb_date, &out->advisories);
}

/* obj.tcbLevels as ISV levels (QE identity, TDX module identity), in JSON order. */
static int parse_isv_levels(const jctx *c, const cJSON *obj, th_isv_level **levels, size_t *n) {
  const cJSON *arr = jreq(c, obj, "tcbLevels", cJSON_Array);
  if (!arr) return -1;
  size_t count = (size_t)cJSON_GetArraySize(arr);
  if (count && !(*levels = calloc(count, sizeof **levels)))
    return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
  const cJSON *lvl;
  cJSON_ArrayForEach(lvl, arr) {
    jctx sub = jsub(c, "tcbLevels", (long)*n);
    (*n)++; /* counted first, so a half-parsed level is freed too */
    if (parse_isv_level(&sub, lvl, &(*levels)[*n - 1]) != 0) return -1;
  }
  return 0;
}

static void isv_levels_free(th_isv_level *levels, size_t n) {
  for (size_t i = 0; i < n; i++) advisories_free(&levels[i].advisories);
  free(levels);
}

/* tcb[key]: an array of {svn: 0..255, …}; the first 16 SVNs are kept, all are counted. */
static int parse_components(const jctx *c, const cJSON *tcb, const char *key, int required,
                            uint8_t *svn, size_t *n) {
  int failed;
  const cJSON *arr = jget(c, tcb, key, cJSON_Array, required, &failed);
  if (!arr) return failed ? -1 : 0;
  const cJSON *comp;
  cJSON_ArrayForEach(comp, arr) {
    jctx sub = jsub(c, key, (long)*n);
    uint32_t v = 0;
    if (!cJSON_IsObject(comp)) return jfail(&sub, "a component must be an object");
    if (junsigned(&sub, comp, "svn", 255, &v) != 0) return -1;
    if (*n < 16) svn[*n] = (uint8_t)v;
    (*n)++;
  }
  return 0;
}

static int parse_tcb_level(const jctx *c, const cJSON *lvl, th_tcb_level *out) {
  if (!cJSON_IsObject(lvl)) return jfail(c, "a level must be an object");
  const cJSON *tcb = jreq(c, lvl, "tcb", cJSON_Object);
  if (!tcb) return -1;
  jctx sub = jsub(c, "tcb", -1);
  if (parse_components(&sub, tcb, "sgxtcbcomponents", 1, out->sgx, &out->n_sgx) != 0 ||
      junsigned(&sub, tcb, "pcesvn", 0xFFFF, &out->pcesvn) != 0 ||
      parse_components(&sub, tcb, "tdxtcbcomponents", 0, out->tdx, &out->n_tdx) != 0)
    return -1;
  return parse_level_common(c, lvl, &out->status, out->tcb_date, &out->advisories);
}

/* ---- canonical order of TCB levels (spec 3.8 step 23) --------------------------------------- */

/* < 0 when a goes first: SGX SVNs descending (lexicographic), then pcesvn descending, then (TDX
 * v3+) TDX SVNs descending. */
static int level_cmp(const th_tcb_level *a, const th_tcb_level *b, int tdx) {
  int d = memcmp(b->sgx, a->sgx, 16);
  if (d) return d;
  if (a->pcesvn != b->pcesvn) return a->pcesvn > b->pcesvn ? -1 : 1;
  return tdx ? memcmp(b->tdx, a->tdx, 16) : 0;
}

/* Stable bottom-up merge sort (qsort is not stable). */
static int sort_levels(th_tcb_level *v, size_t n, int tdx) {
  if (n < 2) return 0;
  th_tcb_level *tmp = malloc(n * sizeof *tmp);
  if (!tmp) return -1;
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = level_cmp(&v[j], &v[i], tdx) < 0 ? v[j++] : v[i++];
      while (i < mid) tmp[k++] = v[i++];
      while (j < hi) tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof *v);
  }
  free(tmp);
  return 0;
}

static int parse_tcb_levels(const jctx *c, const cJSON *root, th_tcb_info *out) {
  const cJSON *arr = jreq(c, root, "tcbLevels", cJSON_Array);
  if (!arr) return -1;
  size_t count = (size_t)cJSON_GetArraySize(arr);
  if (count && !(out->levels = calloc(count, sizeof *out->levels)))
    return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
  const cJSON *lvl;
  cJSON_ArrayForEach(lvl, arr) {
    jctx sub = jsub(c, "tcbLevels", (long)out->nlevels);
    out->nlevels++;
    if (parse_tcb_level(&sub, lvl, &out->levels[out->nlevels - 1]) != 0) return -1;
  }
  int tdx = strcmp(out->id, "TDX") == 0 && out->version >= 3;
  if (sort_levels(out->levels, out->nlevels, tdx) != 0)
    return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
  return 0;
}

/* ---- TCB info ------------------------------------------------------------------------------- */

static int parse_tdx_module(const jctx *c, const cJSON *root, th_tcb_info *out) {
  int failed;
  const cJSON *m = jget(c, root, "tdxModule", cJSON_Object, 0, &failed);
  if (!m) return failed ? -1 : 0;
  jctx sub = jsub(c, "tdxModule", -1);
  out->has_tdx_module = 1;
  return jhex(&sub, m, "mrsigner", out->tdx_module_mrsigner, 48) ||
                 jhex(&sub, m, "attributes", out->tdx_module_attributes, 8) ||
                 jhex(&sub, m, "attributesMask", out->tdx_module_attributes_mask, 8)
             ? -1
             : 0;
}

static int parse_module_identity(const jctx *c, const cJSON *o, th_tdx_module_identity *out) {
  if (!cJSON_IsObject(o)) return jfail(c, "a module identity must be an object");
  if (jstr(c, o, "id", out->id, sizeof out->id) || jhex(c, o, "mrsigner", out->mrsigner, 48) ||
      jhex(c, o, "attributes", out->attributes, 8) ||
      jhex(c, o, "attributesMask", out->attributes_mask, 8))
    return -1;
  return parse_isv_levels(c, o, &out->levels, &out->nlevels);
}

static int parse_module_identities(const jctx *c, const cJSON *root, th_tcb_info *out) {
  int failed;
  const cJSON *arr = jget(c, root, "tdxModuleIdentities", cJSON_Array, 0, &failed);
  if (!arr) return failed ? -1 : 0;
  size_t count = (size_t)cJSON_GetArraySize(arr);
  if (count && !(out->module_identities = calloc(count, sizeof *out->module_identities)))
    return th_err_set(c->err, TH_ENOMEM, "%s: out of memory", c->doc);
  const cJSON *o;
  cJSON_ArrayForEach(o, arr) {
    jctx sub = jsub(c, "tdxModuleIdentities", (long)out->n_module_identities);
    out->n_module_identities++;
    if (parse_module_identity(&sub, o, &out->module_identities[out->n_module_identities - 1]))
      return -1;
  }
  return 0;
}

static int parse_tcb_info_root(const jctx *c, const cJSON *root, th_tcb_info *out) {
  int64_t v = 0;
  if (jstr(c, root, "id", out->id, sizeof out->id) || jint32(c, root, "version", &out->version) ||
      jdate(c, root, "issueDate", &out->issue_date) ||
      jdate(c, root, "nextUpdate", &out->next_update) ||
      jhex(c, root, "fmspc", out->fmspc, 6) || jhex(c, root, "pceId", out->pce_id, 2) ||
      jint32(c, root, "tcbType", &out->tcb_type) ||
      jint(c, root, "tcbEvaluationDataNumber", INT32_MIN, INT32_MAX, &v))
    return -1;
  out->tcb_evaluation_data_number = (int)v;
  if (parse_tdx_module(c, root, out) || parse_module_identities(c, root, out)) return -1;
  return parse_tcb_levels(c, root, out);
}

int th_tcb_info_parse(const char *json, size_t len, th_tcb_info *out, th_err *err) {
  jctx c = {.doc = "collateral: tcb_info", .err = err};
  memset(out, 0, sizeof *out);
  cJSON *root = jparse(&c, json, len);
  int rc = root ? parse_tcb_info_root(&c, root, out) : -1;
  cJSON_Delete(root);
  if (rc != 0) th_tcb_info_clear(out);
  return rc;
}

void th_tcb_info_clear(th_tcb_info *info) {
  if (!info) return;
  for (size_t i = 0; i < info->nlevels; i++) advisories_free(&info->levels[i].advisories);
  free(info->levels);
  for (size_t i = 0; i < info->n_module_identities; i++)
    isv_levels_free(info->module_identities[i].levels, info->module_identities[i].nlevels);
  free(info->module_identities);
  memset(info, 0, sizeof *info);
}

/* ---- QE identity ---------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int parse_qe_root(const jctx *c, const cJSON *root, th_qe_identity *out) {
  uint8_t misc[4], misc_mask[4];
  int64_t v = 0;
  uint32_t prodid = 0;
  if (jstr(c, root, "id", out->id, sizeof out->id) || jint32(c, root, "version", &out->version) ||
      jdate(c, root, "issueDate", &out->issue_date) ||
      jdate(c, root, "nextUpdate", &out->next_update) ||
      jint(c, root, "tcbEvaluationDataNumber", INT32_MIN, INT32_MAX, &v) ||
      jhex(c, root, "miscselect", misc, 4) || jhex(c, root, "miscselectMask", misc_mask, 4) ||
      jhex(c, root, "attributes", out->attributes, 16) ||
      jhex(c, root, "attributesMask", out->attributes_mask, 16) ||
      jhex(c, root, "mrsigner", out->mrsigner, 32) ||
      junsigned(c, root, "isvprodid", 0xFFFF, &prodid))
    return -1;
  out->tcb_evaluation_data_number = (int)v;
  out->miscselect = le32(misc);
  out->miscselect_mask = le32(misc_mask);
  out->isvprodid = (uint16_t)prodid;
  return parse_isv_levels(c, root, &out->levels, &out->nlevels);
}

int th_qe_identity_parse(const char *json, size_t len, th_qe_identity *out, th_err *err) {
  jctx c = {.doc = "collateral: qe_identity", .err = err};
  memset(out, 0, sizeof *out);
  cJSON *root = jparse(&c, json, len);
  int rc = root ? parse_qe_root(&c, root, out) : -1;
  cJSON_Delete(root);
  if (rc != 0) th_qe_identity_clear(out);
  return rc;
}

void th_qe_identity_clear(th_qe_identity *id) {
  if (!id) return;
  isv_levels_free(id->levels, id->nlevels);
  memset(id, 0, sizeof *id);
}
