/* rcon.h - the RCON protocol as Minecraft speaks it, pure: packets both ways, the
 * reassembly of a fragmented answer, and the parsers of the answers the node agent acts
 * on (`list`, `save-all flush`, `save-off`, `save-on`). The agent's server owns the socket.
 *
 * Packet (wiki.vg "RCON"; Valve's "Source RCON Protocol"), integers little-endian, unlike
 * the game protocol:
 *   Length int32 (bytes after itself) | Request ID int32 | Type int32 | Payload | 00 00
 * Types: 3 login (payload: the password), 2 command (and the server's login answer), 0 a
 * command's response. The server answers a login with type 2 and the request's id, or id
 * -1 when the password is wrong. It reads a request in one read of at most 1460 bytes (so
 * a payload of at most 1446), and cuts a long answer into packets of 4096 characters with
 * no marker on the last: a client knows the answer ended when the answer to a second
 * packet sent after the command arrives (the server handles a connection's packets in
 * order). The probe used here is a packet of an unknown type, which the vanilla server
 * answers with "Unknown request <type in hex>" and which runs no command. */
#ifndef MIG_RCON_H
#define MIG_RCON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RCON_TYPE_RESPONSE 0       /* server: a command's output */
#define RCON_TYPE_COMMAND 2        /* client: run a command */
#define RCON_TYPE_AUTH_RESPONSE 2  /* server: the answer to a login */
#define RCON_TYPE_LOGIN 3          /* client: the password */
/* An unknown type, sent after a command to learn where its answer ends; wiki.vg's
 * example. Any type but 0, 2, 3 would do. */
#define RCON_TYPE_PROBE 200
#define RCON_AUTH_FAILED_ID (-1)   /* request id of the server's answer to a wrong password */

#define RCON_HEADER 12             /* bytes of length, id and type */
#define RCON_TRAILER 2             /* the two NUL bytes after the payload */
/* Bytes of a whole request: the vanilla server reads one request with one read of at most
 * this many bytes, and drops the connection when the length does not match. */
#define RCON_REQUEST_MAX 1460
#define RCON_REQUEST_PAYLOAD_MAX (RCON_REQUEST_MAX - RCON_HEADER - RCON_TRAILER) /* 1446 */
/* The server cuts its answers into payloads of 4096 UTF-16 characters; in UTF-8 one
 * such payload takes up to 3 bytes a character. */
#define RCON_FRAGMENT_CHARS 4096
#define RCON_RESPONSE_PAYLOAD_MAX (3 * RCON_FRAGMENT_CHARS)

/* One decoded packet; `body` points into the decoder's input (not NUL-terminated). */
typedef struct {
    int32_t id;
    int32_t type;
    const char *body;
    size_t body_len;
} rcon_packet_t;

/* Writes a request into `out` (`cap` bytes): returns its length, or MIG_EINVALID when the
 * body is longer than RCON_REQUEST_PAYLOAD_MAX, contains a NUL byte, or does not fit in
 * `cap`. A buffer of RCON_REQUEST_MAX bytes always fits. */
int rcon_encode(int32_t id, int32_t type, const char *body, size_t n, uint8_t *out, size_t cap);

/* Reads one packet from the start of `p`: its total length (> 0) once all of it is there,
 * 0 when more bytes are needed, MIG_EPROTO when the length is below the smallest packet
 * (10) or above 10 + `max_payload`, or the two NUL bytes are missing. The length is
 * checked as soon as its 4 bytes are in, so a peer cannot make the caller buffer more.
 * A NUL inside the payload ends it (Source servers may send one there). Never reads past
 * `n`. */
int rcon_decode(const uint8_t *p, size_t n, size_t max_payload, rcon_packet_t *pkt);

/* What a packet received after a login says: 0 logged in (type 2, the login's id),
 * MIG_EREFUSED wrong password (id -1), 1 to be ignored (an empty type-0 packet with the
 * login's id, which Source-style servers send first), MIG_EPROTO anything else. */
int rcon_login_result(const rcon_packet_t *pkt, int32_t login_id);

/* ---- A command's answer, reassembled ------------------------------------------------ */

typedef struct {
    int32_t cmd_id;   /* id the command was sent with */
    int32_t probe_id; /* id the probe after it was sent with */
    size_t max;       /* bytes of text the answer may reach before it is refused */
    char *text;       /* the fragments so far, NUL-terminated; owned, rcon_reply_free() */
    size_t len;       /* bytes of text */
    size_t cap;
} rcon_reply_t;

/* Starts an empty answer. The two ids must differ. */
void rcon_reply_init(rcon_reply_t *r, int32_t cmd_id, int32_t probe_id, size_t max);
void rcon_reply_free(rcon_reply_t *r);

/* Takes one packet of the answer: 0 when more may follow (a fragment was appended), 1
 * when the probe's answer arrived (r->text is the whole answer), MIG_EREFUSED when the
 * server says the connection is not logged in (id -1), MIG_EPROTO for a packet of another
 * id or a type other than 0, MIG_ENOMEM, or MIG_EINVALID when the text would pass `max`. */
int rcon_reply_feed(rcon_reply_t *r, const rcon_packet_t *pkt);

/* ---- The answers the agent needs ---------------------------------------------------- */

/* The players of `list`: vanilla's "There are N of a max of M players online: a, b"
 * (en_us "commands.list.players"), Bukkit's older "There are N/M players online:" with the
 * names after it, and `list uuids` ("a (uuid)": the uuid is dropped). Colour codes
 * ("\u00a7x") are removed first. */
typedef struct {
    int online;   /* N */
    int max;      /* M */
    char **names; /* `count` player names, each NUL-terminated; owned, rcon_list_free() */
    size_t count;
} rcon_list_t;

/* 0, MIG_EPROTO when the text is no `list` answer, MIG_ENOMEM. On failure `out` holds
 * nothing to free. */
int rcon_parse_list(const char *text, size_t n, rcon_list_t *out);
void rcon_list_free(rcon_list_t *l);

/* `save-all flush`: 0 when the text says the game was saved ("Saved the game"), MIG_EIO
 * when the server says it could not save, MIG_EPROTO for any other text (an unknown
 * command, a permission error). Over RCON the server's messages arrive concatenated
 * without separators ("Saving the game (this may take a moment!)Saved the game"). */
int rcon_parse_save_all(const char *text, size_t n);

/* `save-off` (`on` false) or `save-on` (`on` true): 0 when automatic saving is now in the
 * asked state, with *already true when it was already ("Saving is already turned off");
 * MIG_EPROTO for any other text, the other state's answers included. */
int rcon_parse_saving(const char *text, size_t n, bool on, bool *already);

#endif
