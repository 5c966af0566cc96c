/* conns.c - admission and shedding of keygate-kms's client connections (conns.h).
 *
 * Why: a connection costs the attacker one SYN and the KMS a file descriptor, a TLS object and a
 * slot. Pausing accept() at max_connections (as before) let one client holding idle sockets
 * starve every app boot; here a new connection is always accepted and something idle pays.
 *
 * Map:
 *   states .......... ADMIT (accepted; its socket is known on the loop's next turn) → HANDSHAKE
 *                     → HELLO (a complete ClientHello in, our flight sent; the client may now be
 *                     verifying our attestation, with PCCS and chain calls, before it finishes)
 *                     → READY (TLS up, no complete request yet) → BUSY (request in the workers or
 *                     its reply being written) → IDLE (keep-alive, awaiting the next request)
 *                     → BUSY ...; CLOSING once shed (the socket is shut down and evhttp frees it
 *                     on its EOF, through its own error path).
 *   deadlines ....... HANDSHAKE: limits.handshake_timeout_ms from accept (slowloris sends half a
 *                     ClientHello); HELLO, then READY: the handshake's end, then the first
 *                     complete request, within limits.request_timeout_ms from accept; IDLE: the
 *                     next one within limits.request_timeout_ms from the last reply. BUSY has
 *                     none of ours (the workers' and evhttp's write timeout bound it).
 *   victims ......... "idle" = HANDSHAKE, HELLO, READY or IDLE; never BUSY. Oldest first, and
 *                     a connection that never finished its handshake (cheap for an attacker to
 *                     hold) before one that did (it cost the client a handshake).
 *   per source ...... an IPv4 address or an IPv6 /64 (what one attacker host surely has) holds at
 *                     most limits.max_connections_per_source; a new one over it replaces that
 *                     source's oldest idle one, or is closed if all of them are busy.
 *   whole server .... over limits.max_connections, the oldest idle connection anywhere is
 *                     closed (never the newcomer while another is idle), or the newcomer if
 *                     every other one is busy.
 *   source table .... chained hash keyed by SipHash (OpenSSL EVP_MAC) under a random key, so an
 *                     attacker choosing addresses cannot aim them at one bucket. */
#include "conns.h"

#include "keygate/slog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define KMS_FD_RESERVE 64u             /* descriptors besides client connections (audit, chain) */
#define KMS_LISTEN_BACKLOG 4096u       /* the accept queue (the kernel caps it at somaxconn) */
#define KMS_ACCEPT_PAUSE_MS 100        /* after an accept error (no descriptor left) */
#define KMS_ACCEPT_WARN_EVERY_MS 60000 /* one stderr line per minute at most */
#define KMS_SOURCE_KEY_LEN 17          /* family byte + 16 address bytes (IPv6 cut to /64) */
#define KMS_MAX_BUCKETS 65536u

typedef enum conn_state { ADMIT, HANDSHAKE, HELLO, READY, BUSY, IDLE, CLOSING } conn_state;

typedef struct ring {
    struct ring *prev, *next;
} ring;

typedef struct source {
    struct source *next; /* in its bucket */
    uint8_t key[KMS_SOURCE_KEY_LEN];
    uint32_t count; /* admitted, not shed, not closed */
    ring conns;     /* its connections, oldest accepted first */
} source;

struct kms_conn {
    kms_conns *owner;
    SSL *ssl;                /* borrowed; the record lives exactly as long */
    struct bufferevent *bev; /* borrowed */
    int fd;                  /* known from admission on */
    struct event *timer;     /* admission, then the state's deadline */
    conn_state state;
    int64_t accepted_ms;
    source *src;    /* NULL until admitted and after shedding */
    ring queue;     /* in owner->fresh (HANDSHAKE, HELLO) or owner->idle (READY, IDLE) */
    ring by_source; /* in src->conns */
    ring everyone;  /* in owner->all */
    bool queued;
};

