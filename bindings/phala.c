/* bindings/phala.c — the Lua `phala` module: the Phala Cloud API (core/phala_api) and its key
 * (core/phala_key).
 *
 *   local c = phala.client{api_key=, base_url=, key_dir=, api_version=, timeout=, max_attempts=,
 *                          retry_delay=, retry_budget=}            -> Client | nil, msg, code
 *   c:me()  c:list_cvms()  c:get_cvm(id)  … (the ENDPOINTS table below)  c:call(method, path, body)
 *   c:wait(id, status, {timeout=, interval=, max_interval=, progress=})
 *   phala.me(), phala.get_cvm(id), … phala.wait(…): the same on a default client whose key comes
 *   from PHALA_CLOUD_API_KEY or the key files and whose URL from PHALA_CLOUD_API_PREFIX.
 *   phala.key_info(dir?), phala.save_key(key, dir?), phala.delete_key(dir?), phala.key_dir()
 *   phala.encrypt_env(vars, public_key_hex), phala.decrypt_env(hex, private_key_hex),
 *   phala.env_public_key(private_key_hex): core/phala_env (spec §5)
 *
 * Results: a JSON answer decoded by the json module (json.null, marked arrays), the text of a
 * non-JSON answer, or true for an empty one. Failures: nil, message, code and, when the API
 * answered, a table {status=, detail=, error_code=, body=, attempts=}; code is "HTTP_<status>"
 * for an error answer (so scripts can test code == "HTTP_404"), "ENOKEY" when no key is
 * configured, else the core error's name ("ETIMEDOUT", "EPROTO", …). Bad arguments raise;
 * a bad id or a non-numeric number field is an expected failure (EINVAL), because such values
 * usually come from a user.
 *
 * A call in flight pins its client; closing a client fails its calls with ECANCELED. The API
 * key never becomes a Lua string unless the script passed it in. */
#include <ctype.h>
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "modules.h"
#include "phala_api.h"
#include "phala_env.h"
#include "phala_internal.h"
#include "phala_key.h"
#include "scheduler.h"

#ifndef TEEHOST_VERSION
#define TEEHOST_VERSION "dev"
#endif

#define CLIENT_MT "teehost.PhalaClient"
#define DEFAULT_REF "teehost.phala.default"
#define NO_KEY_MSG "Phala Cloud: no API key: set PHALA_CLOUD_API_KEY or run `teehost phala auth login`"

typedef struct call_op call_op;

typedef struct client_ud {
  th_phala_client *c; /* NULL once closed */
  int source;         /* enum th_phala_key_source; TH_PHALA_KEY_NONE when given by the script */
  call_op *ops;       /* calls in flight */
} client_ud;

struct call_op {
  th_wait w;
  client_ud *cu;
  th_host *host;
  int client_ref; /* pins the client userdata while the call runs */
  th_phala_req *req;
  th_phala_response *res;
  th_err err;
  int failed;
  char fn[32];    /* "phala.get_cvm": the wait's name */
  char what[64];  /* "GET cvms/app_…", for messages */
  call_op *prev, *next;
};

/* ---- endpoints (spec §3) ------------------------------------------------------------------- */

enum { NO_BODY, BODY, OPTIONAL_BODY };

typedef struct endpoint {
  const char *name, *method, *path; /* "{}" in path: the next argument, a path segment */
  int body;
} endpoint;

/* The calls the phala 1.0.35 commands make (spec §3.1) and the provision/update flows. A "{}"
 * that follows "cvms/" is a CVM reference, normalised as @phala/cloud 0.2.x does. */
