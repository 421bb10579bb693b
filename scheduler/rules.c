/* rules.c - the promotion rules of the seed's live-migration phase, and the maintenance
 * window's math. */
#include "scheduler/rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool hold(rules_verdict_t *v, int64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Holds the migration back until `at` with a reason; returns false (not promoted). */
static bool hold(rules_verdict_t *v, int64_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof v->reason, fmt, ap);
    va_end(ap);
    v->retry_at = at;
    return false;
}

/* Reads "HH:MM" at `p` into seconds of the day; returns the end or NULL. */
static const char *clock_time(const char *p, int *sod) {
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return NULL;
    int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
    if (h > 23 || m > 59) return NULL;
    *sod = h * 3600 + m * 60;
    return p + 5;
}

int rules_window_parse(const char *text, rules_window_t *w, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    const char *p = text ? clock_time(text, &w->start_s) : NULL;
    if (p && *p == '-') p = clock_time(p + 1, &w->end_s);
    else p = NULL;
    if (p == NULL || (*p != '\0' && *p != ' ')) {
        snprintf(err, errlen, "MIG_WINDOW: \"%s\" is not HH:MM-HH:MM with an optional zone (\"02:00-06:00 Europe/Berlin\")",
                 text ? text : "");
        return -1;
    }
    if (w->start_s == w->end_s) {
        snprintf(err, errlen, "MIG_WINDOW: the window opens and closes at the same time; leave it empty for any time");
        return -1;
    }
    while (*p == ' ') p++;
    if (*p == '\0') {
        snprintf(w->zone, sizeof w->zone, "local time");
        return 0;
    }
    if (strlen(p) >= sizeof w->zone || strchr(p, ' ') || strstr(p, "..") || p[0] == '/') {
        snprintf(err, errlen, "MIG_WINDOW: \"%s\" is not a zone name of the tz database (\"Europe/Berlin\")", p);
        return -1;
    }
    snprintf(w->zone, sizeof w->zone, "%s", p);
    return 0;
}

int rules_window_wait_s(const rules_window_t *w, int sod) {
    bool inside = w->start_s < w->end_s ? sod >= w->start_s && sod < w->end_s
                                        : sod >= w->start_s || sod < w->end_s; /* across midnight */
    if (inside) return 0;
    return sod < w->start_s ? w->start_s - sod : 86400 - sod + w->start_s;
}

/* True when every rule holds; otherwise false with the verdict's reason set. */
static bool check(const rules_facts_t *f, const rules_limits_t *l, rules_verdict_t *v) {
    const server_t *s = f->server;
    const node_t *to = f->to;
    int64_t later = f->now + l->recheck_ms;
    /* The schedule never makes an entry due before its not_before (mig_block, sched_touch);
     * this holds it should one come early all the same. */
    if (f->m->not_before > f->now) return hold(v, f->m->not_before, "waiting for its start time");
    if (l->window && f->m->level == 2 && f->m->triggered_by == MIG_TRIGGER_SYSTEM) {
        int wait = rules_window_wait_s(l->window, f->local_sod);
        /* to the second the window opens: the local clock counts whole seconds of `now` */
        if (wait > 0)
            return hold(v, f->now + (int64_t)wait * 1000 - f->now % 1000,
                        "waiting for the maintenance window at %02d:%02d (%s)", l->window->start_s / 3600,
                        l->window->start_s % 3600 / 60, l->window->zone);
    }
    if (s == NULL) return hold(v, later, "server not in the inventory");
    if (to == NULL) return hold(v, later, "target node not in the inventory");
    if (to->healthy == 0) return hold(v, later, "target node unhealthy");
    if (s->ram_mb > 0 && to->ram_free_mb >= 0 && to->ram_free_mb < s->ram_mb)
        return hold(v, later, "target node low on RAM (needs %lld MB, %lld free)", s->ram_mb, to->ram_free_mb);
    if (s->disk_mb > 0 && to->disk_free_mb >= 0 && to->disk_free_mb < s->disk_mb)
        return hold(v, later, "target node low on disk (needs %lld MB, %lld free)", s->disk_mb, to->disk_free_mb);
    if (s->state && strcmp(s->state, "critical") == 0) return hold(v, later, "server in a critical state");
    if (f->scaling) return hold(v, later, "scaling event in progress");
    if (f->platform_queue > 0)
        return hold(v, later, "%lld server%s waiting to start on the platform", f->platform_queue,
                    f->platform_queue == 1 ? "" : "s");
    if (f->cooldown_left_ms > 0)
        return hold(v, f->now + f->cooldown_left_ms, "cooldown: %lld min left",
                    (long long)((f->cooldown_left_ms + 59999) / 60000));
    if (l->max_parallel > 0 && f->inflight >= l->max_parallel)
        return hold(v, later, "fleet limit: %d migrations in flight", f->inflight);
    if (l->max_per_node > 0 && f->inflight_from >= l->max_per_node)
        return hold(v, later, "source node busy: %d migrations in flight", f->inflight_from);
    if (l->max_per_node > 0 && f->inflight_to >= l->max_per_node)
        return hold(v, later, "target node busy: %d migrations in flight", f->inflight_to);
    if (!f->m->start_now) {
        if (s->players > 0)
            return hold(v, later, "%lld player%s online", s->players, s->players == 1 ? "" : "s");
        if (s->idle_since <= 0) return hold(v, later, "waiting for the server to be idle");
        int64_t idle_until = s->idle_since + l->idle_ms;
        if (idle_until > f->now)
            return hold(v, idle_until, "idle for %lld s of %lld s", (long long)((f->now - s->idle_since) / 1000),
                        (long long)(l->idle_ms / 1000));
    }
    return true;
}

void rules_decide(const rules_facts_t *f, const rules_limits_t *l, rules_verdict_t *v) {
    memset(v, 0, sizeof *v);
    v->promote = check(f, l, v);
}
