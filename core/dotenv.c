/* core/dotenv.c — see dotenv.h. The text is first copied into sodium_malloc memory with line
 * ends turned into LF (and checked for NUL and UTF-8), then read one definition at a time;
 * values are copied into a second sodium_malloc block, never into ordinary heap memory. */
#include "dotenv.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
  const char *s; /* the normalized text (LF line ends), NUL-terminated */
  size_t n, p;   /* its length and the read position */
  size_t line;   /* line of s[p] */
  th_dotenv *env;
  size_t cap;       /* allocated entries of env->vars */
  size_t names_at;  /* next free byte of env->names_ */
  size_t values_at; /* next free byte of env->values_ */
  th_err *err;
} parser;

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

static int is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
  if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
  if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
  if (c == 0xF4 && s[1] > 0x8F) return 0; /* above U+10FFFF */
  return len;
}

/* Copies text into secure memory with CRLF and CR turned into LF, skipping a UTF-8 BOM. */
static char *normalize(const char *text, size_t len, size_t *out_len, th_err *err) {
  const unsigned char *in = (const unsigned char *)text;
  size_t i = len >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
  char *buf = sodium_malloc(len + 1);
  if (!buf) return th_err_set(err, TH_ENOMEM, "dotenv: out of memory"), NULL;
  size_t o = 0, line = 1;
  while (i < len) {
    size_t step = in[i] == '\r' && i + 1 < len && in[i + 1] == '\n' ? 2 : 1;
    if (in[i] == '\0' || (in[i] >= 0x80 && (step = utf8_len(in + i, len - i)) == 0)) {
      sodium_free(buf);
      th_err_set(err, TH_EBADDATA, "line %zu: %s", line, in[i] ? "invalid UTF-8" : "NUL byte");
      return NULL;
    }
    if (in[i] == '\r' || in[i] == '\n') {
      buf[o++] = '\n';
      line++;
    } else {
      memcpy(buf + o, in + i, step);
      o += step;
    }
    i += step;
  }
  buf[o] = '\0';
  *out_len = o;
  return buf;
}

