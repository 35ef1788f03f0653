/* core/js_number.c — Number.prototype.toString for doubles (see js_number.h for why it is
 * hand-written rather than printf). */
#include "js_number.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* strtod of the k digits d times 10^(e-k+1), written without a decimal point so that the
 * locale's radix character does not matter. */
static double digits_value(const char *d, int k, int e) {
  char buf[48];
  snprintf(buf, sizeof buf, "%.*se%d", k, d, e - k + 1);
  return strtod(buf, NULL);
}

/* printf's nearest k-digit decimal missed x; the grid neighbour on x's other side may still
 * read back as x (x a power of two: its rounding interval is twice as wide above as below).
 * Steps d (k digits, exponent *e) one unit toward x and keeps it if it reads back as x. */
static int try_neighbour(char *d, int k, int *e, int up, double x) {
  char t[20];
  int i, te = *e;
  memcpy(t, d, (size_t)k);
  if (up) {
    for (i = k - 1; i >= 0 && t[i] == '9'; i--) t[i] = '0';
    if (i < 0)
      t[0] = '1', te++; /* 999 -> 1000: "100" one decade up */
    else
      t[i]++;
  } else {
    for (i = k - 1; t[i] == '0'; i--) t[i] = '9';
    t[i]--;
    if (t[0] == '0') memset(t, '9', (size_t)k), te--; /* 100 -> 999 one decade down */
  }
  if (digits_value(t, k, te) != x) return 0;
  memcpy(d, t, (size_t)k);
  *e = te;
  return 1;
}

/* The shortest digits d (returns their count k) and decimal exponent *e with d[0].d[1..] x 10^e
 * == x > 0 that read back as x; of two such k-digit strings the nearer (printf rounds to the
 * nearest, ties to even: ECMA-262 Number::toString picks the same). %.15g would not be enough:
 * below 1e-308 fewer digits suffice (5e-324). */
static int shortest_digits(double x, char d[20], int *e) {
  char buf[40];
  int k = 0;
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, x);
    const char *s = buf;
    for (k = 0; *s != 'e'; s++)
      if (*s >= '0' && *s <= '9') d[k++] = *s;
    *e = atoi(s + 1);
    double v = strtod(buf, NULL); /* same locale as the snprintf that wrote it */
    if (v == x || try_neighbour(d, k, e, v < x, x)) break;
  }
  while (k > 1 && d[k - 1] == '0') k--;
  return k;
}

static char *put_zeros(char *o, int count) {
  for (int i = 0; i < count; i++) *o++ = '0';
  return o;
}

/* ECMA-262 Number::toString(x) for x != 0 with digits d[0, k) and n = exponent + 1 (the place of
 * the decimal point relative to the digits). */
static size_t js_layout(char *out, int neg, const char *d, int k, int n) {
  char *o = out;
  if (neg) *o++ = '-';
  if (k <= n && n <= 21) { /* integer: digits then zeros */
    memcpy(o, d, (size_t)k), o += k;
    o = put_zeros(o, n - k);
  } else if (0 < n && n <= 21) { /* the point falls inside the digits */
    memcpy(o, d, (size_t)n), o += n;
    *o++ = '.';
    memcpy(o, d + n, (size_t)(k - n)), o += k - n;
  } else if (-6 < n && n <= 0) { /* 0.000ddd */
    *o++ = '0', *o++ = '.';
    o = put_zeros(o, -n);
    memcpy(o, d, (size_t)k), o += k;
  } else { /* d.ddde+X / de-X */
    *o++ = d[0];
    if (k > 1) *o++ = '.', memcpy(o, d + 1, (size_t)(k - 1)), o += k - 1;
    o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
  }
  *o = '\0';
  return (size_t)(o - out);
}

size_t th_js_number_format(double x, char out[TH_JS_NUMBER_MAX]) {
  if (!isfinite(x)) return (size_t)sprintf(out, "null");
  if (x == 0) return (size_t)sprintf(out, "0"); /* also -0 */
  char d[20];
  int e;
  int k = shortest_digits(fabs(x), d, &e);
  return js_layout(out, x < 0, d, k, e + 1);
}
