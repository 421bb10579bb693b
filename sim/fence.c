/* fence.c - the fencing table of the simulated agents: highest token per migration. */
#include "sim/fence.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define FENCE_TOKEN_DIGITS 21 /* "18446744073709551615" and its NUL */

void fence_init(fence_table_t *t) {
    memset(t, 0, sizeof *t);
}

void fence_free(fence_table_t *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].migration_id);
        free(t->v[i].tallies);
    }
    free(t->v);
    memset(t, 0, sizeof *t);
}

int fence_parse_token(const char *text, uint64_t *out, char *err, size_t errlen) {
    if (text == NULL) {
        snprintf(err, errlen, "the %s header is missing", FENCE_HEADER);
        return MIG_EINVALID;
    }
    if (*text == '\0') {
        snprintf(err, errlen, "the %s header is empty", FENCE_HEADER);
        return MIG_EINVALID;
    }
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') {
            snprintf(err, errlen, "the %s header \"%.40s\" is not a decimal number", FENCE_HEADER, text);
            return MIG_EINVALID;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            snprintf(err, errlen, "the %s header %.40s is over %" PRIu64, FENCE_HEADER, text, UINT64_MAX);
            return MIG_EINVALID;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The index of `id` in the table, or -(insertion point) - 1 when it is not there. */
static long entry_search(const fence_table_t *t, const char *id) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].migration_id, id);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -(long)lo - 1;
}

const fence_entry_t *fence_find(const fence_table_t *t, const char *migration_id) {
    long i = entry_search(t, migration_id);
    return i >= 0 ? &t->v[i] : NULL;
}

/* The tally of `token` in `e`, added (with zero counts, in token order) when missing.
 * NULL when out of memory, and then `e` is as it was. */
static fence_tally_t *tally_of(fence_entry_t *e, uint64_t token) {
    size_t i = 0;
    while (i < e->n_tallies && e->tallies[i].token < token) i++;
    if (i < e->n_tallies && e->tallies[i].token == token) return &e->tallies[i];
    if (e->n_tallies == e->cap_tallies) {
        size_t nc = e->cap_tallies ? e->cap_tallies * 2 : 4;
        fence_tally_t *v = realloc(e->tallies, nc * sizeof *v);
        if (v == NULL) return NULL;
        e->tallies = v;
        e->cap_tallies = nc;
    }
    memmove(&e->tallies[i + 1], &e->tallies[i], (e->n_tallies - i) * sizeof *e->tallies);
    e->tallies[i] = (fence_tally_t){.token = token};
    e->n_tallies++;
    return &e->tallies[i];
}

/* A new entry for `id` at index `at` with `token` as its highest and one tally, all
 * allocated before the table changes. Returns 0 or MIG_ENOMEM (nothing changed). */
static int entry_insert(fence_table_t *t, size_t at, const char *id, uint64_t token) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        fence_entry_t *v = realloc(t->v, nc * sizeof *v);
        if (v == NULL) return MIG_ENOMEM;
        t->v = v;
        t->cap = nc;
    }
    fence_entry_t e = {.migration_id = strdup(id), .highest = token, .tallies = malloc(4 * sizeof(fence_tally_t)),
                       .cap_tallies = 4};
    if (e.migration_id == NULL || e.tallies == NULL) {
        free(e.migration_id);
        free(e.tallies);
        return MIG_ENOMEM;
    }
    memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof *t->v);
    t->v[at] = e;
    t->n++;
    return 0;
}

int fence_admit(fence_table_t *t, const char *migration_id, uint64_t token, uint64_t *highest) {
    long i = entry_search(t, migration_id);
    if (i < 0) {
        int rv = entry_insert(t, (size_t)(-i - 1), migration_id, token);
        if (rv != 0) return rv;
        i = -i - 1;
    }
    fence_entry_t *e = &t->v[i];
    fence_tally_t *tl = tally_of(e, token);
    if (tl == NULL) return MIG_ENOMEM;
    if (highest) *highest = e->highest;
    if (token < e->highest) {
        tl->refused++;
        return MIG_ESTALE;
    }
    tl->accepted++;
    e->highest = token;
    if (highest) *highest = token;
    return 0;
}

/* A whole number written as its digits: cJSON would print a double, inexact above 2^53. */
static cJSON *exact_number(uint64_t v) {
    char digits[FENCE_TOKEN_DIGITS];
    snprintf(digits, sizeof digits, "%" PRIu64, v);
    return cJSON_CreateRaw(digits);
}

/* The counts of one side ("accepted" or "refused") of an entry, by token. */
static cJSON *tallies_json(const fence_entry_t *e, bool refused) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < e->n_tallies; i++) {
        const fence_tally_t *tl = &e->tallies[i];
        long long n = refused ? tl->refused : tl->accepted;
        if (n == 0) continue;
        char key[FENCE_TOKEN_DIGITS];
        snprintf(key, sizeof key, "%" PRIu64, tl->token);
        cJSON *c = cJSON_CreateNumber((double)n);
        if (c == NULL || !cJSON_AddItemToObject(o, key, c)) {
            cJSON_Delete(c);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

cJSON *fence_to_json(const fence_table_t *t) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < t->n; i++) {
        const fence_entry_t *e = &t->v[i];
        cJSON *m = cJSON_CreateObject();
        cJSON *h = exact_number(e->highest), *acc = tallies_json(e, false), *ref = tallies_json(e, true);
        bool ok = m && h && acc && ref && cJSON_AddItemToObject(m, "highest", h);
        if (ok) h = NULL;
        ok = ok && cJSON_AddItemToObject(m, "accepted", acc);
        if (ok) acc = NULL;
        ok = ok && cJSON_AddItemToObject(m, "refused", ref);
        if (ok) ref = NULL;
        ok = ok && cJSON_AddItemToObject(o, e->migration_id, m);
        if (!ok) {
            cJSON_Delete(h);
            cJSON_Delete(acc);
            cJSON_Delete(ref);
            cJSON_Delete(m);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}
