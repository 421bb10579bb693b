/* log.h - JSON lines on stderr: time, level, program, event, and key/value fields.
 *
 *   log_at(LOG_INFO, "migration.created", "migration_id", id, "server_id", sid, NULL);
 *
 * prints {"ts":"2026-11-28T13:12:11.123Z","level":"info","program":"migrate-api",
 * "event":"migration.created","migration_id":"...","server_id":"..."}. Values are strings,
 * escaped as JSON. One write(2) per line, so lines of concurrent threads never mix. */
#ifndef MIG_LOG_H
#define MIG_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Sets the program name printed on each line and the lowest level printed. */
void log_init(const char *program, log_level_t min);

/* Level of a name ("debug", "info", "warn", "error"), or -1. */
int log_level_parse(const char *name);

/* True when `level` would be printed: lets callers skip building costly fields. */
int log_enabled(log_level_t level);

/* Prints one line: `event` then NULL-terminated pairs of key and value strings; a NULL
 * value prints null. */
void log_at(log_level_t level, const char *event, ...);

#endif
