/* core/sim_pki_collateral.c — the simulator's collateral JSON (shared/specs/tdx-quote.md 2.1,
 * 4.7, 4.8): issuer chains, CRLs as lowercase hex DER, and a TCB info and QE identity freshly
 * signed by the TCB Signing key for a window around `t`.
 *
 * The signed texts are compact JSON built with cJSON in the spec's key order (cJSON keeps
 * insertion order and prints integers without a fraction); the signature covers exactly the bytes
 * emitted. TCB levels are emitted already in canonical order (the npm reference does not sort).
 * The values agree with the QE report and PCK certificate so that the quotes come out UpToDate. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecdsa.h"
#include "sim_pki_internal.h"

#define DAY 86400
#define UP_TO_DATE_DATE "2024-03-13T00:00:00Z"
#define OUT_OF_DATE_DATE "2018-01-04T00:00:00Z"
#define SIM_ADVISORY "TEEHOST-SIM-SA-00001"

static void hex(const uint8_t *b, size_t n, char *out, int upper) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = digits[b[i] >> 4], out[2 * i + 1] = digits[b[i] & 15];
  out[2 * n] = 0;
}

/* Adds item under key (or to an array when key is NULL); clears *ok on any failure. */
static cJSON *add(cJSON *to, const char *key, cJSON *item, int *ok) {
  cJSON_bool added =
      item && to && (key ? cJSON_AddItemToObject(to, key, item) : cJSON_AddItemToArray(to, item));
  if (!added) {
    cJSON_Delete(item);
    *ok = 0;
    return NULL;
  }
  return item;
}

static cJSON *svn_array(const uint8_t svn[16], int *ok) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < 16; i++) {
    cJSON *c = add(a, NULL, cJSON_CreateObject(), ok);
    add(c, "svn", cJSON_CreateNumber(svn[i]), ok);
  }
  return a;
}

static void add_status(cJSON *level, const char *date, const char *status, const char *advisory,
                       int *ok) {
  add(level, "tcbDate", cJSON_CreateString(date), ok);
  add(level, "tcbStatus", cJSON_CreateString(status), ok);
  if (advisory) add(level, "advisoryIDs", cJSON_CreateStringArray(&advisory, 1), ok);
}

static void add_isv_level(cJSON *levels, int isvsvn, const char *date, const char *status,
                          int *ok) {
  cJSON *level = add(levels, NULL, cJSON_CreateObject(), ok);
  cJSON *tcb = add(level, "tcb", cJSON_CreateObject(), ok);
  add(tcb, "isvsvn", cJSON_CreateNumber(isvsvn), ok);
  add_status(level, date, status, NULL, ok);
}

static void add_tcb_level(cJSON *levels, const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16],
                          const char *date, const char *status, const char *advisory, int *ok) {
  cJSON *level = add(levels, NULL, cJSON_CreateObject(), ok);
  cJSON *tcb = add(level, "tcb", cJSON_CreateObject(), ok);
  add(tcb, "sgxtcbcomponents", svn_array(sgx, ok), ok);
  add(tcb, "pcesvn", cJSON_CreateNumber(pcesvn), ok);
  add(tcb, "tdxtcbcomponents", svn_array(tdx, ok), ok);
  add_status(level, date, status, advisory, ok);
}

/* mrsigner (zero), attributes (zero), attributesMask (all ones) of the TDX module. */
static void add_module_expectations(cJSON *o, int *ok) {
  static const uint8_t zero[48];
  char mrsigner[97];
  hex(zero, 48, mrsigner, 1);
  add(o, "mrsigner", cJSON_CreateString(mrsigner), ok);
  add(o, "attributes", cJSON_CreateString("0000000000000000"), ok);
  add(o, "attributesMask", cJSON_CreateString("FFFFFFFFFFFFFFFF"), ok);
}

static void add_header(cJSON *o, const char *id, int version, const char *issue, const char *next,
                       int *ok) {
  add(o, "id", cJSON_CreateString(id), ok);
  add(o, "version", cJSON_CreateNumber(version), ok);
  add(o, "issueDate", cJSON_CreateString(issue), ok);
  add(o, "nextUpdate", cJSON_CreateString(next), ok);
}

static cJSON *tcb_info(const char *issue, const char *next, int *ok) {
  static const uint8_t old_sgx[16] = {2, 2, 2, 2, 3, 1, 0, 5};
  static const uint8_t tdx_new[16] = {5, 0, 3}, tdx_old[16] = {5, 0, 2};
  cJSON *o = cJSON_CreateObject();
  add_header(o, "TDX", 3, issue, next, ok);
  add(o, "fmspc", cJSON_CreateString("000000000000"), ok);
  add(o, "pceId", cJSON_CreateString("0000"), ok);
  add(o, "tcbType", cJSON_CreateNumber(0), ok);
  add(o, "tcbEvaluationDataNumber", cJSON_CreateNumber(17), ok);
  add_module_expectations(add(o, "tdxModule", cJSON_CreateObject(), ok), ok);
  cJSON *ids = add(o, "tdxModuleIdentities", cJSON_CreateArray(), ok);
  cJSON *module = add(ids, NULL, cJSON_CreateObject(), ok);
  add(module, "id", cJSON_CreateString("TDX_01"), ok);
  add_module_expectations(module, ok);
  cJSON *module_levels = add(module, "tcbLevels", cJSON_CreateArray(), ok);
  add_isv_level(module_levels, 6, UP_TO_DATE_DATE, "UpToDate", ok);
  add_isv_level(module_levels, 2, "2023-08-09T00:00:00Z", "OutOfDate", ok);
  cJSON *levels = add(o, "tcbLevels", cJSON_CreateArray(), ok);
  add_tcb_level(levels, TH_SIM_CPUSVN, TH_SIM_PCESVN, tdx_new, UP_TO_DATE_DATE, "UpToDate", NULL,
                ok);
  add_tcb_level(levels, old_sgx, 5, tdx_old, OUT_OF_DATE_DATE, "OutOfDate", SIM_ADVISORY, ok);
  return o;
}

