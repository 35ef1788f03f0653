/* core/verify.h — DCAP quote verification (dcap-qvl's algorithm, shared/specs/tdx-quote.md
 * section 3) with OpenSSL: trust anchor and CRLs, TCB info and QE identity (time, chain,
 * signature), PCK chain, QE report signature, attestation-key binding, QE identity policy, quote
 * signature, FMSPC, TCB level matching (SGX and TDX, with TDX module identities), status merging,
 * and TD/enclave attribute rules.
 *
 * Synchronous and CPU-only: collateral is given (core/collateral.h; fetch it with core/pccs.h).
 * `now` is an input, so results are reproducible. On failure the function returns -1, fills err
 * (TH_EVERIFY for a failed check, TH_EBADDATA for malformed input) with a message that starts with
 * the failed check's name ("quote signature: ISV enclave report signature is invalid",
 * "PCK chain: untrusted root"), and sets result->failed_check.
 *
 * Speed: checks of the collateral that depend only on the trust anchor and on `now` lying inside
 * the collateral's validity window are remembered in col->memo, so the second and later quotes
 * of a platform cost the PCK chain, two ECDSA verifications and the policy. */
#ifndef TH_VERIFY_H
#define TH_VERIFY_H

#include <openssl/x509.h>
#include <stdint.h>

#include "collateral.h"
#include "error.h"
#include "pck.h"
#include "quote.h"

/* Which check failed; th_verify_check_name() gives the name used as the message prefix. */
enum th_verify_check {
  TH_CHECK_NONE = 0,
  TH_CHECK_QUOTE_FORMAT,       /* "quote format": version, TEE type, key type, vendor */
  TH_CHECK_ROOT,               /* "root CA": anchor unusable, root CRL missing/bad/revoked */
  TH_CHECK_TCB_INFO,           /* "TCB info": time window, chain, signature, id/version */
  TH_CHECK_QE_IDENTITY,        /* "QE identity": time window, chain, signature, id/version */
  TH_CHECK_PCK_CHAIN,          /* "PCK chain": chain, CRLs, SGX extension */
  TH_CHECK_QE_REPORT_SIGNATURE,/* "QE report signature" */
  TH_CHECK_QE_HASH,            /* "QE report hash": attestation-key binding */
  TH_CHECK_QE_POLICY,          /* "QE identity policy": mrsigner, prodid, masks, isvsvn */
  TH_CHECK_QUOTE_SIGNATURE,    /* "quote signature" */
  TH_CHECK_FMSPC,              /* "FMSPC" */
  TH_CHECK_TCB_LEVEL,          /* "TCB level": no matching level, component counts */
  TH_CHECK_TDX_MODULE,         /* "TDX module": identity, mrsigner, attributes, isvsvn */
  TH_CHECK_TCB_STATUS,         /* "TCB status": Revoked */
  TH_CHECK_ATTRIBUTES,         /* "attributes": debug, reserved bits, SEPT_VE_DISABLE, service TD */
  TH_CHECK_COUNT
};
const char *th_verify_check_name(int check);

typedef struct th_verify_opts {
  X509 *root;      /* trust anchor (borrowed); NULL = Intel SGX Root CA, built in */
  int64_t now;     /* unix seconds */
  int allow_debug; /* accept a debug TD / debug enclave (the QE's debug bit is always fatal) */
  int allow_service_td; /* accept a non-zero MRSERVICETD (TD 1.5) */
  struct th_x509_cache *cache; /* optional: decoded certificates to reuse (core/x509_cache.h) */
} th_verify_opts;

typedef struct th_verify_result {
  int failed_check; /* enum th_verify_check; TH_CHECK_NONE on success */
  int status;       /* enum th_tcb_status: final = platform.merge(qe) */
  th_advisories advisories;
  int platform_status; /* TCB level merged with the TDX module level */
  th_advisories platform_advisories;
  int qe_status;
  th_advisories qe_advisories;
  th_pck_ext pck;   /* FMSPC, PPID, CPUSVN, PCESVN, PCEID of the PCK leaf */
  char tcb_date[32];
  int tcb_evaluation_data_number;
} th_verify_result;

int th_verify_quote(const th_quote *q, th_collateral *col, const th_verify_opts *opts,
                    th_verify_result *result, th_err *err);

/* Frees the advisory lists; the struct can be reused. */
void th_verify_result_clear(th_verify_result *r);

/* Intel SGX Root CA (DER, 659 bytes, sha256 44a0196b…74d3), built in. */
extern const uint8_t TH_INTEL_ROOT_CA_DER[];
extern const size_t TH_INTEL_ROOT_CA_DER_LEN;

#endif
