/* config.h - settings of a program from environment variables, and the same names as
 * flags: MIG_REDIS_URL is also --redis-url VALUE or --redis-url=VALUE; a flag wins over
 * the environment, the environment over the default. --help prints every setting. */
#ifndef MIG_CONFIG_H
#define MIG_CONFIG_H

#include <stddef.h>

/* One setting. `value` points at the caller's variable, which config_load() sets to the
 * flag's or environment's text (borrowed from argv/environ) or to `def`. */
typedef struct {
    const char *env;  /* "MIG_REDIS_URL" */
    const char *def;  /* default text, may be NULL */
    const char *help; /* one line for --help */
    const char **value;
} config_opt_t;

/* The settings every program shares (DESIGN.md section 1). */
typedef struct {
    const char *redis_url;  /* MIG_REDIS_URL, NULL: redis://127.0.0.1:6379 */
    const char *redis_url_file; /* MIG_REDIS_URL_FILE: a file holding the URL (kept out of
                                 * the process list and the environment), or NULL */
    const char *sentinel_password; /* MIG_REDIS_SENTINEL_PASSWORD: AUTH sent to each sentinel */
    const char *sentinels;  /* MIG_REDIS_SENTINELS, host:port,host:port or NULL */
    const char *master;     /* MIG_REDIS_MASTER, the Sentinel master name */
    const char *prefix;     /* MIG_PREFIX, "mig:" */
    const char *log_level;  /* MIG_LOG_LEVEL, "info" */
    const char *wait_replicas; /* MIG_REDIS_WAIT_REPLICAS, NULL: 1 with Sentinel, else 0 */
    const char *wait_ms;    /* MIG_REDIS_WAIT_MS, "1000" */
} config_common_t;

#define CONFIG_COMMON_COUNT 9

/* Fills `opts` (CONFIG_COMMON_COUNT entries) with the common settings bound to `c`. */
void config_common(config_common_t *c, config_opt_t *opts);

/* Reads `n` settings from the environment and argv. A flag's value shows in the process
 * list (ps, /proc/<pid>/cmdline) to every user of the host, so --help says to pass
 * secrets through the environment or a *_FILE setting. Returns 0; 1 when --help was asked
 * (the usage was printed to stdout: exit 0); or MIG_EINVALID with the problem in `err`
 * (an unknown flag, a flag without a value). `about` is the one-line description
 * printed by --help. */
int config_load(const config_opt_t *opts, size_t n, int argc, char **argv, const char *program,
                const char *about, char *err, size_t errlen);

/* Parses `text` as an integer in [lo, hi] into *out. Returns 0 or MIG_EINVALID with
 * "NAME: must be an integer from lo to hi" in `err`. */
int config_int(const char *name, const char *text, long long lo, long long hi, long long *out,
               char *err, size_t errlen);

/* Sets up logging from the common settings: the program name and MIG_LOG_LEVEL.
 * Returns 0 or MIG_EINVALID with the problem in `err`. */
int config_log(const config_common_t *c, const char *program, char *err, size_t errlen);

#endif
