/* core/quote.c — see quote.h. Written by hand because no packaged library parses DCAP quotes;
 * the layout is shared/specs/tdx-quote.md section 1, the strictness rules its section 1.10.
 *
 * All reads go through a cursor whose limit is the end of the buffer while the header and body
 * are read, and the end of the signature data (u32 sig_len) inside it: trailing bytes are never
 * read, and no length field can reach past the block that contains it. */
#include "quote.h"

#include <stdio.h>
#include <string.h>

const uint8_t TH_INTEL_QE_VENDOR_ID[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                           0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* Body size by enum th_body_type. */
static const size_t body_sizes[] = {0, TH_SGX_REPORT_SIZE, TH_TD10_REPORT_SIZE,
                                    TH_TD15_REPORT_SIZE};

/* Signature data of v4/v5 before the QE report: signature, attestation key, u16 type, u32 size. */
#define OUTER_HEADER_SIZE (64 + 64 + 2 + 4)

typedef struct cursor {
  const uint8_t *base;
  size_t pos, end;
  int in_sig; /* end is the end of the signature data (changes the error text) */
} cursor;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Returns the next n bytes and advances, or NULL with an error naming `what` and its offset. */
static const uint8_t *take(cursor *c, size_t n, const char *what, th_err *err) {
  size_t have = c->end - c->pos;
  if (n <= have) {
    c->pos += n;
    return c->base + c->pos - n;
  }
  if (c->in_sig)
    th_err_set(err, TH_EBADDATA,
               "quote: %s (%zu bytes at offset %zu) runs past the end of the signature data (%zu)",
               what, n, c->pos, c->end);
  else if (c->pos == 0)
    th_err_set(err, TH_EBADDATA, "quote: truncated: %s needs %zu bytes, have %zu", what, n, have);
  else
    th_err_set(err, TH_EBADDATA, "quote: truncated: %s needs %zu bytes at offset %zu, have %zu",
               what, n, c->pos, have);
  return NULL;
}

static int take_u16(cursor *c, uint16_t *v, const char *what, th_err *err) {
  const uint8_t *p = take(c, 2, what, err);
  if (!p) return -1;
  *v = le16(p);
  return 0;
}

/* A u32 length field, capped at TH_QUOTE_MAX_FIELD (as dcap-qvl) before anyone adds to it. */
static int take_len(cursor *c, uint32_t *v, const char *what, th_err *err) {
  size_t at = c->pos;
  const uint8_t *p = take(c, 4, what, err);
  if (!p) return -1;
  *v = le32(p);
  if (*v > TH_QUOTE_MAX_FIELD)
    return th_err_set(err, TH_EBADDATA, "quote: %s %u at offset %zu exceeds the 1 MiB limit",
                      what, (unsigned)*v, at);
  return 0;
}

static void read_sgx_report(const uint8_t *p, th_sgx_report *r) {
  memcpy(r->cpusvn, p, 16);
  r->miscselect = le32(p + 16);
  memcpy(r->isvextprodid, p + 32, 16);
  memcpy(r->attributes, p + 48, 16);
  memcpy(r->mrenclave, p + 64, 32);
  memcpy(r->mrsigner, p + 128, 32);
  memcpy(r->configid, p + 192, 64);
  r->isvprodid = le16(p + 256);
  r->isvsvn = le16(p + 258);
  r->configsvn = le16(p + 260);
  memcpy(r->isvfamilyid, p + 304, 16);
  memcpy(r->reportdata, p + 320, 64);
}

static void read_td_report(const uint8_t *p, size_t size, th_td_report *r) {
  memcpy(r->tee_tcb_svn, p, 16);
  memcpy(r->mrseam, p + 16, 48);
  memcpy(r->mrsignerseam, p + 64, 48);
  memcpy(r->seam_attributes, p + 112, 8);
  memcpy(r->td_attributes, p + 120, 8);
  memcpy(r->xfam, p + 128, 8);
  memcpy(r->mrtd, p + 136, 48);
  memcpy(r->mrconfigid, p + 184, 48);
  memcpy(r->mrowner, p + 232, 48);
  memcpy(r->mrownerconfig, p + 280, 48);
  for (int i = 0; i < 4; i++) memcpy(r->rtmr[i], p + 328 + 48 * i, 48);
  memcpy(r->reportdata, p + 520, 64);
  if (size == TH_TD15_REPORT_SIZE) {
    memcpy(r->tee_tcb_svn2, p + 584, 16);
    memcpy(r->mrservicetd, p + 600, 48);
  }
}

/* Version and TEE type only; vendor id and key type are the verifier's to judge. */
static int parse_header(cursor *c, th_quote *q, th_err *err) {
  const uint8_t *p = take(c, TH_QUOTE_HEADER_SIZE, "header", err);
  if (!p) return -1;
  q->version = le16(p);
  q->att_key_type = le16(p + 2);
  q->tee_type = le32(p + 4);
  q->qe_svn = le16(p + 8);
  q->pce_svn = le16(p + 10);
  memcpy(q->qe_vendor_id, p + 12, 16);
  memcpy(q->user_data, p + 28, 20);
  if (q->version < 3 || q->version > 5)
    return th_err_set(err, TH_EBADDATA, "quote: unsupported version %u", (unsigned)q->version);
  if (q->tee_type != TH_TEE_SGX && q->tee_type != TH_TEE_TDX)
    return th_err_set(err, TH_EBADDATA, "quote: unsupported tee_type 0x%x at offset 4",
                      (unsigned)q->tee_type);
  if (q->version == 3 && q->tee_type != TH_TEE_SGX)
    return th_err_set(err, TH_EBADDATA, "quote: version 3 must be SGX (tee_type 0x%x)",
                      (unsigned)q->tee_type);
  return 0;
}

/* v5 says what its body is (strictly: size and TEE must agree); v3/v4 imply it by tee_type. */
static int parse_body_type(cursor *c, th_quote *q, th_err *err) {
  if (q->version != 5) {
    q->body_type = q->tee_type == TH_TEE_SGX ? TH_BODY_SGX : TH_BODY_TD10;
    return 0;
  }
  const uint8_t *p = take(c, 6, "v5 body descriptor", err);
  if (!p) return -1;
  unsigned type = le16(p), size = (unsigned)le32(p + 2);
  if (type < TH_BODY_SGX || type > TH_BODY_TD15)
    return th_err_set(err, TH_EBADDATA,
                      "quote: v5 body_type %u at offset 48 unsupported (want 1, 2 or 3)", type);
  if (size != body_sizes[type])
    return th_err_set(err, TH_EBADDATA,
                      "quote: v5 body_size %u does not match body_type %u (want %zu)", size, type,
                      body_sizes[type]);
  if ((type == TH_BODY_SGX) != (q->tee_type == TH_TEE_SGX))
    return th_err_set(err, TH_EBADDATA, "quote: v5 body_type %u does not match tee_type 0x%x",
                      type, (unsigned)q->tee_type);
  q->body_type = (int)type;
  return 0;
}

static int parse_body(cursor *c, th_quote *q, th_err *err) {
  if (parse_body_type(c, q, err) != 0) return -1;
  int sgx = q->body_type == TH_BODY_SGX;
  q->body_offset = c->pos;
  q->body_size = body_sizes[q->body_type];
  const uint8_t *p = take(c, q->body_size, sgx ? "SGX report body" : "TD report body", err);
  if (!p) return -1;
  if (sgx)
    read_sgx_report(p, &q->sgx);
  else
    read_td_report(p, q->body_size, &q->td);
  q->signed_len = c->pos;
  return 0;
}

/* QE report through certification data: the same in v3 and inside v4/v5's type-6 block. `cert`
 * names the certification data in messages ("inner certification data" in v4/v5). */
static int parse_qe_block(cursor *c, th_quote *q, const char *cert, th_err *err) {
  char what[64];
  q->qe_report_offset = c->pos;
  const uint8_t *p = take(c, TH_SGX_REPORT_SIZE, "QE report", err);
  if (!p) return -1;
  read_sgx_report(p, &q->qe_report);
  if (!(p = take(c, 64, "QE report signature", err))) return -1;
  memcpy(q->qe_report_sig, p, 64);
  if (take_u16(c, &q->qe_auth_len, "QE auth data size", err) != 0) return -1;
  q->qe_auth_offset = c->pos;
  if (!take(c, q->qe_auth_len, "QE auth data", err)) return -1;
  size_t type_at = c->pos;
  snprintf(what, sizeof what, "%s type", cert);
  if (take_u16(c, &q->cert_type, what, err) != 0) return -1;
  if (q->cert_type < TH_CERT_PPID_CLEARTEXT || q->cert_type > TH_CERT_PCK_CHAIN)
    return th_err_set(err, TH_EBADDATA, "quote: %s %u at offset %zu unsupported (want 1 to 5)",
                      what, (unsigned)q->cert_type, type_at);
  snprintf(what, sizeof what, "%s size", cert);
  if (take_len(c, &q->cert_len, what, err) != 0) return -1;
  q->cert_offset = c->pos;
  return take(c, q->cert_len, cert, err) ? 0 : -1;
}

/* v4/v5: the QE report certification data block (type 6) must fill the signature data exactly. */
static int parse_outer(cursor *c, th_quote *q, th_err *err) {
  size_t type_at = c->pos;
  if (take_u16(c, &q->outer_cert_type, "certification data type", err) != 0) return -1;
  if (q->outer_cert_type != TH_CERT_QE_REPORT)
    return th_err_set(err, TH_EBADDATA,
                      "quote: certification data type %u at offset %zu unsupported (want 6)",
                      (unsigned)q->outer_cert_type, type_at);
  size_t size_at = c->pos;
  if (take_len(c, &q->outer_cert_len, "certification data size", err) != 0) return -1;
  /* The reads above succeeded, so sig_data_len >= OUTER_HEADER_SIZE. */
  if (OUTER_HEADER_SIZE + (size_t)q->outer_cert_len != q->sig_data_len)
    return th_err_set(err, TH_EBADDATA,
                      "quote: certification data size %u at offset %zu does not match signature "
                      "data length %u (want %u)",
                      (unsigned)q->outer_cert_len, size_at, (unsigned)q->sig_data_len,
                      (unsigned)(q->sig_data_len - OUTER_HEADER_SIZE));
  if (parse_qe_block(c, q, "inner certification data", err) != 0) return -1;
  if (c->pos != c->end)
    return th_err_set(err, TH_EBADDATA,
                      "quote: certification data size %u at offset %zu does not match its "
                      "contents (%zu bytes)",
                      (unsigned)q->outer_cert_len, size_at, c->pos - (size_at + 4));
  return 0;
}

static int parse_signature_data(cursor *c, th_quote *q, th_err *err) {
  size_t len_at = c->pos;
  if (take_len(c, &q->sig_data_len, "signature data length", err) != 0) return -1;
  q->sig_data_offset = c->pos;
  if (!take(c, q->sig_data_len, "signature data", err)) return -1;
  q->trailing = c->end - c->pos;
  cursor s = {c->base, q->sig_data_offset, c->pos, 1};
  const uint8_t *p = take(&s, 64, "quote signature", err);
  if (!p) return -1;
  memcpy(q->signature, p, 64);
  if (!(p = take(&s, 64, "attestation key", err))) return -1;
  memcpy(q->att_key, p, 64);
  if (q->version >= 4) return parse_outer(&s, q, err);
  if (parse_qe_block(&s, q, "certification data", err) != 0) return -1;
  if (s.pos != s.end)
    return th_err_set(err, TH_EBADDATA,
                      "quote: signature data length %u at offset %zu does not match its contents "
                      "(%zu bytes)",
                      (unsigned)q->sig_data_len, len_at, s.pos - q->sig_data_offset);
  return 0;
}

int th_quote_parse(th_quote *q, const uint8_t *bytes, size_t len, th_err *err) {
  memset(q, 0, sizeof *q);
  cursor c = {bytes, 0, len, 0};
  if (parse_header(&c, q, err) != 0 || parse_body(&c, q, err) != 0 ||
      parse_signature_data(&c, q, err) != 0)
    return -1;
  q->bytes = bytes;
  q->len = len;
  return 0;
}

const char *th_quote_tee_name(const th_quote *q) {
  if (q->tee_type == TH_TEE_SGX) return "SGX";
  if (q->tee_type == TH_TEE_TDX) return "TDX";
  return "unknown";
}

const char *th_quote_body_name(const th_quote *q) {
  switch (q->body_type) {
    case TH_BODY_SGX: return "sgx";
    case TH_BODY_TD10: return "td10";
    case TH_BODY_TD15: return "td15";
    default: return "unknown";
  }
}
