/* core/quote.h — Intel DCAP quote parser: TDX v4/v5 (TD report 1.0 and 1.5) and SGX v3/v4.
 *
 * Byte layout: shared/specs/tdx-quote.md section 1. Written by hand because no packaged library
 * parses DCAP quotes. th_quote_parse() copies the fixed-size fields into a th_quote and records
 * offsets for the variable ones; it allocates nothing, and the th_quote borrows the caller's
 * buffer (`bytes`), which must outlive it. Every read is bounds-checked; a malformed quote fails
 * with TH_EBADDATA and a message naming the field and its absolute offset, e.g.
 * "quote: QE auth data (32 bytes at offset 1220) runs past the end of the signature data (4936)".
 *
 * Strictness (spec 1.10): version 3 must be SGX; v4 body chosen by tee_type; v5 body_type must be
 * 1/2/3 with the matching body_size and agree with tee_type; outer certification type of v4/v5
 * must be 6; every length field must match the bytes that follow exactly (sig_len =
 * 128+6+outer_size for v4/v5, outer_size = 384+64+2+n+2+4+m), any one length at most 1 MiB.
 * Bytes after the signature data are allowed and ignored (`trailing`). */
#ifndef TH_QUOTE_H
#define TH_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum { TH_TEE_SGX = 0x00000000, TH_TEE_TDX = 0x00000081 };
enum th_body_type { TH_BODY_SGX = 1, TH_BODY_TD10 = 2, TH_BODY_TD15 = 3 };
enum th_cert_type {
  TH_CERT_PPID_CLEARTEXT = 1,
  TH_CERT_PPID_RSA2048 = 2,
  TH_CERT_PPID_RSA3072 = 3,
  TH_CERT_PCK_LEAF = 4,
  TH_CERT_PCK_CHAIN = 5,
  TH_CERT_QE_REPORT = 6,
  TH_CERT_PLATFORM_MANIFEST = 7,
};

#define TH_QUOTE_HEADER_SIZE 48
#define TH_SGX_REPORT_SIZE 384
#define TH_TD10_REPORT_SIZE 584
#define TH_TD15_REPORT_SIZE 648
#define TH_QUOTE_MAX_FIELD (1u << 20) /* cap on any one length field, as dcap-qvl */

extern const uint8_t TH_INTEL_QE_VENDOR_ID[16];

/* An SGX enclave report (spec 1.6): the SGX quote body and the QE report. */
typedef struct th_sgx_report {
  uint8_t cpusvn[16];
  uint32_t miscselect;
  uint8_t isvextprodid[16];
  uint8_t attributes[16]; /* flags u64 LE in 0..7 (bit 1 = DEBUG), XFRM in 8..15 */
  uint8_t mrenclave[32];
  uint8_t mrsigner[32];
  uint8_t configid[64];
  uint16_t isvprodid;
  uint16_t isvsvn;
  uint16_t configsvn;
  uint8_t isvfamilyid[16];
  uint8_t reportdata[64];
} th_sgx_report;

/* A TD report (spec 1.4/1.5). tee_tcb_svn2 and mrservicetd are zero for TD 1.0. */
typedef struct th_td_report {
  uint8_t tee_tcb_svn[16];
  uint8_t mrseam[48];
  uint8_t mrsignerseam[48];
  uint8_t seam_attributes[8];
  uint8_t td_attributes[8];
  uint8_t xfam[8];
  uint8_t mrtd[48];
  uint8_t mrconfigid[48];
  uint8_t mrowner[48];
  uint8_t mrownerconfig[48];
  uint8_t rtmr[4][48];
  uint8_t reportdata[64];
  uint8_t tee_tcb_svn2[16];
  uint8_t mrservicetd[48];
} th_td_report;

typedef struct th_quote {
  const uint8_t *bytes; /* borrowed: the buffer given to th_quote_parse */
  size_t len;           /* its length, trailing bytes included */

  /* header (spec 1.2) */
  uint16_t version;
  uint16_t att_key_type; /* 2 = ECDSA-256 P-256 */
  uint32_t tee_type;     /* TH_TEE_SGX or TH_TEE_TDX */
  uint16_t qe_svn, pce_svn;
  uint8_t qe_vendor_id[16];
  uint8_t user_data[20];

  /* body */
  int body_type;      /* enum th_body_type (v3/v4 too: derived from tee_type) */
  size_t body_offset; /* 48, or 54 for v5 */
  size_t body_size;   /* 384, 584 or 648 */
  size_t signed_len;  /* bytes [0, signed_len) are signed by the attestation key */
  th_sgx_report sgx;  /* valid when body_type == TH_BODY_SGX */
  th_td_report td;    /* valid when body_type is TD10 or TD15 */

  /* signature data (spec 1.7/1.8) */
  size_t sig_data_offset; /* right after the u32 sig_len */
  uint32_t sig_data_len;
  uint8_t signature[64]; /* r||s big-endian */
  uint8_t att_key[64];   /* X||Y big-endian, no 0x04 */
  uint16_t outer_cert_type; /* 6 for v4/v5; 0 for v3 (no outer block) */
  uint32_t outer_cert_len;  /* v4/v5 only */
  size_t qe_report_offset;  /* absolute; the 384 signed QE-report bytes are bytes+qe_report_offset */
  th_sgx_report qe_report;
  uint8_t qe_report_sig[64];
  size_t qe_auth_offset; /* absolute */
  uint16_t qe_auth_len;
  uint16_t cert_type;    /* inner certification data type (5 = PEM PCK chain) */
  size_t cert_offset;    /* absolute */
  uint32_t cert_len;     /* counts the trailing NUL of a PEM chain */
  size_t trailing;       /* bytes after the signature data, ignored */
} th_quote;

int th_quote_parse(th_quote *q, const uint8_t *bytes, size_t len, th_err *err);

/* "SGX" / "TDX" / "unknown"; "sgx" / "td10" / "td15". */
const char *th_quote_tee_name(const th_quote *q);
const char *th_quote_body_name(const th_quote *q);

#endif
