/* bindings/tee_calls.c — the guest-agent calls of the Lua module `tee` (listed in tee.c): each
 * builds the request's JSON from Lua arguments, starts it on core/dstack and yields; the reply is
 * turned into Lua values when the coroutine resumes (call_push), and freed — secrets wiped — in
 * call_release. A few calls chain two requests (get_key learns the app id from Info once per
 * host; eliza_derive makes plugin-tee's two DeriveKey calls). */
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "scheduler.h"
#include "tee_internal.h"


static cJSON *add_hex(cJSON *o, const char *k, const uint8_t *p, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (!hex) return NULL;
  th_hex_encode(p, n, hex);
  cJSON *r = cJSON_AddStringToObject(o, k, hex);
  free(hex);
  return r;
}

/* ---- one call -------------------------------------------------------------------------- */

enum push_kind { PUSH_TABLE, PUSH_INFO, PUSH_KEY, PUSH_QUOTE, PUSH_TRUE, PUSH_FIELD, PUSH_VALID,
                 PUSH_ELIZA };

typedef struct call_op {
  th_wait w;
  tee_state *st;
  th_dstack_call *call;
  cJSON *result;
  th_err err;
  int failed;
  int kind;
  char fn[32];
  const char *field; /* PUSH_FIELD */
  /* PUSH_KEY */
  th_key_alg alg;
  char *path, *purpose;
  size_t path_len, purpose_len;
  int stage;        /* PUSH_KEY: 1 = waiting for Info; PUSH_ELIZA: 1 = second DeriveKey */
  cJSON *first;     /* PUSH_KEY: the GetKey reply while Info runs; PUSH_ELIZA: the first reply */
  char *salt;
} call_op;

static int push_failure_co(lua_State *co, const th_err *err) {
  lua_pushnil(co);
  lua_pushstring(co, err->message);
  lua_pushstring(co, th_err_name(err->code));
  return 3;
}

static int push_key(lua_State *co, call_op *op) {
  th_dstack_key k;
  th_err err = {0};
  int rc = th_dstack_decode_key(op->first ? op->first : op->result, &k, &err);
  if (rc == 0)
    rc = tee_push_key(co, &k, op->alg, op->path, op->path_len, op->purpose, op->purpose_len,
                      op->st->has_app_id ? op->st->app_id : NULL, &err);
  sodium_memzero(&k, sizeof k); /* the secret now lives only in the key's sodium memory */
  return rc == 0 ? 1 : push_failure_co(co, &err);
}

static int push_info(lua_State *co, call_op *op) {
  tee_push_cjson(co, op->result);
  const cJSON *tcb = cJSON_GetObjectItemCaseSensitive(op->result, "tcb_info");
  if (cJSON_IsString(tcb) && *tcb->valuestring) {
    cJSON *parsed = cJSON_Parse(tcb->valuestring);
    if (!parsed) {
      th_err err;
      th_err_set(&err, TH_EPROTO, "Info: tcb_info is not valid JSON");
      lua_pop(co, 1);
      return push_failure_co(co, &err);
    }
    tee_push_cjson(co, parsed);
    cJSON_Delete(parsed);
    lua_setfield(co, -2, "tcb_info");
  }
  return 1;
}

