/* jsonbody.c - libFuzzer target: request bodies (core/jsonbody.c). Any bytes go to
 * jsonbody_parse, as the API and the simulator hand it a body; a value it accepts must be
 * within the nesting bound, print, and parse back. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy: a read past the body is a fault under ASan */
    char *body = malloc(size ? size : 1);
    if (body == NULL) return 0;
    memcpy(body, data, size);
    char why[128];
    cJSON *j = jsonbody_parse(body, size, why, sizeof why);
    if (j != NULL) {
        if (jsonbody_depth(body, size, JSONBODY_DEPTH_MAX) > JSONBODY_DEPTH_MAX) abort();
        char *text = cJSON_PrintUnformatted(j);
        if (text != NULL) {
            cJSON *again = jsonbody_parse(text, strlen(text), why, sizeof why);
            if (again == NULL) abort(); /* what was accepted prints as acceptable JSON */
            cJSON_Delete(again);
            free(text);
        }
        cJSON_Delete(j);
    } else if (why[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    free(body);
    return 0;
}
