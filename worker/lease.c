/* lease.c - the worker's own copy of a lease: token and monotonic deadline. */
#include "worker/lease.h"

#include <stdio.h>
#include <string.h>

int64_t lease_deadline(int64_t sent_ms, int64_t lease_ms) {
    return sent_ms + lease_ms - LEASE_MARGIN_MS(lease_ms);
}

void lease_init(lease_t *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
}

void lease_destroy(lease_t *l) {
    pthread_mutex_destroy(&l->lock);
}

void lease_take(lease_t *l, const char *id, uint64_t token, int64_t sent_ms, int64_t lease_ms) {
    pthread_mutex_lock(&l->lock);
    snprintf(l->id, sizeof l->id, "%s", id);
    l->token = token;
    l->deadline_ms = lease_deadline(sent_ms, lease_ms);
    l->lost = false;
    pthread_mutex_unlock(&l->lock);
}

void lease_renew(lease_t *l, uint64_t token, int64_t sent_ms, int64_t lease_ms) {
    pthread_mutex_lock(&l->lock);
    int64_t d = lease_deadline(sent_ms, lease_ms);
    /* a renewal answered late must not pull the deadline back, nor revive a lost lease */
    if (l->token == token && token != 0 && !l->lost && d > l->deadline_ms) l->deadline_ms = d;
    pthread_mutex_unlock(&l->lock);
}

void lease_lose(lease_t *l, uint64_t token) {
    pthread_mutex_lock(&l->lock);
    if (l->token == token) l->lost = true;
    pthread_mutex_unlock(&l->lock);
}

void lease_drop(lease_t *l) {
    pthread_mutex_lock(&l->lock);
    l->id[0] = '\0';
    l->token = 0;
    l->deadline_ms = 0;
    l->lost = false;
    pthread_mutex_unlock(&l->lock);
}

bool lease_current(lease_t *l, char *id, uint64_t *token) {
    pthread_mutex_lock(&l->lock);
    bool held = l->token != 0 && !l->lost;
    if (held) {
        memcpy(id, l->id, sizeof l->id);
        *token = l->token;
    }
    pthread_mutex_unlock(&l->lock);
    return held;
}

int64_t lease_left_ms(lease_t *l, int64_t now_ms, uint64_t *token) {
    pthread_mutex_lock(&l->lock);
    int64_t left = l->token != 0 && !l->lost && l->deadline_ms > now_ms ? l->deadline_ms - now_ms : 0;
    if (token) *token = l->token;
    pthread_mutex_unlock(&l->lock);
    return left;
}
