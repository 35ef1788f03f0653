/* tests/unit/test_phala_env.c — encrypted env vars and the KMS signature on the env key
 * (core/phala_env.h, shared/specs/phala-cloud.md 5.1–5.4), and Keccak-256 (core/keccak.h).
 *
 * Vectors: tests/vectors/phala-cloud/env-encryption.json (made by the real encryptEnvVars of
 * @phala/dstack-sdk 0.5.7): every random-IV ciphertext decrypts to its plaintext, which our JSON
 * serializer reproduces from the env list; both known-answer ciphertexts reproduce byte for byte
 * from the pinned ephemeral key and IV; the five negative cases fail with their messages.
 * kms-pubkey-signature.json (the real verifyEnvEncryptPublicKey): each recovered signer, and the
 * trusted-signer check that upstream leaves to the caller. Keccak-256: the well-known digests of
 * "", "abc", "hello" and the quick brown fox, and multi-block inputs (bytes (7i+3) mod 256)
 * whose digests were computed with a plain Python Keccak whose permutation was first checked
 * against hashlib.sha3_256 on 302 lengths (the two differ only in the padding byte). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sodium.h>

#include "keccak.h"
#include "phala_env.h"

static cJSON *env_vectors, *kms_vectors;
static uint8_t server_sk[32];
static const char *server_pk_hex;

static char *read_vector(const char *rel) {
  const char *src = getenv("TEEHOST_SOURCE");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/vectors/phala-cloud/%s", src ? src : ".", rel);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s (set TEEHOST_SOURCE)", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Exactly n bytes from 2n hex digits, by sscanf: independent of core/hex. */
static void unhex(const char *hex, uint8_t *out, size_t n) {
  assert_int_equal(strlen(hex), 2 * n);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static const char *str(const cJSON *obj, const char *key) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsString(item)) fail_msg("vector field %s missing", key);
  return item->valuestring;
}

static const cJSON *list(const cJSON *obj, const char *key) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsArray(item)) fail_msg("vector field %s missing", key);
  return item;
}

static int load_vectors(void **state) {
  (void)state;
  char *text = read_vector("env-encryption.json");
  env_vectors = cJSON_Parse(text);
  free(text);
  text = read_vector("kms-pubkey-signature.json");
  kms_vectors = cJSON_Parse(text);
  free(text);
  if (!env_vectors || !kms_vectors) return -1;
  unhex(str(env_vectors, "server_private_key_hex"), server_sk, 32);
  server_pk_hex = str(env_vectors, "server_public_key_hex");
  return 0;
}

static int free_vectors(void **state) {
  (void)state;
  cJSON_Delete(env_vectors);
  cJSON_Delete(kms_vectors);
  return 0;
}

/* A case's "envs" list as th_dotenv_vars pointing into the JSON (free() the array). */
static th_dotenv_var *case_vars(const cJSON *c, size_t *count) {
  const cJSON *envs = list(c, "envs");
  *count = (size_t)cJSON_GetArraySize(envs);
  th_dotenv_var *vars = calloc(*count ? *count : 1, sizeof *vars);
  assert_non_null(vars);
  size_t i = 0;
  for (const cJSON *e = envs->child; e; e = e->next, i++)
    vars[i] = (th_dotenv_var){str(e, "key"), str(e, "value"), 0};
  return vars;
}

static void decrypts_to(const char *hex, const uint8_t sk[32], const char *want) {
  th_err err = {0};
  char *plain = NULL;
  size_t len = 0;
  if (th_phala_env_decrypt(hex, strlen(hex), sk, &plain, &len, &err))
    fail_msg("decrypt failed: %s", err.message);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(plain, want, len);
  assert_int_equal(plain[len], '\0');
  sodium_free(plain);
}

static void test_server_key_pair(void **state) {
  (void)state;
  th_err err = {0};
  uint8_t pk[32], want[32];
  assert_int_equal(th_phala_env_public_key(server_sk, pk, &err), 0);
  unhex(server_pk_hex, want, 32);
  assert_memory_equal(pk, want, 32);
}

