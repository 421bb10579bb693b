/* suites.h - the unit suites of the pure core modules, registered by main.c. */
#ifndef MIG_UNIT_SUITES_H
#define MIG_UNIT_SUITES_H

#include <check.h>

/* Seconds a test case may run: every unit test is pure computation and ends in
 * milliseconds, so a case that takes longer is stuck, not slow. */
#define UNIT_TIMEOUT_S 10

Suite *suite_states(void);
Suite *suite_migration(void);
Suite *suite_ids(void);
Suite *suite_timefmt(void);
Suite *suite_log(void);
Suite *suite_err(void);

/* Pure parts of the programs (tests/unit/test_rules.c, test_plan.c); main.c adds them
 * once the Makefile's UNIT list links those files. */
Suite *suite_rules(void);
Suite *suite_plan(void);
Suite *suite_sim_model(void);  /* tests/unit/test_sim_model.c: the simulator's model */
Suite *suite_optimizer(void);  /* tests/unit/test_optimizer.c: the cost optimizer's choice */
Suite *suite_cli(void);        /* tests/unit/test_cli.c: migratectl's arguments, output, handshake */
Suite *suite_sentinel(void);   /* tests/unit/test_sentinel.c: the sentinel list and replies */
Suite *suite_jsonw(void);      /* tests/unit/test_jsonw.c: JSON text as cJSON prints it */
Suite *suite_arena(void);      /* tests/unit/test_arena.c: the allocator of a page's replies */

#endif
