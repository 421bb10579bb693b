/* sentinel.c - parsing the sentinel list and the replies that locate the Redis primary. */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* ------------------------------------------------------------------------ the list */

static int list_err(char *err, size_t errlen, const char *why, const char *entry, size_t len) {
    if (err) snprintf(err, errlen, "MIG_REDIS_SENTINELS: %s in \"%.*s\"", why, (int)len, entry);
    return MIG_EINVALID;
}

/* Parses a port of `len` bytes at `s` into *port; 0 or -1. */
static int parse_port(const char *s, size_t len, int *port) {
    if (len == 0 || len > 5) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) return -1;
    *port = v;
    return 0;
}

/* Parses one entry "host", "host:port", "[v6]" or "[v6]:port" of `len` bytes. */
static int parse_entry(const char *e, size_t len, sentinel_addr_t *a, char *err, size_t errlen) {
    const char *host = e, *port = NULL;
    size_t hn;
    if (len > 0 && e[0] == '[') {
        const char *close = memchr(e, ']', len);
        if (close == NULL) return list_err(err, errlen, "unclosed [", e, len);
        host = e + 1;
        hn = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - e);
        if (rest > 0) {
            if (close[1] != ':') return list_err(err, errlen, "junk after ]", e, len);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(e, ':', len);
        /* a second colon without brackets is a bare IPv6 address: the port is ambiguous */
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - e)))
            return list_err(err, errlen, "IPv6 addresses need [brackets]", e, len);
        hn = colon ? (size_t)(colon - e) : len;
        if (colon) port = colon + 1;
    }
    if (hn == 0) return list_err(err, errlen, "empty host", e, len);
    if (hn > SENTINEL_HOST_MAX) return list_err(err, errlen, "host too long", e, len);
    memcpy(a->host, host, hn);
    a->host[hn] = '\0';
    a->port = SENTINEL_DEFAULT_PORT;
    if (port && parse_port(port, len - (size_t)(port - e), &a->port) != 0)
        return list_err(err, errlen, "bad port", e, len);
    return 0;
}

int sentinel_parse_list(const char *text, sentinel_list_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (text == NULL) text = "";
    const char *s = text;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        size_t len = strcspn(s, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (s[trimmed - 1] == ' ' || s[trimmed - 1] == '\t')) trimmed--;
        if (trimmed == 0) {
            int rv = list_err(err, errlen, *text ? "empty entry" : "empty list", text, strlen(text));
            memset(out, 0, sizeof *out);
            return rv;
        }
        if (out->n == SENTINEL_MAX) {
            if (err) snprintf(err, errlen, "MIG_REDIS_SENTINELS: more than %d sentinels", SENTINEL_MAX);
            memset(out, 0, sizeof *out);
            return MIG_EINVALID;
        }
        int rv = parse_entry(s, trimmed, &out->v[out->n], err, errlen);
        if (rv != 0) {
            memset(out, 0, sizeof *out);
            return rv;
        }
        out->n++;
        if (s[len] == '\0') return 0;
        s += len + 1;
    }
}

/* ------------------------------------------------------------------------ replies */

int sentinel_parse_master(const redisReply *r, sentinel_addr_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (r == NULL) {
        if (err) snprintf(err, errlen, "no reply");
        return MIG_EPROTO;
    }
    if (r->type == REDIS_REPLY_NIL) {
        if (err) snprintf(err, errlen, "the sentinel does not know this master");
        return MIG_ENOT_FOUND;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (err) snprintf(err, errlen, "%.*s", (int)r->len, r->str);
        return MIG_EREDIS;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        if (err) snprintf(err, errlen, "unexpected reply to SENTINEL get-master-addr-by-name");
        return MIG_EPROTO;
    }
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->len == 0 || h->len > SENTINEL_HOST_MAX || memchr(h->str, '\0', h->len) ||
        parse_port(p->str, p->len, &out->port) != 0) {
        if (err) snprintf(err, errlen, "bad address \"%.*s\":\"%.*s\" from the sentinel", (int)(h->len > 64 ? 64 : h->len),
                          h->str, (int)(p->len > 16 ? 16 : p->len), p->str);
        memset(out, 0, sizeof *out);
        return MIG_EPROTO;
    }
    memcpy(out->host, h->str, h->len);
    out->host[h->len] = '\0';
    return 0;
}

int sentinel_check_role(const redisReply *r, char *err, size_t errlen) {
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
        if (err) {
            if (r && r->type == REDIS_REPLY_ERROR) snprintf(err, errlen, "ROLE: %.*s", (int)r->len, r->str);
            else snprintf(err, errlen, "unexpected reply to ROLE");
        }
        return MIG_EPROTO;
    }
    const redisReply *role = r->element[0];
    if (role->len == 6 && memcmp(role->str, "master", 6) == 0) return 0;
    if (err) snprintf(err, errlen, "role is %.*s, not master", (int)(role->len > 32 ? 32 : role->len), role->str);
    return MIG_EREDIS;
}

/* ------------------------------------------------------------------------ the quorum */

static int same_addr(const sentinel_addr_t *a, const sentinel_addr_t *b) {
    return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

int sentinel_quorum(const sentinel_answer_t *answers, int n, sentinel_addr_t *out, int *votes) {
    int best = 0, at = -1;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        if (!answers[i].ok) continue;
        int v = 0;
        for (int j = 0; j < n; j++) v += answers[j].ok && same_addr(&answers[i].addr, &answers[j].addr);
        if (v > best) best = v, at = i;
    }
    if (votes) *votes = best;
    if (at < 0 || best < n / 2 + 1) return MIG_ENOT_FOUND;
    *out = answers[at].addr;
    return 0;
}

const char *sentinel_addr_format(const sentinel_addr_t *a, char *out, size_t cap) {
    if (strchr(a->host, ':')) snprintf(out, cap, "[%s]:%d", a->host, a->port);
    else snprintf(out, cap, "%s:%d", a->host, a->port);
    return out;
}
