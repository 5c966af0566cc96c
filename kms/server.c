/* server.c - the HTTPS front of keygate-kms: libevent evhttp over OpenSSL (TLS 1.3 only), a
 * bounded queue in front of a worker pool, and the /health and /metrics endpoints.
 *
 * Map:
 *   TLS context ..... TLS 1.3, server cert = this run's RA-TLS cert, client cert requested but
 *                     not required at the TLS level (GetAppKey/SignCert verify it themselves).
 *   connections ..... admitted, timed and shed by kms/conns.c (handshake deadline, cap per
 *                     source, the oldest idle one closed at max_connections); never paused.
 *   requests ........ parsed and routed on the event loop (cheap), then queued; attestation,
 *                     chain calls, derivation and the audit commit run on worker threads, so a
 *                     slow chain never stalls other connections.
 *   replies ......... workers hand finished jobs back through a locked list and an event; the
 *                     loop sends them. Response bytes are referenced, not copied, and wiped when
 *                     libevent lets go of them (they may hold keys). */
#include "server.h"

#include "admin.h"
#include "conns.h"
#include "log.h"
#include "keygate/fileio.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#define KMS_MAX_HEADERS_BYTES 8192
#define KMS_MAX_METHOD_LEN 48

typedef struct job {
    struct evhttp_request *req; /* touched only on the loop thread */
    struct job *next;
    char method[KMS_MAX_METHOD_LEN + 1];
    char peer_addr[64];
    uint8_t *body;
    size_t body_len;
    kg_ratls_handshake_cert *peer_cert; /* owned; NULL when the client presented none */
    int64_t start_us;
    uint64_t request_id; /* the log's id for this request */
    struct server *srv;
    kms_call call;
} job;

typedef struct server {
    kms *k;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct evhttp *admin; /* the admin listener (admin.c), when admin_listen is set */
    SSL_CTX *ssl_ctx;
    kms_conns *conns;
    uint64_t next_request_id; /* loop thread only */

    pthread_t *threads;
    uint32_t n_threads;
    pthread_mutex_t lock;
    pthread_cond_t work;
    job *q_head, *q_tail;
    uint32_t q_len;
    job *done_head, *done_tail;
    struct event *done_ev;
    bool stopping;

    pthread_t self_check_thread;
    bool self_check_started;
    pthread_cond_t stop_cv;

    struct event *sig_int, *sig_term;
} server;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connections ---------------------------------------------------------------------------- */

/* Every accepted connection gets a TLS bufferevent. If one cannot be made, evhttp would fall
 * back to plain text; on_request refuses any connection without TLS, so that fails closed. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    server *s = arg;
    SSL *ssl = SSL_new(s->ssl_ctx);
    if (ssl == NULL)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL)
        return NULL; /* ssl freed with it (BEV_OPT_CLOSE_ON_FREE) */
    if (kg_failed(kms_conns_accepted(s->conns, ssl, bev))) {
        kg_error_clear();
        bufferevent_free(bev); /* frees ssl; evhttp falls back to plain text, refused below */
        return NULL;
    }
    return bev;
}

/* The client certificate is requested so RA-TLS callers can present it, but accepted at the
 * TLS level whatever it is: TLS proves possession of its key, and the RPC layer verifies the
 * attestation inside it (docs/protocol.md section 4). Methods that need it fail without it. */
static int accept_any_client_cert(int preverify_ok, X509_STORE_CTX *ctx)
{
    return 1;
}
/* Same decision without building a chain OpenSSL would only throw away (saves CPU per
 * handshake): RA-TLS client certificates are self-issued or issued by the public temp CA. */
static int skip_chain_build(X509_STORE_CTX *ctx, void *arg)
{
    return 1;
}

