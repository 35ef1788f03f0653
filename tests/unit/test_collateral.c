/* tests/unit/test_collateral.c — core/collateral and core/tcb_info: the collateral JSON of the
 * three real vectors (the *_collateral.json files of tests/vectors/dcap/), the TCB info and QE
 * identity inside them, the canonical level order, round trips, error texts and RFC 3339 times.
 * Expected dates are the unix times of shared/vectors/README.md 3.1–3.3. Broken inputs are made
 * by editing a vector with cJSON (the edit is named in each test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collateral.h"
#include "vectors.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* The three collateral vectors. */
static const char *const COLLATERALS[3] = {"dcap/tdx_quote_collateral.json",
                                           "dcap/sgx_quote_collateral.json",
                                           "dcap/tdx_quote_outdated_collateral.json"};

static void assert_hex(const uint8_t *got, const char *want_hex) {
  size_t n = strlen(want_hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    assert_int_equal(sscanf(want_hex + 2 * i, "%2x", &v), 1);
    if (got[i] != v) fail_msg("byte %zu: %02x != %s", i, got[i], want_hex);
  }
}

static void expect_error(const char *json, int code, const char *message) {
  th_err err = {0};
  th_collateral *c = th_collateral_parse(json, strlen(json), &err);
  if (c) fail_msg("parsed, expected \"%s\"", message);
  assert_string_equal(err.message, message);
  assert_int_equal(err.code, code);
}

/* An edit of a JSON object in place. */
typedef void (*edit_fn)(cJSON *obj);

/* Rewrites the string member `key` (tcb_info or qe_identity) after editing it as JSON. */
static void edit_inner(cJSON *root, const char *key, edit_fn edit) {
  cJSON *inner = cJSON_Parse(cJSON_GetObjectItem(root, key)->valuestring);
  assert_non_null(inner);
  edit(inner);
  char *text = cJSON_PrintUnformatted(inner);
  cJSON_ReplaceItemInObject(root, key, cJSON_CreateString(text));
  cJSON_free(text);
  cJSON_Delete(inner);
}

/* The vector `name` printed back after `edit` (cJSON_free()): an edit of its outer object when
 * key is NULL, else of the JSON text in its member `key`. */
static char *edited(const char *name, const char *key, edit_fn edit) {
  size_t n;
  char *text = vector_read(name, &n);
  cJSON *root = cJSON_Parse(text);
  assert_non_null(root);
  if (key)
    edit_inner(root, key, edit);
  else
    edit(root);
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  free(text);
  return out;
}

/* The vector with an edit that keeps it valid (as for edited), parsed. */
static th_collateral *load_edited(const char *name, const char *key, edit_fn edit) {
  char *json = edited(name, key, edit);
  th_err err = {0};
  th_collateral *c = th_collateral_parse(json, strlen(json), &err);
  cJSON_free(json);
  if (!c) fail_msg("%s", err.message);
  return c;
}

/* tdx_quote_collateral.json with an edit (as for edited) must fail to parse with message. */
static void expect_edit_error(const char *key, edit_fn edit, const char *message) {
  char *json = edited("dcap/tdx_quote_collateral.json", key, edit);
  expect_error(json, TH_EBADDATA, message);
  cJSON_free(json);
}

/* Level i of the "tcbLevels" of a TCB info or QE identity object. */
static cJSON *level(cJSON *obj, int i) {
  return cJSON_GetArrayItem(cJSON_GetObjectItem(obj, "tcbLevels"), i);
}

/* ---- the three vectors --------------------------------------------------------------------- */

