/* bindings/store.c — the Lua module `store`: an agent's sealed records (core/store.h) in
 * $TEEHOST_HOME/store/<name>.db.
 *
 *   store.open(name, {key = Key, agent_id = "default"}) -> Store | nil, msg, code
 *       name: letters, digits, '.', '_', '-' (1 to 64, not starting with '.'); key: the tee Key
 *       whose 32 bytes seal the values (scripts/agent/sealed.lua derives the usual one,
 *       tee.get_key("teehost/store", "sealing"); the store keeps its own copy, so the Key may be
 *       closed afterwards).
 *   st:put(key, value, {room = r}?) -> true | nil, msg, code
 *   st:get(key) -> value | nil (no such record) | nil, msg, "EVERIFY" (tampered, or sealed
 *       under another TEE identity)
 *   st:delete(key) -> true (deleted) | false (there was none) | nil, msg, code
 *   st:search{room = r?, limit = n?} -> {{key =, room =, created = unix ms, value =}, …} newest
 *       first (all records when no limit) | nil, msg, code
 *   st:close()   tostring(st) -> "store.Store<name agent=id>"   (__gc and __close close too)
 *
 * The calls are synchronous: SQLite on a local file answers in well under a millisecond (a put
 * waits for one fsync), so they do not yield; the loop simply pauses for that time. Misuse
 * (wrong types, an empty or over-long key, a closed store) raises; failures of the file or the
 * seal return nil, msg, code. Values become Lua strings only when the script reads them; the
 * decrypted copies in C are wiped, and a memory error while pushing them cannot skip the wipe
 * (the push runs under lua_pcall). */
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "modules.h"
#include "store.h"
#include "tee_internal.h"

#define STORE_MT "teehost.Store"

typedef struct lstore {
  th_store *st; /* NULL once closed */
} lstore;

static lstore *check_store(lua_State *L) {
  lstore *s = luaL_checkudata(L, 1, STORE_MT);
  if (!s->st) luaL_error(L, "attempt to use a closed store");
  return s;
}

/* A record key or room argument: a string without NUL, 1 to TH_STORE_KEY_MAX bytes. */
static const char *check_name(lua_State *L, int idx, const char *fn, const char *what) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  if (n == 0 || n > TH_STORE_KEY_MAX || strlen(s) != n)
    luaL_error(L, "%s: %s must be 1 to %d bytes without NUL", fn, what, TH_STORE_KEY_MAX);
  return s;
}

