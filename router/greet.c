/* greet.c - the Handshake and Login Start read before routing, and the router's own
 * login and status answers (greet.h). */
#include "router/greet.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/err.h"

int greet_parse(const uint8_t *p, size_t n, greet_t *g) {
    if (n > 0 && p[0] == MCPROTO_LEGACY_PING_BYTE) return MIG_EPROTO;
    mcproto_frame_t f;
    int k = mcproto_frame_decode(p, n, GREET_HANDSHAKE_MAX, &f);
    if (k <= 0) return k;
    if (f.id != 0) return MIG_EPROTO;
    mcproto_handshake_t hs;
    if (mcproto_handshake_read(f.body, f.body_len, &hs) != 0) return MIG_EPROTO;
    memset(g, 0, sizeof *g);
    g->protocol = hs.protocol;
    g->intent = hs.intent;
    g->port = hs.port;
    memcpy(g->host, hs.host.p, hs.host.n);
    g->host_len = hs.host.n;
    g->handshake_len = (size_t)k;
    if (hs.intent == MCPROTO_INTENT_STATUS) return k;
    int l = mcproto_frame_decode(p + k, n - (size_t)k, GREET_LOGIN_MAX, &f);
    if (l <= 0) return l;
    if (f.id != 0) return MIG_EPROTO;
    if (mcproto_protocol_known(hs.protocol)) {
        mcproto_login_start_t ls;
        if (mcproto_login_start_read(hs.protocol, f.body, f.body_len, &ls) != 0) return MIG_EPROTO;
        memcpy(g->name, ls.name.p, ls.name.n);
        memcpy(g->uuid, ls.uuid, MCPROTO_UUID_BYTES);
    } else {
        mcreader_t r;
        mcproto_str_t s;
        mcreader_init(&r, f.body, f.body_len);
        if (mcreader_string(&r, MCPROTO_NAME_MAX, &s) != 0) return MIG_EPROTO;
        memcpy(g->name, s.p, s.n);
    }
    if (g->name[0] == '\0' || memchr(g->name, '\n', strlen(g->name))) return MIG_EPROTO;
    g->login_len = (size_t)l;
    return k + l;
}

int greet_offline_uuid(const char *name, uint8_t out[MCPROTO_UUID_BYTES]) {
    char text[64];
    int n = snprintf(text, sizeof text, "OfflinePlayer:%s", name);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (n < 0 || (size_t)n >= sizeof text || EVP_Digest(text, (size_t)n, md, &mdlen, EVP_md5(), NULL) != 1 ||
        mdlen != MCPROTO_UUID_BYTES)
        return MIG_EIO;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x30); /* version 3 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* IETF variant */
    memcpy(out, md, MCPROTO_UUID_BYTES);
    return 0;
}

void greet_login_success_write(mcbuf_t *b, int32_t protocol, const uint8_t uuid[MCPROTO_UUID_BYTES],
                               const char *name) {
    mcbuf_t body;
    mcbuf_init(&body);
    mcbuf_put_bytes(&body, uuid, MCPROTO_UUID_BYTES);
    mcbuf_put_string(&body, name, strlen(name), MCPROTO_NAME_MAX);
    mcbuf_put_varint(&body, 0); /* properties: none (no skin: the player is offline here) */
    mcbuf_put_u8(&body, 0);     /* strictErrorHandling */
    if (mcbuf_status(&body) == 0)
        mcproto_frame_write(b, mcproto_packet_id(protocol, MCPROTO_LOGIN_SUCCESS), body.buf, body.len);
    else
        mcbuf_put_string(b, name, strlen(name), MCPROTO_NAME_MAX); /* fails `b` the same way */
    mcbuf_free(&body);
}

void greet_json_text(const char *text, char *out, size_t cap) {
    size_t o = 0;
    const char *pre = "{\"text\":\"";
    if (cap < 16) {
        if (cap) out[0] = '\0';
        return;
    }
    memcpy(out, pre, strlen(pre));
    o = strlen(pre);
    for (const unsigned char *s = (const unsigned char *)text; *s && o + 8 < cap; s++) {
        if (*s == '"' || *s == '\\') out[o++] = '\\', out[o++] = (char)*s;
        else if (*s < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *s);
        else out[o++] = (char)*s;
    }
    memcpy(out + o, "\"}", 3);
}

void greet_status_write(mcbuf_t *b, int32_t protocol, const char *text, int online) {
    char desc[600], json[900];
    greet_json_text(text, desc, sizeof desc);
    int n = snprintf(json, sizeof json,
                     "{\"version\":{\"name\":\"migrate-router\",\"protocol\":%d},"
                     "\"players\":{\"max\":0,\"online\":%d},\"description\":%s}",
                     (int)protocol, online, desc);
    mcproto_status_response_write(b, json, (size_t)n);
}
