/* bindings/json_encode.c — json.encode for the `json` module (see json.c for the module).
 *
 * json.encode(v, opts) -> string
 *   Written by hand, not with cJSON's printer: cJSON prints every number through a double (Lua
 *   integers above 2^53 would be corrupted) and its strings are NUL-terminated (a Lua string
 *   holding "\0" would be cut). Rules:
 *     nil, json.null -> null; booleans; integers exactly (LUA_INTEGER_FMT); floats as the
 *     shortest of %.14g..%.17g that reads back equal, with ".0" appended when that looks like
 *     an integer (so math.type survives a round trip); NaN/inf raise.
 *     Strings: '"', '\\' and control characters escaped (\b \f \n \r \t, else \u00xx), all
 *     other bytes (UTF-8 or not) copied as they are.
 *     Tables (raw access; metatables other than json's are ignored): json.array_mt -> array of
 *     t[1..n], n the largest positive integer key, holes as null; json.object_mt -> object;
 *     any other table whose keys are exactly 1..n (n >= 1) -> array, else object (an empty
 *     plain table is {}). Object keys: strings, and integers written in decimal; keys are
 *     emitted sorted bytewise, so equal values give identical text (hashes are taken over it).
 *   Raises (with " at <path>" appended when the problem is below the top level; the path is
 *   $ followed by .key, ["key"] or [i] with Lua's 1-based array indices):
 *     json: cannot encode NaN/inf
 *     json: cannot encode a function              (also: a userdata, a thread)
 *     json: cannot encode key of type boolean     (any key that is not a string or integer)
 *     json: cannot encode float key 1.5
 *     json: duplicate key "1" (integer and string)
 *     json: array has non-index key "n"           (a json.array_mt table)
 *     json: array too sparse (largest index N, M elements)  (N > 1000 and N > 10 * M)
 *     json: cannot encode a cycle (at depth N)    (N = depth of the repeated table, top is 1)
 *     json: nesting deeper than 1000              (the decoder's limit too)
 *   opts: {indent = n} (0..32 spaces) or {indent = "\t"} (spaces/tabs, at most 32) pretty-prints:
 *   one member per line, "key": value, empty containers as [] and {}, no final newline.
 *   Without indent the output is compact (no whitespace at all). Unknown options raise.
 *   The output grows in a userdata on the Lua stack, so a raise midway leaks nothing.
 * */
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Encoder. */

/* Where a value sits, for error messages: a chain from the value up to the top. */
typedef struct pathseg {
  const struct pathseg *parent;
  const char *key; /* NULL: an array element */
  size_t keylen;
  lua_Integer index;
} pathseg;

typedef struct encoder {
  lua_State *L;
  char *buf; /* the bytes of the userdata at buf_idx */
  size_t len, cap;
  int buf_idx, seen_idx;
  const char *indent; /* NULL: compact */
  size_t indent_len;
} encoder;

/* Grows the output by replacing the userdata at buf_idx with a bigger one: the old one is
 * garbage, so nothing leaks when an error unwinds the encoder. */
static void enc_grow(encoder *e, size_t need) {
  size_t cap = e->cap ? e->cap : 256;
  while (cap - e->len < need) {
    if (cap > SIZE_MAX / 2) luaL_error(e->L, "json: output too large");
    cap *= 2;
  }
  char *nb = lua_newuserdatauv(e->L, cap, 0);
  if (e->len) memcpy(nb, e->buf, e->len);
  lua_replace(e->L, e->buf_idx);
  e->buf = nb;
  e->cap = cap;
}

static void enc_add(encoder *e, const char *p, size_t n) {
  if (e->cap - e->len < n) enc_grow(e, n);
  if (n) memcpy(e->buf + e->len, p, n);
  e->len += n;
}

static void enc_char(encoder *e, char c) {
  if (e->cap == e->len) enc_grow(e, 1);
  e->buf[e->len++] = c;
}

static void enc_newline(encoder *e, int level) {
  if (!e->indent) return;
  enc_char(e, '\n');
  for (int i = 0; i < level; i++) enc_add(e, e->indent, e->indent_len);
}

static void enc_escape(encoder *e, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  switch (c) {
    case '"': enc_add(e, "\\\"", 2); return;
    case '\\': enc_add(e, "\\\\", 2); return;
    case '\b': enc_add(e, "\\b", 2); return;
    case '\f': enc_add(e, "\\f", 2); return;
    case '\n': enc_add(e, "\\n", 2); return;
    case '\r': enc_add(e, "\\r", 2); return;
    case '\t': enc_add(e, "\\t", 2); return;
    default: enc_add(e, esc, sizeof esc); return;
  }
}