static const endpoint ENDPOINTS[] = {
    {"me", "GET", "auth/me", NO_BODY},
    {"list_cvms", "GET", "cvms?user_id=0", NO_BODY},
    {"get_cvm", "GET", "cvms/{}", NO_BODY},
    {"nodes", "GET", "teepods/available", NO_BODY}, /* {v03x_only=true} adds ?v03x_only=1 */
    {"cvm_pubkey", "POST", "cvms/pubkey/from_cvm_configuration", BODY},
    {"create_cvm", "POST", "cvms/from_cvm_configuration", BODY},
    {"start_cvm", "POST", "cvms/{}/start", NO_BODY},
    {"stop_cvm", "POST", "cvms/{}/stop", NO_BODY},
    {"restart_cvm", "POST", "cvms/{}/restart", NO_BODY},
    {"delete_cvm", "DELETE", "cvms/{}", NO_BODY},
    {"upgrade_cvm", "PUT", "cvms/{}/compose", BODY},
    {"resize_cvm", "PATCH", "cvms/{}/resources", BODY},
    {"attestation", "GET", "cvms/{}/attestation", NO_BODY},
    {"network", "GET", "cvms/{}/network", NO_BODY},
    {"provision", "POST", "cvms/provision", BODY},
    {"commit", "POST", "cvms", BODY},
    {"get_compose_file", "GET", "cvms/{}/compose_file", NO_BODY},
    {"provision_update", "POST", "cvms/{}/compose_file/provision", BODY},
    {"commit_update", "PATCH", "cvms/{}/compose_file", BODY},
    {"get_compose", "GET", "cvms/{}/compose", NO_BODY},
    {"replicate", "POST", "cvms/{}/replicas", OPTIONAL_BODY},
    {"kms_pubkey", "GET", "kms/{}/pubkey/{}", NO_BODY},
};
#define NENDPOINTS (sizeof ENDPOINTS / sizeof ENDPOINTS[0])

/* Body members sent as numbers and as booleans, whatever the script (or a command line) gave:
 * 1.0.35 sent "2" for vcpu and 1 for `-r false` (spec §3.6, §10 item 5). */
static const char *const NUMBER_FIELDS[] = {"vcpu", "memory", "disk_size", "teepod_id", "node_id", NULL};
static const char *const BOOL_FIELDS[] = {"allow_restart", "listed", NULL};

/* ---- the client object --------------------------------------------------------------------- */

static client_ud *check_client(lua_State *L, int idx) {
  client_ud *cu = luaL_checkudata(L, idx, CLIENT_MT);
  if (!cu->c) luaL_error(L, "attempt to use a closed phala.Client");
  return cu;
}

/* Closing fails the calls in flight, so no coroutine waits forever. */
static int client_gc(lua_State *L) {
  client_ud *cu = luaL_checkudata(L, 1, CLIENT_MT);
  for (call_op *op = cu->ops; op; op = op->next) {
    if (!op->req) continue;
    th_phala_req_cancel(op->req);
    op->req = NULL;
    op->failed = 1;
    th_err_set(&op->err, TH_ECANCELED, "Phala Cloud: %s: the client was closed", op->what);
    th_wait_ready(&op->w);
  }
  th_phala_client_free(cu->c);
  cu->c = NULL;
  return 0;
}

static const char *source_name(int source) {
  switch (source) {
  case TH_PHALA_KEY_ENV: return "env";
  case TH_PHALA_KEY_FILE: return "file";
  case TH_PHALA_KEY_LEGACY_FILE: return "legacy_file";
  case TH_PHALA_KEY_CREDENTIALS: return "credentials";
  default: return "given";
  }
}

static int client_tostring(lua_State *L) {
  client_ud *cu = luaL_checkudata(L, 1, CLIENT_MT);
  if (!cu->c) lua_pushliteral(L, "phala.Client<closed>");
  else lua_pushfstring(L, "phala.Client<%s, key %s>", th_phala_client_base_url(cu->c),
                       source_name(cu->source));
  return 1;
}

static int client_base_url(lua_State *L) {
  lua_pushstring(L, th_phala_client_base_url(check_client(L, 1)->c));
  return 1;
}

/* The key directory: given, else $PHALA_CLOUD_DIR, else $HOME/.phala-cloud; NULL when none. */
static const char *key_dir(const char *given, char *buf, size_t size, th_err *err) {
  const char *override = given && *given ? given : getenv("PHALA_CLOUD_DIR");
  return th_phala_key_dir(buf, size, getenv("HOME"), override, err) == 0 ? buf : NULL;
}

static const char *opt_str(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *s = luaL_optstring(L, -1, NULL); /* kept alive by the options table */
  lua_pop(L, 1);
  return s;
}

static long opt_ms(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  lua_Number s = luaL_optnumber(L, -1, 0);
  lua_pop(L, 1);
  if (!(s >= 0) || s > 86400) luaL_error(L, "phala.client: %s must be 0..86400 seconds", key);
  return (long)(s * 1000.0 + 0.5);
}

