/* core/ratls.h — P-256 key encodings and dstack's RA-TLS certificates (shared/specs/dstack.md
 * 10), on OpenSSL 3. The attestation container (section 8) is core/attestation_container.h,
 * included here. Implemented in core/p256_keys.c, core/ratls_cert.c, core/ratls_read.c and
 * core/ratls_app_info.c.
 *
 * Issuing: the simulator's GetTlsKey/DeriveKey. A leaf is X.509 v3 with a random positive 16-byte
 * serial, subject CN = subject (UTF8String, "" allowed), SANs from alt_names (an IPv4/IPv6 literal
 * becomes an IP SAN, else DNS; printable ASCII only), keyUsage digitalSignature (critical), EKU
 * serverAuth/clientAuth as asked (no EKU extension when neither), subject and authority key
 * identifiers, validity as asked, signed ECDSA-SHA256 by the CA key, and the dstack extensions
 * (non-critical, OID arc 1.3.6.1.4.1.62397.1, extnValue = OCTET STRING { OCTET STRING { bytes } }),
 * each only when given, in this order: .1.3 app id, .1.4 special usage ("app:custom"),
 * .1.1/.1.2 legacy quote + event-log JSON, .1.8 attestation (a V0 container), .1.9 app info.
 *
 * Reading (teehost's client side, any dstack version): th_ratls_evidence takes a leaf and returns
 * its quote, event log, runtime events and report data from .1.8 (V0 SCALE container; V1 msgpack
 * is refused for now) or else from .1.1 + .1.2 (report data = the quote's REPORTDATA; "ELGZv1" +
 * gzip event logs are refused: no inflate is linked); th_ratls_check_binding checks report data ==
 * SHA-512("ratls-cert:" ‖ leaf SPKI DER) (section 10.4).
 *
 * Ownership: returned buffers/strings are malloc'd (free()); the PKCS#8 outputs hold a private
 * key, so wipe them (OPENSSL_cleanse) before free(). EVP_PKEY/X509 are the caller's. */
#ifndef TH_RATLS_H
#define TH_RATLS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "attestation_container.h"
#include "error.h"

/* A fresh random P-256 key (GetTlsKey), or NULL with err. */
EVP_PKEY *th_p256_generate(th_err *err);
/* PKCS#8 (v0, SEC1 inner key with the public key, no parameters: 138 bytes) DER and PEM (64-char
 * lines, "-----BEGIN PRIVATE KEY-----"). Both NUL-terminated for convenience. */
int th_p256_pkcs8_der(EVP_PKEY *key, uint8_t **der, size_t *len, th_err *err);
int th_p256_pkcs8_pem(EVP_PKEY *key, char **pem, size_t *len, th_err *err);
/* DER SubjectPublicKeyInfo (91 bytes for P-256). */
int th_p256_spki_der(EVP_PKEY *key, uint8_t **der, size_t *len, th_err *err);
/* A key from PKCS#8 PEM (the simulator's stored CA key); TH_EBADDATA "P-256 key: not a PEM
 * private key" / "P-256 key: the PEM key is not a P-256 key". Encrypted PEM is refused (never
 * prompts). */
EVP_PKEY *th_p256_from_pkcs8_pem(const char *pem, size_t len, th_err *err);

/* A self-signed CA certificate like the upstream simulator's "Dstack KMS CA": subject O = Dstack,
 * CN = cn; basicConstraints CA:TRUE, pathlen:1 (critical); keyUsage digitalSignature, keyCertSign,
 * cRLSign (critical); subject key identifier; notBefore 1975-01-01, notAfter now + 3650 days. */
X509 *th_ratls_ca_create(EVP_PKEY *ca_key, const char *cn, th_err *err);

typedef struct th_ratls_cert_request {
  const char *subject;           /* CN; "" allowed */
  const char *const *alt_names;  /* n_alt_names SANs */
  size_t n_alt_names;
  int server_auth, client_auth;  /* EKU bits */
  int has_not_before, has_not_after;
  uint64_t not_before, not_after; /* Unix seconds; defaults 1975-01-01 and now + 3650 days */
  const char *special_usage;     /* .1.4, e.g. "app:custom"; NULL = none */
  const uint8_t *attestation;    /* .1.8 container bytes; NULL = none */
  size_t attestation_len;
  const uint8_t *quote;          /* .1.1; NULL = none */
  size_t quote_len;
  const char *event_log_json;    /* .1.2 (with .1.1) */
  const uint8_t *app_info;       /* .1.9 msgpack bytes; NULL = none */
  size_t app_info_len;
  const uint8_t *app_id;         /* .1.3, 20 bytes; NULL = none */
} th_ratls_cert_request;

/* Issues a leaf for leaf_key signed by ca_key/ca_cert; *pem NUL-terminated. Errors TH_EINVAL:
 * "not_before must be earlier than not_after" (checked on the effective values, defaults
 * included), "not_before and not_after must be before year 10000", "certificate: the CA key does
 * not match the CA certificate", "alt_names[2]: not a printable ASCII name". */
int th_ratls_issue(const th_ratls_cert_request *req, EVP_PKEY *leaf_key, EVP_PKEY *ca_key,
                   X509 *ca_cert, char **pem, th_err *err);

/* PEM of any certificate (the CA in chains). */
int th_x509_pem(X509 *cert, char **pem, th_err *err);

/* Reads the evidence from a leaf (see top). TH_EBADDATA "RA-TLS: the certificate carries no
 * attestation (no extension 1.3.6.1.4.1.62397.1.8 or .1.1)". */
int th_ratls_evidence(X509 *leaf, th_attestation *out, th_err *err);
/* 0 when report_data == SHA-512("ratls-cert:" ‖ SPKI DER of leaf), else TH_EVERIFY. */
int th_ratls_check_binding(X509 *leaf, const uint8_t report_data[64], th_err *err);
/* Both bindings of section 10.4: a->report_data binds the leaf (as above) and the quote's
 * REPORTDATA equals a->report_data (else TH_EVERIFY "RA-TLS: the quote's REPORTDATA differs from
 * the attestation's report_data"); the quote is parsed, not verified. */
int th_ratls_check_attestation(X509 *leaf, const th_attestation *a, th_err *err);

/* The .1.9 app-info msgpack (spec 10.3) as dstack v0.5.6-v0.5.11 writes it (rmp_serde::to_vec):
 * fixarray(8) of bin8/16/32: app_id, compose_hash, instance_id, device_id, mr_system,
 * mr_aggregated, os_image_hash, key_provider_info. A NULL field with length 0 is an empty bin;
 * each field at most 1 MiB. *out is malloc'd (free()). */
typedef struct th_app_info {
  const uint8_t *app_id; size_t app_id_len;
  const uint8_t *compose_hash; size_t compose_hash_len;
  const uint8_t *instance_id; size_t instance_id_len;
  const uint8_t *device_id; size_t device_id_len;
  const uint8_t *mr_system; size_t mr_system_len;
  const uint8_t *mr_aggregated; size_t mr_aggregated_len;
  const uint8_t *os_image_hash; size_t os_image_hash_len;
  const uint8_t *key_provider_info; size_t key_provider_info_len;
} th_app_info;
int th_app_info_msgpack(const th_app_info *info, uint8_t **out, size_t *len, th_err *err);

#endif
