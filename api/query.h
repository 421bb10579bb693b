/* query.h - parsing of the list query (?status=&server_id=&reason=&limit=&offset=&cursor=) and
 * of the create body, into store requests. Pure: no I/O; tested without a server. */
#ifndef MIG_QUERY_H
#define MIG_QUERY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "api/auth.h"
#include "core/migration.h"
#include "core/store.h"

#define QUERY_LIMIT_DEFAULT 50
#define QUERY_LIMIT_MAX 500

/* The strings a parsed list query points into. */
typedef struct {
    char statuses[256];
    char server_id[MIG_ID_MAX + 2];
    char reason[32];
    char cursor[STORE_CURSOR_MAX + 2]; /* "" when the query has none */
} query_list_buf_t;

/* Parses a query string (may be NULL) into `q`, whose strings point into `buf`, and the
 * cursor of `?cursor=` (a page's next_cursor) into buf->cursor ("" for none; only its
 * bytes are checked here, its form by mig_list). Returns 0, or MIG_EINVALID with
 * "<parameter>: <problem>" in `err`. */
int query_parse_list(const char *qs, store_query_t *q, query_list_buf_t *buf, char *err,
                     size_t errlen);

/* Reads a create body ({"server_id", "to_node_id", "reason", "notes", "savings_eur_hour",
 * "savings_eur_month", "from_node_id", "max_retries", "level", "start_now", "not_before"}) into `c`, whose strings
 * point into `body`. The caller's role decides what is created: an operator creates a
 * scheduled migration triggered by admin (reason default manual); an optimizer creates
 * a cost-optimization suggestion (level 1) or, with "level": 2, a scheduled one,
 * triggered by system. triggered_by is never read from the body. Returns 0, or
 * MIG_EINVALID with "<field>: <problem>" in `err`. */
int query_parse_create(const cJSON *body, role_t role, migration_create_t *c, char *err,
                       size_t errlen);

/* Parses the optional body of approve and schedule, {"not_before": "<RFC 3339>"}: the
 * time before which the migration must not start. *not_before gets Unix ms, or 0 when
 * the field is absent or null. Returns 0, or MIG_EINVALID with "<field>: <problem>" in
 * `err` (an unknown field, a time that is not RFC 3339 with an offset). */
int query_parse_start(const cJSON *body, int64_t *not_before, char *err, size_t errlen);

#endif