typedef struct counters {
    uint64_t handshake_timeouts; /* HANDSHAKE or HELLO past its deadline */
    uint64_t request_timeouts;   /* READY / IDLE past theirs */
    uint64_t evicted_full;       /* an idle one closed at max_connections */
    uint64_t refused_full;       /* the newcomer closed: every other one busy */
    uint64_t evicted_source;     /* a source's idle one closed for its newcomer */
    uint64_t refused_source;     /* the newcomer closed: its source's all busy */
    uint64_t accept_errors;
} counters;

struct kms_conns {
    kms *k;
    struct event_base *base;
    ring fresh; /* HANDSHAKE and HELLO, oldest first */
    ring idle;  /* READY and IDLE, oldest idle first */
    uint32_t live;
    source **buckets;
    uint32_t n_buckets; /* a power of two */
    EVP_MAC_CTX *keyed; /* SipHash with this run's random key; dup'ed per use */
    ring all;           /* every record, for kms_conns_free */
    struct evconnlistener *listener;
    struct event *resume;
    int64_t last_warn_ms;
    counters n;
};

/* The SSL ex_data slot holding a connection's record; one per process (one server runs). */
static int g_ex_index = -1;

/* ---- small helpers -------------------------------------------------------------------------- */

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void list_init(ring *l)
{
    l->prev = l->next = l;
}

static bool list_empty(const ring *l)
{
    return l->next == l;
}

static void list_push(ring *l, ring *e)
{
    e->prev = l->prev;
    e->next = l;
    l->prev->next = e;
    l->prev = e;
}

static void list_del(ring *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = e;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- sources -------------------------------------------------------------------------------- */

/* The source an address belongs to: an IPv4 address (also when IPv4-mapped) or an IPv6 /64. */
static bool source_key(uint8_t key[KMS_SOURCE_KEY_LEN], int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(key, 0, KMS_SOURCE_KEY_LEN);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return true;
    }
    if (ss.ss_family == AF_INET6) {
        const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
        return true;
    }
    return false;
}

static uint32_t bucket_of(const kms_conns *c, const uint8_t key[KMS_SOURCE_KEY_LEN])
{
    uint8_t h[8] = {0};
    size_t hl = 0;
    EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->keyed);
    if (m == NULL || EVP_MAC_update(m, key, KMS_SOURCE_KEY_LEN) != 1 ||
        EVP_MAC_final(m, h, &hl, sizeof(h)) != 1)
        memset(h, 0, sizeof(h)); /* out of memory: one bucket, still correct */
    EVP_MAC_CTX_free(m);
    uint32_t v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return v & (c->n_buckets - 1);
}

static source *source_find(kms_conns *c, const uint8_t key[KMS_SOURCE_KEY_LEN], bool create)
{
    uint32_t b = bucket_of(c, key);
    for (source *s = c->buckets[b]; s != NULL; s = s->next)
        if (memcmp(s->key, key, KMS_SOURCE_KEY_LEN) == 0)
            return s;
    if (!create)
        return NULL;
    source *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    memcpy(s->key, key, KMS_SOURCE_KEY_LEN);
    list_init(&s->conns);
    s->next = c->buckets[b];
    c->buckets[b] = s;
    return s;
}

static void source_release(kms_conns *c, source *s)
{
    if (s->count > 0)
        return;
    source **p = &c->buckets[bucket_of(c, s->key)];
    while (*p != NULL && *p != s)
        p = &(*p)->next;
    if (*p == s)
        *p = s->next;
    free(s);
}

/* ---- states --------------------------------------------------------------------------------- */

static void unqueue(kms_conn *x)
{
    if (x->queued) {
        list_del(&x->queue);
        x->queued = false;
    }
}

