/* migration.h - the migration record: one struct, to and from the Redis hash, to the API
 * JSON, and the validation of a create request.
 *
 * The hash holds every column of the seed's `migrations` table under its own name, plus
 * the operational fields of DESIGN.md section 2. Times are Unix milliseconds in the hash
 * and RFC 3339 UTC strings in the JSON; a field absent from the hash is NULL/0/-1 here
 * and null in the JSON. All of this is pure: no sockets, no Redis. */
#ifndef MIG_MIGRATION_H
#define MIG_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jsonw.h"
#include "states.h"

#define MIG_ID_MAX 36      /* longest id in bytes: a UUID's text form */
#define MIG_NAME_MAX 128   /* longest server or node name in bytes */
#define MIG_NOTES_MAX 4096 /* longest free-text notes in bytes */
#define MIG_ID_CHARS "A-Z a-z 0-9 _ . : -" /* what an id may hold, in the words of a refusal */
#define MIG_MAX_RETRIES_DEFAULT 3
#define MIG_MONTH_HOURS 730 /* hours in the seed's month: 0.15/h -> 109.50/mo */

/* Why a migration exists. */
typedef enum {
    MIG_REASON_COST = 0, /* "cost-optimization" */
    MIG_REASON_MANUAL,   /* "manual" */
    MIG_REASON_REBALANCING,
    MIG_REASON_MAINTENANCE,
    MIG_REASON_COUNT
} mig_reason_t;

/* Who asked for it. */
typedef enum {
    MIG_TRIGGER_SYSTEM = 0,
    MIG_TRIGGER_ADMIN,
    MIG_TRIGGER_USER,
    MIG_TRIGGER_COUNT
} mig_trigger_t;

const char *migration_reason_name(mig_reason_t r); /* NULL when out of range */
int migration_reason_parse(const char *s);         /* -1 when unknown */
const char *migration_trigger_name(mig_trigger_t t);
int migration_trigger_parse(const char *s);

/* One migration. Strings are owned by the record (heap, NUL-terminated) and freed by
 * migration_clear(); NULL means absent. Times are Unix ms, 0 when absent. Counts are -1
 * when absent. */
typedef struct {
    /* the seed's columns */
    char *id;
    char *server_id;
    char *server_name;
    char *from_node_id;
    char *from_node_name;
    char *to_node_id;
    char *to_node_name;
    mig_status_t status;
    mig_reason_t reason;
    double savings_eur_hour;  /* euros per hour saved by the move, >= 0 */
    double savings_eur_month; /* euros per month, savings_eur_hour * 730 unless given */
    int64_t created_at;
    int64_t approved_at;
    int64_t scheduled_at;
    int64_t started_at;   /* first claim by a worker */
    int64_t completed_at; /* when the migration reached a terminal status */
    int player_count_at_start;
    int data_sync_progress; /* percent 0-100 of the current world sync */
    char *error_message;
    int retry_count;
    int max_retries;
    mig_trigger_t triggered_by;
    char *notes;

    /* operational fields (DESIGN.md section 2) */
    int level;               /* cost-optimization level 1 or 2; 0 for other reasons */
    char *lease_owner;       /* worker holding the lease */
    uint64_t lease_token;    /* fencing token of the current lease, 0 when none */
    int64_t lease_expires_at;
    int64_t not_before;      /* earliest promotion time while scheduled */
    char *blocked_reason;    /* why the scheduler holds it back ("3 players online") */
    char *phase_step;        /* last step reached by the worker, for rollback */
    char *warning;           /* set when it completed with a problem */
    char *cleanup_node;      /* completed, but the old container on this node is still to
                                be removed (lua-scripts/cleanup.lua); NULL when none */
    char *progress_message;
    int rollback_success;    /* -1 unknown, 0 false, 1 true */
    double duration_seconds; /* started_at to completed_at, -1 when absent */
    int players_transferred;
    int64_t player_downtime_ms; /* -1 when absent */
    int64_t updated_at;
    bool start_now;          /* hash field "start_now" = "1": an operator's migration that
                                may start without waiting for the server to be idle */
    bool recovering;         /* hash field "recovering" = "1": handed back by mig_recover
                                after its worker died; the next worker rolls its phase
                                back or finishes it. Absent (false) otherwise. */
} migration_t;

/* Sets every field to absent. */
void migration_init(migration_t *m);

