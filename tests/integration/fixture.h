/* fixture.h - shared setup of the integration suites: one private redis-server per test
 * case (started in the runner, so it outlives each forked test but not the case), a
 * flushed database, a fleet of nodes and servers, and helpers that drive a migration to
 * any status through the store. */
#ifndef MIG_FIXTURE_H
#define MIG_FIXTURE_H

#include <check.h>
#include <hiredis/hiredis.h>

#include "core/err.h"
#include "core/migration.h"
#include "core/rconn.h"
#include "core/store.h"
#include "tests/support/redis_harness.h"

extern harness_redis_t fx_redis;
extern rconn_t *fx_rc;

/* Unchecked fixture of a test case: start and stop the case's redis-server. */
void fx_redis_up(void);
/* The same with the append-only file on and written at every change (FX_AOF_ARGS), for
 * cases that kill redis-server and restart it on its data (harness_redis_restart). */
extern const char *const FX_AOF_ARGS[];
void fx_redis_up_aof(void);
void fx_redis_down(void);

/* Checked fixture of each test: flush, connect, put the fleet. */
void fx_connect(void);
void fx_disconnect(void);

/* A new connection to the fixture's redis (for concurrent clients). */
rconn_t *fx_new_conn(void);

/* Puts nodes n1 "Node-A" (0.30 €/h), n2 "Node-B" (0.15 €/h), n3 "Node-C", and servers
 * s1..s<count> "Server-<i>" on n1. */
void fx_fleet(int servers);

/* Drives a new migration of `server_id` (n1 -> n2, or n2 -> n1 when a completed one moved
 * it to n2) to `status` through legal edges and
 * returns it in `m` (initialised by the caller); fails the test when a step fails. */
void fx_drive(const char *server_id, mig_status_t status, migration_t *m);

/* A string of every key and its full content (hashes and sets sorted), to compare the
 * whole database before and after a refused call. Free with free(). */
char *fx_snapshot(void);

/* Fails the test when any key but the events stream names `needle` or holds it. */
void fx_assert_gone(const char *needle);

/* Runs a command on the fixture's connection and returns the reply; fails the test on
 * an I/O error. */
redisReply *fx_cmd(const char *fmt, ...);

/* Entries of the events stream whose JSON holds `id` and each of `a` and `b` (either may
 * be NULL): fx_count_events(id, "\"type\":\"migration.retry\"", NULL). */
long fx_count_events(const char *id, const char *a, const char *b);

#endif