/* Into the queue its state belongs to (at the tail: the newest), with its deadline. */
static void enter(kms_conn *x, conn_state st, int64_t deadline_ms)
{
    kms_conns *c = x->owner;
    unqueue(x);
    x->state = st;
    if (st == HANDSHAKE || st == HELLO || st == READY || st == IDLE) {
        list_push(st == HANDSHAKE || st == HELLO ? &c->fresh : &c->idle, &x->queue);
        x->queued = true;
    }
    evtimer_del(x->timer);
    if (deadline_ms >= 0) {
        int64_t left = deadline_ms - mono_ms();
        if (left < 0)
            left = 0;
        struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
        evtimer_add(x->timer, &tv);
    }
}

/* Out of every count and queue (admitted connections only). */
static void forget(kms_conn *x)
{
    kms_conns *c = x->owner;
    unqueue(x);
    if (x->src != NULL) {
        list_del(&x->by_source);
        x->src->count--;
        source_release(c, x->src);
        x->src = NULL;
        c->live--;
    }
}

/* Closes x: the socket is shut down, evhttp reads its end and frees the connection through its
 * own error path (it may not be freed from here); the record goes with the SSL. */
static void shed(kms_conn *x, uint64_t *counter)
{
    forget(x);
    x->state = CLOSING;
    evtimer_del(x->timer);
    (*counter)++;
    if (x->fd >= 0)
        shutdown(x->fd, SHUT_RDWR);
}

/* The connection to close for room: the oldest that never finished its handshake, else the
 * oldest idle one; never `spare` (the newcomer) unless nothing else is idle. */
static kms_conn *oldest_idle(ring *fresh, ring *idle, size_t off, const kms_conn *spare)
{
    ring *lists[2] = {fresh, idle};
    for (int i = 0; i < 2; i++)
        for (ring *e = lists[i]->next; e != lists[i]; e = e->next) {
            kms_conn *x = (kms_conn *)(void *)((char *)e - off);
            if (x != spare)
                return x;
        }
    return NULL;
}

/* A source's victim: its oldest connection in HANDSHAKE or HELLO, else its oldest in READY or
 * IDLE. */
static kms_conn *source_victim(source *s)
{
    kms_conn *later = NULL;
    for (ring *e = s->conns.next; e != &s->conns; e = e->next) {
        kms_conn *x = CONTAINER(e, kms_conn, by_source);
        if (x->state == HANDSHAKE || x->state == HELLO)
            return x;
        if (later == NULL && (x->state == READY || x->state == IDLE))
            later = x;
    }
    return later;
}

static void admit(kms_conn *x)
{
    kms_conns *c = x->owner;
    const kg_kms_config *cfg = &c->k->cfg;
    uint8_t key[KMS_SOURCE_KEY_LEN];
    x->fd = (int)bufferevent_getfd(x->bev);
    source *s = x->fd >= 0 && source_key(key, x->fd) ? source_find(c, key, true) : NULL;
    if (s == NULL) { /* no peer address (already gone) or out of memory */
        shed(x, &c->n.refused_full);
        return;
    }
    if (s->count >= cfg->max_connections_per_source) {
        kms_conn *v = source_victim(s);
        if (v == NULL) {
            source_release(c, s);
            shed(x, &c->n.refused_source);
            return;
        }
        shed(v, &c->n.evicted_source);
        s = source_find(c, key, true); /* the victim may have been its source's last */
        if (s == NULL) {
            shed(x, &c->n.refused_full);
            return;
        }
    }
    x->src = s;
    s->count++;
    list_push(&s->conns, &x->by_source);
    c->live++;
    enter(x, HANDSHAKE, x->accepted_ms + cfg->handshake_timeout_ms);
    if (c->live > cfg->max_connections) {
        kms_conn *v = oldest_idle(&c->fresh, &c->idle, offsetof(kms_conn, queue), x);
        if (v != NULL)
            shed(v, &c->n.evicted_full);
        else
            shed(x, &c->n.refused_full);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    kms_conn *x = arg;
    switch (x->state) {
    case ADMIT: admit(x); break;
    case HANDSHAKE:
    case HELLO: shed(x, &x->owner->n.handshake_timeouts); break;
    case READY:
    case IDLE: shed(x, &x->owner->n.request_timeouts); break;
    case BUSY:
    case CLOSING: break;
    }
}

/* ---- the interface -------------------------------------------------------------------------- */

static void conn_free(kms_conn *x)
{
    kms_conns *c = x->owner;
    forget(x);
    list_del(&x->queue);
    list_del(&x->everyone);
    event_free(x->timer);
    atomic_fetch_sub(&c->k->metrics.connections, 1);
    free(x);
}

/* OpenSSL frees an SSL when evhttp has freed its connection: the record goes with it. */
static void on_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    if (ptr != NULL)
        conn_free(ptr);
}

