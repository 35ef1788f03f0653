/* core/pck.h — the PCK certificate side of DCAP: PEM chains as carried in quotes and collateral,
 * and the Intel SGX extension (OID 1.2.840.113741.1.13.1) of a PCK leaf certificate.
 *
 * Spec: shared/specs/tdx-quote.md 1.8 (PEM chain with a trailing NUL), 3.9 (the extension).
 * X.509 and PEM are OpenSSL's; the SGX extension's DER is walked here with bounded reads because
 * OpenSSL has no template for it. All inputs are untrusted. */
#ifndef TH_PCK_H
#define TH_PCK_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Parses a PEM certificate chain (leaf first). Ignores a trailing NUL and anything after the last
 * END line; clears OpenSSL's error queue. Returns a new stack (free with
 * sk_X509_pop_free(chain, X509_free)) of at least one certificate, or NULL with TH_EBADDATA:
 * "<what>: no certificate in the PEM chain" / "<what>: certificate 2 of the PEM chain is malformed". */
STACK_OF(X509) *th_pem_chain_parse(const char *pem, size_t len, const char *what, th_err *err);

/* The same, decoding each certificate block at most once across calls: blocks already in `cache`
 * (core/x509_cache.h; NULL = no cache) are shared, new ones are added. */
struct th_x509_cache;
STACK_OF(X509) *th_pem_chain_parse_cached(const char *pem, size_t len, const char *what,
                                          struct th_x509_cache *cache, th_err *err);

/* One certificate from DER (NULL + TH_EBADDATA on failure). */
X509 *th_x509_from_der(const uint8_t *der, size_t len, const char *what, th_err *err);
X509_CRL *th_crl_from_der(const uint8_t *der, size_t len, const char *what, th_err *err);

typedef struct th_pck_ext {
  uint8_t ppid[16];
  uint8_t cpusvn[16];    /* .2.18: what TCB matching compares */
  uint8_t comp_svn[16];  /* .2.1 … .2.16 (Intel compares these; dcap-qvl does not) */
  uint16_t pcesvn;       /* .2.17 */
  uint8_t pceid[2];      /* .3 */
  uint8_t fmspc[6];      /* .4 */
  int sgx_type;          /* .5: 0 standard, 1 scalable, 2 scalable with integrity */
  int has_platform_instance_id;
  uint8_t platform_instance_id[16]; /* .6, Platform-CA certs only */
} th_pck_ext;

/* Reads the SGX extension of a PCK leaf. Fails with TH_EBADDATA naming the missing or malformed
 * entry: "PCK certificate: SGX extension missing", "PCK certificate: FMSPC must be 6 bytes (got 5)",
 * "PCK certificate: SGX extension appears twice". */
int th_pck_ext_parse(X509 *leaf, th_pck_ext *out, th_err *err);

/* "platform" or "processor": which PCK CA issued the leaf (issuer CN contains "Processor" →
 * processor; else "Platform" → platform; else processor). Used for PCCS pckcrl?ca=. */
const char *th_pck_ca_kind(X509 *leaf);

#endif
