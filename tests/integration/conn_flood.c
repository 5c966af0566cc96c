/* conn_flood.c - the connection-exhaustion attacker of attacks_itest.sh (and kms_itest.sh): holds N
 * TCP connections to one server from loopback source addresses 127.0.0.2.., reopening each one the
 * server closes, for a bounded time, then prints what happened as one JSON line.
 *
 *   conn-flood --target 127.0.0.1:PORT --conns N [--sources K] [--mode idle|slowloris|hello]
 *              [--seconds S] [--rate R] [--ready-file F]
 *
 * idle:      connect and send nothing (a connection that costs the attacker one SYN);
 * slowloris: send the first half of a real TLS 1.3 ClientHello, then nothing;
 * hello:     send a whole ClientHello, then nothing (a client still judging the server's flight).
 * --rate caps connects per second (default 500), the first N and every reopening: shedding
 * costs the server CPU per connection, and a flood of new connections faster than its CPU is a
 * volumetric attack for the network's edge (kms/README.md), not what this test is about.
 * --ready-file is written once all N were opened (or after 10 s). Loopback only: the target
 * must be 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 60000
#define MAX_SOURCES 250
#define MAX_HELLO 2048

typedef struct slot {
    int fd;
    bool connected;
    bool used; /* opened before: reopening it is rate-limited */
    int64_t opened_ms;
    int64_t retry_ms; /* when closed: reopen at this time */
} slot;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr, "usage: conn-flood --target 127.0.0.1:PORT --conns N [--sources K] "
                    "[--mode idle|slowloris|hello] [--seconds S] [--rate R] [--ready-file F]\n");
    exit(2);
}

static unsigned long number(const char *s, unsigned long lo, unsigned long hi, const char *what)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "conn-flood: %s '%s' is not in %lu..%lu\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

/* The first flight of a real TLS 1.3 client, taken from OpenSSL through a memory BIO. */
static size_t client_hello(uint8_t *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    size_t n = 0;
    if (ssl != NULL && rb != NULL && wb != NULL) {
        SSL_set_bio(ssl, rb, wb);
        rb = wb = NULL;
        SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
        (void)SSL_connect(ssl); /* wants to read the server's answer: the hello is written */
        int r = BIO_read(SSL_get_wbio(ssl), out, (int)cap);
        n = r > 0 ? (size_t)r : 0;
    }
    BIO_free(rb);
    BIO_free(wb);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return n;
}