static void test_tdx_collateral_fields(void **state) {
  (void)state;
  th_collateral *c = vector_collateral("dcap/tdx_quote_collateral.json");
  const th_tcb_info *t = &c->tcb_info;
  assert_string_equal(t->id, "TDX");
  assert_int_equal(t->version, 3);
  assert_int_equal(t->issue_date, 1750328163);
  assert_int_equal(t->next_update, 1752920163);
  assert_hex(t->fmspc, "b0c06f000000");
  assert_hex(t->pce_id, "0000");
  assert_int_equal(t->tcb_evaluation_data_number, 17);
  assert_true(t->has_tdx_module);
  assert_hex(t->tdx_module_attributes_mask, "ffffffffffffffff");
  assert_int_equal(t->nlevels, 2);
  assert_int_equal(t->levels[0].status, TH_TCB_UP_TO_DATE);
  assert_int_equal(t->levels[0].n_sgx, 16);
  assert_int_equal(t->levels[0].n_tdx, 16);
  assert_int_equal(t->levels[0].pcesvn, 11);
  assert_hex(t->levels[0].sgx, "02020202030100050000000000000000");
  assert_hex(t->levels[0].tdx, "05000200000000000000000000000000");
  /* module identities, JSON order: TDX_03 then TDX_01 (isvsvn 4 UpToDate, 2 OutOfDate) */
  assert_int_equal(t->n_module_identities, 2);
  const th_tdx_module_identity *m = &t->module_identities[1];
  assert_string_equal(m->id, "TDX_01");
  assert_int_equal(m->nlevels, 2);
  assert_int_equal(m->levels[0].isvsvn, 4);
  assert_int_equal(m->levels[0].status, TH_TCB_UP_TO_DATE);
  assert_int_equal(m->levels[1].isvsvn, 2);
  assert_int_equal(m->levels[1].status, TH_TCB_OUT_OF_DATE);
  assert_string_equal(m->levels[1].tcb_date, "2023-08-09T00:00:00Z");
  const th_qe_identity *q = &c->qe_identity;
  assert_string_equal(q->id, "TD_QE");
  assert_int_equal(q->version, 2);
  assert_int_equal(q->issue_date, 1750329147);
  assert_int_equal(q->next_update, 1752921147);
  assert_hex(q->mrsigner, "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
  assert_int_equal(q->isvprodid, 2);
  assert_int_equal(q->miscselect, 0);
  assert_int_equal(q->miscselect_mask, 0xFFFFFFFFu);
  assert_hex(q->attributes_mask, "fbffffffffffffff0000000000000000");
  assert_int_equal(q->nlevels, 1);
  assert_int_equal(q->levels[0].isvsvn, 4);
  assert_non_null(c->pck_crl_issuer_chain);
  assert_int_equal(sk_X509_num(c->tcb_info_issuer_chain), 2);
  assert_null(c->pck_certificate_chain);
  assert_int_equal(c->tcb_info_len, strlen(c->tcb_info_json));
  th_collateral_unref(c);
}

static int has_advisory(const th_advisories *a, const char *id) {
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->ids[i], id) == 0) return 1;
  return 0;
}