/* A complete ClientHello (again after a HelloRetryRequest: the state decides): the short
 * deadline is met; the client now has until request_timeout_ms to finish. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    kms_conn *x = SSL_get_ex_data(ssl, g_ex_index);
    if (x != NULL && x->state == HANDSHAKE)
        enter(x, HELLO, x->accepted_ms + x->owner->k->cfg.request_timeout_ms);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* The handshake's end (also reported for post-handshake messages: the state decides). */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
        return;
    kms_conn *x = SSL_get_ex_data(ssl, g_ex_index);
    if (x != NULL && (x->state == HANDSHAKE || x->state == HELLO))
        enter(x, READY, x->accepted_ms + x->owner->k->cfg.request_timeout_ms);
}

kg_result kms_conns_accepted(kms_conns *c, SSL *ssl, struct bufferevent *bev)
{
    kms_conn *x = calloc(1, sizeof(*x));
    KG_ENSURE(x != NULL, KG_ERR_NOMEM, "out of memory");
    x->timer = evtimer_new(c->base, on_timer, x);
    if (x->timer == NULL || SSL_set_ex_data(ssl, g_ex_index, x) != 1) {
        if (x->timer != NULL)
            event_free(x->timer);
        free(x);
        KG_BAIL(KG_ERR_NOMEM, "out of memory");
    }
    x->owner = c;
    x->ssl = ssl;
    x->bev = bev;
    x->fd = -1;
    x->state = ADMIT;
    x->accepted_ms = mono_ms();
    list_init(&x->queue);
    list_init(&x->by_source);
    list_push(&c->all, &x->everyone);
    /* evhttp gives the socket to bev after this returns; admission runs right after the
     * listener's callback, before the connection's first read. */
    event_active(x->timer, EV_TIMEOUT, 1);
    atomic_fetch_add(&c->k->metrics.connections, 1);
    atomic_fetch_add(&c->k->metrics.connections_total, 1);
    return KG_OK;
}

kms_conn *kms_conn_of(const kms_conns *c, const SSL *ssl)
{
    return ssl != NULL ? SSL_get_ex_data(ssl, g_ex_index) : NULL;
}

void kms_conn_request(kms_conn *x)
{
    if (x != NULL && x->state != CLOSING)
        enter(x, BUSY, -1);
}