/* Frees the strings of `m` and sets every field to absent; the struct itself is the
 * caller's. */
void migration_clear(migration_t *m);

/* Sets one field from its hash form (`name` = `value`, both NUL-terminated). Returns 0,
 * MIG_EINVALID for a value that does not parse (the field is left as it was), or
 * MIG_ENOMEM. Unknown names are ignored, so an older binary reads a newer hash. */
int migration_set_field(migration_t *m, const char *name, const char *value);

/* Fills `m` (which must be initialised) from `n` field/value pairs, as HGETALL returns
 * them. Returns 0 or the first error of migration_set_field(). */
int migration_from_pairs(migration_t *m, const char *const *pairs, size_t n);

/* Builds the hash form: *out_pairs gets 2*count strings (name, value, ...), present
 * fields only, in a single allocation the caller frees with free(). Returns the number of
 * pairs, or MIG_ENOMEM. */
int migration_to_pairs(const migration_t *m, char ***out_pairs);

/* The API JSON of a record: every field (lease_token excepted), times as RFC 3339 UTC,
 * numbers as numbers, absent values as null. Returns a new object the caller frees with
 * cJSON_Delete(), or NULL when out of memory. */
cJSON *migration_to_json(const migration_t *m);

/* Appends the same JSON as text to `w`, byte for byte what cJSON_PrintUnformatted prints
 * of migration_to_json(m), without building the tree: for pages of records. Returns false
 * when out of memory (w->failed). */
bool migration_write_json(const migration_t *m, jsonw_t *w);

/* Appends the JSON of the record whose hash form is the `n` field/value pairs, as
 * migration_from_pairs() then migration_write_json() would, without copying its strings.
 * Returns 0, MIG_EINVALID for a value that does not parse, or MIG_ENOMEM. */
int migration_write_json_pairs(const char *const *pairs, size_t n, jsonw_t *w);

/* Reads the API JSON back (the inverse of migration_to_json, for clients and tests).
 * Returns 0, MIG_EINVALID or MIG_ENOMEM. */
int migration_from_json(migration_t *m, const cJSON *obj);

/* ---- create requests ---------------------------------------------------------------- */

/* What it takes to create a migration. Strings are borrowed, not owned. from_node_id may
 * be NULL: the function library fills it from the inventory and checks it when given. */
typedef struct {
    const char *id; /* NULL: a new UUIDv7 is made */
    const char *server_id;
    const char *from_node_id;
    const char *to_node_id;
    mig_reason_t reason;
    mig_trigger_t triggered_by;
    double savings_eur_hour;  /* < 0 when absent: taken as 0 */
    double savings_eur_month; /* < 0 when absent: savings_eur_hour * 730 */
    const char *notes;
    int level;            /* 0, 1 or 2 */
    mig_status_t status;  /* MIG_SUGGESTED or MIG_SCHEDULED */
    int max_retries;      /* < 0 when absent: MIG_MAX_RETRIES_DEFAULT */
    int64_t not_before;   /* 0: now */
    bool start_now;       /* skip the idle rule (operators only) */
} migration_create_t;

/* Fills the defaults of a request: reason manual, triggered_by admin, status scheduled,
 * absent savings and max_retries, everything else NULL/0. */
void migration_create_init(migration_create_t *c);

/* Checks a request. Returns 0, or MIG_EINVALID with a sentence naming the field and the
 * problem in `err` (of `errlen` bytes), e.g. "reason: must be one of cost-optimization,
 * manual, rebalancing, maintenance". */
int migration_create_validate(const migration_create_t *c, char *err, size_t errlen);

/* True when `s` is a valid id: 1 to 36 bytes of [A-Za-z0-9_.:-]. */
bool migration_id_valid(const char *s);

/* Savings per month for `per_hour`, rounded to cents: 0.15 -> 109.50. */
double migration_month_savings(double per_hour);

/* Renders the enums as Lua sets (REASONS, TRIGGERS) and as the text of a refusal
 * (REASON_LIST, TRIGGER_LIST: "system, admin, user"), and the limits (ID_MAX, NAME_MAX,
 * NOTES_MAX, ID_CHARS) as Lua source, with states_render_lua()'s contract: the functions
 * of lua-scripts/ check what this file checks, with its numbers and its words. */
size_t migration_render_lua(char *buf, size_t cap);

#endif
