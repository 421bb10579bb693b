/* reply.h - what the worker reads from an agent's answer (docs/DRIVERS.md), pure, so that
 * Check and the fuzzer (tests/fuzz/fuzz_reply.c) feed it any bytes without a socket.
 *
 * An agent is outside input: a node's address may point anywhere (it came from the
 * inventory), so an answer may be another service's page. Nothing of an answer's body
 * reaches a field that viewers read (error_message) except what these functions let
 * through: an error code that is a short word, and text cleaned to printable ASCII. */
#ifndef MIG_REPLY_H
#define MIG_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "worker/driver.h"

#define REPLY_CODE_MAX 32  /* longest error code kept: the contract's are one or two words */
#define REPLY_TEXT_MAX 120 /* longest agent text (a sync pass's error) kept for error_message */

/* Parses the `n` bytes of an answer as one JSON value with bounded nesting
 * (core/jsonbody.h). Returns it (caller frees with cJSON_Delete) or NULL when it is not. */
cJSON *reply_parse(const char *body, size_t n);

/* The error code of an error answer {"error":{"code":"..."}}: copied into `code` (`cap`
 * bytes, at most REPLY_CODE_MAX) when it is 1 to REPLY_CODE_MAX bytes of A-Z a-z 0-9 _ . -
 * Returns true then; false with `code` "" for any other body. */
bool reply_error_code(const char *body, size_t n, char *code, size_t cap);

/* Copies `in` into `out` (`cap` bytes, at most REPLY_TEXT_MAX + 1) with every byte outside
 * printable ASCII replaced by '?', cut at REPLY_TEXT_MAX bytes. Returns `out`. */
const char *reply_clean_text(const char *in, char *out, size_t cap);

/* Read the answers of GET /v1/health, GET /v1/containers/{id} and GET /v1/sync/{id} from
 * `j` (may be NULL: every field then takes its default). Absent or mistyped members keep
 * the defaults: health false and -1 sizes; container "absent", -1 players, "" address;
 * sync all zero. Strings are cut to their field and cleaned (reply_clean_text). */
void reply_health(const cJSON *j, bool *healthy, long long *ram_free_mb, long long *disk_free_mb);
void reply_container(const cJSON *j, driver_container_t *c);
void reply_sync(const cJSON *j, driver_sync_t *s);

#endif
