/* bindings/tee_key.c — the Key userdata that tee.get_key returns (DESIGN.md "Keys").
 *
 * It owns the 32 derived bytes in a slot of the host's secret pool (core/secret_pool: sodium_malloc
 * blocks — guard pages, locked, no core dump — carved into slots, since one sodium_malloc per key
 * costs more than the key) and wipes them on __gc and __close, which share one function as Lua's
 * files do; a closed key says so instead of crashing. The public key is computed when first
 * asked for, not on every get_key. The secret never becomes a Lua string unless the
 * script calls key:secret_hex(). Methods:
 *   key:public_key() -> hex (33-byte compressed secp256k1, or 32-byte ed25519)
 *   key:evm_address() -> "0x…" (EIP-55; from the secp256k1 key of these bytes)
 *   key:solana_address() -> base58 (from the ed25519 key of these bytes: dstack hands out the
 *                            same 32 bytes for both algorithms, spec section 9)
 *   key:sign(msg) -> hex signature (secp256k1: ECDSA over SHA-256(msg), 64 bytes r‖s, as the
 *                    agent's Sign; ed25519: RFC 8032)
 *   key:verify_chain(kms_root?) -> true | nil, msg, code (spec 4.3; the root defaults to the
 *                    built-in simulator's KMS root)
 *   key:signature_chain() -> {hex, hex}   key:algorithm()   key:path()   key:purpose()
 *   key:secret_hex() -> the 32 bytes as hex (only when asked)
 *   key:close()   tostring(key) -> "tee.Key<secp256k1 path=\"…\" 02ab…>" (never the secret) */
#include <lauxlib.h>
#include <string.h>

#include "hex.h"
#include "tee_internal.h"

typedef struct tee_key {
  uint8_t *secret;      /* a pool slot, NULL once closed */
  th_secret_pool *pool; /* referenced while the slot is held */
  th_key_alg alg;
  uint8_t pub[33];
  size_t pub_len;       /* 0 until computed */
  uint8_t chain[2][65];
  int chain_len;
  uint8_t app_id[20];
  int has_app_id;
} tee_key;

/* uservalues: 1 = path, 2 = purpose */

int tee_push_key(lua_State *L, const th_dstack_key *k, th_key_alg alg, const char *path,
                 size_t path_len, const char *purpose, size_t purpose_len, const uint8_t *app_id,
                 th_err *err) {
  tee_key *key = lua_newuserdatauv(L, sizeof *key, 2);
  memset(key, 0, sizeof *key);
  luaL_setmetatable(L, TEE_KEY_MT);
  lua_pushlstring(L, path, path_len);
  lua_setiuservalue(L, -2, 1);
  lua_pushlstring(L, purpose, purpose_len);
  lua_setiuservalue(L, -2, 2);
  key->alg = alg;
  key->chain_len = k->chain_len;
  memcpy(key->chain, k->chain, sizeof key->chain);
  if (app_id) {
    memcpy(key->app_id, app_id, 20);
    key->has_app_id = 1;
  }
  th_secret_pool *pool = tee_secret_pool(tee_state_get(L));
  if (!pool || !(key->secret = th_secret_pool_alloc(pool))) {
    lua_pop(L, 1);
    return th_err_set(err, TH_ENOMEM, "tee.get_key: out of secure memory");
  }
  th_secret_pool_ref(pool);
  key->pool = pool;
  memcpy(key->secret, k->key, 32);
  return 0;
}

/* The public key, computed on first use; raises when the bytes are not a valid secp256k1
 * scalar (probability 2^-128, and the agent would have refused to derive it). */
static void need_pub(lua_State *L, tee_key *k) {
  th_err err = {0};
  if (!k->pub_len && th_key_public(k->alg, k->secret, k->pub, &k->pub_len, &err) != 0)
    luaL_error(L, "tee.Key: %s", err.message);
}

static tee_key *check_key(lua_State *L) {
  tee_key *k = luaL_checkudata(L, 1, TEE_KEY_MT);
  if (!k->secret) luaL_error(L, "attempt to use a closed key");
  return k;
}

const uint8_t *tee_key_secret(lua_State *L, int idx) {
  tee_key *k = luaL_checkudata(L, idx, TEE_KEY_MT);
  if (!k->secret) luaL_error(L, "attempt to use a closed key");
  return k->secret;
}

static int key_gc(lua_State *L) {
  tee_key *k = luaL_checkudata(L, 1, TEE_KEY_MT);
  if (k->secret) {
    th_secret_pool_free(k->pool, k->secret); /* wipes the slot */
    th_secret_pool_unref(k->pool);
  }
  k->secret = NULL;
  k->pool = NULL;
  return 0;
}

