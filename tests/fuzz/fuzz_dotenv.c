/* tests/fuzz/fuzz_dotenv.c — libFuzzer target for the .env parser (core/dotenv.c).
 *
 * For every input: th_dotenv_parse. A refusal must be a "line N: ..." error (TH_EBADDATA) with
 * N within the input's lines. An accepted file must give pairs that th_dotenv_check_var accepts
 * (names of the allowed set, values valid UTF-8 without NUL), no name twice, lines increasing;
 * written back in quotes (single, or backticks when the value has a single quote; values with a
 * CR or both quote kinds are skipped) each pair must parse to itself; and the env-encryption
 * plaintext (th_phala_env_json) must be JSON that cJSON reads back to the same names and values.
 * Any violation: abort(). */
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"
#include "phala_env.h"

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_dotenv: %s\ninput (%zu bytes): %.*s\n", what, size, (int)size,
          (const char *)data);
  abort();
}

/* Lines of the input as the parser counts them (LF, CRLF and CR each end one). */
static size_t count_lines(const uint8_t *data, size_t size) {
  size_t lines = 1;
  for (size_t i = 0; i < size; i++)
    if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'))) lines++;
  return lines;
}

static void check_refusal(const th_err *err, const uint8_t *data, size_t size) {
  unsigned long line = 0;
  if (err->code != TH_EBADDATA || sscanf(err->message, "line %lu: ", &line) != 1)
    fail(err->message, data, size);
  if (line < 1 || line > count_lines(data, size)) fail("error line out of range", data, size);
}

static void check_pairs(const th_dotenv *env, const uint8_t *data, size_t size) {
  th_err err = {0};
  for (size_t i = 0; i < env->count; i++) {
    const th_dotenv_var *v = &env->vars[i];
    if (th_dotenv_check_var(v->name, v->value, i + 1, &err)) fail(err.message, data, size);
    if (i > 0 && v->line <= env->vars[i - 1].line) fail("lines not increasing", data, size);
    for (size_t j = 0; j < i; j++)
      if (strcmp(env->vars[j].name, v->name) == 0) fail("duplicate name accepted", data, size);
  }
}

/* NAME='value' (or with backticks) parses back to exactly the pair. */
static void check_rewrite(const th_dotenv_var *v, const uint8_t *data, size_t size) {
  char quote = strchr(v->value, '\'') ? (strchr(v->value, '`') ? 0 : '`') : '\'';
  /* Both kinds inside, or a CR (read back as a line end): no quoting keeps the value as is. */
  if (!quote || strchr(v->value, '\r')) return;
  size_t len = strlen(v->name) + strlen(v->value) + 4;
  char *text = malloc(len + 1);
  if (!text) abort();
  snprintf(text, len + 1, "%s=%c%s%c", v->name, quote, v->value, quote);
  th_err err = {0};
  th_dotenv *again = th_dotenv_parse(text, len - 1, &err);
  if (!again) fail(err.message, data, size);
  if (again->count != 1 || strcmp(again->vars[0].name, v->name) != 0 ||
      strcmp(again->vars[0].value, v->value) != 0)
    fail("a quoted rewrite does not parse to the same pair", data, size);
  th_dotenv_free(again);
  free(text);
}

/* The encryption plaintext is JSON whose env list holds the same pairs in order. */
static void check_json(const th_dotenv *env, const uint8_t *data, size_t size) {
  th_err err = {0};
  char *json = NULL;
  size_t len = 0;
  if (th_phala_env_json(env->vars, env->count, &json, &len, &err)) fail(err.message, data, size);
  cJSON *doc = cJSON_ParseWithLength(json, len);
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "env");
  if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) != env->count)
    fail("plaintext JSON does not hold the env list", data, size);
  size_t i = 0;
  for (const cJSON *e = list->child; e; e = e->next, i++) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
    if (!cJSON_IsString(k) || !cJSON_IsString(v) || strcmp(k->valuestring, env->vars[i].name) ||
        strcmp(v->valuestring, env->vars[i].value))
      fail("plaintext JSON differs from the pairs", data, size);
  }
  cJSON_Delete(doc);
  sodium_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse((const char *)data, size, &err);
  if (!env) {
    check_refusal(&err, data, size);
    return 0;
  }
  check_pairs(env, data, size);
  for (size_t i = 0; i < env->count; i++) check_rewrite(&env->vars[i], data, size);
  check_json(env, data, size);
  th_dotenv_free(env);
  return 0;
}
