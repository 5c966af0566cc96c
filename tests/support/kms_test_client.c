/* kms_test_client.c - an RA-TLS client of keygate-kms for tests and benchmarks only (never in a
 * shipped program): a simulated app identity, certificates broken on purpose, and one HTTP/1.1
 * request per fresh TLS 1.3 connection with the server certificate unchecked. Programs talk to a
 * KMS through keygate/https.h. */
#include "kms_test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keygate/hash.h"
#include "keygate/kms_x509.h"

#include "keygate/eventlog.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

static kg_result boot_app(kg_tee *tee, const uint8_t app_id[20], const uint8_t compose[32],
                          const uint8_t *instance_id)
{
    kg_eventlog log;
    kg_eventlog_init(&log);
    KG_GUARD(kg_tee_read_eventlog(tee, &log));
    size_t n = log.count;
    kg_eventlog_free(&log);
    if (n > 0)
        return KG_OK; /* this VM already booted: same identity */
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_APP_ID, app_id, 20));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_COMPOSE_HASH, compose, 32));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_INSTANCE_ID, instance_id, instance_id ? 20 : 0));
    KG_GUARD(kg_tee_extend(tee, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    return KG_OK;
}

kg_result kg_kms_client_identity_new(kg_kms_client_identity *out, const char *sim_dir,
                                     const char *vm, const uint8_t app_id[20],
                                     const uint8_t compose_hash[32], const uint8_t *instance_id,
                                     kg_kms_client_cert_mode mode)
{
    memset(out, 0, sizeof(*out));
    kg_result rc = KG_ERROR;
    kg_tee *tee = NULL;
    kg_p256_key *other = NULL;
    kg_buf quote, evjson;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evjson, KG_MAX_EVENTLOG_JSON_LEN);
    kg_eventlog log;
    kg_eventlog_init(&log);
    uint8_t rd[64];
    KG_GUARD_C(kg_p256_generate(&out->key));
    if (mode == KG_KMS_CERT_NONE) {
        rc = KG_OK;
        goto cleanup;
    }
    kg_kms_cert_spec spec = {.common_name = "keygate app",
                             .client_auth = true,
                             .days = 30,
                             .usage = "app:custom",
                             .app_id = app_id};
    if (mode != KG_KMS_CERT_PLAIN) {
        KG_GUARD_C(kg_tee_open_sim(&tee, sim_dir, vm));
        KG_GUARD_C(boot_app(tee, app_id, compose_hash, instance_id));
        if (mode == KG_KMS_CERT_UNBOUND) {
            KG_GUARD_C(kg_p256_generate(&other));
            KG_GUARD_C(kg_ratls_key_report_data(rd, other));
        } else {
            KG_GUARD_C(kg_ratls_key_report_data(rd, out->key));
        }
        KG_GUARD_C(kg_tee_get_quote(tee, &quote, rd));
        KG_GUARD_C(kg_tee_read_eventlog(tee, &log));
        KG_GUARD_C(kg_eventlog_to_json(&evjson, &log));
        if (mode == KG_KMS_CERT_TAMPERED) {
            /* The quote signature follows the signed header and TD report (48 + 584 bytes)
             * and its 4-byte length: flip a byte of it. */
            KG_ENSURE_C(quote.len > 700, KG_ERR_INTERNAL, "quote too short to tamper");
            quote.data[48 + 584 + 4 + 10] ^= 0x01;
        }
        spec.quote = quote.data;
        spec.quote_len = quote.len;
        spec.eventlog = evjson.data;
        spec.eventlog_len = evjson.len;
    }
    KG_GUARD_C(kg_kms_x509_issue(&out->cert, kg_p256_evp(out->key), &spec, NULL, NULL));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_kms_client_identity_free(out);
    kg_p256_free(other);
    kg_tee_free(tee);
    kg_eventlog_free(&log);
    kg_buf_free(&quote);
    kg_buf_free(&evjson);
    return rc;
}

void kg_kms_client_identity_free(kg_kms_client_identity *id)
{
    kg_p256_free(id->key);
    X509_free(id->cert);
    memset(id, 0, sizeof(*id));
}

