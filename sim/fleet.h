/* fleet.h - the fleet a simulation starts with: generated from a seed, or read exactly
 * from a JSON description. Pure: the caller reads the file. */
#ifndef SIM_FLEET_H
#define SIM_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "sim/model.h"

/* Fills an empty model with `nodes` nodes (n1.., "Node-1".., addresses 10.0.0.N, prices
 * from 0.06 to 0.45 EUR/h, 32 to 128 GB of RAM) and `servers` servers (s1..,
 * "Server-1".., 1 to 8 GB, worlds of 1 to 20 GB, write rates of 0.1 to 4 MB/s, a third
 * of them without players), each placed on a node with room, all from `seed`. Returns 0,
 * or MIG_EINVALID with the reason in `err` when the servers do not fit, or MIG_ENOMEM. */
int fleet_generate(model_t *m, int nodes, int servers, uint64_t seed, char *err, size_t errlen);

/* Fills an empty model from a JSON text:
 *   {"nodes":[{"id":"n1","name":"Node-A","address":"10.0.0.1","eur_hour":0.30,
 *              "ram_total_mb":65536,"disk_total_mb":500000,"healthy":true}],
 *    "servers":[{"id":"s1","name":"Server-1","node_id":"n1","ram_mb":4096,"disk_mb":5000,
 *                "write_mb_s":1.5,"players":3,"mean_players":0,"running":true}]}
 * Required: ids, eur_hour, ram_total_mb, disk_total_mb, node_id, ram_mb, disk_mb. Names
 * default to the ids, addresses to 10.0.0.N, healthy and running to true, rates and
 * players to 0. "players" is a count or an array of names. Returns 0, or MIG_EINVALID
 * with the member at fault in `err`, or MIG_ENOMEM. */
int fleet_parse(model_t *m, const char *json, char *err, size_t errlen);

#endif
