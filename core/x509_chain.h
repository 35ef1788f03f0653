/* core/x509_chain.h — certificate-chain checks for DCAP, on OpenSSL's verifier.
 *
 * dcap-qvl's rules (shared/specs/tdx-quote.md 3.1, 3.6): one trust anchor, the chain's other certs
 * as untrusted intermediates, both collateral CRLs, revocation checked for every certificate of
 * the path including the anchor (unknown status = failure, expired CRL = failure), time = `now`,
 * leaf not a CA, EKU (where present) must allow serverAuth. OpenSSL does most of it with
 * X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL; the rest is checked here.
 *
 * Failure messages are the reason only ("untrusted root (unable to get local issuer certificate
 * for CN=Intel SGX PCK Platform CA)", "certificate revoked: CN=… (serial 1A2B…)"); callers prefix
 * the check's name. Nothing is retained; all arguments are borrowed. */
#ifndef TH_X509_CHAIN_H
#define TH_X509_CHAIN_H

#include <openssl/x509.h>
#include <stdint.h>

#include "error.h"

/* Verifies chain[0] (leaf) up to `anchor`. On success *from and *until (may be NULL) receive the time
 * window in which every certificate and CRL used is valid, so the result can be reused for any
 * `now` inside it. Errors: TH_EVERIFY. */
int th_x509_verify_chain(STACK_OF(X509) *chain, X509 *anchor, X509_CRL *crl_a, X509_CRL *crl_b,
                         int64_t now, int64_t *from, int64_t *until, th_err *err);

/* The same, remembering a success in `cache` (core/x509_cache.h; NULL = none) under a key over
 * the DER of the anchor, every certificate and both CRLs; a later call with the same bytes and
 * `now` inside the remembered window succeeds without verifying again. */
struct th_x509_cache;
int th_x509_verify_chain_cached(STACK_OF(X509) *chain, X509 *anchor, X509_CRL *crl_a,
                                X509_CRL *crl_b, int64_t now, struct th_x509_cache *cache,
                                int64_t *from, int64_t *until, th_err *err);

/* Spec 3.1: one of the CRLs must be issued by the anchor (same subject DER), verify under its key,
 * be current (thisUpdate <= now < nextUpdate) and not list the anchor's serial. */
int th_x509_check_anchor_crl(X509 *anchor, X509_CRL *crl_a, X509_CRL *crl_b, int64_t now,
                             th_err *err);

/* ASN1_TIME to unix seconds (0 on failure). */
int64_t th_asn1_time_unix(const ASN1_TIME *t);

/* "CN=…" (or the one-line name) of a certificate's subject, into buf. */
void th_x509_subject_cn(X509 *x, char *buf, size_t len);

#endif
