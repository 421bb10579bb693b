/* rcon.c - Minecraft RCON packets, answer reassembly and answer parsers, pure (rcon.h). */
#include "rcon.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* ===================================================================================== *
 * Packets
 * ===================================================================================== */

/* Smallest value of the length field: id, type and the two NUL bytes, empty payload. */
#define RCON_LENGTH_MIN (RCON_HEADER - 4 + RCON_TRAILER)

static void put_le32(uint8_t *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

static int32_t get_le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

int rcon_encode(int32_t id, int32_t type, const char *body, size_t n, uint8_t *out, size_t cap) {
    if (n > RCON_REQUEST_PAYLOAD_MAX || (n && memchr(body, 0, n))) return MIG_EINVALID;
    size_t total = RCON_HEADER + n + RCON_TRAILER;
    if (total > cap) return MIG_EINVALID;
    put_le32(out, (int32_t)(total - 4));
    put_le32(out + 4, id);
    put_le32(out + 8, type);
    if (n) memcpy(out + RCON_HEADER, body, n);
    out[RCON_HEADER + n] = 0;
    out[RCON_HEADER + n + 1] = 0;
    return (int)total;
}

int rcon_decode(const uint8_t *p, size_t n, size_t max_payload, rcon_packet_t *pkt) {
    if (n < 4) return 0;
    int32_t len = get_le32(p);
    if (len < RCON_LENGTH_MIN || (size_t)len > RCON_LENGTH_MIN + max_payload) return MIG_EPROTO;
    if (n - 4 < (size_t)len) return 0;
    const uint8_t *end = p + 4 + len;
    if (end[-1] != 0 || end[-2] != 0) return MIG_EPROTO;
    pkt->id = get_le32(p + 4);
    pkt->type = get_le32(p + 8);
    pkt->body = (const char *)p + RCON_HEADER;
    size_t room = (size_t)len - RCON_LENGTH_MIN;
    const uint8_t *nul = memchr(p + RCON_HEADER, 0, room);
    pkt->body_len = nul ? (size_t)(nul - (p + RCON_HEADER)) : room;
    return 4 + len;
}

int rcon_login_result(const rcon_packet_t *pkt, int32_t login_id) {
    if (pkt->id == RCON_AUTH_FAILED_ID) return MIG_EREFUSED;
    if (pkt->id != login_id) return MIG_EPROTO;
    if (pkt->type == RCON_TYPE_AUTH_RESPONSE) return 0;
    if (pkt->type == RCON_TYPE_RESPONSE && pkt->body_len == 0) return 1;
    return MIG_EPROTO;
}

/* ===================================================================================== *
 * Reassembly
 * ===================================================================================== */

void rcon_reply_init(rcon_reply_t *r, int32_t cmd_id, int32_t probe_id, size_t max) {
    memset(r, 0, sizeof *r);
    r->cmd_id = cmd_id;
    r->probe_id = probe_id;
    r->max = max;
}

void rcon_reply_free(rcon_reply_t *r) {
    free(r->text);
    r->text = NULL;
    r->len = r->cap = 0;
}

int rcon_reply_feed(rcon_reply_t *r, const rcon_packet_t *pkt) {
    if (pkt->id == RCON_AUTH_FAILED_ID) return MIG_EREFUSED;
    if (pkt->type != RCON_TYPE_RESPONSE) return MIG_EPROTO;
    if (pkt->id == r->probe_id) {
        if (r->text == NULL) { /* an empty answer is still a NUL-terminated text */
            r->text = calloc(1, 1);
            if (r->text == NULL) return MIG_ENOMEM;
            r->cap = 1;
        }
        return 1;
    }
    if (pkt->id != r->cmd_id) return MIG_EPROTO;
    if (pkt->body_len > r->max - r->len) return MIG_EINVALID;
    if (r->len + pkt->body_len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + pkt->body_len + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (t == NULL) return MIG_ENOMEM;
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, pkt->body, pkt->body_len);
    r->len += pkt->body_len;
    r->text[r->len] = 0;
    return 0;
}

/* ===================================================================================== *
 * Answers (en_us texts of the vanilla server's commands, as 1.20.5 and 1.21 word them)
 * ===================================================================================== */

/* Whether `needle` occurs in the `n` bytes of `text`. */
static bool has(const char *text, size_t n, const char *needle) {
    return memmem(text, n, needle, strlen(needle)) != NULL;
}

/* A copy of the text without "\u00a7x" colour codes (UTF-8 c2 a7 and the code's byte),
 * NUL-terminated; NULL when out of memory. Caller frees. */
static char *strip_colours(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (out == NULL) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa7) {
            i += 2; /* the section sign and the code after it */
            continue;
        }
        out[j++] = s[i];
    }
    out[j] = 0;
    return out;
}

