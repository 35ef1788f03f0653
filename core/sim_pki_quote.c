/* core/sim_pki_quote.c — the simulated Quoting Enclave and TDX quotes
 * (shared/specs/tdx-quote.md 1.7, 4.5, 4.6).
 *
 * The QE's certification block (QE report certifying the stable attestation key, signed by the
 * PCK leaf key, QE auth data, PEM PCK chain) is the same for every quote of the platform, so it is
 * built once at open; a quote then costs one ECDSA signature and a memcpy. All integers in the
 * quote are little-endian; keys and signatures are raw big-endian X‖Y / r‖s. */
#include <stdlib.h>
#include <string.h>

#include "ecdsa.h"
#include "sim_pki_internal.h"

#define QE_REPORT_SIZE TH_SGX_REPORT_SIZE
#define QE_AUTH_SIZE 32
#define TD10_SIZE TH_TD10_REPORT_SIZE
#define TD15_EXTRA (TH_TD15_REPORT_SIZE - TH_TD10_REPORT_SIZE) /* TEE_TCB_SVN2 + MRSERVICETD */

/* SHA-384("teehost simulated TDX module"): the simulated module's MRSEAM. */
static const uint8_t SIM_MRSEAM[48] = {
    0xc9, 0x85, 0x5d, 0x5e, 0xec, 0x9c, 0xa3, 0x7f, 0xb7, 0xb2, 0x89, 0xeb, 0x03, 0xe5, 0x44, 0xb3,
    0xb6, 0xd4, 0xa4, 0x7a, 0x6f, 0xbb, 0x68, 0xaa, 0x98, 0xc6, 0x77, 0xed, 0xea, 0x0c, 0xfb, 0xea,
    0x4e, 0x78, 0x69, 0x67, 0x20, 0x77, 0x17, 0xb0, 0xd6, 0x4a, 0x54, 0x79, 0x07, 0x7e, 0xb2, 0x59};

static void put_u16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static const char *const QE_ENCLAVE_TAG = "teehost simulated TD QE enclave";
static const char *const QE_SIGNER_TAG = "teehost simulated TD QE signer";

/* Spec 4.5: the QE report (an SGX report body, 1.6). */
static int qe_report(th_sim_pki *pki, const uint8_t auth[QE_AUTH_SIZE], uint8_t r[QE_REPORT_SIZE],
                     th_err *err) {
  static const uint8_t attributes[16] = {0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7};
  memset(r, 0, QE_REPORT_SIZE);
  memcpy(r, TH_SIM_CPUSVN, 16);
  memcpy(r + 48, attributes, 16);
  if (th_sim_sha256(QE_ENCLAVE_TAG, strlen(QE_ENCLAVE_TAG), "", 0, r + 64) != 0 ||
      th_sim_sha256(QE_SIGNER_TAG, strlen(QE_SIGNER_TAG), "", 0, pki->qe_mrsigner) != 0 ||
      th_sim_sha256(pki->att_xy, 64, auth, QE_AUTH_SIZE, r + 320) != 0)
    return th_err_set(err, TH_ENOMEM, "simulator PKI: SHA-256 failed");
  memcpy(r + 128, pki->qe_mrsigner, 32);
  put_u16(r + 256, TH_SIM_QE_ISVPRODID);
  put_u16(r + 258, TH_SIM_QE_ISVSVN);
  return 0;
}

