/* tests/unit/test_quote.c — the DCAP quote parser (core/quote.c) and hex helpers (core/hex.c).
 *
 * Every real quote of tests/vectors is parsed and checked field by field against the values the
 * shared vectors README lists in its section 5 (the table below is those values, copied). The
 * malformed cases are tdx_quote / sgx_quote / tdx_quote_outdated with one field changed (README
 * 3.6 style) and must fail with the exact message. Synthetic quotes (SGX v4, v5 with SGX and TD 1.0
 * bodies) are rebuilt from the real ones as the helpers below describe; their signatures are not
 * valid, which a parser does not look at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "hex.h"
#include "quote.h"
#include "vectors.h"

/* ---- helpers ---- */

static void assert_sha256(const uint8_t *b, size_t n, const char *want) {
  uint8_t md[32];
  char hex[65];
  assert_int_equal(EVP_Digest(b, n, md, NULL, EVP_sha256(), NULL), 1);
  th_hex_encode(md, 32, hex);
  assert_string_equal(hex, want);
}

/* Hex-compares n bytes with `want`, naming the field when they differ. */
static void check_hex(const char *field, const uint8_t *b, size_t n, const char *want) {
  char hex[2 * 1024 + 1];
  assert_true(n <= 1024);
  th_hex_encode(b, n, hex);
  if (strcmp(hex, want) != 0) print_error("field %s differs\n", field);
  assert_string_equal(hex, want);
}

static void check_zero(const char *field, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i]) fail_msg("field %s: byte %zu is not zero", field, i);
}

static void set_u16(uint8_t *b, size_t at, unsigned v) {
  b[at] = (uint8_t)v;
  b[at + 1] = (uint8_t)(v >> 8);
}

static void set_u32(uint8_t *b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++) b[at + i] = (uint8_t)(v >> (8 * i));
}

/* Parses a heap copy of exactly len bytes (so ASan sees any read past the end). */
static int parse_copy(th_quote *q, const uint8_t *b, size_t len, th_err *err) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len) memcpy(copy, b, len);
  int rc = th_quote_parse(q, copy, len, err);
  free(copy);
  return rc;
}

