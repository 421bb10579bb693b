/* mcfake.c - the game server of the agent's tests: run in a server's directory, it
 * reads server.properties, accepts connections on server-port, speaks RCON on rcon.port
 * (save-off, save-on, save-all flush, list, stop) and, while autosave is on, rewrites a
 * random 4 KiB block of world/region/r.0.0.mca and appends to world/level.log every
 * MCFAKE_TICK_MS, as a Minecraft server saving chunks does. The same commands work on
 * stdin ("Saved the game" is printed on the console). SIGTERM ends it at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/rcon.h"

#define MCFAKE_TICK_MS 20          /* one world write per tick while saving is on */
#define MCFAKE_REGION_BYTES (1 << 20) /* the region file rewritten: 256 blocks */
#define MAX_CLIENTS 8

static int saving = 1, game_fd = -1, rcon_fd = -1, stop_asked;
static char password[128] = "";

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        fprintf(stderr, "mcfake: cannot listen on %d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

static void write_world(void) {
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

/* The answer to one command, as a vanilla server words it. */
static const char *run_command(const char *cmd) {
    if (strcmp(cmd, "save-off") == 0) {
        int was = saving;
        saving = 0;
        return was ? "Automatic saving is now disabled" : "Saving is already turned off";
    }
    if (strcmp(cmd, "save-on") == 0) {
        int was = saving;
        saving = 1;
        return was ? "Saving is already turned on" : "Automatic saving is now enabled";
    }
    if (strcmp(cmd, "save-all flush") == 0 || strcmp(cmd, "save-all") == 0) {
        sync();
        return "Saving the game (this may take a moment!)Saved the game";
    }
    if (strcmp(cmd, "list") == 0) return "There are 0 of a max of 20 players online: ";
    if (strcmp(cmd, "stop") == 0) {
        stop_asked = 1;
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
    FILE *f = fopen("server.properties", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "server-port=", 12) == 0) port = atoi(line + 12);
        if (strncmp(line, "rcon.port=", 10) == 0) rport = atoi(line + 10);
        if (strncmp(line, "rcon.password=", 14) == 0) snprintf(password, sizeof password, "%.100s", line + 14);
    }
    if (f) fclose(f);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)getpid());
    game_fd = listen_on(port);
    if (rport > 0) rcon_fd = listen_on(rport);
    printf("mcfake: listening on %d, rcon %d\n", port, rport);
    fflush(stdout);
    client_t clients[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    char in[512];
    size_t inl = 0;
    int stdin_open = 1;
    while (!stop_asked) {
        struct pollfd pf[3 + MAX_CLIENTS];
        int n = 0;
        pf[n++] = (struct pollfd){.fd = game_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = rcon_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = stdin_open ? 0 : -1, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) pf[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        poll(pf, (nfds_t)n, MCFAKE_TICK_MS);
        if (pf[0].revents & POLLIN) {
            int c = accept(game_fd, NULL, NULL);
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
        if (saving) write_world();
    }
    printf("mcfake: stopped\n");
    return 0;
}
