/* core/tcb_policy.h — the policy half of DCAP verification (shared/specs/tdx-quote.md 3.8–3.12):
 * QE identity policy, platform TCB level matching, TDX module identity, status merging.
 * Pure functions over parsed data (no OpenSSL, no I/O); core/verify.c calls them in order.
 * Errors are TH_EVERIFY with the reason only; the caller prefixes the check's name.
 * A th_tcb_verdict's advisories are malloc'd: free with th_tcb_verdict_clear. */
#ifndef TH_TCB_POLICY_H
#define TH_TCB_POLICY_H

#include "collateral.h"
#include "error.h"
#include "pck.h"
#include "quote.h"

typedef struct th_tcb_verdict {
  int status; /* enum th_tcb_status */
  th_advisories advisories;
} th_tcb_verdict;

void th_tcb_verdict_clear(th_tcb_verdict *v);

/* a = a.merge(b): status becomes b's if strictly more severe; b's advisories not yet in a are
 * appended in order. */
int th_tcb_verdict_merge(th_tcb_verdict *a, const th_tcb_verdict *b, th_err *err);

/* Spec 3.10 on the QE report: mrsigner, debug, isvprodid, miscselect and attribute masks, then the
 * first identity level (JSON order) with ISVSVN >= its isvsvn. */
int th_qe_policy(const th_sgx_report *qe, const th_qe_identity *id, th_tcb_verdict *out,
                 th_err *err);

/* Spec 3.8 step 24: the first canonically sorted level the platform meets (PCK CPUSVN/PCESVN,
 * and for TDX the quote's TEE_TCB_SVN). *level receives it (borrowed from info). */
int th_tcb_match_level(const th_tcb_info *info, const th_pck_ext *pck, const th_quote *q,
                       const th_tcb_level **level, th_err *err);

/* Spec 3.11: TDX module checks. *has_verdict is 0 when no module identity applied. */
int th_tdx_module_check(const th_tcb_info *info, const th_td_report *td, th_tcb_verdict *out,
                        int *has_verdict, th_err *err);

#endif
