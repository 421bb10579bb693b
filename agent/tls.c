/* tls.c - loads the TLS shim that Debian's civetweb needs with OpenSSL 3 (agent/tls.h). */
#include "agent/tls.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/opensslv.h>

#include "core/err.h"

int agent_tls_prepare(char *err, size_t errlen) {
#if OPENSSL_VERSION_MAJOR >= 3
    /* <folder of the executable>/../lib/migrate-agent/ */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "MIG_AGENT_TLS_CERT: cannot find the agent's own folder (/proc/self/exe)");
        return MIG_EINVALID;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    /* crypto first: the ssl shim's dependencies are then found loaded */
    const char *names[] = {"libcrypto.so", "libssl.so"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/../%s/%s", exe, AGENT_TLS_SHIM_DIR, names[i]);
        /* kept loaded for the agent's life: civetweb holds pointers into it */
        if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == NULL) {
            snprintf(err, errlen,
                     "MIG_AGENT_TLS_CERT: civetweb with OpenSSL 3 needs the agent's TLS shim (%s), installed "
                     "with the agent: %s",
                     path, dlerror());
            return MIG_EINVALID;
        }
    }
#else
    (void)err, (void)errlen;
#endif
    return 0;
}