/* Copies runs of plain bytes at once; only '"', '\\' and control bytes are escaped. */
static void enc_string(encoder *e, const char *s, size_t n) {
  size_t run = 0;
  enc_char(e, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    enc_add(e, s + run, i - run);
    enc_escape(e, c);
    run = i + 1;
  }
  enc_add(e, s + run, n - run);
  enc_char(e, '"');
}

static int is_identifier(const char *s, size_t n) {
  if (n == 0 || is_digit((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return 0;
  }
  return 1;
}

static void enc_path(encoder *e, const pathseg *at) {
  if (!at) {
    enc_char(e, '$');
    return;
  }
  enc_path(e, at->parent);
  if (!at->key) {
    char b[32];
    int n = snprintf(b, sizeof b, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)at->index);
    enc_add(e, b, (size_t)n);
  } else if (is_identifier(at->key, at->keylen)) {
    enc_char(e, '.');
    enc_add(e, at->key, at->keylen);
  } else {
    enc_char(e, '[');
    enc_string(e, at->key, at->keylen < 64 ? at->keylen : 64); /* a key may be huge */
    if (at->keylen > 64) enc_add(e, "...", 3);
    enc_char(e, ']');
  }
}

/* Raises "json: <what>[ at <path>]". The message is assembled at the end of the output buffer,
 * which is abandoned anyway, to reuse the string escaping for keys in the path. */
static int enc_raise(encoder *e, const pathseg *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *what = lua_pushvfstring(e->L, fmt, ap);
  va_end(ap);
  size_t mark = e->len;
  enc_add(e, "json: ", 6);
  enc_add(e, what, strlen(what));
  if (at) {
    enc_add(e, " at ", 4);
    enc_path(e, at);
  }
  lua_pushlstring(e->L, e->buf + mark, e->len - mark);
  return lua_error(e->L);
}

static void enc_integer(encoder *e, lua_Integer i) {
  char b[32];
  int n = snprintf(b, sizeof b, LUA_INTEGER_FMT, (LUAI_UACINT)i);
  enc_add(e, b, (size_t)n);
}

/* The shortest of %.14g..%.17g that reads back as d (%.17g always does), written with '.'
 * whatever the locale, and with ".0" added when it would otherwise read as an integer. */
static size_t format_float(double d, char *b, size_t size) {
  for (int prec = 14; prec <= 17; prec++) {
    snprintf(b, size, "%.*g", prec, d);
    if (strtod(b, NULL) == d) break;
  }
  size_t n = 0;
  int point_or_exponent = 0;
  for (const char *p = b; *p; p++) {
    if (is_digit((unsigned char)*p) || *p == '-' || *p == '+') {
      b[n++] = *p;
    } else if (*p == 'e') {
      b[n++] = 'e';
      point_or_exponent = 1;
    } else if (n == 0 || b[n - 1] != '.') { /* the locale's decimal point, maybe multibyte */
      b[n++] = '.';
      point_or_exponent = 1;
    }
  }
  if (!point_or_exponent) {
    b[n++] = '.';
    b[n++] = '0';
  }
  b[n] = '\0';
  return n;
}

static void enc_float(encoder *e, lua_Number f, const pathseg *at) {
  if (isnan(f) || isinf(f)) enc_raise(e, at, "cannot encode NaN/inf");
  char b[48];
  enc_add(e, b, format_float((double)f, b, sizeof b));
}

enum kind { KIND_ARRAY, KIND_OBJECT };

typedef struct shape {
  enum kind kind;
  lua_Integer n;   /* arrays: elements to write (t[1..n]) */
  size_t count;    /* keys in the table */
  int only_index;  /* every key is an integer >= 1 */
} shape;

/* How json.encode writes the table at t: one pass over its keys. */
static shape table_shape(lua_State *L, int t, int array_mt, int object_mt) {
  shape sh = {KIND_OBJECT, 0, 0, 1};
  lua_Integer max = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    sh.count++;
    lua_Integer i;
    if (lua_isinteger(L, -1) && (i = lua_tointeger(L, -1)) >= 1) {
      if (i > max) max = i;
    } else {
      sh.only_index = 0;
    }
  }
  int marked = lua_getmetatable(L, t);
  if (marked && lua_rawequal(L, -1, array_mt)) {
    sh.kind = KIND_ARRAY;
    sh.n = max;
  } else if (!(marked && lua_rawequal(L, -1, object_mt)) && sh.count > 0 && sh.only_index &&
             (lua_Unsigned)max == sh.count) {
    sh.kind = KIND_ARRAY;
    sh.n = max;
  }
  if (marked) lua_pop(L, 1);
  return sh;
}

