/* test_cli.c - bin/migratectl as a process against a real bin/migrate-api and
 * redis-server: the output and exit code of every command, the API's refusals, an
 * unreachable API, and `watch` printing events as they happen across an API restart. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/http_client.h"

#define TOKENS "viewer:viewer-token-1,optimizer:optimizer-token-1,operator:operator-token-1"
#define VIEWER "viewer-token-1"
#define OPTIMIZER "optimizer-token-1"
#define OPERATOR "operator-token-1"
#define RUN_MS 20000  /* longest a REST command may take: it answers in milliseconds */
#define WAIT_MS 15000 /* longest wait for an event to show in watch's output */

static api_proc_t api;

/* Every migratectl still running, killed by the teardown of a test that failed midway
 * (and, as a backstop, by PR_SET_PDEATHSIG when the test's process ends). */
static pid_t running[8];

/* ------------------------------------------------------------------------ processes */

/* A migratectl process: its PID and where its stdout and stderr go. */
typedef struct {
    pid_t pid;
    char out[320], err[320];
} ctl_t;

/* Starts migratectl with `args` (NULL-terminated) against `url` with `token` (NULL:
 * none in the environment). Fails the test when it cannot fork. */
static void ctl_start(ctl_t *c, const char *url, const char *token, const char *const *args) {
    static int seq;
    snprintf(c->out, sizeof c->out, "%s/ctl-%d-%d.out", fx_redis.dir, (int)getpid(), seq);
    snprintf(c->err, sizeof c->err, "%s/ctl-%d-%d.err", fx_redis.dir, (int)getpid(), seq++);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300];
    snprintf(bin, sizeof bin, "%s/migratectl", bindir);
    const char *argv[24] = {bin};
    int n = 1;
    while (args[n - 1] && n < 23) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    c->pid = fork();
    ck_assert_int_ge(c->pid, 0);
    if (c->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int o = open(c->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(c->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        setenv("MIG_API_URL", url, 1);
        if (token)
            setenv("MIG_API_TOKEN", token, 1);
        else
            unsetenv("MIG_API_TOKEN");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (running[i] == 0) {
            running[i] = c->pid;
            break;
        }
}

/* Waits up to `ms` for `c` to end. Returns its exit code; fails the test when it did not
 * end or died of a signal. */
static int ctl_wait(ctl_t *c, int ms) {
    int st = harness_wait(c->pid, ms);
    ck_assert_msg(st != -1, "migratectl (pid %d) did not end within %d ms", (int)c->pid, ms);
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (running[i] == c->pid) running[i] = 0;
    ck_assert_msg(WIFEXITED(st), "migratectl died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

/* The whole of a file, NUL-terminated; "" when it does not exist. Caller frees. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 1);
    size_t n = 0;
    ck_assert_ptr_nonnull(s);
    if (f == NULL) return s;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        s = realloc(s, n + k + 1);
        ck_assert_ptr_nonnull(s);
        memcpy(s + n, buf, k);
        n += k;
        s[n] = '\0';
    }
    fclose(f);
    return s;
}

/* Runs migratectl to its end with `token` and the NULL-terminated arguments after it;
 * returns its exit code, with its stdout and stderr in *out and *err (caller frees).
 * A sanitizer's report fails the test: its exit code could pass for a refusal. */
static int ctl(char **out, char **err, const char *token, ...) {
    const char *args[20];
    int n = 0;
    va_list ap;
    va_start(ap, token);
    while (n < 19 && (args[n] = va_arg(ap, const char *)) != NULL) n++;
    va_end(ap);
    args[n] = NULL;
    ctl_t c;
    ctl_start(&c, api.base, token, args);
    int rc = ctl_wait(&c, RUN_MS);
    *out = slurp(c.out);
    *err = slurp(c.err);
    ck_assert_msg(strstr(*err, "Sanitizer") == NULL && strstr(*err, "runtime error") == NULL, "%s", *err);
    return rc;
}

/* Asserts that `hay` contains `needle`. */
#define HAS(hay, needle) ck_assert_msg(strstr((hay), (needle)) != NULL, "\"%s\" lacks \"%s\"", (hay), (needle))

/* The id of the record migratectl printed with --json. */
static void id_of(const char *json, char *id, size_t cap) {
    cJSON *j = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItem(j, "id");
    ck_assert_msg(cJSON_IsString(v), "no id in %s", json);
    snprintf(id, cap, "%s", v->valuestring);
    cJSON_Delete(j);
}

/* Lines in a file. */
static int line_count(const char *path) {
    char *s = slurp(path);
    int n = 0;
    for (char *p = s; *p; p++) n += *p == '\n';
    free(s);
    return n;
}

/* Waits until `path` has at least `lines` lines; fails the test after `ms`. */
static void wait_lines(const char *path, int lines, int ms) {
    for (int waited = 0; line_count(path) < lines; waited += 20) {
        ck_assert_msg(waited < ms, "%s has %d lines, want %d", path, line_count(path), lines);
        timefmt_sleep_ms(20);
    }
}

/* How often `needle` occurs in the file at `path`. */
static int count_in(const char *path, const char *needle) {
    char *s = slurp(path);
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) n++;
    free(s);
    return n;
}

/* Waits until the API has logged `n` WebSocket clients connecting (it logs at debug). */
static void wait_ws_clients(int n, int ms) {
    for (int waited = 0; count_in(api.log, "\"relay.client_connected\"") < n; waited += 20) {
        ck_assert_msg(waited < ms, "no WebSocket client %d in %s", n, api.log);
        timefmt_sleep_ms(20);
    }
}

static void kill_running(void) {
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (running[i] > 0) {
            kill(running[i], SIGKILL);
            harness_wait(running[i], 5000);
            running[i] = 0;
        }
}

/* ------------------------------------------------------------------------ fixtures */

/* Each test of the REST commands shares the case's API; the watch tests start their
 * own, since they stop and restart it (a process can only wait for its own child). */
static void rest_api_up(void) {
    fx_redis_up();
    if (api_proc_start(&api, fx_redis.url, TOKENS, fx_redis.dir, 0) != 0) {
        fprintf(stderr, "test_cli: cannot start migrate-api\n");
        exit(1);
    }
}

static void rest_api_down(void) {
    api_proc_stop(&api);
    fx_redis_down();
}

static void test_up(void) {
    fx_connect();
    fx_fleet(3);
}

static void test_down(void) {
    kill_running();
    fx_disconnect();
}

static void watch_up(void) {
    test_up();
    ck_assert_int_eq(api_proc_start(&api, fx_redis.url, TOKENS, fx_redis.dir, 0), 0);
}

static void watch_down(void) {
    kill_running();
    api_proc_stop(&api);
    fx_disconnect();
}

/* ------------------------------------------------------------------------ REST */

START_TEST(test_create_list_show_cancel_delete_print_and_exit_0) {
    char *out, *err, id[64];
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s1", "--to-node-id", "n2",
                         "--savings-eur-hour", "0.15", "--notes", "kernel update on n1", "--json", NULL),
                     0);
    id_of(out, id, sizeof id);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id=s2", "--to-node-id=n3", "--reason=maintenance",
                         "--start-now", NULL),
                     0);
    HAS(out, "created ");
    HAS(out, "  Server-2  Node-A → Node-C  scheduled  €0.00/h (€0.00/mo)\n");
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&out, &err, VIEWER, "list", NULL), 0);
    HAS(out, "ID ");
    HAS(out, "FROM → TO");
    HAS(out, id);
    HAS(out, "  Server-1  Node-A → Node-B  scheduled  €0.15/h (€109.50/mo)  20");
    HAS(out, "showing 1-2 of 2\n");
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "list", "--status", "scheduled,failed", "--server-id", "s1", "--limit",
                         "5", "--json", NULL),
                     0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "total")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "limit")->valueint, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0), "id")->valuestring, id);
    cJSON_Delete(j);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "list", "--reason", "maintenance", "--offset", "1", NULL), 0);
    HAS(out, "showing none of 1 (offset 1)\n");
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&out, &err, VIEWER, "show", id, NULL), 0);
    HAS(out, "status:                scheduled\n");
    HAS(out, "notes:                 kernel update on n1\n");
    HAS(out, "savings_eur_month:     109.5\n");
    HAS(out, "approved_at:           -\n");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "show", id, "--json", NULL), 0);
    char again[64];
    id_of(out, again, sizeof again);
    ck_assert_str_eq(again, id);
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "cancel", id, NULL), 0);
    HAS(out, "cancelled ");
    HAS(out, "  cancelled  ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "delete", id, NULL), 0);
    char want[96];
    snprintf(want, sizeof want, "deleted %s\n", id);
    ck_assert_str_eq(out, want);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "show", id, NULL), 4);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_stats_prints_counters_and_json) {
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_COMPLETED, &m);
    fx_drive("s2", MIG_FAILED, &m);
    migration_clear(&m);
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "stats", NULL), 0);
    HAS(out, "migrations: 2 (created 2, completed 1, failed 1, cancelled 0");
    HAS(out, "success rate: 50.0%\n");
    HAS(out, "failures by reason: sync 1\n");
    HAS(out, "queues: ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "stats", "--json", NULL), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "completed_total")->valueint, 1);
    cJSON_Delete(j);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_refusals_exit_1_with_the_api_code_and_message) {
    char *out, *err, id[64];
    /* the optimizer's migration is a suggestion, which an operator approves */
    ck_assert_int_eq(ctl(&out, &err, OPTIMIZER, "create", "--server-id", "s1", "--to-node-id", "n2", "--json", NULL), 0);
    id_of(out, id, sizeof id);
    HAS(out, "\"status\":\"suggested\"");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "approve", id, NULL), 1);
    HAS(err, "migratectl: forbidden: ");
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "approve", id, NULL), 0);
    HAS(out, "approved ");
    HAS(out, "  approved  ");
    free(out);
    free(err);
    /* a 409: the state machine forbids approving twice */
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "approve", id, NULL), 1);
    HAS(err, "migratectl: illegal_transition: cannot approve migration ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "delete", id, NULL), 1);
    HAS(err, "migratectl: not_ended: ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s1", "--to-node-id", "n3", NULL), 1);
    HAS(err, "migratectl: active_exists: ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "not-a-token-at-all", "list", NULL), 1);
    HAS(err, "migratectl: unauthorized: ");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, NULL, "list", NULL), 1);
    HAS(err, "unauthorized");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "list", "--limit", "501", NULL), 1); /* the API's range */
    HAS(err, "migratectl: bad_request: limit");
    free(out);
    free(err);
}
END_TEST

