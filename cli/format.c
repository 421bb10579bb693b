/* format.c - migratectl's human output: money, tables, records, stats and events. */
#include "cli/format.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

/* ------------------------------------------------------------------------ text builder */

/* Output is built by a growing core/strbuf.h builder: an allocation that fails marks it,
 * and strbuf_done() then answers NULL, so the builders check once at the end. */

/* Appends text from the API with control characters (C0, DEL) replaced by '?'. */
static void sb_text(strbuf_t *b, const char *s) {
    size_t start = b->n;
    strbuf_puts(b, s);
    if (b->failed) return;
    for (size_t i = start; i < b->n; i++)
        if ((unsigned char)b->s[i] < 0x20 || b->s[i] == 0x7f) b->s[i] = '?';
}

/* Appends `n` spaces. */
static void sb_pad(strbuf_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) strbuf_add(b, " ", 1);
}

/* ------------------------------------------------------------------------ values */

/* The string member `key` of `o`, or NULL. */
static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The first string of `a` and `b` in `o`, or "-": a name, else the id. */
static const char *name_or_id(const cJSON *o, const char *name, const char *id) {
    const char *s = str_of(o, name);
    if (s == NULL || s[0] == '\0') s = str_of(o, id);
    return s ? s : "-";
}

/* Writes a number as people read it: 3, 0.15, 109.5 (whole numbers without a fraction,
 * others with up to 15 significant digits, which is what a double holds). */
static void num_text(char *out, size_t cap, double v) {
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, cap, "%.0f", v);
    else
        snprintf(out, cap, "%.15g", v);
}

/* Appends any JSON value: strings raw, numbers as num_text, null "-", booleans, and
 * objects or arrays as compact JSON. */
static void sb_value(strbuf_t *b, const cJSON *v) {
    char num[64];
    if (v == NULL || cJSON_IsNull(v)) {
        strbuf_puts(b, "-");
    } else if (cJSON_IsString(v)) {
        sb_text(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        num_text(num, sizeof num, v->valuedouble);
        strbuf_puts(b, num);
    } else if (cJSON_IsBool(v)) {
        strbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else {
        char *j = cJSON_PrintUnformatted(v);
        if (j == NULL) {
            b->failed = 1;
            return;
        }
        sb_text(b, j);
        cJSON_free(j);
    }
}

size_t format_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) w++; /* count lead bytes, not continuation bytes */
    return w;
}

char *format_money(char *out, size_t cap, const cJSON *per_hour, const cJSON *per_month) {
    if (!cJSON_IsNumber(per_hour)) {
        snprintf(out, cap, "-");
        return out;
    }
    double h = per_hour->valuedouble;
    double m = cJSON_IsNumber(per_month) ? per_month->valuedouble : h * FORMAT_HOURS_PER_MONTH;
    /* the sign before the euro sign, as people write a loss: -€0.10/h */
    snprintf(out, cap, "%s€%.2f/h (%s€%.2f/mo)", h < 0 ? "-" : "", fabs(h), m < 0 ? "-" : "", fabs(m));
    return out;
}

char *format_time(char *out, size_t cap, const cJSON *t) {
    if (!cJSON_IsString(t) || strlen(t->valuestring) < 19) {
        snprintf(out, cap, "-");
        return out;
    }
    /* "2026-11-28T13:25:42.628Z": the date and the time to the second */
    snprintf(out, cap, "%.10s %.8s", t->valuestring, t->valuestring + 11);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return out;
}

/* The status of a migration with the sync's progress while it runs: "preparing 40%". */
static void status_text(char *out, size_t cap, const cJSON *m) {
    const char *st = str_of(m, "status");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "data_sync_progress");
    int running = st && (strcmp(st, "preparing") == 0 || strcmp(st, "transferring") == 0 ||
                         strcmp(st, "completing") == 0);
    if (running && cJSON_IsNumber(p))
        snprintf(out, cap, "%s %.0f%%", st, p->valuedouble);
    else
        snprintf(out, cap, "%s", st ? st : "-");
}

/* ------------------------------------------------------------------------ migrations */

enum { COL_ID, COL_SERVER, COL_ROUTE, COL_STATUS, COL_SAVINGS, COL_CREATED, COLS };