static void enc_value(encoder *e, int idx, int depth, const pathseg *at);

/* A json.array_mt table with a key that is not an index: find it for the message. */
static void enc_bad_array_key(encoder *e, int t, const pathseg *at) {
  lua_State *L = e->L;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (!(lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)) {
      if (lua_type(L, -1) == LUA_TSTRING)
        enc_raise(e, at, "array has non-index key \"%s\"", lua_tostring(L, -1));
      enc_raise(e, at, "array has non-index key %s", luaL_tolstring(L, -1, NULL));
    }
  }
}

static void enc_array(encoder *e, int t, int depth, const shape *sh, const pathseg *at) {
  lua_State *L = e->L;
  if (!sh->only_index) enc_bad_array_key(e, t, at);
  if (sh->n > JSON_SPARSE_MIN && (lua_Unsigned)sh->n / JSON_SPARSE_RATIO > sh->count)
    enc_raise(e, at, "array too sparse (largest index %I, %I elements)", sh->n,
              (lua_Integer)sh->count);
  pathseg seg = {at, NULL, 0, 0};
  enc_char(e, '[');
  for (lua_Integer i = 1; i <= sh->n; i++) {
    if (i > 1) enc_char(e, ',');
    enc_newline(e, depth);
    seg.index = i;
    lua_rawgeti(L, t, i); /* nil (a hole) is written as null */
    enc_value(e, lua_gettop(L), depth, &seg);
    lua_pop(L, 1);
  }
  if (sh->n > 0) enc_newline(e, depth - 1);
  enc_char(e, ']');
}

/* An object key: a string, or an integer key written in decimal (into num, so no Lua string is
 * made for it; qsort moves entries, hence key_of() rather than a pointer into num). */
typedef struct entry {
  const char *s; /* string keys: the key's bytes, kept alive by the table */
  size_t len;
  lua_Integer i;
  int is_int;
  char num[24];
} entry;

static const char *key_of(const entry *x) { return x->is_int ? x->num : x->s; }

static int entry_cmp(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = memcmp(key_of(x), key_of(y), x->len < y->len ? x->len : y->len);
  if (c) return c;
  return (x->len > y->len) - (x->len < y->len);
}

/* Fills entries with the keys of table t, raising for keys JSON cannot have. */
static void collect_keys(encoder *e, int t, entry *entries, const pathseg *at) {
  lua_State *L = e->L;
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    entry *x = &entries[k++];
    x->is_int = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      x->s = lua_tolstring(L, -1, &x->len); /* a string already: lua_next is not disturbed */
    } else if (lua_isinteger(L, -1)) {
      x->is_int = 1;
      x->i = lua_tointeger(L, -1);
      x->len = (size_t)snprintf(x->num, sizeof x->num, LUA_INTEGER_FMT, (LUAI_UACINT)x->i);
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      enc_raise(e, at, "cannot encode float key %s", lua_pushfstring(L, "%f", lua_tonumber(L, -1)));
    } else {
      enc_raise(e, at, "cannot encode key of type %s", luaL_typename(L, -1));
    }
  }
}

static void enc_object(encoder *e, int t, int depth, const shape *sh, const pathseg *at) {
  lua_State *L = e->L;
  if (sh->count == 0) {
    enc_add(e, "{}", 2);
    return;
  }
  if (sh->count > SIZE_MAX / sizeof(entry)) enc_raise(e, at, "object too large");
  entry *entries = lua_newuserdatauv(L, sh->count * sizeof(entry), 0);
  collect_keys(e, t, entries, at);
  qsort(entries, sh->count, sizeof(entry), entry_cmp);
  pathseg seg = {at, NULL, 0, 0};
  enc_char(e, '{');
  for (size_t k = 0; k < sh->count; k++) {
    const entry *x = &entries[k];
    if (k > 0 && entry_cmp(x - 1, x) == 0) /* only "1" and 1 can collide */
      enc_raise(e, at, "duplicate key \"%s\" (integer and string)", key_of(x));
    if (k > 0) enc_char(e, ',');
    enc_newline(e, depth);
    enc_string(e, key_of(x), x->len);
    enc_char(e, ':');
    if (e->indent) enc_char(e, ' ');
    if (x->is_int) {
      lua_rawgeti(L, t, x->i);
    } else {
      lua_pushlstring(L, x->s, x->len);
      lua_rawget(L, t);
    }
    seg.key = key_of(x);
    seg.keylen = x->len;
    enc_value(e, lua_gettop(L), depth, &seg);
    lua_pop(L, 1);
  }
  enc_newline(e, depth - 1);
  enc_char(e, '}');
  lua_pop(L, 1); /* entries */
}

