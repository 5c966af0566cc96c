/* admin.c - the admin listener (admin.h): a plain-HTTP evhttp on the server's event loop. It
 * serves counters, the self-check verdict and the root-key epochs' public values, and acts on
 * one request: POST /epoch/propose, which makes this node generate and seal a proposed epoch
 * (nothing secret leaves, and nothing happens to keys in use until governance activates it on
 * chain). No key crosses it, so it needs no TLS; it is meant for loopback (kms/README.md). */
#include "admin.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define KMS_ADMIN_MAX_HEADERS 4096u
#define KMS_ADMIN_MAX_BODY 1024u
#define KMS_ADMIN_TIMEOUT_S 5

kg_result kms_admin_start(struct evhttp **out, struct event_base *base, const kms *k,
                          void (*route)(struct evhttp_request *, void *), void *arg)
{
    *out = NULL;
    struct evhttp *http = evhttp_new(base);
    KG_ENSURE(http != NULL, KG_ERR_NOMEM, "admin listener: evhttp_new failed");
    evhttp_set_gencb(http, route, arg);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(http, KMS_ADMIN_MAX_HEADERS);
    evhttp_set_max_body_size(http, KMS_ADMIN_MAX_BODY);
    evhttp_set_timeout(http, KMS_ADMIN_TIMEOUT_S);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(http, k->cfg.admin_address, k->cfg.admin_port);
    if (bound == NULL) {
        int e = errno;
        evhttp_free(http);
        KG_BAIL(KG_ERR_IO, "admin listener: cannot listen on '%s' port %u: %s",
                k->cfg.admin_address, (unsigned)k->cfg.admin_port, strerror(e));
    }
    /* the port actually bound (admin_listen may say 0) */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    unsigned port = k->cfg.admin_port;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0)
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    bool v6 = strchr(k->cfg.admin_address, ':') != NULL;
    kg_slog(KG_SLOG_INFO, "admin listening on http://%s%s%s:%u (/metrics, /health, /epochs)",
            v6 ? "[" : "", k->cfg.admin_address, v6 ? "]" : "", port);
    *out = http;
    return KG_OK;
}
