/* core/base58.h — base58 with the Bitcoin alphabet, as Solana writes public keys (and as
 * elizaOS plugin-tee shows its derived Solana address; shared/specs/dstack.md section 9,
 * eliza-tee.md 4.2).
 *
 * Written by hand: neither OpenSSL, libsodium nor libsecp256k1 has base58, and Debian packages no
 * C base58 library that we link (libbase58 would be one more dependency for forty lines).
 * Leading zero bytes map to leading '1's and back. The conversion is quadratic in the input
 * length, which is meant for keys and addresses (tens of bytes): callers bound the length of
 * untrusted text. Nothing allocates; the output buffer is also the working space. */
#ifndef TH_BASE58_H
#define TH_BASE58_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* An upper bound of the text size of n bytes, with the NUL (log(256)/log(58) < 1.37). */
#define TH_BASE58_ENCODED_MAX(n) ((n) * 137 / 100 + 2)

/* Writes the base58 text of in[0..len) and a NUL to out (out_size bytes; an exactly sized buffer
 * is enough, e.g. 45 for a 32-byte key) and its length to *out_len (may be NULL). Fails with
 * TH_ETOOBIG "base58: output buffer too small" (out then holds garbage). */
int th_base58_encode(const uint8_t *in, size_t len, char *out, size_t out_size, size_t *out_len,
                     th_err *err);

/* Decodes len characters of base58 text into out (out_size bytes), *out_len bytes. Fails with
 * TH_EBADDATA "base58: bad character 'x' at 5" (or "bad byte 0xNN at 5" when not printable)
 * or TH_ETOOBIG "base58: decoded value longer than N bytes". */
int th_base58_decode(const char *in, size_t len, uint8_t *out, size_t out_size, size_t *out_len,
                     th_err *err);

#endif
