/* core/json_span.c — see json_span.h. A tiny scanner written here because cJSON does not report
 * where a value came from; it tracks strings (with escapes) and nesting depth, nothing more. */
#include "json_span.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
  return i;
}

static int is_delim(char c) {
  return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* s[*i] is the opening quote; moves *i past the closing one. */
static int skip_string(const char *s, size_t *i, size_t n) {
  size_t j = *i + 1;
  while (j < n) {
    if (s[j] == '\\') {
      j += 2;
    } else if (s[j] == '"') {
      *i = j + 1;
      return 0;
    } else {
      j++;
    }
  }
  return -1;
}

/* An object or array: up to the bracket that brings the depth back to zero. */
static int skip_nested(const char *s, size_t *i, size_t n) {
  size_t depth = 0, j = *i;
  while (j < n) {
    char c = s[j];
    if (c == '"') {
      if (skip_string(s, &j, n) != 0) return -1;
      continue;
    }
    j++;
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        *i = j;
        return 0;
      }
    }
  }
  return -1;
}

static int skip_value(const char *s, size_t *i, size_t n) {
  if (*i >= n) return -1;
  if (s[*i] == '"') return skip_string(s, i, n);
  if (s[*i] == '{' || s[*i] == '[') return skip_nested(s, i, n);
  size_t j = *i; /* number, true, false, null */
  while (j < n && !is_delim(s[j])) j++;
  if (j == *i) return -1;
  *i = j;
  return 0;
}

int th_json_member_span(const char *json, size_t len, const char *key, size_t *start,
                        size_t *end) {
  size_t klen = strlen(key), i = skip_ws(json, 0, len);
  if (i >= len || json[i] != '{') return -1;
  i = skip_ws(json, i + 1, len);
  while (i < len && json[i] == '"') {
    size_t kstart = i + 1;
    if (skip_string(json, &i, len) != 0) return -1;
    size_t kend = i - 1;
    i = skip_ws(json, i, len);
    if (i >= len || json[i] != ':') return -1;
    i = skip_ws(json, i + 1, len);
    size_t vstart = i;
    if (skip_value(json, &i, len) != 0) return -1;
    if (kend - kstart == klen && memcmp(json + kstart, key, klen) == 0) {
      *start = vstart;
      *end = i;
      return 0;
    }
    i = skip_ws(json, i, len);
    if (i >= len || json[i] != ',') return -1;
    i = skip_ws(json, i + 1, len);
  }
  return -1;
}
