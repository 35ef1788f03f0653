/* core/json_strict.h — is a text exactly what JSON.parse accepts (and cJSON can hold)? And the
 * UTF-8 / UTF-16 helpers that go with it.
 *
 * cJSON's parser is lenient where JavaScript is not: it takes leading zeros, raw control
 * characters in strings, a byte order mark, invalid UTF-8, and it cuts a string short at \u0000.
 * Text that is hashed or compared with what a JavaScript client sees (the app-compose of
 * compose.h) must mean one thing to both, so it is checked first by this hand-written scanner
 * against the RFC 8259 grammar as ECMAScript's JSON.parse reads it — no leading zeros, only
 * space/tab/CR/LF as white space, no raw control characters, well-formed UTF-8 — plus what cJSON
 * cannot represent (\u0000, unpaired surrogate escapes, numbers over 63 characters) and a nesting
 * limit. Errors name the byte offset (from 0) of the problem.
 *
 * Nothing allocates; recursion is bounded by max_depth; never reads outside json[0, len). */
#ifndef TH_JSON_STRICT_H
#define TH_JSON_STRICT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* 0 when json[0, len) (need not be NUL-terminated; NULL only with len 0) is one JSON value with
 * optional white space around it, at most max_depth objects/arrays deep. Otherwise -1 with
 * TH_EBADDATA "<what>: invalid JSON at byte 17: expected ':' after a key" (also "unpaired
 * surrogate \ud800", "\u0000 is not supported (cJSON strings end at NUL)", "invalid UTF-8",
 * "control character 0x01 in a string", "nesting deeper than 512", ...). */
int th_json_strict_check(const char *json, size_t len, const char *what, int max_depth,
                         th_err *err);

/* Length of the longest prefix of s[0, n) that is well-formed UTF-8 (no overlong forms,
 * surrogates or values above U+10FFFF): n when all of it is, else the offset of the first byte
 * that does not start a valid sequence. */
size_t th_utf8_valid_prefix(const uint8_t *s, size_t n);

/* strcmp by UTF-16 code units, as JavaScript's Array.prototype.sort compares strings: U+E000..
 * U+FFFF sort after supplementary characters. Both must be NUL-terminated valid UTF-8 (check with
 * th_utf8_valid_prefix first). Negative, 0 or positive. */
int th_utf16_cmp(const char *a, const char *b);

#endif
