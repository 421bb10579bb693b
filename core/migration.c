/* migration.c - the migration record: hash pairs, API JSON, and create-request checks. */
#include "migration.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strbuf.h"
#include "timefmt.h"

/* ---- enums ---------------------------------------------------------------------------- */

static const char *const reason_names[MIG_REASON_COUNT] = {
    [MIG_REASON_COST] = "cost-optimization",
    [MIG_REASON_MANUAL] = "manual",
    [MIG_REASON_REBALANCING] = "rebalancing",
    [MIG_REASON_MAINTENANCE] = "maintenance",
};

static const char *const trigger_names[MIG_TRIGGER_COUNT] = {
    [MIG_TRIGGER_SYSTEM] = "system",
    [MIG_TRIGGER_ADMIN] = "admin",
    [MIG_TRIGGER_USER] = "user",
};

static int name_index(const char *const *names, int count, const char *s) {
    if (s == NULL) return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

const char *migration_reason_name(mig_reason_t r) {
    return (unsigned)r < MIG_REASON_COUNT ? reason_names[r] : NULL;
}

int migration_reason_parse(const char *s) {
    return name_index(reason_names, MIG_REASON_COUNT, s);
}

const char *migration_trigger_name(mig_trigger_t t) {
    return (unsigned)t < MIG_TRIGGER_COUNT ? trigger_names[t] : NULL;
}

int migration_trigger_parse(const char *s) {
    return name_index(trigger_names, MIG_TRIGGER_COUNT, s);
}

/* ---- the field table ------------------------------------------------------------------ */

/* How a field is held in the struct, which decides its text in the hash and the JSON. */
enum ftype {
    F_STR,     /* char *, NULL when absent */
    F_STATUS,  /* mig_status_t, wire name */
    F_REASON,  /* mig_reason_t, wire name */
    F_TRIGGER, /* mig_trigger_t, wire name */
    F_DBL,     /* double */
    F_TIME,    /* int64_t Unix ms, 0 when absent; RFC 3339 in the JSON */
    F_INT,     /* int */
    F_I64,     /* int64_t */
    F_U64,     /* uint64_t */
    F_TRI,     /* int -1/0/1: absent/false/true */
    F_FLAG,    /* bool, absent when false */
};

/* Which value of a number means "absent": the hash leaves it out, the JSON says null. */
enum fabsent { A_NEVER, A_ZERO, A_NEG };

/* Flags of a field. */
#define FL_NO_JSON 1     /* not shown by the API: the lease token is the worker's secret */
#define FL_JSON_ALWAYS 2 /* shown even when absent from the hash: level 0 reads "0" */

typedef struct {
    const char *name; /* the hash field and the JSON key: one name for one thing */
    unsigned char type, absent, flags;
    size_t off;
} field_t;

#define FLD(n, t, a, fl) {#n, t, a, fl, offsetof(migration_t, n)}

/* Every field in the order of the seed's columns, then the operational ones. */
static const field_t fields[] = {
    FLD(id, F_STR, A_ZERO, 0),
    FLD(server_id, F_STR, A_ZERO, 0),
    FLD(server_name, F_STR, A_ZERO, 0),
    FLD(from_node_id, F_STR, A_ZERO, 0),
    FLD(from_node_name, F_STR, A_ZERO, 0),
    FLD(to_node_id, F_STR, A_ZERO, 0),
    FLD(to_node_name, F_STR, A_ZERO, 0),
    FLD(status, F_STATUS, A_NEVER, 0),
    FLD(reason, F_REASON, A_NEVER, 0),
    FLD(savings_eur_hour, F_DBL, A_NEVER, 0),
    FLD(savings_eur_month, F_DBL, A_NEVER, 0),
    FLD(created_at, F_TIME, A_ZERO, 0),
    FLD(approved_at, F_TIME, A_ZERO, 0),
    FLD(scheduled_at, F_TIME, A_ZERO, 0),
    FLD(started_at, F_TIME, A_ZERO, 0),
    FLD(completed_at, F_TIME, A_ZERO, 0),
    FLD(player_count_at_start, F_INT, A_NEG, 0),
    FLD(data_sync_progress, F_INT, A_NEVER, 0),
    FLD(error_message, F_STR, A_ZERO, 0),
    FLD(retry_count, F_INT, A_NEVER, 0),
    FLD(max_retries, F_INT, A_NEVER, 0),
    FLD(triggered_by, F_TRIGGER, A_NEVER, 0),
    FLD(notes, F_STR, A_ZERO, 0),
    FLD(level, F_INT, A_ZERO, FL_JSON_ALWAYS),
    FLD(lease_owner, F_STR, A_ZERO, 0),
    FLD(lease_token, F_U64, A_ZERO, FL_NO_JSON),
    FLD(lease_expires_at, F_TIME, A_ZERO, 0),
    FLD(not_before, F_TIME, A_ZERO, 0),
    FLD(blocked_reason, F_STR, A_ZERO, 0),
    FLD(phase_step, F_STR, A_ZERO, 0),
    FLD(warning, F_STR, A_ZERO, 0),
    FLD(cleanup_node, F_STR, A_ZERO, 0),
    FLD(progress_message, F_STR, A_ZERO, 0),
    FLD(rollback_success, F_TRI, A_NEG, 0),
    FLD(duration_seconds, F_DBL, A_NEG, 0),
    FLD(players_transferred, F_INT, A_NEG, 0),
    FLD(player_downtime_ms, F_I64, A_NEG, 0),
    FLD(updated_at, F_TIME, A_ZERO, 0),
    FLD(start_now, F_FLAG, A_ZERO, 0),
    FLD(recovering, F_FLAG, A_ZERO, 0),
};

#define NFIELDS (sizeof fields / sizeof fields[0])

/* Addresses of a field inside a record. */
#define AT(m, f, T) ((T *)(void *)((char *)(m) + (f)->off))
#define CAT(m, f, T) ((const T *)(const void *)((const char *)(m) + (f)->off))

/* Field lookup by name: an open-addressed table of the field indexes by a hash of the
 * name, built once. A linear scan cost half the table's strcmp calls per field, a tenth
 * of the API's CPU per list page (bench/RESULTS.md, list). */
#define NAME_SLOTS 128 /* a power of two, over twice the fields */
static unsigned char name_slot[NAME_SLOTS]; /* field index + 1; 0 for an empty slot */
_Static_assert(2 * NFIELDS <= NAME_SLOTS && NFIELDS < 255, "NAME_SLOTS too small for the field table");
static pthread_once_t name_once = PTHREAD_ONCE_INIT;

static size_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (NAME_SLOTS - 1);
}

