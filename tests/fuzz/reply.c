/* reply.c - libFuzzer target: agents' answers as the worker reads them (worker/reply.c).
 * Any bytes as the body of an error, a health, a container and a sync answer; nothing
 * that reaches error_message may hold a byte outside printable ASCII. `make fuzz` builds
 * and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable_or_abort(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size + 1);
    if (body == NULL) return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    char code[REPLY_CODE_MAX + 1];
    if (reply_error_code(body, size, code, sizeof code)) {
        if (code[0] == '\0' || strlen(code) > REPLY_CODE_MAX) abort();
        printable_or_abort(code);
    }
    char text[REPLY_TEXT_MAX + 1];
    reply_clean_text(body, text, sizeof text);
    printable_or_abort(text);
    cJSON *j = reply_parse(body, size);
    bool healthy;
    long long ram, disk;
    reply_health(j, &healthy, &ram, &disk);
    driver_container_t c;
    memset(&c, 0, sizeof c);
    reply_container(j, &c);
    driver_sync_t s;
    memset(&s, 0, sizeof s);
    reply_sync(j, &s);
    cJSON_Delete(j);
    free(body);
    return 0;
}
