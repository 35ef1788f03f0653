/* core/x509_cache.c — see x509_cache.h. A small array scanned linearly: a verifier sees a handful
 * of distinct certificates (Intel's root, two CAs, the TCB signer, one PCK leaf per platform). */
#include "x509_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
  uint8_t key[32];
  X509 *x;
} entry;

typedef struct result {
  uint8_t key[32];
  int64_t from, until;
  int used;
} result;

#define RESULTS 64

struct th_x509_cache {
  size_t capacity, next;
  entry *entries;
  result results[RESULTS];
  size_t next_result;
};

th_x509_cache *th_x509_cache_new(size_t capacity) {
  th_x509_cache *c = calloc(1, sizeof *c);
  if (!c || !(c->entries = calloc(capacity ? capacity : 1, sizeof *c->entries))) {
    free(c);
    return NULL;
  }
  c->capacity = capacity ? capacity : 1;
  return c;
}

void th_x509_cache_free(th_x509_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->capacity; i++) X509_free(c->entries[i].x);
  free(c->entries);
  free(c);
}

X509 *th_x509_cache_get(th_x509_cache *c, const uint8_t key[32]) {
  for (size_t i = 0; c && i < c->capacity; i++) {
    entry *e = &c->entries[i];
    if (e->x && memcmp(e->key, key, 32) == 0) {
      X509_up_ref(e->x);
      return e->x;
    }
  }
  return NULL;
}

void th_x509_cache_put(th_x509_cache *c, const uint8_t key[32], X509 *x) {
  if (!c || !x || X509_up_ref(x) != 1) return;
  entry *e = &c->entries[c->next];
  c->next = (c->next + 1) % c->capacity;
  X509_free(e->x);
  memcpy(e->key, key, 32);
  e->x = x;
}

int th_x509_cache_result_ok(th_x509_cache *c, const uint8_t key[32], int64_t now,
                            int64_t *from, int64_t *until) {
  for (size_t i = 0; c && i < RESULTS; i++) {
    result *r = &c->results[i];
    if (!r->used || memcmp(r->key, key, 32) != 0) continue;
    if (now < r->from || now > r->until) return 0;
    if (from) *from = r->from;
    if (until) *until = r->until;
    return 1;
  }
  return 0;
}

void th_x509_cache_result_put(th_x509_cache *c, const uint8_t key[32], int64_t from,
                              int64_t until) {
  if (!c) return;
  for (size_t i = 0; i < RESULTS; i++) /* the same key again: replace its window */
    if (c->results[i].used && memcmp(c->results[i].key, key, 32) == 0) {
      c->results[i].from = from;
      c->results[i].until = until;
      return;
    }
  result *r = &c->results[c->next_result];
  c->next_result = (c->next_result + 1) % RESULTS;
  memcpy(r->key, key, 32);
  r->from = from;
  r->until = until;
  r->used = 1;
}
