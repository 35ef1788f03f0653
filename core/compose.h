/* core/compose.h — app-compose.json: the exact text Phala Cloud and dstack hash, the compose
 * hash, the app id, and a builder for a new app-compose (shared/specs/phala-cloud.md section 6).
 *
 * The compose hash is SHA-256 over the bytes of app-compose.json. A client that wants to know it
 * before deploying must write those bytes exactly as the JavaScript SDKs do, so the serializer
 * here is hand-written: cJSON's printer keeps keys in insertion order, indents with tabs and
 * formats numbers with %1.15g/%1.17g (1e+20, -0, 4.94065645841247e-324 where JavaScript writes
 * 100000000000000000000, 0, 5e-324). Three forms:
 *
 *  - TH_COMPOSE_COMPACT: dstack-sdk getComposeHash(obj, normalize=false) (@phala/dstack-sdk
 *    0.5.x, re-exported by @phala/cloud 0.2.x). Keys sorted recursively (also inside arrays),
 *    compact JSON.stringify.
 *  - TH_COMPOSE_NORMALIZED: getComposeHash(obj, normalize=true): first, at the top level only,
 *    runner "bash" drops docker_compose_file, runner "docker-compose" drops bash_script, and a
 *    pre_launch_script that JavaScript finds falsy ("", 0, false, null) is dropped.
 *  - TH_COMPOSE_LEGACY: @phala/cloud 0.0.x getHash()/toString(): normalized, sorted,
 *    JSON.stringify(…, null, 4), then every `": ` becomes `":` — also inside string values, so
 *    the text does not decode to the same data. Only to reproduce old hashes.
 *
 * The strict JSON check is core/json_strict.h, the number formatting core/js_number.h.
 *
 * What "as JavaScript does" means here, byte for byte (each checked against node 20 and the real
 * SDK code, see tests/unit/test_compose.c):
 *  - A tree is read as JSON.parse would build the object: of duplicate keys the last value wins
 *    (at the place of the first).
 *  - Keys sort by UTF-16 code units (Array.prototype.sort), so U+E000..U+FFFF come after
 *    supplementary characters, and "Zeta" < "alpha". But JavaScript objects list array-index keys
 *    ("0".."4294967294", canonical decimal) first, in numeric order, whatever order they were
 *    inserted in: {"b":1,"10":2,"9":3} serializes as {"9":3,"10":2,"b":1}.
 *  - The SDK sorts an object only when `obj.constructor === Object`; an object with its own
 *    "constructor" member fails that test and is written, with everything inside it, in parse
 *    order (array-index keys still first). A "__proto__" member of a sorted object is dropped
 *    (`result["__proto__"] = v` sets the prototype instead of adding a member).
 *  - Numbers as Number.prototype.toString: the shortest decimal that reads back as the same
 *    double, plain digits for 1e-6 <= |x| < 1e21, "1e+21" / "1.5e-7" style otherwise;
 *    -0 is "0"; NaN and ±Infinity (cJSON reads 1e400 as inf, JSON.parse as Infinity) are "null".
 *  - Strings: `"` `\` and \b \f \n \r \t escaped by name, other controls as \u00XX (lowercase),
 *    everything else — DEL, U+2028, emoji — as raw UTF-8.
 *
 * Decisions where JavaScript and C part ways: a string must be valid UTF-8 (invalid bytes, which a
 * JS reader would turn into U+FFFD, are refused: the hash of a guess is worthless); a JSON text
 * may not contain \u0000 (cJSON strings end at NUL) or an unpaired surrogate escape (cJSON cannot
 * hold it; JSON.stringify would write it back as \udXXX); nesting is limited to
 * TH_COMPOSE_MAX_DEPTH containers; the top level must be an object.
 *
 * Nothing is async. Every returned string or tree is owned by the caller. */
#ifndef TH_COMPOSE_H
#define TH_COMPOSE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "js_number.h"

#define TH_COMPOSE_MAX_DEPTH 512 /* nested objects/arrays, the top-level object included */
#define TH_COMPOSE_NUMBER_MAX TH_JS_NUMBER_MAX /* th_compose_format_number's buffer (32) */
#define TH_COMPOSE_HASH_HEX 65   /* 64 lowercase hex digits and a NUL */
#define TH_COMPOSE_APP_ID_HEX 41 /* 40 lowercase hex digits and a NUL */
/* @phala/cloud 0.2.x refuses a docker-compose file plus pre-launch script above 200 KiB. */
#define TH_COMPOSE_MAX_FILES_BYTES ((size_t)200 * 1024)

enum th_compose_form {
  TH_COMPOSE_COMPACT,    /* getComposeHash(obj, false): the bytes Phala Cloud writes today */
  TH_COMPOSE_NORMALIZED, /* getComposeHash(obj, true) */
  TH_COMPOSE_LEGACY,     /* @phala/cloud 0.0.x, 4-space indent and `": ` -> `":` */
};

/* "compact", "normalized", "legacy" (NULL for an unknown value). */
const char *th_compose_form_name(enum th_compose_form form);

