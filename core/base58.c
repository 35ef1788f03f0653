/* core/base58.c — see base58.h. Big-number base conversion, one input digit at a time: the
 * number being built lives at the end of the output buffer and grows towards its start, so it
 * never needs more room than the result itself. */
#include "base58.h"

#include <string.h>

static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* The value of a base58 character, or -1. */
static int digit_value(unsigned char c) {
  const char *p = c ? strchr(alphabet, c) : NULL;
  return p ? (int)(p - alphabet) : -1;
}

int th_base58_encode(const uint8_t *in, size_t len, char *out, size_t out_size, size_t *out_len,
                     th_err *err) {
  size_t zeros = 0;
  while (zeros < len && in[zeros] == 0) zeros++;
  if (out_size < zeros + 1) return th_err_set(err, TH_ETOOBIG, "base58: output buffer too small");
  /* Base-58 digits (values 0..57), most significant first, in out[end - used .. end). */
  size_t end = out_size - 1, room = out_size - 1 - zeros, used = 0;
  uint8_t *d = (uint8_t *)out;
  for (size_t i = zeros; i < len; i++) {
    unsigned carry = in[i];
    for (size_t j = 0; j < used; j++) {
      carry += 256u * d[end - 1 - j];
      d[end - 1 - j] = (uint8_t)(carry % 58);
      carry /= 58;
    }
    while (carry) {
      if (used == room) return th_err_set(err, TH_ETOOBIG, "base58: output buffer too small");
      d[end - 1 - used++] = (uint8_t)(carry % 58);
      carry /= 58;
    }
  }
  memmove(out + zeros, out + end - used, used);
  for (size_t i = zeros; i < zeros + used; i++) out[i] = alphabet[(uint8_t)out[i]];
  memset(out, '1', zeros);
  out[zeros + used] = '\0';
  if (out_len) *out_len = zeros + used;
  return 0;
}

int th_base58_decode(const char *in, size_t len, uint8_t *out, size_t out_size, size_t *out_len,
                     th_err *err) {
  size_t ones = 0;
  while (ones < len && in[ones] == '1') ones++;
  if (out_size < ones)
    return th_err_set(err, TH_ETOOBIG, "base58: decoded value longer than %zu bytes", out_size);
  /* Bytes of the number, most significant first, in out[out_size - used .. out_size). */
  size_t room = out_size - ones, used = 0;
  for (size_t i = ones; i < len; i++) {
    int v = digit_value((unsigned char)in[i]);
    if (v < 0) {
      unsigned char c = (unsigned char)in[i];
      if (c >= 0x20 && c < 0x7f)
        return th_err_set(err, TH_EBADDATA, "base58: bad character '%c' at %zu", c, i);
      return th_err_set(err, TH_EBADDATA, "base58: bad byte 0x%02x at %zu", c, i);
    }
    unsigned carry = (unsigned)v;
    for (size_t j = 0; j < used; j++) {
      carry += 58u * out[out_size - 1 - j];
      out[out_size - 1 - j] = (uint8_t)carry;
      carry >>= 8;
    }
    while (carry) {
      if (used == room)
        return th_err_set(err, TH_ETOOBIG, "base58: decoded value longer than %zu bytes",
                          out_size);
      out[out_size - 1 - used++] = (uint8_t)carry;
      carry >>= 8;
    }
  }
  memmove(out + ones, out + out_size - used, used);
  memset(out, 0, ones);
  if (out_len) *out_len = ones + used;
  return 0;
}