static void test_sgx_collateral_fields(void **state) {
  (void)state;
  th_collateral *c = vector_collateral("dcap/sgx_quote_collateral.json");
  const th_tcb_info *t = &c->tcb_info;
  assert_string_equal(t->id, "SGX");
  assert_int_equal(t->issue_date, 1750330571);
  assert_int_equal(t->next_update, 1752922571);
  assert_hex(t->fmspc, "00a067110000");
  assert_false(t->has_tdx_module);
  assert_int_equal(t->n_module_identities, 0);
  assert_int_equal(t->nlevels, 11);
  assert_int_equal(t->levels[0].status, TH_TCB_SW_HARDENING_NEEDED);
  assert_int_equal(t->levels[0].n_tdx, 0);
  /* the level sgx_quote matches (README 3.3): the second, with both advisories */
  const th_tcb_level *l = &t->levels[1];
  assert_int_equal(l->status, TH_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
  assert_true(has_advisory(&l->advisories, "INTEL-SA-00289"));
  assert_true(has_advisory(&l->advisories, "INTEL-SA-00615"));
  const th_qe_identity *q = &c->qe_identity;
  assert_string_equal(q->id, "QE");
  assert_int_equal(q->issue_date, 1750327278);
  assert_int_equal(q->next_update, 1752919278);
  assert_int_equal(q->isvprodid, 1);
  assert_hex(q->mrsigner, "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff");
  assert_int_equal(q->nlevels, 6);
  th_collateral_unref(c);
}

static void test_outdated_collateral_fields(void **state) {
  (void)state;
  th_collateral *c = vector_collateral("dcap/tdx_quote_outdated_collateral.json");
  assert_int_equal(c->tcb_info.issue_date, 1771412331);
  assert_int_equal(c->tcb_info.next_update, 1774004331);
  assert_int_equal(c->qe_identity.issue_date, 1771411335);
  assert_int_equal(c->qe_identity.next_update, 1774003335);
  assert_hex(c->tcb_info.fmspc, "90c06f000000");
  assert_int_equal(c->tcb_info.nlevels, 3);
  assert_int_equal(c->tcb_info.levels[0].status, TH_TCB_UP_TO_DATE);
  assert_hex(c->tcb_info.levels[0].sgx, "0303020204010005");
  th_collateral_unref(c);
}

/* Every vector's levels come out in canonical order (spec 3.8 step 23). */
static void test_levels_sorted(void **state) {
  (void)state;
  for (int v = 0; v < 3; v++) {
    th_collateral *c = vector_collateral(COLLATERALS[v]);
    const th_tcb_info *t = &c->tcb_info;
    for (size_t i = 1; i < t->nlevels; i++) {
      const th_tcb_level *a = &t->levels[i - 1], *b = &t->levels[i];
      int d = memcmp(a->sgx, b->sgx, 16);
      assert_true(d > 0 || (d == 0 && a->pcesvn >= b->pcesvn));
    }
    th_collateral_unref(c);
  }
}

/* Levels given in the worst order: reversed, with two equal keys told apart by tcbDate. */
static void shuffle_levels(cJSON *tcb) {
  cJSON *levels = cJSON_GetObjectItem(tcb, "tcbLevels");
  cJSON *first = cJSON_DetachItemFromArray(levels, 0); /* the highest level goes last */
  cJSON *twin = cJSON_Duplicate(first, 1);
  cJSON_ReplaceItemInObject(twin, "tcbDate", cJSON_CreateString("twin"));
  cJSON_AddItemToArray(levels, first);
  cJSON_AddItemToArray(levels, twin);
}

static void test_sort_is_canonical_and_stable(void **state) {
  (void)state;
  th_collateral *c =
      load_edited("dcap/tdx_quote_outdated_collateral.json", "tcb_info", shuffle_levels);
  const th_tcb_info *t = &c->tcb_info;
  assert_int_equal(t->nlevels, 4);
  assert_int_equal(t->levels[0].status, TH_TCB_UP_TO_DATE);
  assert_string_not_equal(t->levels[0].tcb_date, "twin"); /* equal keys keep JSON order */
  assert_string_equal(t->levels[1].tcb_date, "twin");
  assert_int_equal(t->levels[2].pcesvn, 13); /* the two OutOfDate levels: pcesvn 13 then 5 */
  assert_int_equal(t->levels[3].pcesvn, 5);
  th_collateral_unref(c);
}

/* ---- component counts are kept as found ------------------------------------------------------ */

static void drop_component(cJSON *tcb) {
  cJSON *lvl = level(tcb, 0);
  cJSON *comps = cJSON_GetObjectItem(cJSON_GetObjectItem(lvl, "tcb"), "sgxtcbcomponents");
  cJSON_DeleteItemFromArray(comps, 15);
  comps = cJSON_GetObjectItem(cJSON_GetObjectItem(lvl, "tcb"), "tdxtcbcomponents");
  cJSON *extra = cJSON_CreateObject();
  cJSON_AddNumberToObject(extra, "svn", 9);
  cJSON_AddItemToArray(comps, extra);
}

static void test_component_counts_kept(void **state) {
  (void)state;
  th_collateral *c = load_edited("dcap/tdx_quote_collateral.json", "tcb_info", drop_component);
  assert_int_equal(c->tcb_info.levels[0].n_sgx, 15);
  assert_int_equal(c->tcb_info.levels[0].n_tdx, 17);
  assert_hex(c->tcb_info.levels[0].tdx, "05000200000000000000000000000000");
  th_collateral_unref(c);
}

/* ---- round trip ---------------------------------------------------------------------------- */

static void assert_same_crl(X509_CRL *a, X509_CRL *b) {
  unsigned char *da = NULL, *db = NULL;
  int na = i2d_X509_CRL(a, &da), nb = i2d_X509_CRL(b, &db);
  assert_int_equal(na, nb);
  assert_memory_equal(da, db, (size_t)na);
  OPENSSL_free(da);
  OPENSSL_free(db);
}

static void test_round_trip(void **state) {
  (void)state;
  for (int v = 0; v < 3; v++) {
    th_collateral *a = vector_collateral(COLLATERALS[v]);
    th_err err = {0};
    size_t len = 0;
    char *json = th_collateral_to_json(a, &len, &err);
    assert_non_null(json);
    assert_int_equal(len, strlen(json));
    th_collateral *b = th_collateral_parse(json, len, &err);
    if (!b) fail_msg("%s: %s", COLLATERALS[v], err.message);
    assert_string_equal(a->tcb_info_json, b->tcb_info_json);
    assert_string_equal(a->qe_identity_json, b->qe_identity_json);
    assert_memory_equal(a->tcb_info_signature, b->tcb_info_signature, 64);
    assert_memory_equal(a->qe_identity_signature, b->qe_identity_signature, 64);
    assert_same_crl(a->root_ca_crl, b->root_ca_crl);
    assert_same_crl(a->pck_crl, b->pck_crl);
    assert_int_equal(X509_cmp(sk_X509_value(a->qe_identity_issuer_chain, 0),
                              sk_X509_value(b->qe_identity_issuer_chain, 0)),
                     0);
    assert_int_equal(sk_X509_num(a->pck_crl_issuer_chain), sk_X509_num(b->pck_crl_issuer_chain));
    /* and the output is what the file holds, up to key order and PEM/hex spelling */
    char *again = th_collateral_to_json(b, NULL, &err);
    assert_string_equal(json, again);
    free(again);
    free(json);
    th_collateral_unref(b);
    th_collateral_unref(a);
  }
}

/* ---- errors -------------------------------------------------------------------------------- */

static void drop_tcb_info(cJSON *r) { cJSON_DeleteItemFromObject(r, "tcb_info"); }
static void number_pck_crl(cJSON *r) {
  cJSON_ReplaceItemInObject(r, "pck_crl", cJSON_CreateNumber(1));
}
static void x_in_root_crl(cJSON *r) {
  char *s = cJSON_GetObjectItem(r, "root_ca_crl")->valuestring;
  s[17] = 'x';
}
static void odd_root_crl(cJSON *r) {
  char *s = cJSON_GetObjectItem(r, "root_ca_crl")->valuestring;
  s[strlen(s) - 1] = '\0';
}
static void short_signature(cJSON *r) {
  char *s = cJSON_GetObjectItem(r, "tcb_info_signature")->valuestring;
  s[127] = '\0';
}
static void not_a_crl(cJSON *r) {
  cJSON_ReplaceItemInObject(r, "pck_crl", cJSON_CreateString("3000"));
}
static void bad_chain(cJSON *r) {
  cJSON_ReplaceItemInObject(r, "tcb_info_issuer_chain", cJSON_CreateString("no PEM here"));
}

static void status_fine(cJSON *tcb) {
  cJSON *lvl = level(tcb, 1);
  cJSON_ReplaceItemInObject(lvl, "tcbStatus", cJSON_CreateString("Fine"));
}

static void date_bad(cJSON *tcb) {
  cJSON_ReplaceItemInObject(tcb, "issueDate", cJSON_CreateString("2025-06-19 10:16:03"));
}

static void pcesvn_gone(cJSON *tcb) {
  cJSON *lvl = level(tcb, 1);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(lvl, "tcb"), "pcesvn");
}

