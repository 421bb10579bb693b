/* sentinel.h - the pure half of finding the Redis primary through Sentinel: the
 * MIG_REDIS_SENTINELS list and the replies of SENTINEL get-master-addr-by-name and ROLE.
 *
 * hiredis does not speak Sentinel, so core/ does; the talking (connects, timeouts, the
 * order in which sentinels are asked, retries) lives in rconn.c, and these functions only
 * read text and replies and count votes, so that Check tests them without a socket.
 *
 * Trust: a sentinel names the server that gets the Redis password and the function
 * library, so no single sentinel is believed: a majority of the configured ones must name
 * the same address (sentinel_quorum), each asked after AUTH when the sentinels have a
 * password (MIG_REDIS_SENTINEL_PASSWORD). */
#ifndef MIG_SENTINEL_H
#define MIG_SENTINEL_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#define SENTINEL_MAX 16          /* sentinels in one list: deployments run 3 or 5 */
#define SENTINEL_HOST_MAX 255    /* longest host: a DNS name is at most 253 bytes */
#define SENTINEL_NAME_MAX 127    /* longest master name we pass to a sentinel */
#define SENTINEL_DEFAULT_PORT 26379 /* Sentinel's own default port, for "host" alone */

/* One address: a sentinel's, or the primary's that a sentinel named. */
typedef struct {
    char host[SENTINEL_HOST_MAX + 1]; /* name, IPv4 or IPv6 address (without brackets) */
    int port;
} sentinel_addr_t;

/* The sentinels of MIG_REDIS_SENTINELS, in the order given. */
typedef struct {
    sentinel_addr_t v[SENTINEL_MAX];
    int n;
} sentinel_list_t;

/* Parses "host:port,host:port" (spaces around entries allowed; "[v6addr]:port" for IPv6;
 * a host without a port means 26379) into `out`. Returns 0, or MIG_EINVALID with
 * "MIG_REDIS_SENTINELS: <why>" in `err` for an empty list, an empty entry, a bad port or
 * more than SENTINEL_MAX entries. */
int sentinel_parse_list(const char *text, sentinel_list_t *out, char *err, size_t errlen);

/* Reads the reply of SENTINEL get-master-addr-by-name: a two-string array [host, port].
 * Returns 0 with the address in `out`; MIG_ENOT_FOUND when the sentinel does not know the
 * master (a nil reply); MIG_EREDIS for an error reply (not a sentinel, say), its text in
 * `err`; MIG_EPROTO for any other shape. */
int sentinel_parse_master(const redisReply *r, sentinel_addr_t *out, char *err, size_t errlen);

/* Reads the reply of ROLE. Returns 0 when the server says it is a master; MIG_EREDIS
 * with "role is <role>" in `err` when it is a replica or a sentinel (right after a
 * failover a sentinel may still name the old primary); MIG_EPROTO for another shape. */
int sentinel_check_role(const redisReply *r, char *err, size_t errlen);

/* What one sentinel said when asked for the primary: `ok` with the address it named, or
 * not ok (unreachable, refused AUTH, does not know the master, answered nonsense). */
typedef struct {
    int ok;
    sentinel_addr_t addr;
} sentinel_answer_t;

/* The quorum of the answers of `n` configured sentinels (answers[i] is sentinel i's; the
 * ones not asked yet are not ok): an address named by a majority of the n configured
 * sentinels, n / 2 + 1 of them, whether or not the others answered. One sentinel, or a
 * minority, that names another address (a rogue one, or one still catching up after a
 * failover) is out-voted and never followed alone. Returns 0 with the address in `out`
 * and its votes in *votes; MIG_ENOT_FOUND while no address has a majority (*votes then
 * holds the most any address has). Host names compare case-insensitively. */
int sentinel_quorum(const sentinel_answer_t *answers, int n, sentinel_addr_t *out, int *votes);

/* Writes "host:port" (or "[v6]:port") into `out` for logs and messages; returns `out`. */
const char *sentinel_addr_format(const sentinel_addr_t *a, char *out, size_t cap);

#endif
