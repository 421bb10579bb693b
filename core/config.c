/* config.c - settings from the environment and flags. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "redisurl.h"

void config_common(config_common_t *c, config_opt_t *o) {
    o[0] = (config_opt_t){"MIG_REDIS_URL", NULL,
                          "Redis: redis://[[user]:password@]host:port[/db] or unix:///path "
                          "(default redis://127.0.0.1:6379); with a password prefer MIG_REDIS_URL_FILE",
                          &c->redis_url};
    o[1] = (config_opt_t){"MIG_REDIS_SENTINELS", NULL,
                          "Sentinels host:port,host:port: they name the primary (MIG_REDIS_URL gives password, db)", &c->sentinels};
    o[2] = (config_opt_t){"MIG_REDIS_MASTER", "mymaster", "Sentinel master name", &c->master};
    o[3] = (config_opt_t){"MIG_PREFIX", "mig:", "key prefix ({mig}: on Redis Cluster)", &c->prefix};
    o[4] = (config_opt_t){"MIG_LOG_LEVEL", "info", "debug, info, warn or error", &c->log_level};
    /* A change acknowledged to a caller must survive a failover: it waits until this
     * many replicas hold it (Redis WAIT). Without Sentinel there is no failover to
     * survive, so the default follows MIG_REDIS_SENTINELS. */
    o[5] = (config_opt_t){"MIG_REDIS_WAIT_REPLICAS", NULL,
                          "replicas that must hold a change before it counts (default 1 with Sentinel, else 0)",
                          &c->wait_replicas};
    o[6] = (config_opt_t){"MIG_REDIS_WAIT_MS", "1000",
                          "how long a change waits for those replicas before the call fails", &c->wait_ms};
    /* secrets: a file (or the environment) keeps them out of `ps`, which shows every flag */
    o[7] = (config_opt_t){"MIG_REDIS_URL_FILE", NULL,
                          "file whose first line is MIG_REDIS_URL (instead of MIG_REDIS_URL)", &c->redis_url_file};
    o[8] = (config_opt_t){"MIG_REDIS_SENTINEL_PASSWORD", NULL,
                          "password of the sentinels (their requirepass), sent as AUTH to each", &c->sentinel_password};
}

/* "MIG_REDIS_URL" -> "redis-url" into `out`. */
static void flag_name(const char *env, char *out, size_t cap) {
    const char *s = strncmp(env, "MIG_", 4) == 0 ? env + 4 : env;
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = s[i] == '_' ? '-' : (char)(s[i] | 0x20);
    out[i] = '\0';
}

static void usage(const config_opt_t *opts, size_t n, const char *program, const char *about) {
    printf("%s - %s\n\nSettings (environment variable, or the flag beside it):\n", program, about);
    for (size_t i = 0; i < n; i++) {
        char flag[64];
        flag_name(opts[i].env, flag, sizeof flag);
        printf("  %-26s --%-24s %s", opts[i].env, flag, opts[i].help);
        if (opts[i].def) printf(" [%s]", opts[i].def);
        printf("\n");
    }
    printf("\nEvery user of this host can read a flag in the process list: give passwords and tokens\n"
           "through the environment or a *_FILE setting, never as flags.\n");
}

int config_load(const config_opt_t *opts, size_t n, int argc, char **argv, const char *program,
                const char *about, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        const char *e = getenv(opts[i].env);
        *opts[i].value = e && *e ? e : opts[i].def;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(opts, n, program, about);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            char shown[256];
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", redisurl_mask(arg, shown, sizeof shown));
            return MIG_EINVALID;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        size_t i;
        for (i = 0; i < n; i++) {
            char flag[64];
            flag_name(opts[i].env, flag, sizeof flag);
            if (strlen(flag) == len && strncmp(flag, name, len) == 0) break;
        }
        if (i == n) {
            snprintf(err, errlen, "unknown flag \"%.*s\" (see --help)", (int)len + 2, arg);
            return MIG_EINVALID;
        }
        if (eq) {
            *opts[i].value = eq + 1;
        } else if (a + 1 < argc) {
            *opts[i].value = argv[++a];
        } else {
            snprintf(err, errlen, "flag \"%s\" needs a value", arg);
            return MIG_EINVALID;
        }
    }
    return 0;
}

int config_int(const char *name, const char *text, long long lo, long long hi, long long *out,
               char *err, size_t errlen) {
    char *end;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (text == NULL || *text == '\0' || *end != '\0' || v < lo || v > hi) {
        snprintf(err, errlen, "%s: must be an integer from %lld to %lld, not \"%s\"", name, lo, hi,
                 text ? text : "");
        return MIG_EINVALID;
    }
    *out = v;
    return 0;
}

int config_log(const config_common_t *c, const char *program, char *err, size_t errlen) {
    int level = log_level_parse(c->log_level ? c->log_level : "info");
    if (level < 0) {
        snprintf(err, errlen, "MIG_LOG_LEVEL: must be debug, info, warn or error, not \"%s\"",
                 c->log_level);
        return MIG_EINVALID;
    }
    log_init(program, (log_level_t)level);
    return 0;
}
