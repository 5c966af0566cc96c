/* sim_pccs.c - a PCCS for the simulated platform: serves its collateral over Intel's v4 API
 * (libevent evhttp, one background thread), so clients fetch it exactly as in production. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tee/sim_internal.h"
#include "tee/tee_internal.h"

struct kg_sim_pccs {
    char *dir;
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool running;
    uint16_t port;
};

static void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL) {
        evbuffer_add_printf(b, "%s\n", msg);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    }
    evhttp_send_reply(req, code, msg, b);
    if (b != NULL)
        evbuffer_free(b);
}

/* Adds an issuer chain header, URL-encoded like Intel's PCS does. */
static void add_chain_header(struct evhttp_request *req, const char *name, const char *pem)
{
    char *enc = evhttp_uriencode(pem, -1, 0);
    if (enc != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(req), name, enc);
        free(enc);
    }
}

static const char *query_param(struct evhttp_request *req, const char *key, char *out,
                               size_t out_size)
{
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *res = NULL;
    if (query == NULL || evhttp_parse_query_str(query, &q) != 0)
        return NULL;
    const char *v = evhttp_find_header(&q, key);
    if (v != NULL && strlen(v) < out_size) {
        memcpy(out, v, strlen(v) + 1);
        res = out;
    }
    evhttp_clear_headers(&q);
    return res;
}

static void handle(struct evhttp_request *req, void *arg)
{
    kg_sim_pccs *p = arg;
    kg_buf raw;
    json_t *c = NULL;
    json_error_t jerr;
    struct evbuffer *body = NULL;
    char param[64];
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        reply_error(req, 405, "Method Not Allowed");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL) {
        reply_error(req, 400, "Bad Request");
        return;
    }
    if (kg_failed(sim_read(&raw, p->dir, "collateral.json"))) {
        kg_error_clear();
        reply_error(req, 503, "Service Unavailable");
        return;
    }
    c = json_loadb((char *)raw.data, raw.len, 0, &jerr);
    kg_buf_free(&raw);
    body = evbuffer_new();
    static const char *const keys[] = {
        "pck_crl_issuer_chain",     "root_ca_crl", "pck_crl",
        "tcb_info_issuer_chain",    "tcb_info",    "tcb_info_signature",
        "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"};
    bool complete = c != NULL && body != NULL;
    for (size_t i = 0; complete && i < sizeof(keys) / sizeof(keys[0]); i++)
        complete = json_is_string(json_object_get(c, keys[i]));
    if (!complete) {
        reply_error(req, 500, "Internal Server Error"); /* collateral.json damaged */
        goto done;
    }
#define S(k) json_string_value(json_object_get(c, k))
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    bool tdx = strncmp(path, "/tdx/certification/v4/", 22) == 0;
    bool sgx = strncmp(path, "/sgx/certification/v4/", 22) == 0;
    const char *rest = path + 22;
    if (tdx && strcmp(rest, "tcb") == 0) {
        /* a TDX platform: only its one FMSPC is known */
        json_t *ti = json_loads(S("tcb_info"), 0, &jerr);
        const char *want = ti ? json_string_value(json_object_get(ti, "fmspc")) : NULL;
        bool match =
            want && query_param(req, "fmspc", param, sizeof(param)) && strcasecmp(param, want) == 0;
        json_decref(ti);
        if (!match) {
            reply_error(req, 404, "Not Found");
            goto done;
        }
        add_chain_header(req, "TCB-Info-Issuer-Chain", S("tcb_info_issuer_chain"));
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add_printf(body, "{\"tcbInfo\":%s,\"signature\":\"%s\"}", S("tcb_info"),
                            S("tcb_info_signature"));
    } else if (tdx && strcmp(rest, "qe/identity") == 0) {
        add_chain_header(req, "SGX-Enclave-Identity-Issuer-Chain", S("qe_identity_issuer_chain"));
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add_printf(body, "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", S("qe_identity"),
                            S("qe_identity_signature"));
    } else if (sgx && strcmp(rest, "pckcrl") == 0) {
        if (!query_param(req, "ca", param, sizeof(param)) || strcmp(param, "platform") != 0) {
            reply_error(req, 404, "Not Found"); /* the simulator has no Processor CA */
            goto done;
        }
        add_chain_header(req, "SGX-PCK-CRL-Issuer-Chain", S("pck_crl_issuer_chain"));
        const char *hex = S("pck_crl");
        if (query_param(req, "encoding", param, sizeof(param)) && strcmp(param, "der") == 0) {
            kg_buf der;
            kg_buf_init(&der, SIM_MAX_FILE);
            if (kg_failed(kg_hex_decode_buf(&der, hex, strlen(hex)))) {
                kg_error_clear();
                kg_buf_free(&der);
                reply_error(req, 500, "Internal Server Error");
                goto done;
            }
            evhttp_add_header(h, "Content-Type", "application/pkix-crl");
            evbuffer_add(body, der.data, der.len);
            kg_buf_free(&der);
        } else {
            evhttp_add_header(h, "Content-Type", "text/plain");
            evbuffer_add(body, hex, strlen(hex)); /* PCCS serves CRLs as hex DER */
        }
    } else if (sgx && strcmp(rest, "rootcacrl") == 0) {
        evhttp_add_header(h, "Content-Type", "text/plain");
        evbuffer_add(body, S("root_ca_crl"), strlen(S("root_ca_crl")));
    } else {
        reply_error(req, 404, "Not Found");
        goto done;
    }
#undef S
    evhttp_send_reply(req, 200, "OK", body);
done:
    if (body != NULL)
        evbuffer_free(body);
    json_decref(c);
}

static void *loop(void *arg)
{
    kg_sim_pccs *p = arg;
    event_base_dispatch(p->base);
    return NULL;
}

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static void init_threads(void)
{
    (void)evthread_use_pthreads();
}

kg_result kg_sim_pccs_start(kg_sim_pccs **out, const char *dir, const char *host, uint16_t port)
{
    kg_result rc = KG_ERROR;
    kg_sim_pccs *p = calloc(1, sizeof(*p));
    kg_buf probe;
    KG_ENSURE(p != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(sim_read(&probe, dir, "collateral.json")); /* fail early on a wrong dir */
    kg_buf_free(&probe);
    pthread_once(&threads_once, init_threads);
    p->dir = strdup(dir);
    p->base = event_base_new();
    p->http = p->base ? evhttp_new(p->base) : NULL;
    KG_ENSURE_C(p->dir != NULL && p->http != NULL, KG_ERR_NOMEM, "creating the HTTP server");
    evhttp_set_gencb(p->http, handle, p);
    evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(p->http, host, port);
    KG_ENSURE_C(sock != NULL, KG_ERR_IO, "cannot listen on %s:%u", host, port);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    KG_ENSURE_C(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0,
                KG_ERR_IO, "getsockname");
    p->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    KG_ENSURE_C(pthread_create(&p->thread, NULL, loop, p) == 0, KG_ERR_INTERNAL,
                "cannot start the PCCS thread");
    p->running = true;
    *out = p;
    p = NULL;
    rc = KG_OK;
cleanup:
    kg_sim_pccs_free(p);
    return rc;
}

uint16_t kg_sim_pccs_port(const kg_sim_pccs *p)
{
    return p->port;
}

void kg_sim_pccs_free(kg_sim_pccs *p)
{
    if (p == NULL)
        return;
    if (p->running) {
        event_base_loopbreak(p->base);
        pthread_join(p->thread, NULL);
    }
    if (p->http != NULL)
        evhttp_free(p->http);
    if (p->base != NULL)
        event_base_free(p->base);
    free(p->dir);
    free(p);
}
