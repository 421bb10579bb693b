/* rcon.c - libFuzzer target: what a Minecraft server answers over RCON (agent/rcon.c): a
 * stream of packets decoded and fed to a login and to a command's reassembled answer,
 * whose text then goes to the `list`, `save-all` and `save-off` readers. `make fuzz`
 * builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rcon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answers(const char *text, size_t n) {
    rcon_list_t l;
    memset(&l, 0, sizeof l);
    if (rcon_parse_list(text, n, &l) == 0 && (l.online < 0 || l.count > (size_t)l.online + n)) abort();
    rcon_list_free(&l);
    (void)rcon_parse_save_all(text, n);
    bool already;
    (void)rcon_parse_saving(text, n, false, &already);
    (void)rcon_parse_saving(text, n, true, &already);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    rcon_reply_t r;
    rcon_reply_init(&r, 2, 3, RCON_RESPONSE_PAYLOAD_MAX);
    size_t at = 0;
    int done = 0;
    while (at < size && !done) {
        rcon_packet_t pkt;
        int len = rcon_decode(buf + at, size - at, RCON_RESPONSE_PAYLOAD_MAX, &pkt);
        if (len <= 0) break;
        if ((size_t)len > size - at || pkt.body_len > (size_t)len) abort();
        (void)rcon_login_result(&pkt, 1);
        int rv = rcon_reply_feed(&r, &pkt);
        if (rv != 0) done = 1;
        if (r.len > r.max) abort();
        at += (size_t)len;
    }
    if (r.text) answers(r.text, r.len);
    rcon_reply_free(&r);
    answers((const char *)buf, size);
    free(buf);
    return 0;
}
