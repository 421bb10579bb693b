/* manifest.c - libFuzzer target: the sync manifest decoder (agent/manifest.c), which
 * reads a source agent's answers and the target's own record: whole and partial. What
 * it accepts must encode and decode back to the same bytes. `make fuzz` builds and runs
 * it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    static const int flags[] = {0, MANIFEST_DECODE_PARTIAL};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        manifest_t *m = NULL;
        char why[256];
        if (manifest_decode(buf, size, flags[i], &m, why, sizeof why) == 0) {
            unsigned char *enc = NULL;
            size_t len = 0;
            if (manifest_encode(m, &enc, &len) == 0) {
                if (len != size || memcmp(enc, buf, size) != 0) abort(); /* one encoding per manifest */
                free(enc);
            }
            manifest_free(m);
        }
    }
    free(buf);
    return 0;
}
