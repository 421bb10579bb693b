/* mcfake.c - the game server of the agent's tests: run in a server's directory, it
 * reads server.properties, speaks RCON on rcon.port (save-off, save-on, save-all flush,
 * list, stop) and Server List Ping on server-port (status with the players online, ping),
 * and, while autosave is on, rewrites a random 4 KiB block of world/region/r.0.0.mca and
 * appends to world/level.log every MCFAKE_TICK_MS, as a Minecraft server saving chunks
 * does. The same commands work on stdin ("Saved the game" is printed on the console).
 * SIGTERM ends it at once (unless mcfake-stubborn=true, below).
 *
 * What the tests set and read in its directory:
 *   mcfake-players        a number: the players online that `list` and the ping report
 *                         (read at each question; 0 when absent)
 *   mcfake-slp=false      in server.properties: the game port accepts and closes, answering
 *                         no ping (a hung server)
 *   mcfake-rcon=false     in server.properties: nothing listens on rcon.port (RCON fails)
 *   start.sum, save-off.sum  written at start-up (before any write) and at each save-off:
 *                         "<fnv1a64> <size> <path>" of every file under world/, sorted, so a
 *                         test can tell that a migrated server started on exactly the world
 *                         its source had when it was quiesced
 *   server-ip=ADDR        in server.properties: the game port listens there (0.0.0.0: every
 *                         address, as a node's server seen from outside); absent: 127.0.0.1.
 *                         RCON stays on 127.0.0.1
 *   mcfake-sums=false     in server.properties: no .sum files (hashing a world of gigabytes
 *                         would be the whole start-up: bench/move.c)
 *   mcfake-stubborn=true  in server.properties: SIGTERM and the `stop` command are ignored
 *                         (a server that takes longer to stop than a call lasts); only
 *                         SIGKILL ends it
 *   mcfake-write-bytes-s=N  in server.properties: instead of the block per tick, re-saves
 *                         random chunks (runs of 1-8 sectors, and their header entries) of
 *                         the region files found under world/region at start, N bytes a
 *                         second paced by the clock, as a busy Minecraft server saving */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/rcon.h"
#include "core/mcproto.h"

#define MCFAKE_TICK_MS 20          /* one world write per tick while saving is on */
#define MCFAKE_REGION_BYTES (1 << 20) /* the region file rewritten: 256 blocks */
#define MAX_CLIENTS 8
#define MCFAKE_BIND_WAIT_MS 60000  /* a port in use: how long to wait for it (listen_on) */
#define SUM_FILES_MAX 4096         /* files of world/ listed in a .sum: a test world has a few */
#define GAME_BUF 1024              /* bytes a ping client may send before its status request */

static int saving = 1, game_fd = -1, rcon_fd = -1, stop_asked, slp_on = 1, rcon_on = 1, sums_on = 1, stubborn;
static char password[128] = "";
static long long write_rate; /* bytes/s of re-saved chunks (mcfake-write-bytes-s); 0: a block a tick */

#define SECTOR 4096         /* a region file's unit: 8 KiB header (2 sectors), chunks in sectors */
#define CHUNK_SECTORS_MAX 8 /* a re-saved chunk's sectors: 1 to 8, as sync.c's generator */
#define REGIONS_MAX 65536   /* region files paced writes spread over: 64 Ki x 10 MiB = 640 GiB */
#define RATE_GAP_MS 1000    /* a pause longer than this (saving off) owes nothing: no burst after */

typedef struct {
    char path[300];
    long long sectors; /* the file's size in sectors when found */
} region_t;

static region_t *regions;
static size_t nregions;

/* Listens on `ip` (NULL: 127.0.0.1):port. A port in use is tried again for MCFAKE_BIND_WAIT_MS: the
 * tests' nodes share one loopback, so a server moved to another agent gets the ports of
 * its source (the same server.properties), which it releases when it is stopped. */