/* depth: this table's level, the top-level table being 1. */
static void enc_table(encoder *e, int t, int depth, const pathseg *at) {
  lua_State *L = e->L;
  if (depth > JSON_MAX_DEPTH) enc_raise(e, NULL, "nesting deeper than %d", JSON_MAX_DEPTH);
  luaL_checkstack(L, 8, "json: nesting too deep");
  lua_pushvalue(L, t);
  if (lua_rawget(L, e->seen_idx) != LUA_TNIL)
    enc_raise(e, at, "cannot encode a cycle (at depth %d)", depth);
  lua_pop(L, 1);
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, e->seen_idx);

  shape sh = table_shape(L, t, UV_ARRAY_MT, UV_OBJECT_MT);
  if (sh.kind == KIND_ARRAY) enc_array(e, t, depth, &sh, at);
  else enc_object(e, t, depth, &sh, at);

  lua_pushvalue(L, t); /* a table may appear twice, just not inside itself */
  lua_pushnil(L);
  lua_rawset(L, e->seen_idx);
}

/* depth: the level of the container holding this value (0 at the top). */
static void enc_value(encoder *e, int idx, int depth, const pathseg *at) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: enc_add(e, "null", 4); return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) enc_add(e, "true", 4);
      else enc_add(e, "false", 5);
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) enc_integer(e, lua_tointeger(L, idx));
      else enc_float(e, lua_tonumber(L, idx), at);
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      enc_string(e, s, n);
      return;
    }
    case LUA_TTABLE: enc_table(e, idx, depth + 1, at); return;
    case LUA_TLIGHTUSERDATA:
    case LUA_TUSERDATA:
      if (lua_rawequal(L, idx, UV_NULL)) {
        enc_add(e, "null", 4);
        return;
      }
      break;
    default: break;
  }
  enc_raise(e, at, "cannot encode a %s", luaL_typename(L, idx));
}

/* opts.indent: an integer 0..32 (spaces) or a string of at most 32 spaces and tabs. */
static void read_options(lua_State *L, int idx, encoder *e) {
  static const char spaces[JSON_MAX_INDENT + 1] = "                                ";
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "indent") != 0)
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
  }
  int type = lua_getfield(L, idx, "indent");
  lua_Integer n = 0;
  size_t len = 0;
  const char *s = NULL;
  if (type == LUA_TNIL || (type == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    lua_pop(L, 1);
    return;
  }
  if (type == LUA_TNUMBER && lua_isinteger(L, -1) && (n = lua_tointeger(L, -1)) >= 0 &&
      n <= JSON_MAX_INDENT) {
    s = spaces;
    len = (size_t)n;
  } else if (type == LUA_TSTRING && (s = lua_tolstring(L, -1, &len)) != NULL &&
             len <= JSON_MAX_INDENT && strspn(s, " \t") == len) {
    /* s is kept alive by opts, which stays on the stack */
  } else {
    luaL_argerror(L, idx, "indent must be an integer 0..32 or a string of spaces and tabs");
  }
  lua_pop(L, 1);
  e->indent = s;
  e->indent_len = len;
}

int th_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  encoder e = {L, NULL, 0, 0, 0, 0, NULL, 0};
  read_options(L, 2, &e);
  lua_settop(L, 2);
  lua_pushnil(L); /* the output buffer's slot */
  e.buf_idx = lua_gettop(L);
  lua_newtable(L); /* tables being encoded, for cycles */
  e.seen_idx = lua_gettop(L);
  enc_value(&e, 1, 0, NULL);
  lua_pushlstring(L, e.buf, e.len);
  return 1;
}


int th_json_is_array_table(lua_State *L, int t) {
  return table_shape(L, t, UV_ARRAY_MT, UV_OBJECT_MT).kind == KIND_ARRAY;
}
