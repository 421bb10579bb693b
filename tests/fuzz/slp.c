/* slp.c - libFuzzer target: Server List Ping answers (agent/slp.c): the bytes as a
 * server's packets for slp_read, and as the status JSON for slp_parse_status, whose text
 * fields must come out NUL-terminated within their size. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/slp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const slp_status_t *st) {
    if (memchr(st->version_name, '\0', sizeof st->version_name) == NULL) abort();
    if (memchr(st->description, '\0', sizeof st->description) == NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    size_t at = 0;
    while (at < size) {
        slp_reply_t r;
        int len = slp_read(buf + at, size - at, &r);
        if (len <= 0) break;
        if ((size_t)len > size - at) abort();
        if (r.kind == SLP_REPLY_STATUS) check(&r.status);
        at += (size_t)len;
    }
    slp_status_t st;
    if (slp_parse_status((const char *)buf, size, &st) == 0) check(&st);
    free(buf);
    return 0;
}