/* Every ciphertext the real encryptEnvVars made decrypts to its plaintext, and our serializer
 * gives that plaintext, byte for byte, from the env list. */
static void test_random_cases_decrypt_and_serialize(void **state) {
  (void)state;
  const cJSON *cases = list(env_vectors, "random_cases");
  assert_int_equal(cJSON_GetArraySize(cases), 5);
  for (const cJSON *c = cases->child; c; c = c->next) {
    const char *want = str(c, "plaintext_json");
    decrypts_to(str(c, "encrypted_env_hex"), server_sk, want);
    size_t count;
    th_dotenv_var *vars = case_vars(c, &count);
    th_err err = {0};
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(th_phala_env_json(vars, count, &json, &len, &err), 0);
    assert_string_equal(json, want);
    assert_int_equal(len, strlen(want));
    sodium_free(json);
    uint8_t pk[32], server_pk[32];
    assert_int_equal(th_phala_env_public_key_from_hex(str(c, "public_key_argument"), pk, &err), 0);
    unhex(server_pk_hex, server_pk, 32);
    assert_memory_equal(pk, server_pk, 32);
    free(vars);
  }
}

/* The pinned ephemeral key and IV reproduce the real function's output exactly. */
static void test_known_answer_ciphertexts(void **state) {
  (void)state;
  const cJSON *cases = list(env_vectors, "deterministic_cases");
  assert_int_equal(cJSON_GetArraySize(cases), 2);
  for (const cJSON *c = cases->child; c; c = c->next) {
    uint8_t esk[32], iv[12], epk[32], want_epk[32];
    unhex(str(c, "ephemeral_private_key_hex"), esk, 32);
    unhex(str(c, "iv_hex"), iv, 12);
    th_err err = {0};
    assert_int_equal(th_phala_env_public_key(esk, epk, &err), 0);
    unhex(str(c, "ephemeral_public_key_hex"), want_epk, 32);
    assert_memory_equal(epk, want_epk, 32);
    size_t count;
    th_dotenv_var *vars = case_vars(c, &count);
    char *hex = NULL;
    if (th_phala_env_encrypt_fixed(vars, count, server_pk_hex, esk, iv, &hex, &err))
      fail_msg("%s: %s", str(c, "name"), err.message);
    assert_string_equal(hex, str(c, "encrypted_env_hex"));
    decrypts_to(hex, server_sk, str(c, "plaintext_json"));
    free(hex);
    free(vars);
  }
}

static void decrypt_fails(const char *hex, const uint8_t sk[32], int code, const char *message) {
  th_err err = {0};
  char *plain = (char *)"untouched";
  size_t len = 99;
  assert_int_equal(th_phala_env_decrypt(hex, strlen(hex), sk, &plain, &len, &err), -1);
  assert_null(plain);
  assert_int_equal(len, 0);
  assert_int_equal(err.code, code);
  assert_string_equal(err.message, message);
}

static void test_negative_cases_fail_clearly(void **state) {
  (void)state;
  static const char auth[] =
      "encrypted_env: authentication failed (wrong key, or the data was altered)";
  static const struct {
    const char *name;
    int code;
    const char *message;
  } want[] = {
      {"flipped_tag_byte", TH_EVERIFY, auth},
      {"flipped_ciphertext_byte", TH_EVERIFY, auth},
      {"flipped_iv_byte", TH_EVERIFY, auth},
      {"truncated_to_44_bytes_no_tag", TH_EBADDATA,
       "encrypted_env: 44 bytes is too short (ephemeral key 32 + IV 12 + tag 16 = 60)"},
      {"wrong_server_private_key", TH_EVERIFY, auth},
  };
  const cJSON *cases = list(env_vectors, "negative_cases");
  assert_int_equal(cJSON_GetArraySize(cases), 5);
  size_t i = 0;
  for (const cJSON *c = cases->child; c; c = c->next, i++) {
    assert_string_equal(str(c, "name"), want[i].name);
    uint8_t sk[32];
    memcpy(sk, server_sk, 32);
    if (cJSON_GetObjectItemCaseSensitive(c, "server_private_key_hex"))
      unhex(str(c, "server_private_key_hex"), sk, 32);
    decrypt_fails(str(c, "encrypted_env_hex"), sk, want[i].code, want[i].message);
  }
}

