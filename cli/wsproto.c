/* wsproto.c - the WebSocket opening handshake of a client, with SHA-1 and base64. */
#include "cli/wsproto.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* The GUID every server appends to the key before hashing it (RFC 6455 1.3). */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ------------------------------------------------------------------------ SHA-1 */

static uint32_t rol(uint32_t x, int n) {
    return (x << n) | (x >> (32 - n));
}

/* One 64-byte block into the state `h` (FIPS 180-4 section 6.1.2). */
static void sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 80; t++) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t tmp = rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void wsproto_sha1(const void *data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64) sha1_block(h, p);
    /* the tail: the rest, a 1 bit, zeros, and the length in bits in the last 8 bytes */
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < tl; off += 64) sha1_block(h, tail + off);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* ------------------------------------------------------------------------ base64 */

size_t wsproto_base64(const unsigned char *in, size_t n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------------------------ handshake */

void wsproto_key(const unsigned char nonce[WSPROTO_NONCE_LEN], char key[WSPROTO_KEY_LEN + 1]) {
    wsproto_base64(nonce, WSPROTO_NONCE_LEN, key);
}

void wsproto_accept(const char *key, char accept[WSPROTO_ACCEPT_LEN + 1]) {
    char joined[128];
    unsigned char digest[20];
    int n = snprintf(joined, sizeof joined, "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof joined) n = (int)sizeof joined - 1; /* a key is 24 bytes: never */
    wsproto_sha1(joined, (size_t)n, digest);
    wsproto_base64(digest, sizeof digest, accept);
}

int wsproto_request(char *out, size_t cap, const char *host, int port, const char *path, const char *key,
                    const char *token) {
    /* a CR or LF would end a header early and let a value add its own headers */
    if (strpbrk(host, "\r\n") || strpbrk(path, "\r\n") || strpbrk(key, "\r\n") || (token && strpbrk(token, "\r\n")))
        return -1;
    int v6 = strchr(host, ':') != NULL; /* an IPv6 literal is bracketed in Host */
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: migratectl\r\n"
                     "%s%s%s"
                     "\r\n",
                     path, v6 ? "[" : "", host, v6 ? "]" : "", port, key, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap) return -1;
    return n;
}

size_t wsproto_head_len(const char *buf, size_t n) {
    for (size_t i = 3; i < n; i++)
        if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n') return i + 1;
    return 0;
}

int wsproto_header(const char *head, size_t len, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    const char *end = head + len;
    const char *line = memchr(head, '\n', len); /* skip the status line */
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vl = (size_t)(ve - v);
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        line = eol < end ? eol : NULL;
    }
    return 0;
}

/* True when the comma-separated header value `list` holds `token` (case-insensitive):
 * "Connection: keep-alive, Upgrade" holds "upgrade". */
static int list_has(const char *list, const char *token) {
    size_t tl = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && p[m - 1] == ' ') m--;
        if (m == tl && strncasecmp(p, token, tl) == 0) return 1;
        p += n;
    }
    return 0;
}

int wsproto_check_answer(const char *head, size_t len, const char *key, char *err, size_t errlen) {
    int status = 0;
    char value[256], want[WSPROTO_ACCEPT_LEN + 1];
    if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)head[9]) ||
        sscanf(head + 9, "%3d", &status) != 1) {
        snprintf(err, errlen, "the answer is not HTTP");
        return MIG_EPROTO;
    }
    if (status != 101) return status;
    if (!wsproto_header(head, len, "Upgrade", value, sizeof value) || strcasecmp(value, "websocket") != 0) {
        snprintf(err, errlen, "101 without Upgrade: websocket");
        return MIG_EPROTO;
    }
    if (!wsproto_header(head, len, "Connection", value, sizeof value) || !list_has(value, "upgrade")) {
        snprintf(err, errlen, "101 without Connection: Upgrade");
        return MIG_EPROTO;
    }
    wsproto_accept(key, want);
    if (!wsproto_header(head, len, "Sec-WebSocket-Accept", value, sizeof value) || strcmp(value, want) != 0) {
        snprintf(err, errlen, "101 with a wrong Sec-WebSocket-Accept");
        return MIG_EPROTO;
    }
    return 101;
}
