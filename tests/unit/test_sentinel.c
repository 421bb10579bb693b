/* test_sentinel.c - the pure half of Sentinel: the MIG_REDIS_SENTINELS list, and the
 * replies of SENTINEL get-master-addr-by-name and ROLE, built by hand without a socket. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "sentinel.h"
#include "suites.h"

/* ------------------------------------------------------------------------ replies by hand */

static redisReply str_reply(const char *s) {
    return (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s)};
}

static redisReply array_reply(redisReply **elements, size_t n) {
    return (redisReply){.type = REDIS_REPLY_ARRAY, .element = elements, .elements = n};
}

/* ------------------------------------------------------------------------ the list */

START_TEST(test_list_of_three_sentinels_parses_in_order) {
    sentinel_list_t l;
    char err[256] = "";
    ck_assert_int_eq(sentinel_parse_list("10.0.0.1:26379,redis-1.redis-headless:26380,127.0.0.1:5", &l, err,
                                         sizeof err),
                     0);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.v[0].host, "10.0.0.1");
    ck_assert_int_eq(l.v[0].port, 26379);
    ck_assert_str_eq(l.v[1].host, "redis-1.redis-headless");
    ck_assert_int_eq(l.v[1].port, 26380);
    ck_assert_str_eq(l.v[2].host, "127.0.0.1");
    ck_assert_int_eq(l.v[2].port, 5);
}
END_TEST

START_TEST(test_list_allows_spaces_default_port_and_ipv6_brackets) {
    sentinel_list_t l;
    char err[256] = "";
    ck_assert_int_eq(sentinel_parse_list(" a:1 ,  b ,[::1]:26381,[fe80::2]", &l, err, sizeof err), 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.v[0].host, "a");
    ck_assert_int_eq(l.v[0].port, 1);
    ck_assert_str_eq(l.v[1].host, "b");
    ck_assert_int_eq(l.v[1].port, SENTINEL_DEFAULT_PORT);
    ck_assert_str_eq(l.v[2].host, "::1");
    ck_assert_int_eq(l.v[2].port, 26381);
    ck_assert_str_eq(l.v[3].host, "fe80::2");
    ck_assert_int_eq(l.v[3].port, SENTINEL_DEFAULT_PORT);
    char out[64];
    ck_assert_str_eq(sentinel_addr_format(&l.v[2], out, sizeof out), "[::1]:26381");
    ck_assert_str_eq(sentinel_addr_format(&l.v[0], out, sizeof out), "a:1");
}
END_TEST

START_TEST(test_bad_lists_are_refused_with_the_setting_named) {
    const char *bad[] = {"",          " ",         "a:1,",          ",a:1",         "a:1,,b:2",      "a:0",
                         "a:65536",   "a:x",       "a:1x",          ":26379",       "::1:26379",     "[::1",
                         "[::1]x",    "[::1]:",    "[]:1",          "a:123456",     "a:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sentinel_list_t l;
        char err[256] = "";
        ck_assert_msg(sentinel_parse_list(bad[i], &l, err, sizeof err) == MIG_EINVALID, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strncmp(err, "MIG_REDIS_SENTINELS: ", 21) == 0, "\"%s\": %s", bad[i], err);
        ck_assert_int_eq(l.n, 0);
    }
    sentinel_list_t l;
    ck_assert_int_eq(sentinel_parse_list(NULL, &l, NULL, 0), MIG_EINVALID);
}
END_TEST

START_TEST(test_list_longer_than_the_limit_is_refused) {
    char text[SENTINEL_MAX * 16 + 32] = "";
    for (int i = 0; i <= SENTINEL_MAX; i++) {
        char one[16];
        snprintf(one, sizeof one, "%sh%d:1", i ? "," : "", i);
        strcat(text, one);
    }
    sentinel_list_t l;
    char err[256];
    ck_assert_int_eq(sentinel_parse_list(text, &l, err, sizeof err), MIG_EINVALID);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
    /* exactly the limit is fine */
    *strrchr(text, ',') = '\0';
    ck_assert_int_eq(sentinel_parse_list(text, &l, err, sizeof err), 0);
    ck_assert_int_eq(l.n, SENTINEL_MAX);
}
END_TEST

START_TEST(test_host_longer_than_the_limit_is_refused) {
    char text[SENTINEL_HOST_MAX + 16];
    memset(text, 'h', SENTINEL_HOST_MAX + 1);
    strcpy(text + SENTINEL_HOST_MAX + 1, ":1");
    sentinel_list_t l;
    char err[256];
    ck_assert_int_eq(sentinel_parse_list(text, &l, err, sizeof err), MIG_EINVALID);
    text[SENTINEL_HOST_MAX] = ':'; /* SENTINEL_HOST_MAX bytes of host: accepted */
    text[SENTINEL_HOST_MAX + 1] = '1';
    text[SENTINEL_HOST_MAX + 2] = '\0';
    ck_assert_int_eq(sentinel_parse_list(text, &l, err, sizeof err), 0);
    ck_assert_int_eq(strlen(l.v[0].host), SENTINEL_HOST_MAX);
}
END_TEST