static kg_result make_ssl_ctx(server *s)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    KG_ENSURE_OSSL(ctx != NULL, KG_ERR_CRYPTO, "TLS: SSL_CTX_new");
    s->ssl_ctx = ctx;
    KG_GUARD_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), KG_ERR_CRYPTO,
                  "TLS: requiring TLS 1.3");
    KG_GUARD_OSSL(SSL_CTX_use_certificate(ctx, s->k->tls_cert), KG_ERR_CRYPTO,
                  "TLS: server certificate");
    KG_GUARD_OSSL(SSL_CTX_use_PrivateKey(ctx, kg_p256_evp(s->k->tls_key)), KG_ERR_CRYPTO,
                  "TLS: server key");
    KG_GUARD_OSSL(SSL_CTX_check_private_key(ctx), KG_ERR_CRYPTO, "TLS: key/cert mismatch");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_cert);
    SSL_CTX_set_cert_verify_callback(ctx, skip_chain_build, NULL);
    /* Every connection is a full handshake, so each request proves possession of the
     * attested key afresh; no resumption state to protect. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    return KG_OK;
}

/* ---- replies -------------------------------------------------------------------------------- */

static void wipe_response(const void *data, size_t len, void *arg)
{
    kg_buf *b = arg;
    kg_buf_free(b);
    free(b);
}

/* Sends body (moved into libevent by reference; wiped once written) with a JSON type. */
static void send_json(server *s, struct evhttp_request *req, int status, kg_buf *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *out = evbuffer_new();
    kg_buf *owned = malloc(sizeof(*owned));
    if (out == NULL || owned == NULL) {
        free(owned);
        if (out)
            evbuffer_free(out);
        kg_buf_free(body);
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    *owned = *body;
    memset(body, 0, sizeof(*body));
    if (evbuffer_add_reference(out, owned->data, owned->len, wipe_response, owned) != 0) {
        wipe_response(NULL, 0, owned);
        evbuffer_free(out);
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    atomic_fetch_add(&s->k->metrics.requests, 1);
    if (status >= 400)
        atomic_fetch_add(&s->k->metrics.errors, 1);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
}

/* {"error": msg} with the given status. */
static void send_error(server *s, struct evhttp_request *req, int status, const char *msg)
{
    kg_buf body;
    kg_buf_init(&body, 4096);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text == NULL || kg_failed(kg_buf_append_str(&body, text))) {
        evhttp_send_error(req, 500, "Internal Server Error");
    } else {
        send_json(s, req, status, &body);
    }
    free(text);
    json_decref(o);
    kg_buf_free(&body);
}

static void record_latency(server *s, int64_t start_us)
{
    static const int64_t bounds_ms[7] = {1, 2, 5, 10, 25, 50, 100};
    int64_t us = now_us() - start_us;
    atomic_fetch_add(&s->k->metrics.latency_us_sum, (uint64_t)(us > 0 ? us : 0));
    size_t b = 7;
    for (size_t i = 0; i < 7; i++) {
        if (us <= bounds_ms[i] * 1000) {
            b = i;
            break;
        }
    }
    atomic_fetch_add(&s->k->metrics.latency_bucket[b], 1);
}

/* The request's log line (slog.h): never the body, only public facts about the exchange. */
static void log_request(uint64_t id, const char *method, int status, const char *decision,
                        const char *reason, int64_t start_us, const char *peer)
{
    kg_slog_field f[] = {
        KG_SLOG_INT("request_id", id),
        KG_SLOG_STR("method", method),
        KG_SLOG_STR("decision", decision),
        KG_SLOG_INT("status", status),
        KG_SLOG_REAL("latency_ms", (double)(now_us() - start_us) / 1000.0),
        KG_SLOG_STR("peer", peer),
        KG_SLOG_STR("reason", reason != NULL && reason[0] != '\0' ? reason : NULL),
    };
    kg_slog_level lvl = status < 400 ? KG_SLOG_INFO : status < 500 ? KG_SLOG_WARN : KG_SLOG_ERROR;
    kg_slog_write(lvl, "request", f, sizeof(f) / sizeof(f[0]));
}

static void peer_of(char *out, size_t n, struct evhttp_request *req)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    snprintf(out, n, "%s:%u", addr ? addr : "?", (unsigned)port);
}