/* Reads the options table at idx into o; strings stay owned by the table. */
static void read_client_opts(lua_State *L, int idx, th_phala_opts *o, const char **dir) {
  static const char *const known[] = {"api_key", "base_url", "key_dir", "api_version", "timeout",
                                      "max_attempts", "retry_delay", "retry_budget", NULL};
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  th_check_options(L, idx, "phala.client", known);
  o->api_key = opt_str(L, idx, "api_key");
  o->base_url = opt_str(L, idx, "base_url");
  *dir = opt_str(L, idx, "key_dir");
  o->api_version = opt_str(L, idx, "api_version");
  o->timeout_ms = opt_ms(L, idx, "timeout");
  o->retry_delay_ms = opt_ms(L, idx, "retry_delay");
  o->retry_budget_ms = opt_ms(L, idx, "retry_budget");
  lua_getfield(L, idx, "max_attempts");
  lua_Integer n = luaL_optinteger(L, -1, 0);
  lua_pop(L, 1);
  if (n < 0 || n > 100) luaL_error(L, "phala.client: max_attempts must be 1..100");
  o->max_attempts = (int)n;
}

static int push_no_key(lua_State *L) {
  lua_pushnil(L);
  lua_pushstring(L, NO_KEY_MSG);
  lua_pushliteral(L, "ENOKEY");
  return 3;
}

/* Pushes a new Client for the options at idx (may be absent), or nil, msg, code. The key is
 * the given one, else PHALA_CLOUD_API_KEY or the key files; the URL the given one, else
 * PHALA_CLOUD_API_PREFIX, else the credentials profile's api_prefix, else the default. */
static int push_client(lua_State *L, int idx) {
  th_phala_opts o = {0};
  const char *given_dir = NULL;
  read_client_opts(L, idx, &o, &given_dir);
  th_err err = {0};
  th_phala_key key = {0};
  if (!o.api_key) {
    char buf[512];
    const char *dir = key_dir(given_dir, buf, sizeof buf, &err);
    int rc = th_phala_key_load(&key, getenv("PHALA_CLOUD_API_KEY"), dir, NULL, &err);
    if (rc < 0) return th_push_failure(L, &err);
    if (rc == 0) return push_no_key(L);
    o.api_key = key.key;
  }
  if (!o.base_url) o.base_url = getenv("PHALA_CLOUD_API_PREFIX");
  if ((!o.base_url || !*o.base_url) && key.api_prefix[0]) o.base_url = key.api_prefix;
  o.user_agent = "teehost/" TEEHOST_VERSION;
  client_ud *cu = lua_newuserdatauv(L, sizeof *cu, 0);
  memset(cu, 0, sizeof *cu);
  luaL_setmetatable(L, CLIENT_MT);
  th_host *host = th_host_of(L);
  th_http_client *http = th_host_http(host, &err);
  cu->c = http ? th_phala_client_new(th_loop_uv(host->loop), http, &o, &err) : NULL;
  cu->source = key.source;
  th_phala_key_clear(&key); /* the client keeps its own copy */
  if (!cu->c) return th_push_failure(L, &err);
  return 1;
}

static int l_client(lua_State *L) {
  lua_settop(L, 1);
  return push_client(L, 1);
}

/* ---- calls --------------------------------------------------------------------------------- */

/* Decodes the JSON text on top of co with json.decode, in protected mode. Replaces it with
 * the value and returns 1, or with the error message and returns 0. */
