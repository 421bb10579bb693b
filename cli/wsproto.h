/* wsproto.h - the client's side of the WebSocket opening handshake (RFC 6455 section
 * 4.1): the key, the upgrade request, and the check of the server's answer, with the
 * SHA-1 and base64 that the check needs. Pure: no I/O; the frames themselves are
 * core/wsframe.h's. */
#ifndef MIG_CLI_WSPROTO_H
#define MIG_CLI_WSPROTO_H

#include <stddef.h>

#define WSPROTO_NONCE_LEN 16   /* random bytes of Sec-WebSocket-Key (RFC 6455 4.1) */
#define WSPROTO_KEY_LEN 24     /* their base64 */
#define WSPROTO_ACCEPT_LEN 28  /* base64 of a SHA-1 */
#define WSPROTO_HEAD_MAX 8192  /* longest answer head accepted: the API's is a few hundred bytes */

/* SHA-1 (FIPS 180-4) of `len` bytes. Used for Sec-WebSocket-Accept only, where RFC 6455
 * prescribes it; it protects nothing here, so its weakness does not matter. */
void wsproto_sha1(const void *data, size_t len, unsigned char out[20]);

/* Standard base64 with padding of `n` bytes into `out`, which must hold 4 * ceil(n / 3)
 * + 1 bytes. Returns the length written (without the NUL). */
size_t wsproto_base64(const unsigned char *in, size_t n, char *out);

/* The Sec-WebSocket-Key of `nonce`: its base64. */
void wsproto_key(const unsigned char nonce[WSPROTO_NONCE_LEN], char key[WSPROTO_KEY_LEN + 1]);

/* The Sec-WebSocket-Accept a server must answer to `key`. */
void wsproto_accept(const char *key, char accept[WSPROTO_ACCEPT_LEN + 1]);

/* Writes the upgrade request of `path` on `host`:`port` into `out`, with
 * "Authorization: Bearer <token>" when `token` is set. Returns its length, or -1 when
 * it does not fit in `cap` bytes or a value holds a CR or LF. */
int wsproto_request(char *out, size_t cap, const char *host, int port, const char *path, const char *key,
                    const char *token);

/* Length of the answer head in `buf` (through the blank line that ends it), or 0 when
 * it has not all arrived. */
size_t wsproto_head_len(const char *buf, size_t n);

/* Checks the answer head `head` (`len` bytes, as wsproto_head_len measured) to the
 * request made with `key`. Returns 101 when the connection is upgraded; the HTTP status
 * of any other answer (the caller reads its body); or MIG_EPROTO with the reason in
 * `err` for a head that is not HTTP, or a 101 whose Upgrade, Connection or
 * Sec-WebSocket-Accept is wrong (RFC 6455 4.1: the client must then fail). */
int wsproto_check_answer(const char *head, size_t len, const char *key, char *err, size_t errlen);

/* The value of header `name` in `head` (case-insensitive name), copied into `out`
 * without surrounding blanks. Returns 1 when found, 0 otherwise. */
int wsproto_header(const char *head, size_t len, const char *name, char *out, size_t cap);

#endif
