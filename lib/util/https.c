/* https.c - the one HTTPS client between keygate's parts (https.h): libcurl, TLS 1.3, the
 * server judged by the caller during the handshake. */
#include "keygate/https.h"

#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

/* What the verify callback saw, to re-raise on the caller's thread after curl gives up. */
typedef struct verify_state {
    const kg_https_request *r;
    bool checked; /* the leaf was judged (OpenSSL may report depth 0 more than once) */
    bool rejected;
    kg_err code;
    char message[512];
} verify_state;

/* OpenSSL calls this for every certificate of the chain, root first. With a trust anchor its
 * verdict stands and the caller's check runs on the leaf of a verified chain; without one no
 * chain can verify, so only the caller's check decides. */
static int on_verify(int preverify_ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    verify_state *vs = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (vs == NULL)
        return 0;
    bool anchored = vs->r->ca_pem != NULL;
    if (anchored && !preverify_ok)
        return 0;
    if (X509_STORE_CTX_get_error_depth(ctx) != 0) {
        if (!anchored)
            X509_STORE_CTX_set_error(ctx, X509_V_OK); /* no anchor: the chain is not the test */
        return 1;
    }
    if (!vs->checked) {
        vs->checked = true;
        X509 *leaf = X509_STORE_CTX_get_current_cert(ctx);
        kg_result rc = vs->r->verify_server(vs->r->verify_ctx, leaf,
                                            anchored ? X509_STORE_CTX_get0_chain(ctx) : NULL);
        if (kg_failed(rc)) {
            vs->rejected = true;
            vs->code = kg_error_code();
            snprintf(vs->message, sizeof(vs->message), "%s", kg_error_message());
        }
    }
    if (vs->rejected) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
    (void)curl;
    SSL_CTX_set_app_data((SSL_CTX *)sslctx, arg);
    SSL_CTX_set_verify((SSL_CTX *)sslctx, SSL_VERIFY_PEER, on_verify);
    return CURLE_OK;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    kg_buf *b = ud;
    size_t n = size * nmemb;
    if (kg_failed(kg_buf_append(b, ptr, n)))
        return 0; /* over the cap: curl aborts with CURLE_WRITE_ERROR */
    return n;
}

kg_result kg_https_post(kg_buf *reply, long *status, const kg_https_request *r)
{
    *status = 0;
    KG_ENSURE(r->verify_server != NULL, KG_ERR_USAGE, "https: no server check given");
    KG_ENSURE(strncmp(r->url, "https://", 8) == 0 && strlen(r->url) < KG_HTTPS_MAX_URL,
              KG_ERR_USAGE, "URL '%.200s' is not an https:// URL", r->url);
    kg_result rc = KG_ERROR;
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char err[CURL_ERROR_SIZE] = "";
    verify_state vs = {.r = r};
    KG_ENSURE_C(c != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    const char *body = r->body ? r->body : "";
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (r->get) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    /* Who the server is, is decided by verify_server (attestation, a pinned root's direct
     * issuance, a measured identity), not by a host name: KMS nodes are reached by address. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    struct curl_blob ca = {.data = (void *)r->ca_pem,
                           .len = r->ca_pem ? strlen(r->ca_pem) : 0,
                           .flags = CURL_BLOB_COPY};
    if (r->ca_pem != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &vs);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L); /* every call judges its server again */
    if (r->cert_pem != NULL) {
        struct curl_blob cb = {
            .data = (void *)r->cert_pem, .len = strlen(r->cert_pem), .flags = CURL_BLOB_COPY};
        /* NOCOPY: the key stays in the caller's wiped buffer, not in a curl copy. */
        struct curl_blob kb = {.data = (void *)r->key_pem,
                               .len = r->key_pem ? strlen(r->key_pem) : 0,
                               .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    CURLcode cr = curl_easy_perform(c);
    if (vs.rejected)
        KG_BAIL_C(vs.code != KG_ERR_NONE ? vs.code : KG_ERR_VERIFY, "%s", vs.message);
    KG_ENSURE_C(cr == CURLE_OK, KG_ERR_NETWORK, "%s", err[0] ? err : curl_easy_strerror(cr));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    KG_GUARD_C(kg_buf_terminate(reply));
    rc = KG_OK;
cleanup:
    curl_slist_free_all(hdr);
    if (c != NULL)
        curl_easy_cleanup(c);
    if (kg_failed(rc)) { /* nothing from a rejected or failed call is kept */
        kg_buf_reset(reply);
        reply->len = 0;
        *status = 0;
    }
    return rc;
}
