/* core/ecdsa.h — ECDSA P-256 with SHA-256 in DCAP's raw encodings, on OpenSSL 3.
 *
 * DCAP stores signatures as raw r||s (32 + 32 bytes, big-endian, left-padded) and public keys as
 * raw X||Y (no 0x04 prefix); OpenSSL speaks DER signatures and EVP_PKEYs. These helpers convert
 * at one place (shared/specs/tdx-quote.md pitfalls 1 and 2). Keys returned are owned by the caller
 * (EVP_PKEY_free). */
#ifndef TH_ECDSA_H
#define TH_ECDSA_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A P-256 public key from raw X||Y; NULL with TH_EBADDATA "<what>: not a P-256 point" when the
 * point is not on the curve. */
EVP_PKEY *th_p256_public_from_xy(const uint8_t xy[64], const char *what, th_err *err);

/* A P-256 key pair from a private scalar (32 bytes big-endian, 1 <= k < n). */
EVP_PKEY *th_p256_from_scalar(const uint8_t scalar[32], th_err *err);

/* Raw X||Y of a P-256 key's public point. */
int th_p256_public_xy(EVP_PKEY *key, uint8_t xy[64], th_err *err);

/* 1 = valid, 0 = invalid signature (or r/s out of range), -1 = internal error (err filled). */
int th_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t sig[64],
                        th_err *err);

/* Signs SHA-256(msg), writing raw r||s. */
int th_ecdsa_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64], th_err *err);

/* For a key that signs often (the simulator's attestation key): the DigestSign context made once
 * (its provider lookups cost about as much as the signature), copied for each signature. The
 * signer is the caller's (EVP_MD_CTX_free); NULL with err. */
EVP_MD_CTX *th_ecdsa_signer(EVP_PKEY *key, th_err *err);
int th_ecdsa_sign_with(const EVP_MD_CTX *signer, const uint8_t *msg, size_t len, uint8_t sig[64],
                       th_err *err);

#endif