static void expect_error(const uint8_t *b, size_t len, const char *message) {
  th_quote q;
  th_err err = {0};
  assert_int_equal(parse_copy(&q, b, len, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, message);
}

/* The parse fails, whatever the message. */
static void expect_some_error(const uint8_t *b, size_t len) {
  th_quote q;
  th_err err = {0};
  assert_int_equal(parse_copy(&q, b, len, &err), -1);
}

/* Sets the 16-bit (32-bit) little-endian field at `at` to v, then expects the parse of len bytes
 * to fail with message. The change stays in b, so a test's edits build on each other. */
static void edit_u16_expect(uint8_t *b, size_t len, size_t at, unsigned v, const char *message) {
  set_u16(b, at, v);
  expect_error(b, len, message);
}

static void edit_u32_expect(uint8_t *b, size_t len, size_t at, uint32_t v, const char *message) {
  set_u32(b, at, v);
  expect_error(b, len, message);
}

static const char QE_AUTH_DATA[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* The certification data is a PEM chain of three certificates ending in "\n" and a NUL. */
static void check_pem_chain(const th_quote *q) {
  const char *pem = (const char *)q->bytes + q->cert_offset;
  assert_int_equal(q->cert_type, TH_CERT_PCK_CHAIN);
  assert_memory_equal(pem, "-----BEGIN CERTIFICATE-----", 27);
  assert_memory_equal(pem + q->cert_len - 2, "\n", 2);
}

/* ---- real TDX quotes (README section 5) ---- */

#define Z48 "000000000000000000000000000000000000000000000000" \
            "000000000000000000000000000000000000000000000000"

enum { TD_FIELDS = 17 };
static const char *const td_field_names[TD_FIELDS] = {
    "TEE_TCB_SVN", "MRSEAM", "MRSIGNERSEAM", "SEAMATTRIBUTES", "TDATTRIBUTES", "XFAM",
    "MRTD", "MRCONFIGID", "MROWNER", "MROWNERCONFIG", "RTMR0", "RTMR1", "RTMR2", "RTMR3",
    "REPORTDATA", "TEE_TCB_SVN2", "MRSERVICETD"};

/* Field i of a TD report, in the order of td_field_names. */
static const uint8_t *td_field(const th_td_report *r, int i, size_t *size) {
  const uint8_t *f[TD_FIELDS] = {r->tee_tcb_svn, r->mrseam, r->mrsignerseam, r->seam_attributes,
                                 r->td_attributes, r->xfam, r->mrtd, r->mrconfigid, r->mrowner,
                                 r->mrownerconfig, r->rtmr[0], r->rtmr[1], r->rtmr[2], r->rtmr[3],
                                 r->reportdata, r->tee_tcb_svn2, r->mrservicetd};
  static const size_t sizes[TD_FIELDS] = {16, 48, 48, 8, 8, 8, 48, 48, 48, 48,
                                          48, 48, 48, 48, 64, 16, 48};
  *size = sizes[i];
  return f[i];
}

typedef struct td_vector {
  const char *path;
  size_t len;
  const char *sha256;
  uint16_t version;
  int body_type;
  size_t body_offset;
  const char *user_data;
  const char *report[TD_FIELDS]; /* NULL: TD 1.0 has no such field (must stay zero) */
  size_t signed_len;
  uint32_t sig_data_len;
  const char *att_key;
  uint32_t outer_size, cert_len;
  const char *qe_mrenclave, *qe_mrsigner;
  uint16_t qe_isvprodid, qe_isvsvn;
  const char *qe_reportdata; /* first 32 bytes; the rest is zero */
  size_t trailing;
} td_vector;

static const td_vector td_vectors[] = {
    {"dcap/tdx_quote", 5006, "c42f9164325024bca2757bc8819b11879a0a369132ea4e2b7c85df4805ea72db", 4,
     TH_BODY_TD10, 48, "889b7d6ff9df2405b240a830e73faf3d00000000",
     {"06010300000000000000000000000000",
      "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c43"
      "6489d6c8e4f92f160b7cad34207b00c1",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e702060000000000",
      "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407"
      "de03ae6dc5f87f27428b2538873118b7",
      Z48,
      Z48,
      Z48,
      "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c"
      "48aca29b220b80b6a540cf994b9bc9c0",
      "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7"
      "aea8c323c173019b3093d54e579e9378",
      "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3"
      "ba80b70870d7330733642e01d48c3132",
      Z48,
      "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9"
      "eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20",
      NULL, NULL},
     632, 4300,
     "c78ac5859b9f567238fad82ad63202bc516ee7ad14ec1d9adfc633e4cf5f71f7"
     "3d6138ce76d0d9c1443f695464d1ed419c37ce696e70e95a5b317894a5897907",
     4166, 3678,
     "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6,
     "c936492a774946af9b588f6b3bd8beddc5957d1761ded2c0bb61d7b64de5b324", 70},
    {"dcap/tdx_quote_outdated", 5006,
     "4c453ea417a7863ed67c215fe4735d91e26f359c760e5984a277866d8d5758e9", 5, TH_BODY_TD15, 54,
     "dd130a3f3a9e91528dafeb58cc82c33b00000000",
     {"07010300000000000000000000000000",
      "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08"
      "850fa20e3b1aa9a874d77a65380ee7e6",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e718060000000000",
      "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1"
      "ae451d382d5a9b1b4c0ed0e5ae9a3dbd",
      Z48,
      Z48,
      Z48,
      Z48,
      Z48,
      Z48,
      Z48,
      "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728"
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0d010300000000000000000000000000",
      Z48},
     702, 4300,
     "a22dd5040b9f5ff7490a9c68f96ec249cd5e89a51c38fad5dee08caceb8df3f0"
     "8f84f459b24be462fb461c9e9bbbd445a74f6d5491b5ee3250eef008a599837e",
     4166, 3678,
     "b7ae9ab69e76f7794a56b0db1915281d435d488c91d406ed33a7939caf8730f8",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 7,
     "679ee7161d8ec8b46b8ce3005e1b0dfabac93ae7a7de0946c05db2cb1600a0e7", 0},
    {"dcap/tdx-quote.hex", 5006, "6af2de9455c6373e7c196b66ec5a8a385e40b6028d4915921a078503eb1b53ac",
     4, TH_BODY_TD10, 48, "83fbfe61525f55581315cd9dc950f44700000000",
     {"05010200000000000000000000000000",
      "1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86d"
      "e77b0870f558c570e7ffe55d6d47fa04",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e702060000000000",
      "7ba9e262ce6979087e34632603f354dd8f8a870f5947d116af8114db6c9d0d74"
      "c48bec4280e5b4f4a37025a10905bb29",
      Z48,
      Z48,
      Z48,
      "4574c098915caf3e82057817dbd135c1ed0ee1b39ac300c921479e2f5ebf5726"
      "a13ee0c8745ac891b6aee7c4f9664610",
      Z48,
      Z48,
      "547fcba4630bfb981169a8a1903b79c244933413409dd0387acbd8e3b985bcc9"
      "164cf52735cd31f60bf2c5d1220c113f",
      "7148f47ef58b475fce69b386e2d6b4c964a9533cc328ea8e544db66612a51746"
      "98d006951cefa8fd4450e884300638e567e22f9a012ef5754aa6a9d9564fcd8a",
      NULL, NULL},
     632, 4300,
     "4996a9e56e40ac6c0b019709537f16d751c03e8c0d905d79f224ff06ddc41028"
     "60a8770107748c011cdbfcccc857e418735b699ac89dc2ed4da11d5125cb925e",
     4166, 3678,
     "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6,
     "503bbfe5befa55a13e21747c3859f0b618a050312a0340e980187eea232356d6", 70},
    {"dcap/quote-from-tappd.hex", 5006,
     "219cafdecd8d89d68da86e1cb81292d46b2fab776a0127a85371354026913ba5", 4, TH_BODY_TD10, 48,
     "83fbfe61525f55581315cd9dc950f44700000000",
     {"05010200000000000000000000000000",
      "1cc6a17ab799e9a693fac7536be61c12ee1e0fabada82d0c999e08ccee2aa86d"
      "e77b0870f558c570e7ffe55d6d47fa04",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e702060000000000",
      "c68518a0ebb42136c12b2275164f8c72f25fa9a34392228687ed6e9caeb9c0f1"
      "dbd895e9cf475121c029dc47e70e91fd",
      Z48,
      Z48,
      Z48,
      "274c2344116db7c663470693b5ba62b8621eac28cb41d2f816ddf188f9f423f9"
      "00a1c44d32386fd3c993dc814e62af9d",
      "918fbd97108e05450afa6aca140c6363ab913578b66cc312e3e8542ce5ade455"
      "a30c8d9e4d53a5e43d81955f76140279",
      Z48,
      "a2d25bc888a93009af5b70eadb410e9071d18387e4db39aae20fe767f5c4279d"
      "95e6519c5d797938a90694599c5bea7a",
      "7668c6b4eafb62301c72714ecc7d90ce9a0e04b52dc117720df2047b0a59f1db"
      "d937243eef1410a3cdc524aad66d4554b4f18b54da2fc0608dac40d6dea5f1d4",
      NULL, NULL},
     632, 4300,
     "4996a9e56e40ac6c0b019709537f16d751c03e8c0d905d79f224ff06ddc41028"
     "60a8770107748c011cdbfcccc857e418735b699ac89dc2ed4da11d5125cb925e",
     4166, 3678,
     "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6,
     "503bbfe5befa55a13e21747c3859f0b618a050312a0340e980187eea232356d6", 70},
    {"dstack/quote-report.json", 5006,
     "731063646444b20ded6c258e1e541431e8a47d716fcafe10f77b1778f2ff0a9a", 4, TH_BODY_TD10, 48,
     "1eadadc7f30fb7f911d24aa522afc59000000000",
     {"0b010400000000000000000000000000",
      "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4d"
      "f648657ba6d1189589feab1d5a3c9a9d",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e702060000000000",
      "b24d3b24e9e3c16012376b52362ca09856c4adecb709d5fac33addf1c47e193d"
      "a075b125b6c364115771390a5461e217",
      Z48,
      Z48,
      Z48,
      "2e3843265f8ecdd4e2282694747f6f2f111605c33f2a8882f5734ee6f3a6ce63"
      "d8f34aeef06093dcda76fa5f9d33d8d6",
      "a1b79d76021970f57c45c4a7c395f780bab37011a4df27fe44e8559bd1abb4d6"
      "e52f12f866d1d08405448eb797a5970f",
      "1e31b59d605df7ee8160cf7966be9bafa6d0e1905de7e09695a24cd9748e71a6"
      "03a51fae1297619fa0c30517addbcd07",
      "0f787c3877f3e95095d5a4d13dd0fe0233803b30120d8469866719dc28f519ce"
      "021fe1e53459121e7a5a4443147185a8",
      "1234000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000",
      NULL, NULL},
     632, 4300,
     "2982655d89dbd3867e7370e8b1b27bbae5eb5f24dfaceea8a2ff9ad71161930c"
     "379cef3c7360ef97468031741483798585c1befb2f1d9827d2eb7a22299a0127",
     4166, 3678,
     "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6,
     "5be61ea67e69e2411dd59d258969727c5cd13f082b59b3dcc4721e2f7c3b7a4e", 70},
    {"dstack/attestation.bin", 5010,
     "35e72a05b12d9ab387c058d070c91bb401510e68431ccd7f0be0ce5b14871fec", 4, TH_BODY_TD10, 48,
     "0673844724a96002230c0e7ad95a845600000000",
     {"0b010400000000000000000000000000",
      "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4d"
      "f648657ba6d1189589feab1d5a3c9a9d",
      Z48,
      "0000000000000000",
      "0000001000000000",
      "e702060000000000",
      "e53236d44a074bc78e784cdfa1a2c858a5f6b53afc1b60d8f079662314978b64"
      "241b646d8498dd767d5ea48e1e115822",
      "01c143116fef3940e7f776bfc0919c256232ae5338a6e948c96b711e0b238348"
      "3a000000000000000000000000000000",
      Z48,
      Z48,
      "6203948b7c12a0c2e14ed9b11170d7b85345870a304bb0959d6c198224ce621f"
      "e944e4623af9631cd64eeffdc0d7fa94",
      "0ea1ad399114c5909c52c8b8c073f0c4e076b691495ca7d41f88c5bba6859e39"
      "11973ec95adce1503eb43f4670a2c306",
      "1c9854088a35a1c44483d6ba5e88333cf6a7f5b5ec26713f722c80dfc2d2b337"
      "346d7fb52452eacda0a8a8fb6fd306f1",
      "f28a1490ee924e9396c2ccf2d93ad536b83cbe159a1d45024d1fd7acdcc10214"
      "5efcfcd0cfa209416446c70226affadf",
      "0000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000000000000000000000000000000000",
      NULL, NULL},
     632, 4304,
     "efe2d7495bad5e2ff4abe6df4025e67dfdf61ae91288c42b5dd70c7ebdf1b6f0"
     "dea47d34f0847bdff021e81e69b984e5bf3d2045a0f796bbee2f061324fb9ae4",
     4170, 3682,
     "e5a3a7b5d830c2953b98534c6c59a3a34fdc34e933f7f5898f0a85cf08846bca",
     "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5", 2, 6,
     "f8c8d6f0331fa58278f062c168cb944495dc3fa3d0035037278af650d1ee51cd", 70},
};

/* Absolute offsets of the signature data parts (spec 1.7): fixed distances from its start. */
static void check_sig_offsets(const th_quote *q, size_t sig_data_offset) {
  assert_int_equal(q->sig_data_offset, sig_data_offset);
  assert_int_equal(q->qe_report_offset, sig_data_offset + 134);
  assert_int_equal(q->qe_auth_offset, sig_data_offset + 584);
  assert_int_equal(q->cert_offset, sig_data_offset + 622);
}

static void check_td_vector(const td_vector *v) {
  print_message("%s\n", v->path);
  size_t len;
  uint8_t *b = vector_quote(v->path, &len);
  assert_int_equal(len, v->len);
  assert_sha256(b, len, v->sha256);
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, b, len, &err) != 0) fail_msg("%s: %s", v->path, err.message);
  assert_ptr_equal(q.bytes, b);
  assert_int_equal(q.len, len);
  assert_int_equal(q.version, v->version);
  assert_int_equal(q.att_key_type, 2);
  assert_int_equal(q.tee_type, TH_TEE_TDX);
  assert_int_equal(q.qe_svn, 0);
  assert_int_equal(q.pce_svn, 0);
  assert_memory_equal(q.qe_vendor_id, TH_INTEL_QE_VENDOR_ID, 16);
  check_hex("user_data", q.user_data, 20, v->user_data);
  assert_int_equal(q.body_type, v->body_type);
  assert_int_equal(q.body_offset, v->body_offset);
  assert_int_equal(q.body_size, v->body_type == TH_BODY_TD15 ? 648 : 584);
  for (int i = 0; i < TD_FIELDS; i++) {
    size_t size;
    const uint8_t *f = td_field(&q.td, i, &size);
    if (v->report[i])
      check_hex(td_field_names[i], f, size, v->report[i]);
    else
      check_zero(td_field_names[i], f, size);
  }
  assert_int_equal(q.signed_len, v->signed_len);
  check_sig_offsets(&q, v->signed_len + 4);
  assert_int_equal(q.sig_data_len, v->sig_data_len);
  assert_memory_equal(q.signature, b + q.sig_data_offset, 64);
  check_hex("att_key", q.att_key, 64, v->att_key);
  assert_int_equal(q.outer_cert_type, TH_CERT_QE_REPORT);
  assert_int_equal(q.outer_cert_len, v->outer_size);
  assert_int_equal(q.cert_len, v->cert_len);
  check_pem_chain(&q);
  assert_int_equal(q.qe_auth_len, 32);
  check_hex("QE auth data", b + q.qe_auth_offset, 32, QE_AUTH_DATA);
  assert_memory_equal(q.qe_report_sig, b + q.qe_report_offset + 384, 64);
  check_hex("QE MRENCLAVE", q.qe_report.mrenclave, 32, v->qe_mrenclave);
  check_hex("QE MRSIGNER", q.qe_report.mrsigner, 32, v->qe_mrsigner);
  assert_int_equal(q.qe_report.isvprodid, v->qe_isvprodid);
  assert_int_equal(q.qe_report.isvsvn, v->qe_isvsvn);
  check_hex("QE REPORTDATA", q.qe_report.reportdata, 32, v->qe_reportdata);
  check_zero("QE REPORTDATA[32..64]", q.qe_report.reportdata + 32, 32);
  assert_int_equal(q.trailing, v->trailing);
  check_zero("trailing bytes", b + len - q.trailing, q.trailing);
  assert_int_equal(q.sig_data_offset + q.sig_data_len + q.trailing, len);
  assert_string_equal(th_quote_tee_name(&q), "TDX");
  assert_string_equal(th_quote_body_name(&q), v->body_type == TH_BODY_TD15 ? "td15" : "td10");
  free(b);
}

