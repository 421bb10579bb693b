/* fence.h - fencing tokens of the simulated agents: per migration id, the highest token
 * a call has carried, and how many calls each token had accepted and refused. A call
 * whose token is below the highest is stale (its worker lost the lease) and must change
 * nothing. Pure: no I/O and no locking; the simulator's lock guards a table. */
#ifndef SIM_FENCE_H
#define SIM_FENCE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define FENCE_HEADER "Fencing-Token" /* the request header that carries the token */

/* The calls one token of one migration has had. */
typedef struct {
    uint64_t token;
    long long accepted; /* calls that passed the check with this token */
    long long refused;  /* calls refused as stale with this token */
} fence_tally_t;

/* One migration. */
typedef struct {
    char *migration_id;     /* owned */
    uint64_t highest;       /* the highest token accepted so far */
    fence_tally_t *tallies; /* by token, ascending; owned */
    size_t n_tallies, cap_tallies;
} fence_entry_t;

/* Every migration seen, by id in strcmp order (found by binary search). Kept for the
 * life of the process: an entry is a few dozen bytes, and forgetting one would let a
 * stale worker act again. */
typedef struct {
    fence_entry_t *v;
    size_t n, cap;
} fence_table_t;

void fence_init(fence_table_t *t);

/* Frees every entry; the table is empty (and usable) afterwards. */
void fence_free(fence_table_t *t);

/* Reads the value of a Fencing-Token header: a decimal unsigned 64-bit integer, digits
 * only. `text` NULL means the header is absent. Returns 0 with the token in *out, or
 * MIG_EINVALID with the problem in `err` (absent, empty, not a decimal number, over
 * 18446744073709551615). */
int fence_parse_token(const char *text, uint64_t *out, char *err, size_t errlen);

/* The check of one call of `migration_id` carrying `token`, counted. Returns 0 when the
 * token is at least the highest seen (it becomes the highest), MIG_ESTALE when it is
 * below (*highest tells the highest; nothing but the refusal count changes), or
 * MIG_ENOMEM (nothing changed). `highest` may be NULL. */
int fence_admit(fence_table_t *t, const char *migration_id, uint64_t token, uint64_t *highest);

/* The entry of a migration, or NULL when no call of it has been admitted or refused.
 * Borrowed: valid until the next fence_admit() or fence_free(). */
const fence_entry_t *fence_find(const fence_table_t *t, const char *migration_id);

/* The table as JSON: {"<migration_id>":{"highest":N,"accepted":{"<token>":count,...},
 * "refused":{"<token>":count,...}}}, tokens with no count left out. Numbers are written
 * exactly, as digits, even above 2^53. A new object the caller frees with cJSON_Delete(),
 * NULL when out of memory. */
cJSON *fence_to_json(const fence_table_t *t);

#endif