static int push_eliza(lua_State *co, call_op *op) {
  char sol[45], evm[43];
  th_err err = {0};
  const cJSON *replies[2] = {op->first, op->result};
  const char *names[2] = {"solana", "evm"};
  char solana[45] = "", evm_addr[43] = "";
  for (int i = 0; i < 2; i++) {
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(replies[i], "key");
    if (!cJSON_IsString(key)) {
      th_err_set(&err, TH_EPROTO, "DeriveKey (%s): the reply has no key", names[i]);
      return push_failure_co(co, &err);
    }
    /* The PEM's base64 body is the PKCS#8 DER plugin-tee hashes. */
    const char *b = strstr(key->valuestring, "-----BEGIN PRIVATE KEY-----");
    const char *e = b ? strstr(b, "-----END PRIVATE KEY-----") : NULL;
    if (!e) {
      th_err_set(&err, TH_EPROTO, "DeriveKey (%s): the key is not a PKCS#8 PEM", names[i]);
      return push_failure_co(co, &err);
    }
    b += strlen("-----BEGIN PRIVATE KEY-----");
    unsigned char der[512];
    size_t der_len = 0;
    if (sodium_base642bin(der, sizeof der, b, (size_t)(e - b), "\r\n ", &der_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
      th_err_set(&err, TH_EPROTO, "DeriveKey (%s): the key's base64 does not decode", names[i]);
      return push_failure_co(co, &err);
    }
    int rc = th_eliza_derive(der, der_len, sol, evm, NULL, NULL, &err);
    sodium_memzero(der, sizeof der);
    if (rc != 0) return push_failure_co(co, &err);
    if (i == 0) memcpy(solana, sol, sizeof sol);
    else memcpy(evm_addr, evm, sizeof evm);
  }
  lua_createtable(co, 0, 2);
  lua_pushstring(co, solana);
  lua_setfield(co, -2, "solana_public_key");
  lua_pushstring(co, evm_addr);
  lua_setfield(co, -2, "evm_address");
  return 1;
}

static int call_push(lua_State *co, th_wait *w) {
  call_op *op = (call_op *)w;
  if (op->failed) return push_failure_co(co, &op->err);
  switch (op->kind) {
  case PUSH_INFO: return push_info(co, op);
  case PUSH_KEY: return push_key(co, op);
  case PUSH_ELIZA: return push_eliza(co, op);
  case PUSH_TRUE: lua_pushboolean(co, 1); return 1;
  case PUSH_VALID: {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(op->result, "valid");
    if (!cJSON_IsBool(v)) {
      th_err err;
      th_err_set(&err, TH_EPROTO, "Verify: the reply has no boolean 'valid'");
      return push_failure_co(co, &err);
    }
    lua_pushboolean(co, cJSON_IsTrue(v));
    return 1;
  }
  case PUSH_FIELD: {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(op->result, op->field);
    if (!cJSON_IsString(v)) {
      th_err err;
      th_err_set(&err, TH_EPROTO, "%s: the reply has no string '%s'", op->fn, op->field);
      return push_failure_co(co, &err);
    }
    lua_pushstring(co, v->valuestring);
    return 1;
  }
  case PUSH_QUOTE: {
    th_dstack_quote q = {0};
    th_err err = {0};
    if (th_dstack_decode_quote(op->result, &q, &err) != 0) return push_failure_co(co, &err);
    th_dstack_quote_free(&q);
    tee_push_cjson(co, op->result); /* the checked reply as it came */
    return 1;
  }
  default: tee_push_cjson(co, op->result); return 1;
  }
}

/* GetKey's "key" and DeriveKey's PEM are secrets: wiped before the reply is freed. */
static void wipe_key(cJSON *reply) {
  cJSON *k = cJSON_GetObjectItemCaseSensitive(reply, "key");
  if (cJSON_IsString(k)) sodium_memzero(k->valuestring, strlen(k->valuestring));
}

static void call_release(th_wait *w, int in_flight) {
  call_op *op = (call_op *)w;
  if (op->kind == PUSH_KEY || op->kind == PUSH_ELIZA) {
    wipe_key(op->result);
    wipe_key(op->first);
  }
  if (in_flight && op->call) th_dstack_cancel(op->call);
  op->st->inflight--;
  cJSON_Delete(op->result);
  cJSON_Delete(op->first);
  free(op->path);
  free(op->purpose);
  free(op->salt);
  free(op);
}

static void call_done(void *ud, cJSON *result, const th_err *err);

static int next_request(call_op *op, const char *method, cJSON *body) {
  th_dstack *c = tee_client(op->st, &op->err);
  op->call = c ? th_dstack_request(c, method, body, call_done, op, &op->err) : NULL;
  cJSON_Delete(body);
  return op->call ? 0 : -1;
}

static cJSON *derive_body(const char *salt, const char *subject) {
  cJSON *b = cJSON_CreateObject();
  if (b && (!cJSON_AddStringToObject(b, "path", salt) || !cJSON_AddStringToObject(b, "subject", subject))) {
    cJSON_Delete(b);
    return NULL;
  }
  return b;
}

static void call_done(void *ud, cJSON *result, const th_err *err) {
  call_op *op = ud;
  op->call = NULL;
  if (err) {
    op->failed = 1;
    op->err = *err;
    cJSON_Delete(result);
    th_wait_ready(&op->w);
    return;
  }
  if (op->kind == PUSH_KEY && op->stage == 0 && !op->st->has_app_id && op->st->sim &&
      op->st->ep.kind == TH_TEE_BUILTIN) {
    memcpy(op->st->app_id, th_simulator_app_id(op->st->sim), 20);
    op->st->has_app_id = 1;
  }
  if (op->kind == PUSH_KEY && op->stage == 0 && !op->st->has_app_id) {
    /* The key's chain names the app only through Info's app_id: learn it once per host. */
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(result, "signature_chain");
    if (cJSON_GetArraySize(chain) == 2) {
      op->first = result;
      op->stage = 1;
      if (next_request(op, "Info", NULL) == 0) return;
      op->failed = 1;
      th_wait_ready(&op->w);
      return;
    }
  }
  if (op->kind == PUSH_KEY && op->stage == 1) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(result, "app_id");
    if (cJSON_IsString(id) && strlen(id->valuestring) == 40 &&
        th_hex_decode_exact(id->valuestring, 40, op->st->app_id, 20, "app_id", NULL) == 0)
      op->st->has_app_id = 1;
    cJSON_Delete(result);
    th_wait_ready(&op->w);
    return;
  }
  if (op->kind == PUSH_ELIZA && op->stage == 0) {
    op->first = result;
    op->stage = 1;
    if (next_request(op, "Tappd.DeriveKey", derive_body(op->salt, "evm")) == 0) return;
    op->failed = 1;
    th_wait_ready(&op->w);
    return;
  }
  op->result = result;
  th_wait_ready(&op->w);
}