static cJSON *qe_identity(const th_sim_pki *pki, const char *issue, const char *next, int *ok) {
  char mrsigner[65];
  hex(pki->qe_mrsigner, 32, mrsigner, 1);
  cJSON *o = cJSON_CreateObject();
  add_header(o, "TD_QE", 2, issue, next, ok);
  add(o, "tcbEvaluationDataNumber", cJSON_CreateNumber(17), ok);
  add(o, "miscselect", cJSON_CreateString("00000000"), ok);
  add(o, "miscselectMask", cJSON_CreateString("FFFFFFFF"), ok);
  add(o, "attributes", cJSON_CreateString("11000000000000000000000000000000"), ok);
  add(o, "attributesMask", cJSON_CreateString("FBFFFFFFFFFFFFFF0000000000000000"), ok);
  add(o, "mrsigner", cJSON_CreateString(mrsigner), ok);
  add(o, "isvprodid", cJSON_CreateNumber(TH_SIM_QE_ISVPRODID), ok);
  add_isv_level(add(o, "tcbLevels", cJSON_CreateArray(), ok), TH_SIM_QE_ISVSVN, UP_TO_DATE_DATE,
                "UpToDate", ok);
  return o;
}

/* Prints `body` compact, signs the text with the TCB Signing key, and adds both to `out` under
 * key and key_signature. Takes ownership of body. */
static void add_signed(th_sim_pki *pki, cJSON *out, const char *key, const char *sig_key,
                       cJSON *body, int *ok, th_err *err) {
  char *text = *ok && body ? cJSON_PrintUnformatted(body) : NULL;
  uint8_t sig[64];
  char sig_hex[129];
  cJSON_Delete(body);
  if (!text) {
    *ok = 0;
    return;
  }
  if (th_ecdsa_sign_raw(pki->key[TH_SIM_TCB], (const uint8_t *)text, strlen(text), sig, err) == 0) {
    hex(sig, 64, sig_hex, 0);
    add(out, key, cJSON_CreateString(text), ok);
    add(out, sig_key, cJSON_CreateString(sig_hex), ok);
  } else {
    *ok = 0;
  }
  cJSON_free(text);
}

static void add_hex(cJSON *out, const char *key, const uint8_t *der, size_t len, int *ok) {
  char *h = malloc(2 * len + 1);
  if (h) hex(der, len, h, 0);
  add(out, key, h ? cJSON_CreateString(h) : NULL, ok);
  free(h);
}

static int format_time(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  return gmtime_r(&tt, &tm) && strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

/* The PCK CRL to publish: the stored one, or a fresh one listing the PCK leaf. */
static uint8_t *pck_crl_der(th_sim_pki *pki, int flags, size_t *len, th_err *err) {
  if (!(flags & TH_SIM_REVOKE_PCK)) {
    uint8_t *copy = malloc(pki->pck_crl_der_len);
    if (!copy) {
      th_err_set(err, TH_ENOMEM, "out of memory");
      return NULL;
    }
    memcpy(copy, pki->pck_crl_der, pki->pck_crl_der_len);
    *len = pki->pck_crl_der_len;
    return copy;
  }
  X509_CRL *crl = th_sim_make_crl(pki->pck_ca, pki->key[TH_SIM_PCK_CA], TH_SIM_SERIAL_PCK, err);
  uint8_t *der = crl ? th_sim_crl_der(crl, len, err) : NULL;
  X509_CRL_free(crl);
  return der;
}

char *th_sim_pki_collateral_json(th_sim_pki *pki, int64_t t, int flags, size_t *len, th_err *err) {
  char issue[32], next[32];
  if (t < DAY || t > INT64_MAX / 2 || format_time(t - DAY, issue) != 0 ||
      format_time(t + 30 * DAY, next) != 0) {
    th_err_set(err, TH_EINVAL, "simulator collateral: time %lld out of range", (long long)t);
    return NULL;
  }
  size_t crl_len = 0;
  uint8_t *crl = pck_crl_der(pki, flags, &crl_len, err);
  if (!crl) return NULL;
  int ok = 1;
  th_err sign_err = {0};
  cJSON *o = cJSON_CreateObject();
  add(o, "pck_crl_issuer_chain", cJSON_CreateString(pki->pck_crl_chain_pem), &ok);
  add_hex(o, "root_ca_crl", pki->root_crl_der, pki->root_crl_der_len, &ok);
  add_hex(o, "pck_crl", crl, crl_len, &ok);
  add(o, "tcb_info_issuer_chain", cJSON_CreateString(pki->tcb_chain_pem), &ok);
  add_signed(pki, o, "tcb_info", "tcb_info_signature", tcb_info(issue, next, &ok), &ok, &sign_err);
  add(o, "qe_identity_issuer_chain", cJSON_CreateString(pki->tcb_chain_pem), &ok);
  add_signed(pki, o, "qe_identity", "qe_identity_signature", qe_identity(pki, issue, next, &ok),
             &ok, &sign_err);
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
  size_t n = text ? strlen(text) : 0;
  char *json = text ? malloc(n + 1) : NULL; /* ours to free(), whatever cJSON's allocator */
  if (json) memcpy(json, text, n + 1);
  cJSON_free(text);
  cJSON_Delete(o);
  free(crl);
  if (!json) {
    if (sign_err.code && err)
      *err = sign_err;
    else
      th_err_set(err, TH_ENOMEM, "simulator collateral: out of memory");
    return NULL;
  }
  if (len) *len = n;
  return json;
}
