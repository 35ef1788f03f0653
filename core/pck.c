/* core/pck.c — PEM certificate chains and the Intel SGX extension of PCK leaf certificates.
 *
 * PEM, X.509 and CRL decoding are OpenSSL's. The SGX extension (OID 1.2.840.113741.1.13.1,
 * shared/specs/tdx-quote.md 3.9) is walked by hand because OpenSSL has no ASN.1 template for
 * Intel's structure: a SEQUENCE OF SEQUENCE { OID, value }, where the TCB entry nests another
 * such list. Each TLV header is read with ASN1_get_object, bounded by the bytes that remain of
 * its parent; every length is untrusted. Entries are matched by OID, not by position (as
 * dcap-qvl); unknown entries are skipped, a known one that appears twice is an error. */
#include "pck.h"

#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <string.h>

#include "x509_cache.h"

/* ---- PEM chains and DER objects ------------------------------------------------------------ */

static const char PEM_BEGIN[] = "-----BEGIN CERTIFICATE-----";
static const char PEM_END[] = "-----END CERTIFICATE-----";

static size_t skip_space(const char *p, size_t i, size_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
  return i;
}

/* Strict: the text is certificate blocks separated by white space and nothing else, and every
 * block must decode. OpenSSL's reader alone would skip a block whose BEGIN line is damaged, which
 * would let a changed byte in the chain go unnoticed. */
/* One BEGIN..END block: from the cache, or decoded (and cached). */
static X509 *read_block(const char *block, size_t len, th_x509_cache *cache) {
  uint8_t key[32];
  if (cache) {
    SHA256((const uint8_t *)block, len, key);
    X509 *hit = th_x509_cache_get(cache, key);
    if (hit) return hit;
  }
  BIO *bio = BIO_new_mem_buf(block, (int)len);
  X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  ERR_clear_error();
  if (x && cache) th_x509_cache_put(cache, key, x);
  return x;
}

static int read_chain(const char *pem, size_t n, STACK_OF(X509) *chain, const char *what,
                      th_x509_cache *cache, th_err *err) {
  size_t i = skip_space(pem, 0, n);
  while (i < n) {
    int idx = sk_X509_num(chain) + 1;
    size_t blen = sizeof PEM_BEGIN - 1, elen = sizeof PEM_END - 1;
    if (n - i < blen || memcmp(pem + i, PEM_BEGIN, blen) != 0)
      return th_err_set(err, TH_EBADDATA, "%s: unexpected text at byte %zu (want %s)", what, i,
                        PEM_BEGIN);
    const char *end = memmem(pem + i + blen, n - i - blen, PEM_END, elen); /* after BEGIN */
    if (!end) return th_err_set(err, TH_EBADDATA, "%s: certificate %d has no END line", what, idx);
    /* the body between the two lines is base64 only: a damaged END line must not let one
     * block swallow the next certificate */
    if (memmem(pem + i + blen, (size_t)(end - pem) - i - blen, "-----", 5))
      return th_err_set(err, TH_EBADDATA, "%s: certificate %d of the PEM chain is malformed", what,
                        idx);
    size_t stop = (size_t)(end - pem) + elen;
    X509 *x = read_block(pem + i, stop - i, cache);
    if (!x)
      return th_err_set(err, TH_EBADDATA, "%s: certificate %d of the PEM chain is malformed", what,
                        idx);
    if (!sk_X509_push(chain, x)) {
      X509_free(x);
      return th_err_set(err, TH_ENOMEM, "%s: out of memory", what);
    }
    i = skip_space(pem, stop, n);
  }
  if (sk_X509_num(chain) == 0)
    return th_err_set(err, TH_EBADDATA, "%s: no certificate in the PEM chain", what);
  return 0;
}

STACK_OF(X509) *th_pem_chain_parse(const char *pem, size_t len, const char *what, th_err *err) {
  return th_pem_chain_parse_cached(pem, len, what, NULL, err);
}