/* Starts method with body (taken) and yields; or returns nil, msg, code at once. */
static int start(lua_State *L, call_op *op, const char *method, cJSON *body) {
  if (next_request(op, method, body) != 0) {
    th_err err = op->err;
    call_release(&op->w, 0);
    return th_push_failure(L, &err);
  }
  return th_wait_yield(L, &op->w);
}

static call_op *new_op(lua_State *L, const char *fn, int kind) {
  call_op *op = th_wait_new(L, sizeof *op, fn, call_push, call_release);
  snprintf(op->fn, sizeof op->fn, "%s", fn);
  op->w.what = op->fn;
  op->st = tee_state_get(L);
  op->st->inflight++; /* until call_release */
  op->kind = kind;
  return op;
}

static cJSON *new_body(lua_State *L) {
  cJSON *b = cJSON_CreateObject();
  if (!b) luaL_error(L, "tee: out of memory");
  return b;
}

/* ---- the functions --------------------------------------------------------------------- */

static int l_info(lua_State *L) {
  return start(L, new_op(L, "tee.info", PUSH_INFO), "Info", NULL);
}

static int l_version(lua_State *L) {
  return start(L, new_op(L, "tee.version", PUSH_TABLE), "Version", NULL);
}

static int l_get_key(lua_State *L) {
  size_t plen = 0, ulen = 0;
  const char *path = luaL_optlstring(L, 1, "", &plen);
  const char *purpose = luaL_optlstring(L, 2, "", &ulen);
  const char *alg_name = luaL_optstring(L, 3, "secp256k1");
  th_key_alg alg;
  if (th_key_alg_parse(alg_name, 0, &alg, NULL) != 0)
    return luaL_error(L, "tee.get_key: algorithm must be \"secp256k1\" or \"ed25519\" (got \"%s\")", alg_name);
  th_wait_check(L, "tee.get_key");
  call_op *op = new_op(L, "tee.get_key", PUSH_KEY);
  op->alg = alg;
  op->path = malloc(plen + 1);
  op->purpose = malloc(ulen + 1);
  cJSON *b = cJSON_CreateObject();
  if (!op->path || !op->purpose || !b || !cJSON_AddStringToObject(b, "path", path) ||
      !cJSON_AddStringToObject(b, "purpose", purpose) ||
      !cJSON_AddStringToObject(b, "algorithm", th_key_alg_name(alg))) {
    cJSON_Delete(b);
    call_release(&op->w, 0);
    return luaL_error(L, "tee.get_key: out of memory");
  }
  memcpy(op->path, path, plen + 1);
  memcpy(op->purpose, purpose, ulen + 1);
  op->path_len = plen;
  op->purpose_len = ulen;
  return start(L, op, "GetKey", b);
}

