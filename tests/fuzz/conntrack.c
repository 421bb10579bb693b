/* conntrack.c - libFuzzer target: the play-stream frame tracker of migrate-router
 * (router/conntrack.c) on any server-to-client bytes. The first input byte picks the
 * client's protocol, the second how the stream is cut into reads; the rest is the
 * stream. Fed in those pieces, stopping at frame boundaries as the router does for a
 * player it moves, the tracker must end where it ends fed all at once; it never reports
 * more bytes read than it was given; a stop is at a boundary; and a Transfer written at
 * any point where one may go is read back by the tracker as one whole frame that changes
 * nothing. `make fuzz` builds and runs it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/conntrack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const conntrack_t *a, const conntrack_t *b) {
    if (a->state == CONNTRACK_OPAQUE || b->state == CONNTRACK_OPAQUE) return a->state == b->state;
    return a->state == b->state && a->compressed == b->compressed && a->remaining == b->remaining &&
           a->head_len == b->head_len && memcmp(a->head, b->head, a->head_len) == 0;
}

/* A Transfer where one may go: the tracker reads it as one frame and stays as it was. */
static void check_transfer(const conntrack_t *t) {
    mcbuf_t b;
    mcbuf_init(&b);
    if (conntrack_write_transfer(t, &b, "mc.example.com", 25565) != 0) abort();
    conntrack_t copy = *t;
    if (conntrack_feed(&copy, b.buf, b.len, false) != b.len || !same(&copy, t) || !conntrack_can_inject(&copy))
        abort();
    mcbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int32_t protocols[] = {766, 767, 765, 0};
    if (size < 2) return 0;
    int32_t protocol = protocols[data[0] % 4];
    uint32_t seed = data[1] | 1u;
    size_t n = size - 2;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data + 2, n);

    conntrack_t whole, cut;
    conntrack_init(&whole, protocol);
    conntrack_init(&cut, protocol);
    if (conntrack_feed(&whole, buf, n, false) != n) abort();
    conntrack_t injected;
    conntrack_init(&injected, protocol);
    if (conntrack_can_inject(&injected)) abort(); /* the login state has no Transfer */

    size_t at = 0;
    while (at < n) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 64;
        if (piece > n - at) piece = n - at;
        bool stop = (seed >> 8) & 1;
        /* an exact heap copy of the read, so that a read past it is caught */
        uint8_t *p = malloc(piece);
        if (p == NULL) break;
        memcpy(p, buf + at, piece);
        size_t k = conntrack_feed(&cut, p, piece, stop);
        if (k > piece) abort();
        if (stop && k < piece) {
            /* it stopped: at a boundary, after a frame it read or where a Transfer fits */
            if (cut.remaining != 0 || cut.head_len != 0 || (k == 0 && !conntrack_can_inject(&cut))) abort();
            if (conntrack_can_inject(&cut)) check_transfer(&cut);
            k += conntrack_feed(&cut, p + k, piece - k, false);
        }
        if (k != piece) abort();
        if (conntrack_can_inject(&cut)) check_transfer(&cut);
        free(p);
        at += piece;
    }
    if (!same(&whole, &cut)) abort();
    free(buf);
    return 0;
}
