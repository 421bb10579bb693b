/* ws_frame.c - libFuzzer target: WebSocket frames from clients (api/ws_frame.c), read as
 * the relay reads them: a header, its payload unmasked, a close frame's status code, a
 * text frame's UTF-8 check. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/ws_frame.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    size_t at = 0;
    /* a stream of frames, as they arrive on one connection */
    while (at < size) {
        ws_header_t h;
        int rv = ws_header_parse(buf + at, size - at, &h);
        if (rv != 1) break;
        if (h.header_len < 2 || h.header_len > WS_HEADER_MAX || h.header_len > size - at) abort();
        if (h.opcode >= WS_OP_CLOSE && (h.len > WS_CONTROL_MAX || !h.fin)) abort();
        at += h.header_len;
        if (h.len > size - at) break; /* the rest has not arrived */
        size_t n = (size_t)h.len;
        if (h.masked) ws_mask(buf + at, n, h.mask, 0);
        if (h.opcode == WS_OP_CLOSE) {
            int code = ws_close_code(buf + at, n);
            unsigned char out[WS_CONTROL_MAX];
            if (ws_close_payload(out, code, NULL) > WS_CONTROL_MAX) abort();
        } else if (h.opcode == WS_OP_TEXT) {
            (void)utf8_valid_prefix((const char *)buf + at, n);
        }
        unsigned char head[WS_HEADER_MAX];
        size_t hl = ws_header_write(head, h.opcode, h.len, h.masked ? h.mask : NULL);
        ws_header_t back;
        if (ws_header_parse(head, hl, &back) != 1 || back.len != h.len || back.opcode != h.opcode) abort();
        at += n;
    }
    free(buf);
    return 0;
}
