/* vip_load.c -- load and failover probes for the VIP benchmark and tests
 * (tests/bench/vip.sh, tests/integration/balancer_vip.sh): a backend, and
 * clients measuring new connections per second, throughput and failover,
 * the same against edge-balancer and HAProxy. One epoll loop per process.
 *
 *   vip_load echo ADDR:PORT ID          a backend: echoes every byte, except
 *                                       that each '?' is answered "ID\n"
 *   vip_load rate ADDR:PORT SRC CONC SECS
 *       CONC connections at a time from SRC, each: connect, send "ping\n",
 *       read it back, close; prints "rate N conns in S s: R/s, E errors"
 *   vip_load tput ADDR:PORT SRC CONC SECS
 *       CONC connections from SRC streaming 16 KiB blocks through the echo
 *       (at most 256 KiB in flight each); prints "tput B bytes back in S s:
 *       R MB/s, E errors"
 *   vip_load whoami ADDR:PORT SRC       one connection: prints the backend's ID
 *   vip_load failover ADDR:PORT SRC SECS
 *       learns the backend serving SRC, prints "serving ID" and then keeps
 *       asking on new connections (every 5 ms, 3 s per try) until another
 *       backend answers: "switched OLD NEW at EPOCH_US after N failed tries",
 *       or "noswitch" after SECS
 *   vip_load hold ADDR:PORT SRC N SECS
 *       opens N connections from SRC and holds them silent for SECS; prints
 *       "held K open, C closed by the peer, E failed" at the end */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 16384
#define INFLIGHT (256 * 1024)

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t epoch_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "vip_load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (!colon) {
        snprintf(host, sizeof(host), "%s", s);
    } else {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
        sa->sin_port = htons((uint16_t)atoi(colon + 1));
    }
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static struct sockaddr_in dst, src;

/* A non-blocking connect from src to dst; -1 on immediate failure. */
static int open_conn(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (src.sin_addr.s_addr && bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- echo backend ---------------------------------------------------------------- */

/* Write everything, waiting when the socket is full (the clients read it
 * all back, so this never waits long). */
static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 1000);
            continue;
        }
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static int run_echo(const char *id)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (struct sockaddr *)&dst, sizeof(dst)) < 0 || listen(l, 4096) < 0)
        die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    char idline[80];
    int idlen = snprintf(idline, sizeof(idline), "%s\n", id);
    static char buf[65536];
    printf("echo %s listening\n", id);
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                for (;;) {
                    int c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(fd);
                continue;
            }
            /* echo, each '?' answered with the id */
            const char *p = buf, *e = buf + r;
            while (p < e) {
                const char *q = memchr(p, '?', (size_t)(e - p));
                write_all(fd, p, (size_t)((q ? q : e) - p));
                if (!q)
                    break;
                write_all(fd, idline, (size_t)idlen);
                p = q + 1;
            }
        }
    }
    return 0;
}

/* ---- rate and throughput clients ------------------------------------------- */

struct cl {
    int fd;
    size_t sent, got; /* rate: bytes of "ping\n"; tput: bytes total */
};

static int run_clients(bool tput, int conc, double secs)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct cl *cls = calloc((size_t)conc, sizeof(*cls));
    static char block[BLOCK], rbuf[65536];
    memset(block, 'a', sizeof(block));
    uint64_t done = 0, errors = 0, bytes = 0;
    uint64_t t0 = now_us(), end = t0 + (uint64_t)(secs * 1e6);
    for (int i = 0; i < conc; i++) {
        cls[i].fd = -1;
    }
    for (;;) {
        uint64_t t = now_us();
        bool stop = t >= end;
        for (int i = 0; i < conc && !stop; i++) {
            if (cls[i].fd >= 0)
                continue;
            int fd = open_conn();
            if (fd < 0) {
                errors++;
                continue;
            }
            cls[i] = (struct cl){fd, 0, 0};
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        if (stop)
            break;
        struct epoll_event evs[512];
        int n = epoll_wait(ep, evs, 512, 100);
        for (int k = 0; k < n; k++) {
            struct cl *c = &cls[evs[k].data.u32];
            if (c->fd < 0)
                continue;
            bool bad = false;
            if (evs[k].events & (EPOLLERR)) {
                bad = true;
            } else {
                if ((evs[k].events & EPOLLOUT)) {
                    if (!tput && c->sent == 0) {
                        if (write(c->fd, "ping\n", 5) != 5)
                            bad = true;
                        c->sent = 5;
                        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    } else if (tput) {
                        while (c->sent - c->got < INFLIGHT) {
                            ssize_t w = write(c->fd, block, BLOCK);
                            if (w <= 0)
                                break;
                            c->sent += (size_t)w;
                        }
                    }
                }
                if (!bad && (evs[k].events & (EPOLLIN | EPOLLHUP))) {
                    ssize_t r = read(c->fd, rbuf, sizeof(rbuf));
                    if (r > 0) {
                        c->got += (size_t)r;
                        if (tput)
                            bytes += (uint64_t)r;
                    } else if (r == 0 || errno != EAGAIN) {
                        bad = true;
                    }
                }
            }
            if (!bad && !tput && c->got >= 5) {
                close(c->fd);
                c->fd = -1;
                done++;
                continue;
            }
            if (bad) {
                errors++;
                close(c->fd);
                c->fd = -1;
            }
        }
    }
    for (int i = 0; i < conc; i++)
        if (cls[i].fd >= 0)
            close(cls[i].fd);
    free(cls);
    close(ep);
    double s = (double)(now_us() - t0) / 1e6;
    if (tput)
        printf("tput %llu bytes back in %.2f s: %.1f MB/s, %llu errors\n",
               (unsigned long long)bytes, s, (double)bytes / s / 1e6, (unsigned long long)errors);
    else
        printf("rate %llu conns in %.2f s: %.0f/s, %llu errors\n", (unsigned long long)done, s,
               (double)done / s, (unsigned long long)errors);
    return 0;
}

