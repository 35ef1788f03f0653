/* core/verify.c — DCAP quote verification: the order of checks of shared/specs/tdx-quote.md
 * section 3 (dcap-qvl's verify_impl), on OpenSSL. Chains: core/x509_chain.c; policy and TCB
 * matching: core/tcb_policy.c; ECDSA in DCAP encodings: core/ecdsa.c.
 *
 * The memo (owned by the collateral, freed with it) remembers, per trust anchor, that the
 * collateral's chains and signatures passed and in which time window that holds, and the last PCK
 * chain seen (by SHA-256 of its PEM bytes) with its parsed leaf: a platform's quotes share both,
 * so after the first quote a verification costs two ECDSA verifications and the policy. */
#include "verify.h"

#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecdsa.h"
#include "tcb_policy.h"
#include "x509_cache.h"
#include "x509_chain.h"

static const char *const check_names[TH_CHECK_COUNT] = {
    [TH_CHECK_NONE] = "ok",
    [TH_CHECK_QUOTE_FORMAT] = "quote format",
    [TH_CHECK_ROOT] = "root CA",
    [TH_CHECK_TCB_INFO] = "TCB info",
    [TH_CHECK_QE_IDENTITY] = "QE identity",
    [TH_CHECK_PCK_CHAIN] = "PCK chain",
    [TH_CHECK_QE_REPORT_SIGNATURE] = "QE report signature",
    [TH_CHECK_QE_HASH] = "QE report hash",
    [TH_CHECK_QE_POLICY] = "QE identity policy",
    [TH_CHECK_QUOTE_SIGNATURE] = "quote signature",
    [TH_CHECK_FMSPC] = "FMSPC",
    [TH_CHECK_TCB_LEVEL] = "TCB level",
    [TH_CHECK_TDX_MODULE] = "TDX module",
    [TH_CHECK_TCB_STATUS] = "TCB status",
    [TH_CHECK_ATTRIBUTES] = "attributes",
};

const char *th_verify_check_name(int check) {
  return check >= 0 && check < TH_CHECK_COUNT ? check_names[check] : "unknown check";
}

typedef struct memo {
  uint8_t anchor[32];
  int collateral_ok;
  int64_t from, until;
  uint8_t pck_pem[32];
  X509 *pck_leaf; /* NULL until a PCK chain passed */
  th_pck_ext pck;
  int64_t pck_from, pck_until;
} memo;

static void memo_free(void *p) {
  memo *m = p;
  if (m) X509_free(m->pck_leaf);
  free(m);
}

/* The collateral's memo for this anchor; a memo for another anchor is reset. */
static memo *memo_for(th_collateral *col, const uint8_t anchor[32]) {
  memo *m = col->memo;
  if (!m) {
    if (!(m = calloc(1, sizeof *m))) return NULL;
    col->memo = m;
    col->memo_free = memo_free;
    memcpy(m->anchor, anchor, 32);
  }
  if (memcmp(m->anchor, anchor, 32) != 0) {
    X509_free(m->pck_leaf);
    memset(m, 0, sizeof *m);
    memcpy(m->anchor, anchor, 32);
  }
  return m;
}

/* Everything a check needs, so each step is a small function. */
typedef struct vctx {
  const th_quote *q;
  th_collateral *col;
  const th_verify_opts *opts;
  X509 *anchor;
  memo *m;
  th_verify_result *r;
  th_err *err;
  X509 *pck_leaf; /* borrowed from the memo */
} vctx;