/* Reads a non-negative decimal at *p (at most 9 digits: player counts); advances *p. */
static bool read_count(const char **p, int *v) {
    const char *s = *p;
    int x = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 9) x = x * 10 + (*s++ - '0'), digits++;
    if (digits == 0 || (*s >= '0' && *s <= '9')) return false;
    *v = x;
    *p = s;
    return true;
}

/* Skips the literal `lit` at *p; false when the text differs. */
static bool skip(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0) return false;
    *p += n;
    return true;
}

static bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Appends the name in [s, e) to the list, without surrounding blanks and without a
 * `list uuids` suffix " (uuid)"; an empty name is skipped. */
static int list_add(rcon_list_t *l, const char *s, const char *e) {
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    if (e > s && e[-1] == ')') {
        const char *open = e - 1;
        while (open > s && *open != '(') open--;
        if (*open == '(' && open > s && open[-1] == ' ') e = open - 1;
    }
    if (e == s) return 0;
    char **names = realloc(l->names, (l->count + 1) * sizeof *names);
    if (names == NULL) return MIG_ENOMEM;
    l->names = names;
    char *name = malloc((size_t)(e - s) + 1);
    if (name == NULL) return MIG_ENOMEM;
    memcpy(name, s, (size_t)(e - s));
    name[e - s] = 0;
    l->names[l->count++] = name;
    return 0;
}

int rcon_parse_list(const char *text, size_t n, rcon_list_t *out) {
    memset(out, 0, sizeof *out);
    char *t = strip_colours(text, n);
    if (t == NULL) return MIG_ENOMEM;
    int rc = MIG_EPROTO;
    const char *p = strstr(t, "There are ");
    if (p == NULL) goto out;
    p += strlen("There are ");
    if (!read_count(&p, &out->online)) goto out;
    /* vanilla 1.13+: "N of a max of M players online:"; Bukkit, old vanilla: "N/M players
     * online:" */
    if (!(skip(&p, " of a max of ") || skip(&p, "/"))) goto out;
    if (!read_count(&p, &out->max)) goto out;
    if (!skip(&p, " players online:")) goto out;
    /* the names, ", "-separated, up to the end (over RCON nothing follows the answer) */
    const char *s = p;
    for (;; p++) {
        if (*p == ',' || *p == 0) {
            if ((rc = list_add(out, s, p)) < 0) goto out;
            if (*p == 0) break;
            s = p + 1;
        }
    }
    rc = 0;
out:
    free(t);
    if (rc < 0) rcon_list_free(out);
    return rc;
}

void rcon_list_free(rcon_list_t *l) {
    for (size_t i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

int rcon_parse_save_all(const char *text, size_t n) {
    if (has(text, n, "Saved the game")) return 0;            /* commands.save.success */
    if (has(text, n, "Unable to save the game")) return MIG_EIO; /* commands.save.failed */
    return MIG_EPROTO;
}

int rcon_parse_saving(const char *text, size_t n, bool on, bool *already) {
    /* commands.save.enabled / disabled, commands.save.alreadyOn / alreadyOff */
    const char *now = on ? "Automatic saving is now enabled" : "Automatic saving is now disabled";
    const char *was = on ? "Saving is already turned on" : "Saving is already turned off";
    if (has(text, n, now)) {
        *already = false;
        return 0;
    }
    if (has(text, n, was)) {
        *already = true;
        return 0;
    }
    return MIG_EPROTO;
}
