/* test_arena.c - the bump allocator that holds a page's reply objects (core/arena.c). */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "suites.h"

START_TEST(test_allocations_are_aligned_distinct_and_writable) {
    arena_t a;
    arena_init(&a);
    unsigned char *prev = NULL;
    for (size_t n = 1; n < 3000; n += 7) {
        unsigned char *p = arena_alloc(&a, n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, (int)(n & 0xff), n); /* ASan catches a block smaller than asked */
        if (prev) ck_assert_ptr_ne(p, prev);
        prev = p;
    }
    arena_free(&a);
}
END_TEST

START_TEST(test_reset_hands_the_same_memory_out_again) {
    arena_t a;
    arena_init(&a);
    void *first[200];
    for (int i = 0; i < 200; i++) first[i] = arena_alloc(&a, 1000); /* several blocks */
    for (int round = 0; round < 3; round++) {
        arena_reset(&a);
        for (int i = 0; i < 200; i++) ck_assert_ptr_eq(arena_alloc(&a, 1000), first[i]);
    }
    arena_free(&a);
}
END_TEST

START_TEST(test_a_request_over_a_block_gets_its_own_and_blocks_after_it_are_reused) {
    arena_t a;
    arena_init(&a);
    unsigned char *small = arena_alloc(&a, 16);
    unsigned char *big = arena_alloc(&a, 3 * ARENA_BLOCK);
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 3 * ARENA_BLOCK);
    unsigned char *after = arena_alloc(&a, ARENA_BLOCK / 2);
    ck_assert_ptr_nonnull(after);
    memset(after, 2, ARENA_BLOCK / 2);
    arena_reset(&a);
    ck_assert_ptr_eq(arena_alloc(&a, 16), small);
    ck_assert_ptr_eq(arena_alloc(&a, 3 * ARENA_BLOCK), big);
    arena_free(&a);
    ck_assert_ptr_null(a.head);
}
END_TEST

Suite *suite_arena(void) {
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_allocations_are_aligned_distinct_and_writable);
    tcase_add_test(tc, test_reset_hands_the_same_memory_out_again);
    tcase_add_test(tc, test_a_request_over_a_block_gets_its_own_and_blocks_after_it_are_reused);
    suite_add_tcase(s, tc);
    return s;
}