static int fail(vctx *v, int check, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int fail(vctx *v, int check, int code, const char *fmt, ...) {
  char msg[240];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  v->r->failed_check = check;
  return th_err_set(v->err, code, "%s: %s", th_verify_check_name(check), msg);
}

/* Re-labels an error a helper filled with its reason only. */
static int fail_with(vctx *v, int check, const th_err *why) {
  return fail(v, check, why->code, "%s", why->message);
}

static int check_header(vctx *v) {
  const th_quote *q = v->q;
  if (q->version < 3 || q->version > 5)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY, "unsupported DCAP quote version %u",
                q->version);
  if (memcmp(q->qe_vendor_id, TH_INTEL_QE_VENDOR_ID, 16) != 0)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY, "unknown QE vendor ID");
  if (q->tee_type == TH_TEE_SGX && q->version != 3)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY,
                "an SGX quote must have version 3 (got %u)", q->version);
  if (q->tee_type == TH_TEE_TDX && q->version != 4 && q->version != 5)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY,
                "a TDX quote must have version 4 or 5 (got %u)", q->version);
  if (q->tee_type != TH_TEE_SGX && q->tee_type != TH_TEE_TDX)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY, "unsupported TEE type 0x%x", q->tee_type);
  if (q->att_key_type != 2)
    return fail(v, TH_CHECK_QUOTE_FORMAT, TH_EVERIFY,
                "unsupported attestation key type %u (want 2, ECDSA-256 with P-256)",
                q->att_key_type);
  return 0;
}

static int check_window(vctx *v, int check, int64_t issue, int64_t next) {
  char a[24], b[24];
  th_rfc3339_format(issue, a);
  th_rfc3339_format(next, b);
  if (v->opts->now < issue)
    return fail(v, check, TH_EVERIFY, "issue date %s is in the future", a);
  if (v->opts->now > next) return fail(v, check, TH_EVERIFY, "expired at %s (nextUpdate)", b);
  return 0;
}

/* SHA-256("signed text" ‖ SHA-256(signer DER) ‖ SHA-256(text) ‖ signature). */
static int signed_text_key(X509 *signer, const char *text, size_t len, const uint8_t sig[64],
                           uint8_t key[32]) {
  uint8_t buf[11 + 32 + 32 + 64];
  unsigned int n = 0;
  memcpy(buf, "signed text", 11);
  if (X509_digest(signer, EVP_sha256(), buf + 11, &n) != 1 || n != 32) return -1;
  SHA256((const uint8_t *)text, len, buf + 43);
  memcpy(buf + 75, sig, 64);
  SHA256(buf, sizeof buf, key);
  return 0;
}

/* Chain to the anchor and signature over the exact signed text; narrows the memo window. */
static int check_signed_json(vctx *v, int check, STACK_OF(X509) *chain, const char *text,
                             size_t len, const uint8_t sig[64], int64_t *from, int64_t *until) {
  th_err why = {0};
  int64_t f, u;
  if (!chain || sk_X509_num(chain) < 1)
    return fail(v, check, TH_EVERIFY, "the issuer chain is empty");
  if (th_x509_verify_chain_cached(chain, v->anchor, v->col->root_ca_crl, v->col->pck_crl,
                                  v->opts->now, v->opts->cache, &f, &u, &why) != 0)
    return fail(v, check, why.code, "issuer chain: %s", why.message);
  if (f > *from) *from = f;
  if (u < *until) *until = u;
  /* the signature result depends only on the signer and the bytes: remember it by their hash */
  X509 *signer = sk_X509_value(chain, 0);
  uint8_t cache_key[32];
  if (signed_text_key(signer, text, len, sig, cache_key) == 0 &&
      th_x509_cache_result_ok(v->opts->cache, cache_key, v->opts->now, NULL, NULL))
    return 0;
  EVP_PKEY *key = X509_get0_pubkey(signer);
  int ok = key ? th_ecdsa_verify_raw(key, (const uint8_t *)text, len, sig, &why) : 0;
  if (ok < 0) return fail_with(v, check, &why);
  if (!ok) return fail(v, check, TH_EVERIFY, "signature is invalid");
  th_x509_cache_result_put(v->opts->cache, cache_key, INT64_MIN, INT64_MAX);
  return 0;
}

