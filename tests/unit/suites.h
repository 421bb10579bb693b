/* suites.h - the unit suites of the pure core modules, registered by main.c. */
#ifndef MIG_UNIT_SUITES_H
#define MIG_UNIT_SUITES_H

#include <check.h>

/* Seconds a test case may run: every unit test is pure computation and ends well under a
 * second under the sanitizers, so this is far from any test's time even with two `make
 * test` runs sharing two cores; a case that reaches it is stuck, not slow. Every TCase
 * sets it: Check's default (4 s) is within reach of a loaded machine. */
#define UNIT_TIMEOUT_S 60

Suite *suite_states(void);
Suite *suite_lease(void);
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
Suite *suite_fence(void);      /* tests/unit/test_fence.c: the simulated agents' fencing tokens */
Suite *suite_optimizer(void);  /* tests/unit/test_optimizer.c: the cost optimizer's choice */
Suite *suite_cli(void);        /* tests/unit/test_cli.c: migratectl's arguments, output, handshake */
Suite *suite_sentinel(void);   /* tests/unit/test_sentinel.c: the sentinel list and replies */
Suite *suite_jsonw(void);      /* tests/unit/test_jsonw.c: JSON text as cJSON prints it */
Suite *suite_arena(void);      /* tests/unit/test_arena.c: the allocator of a page's replies */
Suite *suite_utf8(void);       /* tests/unit/test_utf8.c: UTF-8 checked, cut and repaired */
Suite *suite_envelope(void);   /* tests/unit/test_envelope.c: events in the seed's WebSocket envelope */
Suite *suite_wsframe(void);    /* tests/unit/test_wsframe.c: WebSocket frames as RFC 6455 writes them */
Suite *suite_evid(void);       /* tests/unit/test_evid.c: event ids "<ms>-<seq>" */
Suite *suite_strbuf(void);     /* tests/unit/test_strbuf.c: the string builder, growing and fixed */
Suite *suite_jsonbody(void);   /* tests/unit/test_jsonbody.c: request bodies' nesting bound and parse */
Suite *suite_redisurl(void);   /* tests/unit/test_redisurl.c: MIG_REDIS_URL parsed, its password masked */
Suite *suite_query(void);      /* tests/unit/test_query.c: the API's query strings and bodies */
Suite *suite_reply(void);      /* tests/unit/test_reply.c: node addresses and agents' answers */
Suite *suite_router_pure(void); /* tests/unit/test_router_pure.c: the router's host map, stream tracking, table */
Suite *suite_manifest(void);   /* tests/unit/test_manifest.c: world sync manifests, hostile ones refused */
Suite *suite_slp(void);        /* tests/unit/test_slp.c: Server List Ping */
Suite *suite_rcon(void);       /* tests/unit/test_rcon.c: RCON packets and answers */
Suite *suite_mcproto(void);    /* tests/unit/test_mcproto.c: Minecraft protocol codecs */

#endif