kg_result kg_kms_client_ctx_new(SSL_CTX **out, const kg_kms_client_identity *id)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    KG_ENSURE_OSSL(ctx != NULL, KG_ERR_CRYPTO, "SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    /* The test trusts the KMS by its attestation elsewhere; here the channel only carries the
     * request, so the server certificate is not checked. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (id != NULL && id->cert != NULL) {
        if (SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, kg_p256_evp(id->key)) != 1) {
            SSL_CTX_free(ctx);
            KG_BAIL(KG_ERR_CRYPTO, "client certificate/key");
        }
    }
    *out = ctx;
    return KG_OK;
}

static kg_result connect_tcp(int *fd, const char *host, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    KG_ENSURE(inet_pton(AF_INET, host, &sa.sin_addr) == 1, KG_ERR_USAGE, "bad host '%s'", host);
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    KG_ENSURE(*fd >= 0, KG_ERR_IO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(*fd);
        KG_BAIL(KG_ERR_NETWORK, "connect %s:%u: %s", host, (unsigned)port, strerror(e));
    }
    return KG_OK;
}

kg_result kg_kms_client_call(SSL_CTX *ctx, const char *host, uint16_t port, const char *method,
                             const char *body, int *status, kg_buf *resp)
{
    return kg_kms_client_call_checked(ctx, host, port, method, body, NULL, NULL, status, resp);
}

kg_result kg_kms_client_call_checked(SSL_CTX *ctx, const char *host, uint16_t port,
                                     const char *method, const char *body,
                                     kg_kms_peer_check_fn check, void *arg, int *status,
                                     kg_buf *resp)
{
    int fd = -1;
    *status = 0;
    KG_GUARD(connect_tcp(&fd, host, port));
    kg_result rc = KG_ERROR;
    kg_buf raw, req;
    kg_buf_init(&raw, 4u << 20);
    kg_buf_init(&req, 1u << 20);
    SSL *ssl = SSL_new(ctx);
    KG_ENSURE_OSSL_C(ssl != NULL, KG_ERR_CRYPTO, "SSL_new");
    SSL_set_fd(ssl, fd);
    KG_GUARD_OSSL_C(SSL_connect(ssl), KG_ERR_NETWORK, "TLS handshake");
    if (check != NULL) { /* before anything is sent: the caller decides who it talks to */
        X509 *peer = SSL_get1_peer_certificate(ssl);
        KG_ENSURE_C(peer != NULL, KG_ERR_VERIFY, "the server presented no certificate");
        kg_result vrc = check(arg, peer, SSL_get_peer_cert_chain(ssl));
        X509_free(peer);
        KG_GUARD_C(vrc);
    }
    size_t blen = body ? strlen(body) : 0;
    KG_GUARD_C(kg_buf_printf(&req,
                             "POST /prpc/%s?json HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                             "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                             method, host, blen));
    if (blen)
        KG_GUARD_C(kg_buf_append(&req, body, blen));
    KG_ENSURE_OSSL_C(SSL_write(ssl, req.data, (int)req.len) == (int)req.len, KG_ERR_NETWORK,
                     "TLS write");
    uint8_t chunk[16384];
    for (;;) {
        int n = SSL_read(ssl, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        KG_GUARD_C(kg_buf_append(&raw, chunk, (size_t)n));
    }
    ERR_clear_error();
    KG_GUARD_C(kg_buf_terminate(&raw));
    const char *text = (const char *)raw.data;
    KG_ENSURE_C(raw.len > 12 && strncmp(text, "HTTP/1.1 ", 9) == 0, KG_ERR_NETWORK,
                "no HTTP response (%zu bytes)", raw.len);
    *status = (text[9] - '0') * 100 + (text[10] - '0') * 10 + (text[11] - '0');
    const char *sep = strstr(text, "\r\n\r\n");
    KG_ENSURE_C(sep != NULL, KG_ERR_NETWORK, "HTTP response without a body separator");
    KG_GUARD_C(kg_buf_append_str(resp, sep + 4));
    KG_GUARD_C(kg_buf_terminate(resp));
    rc = KG_OK;
cleanup:
    if (ssl != NULL) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    kg_buf_free(&raw);
    kg_buf_free(&req);
    return rc;
}
