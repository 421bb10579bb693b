/* snapshot.h - the whole simulated fleet as JSON, for GET /control/state and the tests
 * that assert on it. Pure. */
#ifndef SIM_SNAPSHOT_H
#define SIM_SNAPSHOT_H

#include <cjson/cJSON.h>

#include "sim/fault.h"
#include "sim/model.h"

/* {"now_ms":..., "nodes":[...], "containers":[...], "servers":[...], "waiting_rooms":[...],
 *  "syncs":[...], "faults":[...], "faults_fired":N, "players_kicked":N,
 *  "players_transferred":N}; see docs/DRIVERS.md. The model is not changed but for each
 * server's node, brought up to date. A new object the caller frees with cJSON_Delete(),
 * NULL when out of memory. `faults` may be NULL. */
cJSON *snapshot_model(model_t *m, const fault_set_t *faults);

/* One sync pass as GET /v1/sync/{id} answers it. */
cJSON *snapshot_sync(const model_t *m, const model_sync_t *s);

/* One container as GET /v1/containers/{id} answers it. */
cJSON *snapshot_container(const model_t *m, const model_container_t *c);

#endif
