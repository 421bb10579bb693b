/* strong.c - the strong hash of a file: a list of piece SHA-256s and its root (strong.h). */
#include "agent/strong.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/err.h"

static int piece_done(strong_t *h) {
    uint8_t d[32];
    if (EVP_DigestFinal_ex(h->piece, d, NULL) != 1 || EVP_DigestUpdate(h->root, d, 32) != 1 ||
        EVP_DigestInit_ex(h->piece, EVP_sha256(), NULL) != 1)
        return MIG_ENOMEM;
    h->in_piece = 0;
    if (!h->keep)
        return 0;
    if (h->npieces == h->cap) {
        uint64_t cap = h->cap ? h->cap * 2 : 64;
        uint8_t(*p)[32] = realloc(h->pieces, (size_t)cap * 32);
        if (p == NULL)
            return MIG_ENOMEM;
        h->pieces = p, h->cap = cap;
    }
    memcpy(h->pieces[h->npieces++], d, 32);
    return 0;
}

int strong_init(strong_t *h, int keep) {
    memset(h, 0, sizeof *h);
    h->keep = keep;
    h->piece = EVP_MD_CTX_new();
    h->root = EVP_MD_CTX_new();
    if (h->piece == NULL || h->root == NULL || EVP_DigestInit_ex(h->piece, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(h->root, EVP_sha256(), NULL) != 1) {
        strong_free(h);
        return MIG_ENOMEM;
    }
    return 0;
}

int strong_update(strong_t *h, const void *data, size_t len) {
    const unsigned char *d = data;
    while (len > 0) {
        size_t n = STRONG_PIECE - h->in_piece < len ? STRONG_PIECE - h->in_piece : len;
        if (EVP_DigestUpdate(h->piece, d, n) != 1)
            return MIG_ENOMEM;
        h->in_piece += n, d += n, len -= n;
        if (h->in_piece == STRONG_PIECE && piece_done(h) != 0)
            return MIG_ENOMEM;
    }
    return 0;
}

int strong_final(strong_t *h, uint8_t out[32]) {
    if (h->in_piece > 0 && piece_done(h) != 0)
        return MIG_ENOMEM;
    return EVP_DigestFinal_ex(h->root, out, NULL) == 1 ? 0 : MIG_ENOMEM;
}

uint8_t (*strong_take(strong_t *h, uint64_t *n))[32] {
    uint8_t(*p)[32] = h->pieces;
    *n = h->npieces;
    h->pieces = NULL, h->npieces = h->cap = 0;
    return p;
}

void strong_free(strong_t *h) {
    EVP_MD_CTX_free(h->piece);
    EVP_MD_CTX_free(h->root);
    free(h->pieces);
    memset(h, 0, sizeof *h);
}

int strong_piece(const void *data, size_t len, uint8_t out[32]) {
    return EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : MIG_ENOMEM;
}

int strong_root(const uint8_t (*pieces)[32], uint64_t n, uint8_t out[32]) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             (n == 0 || EVP_DigestUpdate(c, pieces, (size_t)n * 32) == 1) && EVP_DigestFinal_ex(c, out, NULL) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : MIG_ENOMEM;
}
