/* core/sim_pki.h — the simulator's Intel-like DCAP PKI and quote generator (shared/specs/
 * tdx-quote.md section 4): root CA, PCK Platform CA, PCK leaf with the SGX extension, TCB Signing
 * certificate, two CRLs, a simulated QE (report signed by the PCK key, certifying a stable
 * attestation key), TCB info and QE identity signed by the TCB Signing key, and complete TDX v4/v5
 * quotes for caller-given measurements.
 *
 * Keys derive from a 32-byte seed (dstack's construction, spec 4.1/4.2); certificates and CRLs are
 * generated once and stored, because ECDSA signatures are randomised. Directory layout (created
 * 0700, files 0600, written atomically: temp file O_EXCL|O_NOFOLLOW, fsync, rename):
 *   DIR/seed (32 bytes, secret), DIR/root.der, DIR/pck_ca.der, DIR/pck.der, DIR/tcb.der,
 *   DIR/root_crl.der, DIR/pck_crl.der.
 * An existing directory or seed file readable by group/others is refused ("… is readable by
 * others: chmod 700 …"). The seed is wiped from memory after the keys are derived.
 *
 * Ownership: th_sim_pki_open returns an object the caller frees (th_sim_pki_free). Returned
 * buffers are malloc'd (free()) unless said borrowed. Synchronous (file I/O at open only). */
#ifndef TH_SIM_PKI_H
#define TH_SIM_PKI_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "quote.h"

typedef struct th_sim_pki th_sim_pki;

/* Opens the PKI stored in dir, or creates it there: from `seed` if not NULL, else from 32 random
 * bytes. With a seed given and a PKI already present whose seed differs, fails (TH_EINVAL). */
th_sim_pki *th_sim_pki_open(const char *dir, const uint8_t *seed, th_err *err);
void th_sim_pki_free(th_sim_pki *pki);

/* Borrowed, valid until th_sim_pki_free. */
X509 *th_sim_pki_root(const th_sim_pki *pki);
const uint8_t *th_sim_pki_root_der(const th_sim_pki *pki, size_t *len);

enum th_sim_collateral_flags {
  TH_SIM_REVOKE_PCK = 1, /* list the PCK leaf's serial in the PCK CRL (re-signed, not stored) */
};

/* The 2.1 collateral JSON (spec 4.7) with issueDate = t − 1 day, nextUpdate = t + 30 days;
 * TCB info and QE identity are re-signed on every call. */
char *th_sim_pki_collateral_json(th_sim_pki *pki, int64_t t, int flags, size_t *len, th_err *err);

/* What goes into a quote's TD report: the parser's own struct (core/quote.h), so a parsed quote's
 * fields and a generated one's are the same thing. th_sim_td_defaults() fills the spec 4.6
 * defaults (TEE_TCB_SVN 06 01 03, fixed MRSEAM, TDATTRIBUTES SEPT_VE_DISABLE, XFAM e7 02 06, the
 * rest zero); callers then set MRTD, RTMRs, REPORTDATA… and may change any field for tests.
 * TEE_TCB_SVN2 and MRSERVICETD are used by version 5 quotes only. */
typedef th_td_report th_sim_td;
void th_sim_td_defaults(th_sim_td *td);

/* A complete quote: version 4 (TD 1.0, 632 signed bytes) or 5 (TD 1.5 body type 3, 702 signed
 * bytes, TEE_TCB_SVN2/MRSERVICETD from td). One ECDSA signature per call; *out malloc'd. */
int th_sim_pki_quote(th_sim_pki *pki, const th_sim_td *td, int version, uint8_t **out,
                     size_t *out_len, th_err *err);

#endif