void kms_conn_replied(kms_conn *x)
{
    if (x != NULL && x->state == BUSY)
        enter(x, IDLE, mono_ms() + x->owner->k->cfg.request_timeout_ms);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    kms_conns *c = arg;
    if (c->listener != NULL)
        evconnlistener_enable(c->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    kms_conns *c = arg;
    int err = errno;
    c->n.accept_errors++;
    int64_t now = mono_ms();
    if (c->last_warn_ms == 0 || now - c->last_warn_ms >= KMS_ACCEPT_WARN_EVERY_MS) {
        kg_slog(KG_SLOG_WARN, "accept failed: %s (%llu so far); pausing new connections %d ms",
                strerror(err), (unsigned long long)c->n.accept_errors, KMS_ACCEPT_PAUSE_MS);
        c->last_warn_ms = now;
    }
    evconnlistener_disable(l);
    struct timeval tv = {.tv_sec = 0, .tv_usec = KMS_ACCEPT_PAUSE_MS * 1000};
    evtimer_add(c->resume, &tv);
}

kg_result kms_conns_listen(struct evhttp_bound_socket **bound, kms_conns *c, struct evhttp *http,
                           const char *address, uint16_t port)
{
    *bound = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP,
                                    .ai_flags = EVUTIL_AI_PASSIVE};
    struct evutil_addrinfo *ai = NULL;
    int gai = evutil_getaddrinfo(address, service, &hints, &ai);
    KG_ENSURE(gai == 0 && ai != NULL, KG_ERR_IO, "cannot listen on %s:%u: %s", address,
              (unsigned)port, evutil_gai_strerror(gai));
    struct evconnlistener *l = evconnlistener_new_bind(
        c->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        KMS_LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    int err = errno;
    evutil_freeaddrinfo(ai);
    KG_ENSURE(l != NULL, KG_ERR_IO, "cannot listen on %s:%u: %s", address, (unsigned)port,
              strerror(err));
    *bound = evhttp_bind_listener(http, l);
    if (*bound == NULL) {
        evconnlistener_free(l);
        KG_BAIL(KG_ERR_NOMEM, "libevent: evhttp_bind_listener failed");
    }
    c->listener = l;
    evconnlistener_set_error_cb(l, on_accept_error);
    return KG_OK;
}

/* Enough descriptors for max_connections, a burst of accepts awaiting admission and the rest
 * of the process: the soft limit is raised as far as the hard one allows; a configuration that
 * cannot have its connections is refused rather than failing accept() under load. */
static kg_result fd_budget(const kg_kms_config *cfg)
{
    struct rlimit rl;
    KG_ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, KG_ERR_IO, "getrlimit(RLIMIT_NOFILE): %s",
              strerror(errno));
    rlim_t want = (rlim_t)cfg->max_connections + KMS_LISTEN_BACKLOG + KMS_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl); /* checked below through the result */
        KG_ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, KG_ERR_IO, "getrlimit(RLIMIT_NOFILE): %s",
                  strerror(errno));
    }
    rlim_t need = (rlim_t)cfg->max_connections + KMS_FD_RESERVE;
    KG_ENSURE(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need, KG_ERR_USAGE,
              "limits.max_connections = %u needs %llu open files, but RLIMIT_NOFILE allows %llu "
              "(hard limit %llu): lower limits.max_connections or raise the limit (ulimit -n, "
              "LimitNOFILE=)",
              cfg->max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
              (unsigned long long)rl.rlim_max);
    return KG_OK;
}

kg_result kms_conns_new(kms_conns **out, struct event_base *base, SSL_CTX *tls, kms *k)
{
    *out = NULL;
    KG_GUARD(fd_budget(&k->cfg));
    if (g_ex_index < 0)
        g_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_ssl_free);
    KG_ENSURE(g_ex_index >= 0, KG_ERR_INTERNAL, "TLS: no ex_data index");
    SSL_CTX_set_info_callback(tls, on_tls_info);
    SSL_CTX_set_client_hello_cb(tls, on_client_hello, NULL);
    kg_result rc = KG_ERROR;
    EVP_MAC *mac = NULL;
    uint8_t key[16];
    kms_conns *c = calloc(1, sizeof(*c));
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "out of memory");
    c->k = k;
    c->base = base;
    list_init(&c->fresh);
    list_init(&c->idle);
    list_init(&c->all);
    c->n_buckets = 64;
    while (c->n_buckets < k->cfg.max_connections && c->n_buckets < KMS_MAX_BUCKETS)
        c->n_buckets *= 2;
    c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
    c->resume = evtimer_new(base, on_resume, c);
    KG_ENSURE_C(c->buckets != NULL && c->resume != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_OSSL_C(RAND_bytes(key, sizeof(key)), KG_ERR_CRYPTO, "connection table key");
    mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    KG_ENSURE_OSSL_C(mac != NULL, KG_ERR_CRYPTO, "SipHash is not available");
    c->keyed = EVP_MAC_CTX_new(mac);
    size_t hsize = 8;
    OSSL_PARAM params[] = {OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, &hsize), OSSL_PARAM_END};
    KG_ENSURE_OSSL_C(c->keyed != NULL && EVP_MAC_init(c->keyed, key, sizeof(key), params) == 1,
                     KG_ERR_CRYPTO, "connection table key");
    *out = c;
    c = NULL;
    rc = KG_OK;
