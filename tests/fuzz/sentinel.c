/* sentinel.c - libFuzzer target: what sentinels and servers answer (core/sentinel.c).
 * The input is read as RESP by hiredis's own reader, as a reply off the wire would be,
 * and handed to sentinel_parse_master and sentinel_check_role; the same bytes make the
 * answers of up to SENTINEL_MAX sentinels for sentinel_quorum, whose winner must hold a
 * majority, and are read as a MIG_REDIS_SENTINELS list. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/sentinel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replies(const uint8_t *data, size_t size) {
    redisReader *rd = redisReaderCreate();
    if (rd == NULL) return;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        void *r = NULL;
        while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
            sentinel_addr_t a;
            char err[256];
            if (sentinel_parse_master(r, &a, err, sizeof err) == 0) {
                if (a.port < 1 || a.port > 65535 || a.host[0] == '\0') abort();
                char out[SENTINEL_HOST_MAX + 16];
                sentinel_addr_format(&a, out, sizeof out);
            }
            (void)sentinel_check_role(r, err, sizeof err);
            freeReplyObject(r);
            r = NULL;
        }
    }
    redisReaderFree(rd);
}

/* Answers of n sentinels from the bytes: each ok or not, naming one of four hosts. */
static void quorum(const uint8_t *data, size_t size) {
    if (size == 0) return;
    static const char *const hosts[] = {"10.0.0.1", "10.0.0.2", "Redis-A.example", "redis-a.example"};
    sentinel_answer_t ans[SENTINEL_MAX];
    int n = data[0] % (SENTINEL_MAX + 1);
    memset(ans, 0, sizeof ans);
    for (int i = 0; i < n && (size_t)i + 1 < size; i++) {
        uint8_t b = data[i + 1];
        ans[i].ok = b & 1;
        snprintf(ans[i].addr.host, sizeof ans[i].addr.host, "%s", hosts[(b >> 1) & 3]);
        ans[i].addr.port = 6379 + ((b >> 3) & 1);
    }
    sentinel_addr_t out;
    int votes = 0;
    if (sentinel_quorum(ans, n, &out, &votes) == 0 && votes <= n / 2) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    replies(data, size);
    quorum(data, size);
    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sentinel_list_t l;
    char err[256];
    if (sentinel_parse_list(text, &l, err, sizeof err) == 0 && (l.n < 1 || l.n > SENTINEL_MAX)) abort();
    free(text);
    return 0;
}
