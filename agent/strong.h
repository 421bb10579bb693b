/* strong.h - the strong hash of a file in the world sync: the SHA-256 of the list of the
 * SHA-256s of its pieces (STRONG_PIECE bytes each, the last one shorter; an empty file
 * has none, so its hash is the SHA-256 of nothing).
 *
 * Why a list rather than the SHA-256 of the bytes: the target keeps each staging file's
 * piece hashes (agent/sync.h, "Verifying"), so a pass that rewrote a few blocks of a
 * region file hashes the pieces it wrote again, not the whole file; the root follows
 * from the list. The source computes the same root in one read of the file. A 32 KiB
 * piece is eight 4 KiB sectors of an Anvil region file, about one re-saved chunk, and
 * costs 32 bytes of record per 32 KiB of world (1 MiB per GiB). */
#ifndef MIG_AGENT_STRONG_H
#define MIG_AGENT_STRONG_H

#include <stddef.h>
#include <stdint.h>

#define STRONG_PIECE (32u << 10)

/* Pieces of a file of `size` bytes. */
static inline uint64_t strong_npieces(uint64_t size) {
    return (size + STRONG_PIECE - 1) / STRONG_PIECE;
}

/* A file's strong hash computed over its bytes in order, in chunks of any size. */
typedef struct strong {
    void *piece, *root; /* EVP_MD_CTX */
    size_t in_piece;    /* bytes of the current piece hashed so far */
    uint8_t (*pieces)[32]; /* when keeping: each piece's SHA-256, npieces of them */
    uint64_t npieces, cap;
    int keep;
} strong_t;

/* Starts a hash; `keep`: also keep each piece's SHA-256 (strong_take). 0 or MIG_ENOMEM. */
int strong_init(strong_t *h, int keep);
int strong_update(strong_t *h, const void *data, size_t len);
/* Ends the hash into `out`; 0 or MIG_ENOMEM. */
int strong_final(strong_t *h, uint8_t out[32]);
/* After strong_final of a keeping hash: its piece list (malloc'd, the caller frees) and
 * count; the hash no longer holds it. */
uint8_t (*strong_take(strong_t *h, uint64_t *n))[32];
void strong_free(strong_t *h);

/* The SHA-256 of one piece's `len` bytes. 0 or MIG_ENOMEM. */
int strong_piece(const void *data, size_t len, uint8_t out[32]);

/* The root of a list of `n` piece hashes. 0 or MIG_ENOMEM. */
int strong_root(const uint8_t (*pieces)[32], uint64_t n, uint8_t out[32]);

#endif
