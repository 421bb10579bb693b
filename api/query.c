/* query.c - list queries and create bodies of the REST API. */
#include "api/query.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/err.h"
#include "core/states.h"
#include "core/timefmt.h"

/* The bytes of a list cursor ("<score>:<id>:<skip>"; ids are A-Z a-z 0-9 _ . : -). */
#define CURSOR_CHARS "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.:-"

static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the message and returns MIG_EINVALID, so a check reads `return bad(...)`. */
static int bad(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return MIG_EINVALID;
}

/* Reads one parameter: 1 present, 0 absent, MIG_EINVALID when too long. */
static int param(const char *qs, const char *name, char *out, size_t cap, char *err, size_t errlen) {
    if (qs == NULL) return 0;
    int n = mg_get_var(qs, strlen(qs), name, out, cap);
    if (n == -2) return bad(err, errlen, "%s: longer than allowed", name);
    return n >= 0;
}

/* A whole number in [lo, hi] from `text`. */
static int whole(const char *name, const char *text, long lo, long hi, long *out, char *err,
                 size_t errlen) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo || v > hi) {
        snprintf(err, errlen, "%s: must be a whole number from %ld to %ld, not \"%s\"", name, lo, hi, text);
        return MIG_EINVALID;
    }
    *out = v;
    return 0;
}

int query_parse_list(const char *qs, store_query_t *q, query_list_buf_t *b, char *err, size_t errlen) {
    char num[32];
    int rv;
    memset(b, 0, sizeof *b);
    *q = (store_query_t){b->statuses, b->server_id, b->reason, QUERY_LIMIT_DEFAULT, 0};
    if ((rv = param(qs, "status", b->statuses, sizeof b->statuses, err, errlen)) < 0) return rv;
    for (const char *s = b->statuses; *s;) {
        size_t len = strcspn(s, ",");
        if (len == 0 || states_parse(s, len) < 0) {
            snprintf(err, errlen, "status: unknown status \"%.*s\" (one or more of suggested, approved, "
                     "scheduled, preparing, transferring, completing, completed, cancelled, failed)",
                     (int)len, s);
            return MIG_EINVALID;
        }
        s += len;
        if (*s == ',') s++;
    }
    if ((rv = param(qs, "server_id", b->server_id, sizeof b->server_id, err, errlen)) < 0) return rv;
    if (rv && !migration_id_valid(b->server_id))
        return bad(err, errlen, "server_id: \"%s\" is not a valid id", b->server_id);
    if ((rv = param(qs, "reason", b->reason, sizeof b->reason, err, errlen)) < 0) return rv;
    if (rv && migration_reason_parse(b->reason) < 0)
        return bad(err, errlen, "reason: \"%s\" is not one of cost-optimization, manual, rebalancing, maintenance",
                   b->reason);
    if ((rv = param(qs, "limit", num, sizeof num, err, errlen)) < 0) return rv;
    if (rv && whole("limit", num, 0, QUERY_LIMIT_MAX, &q->limit, err, errlen) != 0) return MIG_EINVALID;
    if ((rv = param(qs, "offset", num, sizeof num, err, errlen)) < 0) return rv;
    if (rv && whole("offset", num, 0, 1000000000L, &q->offset, err, errlen) != 0) return MIG_EINVALID;
    /* a next_cursor of an earlier page: mig_list checks its form; here only its bytes */
    if ((rv = param(qs, "cursor", b->cursor, sizeof b->cursor, err, errlen)) < 0) return rv;
    if (rv && (strlen(b->cursor) > STORE_CURSOR_MAX || strspn(b->cursor, CURSOR_CHARS) != strlen(b->cursor)))
        return bad(err, errlen, "cursor: not a cursor of this list");
    return 0;
}

/* ------------------------------------------------------------------------ create bodies */

static const char *const create_fields[] = {
    "server_id", "to_node_id", "from_node_id", "reason", "notes", "savings_eur_hour",
    "savings_eur_month", "max_retries", "level", "start_now", "not_before", "triggered_by",
};

static int text(const cJSON *body, const char *k, const char **out, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, k);
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return bad(err, errlen, "%s: must be a string", k);
    *out = v->valuestring;
    return 0;
}

static int number(const cJSON *body, const char *k, double *out, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, k);
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad(err, errlen, "%s: must be a number", k);
    *out = v->valuedouble;
    return 0;
}

/* Reads the optional time `k` (RFC 3339 with "Z" or an offset) into *ms; 0 when absent. */
static int rfc3339_time(const cJSON *body, const char *k, int64_t *ms, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, k);
    *ms = 0;
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) || timefmt_parse_rfc3339(v->valuestring, ms) != 0 || *ms <= 0)
        return bad(err, errlen, "%s: must be an RFC 3339 time with an offset, e.g. \"2026-12-07T03:00:00+01:00\"",
                   k);
    return 0;
}

