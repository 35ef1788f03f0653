/* core/ratls_read.c — reading the evidence out of a dstack RA-TLS leaf and checking that it binds
 * the leaf's key (see ratls.h; shared/specs/dstack.md 10.3-10.4).
 *
 * Evidence: extension .1.8 (a VersionedAttestation, core/attestation_container.c) if present,
 * else .1.1 (raw quote) + .1.2 (event-log JSON, core/eventlog.c), the quote's REPORTDATA being the
 * report data. Each extnValue must be exactly one DER OCTET STRING; a duplicated extension is
 * refused (dstack reads them with get_extension_unique). "ELGZv1"+gzip event logs are refused:
 * teehost links no inflate. Binding: report data == SHA-512("ratls-cert:" ‖ leaf SPKI DER), and
 * (th_ratls_check_attestation) the quote's REPORTDATA == the container's report data. */
#include "ratls.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"

#define RATLS_ARC "1.3.6.1.4.1.62397.1."

/* The bytes inside extension RATLS_ARC<tail>: 1 with out and len borrowed from the certificate,
 * 0 when absent, -1 on malformed or duplicated. */
static int find_ext(X509 *leaf, const char *tail, const uint8_t **out, size_t *len, th_err *err) {
  char txt[40];
  snprintf(txt, sizeof txt, RATLS_ARC "%s", tail);
  ASN1_OBJECT *oid = OBJ_txt2obj(txt, 1);
  if (!oid) return th_err_set(err, TH_ENOMEM, "RA-TLS: out of memory");
  int at = X509_get_ext_by_OBJ(leaf, oid, -1);
  int again = at >= 0 ? X509_get_ext_by_OBJ(leaf, oid, at) : -1;
  ASN1_OBJECT_free(oid);
  if (at < 0) return 0;
  if (again >= 0) return th_err_set(err, TH_EBADDATA, "RA-TLS: extension %s appears twice", txt);
  const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data(X509_get_ext(leaf, at));
  const unsigned char *p = ASN1_STRING_get0_data(value), *start = p;
  long n = 0;
  int tag, cls;
  int r = ASN1_get_object(&p, &n, &tag, &cls, ASN1_STRING_length(value));
  ERR_clear_error();
  if ((r & 0x80) || r != 0 || tag != V_ASN1_OCTET_STRING || cls != V_ASN1_UNIVERSAL ||
      (p - start) + n != ASN1_STRING_length(value))
    return th_err_set(err, TH_EBADDATA, "RA-TLS: extension %s is not one DER OCTET STRING", txt);
  *out = p;
  *len = (size_t)n;
  return 1;
}

static int copy_runtime_events(th_attestation *out, th_err *err) {
  size_t n = 0, k = 0;
  for (size_t i = 0; i < out->log.n; i++) n += out->log.events[i].imr == 3;
  if (n == 0) return 0;
  out->runtime_events.events = calloc(n, sizeof(th_event));
  if (!out->runtime_events.events) return th_err_set(err, TH_ENOMEM, "RA-TLS: out of memory");
  out->runtime_events.n = n;
  for (size_t i = 0; i < out->log.n; i++) {
    const th_event *src = &out->log.events[i];
    if (src->imr != 3) continue;
    th_event *dst = &out->runtime_events.events[k++];
    *dst = *src;
    dst->digest_given = 0;
    dst->event = strdup(src->event);
    dst->payload = malloc(src->payload_len + 1);
    if (!dst->event || !dst->payload) return th_err_set(err, TH_ENOMEM, "RA-TLS: out of memory");
    if (src->payload_len) memcpy(dst->payload, src->payload, src->payload_len);
  }
  return 0;
}

