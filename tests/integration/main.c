/* main.c - runs the integration suites: each test case against its own private
 * redis-server, each test in a forked child. Exit status 1 when any test failed.
 * Whatever a test started and left running (a test killed at its timeout runs no
 * teardown) is killed when the run ends. */
#include <stdlib.h>

#include "suites.h"
#include "tests/support/redis_harness.h"

int main(void) {
    harness_mark_run();
    SRunner *sr = srunner_create(suite_store());
    srunner_add_suite(sr, suite_events());
    srunner_add_suite(sr, suite_concurrency());
    srunner_add_suite(sr, suite_list());
    srunner_add_suite(sr, suite_api());
    srunner_add_suite(sr, suite_flow());
    srunner_add_suite(sr, suite_fencing());
    srunner_add_suite(sr, suite_records());
    srunner_add_suite(sr, suite_relay());
    srunner_add_suite(sr, suite_envelope());
    srunner_add_suite(sr, suite_sim());
    srunner_add_suite(sr, suite_cli());
    srunner_add_suite(sr, suite_sentinel());
    srunner_add_suite(sr, suite_schedule());
    srunner_add_suite(sr, suite_faults());
    srunner_add_suite(sr, suite_soak());
    srunner_add_suite(sr, suite_security());
    srunner_add_suite(sr, suite_untrusted());
    srunner_add_suite(sr, suite_sync());
    srunner_add_suite(sr, suite_agent());
    srunner_add_suite(sr, suite_agent_system());
    srunner_add_suite(sr, suite_agent_tls());
    srunner_add_suite(sr, suite_router());
    srunner_add_suite(sr, suite_router_stream());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    harness_kill_marked();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
