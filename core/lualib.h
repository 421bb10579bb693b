/* lualib.h - the Redis Functions library as one source text: a prelude rendered from the
 * C tables (states, reasons, triggers, the limits of ids, names and notes, the list bound,
 * version) followed by the files of lua-scripts/, which the build embeds in every binary. */
#ifndef MIG_LUALIB_H
#define MIG_LUALIB_H

#include <stddef.h>

/* Bump when a function's arguments or reply change shape, or when what the functions keep
 * in Redis changes meaning, so that an older binary never replaces a newer library
 * (core/rconn.c refuses to). 2: the count by status is the size of its status index; the
 * stats hash no longer counts by status, so a version-1 library would read stale counts.
 * 3: a migration's not_before is only its earliest start (backoff, operator's time);
 * mig_block keeps a rule's recheck time in `sched` alone, and a version-2 mig_block would
 * overwrite a backoff with it. 4: clean-up items of old containers (cleanup.lua), which
 * mig_complete writes and workers claim; a version-3 library lacks them, and an older
 * binary replacing the library would strand the items. 5: mig_list answers {total,
 * examined, next_cursor, item...} and takes a cursor; it examines a bounded number of
 * index entries per call, and its total may be -1 (not counted). 6: sched_due answers each
 * entry's score, and mig_block takes it back and writes nothing when a touch changed it
 * since, so a wake-up that came while the scheduler decided is never postponed. */
#define LUALIB_VERSION 6

/* The library's source, ready for FUNCTION LOAD, built once and kept for the life of
 * the process (not to be freed). *len gets its length. NULL when out of memory. */
const char *lualib_source(size_t *len);

/* The version string the loaded library answers to mig_version: "<LUALIB_VERSION>:<hex
 * FNV-1a 64 of the source>", so a changed source reloads even without a bump. Same
 * lifetime as lualib_source(). */
const char *lualib_version(void);

#endif
