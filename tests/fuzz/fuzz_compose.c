/* tests/fuzz/fuzz_compose.c — libFuzzer target for the app-compose serializer (core/compose.c).
 *
 * For every input, th_compose_parse. A refusal must be TH_EBADDATA with a "compose: " message.
 * When the text is accepted, all three forms must serialize, and:
 *  - the compact form parses back and serializes to the very same bytes (it is canonical), and so
 *    does the normalized form, in both the compact and the normalized form;
 *  - without duplicate keys, "__proto__" keys or infinite numbers (the three things JavaScript
 *    drops or rewrites), the compact form decodes to a tree equal to the input's (cJSON_Compare);
 *  - the legacy form parses, and equals the normalized form re-indented here as
 *    JSON.stringify(v, null, 4) would, with every `": ` then replaced by `":` (the old SDK's
 *    definition, taken literally);
 *  - th_compose_hash_text equals th_compose_hash_bytes of the compact text.
 * Independently, cJSON's own (more lenient) parse of the input is serialized as a tree: it must
 * succeed or fail cleanly (bad UTF-8, too deep), and whatever it writes must parse strictly.
 * Violations abort(). */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"

static void fail(const char *what, const char *detail, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_compose: %s\n%s\ninput (%zu bytes): %.*s\n", what, detail ? detail : "",
          size, (int)size, (const char *)data);
  abort();
}

/* No duplicate keys, no "__proto__", only finite numbers, at any depth. */
static int plain(const cJSON *item) {
  if (cJSON_IsNumber(item)) return item->valuedouble - item->valuedouble == 0;
  for (const cJSON *c = item->child; c; c = c->next) {
    if (cJSON_IsObject(item)) {
      if (strcmp(c->string, "__proto__") == 0) return 0;
      for (const cJSON *d = c->next; d; d = d->next)
        if (strcmp(c->string, d->string) == 0) return 0;
    }
    if (!plain(c)) return 0;
  }
  return 1;
}

/* Serializes text[0, len) in `form` and checks the result comes back byte for byte in `again`. */
static void check_stable(const char *text, size_t len, enum th_compose_form again,
                         const uint8_t *data, size_t size) {
  th_err err = {0};
  size_t n;
  char *out = th_compose_serialize_text(text, len, again, &n, &err);
  if (!out) fail("own output does not parse", err.message, data, size);
  if (n != len || memcmp(out, text, len) != 0) fail("output is not stable", out, data, size);
  free(out);
}

/* What @phala/cloud 0.0.x does, taken literally, as an independent oracle for the legacy form:
 * re-indent the normalized (compact, canonical) text as JSON.stringify(v, null, 4) would, then
 * replace every `": ` by `":`. Returns a malloc'd string. */
static char *legacy_oracle(const char *compact) {
  size_t n = strlen(compact), cap = n * 8 + 16, o = 0;
  int level = 0, in_string = 0;
  char *out = malloc(cap);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    char c = compact[i];
    while (o + 4 * (size_t)level + 8 > cap)
      if (!(out = realloc(out, cap *= 2))) abort();
    if (in_string) {
      out[o++] = c;
      if (c == '\\')
        out[o++] = compact[++i];
      else if (c == '"')
        in_string = 0;
      continue;
    }
    int open = c == '{' || c == '[', close = c == '}' || c == ']';
    if (close) level--;
    if (close || c == ',' || (open && compact[i + 1] != '}' && compact[i + 1] != ']')) {
      if (c == ',' || open) out[o++] = c;
      if (open) level++;
      out[o++] = '\n';
      for (int k = 0; k < 4 * level; k++) out[o++] = ' ';
      if (close) out[o++] = c;
      continue;
    }
    if (open)
      out[o++] = c, out[o++] = compact[++i]; /* {} or [] */
    else if (c == ':')
      out[o++] = ':', out[o++] = ' ';
    else
      out[o++] = c, in_string = c == '"';
  }
  out[o] = '\0';
  /* the literal replace: non-overlapping, left to right */
  size_t r = 0;
  for (size_t i = 0; i < o; i++) {
    out[r++] = out[i];
    if (out[i] == '"' && out[i + 1] == ':' && out[i + 2] == ' ') out[r++] = ':', i += 2;
  }
  out[r] = '\0';
  return out;
}

