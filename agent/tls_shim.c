/* tls_shim.c - built as lib/migrate-agent/libssl.so (soname libssl.so), loaded by the
 * agent before civetweb (agent/tls.h): civetweb 1.15 looks up SSL_get_peer_certificate,
 * which OpenSSL 3 renamed SSL_get1_peer_certificate. Every other name civetweb asks for
 * is found in the real libssl, this library's dependency. Not linked into any program. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

/* OpenSSL 1.1's SSL_get_peer_certificate: the peer's certificate with a reference the
 * caller frees (civetweb calls X509_free on it), or NULL. */
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *SSL_get_peer_certificate(const SSL *s) {
    return SSL_get1_peer_certificate(s);
}