static void svn_too_big(cJSON *tcb) {
  cJSON *lvl = level(tcb, 0);
  cJSON *comps = cJSON_GetObjectItem(cJSON_GetObjectItem(lvl, "tcb"), "sgxtcbcomponents");
  cJSON_ReplaceItemInObject(cJSON_GetArrayItem(comps, 3), "svn", cJSON_CreateNumber(256));
}

static void fmspc_bad(cJSON *tcb) {
  cJSON_ReplaceItemInObject(tcb, "fmspc", cJSON_CreateString("B0C06F00000g"));
}

static void module_mrsigner_short(cJSON *tcb) {
  cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(tcb, "tdxModuleIdentities"), 1);
  cJSON_ReplaceItemInObject(m, "mrsigner", cJSON_CreateString("00"));
}

static void version_string(cJSON *qe) {
  cJSON_ReplaceItemInObject(qe, "version", cJSON_CreateString("2"));
}

static void advisory_number(cJSON *qe) {
  cJSON *lvl = level(qe, 0);
  cJSON *ids = cJSON_CreateArray();
  cJSON_AddItemToArray(ids, cJSON_CreateString("INTEL-SA-00001"));
  cJSON_AddItemToArray(ids, cJSON_CreateNumber(7));
  cJSON_AddItemToObject(lvl, "advisoryIDs", ids);
}

static void not_json(cJSON *r) {
  cJSON_ReplaceItemInObject(r, "qe_identity", cJSON_CreateString("{\"id\":"));
}