/* An answer without a job: the error reply and its log line. */
static void reject(server *s, struct evhttp_request *req, uint64_t id, const char *method,
                   int status, const char *msg, int64_t start)
{
    char peer[64];
    peer_of(peer, sizeof(peer), req);
    send_error(s, req, status, msg);
    log_request(id, method, status, status == 503 ? "overloaded" : kms_decision_name(status), msg,
                start, peer);
}

static void free_job(job *j)
{
    if (j == NULL)
        return;
    kg_ratls_handshake_cert_free(j->peer_cert);
    if (j->body != NULL) {
        kg_memzero(j->body, j->body_len);
        free(j->body);
    }
    kg_buf_free(&j->call.response);
    free(j);
}

/* Loop thread: sends every finished job's reply. */
static void on_jobs_done(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->lock);
    job *list = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (list != NULL) {
        job *j = list;
        list = j->next;
        send_json(s, j->req, j->call.status, &j->call.response);
        record_latency(s, j->start_us);
        log_request(j->request_id, j->method, j->call.status, j->call.decision, j->call.reason,
                    j->start_us, j->peer_addr);
        free_job(j);
    }
}

/* ---- workers -------------------------------------------------------------------------------- */

/* Hands a finished job to the loop (any thread). */
static void job_done(server *s, job *j)
{
    pthread_mutex_lock(&s->lock);
    if (s->done_tail != NULL)
        s->done_tail->next = j;
    else
        s->done_head = j;
    s->done_tail = j;
    pthread_mutex_unlock(&s->lock);
    event_active(s->done_ev, EV_READ, 0);
}

/* A release's answer got its receipt (kms/log.c, on the signer thread). */
static void receipt_done(void *arg)
{
    job *j = arg;
    job_done(j->srv, j);
}

static void *worker_main(void *arg)
{
    server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->q_head == NULL && !s->stopping)
            pthread_cond_wait(&s->work, &s->lock);
        if (s->q_head == NULL) {
            pthread_mutex_unlock(&s->lock);
            kms_policy_thread_done();
            return NULL;
        }
        job *j = s->q_head;
        s->q_head = j->next;
        if (s->q_head == NULL)
            s->q_tail = NULL;
        s->q_len--;
        pthread_mutex_unlock(&s->lock);

        j->next = NULL;
        j->call.method = j->method;
        j->call.body = j->body;
        j->call.body_len = j->body_len;
        j->call.peer_cert = j->peer_cert;
        /* the certificate as the client sent it, encoded once for the decision core */
        unsigned char *der = NULL;
        int der_len =
            j->peer_cert != NULL ? i2d_X509(kg_ratls_handshake_cert_x509(j->peer_cert), &der) : 0;
        j->call.peer_cert_der = der_len > 0 ? der : NULL;
        j->call.peer_cert_der_len = der_len > 0 ? (size_t)der_len : 0;
        j->call.peer_addr = j->peer_addr;
        kms_rpc_handle(s->k, &j->call);
        OPENSSL_free(der);
        j->call.peer_cert_der = NULL;
        j->call.peer_cert_der_len = 0;
        kg_error_clear();

        /* A release waits for its receipt off this thread: the worker moves on. */
        if (j->call.status == 200 && j->call.wants_receipt) {
            j->srv = s;
            kms_log_receipt_wait(&j->call, receipt_done, j);
        } else {
            job_done(s, j);
        }
    }
}

/* ---- routes --------------------------------------------------------------------------------- */

static void send_text(server *s, struct evhttp_request *req, int status, kg_buf *body,
                      const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    evbuffer_add(out, body->data ? body->data : (const uint8_t *)"", body->len);
    atomic_fetch_add(&s->k->metrics.requests, 1);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Service Unavailable", out);
    evbuffer_free(out);
}