static int legacy(const uint8_t *quote, size_t quote_len, const uint8_t *log, size_t log_len,
                  th_attestation *out, th_err *err) {
  th_quote q;
  if (log_len >= 6 && memcmp(log, "ELGZv1", 6) == 0)
    return th_err_set(err, TH_EBADDATA, "RA-TLS: compressed event logs (ELGZv1) are not supported");
  if (th_quote_parse(&q, quote, quote_len, err)) return -1;
  if (q.body_type != TH_BODY_TD10 && q.body_type != TH_BODY_TD15)
    return th_err_set(err, TH_EBADDATA, "RA-TLS: the .1.1 quote is not a TDX quote");
  out->form = TH_ATTESTATION_LEGACY;
  memcpy(out->report_data, q.td.reportdata, 64);
  out->quote = malloc(quote_len ? quote_len : 1);
  out->config = strdup("");
  if (!out->quote || !out->config) return th_err_set(err, TH_ENOMEM, "RA-TLS: out of memory");
  memcpy(out->quote, quote, quote_len);
  out->quote_len = quote_len;
  if (th_eventlog_parse((const char *)log, log_len, &out->log, err)) return -1;
  return copy_runtime_events(out, err);
}

int th_ratls_evidence(X509 *leaf, th_attestation *out, th_err *err) {
  const uint8_t *att, *quote, *log;
  size_t att_len, quote_len, log_len;
  memset(out, 0, sizeof *out);
  if (!leaf) return th_err_set(err, TH_EINVAL, "RA-TLS: no certificate");
  int has_att = find_ext(leaf, "8", &att, &att_len, err);
  if (has_att < 0) return -1;
  if (has_att) return th_attestation_decode(att, att_len, out, err);
  int has_quote = find_ext(leaf, "1", &quote, &quote_len, err);
  if (has_quote < 0) return -1;
  if (!has_quote)
    return th_err_set(err, TH_EBADDATA,
                      "RA-TLS: the certificate carries no attestation (no extension "
                      "1.3.6.1.4.1.62397.1.8 or .1.1)");
  int has_log = find_ext(leaf, "2", &log, &log_len, err);
  if (has_log < 0) return -1;
  if (!has_log)
    return th_err_set(err, TH_EBADDATA,
                      "RA-TLS: extension .1.1 (quote) without .1.2 (event log)");
  if (legacy(quote, quote_len, log, log_len, out, err) == 0) return 0;
  th_attestation_free(out);
  return -1;
}

int th_ratls_check_binding(X509 *leaf, const uint8_t report_data[64], th_err *err) {
  static const char tag[] = "ratls-cert:";
  uint8_t want[64];
  unsigned char *spki = NULL;
  int n = leaf ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &spki) : -1;
  EVP_MD_CTX *ctx = n > 0 ? EVP_MD_CTX_new() : NULL;
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) &&
           EVP_DigestUpdate(ctx, tag, sizeof tag - 1) && EVP_DigestUpdate(ctx, spki, (size_t)n) &&
           EVP_DigestFinal_ex(ctx, want, NULL);
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(spki);
  if (!ok) {
    ERR_clear_error();
    return th_err_set(err, TH_EINVAL, "RA-TLS: cannot hash the certificate's public key");
  }
  if (CRYPTO_memcmp(want, report_data, 64) != 0)
    return th_err_set(err, TH_EVERIFY,
                      "RA-TLS: report data is not SHA-512(\"ratls-cert:\" || the certificate's "
                      "public key): the evidence is not bound to this certificate");
  return 0;
}

int th_ratls_check_attestation(X509 *leaf, const th_attestation *a, th_err *err) {
  th_quote q;
  if (!a) return th_err_set(err, TH_EINVAL, "RA-TLS: no attestation");
  if (th_ratls_check_binding(leaf, a->report_data, err)) return -1;
  if (th_quote_parse(&q, a->quote, a->quote_len, err)) return -1;
  if (q.body_type != TH_BODY_TD10 && q.body_type != TH_BODY_TD15)
    return th_err_set(err, TH_EBADDATA, "RA-TLS: the attestation's quote is not a TDX quote");
  if (CRYPTO_memcmp(q.td.reportdata, a->report_data, 64) != 0)
    return th_err_set(err, TH_EVERIFY,
                      "RA-TLS: the quote's REPORTDATA differs from the attestation's report_data");
  return 0;
}