static int decode_top(lua_State *co) {
  lua_getfield(co, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(co, -1, "json");
  lua_getfield(co, -1, "decode");
  lua_replace(co, -3);
  lua_pop(co, 1);
  lua_rotate(co, -2, 1); /* decode text */
  return lua_pcall(co, 1, 1, 0) == LUA_OK;
}

/* Pushes the body of res: decoded JSON, text, or true when empty. Returns 0 (with the decode
 * error pushed instead) when JSON does not decode. */
static int push_body(lua_State *co, const th_phala_response *res) {
  if (res->body_len == 0) {
    lua_pushboolean(co, 1);
    return 1;
  }
  lua_pushlstring(co, res->body, res->body_len);
  if (!res->json && !res->json_type) return 1;
  return decode_top(co);
}

/* The info table of an error answer: status, detail, error_code, body, attempts. */
static void push_error_info(lua_State *co, const th_phala_response *res) {
  lua_createtable(co, 0, 5);
  lua_pushinteger(co, res->status);
  lua_setfield(co, -2, "status");
  lua_pushinteger(co, res->attempts);
  lua_setfield(co, -2, "attempts");
  if (res->body_len == 0) {
    lua_pushliteral(co, "");
  } else if (!push_body(co, res)) { /* not JSON after all: keep the text */
    lua_pop(co, 1);
    lua_pushlstring(co, res->body, res->body_len);
  }
  if (lua_type(co, -1) == LUA_TTABLE) {
    if (lua_getfield(co, -1, "detail") == LUA_TTABLE) {
      lua_getfield(co, -1, "error_code");
      lua_setfield(co, -4, "error_code");
    }
    lua_setfield(co, -3, "detail");
  }
  lua_setfield(co, -2, "body");
}

static int push_failure_of(lua_State *co, call_op *op) {
  lua_pushnil(co);
  lua_pushstring(co, op->err.message);
  if (op->res && op->res->status >= 400) {
    lua_pushfstring(co, "HTTP_%d", (int)op->res->status);
    push_error_info(co, op->res);
    return 4;
  }
  lua_pushstring(co, th_err_name(op->err.code));
  return 3;
}

static int call_push(lua_State *co, th_wait *w) {
  call_op *op = (call_op *)w;
  if (op->failed) return push_failure_of(co, op);
  if (push_body(co, op->res)) return 1;
  lua_pushfstring(co, "Phala Cloud: %s: the answer is not valid JSON: %s", op->what,
                  lua_tostring(co, -1));
  lua_pushnil(co);
  lua_replace(co, -3);
  lua_pushliteral(co, "EPROTO");
  return 3;
}

static void call_release(th_wait *w, int in_flight) {
  call_op *op = (call_op *)w;
  if (in_flight && op->req) th_phala_req_cancel(op->req);
  if (op->prev) op->prev->next = op->next;
  else op->cu->ops = op->next;
  if (op->next) op->next->prev = op->prev;
  th_phala_response_free(op->res);
  luaL_unref(op->host->L, LUA_REGISTRYINDEX, op->client_ref);
  free(op);
}

static void call_done(void *ud, th_phala_response *res, const th_err *err) {
  call_op *op = ud;
  op->req = NULL;
  op->res = res;
  if (err) {
    op->failed = 1;
    op->err = *err;
  }
  th_wait_ready(&op->w);
}

/* Starts the call for the client at index 1 and yields until it is answered. */
static int start_call(lua_State *L, const char *fn, const char *method, const char *path,
                      const char *body) {
  client_ud *cu = check_client(L, 1);
  call_op *op = th_wait_new(L, sizeof *op, fn, call_push, call_release);
  snprintf(op->fn, sizeof op->fn, "%s", fn); /* fn may be a caller's buffer */
  op->w.what = op->fn;
  op->cu = cu;
  op->host = th_host_of(L);
  snprintf(op->what, sizeof op->what, "%s %s", method, path);
  th_err err = {0};
  op->req = th_phala_call(cu->c, method, path, body, call_done, op, &err);
  if (!op->req) {
    free(op);
    return th_push_failure(L, &err);
  }
  lua_pushvalue(L, 1);
  op->client_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  op->next = cu->ops;
  if (cu->ops) cu->ops->prev = op;
  cu->ops = op;
  return th_wait_yield(L, &op->w);
}

/* ---- arguments ----------------------------------------------------------------------------- */

static int segment_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') return 0;
  return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int all_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* @phala/cloud 0.2.x's CvmIdSchema: a dashed UUID loses its dashes, 40 hex digits become
 * app_<id>, anything else (app_…, instance_…, a name) is used as is. */
static void normalise_cvm_id(const char *id, char *out, size_t size) {
  size_t n = strlen(id);
  if (n == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-') {
    char plain[33];
    size_t j = 0;
    for (size_t i = 0; i < n && j < 32; i++)
      if (id[i] != '-') plain[j++] = id[i];
    plain[j] = '\0';
    if (j == 32 && all_hex(plain, 32)) {
      snprintf(out, size, "%s", plain);
      return;
    }
  }
  if (n == 40 && all_hex(id, 40)) snprintf(out, size, "app_%s", id);
  else snprintf(out, size, "%s", id);
}

/* Fills the template's "{}"s from the string arguments from index first on. Returns the
 * number of arguments used, or -1 with a message in err. */
static int build_path(lua_State *L, const char *fn, const char *tmpl, int first, char *out,
                      size_t size, th_err *err) {
  size_t pos = 0;
  int used = 0;
  for (const char *t = tmpl; *t && pos + 1 < size;) {
    if (t[0] != '{' || t[1] != '}') {
      out[pos++] = *t++;
      continue;
    }
    if (lua_type(L, first + used) != LUA_TSTRING)
      luaL_error(L, "%s: argument %d must be a string, got %s", fn, first + used - 1,
                 luaL_typename(L, first + used));
    const char *arg = lua_tostring(L, first + used);
    char seg[160];
    if (t >= tmpl + 5 && strncmp(t - 5, "cvms/", 5) == 0) normalise_cvm_id(arg, seg, sizeof seg);
    else snprintf(seg, sizeof seg, "%s", arg);
    if (!segment_ok(seg))
      return th_err_set(err, TH_EINVAL, "%s: '%.60s' is not a CVM id, app id, UUID or name "
                                        "(letters, digits, '_', '-', '.')", fn, arg);
    pos += (size_t)snprintf(out + pos, size - pos, "%s", seg);
    if (pos >= size) pos = size - 1;
    used++;
    t += 2;
  }
  out[pos] = '\0';
  return used;
}

/* The value at the top as an integer, if it is one or a string holding one. */
static int to_integer(lua_State *L, lua_Integer *out) {
  int isnum = 0;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    lua_Number d = 0;
    if (lua_stringtonumber(L, s) == len + 1) {
      d = lua_tonumber(L, -1);
      lua_pop(L, 1);
      isnum = d == (lua_Number)(lua_Integer)d;
      *out = (lua_Integer)d;
    }
    return isnum;
  }
  *out = lua_tointegerx(L, -1, &isnum);
  return isnum;
}