/* field: the reply's string a PUSH_FIELD call returns (NULL for the others). */
static int report_data_call(lua_State *L, const char *fn, const char *method, int kind,
                            const char *field) {
  size_t n;
  const char *data = luaL_checklstring(L, 1, &n);
  if (n > 64)
    return luaL_error(L, "%s: report data is %d bytes (at most 64: hash longer data first)", fn, (int)n);
  th_wait_check(L, fn);
  cJSON *b = new_body(L);
  if (!add_hex(b, "report_data", (const uint8_t *)data, n)) {
    cJSON_Delete(b);
    return luaL_error(L, "%s: out of memory", fn);
  }
  call_op *op = new_op(L, fn, kind);
  op->field = field;
  return start(L, op, method, b);
}

static int l_get_quote(lua_State *L) {
  return report_data_call(L, "tee.get_quote", "GetQuote", PUSH_QUOTE, NULL);
}

static int l_attest(lua_State *L) {
  return report_data_call(L, "tee.attest", "Attest", PUSH_FIELD, "attestation");
}

static int l_raw_quote(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  if (n != 64) return luaL_error(L, "tee.raw_quote: report data must be exactly 64 bytes (got %d)", (int)n);
  return report_data_call(L, "tee.raw_quote", "Tappd.RawQuote", PUSH_TABLE, NULL);
}

static int opt_bool(lua_State *L, int idx, const char *fn, const char *key, int dflt) {
  int t = lua_getfield(L, idx, key), v = dflt;
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL) luaL_error(L, "%s: option '%s' must be a boolean", fn, key);
  lua_pop(L, 1);
  return v;
}

/* Adds alt_names from the list at idx (validated by the caller: strings only) to b. */
static void add_alt_names(lua_State *L, int idx, const char *fn, cJSON *b) {
  (void)fn;
  if (lua_isnoneornil(L, idx)) return;
  lua_Integer n = luaL_len(L, idx);
  if (n == 0) return;
  cJSON *arr = cJSON_AddArrayToObject(b, "alt_names");
  for (lua_Integer i = 1; arr && i <= n; i++) {
    lua_geti(L, idx, i);
    cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
    lua_pop(L, 1);
  }
}

static void check_alt_names(lua_State *L, int idx, const char *fn) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  for (lua_Integer i = 1, n = luaL_len(L, idx); i <= n; i++, lua_pop(L, 1))
    if (lua_geti(L, idx, i) != LUA_TSTRING) luaL_error(L, "%s: alt_names[%d] must be a string", fn, (int)i);
}

