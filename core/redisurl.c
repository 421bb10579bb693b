/* redisurl.c - parsing MIG_REDIS_URL, and masking the password of any URL in a text. */
#include "redisurl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ------------------------------------------------------------------------ masking */

/* Where the userinfo of the URL whose "://" is at `sep` ends: the '@' before the host, or
 * NULL when the authority has none. The authority ends at '/', '?', '#', a space or the
 * end; a password may itself hold '@', so the last one before that end counts. */
static const char *userinfo_end(const char *sep) {
    const char *s = sep + 3, *at = NULL;
    for (; *s && !strchr("/?# \t\r\n\"'", *s); s++)
        if (*s == '@') at = s;
    return at;
}

int redisurl_has_secret(const char *text) {
    for (const char *p = text ? strstr(text, "://") : NULL; p; p = strstr(p + 3, "://"))
        if (userinfo_end(p)) return 1;
    return 0;
}

const char *redisurl_mask(const char *text, char *out, size_t cap) {
    size_t o = 0;
    if (cap == 0) return out;
    const char *s = text ? text : "";
    while (*s && o + 1 < cap) {
        const char *sep = strstr(s, "://");
        const char *upto = sep ? sep + 3 : s + strlen(s);
        while (s < upto && o + 1 < cap) out[o++] = *s++;
        const char *at = sep ? userinfo_end(sep) : NULL;
        if (at == NULL) continue; /* no URL left, or one without userinfo */
        /* user:password@ keeps the user; password@ alone is all secret */
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *keep_end = colon ? colon + 1 : s;
        while (s < keep_end && o + 1 < cap) out[o++] = *s++;
        for (const char *m = REDISURL_MASK; *m && o + 1 < cap; m++) out[o++] = *m;
        s = at;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ parsing */

static int url_err(char *err, size_t errlen, const char *url, const char *why) {
    if (err) {
        char shown[300];
        redisurl_mask(url, shown, sizeof shown);
        snprintf(err, errlen, "MIG_REDIS_URL: %s in \"%s\"", why, shown);
    }
    return MIG_EINVALID;
}

int redisurl_parse(const char *url, rconn_addr_t *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (url == NULL || *url == '\0') return url_err(err, errlen, "", "empty");
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7, *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (n == 0 || n >= sizeof a->path) return url_err(err, errlen, url, "bad socket path");
        memcpy(a->path, path, n);
        if (q) {
            if (strncmp(q, "?db=", 4) != 0) return url_err(err, errlen, url, "only ?db=N is understood");
            char *end;
            long db = strtol(q + 4, &end, 10);
            if (*end || end == q + 4 || db < 0 || db > 15) return url_err(err, errlen, url, "bad db");
            a->db = (int)db;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) return url_err(err, errlen, url, "must start with redis:// or unix://");
    const char *s = url + 8, *at = userinfo_end(url + 5);
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *pw = colon ? colon + 1 : s; /* redis://:pw@, redis://user:pw@, redis://pw@ */
        size_t un = colon ? (size_t)(colon - s) : 0, n = (size_t)(at - pw);
        if (un >= sizeof a->user) return url_err(err, errlen, url, "user too long");
        if (n >= sizeof a->password) return url_err(err, errlen, url, "password too long");
        if (un > 0 && n == 0) return url_err(err, errlen, url, "a user needs a password");
        memcpy(a->user, s, un);
        memcpy(a->password, pw, n);
        s = at + 1;
    }
    const char *slash = strchr(s, '/');
    size_t hostport = slash ? (size_t)(slash - s) : strlen(s);
    const char *colon = memchr(s, ':', hostport);
    size_t hn = colon ? (size_t)(colon - s) : hostport;
    if (hn == 0 || hn >= sizeof a->host) return url_err(err, errlen, url, "bad host");
    memcpy(a->host, s, hn);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != s + hostport || end == colon + 1 || port < 1 || port > 65535)
            return url_err(err, errlen, url, "bad port");
        a->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 15) return url_err(err, errlen, url, "bad db");
        a->db = (int)db;
    }
    return 0;
}
