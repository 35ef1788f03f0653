/* core/js_number.h — a double written as JavaScript writes it (Number.prototype.toString, which
 * JSON.stringify uses for finite numbers).
 *
 * The compose hash (compose.h) is SHA-256 over JSON text the JavaScript SDKs write, so every
 * number in it must come out byte for byte as node prints it. C's printf cannot do that: %.15g
 * loses digits, %.17g adds digits JavaScript does not write (0.1 -> 0.10000000000000001), and
 * cJSON's %1.15g/%1.17g printer writes 1e+20, -0 and 4.94065645841247e-324 where JavaScript
 * writes 100000000000000000000, 0 and 5e-324. Hence this hand-written formatter: the shortest
 * decimal that reads back as the same double (of two such, the nearer: ECMA-262 Number::toString),
 * laid out by ECMA-262's rules. The digits come from printf/strtod, so the C library's correctly
 * rounded conversions are relied on; no locale's radix character reaches the output.
 *
 * Nothing allocates; no state. */
#ifndef TH_JS_NUMBER_H
#define TH_JS_NUMBER_H

#include <stddef.h>

#define TH_JS_NUMBER_MAX 32 /* th_js_number_format's buffer, NUL included */

/* Writes x NUL-terminated to out as JSON.stringify(x) would and returns the length, at most 25:
 * the shortest round-tripping digits, plain for 1e-6 <= |x| < 1e21 ("100000000000000000000",
 * "0.000001"), exponent form otherwise ("1e+21", "1.5e-7", "5e-324"); -0 is "0"; NaN and
 * ±Infinity are "null" (JSON.stringify's choice; String(x) would say "NaN"/"Infinity"). */
size_t th_js_number_format(double x, char out[TH_JS_NUMBER_MAX]);

#endif
