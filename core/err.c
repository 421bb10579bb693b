/* err.c - messages and wire names of the MIG_E* codes. */
#include "err.h"

#include <string.h>

static const char *const names[] = {
    "OK",
#define X(c, n, m) n,
    MIG_ERRNO_MAP(X)
#undef X
};

static const char *const messages[] = {
    "ok",
#define X(c, n, m) m,
    MIG_ERRNO_MAP(X)
#undef X
};

const char *mig_strerror(int code) {
    if (code > 0 || -code >= MIG__E_END) return "unknown error";
    return messages[-code];
}

const char *mig_errname(int code) {
    if (code > 0 || -code >= MIG__E_END) return "UNKNOWN";
    return names[-code];
}

int err_from_reply(const char *reply, size_t len) {
    size_t w = 0;
    while (w < len && reply[w] != ' ') w++;
    for (int i = 1; i < MIG__E_END; i++) {
        if (strlen(names[i]) == w && memcmp(names[i], reply, w) == 0) return -i;
    }
    return MIG_EREDIS;
}