static void test_decrypt_rejects_malformed_input(void **state) {
  (void)state;
  char hex[2 * 64 + 1];
  memset(hex, '0', sizeof hex - 1);
  hex[sizeof hex - 1] = '\0';
  /* 64 zero bytes: the ephemeral key is the point u = 0. */
  decrypt_fails(hex, server_sk, TH_EBADDATA,
                "encrypted_env: ephemeral key is a low-order point (the shared secret would be "
                "zero)");
  hex[127] = '\0';
  decrypt_fails(hex, server_sk, TH_EBADDATA, "encrypted_env: odd number of hex digits (127)");
  hex[127] = '0';
  hex[5] = 'g';
  decrypt_fails(hex, server_sk, TH_EBADDATA, "encrypted_env: bad hex digit 'g' at 5");
  decrypt_fails("", server_sk, TH_EBADDATA,
                "encrypted_env: 0 bytes is too short (ephemeral key 32 + IV 12 + tag 16 = 60)");
}

/* encrypt -> decrypt gives the serialized env back; each call draws a new key and IV. */
static void test_round_trip_with_fresh_key_and_iv(void **state) {
  (void)state;
  const th_dotenv_var vars[] = {
      {"OPENAI_API_KEY", "sk-test-0123456789", 0},
      {"MULTI", "line1\nline2\t\"quoted\" \\ \x01 \xE2\x80\xA8 \xF0\x9F\x98\x80", 0},
      {"EMPTY", "", 0},
  };
  const char *want =
      "{\"env\":[{\"key\":\"OPENAI_API_KEY\",\"value\":\"sk-test-0123456789\"},"
      "{\"key\":\"MULTI\",\"value\":\"line1\\nline2\\t\\\"quoted\\\" \\\\ "
      "\\u0001 \xE2\x80\xA8 \xF0\x9F\x98\x80\"},{\"key\":\"EMPTY\",\"value\":\"\"}]}";
  th_err err = {0};
  char *a = NULL, *b = NULL;
  assert_int_equal(th_phala_env_encrypt(vars, 3, server_pk_hex, &a, &err), 0);
  assert_int_equal(th_phala_env_encrypt(vars, 3, server_pk_hex, &b, &err), 0);
  assert_int_equal(strlen(a), 2 * (TH_PHALA_ENV_OVERHEAD + strlen(want)));
  assert_int_equal(strspn(a, "0123456789abcdef"), strlen(a));
  assert_memory_not_equal(a, b, 64);           /* ephemeral public key */
  assert_memory_not_equal(a + 64, b + 64, 24); /* IV */
  decrypts_to(a, server_sk, want);
  decrypts_to(b, server_sk, want);
  free(a);
  free(b);
  assert_int_equal(th_phala_env_encrypt(NULL, 0, server_pk_hex, &a, &err), 0);
  decrypts_to(a, server_sk, "{\"env\":[]}");
  free(a);
}

/* JSON.stringify's escaping: short escapes, \u00xx (lowercase) for other control characters,
 * everything else raw (DEL and U+2028 included). */
