/* conns.h - admission and shedding of keygate-kms's client connections: a deadline for the
 * ClientHello, the TLS handshake and each request, a cap per source address, and at max_connections
 * the oldest idle connection closed instead of accepting pausing (kms/README.md, "Connections"). */
#ifndef KG_KMS_CONNS_H
#define KG_KMS_CONNS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "keygate/bytes.h"
#include "kms.h"

typedef struct kms_conns kms_conns;
typedef struct kms_conn kms_conn;

/* The registry for one server run on base (loop thread only, as every function here), for the
 * connections of tls (it learns their handshakes and their end through tls's SSL objects).
 * Raises RLIMIT_NOFILE's soft limit towards what cfg.max_connections needs and refuses a
 * configuration the hard limit cannot hold. Borrows k, base and tls; the caller frees *out with
 * kms_conns_free. */
KG_RESULT kms_conns_new(kms_conns **out, struct event_base *base, SSL_CTX *tls, kms *k);

/* Forgets every connection record (the connections themselves belong to evhttp and go with it);
 * call before evhttp_free. NULL is fine. */
void kms_conns_free(kms_conns *c);

/* Listens on address:port for http with a deep accept queue (a burst of connections waits there
 * for admission instead of losing SYNs, which clients would retry only after a second); accept
 * errors (out of file descriptors) pause accepting for a moment instead of spinning. *bound
 * belongs to http. */
KG_RESULT kms_conns_listen(struct evhttp_bound_socket **bound, kms_conns *c, struct evhttp *http,
                           const char *address, uint16_t port);

/* A connection evhttp just accepted, as its TLS bufferevent bev over ssl: registered (on ssl,
 * and gone when ssl is freed) and, right after the listener's callback, when its socket is
 * known, admitted or shed. False when out of memory. */
KG_RESULT kms_conns_accepted(kms_conns *c, SSL *ssl, struct bufferevent *bev);

/* The record of ssl's connection; NULL if it has none (shed at shutdown). */
kms_conn *kms_conn_of(const kms_conns *c, const SSL *ssl);

/* A complete request arrived: busy (not idle, no deadline) until kms_conn_replied. */
void kms_conn_request(kms_conn *x);

/* The reply was sent: idle until the next request. */
void kms_conn_replied(kms_conn *x);

/* Appends the shedding counters in the Prometheus text format of /metrics. */
KG_RESULT kms_conns_metrics(const kms_conns *c, kg_buf *out);

#endif
