/* core/keccak.h — Keccak as Ethereum and dstack use it (original Keccak padding 0x01, not
 * FIPS 202 SHA3's 0x06): Keccak-256, and Keccak-384/-512 for Tappd.TdxQuote's keccak384 and
 * keccak512 report data (shared/specs/dstack.md section 3).
 *
 * Written by hand because the OpenSSL we build on (3.0) has no KECCAK digests (KECCAK-256 arrived
 * in 3.2), neither libsodium nor libsecp256k1 has one, and Debian packages Keccak only for Rust and
 * Perl; SHA3 gives different digests. Used for dstack's KMS and app signatures (the digest that
 * secp256k1 recovery starts from), EVM addresses, the compose hash and TdxQuote report data.
 * Nothing allocates; a context lives wherever the caller puts it. */
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

/* Keccak with any output length out_len from 1 to 64 bytes and capacity 2 * out_len (Keccak's
 * standard instances): 32 = Keccak-256, 48 = Keccak-384 (rate 104), 64 = Keccak-512 (rate 72).
 * An out_len outside 1..64 is a programming error: it is clamped to 64. */
typedef struct th_keccak_ctx {
  uint64_t state[25];
  size_t used;    /* bytes absorbed into the current block */
  size_t rate;    /* 200 - 2 * out_len */
  size_t out_len;
} th_keccak_ctx;

void th_keccak_init(th_keccak_ctx *ctx, size_t out_len);
void th_keccak_update(th_keccak_ctx *ctx, const void *data, size_t len);
/* Writes ctx's out_len digest bytes and wipes ctx. */
void th_keccak_final(th_keccak_ctx *ctx, uint8_t *out);

/* One shot: out (out_len bytes) = Keccak[2 * out_len](data). */
void th_keccak(const void *data, size_t len, uint8_t *out, size_t out_len);

#endif