/* ------------------------------------------------------------------------ get-master-addr-by-name */

START_TEST(test_master_reply_gives_host_and_port) {
    redisReply h = str_reply("127.0.0.1"), p = str_reply("6380");
    redisReply *el[] = {&h, &p};
    redisReply r = array_reply(el, 2);
    sentinel_addr_t a;
    char err[128] = "";
    ck_assert_int_eq(sentinel_parse_master(&r, &a, err, sizeof err), 0);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_int_eq(a.port, 6380);
}
END_TEST

START_TEST(test_master_unknown_to_the_sentinel_is_not_found) {
    redisReply r = {.type = REDIS_REPLY_NIL};
    sentinel_addr_t a;
    char err[128] = "";
    ck_assert_int_eq(sentinel_parse_master(&r, &a, err, sizeof err), MIG_ENOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, "does not know"));
}
END_TEST

START_TEST(test_master_error_reply_is_eredis_with_its_text) {
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)"ERR unknown command 'SENTINEL'", .len = 30};
    sentinel_addr_t a;
    char err[128] = "";
    ck_assert_int_eq(sentinel_parse_master(&r, &a, err, sizeof err), MIG_EREDIS);
    ck_assert_str_eq(err, "ERR unknown command 'SENTINEL'");
}
END_TEST