int query_parse_start(const cJSON *body, int64_t *not_before, char *err, size_t errlen) {
    *not_before = 0;
    if (!cJSON_IsObject(body)) return bad(err, errlen, "the body must be a JSON object");
    for (const cJSON *f = body->child; f; f = f->next)
        if (strcmp(f->string, "not_before") != 0) return bad(err, errlen, "%s: unknown field", f->string);
    return rfc3339_time(body, "not_before", not_before, err, errlen);
}

int query_parse_create(const cJSON *body, role_t role, migration_create_t *c, char *err, size_t errlen) {
    migration_create_init(c);
    /* the members of anything else have no names (found by tests/fuzz/query.c: "[[]]") */
    if (!cJSON_IsObject(body)) return bad(err, errlen, "the body must be a JSON object");
    for (const cJSON *f = body->child; f; f = f->next) {
        size_t i, n = sizeof create_fields / sizeof create_fields[0];
        for (i = 0; i < n; i++)
            if (strcmp(f->string, create_fields[i]) == 0) break;
        if (i == n) return bad(err, errlen, "%s: unknown field", f->string);
    }
    const char *reason = NULL;
    double level = 0, retries = -1;
    int rv = 0;
    if ((rv = text(body, "server_id", &c->server_id, err, errlen)) || (rv = text(body, "to_node_id", &c->to_node_id, err, errlen)) ||
        (rv = text(body, "from_node_id", &c->from_node_id, err, errlen)) || (rv = text(body, "reason", &reason, err, errlen)) ||
        (rv = text(body, "notes", &c->notes, err, errlen)) ||
        (rv = number(body, "savings_eur_hour", &c->savings_eur_hour, err, errlen)) ||
        (rv = number(body, "savings_eur_month", &c->savings_eur_month, err, errlen)) ||
        (rv = number(body, "max_retries", &retries, err, errlen)) || (rv = number(body, "level", &level, err, errlen)) ||
        (rv = rfc3339_time(body, "not_before", &c->not_before, err, errlen)))
        return rv;
    if (c->server_id == NULL) return bad(err, errlen, "server_id: required");
    if (c->to_node_id == NULL) return bad(err, errlen, "to_node_id: required");
    if (cJSON_GetObjectItemCaseSensitive(body, "savings_eur_hour") && c->savings_eur_hour < 0)
        return bad(err, errlen, "savings_eur_hour: must not be negative");
    if (cJSON_GetObjectItemCaseSensitive(body, "savings_eur_month") && c->savings_eur_month < 0)
        return bad(err, errlen, "savings_eur_month: must not be negative");
    if (retries != -1 && (retries != floor(retries) || retries < 0 || retries > 20))
        return bad(err, errlen, "max_retries: must be a whole number from 0 to 20");
    c->max_retries = (int)retries;
    if (level != 0 && level != 1 && level != 2) return bad(err, errlen, "level: must be 1 or 2");
    if (reason) {
        int r = migration_reason_parse(reason);
        if (r < 0)
            return bad(err, errlen, "reason: \"%s\" is not one of cost-optimization, manual, rebalancing, maintenance",
                       reason);
        c->reason = (mig_reason_t)r;
    }
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(body, "start_now");
    if (now && !cJSON_IsBool(now) && !cJSON_IsNull(now)) return bad(err, errlen, "start_now: must be true or false");
    c->start_now = cJSON_IsTrue(now);
    if (role == ROLE_OPTIMIZER) {
        if (c->start_now) return bad(err, errlen, "start_now: operators only");
        if (reason && c->reason != MIG_REASON_COST)
            return bad(err, errlen, "reason: the optimizer role creates cost-optimization migrations only");
        c->reason = MIG_REASON_COST;
        c->triggered_by = MIG_TRIGGER_SYSTEM;
        c->level = level == 2 ? 2 : 1;
        c->status = c->level == 2 ? MIG_SCHEDULED : MIG_SUGGESTED;
    } else {
        if (level != 0) return bad(err, errlen, "level: set by the optimizer role only");
        c->triggered_by = MIG_TRIGGER_ADMIN;
        c->status = MIG_SCHEDULED;
        if (reason == NULL) c->reason = MIG_REASON_MANUAL;
    }
    /* The trigger is the token's role (optimizer: system, operator: admin), never the
     * caller's word: a body may repeat it (a record copied back) but not change it. */
    const char *trig = NULL;
    if ((rv = text(body, "triggered_by", &trig, err, errlen)) != 0) return rv;
    if (trig && migration_trigger_parse(trig) != (int)c->triggered_by)
        return bad(err, errlen, "triggered_by: set from the token's role (\"%s\" for this token); leave it out",
                   migration_trigger_name(c->triggered_by));
    return migration_create_validate(c, err, errlen);
}