/* QE report ‖ PCK signature ‖ u16 auth size ‖ auth ‖ u16 5 ‖ u32 m ‖ PEM chain ‖ NUL. */
int th_sim_build_qe_block(th_sim_pki *pki, th_err *err) {
  uint8_t auth[QE_AUTH_SIZE], report[QE_REPORT_SIZE];
  for (int i = 0; i < QE_AUTH_SIZE; i++) auth[i] = (uint8_t)i;
  if (th_p256_public_xy(pki->key[TH_SIM_ATT], pki->att_xy, err) != 0 ||
      qe_report(pki, auth, report, err) != 0)
    return -1;
  X509 *chain[] = {pki->pck, pki->pck_ca, pki->root};
  size_t pem_len = 0;
  char *pem = th_sim_pem_chain(chain, 3, &pem_len, err);
  if (!pem) return -1;
  size_t m = pem_len + 1, len = QE_REPORT_SIZE + 64 + 2 + QE_AUTH_SIZE + 2 + 4 + m;
  uint8_t *b = malloc(len), *p = b;
  if (!b) {
    free(pem);
    return th_err_set(err, TH_ENOMEM, "out of memory");
  }
  memcpy(p, report, QE_REPORT_SIZE);
  int rc = th_ecdsa_sign_raw(pki->key[TH_SIM_PCK], report, QE_REPORT_SIZE, p + QE_REPORT_SIZE, err);
  p += QE_REPORT_SIZE + 64;
  put_u16(p, QE_AUTH_SIZE);
  memcpy(p + 2, auth, QE_AUTH_SIZE);
  p += 2 + QE_AUTH_SIZE;
  put_u16(p, 5); /* PCK certificate chain */
  put_u32(p + 2, (uint32_t)m);
  memcpy(p + 6, pem, m); /* with its NUL */
  free(pem);
  if (rc != 0) {
    free(b);
    return -1;
  }
  pki->qe_block = b;
  pki->qe_block_len = len;
  return 0;
}

void th_sim_td_defaults(th_sim_td *td) {
  memset(td, 0, sizeof *td);
  td->tee_tcb_svn[0] = 6; /* TDX module SVN */
  td->tee_tcb_svn[1] = 1; /* module major version: TDX_01 */
  td->tee_tcb_svn[2] = 3; /* late microcode SVN */
  memcpy(td->mrseam, SIM_MRSEAM, sizeof td->mrseam);
  td->td_attributes[3] = 0x10; /* SEPT_VE_DISABLE */
  td->xfam[0] = 0xe7;
  td->xfam[1] = 0x02;
  td->xfam[2] = 0x06;
}

/* The TD report body in spec 1.4 order (584 bytes), and for TD 1.5 the 64 bytes of 1.5. */
static void td_body(uint8_t *p, const th_sim_td *td, int td15) {
#define PUT(field) (memcpy(p, td->field, sizeof td->field), p += sizeof td->field)
  PUT(tee_tcb_svn);
  PUT(mrseam);
  PUT(mrsignerseam);
  PUT(seam_attributes);
  PUT(td_attributes);
  PUT(xfam);
  PUT(mrtd);
  PUT(mrconfigid);
  PUT(mrowner);
  PUT(mrownerconfig);
  PUT(rtmr);
  PUT(reportdata);
  if (td15) {
    PUT(tee_tcb_svn2);
    PUT(mrservicetd);
  }
#undef PUT
}

int th_sim_pki_quote(th_sim_pki *pki, const th_sim_td *td, int version, uint8_t **out,
                     size_t *out_len, th_err *err) {
  if (version != 4 && version != 5)
    return th_err_set(err, TH_EINVAL, "simulator quote: version %d unsupported (want 4 or 5)",
                      version);
  size_t body_off = version == 5 ? 54 : 48;
  size_t signed_len = body_off + TD10_SIZE + (version == 5 ? TD15_EXTRA : 0); /* 632 / 702 */
  size_t sig_len = 64 + 64 + 2 + 4 + pki->qe_block_len, total = signed_len + 4 + sig_len;
  uint8_t *q = calloc(1, total);
  if (!q) return th_err_set(err, TH_ENOMEM, "out of memory");
  put_u16(q, (unsigned)version);
  put_u16(q + 2, 2);    /* ECDSA-256 with P-256 */
  put_u32(q + 4, 0x81); /* TDX */
  memcpy(q + 12, TH_INTEL_QE_VENDOR_ID, 16);
  memcpy(q + 28, pki->qe_id, 16);
  if (version == 5) {
    put_u16(q + 48, 3); /* TD report 1.5 */
    put_u32(q + 50, TD10_SIZE + TD15_EXTRA);
  }
  td_body(q + body_off, td, version == 5);
  uint8_t *s = q + signed_len;
  put_u32(s, (uint32_t)sig_len);
  s += 4;
  if (th_ecdsa_sign_with(pki->att_signer, q, signed_len, s, err) != 0) {
    free(q);
    return -1;
  }
  memcpy(s + 64, pki->att_xy, 64);
  put_u16(s + 128, 6); /* QE report certification data */
  put_u32(s + 130, (uint32_t)pki->qe_block_len);
  memcpy(s + 134, pki->qe_block, pki->qe_block_len);
  *out = q;
  *out_len = total;
  return 0;
}
