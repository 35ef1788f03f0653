/* core/collateral.c — the collateral JSON of shared/specs/tdx-quote.md 2.1 (dcap-qvl's
 * QuoteCollateralV3): parsing with cJSON into OpenSSL objects and the structs of tcb_info.h,
 * building from a PCCS's pieces, serialising back, reference counting, and RFC 3339 times.
 * The signed texts are copied byte for byte; nothing here re-serialises them. */
#include "collateral.h"

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "pck.h"
#include "tcb_info.h"
#include "x509_cache.h"

/* ---- RFC 3339 ------------------------------------------------------------------------------- */

static int num(const char *s, int n, int *v) {
  *v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    *v = *v * 10 + (s[i] - '0');
  }
  return 0;
}

static int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

int th_rfc3339_parse(const char *s, int64_t *out) {
  int y, mo, d, h, mi, sec;
  if (!s || strnlen(s, 20) < 20 || num(s, 4, &y) || s[4] != '-' || num(s + 5, 2, &mo) ||
      s[7] != '-' || num(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || num(s + 11, 2, &h) ||
      s[13] != ':' || num(s + 14, 2, &mi) || s[16] != ':' || num(s + 17, 2, &sec))
    return -1;
  const char *p = s + 19;
  if (*p == '.') { /* a fraction of a second: ignored */
    if (p[1] < '0' || p[1] > '9') return -1;
    for (p++; *p >= '0' && *p <= '9'; p++) {
    }
  }
  if ((*p != 'Z' && *p != 'z') || p[1] != '\0') return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
    return -1;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                  .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  *out = (int64_t)timegm(&tm);
  return 0;
}

void th_rfc3339_format(int64_t t, char *buf) {
  const int64_t lo = -62167219200, hi = 253402300799; /* 0000-01-01 .. 9999-12-31T23:59:59 */
  time_t tt = (time_t)(t < lo ? lo : t > hi ? hi : t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char tmp[80]; /* roomy enough for any int, so the compiler sees no truncation */
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(buf, tmp, 21); /* the clamp above keeps it at 20 characters + NUL */
}

/* ---- reference counting --------------------------------------------------------------------- */

th_collateral *th_collateral_ref(th_collateral *c) {
  if (c) c->refcount++;
  return c;
}

void th_collateral_unref(th_collateral *c) {
  if (!c || --c->refcount > 0) return;
  X509_CRL_free(c->root_ca_crl);
  X509_CRL_free(c->pck_crl);
  sk_X509_pop_free(c->pck_crl_issuer_chain, X509_free);
  sk_X509_pop_free(c->tcb_info_issuer_chain, X509_free);
  sk_X509_pop_free(c->qe_identity_issuer_chain, X509_free);
  sk_X509_pop_free(c->pck_certificate_chain, X509_free);
  free(c->tcb_info_json);
  free(c->qe_identity_json);
  th_tcb_info_clear(&c->tcb_info);
  th_qe_identity_clear(&c->qe_identity);
  if (c->memo && c->memo_free) c->memo_free(c->memo);
  free(c);
}

/* ---- building from parts -------------------------------------------------------------------- */

/* A NUL-terminated copy of a signed text, which must not contain NUL itself. */
static char *copy_text(const char *s, size_t len, const char *what, th_err *err) {
  if (memchr(s, '\0', len)) {
    th_err_set(err, TH_EBADDATA, "collateral: %s contains a NUL byte", what);
    return NULL;
  }
  char *t = malloc(len + 1);
  if (!t) {
    th_err_set(err, TH_ENOMEM, "collateral: out of memory");
    return NULL;
  }
  memcpy(t, s, len);
  t[len] = '\0';
  return t;
}

static STACK_OF(X509) *chain(const th_collateral_parts *p, const char *pem, const char *what,
                             th_err *err) {
  return th_pem_chain_parse_cached(pem, strlen(pem), what, p->cache, err);
}

static const char *missing_part(const th_collateral_parts *p) {
  if (!p->root_ca_crl_der) return "root_ca_crl";
  if (!p->pck_crl_der) return "pck_crl";
  if (!p->tcb_info_issuer_chain) return "tcb_info_issuer_chain";
  if (!p->tcb_info_json) return "tcb_info";
  if (!p->tcb_info_signature) return "tcb_info_signature";
  if (!p->qe_identity_issuer_chain) return "qe_identity_issuer_chain";
  if (!p->qe_identity_json) return "qe_identity";
  if (!p->qe_identity_signature) return "qe_identity_signature";
  return NULL;
}

static int fill(th_collateral *c, const th_collateral_parts *p, th_err *err) {
  if (p->pck_crl_issuer_chain && !(c->pck_crl_issuer_chain = chain(
                                       p, p->pck_crl_issuer_chain,
                                       "collateral: pck_crl_issuer_chain", err)))
    return -1;
  if (!(c->root_ca_crl = th_crl_from_der(p->root_ca_crl_der, p->root_ca_crl_len,
                                         "collateral: root_ca_crl", err)) ||
      !(c->pck_crl = th_crl_from_der(p->pck_crl_der, p->pck_crl_len, "collateral: pck_crl", err)))
    return -1;
  if (!(c->tcb_info_issuer_chain =
            chain(p, p->tcb_info_issuer_chain, "collateral: tcb_info_issuer_chain", err)) ||
      !(c->qe_identity_issuer_chain =
            chain(p, p->qe_identity_issuer_chain, "collateral: qe_identity_issuer_chain", err)))
    return -1;
  if (p->pck_certificate_chain &&
      !(c->pck_certificate_chain =
            chain(p, p->pck_certificate_chain, "collateral: pck_certificate_chain", err)))
    return -1;
  if (!(c->tcb_info_json = copy_text(p->tcb_info_json, p->tcb_info_len, "tcb_info", err)) ||
      !(c->qe_identity_json =
            copy_text(p->qe_identity_json, p->qe_identity_len, "qe_identity", err)))
    return -1;
  c->tcb_info_len = p->tcb_info_len;
  c->qe_identity_len = p->qe_identity_len;
  memcpy(c->tcb_info_signature, p->tcb_info_signature, 64);
  memcpy(c->qe_identity_signature, p->qe_identity_signature, 64);
  if (th_tcb_info_parse(c->tcb_info_json, c->tcb_info_len, &c->tcb_info, err) != 0) return -1;
  return th_qe_identity_parse(c->qe_identity_json, c->qe_identity_len, &c->qe_identity, err);
}

th_collateral *th_collateral_from_parts(const th_collateral_parts *parts, th_err *err) {
  const char *missing = parts ? missing_part(parts) : "everything";
  if (missing) {
    th_err_set(err, TH_EINVAL, "collateral: missing %s", missing);
    return NULL;
  }
  th_collateral *c = calloc(1, sizeof *c);
  if (!c) {
    th_err_set(err, TH_ENOMEM, "collateral: out of memory");
    return NULL;
  }
  c->refcount = 1;
  if (fill(c, parts, err) != 0) {
    th_collateral_unref(c);
    return NULL;
  }
  return c;
}

/* ---- parsing the JSON ------------------------------------------------------------------------ */

/* The decoded byte fields of the JSON, owned here until from_parts has copied them. */
typedef struct raw_parts {
  th_collateral_parts parts;
  uint8_t *root_crl, *pck_crl;
  uint8_t tcb_sig[64], qe_sig[64];
} raw_parts;

/* root[key] as a string; NULL when absent or null (an error unless optional) or not a string. */
static const char *get_str(const cJSON *root, const char *key, int optional, int *failed,
                           th_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  if ((!v || cJSON_IsNull(v)) && optional) return NULL;
  *failed = 1;
  if (!v) {
    th_err_set(err, TH_EBADDATA, "collateral: missing \"%s\"", key);
    return NULL;
  }
  if (!cJSON_IsString(v)) {
    th_err_set(err, TH_EBADDATA, "collateral: \"%s\" must be a string", key);
    return NULL;
  }
  *failed = 0;
  return v->valuestring;
}

static int get_strings(const cJSON *root, th_collateral_parts *p, const char **hex, th_err *err) {
  int failed = 0;
  p->pck_crl_issuer_chain = get_str(root, "pck_crl_issuer_chain", 1, &failed, err);
  if (failed || !(hex[0] = get_str(root, "root_ca_crl", 0, &failed, err)) ||
      !(hex[1] = get_str(root, "pck_crl", 0, &failed, err)) ||
      !(p->tcb_info_issuer_chain = get_str(root, "tcb_info_issuer_chain", 0, &failed, err)) ||
      !(p->tcb_info_json = get_str(root, "tcb_info", 0, &failed, err)) ||
      !(hex[2] = get_str(root, "tcb_info_signature", 0, &failed, err)) ||
      !(p->qe_identity_issuer_chain =
            get_str(root, "qe_identity_issuer_chain", 0, &failed, err)) ||
      !(p->qe_identity_json = get_str(root, "qe_identity", 0, &failed, err)) ||
      !(hex[3] = get_str(root, "qe_identity_signature", 0, &failed, err)))
    return -1;
  p->pck_certificate_chain = get_str(root, "pck_certificate_chain", 1, &failed, err);
  return failed ? -1 : 0;
}

static int decode_parts(const cJSON *root, raw_parts *r, th_err *err) {
  th_collateral_parts *p = &r->parts;
  const char *hex[4];
  if (get_strings(root, p, hex, err) != 0) return -1;
  p->tcb_info_len = strlen(p->tcb_info_json);
  p->qe_identity_len = strlen(p->qe_identity_json);
  if (th_hex_decode_alloc(hex[0], strlen(hex[0]), &r->root_crl, &p->root_ca_crl_len,
                          "collateral: root_ca_crl", err) ||
      th_hex_decode_alloc(hex[1], strlen(hex[1]), &r->pck_crl, &p->pck_crl_len,
                          "collateral: pck_crl", err) ||
      th_hex_decode_exact(hex[2], strlen(hex[2]), r->tcb_sig, 64,
                          "collateral: tcb_info_signature", err) ||
      th_hex_decode_exact(hex[3], strlen(hex[3]), r->qe_sig, 64,
                          "collateral: qe_identity_signature", err))
    return -1;
  p->root_ca_crl_der = r->root_crl;
  p->pck_crl_der = r->pck_crl;
  p->tcb_info_signature = r->tcb_sig;
  p->qe_identity_signature = r->qe_sig;
  return 0;
}

/* The whole text as one JSON object, nothing after it but white space. */
static cJSON *parse_object(const char *json, size_t len, th_err *err) {
  const char *end = NULL;
  cJSON *root = json ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
  if (!root) {
    size_t at = (json && end >= json && end <= json + len) ? (size_t)(end - json) : 0;
    th_err_set(err, TH_EBADDATA, "collateral: not valid JSON (at byte %zu)", at);
    return NULL;
  }
  while (end < json + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
  if (end != json + len || !cJSON_IsObject(root)) {
    th_err_set(err, TH_EBADDATA, "collateral: not a JSON object%s",
               end != json + len ? " (data after it)" : "");
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

th_collateral *th_collateral_parse(const char *json, size_t len, th_err *err) {
  return th_collateral_parse_cached(json, len, NULL, err);
}

th_collateral *th_collateral_parse_cached(const char *json, size_t len, th_x509_cache *cache,
                                          th_err *err) {
  cJSON *root = parse_object(json, len, err);
  if (!root) return NULL;
  raw_parts r = {0};
  th_collateral *c = NULL;
  r.parts.cache = cache;
  if (decode_parts(root, &r, err) == 0) c = th_collateral_from_parts(&r.parts, err);
  free(r.root_crl);
  free(r.pck_crl);
  cJSON_Delete(root);
  return c;
}

/* ---- serialising ----------------------------------------------------------------------------- */

/* The chain as PEM text, malloc'd. */
static char *chain_pem(STACK_OF(X509) *chain) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *out = NULL, *data = NULL;
  int ok = bio != NULL;
  for (int i = 0; ok && i < sk_X509_num(chain); i++)
    ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i)) == 1;
  long n = ok ? BIO_get_mem_data(bio, &data) : -1;
  if (n >= 0 && (out = malloc((size_t)n + 1))) {
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
  }
  BIO_free(bio);
  return out;
}

static int add_chain(cJSON *o, const char *key, STACK_OF(X509) *chain) {
  if (!chain) return 0;
  char *pem = chain_pem(chain);
  int ok = pem && cJSON_AddStringToObject(o, key, pem);
  free(pem);
  return ok ? 0 : -1;
}

static int add_hex(cJSON *o, const char *key, const uint8_t *b, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (!hex) return -1;
  th_hex_encode(b, n, hex);
  int ok = cJSON_AddStringToObject(o, key, hex) != NULL;
  free(hex);
  return ok ? 0 : -1;
}

static int add_crl(cJSON *o, const char *key, X509_CRL *crl) {
  unsigned char *der = NULL;
  int n = i2d_X509_CRL(crl, &der);
  int rc = n > 0 ? add_hex(o, key, der, (size_t)n) : -1;
  OPENSSL_free(der);
  return rc;
}

static int build_json(const th_collateral *c, cJSON *o) {
  if (add_chain(o, "pck_crl_issuer_chain", c->pck_crl_issuer_chain) ||
      add_crl(o, "root_ca_crl", c->root_ca_crl) || add_crl(o, "pck_crl", c->pck_crl) ||
      add_chain(o, "tcb_info_issuer_chain", c->tcb_info_issuer_chain) ||
      !cJSON_AddStringToObject(o, "tcb_info", c->tcb_info_json) ||
      add_hex(o, "tcb_info_signature", c->tcb_info_signature, 64) ||
      add_chain(o, "qe_identity_issuer_chain", c->qe_identity_issuer_chain) ||
      !cJSON_AddStringToObject(o, "qe_identity", c->qe_identity_json) ||
      add_hex(o, "qe_identity_signature", c->qe_identity_signature, 64) ||
      add_chain(o, "pck_certificate_chain", c->pck_certificate_chain))
    return -1;
  return 0;
}

char *th_collateral_to_json(const th_collateral *c, size_t *len, th_err *err) {
  cJSON *o = cJSON_CreateObject();
  char *text = (o && build_json(c, o) == 0) ? cJSON_PrintUnformatted(o) : NULL;
  char *out = NULL;
  size_t n = text ? strlen(text) : 0;
  if (text && (out = malloc(n + 1))) memcpy(out, text, n + 1); /* ours to free(), not cJSON's */
  cJSON_free(text);
  cJSON_Delete(o);
  if (!out) {
    th_err_set(err, TH_ENOMEM, "collateral: out of memory while serialising");
    return NULL;
  }
  if (len) *len = n;
  return out;
}