static int to_boolean(lua_State *L, int *out) {
  lua_Integer n;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  int yes = !strcmp(s, "true") || !strcmp(s, "yes"), no = !strcmp(s, "false") || !strcmp(s, "no");
  if (lua_isboolean(L, -1)) *out = lua_toboolean(L, -1);
  else if (to_integer(L, &n) && (n == 0 || n == 1)) *out = (int)n;
  else if (yes || no) *out = yes;
  else return 0;
  return 1;
}

/* Replaces the table at idx by a copy whose number and boolean fields have their JSON types.
 * Returns 0, or -1 with err naming the field. */
static int shape_body(lua_State *L, int idx, const char *fn, th_err *err) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -4);
  }
  lua_replace(L, idx);
  for (const char *const *f = NUMBER_FIELDS; *f; f++) {
    lua_Integer n = 0;
    if (lua_getfield(L, idx, *f) != LUA_TNIL && !to_integer(L, &n))
      return th_err_set(err, TH_EINVAL, "%s: %s must be a whole number, got '%.40s'", fn, *f,
                        luaL_tolstring(L, -1, NULL));
    if (!lua_isnil(L, -1)) {
      lua_pushinteger(L, n);
      lua_setfield(L, idx, *f);
    }
    lua_pop(L, 1);
  }
  for (const char *const *f = BOOL_FIELDS; *f; f++) {
    int b = 0;
    if (lua_getfield(L, idx, *f) != LUA_TNIL && !to_boolean(L, &b))
      return th_err_set(err, TH_EINVAL, "%s: %s must be true or false, got '%.40s'", fn, *f,
                        luaL_tolstring(L, -1, NULL));
    if (!lua_isnil(L, -1)) {
      lua_pushboolean(L, b);
      lua_setfield(L, idx, *f);
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* ---- module functions ---------------------------------------------------------------------- */

/* Pushes the default client (made on first use from the environment), or nil, msg, code. */
static int push_default_client(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_REF) == LUA_TUSERDATA) return 1;
  lua_pop(L, 1);
  int n = push_client(L, lua_gettop(L) + 1);
  if (n != 1) return n;
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_REF);
  return 1;
}

static void forget_default_client(lua_State *L) {
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_REF);
}

/* Module functions get the default client as argument 1, so they share the methods' code.
 * Returns 0 when it is in place, else the number of failure values pushed. */
static int with_client(lua_State *L) {
  if (lua_toboolean(L, lua_upvalueindex(2))) return 0; /* a method: the client is there */
  int n = push_default_client(L);
  if (n != 1) return n;
  lua_insert(L, 1);
  return 0;
}

/* The body argument at idx: shaped and encoded (BODY), or NULL. */
static int body_arg(lua_State *L, const endpoint *e, int idx, const char *fn, const char **body,
                    th_err *err) {
  *body = NULL;
  if (e->body == NO_BODY || (e->body == OPTIONAL_BODY && lua_isnoneornil(L, idx))) return 0;
  if (!lua_istable(L, idx)) luaL_error(L, "%s: the body must be a table, got %s", fn, luaL_typename(L, idx));
  if (shape_body(L, idx, fn, err) != 0) return -1;
  *body = phala_json_encode(L, idx, NULL);
  return 0;
}