static int l_get_tls_key(lua_State *L) {
  static const char *const known[] = {"subject", "alt_names", "ra_tls", "server_auth", "client_auth",
                                      "not_before", "not_after", "app_info", NULL};
  const char *fn = "tee.get_tls_key";
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  th_check_options(L, 1, fn, known);
  /* Everything that can raise is read before the body exists (a raise would leak it). */
  int t = lua_getfield(L, 1, "subject"); /* 2 */
  if (t != LUA_TNIL && t != LUA_TSTRING) return luaL_error(L, "%s: option 'subject' must be a string", fn);
  const char *subject = t == LUA_TNIL ? "" : lua_tostring(L, 2);
  lua_getfield(L, 1, "alt_names"); /* 3 */
  check_alt_names(L, 3, fn);
  int ra_tls = opt_bool(L, 1, fn, "ra_tls", 0), server = opt_bool(L, 1, fn, "server_auth", 1);
  int client = opt_bool(L, 1, fn, "client_auth", 0), app_info = opt_bool(L, 1, fn, "app_info", -1);
  static const char *const times[] = {"not_before", "not_after"};
  lua_Integer when[2] = {-1, -1};
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(L, 1, times[i]) != LUA_TNIL) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        return luaL_error(L, "%s: option '%s' must be a non-negative integer (Unix seconds)", fn, times[i]);
      when[i] = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  th_wait_check(L, fn);
  cJSON *b = new_body(L);
  cJSON_AddStringToObject(b, "subject", subject);
  add_alt_names(L, 3, fn, b);
  cJSON_AddBoolToObject(b, "usage_ra_tls", ra_tls);
  cJSON_AddBoolToObject(b, "usage_server_auth", server);
  cJSON_AddBoolToObject(b, "usage_client_auth", client);
  for (int i = 0; i < 2; i++)
    if (when[i] >= 0) cJSON_AddNumberToObject(b, times[i], (double)when[i]);
  if (app_info >= 0) cJSON_AddBoolToObject(b, "with_app_info", app_info);
  return start(L, new_op(L, fn, PUSH_TABLE), "GetTlsKey", b);
}

static int l_emit_event(lua_State *L) {
  size_t nlen, plen = 0;
  const char *name = luaL_checklstring(L, 1, &nlen);
  const char *payload = luaL_optlstring(L, 2, "", &plen);
  if (nlen == 0) return luaL_error(L, "tee.emit_event: the event name must not be empty");
  th_wait_check(L, "tee.emit_event");
  cJSON *b = new_body(L);
  if (!cJSON_AddStringToObject(b, "event", name) || !add_hex(b, "payload", (const uint8_t *)payload, plen)) {
    cJSON_Delete(b);
    return luaL_error(L, "tee.emit_event: out of memory");
  }
  return start(L, new_op(L, "tee.emit_event", PUSH_TRUE), "EmitEvent", b);
}

static const char *check_sign_alg(lua_State *L, const char *fn) {
  const char *alg = luaL_checkstring(L, 1);
  th_key_alg a;
  if (th_key_alg_parse(alg, 1, &a, NULL) != 0)
    luaL_error(L, "%s: algorithm must be \"secp256k1\", \"secp256k1_prehashed\" or \"ed25519\" (got \"%s\")", fn, alg);
  return alg;
}

static int l_sign(lua_State *L) {
  const char *alg = check_sign_alg(L, "tee.sign");
  size_t n;
  const char *data = luaL_checklstring(L, 2, &n);
  th_wait_check(L, "tee.sign");
  cJSON *b = new_body(L);
  cJSON_AddStringToObject(b, "algorithm", alg);
  if (!add_hex(b, "data", (const uint8_t *)data, n)) {
    cJSON_Delete(b);
    return luaL_error(L, "tee.sign: out of memory");
  }
  return start(L, new_op(L, "tee.sign", PUSH_TABLE), "Sign", b);
}

