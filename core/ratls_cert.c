/* core/ratls_cert.c — issuing dstack-style certificates (see ratls.h): the simulator's CA and the
 * RA-TLS leaves of GetTlsKey/DeriveKey, shared/specs/dstack.md 10.2-10.3, on OpenSSL's X509 API.
 *
 * The leaf mirrors what dstack's rcgen-based issuer writes: CN, SANs (IP literal → IP SAN, else
 * DNS), keyUsage digitalSignature (critical), EKU only when asked, the validity asked for, and
 * each dstack extension as a non-critical extnValue OCTET STRING { OCTET STRING { bytes } }. A
 * random positive 16-byte serial; subject/authority key identifiers are added. */
#include "ratls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATLS_ARC "1.3.6.1.4.1.62397.1."
#define DEFAULT_NOT_BEFORE 157766400u /* 1975-01-01T00:00:00Z, rcgen's default */
#define MAX_TIME 253402300799u        /* 9999-12-31T23:59:59Z, the last X.509 can say */

static int ssl_fail(th_err *err, const char *what) {
  ERR_clear_error();
  return th_err_set(err, TH_ENOMEM, "certificate: %s failed", what);
}

static int set_serial(X509 *cert) {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof b) != 1) return -1;
  b[0] = (uint8_t)((b[0] & 0x7f) | 0x40); /* positive, and exactly 16 bytes in DER */
  BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
  int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  return ok ? 0 : -1;
}

static int add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
  int ok = ext && X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

/* A dstack extension: extnValue = DER OCTET STRING { bytes }, non-critical. */
static int add_dstack_ext(X509 *cert, const char *oid_tail, const void *bytes, size_t len) {
  char oid_txt[40];
  snprintf(oid_txt, sizeof oid_txt, RATLS_ARC "%s", oid_tail);
  ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
  ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
  X509_EXTENSION *ext = NULL;
  unsigned char *der = NULL;
  int der_len = -1, ok = 0;
  if (oid && inner && outer && len <= INT32_MAX &&
      ASN1_OCTET_STRING_set(inner, bytes, (int)len) &&
      (der_len = i2d_ASN1_OCTET_STRING(inner, &der)) > 0) {
    ASN1_STRING_set0(outer, der, der_len); /* outer owns der now */
    der = NULL;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, outer);
    ok = ext && X509_add_ext(cert, ext, -1);
  }
  OPENSSL_free(der);
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(outer);
  ASN1_OCTET_STRING_free(inner);
  ASN1_OBJECT_free(oid);
  return ok ? 0 : -1;
}

/* A UTF8String attribute as given: not through OpenSSL's string table, which would refuse an empty
 * or > 64-character CN that dstack (rcgen) writes as asked. */
static int add_name(X509_NAME *name, const char *field, const char *value) {
  size_t len = strlen(value);
  if (len > INT32_MAX) return -1;
  return X509_NAME_add_entry_by_txt(name, field, V_ASN1_UTF8STRING, (const unsigned char *)value,
                                    (int)len, -1, 0)
             ? 0
             : -1;
}

static int set_validity(X509 *cert, uint64_t not_before, uint64_t not_after) {
  return ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) &&
                 ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after)
             ? 0
             : -1;
}

static uint64_t ten_years_from_now(void) { return (uint64_t)time(NULL) + 3650ull * 86400; }

/* ---- CA ------------------------------------------------------------------------------------ */

static int fill_ca(X509 *cert, EVP_PKEY *key, const char *cn) {
  X509_NAME *name = X509_get_subject_name(cert);
  X509V3_CTX ctx;
  if (!X509_set_version(cert, X509_VERSION_3) || set_serial(cert) ||
      add_name(name, "O", "Dstack") || add_name(name, "CN", cn) ||
      !X509_set_issuer_name(cert, name) ||
      set_validity(cert, DEFAULT_NOT_BEFORE, ten_years_from_now()) ||
      !X509_set_pubkey(cert, key))
    return -1;
  X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
  if (add_conf_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") ||
      add_conf_ext(cert, &ctx, NID_subject_key_identifier, "hash") ||
      add_conf_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:1"))
    return -1;
  return X509_sign(cert, key, EVP_sha256()) > 0 ? 0 : -1;
}

X509 *th_ratls_ca_create(EVP_PKEY *ca_key, const char *cn, th_err *err) {
  if (!ca_key || !cn) {
    th_err_set(err, TH_EINVAL, "CA certificate: key and CN are required");
    return NULL;
  }
  X509 *cert = X509_new();
  if (!cert || fill_ca(cert, ca_key, cn)) {
    X509_free(cert);
    ssl_fail(err, "CA creation");
    return NULL;
  }
  return cert;
}

/* ---- leaf ---------------------------------------------------------------------------------- */

static int validity(const th_ratls_cert_request *req, uint64_t *nb, uint64_t *na, th_err *err) {
  *nb = req->has_not_before ? req->not_before : DEFAULT_NOT_BEFORE;
  *na = req->has_not_after ? req->not_after : ten_years_from_now();
  if (*nb > MAX_TIME || *na > MAX_TIME)
    return th_err_set(err, TH_EINVAL, "not_before and not_after must be before year 10000");
  if (*nb >= *na) return th_err_set(err, TH_EINVAL, "not_before must be earlier than not_after");
  return 0;
}

/* SANs: an IP literal (v4 or v6) becomes an IP SAN, anything else a DNS name (dstack >= 0.5.11). */
static int add_sans(X509 *cert, const char *const *names, size_t n, th_err *err) {
  if (n == 0) return 0;
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  int ok = gens != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    const char *s = names[i] ? names[i] : "";
    for (const char *p = s; *p; p++)
      if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20) {
        GENERAL_NAMES_free(gens);
        return th_err_set(err, TH_EINVAL, "alt_names[%zu]: not a printable ASCII name", i);
      }
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
    ERR_clear_error();
    if (gen && ip) {
      GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
    } else if (gen) {
      ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
      ok = dns && ASN1_STRING_set(dns, s, (int)strlen(s));
      if (ok) GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
      else ASN1_IA5STRING_free(dns);
    }
    ok = ok && gen && sk_GENERAL_NAME_push(gens, gen);
    if (!ok) GENERAL_NAME_free(gen);
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) == 1;
  GENERAL_NAMES_free(gens);
  return ok ? 0 : ssl_fail(err, "subjectAltName");
}

