/* bindings/phala_util.c — the local (no network) functions of the Lua `phala` module: the one
 * .env parser (core/dotenv), the compose hash and app id and the app-compose builder
 * (core/compose), and the KMS signature check on an env key (core/phala_env).
 *
 *   phala.parse_env(text) -> vars, nil, warnings | nil, msg, code
 *       vars: array of {name=, value=, line=} in file order; warnings: array of texts (may be
 *       empty) that name a line, never a value. Failure code EBADDATA: "line 3: expected
 *       NAME=value", "line 9: duplicate name TOKEN (first defined on line 2)", …
 *   phala.compose_hash(compose, form?) -> hash, app_id, text | nil, msg, code
 *       compose: app-compose JSON text, or a table (json.encode'd first). form: "compact"
 *       (default: what Phala Cloud writes today), "normalized", "legacy" (@phala/cloud 0.0.x)
 *       or "raw" (text only: SHA-256 of the bytes as they are, e.g. tcb_info.app_compose).
 *       text: the exact bytes that were hashed. app_id: the first 40 hex digits (legacy KMS).
 *   phala.build_compose{docker_compose=, name=, allowed_envs=, pre_launch_script=,
 *                       key_provider_id=, kms_enabled=, gateway_enabled=, public_logs=,
 *                       public_sysinfo=, public_tcbinfo=, local_key_provider_enabled=,
 *                       no_instance_id=, secure_time=, legacy_v03=}
 *       -> text, hash, app_id | nil, msg, code
 *       A new app-compose (compact text, the bytes its hash is taken over); booleans default as
 *       th_compose_options_init (kms, gateway, logs, sysinfo, tcbinfo on).
 *   phala.check_kms_signature(app_id, public_key, signature, trusted_signer) -> true | nil, msg, code
 *       The check of spec 5.4 before encrypting to a key an on-chain KMS handed out: the
 *       signature (130 hex) over app_id (40 hex) and public_key (64 hex) must recover
 *       trusted_signer (66 hex, compressed; "0x" allowed everywhere). EVERIFY when it does not.
 *
 * Argument types that are wrong raise (a bug in the script); the content of texts, which comes
 * from users and servers, gives nil, msg, code. Secrets: parse_env's values become Lua strings
 * only because the caller asked for them; the parser's own copy is wiped. No message here holds
 * a value. */
#include <lauxlib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"
#include "dotenv.h"
#include "hex.h"
#include "host.h"
#include "phala_env.h"
#include "phala_internal.h"

/* ---- shared with phala.c (phala_internal.h) ------------------------------------------------ */

const char *phala_json_encode(lua_State *L, int idx, size_t *len) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "json");
  lua_getfield(L, -1, "encode");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  lua_replace(L, -3);
  lua_pop(L, 1);
  return luaL_checklstring(L, -1, len);
}

/* ---- .env ---------------------------------------------------------------------------------- */

