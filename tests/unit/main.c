/* main.c - runs the unit suites of the pure core modules, each test in a forked child.
 * Exit status 1 when any test failed. */
#include <stdlib.h>

#include "suites.h"

int main(void) {
    SRunner *sr = srunner_create(suite_states());
    srunner_add_suite(sr, suite_err());
    srunner_add_suite(sr, suite_migration());
    srunner_add_suite(sr, suite_ids());
    srunner_add_suite(sr, suite_timefmt());
    srunner_add_suite(sr, suite_log());
    srunner_add_suite(sr, suite_rules());
    srunner_add_suite(sr, suite_plan());
    srunner_add_suite(sr, suite_lease());
    srunner_add_suite(sr, suite_sim_model());
    srunner_add_suite(sr, suite_fence());
    srunner_add_suite(sr, suite_optimizer());
    srunner_add_suite(sr, suite_cli());
    srunner_add_suite(sr, suite_sentinel());
    srunner_add_suite(sr, suite_jsonw());
    srunner_add_suite(sr, suite_arena());
    srunner_add_suite(sr, suite_jsonbody());
    srunner_add_suite(sr, suite_utf8());
    srunner_add_suite(sr, suite_envelope());
    srunner_add_suite(sr, suite_wsframe());
    srunner_add_suite(sr, suite_evid());
    srunner_add_suite(sr, suite_strbuf());
    srunner_add_suite(sr, suite_redisurl());
    srunner_add_suite(sr, suite_query());
    srunner_add_suite(sr, suite_reply());
    srunner_add_suite(sr, suite_manifest());
    srunner_add_suite(sr, suite_router_pure());
    srunner_add_suite(sr, suite_slp());
    srunner_add_suite(sr, suite_rcon());
    srunner_add_suite(sr, suite_mcproto());
    /* fork mode isolates each test: a crash or a sanitizer abort fails that test only */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
