/* bindings/phala_internal.h — what bindings/phala.c and bindings/phala_util.c (the Lua `phala`
 * module, split in two files) share. Not for other modules. */
#ifndef TH_PHALA_INTERNAL_H
#define TH_PHALA_INTERNAL_H

#include <lua.h>
#include <stddef.h>

/* Adds the local functions (parse_env, compose_hash, build_compose, check_kms_signature) to the
 * module table on top of the stack (bindings/phala_util.c). */
int phala_util_open(lua_State *L);
/* Adds keccak256, eth_sign, eth_address, eth_recover (bindings/phala_eth.c). */
int phala_eth_open(lua_State *L);

/* json.encode of the value at idx (a positive index); the text is pushed and stays on the stack
 * while the caller uses it. *len may be NULL. Raises on what JSON cannot hold (a function, a
 * cycle): that is a bug in the script. */
const char *phala_json_encode(lua_State *L, int idx, size_t *len);

#endif
