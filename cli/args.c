/* args.c - migratectl's command line: parsing, --help, exit codes, request building. */
#include "cli/args.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/timefmt.h"

/* ------------------------------------------------------------------------ help texts */

#define EXIT_CODES                                                                      \
    "Exit codes:\n"                                                                     \
    "  0  ok\n"                                                                         \
    "  1  the API refused the request (a 4xx: its error code and message are printed)\n" \
    "  2  usage error (nothing was sent)\n"                                             \
    "  3  cannot reach the API, or it failed (5xx)\n"                                   \
    "  4  not found (404)\n"

#define ENVIRONMENT                                                                           \
    "Environment:\n"                                                                          \
    "  MIG_API_URL    the API's base URL (default " CLI_DEFAULT_URL "); flag --api-url\n"     \
    "  MIG_API_TOKEN  bearer token, sent as Authorization: Bearer; flag --api-token\n"

static const char usage_main[] =
    "Usage: migratectl [--api-url URL] [--api-token TOKEN] COMMAND [ARGS] [--json]\n"
    "\n"
    "Command-line client of the migration control plane's REST API.\n"
    "\n"
    "Commands:\n"
    "  list      migrations, newest first, with filters\n"
    "  show      one migration, every field\n"
    "  create    a migration of a server to another node\n"
    "  approve   a suggested migration\n"
    "  cancel    a suggested, approved or scheduled migration\n"
    "  delete    an ended migration\n"
    "  stats     the counters of every migration\n"
    "  watch     live events, one line each, until interrupted\n"
    "\n"
    "`migratectl COMMAND --help` describes a command. --json prints the API's JSON as is.\n"
    "\n" ENVIRONMENT "\n" EXIT_CODES;

static const char usage_list[] =
    "Usage: migratectl list [--status S[,S...]] [--server-id ID] [--reason R]\n"
    "                       [--limit N] [--offset N] [--json]\n"
    "\n"
    "Lists migrations, newest first: id, server, from -> to node, status (with the sync's\n"
    "progress while one runs), savings per hour and per month, creation time (UTC).\n"
    "\n"
    "  --status S    any of suggested, approved, scheduled, preparing, transferring,\n"
    "                completing, completed, cancelled, failed; comma-separated\n"
    "  --server-id   only this server's migrations\n"
    "  --reason R    cost-optimization, manual, rebalancing or maintenance\n"
    "  --limit N     at most N (0 to 500, default 50)\n"
    "  --offset N    skip the N newest (default 0)\n"
    "  --json        the API's answer: {\"items\":[...],\"total\":N,\"limit\":L,\"offset\":O}\n"
    "\n" EXIT_CODES;

static const char usage_show[] =
    "Usage: migratectl show ID [--json]\n"
    "\n"
    "Prints every field of one migration as `key: value` lines (null is `-`).\n"
    "\n"
    "  --json   the API's record\n"
    "\n" EXIT_CODES;

static const char usage_create[] =
    "Usage: migratectl create --server-id S --to-node-id N [--reason R] [--notes TEXT]\n"
    "                         [--savings-eur-hour X] [--start-now] [--json]\n"
    "\n"
    "Creates a migration of server S to node N (operator token): it starts `scheduled`,\n"
    "and the scheduler promotes it when the server is idle and the rules hold.\n"
    "\n"
    "  --server-id S          the server to move (required)\n"
    "  --to-node-id N         the node to move it to (required)\n"
    "  --reason R             manual (default), cost-optimization, rebalancing, maintenance\n"
    "  --notes TEXT           a note kept on the migration\n"
    "  --savings-eur-hour X   what the move saves per hour, in euros; per month is X * 730\n"
    "  --start-now            skip the wait for the server to be idle\n"
    "  --at T                 not before T: \"03:00\" (the next 03:00, local time or TZ) or\n"
    "                         an RFC 3339 time, \"2026-12-07T03:00:00+01:00\"\n"
    "  --json                 the created record\n"
    "\n" EXIT_CODES;

static const char usage_approve[] =
    "Usage: migratectl approve ID [--at T] [--json]\n"
    "\n"
    "Approves a suggested migration (operator token); the scheduler then schedules it.\n"
    "With --at it does not start before T: \"03:00\" (the next 03:00, local time or TZ)\n"
    "or an RFC 3339 time, \"2026-12-07T03:00:00+01:00\".\n"
    "A migration in any other status is refused (exit 1, illegal_transition).\n"
    "\n" EXIT_CODES;

