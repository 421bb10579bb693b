/* fault.c - fault rules of the simulated agents. */
#include "sim/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/route.h"

void fault_set_init(fault_set_t *f) {
    memset(f, 0, sizeof *f);
    f->next_id = 1;
}

void fault_set_free(fault_set_t *f) {
    free(f->v);
    memset(f, 0, sizeof *f);
}

const char *fault_mode_name(fault_mode_t mode) {
    return mode == FAULT_HANG ? "hang" : mode == FAULT_SLOW ? "slow" : mode == FAULT_HOLD ? "hold" : "fail";
}

/* An optional integer member in [lo, hi]: 0 and *out untouched when absent. */
static int int_member(const cJSON *body, const char *name, int lo, int hi, int *out, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < lo ||
        v->valueint > hi) {
        snprintf(err, errlen, "%s: must be an integer from %d to %d", name, lo, hi);
        return MIG_EINVALID;
    }
    *out = v->valueint;
    return 0;
}

int fault_parse(const cJSON *body, fault_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(body, "node_id");
    const cJSON *call = cJSON_GetObjectItemCaseSensitive(body, "call");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(body, "mode");
    if (!cJSON_IsString(target) || target->valuestring[0] == '\0' ||
        strlen(target->valuestring) >= sizeof out->target) {
        snprintf(err, errlen, "node_id: required: a node id, \"proxy\" or \"*\"");
        return MIG_EINVALID;
    }
    snprintf(out->target, sizeof out->target, "%s", target->valuestring);
    const char *c = cJSON_IsString(call) ? call->valuestring : "*";
    if (strlen(c) >= sizeof out->call || (strcmp(c, "*") != 0 && (strchr(c, ' ') == NULL || strchr(c, '/') == NULL))) {
        snprintf(err, errlen, "call: \"*\" or a method and a path such as \"POST /v1/sync\"");
        return MIG_EINVALID;
    }
    snprintf(out->call, sizeof out->call, "%s", c);
    const char *md = cJSON_IsString(mode) ? mode->valuestring : "fail";
    if (strcmp(md, "fail") == 0) {
        out->mode = FAULT_FAIL;
    } else if (strcmp(md, "hang") == 0) {
        out->mode = FAULT_HANG;
    } else if (strcmp(md, "slow") == 0) {
        out->mode = FAULT_SLOW;
    } else if (strcmp(md, "hold") == 0) {
        out->mode = FAULT_HOLD;
    } else {
        snprintf(err, errlen, "mode: must be fail, hang, slow or hold");
        return MIG_EINVALID;
    }
    int times = 0;
    out->status = out->mode == FAULT_HANG ? 504 : 500;
    out->delay_ms = out->mode == FAULT_HANG   ? FAULT_HANG_MS
                    : out->mode == FAULT_SLOW ? FAULT_SLOW_MS
                    : out->mode == FAULT_HOLD ? FAULT_HOLD_MS
                                              : 0;
    if (int_member(body, "times", 0, 1000000, &times, err, errlen) ||
        int_member(body, "status", 400, 599, &out->status, err, errlen) ||
        int_member(body, "delay_ms", 0, 600000, &out->delay_ms, err, errlen))
        return MIG_EINVALID;
    out->times = times > 0 ? times : -1;
    return 0;
}

int fault_add(fault_set_t *f, fault_t *rule) {
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        fault_t *v = realloc(f->v, nc * sizeof *v);
        if (v == NULL) return MIG_ENOMEM;
        f->v = v;
        f->cap = nc;
    }
    rule->id = f->next_id++;
    rule->fired = 0;
    f->v[f->n++] = *rule;
    return 0;
}

void fault_clear(fault_set_t *f) {
    f->n = 0;
}

bool fault_remove(fault_set_t *f, int id) {
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].id != id) continue;
        memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof *f->v);
        f->n--;
        return true;
    }
    return false;
}

bool fault_exists(const fault_set_t *f, int id) {
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].id == id) return true;
    return false;
}

bool fault_take(fault_set_t *f, const char *target, const char *method, const char *path, fault_t *fired) {
    for (size_t i = 0; i < f->n; i++) {
        fault_t *r = &f->v[i];
        if (r->times == 0) continue; /* a used-up hold rule, kept for the calls it holds */
        if (strcmp(r->target, "*") != 0 && strcmp(r->target, target) != 0) continue;
        if (!route_match_call(r->call, method, path)) continue;
        r->fired++;
        f->fired_total++;
        if (r->times > 0) r->times--;
        *fired = *r;
        if (r->times == 0 && r->mode != FAULT_HOLD) {
            memmove(r, r + 1, (f->n - i - 1) * sizeof *r);
            f->n--;
        }
        return true;
    }
    return false;
}

cJSON *fault_to_json(const fault_set_t *f) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < f->n; i++) {
        const fault_t *r = &f->v[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) break;
        cJSON_AddItemToArray(a, o);
        cJSON_AddNumberToObject(o, "id", r->id);
        cJSON_AddStringToObject(o, "node_id", r->target);
        cJSON_AddStringToObject(o, "call", r->call);
        cJSON_AddStringToObject(o, "mode", fault_mode_name(r->mode));
        if (r->times < 0) cJSON_AddNullToObject(o, "times_left");
        else cJSON_AddNumberToObject(o, "times_left", r->times);
        cJSON_AddNumberToObject(o, "status", r->status);
        cJSON_AddNumberToObject(o, "delay_ms", r->delay_ms);
        cJSON_AddNumberToObject(o, "fired", r->fired);
    }
    return a;
}
