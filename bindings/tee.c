/* bindings/tee.c — the Lua module `tee`: the TEE endpoint and the guest-agent calls.
 *
 *   tee.endpoint() -> {kind=, target=, mode=, source=, description=}
 *   tee.info() -> Info table (tcb_info decoded)          tee.version() -> {version=, rev=}
 *   tee.get_key(path?, purpose?, algorithm?) -> Key       (see tee_key.c)
 *   tee.get_quote(report_data) -> {quote=, event_log=, report_data=, vm_config=}
 *   tee.attest(report_data) -> attestation (hex)
 *   tee.get_tls_key{subject=, alt_names=, ra_tls=, server_auth=, client_auth=, not_before=,
 *                   not_after=, app_info=} -> {key=PEM, certificate_chain={PEM...}}
 *   tee.emit_event(name, payload?) -> true
 *   tee.sign(algorithm, data) -> {signature=, signature_chain=, public_key=}
 *   tee.verify(algorithm, data, signature, public_key) -> boolean
 *   legacy: tee.derive_key(path, subject?, alt_names?), tee.tdx_quote(data, hash_algorithm?,
 *           prefix?), tee.raw_quote(report_data)
 *   tee.eliza_derive(salt) -> {solana_public_key=, evm_address=} (plugin-tee's derivation)
 *   tee.call(method, body?) -> the reply as a table (any method, as the agent answers it)
 *   tee.use(endpoint) -> description   switch agents (path, URL, "legacy:…", "builtin", "none")
 * Bytes in, hex out: data arguments are Lua strings of raw bytes (a string "1234" is four
 * bytes, as in the SDKs); byte fields of results are lowercase hex, as the agent sends them.
 * Every call waits on the loop; expected failures (no TEE, connection refused, a 400 from the
 * agent) return nil, message, code; misuse raises. The conversion between Lua values and the
 * agent's JSON happens here and only here. */
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "modules.h"
#include "scheduler.h"
#include "tee.h"
#include "tee_internal.h"

#define STATE_KEY "teehost.tee_state" /* the registry slot; not the metatable name */

/* ---- state ----------------------------------------------------------------------------- */

static void state_resource_close(th_resource *r) {
  tee_state *st = (tee_state *)r;
  th_dstack_free(st->client); /* its calls were cancelled with their waits */
  st->client = NULL;
  if (st->tracked) th_host_untrack(st->host, &st->res);
  st->tracked = 0;
}

static int state_gc(lua_State *L) {
  tee_state *st = luaL_checkudata(L, 1, "teehost.TeeState");
  state_resource_close(&st->res);
  th_simulator_free(st->sim);
  st->sim = NULL;
  th_secret_pool_unref(st->keys); /* Keys still alive hold their own reference */
  st->keys = NULL;
  return 0;
}

th_secret_pool *tee_secret_pool(tee_state *st) {
  if (!st->keys) st->keys = th_secret_pool_new(32, 256); /* 256 keys per 8 KiB block */
  return st->keys;
}

tee_state *tee_state_get(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TUSERDATA) {
    tee_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
  }
  lua_pop(L, 1);
  tee_state *st = lua_newuserdatauv(L, sizeof *st, 0);
  memset(st, 0, sizeof *st);
  st->host = th_host_of(L);
  st->res.close = state_resource_close;
  if (luaL_newmetatable(L, "teehost.TeeState")) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  return st;
}

static const char *env_lookup(void *ud, const char *name) {
  (void)ud;
  return getenv(name);
}

static int path_exists(void *ud, const char *path) {
  (void)ud;
  struct stat sb;
  return stat(path, &sb) == 0;
}

int tee_select(tee_state *st, const char *explicit_tee, th_err *err) {
  if (st->selected) return 0;
  if (th_tee_endpoint_select(explicit_tee, env_lookup, NULL, path_exists, NULL, &st->ep, err) != 0)
    return -1;
  st->selected = 1;
  return 0;
}

