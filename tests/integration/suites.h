/* suites.h - the integration suites, registered by main.c. */
#ifndef MIG_INTEGRATION_SUITES_H
#define MIG_INTEGRATION_SUITES_H

#include <check.h>

Suite *suite_store(void);
Suite *suite_events(void);
Suite *suite_concurrency(void);
Suite *suite_list(void);
Suite *suite_api(void);
Suite *suite_flow(void);
Suite *suite_fencing(void);
Suite *suite_records(void);
Suite *suite_relay(void);
Suite *suite_envelope(void);  /* test_envelope.c: /api/ws in the seed's envelope, live and resumed */
Suite *suite_sim(void);
Suite *suite_cli(void);
Suite *suite_sentinel(void);
Suite *suite_schedule(void);
Suite *suite_faults(void);
Suite *suite_soak(void);
Suite *suite_security(void); /* test_security.c: the API under hostile input (issue 12) */
Suite *suite_untrusted(void); /* test_untrusted.c: Redis, sentinels and agents under hostile input */
Suite *suite_sync(void);      /* test_sync.c: the world sync between two directories */
Suite *suite_agent(void);     /* test_agent.c: bin/migrate-agent with real processes and syncs */
Suite *suite_router(void);     /* test_router.c: bin/migrate-router with fake backends and clients */
Suite *suite_router_stream(void); /* test_router_stream.c: a player far behind a fast stream, moved */
Suite *suite_agent_system(void); /* test_agent_system.c: scheduler and worker against real agents */
Suite *suite_agent_tls(void);    /* test_agent_tls.c: the agents over https (certs.c makes the certificates) */

#endif