static const char usage_cancel[] =
    "Usage: migratectl cancel ID [--json]\n"
    "\n"
    "Cancels a suggested, approved or scheduled migration (operator token). Once a worker\n"
    "has it, it is refused (exit 1, illegal_transition).\n"
    "\n" EXIT_CODES;

static const char usage_delete[] =
    "Usage: migratectl delete ID\n"
    "\n"
    "Deletes an ended migration (completed, cancelled or failed) with its index entries\n"
    "(operator token). One that has not ended is refused (exit 1, not_ended).\n"
    "\n" EXIT_CODES;

static const char usage_stats[] =
    "Usage: migratectl stats [--json]\n"
    "\n"
    "Prints the counters the transitions keep: migrations by status, totals, success\n"
    "rate, average duration, savings, failures by reason, queue lengths.\n"
    "\n" EXIT_CODES;

static const char usage_watch[] =
    "Usage: migratectl watch [--json] [--since EVENT_ID] [--server-id S] [--migration-id M]\n"
    "\n"
    "Prints live events from the API's WebSocket (GET /api/ws), one line each, until\n"
    "interrupted (then exit 0). After a drop it reconnects and resumes after the last\n"
    "event it printed, so nothing is lost or repeated. A `resync` means events were\n"
    "trimmed from the stream before they could be replayed: it is printed, and the watch\n"
    "goes on from the live events.\n"
    "\n"
    "  --json           each event's JSON, one a line, for scripts\n"
    "  --since ID       first every event after this event_id\n"
    "  --server-id S    only this server's events\n"
    "  --migration-id M only this migration's events\n"
    "\n"
    "The first connection's failure exits 3 (1 when the token is refused); later drops\n"
    "are retried with backoff. The API serves WebSockets over plain HTTP only.\n"
    "\n" EXIT_CODES;

static const struct {
    const char *name;
    const char *usage;
} commands[CLI__COUNT] = {
    [CLI_NONE] = {"migratectl", usage_main},      [CLI_LIST] = {"list", usage_list},
    [CLI_SHOW] = {"show", usage_show},            [CLI_CREATE] = {"create", usage_create},
    [CLI_APPROVE] = {"approve", usage_approve},   [CLI_CANCEL] = {"cancel", usage_cancel},
    [CLI_DELETE] = {"delete", usage_delete},      [CLI_STATS] = {"stats", usage_stats},
    [CLI_WATCH] = {"watch", usage_watch},
};

const char *args_usage(cli_cmd_t cmd) {
    return cmd >= CLI_NONE && cmd < CLI__COUNT ? commands[cmd].usage : usage_main;
}

const char *args_cmd_name(cli_cmd_t cmd) {
    return cmd >= CLI_NONE && cmd < CLI__COUNT ? commands[cmd].name : "migratectl";
}

/* ------------------------------------------------------------------------ flags */

#define C(cmd) (1u << (cmd))
#define GLOBAL (1u << CLI__COUNT) /* allowed before the command */

/* Every flag: which commands take it, and where its value goes. */
typedef struct {
    const char *name;
    unsigned cmds;
    size_t off;   /* offset of the field in cli_args_t */
    int boolean;  /* 1: an int set to 1, takes no value */
} flag_t;

static const flag_t flags[] = {
    {"api-url", GLOBAL, offsetof(cli_args_t, api_url), 0},
    {"api-token", GLOBAL, offsetof(cli_args_t, token), 0},
    {"json", C(CLI_LIST) | C(CLI_SHOW) | C(CLI_CREATE) | C(CLI_APPROVE) | C(CLI_CANCEL) | C(CLI_STATS) | C(CLI_WATCH),
     offsetof(cli_args_t, json), 1},
    {"status", C(CLI_LIST), offsetof(cli_args_t, status), 0},
    {"server-id", C(CLI_LIST) | C(CLI_CREATE) | C(CLI_WATCH), offsetof(cli_args_t, server_id), 0},
    {"reason", C(CLI_LIST) | C(CLI_CREATE), offsetof(cli_args_t, reason), 0},
    {"limit", C(CLI_LIST), offsetof(cli_args_t, limit), 0},
    {"offset", C(CLI_LIST), offsetof(cli_args_t, offset), 0},
    {"to-node-id", C(CLI_CREATE), offsetof(cli_args_t, to_node_id), 0},
    {"notes", C(CLI_CREATE), offsetof(cli_args_t, notes), 0},
    {"savings-eur-hour", C(CLI_CREATE), offsetof(cli_args_t, savings), 0},
    {"start-now", C(CLI_CREATE), offsetof(cli_args_t, start_now), 1},
    {"since", C(CLI_WATCH), offsetof(cli_args_t, since), 0},
    {"migration-id", C(CLI_WATCH), offsetof(cli_args_t, migration_id), 0},
    {"at", C(CLI_CREATE) | C(CLI_APPROVE), offsetof(cli_args_t, at), 0},
};

