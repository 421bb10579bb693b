/* evid.c - event ids "<ms>-<seq>": parsed, compared, printed. */
#include "core/evid.h"

#include <stdio.h>

#include "core/err.h"

int evid_parse(const char *s, size_t n, evid_t *id) {
    uint64_t part[2] = {0, 0};
    int k = 0;
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '-' && k == 0 && digits > 0) {
            k = 1;
            digits = 0;
            continue;
        }
        if (ch < '0' || ch > '9') return MIG_EINVALID;
        unsigned d = (unsigned)(ch - '0');
        if (part[k] > (UINT64_MAX - d) / 10) return MIG_EINVALID;
        part[k] = part[k] * 10 + d;
        digits++;
    }
    if (k != 1 || digits == 0) return MIG_EINVALID;
    id->ms = part[0];
    id->seq = part[1];
    return 0;
}

int evid_cmp(evid_t a, evid_t b) {
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

char *evid_format(evid_t id, char *out) {
    snprintf(out, EVID_TEXT_MAX, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
    return out;
}