static void handle_health(server *s, struct evhttp_request *req)
{
    kms *k = s->k;
    bool allowed = atomic_load(&k->kms_allowed);
    pthread_mutex_lock(&k->self_check_lock);
    json_t *o = json_pack("{s:s,s:b,s:s,s:I,s:I}", "status", allowed ? "ok" : "refusing",
                          "kms_allowed", allowed, "self_check_reason", k->self_check_reason,
                          "last_self_check_ms", (json_int_t)k->last_self_check_ms, "connections",
                          (json_int_t)atomic_load(&k->metrics.connections));
    pthread_mutex_unlock(&k->self_check_lock);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    kg_buf body;
    kg_buf_init(&body, 4096);
    if (text == NULL || kg_failed(kg_buf_append_str(&body, text)))
        evhttp_send_error(req, 500, "Internal Server Error");
    else
        send_text(s, req, allowed ? 200 : 503, &body, "application/json");
    kg_buf_free(&body);
    free(text);
    json_decref(o);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ru.ru_maxrss;
}

static void handle_metrics(server *s, struct evhttp_request *req)
{
    kms_metrics *m = &s->k->metrics;
    kg_buf b;
    kg_buf_init(&b, 16384);
    static const char *const le[8] = {"0.001", "0.002", "0.005", "0.01",
                                      "0.025", "0.05",  "0.1",   "+Inf"};
    uint64_t cum = 0, total = 0;
    for (size_t i = 0; i < 8; i++)
        total += atomic_load(&m->latency_bucket[i]);
    kg_result rc = kg_buf_printf(
        &b,
        "# HELP keygate_kms_requests_total HTTP requests answered.\n"
        "# TYPE keygate_kms_requests_total counter\nkeygate_kms_requests_total %llu\n"
        "# HELP keygate_kms_request_errors_total Requests answered with an error status.\n"
        "# TYPE keygate_kms_request_errors_total counter\nkeygate_kms_request_errors_total %llu\n"
        "# HELP keygate_kms_keys_released_total Key releases (GetAppKey, SignCert).\n"
        "# TYPE keygate_kms_keys_released_total counter\nkeygate_kms_keys_released_total %llu\n"
        "# HELP keygate_kms_denied_total Requests denied by attestation or governance.\n"
        "# TYPE keygate_kms_denied_total counter\nkeygate_kms_denied_total %llu\n"
        "# HELP keygate_kms_overloaded_total Requests refused because the queue was full.\n"
        "# TYPE keygate_kms_overloaded_total counter\nkeygate_kms_overloaded_total %llu\n"
        "# HELP keygate_kms_audit_failures_total Decisions that could not be recorded.\n"
        "# TYPE keygate_kms_audit_failures_total counter\nkeygate_kms_audit_failures_total %llu\n"
        "# HELP keygate_kms_self_checks_total Self-checks run (audited only when the verdict "
        "changes).\n"
        "# TYPE keygate_kms_self_checks_total counter\nkeygate_kms_self_checks_total %llu\n"
        "# HELP keygate_kms_self_check_failures_total Self-checks that did not pass.\n"
        "# TYPE keygate_kms_self_check_failures_total counter\n"
        "keygate_kms_self_check_failures_total %llu\n"
        "# HELP keygate_kms_chain_disagreements_total Decisions refused because chain nodes "
        "disagreed.\n"
        "# TYPE keygate_kms_chain_disagreements_total counter\n"
        "keygate_kms_chain_disagreements_total %llu\n"
        "# HELP keygate_kms_head_resolutions_total Decision blocks resolved from the chain nodes' "
        "heads (decisions that arrive together share one).\n"
        "# TYPE keygate_kms_head_resolutions_total counter\n"
        "keygate_kms_head_resolutions_total %llu\n"
        "# HELP keygate_kms_chain_node_errors_total Chain node requests not answered: an error, "
        "or nothing within policy.timeout_ms.\n"
        "# TYPE keygate_kms_chain_node_errors_total counter\n"
        "keygate_kms_chain_node_errors_total %llu\n"
        "# HELP keygate_kms_unverified_denials_not_recorded_total Refusals of unverified callers "
        "over the audit rate limit.\n"
        "# TYPE keygate_kms_unverified_denials_not_recorded_total counter\n"
        "keygate_kms_unverified_denials_not_recorded_total %llu\n"
        "# HELP keygate_kms_connections Open client connections.\n"
        "# TYPE keygate_kms_connections gauge\nkeygate_kms_connections %llu\n"
        "# HELP keygate_kms_connections_total Accepted client connections.\n"
        "# TYPE keygate_kms_connections_total counter\nkeygate_kms_connections_total %llu\n"
        "# HELP keygate_kms_allowed Whether the last self-check allowed this KMS (1) or not.\n"
        "# TYPE keygate_kms_allowed gauge\nkeygate_kms_allowed %d\n"
        "# HELP keygate_kms_peak_rss_bytes Peak resident set size.\n"
        "# TYPE keygate_kms_peak_rss_bytes gauge\nkeygate_kms_peak_rss_bytes %ld\n"
        "# HELP keygate_kms_rpc_duration_seconds Time from request to reply for RPC calls.\n"
        "# TYPE keygate_kms_rpc_duration_seconds histogram\n",
        (unsigned long long)atomic_load(&m->requests), (unsigned long long)atomic_load(&m->errors),
        (unsigned long long)atomic_load(&m->keys_released),
        (unsigned long long)atomic_load(&m->denied),
        (unsigned long long)atomic_load(&m->overloaded),
        (unsigned long long)atomic_load(&m->audit_failures),
        (unsigned long long)atomic_load(&m->self_checks),
        (unsigned long long)atomic_load(&m->self_checks_failed),
        (unsigned long long)atomic_load(&m->chain_disagreements),
        (unsigned long long)atomic_load(&m->head_resolutions),
        (unsigned long long)atomic_load(&m->chain_node_errors),
        (unsigned long long)atomic_load(&m->unverified_not_recorded),
        (unsigned long long)atomic_load(&m->connections),
        (unsigned long long)atomic_load(&m->connections_total),
        atomic_load(&s->k->kms_allowed) ? 1 : 0, peak_rss_kb() * 1024);
    for (size_t i = 0; kg_ok(rc) && i < 8; i++) {
        cum += atomic_load(&m->latency_bucket[i]);
        rc = kg_buf_printf(&b, "keygate_kms_rpc_duration_seconds_bucket{le=\"%s\"} %llu\n", le[i],
                           (unsigned long long)cum);
    }
    if (kg_ok(rc))
        rc =
            kg_buf_printf(&b,
                          "keygate_kms_rpc_duration_seconds_sum %.6f\n"
                          "keygate_kms_rpc_duration_seconds_count %llu\n",
                          (double)atomic_load(&m->latency_us_sum) / 1e6, (unsigned long long)total);
    if (kg_ok(rc))
        rc = kms_conns_metrics(s->conns, &b);
    if (kg_ok(rc))
        rc = kms_attest_metrics(&b);
    if (kg_failed(rc))
        evhttp_send_error(req, 500, "Internal Server Error");
    else
        send_text(s, req, 200, &b, "text/plain; version=0.0.4");
    kg_buf_free(&b);
}