START_TEST(test_master_reply_of_another_shape_is_eproto) {
    sentinel_addr_t a;
    char err[128];
    redisReply h = str_reply("127.0.0.1"), p = str_reply("6380"), bad_port = str_reply("63x0"),
               zero = str_reply("0"), empty = str_reply(""), num = {.type = REDIS_REPLY_INTEGER, .integer = 6380};
    redisReply *one[] = {&h}, *three[] = {&h, &p, &p}, *intport[] = {&h, &num}, *badport[] = {&h, &bad_port},
               *zeroport[] = {&h, &zero}, *nohost[] = {&empty, &p};
    redisReply cases[] = {array_reply(one, 1),     array_reply(three, 3),   array_reply(intport, 2),
                          array_reply(badport, 2), array_reply(zeroport, 2), array_reply(nohost, 2),
                          str_reply("127.0.0.1:6380"), {.type = REDIS_REPLY_STATUS, .str = (char *)"OK", .len = 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(sentinel_parse_master(&cases[i], &a, err, sizeof err) == MIG_EPROTO, "case %zu", i);
    ck_assert_int_eq(sentinel_parse_master(NULL, &a, err, sizeof err), MIG_EPROTO);
}
END_TEST

/* ------------------------------------------------------------------------ ROLE */

START_TEST(test_role_master_is_accepted) {
    redisReply role = str_reply("master"), off = {.type = REDIS_REPLY_INTEGER, .integer = 1234},
               reps = {.type = REDIS_REPLY_ARRAY};
    redisReply *el[] = {&role, &off, &reps};
    redisReply r = array_reply(el, 3);
    char err[128] = "";
    ck_assert_int_eq(sentinel_check_role(&r, err, sizeof err), 0);
}
END_TEST

START_TEST(test_role_of_a_demoted_primary_is_refused) {
    /* what the old primary answers once Sentinel made it a replica of the new one */
    redisReply role = str_reply("slave"), host = str_reply("127.0.0.1"), port = {.type = REDIS_REPLY_INTEGER, .integer = 6380},
               state = str_reply("connected"), off = {.type = REDIS_REPLY_INTEGER, .integer = 99};
    redisReply *el[] = {&role, &host, &port, &state, &off};
    redisReply r = array_reply(el, 5);
    char err[128] = "";
    ck_assert_int_eq(sentinel_check_role(&r, err, sizeof err), MIG_EREDIS);
    ck_assert_str_eq(err, "role is slave, not master");
    redisReply s = str_reply("sentinel");
    redisReply *sel[] = {&s};
    r = array_reply(sel, 1);
    ck_assert_int_eq(sentinel_check_role(&r, err, sizeof err), MIG_EREDIS);
}
END_TEST

START_TEST(test_role_reply_of_another_shape_is_eproto) {
    char err[128];
    redisReply e = {.type = REDIS_REPLY_ERROR, .str = (char *)"NOAUTH Authentication required.", .len = 31};
    ck_assert_int_eq(sentinel_check_role(&e, err, sizeof err), MIG_EPROTO);
    ck_assert_ptr_nonnull(strstr(err, "NOAUTH"));
    redisReply empty = {.type = REDIS_REPLY_ARRAY};
    ck_assert_int_eq(sentinel_check_role(&empty, err, sizeof err), MIG_EPROTO);
    ck_assert_int_eq(sentinel_check_role(NULL, err, sizeof err), MIG_EPROTO);
}
END_TEST

/* A primary demoted under a connection answers writes with READONLY: the code must be
 * MIG_EREDIS (the API's 503), never a code of the table that would mean a refusal. */
START_TEST(test_readonly_and_masterdown_replies_are_eredis) {
    const char *ro = "READONLY You can't write against a read only replica.";
    const char *md = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    ck_assert_int_eq(err_from_reply(ro, strlen(ro)), MIG_EREDIS);
    ck_assert_int_eq(err_from_reply(md, strlen(md)), MIG_EREDIS);
}
END_TEST

/* ------------------------------------------------------------------------ the quorum */

static sentinel_answer_t said(const char *host, int port) {
    sentinel_answer_t a = {.ok = 1, .addr.port = port};
    snprintf(a.addr.host, sizeof a.addr.host, "%s", host);
    return a;
}

static const sentinel_answer_t SILENT = {0};

/* A rogue sentinel that names its own address is out-voted by the two honest ones,
 * wherever it stands in the list. */
START_TEST(test_quorum_outvotes_one_rogue_sentinel) {
    sentinel_addr_t p;
    int votes;
    sentinel_answer_t a[3] = {said("10.6.6.6", 6379), said("10.0.0.1", 6379), said("10.0.0.1", 6379)};
    ck_assert_int_eq(sentinel_quorum(a, 3, &p, &votes), 0);
    ck_assert_str_eq(p.host, "10.0.0.1");
    ck_assert_int_eq(votes, 2);
    sentinel_answer_t b[3] = {said("10.0.0.1", 6379), said("10.6.6.6", 6379), said("10.0.0.1", 6379)};
    ck_assert_int_eq(sentinel_quorum(b, 3, &p, &votes), 0);
    ck_assert_str_eq(p.host, "10.0.0.1");
    /* case of a host name does not split the vote; the port does */
    sentinel_answer_t c[3] = {said("Redis-0.redis", 6379), said("redis-0.redis", 6379), said("redis-0.redis", 6380)};
    ck_assert_int_eq(sentinel_quorum(c, 3, &p, &votes), 0);
    ck_assert_int_eq(p.port, 6379);
}
END_TEST

/* The majority is of the configured sentinels, not of those that answered: one honest
 * answer among dead sentinels, or a tie, is no quorum, and a lone rogue is never enough. */
START_TEST(test_quorum_needs_a_majority_of_the_configured_sentinels) {
    sentinel_addr_t p;
    int votes;
    sentinel_answer_t one[3] = {said("10.6.6.6", 6379), SILENT, SILENT};
    ck_assert_int_eq(sentinel_quorum(one, 3, &p, &votes), MIG_ENOT_FOUND);
    ck_assert_int_eq(votes, 1);
    ck_assert_str_eq(p.host, "");
    sentinel_answer_t split[3] = {said("10.0.0.1", 6379), said("10.0.0.2", 6379), SILENT};
    ck_assert_int_eq(sentinel_quorum(split, 3, &p, &votes), MIG_ENOT_FOUND);
    sentinel_answer_t tie[4] = {said("a", 1), said("a", 1), said("b", 1), said("b", 1)};
    ck_assert_int_eq(sentinel_quorum(tie, 4, &p, &votes), MIG_ENOT_FOUND);
    ck_assert_int_eq(votes, 2);
    sentinel_answer_t dead_one[3] = {SILENT, said("10.0.0.1", 6379), said("10.0.0.1", 6379)};
    ck_assert_int_eq(sentinel_quorum(dead_one, 3, &p, &votes), 0);
    sentinel_answer_t five[5] = {said("x", 1), said("x", 1), said("x", 1), said("y", 1), said("y", 1)};
    ck_assert_int_eq(sentinel_quorum(five, 5, &p, &votes), 0);
    ck_assert_str_eq(p.host, "x");
    ck_assert_int_eq(votes, 3);
    sentinel_answer_t single[1] = {said("x", 1)};
    ck_assert_int_eq(sentinel_quorum(single, 1, &p, &votes), 0);
    ck_assert_int_eq(sentinel_quorum(NULL, 0, &p, &votes), MIG_ENOT_FOUND);
}
END_TEST

Suite *suite_sentinel(void) {
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("sentinel");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_list_of_three_sentinels_parses_in_order);
    tcase_add_test(tc, test_list_allows_spaces_default_port_and_ipv6_brackets);
    tcase_add_test(tc, test_bad_lists_are_refused_with_the_setting_named);
    tcase_add_test(tc, test_list_longer_than_the_limit_is_refused);
    tcase_add_test(tc, test_host_longer_than_the_limit_is_refused);
    tcase_add_test(tc, test_master_reply_gives_host_and_port);
    tcase_add_test(tc, test_master_unknown_to_the_sentinel_is_not_found);
    tcase_add_test(tc, test_master_error_reply_is_eredis_with_its_text);
    tcase_add_test(tc, test_master_reply_of_another_shape_is_eproto);
    tcase_add_test(tc, test_role_master_is_accepted);
    tcase_add_test(tc, test_role_of_a_demoted_primary_is_refused);
    tcase_add_test(tc, test_role_reply_of_another_shape_is_eproto);
    tcase_add_test(tc, test_readonly_and_masterdown_replies_are_eredis);
    tcase_add_test(tc, test_quorum_outvotes_one_rogue_sentinel);
    tcase_add_test(tc, test_quorum_needs_a_majority_of_the_configured_sentinels);
    suite_add_tcase(s, tc);
    return s;
}
