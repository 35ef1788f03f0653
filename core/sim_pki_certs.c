/* core/sim_pki_certs.c — the simulator's X.509 objects (shared/specs/tdx-quote.md 4.3, 4.4):
 * root CA, PCK Platform CA, PCK leaf with Intel's SGX extension, TCB Signing certificate, and the
 * two CRLs, built with OpenSSL's X509/X509_CRL builders.
 *
 * The profile follows Intel's real certificates closely enough that webpki-based verifiers
 * (dcap-qvl), OpenSSL's -x509_strict and Intel's QVL accept the chains: v3, serials 1..4, issuer
 * names copied from the CA's subject object (compared byte for byte), SKI/AKI key ids, only
 * basicConstraints and keyUsage critical, no EKU, a fixed validity 2020-01-01 .. 2049-12-31
 * (UTCTime). The SGX extension is hand-written DER: OpenSSL has no template for it. */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "sim_pki_internal.h"

const uint8_t TH_SIM_CPUSVN[16] = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t TH_SIM_FMSPC[6] = {0, 0, 0, 0, 0, 0};

#define NOT_BEFORE "200101000000Z" /* 2020-01-01T00:00:00Z */
#define NOT_AFTER "491231235959Z"  /* 2049-12-31T23:59:59Z */

static const struct {
  const char *cn, *basic_constraints, *key_usage;
  long serial;
} PROFILE[] = {
    [TH_SIM_ROOT] = {"teehost Simulated SGX Root CA", "critical,CA:TRUE,pathlen:1",
                     "critical,keyCertSign,cRLSign", TH_SIM_SERIAL_ROOT},
    [TH_SIM_PCK_CA] = {"teehost Simulated SGX PCK Platform CA", "critical,CA:TRUE,pathlen:0",
                       "critical,keyCertSign,cRLSign", TH_SIM_SERIAL_PCK_CA},
    [TH_SIM_PCK] = {"teehost Simulated SGX PCK Certificate", "critical,CA:FALSE",
                    "critical,digitalSignature,nonRepudiation", TH_SIM_SERIAL_PCK},
    [TH_SIM_TCB] = {"teehost Simulated SGX TCB Signing", "critical,CA:FALSE",
                    "critical,digitalSignature,nonRepudiation", TH_SIM_SERIAL_TCB},
};

static int ossl_fail(th_err *err, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  th_err_set(err, TH_ENOMEM, "simulator PKI: building %s failed: %s", what,
             why ? why : "OpenSSL error");
  ERR_clear_error();
  return -1;
}

X509_NAME *th_sim_subject(int role) {
  X509_NAME *n = X509_NAME_new();
  const unsigned char *cn = (const unsigned char *)PROFILE[role].cn;
  if (!n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, cn, -1, -1, 0) ||
      !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"teehost simulator",
                                  -1, -1, 0) ||
      !X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0)) {
    X509_NAME_free(n);
    return NULL;
  }
  return n;
}

/* RFC 5280 key identifier: SHA-1 of the subjectPublicKey bits of `cert`. */
static ASN1_OCTET_STRING *key_id(const X509 *cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
  if (!os || !X509_pubkey_digest(cert, EVP_sha1(), md, &len) ||
      !ASN1_OCTET_STRING_set(os, md, (int)len)) {
    ASN1_OCTET_STRING_free(os);
    return NULL;
  }
  return os;
}

static AUTHORITY_KEYID *authority_key_id(const X509 *issuer) {
  AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
  if (akid && !(akid->keyid = key_id(issuer))) {
    AUTHORITY_KEYID_free(akid);
    return NULL;
  }
  return akid;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  int ok = ext && X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

static int add_sgx_ext(X509 *x, const struct th_sim_pki *pki) {
  uint8_t der[1024];
  size_t len = th_sim_sgx_extension_der(pki, der, sizeof der);
  ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
  ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
  X509_EXTENSION *ext = NULL;
  int ok = len && obj && os && ASN1_OCTET_STRING_set(os, der, (int)len) &&
           (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0 /* not critical */, os)) &&
           X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(os);
  ASN1_OBJECT_free(obj);
  return ok;
}

/* AKI, SKI, keyUsage, basicConstraints (Intel's order), then the SGX extension for the leaf. */
static int add_extensions(X509 *x, X509 *issuer, int role, const struct th_sim_pki *pki) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  AUTHORITY_KEYID *akid = authority_key_id(issuer);
  ASN1_OCTET_STRING *skid = key_id(x);
  int ok = akid && skid &&
           X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1 &&
           X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) == 1 &&
           add_conf_ext(x, &ctx, NID_key_usage, PROFILE[role].key_usage) &&
           add_conf_ext(x, &ctx, NID_basic_constraints, PROFILE[role].basic_constraints) &&
           (role != TH_SIM_PCK || add_sgx_ext(x, pki));
  AUTHORITY_KEYID_free(akid);
  ASN1_OCTET_STRING_free(skid);
  return ok;
}