START_TEST(test_not_found_exits_4) {
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "show", "019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90", NULL), 4);
    HAS(err, "migratectl: not_found: ");
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "cancel", "019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90", NULL), 4);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s99", "--to-node-id", "n2", NULL), 4);
    HAS(err, "migratectl: no_server: ");
    free(out);
    free(err);
}
END_TEST

START_TEST(test_usage_errors_exit_2_and_help_exits_0) {
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "list", "--limit", "ten", NULL), 2);
    HAS(err, "--limit must be a whole number");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "frobnicate", NULL), 2);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "create", "--server-id", "s1", NULL), 2);
    HAS(err, "--to-node-id");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "--api-url", "ftp://x", "list", NULL), 2);
    HAS(err, "MIG_API_URL");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "--help", NULL), 0);
    HAS(out, "Exit codes:");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, VIEWER, "watch", "--help", NULL), 0);
    HAS(out, "Usage: migratectl watch");
    free(out);
    free(err);
}
END_TEST

/* A TCP port on loopback that nothing listens on. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(test_unreachable_api_exits_3) {
    char url[64], *out, *err;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    const char *const list[] = {"list", NULL};
    const char *const watch[] = {"watch", "--json", NULL};
    ctl_t c;
    ctl_start(&c, url, VIEWER, list);
    ck_assert_int_eq(ctl_wait(&c, RUN_MS), 3);
    err = slurp(c.err);
    HAS(err, "migratectl: cannot reach the API at http://127.0.0.1:");
    free(err);
    ctl_start(&c, url, VIEWER, watch);
    ck_assert_int_eq(ctl_wait(&c, RUN_MS), 3);
    err = slurp(c.err);
    out = slurp(c.out);
    HAS(err, "migratectl: watch: cannot reach the API");
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
}
END_TEST

/* ------------------------------------------------------------------------ watch */