static void test_error_texts(void **state) {
  (void)state;
  expect_edit_error(NULL, drop_tcb_info, "collateral: missing \"tcb_info\"");
  expect_edit_error(NULL, number_pck_crl, "collateral: \"pck_crl\" must be a string");
  expect_edit_error(NULL, x_in_root_crl, "collateral: root_ca_crl: bad hex digit 'x' at 17");
  expect_edit_error(NULL, odd_root_crl, "collateral: root_ca_crl: odd number of hex digits (583)");
  expect_edit_error(NULL, short_signature,
                    "collateral: tcb_info_signature: expected 128 hex digits, got 127");
  expect_edit_error(NULL, not_a_crl, "collateral: pck_crl: not a DER CRL");
  expect_edit_error(NULL, bad_chain,
                    "collateral: tcb_info_issuer_chain: unexpected text at byte 0 "
                    "(want -----BEGIN CERTIFICATE-----)");
  expect_edit_error("tcb_info", status_fine,
                    "collateral: tcb_info: bad tcbStatus \"Fine\" in tcbLevels[1]");
  expect_edit_error("tcb_info", date_bad,
                    "collateral: tcb_info: issueDate is not an RFC 3339 time");
  expect_edit_error("tcb_info", pcesvn_gone,
                    "collateral: tcb_info: missing \"pcesvn\" in tcbLevels[1].tcb");
  expect_edit_error("tcb_info", svn_too_big,
                    "collateral: tcb_info: \"svn\" must be an integer in 0..255 in "
                    "tcbLevels[0].tcb.sgxtcbcomponents[3]");
  expect_edit_error("tcb_info", fmspc_bad, "collateral: tcb_info: fmspc: bad hex digit 'g' at 11");
  expect_edit_error("tcb_info", module_mrsigner_short,
                    "collateral: tcb_info: tdxModuleIdentities[1].mrsigner: "
                    "expected 96 hex digits, got 2");
  expect_edit_error("qe_identity", version_string,
                    "collateral: qe_identity: \"version\" must be a number");
  expect_edit_error("qe_identity", advisory_number,
                    "collateral: qe_identity: advisoryIDs[1] must be a string in tcbLevels[0]");
  expect_edit_error(NULL, not_json, "collateral: qe_identity: not valid JSON (at byte 5)");
  expect_error("", TH_EBADDATA, "collateral: not valid JSON (at byte 0)");
  expect_error("[1]", TH_EBADDATA, "collateral: not a JSON object");
  expect_error("{} x", TH_EBADDATA, "collateral: not a JSON object (data after it)");
  expect_error("{}", TH_EBADDATA, "collateral: missing \"root_ca_crl\"");
}

/* Unknown keys are ignored, and a null optional key counts as absent. */
static void extras(cJSON *r) {
  cJSON_AddStringToObject(r, "comment", "ignored");
  cJSON_AddNullToObject(r, "pck_certificate_chain");
  cJSON_DeleteItemFromObject(r, "pck_crl_issuer_chain");
}

static void test_unknown_keys_and_optional_chains(void **state) {
  (void)state;
  th_collateral *c = load_edited("dcap/sgx_quote_collateral.json", NULL, extras);
  assert_null(c->pck_crl_issuer_chain);
  assert_null(c->pck_certificate_chain);
  th_collateral_unref(c);
}

/* ---- parts, references, memo ----------------------------------------------------------------- */

static int memo_freed;
static void count_memo_free(void *memo) {
  memo_freed++;
  free(memo);
}

static void test_refcount_and_memo(void **state) {
  (void)state;
  th_collateral *c = vector_collateral("dcap/sgx_quote_collateral.json");
  assert_ptr_equal(th_collateral_ref(c), c);
  assert_int_equal(c->refcount, 2);
  c->memo = malloc(8);
  c->memo_free = count_memo_free;
  memo_freed = 0;
  th_collateral_unref(c);
  assert_int_equal(memo_freed, 0);
  th_collateral_unref(c);
  assert_int_equal(memo_freed, 1);
  th_collateral_unref(NULL);
}