static void test_json_matches_js_escaping(void **state) {
  (void)state;
  const th_dotenv_var vars[] = {
      {"C", "\b\f\n\r\t\x01\x0b\x1f\x7f", 0},
      {"Q", "\"\\/", 0},
  };
  th_err err = {0};
  char *json = NULL;
  size_t len = 0;
  assert_int_equal(th_phala_env_json(vars, 2, &json, &len, &err), 0);
  assert_string_equal(json,
                      "{\"env\":[{\"key\":\"C\",\"value\":\"\\b\\f\\n\\r\\t\\u0001\\u000b"
                      "\\u001f\x7f\"},{\"key\":\"Q\",\"value\":\"\\\"\\\\/\"}]}");
  sodium_free(json);
  assert_int_equal(th_phala_env_json(NULL, 0, &json, &len, &err), 0);
  assert_string_equal(json, "{\"env\":[]}");
  assert_int_equal(len, 10);
  sodium_free(json);
}

static void encrypt_fails(const th_dotenv_var *vars, size_t count, const char *pk, int code,
                          const char *message) {
  th_err err = {0};
  char *hex = (char *)"untouched";
  assert_int_equal(th_phala_env_encrypt(vars, count, pk, &hex, &err), -1);
  assert_null(hex);
  assert_int_equal(err.code, code);
  assert_string_equal(err.message, message);
}

/* Upstream's hex parser turns anything into some key; ours takes exactly 64 hex digits after an
 * optional 0x, and refuses low-order points (u = 0 and u = 1 here). */
static void test_public_key_is_checked(void **state) {
  (void)state;
  const th_dotenv_var var = {"A", "1", 0};
  char pk[80];
  snprintf(pk, sizeof pk, "%.63s", server_pk_hex);
  encrypt_fails(&var, 1, pk, TH_EBADDATA, "env public key: expected 64 hex digits, got 63");
  snprintf(pk, sizeof pk, "%s0", server_pk_hex);
  encrypt_fails(&var, 1, pk, TH_EBADDATA, "env public key: expected 64 hex digits, got 65");
  snprintf(pk, sizeof pk, "0X%s", server_pk_hex);
  encrypt_fails(&var, 1, pk, TH_EBADDATA, "env public key: expected 64 hex digits, got 66");
  snprintf(pk, sizeof pk, "%.10sz%s", server_pk_hex, server_pk_hex + 11);
  encrypt_fails(&var, 1, pk, TH_EBADDATA, "env public key: bad hex digit 'z' at 10");
  encrypt_fails(&var, 1, "", TH_EBADDATA, "env public key: expected 64 hex digits, got 0");
  encrypt_fails(&var, 1, "0000000000000000000000000000000000000000000000000000000000000000",
                TH_EBADDATA, "env public key: low-order point (the shared secret would be zero)");
  encrypt_fails(&var, 1, "0x0100000000000000000000000000000000000000000000000000000000000000",
                TH_EBADDATA, "env public key: low-order point (the shared secret would be zero)");
  th_err err = {0};
  char *hex = NULL;
  for (char *p = strcpy(pk, server_pk_hex); *p; p++) *p = (char)(*p >= 'a' ? *p - 32 : *p);
  assert_int_equal(th_phala_env_encrypt(&var, 1, pk, &hex, &err), 0); /* upper case is fine */
  decrypts_to(hex, server_sk, "{\"env\":[{\"key\":\"A\",\"value\":\"1\"}]}");
  free(hex);
}

/* Pairs from a table get the file's rules; the messages carry no value. */
static void test_invalid_vars_are_refused(void **state) {
  (void)state;
  const th_dotenv_var bad_name[] = {{"A", "1", 0}, {"NOT VALID", "s3cr3t", 0}};
  encrypt_fails(bad_name, 2, server_pk_hex, TH_EINVAL,
                "env var 2: invalid name (allowed: A-Z a-z 0-9 _ . -)");
  const th_dotenv_var bad_value[] = {{"TOKEN", "s3cr3t\xC3", 0}};
  encrypt_fails(bad_value, 1, server_pk_hex, TH_EINVAL,
                "env var 1 (TOKEN): value is not valid UTF-8");
}