static int listen_on(const char *ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ip && inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        fprintf(stderr, "mcfake: server-ip=%s is no IPv4 address\n", ip);
        exit(1);
    }
    int rc;
    for (int waited = 0; (rc = bind(fd, (struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EADDRINUSE &&
                         waited < MCFAKE_BIND_WAIT_MS;
         waited += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc != 0 || listen(fd, 16) != 0) {
        fprintf(stderr, "mcfake: cannot listen on %d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Finds the region files of world/region (those of at least 3 sectors) for paced writes. */
static void find_regions(void) {
    DIR *d = opendir("world/region");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && nregions < REGIONS_MAX) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".mca") != 0) continue;
        if (nregions % 1024 == 0) {
            region_t *r = realloc(regions, (nregions + 1024) * sizeof *regions);
            if (r == NULL) exit(5);
            regions = r;
        }
        region_t *r = &regions[nregions];
        snprintf(r->path, sizeof r->path, "world/region/%s", e->d_name);
        struct stat st;
        if (stat(r->path, &st) != 0 || st.st_size / SECTOR < 3) continue;
        r->sectors = st.st_size / SECTOR;
        nregions++;
    }
    if (d) closedir(d);
}

static long long mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Re-saves what the clock owes at write_rate: each chunk, 1-8 sectors of fresh bytes at a
 * random place past the header of a random region file, and its location and timestamp
 * entries in the header. */
static void write_paced(void) {
    static long long last_ms, owed;
    static unsigned char buf[CHUNK_SECTORS_MAX * SECTOR];
    long long now = mono_ms();
    if (last_ms == 0 || now - last_ms > RATE_GAP_MS) last_ms = now; /* first call, or saving resumed */
    owed += write_rate * (now - last_ms) / 1000;
    last_ms = now;
    while (owed >= SECTOR) {
        region_t *r = &regions[(size_t)random() % nregions];
        long long run = 1 + random() % CHUNK_SECTORS_MAX;
        if (run > r->sectors - 2) run = r->sectors - 2;
        long long at = 2 + random() % (r->sectors - 1 - run);
        for (size_t k = 0; k < (size_t)run * SECTOR; k += sizeof(long)) {
            long v = random();
            memcpy(buf + k, &v, sizeof v);
        }
        int fd = open(r->path, O_WRONLY);
        if (fd < 0) exit(3);
        uint32_t slot = (uint32_t)(random() % 1024), loc = htonl((uint32_t)(at << 8 | run)),
                 stamp = htonl((uint32_t)time(NULL));
        if (pwrite(fd, buf, (size_t)run * SECTOR, (off_t)at * SECTOR) < 0 ||
            pwrite(fd, &loc, 4, (off_t)slot * 4) < 0 || pwrite(fd, &stamp, 4, SECTOR + (off_t)slot * 4) < 0)
            exit(3);
        close(fd);
        owed -= run * SECTOR;
    }
}

static void write_world(void) {
    if (write_rate > 0 && nregions > 0) {
        write_paced();
        FILE *f = fopen("world/level.log", "a");
        if (f) {
            fprintf(f, "tick %ld\n", random());
            fclose(f);
        }
        return;
    }
    mkdir("world", 0755);
    mkdir("world/region", 0755);
    int fd = open("world/region/r.0.0.mca", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
        char block[4096];
        long r = random();
        memset(block, (int)(r & 0xff), sizeof block);
        snprintf(block, 64, "tick %ld", r);
        if (pwrite(fd, block, sizeof block, (off_t)((r >> 8) % (MCFAKE_REGION_BYTES / 4096)) * 4096) < 0) exit(3);
        close(fd);
    }
    FILE *f = fopen("world/level.log", "a");
    if (f) {
        fprintf(f, "tick %ld\n", random());
        fclose(f);
    }
}

/* The players online: the number in ./mcfake-players, read now. */
static int players_online(void) {
    FILE *f = fopen("mcfake-players", "r");
    int n = 0;
    if (f) {
        if (fscanf(f, "%d", &n) != 1 || n < 0 || n > 1000) n = 0;
        fclose(f);
    }
    return n;
}

/* Appends the regular files under `dir` (relative) to `paths`. */
static void list_files(const char *dir, char **paths, size_t *n) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < SUM_FILES_MAX) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) list_files(path, paths, n);
        else if (S_ISREG(st.st_mode)) paths[(*n)++] = strdup(path);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes `name` (atomically): FNV-1a 64 and size of every file under world/, sorted. */
static void write_sum(const char *name) {
    static char *paths[SUM_FILES_MAX];
    size_t n = 0;
    list_files("world", paths, &n);
    qsort(paths, n, sizeof *paths, cmp_str);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    FILE *out = fopen(tmp, "w");
    if (out == NULL) exit(4);
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "r");
        uint64_t h = 0xcbf29ce484222325ull, size = 0;
        unsigned char buf[65536];
        size_t r;
        while (f && (r = fread(buf, 1, sizeof buf, f)) > 0) {
            for (size_t k = 0; k < r; k++) h = (h ^ buf[k]) * 0x100000001b3ull;
            size += r;
        }
        if (f) fclose(f);
        fprintf(out, "%016llx %llu %s\n", (unsigned long long)h, (unsigned long long)size, paths[i]);
        free(paths[i]);
    }
    if (fclose(out) != 0 || rename(tmp, name) != 0) exit(4);
}

