/* fault.h - injected faults of the simulated agents: rules that make matching calls of a
 * node agent or of the proxy fail, hang, go slow or wait until the rule is deleted, a
 * given number of times. Pure: the HTTP layer asks fault_take() before each call and
 * acts on the answer. */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define FAULT_TARGET_MAX 64 /* "n2", "proxy" or "*", with the NUL */
#define FAULT_CALL_MAX 160  /* "POST /v1/sync", with the NUL */
#define FAULT_HANG_MS 30000 /* default stall of a hang: past any sane client timeout */
#define FAULT_SLOW_MS 1000  /* default delay of a slow call */
#define FAULT_HOLD_MS 120000 /* default backstop of a held call: longer than any test waits
                                for its rule to be deleted, short enough that a forgotten
                                rule does not hold a thread for the simulator's life */

/* fail: answered `status` at once; hang: answered `status` after delay_ms; slow: served
 * after delay_ms; hold: served once the rule is deleted (or after delay_ms, a backstop). */
typedef enum { FAULT_FAIL = 0, FAULT_HANG, FAULT_SLOW, FAULT_HOLD } fault_mode_t;

/* One rule. */
typedef struct {
    int id;                        /* given by fault_add, from 1 */
    char target[FAULT_TARGET_MAX]; /* node id, "proxy", or "*" for every agent */
    char call[FAULT_CALL_MAX];     /* "*" or "METHOD /path/{id}" */
    fault_mode_t mode;
    int times;                     /* firings left; -1: every matching call until cleared;
                                      0: a used-up hold rule, kept to hold its calls */
    int status;                    /* answered by fail (default 500) and after a hang (504) */
    int delay_ms;                  /* of hang and slow; the backstop of hold */
    int fired;                     /* how often it has fired */
} fault_t;

typedef struct {
    fault_t *v;
    size_t n, cap;
    int next_id;
    long long fired_total;         /* firings of every rule, the cleared ones included */
} fault_set_t;

void fault_set_init(fault_set_t *f);
void fault_set_free(fault_set_t *f);

/* Reads a rule from the control endpoint's JSON: {"node_id":"n2"|"proxy"|"*", "call":
 * "POST /v1/sync"|"*", "mode":"fail"|"hang"|"slow"|"hold", "times":N (absent or 0: until
 * cleared), "status":500, "delay_ms":N}. Returns 0 or MIG_EINVALID with the problem in
 * `err`. */
int fault_parse(const cJSON *body, fault_t *out, char *err, size_t errlen);

/* Adds a rule (copied) and gives it an id. Returns 0 or MIG_ENOMEM. */
int fault_add(fault_set_t *f, fault_t *rule);

/* Removes every rule. */
void fault_clear(fault_set_t *f);

/* Removes the rule `id`. Returns false when there is none. */
bool fault_remove(fault_set_t *f, int id);

/* True while the rule `id` is in the set: a call held by a hold rule waits for this to
 * turn false. */
bool fault_exists(const fault_set_t *f, int id);

/* The first rule matching a call of `target` ("n2" or "proxy") that has firings left:
 * copies it to *fired, counts the firing, and returns true; false when no rule matches.
 * A rule whose times are used up is dropped, except a hold rule: it stays, matching
 * nothing more, until it is removed, because the calls it took are held until then. */
bool fault_take(fault_set_t *f, const char *target, const char *method, const char *path, fault_t *fired);

/* Wire name of a mode. */
const char *fault_mode_name(fault_mode_t mode);

/* The rules as a JSON array (a new object the caller frees), NULL when out of memory. */
cJSON *fault_to_json(const fault_set_t *f);

#endif
