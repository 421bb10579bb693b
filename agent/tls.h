/* tls.h - what the agent's https needs from Debian's civetweb before it starts. */
#ifndef MIG_AGENT_TLS_H
#define MIG_AGENT_TLS_H

#include <stddef.h>

/* Where the agent looks for its TLS shim: this folder under the executable's folder's
 * parent (bin/migrate-agent -> lib/migrate-agent/libssl.so). */
#define AGENT_TLS_SHIM_DIR "lib/migrate-agent"

/* Makes civetweb's TLS safe to start. Debian 12's civetweb 1.15 loads libssl by name at
 * run time and calls SSL_get_peer_certificate on every handshake, a function OpenSSL 3
 * no longer exports (a macro now): its pointer stays NULL and the first https call kills
 * the agent. The shim (agent/tls_shim.c, built as lib/migrate-agent/libssl.so with that
 * soname, and an empty libcrypto.so beside it) is loaded here first, so civetweb's
 * dlopen("libssl.so") and dlopen("libcrypto.so") get the shim, which adds the function
 * and brings the real libraries as its dependencies. Built against OpenSSL 1.1 it does
 * nothing. Returns 0, or MIG_EINVALID with the reason in `err`. */
int agent_tls_prepare(char *err, size_t errlen);

#endif
