/* tests/unit/test_base58.c — base58 with the Bitcoin alphabet (core/base58.h).
 *
 * Vectors: every pair of Bitcoin Core's src/test/data/base58_encode_decode.json (bitcoin/bitcoin,
 * commit 284c42a3ceb98587895935139984c52e9958005d), typed in as data: encode gives the text, the
 * text decodes back to the bytes, also into an exactly sized buffer. Plus the errors: characters
 * outside the alphabet (0 O I l, a space, a non-ASCII byte) and output buffers one byte short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base58.h"
#include "vectors.h"

static const char *const bitcoin_vectors[][2] = {
    {"", ""},
    {"61", "2g"},
    {"626262", "a3gV"},
    {"636363", "aPEr"},
    {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
    {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
    {"516b6fcd0f", "ABnLTmg"},
    {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
    {"572e4794", "3EFU7m"},
    {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
    {"10c8511e", "Rt5zm"},
    {"00000000000000000000", "1111111111"},
    {"00000000000000000000000000000000000000000000000000000000000000000000000000000000",
     "1111111111111111111111111111111111111111"},
    {"00000000000000000000000000000000000000000000000000000000000000000000000000000001",
     "1111111111111111111111111111111111111112"},
    {"0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000ec39"
     "d04c37e71e5d591881f6",
     "111111111111111111111111111111111111111111111111111111111111111111111111111111111111115TYzL"
     "YH1udmLdzCLM"},
    {"000111d38e5fc9071ffcd20b4a763cc9ae4f252bb4e48fd66a835e252ada93ff480d6dd43dc62a641155a5",
     "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c"
     "2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50515253545556575859"
     "5a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283848586"
     "8788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
     "b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0"
     "e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "1cWB5HCBdLjAuqGGReWE3R3CguuwSjw6RHn39s2yuDRTS5NsBgNiFpWgAnEx6VQi8csexkgYw3mdYrMHr8x9i7aEwP8kZ"
     "7vccXWqKDvGv3u1GxFKPuAkn8JCPPGDMf3vMMnbzm6Nh9zh1gcNsMvH3ZNLmP5fSG6DGbbi2tuwMWPthr4boWwCxf7ew"
     "SgNQeacyozhKDDQQ1qL5fQFUW52QKUZDZ5fw3KXNQJMcNTcaB723LchjeKun7MuGW5qyCBZYzA1KjofN1gYBV3NqyhQJ3"
     "Ns746GNuf9N2pQPmHz4xpnSrrfCvy6TVVz5d4PdrjeshsWQwpZsZGzvbdAdN8MKV5QsBDY"},
    {"271F359E", "zzzzy"},
    {"271F359F", "zzzzz"},
    {"271F35A0", "211111"},
    {"271F35A1", "211112"},
};

#define NVEC (sizeof bitcoin_vectors / sizeof bitcoin_vectors[0])

static void encodes_bitcoin_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < NVEC; i++) {
    size_t len, out_len = 99;
    uint8_t *bytes = vector_unhex_alloc(bitcoin_vectors[i][0], &len);
    const char *want = bitcoin_vectors[i][1];
    char out[512];
    th_err err = {0};
    assert_int_equal(th_base58_encode(bytes, len, out, sizeof out, &out_len, &err), 0);
    assert_string_equal(out, want);
    assert_int_equal(out_len, strlen(want));
    /* An exactly sized buffer is enough; one byte less is not. */
    memset(out, 'x', sizeof out);
    assert_int_equal(th_base58_encode(bytes, len, out, strlen(want) + 1, NULL, &err), 0);
    assert_string_equal(out, want);
    assert_int_equal(th_base58_encode(bytes, len, out, strlen(want), NULL, &err), -1);
    assert_int_equal(err.code, TH_ETOOBIG);
    assert_string_equal(err.message, "base58: output buffer too small");
    assert_true(strlen(want) + 1 <= TH_BASE58_ENCODED_MAX(len));
    free(bytes);
  }
}

static void decodes_bitcoin_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < NVEC; i++) {
    size_t len, out_len = 99;
    uint8_t *bytes = vector_unhex_alloc(bitcoin_vectors[i][0], &len);
    const char *text = bitcoin_vectors[i][1];
    uint8_t out[512];
    th_err err = {0};
    assert_int_equal(th_base58_decode(text, strlen(text), out, sizeof out, &out_len, &err), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, bytes, len);
    assert_int_equal(th_base58_decode(text, strlen(text), out, len, &out_len, &err), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, bytes, len);
    if (len > 0) {
      assert_int_equal(th_base58_decode(text, strlen(text), out, len - 1, &out_len, &err), -1);
      assert_int_equal(err.code, TH_ETOOBIG);
    }
    free(bytes);
  }
}

static void rejects_characters_outside_the_alphabet(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *message;
  } bad[] = {
      {"0", "base58: bad character '0' at 0"},   {"2gO", "base58: bad character 'O' at 2"},
      {"1I", "base58: bad character 'I' at 1"},  {"a3gl", "base58: bad character 'l' at 3"},
      {"a3 gV", "base58: bad character ' ' at 2"}, {"2g\xc3\xa9", "base58: bad byte 0xc3 at 2"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t out[16];
    th_err err = {0};
    assert_int_equal(th_base58_decode(bad[i].text, strlen(bad[i].text), out, sizeof out, NULL,
                                      &err),
                     -1);
    assert_int_equal(err.code, TH_EBADDATA);
    assert_string_equal(err.message, bad[i].message);
  }
  /* An embedded NUL is a bad byte too, not the end of the text. */
  uint8_t out[16];
  th_err err = {0};
  assert_int_equal(th_base58_decode("2g\0", 3, out, sizeof out, NULL, &err), -1);
  assert_string_equal(err.message, "base58: bad byte 0x00 at 2");
}

static void round_trips_every_length(void **state) {
  (void)state;
  /* Self-made: bytes (37i + 11) mod 256 with 0..3 leading zeros, lengths 0..80. */
  for (size_t zeros = 0; zeros < 4; zeros++) {
    for (size_t len = zeros; len <= 80; len++) {
      uint8_t in[80] = {0}, back[80];
      char text[TH_BASE58_ENCODED_MAX(80)];
      size_t text_len, back_len;
      for (size_t i = 0; i < len; i++) in[i] = i < zeros ? 0 : (uint8_t)(37 * i + 11);
      assert_int_equal(th_base58_encode(in, len, text, sizeof text, &text_len, NULL), 0);
      for (size_t i = 0; i < zeros; i++) assert_int_equal(text[i], '1');
      assert_int_equal(th_base58_decode(text, text_len, back, sizeof back, &back_len, NULL), 0);
      assert_int_equal(back_len, len);
      assert_memory_equal(back, in, len);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encodes_bitcoin_vectors),
      cmocka_unit_test(decodes_bitcoin_vectors),
      cmocka_unit_test(rejects_characters_outside_the_alphabet),
      cmocka_unit_test(round_trips_every_length),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