static const flag_t *flag_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return &flags[i];
    return NULL;
}

/* True when `s` is a whole number: digits only, at most 9 of them (the API's ranges
 * are far smaller; the bound keeps it an int without overflow checks). */
static int whole_number(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 9) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* True when `s` is a finite number, all of it. */
static int finite_number(const char *s, double *out) {
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s)) return 0;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

static int has_id(cli_cmd_t c) {
    return c == CLI_SHOW || c == CLI_APPROVE || c == CLI_CANCEL || c == CLI_DELETE;
}

/* Checks what one command needs once every argument is read. */
static int check_command(const cli_args_t *a, char *err, size_t errlen) {
    const char *name = args_cmd_name(a->cmd);
    double v;
    if (has_id(a->cmd) && a->id == NULL) {
        snprintf(err, errlen, "%s: the migration ID is missing", name);
        return MIG_EINVALID;
    }
    if (a->id != NULL && a->id[0] == '\0') {
        snprintf(err, errlen, "%s: the migration ID is empty", name);
        return MIG_EINVALID;
    }
    if (a->cmd == CLI_CREATE && (a->server_id == NULL || a->to_node_id == NULL)) {
        snprintf(err, errlen, "create: --server-id and --to-node-id are required");
        return MIG_EINVALID;
    }
    if (a->savings && !finite_number(a->savings, &v)) {
        snprintf(err, errlen, "create: --savings-eur-hour must be a number of euros, not \"%s\"", a->savings);
        return MIG_EINVALID;
    }
    if (a->limit && !whole_number(a->limit)) {
        snprintf(err, errlen, "list: --limit must be a whole number, not \"%s\"", a->limit);
        return MIG_EINVALID;
    }
    if (a->offset && !whole_number(a->offset)) {
        snprintf(err, errlen, "list: --offset must be a whole number, not \"%s\"", a->offset);
        return MIG_EINVALID;
    }
    return 0;
}

static cli_cmd_t command_find(const char *s) {
    for (int c = CLI_LIST; c < CLI__COUNT; c++)
        if (strcmp(commands[c].name, s) == 0) return (cli_cmd_t)c;
    return CLI_NONE;
}

/* Reads the flag at argv[*i] ("--name", "--name=value" or "--name value"), advancing
 * *i past its value. Returns 0 or MIG_EINVALID with `err` set. */
static int take_flag(int argc, char **argv, int *i, cli_args_t *a, char *err, size_t errlen) {
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *where = a->cmd == CLI_NONE ? "migratectl" : args_cmd_name(a->cmd);
    char help[64]; /* where to read more: "migratectl list --help" */
    snprintf(help, sizeof help, "migratectl %s%s--help", a->cmd == CLI_NONE ? "" : args_cmd_name(a->cmd),
             a->cmd == CLI_NONE ? "" : " ");
    const flag_t *f = flag_find(arg, len);
    if (f == NULL) {
        snprintf(err, errlen, "%s: unknown flag --%.*s (see %s)", where, (int)len, arg, help);
        return MIG_EINVALID;
    }
    if (a->cmd == CLI_NONE && !(f->cmds & GLOBAL)) {
        snprintf(err, errlen, "--%s goes after a command (see %s)", f->name, help);
        return MIG_EINVALID;
    }
    /* global flags are also accepted after the command: scripts often append them */
    if (a->cmd != CLI_NONE && !(f->cmds & (C(a->cmd) | GLOBAL))) {
        snprintf(err, errlen, "%s does not take --%s (see %s)", where, f->name, help);
        return MIG_EINVALID;
    }
    char *field = (char *)a + f->off;
    if (f->boolean) {
        if (eq) {
            snprintf(err, errlen, "%s: --%s takes no value", where, f->name);
            return MIG_EINVALID;
        }
        *(int *)(void *)field = 1;
        return 0;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "%s: --%s needs a value", where, f->name);
            return MIG_EINVALID;
        }
        value = argv[++*i];
    }
    *(const char **)(void *)field = value;
    return 0;
}

