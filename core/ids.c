/* ids.c - UUIDv7 migration ids: a millisecond timestamp, then kernel randomness. */
#include "ids.h"

#include <errno.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/types.h>

#include "err.h"

/* Fills `buf` with `len` random bytes from getrandom(2). A signal can interrupt the call
 * before any byte is read (EINTR) or, for a large request, after some; the loop covers
 * both. Blocks only until the kernel's pool is first seeded, early at boot. Returns 0 or
 * MIG_EIO. */
static int random_bytes(unsigned char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return MIG_EIO;
        }
        got += (size_t)n;
    }
    return 0;
}

/* RFC 9562 section 5.7: unix_ts_ms (48 bits) | ver 0111 | rand_a (12) | var 10 |
 * rand_b (62). The timestamp leads, so the text of two ids made a millisecond or more
 * apart sorts in time order. A time before 1970 is taken as 0; past 2^48 ms (year 10889)
 * it wraps, as the RFC's field does. */
int ids_uuid7(char out[IDS_UUID_LEN + 1], int64_t ms) {
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int rv = random_bytes(b + 6, 10);
    if (rv != 0) return rv;
    uint64_t ts = ms < 0 ? 0 : (uint64_t)ms & 0xffffffffffffULL;
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ts >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));

    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0f];
    }
    *o = '\0';
    return 0;
}