static int check_collateral(vctx *v) {
  th_collateral *col = v->col;
  th_err why = {0};
  if (check_window(v, TH_CHECK_TCB_INFO, col->tcb_info.issue_date, col->tcb_info.next_update) ||
      check_window(v, TH_CHECK_QE_IDENTITY, col->qe_identity.issue_date,
                   col->qe_identity.next_update))
    return -1;
  memo *m = v->m;
  int64_t now = v->opts->now;
  if (!(m->collateral_ok && now >= m->from && now <= m->until)) {
    int64_t from = INT64_MIN, until = INT64_MAX;
    if (th_x509_check_anchor_crl(v->anchor, col->root_ca_crl, col->pck_crl, now, &why) != 0)
      return fail_with(v, TH_CHECK_ROOT, &why);
    if (check_signed_json(v, TH_CHECK_TCB_INFO, col->tcb_info_issuer_chain, col->tcb_info_json,
                          col->tcb_info_len, col->tcb_info_signature, &from, &until) ||
        check_signed_json(v, TH_CHECK_QE_IDENTITY, col->qe_identity_issuer_chain,
                          col->qe_identity_json, col->qe_identity_len, col->qe_identity_signature,
                          &from, &until))
      return -1;
    m->collateral_ok = 1;
    m->from = from;
    m->until = until;
  }
  const char *id = col->qe_identity.id;
  int version = col->qe_identity.version;
  int fits = v->q->tee_type == TH_TEE_TDX ? strcmp(id, "TD_QE") == 0 && (version == 2 || version == 3)
                                          : strcmp(id, "QE") == 0 && version == 2;
  if (!fits)
    return fail(v, TH_CHECK_QE_IDENTITY, TH_EVERIFY,
                "identity %s version %d does not fit a%s quote", id, version,
                v->q->tee_type == TH_TEE_TDX ? " TDX" : "n SGX");
  return 0;
}

/* The PCK chain: from the collateral when it carries one, else the quote's type-5 PEM. */
static int check_pck_chain(vctx *v) {
  const th_quote *q = v->q;
  memo *m = v->m;
  th_err why = {0};
  STACK_OF(X509) *chain = v->col->pck_certificate_chain, *parsed = NULL;
  uint8_t digest[32] = {0};
  int64_t now = v->opts->now;
  if (!chain) {
    if (q->cert_type != TH_CERT_PCK_CHAIN)
      return fail(v, TH_CHECK_PCK_CHAIN, TH_EVERIFY,
                  "unsupported certification data type %u (want 5, or give "
                  "pck_certificate_chain in the collateral)",
                  q->cert_type);
    SHA256(q->bytes + q->cert_offset, q->cert_len, digest);
    if (m->pck_leaf && memcmp(digest, m->pck_pem, 32) == 0 && now >= m->pck_from &&
        now <= m->pck_until) {
      v->pck_leaf = m->pck_leaf;
      v->r->pck = m->pck;
      return 0;
    }
    parsed = chain = th_pem_chain_parse_cached((const char *)q->bytes + q->cert_offset, q->cert_len,
                                               "PCK chain in the quote", v->opts->cache, &why);
    if (!chain) return fail_with(v, TH_CHECK_PCK_CHAIN, &why);
  }
  int64_t from, until;
  th_pck_ext ext;
  int rc = -1;
  if (th_x509_verify_chain_cached(chain, v->anchor, v->col->root_ca_crl, v->col->pck_crl, now,
                                  v->opts->cache, &from, &until, &why) != 0 ||
      th_pck_ext_parse(sk_X509_value(chain, 0), &ext, &why) != 0) {
    fail_with(v, TH_CHECK_PCK_CHAIN, &why);
    goto done;
  }
  X509 *leaf = sk_X509_value(chain, 0);
  X509_up_ref(leaf);
  X509_free(m->pck_leaf);
  m->pck_leaf = leaf;
  m->pck = ext;
  m->pck_from = from;
  m->pck_until = until;
  memcpy(m->pck_pem, digest, 32);
  if (!parsed) memset(m->pck_pem, 0xff, 32); /* a collateral chain: never matches a quote's PEM */
  v->pck_leaf = leaf;
  v->r->pck = ext;
  rc = 0;
done:
  if (parsed) sk_X509_pop_free(parsed, X509_free);
  return rc;
}

