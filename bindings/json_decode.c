/* bindings/json_decode.c — json.decode for the `json` module (see json.c for the module).
 *
 * json.decode(s) -> value | nil, message
 *   Malformed text is an expected failure: it returns nil and "json: <what> at offset N" (N is a
 *   0-based byte offset). Only misuse (a non-string argument) and running out of memory
 *   raise. Messages:
 *     json: empty input
 *     json: unexpected end of input at offset N
 *     json: unexpected 'c' at offset N            (bytes outside 0x20..0x7e shown as '\xNN')
 *     json: nesting deeper than 1000 at offset N  (the bracket that opens level 1001)
 *     json: unterminated string at offset N       (N = its opening quote)
 *     json: unescaped control character '\xNN' in string at offset N
 *     json: invalid escape '\q' at offset N
 *     json: unpaired surrogate '\uD800' at offset N
 *     json: number longer than 63 characters at offset N
 *     json: number out of range at offset N       (overflows a double, e.g. 1e999)
 *   Objects become tables with metatable json.object_mt, arrays tables with json.array_mt (so []
 *   and {} survive a round trip), null becomes json.null everywhere (array positions are kept).
 *   Duplicate keys: the last one wins. A number written without fraction or exponent that fits
 *   in a lua_Integer becomes an integer, exactly ("9223372036854775807" included; "-0" gives the
 *   float -0.0); every other number is a float ("1.0" and "1e2" too).
 *
 *   The tree is built by cJSON (cJSON_ParseWithLengthOpts, NUL terminator required, the parse
 *   end through return_parse_end, never the global cJSON_GetErrorPtr). cJSON alone is not
 *   enough, for reasons found by testing it:
 *     - it is lenient: control bytes (NUL included) count as whitespace, raw control characters
 *       are accepted inside strings, numbers such as 01, 1. and 1.e5 parse, and a \u escape with
 *       non-hex digits reads as U+0000;
 *     - its stop offset is sometimes off: in '{"a":1,}' it stops after the '}' (at the end of
 *       the input) because it looks for a key one byte past a non-quote;
 *     - a \u0000 escape truncates its NUL-terminated strings (keys and values);
 *     - it reads every number through a double, so integers above 2^53 lose digits.
 *   So a strict RFC 8259 checker runs first over the text (one linear pass, no allocation): it
 *   gives the error messages above with exact offsets, and a document it accepts is one cJSON
 *   accepts (numbers are capped at 63 characters, cJSON's buffer; nesting at 1000,
 *   CJSON_NESTING_LIMIT). While converting cJSON's tree, a second lexer pass walks the text in
 *   step with the tree and takes strings (unescaped here, byte-exact, \u0000 included) and
 *   integers (parsed here, exactly) from their tokens; floats are cJSON's valuedouble. Strings
 *   are bytes: UTF-8 is neither validated nor normalised. A leading UTF-8 BOM is skipped (as
 *   cJSON does). cJSON allocates with malloc: its tree lives only during the call and is freed
 *   even when Lua raises (out of memory) midway, because the conversion runs under lua_pcall.
 *   cJSON_ParseWithLengthOpts also writes libcjson's process-wide error record (never read
 *   here): decoding in several threads at once is a data race inside libcjson.
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
/* Lexer: tokens of the text, strictly per RFC 8259. Used twice per decode: by the validator,
 * then in step with cJSON's tree to read string and number tokens. */

enum jerr {
  JE_NONE,
  JE_UNEXPECTED, /* at len: unexpected end of input */
  JE_NESTING,
  JE_UNTERMINATED,
  JE_CONTROL,
  JE_ESCAPE,
  JE_SURROGATE,
  JE_TOOLONG,
  JE_RANGE,
  JE_INTERNAL /* the tree and the text disagree: a bug, raised rather than returned */
};

enum tok {
  TK_EOF,
  TK_INVALID, /* a byte no token starts with */
  TK_STRING,
  TK_NUMBER,
  TK_LITERAL,
  TK_OPEN_ARRAY,
  TK_CLOSE_ARRAY,
  TK_OPEN_OBJECT,
  TK_CLOSE_OBJECT,
  TK_COMMA,
  TK_COLON
};