int args_parse(int argc, char **argv, cli_args_t *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    err[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
        } else if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            if (take_flag(argc, argv, &i, a, err, errlen) != 0) return MIG_EINVALID;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            snprintf(err, errlen, "%s: unknown flag %s", args_cmd_name(a->cmd), arg);
            return MIG_EINVALID;
        } else if (a->cmd == CLI_NONE && strcmp(arg, "help") == 0 && !a->help) {
            a->help = 1; /* `migratectl help [command]` */
        } else if (a->cmd == CLI_NONE) {
            if ((a->cmd = command_find(arg)) == CLI_NONE) {
                snprintf(err, errlen, "unknown command \"%s\" (see migratectl --help)", arg);
                return MIG_EINVALID;
            }
        } else if (has_id(a->cmd) && a->id == NULL) {
            a->id = arg;
        } else {
            snprintf(err, errlen, "%s: unexpected argument \"%s\"", args_cmd_name(a->cmd), arg);
            return MIG_EINVALID;
        }
    }
    if (a->help) return 0;
    if (a->cmd == CLI_NONE) {
        snprintf(err, errlen, "a command is required (see migratectl --help)");
        return MIG_EINVALID;
    }
    return check_command(a, err, errlen);
}

int args_resolve_at(cli_args_t *a, int64_t now, char *err, size_t errlen) {
    a->not_before[0] = '\0';
    if (a->at == NULL) return 0;
    const char *t = a->at;
    int64_t ms;
    if (strlen(t) == 5 && isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) && t[2] == ':' &&
        isdigit((unsigned char)t[3]) && isdigit((unsigned char)t[4])) {
        int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
        if (h > 23 || m > 59) goto bad;
        time_t now_t = (time_t)now;
        struct tm tm;
        if (localtime_r(&now_t, &tm) == NULL) goto bad;
        /* today at h:m, else tomorrow; mktime settles the day and a DST change between */
        for (int day = 0; day < 2; day++) {
            struct tm want = tm;
            want.tm_mday += day;
            want.tm_hour = h;
            want.tm_min = m;
            want.tm_sec = 0;
            want.tm_isdst = -1;
            time_t at = mktime(&want);
            if (at != (time_t)-1 && at > now_t) {
                timefmt_rfc3339((int64_t)at * 1000, a->not_before);
                return 0;
            }
        }
        goto bad;
    }
    if (strlen(t) >= sizeof a->not_before || timefmt_parse_rfc3339(t, &ms) != 0) goto bad;
    snprintf(a->not_before, sizeof a->not_before, "%s", t);
    return 0;
bad:
    snprintf(err, errlen, "%s: --at must be HH:MM (the next such time, local) or an RFC 3339 time such as "
             "\"2026-12-07T03:00:00+01:00\", not \"%s\"", args_cmd_name(a->cmd), t);
    return MIG_EINVALID;
}

int args_exit_code(long status) {
    if (status >= 200 && status < 300) return CLI_EXIT_OK;
    if (status == 404) return CLI_EXIT_NOT_FOUND;
    if (status >= 400 && status < 500) return CLI_EXIT_REFUSED;
    return CLI_EXIT_UNREACHABLE;
}

const char *args_method(cli_cmd_t cmd) {
    switch (cmd) {
    case CLI_LIST:
    case CLI_SHOW:
    case CLI_STATS: return "GET";
    case CLI_CREATE:
    case CLI_APPROVE:
    case CLI_CANCEL: return "POST";
    case CLI_DELETE: return "DELETE";
    default: return NULL;
    }
}

/* ------------------------------------------------------------------------ requests */

size_t args_escape(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (n + need + 1 > cap) return (size_t)-1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n + 1 > cap) return (size_t)-1;
    out[n] = '\0';
    return n;
}

/* Paths are built by a growing core/strbuf.h builder, checked once at the end. */

/* Appends `value` percent-encoded (a query value or a path segment). */
static void buf_add_escaped(strbuf_t *b, const char *value) {
    size_t cap = strlen(value) * 3 + 1;
    char *e = malloc(cap);
    if (e == NULL) {
        b->failed = 1;
        return;
    }
    size_t n = args_escape(value, e, cap);
    strbuf_add(b, e, n);
    free(e);
}

/* Appends "?name=value" or "&name=value" when `value` is set. */
static void buf_add_param(strbuf_t *b, const char *name, const char *value) {
    if (value == NULL) return;
    strbuf_add(b, strchr(b->s ? b->s : "", '?') ? "&" : "?", 1);
    strbuf_add(b, name, strlen(name));
    strbuf_add(b, "=", 1);
    buf_add_escaped(b, value);
}

