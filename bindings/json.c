/* bindings/json.c — the Lua module `json`: decode, encode, null, array, object, is_array,
 * array_mt, object_mt.
 *
 * Owns: the mapping between JSON text and Lua values, in both directions, and the three
 * per-lua_State values that mark JSON types (json.null and the two metatables; they are
 * upvalues of every function here, so there is no global mutable state).
 *
 * json.array(t?), json.object(t?) set the metatable (a new table when t is nil) and return t;
 * a table that already has another metatable is refused. json.is_array(v) tells whether
 * json.encode would write v as an array.
 *
 * The two directions live in json_decode.c and json_encode.c. */
#include "json.h"

#include <lauxlib.h>

#include "json_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* json.array, json.object, json.is_array, json.null, and the module table. */

static int set_marker(lua_State *L, int mt, int other_mt) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    if (!lua_rawequal(L, -1, mt) && !lua_rawequal(L, -1, other_mt))
      luaL_argerror(L, 1, "table already has a metatable");
  }
  lua_settop(L, 1);
  lua_pushvalue(L, mt);
  lua_setmetatable(L, 1);
  return 1;
}

static int json_array(lua_State *L) { return set_marker(L, UV_ARRAY_MT, UV_OBJECT_MT); }

static int json_object(lua_State *L) { return set_marker(L, UV_OBJECT_MT, UV_ARRAY_MT); }

static int json_is_array(lua_State *L) {
  luaL_checkany(L, 1);
  int yes = lua_type(L, 1) == LUA_TTABLE && th_json_is_array_table(L, 1);
  lua_pushboolean(L, yes);
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "json.null");
  return 1;
}

/* Pushes a metatable with __name set, so tostring() of a marked table says what it is. */
static void push_marker_mt(lua_State *L, const char *name) {
  lua_createtable(L, 0, 1);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
}

int luaopen_json(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"decode", th_json_decode}, {"encode", th_json_encode},     {"array", json_array},
      {"object", json_object}, {"is_array", json_is_array}, {NULL, NULL},
  };
  luaL_newlibtable(L, funcs);
  int m = lua_gettop(L);

  lua_newuserdatauv(L, 0, 0); /* json.null: unique per state, compares equal only to itself */
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "json.null");
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  push_marker_mt(L, "json.array");
  push_marker_mt(L, "json.object");

  lua_pushvalue(L, m + 1);
  lua_setfield(L, m, "null");
  lua_pushvalue(L, m + 2);
  lua_setfield(L, m, "array_mt");
  lua_pushvalue(L, m + 3);
  lua_setfield(L, m, "object_mt");
  luaL_setfuncs(L, funcs, 3); /* the three values become upvalues of every function */
  return 1;
}

