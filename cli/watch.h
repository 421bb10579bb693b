/* watch.h - `migratectl watch`: the events of the API's WebSocket (GET /api/ws) printed
 * as they come, one a line, over a client of its own on a socket (the frames are
 * core/wsframe.h's). After a drop it reconnects and resumes after the last event it
 * printed, with ?since=, so a restart of the API loses nothing. */
#ifndef MIG_CLI_WATCH_H
#define MIG_CLI_WATCH_H

#include <signal.h>

#include "cli/args.h"

#define WATCH_CONNECT_TIMEOUT_MS 5000  /* a TCP connect, and the upgrade's answer */
#define WATCH_IDLE_MS 95000            /* silence that means a dead link: the API pings every
                                        * 30 s, so three pings were missed */
#define WATCH_BACKOFF_MIN_MS 200       /* first wait before a reconnect, doubling */
#define WATCH_BACKOFF_MAX_MS 10000     /* longest wait: a restarted API is seen within it */
#define WATCH_MESSAGE_MAX (1 << 20)    /* longest event accepted; the API's are < 4 KiB */

/* Watches with the settings of `a` on the API at `u` until *stop is set (SIGINT,
 * SIGTERM) or stdout is closed: then returns CLI_EXIT_OK. When the first connection
 * fails, returns CLI_EXIT_UNREACHABLE (no answer, a 5xx, not a WebSocket) or the exit
 * code of the API's refusal (401, 400: CLI_EXIT_REFUSED); a refusal after a reconnect
 * ends it the same way. Later drops are retried with backoff, forever. Messages for
 * people go to stderr; stdout holds only events. */
int watch_run(const cli_args_t *a, const cli_url_t *u, volatile sig_atomic_t *stop);

#endif