static void name_table_build(void) {
    for (size_t i = 0; i < NFIELDS; i++) {
        size_t k = name_hash(fields[i].name);
        while (name_slot[k]) k = (k + 1) & (NAME_SLOTS - 1);
        name_slot[k] = (unsigned char)(i + 1);
    }
}

static const field_t *field_find(const char *name) {
    pthread_once(&name_once, name_table_build);
    for (size_t k = name_hash(name);; k = (k + 1) & (NAME_SLOTS - 1)) {
        if (name_slot[k] == 0) return NULL;
        const field_t *f = &fields[name_slot[k] - 1];
        if (strcmp(f->name, name) == 0) return f;
    }
}

/* True when the field holds its "absent" value; absent fields stay out of the hash. */
static bool field_absent(const migration_t *m, const field_t *f) {
    switch (f->type) {
    case F_STR: return *CAT(m, f, char *) == NULL;
    case F_DBL: return f->absent == A_NEG && *CAT(m, f, double) < 0;
    case F_TIME: return *CAT(m, f, int64_t) == 0;
    case F_INT: {
        int v = *CAT(m, f, int);
        return (f->absent == A_NEG && v < 0) || (f->absent == A_ZERO && v == 0);
    }
    case F_I64: return f->absent == A_NEG && *CAT(m, f, int64_t) < 0;
    case F_U64: return *CAT(m, f, uint64_t) == 0;
    case F_TRI: return *CAT(m, f, int) < 0;
    case F_FLAG: return !*CAT(m, f, bool);
    default: return false;
    }
}

void migration_init(migration_t *m) {
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].type == F_STR) *AT(m, &fields[i], char *) = NULL;
    m->status = MIG_SUGGESTED;
    m->reason = MIG_REASON_MANUAL;
    m->triggered_by = MIG_TRIGGER_ADMIN;
    m->player_count_at_start = -1;
    m->players_transferred = -1;
    m->player_downtime_ms = -1;
    m->duration_seconds = -1;
    m->rollback_success = -1;
    m->max_retries = MIG_MAX_RETRIES_DEFAULT;
}

