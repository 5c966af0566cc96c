/* kms_test_client.h - a minimal RA-TLS client of keygate-kms for integration tests and the
 * benchmark (not part of the library): a simulated app VM identity, its RA-TLS certificate
 * (honest or broken on purpose), and one HTTPS call per fresh connection. */
#ifndef KEYGATE_KMS_TEST_CLIENT_H
#define KEYGATE_KMS_TEST_CLIENT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/result.h"

/* How the client's certificate is made: honestly, or broken in one chosen way. */
typedef enum kg_kms_client_cert_mode {
    KG_KMS_CERT_RATLS = 0, /* key bound by REPORTDATA, quote and event log attached */
    KG_KMS_CERT_NONE,      /* present no client certificate */
    KG_KMS_CERT_TAMPERED,  /* one byte of the quote's signature flipped */
    KG_KMS_CERT_UNBOUND,   /* REPORTDATA binds a different key than the certificate's */
    KG_KMS_CERT_PLAIN,     /* a certificate without any attestation */
} kg_kms_client_cert_mode;

typedef struct kg_kms_client_identity {
    kg_p256_key *key;
    X509 *cert; /* NULL for KG_KMS_CERT_NONE */
} kg_kms_client_identity;

/* Boots simulated VM `vm` of the platform in sim_dir as an app (RTMR3 events system-preparing,
 * app-id, compose-hash, instance-id, boot-mr-done, once per VM) and makes its certificate. */
KG_RESULT kg_kms_client_identity_new(kg_kms_client_identity *out, const char *sim_dir,
                                     const char *vm, const uint8_t app_id[20],
                                     const uint8_t compose_hash[32], const uint8_t *instance_id,
                                     kg_kms_client_cert_mode mode);
void kg_kms_client_identity_free(kg_kms_client_identity *id);

/* A client TLS context presenting id (borrowed; may be NULL for none). Caller SSL_CTX_free()s. */
KG_RESULT kg_kms_client_ctx_new(SSL_CTX **out, const kg_kms_client_identity *id);

/* One request over a fresh TLS connection: POST /prpc/<method>?json with body. *status gets
 * the HTTP status; the response body is appended to resp. */
KG_RESULT kg_kms_client_call(SSL_CTX *ctx, const char *host, uint16_t port, const char *method,
                             const char *body, int *status, kg_buf *resp);

/* Checks the server's certificate (borrowed: peer, chain) right after the TLS handshake. A
 * failure aborts the call before any request byte is sent. */
typedef kg_result (*kg_kms_peer_check_fn)(void *arg, X509 *peer, STACK_OF(X509) * chain);

/* kg_kms_client_call, but the request is only sent once check(arg, ...) accepted the server's
 * certificate (a server without one is refused: KG_ERR_VERIFY). check NULL = no check. */
KG_RESULT kg_kms_client_call_checked(SSL_CTX *ctx, const char *host, uint16_t port,
                                     const char *method, const char *body,
                                     kg_kms_peer_check_fn check, void *arg, int *status,
                                     kg_buf *resp);

#endif
