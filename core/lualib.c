/* lualib.c - assembles the Redis Functions library from the C tables and the embedded
 * lua-scripts/. */
#include "lualib.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration.h"
#include "states.h"
#include "store.h"

extern const char lua_source[]; /* build/gen/lua_source.c, from tools/embed.c */
extern const size_t lua_source_len;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *source;      /* the whole library, NUL-terminated */
static size_t source_len;
static char version[64];

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Renders: shebang, version, the constants and tables, then the embedded files. The
 * version line holds the hash of everything after it, so it is computed over the body
 * first. */
static void build(void) {
    char consts[64];
    size_t nconsts = (size_t)snprintf(consts, sizeof consts, "local LIST_EXAMINE_MAX = %d\n", STORE_LIST_EXAMINE_MAX);
    size_t nstates = states_render_lua(NULL, 0);
    size_t nenums = migration_render_lua(NULL, 0);
    size_t body_len = nconsts + nstates + nenums + lua_source_len;
    char *body = malloc(body_len + 1);
    if (body == NULL) return;
    memcpy(body, consts, nconsts);
    states_render_lua(body + nconsts, nstates + 1);
    migration_render_lua(body + nconsts + nstates, nenums + 1);
    memcpy(body + nconsts + nstates + nenums, lua_source, lua_source_len);
    body[body_len] = '\0';

    snprintf(version, sizeof version, "%d:%016" PRIx64, LUALIB_VERSION, fnv1a(body, body_len));
    char head[128];
    int hn = snprintf(head, sizeof head, "#!lua name=mig\nlocal LIB_VERSION = '%s'\n", version);
    source = malloc((size_t)hn + body_len + 1);
    if (source != NULL) {
        memcpy(source, head, (size_t)hn);
        memcpy(source + hn, body, body_len + 1);
        source_len = (size_t)hn + body_len;
    }
    free(body);
}

const char *lualib_source(size_t *len) {
    pthread_once(&once, build);
    if (len) *len = source_len;
    return source;
}

const char *lualib_version(void) {
    pthread_once(&once, build);
    return version;
}
