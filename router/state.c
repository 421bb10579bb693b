/* state.c - the router's persisted state: server names and addresses, waiting rooms and
 * the fencing table, in one small JSON file (MIG_ROUTER_STATE_FILE) written atomically
 * (temp, fsync, rename, fsync of the folder) after every change and read back at start,
 * so that a restarted router still routes every server and refuses a stale worker.
 * Connections, pending transfers and the transfer memory are not kept: a restart ends
 * every connection, and a retry after it moves nobody twice (nobody is connected). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/fsx.h"
#include "core/err.h"
#include "core/log.h"
#include "router/router.h"

#define STATE_MAX (32u << 20) /* bytes read back: 65536 migrations and 4096 servers fit */

int state_save(router_t *rt) {
    if (rt->state_file == NULL || rt->state_file[0] == '\0') return 0;
    table_t *t = &rt->table;
    cJSON *root = cJSON_CreateObject();
    cJSON *servers = cJSON_AddArrayToObject(root, "servers"), *rooms = cJSON_AddArrayToObject(root, "rooms");
    cJSON *fence = cJSON_AddObjectToObject(root, "fencing");
    for (size_t i = 0; i < t->n_servers; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->servers[i].name);
        cJSON_AddStringToObject(o, "address", t->servers[i].address);
        cJSON_AddStringToObject(o, "parked_in", t->servers[i].parked_in);
        cJSON_AddItemToArray(servers, o);
    }
    for (size_t i = 0; i < t->n_rooms; i++) cJSON_AddItemToArray(rooms, cJSON_CreateString(t->rooms[i]));
    for (size_t i = 0; i < t->n_fence; i++) {
        char tok[24];
        snprintf(tok, sizeof tok, "%" PRIu64, t->fence[i].highest); /* as text: exact above 2^53 */
        cJSON_AddStringToObject(fence, t->fence[i].migration_id, tok);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) return MIG_ENOMEM;
    const char *base;
    int dfd = fsx_open_parent(rt->state_file, &base);
    int rv = dfd < 0 ? MIG_EIO : fsx_write_atomic(dfd, base, text, strlen(text));
    if (dfd >= 0) close(dfd);
    free(text);
    if (rv != 0) log_at(LOG_ERROR, "router.state_unsaved", "file", rt->state_file, NULL);
    return rv;
}

static const char *str_of(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int state_load(router_t *rt, char *err, size_t errlen) {
    if (rt->state_file == NULL || rt->state_file[0] == '\0') return 0;
    const char *base;
    int dfd = fsx_open_parent(rt->state_file, &base);
    if (dfd < 0) return snprintf(err, errlen, "MIG_ROUTER_STATE_FILE: its folder cannot be opened"), MIG_EIO;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rv = fsx_read_file(dfd, base, STATE_MAX, &buf, &len);
    close(dfd);
    if (rv == MIG_ENOT_FOUND) return 0;
    if (rv != 0) return snprintf(err, errlen, "%s: cannot be read", rt->state_file), rv;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (root == NULL) return snprintf(err, errlen, "%s: not JSON", rt->state_file), MIG_EINVALID;
    table_t *t = &rt->table;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(root, "servers")) {
        table_server_t *s;
        if (table_put_server(t, str_of(x, "name"), str_of(x, "address"), &s) == 0)
            snprintf(s->parked_in, sizeof s->parked_in, "%s", str_of(x, "parked_in"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(root, "rooms")) {
        bool created;
        if (cJSON_IsString(x)) table_create_room(t, x->valuestring, &created);
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(root, "fencing")) {
        bool raised;
        uint64_t high;
        if (cJSON_IsString(x) && x->string) table_fence(t, x->string, strtoull(x->valuestring, NULL, 10), &raised, &high);
    }
    cJSON_Delete(root);
    return 0;
}