th_simulator *tee_simulator(tee_state *st, const th_simulator_opts *extra, th_err *err) {
  if (st->sim) return st->sim;
  char home[4096], dir[4200];
  if (th_host_home(home, sizeof home, err) != 0) return NULL;
  snprintf(dir, sizeof dir, "%s/simulator", home);
  th_simulator_opts o = extra ? *extra : (th_simulator_opts){0};
  o.dir = dir;
  return st->sim = th_simulator_open(&o, err);
}

static void report(tee_state *st) {
  char line[700];
  th_tee_endpoint_describe(&st->ep, line, sizeof line);
  fprintf(stderr, "%s\n", line);
  st->report = 0; /* once */
}

int th_tee_startup(th_host *host, const char *explicit_tee, int report_mode, th_err *err) {
  tee_state *st = tee_state_get(host->L);
  if (tee_select(st, explicit_tee, err) != 0) return -1;
  st->report = report_mode != TH_TEE_QUIET;
  if (report_mode == TH_TEE_REPORT_NOW) report(st);
  return 0;
}

/* The client, created on first use (after selecting the endpoint from the environment). */
th_dstack *tee_client(tee_state *st, th_err *err) {
  if (st->client) return st->client;
  if (tee_select(st, NULL, err) != 0) return NULL;
  th_http_client *http = NULL;
  th_simulator *sim = NULL;
  if (st->ep.kind == TH_TEE_AGENT || st->ep.kind == TH_TEE_LEGACY) {
    if (!(http = th_host_http(st->host, err))) return NULL;
  } else if (st->ep.kind == TH_TEE_BUILTIN) {
    if (!(sim = tee_simulator(st, NULL, err))) return NULL;
  }
  st->client = th_dstack_new(http, &st->ep, sim, th_loop_uv(st->host->loop), err);
  if (st->client && st->report) report(st);
  if (st->client && !st->tracked) {
    th_host_track(st->host, &st->res);
    st->tracked = 1;
  }
  return st->client;
}

/* ---- helpers --------------------------------------------------------------------------- */

void tee_push_hex(lua_State *L, const uint8_t *p, size_t n) {
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, 2 * n + 1);
  th_hex_encode(p, n, out);
  luaL_pushresultsize(&b, 2 * n);
}

static int is_hex_text(const char *s, size_t n) {
  if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2, n -= 2;
  if (n % 2) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) return 0;
  return 1;
}

size_t tee_bytes_arg(lua_State *L, int idx, const char *fn, const char *what, size_t raw_len,
                     uint8_t *out, size_t cap) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  if (n == raw_len && n <= cap) {
    memcpy(out, s, n);
    return n;
  }
  if (!is_hex_text(s, n)) {
    luaL_error(L, "%s: %s must be %d raw bytes or hex text (got %d bytes)", fn, what, (int)raw_len,
               (int)n);
    return 0;
  }
  if (n >= 2 && s[1] != 0 && (s[1] == 'x' || s[1] == 'X')) s += 2, n -= 2;
  if (n / 2 > cap) luaL_error(L, "%s: %s is %d bytes (at most %d)", fn, what, (int)(n / 2), (int)cap);
  th_err err = {0};
  if (th_hex_decode_exact(s, n, out, n / 2, what, &err) != 0) luaL_error(L, "%s: %s", fn, err.message);
  return n / 2;
}

static void mark_array(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "json");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "array_mt");
    lua_setmetatable(L, -4);
  }
  lua_pop(L, 2);
}

/* A cJSON value as Lua: objects and arrays become tables (arrays marked so they re-encode as
 * arrays), null becomes nil. Depth is bounded by cJSON's own nesting limit. */
