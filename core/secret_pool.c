/* core/secret_pool.c — see secret_pool.h. Blocks are kept in a singly linked list; free slots
 * in a free list threaded through the slots themselves (a freed slot is wiped, then its first
 * bytes hold the next pointer, which is no secret). */
#include "secret_pool.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct block {
  struct block *next;
  unsigned char *mem; /* sodium_malloc(slot_size * per_block) */
} block;

struct th_secret_pool {
  size_t slot_size, per_block;
  block *blocks;
  void *free_list;
  size_t live;
  int refs;
};

th_secret_pool *th_secret_pool_new(size_t slot_size, size_t per_block) {
  if (sodium_init() < 0 || slot_size == 0 || per_block == 0) return NULL;
  th_secret_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->slot_size = (slot_size + 15) & ~(size_t)15; /* room for the free-list pointer, aligned */
  p->per_block = per_block;
  p->refs = 1;
  return p;
}

void th_secret_pool_ref(th_secret_pool *pool) {
  pool->refs++;
}

void th_secret_pool_unref(th_secret_pool *pool) {
  if (!pool || --pool->refs > 0) return;
  for (block *b = pool->blocks, *next; b; b = next) {
    next = b->next;
    sodium_free(b->mem); /* wipes the whole block */
    free(b);
  }
  free(pool);
}

static int grow(th_secret_pool *p) {
  block *b = malloc(sizeof *b);
  if (!b || !(b->mem = sodium_malloc(p->slot_size * p->per_block))) {
    free(b);
    return -1;
  }
  sodium_memzero(b->mem, p->slot_size * p->per_block); /* sodium_malloc fills with 0xdb */
  for (size_t i = p->per_block; i-- > 0;) {
    void **slot = (void **)(b->mem + i * p->slot_size);
    *slot = p->free_list;
    p->free_list = slot;
  }
  b->next = p->blocks;
  p->blocks = b;
  return 0;
}

void *th_secret_pool_alloc(th_secret_pool *pool) {
  if (!pool->free_list && grow(pool) != 0) return NULL;
  void **slot = pool->free_list;
  pool->free_list = *slot;
  *slot = NULL;
  pool->live++;
  return slot;
}

void th_secret_pool_free(th_secret_pool *pool, void *slot) {
  if (!slot) return;
  sodium_memzero(slot, pool->slot_size);
  *(void **)slot = pool->free_list;
  pool->free_list = slot;
  pool->live--;
}

size_t th_secret_pool_live(const th_secret_pool *pool) {
  return pool->live;
}