static void check_legacy(const char *legacy, size_t legacy_len, const char *normalized,
                         const uint8_t *data, size_t size) {
  th_err err = {0};
  cJSON *tree = th_compose_parse(legacy, legacy_len, &err);
  if (!tree) fail("legacy output does not parse", err.message, data, size);
  cJSON_Delete(tree);
  char *want = legacy_oracle(normalized);
  if (strlen(want) != legacy_len || memcmp(want, legacy, legacy_len) != 0)
    fail("legacy form is not the re-indented normalized form with `\": ` replaced", want, data,
         size);
  free(want);
}

static void check_accepted(cJSON *tree, const uint8_t *data, size_t size) {
  th_err err = {0};
  char *text[3];
  size_t len[3];
  for (int f = 0; f < 3; f++)
    if (!(text[f] = th_compose_serialize(tree, (enum th_compose_form)f, &len[f], &err)))
      fail("accepted tree does not serialize", err.message, data, size);
  check_stable(text[0], len[0], TH_COMPOSE_COMPACT, data, size);
  check_stable(text[1], len[1], TH_COMPOSE_COMPACT, data, size);
  check_stable(text[1], len[1], TH_COMPOSE_NORMALIZED, data, size);
  cJSON *back = cJSON_ParseWithLength(text[0], len[0]);
  if (!back) fail("cJSON cannot parse the compact form", text[0], data, size);
  if (plain(tree) && !cJSON_Compare(tree, back, 1))
    fail("compact form decodes to other data", text[0], data, size);
  cJSON_Delete(back);
  check_legacy(text[2], len[2], text[1], data, size);
  char h1[TH_COMPOSE_HASH_HEX], h2[TH_COMPOSE_HASH_HEX];
  if (th_compose_hash_text((const char *)data, size, TH_COMPOSE_COMPACT, h1, &err) ||
      th_compose_hash_bytes(text[0], len[0], h2, &err) || strcmp(h1, h2) != 0)
    fail("hash differs from the hash of the compact text", err.message, data, size);
  for (int f = 0; f < 3; f++) free(text[f]);
}

/* cJSON accepts more (leading zeros, any control byte as white space, invalid UTF-8): its tree
 * must either serialize to text the strict parser accepts or be refused with a clean error. */
static void check_lenient(const uint8_t *data, size_t size) {
  cJSON *tree = cJSON_ParseWithLength((const char *)data, size);
  if (!cJSON_IsObject(tree)) {
    cJSON_Delete(tree);
    return;
  }
  for (int f = 0; f < 3; f++) {
    th_err err = {0};
    size_t len;
    char *text = th_compose_serialize(tree, (enum th_compose_form)f, &len, &err);
    if (!text && ((err.code != TH_EBADDATA && err.code != TH_ETOOBIG) ||
                  strncmp(err.message, "compose: ", 9) != 0))
      fail("bad error for a cJSON tree", err.message, data, size);
    cJSON *back = text ? th_compose_parse(text, len, &err) : NULL;
    if (text && !back) fail("output of a cJSON tree does not parse", err.message, data, size);
    cJSON_Delete(back);
    free(text);
  }
  cJSON_Delete(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  th_err err = {0};
  cJSON *tree = th_compose_parse((const char *)data, size, &err);
  if (tree) {
    check_accepted(tree, data, size);
    cJSON_Delete(tree);
  } else if (err.code != TH_EBADDATA || strncmp(err.message, "compose: ", 9) != 0) {
    fail("bad error", err.message, data, size);
  }
  check_lenient(data, size);
  return 0;
}
