/* bindings/json.h — the Lua module `json` (json.decode, json.encode, json.null, json.array,
 * json.object, json.is_array, json.array_mt, json.object_mt). See json.c for its behaviour. */
#ifndef TH_JSON_H
#define TH_JSON_H

#include <lua.h>

/* Builds the module table and pushes it (a lua_CFunction for luaL_requiref / package.preload).
 * Each call makes its own json.null and metatables: nothing is shared between lua_States. */
int luaopen_json(lua_State *L);

#endif
