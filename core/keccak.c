/* core/keccak.c — see keccak.h. Keccak-f[1600] as in the Keccak reference (FIPS 202 section 3),
 * rate 1088 bits (136 bytes), capacity 512, output 256 bits. Lanes are read and written
 * little-endian byte by byte, so the code does not depend on the host's byte order. */
#include "keccak.h"

#include <string.h>

#define RATE 136

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets and the pi permutation, in the order the combined rho+pi step visits lanes. */
static const unsigned rho[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                 27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static uint64_t rotl(uint64_t x, unsigned n) { return x << n | x >> (64 - n); }

static void keccak_f(uint64_t a[25]) {
  for (int round = 0; round < 24; round++) {
    uint64_t c[5], t;
    for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (int x = 0; x < 5; x++) {
      t = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (int y = 0; y < 25; y += 5) a[y + x] ^= t;
    }
    t = a[1];
    for (int i = 0; i < 24; i++) {
      uint64_t next = a[pi[i]];
      a[pi[i]] = rotl(t, rho[i]);
      t = next;
    }
    for (int y = 0; y < 25; y += 5) {
      for (int x = 0; x < 5; x++) c[x] = a[y + x];
      for (int x = 0; x < 5; x++) a[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
    }
    a[0] ^= round_constants[round];
  }
}

/* XORs one byte into the state at byte offset i (lane i/8, little-endian). */
static void absorb_byte(uint64_t *state, size_t i, uint8_t b) {
  state[i / 8] ^= (uint64_t)b << (8 * (i % 8));
}

void th_keccak256_init(th_keccak256_ctx *ctx) { memset(ctx, 0, sizeof *ctx); }

void th_keccak256_update(th_keccak256_ctx *ctx, const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    absorb_byte(ctx->state, ctx->used++, p[i]);
    if (ctx->used == RATE) {
      keccak_f(ctx->state);
      ctx->used = 0;
    }
  }
}

void th_keccak256_final(th_keccak256_ctx *ctx, uint8_t out[32]) {
  /* Keccak's pad10*1 with the original domain byte 0x01 (SHA3 would use 0x06). */
  absorb_byte(ctx->state, ctx->used, 0x01);
  absorb_byte(ctx->state, RATE - 1, 0x80);
  keccak_f(ctx->state);
  for (size_t i = 0; i < 32; i++) out[i] = (uint8_t)(ctx->state[i / 8] >> (8 * (i % 8)));
  /* The state may hold secret input (a digest of a key, say): clear it. volatile keeps the
   * compiler from dropping the stores to an object that is not read again. */
  volatile uint8_t *v = (volatile uint8_t *)ctx;
  for (size_t i = 0; i < sizeof *ctx; i++) v[i] = 0;
}

void th_keccak256(const void *data, size_t len, uint8_t out[32]) {
  th_keccak256_ctx ctx;
  th_keccak256_init(&ctx);
  th_keccak256_update(&ctx, data, len);
  th_keccak256_final(&ctx, out);
}
