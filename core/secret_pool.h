/* core/secret_pool.h — many small secrets in few sodium_malloc blocks.
 *
 * sodium_malloc gives guard pages, mlock and no core dumps, but each call costs an mmap, three
 * mprotects, an mlock and, when freed, the reverse: ~40 µs, more than deriving the key it would
 * hold. A pool carves fixed-size slots out of sodium_malloc'd blocks of `per_block` slots, so a
 * secret still lives only in locked, guarded memory, and a slot costs a free-list pop. A freed
 * slot is wiped at once (sodium_memzero); blocks are released (and wiped by sodium_free) when the
 * pool's last reference goes.
 *
 * Ownership: th_secret_pool_new returns a pool with one reference; holders of slots that may
 * outlive the creator take their own (th_secret_pool_ref) and drop it after freeing their slot
 * (th_secret_pool_unref). Not thread-safe: one loop thread uses it. */
#ifndef TH_SECRET_POOL_H
#define TH_SECRET_POOL_H

#include <stddef.h>

typedef struct th_secret_pool th_secret_pool;

/* slot_size bytes per slot (rounded up to 16), per_block slots per sodium_malloc block. NULL when
 * libsodium cannot initialise or memory is short. */
th_secret_pool *th_secret_pool_new(size_t slot_size, size_t per_block);
void th_secret_pool_ref(th_secret_pool *pool);
void th_secret_pool_unref(th_secret_pool *pool); /* NULL is ok */

/* A zeroed slot, or NULL when out of (locked) memory. */
void *th_secret_pool_alloc(th_secret_pool *pool);
/* Wipes the slot and returns it to the pool. NULL is ok. */
void th_secret_pool_free(th_secret_pool *pool, void *slot);

/* Slots handed out and not freed (for tests and leak checks). */
size_t th_secret_pool_live(const th_secret_pool *pool);

#endif
