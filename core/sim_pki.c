/* core/sim_pki.c — opening the simulator PKI (core/sim_pki.h): the seed, the keys derived from
 * it, and the stored certificates and CRLs, each loaded and checked or else created.
 *
 * Why stored: OpenSSL's ECDSA signatures are randomised, so re-signing would give a different
 * root DER on every start; the files keep the bytes stable. Each file is loaded on its own and
 * validated against the keys the seed gives (parse, subject/issuer name, public key, signature
 * by the issuer's key), so a damaged file is a clear error naming it, and a missing one is
 * re-created (the keys are deterministic, so a re-created certificate still chains with the
 * stored ones). A seed file written now (new PKI) re-creates every file. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "ecdsa.h"
#include "sim_pki_internal.h"

#define MAX_DER_FILE (64 * 1024)

static const char *const CERT_FILE[] = {[TH_SIM_ROOT] = "root.der",
                                        [TH_SIM_PCK_CA] = "pck_ca.der",
                                        [TH_SIM_PCK] = "pck.der",
                                        [TH_SIM_TCB] = "tcb.der"};

/* Reads or creates DIR/seed. *created tells whether the seed is new. */
static int load_seed(const char *dir, const uint8_t *given, uint8_t seed[TH_SIM_SEED_SIZE],
                     int *created, th_err *err) {
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = th_sim_read_file(dir, "seed", 1, 4096, &data, &len, err);
  *created = 0;
  if (rc < 0) return -1;
  if (rc == 1) {
    if (len == TH_SIM_SEED_SIZE) memcpy(seed, data, TH_SIM_SEED_SIZE);
    OPENSSL_cleanse(data, len);
    free(data);
    if (len != TH_SIM_SEED_SIZE)
      return th_err_set(err, TH_EBADDATA,
                        "simulator PKI: %s/seed has %zu bytes, expected 32; "
                        "remove %s to start over",
                        dir, len, dir);
    if (given && CRYPTO_memcmp(given, seed, TH_SIM_SEED_SIZE) != 0)
      return th_err_set(err, TH_EINVAL,
                        "simulator PKI: %s/seed holds a different seed than the "
                        "one given; remove %s to start over",
                        dir, dir);
    return 0;
  }
  if (given)
    memcpy(seed, given, TH_SIM_SEED_SIZE);
  else if (RAND_priv_bytes(seed, TH_SIM_SEED_SIZE) != 1)
    return th_err_set(err, TH_EIO, "simulator PKI: no random bytes for a seed");
  *created = 1;
  return th_sim_write_file(dir, "seed", seed, TH_SIM_SEED_SIZE, err);
}

static int bad_file(const char *dir, const char *name, const char *what, const char *why,
                    th_err *err) {
  ERR_clear_error();
  return th_err_set(err, TH_EBADDATA,
                    "simulator PKI: %s/%s is not a valid %s (%s); delete it to re-create it", dir,
                    name, what, why);
}

/* What is wrong with a stored certificate of `role`, or NULL. */
static const char *cert_problem(th_sim_pki *pki, int role, X509 *x, EVP_PKEY *issuer_key) {
  X509_NAME *want = th_sim_subject(role);
  int same_subject = want && X509_NAME_cmp(X509_get_subject_name(x), want) == 0;
  X509_NAME_free(want);
  if (!same_subject) return "unexpected subject";
  if (EVP_PKEY_eq(X509_get0_pubkey(x), pki->key[role]) != 1)
    return "public key does not match the seed";
  if (X509_verify(x, issuer_key) != 1) return "signature does not verify under its issuer's key";
  return NULL;
}

static X509 *parse_cert(th_sim_pki *pki, int role, EVP_PKEY *issuer_key, const uint8_t *der,
                        size_t len, th_err *err) {
  const uint8_t *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  const char *why =
      !x || p != der + len ? "not one DER certificate" : cert_problem(pki, role, x, issuer_key);
  if (why) {
    X509_free(x);
    bad_file(pki->dir, CERT_FILE[role], "certificate", why, err);
    return NULL;
  }
  return x;
}

/* Loads DIR/<role file> or (when absent or `fresh`) builds and stores it. */
static X509 *load_cert(th_sim_pki *pki, int role, X509 *issuer, EVP_PKEY *issuer_key, int fresh,
                       th_err *err) {
  uint8_t *der = NULL;
  size_t len = 0;
  int rc =
      fresh ? 0 : th_sim_read_file(pki->dir, CERT_FILE[role], 0, MAX_DER_FILE, &der, &len, err);
  if (rc < 0) return NULL;
  if (rc == 1) {
    X509 *x = parse_cert(pki, role, issuer_key, der, len, err);
    free(der);
    return x;
  }
  X509 *x = th_sim_make_cert(pki, role, issuer, issuer_key, err);
  if (x && ((der = th_sim_cert_der(x, &len, err)) == NULL ||
            th_sim_write_file(pki->dir, CERT_FILE[role], der, len, err) != 0)) {
    X509_free(x);
    x = NULL;
  }
  free(der);
  return x;
}

/* What is wrong with a stored (empty) CRL of `ca`, or NULL. */
static const char *crl_problem(X509_CRL *crl, X509 *ca, EVP_PKEY *ca_key) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0)
    return "unexpected issuer";
  if (X509_CRL_verify(crl, ca_key) != 1) return "signature does not verify under its issuer's key";
  if (sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0) return "it lists revoked certificates";
  return NULL;
}