static int add_usage(X509 *cert, X509V3_CTX *ctx, const th_ratls_cert_request *req) {
  const char *eku = req->server_auth && req->client_auth ? "serverAuth,clientAuth"
                    : req->server_auth                 ? "serverAuth"
                    : req->client_auth                 ? "clientAuth"
                                                       : NULL;
  if (add_conf_ext(cert, ctx, NID_key_usage, "critical,digitalSignature")) return -1;
  if (eku && add_conf_ext(cert, ctx, NID_ext_key_usage, eku)) return -1;
  return add_conf_ext(cert, ctx, NID_subject_key_identifier, "hash") ||
                 add_conf_ext(cert, ctx, NID_authority_key_identifier, "keyid:always")
             ? -1
             : 0;
}

static int add_dstack(X509 *cert, const th_ratls_cert_request *req) {
  const char *log = req->event_log_json;
  if (req->app_id && add_dstack_ext(cert, "3", req->app_id, 20)) return -1;
  if (req->special_usage &&
      add_dstack_ext(cert, "4", req->special_usage, strlen(req->special_usage)))
    return -1;
  if (req->quote && (add_dstack_ext(cert, "1", req->quote, req->quote_len) ||
                     add_dstack_ext(cert, "2", log ? log : "", log ? strlen(log) : 0)))
    return -1;
  if (req->attestation && add_dstack_ext(cert, "8", req->attestation, req->attestation_len))
    return -1;
  if (req->app_info && add_dstack_ext(cert, "9", req->app_info, req->app_info_len)) return -1;
  return 0;
}

static int fill_leaf(X509 *cert, const th_ratls_cert_request *req, EVP_PKEY *leaf_key,
                     EVP_PKEY *ca_key, X509 *ca_cert, uint64_t nb, uint64_t na, th_err *err) {
  X509V3_CTX ctx;
  if (!X509_set_version(cert, X509_VERSION_3) || set_serial(cert) ||
      add_name(X509_get_subject_name(cert), "CN", req->subject ? req->subject : "") ||
      !X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)) ||
      set_validity(cert, nb, na) || !X509_set_pubkey(cert, leaf_key))
    return ssl_fail(err, "leaf fields");
  if (add_sans(cert, req->alt_names, req->n_alt_names, err)) return -1;
  X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
  if (add_usage(cert, &ctx, req)) return ssl_fail(err, "key usage extensions");
  if (add_dstack(cert, req)) return ssl_fail(err, "dstack extensions");
  if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) return ssl_fail(err, "signing");
  return 0;
}

int th_ratls_issue(const th_ratls_cert_request *req, EVP_PKEY *leaf_key, EVP_PKEY *ca_key,
                   X509 *ca_cert, char **pem, th_err *err) {
  uint64_t nb, na;
  if (!req || !leaf_key || !ca_key || !ca_cert || !pem)
    return th_err_set(err, TH_EINVAL, "certificate: request, keys and CA are required");
  if (validity(req, &nb, &na, err)) return -1;
  if (X509_check_private_key(ca_cert, ca_key) != 1) {
    ERR_clear_error();
    return th_err_set(err, TH_EINVAL, "certificate: the CA key does not match the CA certificate");
  }
  X509 *cert = X509_new();
  if (!cert) return th_err_set(err, TH_ENOMEM, "certificate: out of memory");
  int rc = fill_leaf(cert, req, leaf_key, ca_key, ca_cert, nb, na, err);
  if (rc == 0) rc = th_x509_pem(cert, pem, err);
  X509_free(cert);
  return rc;
}

int th_x509_pem(X509 *cert, char **pem, th_err *err) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *data;
  long n;
  if (!cert || !bio || PEM_write_bio_X509(bio, cert) != 1 ||
      (n = BIO_get_mem_data(bio, &data)) <= 0) {
    BIO_free(bio);
    return ssl_fail(err, "PEM encoding");
  }
  char *copy = malloc((size_t)n + 1);
  if (copy) {
    memcpy(copy, data, (size_t)n);
    copy[n] = 0;
  }
  BIO_free(bio);
  if (!copy) return th_err_set(err, TH_ENOMEM, "certificate: out of memory");
  *pem = copy;
  return 0;
}
