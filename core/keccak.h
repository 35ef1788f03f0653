/* core/keccak.h — Keccak-256 as Ethereum and dstack use it (original Keccak padding 0x01, not
 * FIPS 202 SHA3-256's 0x06).
 *
 * Written by hand because the OpenSSL we build on (3.0) has no KECCAK-256 digest (it arrived in
 * 3.2), neither libsodium nor libsecp256k1 has one, and Debian packages Keccak only for Rust and
 * Perl; SHA3-256 gives different digests. Used for dstack's KMS signatures (the digest that
 * secp256k1 recovery starts from). Nothing allocates; a th_keccak256_ctx lives wherever the
 * caller puts it. */
#ifndef TH_KECCAK_H
#define TH_KECCAK_H

#include <stddef.h>
#include <stdint.h>

typedef struct th_keccak256_ctx {
  uint64_t state[25];
  size_t used; /* bytes absorbed into the current 136-byte block */
} th_keccak256_ctx;

void th_keccak256_init(th_keccak256_ctx *ctx);
void th_keccak256_update(th_keccak256_ctx *ctx, const void *data, size_t len);
/* Writes the 32-byte digest and wipes ctx. */
void th_keccak256_final(th_keccak256_ctx *ctx, uint8_t out[32]);

/* One shot: out = Keccak-256(data). */
void th_keccak256(const void *data, size_t len, uint8_t out[32]);

#endif