/* A parsed .env file goes straight in. */
static void test_dotenv_file_encrypts(void **state) {
  (void)state;
  static const char file[] = "API_TOKEN=sk-test-abc123  # inline comment\nexport EXPORTED=yes\n";
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse(file, strlen(file), &err);
  assert_non_null(env);
  char *hex = NULL;
  assert_int_equal(th_phala_env_encrypt(env->vars, env->count, server_pk_hex, &hex, &err), 0);
  decrypts_to(hex, server_sk,
              "{\"env\":[{\"key\":\"API_TOKEN\",\"value\":\"sk-test-abc123\"},"
              "{\"key\":\"EXPORTED\",\"value\":\"yes\"}]}");
  free(hex);
  th_dotenv_free(env);
}

static const cJSON *kms_case(const char *name) {
  for (const cJSON *c = list(kms_vectors, "cases")->child; c; c = c->next)
    if (strcmp(str(c, "name"), name) == 0) return c;
  fail_msg("no KMS case %s", name);
  return NULL;
}

/* Each case recovers the signer the real function recovered (64-byte signature: none). */
static void test_kms_signers_recover(void **state) {
  (void)state;
  size_t checked = 0;
  for (const cJSON *c = list(kms_vectors, "cases")->child; c; c = c->next) {
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "recovered_signer");
    const char *sig_hex = str(c, "signature_hex");
    if (cJSON_IsNull(want)) {
      assert_int_equal(strlen(sig_hex), 128);
      continue;
    }
    uint8_t app_id[20], pk[32], sig[65], signer[33], want_signer[33];
    unhex(str(c, "app_id"), app_id, 20);
    unhex(str(c, "public_key_hex"), pk, 32);
    unhex(sig_hex, sig, 65);
    assert_true(strncmp(want->valuestring, "0x", 2) == 0);
    unhex(want->valuestring + 2, want_signer, 33);
    th_err err = {0};
    assert_int_equal(th_phala_env_kms_signer(app_id, pk, sig, signer, &err), 0);
    assert_memory_equal(signer, want_signer, 33);
    checked++;
  }
  assert_int_equal(checked, 3);
}

/* Only the trusted signer passes; tampered inputs fail and name both keys. */
static void test_kms_check_against_trusted_signer(void **state) {
  (void)state;
  const cJSON *good = kms_case("doc_example");
  uint8_t trusted[33];
  unhex(str(good, "recovered_signer") + 2, trusted, 33);
  th_err err = {0};
  assert_int_equal(
      th_phala_env_check_kms_signature(str(good, "app_id"), str(good, "public_key_hex"),
                                       str(good, "signature_hex"), trusted, &err),
      0);
  char prefixed[3][140];
  snprintf(prefixed[0], 140, "0x%s", str(good, "app_id"));
  snprintf(prefixed[1], 140, "0x%s", str(good, "public_key_hex"));
  snprintf(prefixed[2], 140, "0x%s", str(good, "signature_hex"));
  assert_int_equal(
      th_phala_env_check_kms_signature(prefixed[0], prefixed[1], prefixed[2], trusted, &err), 0);

  static const char *const tampered[] = {"tampered_signature_byte5", "other_app_id"};
  for (size_t i = 0; i < 2; i++) {
    const cJSON *c = kms_case(tampered[i]);
    char want[256];
    snprintf(want, sizeof want, "KMS signature: signed by %s, not by the trusted KMS signer %s",
             str(c, "recovered_signer"), str(good, "recovered_signer"));
    assert_int_equal(th_phala_env_check_kms_signature(str(c, "app_id"), str(c, "public_key_hex"),
                                                      str(c, "signature_hex"), trusted, &err),
                     -1);
    assert_int_equal(err.code, TH_EVERIFY);
    assert_string_equal(err.message, want);
  }
  /* A different env key under the good signature. */
  assert_int_equal(th_phala_env_check_kms_signature(str(good, "app_id"), server_pk_hex,
                                                    str(good, "signature_hex"), trusted, &err),
                   -1);
  assert_int_equal(err.code, TH_EVERIFY);

  const cJSON *short_sig = kms_case("64_byte_signature");
  assert_int_equal(
      th_phala_env_check_kms_signature(str(short_sig, "app_id"), str(short_sig, "public_key_hex"),
                                       str(short_sig, "signature_hex"), trusted, &err),
      -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, "KMS signature: expected 130 hex digits, got 128");
}