/* The answer to one command, as a vanilla server words it. */
static const char *run_command(const char *cmd) {
    if (strcmp(cmd, "save-off") == 0) {
        int was = saving;
        saving = 0;
        if (sums_on) write_sum("save-off.sum");
        return was ? "Automatic saving is now disabled" : "Saving is already turned off";
    }
    if (strcmp(cmd, "save-on") == 0) {
        int was = saving;
        saving = 1;
        return was ? "Saving is already turned on" : "Automatic saving is now enabled";
    }
    if (strcmp(cmd, "save-all flush") == 0 || strcmp(cmd, "save-all") == 0) {
        /* paced writes are in the files already (pwrite): a machine-wide sync() would
         * time the machine's other writers, not this server's save (bench/move.c) */
        if (write_rate == 0) sync();
        return "Saving the game (this may take a moment!)Saved the game";
    }
    if (strcmp(cmd, "list") == 0) {
        static char text[4096];
        int n = players_online(), at = snprintf(text, sizeof text, "There are %d of a max of 20 players online: ", n);
        for (int i = 0; i < n && at < (int)sizeof text - 32; i++)
            at += snprintf(text + at, sizeof text - (size_t)at, "%sPlayer%d", i ? ", " : "", i + 1);
        return text;
    }
    if (strcmp(cmd, "stop") == 0) {
        stop_asked = !stubborn;
        return "Stopping the server";
    }
    return "Unknown command";
}

typedef struct {
    int fd;
    unsigned char buf[RCON_REQUEST_MAX * 2];
    size_t have;
    int authed;
} client_t;

static void send_packet(int fd, int32_t id, int32_t type, const char *body) {
    uint8_t out[RCON_REQUEST_MAX];
    int n = rcon_encode(id, type, body, strlen(body), out, sizeof out);
    if (n > 0 && send(fd, out, (size_t)n, MSG_NOSIGNAL) != n) return;
}

/* A client of the game port: a Server List Ping in progress. */
typedef struct {
    int fd;
    unsigned char buf[GAME_BUF];
    size_t have;
    int shook; /* the handshake (intent status) has come */
} game_client_t;

/* Sends one frame built by `b`; the buffer is reset. */
static void send_frame(int fd, mcbuf_t *b) {
    if (mcbuf_status(b) == 0 && send(fd, b->buf, b->len, MSG_NOSIGNAL) != (ssize_t)b->len) {
        /* the client left: it is closed on its next read */
    }
    mcbuf_reset(b);
}

/* Serves a ping client: handshake, status request (the status JSON with the players
 * online), ping (echoed, then closed). Returns 0 to keep it, -1 to close it. */
static int serve_game(game_client_t *c) {
    ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
    if (r <= 0) return -1;
    c->have += (size_t)r;
    for (;;) {
        mcproto_frame_t f;
        int n = mcproto_frame_decode(c->buf, c->have, sizeof c->buf, &f);
        if (n < 0) return -1;
        if (n == 0) return 0;
        mcbuf_t b;
        mcbuf_init(&b);
        int keep = 0;
        if (!c->shook) {
            mcproto_handshake_t hs;
            if (f.id != 0 || mcproto_handshake_read(f.body, f.body_len, &hs) != 0 ||
                hs.intent != MCPROTO_INTENT_STATUS)
                keep = -1; /* a login: this server takes no players */
            c->shook = 1;
        } else if (f.id == 0 && mcproto_status_request_read(f.body, f.body_len) == 0) {
            char json[256];
            int k = snprintf(json, sizeof json,
                             "{\"version\":{\"name\":\"mcfake\",\"protocol\":767},"
                             "\"players\":{\"max\":20,\"online\":%d},\"description\":{\"text\":\"mcfake\"}}",
                             players_online());
            mcproto_status_response_write(&b, json, (size_t)k);
            send_frame(c->fd, &b);
        } else if (f.id == 1) {
            int64_t v;
            if (mcproto_ping_read(f.body, f.body_len, &v) == 0) {
                mcproto_pong_write(&b, v);
                send_frame(c->fd, &b);
            }
            keep = -1;
        } else {
            keep = -1;
        }
        mcbuf_free(&b);
        memmove(c->buf, c->buf + n, c->have - (size_t)n);
        c->have -= (size_t)n;
        if (keep != 0) return keep;
    }
}

/* Serves what a client sent; returns 0 to keep it, -1 to close it. */
static int serve(client_t *c) {
    ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
    if (r <= 0) return -1;
    c->have += (size_t)r;
    for (;;) {
        rcon_packet_t p;
        int n = rcon_decode(c->buf, c->have, RCON_REQUEST_PAYLOAD_MAX, &p);
        if (n < 0) return -1;
        if (n == 0) return 0;
        char body[RCON_REQUEST_MAX];
        snprintf(body, sizeof body, "%.*s", (int)p.body_len, p.body);
        if (p.type == RCON_TYPE_LOGIN) {
            c->authed = strcmp(body, password) == 0;
            send_packet(c->fd, c->authed ? p.id : RCON_AUTH_FAILED_ID, RCON_TYPE_AUTH_RESPONSE, "");
        } else if (!c->authed) {
            send_packet(c->fd, RCON_AUTH_FAILED_ID, RCON_TYPE_RESPONSE, "");
        } else if (p.type == RCON_TYPE_COMMAND) {
            send_packet(c->fd, p.id, RCON_TYPE_RESPONSE, run_command(body));
        } else {
            char t[64];
            snprintf(t, sizeof t, "Unknown request %x", (unsigned)p.type);
            send_packet(c->fd, p.id, RCON_TYPE_RESPONSE, t);
        }
        memmove(c->buf, c->buf + n, c->have - (size_t)n);
        c->have -= (size_t)n;
    }
}

