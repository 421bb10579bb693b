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

#endif