cleanup:
    OPENSSL_cleanse(key, sizeof(key));
    EVP_MAC_free(mac);
    kms_conns_free(c);
    return rc;
}

void kms_conns_free(kms_conns *c)
{
    if (c == NULL)
        return;
    while (!list_empty(&c->all)) {
        kms_conn *x = CONTAINER(c->all.next, kms_conn, everyone);
        SSL_set_ex_data(x->ssl, g_ex_index, NULL);
        conn_free(x);
    }
    for (uint32_t i = 0; c->buckets != NULL && i < c->n_buckets; i++)
        while (c->buckets[i] != NULL) { /* emptied by conn_free; belt and braces */
            source *s = c->buckets[i];
            c->buckets[i] = s->next;
            free(s);
        }
    free(c->buckets);
    if (c->resume != NULL)
        event_free(c->resume);
    EVP_MAC_CTX_free(c->keyed);
    free(c);
}

kg_result kms_conns_metrics(const kms_conns *c, kg_buf *out)
{
    return kg_buf_printf(
        out,
        "# HELP keygate_kms_handshake_timeouts_total Connections closed before their TLS handshake "
        "completed: no ClientHello within limits.handshake_timeout_ms, or no end within "
        "limits.request_timeout_ms.\n"
        "# TYPE keygate_kms_handshake_timeouts_total counter\n"
        "keygate_kms_handshake_timeouts_total %llu\n"
        "# HELP keygate_kms_request_timeouts_total Idle connections closed for not sending a "
        "complete request within limits.request_timeout_ms.\n"
        "# TYPE keygate_kms_request_timeouts_total counter\n"
        "keygate_kms_request_timeouts_total %llu\n"
        "# HELP keygate_kms_idle_evictions_total Idle connections closed to make room at "
        "limits.max_connections.\n"
        "# TYPE keygate_kms_idle_evictions_total counter\n"
        "keygate_kms_idle_evictions_total %llu\n"
        "# HELP keygate_kms_full_refusals_total New connections closed at "
        "limits.max_connections because every other one was busy.\n"
        "# TYPE keygate_kms_full_refusals_total counter\n"
        "keygate_kms_full_refusals_total %llu\n"
        "# HELP keygate_kms_source_evictions_total Idle connections closed to make room for a "
        "new one from the same source at limits.max_connections_per_source.\n"
        "# TYPE keygate_kms_source_evictions_total counter\n"
        "keygate_kms_source_evictions_total %llu\n"
        "# HELP keygate_kms_source_refusals_total New connections closed because their source "
        "held limits.max_connections_per_source busy ones.\n"
        "# TYPE keygate_kms_source_refusals_total counter\n"
        "keygate_kms_source_refusals_total %llu\n"
        "# HELP keygate_kms_accept_errors_total Failed accept() calls (each pauses accepting "
        "briefly).\n"
        "# TYPE keygate_kms_accept_errors_total counter\n"
        "keygate_kms_accept_errors_total %llu\n",
        (unsigned long long)c->n.handshake_timeouts, (unsigned long long)c->n.request_timeouts,
        (unsigned long long)c->n.evicted_full, (unsigned long long)c->n.refused_full,
        (unsigned long long)c->n.evicted_source, (unsigned long long)c->n.refused_source,
        (unsigned long long)c->n.accept_errors);
}