static void check_store_name(lua_State *L, const char *name, size_t n) {
  int ok = n >= 1 && n <= 64 && name[0] != '.' && strlen(name) == n;
  for (size_t i = 0; ok && i < n; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
         (name[i] >= '0' && name[i] <= '9') || strchr("._-", name[i]);
  if (!ok)
    luaL_error(L, "store.open: name '%s' must be 1 to 64 letters, digits, '.', '_' or '-' (not "
                  "starting with '.')", name);
}

static int store_open(lua_State *L) {
  static const char *const known[] = {"key", "agent_id", NULL};
  size_t name_len;
  const char *name = luaL_checklstring(L, 1, &name_len);
  check_store_name(L, name, name_len);
  if (lua_isnoneornil(L, 2)) { /* no options: the key is missing, said below */
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  th_check_options(L, 2, "store.open", known);
  lua_getfield(L, 2, "agent_id");
  const char *agent =
      lua_isnil(L, -1) ? "default" : check_name(L, lua_gettop(L), "store.open", "agent_id");
  lua_getfield(L, 2, "key");
  if (!luaL_testudata(L, -1, TEE_KEY_MT))
    return luaL_error(L, "store.open: opts.key must be a tee Key (tee.get_key(\"teehost/store\", "
                         "\"sealing\"), as scripts/agent/sealed.lua does)");
  const uint8_t *secret = tee_key_secret(L, lua_gettop(L));
  char home[4096], path[4200];
  th_err err = {0};
  if (th_host_home(home, sizeof home, &err) != 0) return th_push_failure(L, &err);
  snprintf(path, sizeof path, "%s/store/%s.db", home, name);
  lstore *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->st = NULL;
  luaL_setmetatable(L, STORE_MT);
  if (!(s->st = th_store_open(path, name, agent, secret, &err))) return th_push_failure(L, &err);
  return 1;
}

/* Raises for misuse the core caught (TH_EINVAL), else returns the failure triple. */
static int fail(lua_State *L, const char *fn, const th_err *err) {
  if (err->code == TH_EINVAL) return luaL_error(L, "%s: %s", fn, err->message);
  return th_push_failure(L, err);
}

static int store_put(lua_State *L) {
  static const char *const known[] = {"room", NULL};
  lstore *s = check_store(L);
  const char *key = check_name(L, 2, "store:put", "key");
  size_t len;
  const char *value = luaL_checklstring(L, 3, &len);
  const char *room = NULL;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    th_check_options(L, 4, "store:put", known);
    lua_getfield(L, 4, "room");
    if (!lua_isnil(L, -1)) room = check_name(L, lua_gettop(L), "store:put", "room");
  }
  th_err err = {0};
  if (th_store_put(s->st, key, room, value, len, &err) != 0) return fail(L, "store:put", &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int push_value(lua_State *L) {
  lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
  return 1;
}

static int store_get(lua_State *L) {
  lstore *s = check_store(L);
  const char *key = check_name(L, 2, "store:get", "key");
  luaL_checkstack(L, 4, NULL);
  uint8_t *value = NULL;
  size_t len = 0;
  th_err err = {0};
  int rc = th_store_get(s->st, key, &value, &len, &err);
  if (rc < 0) return fail(L, "store:get", &err);
  if (rc == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushcfunction(L, push_value);
  lua_pushlightuserdata(L, value);
  lua_pushinteger(L, (lua_Integer)len);
  int status = lua_pcall(L, 2, 1, 0);
  sodium_free(value); /* wipes */
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

static int store_delete(lua_State *L) {
  lstore *s = check_store(L);
  const char *key = check_name(L, 2, "store:delete", "key");
  th_err err = {0};
  int rc = th_store_delete(s->st, key, &err);
  if (rc < 0) return fail(L, "store:delete", &err);
  lua_pushboolean(L, rc);
  return 1;
}

/* Pushes the list (a lightuserdata) as a Lua array of records; run under lua_pcall. */
static int push_list(lua_State *L) {
  const th_store_list *l = lua_touserdata(L, 1);
  lua_createtable(L, (int)l->count, 0);
  for (size_t i = 0; i < l->count; i++) {
    const th_store_record *r = &l->items[i];
    lua_createtable(L, 0, 4);
    lua_pushstring(L, r->key);
    lua_setfield(L, -2, "key");
    if (r->room) {
      lua_pushstring(L, r->room);
      lua_setfield(L, -2, "room");
    }
    lua_pushinteger(L, (lua_Integer)r->created);
    lua_setfield(L, -2, "created");
    lua_pushlstring(L, (const char *)r->value, r->len);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int store_search(lua_State *L) {
  static const char *const known[] = {"room", "limit", NULL};
  lstore *s = check_store(L);
  const char *room = NULL;
  lua_Integer limit = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    th_check_options(L, 2, "store:search", known);
    lua_getfield(L, 2, "room");
    if (!lua_isnil(L, -1)) room = check_name(L, lua_gettop(L), "store:search", "room");
    lua_getfield(L, 2, "limit");
    if (!lua_isnil(L, -1)) {
      limit = luaL_checkinteger(L, -1);
      if (limit < 1) return luaL_error(L, "store:search: limit must be at least 1");
    }
  }
  luaL_checkstack(L, 4, NULL);
  th_store_list list;
  th_err err = {0};
  if (th_store_search(s->st, room, limit, &list, &err) != 0) return fail(L, "store:search", &err);
  lua_pushcfunction(L, push_list);
  lua_pushlightuserdata(L, &list);
  int status = lua_pcall(L, 1, 1, 0);
  th_store_list_free(&list); /* wipes */
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

static int store_gc(lua_State *L) {
  lstore *s = luaL_checkudata(L, 1, STORE_MT);
  th_store_close(s->st);
  s->st = NULL;
  return 0;
}

static int store_tostring(lua_State *L) {
  lstore *s = luaL_checkudata(L, 1, STORE_MT);
  if (!s->st)
    lua_pushliteral(L, "store.Store<closed>");
  else
    lua_pushfstring(L, "store.Store<%s agent=%s>", th_store_name(s->st), th_store_agent(s->st));
  return 1;
}

int luaopen_store(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"put", store_put},       {"get", store_get},   {"delete", store_delete},
      {"search", store_search}, {"close", store_gc},  {NULL, NULL},
  };
  static const luaL_Reg funcs[] = {{"open", store_open}, {NULL, NULL}};
  luaL_newmetatable(L, STORE_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, store_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, store_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, store_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