static int check_qe_report(vctx *v) {
  const th_quote *q = v->q;
  th_err why = {0};
  int ok = th_ecdsa_verify_raw(X509_get0_pubkey(v->pck_leaf), q->bytes + q->qe_report_offset,
                               TH_SGX_REPORT_SIZE, q->qe_report_sig, &why);
  if (ok < 0) return fail_with(v, TH_CHECK_QE_REPORT_SIGNATURE, &why);
  if (!ok)
    return fail(v, TH_CHECK_QE_REPORT_SIGNATURE, TH_EVERIFY,
                "the QE report is not signed by the PCK key");
  if (q->qe_auth_len != 32)
    return fail(v, TH_CHECK_QE_HASH, TH_EVERIFY, "QE auth data is %u bytes (want 32)",
                q->qe_auth_len);
  uint8_t bound[64 + 32], hash[32];
  memcpy(bound, q->att_key, 64);
  memcpy(bound + 64, q->bytes + q->qe_auth_offset, 32);
  SHA256(bound, sizeof bound, hash);
  if (memcmp(hash, q->qe_report.reportdata, 32) != 0)
    return fail(v, TH_CHECK_QE_HASH, TH_EVERIFY,
                "the QE report does not bind the attestation key (hash mismatch)");
  return 0;
}

static int check_quote_signature(vctx *v) {
  const th_quote *q = v->q;
  th_err why = {0};
  EVP_PKEY *key = th_p256_public_from_xy(q->att_key, "attestation key", &why);
  if (!key) return fail_with(v, TH_CHECK_QUOTE_SIGNATURE, &why);
  int ok = th_ecdsa_verify_raw(key, q->bytes, q->signed_len, q->signature, &why);
  EVP_PKEY_free(key);
  if (ok < 0) return fail_with(v, TH_CHECK_QUOTE_SIGNATURE, &why);
  if (!ok)
    return fail(v, TH_CHECK_QUOTE_SIGNATURE, TH_EVERIFY,
                "the quote is not signed by its attestation key");
  return 0;
}

/* Steps 21–31: FMSPC, TCB info kind, level, TDX module; fills *platform. */
static int check_platform(vctx *v, th_tcb_verdict *platform) {
  const th_tcb_info *info = &v->col->tcb_info;
  const th_quote *q = v->q;
  th_err why = {0};
  if (memcmp(v->r->pck.fmspc, info->fmspc, 6) != 0)
    return fail(v, TH_CHECK_FMSPC, TH_EVERIFY,
                "the PCK certificate's FMSPC does not match the TCB info's");
  int tdx = q->tee_type == TH_TEE_TDX;
  if (tdx ? strcmp(info->id, "TDX") != 0 || info->version < 3
          : strcmp(info->id, "SGX") != 0 || info->version < 2)
    return fail(v, TH_CHECK_TCB_INFO, TH_EVERIFY, "a%s quote needs %s TCB info (got %s version %d)",
                tdx ? " TDX" : "n SGX", tdx ? "TDX" : "SGX", info->id, info->version);
  const th_tcb_level *level = NULL;
  if (th_tcb_match_level(info, &v->r->pck, q, &level, &why) != 0)
    return fail_with(v, TH_CHECK_TCB_LEVEL, &why);
  platform->status = level->status;
  if (th_tcb_verdict_merge(platform, &(th_tcb_verdict){level->status, level->advisories}, &why))
    return fail_with(v, TH_CHECK_TCB_LEVEL, &why);
  snprintf(v->r->tcb_date, sizeof v->r->tcb_date, "%s", level->tcb_date);
  if (!tdx) return 0;
  th_tcb_verdict module = {0};
  int has = 0;
  int rc = th_tdx_module_check(info, &q->td, &module, &has, &why);
  if (rc == 0 && has) rc = th_tcb_verdict_merge(platform, &module, &why);
  th_tcb_verdict_clear(&module);
  return rc ? fail_with(v, TH_CHECK_TDX_MODULE, &why) : 0;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Step 34: debug and reserved attribute bits, SEPT_VE_DISABLE, MRSERVICETD. */
static int check_attributes(vctx *v) {
  const th_quote *q = v->q;
  if (q->body_type == TH_BODY_SGX) {
    if ((q->sgx.attributes[0] & 0x02) && !v->opts->allow_debug)
      return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "debug mode is enabled (SGX DEBUG bit)");
    return 0;
  }
  const uint8_t *a = q->td.td_attributes;
  uint64_t bits = 0;
  for (int i = 7; i >= 0; i--) bits = bits << 8 | a[i];
  const uint64_t tud_reserved = 0xfeULL, debug = 0x1ULL, sept_ve_disable = 1ULL << 28;
  const uint64_t allowed = debug | sept_ve_disable | 1ULL << 30 | 1ULL << 31 | 1ULL << 63;
  if (bits & tud_reserved)
    return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "reserved TUD bits in TD attributes are set");
  if ((bits & debug) && !v->opts->allow_debug)
    return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "debug mode is enabled (TD DEBUG bit)");
  if (bits & ~allowed)
    return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "reserved bits in TD attributes are set");
  if (!(bits & sept_ve_disable))
    return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "SEPT_VE_DISABLE is not enabled");
  if (q->body_type == TH_BODY_TD15 && !all_zero(q->td.mrservicetd, 48) && !v->opts->allow_service_td)
    return fail(v, TH_CHECK_ATTRIBUTES, TH_EVERIFY, "MRSERVICETD is not zero (a service TD is bound)");
  return 0;
}