/* Enqueues a job for the workers; false when the queue is full (the caller answers 503). */
static bool enqueue(server *s, job *j)
{
    pthread_mutex_lock(&s->lock);
    if (s->q_len >= s->k->cfg.max_queue || s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    if (s->q_tail != NULL)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->q_len++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return true;
}

static void handle_rpc(server *s, struct evhttp_request *req, SSL *ssl, const char *method,
                       int64_t start, uint64_t id)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_POST && cmd != EVHTTP_REQ_GET) {
        reject(s, req, id, method, 405, "method not allowed: use POST", start);
        return;
    }
    if (strncmp(method, "KMS.", 4) == 0)
        method += 4;
    if (strlen(method) > KMS_MAX_METHOD_LEN || !kms_rpc_known(method)) {
        reject(s, req, id, method, 404, "unknown method", start);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > s->k->cfg.max_body_bytes) { /* evhttp enforces this too; belt and braces */
        reject(s, req, id, method, 413, "request body too large", start);
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        reject(s, req, id, method, 500, "out of memory", start);
        return;
    }
    j->req = req;
    j->start_us = start;
    j->request_id = id;
    snprintf(j->method, sizeof(j->method), "%s", method);
    kg_buf_init(&j->call.response, 1u << 20);
    j->body_len = len;
    j->body = malloc(len + 1);
    if (j->body == NULL) {
        free_job(j);
        reject(s, req, id, method, 500, "out of memory", start);
        return;
    }
    if (evbuffer_remove(in, j->body, len) != (int)len) {
        free_job(j);
        reject(s, req, id, method, 400, "could not read request body", start);
        return;
    }
    j->body[len] = 0;
    /* Taken while the connection lives (the job may outlive it): the certificate as its key
     * signed it in this TLS 1.3 handshake, so its own signature need not be checked (ratls.h).
     * No certificate (or, impossibly here, no finished TLS 1.3 handshake): none, and the
     * methods that need one refuse. */
    if (kg_failed(kg_ratls_handshake_cert_take(&j->peer_cert, ssl)))
        kg_error_clear();
    peer_of(j->peer_addr, sizeof(j->peer_addr), req);
    if (!enqueue(s, j)) {
        atomic_fetch_add(&s->k->metrics.overloaded, 1);
        free_job(j);
        reject(s, req, id, method, 503, "overloaded: try again later", start);
    }
}