static int add_warning(parser *P, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int add_warning(parser *P, const char *fmt, ...) {
  th_dotenv *env = P->env;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char **grown = realloc(env->warnings, (env->warning_count + 1) * sizeof *grown);
  if (!grown) return th_err_set(P->err, TH_ENOMEM, "dotenv: out of memory");
  env->warnings = grown;
  if (!(grown[env->warning_count] = strdup(msg)))
    return th_err_set(P->err, TH_ENOMEM, "dotenv: out of memory");
  env->warning_count++;
  return 0;
}

/* Appends a definition; the value's bytes s[from..to) are copied, with \n and \r expanded when
 * expand is set (double quotes), into the secure block. */
static int add_var(parser *P, size_t name_at, size_t name_len, size_t from, size_t to, int expand,
                   size_t line) {
  th_dotenv *env = P->env;
  if (env->count == P->cap) {
    size_t cap = P->cap ? 2 * P->cap : 16;
    th_dotenv_var *grown = realloc(env->vars, cap * sizeof *grown);
    if (!grown) return th_err_set(P->err, TH_ENOMEM, "dotenv: out of memory");
    env->vars = grown;
    P->cap = cap;
  }
  char *name = env->names_ + P->names_at;
  memcpy(name, P->s + name_at, name_len);
  name[name_len] = '\0';
  P->names_at += name_len + 1;
  char *value = env->values_ + P->values_at;
  size_t o = 0;
  for (size_t i = from; i < to; i++) {
    if (expand && P->s[i] == '\\' && i + 1 < to && (P->s[i + 1] == 'n' || P->s[i + 1] == 'r')) {
      value[o++] = P->s[++i] == 'n' ? '\n' : '\r';
    } else {
      value[o++] = P->s[i];
    }
  }
  value[o] = '\0';
  P->values_at += o + 1;
  env->vars[env->count++] = (th_dotenv_var){name, value, line};
  return 0;
}

static void skip_blanks(parser *P) {
  while (P->p < P->n && is_blank(P->s[P->p])) P->p++;
}

static void skip_to_eol(parser *P) {
  while (P->p < P->n && P->s[P->p] != '\n') P->p++;
}

static int at_eol(const parser *P) { return P->p == P->n || P->s[P->p] == '\n'; }

static size_t scan_name(parser *P) {
  size_t start = P->p;
  while (P->p < P->n && is_name_char(P->s[P->p])) P->p++;
  return P->p - start;
}

/* Reads `[export ]NAME` and its separator (`=`, or `:` then white space or the line's end). */
static int parse_name(parser *P, size_t *at, size_t *len) {
  *at = P->p;
  *len = scan_name(P);
  if (*len == 6 && memcmp(P->s + *at, "export", 6) == 0 && P->p < P->n && is_blank(P->s[P->p])) {
    size_t after_export = P->p;
    skip_blanks(P);
    if (P->p < P->n && is_name_char(P->s[P->p])) {
      *at = P->p;
      *len = scan_name(P);
    } else {
      P->p = after_export; /* `export = 1` defines a variable named export */
    }
  }
  if (*len == 0) return th_err_set(P->err, TH_EBADDATA, "line %zu: expected NAME=value", P->line);
  if (P->p < P->n && P->s[P->p] == ':') {
    P->p++;
    if (!at_eol(P) && is_blank(P->s[P->p])) return 0;
    if (!at_eol(P))
      return th_err_set(P->err, TH_EBADDATA,
                        "line %zu: ':' after a name must be followed by white space", P->line);
    /* dotenv would take the next line as the value, or skip the line at the end of the file */
    return th_err_set(P->err, TH_EBADDATA,
                      "line %zu: nothing after ':' (write NAME= for an empty value)", P->line);
  }
  skip_blanks(P);
  if (P->p < P->n && P->s[P->p] == '=') {
    P->p++;
    return 0;
  }
  const char *eol = memchr(P->s + P->p, '\n', P->n - P->p);
  if (memchr(P->s + P->p, '=', (eol ? (size_t)(eol - P->s) : P->n) - P->p))
    return th_err_set(P->err, TH_EBADDATA,
                      "line %zu: invalid character in a name (allowed: A-Z a-z 0-9 _ . -)",
                      P->line);
  return th_err_set(P->err, TH_EBADDATA, "line %zu: missing '=' after the name", P->line);
}

/* Only white space, then the line's end or a comment, follow position i. */
static int tail_ok(const parser *P, size_t i) {
  while (i < P->n && is_blank(P->s[i])) i++;
  return i == P->n || P->s[i] == '\n' || P->s[i] == '#';
}

static size_t count_lf(const char *s, size_t from, size_t to) {
  size_t k = 0;
  for (size_t i = from; i < to; i++) k += s[i] == '\n';
  return k;
}

/* Where the quoted value starting at from (after its opening quote) ends. dotenv's regex ends it
 * at the last quote of its kind such that every quote before it is preceded by a backslash (a
 * quote without one cannot be inside) and only blanks or a comment follow it on its line. Sets
 * *bare to the first quote without a backslash (n if none); returns 0 when no quote qualifies.
 * The next value in the same quotes opens at or after *bare, so the scans stay linear. */
static int find_close(const parser *P, char quote, size_t from, size_t *end, size_t *bare) {
  int found = 0;
  *bare = P->n;
  for (size_t i = from; i < P->n; i++) {
    if (P->s[i] != quote) continue;
    if (tail_ok(P, i + 1)) {
      *end = i;
      found = 1;
    }
    if (P->s[i - 1] != '\\') { /* s[from - 1] is the opening quote */
      *bare = i;
      break;
    }
  }
  return found;
}

/* A value in quotes, which may span lines; P->p is at the opening quote. */
static int parse_quoted(parser *P, size_t at, size_t len, size_t line) {
  char quote = P->s[P->p];
  const char *kind = quote == '"' ? "double" : quote == '\'' ? "single" : "backtick";
  size_t from = P->p + 1, end = 0, bare = 0;
  if (!find_close(P, quote, from, &end, &bare)) {
    if (bare == P->n)
      return th_err_set(P->err, TH_EBADDATA, "line %zu: unterminated %s-quoted value of %.*s", line,
                        kind, (int)len, P->s + at);
    size_t at_line = line + count_lf(P->s, from, bare);
    if (at_line == line)
      return th_err_set(P->err, TH_EBADDATA,
                        "line %zu: unexpected text after the closing quote of %.*s", line, (int)len,
                        P->s + at);
    /* most likely a quote left open on the first line */
    return th_err_set(P->err, TH_EBADDATA,
                      "line %zu: unexpected text after the closing quote of %.*s (value opened "
                      "on line %zu)",
                      at_line, (int)len, P->s + at, line);
  }
  P->line += count_lf(P->s, from, end);
  P->p = end + 1;
  skip_to_eol(P);
  return add_var(P, at, len, from, end, quote == '"', line);
}

/* An unquoted value: up to a comment or the line's end, blanks trimmed (P->p is past the leading
 * ones). */
static int parse_unquoted(parser *P, size_t at, size_t len) {
  size_t from = P->p, to = P->p;
  int warned = 0;
  while (!at_eol(P)) {
    char c = P->s[P->p];
    if (c == '#' && (P->p == from || is_blank(P->s[P->p - 1]))) break;
    if (c == '#' && !warned) {
      warned = 1;
      if (add_warning(P,
                      "line %zu: '#' in the unquoted value of %.*s is kept (dotenv would end the "
                      "value there; quote the value to make this explicit)",
                      P->line, (int)len, P->s + at))
        return -1;
    }
    P->p++;
    if (!is_blank(c)) to = P->p;
  }
  skip_to_eol(P);
  return add_var(P, at, len, from, to, 0, P->line);
}

static int parse_definition(parser *P) {
  size_t at, len, line = P->line;
  if (parse_name(P, &at, &len)) return -1;
  skip_blanks(P);
  char c = P->p < P->n ? P->s[P->p] : '\0';
  if (c == '"' || c == '\'' || c == '`') return parse_quoted(P, at, len, line);
  return parse_unquoted(P, at, len);
}

static int parse_lines(parser *P) {
  while (P->p < P->n) {
    skip_blanks(P);
    if (!at_eol(P) && P->s[P->p] != '#') {
      if (parse_definition(P)) return -1;
    } else {
      skip_to_eol(P);
    }
    if (P->p < P->n) { /* at a LF */
      P->p++;
      P->line++;
    }
  }
  return 0;
}

/* Orders by name, then by position in the file. */
static int by_name(const void *a, const void *b) {
  const th_dotenv_var *x = *(const th_dotenv_var *const *)a;
  const th_dotenv_var *y = *(const th_dotenv_var *const *)b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x > y) - (x < y);
}