STACK_OF(X509) *th_pem_chain_parse_cached(const char *pem, size_t len, const char *what,
                                          th_x509_cache *cache, th_err *err) {
  /* A PEM chain is text: the quote's trailing NUL (and anything after it) is not part of it. */
  const char *nul = pem ? memchr(pem, '\0', len) : NULL;
  size_t n = pem ? (nul ? (size_t)(nul - pem) : len) : 0;
  if (n > INT_MAX) {
    th_err_set(err, TH_EBADDATA, "%s: PEM chain too large (%zu bytes)", what, n);
    return NULL;
  }
  STACK_OF(X509) *chain = sk_X509_new_null();
  int rc = -1;
  ERR_clear_error();
  if (!chain)
    th_err_set(err, TH_ENOMEM, "%s: out of memory", what);
  else
    rc = read_chain(pem, n, chain, what, cache, err);
  if (rc != 0) {
    sk_X509_pop_free(chain, X509_free);
    return NULL;
  }
  return chain;
}

X509 *th_x509_from_der(const uint8_t *der, size_t len, const char *what, th_err *err) {
  const unsigned char *p = der;
  X509 *x = (der && len <= LONG_MAX) ? d2i_X509(NULL, &p, (long)len) : NULL;
  ERR_clear_error();
  if (!x) {
    th_err_set(err, TH_EBADDATA, "%s: not a DER certificate", what);
    return NULL;
  }
  if (p != der + len) {
    th_err_set(err, TH_EBADDATA, "%s: %zu bytes after the DER certificate", what,
               (size_t)(der + len - p));
    X509_free(x);
    return NULL;
  }
  return x;
}

X509_CRL *th_crl_from_der(const uint8_t *der, size_t len, const char *what, th_err *err) {
  const unsigned char *p = der;
  X509_CRL *crl = (der && len <= LONG_MAX) ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;
  ERR_clear_error();
  if (!crl) {
    th_err_set(err, TH_EBADDATA, "%s: not a DER CRL", what);
    return NULL;
  }
  if (p != der + len) {
    th_err_set(err, TH_EBADDATA, "%s: %zu bytes after the DER CRL", what,
               (size_t)(der + len - p));
    X509_CRL_free(crl);
    return NULL;
  }
  return crl;
}

/* ---- bounded DER reading ------------------------------------------------------------------- */

/* A window of DER bytes still to read: [p, end). */
typedef struct der {
  const unsigned char *p, *end;
} der;

/* Takes the next TLV from c, which must have universal tag `tag` (constructed exactly when it is
 * a SEQUENCE, definite length, inside c). Its content becomes `out`. */
static int der_take(der *c, int tag, der *out) {
  if (c->p >= c->end) return -1;
  const unsigned char *q = c->p;
  long len = 0;
  int t = 0, cls = 0;
  int ret = ASN1_get_object(&q, &len, &t, &cls, (long)(c->end - c->p));
  int constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
  if ((ret & 0x80) || (ret & 0x01) || cls != V_ASN1_UNIVERSAL || t != tag) return -1;
  if (constructed != (tag == V_ASN1_SEQUENCE)) return -1;
  if (len < 0 || q > c->end || len > c->end - q) return -1;
  out->p = q;
  out->end = q + len;
  c->p = q + len;
  return 0;
}

/* A non-negative DER INTEGER/ENUMERATED (by tag) of at most `max`. */
static int der_take_uint(der *c, int tag, uint32_t max, uint32_t *out) {
  der v;
  if (der_take(c, tag, &v) != 0 || v.p == v.end || (v.p[0] & 0x80)) return -1;
  uint64_t x = 0;
  for (const unsigned char *q = v.p; q < v.end; q++) {
    x = (x << 8) | *q;
    if (x > max) return -1;
  }
  *out = (uint32_t)x;
  return 0;
}