static X509_CRL *parse_crl(const char *dir, const char *name, X509 *ca, EVP_PKEY *ca_key,
                           const uint8_t *der, size_t len, th_err *err) {
  const uint8_t *p = der;
  X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
  const char *why = !crl || p != der + len ? "not one DER CRL" : crl_problem(crl, ca, ca_key);
  if (why) {
    X509_CRL_free(crl);
    bad_file(dir, name, "CRL", why, err);
    return NULL;
  }
  return crl;
}

static X509_CRL *load_crl(th_sim_pki *pki, const char *name, X509 *ca, EVP_PKEY *ca_key, int fresh,
                          uint8_t **der, size_t *len, th_err *err) {
  int rc = fresh ? 0 : th_sim_read_file(pki->dir, name, 0, MAX_DER_FILE, der, len, err);
  if (rc < 0) return NULL;
  if (rc == 1) return parse_crl(pki->dir, name, ca, ca_key, *der, *len, err);
  X509_CRL *crl = th_sim_make_crl(ca, ca_key, 0, err);
  if (crl && ((*der = th_sim_crl_der(crl, len, err)) == NULL ||
              th_sim_write_file(pki->dir, name, *der, *len, err) != 0)) {
    X509_CRL_free(crl);
    crl = NULL;
  }
  return crl;
}

static int load_objects(th_sim_pki *pki, int fresh, th_err *err) {
  EVP_PKEY **k = pki->key;
  if (!(pki->root = load_cert(pki, TH_SIM_ROOT, NULL, k[TH_SIM_ROOT], fresh, err)) ||
      !(pki->pck_ca = load_cert(pki, TH_SIM_PCK_CA, pki->root, k[TH_SIM_ROOT], fresh, err)) ||
      !(pki->pck = load_cert(pki, TH_SIM_PCK, pki->pck_ca, k[TH_SIM_PCK_CA], fresh, err)) ||
      !(pki->tcb = load_cert(pki, TH_SIM_TCB, pki->root, k[TH_SIM_ROOT], fresh, err)) ||
      !(pki->root_crl = load_crl(pki, "root_crl.der", pki->root, k[TH_SIM_ROOT], fresh,
                                 &pki->root_crl_der, &pki->root_crl_der_len, err)) ||
      !(pki->pck_crl = load_crl(pki, "pck_crl.der", pki->pck_ca, k[TH_SIM_PCK_CA], fresh,
                                &pki->pck_crl_der, &pki->pck_crl_der_len, err)) ||
      !(pki->root_der = th_sim_cert_der(pki->root, &pki->root_der_len, err)))
    return -1;
  X509 *pck_ca_chain[] = {pki->pck_ca, pki->root}, *tcb_chain[] = {pki->tcb, pki->root};
  if (!(pki->pck_crl_chain_pem = th_sim_pem_chain(pck_ca_chain, 2, NULL, err)) ||
      !(pki->tcb_chain_pem = th_sim_pem_chain(tcb_chain, 2, NULL, err)))
    return -1;
  return 0;
}

th_sim_pki *th_sim_pki_open(const char *dir, const uint8_t *seed, th_err *err) {
  uint8_t s[TH_SIM_SEED_SIZE];
  int created = 0, ok = 0;
  th_sim_pki *pki = calloc(1, sizeof *pki);
  if (!pki || !(pki->dir = strdup(dir))) {
    th_err_set(err, TH_ENOMEM, "out of memory");
  } else if (th_sim_check_dir(dir, err) == 0 && load_seed(dir, seed, s, &created, err) == 0) {
    ok = th_sim_derive_keys(s, pki->key, err) == 0 &&
         th_sim_derive_ids(s, pki->ppid, pki->qe_id, pki->instance_id, err) == 0;
  }
  OPENSSL_cleanse(s, sizeof s);
  if (ok && load_objects(pki, created, err) == 0 && th_sim_build_qe_block(pki, err) == 0 &&
      (pki->att_signer = th_ecdsa_signer(pki->key[TH_SIM_ATT], err)) != NULL)
    return pki;
  th_sim_pki_free(pki);
  return NULL;
}

void th_sim_pki_free(th_sim_pki *pki) {
  if (!pki) return;
  EVP_MD_CTX_free(pki->att_signer);
  for (int i = 0; i < TH_SIM_NKEYS; i++) EVP_PKEY_free(pki->key[i]);
  X509_free(pki->root);
  X509_free(pki->pck_ca);
  X509_free(pki->pck);
  X509_free(pki->tcb);
  X509_CRL_free(pki->root_crl);
  X509_CRL_free(pki->pck_crl);
  free(pki->root_der);
  free(pki->root_crl_der);
  free(pki->pck_crl_der);
  free(pki->pck_crl_chain_pem);
  free(pki->tcb_chain_pem);
  free(pki->qe_block);
  free(pki->dir);
  OPENSSL_cleanse(pki, sizeof *pki);
  free(pki);
}

X509 *th_sim_pki_root(const th_sim_pki *pki) { return pki->root; }

const uint8_t *th_sim_pki_root_der(const th_sim_pki *pki, size_t *len) {
  *len = pki->root_der_len;
  return pki->root_der;
}
