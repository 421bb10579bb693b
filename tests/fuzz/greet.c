/* greet.c - libFuzzer target: the greeting migrate-router reads before it routes a player
 * (router/greet.c), as net.c hands it over: at most GREET_BUFFER_MAX bytes, parsed again
 * as more arrive. A greeting it accepts must lie within the bytes, with NUL-terminated
 * fields; every shorter prefix of it must ask for more bytes rather than refuse them (a
 * client sending a byte at a time is routed the same); its host cleaned for the host map
 * (router/hostmap.c) stays within its size; and the JSON text the router answers with
 * (greet_json_text) is JSON whose text begins the input's, at any size. `make fuzz`
 * builds and runs it. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "router/greet.h"
#include "router/hostmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_greeting(const uint8_t *buf, size_t n, int k, const greet_t *g) {
    if ((size_t)k > n || g->handshake_len == 0 || g->handshake_len > (size_t)k) abort();
    if (g->host_len >= sizeof g->host || memchr(g->name, '\0', sizeof g->name) == NULL) abort();
    if (g->intent == MCPROTO_INTENT_STATUS) {
        if ((size_t)k != g->handshake_len || g->login_len != 0) abort();
    } else if (g->login_len == 0 || g->handshake_len + g->login_len != (size_t)k || g->name[0] == '\0') {
        abort();
    }
    for (size_t i = 0; i < (size_t)k; i++) {
        greet_t h;
        if (greet_parse(buf, i, &h) != 0) abort();
    }
    char host[HOSTMAP_HOST_MAX];
    int hl = hostmap_clean(g->host, g->host_len, host, sizeof host);
    if (hl >= 0 && ((size_t)hl >= sizeof host || strlen(host) != (size_t)hl)) abort();
    if (hl < 0 && hl != MIG_EINVALID) abort();
}

/* greet_json_text of `text` into `cap` bytes: NUL-terminated within them and, when it
 * fits the prefix, JSON {"text": a prefix of `text`}. */
static void check_json_text(const char *text, size_t cap) {
    char *out = malloc(cap ? cap : 1);
    if (out == NULL) return;
    greet_json_text(text, out, cap);
    if (cap == 0) goto out;
    if (memchr(out, '\0', cap) == NULL) abort();
    if (cap < 16) {
        if (out[0] != '\0') abort();
        goto out;
    }
    cJSON *j = cJSON_Parse(out);
    const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
    if (!cJSON_IsString(t) || strncmp(t->valuestring, text, strlen(t->valuestring)) != 0) abort();
    cJSON_Delete(j);
out:
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = size < GREET_BUFFER_MAX ? size : GREET_BUFFER_MAX; /* what net.c passes at most */
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, n);
    greet_t g;
    memset(&g, 0xA5, sizeof g);
    int k = greet_parse(buf, n, &g);
    if (k > 0) check_greeting(buf, n, k, &g);
    else if (k < 0 && k != MIG_EPROTO) abort();
    free(buf);

    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const size_t caps[] = {0, 1, 15, 16, 17, 24, 64, 256, 700};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) check_json_text(text, caps[i]);
    free(text);
    return 0;
}