/* The event ids of the stream from `first` on, oldest first, as one string
 * "id\nid\n". Caller frees. */
static char *stream_ids(const char *first) {
    redisReply *r = fx_cmd("XRANGE mig:events %s +", first);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    size_t cap = r->elements * 64 + 1, n = 0;
    char *s = calloc(1, cap);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < r->elements; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\n", r->element[i]->element[0]->str);
    freeReplyObject(r);
    return s;
}

/* The event_id of each line of watch --json, one a line. Caller frees. */
static char *printed_ids(const char *path, int *events) {
    char *s = slurp(path), *save = NULL;
    size_t cap = strlen(s) + 1, n = 0;
    char *ids = calloc(1, cap);
    ck_assert_ptr_nonnull(ids);
    *events = 0;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j != NULL, "not JSON: %s", line);
        const cJSON *id = cJSON_GetObjectItem(j, "event_id");
        ck_assert_msg(cJSON_IsString(id), "no event_id: %s", line);
        n += (size_t)snprintf(ids + n, cap - n, "%s\n", id->valuestring);
        (*events)++;
        cJSON_Delete(j);
    }
    free(s);
    return ids;
}

START_TEST(test_watch_json_prints_events_as_they_happen_and_resumes_after_api_restart) {
    ctl_t w;
    const char *const args[] = {"watch", "--json", NULL};
    ctl_start(&w, api.base, VIEWER, args);
    wait_ws_clients(1, WAIT_MS);
    char *out, *err, id[64];
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s1", "--to-node-id", "n2", "--json", NULL), 0);
    id_of(out, id, sizeof id);
    free(out);
    free(err);
    wait_lines(w.out, 1, WAIT_MS);
    out = slurp(w.out);
    cJSON *ev = cJSON_Parse(out);
    ck_assert_str_eq(cJSON_GetObjectItem(ev, "type")->valuestring, "migration.created");
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "id")->valuestring, id); /* the envelope */
    cJSON_Delete(ev);
    free(out);

    /* the API goes away; changes go on in Redis; an API comes back on the same port */
    int port = api.port;
    ck_assert_int_eq(api_proc_stop(&api), 0);
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(store_cancel_migration(fx_rc, id, &m), 0);
    fx_drive("s2", MIG_SCHEDULED, &m);
    migration_clear(&m);
    ck_assert_int_eq(api_proc_start(&api, fx_redis.url, TOKENS, fx_redis.dir, port), 0);
    wait_ws_clients(1, WAIT_MS); /* the new API's log: the watch came back */
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s3", "--to-node-id", "n2", NULL), 0);
    free(out);
    free(err);

    /* every event of the stream since the watch began (the fleet's came before), in
     * its order, none missed while the API was down and none twice */
    int got_n;
    char *got = printed_ids(w.out, &got_n);
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(got, "\n"), got);
    free(got);
    char *want = stream_ids(first);
    int nwant = 0;
    for (const char *p = want; *p; p++) nwant += *p == '\n';
    ck_assert_int_ge(nwant, 4);
    wait_lines(w.out, nwant, WAIT_MS);
    got = printed_ids(w.out, &got_n);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    err = slurp(w.err);
    HAS(err, "migratectl: watch: reconnected, resuming after ");
    free(err);

    kill(w.pid, SIGTERM);
    ck_assert_int_eq(ctl_wait(&w, 10000), 0);
}
END_TEST

