/* rules.c - the promotion rules of the seed's live-migration phase. */
#include "scheduler/rules.h"

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

/* True when every rule holds; otherwise false with the verdict's reason set. */
static bool check(const rules_facts_t *f, const rules_limits_t *l, rules_verdict_t *v) {
    const server_t *s = f->server;
    const node_t *to = f->to;
    int64_t later = f->now + l->recheck_ms;
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
