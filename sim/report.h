/* report.h - keeps the inventory in Redis current: a thread that writes each node and
 * server of the model through store_put_node / store_put_server when its fields change,
 * at most once per MIG_SIM_REPORT_MS. */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

#include <stddef.h>

#include "sim/sim.h"

/* Starts the thread; its first pass writes every node and server, servers with their
 * node. Returns 0 or MIG_ENOMEM / MIG_EIO with the reason in `err`. */
int report_start(sim_t *s, char *err, size_t errlen);

/* Stops the thread (after sim_request_stop) and frees what it kept. */
void report_stop(sim_t *s);

/* Asks for a pass now and waits up to `timeout_ms` until one that began after the ask has
 * ended: the inventory then holds what the model held at the ask. Call without the model
 * lock. Returns 0, MIG_EREDIS when that pass could not write, or MIG_ETIMEOUT. */
int report_flush(sim_t *s, int timeout_ms);

#endif