/* Every endpoint function: upvalue 1 = index into ENDPOINTS, upvalue 2 = is a method. */
static int l_endpoint(lua_State *L) {
  const endpoint *e = &ENDPOINTS[lua_tointeger(L, lua_upvalueindex(1))];
  int n = with_client(L);
  if (n) return n;
  check_client(L, 1);
  char fn[48], path[512];
  snprintf(fn, sizeof fn, "phala.%s", e->name);
  th_err err = {0};
  int used = build_path(L, fn, e->path, 2, path, sizeof path, &err);
  if (used < 0) return th_push_failure(L, &err);
  int idx = 2 + used;
  if (!strcmp(e->path, "teepods/available") && lua_istable(L, idx)) {
    lua_getfield(L, idx, "v03x_only");
    if (lua_toboolean(L, -1)) strcat(path, "?v03x_only=1"); /* what 1.0.35 `cvms create` asks */
    lua_pop(L, 1);
  }
  const char *body;
  if (body_arg(L, e, idx, fn, &body, &err) != 0) return th_push_failure(L, &err);
  return start_call(L, fn, e->method, path, body);
}

/* call(method, path, body?): any endpoint; body is a table (encoded as is) or JSON text. */
static int l_call(lua_State *L) {
  int n = with_client(L);
  if (n) return n;
  check_client(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING || lua_type(L, 3) != LUA_TSTRING)
    return luaL_error(L, "phala.call: give a method and a path (strings)");
  const char *method = lua_tostring(L, 2), *path = lua_tostring(L, 3);
  const char *body = NULL;
  if (lua_istable(L, 4)) body = phala_json_encode(L, 4, NULL);
  else if (!lua_isnoneornil(L, 4)) body = luaL_checkstring(L, 4);
  return start_call(L, "phala.call", method, path, body);
}

/* ---- the key ------------------------------------------------------------------------------- */

static const char *key_dir_arg(lua_State *L, int idx, char *buf, size_t size, th_err *err) {
  return key_dir(luaL_optstring(L, idx, NULL), buf, size, err);
}

/* t[name] = value for the table on top, unless value is empty. */
static void set_field(lua_State *L, const char *name, const char *value) {
  if (!*value) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, name);
}

/* key_info(dir?) -> {source=, path=, profile=, api_prefix=} | nil, msg, code. Not the key. */
static int l_key_info(lua_State *L) {
  char buf[512];
  th_err err = {0};
  th_phala_key k;
  const char *dir = key_dir_arg(L, 1, buf, sizeof buf, &err);
  int rc = th_phala_key_load(&k, getenv("PHALA_CLOUD_API_KEY"), dir, NULL, &err);
  if (rc < 0) return th_push_failure(L, &err);
  if (rc == 0) return push_no_key(L);
  lua_createtable(L, 0, 4);
  set_field(L, "source", source_name(k.source));
  set_field(L, "path", k.path);
  set_field(L, "profile", k.profile);
  set_field(L, "api_prefix", k.api_prefix);
  th_phala_key_clear(&k);
  return 1;
}

/* save_key(key, dir?) -> path | nil, msg, code. Validate the key (me()) before saving it. */
static int l_save_key(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  char buf[512];
  th_err err = {0};
  const char *dir = key_dir_arg(L, 2, buf, sizeof buf, &err);
  if (!dir || th_phala_key_save(dir, key, &err) != 0) return th_push_failure(L, &err);
  forget_default_client(L);
  lua_pushfstring(L, "%s/api-key", dir);
  return 1;
}

/* delete_key(dir?) -> true, existed | nil, msg, code */
static int l_delete_key(lua_State *L) {
  char buf[512];
  th_err err = {0};
  const char *dir = key_dir_arg(L, 1, buf, sizeof buf, &err);
  int rc = dir ? th_phala_key_delete(dir, &err) : -1;
  if (rc < 0) return th_push_failure(L, &err);
  forget_default_client(L);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, rc);
  return 2;
}

static int l_key_dir(lua_State *L) {
  char buf[512];
  th_err err = {0};
  const char *dir = key_dir_arg(L, 1, buf, sizeof buf, &err);
  if (!dir) return th_push_failure(L, &err);
  lua_pushstring(L, dir);
  return 1;
}

/* ---- env encryption (core/phala_env) ------------------------------------------------------ */

/* A key/value list from index `idx`: an array of {key=, value=} (kept in order, as the
 * plaintext keeps it) or a map name -> value (sorted by name, so the text is reproducible).
 * The array lives in a userdata left on the stack, so a raise leaks nothing; the strings stay
 * owned by the table. */
