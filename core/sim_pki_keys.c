/* core/sim_pki_keys.c — the simulator's keys and platform identifiers, all derived from the
 * 32-byte seed so that a stored seed rebuilds the same PKI (shared/specs/tdx-quote.md 4.2).
 *
 * Key derivation is dstack's mock-attestation construction (same domain string and labels, plus
 * our "tdx-att"): scalar = SHA-256("dstack-mock-p256-v1" ‖ seed ‖ label ‖ counter u32 BE), the
 * first counter whose value lies in [1, n-1]. The PPID, QE ID and platform instance ID are the
 * first 16 bytes of SHA-256(tag ‖ seed) with tags "teehost-sim-ppid", "teehost-sim-qe-id" and
 * "teehost-sim-instance-id" (teehost's own choice; dstack uses zeros). Scalars are wiped with
 * OPENSSL_cleanse as soon as the EVP_PKEY holds them. */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "ecdsa.h"
#include "sim_pki_internal.h"

static const char *const KEY_LABELS[TH_SIM_NKEYS] = {"tdx-root", "tdx-pck-ca", "tdx-pck", "tdx-tcb",
                                                     "tdx-att"};

/* P-256 group order n, big-endian. */
static const uint8_t P256_ORDER[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

int th_sim_sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned n = 0;
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(c, a, alen) == 1 && EVP_DigestUpdate(c, b, blen) == 1 &&
           EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
  EVP_MD_CTX_free(c); /* frees and cleanses the digest state */
  return ok ? 0 : -1;
}

static int scalar_in_range(const uint8_t k[32]) {
  static const uint8_t zero[32];
  return memcmp(k, zero, 32) != 0 && memcmp(k, P256_ORDER, 32) < 0;
}

static void derive_scalar(const uint8_t seed[TH_SIM_SEED_SIZE], const char *label, uint8_t k[32]) {
  static const char domain[] = "dstack-mock-p256-v1";
  size_t dlen = sizeof domain - 1, llen = strlen(label);
  uint8_t msg[sizeof domain - 1 + TH_SIM_SEED_SIZE + 32 + 4];
  if (llen > 32) llen = 32; /* labels are ours and short */
  memcpy(msg, domain, dlen);
  memcpy(msg + dlen, seed, TH_SIM_SEED_SIZE);
  memcpy(msg + dlen + TH_SIM_SEED_SIZE, label, llen);
  uint8_t *ctr = msg + dlen + TH_SIM_SEED_SIZE + llen;
  for (uint32_t counter = 0;; counter++) {
    ctr[0] = (uint8_t)(counter >> 24), ctr[1] = (uint8_t)(counter >> 16);
    ctr[2] = (uint8_t)(counter >> 8), ctr[3] = (uint8_t)counter;
    SHA256(msg, (size_t)(ctr + 4 - msg), k);
    if (scalar_in_range(k)) break;
  }
  OPENSSL_cleanse(msg, sizeof msg);
}

int th_sim_derive_p256(const uint8_t seed[TH_SIM_SEED_SIZE], const char *label, uint8_t scalar[32],
                       uint8_t pub[64], th_err *err) {
  uint8_t k[32];
  derive_scalar(seed, label, k);
  int rc = 0;
  if (pub) {
    EVP_PKEY *key = th_p256_from_scalar(k, err);
    rc = key ? th_p256_public_xy(key, pub, err) : -1;
    EVP_PKEY_free(key);
  }
  if (scalar && rc == 0) memcpy(scalar, k, 32);
  OPENSSL_cleanse(k, sizeof k);
  return rc;
}

int th_sim_derive_keys(const uint8_t seed[TH_SIM_SEED_SIZE], EVP_PKEY *keys[TH_SIM_NKEYS],
                       th_err *err) {
  uint8_t k[32];
  for (int i = 0; i < TH_SIM_NKEYS; i++) {
    derive_scalar(seed, KEY_LABELS[i], k);
    keys[i] = th_p256_from_scalar(k, err);
    OPENSSL_cleanse(k, sizeof k);
    if (!keys[i]) return -1;
  }
  return 0;
}

static int derive_id(const uint8_t seed[TH_SIM_SEED_SIZE], const char *tag, uint8_t id[16]) {
  uint8_t h[32];
  if (th_sim_sha256(tag, strlen(tag), seed, TH_SIM_SEED_SIZE, h) != 0) return -1;
  memcpy(id, h, 16);
  return 0;
}

int th_sim_derive_ids(const uint8_t seed[TH_SIM_SEED_SIZE], uint8_t ppid[16], uint8_t qe_id[16],
                      uint8_t instance_id[16], th_err *err) {
  if (derive_id(seed, "teehost-sim-ppid", ppid) != 0 ||
      derive_id(seed, "teehost-sim-qe-id", qe_id) != 0 ||
      derive_id(seed, "teehost-sim-instance-id", instance_id) != 0)
    return th_err_set(err, TH_ENOMEM, "simulator PKI: SHA-256 failed");
  return 0;
}
