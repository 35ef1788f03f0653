/* tests/unit/test_secret_pool.c — core/secret_pool: slots are zeroed, distinct and aligned,
 * span several blocks, are wiped when freed and reused, and the pool lives until its last
 * reference goes (ASan checks that nothing leaks or is touched after release). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "secret_pool.h"

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static void slots_are_zeroed_distinct_and_span_blocks(void **state) {
  (void)state;
  th_secret_pool *pool = th_secret_pool_new(32, 4);
  assert_non_null(pool);
  unsigned char *s[10];
  for (int i = 0; i < 10; i++) { /* 10 slots: three blocks of 4 */
    s[i] = th_secret_pool_alloc(pool);
    assert_non_null(s[i]);
    assert_true(all_zero(s[i], 32));
    assert_int_equal((uintptr_t)s[i] % 16, 0);
    memset(s[i], 0xA0 + i, 32);
  }
  for (int i = 0; i < 10; i++)
    for (int j = 0; j < 32; j++) assert_int_equal(s[i][j], 0xA0 + i); /* no overlap */
  assert_int_equal(th_secret_pool_live(pool), 10);
  for (int i = 0; i < 10; i++) th_secret_pool_free(pool, s[i]);
  assert_int_equal(th_secret_pool_live(pool), 0);
  th_secret_pool_unref(pool);
}

static void a_freed_slot_is_wiped_and_reused(void **state) {
  (void)state;
  th_secret_pool *pool = th_secret_pool_new(32, 8);
  unsigned char *a = th_secret_pool_alloc(pool);
  memset(a, 0x5a, 32);
  th_secret_pool_free(pool, a);
  /* The slot still belongs to the pool's block: past the free-list link it must be zero. */
  assert_true(all_zero(a + sizeof(void *), 32 - sizeof(void *)));
  unsigned char *b = th_secret_pool_alloc(pool);
  assert_ptr_equal(a, b); /* last freed, first reused */
  assert_true(all_zero(b, 32));
  th_secret_pool_free(pool, b);
  th_secret_pool_free(pool, NULL); /* no-op */
  th_secret_pool_unref(pool);
}

static void references_keep_the_pool(void **state) {
  (void)state;
  th_secret_pool *pool = th_secret_pool_new(20, 2); /* rounded up to 32 */
  th_secret_pool_ref(pool);      /* a holder of a slot */
  unsigned char *k = th_secret_pool_alloc(pool);
  memset(k, 1, 20);
  th_secret_pool_unref(pool);    /* the creator goes first */
  k[0] = 2;                      /* still valid memory (ASan would object otherwise) */
  th_secret_pool_free(pool, k);
  th_secret_pool_unref(pool);    /* the last reference frees every block */
  th_secret_pool_unref(NULL);
  assert_null(th_secret_pool_new(0, 4));
  assert_null(th_secret_pool_new(32, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(slots_are_zeroed_distinct_and_span_blocks),
      cmocka_unit_test(a_freed_slot_is_wiped_and_reused),
      cmocka_unit_test(references_keep_the_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