static const char *const headers[COLS] = {"ID", "SERVER", "FROM → TO", "STATUS", "SAVINGS", "CREATED (UTC)"};

/* Fills the cells of one migration's row; each is built in `b` and freed by the caller.
 * Returns 0, or -1 when out of memory. */
static int row_cells(const cJSON *m, char *cells[COLS]) {
    char money[96], status[64], created[40];
    strbuf_t b[COLS] = {{0}};
    sb_text(&b[COL_ID], name_or_id(m, "id", "id"));
    sb_text(&b[COL_SERVER], name_or_id(m, "server_name", "server_id"));
    sb_text(&b[COL_ROUTE], name_or_id(m, "from_node_name", "from_node_id"));
    strbuf_puts(&b[COL_ROUTE], " → ");
    sb_text(&b[COL_ROUTE], name_or_id(m, "to_node_name", "to_node_id"));
    status_text(status, sizeof status, m);
    sb_text(&b[COL_STATUS], status);
    strbuf_puts(&b[COL_SAVINGS], format_money(money, sizeof money, cJSON_GetObjectItemCaseSensitive(m, "savings_eur_hour"),
                                          cJSON_GetObjectItemCaseSensitive(m, "savings_eur_month")));
    strbuf_puts(&b[COL_CREATED], format_time(created, sizeof created, cJSON_GetObjectItemCaseSensitive(m, "created_at")));
    int rv = 0;
    for (int c = 0; c < COLS; c++)
        if ((cells[c] = strbuf_done(&b[c])) == NULL) rv = -1;
    return rv;
}

char *format_summary(const cJSON *m) {
    char *cells[COLS];
    strbuf_t b = STRBUF_INIT;
    if (row_cells(m, cells) != 0) b.failed = 1;
    for (int c = 0; c < COLS - 1; c++) { /* the creation time is in `show` */
        if (c) strbuf_puts(&b, "  ");
        strbuf_puts(&b, cells[c] ? cells[c] : "");
    }
    for (int c = 0; c < COLS; c++) free(cells[c]);
    return strbuf_done(&b);
}

char *format_table(const cJSON *list) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
    int n = cJSON_IsArray(items) ? cJSON_GetArraySize(items) : 0;
    strbuf_t b = STRBUF_INIT;
    char *(*rows)[COLS] = calloc((size_t)n + 1, sizeof *rows);
    size_t width[COLS];
    if (rows == NULL) return NULL;
    for (int c = 0; c < COLS; c++) width[c] = format_width(headers[c]);
    for (int r = 0; r < n; r++) {
        if (row_cells(cJSON_GetArrayItem(items, r), rows[r]) != 0) {
            b.failed = 1;
            goto out;
        }
        for (int c = 0; c < COLS; c++) {
            size_t w = format_width(rows[r][c]);
            if (w > width[c]) width[c] = w;
        }
    }
    for (int r = -1; r < n; r++) { /* -1: the header */
        for (int c = 0; c < COLS; c++) {
            const char *cell = r < 0 ? headers[c] : rows[r][c];
            strbuf_puts(&b, cell);
            if (c < COLS - 1) sb_pad(&b, width[c] - format_width(cell) + 2);
        }
        strbuf_puts(&b, "\n");
    }
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(list, "total");
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(list, "offset");
    long long t = cJSON_IsNumber(total) ? (long long)total->valuedouble : n;
    long long o = cJSON_IsNumber(offset) ? (long long)offset->valuedouble : 0;
    if (t == 0)
        strbuf_puts(&b, "no migrations\n");
    else if (n == 0)
        strbuf_printf(&b, "showing none of %lld (offset %lld)\n", t, o);
    else
        strbuf_printf(&b, "showing %lld-%lld of %lld\n", o + 1, o + n, t);
out:
    for (int r = 0; r < n; r++)
        for (int c = 0; c < COLS; c++) free(rows[r][c]);
    free(rows);
    return strbuf_done(&b);
}

