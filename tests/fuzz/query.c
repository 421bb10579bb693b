/* query.c - libFuzzer target: the API's query strings and create bodies (api/query.c).
 * The input is a query string for query_parse_list, and, when it is JSON, the body of a
 * create and of an approve for each role. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "core/jsonbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *qs = malloc(size + 1);
    if (qs == NULL) return 0;
    memcpy(qs, data, size);
    qs[size] = '\0'; /* civetweb hands the handler a NUL-terminated query string */
    store_query_t q;
    query_list_buf_t buf;
    char err[512];
    if (query_parse_list(qs, &q, &buf, err, sizeof err) == 0) {
        if (q.limit < 0 || q.limit > QUERY_LIMIT_MAX || q.offset < 0) abort();
        if (strlen(buf.cursor) > STORE_CURSOR_MAX) abort();
    }
    cJSON *body = jsonbody_parse(qs, size, err, sizeof err);
    if (body != NULL) {
        static const role_t roles[] = {ROLE_OPERATOR, ROLE_OPTIMIZER};
        for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
            migration_create_t c;
            (void)query_parse_create(body, roles[i], &c, err, sizeof err);
        }
        int64_t nb;
        (void)query_parse_start(body, &nb, err, sizeof err);
        cJSON_Delete(body);
    }
    free(qs);
    return 0;
}