int main(int argc, char **argv)
{
    const char *target = NULL, *mode = "idle", *ready_file = NULL;
    unsigned long n = 0, sources = 1, seconds = 10, rate = 500;
    if (argc % 2 != 1)
        usage(); /* every option takes a value */
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i], *v = argv[i + 1];
        if (strcmp(f, "--target") == 0)
            target = v;
        else if (strcmp(f, "--conns") == 0)
            n = number(v, 1, MAX_CONNS, "--conns");
        else if (strcmp(f, "--sources") == 0)
            sources = number(v, 1, MAX_SOURCES, "--sources");
        else if (strcmp(f, "--mode") == 0)
            mode = v;
        else if (strcmp(f, "--seconds") == 0)
            seconds = number(v, 1, 120, "--seconds");
        else if (strcmp(f, "--rate") == 0)
            rate = number(v, 1, 1000000, "--rate");
        else if (strcmp(f, "--ready-file") == 0)
            ready_file = v;
        else
            usage();
    }
    bool whole = strcmp(mode, "hello") == 0;
    bool slowloris = whole || strcmp(mode, "slowloris") == 0; /* sends (part of) a hello */
    if (target == NULL || n == 0 || (!slowloris && strcmp(mode, "idle") != 0))
        usage();
    if (strncmp(target, "127.0.0.1:", 10) != 0) {
        fprintf(stderr, "conn-flood: loopback only: --target must be 127.0.0.1:PORT\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)number(target + 10, 1, 65535, "port"))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* One descriptor per connection: raise the soft limit within the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < n + 64) {
            fprintf(stderr, "conn-flood: RLIMIT_NOFILE allows %llu, holding %llu connections\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_cur - 64);
            n = rl.rlim_cur - 64;
        }
    }

    uint8_t hello[MAX_HELLO];
    size_t hello_len = slowloris ? client_hello(hello, sizeof(hello)) : 0;
    if (!whole)
        hello_len /= 2;
    if (slowloris && hello_len == 0) {
        fprintf(stderr, "conn-flood: could not make a ClientHello\n");
        return 1;
    }
    slot *slots = calloc(n, sizeof(*slots));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (slots == NULL || ep < 0) {
        fprintf(stderr, "conn-flood: out of memory\n");
        return 1;
    }
    uint64_t connects = 0, connect_errors = 0, closed_by_server = 0, lifetime_sum = 0;
    int64_t lifetime_max = 0, lifetime_min = -1;
    unsigned long open = 0, max_open = 0, opened_once = 0;
    bool ready = ready_file == NULL;
    int64_t t0 = now_ms(), end = t0 + (int64_t)seconds * 1000, last_refill = t0;
    double tokens = (double)rate / 10; /* a tenth of a second's worth at once */
    for (size_t i = 0; i < n; i++)
        slots[i].fd = -1;
    size_t next = 0; /* round-robin over closed slots */
    while (now_ms() < end) {
        int64_t now = now_ms();
        tokens += (double)(now - last_refill) * (double)rate / 1000.0;
        if (tokens > (double)rate / 10)
            tokens = (double)rate / 10;
        last_refill = now;
        for (size_t scanned = 0; scanned < n; scanned++, next = (next + 1) % n) {
            slot *s = &slots[next];
            if (tokens < 1.0)
                break;
            if (s->fd >= 0 || s->retry_ms > now)
                continue;
            tokens -= 1.0;
            if (!s->used)
                opened_once++;
            s->used = true;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                connect_errors++;
                s->retry_ms = now + 100;
                continue;
            }
            struct sockaddr_in from = {.sin_family = AF_INET};
            from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(next % sources));
            int one = 1;
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
                (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS)) {
                close(fd);
                connect_errors++;
                s->retry_ms = now + 100;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP,
                                     .data.u64 = (uint64_t)next};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                close(fd);
                connect_errors++;
                s->retry_ms = now + 100;
                continue;
            }
            s->fd = fd;
            s->connected = false;
            s->opened_ms = now;
            connects++;
        }
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 10);
        for (int e = 0; e < k; e++) {
            slot *s = &slots[evs[e].data.u64];
            if (s->fd < 0)
                continue;
            bool gone = (evs[e].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0;
            if (!gone && (evs[e].events & EPOLLIN)) {
                uint8_t buf[512];
                ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
                gone = r == 0 || (r < 0 && errno != EAGAIN);
            }
            if (!gone && !s->connected && (evs[e].events & EPOLLOUT)) {
                int err = 0;
                socklen_t el = sizeof(err);
                if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    close(s->fd);
                    s->fd = -1;
                    s->retry_ms = now_ms() + 100;
                    connect_errors++;
                    continue;
                }
                s->connected = true;
                s->opened_ms = now_ms();
                open++;
                if (open > max_open)
                    max_open = open;
                if (slowloris && send(s->fd, hello, hello_len, MSG_NOSIGNAL) < 0)
                    gone = true;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                         .data.u64 = evs[e].data.u64};
                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            }
            if (gone) {
                int64_t life = now_ms() - s->opened_ms;
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                close(s->fd);
                s->fd = -1;
                s->retry_ms = 0;
                if (s->connected) {
                    open--;
                    closed_by_server++;
                    lifetime_sum += (uint64_t)life;
                    if (life > lifetime_max)
                        lifetime_max = life;
                    if (lifetime_min < 0 || life < lifetime_min)
                        lifetime_min = life;
                } else {
                    connect_errors++;
                }
            }
        }
        if (!ready && (opened_once >= n || now_ms() - t0 >= 10000)) {
            FILE *f = fopen(ready_file, "w");
            if (f != NULL) {
                fprintf(f, "%lu\n", open);
                fclose(f);
            }
            ready = true;
        }
    }
    printf("{\"mode\":\"%s\",\"conns\":%lu,\"sources\":%lu,\"seconds\":%lu,\"connects\":%llu,"
           "\"connect_errors\":%llu,\"max_open\":%lu,\"open_at_end\":%lu,"
           "\"closed_by_server\":%llu,\"lifetime_ms_min\":%lld,\"lifetime_ms_mean\":%llu,"
           "\"lifetime_ms_max\":%lld}\n",
           mode, n, sources, seconds, (unsigned long long)connects,
           (unsigned long long)connect_errors, max_open, open, (unsigned long long)closed_by_server,
           (long long)lifetime_min,
           (unsigned long long)(closed_by_server ? lifetime_sum / closed_by_server : 0),
           (long long)lifetime_max);
    for (size_t i = 0; i < n; i++)
        if (slots[i].fd >= 0)
            close(slots[i].fd);
    free(slots);
    close(ep);
    return 0;
}