char *args_path(const cli_args_t *a) {
    strbuf_t b = STRBUF_INIT;
    static const char base[] = "/api/migrations";
    strbuf_add(&b, base, sizeof base - 1);
    switch (a->cmd) {
    case CLI_LIST:
        buf_add_param(&b, "status", a->status);
        buf_add_param(&b, "server_id", a->server_id);
        buf_add_param(&b, "reason", a->reason);
        buf_add_param(&b, "limit", a->limit);
        buf_add_param(&b, "offset", a->offset);
        break;
    case CLI_CREATE: break;
    case CLI_STATS: strbuf_add(&b, "/stats", 6); break;
    case CLI_SHOW:
    case CLI_DELETE:
    case CLI_APPROVE:
    case CLI_CANCEL:
        strbuf_add(&b, "/", 1);
        buf_add_escaped(&b, a->id ? a->id : "");
        if (a->cmd == CLI_APPROVE) strbuf_add(&b, "/approve", 8);
        if (a->cmd == CLI_CANCEL) strbuf_add(&b, "/cancel", 7);
        break;
    default: free(b.s); return NULL;
    }
    return strbuf_done(&b);
}

char *args_body(const cli_args_t *a) {
    if (a->cmd == CLI_APPROVE && a->not_before[0]) {
        cJSON *o = cJSON_CreateObject();
        char *out = o && cJSON_AddStringToObject(o, "not_before", a->not_before) ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        return out;
    }
    if (a->cmd != CLI_CREATE) return NULL;
    char *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) goto out;
    double savings;
    if (!cJSON_AddStringToObject(o, "server_id", a->server_id ? a->server_id : "")) goto out;
    if (!cJSON_AddStringToObject(o, "to_node_id", a->to_node_id ? a->to_node_id : "")) goto out;
    if (a->reason && !cJSON_AddStringToObject(o, "reason", a->reason)) goto out;
    if (a->notes && !cJSON_AddStringToObject(o, "notes", a->notes)) goto out;
    if (a->savings && finite_number(a->savings, &savings) &&
        !cJSON_AddNumberToObject(o, "savings_eur_hour", savings))
        goto out;
    if (a->start_now && !cJSON_AddTrueToObject(o, "start_now")) goto out;
    if (a->not_before[0] && !cJSON_AddStringToObject(o, "not_before", a->not_before)) goto out;
    out = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return out;
}

char *args_ws_path(const cli_args_t *a, const char *since) {
    strbuf_t b = STRBUF_INIT;
    strbuf_add(&b, "/api/ws", 7);
    buf_add_param(&b, "since", since && since[0] ? since : NULL);
    buf_add_param(&b, "server_id", a->server_id);
    buf_add_param(&b, "migration_id", a->migration_id);
    return strbuf_done(&b);
}

int args_parse_url(const char *url, cli_url_t *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        u->tls = 1;
    } else {
        snprintf(err, errlen, "MIG_API_URL: \"%s\" is not http://host[:port] or https://host[:port]", url);
        return MIG_EINVALID;
    }
    u->port = u->tls ? 443 : 80;
    const char *host_end, *after;
    if (*p == '[') { /* an IPv6 literal */
        host_end = strchr(p, ']');
        if (host_end == NULL) goto bad;
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        after = host_end;
    }
    size_t hl = (size_t)(host_end - p);
    if (hl == 0 || hl >= sizeof u->host) goto bad;
    memcpy(u->host, p, hl);
    u->host[hl] = '\0';
    if (*after == ':') {
        char *end;
        long port = strtol(after + 1, &end, 10);
        if (end == after + 1 || port < 1 || port > 65535) goto bad;
        u->port = (int)port;
        after = end;
    }
    if (*after == '?' || *after == '#') goto bad;
    if (*after != '\0' && *after != '/') goto bad;
    size_t pl = strlen(after);
    while (pl > 0 && after[pl - 1] == '/') pl--; /* "http://h/" and "http://h" are one */
    if (pl >= sizeof u->prefix || memchr(after, '?', pl) || memchr(after, '#', pl)) goto bad;
    memcpy(u->prefix, after, pl);
    u->prefix[pl] = '\0';
    return 0;
bad:
    snprintf(err, errlen, "MIG_API_URL: \"%s\" is not a valid URL (http://host[:port][/path])", url);
    return MIG_EINVALID;
}
