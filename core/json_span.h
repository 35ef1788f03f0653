/* core/json_span.h — where a member's value lies in a JSON text, byte for byte.
 *
 * DCAP signatures cover the exact bytes of the "tcbInfo" / "enclaveIdentity" object inside a
 * PCS/PCCS response (shared/specs/tdx-quote.md 2.4), so the signed text is sliced out of the body
 * rather than printed back from a parse tree. Nothing allocates; the input is untrusted. */
#ifndef TH_JSON_SPAN_H
#define TH_JSON_SPAN_H

#include <stddef.h>

/* Finds the first top-level member called `key` of the JSON object in json[0, len) and sets
 * [*start, *end) to its value's bytes (e.g. from '{' to the matching '}'). Returns 0, or -1 when
 * the text is not an object, has no such member, or breaks off. Keys are compared as raw bytes
 * (a key written with escapes does not match). Validates only what it walks through: parse the
 * text with cJSON too. Never reads outside json[0, len); no recursion. */
int th_json_member_span(const char *json, size_t len, const char *key, size_t *start, size_t *end);

#endif
