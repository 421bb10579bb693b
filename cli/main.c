/* main.c - bin/migratectl: the command-line client of the REST API, for operators and
 * scripts. Its exit codes are a contract (cli/args.h, README.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cli/args.h"
#include "cli/format.h"
#include "cli/rest.h"
#include "cli/watch.h"
#include "core/err.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

/* Prints a refused or failed answer to stderr: the API's error code and message when
 * the body is its JSON error, else the status and the start of the body. */
static void print_error(const rest_answer_t *ans) {
    cJSON *j = cJSON_Parse(ans->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(code) && cJSON_IsString(msg))
        fprintf(stderr, "migratectl: %s: %s\n", code->valuestring, msg->valuestring);
    else
        fprintf(stderr, "migratectl: HTTP %ld: %.200s\n", ans->status, ans->body);
    cJSON_Delete(j);
}

/* Prints a successful answer as the command wants it. Returns an exit code: an answer
 * that is not the JSON the API promises counts as the API failing. */
static int print_answer(const cli_args_t *a, const rest_answer_t *ans) {
    if (a->cmd == CLI_DELETE) {
        printf("deleted %s\n", a->id);
        return CLI_EXIT_OK;
    }
    if (a->json) {
        fputs(ans->body, stdout);
        if (ans->len == 0 || ans->body[ans->len - 1] != '\n') fputc('\n', stdout);
        return CLI_EXIT_OK;
    }
    cJSON *j = cJSON_Parse(ans->body);
    char *text = NULL;
    const char *verb = NULL;
    int rv = CLI_EXIT_UNREACHABLE;
    if (!cJSON_IsObject(j)) {
        fprintf(stderr, "migratectl: the API answered %ld with something that is not a JSON object\n", ans->status);
        goto out;
    }
    switch (a->cmd) {
    case CLI_LIST: text = format_table(j); break;
    case CLI_SHOW: text = format_record(j); break;
    case CLI_STATS: text = format_stats(j); break;
    case CLI_CREATE: verb = "created"; break;
    case CLI_APPROVE: verb = "approved"; break;
    case CLI_CANCEL: verb = "cancelled"; break;
    default: break;
    }
    if (verb) { /* one line that names the migration, so the operator has its id */
        char *line = format_summary(j);
        if (line) {
            size_t n = strlen(verb) + strlen(line) + 3;
            if ((text = malloc(n)) != NULL) snprintf(text, n, "%s %s\n", verb, line);
            free(line);
        }
    }
    if (text == NULL) {
        fprintf(stderr, "migratectl: out of memory\n");
        goto out;
    }
    fputs(text, stdout);
    rv = CLI_EXIT_OK;
out:
    free(text);
    cJSON_Delete(j);
    return rv;
}

/* Runs a REST command: one call, its answer printed. Returns the exit code. */
static int run_rest(const cli_args_t *a) {
    char *path = args_path(a);
    char *body = args_body(a);
    char *base = NULL;
    rest_answer_t ans = {0};
    int rv = CLI_EXIT_UNREACHABLE;
    size_t bl = strlen(a->api_url) + 1;
    if (path == NULL || (a->cmd == CLI_CREATE && body == NULL) || (base = malloc(bl)) == NULL) {
        fprintf(stderr, "migratectl: out of memory\n");
        goto out;
    }
    /* the URL as given, less a trailing slash, so that the path's own slash is the one */
    snprintf(base, bl, "%s", a->api_url);
    for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--) base[n - 1] = '\0';
    if (rest_call(base, a->token, args_method(a->cmd), path, body, &ans) != 0) {
        fprintf(stderr, "migratectl: cannot reach the API at %s: %s\n", a->api_url, ans.err);
        goto out;
    }
    rv = args_exit_code(ans.status);
    if (rv != CLI_EXIT_OK)
        print_error(&ans);
    else
        rv = print_answer(a, &ans);
out:
    rest_answer_free(&ans);
    free(path);
    free(body);
    free(base);
    return rv;
}

int main(int argc, char **argv) {
    cli_args_t a;
    cli_url_t u;
    char err[512];
    if (args_parse(argc, argv, &a, err, sizeof err) != 0) {
        fprintf(stderr, "migratectl: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (a.help) {
        fputs(args_usage(a.cmd), stdout);
        return CLI_EXIT_OK;
    }
    if (args_resolve_at(&a, (int64_t)time(NULL), err, sizeof err) != 0) {
        fprintf(stderr, "migratectl: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (a.api_url == NULL) a.api_url = getenv("MIG_API_URL");
    if (a.api_url == NULL || a.api_url[0] == '\0') a.api_url = CLI_DEFAULT_URL;
    if (a.token == NULL) a.token = getenv("MIG_API_TOKEN");
    if (args_parse_url(a.api_url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "migratectl: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    /* A closed pipe is seen as a write error, not a signal that kills. */
    signal(SIGPIPE, SIG_IGN);
    if (a.cmd == CLI_WATCH) {
        /* SIGINT and SIGTERM end a watch cleanly (exit 0); no SA_RESTART, so a blocked
         * poll returns at once. A REST call keeps the default: it dies at once. */
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        return watch_run(&a, &u, &stopping);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "migratectl: cannot initialise libcurl\n");
        return CLI_EXIT_UNREACHABLE;
    }
    int rv = run_rest(&a);
    curl_global_cleanup();
    return rv;
}