/* The last arc of `oid` when it is `prefix` plus one arc below 128, else 0. */
static int oid_arc(const der *oid, const unsigned char *prefix, size_t plen) {
  size_t n = (size_t)(oid->end - oid->p);
  if (n != plen + 1 || memcmp(oid->p, prefix, plen) != 0 || oid->p[plen] >= 0x80) return 0;
  return oid->p[plen];
}

/* ---- the SGX extension --------------------------------------------------------------------- */

/* Content bytes of OID 1.2.840.113741.1.13.1, and of its TCB entry .2. */
static const unsigned char SGX_OID[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
static const unsigned char TCB_OID[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01, 0x02};

static const char *const ENTRY_NAME[] = {
    NULL, "PPID", "TCB", "PCE-ID", "FMSPC", "SGX type", "platform instance ID", "configuration"};
#define N_ENTRIES 8

#define PCK "PCK certificate: "

static int take_octets(der *c, uint8_t *dst, size_t n, const char *name, th_err *err) {
  der v;
  if (der_take(c, V_ASN1_OCTET_STRING, &v) != 0)
    return th_err_set(err, TH_EBADDATA, PCK "%s is not an OCTET STRING", name);
  size_t got = (size_t)(v.end - v.p);
  if (got != n)
    return th_err_set(err, TH_EBADDATA, PCK "%s must be %zu bytes (got %zu)", name, n, got);
  memcpy(dst, v.p, n);
  return 0;
}

/* One entry of the TCB list: .2.1–.2.16 component SVNs, .2.17 PCESVN, .2.18 CPUSVN. */
static int tcb_entry(int arc, der *entry, th_pck_ext *out, th_err *err) {
  uint32_t v = 0;
  if (arc == 18) return take_octets(entry, out->cpusvn, 16, "CPUSVN", err);
  if (arc == 17) {
    if (der_take_uint(entry, V_ASN1_INTEGER, 0xFFFF, &v) != 0)
      return th_err_set(err, TH_EBADDATA, PCK "PCESVN is not an INTEGER in 0..65535");
    out->pcesvn = (uint16_t)v;
    return 0;
  }
  if (der_take_uint(entry, V_ASN1_INTEGER, 0xFF, &v) != 0)
    return th_err_set(err, TH_EBADDATA, PCK "TCB component %d SVN is not an INTEGER in 0..255",
                      arc);
  out->comp_svn[arc - 1] = (uint8_t)v;
  return 0;
}

static int parse_tcb(der *value, th_pck_ext *out, th_err *err) {
  der list, entry, oid;
  uint32_t seen = 0;
  if (der_take(value, V_ASN1_SEQUENCE, &list) != 0)
    return th_err_set(err, TH_EBADDATA, PCK "TCB entry is not a SEQUENCE");
  for (int i = 1; list.p < list.end; i++) {
    if (der_take(&list, V_ASN1_SEQUENCE, &entry) != 0 ||
        der_take(&entry, V_ASN1_OBJECT, &oid) != 0)
      return th_err_set(err, TH_EBADDATA, PCK "TCB entry %d is malformed", i);
    int arc = oid_arc(&oid, TCB_OID, sizeof TCB_OID);
    if (arc < 1 || arc > 18) continue; /* not ours: skip */
    if (seen & (1u << arc))
      return th_err_set(err, TH_EBADDATA, PCK "TCB entry .2.%d appears twice", arc);
    seen |= 1u << arc;
    if (tcb_entry(arc, &entry, out, err) != 0) return -1;
  }
  if (!(seen & (1u << 17))) return th_err_set(err, TH_EBADDATA, PCK "PCESVN missing");
  if (!(seen & (1u << 18))) return th_err_set(err, TH_EBADDATA, PCK "CPUSVN missing");
  return 0;
}

static int parse_entry(int arc, der *value, th_pck_ext *out, th_err *err) {
  uint32_t v = 0;
  switch (arc) {
  case 1: return take_octets(value, out->ppid, 16, "PPID", err);
  case 2: return parse_tcb(value, out, err);
  case 3: return take_octets(value, out->pceid, 2, "PCE-ID", err);
  case 4: return take_octets(value, out->fmspc, 6, "FMSPC", err);
  case 5:
    if (der_take_uint(value, V_ASN1_ENUMERATED, 0xFF, &v) != 0)
      return th_err_set(err, TH_EBADDATA, PCK "SGX type is not an ENUMERATED in 0..255");
    out->sgx_type = (int)v;
    return 0;
  case 6:
    out->has_platform_instance_id = 1;
    return take_octets(value, out->platform_instance_id, 16, "platform instance ID", err);
  default: return 0; /* .7 configuration: not used */
  }
}

/* The extension's DER (the content of its OCTET STRING), checking it occurs exactly once. */
static int find_ext(X509 *leaf, der *out, th_err *err) {
  ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
  if (!obj) return th_err_set(err, TH_ENOMEM, PCK "out of memory");
  int i = X509_get_ext_by_OBJ(leaf, obj, -1);
  int again = i >= 0 ? X509_get_ext_by_OBJ(leaf, obj, i) : -1;
  ASN1_OBJECT_free(obj);
  if (i < 0) return th_err_set(err, TH_EBADDATA, PCK "SGX extension missing");
  if (again >= 0) return th_err_set(err, TH_EBADDATA, PCK "SGX extension appears twice");
  ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(X509_get_ext(leaf, i));
  out->p = ASN1_STRING_get0_data(data);
  out->end = out->p + ASN1_STRING_length(data);
  return 0;
}

static int walk_ext(der *ext, th_pck_ext *out, th_err *err) {
  der list, entry, oid;
  uint32_t seen = 0;
  if (der_take(ext, V_ASN1_SEQUENCE, &list) != 0 || ext->p != ext->end)
    return th_err_set(err, TH_EBADDATA, PCK "SGX extension is not a DER SEQUENCE");
  for (int i = 1; list.p < list.end; i++) {
    if (der_take(&list, V_ASN1_SEQUENCE, &entry) != 0 ||
        der_take(&entry, V_ASN1_OBJECT, &oid) != 0)
      return th_err_set(err, TH_EBADDATA, PCK "SGX extension entry %d is malformed", i);
    int arc = oid_arc(&oid, SGX_OID, sizeof SGX_OID);
    if (arc < 1 || arc >= N_ENTRIES) continue; /* unknown entry: skip */
    if (seen & (1u << arc))
      return th_err_set(err, TH_EBADDATA, PCK "%s appears twice in the SGX extension",
                        ENTRY_NAME[arc]);
    seen |= 1u << arc;
    if (parse_entry(arc, &entry, out, err) != 0) return -1;
  }
  for (int arc = 1; arc <= 5; arc++)
    if (!(seen & (1u << arc)))
      return th_err_set(err, TH_EBADDATA, PCK "%s missing", ENTRY_NAME[arc]);
  return 0;
}

int th_pck_ext_parse(X509 *leaf, th_pck_ext *out, th_err *err) {
  der ext;
  memset(out, 0, sizeof *out);
  if (!leaf) return th_err_set(err, TH_EINVAL, PCK "none given");
  int rc = find_ext(leaf, &ext, err);
  if (rc == 0) rc = walk_ext(&ext, out, err);
  ERR_clear_error(); /* ASN1_get_object queues errors for what we reject */
  if (rc != 0) memset(out, 0, sizeof *out);
  return rc;
}

const char *th_pck_ca_kind(X509 *leaf) {
  X509_NAME *issuer = leaf ? X509_get_issuer_name(leaf) : NULL;
  int i = issuer ? X509_NAME_get_index_by_NID(issuer, NID_commonName, -1) : -1;
  if (i < 0) return "processor";
  const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, i));
  const unsigned char *s = ASN1_STRING_get0_data(cn);
  size_t n = (size_t)ASN1_STRING_length(cn);
  if (memmem(s, n, "Processor", 9)) return "processor";
  if (memmem(s, n, "Platform", 8)) return "platform";
  return "processor";
}