static void parses_every_real_tdx_quote_field_by_field(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof td_vectors / sizeof td_vectors[0]; i++)
    check_td_vector(&td_vectors[i]);
}

/* The absolute offsets that spec 1.7 lists for the real v4 and v5 quotes. */
static void tdx_offsets_are_those_of_the_spec(void **state) {
  (void)state;
  static const struct {
    const char *path;
    size_t sig_len_at, qe_report, auth, cert;
  } want[] = {{"dcap/tdx_quote", 632, 770, 1220, 1258},
              {"dcap/tdx_quote_outdated", 702, 840, 1290, 1328}};
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    uint8_t *b = vector_quote(want[i].path, &len);
    th_quote q;
    assert_int_equal(th_quote_parse(&q, b, len, NULL), 0);
    assert_int_equal(q.signed_len, want[i].sig_len_at);
    assert_int_equal(q.qe_report_offset, want[i].qe_report);
    assert_int_equal(q.qe_auth_offset, want[i].auth);
    assert_int_equal(q.cert_offset, want[i].cert);
    assert_int_equal(q.cert_offset + q.cert_len, i == 0 ? 4936 : 5006);
    free(b);
  }
}

/* ---- the real SGX v3 quote ---- */

static void check_sgx_quote_report(const th_sgx_report *r) {
  check_hex("CPUSVN", r->cpusvn, 16, "0b0b1a18ffff04000000000000000000");
  assert_int_equal(r->miscselect, 0);
  check_hex("ATTRIBUTES", r->attributes, 16, "0500000000000000e700000000000000");
  check_hex("MRENCLAVE", r->mrenclave, 32,
            "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
  check_hex("MRSIGNER", r->mrsigner, 32,
            "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6");
  assert_int_equal(r->isvprodid, 0);
  assert_int_equal(r->isvsvn, 0);
  assert_memory_equal(r->reportdata, "Hello, world!", 13);
  check_zero("REPORTDATA[13..64]", r->reportdata + 13, 51);
}

/* QE report, key and certification data of sgx_quote (README section 5), wherever they sit. */
static void check_sgx_quote_sig_data(const th_quote *q) {
  check_hex("att_key", q->att_key, 64,
            "dce2b91fecd2fa25546d41c1d50c6d21e28ae0442153d092a505fd4b02b9bd39"
            "52e6e90c2405d3e349eef1fd5850840e2be83bc4fe659171d615085f72d57b7f");
  assert_int_equal(q->qe_auth_len, 32);
  check_hex("QE auth data", q->bytes + q->qe_auth_offset, 32, QE_AUTH_DATA);
  check_hex("QE MRENCLAVE", q->qe_report.mrenclave, 32,
            "96b347a64e5a045e27369c26e6dcda51fd7c850e9b3a3a79e718f43261dee1e4");
  check_hex("QE MRSIGNER", q->qe_report.mrsigner, 32,
            "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff");
  assert_int_equal(q->qe_report.isvprodid, 1);
  assert_int_equal(q->qe_report.isvsvn, 10);
  check_hex("QE REPORTDATA", q->qe_report.reportdata, 32,
            "c261bb882e542aa8d7f9e99a00efcb11cf2ee66fa9c6861f9230d3f803a275fd");
  assert_int_equal(q->cert_len, 3548);
  check_pem_chain(q);
}

static void parses_the_sgx_v3_quote_field_by_field(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/sgx_quote", &len);
  assert_int_equal(len, 4600);
  assert_sha256(b, len, "f8b81014b6e443609746822194910f5dc1c92c322fa0584298d1e33e505ca3b5");
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, b, len, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(q.version, 3);
  assert_int_equal(q.att_key_type, 2);
  assert_int_equal(q.tee_type, TH_TEE_SGX);
  assert_int_equal(q.qe_svn, 10);
  assert_int_equal(q.pce_svn, 15);
  assert_memory_equal(q.qe_vendor_id, TH_INTEL_QE_VENDOR_ID, 16);
  check_hex("user_data", q.user_data, 20, "3987622ee6968a54977c8626ef47123500000000");
  assert_int_equal(q.body_type, TH_BODY_SGX);
  assert_int_equal(q.body_offset, 48);
  assert_int_equal(q.body_size, 384);
  check_sgx_quote_report(&q.sgx);
  assert_int_equal(q.signed_len, 432);
  assert_int_equal(q.sig_data_offset, 436);
  assert_int_equal(q.sig_data_len, 4164);
  assert_memory_equal(q.signature, b + 436, 64);
  assert_int_equal(q.outer_cert_type, 0);
  assert_int_equal(q.outer_cert_len, 0);
  assert_int_equal(q.qe_report_offset, 564);
  assert_int_equal(q.qe_auth_offset, 1014);
  assert_int_equal(q.cert_offset, 1052);
  check_sgx_quote_sig_data(&q);
  assert_int_equal(q.trailing, 0);
  assert_string_equal(th_quote_tee_name(&q), "SGX");
  assert_string_equal(th_quote_body_name(&q), "sgx");
  free(b);
}

/* ---- synthetic quotes ---- */

/* SGX v4 from sgx_quote: its header (version set to 4) and body, its signature and key, then an
 * outer type-6 block wrapping its QE report .. PEM chain (bytes 564..4600, 4036 bytes). */
static uint8_t *make_sgx_v4(size_t *len) {
  size_t n;
  uint8_t *sgx = vector_quote("dcap/sgx_quote", &n);
  uint8_t *b = malloc(4606);
  assert_non_null(b);
  memcpy(b, sgx, 436);
  set_u16(b, 0, 4);
  set_u32(b, 432, 134 + 4036);
  memcpy(b + 436, sgx + 436, 128);
  set_u16(b, 564, 6);
  set_u32(b, 566, 4036);
  memcpy(b + 570, sgx + 564, 4036);
  free(sgx);
  *len = 4606;
  return b;
}

/* A v5 quote from a v4 one: the version set to 5 and a body descriptor inserted at 48. */
static uint8_t *make_v5(const uint8_t *v4, size_t len, unsigned type, uint32_t size) {
  uint8_t *b = malloc(len + 6);
  assert_non_null(b);
  memcpy(b, v4, 48);
  set_u16(b, 0, 5);
  set_u16(b, 48, type);
  set_u32(b, 50, size);
  memcpy(b + 54, v4 + 48, len - 48);
  return b;
}

static void parses_a_synthetic_sgx_v4_quote(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = make_sgx_v4(&len);
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, b, len, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(q.version, 4);
  assert_int_equal(q.tee_type, TH_TEE_SGX);
  assert_int_equal(q.body_type, TH_BODY_SGX);
  assert_int_equal(q.body_offset, 48);
  check_sgx_quote_report(&q.sgx);
  assert_int_equal(q.signed_len, 432);
  assert_int_equal(q.sig_data_len, 4170);
  assert_int_equal(q.outer_cert_type, 6);
  assert_int_equal(q.outer_cert_len, 4036);
  check_sig_offsets(&q, 436);
  check_sgx_quote_sig_data(&q);
  assert_int_equal(q.trailing, 0);
  free(b);
}

static void parses_synthetic_v5_quotes_with_sgx_and_td10_bodies(void **state) {
  (void)state;
  size_t len;
  uint8_t *v4 = make_sgx_v4(&len);
  uint8_t *b = make_v5(v4, len, 1, 384);
  th_quote q;
  th_err err = {0};
  if (th_quote_parse(&q, b, len + 6, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(q.body_type, TH_BODY_SGX);
  assert_int_equal(q.body_offset, 54);
  assert_int_equal(q.signed_len, 438);
  check_sgx_quote_report(&q.sgx);
  check_sig_offsets(&q, 442);
  check_sgx_quote_sig_data(&q);
  free(v4);
  free(b);

  v4 = vector_quote("dcap/tdx_quote", &len);
  b = make_v5(v4, len, 2, 584);
  if (th_quote_parse(&q, b, len + 6, &err) != 0) fail_msg("%s", err.message);
  assert_int_equal(q.body_type, TH_BODY_TD10);
  assert_int_equal(q.signed_len, 638);
  check_sig_offsets(&q, 642);
  check_hex("MRTD", q.td.mrtd, 48, td_vectors[0].report[6]);
  check_zero("MRSERVICETD", q.td.mrservicetd, 48);
  assert_int_equal(q.trailing, 70);
  free(v4);
  free(b);
}

/* ---- malformed quotes ---- */

static void every_truncation_of_tdx_quote_fails_cleanly(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  th_quote q;
  for (size_t n = 0; n < 4936; n++) {
    th_err err = {0};
    if (parse_copy(&q, b, n, &err) != -1) fail_msg("truncation to %zu parsed", n);
    assert_int_equal(err.code, TH_EBADDATA);
    assert_memory_equal(err.message, "quote: ", 7);
  }
  for (size_t n = 4936; n <= len; n++) {
    assert_int_equal(parse_copy(&q, b, n, NULL), 0);
    assert_int_equal(q.trailing, n - 4936);
  }
  expect_error(b, 0, "quote: truncated: header needs 48 bytes, have 0");
  expect_error(b, 20, "quote: truncated: header needs 48 bytes, have 20");
  expect_error(b, 100, "quote: truncated: TD report body needs 584 bytes at offset 48, have 52");
  expect_error(b, 634,
               "quote: truncated: signature data length needs 4 bytes at offset 632, have 2");
  expect_error(b, 1000,
               "quote: truncated: signature data needs 4300 bytes at offset 636, have 364");
  expect_error(b, 4935,
               "quote: truncated: signature data needs 4300 bytes at offset 636, have 4299");
  free(b);
}

static void every_truncation_of_v5_and_sgx_quotes_fails_cleanly(void **state) {
  (void)state;
  static const char *const paths[] = {"dcap/tdx_quote_outdated", "dcap/sgx_quote"};
  for (int i = 0; i < 2; i++) {
    size_t len;
    uint8_t *b = vector_quote(paths[i], &len);
    th_quote q;
    for (size_t n = 0; n < len; n++) {
      th_err err = {0};
      if (parse_copy(&q, b, n, &err) != -1) fail_msg("%s: truncation to %zu parsed", paths[i], n);
      assert_int_equal(err.code, TH_EBADDATA);
    }
    assert_int_equal(parse_copy(&q, b, len, NULL), 0);
    free(b);
  }
}

static void rejects_bad_versions_and_tee_types(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  edit_u16_expect(b, len, 0, 6, "quote: unsupported version 6");
  edit_u16_expect(b, len, 0, 2, "quote: unsupported version 2");
  edit_u16_expect(b, len, 0, 3, "quote: version 3 must be SGX (tee_type 0x81)");
  set_u16(b, 0, 4);
  edit_u32_expect(b, len, 4, 0x82, "quote: unsupported tee_type 0x82 at offset 4");
  /* tee_type 0 on a TD body: read as an SGX body, the signature data then makes no sense. */
  set_u32(b, 4, 0);
  expect_some_error(b, len);
  free(b);
}

/* Vendor id and attestation key type are the verifier's to judge (spec 3.2). */
static void does_not_judge_vendor_id_or_key_type(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  set_u16(b, 2, 3);
  b[12] ^= 1;
  th_quote q;
  assert_int_equal(parse_copy(&q, b, len, NULL), 0);
  assert_int_equal(q.att_key_type, 3);
  assert_int_equal(q.qe_vendor_id[0], 0x92);
  free(b);
}

static void rejects_v5_body_descriptor_mismatches(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote_outdated", &len);
  edit_u32_expect(b, len, 50, 600, "quote: v5 body_size 600 does not match body_type 3 (want 648)");
  edit_u32_expect(b, len, 50, 584, "quote: v5 body_size 584 does not match body_type 3 (want 648)");
  edit_u16_expect(b, len, 48, 4, "quote: v5 body_type 4 at offset 48 unsupported (want 1, 2 or 3)");
  edit_u16_expect(b, len, 48, 0, "quote: v5 body_type 0 at offset 48 unsupported (want 1, 2 or 3)");
  set_u16(b, 48, 1);
  edit_u32_expect(b, len, 50, 384, "quote: v5 body_type 1 does not match tee_type 0x81");
  expect_error(b, 50, "quote: truncated: v5 body descriptor needs 6 bytes at offset 48, have 2");
  free(b);
}

static void rejects_an_outer_certification_type_other_than_6(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  edit_u16_expect(b, len, 764, 7,
                  "quote: certification data type 7 at offset 764 unsupported (want 6)");
  edit_u16_expect(b, len, 764, 5,
                  "quote: certification data type 5 at offset 764 unsupported (want 6)");
  free(b);
  b = vector_quote("dcap/tdx_quote_outdated", &len);
  edit_u16_expect(b, len, 834, 0,
                  "quote: certification data type 0 at offset 834 unsupported (want 6)");
  free(b);
}

static void rejects_an_inner_certification_type_outside_1_to_5(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  edit_u16_expect(b, len, 1252, 6,
                  "quote: inner certification data type 6 at offset 1252 unsupported "
                  "(want 1 to 5)");
  set_u16(b, 1252, 1);
  th_quote q;
  assert_int_equal(parse_copy(&q, b, len, NULL), 0);
  assert_int_equal(q.cert_type, 1);
  free(b);
  b = vector_quote("dcap/sgx_quote", &len);
  edit_u16_expect(b, len, 1046, 7,
                  "quote: certification data type 7 at offset 1046 unsupported (want 1 to 5)");
  free(b);
}

static void rejects_lengths_that_do_not_match_exactly(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  edit_u32_expect(b, len, 1254, 3679, /* inner size +1 */
                  "quote: inner certification data (3679 bytes at offset 1258) runs past the end "
                  "of the signature data (4936)");
  edit_u32_expect(b, len, 1254, 3677, /* inner size -1 */
                  "quote: certification data size 4166 at offset 766 does not match its contents "
                  "(4165 bytes)");
  set_u32(b, 1254, 3678);
  edit_u32_expect(b, len, 766, 4167, /* outer size +1 */
                  "quote: certification data size 4167 at offset 766 does not match signature "
                  "data length 4300 (want 4166)");
  set_u32(b, 766, 4166);
  edit_u32_expect(b, len, 632, 4301, /* sig_len +1: a trailing byte is there to be swallowed */
                  "quote: certification data size 4166 at offset 766 does not match signature "
                  "data length 4301 (want 4167)");
  edit_u32_expect(b, len, 632, 4299,
                  "quote: certification data size 4166 at offset 766 does not match signature "
                  "data length 4299 (want 4165)");
  edit_u32_expect(b, len, 632, 100,
                  "quote: attestation key (64 bytes at offset 700) runs past the end of the "
                  "signature data (736)");
  set_u32(b, 632, 234);
  edit_u32_expect(b, len, 766, 100, /* consistent with sig_len, too small for a QE report */
                  "quote: QE report (384 bytes at offset 770) runs past the end of the signature "
                  "data (870)");
  set_u32(b, 632, 4300);
  set_u32(b, 766, 4166);
  edit_u16_expect(b, len, 1218, 0xffff, /* QE auth data size */
                  "quote: QE auth data (65535 bytes at offset 1220) runs past the end of the "
                  "signature data (4936)");
  set_u16(b, 1218, 33);
  expect_some_error(b, len);
  free(b);
}

static void rejects_v3_signature_data_length_mismatches(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/sgx_quote", &len);
  b = realloc(b, len + 1);
  b[len] = 0;
  edit_u32_expect(b, len + 1, 432, 4165,
                  "quote: signature data length 4165 at offset 432 does not match its contents "
                  "(4164 bytes)");
  edit_u32_expect(b, len + 1, 432, 4163,
                  "quote: certification data (3548 bytes at offset 1052) runs past the end of the "
                  "signature data (4599)");
  set_u32(b, 432, 4164);
  edit_u32_expect(b, len + 1, 1048, 3549,
                  "quote: certification data (3549 bytes at offset 1052) runs past the end of the "
                  "signature data (4600)");
  free(b);
}

static void rejects_lengths_over_1_mib(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/tdx_quote", &len);
  edit_u32_expect(b, len, 632, TH_QUOTE_MAX_FIELD + 1,
                  "quote: signature data length 1048577 at offset 632 exceeds the 1 MiB limit");
  edit_u32_expect(b, len, 632, 0xffffffff,
                  "quote: signature data length 4294967295 at offset 632 exceeds the 1 MiB limit");
  set_u32(b, 632, 4300);
  edit_u32_expect(b, len, 766, 0x80000000,
                  "quote: certification data size 2147483648 at offset 766 exceeds the 1 MiB "
                  "limit");
  set_u32(b, 766, 4166);
  edit_u32_expect(b, len, 1254, 0xfffffff0,
                  "quote: inner certification data size 4294967280 at offset 1254 exceeds the 1 "
                  "MiB limit");
  free(b);
}

static void allows_trailing_bytes_and_never_reads_them(void **state) {
  (void)state;
  size_t len;
  uint8_t *b = vector_quote("dcap/sgx_quote", &len);
  b = realloc(b, len + 10);
  memset(b + len, 0xee, 10);
  th_quote q;
  assert_int_equal(parse_copy(&q, b, len + 10, NULL), 0);
  assert_int_equal(q.trailing, 10);
  assert_int_equal(q.len, len + 10);
  free(b);
}

static void names_tee_and_body(void **state) {
  (void)state;
  th_quote q;
  memset(&q, 0, sizeof q);
  q.tee_type = 0x82;
  assert_string_equal(th_quote_tee_name(&q), "unknown");
  assert_string_equal(th_quote_body_name(&q), "unknown");
  q.tee_type = TH_TEE_TDX;
  q.body_type = TH_BODY_TD15;
  assert_string_equal(th_quote_tee_name(&q), "TDX");
  assert_string_equal(th_quote_body_name(&q), "td15");
}

/* ---- hex ---- */

static void hex_encodes_lowercase(void **state) {
  (void)state;
  char out[7];
  th_hex_encode((const uint8_t *)"\x00\xab\xff", 3, out);
  assert_string_equal(out, "00abff");
  th_hex_encode(NULL, 0, out);
  assert_string_equal(out, "");
}

static void hex_decode_exact_checks_length_and_digits(void **state) {
  (void)state;
  uint8_t out[64];
  th_err err = {0};
  assert_int_equal(th_hex_decode_exact("ABcdEf", 6, out, 3, "x", &err), 0);
  assert_memory_equal(out, "\xab\xcd\xef", 3);
  char sig[128];
  memset(sig, 'a', sizeof sig);
  assert_int_equal(th_hex_decode_exact(sig, 127, out, 64, "tcb_info_signature", &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, "tcb_info_signature: expected 128 hex digits, got 127");
  assert_int_equal(th_hex_decode_exact(sig, 128, out, 64, "tcb_info_signature", &err), 0);
  assert_int_equal(th_hex_decode_exact("abcdeg", 6, out, 3, "x", &err), -1);
  assert_string_equal(err.message, "x: bad hex digit 'g' at 5");
  assert_int_equal(th_hex_decode_exact("0x12", 4, out, 2, "x", &err), -1);
  assert_string_equal(err.message, "x: bad hex digit 'x' at 1");
  assert_int_equal(th_hex_decode_exact("1\n", 2, out, 1, "x", &err), -1);
  assert_string_equal(err.message, "x: bad hex digit 0x0a at 1");
}

static void hex_decode_alloc_rejects_odd_lengths(void **state) {
  (void)state;
  uint8_t *out;
  size_t n;
  th_err err = {0};
  assert_int_equal(th_hex_decode_alloc("00ffAa", 6, &out, &n, "crl", &err), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(out, "\x00\xff\xaa", 3);
  free(out);
  assert_int_equal(th_hex_decode_alloc("abc", 3, &out, &n, "crl", &err), -1);
  assert_null(out);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, "crl: odd number of hex digits (3)");
  assert_int_equal(th_hex_decode_alloc("abzz", 4, &out, &n, "crl", &err), -1);
  assert_null(out);
  assert_string_equal(err.message, "crl: bad hex digit 'z' at 2");
  assert_int_equal(th_hex_decode_alloc("", 0, &out, &n, "crl", &err), 0);
  assert_non_null(out);
  assert_int_equal(n, 0);
  free(out);
}

/* th_bytes_from_text on a string literal (NULs included); returns its status and checks the bytes
 * when it succeeds. */
#define from_text(lit, want, want_len, err) from_text_n(lit, sizeof lit - 1, want, want_len, err)
static int from_text_n(const char *text, size_t len, const char *want, size_t want_len,
                       th_err *err) {
  uint8_t *out;
  size_t n;
  int rc = th_bytes_from_text((const uint8_t *)text, len, &out, &n, err);
  if (rc != 0) {
    assert_null(out);
    return rc;
  }
  assert_int_equal(n, want_len);
  assert_memory_equal(out, want, want_len);
  free(out);
  return 0;
}

static void bytes_from_text_takes_hex_files_and_binary(void **state) {
  (void)state;
  th_err err = {0};
  assert_int_equal(from_text("0x0403ff", "\x04\x03\xff", 3, &err), 0);
  assert_int_equal(from_text("0403FF\n", "\x04\x03\xff", 3, &err), 0);
  assert_int_equal(from_text(" \r\n\t0X04 03\r\nFf\t\n", "\x04\x03\xff", 3, &err), 0);
  assert_int_equal(from_text("0x", "", 0, &err), 0);
  assert_int_equal(from_text("", "", 0, &err), 0);
  /* Binary: the first byte is a version (3, 4 or 5), never a hex digit or white space. */
  assert_int_equal(from_text("\x04\x00\x02\x00\x81", "\x04\x00\x02\x00\x81", 5, &err), 0);
  assert_int_equal(from_text("\x03 0x12", "\x03 0x12", 6, &err), 0);
  assert_int_equal(from_text("0403F", NULL, 0, &err), -1);
  assert_int_equal(err.code, TH_EBADDATA);
  assert_string_equal(err.message, "quote file: odd number of hex digits (5)");
  assert_int_equal(from_text("0x04g3", NULL, 0, &err), -1);
  assert_string_equal(err.message, "quote file: bad hex digit 'g' at 4");
  assert_int_equal(from_text("0x0x04", NULL, 0, &err), -1);
  assert_string_equal(err.message, "quote file: bad hex digit 'x' at 3");
  assert_int_equal(from_text("04\x01", NULL, 0, &err), -1);
  assert_string_equal(err.message, "quote file: bad hex digit 0x01 at 2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_every_real_tdx_quote_field_by_field),
      cmocka_unit_test(tdx_offsets_are_those_of_the_spec),
      cmocka_unit_test(parses_the_sgx_v3_quote_field_by_field),
      cmocka_unit_test(parses_a_synthetic_sgx_v4_quote),
      cmocka_unit_test(parses_synthetic_v5_quotes_with_sgx_and_td10_bodies),
      cmocka_unit_test(every_truncation_of_tdx_quote_fails_cleanly),
      cmocka_unit_test(every_truncation_of_v5_and_sgx_quotes_fails_cleanly),
      cmocka_unit_test(rejects_bad_versions_and_tee_types),
      cmocka_unit_test(does_not_judge_vendor_id_or_key_type),
      cmocka_unit_test(rejects_v5_body_descriptor_mismatches),
      cmocka_unit_test(rejects_an_outer_certification_type_other_than_6),
      cmocka_unit_test(rejects_an_inner_certification_type_outside_1_to_5),
      cmocka_unit_test(rejects_lengths_that_do_not_match_exactly),
      cmocka_unit_test(rejects_v3_signature_data_length_mismatches),
      cmocka_unit_test(rejects_lengths_over_1_mib),
      cmocka_unit_test(allows_trailing_bytes_and_never_reads_them),
      cmocka_unit_test(names_tee_and_body),
      cmocka_unit_test(hex_encodes_lowercase),
      cmocka_unit_test(hex_decode_exact_checks_length_and_digits),
      cmocka_unit_test(hex_decode_alloc_rejects_odd_lengths),
      cmocka_unit_test(bytes_from_text_takes_hex_files_and_binary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