START_TEST(test_watch_prints_one_line_per_event_of_the_filtered_server) {
    ctl_t w;
    const char *const args[] = {"watch", "--server-id", "s2", NULL};
    ctl_start(&w, api.base, VIEWER, args);
    wait_ws_clients(1, WAIT_MS);
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s1", "--to-node-id", "n2", NULL), 0);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, OPERATOR, "create", "--server-id", "s2", "--to-node-id", "n3",
                         "--savings-eur-hour", "0.5", NULL),
                     0);
    free(out);
    free(err);
    wait_lines(w.out, 1, WAIT_MS);
    kill(w.pid, SIGINT);
    ck_assert_int_eq(ctl_wait(&w, 10000), 0);
    /* s1's event came first, so its absence is the filter, not a late arrival */
    out = slurp(w.out);
    ck_assert_int_eq(line_count(w.out), 1);
    HAS(out, " migration.created ");
    HAS(out, " s2 Node-A → Node-C scheduled manual €0.50/h (€365.00/mo)\n");
    free(out);
}
END_TEST

START_TEST(test_watch_with_a_refused_token_exits_1) {
    ctl_t w;
    const char *const args[] = {"watch", NULL};
    ctl_start(&w, api.base, "not-a-token-at-all", args);
    ck_assert_int_eq(ctl_wait(&w, RUN_MS), 1);
    char *err = slurp(w.err);
    HAS(err, "migratectl: watch: unauthorized: ");
    free(err);
}
END_TEST

Suite *suite_cli(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("rest");
    tcase_add_unchecked_fixture(tc, rest_api_up, rest_api_down);
    tcase_add_checked_fixture(tc, test_up, test_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_list_show_cancel_delete_print_and_exit_0);
    tcase_add_test(tc, test_stats_prints_counters_and_json);
    tcase_add_test(tc, test_refusals_exit_1_with_the_api_code_and_message);
    tcase_add_test(tc, test_not_found_exits_4);
    tcase_add_test(tc, test_usage_errors_exit_2_and_help_exits_0);
    tcase_add_test(tc, test_unreachable_api_exits_3);
    suite_add_tcase(s, tc);
    tc = tcase_create("watch");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, watch_up, watch_down);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_watch_json_prints_events_as_they_happen_and_resumes_after_api_restart);
    tcase_add_test(tc, test_watch_prints_one_line_per_event_of_the_filtered_server);
    tcase_add_test(tc, test_watch_with_a_refused_token_exits_1);
    suite_add_tcase(s, tc);
    return s;
}