void migration_clear(migration_t *m) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].type == F_STR) free(*AT(m, &fields[i], char *));
    migration_init(m);
}

/* ---- text of numbers ------------------------------------------------------------------ */

/* Writes the shortest of %.15g and %.17g that reads back as the same double, so 0.15
 * prints "0.15" and not "0.14999999999999999", yet no value loses a bit on the way
 * through the hash. `buf` has 32 bytes. */
static void format_double(double v, char *buf) {
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, 32, "%.17g", v);
}

/* Strict decimal parsers: the whole string is the number, no blanks, no trailing bytes.
 * Each returns 0 or MIG_EINVALID and writes only on success. */
static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    if (!((*s >= '0' && *s <= '9') || *s == '-')) return MIG_EINVALID;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return MIG_EINVALID;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (!(*s >= '0' && *s <= '9')) return MIG_EINVALID; /* strtoull would wrap "-1" */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return MIG_EINVALID;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out) {
    char *end;
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '.')) return MIG_EINVALID;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || end == s || *end != '\0' || !isfinite(v)) return MIG_EINVALID;
    *out = v;
    return 0;
}

/* ---- hash form ------------------------------------------------------------------------ */

/* The hash text of a field, or NULL when absent. Numbers are written into `num` (32
 * bytes); strings are the record's own. */
static const char *field_text(const migration_t *m, const field_t *f, char *num) {
    if (field_absent(m, f)) return NULL;
    switch (f->type) {
    case F_STR: return *CAT(m, f, char *);
    case F_STATUS: return states_name(*CAT(m, f, mig_status_t));
    case F_REASON: return migration_reason_name(*CAT(m, f, mig_reason_t));
    case F_TRIGGER: return migration_trigger_name(*CAT(m, f, mig_trigger_t));
    case F_DBL: format_double(*CAT(m, f, double), num); return num;
    case F_TIME:
    case F_I64: snprintf(num, 32, "%" PRId64, *CAT(m, f, int64_t)); return num;
    case F_INT: snprintf(num, 32, "%d", *CAT(m, f, int)); return num;
    case F_U64: snprintf(num, 32, "%" PRIu64, *CAT(m, f, uint64_t)); return num;
    case F_TRI: return *CAT(m, f, int) ? "1" : "0";
    case F_FLAG: return "1";
    default: return NULL;
    }
}

/* Parses `value` into the field. On MIG_EINVALID or MIG_ENOMEM the field keeps its value. */
static int field_parse(migration_t *m, const field_t *f, const char *value) {
    int64_t i;
    int rv, e;
    switch (f->type) {
    case F_STR: {
        char *c = strdup(value);
        if (c == NULL) return MIG_ENOMEM;
        free(*AT(m, f, char *));
        *AT(m, f, char *) = c;
        return 0;
    }
    case F_STATUS:
        if ((e = states_parse(value, strlen(value))) < 0) return MIG_EINVALID;
        *AT(m, f, mig_status_t) = (mig_status_t)e;
        return 0;
    case F_REASON:
        if ((e = migration_reason_parse(value)) < 0) return MIG_EINVALID;
        *AT(m, f, mig_reason_t) = (mig_reason_t)e;
        return 0;
    case F_TRIGGER:
        if ((e = migration_trigger_parse(value)) < 0) return MIG_EINVALID;
        *AT(m, f, mig_trigger_t) = (mig_trigger_t)e;
        return 0;
    case F_DBL: return parse_double(value, AT(m, f, double));
    case F_TIME:
    case F_I64: return parse_i64(value, INT64_MIN, INT64_MAX, AT(m, f, int64_t));
    case F_INT:
        if ((rv = parse_i64(value, INT_MIN, INT_MAX, &i)) != 0) return rv;
        *AT(m, f, int) = (int)i;
        return 0;
    case F_U64: return parse_u64(value, AT(m, f, uint64_t));
    case F_TRI:
    case F_FLAG:
        if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) return MIG_EINVALID;
        if (f->type == F_TRI) *AT(m, f, int) = value[0] == '1';
        else *AT(m, f, bool) = value[0] == '1';
        return 0;
    default: return MIG_EINVALID;
    }
}