/* evhttp wrote the whole reply (never called when the connection died first). */
static void on_replied(struct evhttp_request *req, void *arg)
{
    kms_conn_replied(arg);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    server *s = arg;
    int64_t start = now_us();
    uint64_t id = ++s->next_request_id;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (ssl == NULL) {
        /* Never serve anything over a connection that is not TLS (see make_bev). */
        evhttp_send_error(req, 400, "Bad Request");
        return;
    }
    /* busy until its reply is written: not idle, so never shed meanwhile */
    kms_conn *conn = kms_conn_of(s->conns, ssl);
    kms_conn_request(conn);
    evhttp_request_set_on_complete_cb(req, on_replied, conn);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL) {
        send_error(s, req, 400, "bad request URI");
        return;
    }
    if (strcmp(path, "/health") == 0) {
        handle_health(s, req);
    } else if (strcmp(path, "/metrics") == 0 && !s->k->cfg.has_admin) {
        handle_metrics(s, req);
    } else if (strncmp(path, "/prpc/", 6) == 0) {
        handle_rpc(s, req, ssl, path + 6, start, id);
    } else if (kms_log_route(req, path)) { /* the public decision log (kms/log.c) */
    } else {
        reject(s, req, id, path, 404, "not found", start);
    }
}

/* An admin answer: o (stolen) with 200, or {"error": the current error} with its status. */
static void admin_reply(server *s, struct evhttp_request *req, kg_result rc, json_t *o)
{
    int status = 200;
    if (kg_failed(rc)) {
        status = kg_err_http_status(kg_error_code());
        json_decref(o);
        o = json_pack("{s:s}", "error", kg_error_message());
        kg_slog(KG_SLOG_WARN, "admin: %s", kg_error_message());
    }
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    struct evbuffer *out = evbuffer_new();
    if (text == NULL || out == NULL) {
        evhttp_send_error(req, 500, "Internal Server Error");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer_add(out, text, strlen(text));
        atomic_fetch_add(&s->k->metrics.requests, 1);
        evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
    }
    if (out != NULL)
        evbuffer_free(out);
    free(text);
    kg_error_clear();
}

