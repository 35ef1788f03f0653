/* core/hex.h — hex text <-> bytes, and "binary or hex?" detection for quote files.
 *
 * Collateral byte fields and quote files come as hex text: upper or lower case, a quote file may
 * have a `0x` prefix and surrounding white space (shared/vectors/README.md section 4). Nothing here
 * allocates except th_bytes_from_text. */
#ifndef TH_HEX_H
#define TH_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Writes 2*len lowercase hex digits and a NUL to out (size >= 2*len+1). */
void th_hex_encode(const uint8_t *bytes, size_t len, char *out);

/* Decodes exactly `want` bytes from `len` hex digits (either case). Fails with TH_EBADDATA naming
 * `what` when len != 2*want or a character is not a hex digit:
 * "tcb_info_signature: expected 128 hex digits, got 127" / "...: bad hex digit 'g' at 5". */
int th_hex_decode_exact(const char *hex, size_t len, uint8_t *out, size_t want, const char *what,
                        th_err *err);

/* Decodes any even number of hex digits into a malloc'd buffer (*out, *out_len; free()). */
int th_hex_decode_alloc(const char *hex, size_t len, uint8_t **out, size_t *out_len,
                        const char *what, th_err *err);

/* Takes the bytes of a quote file: if they are hex text (optional 0x/0X prefix, hex digits, ASCII
 * white space anywhere around them) decodes them, else copies them as binary. *out is malloc'd
 * (free()); a binary quote never starts with a hex digit (its first byte is 3, 4 or 5). */
int th_bytes_from_text(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len,
                       th_err *err);

#endif