static int l_verify(lua_State *L) {
  const char *alg = check_sign_alg(L, "tee.verify");
  size_t n;
  const char *data = luaL_checklstring(L, 2, &n);
  uint8_t sig[64], pub[65];
  size_t sig_len = tee_bytes_arg(L, 3, "tee.verify", "signature", 64, sig, sizeof sig);
  size_t pub_len = tee_bytes_arg(L, 4, "tee.verify", "public_key", strcmp(alg, "ed25519") ? 33 : 32,
                                 pub, sizeof pub);
  th_wait_check(L, "tee.verify");
  cJSON *b = new_body(L);
  cJSON_AddStringToObject(b, "algorithm", alg);
  if (!add_hex(b, "data", (const uint8_t *)data, n) || !add_hex(b, "signature", sig, sig_len) ||
      !add_hex(b, "public_key", pub, pub_len)) {
    cJSON_Delete(b);
    return luaL_error(L, "tee.verify: out of memory");
  }
  return start(L, new_op(L, "tee.verify", PUSH_VALID), "Verify", b);
}

static int l_derive_key(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *subject = luaL_optstring(L, 2, path);
  check_alt_names(L, 3, "tee.derive_key");
  th_wait_check(L, "tee.derive_key");
  cJSON *b = derive_body(path, subject);
  if (!b) return luaL_error(L, "tee.derive_key: out of memory");
  add_alt_names(L, 3, "tee.derive_key", b);
  return start(L, new_op(L, "tee.derive_key", PUSH_TABLE), "Tappd.DeriveKey", b);
}

static int l_tdx_quote(lua_State *L) {
  size_t n;
  const char *data = luaL_checklstring(L, 1, &n);
  const char *alg = luaL_optstring(L, 2, NULL);
  const char *prefix = luaL_optstring(L, 3, NULL);
  th_wait_check(L, "tee.tdx_quote");
  cJSON *b = new_body(L);
  if (!add_hex(b, "report_data", (const uint8_t *)data, n) ||
      (alg && !cJSON_AddStringToObject(b, "hash_algorithm", alg)) ||
      (prefix && !cJSON_AddStringToObject(b, "prefix", prefix))) {
    cJSON_Delete(b);
    return luaL_error(L, "tee.tdx_quote: out of memory");
  }
  return start(L, new_op(L, "tee.tdx_quote", PUSH_TABLE), "Tappd.TdxQuote", b);
}

static int l_eliza_derive(lua_State *L) {
  const char *salt = luaL_checkstring(L, 1);
  if (!*salt) return luaL_error(L, "tee.eliza_derive: the salt (WALLET_SECRET_SALT) must not be empty");
  th_wait_check(L, "tee.eliza_derive");
  call_op *op = new_op(L, "tee.eliza_derive", PUSH_ELIZA);
  if (!(op->salt = strdup(salt))) {
    call_release(&op->w, 0);
    return luaL_error(L, "tee.eliza_derive: out of memory");
  }
  return start(L, op, "Tappd.DeriveKey", derive_body(salt, "solana"));
}

/* tee.call(method, body?): body is a table (encoded with json.encode) or JSON text. */
static int l_call(lua_State *L) {
  const char *method = luaL_checkstring(L, 1);
  cJSON *b = NULL;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_istable(L, 2)) {
      lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
      lua_getfield(L, -1, "json");
      lua_getfield(L, -1, "encode");
      lua_pushvalue(L, 2);
      lua_call(L, 1, 1);
      lua_replace(L, 2);
      lua_pop(L, 2);
    }
    size_t n;
    const char *text = luaL_checklstring(L, 2, &n);
    if (!(b = cJSON_ParseWithLength(text, n)) || !cJSON_IsObject(b)) {
      cJSON_Delete(b);
      return luaL_error(L, "tee.call: the body must be a table or a JSON object");
    }
  }
  th_wait_check(L, "tee.call");
  return start(L, new_op(L, "tee.call", PUSH_TABLE), method, b);
}

void tee_open_calls(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"info", l_info},           {"version", l_version},     {"get_key", l_get_key},
      {"get_quote", l_get_quote}, {"attest", l_attest},       {"get_tls_key", l_get_tls_key},
      {"emit_event", l_emit_event}, {"sign", l_sign},         {"verify", l_verify},
      {"derive_key", l_derive_key}, {"tdx_quote", l_tdx_quote}, {"raw_quote", l_raw_quote},
      {"eliza_derive", l_eliza_derive}, {"call", l_call},   {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
