/* core/sim_pki_sgxext.c — the DER value of the PCK leaf's SGX extension (OID
 * 1.2.840.113741.1.13.1), Platform-CA layout (shared/specs/tdx-quote.md 3.9, 4.4): PPID, TCB
 * {16 component SVNs, PCESVN, CPUSVN}, PCE-ID, FMSPC, SGX type (Scalable), platform instance ID,
 * configuration {3 × FALSE}.
 *
 * Written by hand: OpenSSL has no ASN.1 template for Intel's extension and building it from
 * generic ASN1_TYPE stacks is longer than this. A tiny writer appends content and wraps it in a
 * tag and DER length afterwards (shifting the content), into a caller's fixed buffer. */
#include <string.h>

#include "sim_pki_internal.h"

typedef struct der {
  uint8_t *buf;
  size_t cap, len;
  int overflow;
} der;

static void put(der *d, const void *p, size_t n) {
  if (d->overflow || d->cap - d->len < n) {
    d->overflow = 1;
    return;
  }
  memcpy(d->buf + d->len, p, n);
  d->len += n;
}

/* Wraps buf[start, len) in `tag` with a definite DER length. */
static void wrap(der *d, uint8_t tag, size_t start) {
  if (d->overflow) return;
  size_t n = d->len - start, h = 0;
  uint8_t hdr[4];
  hdr[h++] = tag;
  if (n >= 0x100)
    hdr[h++] = 0x82, hdr[h++] = (uint8_t)(n >> 8);
  else if (n >= 0x80)
    hdr[h++] = 0x81;
  hdr[h++] = (uint8_t)n;
  if (d->cap - d->len < h) {
    d->overflow = 1;
    return;
  }
  memmove(d->buf + start + h, d->buf + start, n);
  memcpy(d->buf + start, hdr, h);
  d->len += h;
}

static void tlv(der *d, uint8_t tag, const void *p, size_t n) {
  size_t start = d->len;
  put(d, p, n);
  wrap(d, tag, start);
}

/* OID 1.2.840.113741.1.13.1 followed by up to two more arcs (each < 128; 0 = absent). */
static void sgx_oid(der *d, uint8_t arc1, uint8_t arc2) {
  static const uint8_t prefix[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
  size_t start = d->len;
  put(d, prefix, sizeof prefix);
  put(d, &arc1, 1);
  if (arc2) put(d, &arc2, 1);
  wrap(d, 0x06, start);
}

/* Minimal two's-complement INTEGER of 0..65535. */
static void integer(der *d, unsigned v) {
  uint8_t b[3];
  size_t n = 0;
  if (v > 0xff) b[n++] = (uint8_t)(v >> 8);
  b[n++] = (uint8_t)v;
  size_t start = d->len;
  if (b[0] & 0x80) put(d, "\0", 1);
  put(d, b, n);
  wrap(d, 0x02, start);
}

static void octets_entry(der *d, uint8_t arc1, uint8_t arc2, const uint8_t *p, size_t n) {
  size_t start = d->len;
  sgx_oid(d, arc1, arc2);
  tlv(d, 0x04, p, n);
  wrap(d, 0x30, start);
}

static void tcb_entry(der *d) {
  size_t entry = d->len;
  sgx_oid(d, 2, 0);
  size_t seq = d->len;
  for (uint8_t i = 0; i < 16; i++) {
    size_t comp = d->len;
    sgx_oid(d, 2, (uint8_t)(i + 1));
    integer(d, TH_SIM_CPUSVN[i]);
    wrap(d, 0x30, comp);
  }
  size_t pcesvn = d->len;
  sgx_oid(d, 2, 17);
  integer(d, TH_SIM_PCESVN);
  wrap(d, 0x30, pcesvn);
  octets_entry(d, 2, 18, TH_SIM_CPUSVN, 16);
  wrap(d, 0x30, seq);
  wrap(d, 0x30, entry);
}

static void configuration_entry(der *d) {
  static const uint8_t no = 0;
  size_t entry = d->len;
  sgx_oid(d, 7, 0);
  size_t seq = d->len;
  for (uint8_t i = 1; i <= 3; i++) { /* dynamic platform, cached keys, SMT enabled */
    size_t flag = d->len;
    sgx_oid(d, 7, i);
    tlv(d, 0x01, &no, 1);
    wrap(d, 0x30, flag);
  }
  wrap(d, 0x30, seq);
  wrap(d, 0x30, entry);
}

size_t th_sim_sgx_extension_der(const struct th_sim_pki *pki, uint8_t *out, size_t cap) {
  static const uint8_t pce_id[2] = {0, 0}, sgx_type_scalable = 1;
  der d = {out, cap, 0, 0};
  octets_entry(&d, 1, 0, pki->ppid, 16);
  tcb_entry(&d);
  octets_entry(&d, 3, 0, pce_id, 2);
  octets_entry(&d, 4, 0, TH_SIM_FMSPC, 6);
  size_t type = d.len;
  sgx_oid(&d, 5, 0);
  tlv(&d, 0x0a, &sgx_type_scalable, 1);
  wrap(&d, 0x30, type);
  octets_entry(&d, 6, 0, pki->instance_id, 16);
  configuration_entry(&d);
  wrap(&d, 0x30, 0);
  return d.overflow ? 0 : d.len;
}