int migration_set_field(migration_t *m, const char *name, const char *value) {
    const field_t *f = field_find(name);
    return f ? field_parse(m, f, value) : 0;
}

int migration_from_pairs(migration_t *m, const char *const *pairs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rv = migration_set_field(m, pairs[2 * i], pairs[2 * i + 1]);
        if (rv != 0) return rv;
    }
    return 0;
}

/* Measures every present field first, then lays the pointer array and the strings out in
 * one block, so the caller (an HSET argument list) has a single free(). */
int migration_to_pairs(const migration_t *m, char ***out_pairs) {
    char num[NFIELDS][32];
    const char *text[NFIELDS];
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        text[i] = field_text(m, &fields[i], num[i]);
        if (text[i] == NULL) continue;
        n++;
        bytes += strlen(fields[i].name) + 1 + strlen(text[i]) + 1;
    }
    char **p = malloc(2 * n * sizeof *p + bytes);
    if (p == NULL) return MIG_ENOMEM;
    char *s = (char *)(p + 2 * n);
    size_t k = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        if (text[i] == NULL) continue;
        const char *parts[2] = {fields[i].name, text[i]};
        for (int j = 0; j < 2; j++) {
            size_t len = strlen(parts[j]) + 1;
            memcpy(s, parts[j], len);
            p[k++] = s;
            s += len;
        }
    }
    *out_pairs = p;
    return (int)n;
}

/* ---- JSON form ------------------------------------------------------------------------ */

/* Adds one field to `o` as the API shows it. Returns false when out of memory. */
static bool json_add(cJSON *o, const migration_t *m, const field_t *f) {
    const char *k = f->name;
    if (field_absent(m, f) && !(f->flags & FL_JSON_ALWAYS)) {
        if (f->type == F_FLAG) return cJSON_AddFalseToObject(o, k) != NULL;
        return cJSON_AddNullToObject(o, k) != NULL;
    }
    char ts[TIMEFMT_RFC3339_LEN + 1], num[32];
    const char *s;
    switch (f->type) {
    case F_STR: return cJSON_AddStringToObject(o, k, *CAT(m, f, char *)) != NULL;
    case F_STATUS:
    case F_REASON:
    case F_TRIGGER:
        s = field_text(m, f, num); /* the wire name; NULL for a value out of range */
        return (s ? cJSON_AddStringToObject(o, k, s) : cJSON_AddNullToObject(o, k)) != NULL;
    case F_DBL: return cJSON_AddNumberToObject(o, k, *CAT(m, f, double)) != NULL;
    case F_TIME:
        timefmt_rfc3339(*CAT(m, f, int64_t), ts);
        return cJSON_AddStringToObject(o, k, ts) != NULL;
    case F_INT: return cJSON_AddNumberToObject(o, k, *CAT(m, f, int)) != NULL;
    case F_I64: return cJSON_AddNumberToObject(o, k, (double)*CAT(m, f, int64_t)) != NULL;
    case F_TRI: return cJSON_AddBoolToObject(o, k, *CAT(m, f, int) != 0) != NULL;
    case F_FLAG: return cJSON_AddBoolToObject(o, k, *CAT(m, f, bool)) != NULL;
    default: return true;
    }
}

