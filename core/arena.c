/* arena.c - a bump allocator with kept blocks. */
#include "arena.h"

#include <stdalign.h>
#include <stdlib.h>

struct arena_block {
    arena_block_t *next;
    size_t cap, used; /* bytes of data[], bytes handed out */
    alignas(max_align_t) unsigned char data[];
};

void arena_init(arena_t *a) {
    a->head = a->cur = NULL;
}

void *arena_alloc(arena_t *a, size_t n) {
    const size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0) n = align;
    /* the current block, then any kept one after it with room (a reset arena refills its
     * blocks in order), then a new block, big enough for an oversized request */
    for (arena_block_t *b = a->cur; b != NULL; b = b->next) {
        if (b->cap - b->used >= n) {
            a->cur = b;
            b->used += n;
            return b->data + b->used - n;
        }
        if (b->next) b->next->used = 0;
    }
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    arena_block_t *b = malloc(sizeof *b + cap);
    if (b == NULL) return NULL;
    b->cap = cap;
    b->used = n;
    b->next = NULL;
    if (a->cur) {
        arena_block_t *last = a->cur;
        while (last->next) last = last->next;
        last->next = b;
    } else {
        a->head = b;
    }
    a->cur = b;
    return b->data;
}

void arena_reset(arena_t *a) {
    a->cur = a->head;
    if (a->head) a->head->used = 0;
}

void arena_free(arena_t *a) {
    arena_block_t *b = a->head;
    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    arena_init(a);
}