static int move_verdict(th_advisories *dst, th_tcb_verdict *src) {
  *dst = src->advisories;
  src->advisories = (th_advisories){0};
  return src->status;
}

static int verify_steps(vctx *v) {
  th_tcb_verdict qe = {0}, platform = {0}, final = {0};
  th_err why = {0};
  int rc = -1;
  if (check_header(v) || check_collateral(v) || check_pck_chain(v) || check_qe_report(v))
    goto done;
  if (th_qe_policy(&v->q->qe_report, &v->col->qe_identity, &qe, &why) != 0) {
    fail_with(v, TH_CHECK_QE_POLICY, &why);
    goto done;
  }
  if (check_quote_signature(v) || check_platform(v, &platform)) goto done;
  if (th_tcb_verdict_merge(&final, &platform, &why) || th_tcb_verdict_merge(&final, &qe, &why)) {
    fail_with(v, TH_CHECK_TCB_STATUS, &why);
    goto done;
  }
  if (final.status == TH_TCB_REVOKED) {
    fail(v, TH_CHECK_TCB_STATUS, TH_EVERIFY, "the platform's TCB is Revoked");
    goto done;
  }
  if (check_attributes(v)) goto done;
  th_verify_result *r = v->r;
  r->status = move_verdict(&r->advisories, &final);
  r->platform_status = move_verdict(&r->platform_advisories, &platform);
  r->qe_status = move_verdict(&r->qe_advisories, &qe);
  r->tcb_evaluation_data_number = v->col->tcb_info.tcb_evaluation_data_number;
  rc = 0;
done:
  th_tcb_verdict_clear(&qe);
  th_tcb_verdict_clear(&platform);
  th_tcb_verdict_clear(&final);
  return rc;
}

int th_verify_quote(const th_quote *q, th_collateral *col, const th_verify_opts *opts,
                    th_verify_result *result, th_err *err) {
  memset(result, 0, sizeof *result);
  vctx v = {.q = q, .col = col, .opts = opts, .r = result, .err = err};
  X509 *owned = NULL;
  v.anchor = opts->root;
  if (!v.anchor) {
    owned = v.anchor = th_x509_from_der(TH_INTEL_ROOT_CA_DER, TH_INTEL_ROOT_CA_DER_LEN,
                                        "Intel SGX Root CA", err);
    if (!owned) return fail(&v, TH_CHECK_ROOT, TH_EINVAL, "built-in root unusable");
  }
  uint8_t anchor_sha[32];
  unsigned int n = 0;
  int rc = -1;
  if (X509_digest(v.anchor, EVP_sha256(), anchor_sha, &n) != 1 || !(v.m = memo_for(col, anchor_sha)))
    fail(&v, TH_CHECK_ROOT, TH_ENOMEM, "cannot fingerprint the trust anchor");
  else
    rc = verify_steps(&v);
  X509_free(owned);
  ERR_clear_error();
  if (rc != 0) th_verify_result_clear(result);
  return rc;
}

void th_verify_result_clear(th_verify_result *r) {
  th_tcb_verdict v[3] = {{0, r->advisories}, {0, r->platform_advisories}, {0, r->qe_advisories}};
  for (int i = 0; i < 3; i++) th_tcb_verdict_clear(&v[i]);
  r->advisories = r->platform_advisories = r->qe_advisories = (th_advisories){0};
}