char *format_record(const cJSON *m) {
    strbuf_t b = STRBUF_INIT;
    size_t keyw = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, m) {
        if (f->string && strlen(f->string) > keyw) keyw = strlen(f->string);
    }
    cJSON_ArrayForEach(f, m) {
        if (f->string == NULL) continue;
        sb_text(&b, f->string);
        strbuf_puts(&b, ":");
        sb_pad(&b, keyw - strlen(f->string) + 1);
        sb_value(&b, f);
        strbuf_puts(&b, "\n");
    }
    const char *left = str_of(m, "cleanup_node");
    if (left) {
        strbuf_puts(&b, "note: the old copy on ");
        sb_text(&b, left);
        strbuf_puts(&b, " is still running; the workers remove it (clean-up pending)\n");
    }
    return strbuf_done(&b);
}

/* ------------------------------------------------------------------------ stats */

/* Appends the members of object `o` as "k v, k v"; "none" when it is empty. */
static void sb_members(strbuf_t *b, const cJSON *o) {
    const cJSON *f;
    int first = 1;
    cJSON_ArrayForEach(f, o) {
        if (f->string == NULL) continue;
        if (!first) strbuf_puts(b, ", ");
        first = 0;
        sb_text(b, f->string);
        strbuf_puts(b, " ");
        sb_value(b, f);
    }
    if (first) strbuf_puts(b, "none");
}

/* A number member as text, "-" when absent or null. */
static const char *num_of(const cJSON *o, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return "-";
    num_text(out, cap, v->valuedouble);
    return out;
}

char *format_stats(const cJSON *s) {
    strbuf_t b = STRBUF_INIT;
    char n[6][64], money[96];
    strbuf_printf(&b, "migrations: %s (created %s, completed %s, failed %s, cancelled %s, retried %s)\n",
              num_of(s, "total", n[0], 64), num_of(s, "created_total", n[1], 64),
              num_of(s, "completed_total", n[2], 64), num_of(s, "failed_total", n[3], 64),
              num_of(s, "cancelled_total", n[4], 64), num_of(s, "retried_total", n[5], 64));
    strbuf_puts(&b, "by status: ");
    sb_members(&b, cJSON_GetObjectItemCaseSensitive(s, "by_status"));
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(s, "success_rate");
    const cJSON *avg = cJSON_GetObjectItemCaseSensitive(s, "avg_duration_seconds");
    if (cJSON_IsNumber(rate))
        strbuf_printf(&b, "\nsuccess rate: %.1f%%", rate->valuedouble * 100.0);
    else
        strbuf_puts(&b, "\nsuccess rate: -");
    if (cJSON_IsNumber(avg))
        strbuf_printf(&b, "\naverage duration: %.1f s", avg->valuedouble);
    else
        strbuf_puts(&b, "\naverage duration: -");
    strbuf_printf(&b, "\nsavings: %s", format_money(money, sizeof money, cJSON_GetObjectItemCaseSensitive(s, "total_savings_eur_hour"),
                                                 cJSON_GetObjectItemCaseSensitive(s, "total_savings_eur_month")));
    strbuf_puts(&b, "\nfailures by reason: ");
    sb_members(&b, cJSON_GetObjectItemCaseSensitive(s, "failures_by_reason"));
    strbuf_puts(&b, "\nqueues: ");
    sb_members(&b, cJSON_GetObjectItemCaseSensitive(s, "queues"));
    strbuf_puts(&b, "\n");
    return strbuf_done(&b);
}

/* ------------------------------------------------------------------------ events */

/* Appends every member of an event but its type, id and time as " key=value". */
static void sb_fields(strbuf_t *b, const cJSON *ev) {
    const cJSON *f;
    cJSON_ArrayForEach(f, ev) {
        if (f->string == NULL || strcmp(f->string, "type") == 0 || strcmp(f->string, "event_id") == 0 ||
            strcmp(f->string, "timestamp") == 0)
            continue;
        strbuf_puts(b, " ");
        sb_text(b, f->string);
        strbuf_puts(b, "=");
        sb_value(b, f);
    }
}

