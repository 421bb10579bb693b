/* arena.h - a bump allocator for the many small objects of one reply: a page of 50
 * records read from Redis is about 6,000 reply objects, and allocating and freeing each
 * with malloc was the largest cost of the API's list (bench/RESULTS.md, list). Blocks are
 * kept across resets, so a connection that reads page after page allocates nothing once
 * its blocks are big enough. Pure. */
#ifndef MIG_ARENA_H
#define MIG_ARENA_H

#include <stddef.h>

#define ARENA_BLOCK 65536 /* bytes of a block: a page of 50 records fits in two */

typedef struct arena_block arena_block_t;

typedef struct {
    arena_block_t *head; /* every block, in order of allocation */
    arena_block_t *cur;  /* the block being filled */
} arena_t;

/* An empty arena: no memory until the first arena_alloc(). */
void arena_init(arena_t *a);

/* `n` bytes aligned for any type, valid until the next arena_reset() or arena_free();
 * NULL when out of memory. */
void *arena_alloc(arena_t *a, size_t n);

/* Forgets every allocation and keeps the blocks for the next ones. */
void arena_reset(arena_t *a);

/* Frees every block. */
void arena_free(arena_t *a);

#endif