cJSON *migration_to_json(const migration_t *m) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    for (size_t i = 0; i < NFIELDS; i++) {
        if (fields[i].flags & FL_NO_JSON) continue;
        if (!json_add(o, m, &fields[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* Writes one field as json_add() adds it, key included; a field json_add() leaves out
 * (a set 64-bit number) is left out here too. */
static void json_write(jsonw_t *w, const migration_t *m, const field_t *f, bool *first) {
    bool absent = field_absent(m, f) && !(f->flags & FL_JSON_ALWAYS);
    if (!absent && f->type == F_U64) return;
    if (!*first) jsonw_lit(w, ",");
    *first = false;
    jsonw_key(w, f->name);
    if (absent) {
        if (f->type == F_FLAG) jsonw_lit(w, "false");
        else jsonw_lit(w, "null");
        return;
    }
    char ts[TIMEFMT_RFC3339_LEN + 1], num[32];
    const char *s;
    switch (f->type) {
    case F_STR: jsonw_str(w, *CAT(m, f, char *)); break;
    case F_STATUS:
    case F_REASON:
    case F_TRIGGER:
        s = field_text(m, f, num);
        if (s) jsonw_str(w, s);
        else jsonw_lit(w, "null");
        break;
    case F_DBL: jsonw_num(w, *CAT(m, f, double)); break;
    case F_TIME:
        timefmt_rfc3339(*CAT(m, f, int64_t), ts);
        jsonw_str(w, ts);
        break;
    case F_INT: jsonw_num(w, *CAT(m, f, int)); break;
    case F_I64: jsonw_num(w, (double)*CAT(m, f, int64_t)); break;
    case F_TRI: jsonw_raw(w, *CAT(m, f, int) != 0 ? "true" : "false", *CAT(m, f, int) != 0 ? 4 : 5); break;
    case F_FLAG: jsonw_raw(w, *CAT(m, f, bool) ? "true" : "false", *CAT(m, f, bool) ? 4 : 5); break;
    default: break;
    }
}

bool migration_write_json(const migration_t *m, jsonw_t *w) {
    bool first = true;
    jsonw_lit(w, "{");
    for (size_t i = 0; i < NFIELDS; i++)
        if (!(fields[i].flags & FL_NO_JSON)) json_write(w, m, &fields[i], &first);
    jsonw_lit(w, "}");
    return !w->failed;
}

/* Reads the pairs into a record whose strings are the pairs' own (borrowed, never freed:
 * the record never leaves this function) and writes it, so the text is the one writer's
 * above and a page costs no strdup and free per string. */
int migration_write_json_pairs(const char *const *pairs, size_t n, jsonw_t *w) {
    migration_t m;
    migration_init(&m);
    for (size_t i = 0; i < n; i++) {
        const field_t *f = field_find(pairs[2 * i]);
        if (f == NULL) continue;
        if (f->type == F_STR) {
            *AT(&m, f, const char *) = pairs[2 * i + 1];
            continue;
        }
        int rv = field_parse(&m, f, pairs[2 * i + 1]);
        if (rv != 0) return rv;
    }
    return migration_write_json(&m, w) ? 0 : MIG_ENOMEM;
}

/* A JSON number that is a whole number in [lo, hi]. 2^53 bounds what a double holds
 * exactly, so an int64 past it would not survive the trip anyway. */
static int json_whole(const cJSON *v, double lo, double hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return MIG_EINVALID;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi) return MIG_EINVALID;
    *out = (int64_t)d;
    return 0;
}

#define JSON_EXACT 9007199254740992.0 /* 2^53 */

/* Reads one field from its JSON value `v` (not NULL, not null). */
static int json_parse(migration_t *m, const field_t *f, const cJSON *v) {
    int64_t i;
    int rv;
    switch (f->type) {
    case F_STR:
    case F_STATUS:
    case F_REASON:
    case F_TRIGGER:
        if (!cJSON_IsString(v)) return MIG_EINVALID;
        return field_parse(m, f, v->valuestring);
    case F_DBL:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return MIG_EINVALID;
        *AT(m, f, double) = v->valuedouble;
        return 0;
    case F_TIME:
        if (!cJSON_IsString(v)) return MIG_EINVALID;
        return timefmt_parse_rfc3339(v->valuestring, AT(m, f, int64_t));
    case F_INT:
        if ((rv = json_whole(v, INT_MIN, INT_MAX, &i)) != 0) return rv;
        *AT(m, f, int) = (int)i;
        return 0;
    case F_I64: return json_whole(v, -JSON_EXACT, JSON_EXACT, AT(m, f, int64_t));
    case F_TRI:
        if (!cJSON_IsBool(v)) return MIG_EINVALID;
        *AT(m, f, int) = cJSON_IsTrue(v);
        return 0;
    case F_FLAG:
        if (!cJSON_IsBool(v)) return MIG_EINVALID;
        *AT(m, f, bool) = cJSON_IsTrue(v);
        return 0;
    default: return MIG_EINVALID;
    }
}

/* Builds the record in a scratch copy and replaces `m` only when every field read, so a
 * bad document leaves `m` as it was. A key missing from the object leaves the field
 * absent (or at its default); null is accepted only where migration_to_json writes it.
 * The lease token is not in the JSON, so the result has none. */
int migration_from_json(migration_t *m, const cJSON *obj) {
    migration_t tmp;
    int rv = 0;
    migration_init(&tmp);
    if (!cJSON_IsObject(obj)) {
        rv = MIG_EINVALID;
        goto out;
    }
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &fields[i];
        if (f->flags & FL_NO_JSON) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (v == NULL) continue;
        if (cJSON_IsNull(v)) {
            if (f->absent == A_NEVER || f->type == F_FLAG || (f->flags & FL_JSON_ALWAYS)) {
                rv = MIG_EINVALID;
                goto out;
            }
            continue;
        }
        if ((rv = json_parse(&tmp, f, v)) != 0) goto out;
    }
    migration_clear(m);
    *m = tmp;
    return 0;
out:
    migration_clear(&tmp);
    return rv;
}

/* ---- create requests ------------------------------------------------------------------ */

void migration_create_init(migration_create_t *c) {
    memset(c, 0, sizeof *c);
    c->id = c->server_id = c->from_node_id = c->to_node_id = c->notes = NULL;
    c->reason = MIG_REASON_MANUAL;
    c->triggered_by = MIG_TRIGGER_ADMIN;
    c->status = MIG_SCHEDULED;
    c->savings_eur_hour = -1;
    c->savings_eur_month = -1;
    c->max_retries = -1;
}

bool migration_id_valid(const char *s) {
    if (s == NULL) return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == ':' || c == '-';
        if (!ok || n >= MIG_ID_MAX) return false;
    }
    return n > 0;
}

/* Largest savings accepted, the same bounds as mig_create in lua-scripts/migration.lua,
 * so a request refused there is refused here first, with the same field named. */
#define SAVINGS_HOUR_MAX 1e9
#define SAVINGS_MONTH_MAX 1e12
#define MAX_RETRIES_MAX 20 /* past this a failing move only burns node time */

/* Writes `names` as "a, b, c" into `buf` (`cap` bytes, NUL-terminated, cut short when it
 * does not fit) and returns buf: the list a refusal names, in C and in the Lua prelude. */
static const char *names_list(char *buf, size_t cap, const char *const *names, int count) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i > 0 ? ", " : "", names[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

/* "<field>: must be one of <names>" into `msg` (`cap` bytes); returns msg. */
static const char *one_of(char *msg, size_t cap, const char *field, const char *const *names, int count) {
    char list[96];
    snprintf(msg, cap, "%s: must be one of %s", field, names_list(list, sizeof list, names, count));
    return msg;
}

static int refuse(char *err, size_t errlen, const char *msg) {
    if (errlen > 0) snprintf(err, errlen, "%s", msg);
    return MIG_EINVALID;
}

/* Checks the ids first (the commonest client mistake), then enums, then numbers and text,
 * and answers the first problem; each message starts with the field's name. */
int migration_create_validate(const migration_create_t *c, char *err, size_t errlen) {
    const struct {
        const char *name, *value;
        bool required;
    } ids[] = {
        {"id", c->id, false},
        {"server_id", c->server_id, true},
        {"to_node_id", c->to_node_id, true},
        {"from_node_id", c->from_node_id, false},
    };
    char msg[160];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *v = ids[i].value;
        if (v == NULL && ids[i].required) {
            snprintf(msg, sizeof msg, "%s: required", ids[i].name);
            return refuse(err, errlen, msg);
        }
        if (v != NULL && !migration_id_valid(v)) {
            /* the same sentence as check_id() in lua-scripts/common.lua */
            snprintf(msg, sizeof msg, "%s: must be 1 to %d characters of " MIG_ID_CHARS, ids[i].name, MIG_ID_MAX);
            return refuse(err, errlen, msg);
        }
    }
    if (c->from_node_id != NULL && strcmp(c->from_node_id, c->to_node_id) == 0)
        return refuse(err, errlen, "to_node_id: must differ from from_node_id");
    if ((unsigned)c->reason >= MIG_REASON_COUNT)
        return refuse(err, errlen, one_of(msg, sizeof msg, "reason", reason_names, MIG_REASON_COUNT));
    if ((unsigned)c->triggered_by >= MIG_TRIGGER_COUNT)
        return refuse(err, errlen, one_of(msg, sizeof msg, "triggered_by", trigger_names, MIG_TRIGGER_COUNT));
    if (c->status != MIG_SUGGESTED && c->status != MIG_SCHEDULED)
        return refuse(err, errlen, "status: must be suggested or scheduled");
    if (c->status == MIG_SUGGESTED && c->reason != MIG_REASON_COST)
        return refuse(err, errlen, "status: suggested only for reason cost-optimization");
    if (c->level < 0 || c->level > 2) return refuse(err, errlen, "level: must be 0, 1 or 2");
    if (c->level > 0 && c->reason != MIG_REASON_COST)
        return refuse(err, errlen, "level: only for reason cost-optimization");
    /* a negative saving means "absent" (header contract); only non-numbers are wrong */
    if (!isfinite(c->savings_eur_hour) || c->savings_eur_hour > SAVINGS_HOUR_MAX)
        return refuse(err, errlen, "savings_eur_hour: must be a number from 0 to 1000000000");
    if (!isfinite(c->savings_eur_month) || c->savings_eur_month > SAVINGS_MONTH_MAX)
        return refuse(err, errlen, "savings_eur_month: must be a number from 0 to 1000000000000");
    if (c->notes != NULL && strlen(c->notes) > MIG_NOTES_MAX) {
        snprintf(msg, sizeof msg, "notes: longer than %d bytes", MIG_NOTES_MAX);
        return refuse(err, errlen, msg);
    }
    if (c->max_retries > MAX_RETRIES_MAX) return refuse(err, errlen, "max_retries: must be from 0 to 20");
    if (c->not_before < 0) return refuse(err, errlen, "not_before: must not be negative");
    return 0;
}

double migration_month_savings(double per_hour) {
    return round(per_hour * MIG_MONTH_HOURS * 100) / 100;
}

/* ---- Lua prelude ---------------------------------------------------------------------- */

/* The prelude is rendered by a fixed core/strbuf.h builder over the caller's buffer, with
 * snprintf's contract: the length it returns counts what did not fit. */

/* True when `s` can stand as a bare Lua table key; "cost-optimization" cannot. */
static bool lua_ident(const char *s) {
    if (*s >= '0' && *s <= '9') return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void render_set(strbuf_t *o, const char *var, const char *const *names, int count) {
    strbuf_puts(o, "local ");
    strbuf_puts(o, var);
    strbuf_puts(o, " = {");
    for (int i = 0; i < count; i++) {
        if (i > 0) strbuf_puts(o, ", ");
        if (lua_ident(names[i])) {
            strbuf_puts(o, names[i]);
        } else {
            strbuf_puts(o, "[\"");
            strbuf_puts(o, names[i]);
            strbuf_puts(o, "\"]");
        }
        strbuf_puts(o, " = true");
    }
    strbuf_puts(o, "}\n");
}

/* local <var> = 'a, b, c' */
static void render_list(strbuf_t *o, const char *var, const char *const *names, int count) {
    char list[96];
    strbuf_puts(o, "local ");
    strbuf_puts(o, var);
    strbuf_puts(o, " = '");
    strbuf_puts(o, names_list(list, sizeof list, names, count));
    strbuf_puts(o, "'\n");
}

size_t migration_render_lua(char *buf, size_t cap) {
    strbuf_t o;
    strbuf_init_fixed(&o, buf, cap);
    render_set(&o, "REASONS", reason_names, MIG_REASON_COUNT);
    render_set(&o, "TRIGGERS", trigger_names, MIG_TRIGGER_COUNT);
    render_list(&o, "REASON_LIST", reason_names, MIG_REASON_COUNT);
    render_list(&o, "TRIGGER_LIST", trigger_names, MIG_TRIGGER_COUNT);
    char limits[128];
    snprintf(limits, sizeof limits, "local ID_MAX = %d\nlocal NAME_MAX = %d\nlocal NOTES_MAX = %d\n", MIG_ID_MAX,
             MIG_NAME_MAX, MIG_NOTES_MAX);
    strbuf_puts(&o, limits);
    strbuf_puts(&o, "local ID_CHARS = '" MIG_ID_CHARS "'\n");
    return o.n;
}