static th_dotenv_var *env_vars(lua_State *L, int idx, size_t *count) {
  luaL_checktype(L, idx, LUA_TTABLE);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  th_dotenv_var *v = lua_newuserdatauv(L, (n ? n : 1) * sizeof *v, 0);
  int array = luaL_len(L, idx) == (lua_Integer)n;
  for (size_t i = 0; array && i < n; i++) {
    if (lua_geti(L, idx, (lua_Integer)i + 1) != LUA_TTABLE ||
        lua_getfield(L, -1, "key") != LUA_TSTRING || lua_getfield(L, -2, "value") != LUA_TSTRING)
      luaL_error(L, "phala.encrypt_env: item %d must be {key = string, value = string}", (int)i + 1);
    v[i] = (th_dotenv_var){lua_tostring(L, -2), lua_tostring(L, -1), 0};
    lua_pop(L, 3);
  }
  size_t i = 0;
  lua_pushnil(L);
  while (!array && lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "phala.encrypt_env: a map's names and values must be strings");
    v[i++] = (th_dotenv_var){lua_tostring(L, -2), lua_tostring(L, -1), 0};
    lua_pop(L, 1);
  }
  for (size_t a = 1; !array && a < n; a++) /* insertion sort: env sets are small */
    for (size_t b = a; b > 0 && strcmp(v[b - 1].name, v[b].name) > 0; b--) {
      th_dotenv_var tmp = v[b];
      v[b] = v[b - 1];
      v[b - 1] = tmp;
    }
  *count = n;
  return v;
}

/* encrypt_env(vars, public_key_hex) -> hex | nil, msg, code (spec 5.1). */
static int l_encrypt_env(lua_State *L) {
  const char *pub = luaL_checkstring(L, 2);
  size_t n;
  th_dotenv_var *vars = env_vars(L, 1, &n);
  char *out = NULL;
  th_err err = {0};
  if (th_phala_env_encrypt(vars, n, pub, &out, &err) != 0) return th_push_failure(L, &err);
  lua_pushstring(L, out);
  free(out);
  return 1;
}

static int private_key_arg(lua_State *L, int idx, uint8_t key[32], th_err *err) {
  size_t len;
  const char *hex = luaL_checklstring(L, idx, &len);
  return th_hex_decode_exact(hex, len, key, 32, "env private key", err);
}

/* decrypt_env(hex, private_key_hex) -> plaintext JSON | nil, msg, code: what dstack does in
 * the CVM; tests and the fake server use it. The script asked for the secret by name. */
static int l_decrypt_env(lua_State *L) {
  size_t len;
  const char *hex = luaL_checklstring(L, 1, &len);
  uint8_t key[32];
  th_err err = {0};
  char *plain = NULL;
  size_t plain_len = 0;
  int rc = private_key_arg(L, 2, key, &err);
  if (rc == 0) rc = th_phala_env_decrypt(hex, len, key, &plain, &plain_len, &err);
  sodium_memzero(key, sizeof key);
  if (rc != 0) return th_push_failure(L, &err);
  lua_pushlstring(L, plain, plain_len);
  sodium_free(plain);
  return 1;
}

/* env_public_key(private_key_hex) -> public key hex */
static int l_env_public_key(lua_State *L) {
  uint8_t key[32], pub[32];
  char hex[65];
  th_err err = {0};
  int rc = private_key_arg(L, 1, key, &err);
  if (rc == 0) rc = th_phala_env_public_key(key, pub, &err);
  sodium_memzero(key, sizeof key);
  if (rc != 0) return th_push_failure(L, &err);
  th_hex_encode(pub, 32, hex);
  lua_pushstring(L, hex);
  return 1;
}

/* ---- wait ---------------------------------------------------------------------------------- */

/* phala.wait and Client:wait are Lua: a polling policy reads better there. The chunk gets the
 * module table, the methods table and the task and json modules. */