/* ---- one question: which backend serves SRC ------------------------------------------ */

/* "" on failure (refused, reset, closed, timeout). */
static void whoami(char *id, size_t idlen, int timeout_ms)
{
    id[0] = '\0';
    int fd = open_conn();
    if (fd < 0)
        return;
    struct pollfd p = {fd, POLLOUT, 0};
    uint64_t end = now_us() + (uint64_t)timeout_ms * 1000;
    if (poll(&p, 1, timeout_ms) != 1 || (p.revents & (POLLERR | POLLHUP)) ||
        write(fd, "?", 1) != 1) {
        close(fd);
        return;
    }
    size_t got = 0;
    char buf[80];
    while (got < sizeof(buf) - 1) {
        int left = (int)((end - now_us()) / 1000);
        p = (struct pollfd){fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1)
            break;
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        char *nl = memchr(buf, '\n', got);
        if (nl) {
            snprintf(id, idlen, "%.*s", (int)(nl - buf), buf);
            break;
        }
    }
    close(fd);
}

static int run_failover(double secs)
{
    char first[80], cur[80];
    for (int i = 0; i < 200; i++) {
        whoami(first, sizeof(first), 3000);
        if (first[0])
            break;
        usleep(10000);
    }
    if (!first[0]) {
        printf("noserver\n");
        return 1;
    }
    printf("serving %s\n", first);
    fflush(stdout);
    uint64_t end = now_us() + (uint64_t)(secs * 1e6);
    unsigned failed = 0;
    while (now_us() < end) {
        whoami(cur, sizeof(cur), 3000);
        if (cur[0] && strcmp(cur, first) != 0) {
            printf("switched %s %s at %llu after %u failed tries\n", first, cur,
                   (unsigned long long)epoch_us(), failed);
            return 0;
        }
        if (!cur[0])
            failed++;
        usleep(5000);
    }
    printf("noswitch\n");
    return 1;
}

static int run_hold(int n, double secs)
{
    int *fds = calloc((size_t)n, sizeof(int));
    int failed = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = open_conn();
        if (fds[i] < 0)
            failed++;
    }
    printf("opened %d\n", n - failed);
    fflush(stdout);
    usleep((useconds_t)(secs * 1e6));
    int open = 0, closed = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char b;
        ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT);
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el);
        if (r == 0 || (r < 0 && errno != EAGAIN) || err)
            closed++;
        else
            open++;
        close(fds[i]);
    }
    printf("held %d open, %d closed by the peer, %d failed\n", open, closed, failed);
    free(fds);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3 || parse_addr(argv[2], &dst) < 0) {
        fprintf(stderr, "usage: see the comment atop tests/tools/vip_load.c\n");
        return 2;
    }
    if (argc > 3 && parse_addr(argv[3], &src) < 0 && strcmp(argv[1], "echo") != 0) {
        fprintf(stderr, "vip_load: bad source address %s\n", argv[3]);
        return 2;
    }
    src.sin_port = 0;
    const char *mode = argv[1];
    if (strcmp(mode, "echo") == 0 && argc == 4)
        return run_echo(argv[3]);
    if ((strcmp(mode, "rate") == 0 || strcmp(mode, "tput") == 0) && argc == 6)
        return run_clients(mode[0] == 't', atoi(argv[4]), atof(argv[5]));
    if (strcmp(mode, "whoami") == 0 && argc == 4) {
        char id[80];
        whoami(id, sizeof(id), 3000);
        printf("%s\n", id[0] ? id : "-");
        return id[0] ? 0 : 1;
    }
    if (strcmp(mode, "failover") == 0 && argc == 5)
        return run_failover(atof(argv[4]));
    if (strcmp(mode, "hold") == 0 && argc == 6)
        return run_hold(atoi(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: see the comment atop tests/tools/vip_load.c\n");
    return 2;
}
