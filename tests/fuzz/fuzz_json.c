/* tests/fuzz/fuzz_json.c — libFuzzer target for the json module (bindings/json.c).
 *
 * For every input: json.decode(bytes) under lua_pcall. A malformed document must come back as
 * nil, "json: ..."; decode must never raise on a string. When it decodes, the value must encode,
 * its encoding must decode again and re-encode to the very same text (the encoder's output is
 * canonical), and the pretty-printed encoding must decode to the same value too. Independently,
 * the input is parsed with cJSON itself: whatever json.decode accepts, cJSON must accept, and the
 * two trees must hold the same values (strings compared up to cJSON's \u0000 truncation). Any
 * violation is a bug in json.c: abort(). */
#include <cJSON.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Returns nothing when decode failed cleanly, an error text when a property is violated, or
 * (nil, nil, value) when the value decoded and round-tripped. */
static const char round_trip[] =
    "local json, s = ...\n"
    "local v, err = json.decode(s)\n"
    "if v == nil then\n"
    "  if type(err) ~= 'string' or err:sub(1, 6) ~= 'json: ' then\n"
    "    return 'bad error: ' .. tostring(err)\n"
    "  end\n"
    "  if err:find('internal error', 1, true) then return err end\n"
    "  return\n"
    "end\n"
    "local e1 = json.encode(v)\n"
    "local v2, err2 = json.decode(e1)\n"
    "if v2 == nil then return 'encoder output does not decode: ' .. err2 .. ' in ' .. e1 end\n"
    "local e2 = json.encode(v2)\n"
    "if e1 ~= e2 then return 'encodings differ: ' .. e1 .. ' vs ' .. e2 end\n"
    "local p = json.encode(v, {indent = 2})\n"
    "local v3, err3 = json.decode(p)\n"
    "if v3 == nil then return 'pretty output does not decode: ' .. err3 end\n"
    "if json.encode(v3) ~= e1 then return 'pretty output decodes differently' end\n"
    "return nil, nil, v\n";

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_json: %s\ninput (%zu bytes): %.*s\n", what, size, (int)size,
          (const char *)data);
  abort();
}

static int same(lua_State *L, int idx, const cJSON *item);

/* The Lua string at idx, cut at its first NUL as cJSON's strings are, equals s. */
static int same_string(lua_State *L, int idx, const char *s) {
  if (lua_type(L, idx) != LUA_TSTRING || !s) return 0;
  size_t len;
  const char *v = lua_tolstring(L, idx, &len);
  return strlen(v) == strlen(s) && memcmp(v, s, strlen(s)) == 0;
}

static int same_number(lua_State *L, int idx, double d) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (lua_isinteger(L, idx)) return (double)lua_tointeger(L, idx) == d;
  return lua_tonumber(L, idx) == d;
}

static int has_metatable(lua_State *L, int idx, const char *field) {
  int ok = 0;
  if (lua_getmetatable(L, idx)) {
    lua_getglobal(L, "json");
    lua_getfield(L, -1, field);
    ok = lua_rawequal(L, -1, -3);
    lua_pop(L, 3);
  }
  return ok;
}

static int same_array(lua_State *L, int idx, const cJSON *item) {
  if (!has_metatable(L, idx, "array_mt")) return 0;
  lua_Integer i = 0;
  for (const cJSON *c = item->child; c; c = c->next) {
    lua_rawgeti(L, idx, ++i);
    int ok = same(L, lua_gettop(L), c);
    lua_pop(L, 1);
    if (!ok) return 0;
  }
  return (lua_Integer)lua_rawlen(L, idx) == i;
}

/* Keys are compared as cJSON has them (it truncates at \u0000, so inputs holding that escape
 * skip this comparison); with duplicate keys only the last occurrence counts, as in decode. */
static int same_object(lua_State *L, int idx, const cJSON *item) {
  if (!has_metatable(L, idx, "object_mt")) return 0;
  size_t distinct = 0;
  for (const cJSON *c = item->child; c; c = c->next) {
    int later = 0;
    for (const cJSON *d = c->next; d && !later; d = d->next)
      later = strcmp(c->string, d->string) == 0;
    if (later) continue;
    distinct++;
    lua_pushstring(L, c->string);
    lua_rawget(L, idx);
    int ok = same(L, lua_gettop(L), c);
    lua_pop(L, 1);
    if (!ok) return 0;
  }
  size_t keys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    keys++;
    lua_pop(L, 1);
  }
  return keys == distinct;
}

static int same(lua_State *L, int idx, const cJSON *item) {
  luaL_checkstack(L, 8, "fuzz_json: deep");
  switch (item->type & 0xFF) {
    case cJSON_NULL: {
      lua_getglobal(L, "json");
      lua_getfield(L, -1, "null");
      int ok = lua_rawequal(L, -1, idx);
      lua_pop(L, 2);
      return ok;
    }
    case cJSON_False: return lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx);
    case cJSON_True: return lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx);
    case cJSON_Number: return same_number(L, idx, item->valuedouble);
    case cJSON_String: return same_string(L, idx, item->valuestring);
    case cJSON_Array: return lua_type(L, idx) == LUA_TTABLE && same_array(L, idx, item);
    case cJSON_Object: return lua_type(L, idx) == LUA_TTABLE && same_object(L, idx, item);
    default: return 0;
  }
}

static int contains(const uint8_t *data, size_t size, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= size; i++)
    if (memcmp(data + i, needle, n) == 0) return 1;
  return 0;
}

/* Compares json.decode's value (at idx, or none when idx is 0) with cJSON's own parse. */
static void compare_with_cjson(lua_State *L, int idx, const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  const char *end = NULL;
  cJSON *root = size ? cJSON_ParseWithLengthOpts(text, size + 1, &end, 1) : NULL;
  if (idx && !root) fail("json.decode accepted what cJSON rejects", data, size);
  if (idx && !contains(data, size, "\\u0000") && !same(L, idx, root))
    fail("json.decode and cJSON disagree on the value", data, size);
  cJSON_Delete(root);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (!L) return 0;
  luaL_openlibs(L);
  luaL_requiref(L, "json", luaopen_json, 1);
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, round_trip, sizeof round_trip - 1, "=fuzz_json") != LUA_OK)
    fail(lua_tostring(L, -1), data, size);
  lua_getglobal(L, "json");
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 2, 3, 0) != LUA_OK) fail(lua_tostring(L, -1), data, size);
  if (lua_isstring(L, -3)) fail(lua_tostring(L, -3), data, size);
  compare_with_cjson(L, lua_isnil(L, -1) ? 0 : lua_gettop(L), data, size);
  lua_close(L);
  return 0;
}
