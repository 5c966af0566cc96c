/* mtls_ceiling.c - the ceiling `keygate-bench kms` compares the KMS against: a server that does
 * only what every release must do on the wire (a full mutual TLS 1.3 handshake with the same
 * certificate types, read one HTTP request, write a two-byte answer, close) and nothing of the
 * decision (no quote verification, no chain, no derivation, no log). Its SSL_CTX is set up as
 * kms/server.c sets up the KMS's: TLS 1.3 only, a client certificate required and accepted
 * without building a chain, no session cache and no tickets, so every connection is a full
 * handshake. Worker threads block in accept() on one listening socket. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "mtls_ceiling.h"

struct kg_bench_mtls_server {
    SSL_CTX *ctx;
    int listen_fd;
    uint16_t port;
    unsigned long n_workers;
    pthread_t *workers;
    atomic_bool stop;
    atomic_ulong served;
    double *cpu; /* per worker: CPU seconds spent serving */
};

static int accept_any(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    (void)x;
    return 1;
}

static int skip_chain(X509_STORE_CTX *x, void *arg)
{
    (void)x;
    (void)arg;
    return 1;
}

/* Reads until the end of the request's headers plus its Content-Length body. */
static bool read_request(SSL *ssl)
{
    char buf[8192];
    size_t have = 0;
    for (;;) {
        int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = 0;
        const char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(buf, "Content-Length: ");
            size_t body = cl != NULL && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
            if ((size_t)(end + 4 - buf) + body <= have)
                return true;
        }
        if (have == sizeof(buf) - 1)
            return false;
    }
}

static void serve(struct kg_bench_mtls_server *s, int fd)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    SSL *ssl = SSL_new(s->ctx);
    if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 && read_request(ssl) &&
        SSL_write(ssl, reply, (int)sizeof(reply) - 1) == (int)sizeof(reply) - 1) {
        SSL_shutdown(ssl);
        atomic_fetch_add(&s->served, 1);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
}

typedef struct worker_arg {
    struct kg_bench_mtls_server *s;
    unsigned long i;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *w = p;
    struct kg_bench_mtls_server *s = w->s;
    double cpu0 = kg_bench_cpu();
    while (!atomic_load(&s->stop)) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* the listening socket was shut down: stop */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve(s, fd);
    }
    s->cpu[w->i] = kg_bench_cpu() - cpu0;
    free(w);
    return NULL;
}

int kg_bench_mtls_server_start(kg_bench_mtls_server **out, X509 *cert, EVP_PKEY *key,
                               unsigned long workers)
{
    struct kg_bench_mtls_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->listen_fd = -1;
    s->workers = calloc(workers, sizeof(*s->workers));
    s->cpu = calloc(workers, sizeof(*s->cpu));
    s->ctx = SSL_CTX_new(TLS_server_method());
    if (s->workers == NULL || s->cpu == NULL || s->ctx == NULL ||
        SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate(s->ctx, cert) != 1 || SSL_CTX_use_PrivateKey(s->ctx, key) != 1)
        goto fail;
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    SSL_CTX_set_cert_verify_callback(s->ctx, skip_chain, NULL);
    SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(s->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(s->ctx, 0);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s->listen_fd, 1024) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) != 0)
        goto fail;
    s->port = ntohs(sa.sin_port);
    for (unsigned long i = 0; i < workers; i++) {
        worker_arg *w = malloc(sizeof(*w));
        if (w == NULL)
            goto fail;
        *w = (worker_arg){.s = s, .i = i};
        if (pthread_create(&s->workers[i], NULL, worker_main, w) != 0) {
            free(w);
            goto fail;
        }
        s->n_workers = i + 1; /* only started workers are joined */
    }
    *out = s;
    return 0;
fail:
    kg_bench_mtls_server_stop(s, NULL, NULL);
    return -1;
}

uint16_t kg_bench_mtls_server_port(const kg_bench_mtls_server *s)
{
    return s->port;
}

void kg_bench_mtls_server_stop(kg_bench_mtls_server *s, unsigned long *served, double *cpu_s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, true);
    if (s->listen_fd >= 0)
        shutdown(s->listen_fd, SHUT_RDWR); /* wakes the workers blocked in accept() */
    double cpu = 0;
    for (unsigned long i = 0; i < s->n_workers; i++) {
        pthread_join(s->workers[i], NULL);
        cpu += s->cpu[i];
    }
    if (served != NULL)
        *served = atomic_load(&s->served);
    if (cpu_s != NULL)
        *cpu_s = cpu;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    SSL_CTX_free(s->ctx);
    free(s->workers);
    free(s->cpu);
    free(s);
}
