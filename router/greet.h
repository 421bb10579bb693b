/* greet.h - the first bytes of a player's connection, read before the router picks a
 * backend: the Handshake and, for a login or a transfer, the Login Start (player name),
 * both bounded; and the packets the router itself answers with in the waiting room and
 * for unknown hosts (Login Success with an offline UUID, status JSON). Pure. */
#ifndef MIG_ROUTER_GREET_H
#define MIG_ROUTER_GREET_H

#include <stddef.h>
#include <stdint.h>

#include "core/mcproto.h"

/* Largest Handshake frame accepted, bytes: 3 (length) + 1 (id) + 5 (protocol) + 3 + 765
 * (a host of 255 characters of up to 3 bytes) + 2 (port) + 1 (intent), rounded up. */
#define GREET_HANDSHAKE_MAX 800
/* Largest Login Start frame, bytes: a name of 16 characters (48 bytes) and a UUID in
 * 1.20.2+; older clients added signature data (1.19: a key of up to ~500 bytes). */
#define GREET_LOGIN_MAX 1024
/* Bytes the router buffers before it has routed a connection: both frames. */
#define GREET_BUFFER_MAX (GREET_HANDSHAKE_MAX + GREET_LOGIN_MAX)

typedef struct {
    int32_t protocol;
    int32_t intent;                          /* MCPROTO_INTENT_* */
    char host[MCPROTO_HOST_MAX * 3 + 1];     /* as sent, NUL-terminated (may hold a NUL: Forge) */
    size_t host_len;
    uint16_t port;
    char name[MCPROTO_NAME_MAX * 3 + 1];     /* player name; "" for status */
    uint8_t uuid[MCPROTO_UUID_BYTES];        /* Login Start's UUID (766+), zeros otherwise */
    size_t handshake_len;                    /* bytes of the Handshake frame */
    size_t login_len;                        /* bytes of the Login Start frame, 0 for status */
} greet_t;

/* Reads the Handshake (and for intent 2 or 3 the Login Start) from the first `n` bytes a
 * client sent. Returns the bytes the greeting took (> 0) once complete, 0 when more are
 * needed, MIG_EPROTO when they can never be one (a legacy ping's 0xFE, a frame too large,
 * a wrong packet id, a malformed field). For protocols before 766 only the name of the
 * Login Start is read (its other fields changed from version to version). */
int greet_parse(const uint8_t *p, size_t n, greet_t *g);

/* The UUID an offline-mode server gives `name`: version 3 of MD5("OfflinePlayer:" name),
 * as vanilla's UUIDUtil.createOfflinePlayerUUID. Returns 0 or MIG_EIO (no MD5). */
int greet_offline_uuid(const char *name, uint8_t out[MCPROTO_UUID_BYTES]);

/* Appends Login Success (login, 0x02 in 766 and 767): UUID, name, no properties, and
 * strictErrorHandling false. */
void greet_login_success_write(mcbuf_t *b, int32_t protocol, const uint8_t uuid[MCPROTO_UUID_BYTES],
                               const char *name);

/* Appends a Status Response whose description is `text` and version the client's
 * protocol, with `online` players: what a server list shows for a waiting room or an
 * unknown host. */
void greet_status_write(mcbuf_t *b, int32_t protocol, const char *text, int online);

/* A JSON text component {"text":"<text>"} of `text`, escaped, into `out` (`cap` bytes);
 * cut to fit. */
void greet_json_text(const char *text, char *out, size_t cap);

#endif
