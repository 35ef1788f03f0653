/* bindings/modules.c — which C modules a host has. Adding a module: one line here. */
#include "modules.h"

#include <lauxlib.h>

void th_open_modules(lua_State *L) {
  static const luaL_Reg modules[] = {
      {"task", luaopen_task},
      {"json", luaopen_json},
      {"http", luaopen_http},
      {"attest", luaopen_attest},
      {"phala", luaopen_phala},
      {"tee", luaopen_tee},
      {"store", luaopen_store},
      {NULL, NULL},
  };
  for (const luaL_Reg *m = modules; m->name; m++) {
    luaL_requiref(L, m->name, m->func, 1);
    lua_pop(L, 1);
  }
}
