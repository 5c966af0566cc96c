/* admin.h - keygate-kms's optional admin listener (config "admin_listen"): GET /metrics,
 * /health and /epochs, POST /epoch/propose, over plain HTTP on an address of its own. */
#ifndef KG_KMS_ADMIN_H
#define KG_KMS_ADMIN_H

#include "kms.h"

struct event_base;
struct evhttp;
struct evhttp_request;

/* Binds k->cfg.admin_address:admin_port on base and sends every request to route(req, arg)
 * (GET and POST; libevent answers other methods 501). *out is the caller's to evhttp_free. Logs
 * the bound address ("admin listening on http://HOST:PORT"). */
KG_RESULT kms_admin_start(struct evhttp **out, struct event_base *base, const kms *k,
                          void (*route)(struct evhttp_request *, void *), void *arg);

#endif
