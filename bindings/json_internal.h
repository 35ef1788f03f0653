/* bindings/json_internal.h — what the three files of the `json` module share: limits and the
 * upvalues every function of the module has (json.null and the two marker metatables).
 *   json.c         the module table, json.null, json.array/object/is_array
 *   json_decode.c  json.decode: a strict RFC 8259 checker, then cJSON, read exactly
 *   json_encode.c  json.encode, written by hand */
#ifndef TH_JSON_INTERNAL_H
#define TH_JSON_INTERNAL_H

#include <cJSON.h>
#include <lua.h>

#define JSON_MAX_DEPTH CJSON_NESTING_LIMIT /* 1000: levels of [ and { accepted, both ways */
#define JSON_MAX_NUMBER 63                 /* cJSON copies a number into a 64-byte buffer */
#define JSON_MAX_INDENT 32
#define JSON_SPARSE_MIN 1000 /* arrays up to this index may have any number of holes */
#define JSON_SPARSE_RATIO 10

/* Upvalues of every function of the module. */
#define UV_NULL lua_upvalueindex(1)
#define UV_ARRAY_MT lua_upvalueindex(2)
#define UV_OBJECT_MT lua_upvalueindex(3)

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

int th_json_decode(lua_State *L); /* json.decode */
int th_json_encode(lua_State *L); /* json.encode */
/* Whether json.encode would write the table at t as an array (called with the upvalues). */
int th_json_is_array_table(lua_State *L, int t);

#endif
