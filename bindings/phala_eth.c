/* bindings/phala_eth.c — the Ethereum primitives of the Lua `phala` module that an on-chain KMS
 * deployment needs (scripts/phala_cli/eth.lua builds the transactions; this file only hashes,
 * signs and recovers, with core/keccak and core/keys on libsecp256k1).
 *
 *   phala.keccak256(data) -> 32 raw bytes                    Keccak-256 (Ethereum's, not SHA3-256)
 *   phala.eth_sign(digest32, private_key_hex) -> r, s, v       r, s: 32 raw bytes each; v: 0 or 1
 *                                                            (RFC 6979, low-s) | nil, msg, code
 *   phala.eth_address(private_key_hex) -> "0x…" (EIP-55)     | nil, msg, code
 *   phala.eth_recover(digest32, r, s, v) -> "0x…" (EIP-55)   the signer's address | nil, msg, code
 *
 * private_key_hex: 64 hex digits, "0x" allowed. It is decoded into a stack buffer that is wiped
 * (sodium_memzero) before return; no message names its value. A digest, r or s of the wrong
 * length raises (a bug in the script); a key or signature that is not valid gives nil, msg, code. */
#include <ctype.h>
#include <lauxlib.h>
#include <secp256k1.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "hex.h"
#include "host.h"
#include "keccak.h"
#include "keys.h"
#include "phala_internal.h"

static int l_keccak256(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  uint8_t out[32];
  th_keccak256(data, len, out);
  lua_pushlstring(L, (const char *)out, sizeof out);
  return 1;
}

/* Decodes the private key argument at idx into secret[32]; 0, or -1 with err set. */
static int private_key(lua_State *L, int idx, uint8_t secret[32], th_err *err) {
  size_t len;
  const char *hex = luaL_checklstring(L, idx, &len);
  if (len >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
    hex += 2;
    len -= 2;
  }
  if (len != 64)
    return th_err_set(err, TH_EINVAL, "private key: want 64 hex digits (32 bytes), got %zu characters",
                      len);
  /* Checked here so that no message quotes a character of the key (the hex decoder's does). */
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char)hex[i]))
      return th_err_set(err, TH_EINVAL, "private key: not hex (want 64 hex digits)");
  return th_hex_decode_exact(hex, len, secret, 32, "private key", err);
}

static const uint8_t *digest_arg(lua_State *L, int idx) {
  size_t len;
  const char *d = luaL_checklstring(L, idx, &len);
  luaL_argcheck(L, len == 32, idx, "want a 32-byte digest");
  return (const uint8_t *)d;
}

static int l_eth_sign(lua_State *L) {
  const uint8_t *digest = digest_arg(L, 1);
  uint8_t secret[32], sig[65];
  th_err err = {0};
  int rc = private_key(L, 2, secret, &err);
  if (rc == 0) rc = th_secp256k1_sign_recoverable(secret, digest, sig, &err);
  sodium_memzero(secret, sizeof secret);
  if (rc != 0) return th_push_failure(L, &err);
  lua_pushlstring(L, (const char *)sig, 32);
  lua_pushlstring(L, (const char *)sig + 32, 32);
  lua_pushinteger(L, sig[64]);
  return 3;
}

static int l_eth_address(lua_State *L) {
  uint8_t secret[32];
  char addr[43];
  th_err err = {0};
  int rc = private_key(L, 1, secret, &err);
  if (rc == 0) rc = th_evm_address(secret, addr, &err);
  sodium_memzero(secret, sizeof secret);
  if (rc != 0) return th_push_failure(L, &err);
  lua_pushstring(L, addr);
  return 1;
}

static int l_eth_recover(lua_State *L) {
  const uint8_t *digest = digest_arg(L, 1);
  size_t rlen, slen;
  const char *r = luaL_checklstring(L, 2, &rlen);
  const char *s = luaL_checklstring(L, 3, &slen);
  lua_Integer v = luaL_checkinteger(L, 4);
  luaL_argcheck(L, rlen == 32, 2, "want 32 bytes");
  luaL_argcheck(L, slen == 32, 3, "want 32 bytes");
  th_err err = {0};
  if (v < 0 || v > 1) {
    th_err_set(&err, TH_EVERIFY, "signature: y parity %lld is not 0 or 1", (long long)v);
    return th_push_failure(L, &err);
  }
  uint8_t sig[65], compressed[33], full[65];
  memcpy(sig, r, 32);
  memcpy(sig + 32, s, 32);
  sig[64] = (uint8_t)v;
  if (th_secp256k1_recover(digest, sig, compressed, &err) != 0) return th_push_failure(L, &err);
  secp256k1_pubkey pk;
  size_t full_len = sizeof full;
  if (!secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, compressed, sizeof compressed) ||
      !secp256k1_ec_pubkey_serialize(secp256k1_context_static, full, &full_len, &pk,
                                     SECP256K1_EC_UNCOMPRESSED)) {
    th_err_set(&err, TH_EVERIFY, "signature: the recovered key does not parse");
    return th_push_failure(L, &err);
  }
  char addr[43];
  th_evm_address_from_public(full, addr);
  lua_pushstring(L, addr);
  return 1;
}

/* Adds the functions above to the module table on top of the stack. */
int phala_eth_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"keccak256", l_keccak256},
                                   {"eth_sign", l_eth_sign},
                                   {"eth_address", l_eth_address},
                                   {"eth_recover", l_eth_recover},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