X509 *th_sim_make_cert(struct th_sim_pki *pki, int role, X509 *issuer, EVP_PKEY *issuer_key,
                       th_err *err) {
  X509 *x = X509_new();
  X509_NAME *subject = th_sim_subject(role);
  int ok = x && subject && X509_set_version(x, 2) &&
           ASN1_INTEGER_set(X509_get_serialNumber(x), PROFILE[role].serial) &&
           X509_set_subject_name(x, subject) &&
           X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) &&
           ASN1_TIME_set_string(X509_getm_notBefore(x), NOT_BEFORE) &&
           ASN1_TIME_set_string(X509_getm_notAfter(x), NOT_AFTER) &&
           X509_set_pubkey(x, pki->key[role]) &&
           add_extensions(x, issuer ? issuer : x, role, pki) &&
           X509_sign(x, issuer_key, EVP_sha256()) > 0;
  X509_NAME_free(subject);
  if (!ok) {
    X509_free(x);
    ossl_fail(err, PROFILE[role].cn);
    return NULL;
  }
  return x;
}

static int add_revoked(X509_CRL *crl, long serial, const ASN1_TIME *when) {
  X509_REVOKED *r = X509_REVOKED_new();
  ASN1_INTEGER *s = ASN1_INTEGER_new();
  int ok = r && s && ASN1_INTEGER_set(s, serial) && X509_REVOKED_set_serialNumber(r, s) &&
           X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)when) && X509_CRL_add0_revoked(crl, r);
  ASN1_INTEGER_free(s);
  if (!ok) X509_REVOKED_free(r);
  return ok && X509_CRL_sort(crl);
}

X509_CRL *th_sim_make_crl(X509 *ca, EVP_PKEY *ca_key, long revoked_serial, th_err *err) {
  X509_CRL *crl = X509_CRL_new();
  ASN1_TIME *this_update = ASN1_TIME_new(), *next_update = ASN1_TIME_new();
  ASN1_INTEGER *number = ASN1_INTEGER_new();
  AUTHORITY_KEYID *akid = authority_key_id(ca);
  int ok =
      crl && this_update && next_update && number && akid && X509_CRL_set_version(crl, 1) &&
      X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
      ASN1_TIME_set_string(this_update, NOT_BEFORE) &&
      ASN1_TIME_set_string(next_update, NOT_AFTER) && X509_CRL_set1_lastUpdate(crl, this_update) &&
      X509_CRL_set1_nextUpdate(crl, next_update) && ASN1_INTEGER_set(number, 1) &&
      X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) == 1 &&
      X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1 &&
      (revoked_serial <= 0 || add_revoked(crl, revoked_serial, this_update)) &&
      X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
  ASN1_TIME_free(this_update);
  ASN1_TIME_free(next_update);
  ASN1_INTEGER_free(number);
  AUTHORITY_KEYID_free(akid);
  if (!ok) {
    X509_CRL_free(crl);
    ossl_fail(err, "a CRL");
    return NULL;
  }
  return crl;
}

char *th_sim_pem_chain(X509 *const *certs, size_t n, size_t *len, th_err *err) {
  BIO *bio = BIO_new(BIO_s_mem());
  int ok = bio != NULL;
  for (size_t i = 0; ok && i < n; i++) ok = PEM_write_bio_X509(bio, certs[i]);
  char *data = NULL, *out = NULL;
  long size = ok ? BIO_get_mem_data(bio, &data) : 0;
  if (ok && size > 0 && (out = malloc((size_t)size + 1))) {
    memcpy(out, data, (size_t)size);
    out[size] = 0;
    if (len) *len = (size_t)size;
  }
  BIO_free(bio);
  if (!out) ossl_fail(err, "a PEM chain");
  return out;
}

uint8_t *th_sim_cert_der(X509 *x, size_t *len, th_err *err) {
  int n = i2d_X509(x, NULL);
  uint8_t *der = n > 0 ? malloc((size_t)n) : NULL, *p = der;
  if (!der || i2d_X509(x, &p) != n) {
    free(der);
    ossl_fail(err, "certificate DER");
    return NULL;
  }
  *len = (size_t)n;
  return der;
}

uint8_t *th_sim_crl_der(X509_CRL *crl, size_t *len, th_err *err) {
  int n = i2d_X509_CRL(crl, NULL);
  uint8_t *der = n > 0 ? malloc((size_t)n) : NULL, *p = der;
  if (!der || i2d_X509_CRL(crl, &p) != n) {
    free(der);
    ossl_fail(err, "CRL DER");
    return NULL;
  }
  *len = (size_t)n;
  return der;
}