static int l_parse_env(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  th_err err = {0};
  th_dotenv *env = th_dotenv_parse(text, len, &err);
  if (!env) return th_push_failure(L, &err);
  /* Nothing below raises except on memory exhaustion, where the wipe is skipped. */
  lua_createtable(L, (int)env->count, 0);
  for (size_t i = 0; i < env->count; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, env->vars[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, env->vars[i].value);
    lua_setfield(L, -2, "value");
    lua_pushinteger(L, (lua_Integer)env->vars[i].line);
    lua_setfield(L, -2, "line");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_pushnil(L);
  lua_createtable(L, (int)env->warning_count, 0);
  for (size_t i = 0; i < env->warning_count; i++) {
    lua_pushstring(L, env->warnings[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  th_dotenv_free(env);
  return 3;
}

/* ---- compose hash -------------------------------------------------------------------------- */

static const char *const FORMS[] = {"compact", "normalized", "legacy", "raw", NULL};
enum { FORM_RAW = 3 };

static int hash_of(const char *text, size_t len, char hash[TH_COMPOSE_HASH_HEX],
                   char app_id[TH_COMPOSE_APP_ID_HEX], th_err *err) {
  if (th_compose_hash_bytes(text, len, hash, err) != 0) return -1;
  return th_compose_app_id(hash, app_id, err);
}

/* Pushes hash, app_id, text for the hashed text[0, len). */
static int push_hash(lua_State *L, const char *text, size_t len) {
  char hash[TH_COMPOSE_HASH_HEX], app_id[TH_COMPOSE_APP_ID_HEX];
  th_err err = {0};
  if (hash_of(text, len, hash, app_id, &err) != 0) return th_push_failure(L, &err);
  lua_pushstring(L, hash);
  lua_pushstring(L, app_id);
  lua_pushlstring(L, text, len);
  return 3;
}

static int l_compose_hash(lua_State *L) {
  int form = luaL_checkoption(L, 2, "compact", FORMS);
  size_t len;
  const char *text;
  if (lua_istable(L, 1)) {
    if (form == FORM_RAW) return luaL_argerror(L, 2, "\"raw\" needs the text, not a table");
    text = phala_json_encode(L, 1, &len);
  } else if (lua_type(L, 1) == LUA_TSTRING) {
    text = lua_tolstring(L, 1, &len);
  } else {
    return luaL_typeerror(L, 1, "app-compose JSON text or table");
  }
  if (form == FORM_RAW) return push_hash(L, text, len);
  th_err err = {0};
  size_t out_len = 0;
  char *out = th_compose_serialize_text(text, len, (enum th_compose_form)form, &out_len, &err);
  if (!out) return th_push_failure(L, &err);
  /* out goes into a Lua string first, so that a raise below cannot leak it */
  lua_pushlstring(L, out, out_len);
  free(out);
  text = lua_tolstring(L, -1, &out_len);
  return push_hash(L, text, out_len);
}

/* ---- app-compose builder ------------------------------------------------------------------- */

typedef struct flag {
  const char *name;
  size_t offset;
} flag;

#define FLAG(f) {#f, offsetof(th_compose_options, f)}
static const flag FLAGS[] = {
    FLAG(kms_enabled),    FLAG(gateway_enabled), FLAG(public_logs),
    FLAG(public_sysinfo), FLAG(public_tcbinfo),  FLAG(local_key_provider_enabled),
    FLAG(no_instance_id), FLAG(secure_time),     FLAG(legacy_v03),
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

static int known_option(const char *key) {
  static const char *const strings[] = {"docker_compose", "name", "allowed_envs", "pre_launch_script",
                                        "key_provider_id", NULL};
  for (const char *const *s = strings; *s; s++)
    if (!strcmp(key, *s)) return 1;
  for (size_t i = 0; i < NFLAGS; i++)
    if (!strcmp(key, FLAGS[i].name)) return 1;
  return 0;
}

static const char *string_field(lua_State *L, const char *key, int required, size_t *len) {
  int t = lua_getfield(L, 1, key);
  if (t == LUA_TNIL && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (t != LUA_TSTRING)
    luaL_error(L, "phala.build_compose: %s must be a string, got %s", key, luaL_typename(L, -1));
  const char *s = lua_tolstring(L, -1, len); /* kept alive by the options table */
  lua_pop(L, 1);
  return s;
}

/* The allowed_envs array: its strings in a userdata left on the stack. */
static void allowed_envs(lua_State *L, th_compose_options *o) {
  if (lua_getfield(L, 1, "allowed_envs") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "phala.build_compose: allowed_envs must be an array of names");
  int tbl = lua_gettop(L);
  size_t n = (size_t)luaL_len(L, tbl);
  const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
  for (size_t i = 0; i < n; i++) {
    if (lua_geti(L, tbl, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "phala.build_compose: allowed_envs[%d] must be a string", (int)i + 1);
    names[i] = lua_tostring(L, -1); /* kept alive by the array */
    lua_pop(L, 1);
  }
  lua_remove(L, tbl); /* the userdata stays; the array is held by the options table */
  o->allowed_envs = names;
  o->n_allowed_envs = n;
}

static int l_build_compose(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || !known_option(lua_tostring(L, -1)))
      return luaL_error(L, "phala.build_compose: unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
  th_compose_options o;
  th_compose_options_init(&o);
  size_t dc_len = 0;
  const char *dc = string_field(L, "docker_compose", 1, &dc_len);
  o.name = string_field(L, "name", 1, NULL);
  o.pre_launch_script = string_field(L, "pre_launch_script", 0, NULL);
  o.key_provider_id = string_field(L, "key_provider_id", 0, NULL);
  for (size_t i = 0; i < NFLAGS; i++) {
    int t = lua_getfield(L, 1, FLAGS[i].name);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
      return luaL_error(L, "phala.build_compose: %s must be a boolean", FLAGS[i].name);
    if (t == LUA_TBOOLEAN) *(bool *)((char *)&o + FLAGS[i].offset) = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  allowed_envs(L, &o);
  th_err err = {0};
  cJSON *tree = th_compose_build(dc, dc_len, &o, &err);
  if (!tree) return th_push_failure(L, &err);
  size_t len = 0;
  char *text = th_compose_serialize(tree, TH_COMPOSE_COMPACT, &len, &err);
  cJSON_Delete(tree);
  if (!text) return th_push_failure(L, &err);
  char hash[TH_COMPOSE_HASH_HEX], app_id[TH_COMPOSE_APP_ID_HEX];
  int rc = hash_of(text, len, hash, app_id, &err);
  lua_pushlstring(L, text, len);
  free(text);
  if (rc != 0) return th_push_failure(L, &err);
  lua_pushstring(L, hash);
  lua_pushstring(L, app_id);
  return 3;
}

/* ---- KMS signature ------------------------------------------------------------------------- */

static int l_check_kms_signature(lua_State *L) {
  const char *app_id = luaL_checkstring(L, 1);
  const char *pub = luaL_checkstring(L, 2);
  const char *sig = luaL_checkstring(L, 3);
  size_t len;
  const char *signer = luaL_checklstring(L, 4, &len);
  if (len >= 2 && signer[0] == '0' && (signer[1] == 'x' || signer[1] == 'X')) {
    signer += 2;
    len -= 2;
  }
  uint8_t trusted[33];
  th_err err = {0};
  if (th_hex_decode_exact(signer, len, trusted, sizeof trusted, "trusted KMS signer", &err) != 0 ||
      th_phala_env_check_kms_signature(app_id, pub, sig, trusted, &err) != 0)
    return th_push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* Adds the functions above to the module table on top of the stack. */
int phala_util_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"parse_env", l_parse_env},
                                   {"compose_hash", l_compose_hash},
                                   {"build_compose", l_build_compose},
                                   {"check_kms_signature", l_check_kms_signature},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
