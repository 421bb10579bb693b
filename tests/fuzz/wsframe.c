/* wsframe.c - libFuzzer target: WebSocket frames from clients (core/wsframe.c), read as
 * the relay reads them: a header, its payload unmasked, a close frame's status code, a
 * text frame's UTF-8 check. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wsframe.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    size_t at = 0;
    /* a stream of frames, as they arrive on one connection */
    while (at < size) {
        wsframe_header_t h;
        int rv = wsframe_header_parse(buf + at, size - at, WSFRAME_FROM_CLIENT, &h);
        if (rv != 1) break;
        if (h.header_len < 2 || h.header_len > WSFRAME_HEADER_MAX || h.header_len > size - at) abort();
        if (h.opcode >= WSFRAME_OP_CLOSE && (h.len > WSFRAME_CONTROL_MAX || !h.fin)) abort();
        at += h.header_len;
        if (h.len > size - at) break; /* the rest has not arrived */
        size_t n = (size_t)h.len;
        wsframe_mask(buf + at, n, h.mask, 0);
        if (h.opcode == WSFRAME_OP_CLOSE) {
            int code = wsframe_close_code(buf + at, n);
            unsigned char out[WSFRAME_CONTROL_MAX];
            if (wsframe_close_payload(out, code, NULL) > WSFRAME_CONTROL_MAX) abort();
        } else if (h.opcode == WSFRAME_OP_TEXT) {
            (void)utf8_valid_prefix((const char *)buf + at, n);
        }
        unsigned char head[WSFRAME_HEADER_MAX];
        size_t hl = wsframe_header_write(head, h.fin, h.opcode, h.len, h.mask);
        wsframe_header_t back;
        if (wsframe_header_parse(head, hl, WSFRAME_FROM_CLIENT, &back) != 1 || back.len != h.len || back.opcode != h.opcode ||
            back.fin != h.fin || memcmp(back.mask, h.mask, 4) != 0) abort();
        at += n;
    }
    free(buf);
    return 0;
}