static void test_from_parts_needs_every_piece(void **state) {
  (void)state;
  th_collateral *c = vector_collateral("dcap/tdx_quote_collateral.json");
  th_collateral_parts p = {0};
  th_err err = {0};
  assert_null(th_collateral_from_parts(&p, &err));
  assert_int_equal(err.code, TH_EINVAL);
  assert_string_equal(err.message, "collateral: missing root_ca_crl");
  /* a signed text with a NUL inside cannot be the one that was signed */
  unsigned char *root = NULL, *pck = NULL;
  p.root_ca_crl_len = (size_t)i2d_X509_CRL(c->root_ca_crl, &root);
  p.pck_crl_len = (size_t)i2d_X509_CRL(c->pck_crl, &pck);
  p.root_ca_crl_der = root;
  p.pck_crl_der = pck;
  char *chain = th_collateral_to_json(c, NULL, &err); /* any text with the chains in it */
  cJSON *o = cJSON_Parse(chain);
  p.tcb_info_issuer_chain = cJSON_GetObjectItem(o, "tcb_info_issuer_chain")->valuestring;
  p.qe_identity_issuer_chain = p.tcb_info_issuer_chain;
  p.tcb_info_json = "{\"id\":\0}";
  p.tcb_info_len = 8;
  p.qe_identity_json = c->qe_identity_json;
  p.qe_identity_len = c->qe_identity_len;
  p.tcb_info_signature = p.qe_identity_signature = c->tcb_info_signature;
  assert_null(th_collateral_from_parts(&p, &err));
  assert_string_equal(err.message, "collateral: tcb_info contains a NUL byte");
  p.tcb_info_json = c->tcb_info_json;
  p.tcb_info_len = c->tcb_info_len;
  th_collateral *d = th_collateral_from_parts(&p, &err);
  if (!d) fail_msg("%s", err.message);
  assert_string_equal(d->tcb_info_json, c->tcb_info_json);
  assert_null(d->pck_crl_issuer_chain);
  th_collateral_unref(d);
  cJSON_Delete(o);
  free(chain);
  OPENSSL_free(root);
  OPENSSL_free(pck);
  th_collateral_unref(c);
}

/* ---- names and times ----------------------------------------------------------------------- */

static void test_status_names(void **state) {
  (void)state;
  const char *names[] = {"UpToDate",  "SWHardeningNeeded", "ConfigurationNeeded",
                         "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                         "OutOfDateConfigurationNeeded", "Revoked"};
  for (int i = 0; i < TH_TCB_STATUS_COUNT; i++) {
    assert_string_equal(th_tcb_status_name(i), names[i]);
    assert_int_equal(th_tcb_status_parse(names[i]), i);
  }
  assert_int_equal(th_tcb_status_parse("Fine"), -1);
  assert_int_equal(th_tcb_status_parse("uptodate"), -1);
  assert_int_equal(th_tcb_status_parse(NULL), -1);
  assert_string_equal(th_tcb_status_name(99), "Unknown");
}

static void test_rfc3339(void **state) {
  (void)state;
  int64_t t = 0;
  assert_int_equal(th_rfc3339_parse("2025-06-19T10:16:03Z", &t), 0);
  assert_int_equal(t, 1750328163);
  assert_int_equal(th_rfc3339_parse("2025-06-19T10:16:03.999Z", &t), 0);
  assert_int_equal(t, 1750328163);
  assert_int_equal(th_rfc3339_parse("2024-02-29T00:00:00Z", &t), 0);
  assert_int_equal(t, 1709164800);
  assert_int_equal(th_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
  assert_int_equal(t, 0);
  const char *bad[] = {"", "2025-06-19", "2025-06-19T10:16:03", "2025-06-19 10:16:03Z",
                       "2025-06-19T10:16:03+00:00", "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z",
                       "2025-06-19T24:00:00Z", "2025-06-19T10:16:03.Z", "2025-06-19T10:16:03Zx",
                       "+025-06-19T10:16:03Z", NULL};
  for (int i = 0; bad[i]; i++)
    if (th_rfc3339_parse(bad[i], &t) == 0) fail_msg("accepted \"%s\"", bad[i]);
  assert_int_equal(th_rfc3339_parse(NULL, &t), -1);
  char buf[21];
  th_rfc3339_format(1750328163, buf);
  assert_string_equal(buf, "2025-06-19T10:16:03Z");
  th_rfc3339_format(0, buf);
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
  th_rfc3339_format(INT64_MAX, buf); /* clamped, never longer than 20 characters */
  assert_string_equal(buf, "9999-12-31T23:59:59Z");
  th_rfc3339_format(1774003335, buf);
  assert_int_equal(th_rfc3339_parse(buf, &t), 0);
  assert_int_equal(t, 1774003335);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tdx_collateral_fields),
      cmocka_unit_test(test_sgx_collateral_fields),
      cmocka_unit_test(test_outdated_collateral_fields),
      cmocka_unit_test(test_levels_sorted),
      cmocka_unit_test(test_sort_is_canonical_and_stable),
      cmocka_unit_test(test_component_counts_kept),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_error_texts),
      cmocka_unit_test(test_unknown_keys_and_optional_chains),
      cmocka_unit_test(test_refcount_and_memo),
      cmocka_unit_test(test_from_parts_needs_every_piece),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_rfc3339),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