/* The details of a migration event, after "<time> <type> <migration> <server>". */
static void event_details(strbuf_t *b, const char *type, const cJSON *ev) {
    char money[96], num[64];
    const cJSON *v;
    if (strcmp(type, "migration.created") == 0) {
        strbuf_puts(b, " ");
        sb_text(b, name_or_id(ev, "from_node_name", "from_node_id"));
        strbuf_puts(b, " → ");
        sb_text(b, name_or_id(ev, "to_node_name", "to_node_id"));
        strbuf_puts(b, " ");
        sb_text(b, name_or_id(ev, "status", "status"));
        strbuf_puts(b, " ");
        sb_text(b, name_or_id(ev, "reason", "reason"));
        strbuf_printf(b, " %s", format_money(money, sizeof money, cJSON_GetObjectItemCaseSensitive(ev, "savings_eur_hour"),
                                          cJSON_GetObjectItemCaseSensitive(ev, "savings_eur_month")));
    } else if (strcmp(type, "migration.status_changed") == 0) {
        strbuf_puts(b, " ");
        sb_text(b, name_or_id(ev, "old_status", "old_status"));
        strbuf_puts(b, " → ");
        sb_text(b, name_or_id(ev, "new_status", "new_status"));
    } else if (strcmp(type, "migration.progress") == 0) {
        strbuf_puts(b, " ");
        sb_text(b, name_or_id(ev, "status", "status"));
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(ev, "progress"))) strbuf_printf(b, " %.0f%%", v->valuedouble);
        if (str_of(ev, "phase_step")) {
            strbuf_puts(b, " ");
            sb_text(b, str_of(ev, "phase_step"));
        }
        if (str_of(ev, "message")) {
            strbuf_puts(b, ": ");
            sb_text(b, str_of(ev, "message"));
        }
    } else if (strcmp(type, "migration.completed") == 0) {
        strbuf_printf(b, " in %s s", num_of(ev, "duration_seconds", num, sizeof num));
        strbuf_printf(b, ", %s players moved", num_of(ev, "players_transferred", num, sizeof num));
        strbuf_printf(b, ", %s ms downtime", num_of(ev, "player_downtime_ms", num, sizeof num));
        if (str_of(ev, "warning")) {
            strbuf_puts(b, ", warning: ");
            sb_text(b, str_of(ev, "warning"));
        }
    } else if (strcmp(type, "migration.failed") == 0) {
        if (str_of(ev, "fail_reason")) {
            strbuf_puts(b, " (");
            sb_text(b, str_of(ev, "fail_reason"));
            strbuf_puts(b, ")");
        }
        if (str_of(ev, "error")) {
            strbuf_puts(b, " ");
            sb_text(b, str_of(ev, "error"));
        }
        v = cJSON_GetObjectItemCaseSensitive(ev, "rollback_success");
        strbuf_puts(b, cJSON_IsTrue(v) ? "; rolled back" : cJSON_IsFalse(v) ? "; ROLLBACK FAILED" : "");
    } else if (strcmp(type, "migration.deleted") != 0) {
        sb_fields(b, ev); /* a migration event this client does not know yet */
    }
}

char *format_event(const cJSON *msg) {
    strbuf_t b = STRBUF_INIT;
    char when[40];
    const char *type = str_of(msg, "type");
    if (type && strcmp(type, "resync") == 0) {
        strbuf_puts(&b, "resync: events were trimmed before they could be replayed; "
                    "reload the state with `migratectl list`, watching live from here");
        return strbuf_done(&b);
    }
    /* the envelope's fields are in `data`, its id the migration's; a flat event (an API
     * before the envelope, or ?format=flat) has them beside its type */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(msg, "data");
    int flat = !cJSON_IsObject(ev);
    if (flat) ev = msg;
    strbuf_puts(&b, format_time(when, sizeof when, cJSON_GetObjectItemCaseSensitive(ev, "timestamp")));
    strbuf_puts(&b, " ");
    sb_text(&b, type ? type : "?");
    if (type && strncmp(type, "migration.", 10) == 0) {
        const char *id = flat ? "migration_id" : "id";
        strbuf_puts(&b, " ");
        sb_text(&b, name_or_id(ev, id, id));
        strbuf_puts(&b, " ");
        sb_text(&b, name_or_id(ev, "server_id", "server_id")); /* every migration event has it */
        event_details(&b, type, ev);
    } else {
        sb_fields(&b, ev);
    }
    return strbuf_done(&b);
}
