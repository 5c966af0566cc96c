/* https.h - the project's one HTTPS client for calls between its parts (agent -> KMS, KMS ->
 * KMS): libcurl over TLS 1.3, with the server judged during the handshake, before any request
 * byte is sent, by a caller-supplied check (RA-TLS attestation, a pinned root, a measured KMS
 * identity). */
#ifndef KEYGATE_HTTPS_H
#define KEYGATE_HTTPS_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

#define KG_HTTPS_MAX_URL 2048u

typedef struct kg_https_request {
    const char *url;  /* https://host:port/path (only https) */
    const char *body; /* POSTed as application/json; NULL = empty */
    bool get;         /* a GET instead (body not sent): the KMS's public read API */
    long timeout_ms;  /* whole call; 0 = 30 s */
    /* Trust anchor for OpenSSL's chain verification (PEM), or NULL: then no chain is built and
     * verify_server alone decides (a server known by its attestation, not by a CA). */
    const char *ca_pem;
    const char *cert_pem; /* client certificate (PEM), optional */
    const char *key_pem;  /* its key (PEM): borrowed, never copied by curl */
    /* Called during the handshake with the server's leaf and, with ca_pem, the verified chain
     * (else NULL). An error rejects the server: the call fails with that error. Required. */
    kg_result (*verify_server)(void *ctx, X509 *leaf, STACK_OF(X509) * verified_chain);
    void *verify_ctx;
} kg_https_request;

/*
 * POSTs r->body to r->url (or GETs it, r->get). On KG_OK the reply body is appended to *reply
 * (NUL-terminated; its cap bounds the size) and *status is the HTTP status; HTTP errors are the
 * caller's to read. Errors (the caller adds which server): the server rejected by verify_server
 * (its error), or KG_ERR_NETWORK (unreachable, TLS failure, timeout, reply over the cap). Nothing
 * of a reply is kept on failure.
 */
KG_RESULT kg_https_post(kg_buf *reply, long *status, const kg_https_request *r);

#endif
