/* tests/fuzz/fuzz_collateral.c — libFuzzer target for the collateral parsers (core/collateral,
 * core/tcb_info) and the signed-span scanner of core/json_span.
 *
 * Each input is tried four ways: as the collateral JSON of spec 2.1, as a TCB info text, as a QE
 * identity text, and as a PCCS body whose "tcbInfo" / "enclaveIdentity" span is sliced out.
 * Properties (abort() on violation): a parsed collateral serialises and parses back to the same
 * signed texts; TCB levels come out in canonical order; a span the scanner finds in a text
 * cJSON accepts is itself valid JSON and lies inside the input. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collateral.h"
#include "json_span.h"
#include "tcb_info.h"

static void check_sorted(const th_tcb_info *t) {
  for (size_t i = 1; i < t->nlevels; i++) {
    const th_tcb_level *a = &t->levels[i - 1], *b = &t->levels[i];
    int d = memcmp(a->sgx, b->sgx, 16);
    if (d < 0 || (d == 0 && a->pcesvn < b->pcesvn)) abort();
  }
}

static void try_collateral(const char *text, size_t size) {
  th_err err = {0};
  th_collateral *c = th_collateral_parse(text, size, &err);
  if (!c) return;
  check_sorted(&c->tcb_info);
  size_t len = 0;
  char *json = th_collateral_to_json(c, &len, &err);
  th_collateral *again = json ? th_collateral_parse(json, len, &err) : NULL;
  if (!again || strcmp(again->tcb_info_json, c->tcb_info_json) != 0 ||
      strcmp(again->qe_identity_json, c->qe_identity_json) != 0 ||
      memcmp(again->tcb_info_signature, c->tcb_info_signature, 64) != 0)
    abort();
  th_collateral_unref(again);
  free(json);
  th_collateral_unref(c);
}

static void try_span(const char *text, size_t size, const char *key) {
  size_t start = 0, end = 0;
  if (th_json_member_span(text, size, key, &start, &end) != 0) return;
  if (start > end || end > size) abort();
  cJSON *whole = cJSON_ParseWithLength(text, size);
  if (whole) {
    cJSON *part = cJSON_ParseWithLength(text + start, end - start);
    if (!part) abort();
    cJSON_Delete(part);
    cJSON_Delete(whole);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  th_err err = {0};
  try_collateral(text, size);
  th_tcb_info t;
  if (th_tcb_info_parse(text, size, &t, &err) == 0) {
    check_sorted(&t);
    th_tcb_info_clear(&t);
  }
  th_qe_identity q;
  if (th_qe_identity_parse(text, size, &q, &err) == 0) th_qe_identity_clear(&q);
  try_span(text, size, "tcbInfo");
  try_span(text, size, "enclaveIdentity");
  return 0;
}