static const char WAIT_LUA[] =
    "local M, methods, task, json = ...\n"
    "local function busy(d)\n"
    "  return d.in_progress == true or (d.progress ~= nil and d.progress ~= json.null)\n"
    "end\n"
    "local TRANSIENT = { ETIMEDOUT = true, ECONNREFUSED = true, ECONNRESET = true, EIO = true,\n"
    "                    ENOTFOUND = true, EPROTO = true, HTTP_408 = true, HTTP_429 = true }\n"
    "local function wait(get, id, want, opts)\n"
    "  if type(id) ~= 'string' then error('phala.wait: id must be a string', 3) end\n"
    "  if type(want) ~= 'string' then error('phala.wait: status must be a string', 3) end\n"
    "  opts = opts or {}\n"
    "  local timeout, interval = opts.timeout or 600, opts.interval or 2\n"
    "  local max_interval = opts.max_interval or math.max(interval, 10)\n"
    "  local deadline, last, err = task.now() + timeout, nil, nil\n"
    "  while true do\n"
    /* a stalled server must not hold the wait past its deadline */
    "    local d, msg, code, info = task.timeout(math.max(deadline - task.now(), 0.001), get, id)\n"
    "    if d and type(d) ~= 'table' then\n"
    "      d, msg, code = nil, 'Phala Cloud: the CVM answer is not a JSON object', 'EPROTO'\n"
    "    end\n"
    "    if d then\n"
    "      last, err = d, nil\n"
    "      if opts.progress then opts.progress(d) end\n"
    "      if d.status == want and not busy(d) then return d end\n"
    "    elseif TRANSIENT[code] or tostring(code):match('^HTTP_5') then\n"
    "      err = msg\n" /* the client retried already; keep polling until the deadline */
    "    elseif info then\n" /* 401, 404, no key…: waiting will not help */
    "      return nil, msg, code, info\n"
    "    else\n"
    "      return nil, msg, code\n"
    "    end\n"
    "    local left = deadline - task.now()\n"
    "    if left <= 0 then\n"
    "      local state = last and string.format(\"status '%s'%s\", tostring(last.status),\n"
    "        busy(last) and ', in progress' or '') or ('no answer: ' .. tostring(err))\n"
    "      return nil, string.format(\"Phala Cloud: CVM %s did not reach '%s' within %g s (%s)\",\n"
    "        id, want, timeout, state), 'ETIMEDOUT'\n"
    "    end\n"
    "    task.sleep(math.min(interval, left))\n"
    "    interval = math.min(interval * 1.5, max_interval)\n"
    "  end\n"
    "end\n"
    "M.wait = function(id, want, opts) return wait(M.get_cvm, id, want, opts) end\n"
    "methods.wait = function(self, id, want, opts)\n"
    "  return wait(function(i) return self:get_cvm(i) end, id, want, opts)\n"
    "end\n";

static void push_loaded(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}

/* Adds every endpoint to the table on top, as methods (is_method) or module functions. */
static void add_endpoints(lua_State *L, int is_method) {
  for (size_t i = 0; i < NENDPOINTS; i++) {
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushboolean(L, is_method);
    lua_pushcclosure(L, l_endpoint, 2);
    lua_setfield(L, -2, ENDPOINTS[i].name);
  }
  lua_pushinteger(L, 0);
  lua_pushboolean(L, is_method);
  lua_pushcclosure(L, l_call, 2);
  lua_setfield(L, -2, "call");
}

int luaopen_phala(lua_State *L) {
  luaL_newmetatable(L, CLIENT_MT);
  lua_newtable(L); /* methods */
  add_endpoints(L, 1);
  lua_pushcfunction(L, client_base_url);
  lua_setfield(L, -2, "base_url");
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "close");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  static const luaL_Reg funcs[] = {{"client", l_client},         {"key_info", l_key_info},
                                   {"save_key", l_save_key},     {"delete_key", l_delete_key},
                                   {"key_dir", l_key_dir},       {"encrypt_env", l_encrypt_env},
                                   {"decrypt_env", l_decrypt_env},
                                   {"env_public_key", l_env_public_key},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  phala_util_open(L);
  phala_eth_open(L);
  add_endpoints(L, 0);
  lua_pushliteral(L, TH_PHALA_DEFAULT_BASE_URL);
  lua_setfield(L, -2, "DEFAULT_BASE_URL");
  lua_pushliteral(L, TH_PHALA_DEFAULT_API_VERSION);
  lua_setfield(L, -2, "API_VERSION");
  if (luaL_loadbuffer(L, WAIT_LUA, sizeof WAIT_LUA - 1, "=phala.wait") != LUA_OK) lua_error(L);
  lua_pushvalue(L, -2);                 /* M */
  lua_getfield(L, -4, "__index");       /* methods */
  push_loaded(L, "task");
  push_loaded(L, "json");
  lua_call(L, 4, 0);
  lua_remove(L, -2); /* the metatable */
  return 1;
}
