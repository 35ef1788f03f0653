/* core/sim_pki_internal.h — what the sim_pki_*.c files share: the th_sim_pki object, key
 * derivation, certificate/CRL builders and the secret-file helpers. Not for other modules; the
 * unit test includes it for the derivation check value (spec 4.2).
 *
 * Files: sim_pki.c (open/free, load-or-create of every stored object), sim_pki_keys.c (keys
 * and identifiers from the seed), sim_pki_certs.c (X.509 certificates and CRLs),
 * sim_pki_sgxext.c (the PCK leaf's SGX extension DER), sim_pki_files.c (the 0700 directory,
 * 0600 atomic files, on core/secret_file), sim_pki_quote.c (the QE block and quotes),
 * sim_pki_collateral.c (collateral JSON). */
#ifndef TH_SIM_PKI_INTERNAL_H
#define TH_SIM_PKI_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sim_pki.h"

#define TH_SIM_SEED_SIZE 32

/* Key roles, in derivation-label order ("tdx-root", "tdx-pck-ca", "tdx-pck", "tdx-tcb",
 * "tdx-att"). */
enum th_sim_key { TH_SIM_ROOT, TH_SIM_PCK_CA, TH_SIM_PCK, TH_SIM_TCB, TH_SIM_ATT, TH_SIM_NKEYS };

/* Certificate serial numbers (spec 4.3); the PCK leaf's is what TH_SIM_REVOKE_PCK lists. */
enum { TH_SIM_SERIAL_ROOT = 1, TH_SIM_SERIAL_PCK_CA, TH_SIM_SERIAL_PCK, TH_SIM_SERIAL_TCB };

/* Platform values shared by the PCK certificate, the QE report and the TCB info (spec 4.4). */
extern const uint8_t TH_SIM_CPUSVN[16];
#define TH_SIM_PCESVN 13
extern const uint8_t TH_SIM_FMSPC[6];
/* QE identity: MRSIGNER = SHA-256("teehost simulated TD QE signer"), ISVPRODID 2, ISVSVN 4. */
#define TH_SIM_QE_ISVPRODID 2
#define TH_SIM_QE_ISVSVN 4

struct th_sim_pki {
  char *dir;
  EVP_PKEY *key[TH_SIM_NKEYS];
  X509 *root, *pck_ca, *pck, *tcb;
  X509_CRL *root_crl, *pck_crl;
  uint8_t *root_der, *root_crl_der, *pck_crl_der;
  size_t root_der_len, root_crl_der_len, pck_crl_der_len;
  char *pck_crl_chain_pem; /* PEM(PCK CA) ‖ PEM(root) */
  char *tcb_chain_pem;     /* PEM(TCB Signing) ‖ PEM(root) */
  uint8_t ppid[16], qe_id[16], instance_id[16];
  uint8_t att_xy[64]; /* attestation public key X‖Y */
  uint8_t qe_mrsigner[32];
  uint8_t *qe_block; /* the constant outer certification data (spec 4.5) */
  size_t qe_block_len;
  EVP_MD_CTX *att_signer; /* the attestation key's DigestSign context, copied per quote */
};

/* --- sim_pki_keys.c --- */

/* Spec 4.2: scalar = SHA-256("dstack-mock-p256-v1" ‖ seed ‖ label ‖ counter u32 BE), the first
 * counter giving 1 <= k < n; pub = k·G as X‖Y. Either output may be NULL. */
int th_sim_derive_p256(const uint8_t seed[TH_SIM_SEED_SIZE], const char *label, uint8_t scalar[32],
                       uint8_t pub[64], th_err *err);
/* The five key pairs (label order of enum th_sim_key). Scalars are wiped before returning. */
int th_sim_derive_keys(const uint8_t seed[TH_SIM_SEED_SIZE], EVP_PKEY *keys[TH_SIM_NKEYS],
                       th_err *err);
/* Platform identifiers: first 16 bytes of SHA-256(tag ‖ seed) with tag "teehost-sim-ppid",
 * "teehost-sim-qe-id", "teehost-sim-instance-id". */
int th_sim_derive_ids(const uint8_t seed[TH_SIM_SEED_SIZE], uint8_t ppid[16], uint8_t qe_id[16],
                      uint8_t instance_id[16], th_err *err);
/* SHA-256(a ‖ b); -1 only when OpenSSL fails (out of memory). */
int th_sim_sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]);

/* --- sim_pki_certs.c --- */

/* Builds and signs one certificate (spec 4.3/4.4); `issuer` NULL = self-signed root. */
X509 *th_sim_make_cert(struct th_sim_pki *pki, int role, X509 *issuer, EVP_PKEY *issuer_key,
                       th_err *err);
/* An empty v2 CRL of `ca`, or listing `revoked_serial` when > 0 (spec 4.3). */
X509_CRL *th_sim_make_crl(X509 *ca, EVP_PKEY *ca_key, long revoked_serial, th_err *err);
/* The expected subject of a role's certificate, for validating stored files. */
X509_NAME *th_sim_subject(int role);
/* The DER of the SGX extension value (spec 4.4) into out (cap >= 1024; about 560 bytes are used);
 * returns its length or 0. */
size_t th_sim_sgx_extension_der(const struct th_sim_pki *pki, uint8_t *out, size_t cap);
/* PEM text of the certificates, concatenated; malloc'd NUL-terminated (free()). */
char *th_sim_pem_chain(X509 *const *certs, size_t n, size_t *len, th_err *err);
/* DER of a certificate or CRL; malloc'd (free()). */
uint8_t *th_sim_cert_der(X509 *x, size_t *len, th_err *err);
uint8_t *th_sim_crl_der(X509_CRL *crl, size_t *len, th_err *err);

/* --- sim_pki_quote.c --- */

/* Fills att_xy, qe_mrsigner and the constant QE certification block (spec 4.5); needs the
 * certificates loaded. */
int th_sim_build_qe_block(struct th_sim_pki *pki, th_err *err);

/* --- sim_pki_files.c (core/secret_file with the simulator's words) --- */

/* Creates dir (0700) if missing; refuses one that is not ours or is open to group/others. */
int th_sim_check_dir(const char *dir, th_err *err);
/* Reads dir/name whole (at most `max` bytes; a symlink is refused). Returns 1 when read (*out
 * malloc'd, NUL-terminated; the caller wipes a secret and free()s it), 0 when the file does not
 * exist, -1 on error. With `secret`, a file open to group/others is refused. */
int th_sim_read_file(const char *dir, const char *name, int secret, size_t max, uint8_t **out,
                     size_t *len, th_err *err);
/* Writes dir/name atomically, mode 0600: temp file O_CREAT|O_EXCL|O_NOFOLLOW, fsync, rename,
 * fsync of the directory. */
int th_sim_write_file(const char *dir, const char *name, const uint8_t *data, size_t len,
                      th_err *err);

#endif
