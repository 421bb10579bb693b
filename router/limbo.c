/* limbo.c - the waiting room: a player sent to a room is logged in by the router itself
 * (offline mode: no encryption, no compression, a Login Success with the offline UUID of
 * its name), follows into the configuration state (Login Acknowledged), and is held there
 * with Keep Alives until the bridge moves the room's players: then it gets a Transfer
 * (configuration state) to the router's public address, and comes back by its name to
 * the server it was moved to.
 *
 * What the player sees: the configuration state has no packet that shows text (1.20.5
 * and 1.21's clientbound configuration packets are cookies, plugin messages, Disconnect,
 * Finish Configuration, Keep Alive, Ping, registries, resource packs, feature flags,
 * tags, known packs, Transfer, and in 1.21 report details and server links), so the
 * client shows its "Joining world..." screen while it waits. The room's message is its
 * server-list description (a status ping of the room), and what a client before 1.20.5
 * reads in its login Disconnect. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/log.h"
#include "router/net_private.h"

/* Largest frame a held client may send, bytes: its Client Information and brand plugin
 * message are under 300; resource-pack answers and cookies stay far below this. */
#define LIMBO_FRAME_MAX 32768

void limbo_enter(conn_t *c) {
    router_t *rt = c->rt;
    uint8_t uuid[MCPROTO_UUID_BYTES];
    evbuffer_drain(bufferevent_get_input(c->client), c->greet.handshake_len + c->greet.login_len);
    if (greet_offline_uuid(c->player, uuid) != 0) memcpy(uuid, c->greet.uuid, sizeof uuid);
    mcbuf_t b;
    mcbuf_init(&b);
    greet_login_success_write(&b, c->greet.protocol, uuid, c->player);
    if (mcbuf_status(&b) != 0) {
        mcbuf_free(&b);
        conn_disconnect_login(c, "The waiting room could not log you in.");
        return;
    }
    conn_write(c, &b);
    mcbuf_free(&b);
    c->phase = PHASE_LIMBO;
    c->acked = false;
    rt->m.held_total++;
    conn_timer(c, rt->keepalive_ms);
    log_at(LOG_INFO, "router.held", "player", c->player, "ip", c->ip, "room", c->where, NULL);
}

void limbo_try_transfer(conn_t *c) {
    router_t *rt = c->rt;
    if (!c->acked || c->go_to[0] == '\0' || c->leaving) return;
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_transfer_write(&b, c->greet.protocol, false, rt->public_host, rt->public_port);
    conn_write(c, &b);
    mcbuf_free(&b);
    rt->m.transferred++;
    log_at(LOG_DEBUG, "router.transfer_sent", "player", c->player, "from", c->where, "to", c->go_to, "state",
           "configuration", NULL);
    conn_leave(c);
}

void limbo_read(conn_t *c) {
    struct evbuffer *in = bufferevent_get_input(c->client);
    for (;;) {
        size_t n = evbuffer_get_length(in);
        if (n == 0) return;
        size_t peek = n < LIMBO_FRAME_MAX + MCPROTO_FRAME_LEN_BYTES ? n : LIMBO_FRAME_MAX + MCPROTO_FRAME_LEN_BYTES;
        mcproto_frame_t f;
        int k = mcproto_frame_decode(evbuffer_pullup(in, (ssize_t)peek), peek, LIMBO_FRAME_MAX, &f);
        if (k == 0) return;
        if (k < 0) {
            log_at(LOG_INFO, "router.left_room", "player", c->player, "room", c->where, "why", "not a frame", NULL);
            conn_free(c);
            return;
        }
        if (!c->acked && f.id == mcproto_packet_id(c->greet.protocol, MCPROTO_LOGIN_ACKNOWLEDGED)) {
            c->acked = true;
            evbuffer_drain(in, (size_t)k);
            limbo_try_transfer(c);
            if (c->leaving) return;
            continue;
        }
        /* keep-alive replies, client information, plugin messages: nothing to do */
        evbuffer_drain(in, (size_t)k);
    }
}

void limbo_tick(conn_t *c) {
    router_t *rt = c->rt;
    if (c->acked) {
        mcbuf_t b;
        mcbuf_init(&b);
        mcproto_config_keep_alive_write(&b, c->greet.protocol, false, ++c->keepalive_id);
        conn_write(c, &b);
        mcbuf_free(&b);
    }
    conn_timer(c, rt->keepalive_ms);
}
