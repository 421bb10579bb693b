/* args.h - migratectl's command line: the commands and their flags, the --help texts,
 * the exit codes, and the request each command makes (method, path, query, body). Pure:
 * no I/O, so every rule here is unit-tested (tests/unit/test_cli.c). */
#ifndef MIG_CLI_ARGS_H
#define MIG_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes scripts can rely on; --help and README.md list them. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_REFUSED 1     /* the API refused the request: a 4xx other than 404 */
#define CLI_EXIT_USAGE 2       /* a bad command line: nothing was sent */
#define CLI_EXIT_UNREACHABLE 3 /* no answer from the API, or a 5xx */
#define CLI_EXIT_NOT_FOUND 4   /* 404: no such migration, server, node or endpoint */

#define CLI_DEFAULT_URL "http://127.0.0.1:8080" /* the API's own default MIG_API_LISTEN */

typedef enum {
    CLI_NONE = 0, /* no command: only the program's --help */
    CLI_LIST,
    CLI_SHOW,
    CLI_CREATE,
    CLI_APPROVE,
    CLI_CANCEL,
    CLI_DELETE,
    CLI_STATS,
    CLI_WATCH,
    CLI__COUNT
} cli_cmd_t;

/* A parsed command line. Every string is borrowed from argv (or the environment, for
 * api_url and token, which the caller fills when no flag set them); NULL when absent. */
typedef struct {
    cli_cmd_t cmd;
    int help;               /* --help or `help [command]`: print args_usage(cmd), exit 0 */
    int json;               /* --json: the API's JSON as is (watch: one raw event a line) */
    const char *api_url;    /* --api-url, else MIG_API_URL */
    const char *token;      /* --api-token, else MIG_API_TOKEN */
    const char *id;         /* the migration id of show, approve, cancel, delete */
    const char *status;     /* list: comma-separated statuses */
    const char *server_id;  /* list filter, create's server, watch filter */
    const char *reason;     /* list filter, create's reason */
    const char *limit;      /* list: a whole number, checked here; its range is the API's */
    const char *offset;     /* list: a whole number */
    const char *to_node_id; /* create */
    const char *notes;      /* create */
    const char *savings;    /* create: --savings-eur-hour, a finite number */
    int start_now;          /* create: --start-now */
    const char *since;      /* watch: resume after this event id */
    const char *migration_id; /* watch filter */
    const char *at;         /* create, approve: --at, "03:00" or an RFC 3339 time */
    char not_before[40];    /* --at resolved by args_resolve_at (RFC 3339 UTC); "" for none */
} cli_args_t;

/* Parses argv (argv[0] is the program). Global flags (--api-url, --api-token, --help)
 * may come before the command; a flag takes its value as `--flag VALUE` or
 * `--flag=VALUE`. Returns 0, or MIG_EINVALID with the problem in `err` (exit
 * CLI_EXIT_USAGE): an unknown command or flag, a flag the command does not take, a
 * missing or extra argument, a number that is not one. */
int args_parse(int argc, char **argv, cli_args_t *a, char *err, size_t errlen);

/* Resolves --at into a->not_before: "HH:MM" is the next such time of day in local time
 * (the TZ environment variable, else the system's zone) after `now` (Unix s), an RFC
 * 3339 time ("2026-12-07T03:00:00+01:00") is taken as it is. Only the clock reading is
 * the caller's, so tests pass `now`. Returns 0 (also when --at is absent), or
 * MIG_EINVALID with the problem in `err`. */
int args_resolve_at(cli_args_t *a, int64_t now, char *err, size_t errlen);

/* The --help text of `cmd` (CLI_NONE: the program's, with every command and the exit
 * codes). Static storage. */
const char *args_usage(cli_cmd_t cmd);

/* The command's name ("list"), or "migratectl" for CLI_NONE. */
const char *args_cmd_name(cli_cmd_t cmd);

/* The exit code for an HTTP status: 2xx 0, 404 4, other 4xx 1, anything else 3. */
int args_exit_code(long http_status);

/* The HTTP method of a REST command ("GET", "POST", "DELETE"); NULL for watch. */
const char *args_method(cli_cmd_t cmd);

/* The request path of a REST command with its query, every value percent-encoded:
 * "/api/migrations?status=scheduled%2Cfailed&limit=10". Returns a string the caller
 * frees with free(), or NULL when out of memory or for watch. */
char *args_path(const cli_args_t *a);

/* The JSON body of create: {"server_id","to_node_id","reason","notes",
 * "savings_eur_hour","start_now","not_before"} with the absent ones left out; of approve
 * with --at, {"not_before"}. Returns a string the caller frees with free(), or NULL
 * when out of memory, for approve without --at, or for any other command. */
char *args_body(const cli_args_t *a);

/* The path of watch's WebSocket: "/api/ws" with since (the given one, which a
 * reconnect replaces by the last event seen; NULL or "" for none), server_id and
 * migration_id. Caller frees with free(); NULL when out of memory. */
char *args_ws_path(const cli_args_t *a, const char *since);

/* An API base URL taken apart: http://host[:port][/prefix]. */
typedef struct {
    int tls;            /* 1 for https */
    char host[256];     /* without the brackets of an IPv6 address */
    int port;           /* 80 or 443 when not given */
    char prefix[256];   /* path before /api, without a trailing slash; often empty */
} cli_url_t;

/* Parses `url`. Returns 0 or MIG_EINVALID with the problem in `err`. */
int args_parse_url(const char *url, cli_url_t *u, char *err, size_t errlen);

/* Percent-encodes `in` for a query value or a path segment: every byte but
 * A-Z a-z 0-9 - . _ ~ becomes %XX. Returns the encoded length, or (size_t)-1 when it
 * does not fit in `cap` bytes with its NUL. */
size_t args_escape(const char *in, char *out, size_t cap);

#endif