/* POST /epoch/propose (epochs.c): a new root epoch generated and sealed here. */
static void handle_epoch_propose(server *s, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    uint8_t *body = malloc(len + 1);
    json_t *o = NULL;
    kg_result rc =
        body == NULL ? kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory") : KG_OK;
    if (kg_ok(rc) && evbuffer_remove(in, body, len) != (int)len)
        rc = kg_error_set(KG_ERR_IO, __FILE__, __LINE__, "reading the request body");
    if (kg_ok(rc))
        rc = kms_epoch_propose(&o, s->k, body, len);
    free(body);
    admin_reply(s, req, rc, o);
}

/* The admin listener's routes (plain HTTP, admin.c): the same /health and /metrics, and the
 * root-key epochs (GET /epochs, POST /epoch/propose). */
static void on_admin_request(struct evhttp_request *req, void *arg)
{
    server *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    if (path != NULL && strcmp(path, "/epoch/propose") == 0) {
        if (post)
            handle_epoch_propose(s, req);
        else
            evhttp_send_error(req, 405, "Method Not Allowed");
    } else if (post) {
        evhttp_send_error(req, 405, "Method Not Allowed");
    } else if (path != NULL && strcmp(path, "/health") == 0) {
        handle_health(s, req);
    } else if (path != NULL && strcmp(path, "/metrics") == 0) {
        handle_metrics(s, req);
    } else if (path != NULL && strcmp(path, "/epochs") == 0) {
        json_t *o = NULL;
        kg_result rc = kms_epochs_list(&o, s->k);
        admin_reply(s, req, rc, o);
    } else {
        evhttp_send_error(req, 404, "Not Found");
    }
}

/* ---- self-check thread ---------------------------------------------------------------------- */

static void *self_check_main(void *arg)
{
    server *s = arg;
    uint32_t interval = s->k->cfg.self_check_interval_s;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval;
        int rc = 0;
        while (!s->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->stop_cv, &s->lock, &until);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->lock);
        kms_self_check(s->k);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    kms_policy_thread_done();
    return NULL;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    kg_slog(KG_SLOG_INFO, "signal %d, shutting down", (int)sig);
    event_base_loopexit(s->base, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void server_free(server *s)
{
    /* Connections freed below no longer have records; the listener goes with evhttp. */
    kms_conns_free(s->conns);
    s->conns = NULL;
    s->bound = NULL;
    if (s->threads != NULL) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->work);
        pthread_cond_broadcast(&s->stop_cv);
        pthread_mutex_unlock(&s->lock);
        for (uint32_t i = 0; i < s->n_threads; i++)
            pthread_join(s->threads[i], NULL);
        free(s->threads);
        kms_log_receipts_drain(); /* answers still waiting come back to the done list */
    }
    if (s->self_check_started)
        pthread_join(s->self_check_thread, NULL);
    /* Jobs still queued or done are dropped; their requests die with the connections. */
    for (job *j = s->q_head, *n; j != NULL; j = n) {
        n = j->next;
        free_job(j);
    }
    for (job *j = s->done_head, *n; j != NULL; j = n) {
        n = j->next;
        free_job(j);
    }
    if (s->http)
        evhttp_free(s->http);
    if (s->admin)
        evhttp_free(s->admin);
    if (s->done_ev)
        event_free(s->done_ev);
    if (s->sig_int)
        event_free(s->sig_int);
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->base)
        event_base_free(s->base);
    SSL_CTX_free(s->ssl_ctx);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->stop_cv);
}

