/* core/collateral.h — DCAP verification collateral: the JSON of shared/specs/tdx-quote.md 2.1
 * (dcap-qvl's QuoteCollateralV3, snake_case keys, byte fields as hex) parsed into OpenSSL objects,
 * plus the TCB info (2.2) and QE identity (2.3) it carries, parsed into plain structs.
 *
 * Ownership: th_collateral_parse() returns a collateral with refcount 1; th_collateral_ref()
 * adds a reference, th_collateral_unref() drops one and frees at zero (NULL ok). A collateral is
 * immutable after parsing except for `memo`, the verifier's cache of checks already passed (see
 * core/verify.h), so many quotes of one platform verify fast. Not thread-safe (one loop).
 *
 * The signed JSON texts (tcb_info, qe_identity) are kept byte for byte as received; signatures
 * are verified over those bytes, never over a re-serialisation (spec 2.4). */
#ifndef TH_COLLATERAL_H
#define TH_COLLATERAL_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum th_tcb_status {
  TH_TCB_UP_TO_DATE = 0,
  TH_TCB_SW_HARDENING_NEEDED,
  TH_TCB_CONFIGURATION_NEEDED,
  TH_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
  TH_TCB_OUT_OF_DATE,
  TH_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
  TH_TCB_REVOKED,
  TH_TCB_STATUS_COUNT
};
/* "UpToDate", "SWHardeningNeeded", … (the order above is the severity order). */
const char *th_tcb_status_name(int status);
/* The status for an exact name, or -1. */
int th_tcb_status_parse(const char *name);

typedef struct th_advisories {
  char **ids; /* malloc'd strings, e.g. "INTEL-SA-00615" */
  size_t n;
} th_advisories;

/* A level of a QE identity or a TDX module identity: matched on an ISVSVN. */
typedef struct th_isv_level {
  uint32_t isvsvn;
  int status; /* enum th_tcb_status */
  char tcb_date[32];
  th_advisories advisories;
} th_isv_level;

/* A platform TCB level. Component counts are kept as found, because a count other than 16 is a
 * verification error ("SGX component count mismatch"), not a parse error (dcap-qvl). */
typedef struct th_tcb_level {
  uint8_t sgx[16];
  size_t n_sgx;
  uint32_t pcesvn;
  uint8_t tdx[16];
  size_t n_tdx; /* 0 when absent (SGX) */
  int status;
  char tcb_date[32];
  th_advisories advisories;
} th_tcb_level;

typedef struct th_tdx_module_identity {
  char id[16]; /* "TDX_01" */
  uint8_t mrsigner[48];
  uint8_t attributes[8];
  uint8_t attributes_mask[8];
  th_isv_level *levels; /* JSON order */
  size_t nlevels;
} th_tdx_module_identity;

typedef struct th_tcb_info {
  char id[8]; /* "SGX" or "TDX" */
  int version;
  int64_t issue_date, next_update; /* unix seconds */
  uint8_t fmspc[6];
  uint8_t pce_id[2];
  int tcb_type;
  int tcb_evaluation_data_number;
  int has_tdx_module;
  uint8_t tdx_module_mrsigner[48];
  uint8_t tdx_module_attributes[8];
  uint8_t tdx_module_attributes_mask[8];
  th_tdx_module_identity *module_identities;
  size_t n_module_identities;
  th_tcb_level *levels; /* sorted canonically (spec 3.8 step 23) by the parser */
  size_t nlevels;
} th_tcb_info;

typedef struct th_qe_identity {
  char id[8]; /* "TD_QE", "QE", "QVE" */
  int version;
  int64_t issue_date, next_update;
  int tcb_evaluation_data_number;
  uint32_t miscselect, miscselect_mask; /* the 4 hex bytes read as u32 LE */
  uint8_t attributes[16], attributes_mask[16];
  uint8_t mrsigner[32];
  uint16_t isvprodid;
  th_isv_level *levels; /* JSON order */
  size_t nlevels;
} th_qe_identity;

typedef struct th_collateral {
  int refcount;
  X509_CRL *root_ca_crl;
  X509_CRL *pck_crl;
  STACK_OF(X509) *pck_crl_issuer_chain; /* may be NULL when absent (not used by verification) */
  STACK_OF(X509) *tcb_info_issuer_chain;
  STACK_OF(X509) *qe_identity_issuer_chain;
  STACK_OF(X509) *pck_certificate_chain; /* NULL unless the JSON had pck_certificate_chain */
  char *tcb_info_json; /* exact signed bytes, NUL-terminated */
  size_t tcb_info_len;
  uint8_t tcb_info_signature[64];
  char *qe_identity_json;
  size_t qe_identity_len;
  uint8_t qe_identity_signature[64];
  th_tcb_info tcb_info;
  th_qe_identity qe_identity;
  /* Owned by core/verify: its cache of checks already passed (opaque here). th_collateral_unref
   * calls memo_free(memo) when both are set. */
  void *memo;
  void (*memo_free)(void *memo);
} th_collateral;

/* Parses the 2.1 JSON object. Errors (TH_EBADDATA) name the key: "collateral: missing
 * \"tcb_info\"", "collateral: root_ca_crl: bad hex digit 'x' at 17", "collateral: tcb_info: bad
 * tcbStatus \"Fine\" in tcbLevels[2]", "collateral: tcb_info: issueDate is not an RFC 3339 time". */
th_collateral *th_collateral_parse(const char *json, size_t len, th_err *err);
/* The same with a certificate cache (core/x509_cache.h), for callers that parse many collaterals
 * of the same issuers. */
struct th_x509_cache;
th_collateral *th_collateral_parse_cached(const char *json, size_t len,
                                          struct th_x509_cache *cache, th_err *err);

/* Builds a collateral from the pieces a PCCS returns (2.5); the texts are copied. */
typedef struct th_collateral_parts {
  const char *pck_crl_issuer_chain; /* PEM, may be NULL */
  const uint8_t *root_ca_crl_der;
  size_t root_ca_crl_len;
  const uint8_t *pck_crl_der;
  size_t pck_crl_len;
  const char *tcb_info_issuer_chain; /* PEM */
  const char *tcb_info_json;         /* the exact signed text */
  size_t tcb_info_len;
  const uint8_t *tcb_info_signature; /* 64 bytes */
  const char *qe_identity_issuer_chain;
  const char *qe_identity_json;
  size_t qe_identity_len;
  const uint8_t *qe_identity_signature;
  const char *pck_certificate_chain; /* may be NULL */
  struct th_x509_cache *cache;       /* optional: certificates already decoded (x509_cache.h) */
} th_collateral_parts;
th_collateral *th_collateral_from_parts(const th_collateral_parts *parts, th_err *err);

/* Serialises back to the 2.1 JSON shape (lowercase hex, PEM chains, texts verbatim), malloc'd
 * NUL-terminated (free()). Round-trips through th_collateral_parse. */
char *th_collateral_to_json(const th_collateral *c, size_t *len, th_err *err);

th_collateral *th_collateral_ref(th_collateral *c);
void th_collateral_unref(th_collateral *c);

/* Parses "YYYY-MM-DDThh:mm:ssZ" (optional fraction, ignored) to unix seconds. */
int th_rfc3339_parse(const char *s, int64_t *out);
/* Formats unix seconds as "YYYY-MM-DDThh:mm:ssZ" into buf (>= 21 bytes). */
void th_rfc3339_format(int64_t t, char *buf);

#endif