int main(void) {
    int port = 25565, rport = 0;
    char server_ip[64] = "";
    FILE *f = fopen("server.properties", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "server-port=", 12) == 0) port = atoi(line + 12);
        if (strncmp(line, "rcon.port=", 10) == 0) rport = atoi(line + 10);
        if (strncmp(line, "rcon.password=", 14) == 0) snprintf(password, sizeof password, "%.100s", line + 14);
        if (strcmp(line, "mcfake-slp=false") == 0) slp_on = 0;
        if (strcmp(line, "mcfake-rcon=false") == 0) rcon_on = 0;
        if (strcmp(line, "mcfake-sums=false") == 0) sums_on = 0;
        if (strcmp(line, "mcfake-stubborn=true") == 0) stubborn = 1;
        if (strncmp(line, "server-ip=", 10) == 0) snprintf(server_ip, sizeof server_ip, "%.60s", line + 10);
        if (strncmp(line, "mcfake-write-bytes-s=", 21) == 0) write_rate = atoll(line + 21);
    }
    if (f) fclose(f);
    signal(SIGPIPE, SIG_IGN);
    if (stubborn) signal(SIGTERM, SIG_IGN);
    srandom((unsigned)getpid());
    if (sums_on) write_sum("start.sum"); /* the world as this server found it, before it writes */
    if (write_rate > 0) find_regions();
    game_fd = listen_on(server_ip[0] ? server_ip : NULL, port);
    if (rport > 0 && rcon_on) rcon_fd = listen_on(NULL, rport);
    printf("mcfake: listening on %d, rcon %d\n", port, rport);
    fflush(stdout);
    static client_t clients[MAX_CLIENTS];
    static game_client_t games[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = games[i].fd = -1;
    char in[512];
    size_t inl = 0;
    int stdin_open = 1;
    while (!stop_asked) {
        struct pollfd pf[3 + 2 * MAX_CLIENTS];
        int n = 0;
        pf[n++] = (struct pollfd){.fd = game_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = rcon_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = stdin_open ? 0 : -1, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) pf[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) pf[n++] = (struct pollfd){.fd = games[i].fd, .events = POLLIN};
        poll(pf, (nfds_t)n, MCFAKE_TICK_MS);
        if (pf[0].revents & POLLIN) {
            int c = accept(game_fd, NULL, NULL);
            for (int i = 0; c >= 0 && slp_on && i < MAX_CLIENTS; i++)
                if (games[i].fd < 0) {
                    games[i].fd = c, games[i].have = 0, games[i].shook = 0;
                    c = -1;
                }
            if (c >= 0) close(c);
        }
        if (rcon_fd >= 0 && (pf[1].revents & POLLIN)) {
            int c = accept(rcon_fd, NULL, NULL);
            for (int i = 0; c >= 0 && i < MAX_CLIENTS; i++)
                if (clients[i].fd < 0) {
                    clients[i] = (client_t){.fd = c};
                    c = -1;
                }
            if (c >= 0) close(c);
        }
        if (pf[2].revents & (POLLIN | POLLHUP)) {
            ssize_t r = read(0, in + inl, sizeof in - 1 - inl);
            if (r <= 0) stdin_open = 0;
            else inl += (size_t)r;
            char *nl;
            while ((nl = memchr(in, '\n', inl)) != NULL) {
                *nl = '\0';
                printf("%s\n", run_command(in));
                fflush(stdout);
                size_t used = (size_t)(nl + 1 - in);
                memmove(in, nl + 1, inl - used);
                inl -= used;
            }
            if (inl == sizeof in - 1) inl = 0;
        }
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0 && (pf[3 + i].revents & (POLLIN | POLLHUP)) && serve(&clients[i]) != 0) {
                close(clients[i].fd);
                clients[i].fd = -1;
            }
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (games[i].fd >= 0 && (pf[3 + MAX_CLIENTS + i].revents & (POLLIN | POLLHUP)) &&
                serve_game(&games[i]) != 0) {
                close(games[i].fd);
                games[i].fd = -1;
            }
        if (saving) write_world();
    }
    printf("mcfake: stopped\n");
    return 0;
}