/* Parses an app-compose JSON text of len bytes (need not be NUL-terminated) into a cJSON tree
 * the caller frees with cJSON_Delete. The text is first checked strictly against the JSON grammar
 * that JSON.parse accepts (no leading zeros, no raw control characters, only space/tab/CR/LF as
 * white space, no byte order mark) plus the limits above, so that what passes means one thing to
 * both. Errors: TH_EBADDATA "compose: invalid JSON at byte 17: expected ':' after a key" (the
 * offset counts from 0), "compose: app-compose must be a JSON object, not an array"; TH_ENOMEM. */
cJSON *th_compose_parse(const char *json, size_t len, th_err *err);

/* The text `form` of the app-compose object `compose` hashes: malloc'd, NUL-terminated, its length
 * in *out_len (may be NULL); the caller frees it. The tree is only read. Errors: TH_EINVAL for a
 * tree that is not an object or holds a NULL string/key or a cJSON_Raw item; TH_EBADDATA
 * "compose: string is not valid UTF-8 (byte 0xff at 3)"; TH_ETOOBIG "compose: nesting deeper than
 * 512"; TH_ENOMEM. */
char *th_compose_serialize(const cJSON *compose, enum th_compose_form form, size_t *out_len,
                           th_err *err);

/* th_compose_parse, then th_compose_serialize. */
char *th_compose_serialize_text(const char *json, size_t len, enum th_compose_form form,
                                size_t *out_len, th_err *err);

/* SHA-256 of len bytes as lowercase hex: the compose hash of app-compose.json text taken as it
 * is (the attestation's tcb_info.app_compose, a stored file). 0, or -1 with TH_ENOMEM. */
int th_compose_hash_bytes(const void *bytes, size_t len, char hash[TH_COMPOSE_HASH_HEX],
                          th_err *err);

/* The compose hash of the text `form` of a tree / of a JSON text. Errors as above. */
int th_compose_hash(const cJSON *compose, enum th_compose_form form, char hash[TH_COMPOSE_HASH_HEX],
                    th_err *err);
int th_compose_hash_text(const char *json, size_t len, enum th_compose_form form,
                         char hash[TH_COMPOSE_HASH_HEX], th_err *err);

/* The legacy/centralized-KMS app id: the first 40 hex digits of a compose hash (dstack vmm-cli
 * calc_app_id), written in lowercase. On-chain KMS apps have a contract address instead, and a
 * Phala KMS id comes from the provision reply (spec 6.4): the attested app-id event is the truth.
 * Either case is read (a hash may come from a server); TH_EBADDATA unless hash_hex is exactly 64
 * hex digits: "compose hash: expected 64 hex digits, got 8"; TH_EINVAL for NULL. */
int th_compose_app_id(const char *hash_hex, char app_id[TH_COMPOSE_APP_ID_HEX], th_err *err);

/* Writes x as JSON.stringify(x) would (see above) and returns the length, at most 25: the same
 * as th_js_number_format (js_number.h). */
size_t th_compose_format_number(double x, char out[TH_COMPOSE_NUMBER_MAX]);

/* What goes into a new app-compose besides the docker-compose file (spec 6.5). */
typedef struct th_compose_options {
  const char *name;                /* required, non-empty: the app name */
  const char *pre_launch_script;   /* NULL: no member; "" is written as "" */
  const char *key_provider_id;     /* NULL: no member (dstack >= 0.5 manifest only) */
  const char *const *allowed_envs; /* the env var names the CVM may receive, in order */
  size_t n_allowed_envs;
  bool kms_enabled, gateway_enabled, public_logs, public_sysinfo, public_tcbinfo;
  bool local_key_provider_enabled, no_instance_id, secure_time;
  /* The dstack 0.3 manifest `phala cvms create` 1.0.35 sends: docker_config, features ["kms",
   * "tproxy-net"], tproxy_enabled for the gateway, no runner; allowed_envs only when given. */
  bool legacy_v03;
} th_compose_options;

/* Zeroes opt and sets what a Phala Cloud deployment uses: kms_enabled, gateway_enabled,
 * public_logs, public_sysinfo, public_tcbinfo true; everything else false/NULL. */
void th_compose_options_init(th_compose_options *opt);

/* A new app-compose object (cJSON_Delete it) for the docker-compose file text dc[0, len). For a
 * dstack >= 0.5 manifest the members are manifest_version 2, name, runner "docker-compose",
 * docker_compose_file, the flags of opt, key_provider_id if set, allowed_envs (always, [] when
 * empty: dstack >= 0.5 drops env vars not listed), pre_launch_script if set. Hash it with
 * TH_COMPOSE_COMPACT. Errors: TH_EINVAL "compose: the app name is empty", "compose:
 * allowed_envs[2] \"export X\" is not a valid variable name", "compose: allowed_envs lists
 * \"A\" twice"; TH_EBADDATA for text that is not UTF-8 or holds a NUL byte; TH_ETOOBIG when
 * compose and script exceed TH_COMPOSE_MAX_FILES_BYTES; TH_ENOMEM. */
cJSON *th_compose_build(const char *dc, size_t len, const th_compose_options *opt, th_err *err);

#endif
