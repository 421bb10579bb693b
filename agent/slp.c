/* slp.c - Server List Ping requests and answers, pure (slp.h). */
#include "slp.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/err.h"

/* Depth of "extra" parts followed in a description: MOTDs nest two or three levels; a
 * deeper component is cut there rather than walked (cJSON already bounds the nesting). */
#define SLP_EXTRA_DEPTH 8

int slp_write_request(mcbuf_t *b, int32_t protocol, const char *host, uint16_t port) {
    mcproto_handshake_t hs = {protocol, {host, strlen(host)}, port, MCPROTO_INTENT_STATUS};
    mcproto_handshake_write(b, &hs);
    mcproto_status_request_write(b);
    return mcbuf_status(b);
}

int slp_write_ping(mcbuf_t *b, int64_t payload) {
    mcproto_ping_write(b, payload);
    return mcbuf_status(b);
}

/* Text being assembled into a fixed buffer: bytes past the end are dropped, and a cut
 * never splits a UTF-8 sequence. */
typedef struct {
    char *buf;
    size_t cap; /* bytes of buf, NUL included */
    size_t len;
} text_t;

static void text_put(text_t *t, const char *s) {
    for (size_t i = 0; s[i];) {
        /* the section sign c2 a7 and the code after it: colours and styles */
        if ((unsigned char)s[i] == 0xc2 && (unsigned char)s[i + 1] == 0xa7) {
            i += 2;
            if (s[i]) i++;
            while (((unsigned char)s[i] & 0xc0) == 0x80) i++; /* a code of several bytes */
            continue;
        }
        size_t k = 1; /* the length of the UTF-8 sequence starting at s[i] */
        while (((unsigned char)s[i + k] & 0xc0) == 0x80) k++;
        if (t->len + k >= t->cap) return; /* full: the text is cut here */
        memcpy(t->buf + t->len, s + i, k);
        t->len += k;
        t->buf[t->len] = 0;
        i += k;
    }
}

/* Appends a text component's plain text: a string, an object's "text" then its "extra"
 * parts, or an array's elements. */
static void text_component(text_t *t, const cJSON *c, int depth) {
    if (depth > SLP_EXTRA_DEPTH || c == NULL) return;
    if (cJSON_IsString(c)) {
        text_put(t, c->valuestring);
    } else if (cJSON_IsArray(c)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, c) text_component(t, e, depth + 1);
    } else if (cJSON_IsObject(c)) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (cJSON_IsString(text)) text_put(t, text->valuestring);
        text_component(t, cJSON_GetObjectItemCaseSensitive(c, "extra"), depth + 1);
    }
}

/* A JSON number that is an int within [0, INT32_MAX]. */
static bool json_count(const cJSON *j, int *v) {
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > INT32_MAX ||
        j->valuedouble != (double)(int)j->valuedouble)
        return false;
    *v = (int)j->valuedouble;
    return true;
}

int slp_parse_status(const char *json, size_t n, slp_status_t *st) {
    memset(st, 0, sizeof *st);
    cJSON *root = cJSON_ParseWithLength(json, n);
    int rc = MIG_EPROTO;
    if (!cJSON_IsObject(root)) goto out;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ver, "name");
    const cJSON *proto = cJSON_GetObjectItemCaseSensitive(ver, "protocol");
    if (!cJSON_IsString(name) || !cJSON_IsNumber(proto)) goto out;
    if (proto->valuedouble < INT32_MIN || proto->valuedouble > INT32_MAX) goto out;
    st->protocol = (int32_t)proto->valuedouble;
    text_t vn = {st->version_name, sizeof st->version_name, 0};
    text_put(&vn, name->valuestring);
    const cJSON *players = cJSON_GetObjectItemCaseSensitive(root, "players");
    if (players) {
        if (!json_count(cJSON_GetObjectItemCaseSensitive(players, "online"), &st->online) ||
            !json_count(cJSON_GetObjectItemCaseSensitive(players, "max"), &st->max))
            goto out;
        st->has_players = true;
    }
    text_t d = {st->description, sizeof st->description, 0};
    text_component(&d, cJSON_GetObjectItemCaseSensitive(root, "description"), 0);
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) memset(st, 0, sizeof *st);
    return rc;
}

int slp_read(const uint8_t *p, size_t n, slp_reply_t *r) {
    mcproto_frame_t f;
    int k = mcproto_frame_decode(p, n, SLP_FRAME_MAX, &f);
    if (k <= 0) return k;
    /* status-state ids are the same in every version since 1.7 (wiki.vg Protocol) */
    if (f.id == 0x00) {
        mcproto_str_t json;
        if (mcproto_status_response_read(f.body, f.body_len, &json)) return MIG_EPROTO;
        r->kind = SLP_REPLY_STATUS;
        if (slp_parse_status(json.p, json.n, &r->status)) return MIG_EPROTO;
        return k;
    }
    if (f.id == 0x01) {
        r->kind = SLP_REPLY_PONG;
        if (mcproto_ping_read(f.body, f.body_len, &r->pong)) return MIG_EPROTO;
        return k;
    }
    return MIG_EPROTO;
}