static void test_kms_signature_malformed(void **state) {
  (void)state;
  const cJSON *good = kms_case("doc_example");
  uint8_t app_id[20], pk[32], sig[65], signer[33];
  unhex(str(good, "app_id"), app_id, 20);
  unhex(str(good, "public_key_hex"), pk, 32);
  unhex(str(good, "signature_hex"), sig, 65);
  th_err err = {0};
  sig[64] = 27; /* Ethereum's v; the KMS sends the recovery id */
  assert_int_equal(th_phala_env_kms_signer(app_id, pk, sig, signer, &err), -1);
  assert_int_equal(err.code, TH_EVERIFY);
  assert_string_equal(err.message, "KMS signature: recovery id 27 out of range (0..3)");
  sig[64] = 0;
  memset(sig, 0xff, 32); /* r >= n */
  assert_int_equal(th_phala_env_kms_signer(app_id, pk, sig, signer, &err), -1);
  assert_string_equal(err.message, "KMS signature: no key recovers from it");
  memset(sig, 0, 64); /* r = s = 0 */
  assert_int_equal(th_phala_env_kms_signer(app_id, pk, sig, signer, &err), -1);
  assert_string_equal(err.message, "KMS signature: no key recovers from it");
  assert_int_equal(th_phala_env_check_kms_signature("00", str(good, "public_key_hex"),
                                                    str(good, "signature_hex"), signer, &err),
                   -1);
  assert_string_equal(err.message, "KMS signature: app_id: expected 40 hex digits, got 2");
}

static void keccak_is(const void *data, size_t len, const char *want_hex) {
  uint8_t got[32], want[32];
  unhex(want_hex, want, 32);
  th_keccak256(data, len, got);
  assert_memory_equal(got, want, 32);
  /* The same fed in uneven pieces. */
  th_keccak256_ctx ctx;
  th_keccak256_init(&ctx);
  for (size_t at = 0, step = 1; at < len; at += step, step = step * 3 % 157 + 1)
    th_keccak256_update(&ctx, (const uint8_t *)data + at, at + step > len ? len - at : step);
  th_keccak256_final(&ctx, got);
  assert_memory_equal(got, want, 32);
}

static void test_keccak256(void **state) {
  (void)state;
  keccak_is("", 0, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  keccak_is("abc", 3, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  keccak_is("hello", 5, "1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8");
  keccak_is("The quick brown fox jumps over the lazy dog", 43,
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
  static const struct {
    size_t len;
    const char *digest;
  } blocks[] = {
      {135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"},
      {136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"},
      {137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"},
      {272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"},
      {1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"},
  };
  uint8_t data[1000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
    keccak_is(data, blocks[i].len, blocks[i].digest);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_key_pair),
      cmocka_unit_test(test_random_cases_decrypt_and_serialize),
      cmocka_unit_test(test_known_answer_ciphertexts),
      cmocka_unit_test(test_negative_cases_fail_clearly),
      cmocka_unit_test(test_decrypt_rejects_malformed_input),
      cmocka_unit_test(test_round_trip_with_fresh_key_and_iv),
      cmocka_unit_test(test_json_matches_js_escaping),
      cmocka_unit_test(test_public_key_is_checked),
      cmocka_unit_test(test_invalid_vars_are_refused),
      cmocka_unit_test(test_dotenv_file_encrypts),
      cmocka_unit_test(test_kms_signers_recover),
      cmocka_unit_test(test_kms_check_against_trusted_signer),
      cmocka_unit_test(test_kms_signature_malformed),
      cmocka_unit_test(test_keccak256),
  };
  return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