void tee_push_cjson(lua_State *L, const cJSON *v) {
  luaL_checkstack(L, 4, "tee: reply nested too deeply");
  if (cJSON_IsString(v)) {
    lua_pushstring(L, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(long long)d)
      lua_pushinteger(L, (lua_Integer)d);
    else
      lua_pushnumber(L, d);
  } else if (cJSON_IsBool(v)) {
    lua_pushboolean(L, cJSON_IsTrue(v));
  } else if (cJSON_IsArray(v)) {
    lua_createtable(L, cJSON_GetArraySize(v), 0);
    lua_Integer i = 1;
    for (const cJSON *e = v->child; e; e = e->next) {
      tee_push_cjson(L, e);
      lua_rawseti(L, -2, i++);
    }
    mark_array(L);
  } else if (cJSON_IsObject(v)) {
    lua_createtable(L, 0, 8);
    for (const cJSON *e = v->child; e; e = e->next) {
      if (!e->string) continue;
      tee_push_cjson(L, e);
      lua_setfield(L, -2, e->string);
    }
  } else {
    lua_pushnil(L);
  }
}

/* ---- the functions that are not calls ------------------------------------------------- */

static int l_endpoint(lua_State *L) {
  tee_state *st = tee_state_get(L);
  th_err err = {0};
  if (tee_select(st, NULL, &err) != 0) return luaL_error(L, "tee.endpoint: %s", err.message);
  static const char *const kinds[] = {"", "agent", "legacy", "builtin", "none"};
  char line[700];
  th_tee_endpoint_describe(&st->ep, line, sizeof line);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, st->ep.kind >= 1 && st->ep.kind <= 4 ? kinds[st->ep.kind] : "?");
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, st->ep.target);
  lua_setfield(L, -2, "target");
  lua_pushstring(L, st->ep.mode);
  lua_setfield(L, -2, "mode");
  lua_pushstring(L, st->ep.source);
  lua_setfield(L, -2, "source");
  lua_pushstring(L, line);
  lua_setfield(L, -2, "description");
  return 1;
}

/* tee.use(endpoint): talk to another agent from now on — a socket path or http(s) URL (the
 * current API), "legacy:" + either (tappd), "builtin" (the in-process simulator) or "none".
 * Refused while calls are in flight (their client is the one being replaced). */
static int l_use(lua_State *L) {
  const char *target = luaL_checkstring(L, 1);
  tee_state *st = tee_state_get(L);
  if (st->inflight > 0)
    return luaL_error(L, "tee.use: %d calls are still in flight on %s", st->inflight, st->ep.target);
  th_tee_endpoint ep;
  memset(&ep, 0, sizeof ep);
  snprintf(ep.source, sizeof ep.source, "tee.use");
  int legacy = strncmp(target, "legacy:", 7) == 0;
  if (legacy) target += 7;
  if (!strcmp(target, "builtin")) {
    ep.kind = TH_TEE_BUILTIN;
  } else if (!strcmp(target, "none")) {
    ep.kind = TH_TEE_NONE;
    snprintf(ep.mode, sizeof ep.mode, "NONE");
  } else {
    if (!*target || strlen(target) >= sizeof ep.target)
      return luaL_error(L, "tee.use: give a socket path, an http(s) URL, \"builtin\" or \"none\"");
    ep.kind = legacy ? TH_TEE_LEGACY : TH_TEE_AGENT;
    ep.is_url = !strncmp(target, "http://", 7) || !strncmp(target, "https://", 8);
    snprintf(ep.target, sizeof ep.target, "%s", target);
  }
  th_dstack_free(st->client);
  st->client = NULL;
  st->ep = ep;
  st->selected = 1;
  st->has_app_id = 0;
  char line[700];
  th_tee_endpoint_describe(&st->ep, line, sizeof line);
  lua_pushstring(L, line);
  return 1;
}

int luaopen_tee(lua_State *L) {
  tee_open_key(L);
  static const luaL_Reg fns[] = {{"endpoint", l_endpoint}, {"use", l_use}, {NULL, NULL}};
  luaL_newlib(L, fns);
  tee_open_calls(L);
  tee_open_sim(L);
  return 1;
}