typedef struct lexer {
  const unsigned char *s;
  size_t len;
  size_t pos; /* next byte to read */
  enum jerr err;
  size_t err_at;
} lexer;

typedef struct token {
  size_t start, end; /* [start, end) in the text, quotes included for strings */
  int escaped;       /* strings: holds a backslash */
  int integral;      /* numbers: no fraction, no exponent */
} token;

static void lex_init(lexer *lx, const char *s, size_t len) {
  lx->s = (const unsigned char *)s;
  lx->len = len;
  /* cJSON skips a BOM only when at least one byte follows it; so do we, to agree with it. */
  lx->pos = (len >= 4 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
  lx->err = JE_NONE;
  lx->err_at = 0;
}

static int lex_error(lexer *lx, enum jerr e, size_t at) {
  lx->err = e;
  lx->err_at = at;
  return 0;
}


/* Skips JSON whitespace (only these four bytes) and says what the next token is. */
static enum tok lex_peek(lexer *lx) {
  const unsigned char *s = lx->s;
  while (lx->pos < lx->len &&
         (s[lx->pos] == ' ' || s[lx->pos] == '\n' || s[lx->pos] == '\r' || s[lx->pos] == '\t'))
    lx->pos++;
  if (lx->pos >= lx->len) return TK_EOF;
  unsigned char c = s[lx->pos];
  if (c == '-' || is_digit(c)) return TK_NUMBER;
  switch (c) {
    case '"': return TK_STRING;
    case 't':
    case 'f':
    case 'n': return TK_LITERAL;
    case '[': return TK_OPEN_ARRAY;
    case ']': return TK_CLOSE_ARRAY;
    case '{': return TK_OPEN_OBJECT;
    case '}': return TK_CLOSE_OBJECT;
    case ',': return TK_COMMA;
    case ':': return TK_COLON;
    default: return TK_INVALID;
  }
}

static long hex4(const unsigned char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Length of the valid escape sequence at s[i] (a backslash) in a string whose closing quote is
 * at s[end], or 0 with *why set. The same rules as cJSON's parse_string/utf16_literal_to_utf8,
 * plus hex digits that must be hex (cJSON reads "\u00zz" as U+0000). */
static size_t escape_length(const unsigned char *s, size_t i, size_t end, enum jerr *why) {
  *why = JE_ESCAPE;
  if (i + 1 >= end) return 0;
  switch (s[i + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return 2;
    case 'u': break;
    default: return 0;
  }
  long hi = end - i >= 6 ? hex4(s + i + 2) : -1;
  if (hi < 0) return 0;
  *why = JE_SURROGATE;
  if (hi >= 0xDC00 && hi <= 0xDFFF) return 0;
  if (hi < 0xD800 || hi > 0xDBFF) return 6;
  if (end - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u') return 0;
  long lo = hex4(s + i + 8);
  if (lo < 0xDC00 || lo > 0xDFFF) return 0;
  return 12;
}

static int lex_string(lexer *lx, token *t) {
  const unsigned char *s = lx->s;
  size_t start = lx->pos, close = start + 1;
  /* Find the closing quote first, as cJSON does, so that an unterminated string is reported
   * as such rather than by whatever oddity it contains. */
  while (close < lx->len && s[close] != '"') close += s[close] == '\\' ? 2 : 1;
  if (close >= lx->len) return lex_error(lx, JE_UNTERMINATED, start);
  t->escaped = 0;
  for (size_t i = start + 1; i < close;) {
    if (s[i] < 0x20) return lex_error(lx, JE_CONTROL, i);
    if (s[i] != '\\') {
      i++;
      continue;
    }
    enum jerr why;
    size_t n = escape_length(s, i, close, &why);
    if (n == 0) return lex_error(lx, why, i);
    t->escaped = 1;
    i += n;
  }
  lx->pos = close + 1;
  return 1;
}

static size_t skip_digits(const lexer *lx, size_t i) {
  while (i < lx->len && is_digit(lx->s[i])) i++;
  return i;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — whatever follows is the grammar's business
 * ("01" is the number 0 followed by an unexpected '1'). */
static int lex_number(lexer *lx, token *t) {
  const unsigned char *s = lx->s;
  size_t i = lx->pos;
  t->integral = 1;
  if (s[i] == '-') i++;
  if (i < lx->len && s[i] == '0') i++;
  else if (i < lx->len && is_digit(s[i])) i = skip_digits(lx, i);
  else return lex_error(lx, JE_UNEXPECTED, i);
  if (i < lx->len && s[i] == '.') {
    size_t j = skip_digits(lx, i + 1);
    if (j == i + 1) return lex_error(lx, JE_UNEXPECTED, j);
    i = j;
    t->integral = 0;
  }
  if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < lx->len && (s[i] == '+' || s[i] == '-')) i++;
    size_t j = skip_digits(lx, i);
    if (j == i) return lex_error(lx, JE_UNEXPECTED, j);
    i = j;
    t->integral = 0;
  }
  if (i - lx->pos > JSON_MAX_NUMBER) return lex_error(lx, JE_TOOLONG, lx->pos);
  lx->pos = i;
  return 1;
}

static int lex_literal(lexer *lx) {
  unsigned char c = lx->s[lx->pos];
  const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
  for (size_t i = 0; word[i]; i++)
    if (lx->pos + i >= lx->len || lx->s[lx->pos + i] != (unsigned char)word[i])
      return lex_error(lx, JE_UNEXPECTED, lx->pos + i);
  lx->pos += strlen(word);
  return 1;
}

/* Consumes the token lex_peek announced as k. */
static int lex_take(lexer *lx, enum tok k, token *t) {
  int ok = 1;
  t->start = lx->pos;
  switch (k) {
    case TK_STRING: ok = lex_string(lx, t); break;
    case TK_NUMBER: ok = lex_number(lx, t); break;
    case TK_LITERAL: ok = lex_literal(lx); break;
    case TK_EOF:
    case TK_INVALID: return lex_error(lx, JE_UNEXPECTED, lx->pos);
    default: lx->pos++; break;
  }
  t->end = lx->pos;
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Validator: the grammar over the tokens, with exact error offsets. */

enum state {
  ST_VALUE,          /* a value must come */
  ST_VALUE_OR_CLOSE, /* after '[' */
  ST_KEY,            /* after ',' in an object */
  ST_KEY_OR_CLOSE,   /* after '{' */
  ST_COLON,          /* after a key */
  ST_NEXT,           /* after a value inside a container: ',' or its closing bracket */
  ST_END             /* after the top-level value */
};

static int is_scalar(enum tok k) { return k == TK_STRING || k == TK_NUMBER || k == TK_LITERAL; }

static int validate(lexer *lx) {
  enum tok open[JSON_MAX_DEPTH]; /* TK_OPEN_ARRAY or TK_OPEN_OBJECT per level */
  size_t depth = 0;
  enum state st = ST_VALUE;
  token t;
  for (;;) {
    enum tok k = lex_peek(lx);
    size_t at = lx->pos;
    enum tok closer = depth == 0                         ? TK_EOF
                      : open[depth - 1] == TK_OPEN_ARRAY ? TK_CLOSE_ARRAY
                                                         : TK_CLOSE_OBJECT;
    if (k == closer && (st == ST_NEXT || (st == ST_VALUE_OR_CLOSE && k == TK_CLOSE_ARRAY) ||
                        (st == ST_KEY_OR_CLOSE && k == TK_CLOSE_OBJECT))) {
      lx->pos++;
      depth--;
      st = depth ? ST_NEXT : ST_END;
      continue;
    }
    switch (st) {
      case ST_VALUE:
      case ST_VALUE_OR_CLOSE:
        if (k == TK_OPEN_ARRAY || k == TK_OPEN_OBJECT) {
          if (depth == JSON_MAX_DEPTH) return lex_error(lx, JE_NESTING, at);
          open[depth++] = k;
          lx->pos++;
          st = k == TK_OPEN_ARRAY ? ST_VALUE_OR_CLOSE : ST_KEY_OR_CLOSE;
          continue;
        }
        if (!is_scalar(k)) return lex_error(lx, JE_UNEXPECTED, at);
        if (!lex_take(lx, k, &t)) return 0;
        st = depth ? ST_NEXT : ST_END;
        continue;
      case ST_KEY:
      case ST_KEY_OR_CLOSE:
        if (k != TK_STRING) return lex_error(lx, JE_UNEXPECTED, at);
        if (!lex_take(lx, k, &t)) return 0;
        st = ST_COLON;
        continue;
      case ST_COLON:
        if (k != TK_COLON) return lex_error(lx, JE_UNEXPECTED, at);
        lx->pos++;
        st = ST_VALUE;
        continue;
      case ST_NEXT:
        if (k != TK_COMMA) return lex_error(lx, JE_UNEXPECTED, at);
        lx->pos++;
        st = open[depth - 1] == TK_OPEN_ARRAY ? ST_VALUE : ST_KEY;
        continue;
      case ST_END:
        if (k != TK_EOF) return lex_error(lx, JE_UNEXPECTED, at);
        return 1;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Decode errors as "json: ..." strings. */

/* Writes byte c as it appears in a message: itself if printable ASCII, else \xNN. */
static void show_byte(unsigned char c, char out[5]) {
  if (c >= 0x20 && c < 0x7f) snprintf(out, 5, "%c", c);
  else snprintf(out, 5, "\\x%02X", c);
}

/* Pushes up to n bytes of s from `at` (stopping at the end of the text) as shown in messages. */
static const char *push_shown(lua_State *L, const lexer *lx, size_t at, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = at; i < lx->len && i < at + n; i++) {
    char shown[5];
    show_byte(lx->s[i], shown);
    luaL_addstring(&b, shown);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* How many bytes of the escape at `at` to show: \q, or \uXXXX cut at the string's end. */
static size_t escape_shown(const lexer *lx, size_t at) {
  if (at + 1 < lx->len && lx->s[at + 1] != 'u') return 2;
  size_t n = 2;
  while (n < 6 && at + n < lx->len && lx->s[at + n] != '"') n++;
  return n;
}

static void push_decode_error(lua_State *L, const lexer *lx) {
  lua_Integer at = (lua_Integer)lx->err_at;
  switch (lx->err) {
    case JE_UNEXPECTED:
      if (lx->err_at >= lx->len) {
        lua_pushfstring(L, "json: unexpected end of input at offset %I", (lua_Integer)lx->len);
      } else {
        lua_pushfstring(L, "json: unexpected '%s' at offset %I", push_shown(L, lx, lx->err_at, 1),
                        at);
      }
      break;
    case JE_NESTING:
      lua_pushfstring(L, "json: nesting deeper than %d at offset %I", JSON_MAX_DEPTH, at);
      break;
    case JE_UNTERMINATED: lua_pushfstring(L, "json: unterminated string at offset %I", at); break;
    case JE_CONTROL:
      lua_pushfstring(L, "json: unescaped control character '%s' in string at offset %I",
                      push_shown(L, lx, lx->err_at, 1), at);
      break;
    case JE_ESCAPE:
      lua_pushfstring(L, "json: invalid escape '%s' at offset %I",
                      push_shown(L, lx, lx->err_at, escape_shown(lx, lx->err_at)), at);
      break;
    case JE_SURROGATE:
      lua_pushfstring(L, "json: unpaired surrogate '%s' at offset %I",
                      push_shown(L, lx, lx->err_at, escape_shown(lx, lx->err_at)), at);
      break;
    case JE_TOOLONG:
      lua_pushfstring(L, "json: number longer than %d characters at offset %I", JSON_MAX_NUMBER,
                      at);
      break;
    case JE_RANGE: lua_pushfstring(L, "json: number out of range at offset %I", at); break;
    case JE_NONE:
    case JE_INTERNAL:
      lua_pushfstring(L, "json: internal error: decoder out of step with cJSON at offset %I", at);
      break;
  }
}

/* decode's answer for malformed text: nil, message. A disagreement with cJSON's tree is a bug
 * in this file, not in the document, so that one raises. */
static int decode_failed(lua_State *L, const lexer *lx) {
  push_decode_error(L, lx);
  if (lx->err == JE_INTERNAL) return lua_error(L);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* ------------------------------------------------------------------------------------------ */
/* Conversion of cJSON's tree, with the text read in step for strings and integers. */

typedef struct decoder {
  lexer lx;
  const cJSON *root;
} decoder;

/* Stack slots of the protected conversion function's arguments. */
enum { DEC_CTX = 1, DEC_NULL, DEC_ARRAY_MT, DEC_OBJECT_MT };

/* Advances to the next string or number token, which must be of kind `want`. */
static int next_token(lexer *lx, enum tok want, token *t) {
  for (;;) {
    enum tok k = lex_peek(lx);
    if (k == want) return lex_take(lx, k, t);
    if (k == TK_STRING || k == TK_NUMBER || k == TK_EOF || k == TK_INVALID)
      return lex_error(lx, JE_INTERNAL, lx->pos);
    if (!lex_take(lx, k, t)) return 0;
  }
}

static size_t put_utf8(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The escape at s[i] (validated by the lexer) as bytes in out; returns its length in the text. */
static size_t unescape_one(const unsigned char *s, size_t i, char *out, size_t *written) {
  static const char simple[][2] = {{'b', '\b'}, {'f', '\f'}, {'n', '\n'}, {'r', '\r'},
                                   {'t', '\t'}, {'"', '"'},  {'\\', '\\'}, {'/', '/'}};
  for (size_t k = 0; k < sizeof simple / sizeof simple[0]; k++) {
    if (s[i + 1] == (unsigned char)simple[k][0]) {
      *out = simple[k][1];
      *written = 1;
      return 2;
    }
  }
  unsigned long cp = (unsigned long)hex4(s + i + 2);
  size_t n = 6;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    cp = 0x10000 + (((cp & 0x3FF) << 10) | ((unsigned long)hex4(s + i + 8) & 0x3FF));
    n = 12;
  }
  *written = put_utf8(out, cp);
  return n;
}

/* A string token: its bytes straight from the text when it has no escape, else unescaped here
 * (every escape decodes to at most as many bytes as it takes in the text). */
static int push_string(lua_State *L, lexer *lx) {
  token t;
  if (!next_token(lx, TK_STRING, &t)) return 0;
  const unsigned char *s = lx->s;
  size_t first = t.start + 1, last = t.end - 1; /* the content: [first, last) */
  if (!t.escaped) {
    lua_pushlstring(L, (const char *)s + first, last - first);
    return 1;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, last - first);
  size_t n = 0;
  for (size_t i = first; i < last;) {
    if (s[i] != '\\') {
      out[n++] = (char)s[i++];
      continue;
    }
    size_t w;
    i += unescape_one(s, i, out + n, &w);
    n += w;
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

/* Integer tokens are read here, exactly; 0 when it does not fit (the caller uses the double). */
static int push_integer(lua_State *L, const unsigned char *p, size_t n) {
  int neg = p[0] == '-';
  lua_Unsigned acc = 0, limit = neg ? (lua_Unsigned)LUA_MAXINTEGER + 1u : LUA_MAXINTEGER;
  for (size_t i = neg; i < n; i++) {
    unsigned d = (unsigned)(p[i] - '0');
    if (acc > (limit - d) / 10) return 0;
    acc = acc * 10 + d;
  }
  if (neg && acc == 0) lua_pushnumber(L, -0.0); /* the sign is all "-0" says */
  else if (neg && acc == (lua_Unsigned)LUA_MAXINTEGER + 1u) lua_pushinteger(L, LUA_MININTEGER);
  else lua_pushinteger(L, neg ? -(lua_Integer)acc : (lua_Integer)acc);
  return 1;
}

static int push_number(lua_State *L, lexer *lx, const cJSON *item) {
  token t;
  if (!next_token(lx, TK_NUMBER, &t)) return 0;
  if (t.integral && push_integer(L, lx->s + t.start, t.end - t.start)) return 1;
  if (isinf(item->valuedouble)) return lex_error(lx, JE_RANGE, t.start);
  lua_pushnumber(L, (lua_Number)item->valuedouble);
  return 1;
}

static int push_value(lua_State *L, lexer *lx, const cJSON *item);

static int count_children(const cJSON *item) {
  int n = 0;
  for (const cJSON *c = item->child; c && n < INT32_MAX; c = c->next) n++;
  return n;
}

static int push_array(lua_State *L, lexer *lx, const cJSON *item) {
  luaL_checkstack(L, 4, "json: nesting too deep");
  lua_createtable(L, count_children(item), 0);
  lua_Integer i = 0;
  for (const cJSON *c = item->child; c; c = c->next) {
    if (!push_value(L, lx, c)) return 0;
    lua_rawseti(L, -2, ++i);
  }
  lua_pushvalue(L, DEC_ARRAY_MT);
  lua_setmetatable(L, -2);
  return 1;
}

static int push_object(lua_State *L, lexer *lx, const cJSON *item) {
  luaL_checkstack(L, 4, "json: nesting too deep");
  lua_createtable(L, 0, count_children(item));
  for (const cJSON *c = item->child; c; c = c->next) {
    if (!push_string(L, lx)) return 0; /* the key's token comes before the value's */
    if (!push_value(L, lx, c)) return 0;
    lua_rawset(L, -3); /* a duplicate key overwrites: the last one wins */
  }
  lua_pushvalue(L, DEC_OBJECT_MT);
  lua_setmetatable(L, -2);
  return 1;
}

static int push_value(lua_State *L, lexer *lx, const cJSON *item) {
  switch (item->type & 0xFF) {
    case cJSON_NULL: lua_pushvalue(L, DEC_NULL); return 1;
    case cJSON_False: lua_pushboolean(L, 0); return 1;
    case cJSON_True: lua_pushboolean(L, 1); return 1;
    case cJSON_Number: return push_number(L, lx, item);
    case cJSON_String: return push_string(L, lx);
    case cJSON_Array: return push_array(L, lx, item);
    case cJSON_Object: return push_object(L, lx, item);
    default: return lex_error(lx, JE_INTERNAL, lx->pos);
  }
}

/* Runs under lua_pcall (args: decoder, null, array_mt, object_mt) so that a Lua error (out of
 * memory) cannot leak cJSON's tree. Returns the value, or nothing with the lexer's error set. */
static int decode_protected(lua_State *L) {
  decoder *d = lua_touserdata(L, DEC_CTX);
  if (!push_value(L, &d->lx, d->root)) return 0;
  /* The rest of the text must hold no string or number the tree did not account for. */
  token t;
  for (enum tok k; (k = lex_peek(&d->lx)) != TK_EOF;) {
    if (k == TK_STRING || k == TK_NUMBER || k == TK_INVALID)
      return lex_error(&d->lx, JE_INTERNAL, d->lx.pos);
    if (!lex_take(&d->lx, k, &t)) return 0;
  }
  return 1;
}

int th_json_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_typeerror(L, 1, "string");
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  if (len == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "json: empty input");
    return 2;
  }
  decoder d;
  lex_init(&d.lx, s, len);
  if (!validate(&d.lx)) return decode_failed(L, &d.lx);

  /* Lua strings end with a NUL, which cJSON requires to be inside the length it is given. */
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(s, len + 1, &end, 1);
  if (!root) { /* the validator accepted it, so cJSON can only have run out of memory */
    return luaL_error(L, "json: cJSON failed at offset %I on a valid document (out of memory?)",
                      (lua_Integer)(end ? end - s : 0));
  }
  lex_init(&d.lx, s, len);
  d.root = root;
  lua_pushcfunction(L, decode_protected);
  lua_pushlightuserdata(L, &d);
  lua_pushvalue(L, UV_NULL);
  lua_pushvalue(L, UV_ARRAY_MT);
  lua_pushvalue(L, UV_OBJECT_MT);
  int status = lua_pcall(L, 4, 1, 0);
  cJSON_Delete(root);
  if (status != LUA_OK) return lua_error(L);
  if (d.lx.err != JE_NONE) return decode_failed(L, &d.lx);
  return 1;
}

