/* core/x509_cache.h — what a long-running verifier should not redo for the same bytes:
 *  - decoded certificates, by the SHA-256 of their PEM block: every collateral carries the same
 *    Intel issuer chains and every quote of a platform the same PCK chain, and OpenSSL 3 spends
 *    ~0.25 ms decoding one certificate's public key (a lookup costs one SHA-256 of ~1 KB);
 *  - verification results, by a SHA-256 over everything the result depends on (trust anchor,
 *    certificates, CRLs, signed bytes and signature; the caller builds the key), with the time
 *    window in which the result holds: a chain checked with X509_verify_cert costs ~0.5 ms of
 *    ECDSA verifications, a hit costs nothing. Only successes are stored.
 *
 * Ownership: the caller owns the cache (no global state); entries hold a reference on their X509
 * (X509_up_ref); lookups return a new reference. Fixed capacity, oldest entry replaced first.
 * Not thread-safe (one loop). */
#ifndef TH_X509_CACHE_H
#define TH_X509_CACHE_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

typedef struct th_x509_cache th_x509_cache;

th_x509_cache *th_x509_cache_new(size_t capacity); /* NULL on out of memory */
void th_x509_cache_free(th_x509_cache *cache);     /* NULL ok */

/* A new reference to the certificate stored under key, or NULL. */
X509 *th_x509_cache_get(th_x509_cache *cache, const uint8_t key[32]);
/* Stores x (taking a reference of its own) under key. */
void th_x509_cache_put(th_x509_cache *cache, const uint8_t key[32], X509 *x);

/* Verification results: 1 if key was stored with a window containing now (then *from and *until,
 * if not NULL, receive the window), else 0. */
int th_x509_cache_result_ok(th_x509_cache *cache, const uint8_t key[32], int64_t now,
                            int64_t *from, int64_t *until);
void th_x509_cache_result_put(th_x509_cache *cache, const uint8_t key[32], int64_t from,
                              int64_t until);

#endif
