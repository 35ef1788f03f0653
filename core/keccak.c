/* core/keccak.c — see keccak.h. Keccak-f[1600] as in the Keccak reference (FIPS 202 section 3)
 * and a sponge whose rate is 200 - 2 * output bytes: 136 bytes for Keccak-256, 104 for
 * Keccak-384, 72 for Keccak-512. Lanes are read and written little-endian byte by byte, so the
 * code does not depend on the host's byte order. */
#include "keccak.h"

#include <string.h>

#define RATE256 136

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

/* The sponge shared by both context types: absorb into state at *used, rate bytes a block. */
static void sponge_absorb(uint64_t state[25], size_t *used, size_t rate, const void *data,
                          size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    absorb_byte(state, (*used)++, p[i]);
    if (*used == rate) {
      keccak_f(state);
      *used = 0;
    }
  }
}

/* Pads, permutes and squeezes out_len (<= rate) bytes. */
static void sponge_final(uint64_t state[25], size_t used, size_t rate, uint8_t *out,
                         size_t out_len) {
  /* Keccak's pad10*1 with the original domain byte 0x01 (SHA3 would use 0x06). */
  absorb_byte(state, used, 0x01);
  absorb_byte(state, rate - 1, 0x80);
  keccak_f(state);
  for (size_t i = 0; i < out_len; i++) out[i] = (uint8_t)(state[i / 8] >> (8 * (i % 8)));
}

/* The state may hold secret input (a digest of a key, say): clear it. volatile keeps the
 * compiler from dropping the stores to an object that is not read again. */
static void wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  for (size_t i = 0; i < n; i++) v[i] = 0;
}

void th_keccak256_init(th_keccak256_ctx *ctx) { memset(ctx, 0, sizeof *ctx); }

void th_keccak256_update(th_keccak256_ctx *ctx, const void *data, size_t len) {
  sponge_absorb(ctx->state, &ctx->used, RATE256, data, len);
}

void th_keccak256_final(th_keccak256_ctx *ctx, uint8_t out[32]) {
  sponge_final(ctx->state, ctx->used, RATE256, out, 32);
  wipe(ctx, sizeof *ctx);
}

void th_keccak256(const void *data, size_t len, uint8_t out[32]) {
  th_keccak256_ctx ctx;
  th_keccak256_init(&ctx);
  th_keccak256_update(&ctx, data, len);
  th_keccak256_final(&ctx, out);
}

void th_keccak_init(th_keccak_ctx *ctx, size_t out_len) {
  memset(ctx, 0, sizeof *ctx);
  if (out_len < 1 || out_len > 64) out_len = 64;
  ctx->out_len = out_len;
  ctx->rate = 200 - 2 * out_len;
}

void th_keccak_update(th_keccak_ctx *ctx, const void *data, size_t len) {
  sponge_absorb(ctx->state, &ctx->used, ctx->rate, data, len);
}

void th_keccak_final(th_keccak_ctx *ctx, uint8_t *out) {
  sponge_final(ctx->state, ctx->used, ctx->rate, out, ctx->out_len);
  wipe(ctx, sizeof *ctx);
}

void th_keccak(const void *data, size_t len, uint8_t *out, size_t out_len) {
  th_keccak_ctx ctx;
  th_keccak_init(&ctx, out_len);
  th_keccak_update(&ctx, data, len);
  th_keccak_final(&ctx, out);
}
