/* core/tcb_info.h — parses the signed JSON texts a collateral carries: TCB info v3
 * (shared/specs/tdx-quote.md 2.2) into th_tcb_info and QE identity v2 (2.3) into th_qe_identity
 * (both declared in collateral.h). Used by core/collateral; the texts are untrusted.
 *
 * Keys are Intel's camelCase ones, exactly typed; unknown keys are ignored. The TCB levels come
 * out sorted canonically (spec 3.8 step 23); QE and module identity levels stay in JSON order.
 * Errors (TH_EBADDATA) start with "collateral: tcb_info: " / "collateral: qe_identity: " and
 * name the key and where it is: "missing \"pcesvn\" in tcbLevels[3].tcb".
 *
 * Ownership: a parsed struct owns malloc'd arrays; free them with th_tcb_info_clear /
 * th_qe_identity_clear (which zero the struct; a zeroed struct may be cleared again). On failure
 * the output is left cleared. */
#ifndef TH_TCB_INFO_H
#define TH_TCB_INFO_H

#include <stddef.h>

#include "collateral.h"
#include "error.h"

int th_tcb_info_parse(const char *json, size_t len, th_tcb_info *out, th_err *err);
void th_tcb_info_clear(th_tcb_info *info);

int th_qe_identity_parse(const char *json, size_t len, th_qe_identity *out, th_err *err);
void th_qe_identity_clear(th_qe_identity *id);

#endif
