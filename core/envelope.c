/* envelope.c - the seed's WebSocket envelope of an event, from its flat JSON (envelope.h). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/envelope.h"
#include "core/err.h"

/* The flat member that becomes data.id for events of `type`; NULL for a type with none. */
static const char *id_member(const char *type) {
    if (strncmp(type, "migration.", 10) == 0) return "migration_id";
    if (strncmp(type, "node.", 5) == 0) return "node_id";
    if (strncmp(type, "server.", 7) == 0) return "server_id";
    return NULL;
}

/* Prints `o` into *out (length in *outlen) and deletes it. */
static int print_owned(cJSON *o, char **out, size_t *outlen) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL) return MIG_ENOMEM;
    *out = text;
    *outlen = strlen(text);
    return 0;
}

/* Adds `v` to `o` as `k`; on failure deletes `v`. Returns 1 when added. */
static int add(cJSON *o, const char *k, cJSON *v) {
    if (v && cJSON_AddItemToObject(o, k, v)) return 1;
    cJSON_Delete(v);
    return 0;
}

int envelope_from_flat(const char *flat, size_t n, char **out, size_t *outlen) {
    cJSON *ev = cJSON_ParseWithLength(flat, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!cJSON_IsObject(ev) || !cJSON_IsString(type)) {
        cJSON_Delete(ev);
        return MIG_EINVALID;
    }
    const char *idname = id_member(type->valuestring);
    int created = strcmp(type->valuestring, "migration.created") == 0;
    const cJSON *eid = cJSON_GetObjectItemCaseSensitive(ev, "event_id");
    const cJSON *id = idname ? cJSON_GetObjectItemCaseSensitive(ev, idname) : NULL;
    cJSON *env = cJSON_CreateObject(), *data = cJSON_CreateObject();
    int ok = env && add(env, "type", cJSON_Duplicate(type, 0));
    ok = ok && add(env, "event_id", eid ? cJSON_Duplicate(eid, 0) : cJSON_CreateNull());
    ok = ok && add(env, "data", data);
    if (!ok && data && !cJSON_GetObjectItemCaseSensitive(env, "data")) cJSON_Delete(data);
    ok = ok && add(data, "id", id ? cJSON_Duplicate(id, 0) : cJSON_CreateNull());
    const cJSON *m;
    cJSON_ArrayForEach(m, ev) {
        if (!ok) break;
        const char *k = m->string;
        if (k == NULL || strcmp(k, "type") == 0 || strcmp(k, "event_id") == 0 || (idname && strcmp(k, idname) == 0))
            continue;
        ok = add(data, k, cJSON_Duplicate(m, 1));
        if (ok && created && (strcmp(k, "from_node_id") == 0 || strcmp(k, "to_node_id") == 0))
            ok = add(data, k[0] == 'f' ? "from_node" : "to_node", cJSON_Duplicate(m, 0));
    }
    cJSON_Delete(ev);
    if (!ok) {
        cJSON_Delete(env);
        return MIG_ENOMEM;
    }
    return print_owned(env, out, outlen);
}

int envelope_notice(const char *type, const char *reason, char **out, size_t *outlen) {
    cJSON *env = cJSON_CreateObject(), *data = NULL;
    if (env == NULL || cJSON_AddStringToObject(env, "type", type) == NULL || cJSON_AddNullToObject(env, "event_id") == NULL ||
        (data = cJSON_AddObjectToObject(env, "data")) == NULL || cJSON_AddStringToObject(data, "reason", reason) == NULL) {
        cJSON_Delete(env);
        return MIG_ENOMEM;
    }
    return print_owned(env, out, outlen);
}