kg_result kms_server_run(kms *k, const char *port_file)
{
    server s = {.k = k};
    kg_result rc = KG_ERROR;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.work, NULL);
    pthread_cond_init(&s.stop_cv, NULL);
    signal(SIGPIPE, SIG_IGN);

    KG_ENSURE_C(evthread_use_pthreads() == 0, KG_ERR_INTERNAL, "libevent: no pthreads support");
    KG_GUARD_C(make_ssl_ctx(&s));
    s.base = event_base_new();
    KG_ENSURE_C(s.base != NULL, KG_ERR_INTERNAL, "libevent: event_base_new failed");
    KG_GUARD_C(kms_conns_new(&s.conns, s.base, s.ssl_ctx, k));
    s.http = evhttp_new(s.base);
    KG_ENSURE_C(s.http != NULL, KG_ERR_INTERNAL, "libevent: evhttp_new failed");
    evhttp_set_bevcb(s.http, make_bev, &s);
    evhttp_set_gencb(s.http, on_request, &s);
    evhttp_set_max_body_size(s.http, k->cfg.max_body_bytes);
    /* Read an oversized body to its end before answering 413 and closing: closing while the
     * client still sends makes the kernel reset the connection, and the client then sees the
     * reset instead of the 413 (2 of 60 tries did). Still bounded by request_timeout_ms. */
    KG_ENSURE_C(evhttp_set_flags(s.http, EVHTTP_SERVER_LINGERING_CLOSE) == 0, KG_ERR_INTERNAL,
                "libevent: no lingering close");
    evhttp_set_max_headers_size(s.http, KMS_MAX_HEADERS_BYTES);
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct timeval tmo = {.tv_sec = k->cfg.request_timeout_ms / 1000,
                          .tv_usec = (k->cfg.request_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(s.http, &tmo);
    KG_GUARD_C(
        kms_conns_listen(&s.bound, s.conns, s.http, k->cfg.listen_address, k->cfg.listen_port));

    if (k->cfg.has_admin)
        KG_GUARD_C(kms_admin_start(&s.admin, s.base, k, on_admin_request, &s));

    s.done_ev = event_new(s.base, -1, EV_READ | EV_PERSIST, on_jobs_done, &s);
    s.sig_int = evsignal_new(s.base, SIGINT, on_signal, &s);
    s.sig_term = evsignal_new(s.base, SIGTERM, on_signal, &s);
    KG_ENSURE_C(s.done_ev && s.sig_int && s.sig_term, KG_ERR_NOMEM, "libevent: out of memory");
    KG_ENSURE_C(event_add(s.done_ev, NULL) == 0 && event_add(s.sig_int, NULL) == 0 &&
                    event_add(s.sig_term, NULL) == 0,
                KG_ERR_INTERNAL, "libevent: event_add failed");

    s.threads = calloc(k->cfg.workers, sizeof(*s.threads));
    KG_ENSURE_C(s.threads != NULL, KG_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < k->cfg.workers; i++) {
        KG_ENSURE_C(pthread_create(&s.threads[i], NULL, worker_main, &s) == 0, KG_ERR_INTERNAL,
                    "cannot start worker thread");
        s.n_threads++;
    }
    if (k->cfg.self_check_interval_s > 0) {
        KG_ENSURE_C(pthread_create(&s.self_check_thread, NULL, self_check_main, &s) == 0,
                    KG_ERR_INTERNAL, "cannot start self-check thread");
        s.self_check_started = true;
    }

    /* The real port (the config may ask for 0 = any free port, as tests do). */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    unsigned port = k->cfg.listen_port;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s.bound);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    kg_slog(KG_SLOG_INFO, "listening on https://%s:%u (%u workers)", k->cfg.listen_address, port,
            k->cfg.workers);
    if (port_file != NULL) {
        /* atomic: a reader waiting for the file never sees it half written */
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", port);
        KG_GUARD_CTX_C(kg_file_write_atomic(port_file, text, (size_t)n, 0644), "--port-file");
    }

    event_base_dispatch(s.base);
    rc = KG_OK;
cleanup:
    server_free(&s);
    return rc;
}