/* Fails on the earliest second definition of a name. Sorting keeps this O(n log n) for big
 * files (a pairwise check is quadratic). */
static int check_duplicates(const th_dotenv *env, th_err *err) {
  if (env->count < 2) return 0;
  const th_dotenv_var **sorted = malloc(env->count * sizeof *sorted);
  if (!sorted) return th_err_set(err, TH_ENOMEM, "dotenv: out of memory");
  for (size_t i = 0; i < env->count; i++) sorted[i] = &env->vars[i];
  qsort(sorted, env->count, sizeof *sorted, by_name);
  const th_dotenv_var *dup = NULL, *first = NULL;
  for (size_t i = 1, run = 0; i < env->count; i++) {
    if (strcmp(sorted[i]->name, sorted[run]->name) != 0) {
      run = i;
    } else if (i == run + 1 && (!dup || sorted[i] < dup)) {
      dup = sorted[i];
      first = sorted[run];
    }
  }
  free(sorted);
  if (!dup) return 0;
  return th_err_set(err, TH_EBADDATA, "line %zu: duplicate name %s (first defined on line %zu)",
                    dup->line, dup->name, first->line);
}

th_dotenv *th_dotenv_parse(const char *text, size_t len, th_err *err) {
  if (sodium_init() < 0) return th_err_set(err, TH_ENOMEM, "dotenv: libsodium init failed"), NULL;
  th_dotenv *env = calloc(1, sizeof *env);
  if (!env) return th_err_set(err, TH_ENOMEM, "dotenv: out of memory"), NULL;
  size_t n = 0;
  char *s = normalize(text, len, &n, err);
  if (!s) return th_dotenv_free(env), NULL;
  /* Each name and each value (plus its NUL) is shorter than the text it came from. */
  env->names_ = malloc(n + 1);
  env->values_ = sodium_malloc(n + 1);
  env->values_size_ = n + 1;
  int rc = -1;
  if (!env->names_ || !env->values_) {
    th_err_set(err, TH_ENOMEM, "dotenv: out of memory");
  } else {
    parser P = {.s = s, .n = n, .line = 1, .env = env, .err = err};
    rc = parse_lines(&P);
    if (rc == 0) rc = check_duplicates(env, err);
  }
  sodium_free(s);
  if (rc != 0) return th_dotenv_free(env), NULL;
  sodium_mprotect_readonly(env->values_); /* a stray write into a secret faults */
  return env;
}

const char *th_dotenv_get(const th_dotenv *env, const char *name) {
  for (size_t i = 0; env && i < env->count; i++)
    if (strcmp(env->vars[i].name, name) == 0) return env->vars[i].value;
  return NULL;
}

int th_dotenv_check_var(const char *name, const char *value, size_t index, th_err *err) {
  size_t i = 0;
  while (is_name_char(name[i])) i++;
  if (i == 0 || name[i] != '\0')
    return th_err_set(err, TH_EINVAL, "env var %zu: invalid name (allowed: A-Z a-z 0-9 _ . -)",
                      index);
  const unsigned char *v = (const unsigned char *)value;
  for (size_t n = strlen(value), step; n > 0; v += step, n -= step)
    if ((step = utf8_len(v, n)) == 0)
      return th_err_set(err, TH_EINVAL, "env var %zu (%s): value is not valid UTF-8", index, name);
  return 0;
}

void th_dotenv_free(th_dotenv *env) {
  if (!env) return;
  sodium_free(env->values_); /* zeroes the block before unmapping it */
  free(env->names_);
  for (size_t i = 0; i < env->warning_count; i++) free(env->warnings[i]);
  free(env->warnings);
  free(env->vars);
  free(env);
}