static int key_public_key(lua_State *L) {
  tee_key *k = check_key(L);
  need_pub(L, k);
  tee_push_hex(L, k->pub, k->pub_len);
  return 1;
}

static int key_evm_address(lua_State *L) {
  tee_key *k = check_key(L);
  char addr[43];
  th_err err = {0};
  if (th_evm_address(k->secret, addr, &err) != 0) return th_push_failure(L, &err);
  lua_pushstring(L, addr);
  return 1;
}

static int key_solana_address(lua_State *L) {
  tee_key *k = check_key(L);
  char addr[45];
  th_err err = {0};
  if (th_solana_address(k->secret, addr, &err) != 0) return th_push_failure(L, &err);
  lua_pushstring(L, addr);
  return 1;
}

static int key_sign(lua_State *L) {
  tee_key *k = check_key(L);
  size_t n;
  const char *msg = luaL_checklstring(L, 2, &n);
  uint8_t sig[64];
  th_err err = {0};
  if (th_key_sign(k->alg, k->secret, (const uint8_t *)msg, n, sig, &err) != 0)
    return luaL_error(L, "key:sign: %s", err.message);
  tee_push_hex(L, sig, sizeof sig);
  return 1;
}

static int key_verify_chain(lua_State *L) {
  tee_key *k = check_key(L);
  uint8_t root[65];
  size_t root_len = 0;
  if (!lua_isnoneornil(L, 2)) {
    root_len = tee_bytes_arg(L, 2, "key:verify_chain", "kms_root", 33, root, sizeof root);
  } else {
    tee_state *st = tee_state_get(L);
    if (!st->selected || st->ep.kind != TH_TEE_BUILTIN || !st->sim)
      return luaL_error(L, "key:verify_chain: give the KMS root public key (hex); only the built-in "
                           "simulator's is known (`teehost simulator status` prints the "
                           "standalone simulator's)");
    memcpy(root, th_simulator_kms_root(st->sim), 33);
    root_len = 33;
  }
  th_err err = {0};
  uint8_t root33[33];
  if (th_secp256k1_compress(root, root_len, root33, &err) != 0)
    return luaL_error(L, "key:verify_chain: kms_root: %s", err.message);
  if (k->chain_len < 2) {
    th_err_set(&err, TH_EVERIFY, "signature chain: the agent gave no KMS signature (a local key "
                                 "provider has none): nothing to verify against");
    return th_push_failure(L, &err);
  }
  if (!k->has_app_id) {
    th_err_set(&err, TH_EVERIFY, "signature chain: the app id is unknown (Info did not give it)");
    return th_push_failure(L, &err);
  }
  size_t plen;
  lua_getiuservalue(L, 1, 2);
  const char *purpose = lua_tolstring(L, -1, &plen);
  need_pub(L, k);
  if (th_key_verify_chain(purpose, plen, k->pub, k->pub_len, k->chain[0], k->chain[1], k->app_id,
                          root33, NULL, NULL, &err) != 0)
    return th_push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int key_signature_chain(lua_State *L) {
  tee_key *k = check_key(L);
  lua_createtable(L, k->chain_len, 0);
  for (int i = 0; i < k->chain_len; i++) {
    tee_push_hex(L, k->chain[i], 65);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int key_algorithm(lua_State *L) {
  lua_pushstring(L, th_key_alg_name(check_key(L)->alg));
  return 1;
}

static int key_path(lua_State *L) {
  check_key(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

static int key_purpose(lua_State *L) {
  check_key(L);
  lua_getiuservalue(L, 1, 2);
  return 1;
}

static int key_secret_hex(lua_State *L) {
  tee_key *k = check_key(L);
  tee_push_hex(L, k->secret, 32);
  return 1;
}

static int key_tostring(lua_State *L) {
  tee_key *k = luaL_checkudata(L, 1, TEE_KEY_MT);
  if (!k->secret) {
    lua_pushliteral(L, "tee.Key<closed>");
    return 1;
  }
  char pub[67];
  need_pub(L, k);
  th_hex_encode(k->pub, k->pub_len, pub);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "tee.Key<%s path=\"%s\" %s>", th_key_alg_name(k->alg), lua_tostring(L, -1), pub);
  return 1;
}

int tee_open_key(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"public_key", key_public_key},   {"evm_address", key_evm_address},
      {"solana_address", key_solana_address}, {"sign", key_sign},
      {"verify_chain", key_verify_chain}, {"signature_chain", key_signature_chain},
      {"algorithm", key_algorithm},     {"path", key_path},
      {"purpose", key_purpose},         {"secret_hex", key_secret_hex},
      {"close", key_gc},                {NULL, NULL},
  };
  luaL_newmetatable(L, TEE_KEY_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, key_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, key_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, key_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  return 0;
}
