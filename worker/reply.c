/* reply.c - reading agents' answers: bounded JSON, a clean error code, clean text. */
#include "worker/reply.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/jsonbody.h"

cJSON *reply_parse(const char *body, size_t n) {
    char why[128];
    return body && n > 0 ? jsonbody_parse(body, n, why, sizeof why) : NULL;
}

static bool code_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

bool reply_error_code(const char *body, size_t n, char *code, size_t cap) {
    if (cap > 0) code[0] = '\0';
    cJSON *j = reply_parse(body, n);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
    bool ok = cJSON_IsString(c) && c->valuestring[0] != '\0';
    size_t len = ok ? strlen(c->valuestring) : 0;
    ok = ok && len <= REPLY_CODE_MAX && len < cap;
    for (size_t i = 0; ok && i < len; i++) ok = code_char(c->valuestring[i]);
    if (ok) memcpy(code, c->valuestring, len + 1);
    cJSON_Delete(j);
    return ok;
}

const char *reply_clean_text(const char *in, char *out, size_t cap) {
    size_t o = 0;
    if (cap == 0) return out;
    for (const char *p = in ? in : ""; *p && o + 1 < cap && o < REPLY_TEXT_MAX; p++)
        out[o++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    out[o] = '\0';
    return out;
}

/* A number member, or `def` when absent, not a number, or outside what a long long holds. */
static double num(const cJSON *j, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v) || isnan(v->valuedouble) || fabs(v->valuedouble) > 9e18) return def;
    return v->valuedouble;
}

/* An int member kept in [lo, hi], else `def`. */
static int int_in(const cJSON *j, const char *k, int lo, int hi, int def) {
    double v = num(j, k, def);
    return v < lo || v > hi ? def : (int)v;
}

void reply_health(const cJSON *j, bool *healthy, long long *ram_free_mb, long long *disk_free_mb) {
    *healthy = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "healthy"));
    *ram_free_mb = (long long)num(j, "ram_free_mb", -1);
    *disk_free_mb = (long long)num(j, "disk_free_mb", -1);
}

void reply_container(const cJSON *j, driver_container_t *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->state, sizeof c->state, "absent");
    c->players = -1;
    if (j == NULL) return;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "state"), *a = cJSON_GetObjectItemCaseSensitive(j, "address");
    if (cJSON_IsString(s)) reply_clean_text(s->valuestring, c->state, sizeof c->state);
    c->healthy = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "healthy"));
    c->players = int_in(j, "players", 0, 1000000000, -1);
    if (cJSON_IsString(a)) reply_clean_text(a->valuestring, c->address, sizeof c->address);
}

void reply_sync(const cJSON *j, driver_sync_t *s) {
    memset(s, 0, sizeof *s);
    if (j == NULL) return;
    s->progress = int_in(j, "progress", 0, 100, 0);
    s->bytes_total = (long long)num(j, "bytes_total", 0);
    s->bytes_done = (long long)num(j, "bytes_done", 0);
    s->dirty_bytes = (long long)num(j, "dirty_bytes", 0);
    s->done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done"));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(e)) reply_clean_text(e->valuestring, s->error, sizeof s->error);
}
