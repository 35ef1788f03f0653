/* bindings/modules.h — the Lua modules written in C, opened into every host. */
#ifndef TH_MODULES_H
#define TH_MODULES_H

#include <lua.h>

int luaopen_task(lua_State *L);
int luaopen_json(lua_State *L);
int luaopen_http(lua_State *L);
int luaopen_attest(lua_State *L);
int luaopen_phala(lua_State *L);
int luaopen_tee(lua_State *L);
int luaopen_store(lua_State *L);

/* Registers every module in package.preload and as a global of the same name. */
void th_open_modules(lua_State *L);

#endif
