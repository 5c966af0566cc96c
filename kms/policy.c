/* policy.c - asking governance: the `eth` backend (eth_call of isAppAllowed / isKmsAllowed on
 * the KMS contract at a block resolved per request, docs/protocol.md section 3, through lib/eth's
 * kg_eth_policy_check) and the `webhook` backend (dstack's POST /bootAuth/app|kms JSON). Every
 * failure to get a well-formed answer is an error, never "allowed". */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"
#include "keygate/hash.h"
#include "kms.h"

#define KMS_MAX_RPC_RESPONSE (256u * 1024u)
#define KMS_MAX_REASON 400u
static _Thread_local CURL *t_curl; /* one keep-alive connection per worker thread */

/* ---- HTTP ----------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    kg_buf *b = arg;
    if (kg_failed(kg_buf_append(b, data, size * n)))
        return 0; /* over the cap: abort the transfer */
    return size * n;
}

/* One call to the webhook: POST body as JSON, or GET when body is NULL. Only a 200 answer is
 * one (appended to out, NUL-terminated); anything else is KG_ERR_NETWORK naming the URL. */
static kg_result http_call(kg_buf *out, const kms *k, const char *url, const char *body)
{
    if (t_curl == NULL) {
        t_curl = curl_easy_init();
        KG_ENSURE(t_curl != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    }
    CURL *c = t_curl;
    curl_easy_reset(c);
    struct curl_slist *hdr = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body != NULL) {
        hdr = curl_slist_append(NULL, "Content-Type: application/json");
        KG_ENSURE(hdr != NULL, KG_ERR_NOMEM, "out of memory");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->cfg.policy_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)k->cfg.policy_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    KG_ENSURE(cc == CURLE_OK, KG_ERR_NETWORK, "%s: %s", url, curl_easy_strerror(cc));
    KG_ENSURE(status == 200, KG_ERR_NETWORK, "%s answered HTTP %ld", url, status);
    KG_GUARD(kg_buf_terminate(out));
    return KG_OK;
}

/* ---- eth ------------------------------------------------------------------------------------ */

/* Answers already obtained at a block, by the exact calldata asked. The chain state at a block
 * hash never changes and isAppAllowed/isKmsAllowed are views, so an answer at (block hash,
 * calldata) is the answer; only the eth_call is saved, never the per-request resolution of the
 * latest block, so a policy change still applies from the next block on. */
#define KMS_DECISION_CACHE 64u
typedef struct decision_entry {
    bool used;
    uint8_t block_hash[KG_ETH_HASH_LEN];
    uint8_t call_hash[KG_SHA256_LEN];
    bool allowed;
    char reason[KG_ETH_MAX_REASON_LEN + 1];
} decision_entry;
static decision_entry g_decisions[KMS_DECISION_CACHE];
static size_t g_decisions_next;
static pthread_mutex_t g_decisions_lock = PTHREAD_MUTEX_INITIALIZER;

static bool decision_lookup(kg_eth_decision *d, const uint8_t block[KG_ETH_HASH_LEN],
                            const uint8_t call[KG_SHA256_LEN])
{
    bool hit = false;
    pthread_mutex_lock(&g_decisions_lock);
    for (size_t i = 0; i < KMS_DECISION_CACHE && !hit; i++) {
        decision_entry *e = &g_decisions[i];
        if (e->used && memcmp(e->block_hash, block, KG_ETH_HASH_LEN) == 0 &&
            memcmp(e->call_hash, call, KG_SHA256_LEN) == 0) {
            d->allowed = e->allowed;
            memcpy(d->reason, e->reason, sizeof(d->reason));
            hit = true;
        }
    }
    pthread_mutex_unlock(&g_decisions_lock);
    return hit;
}

static void decision_store(const kg_eth_decision *d, const uint8_t call[KG_SHA256_LEN])
{
    pthread_mutex_lock(&g_decisions_lock);
    decision_entry *e = &g_decisions[g_decisions_next];
    g_decisions_next = (g_decisions_next + 1) % KMS_DECISION_CACHE;
    e->used = true;
    memcpy(e->block_hash, d->block_hash, KG_ETH_HASH_LEN);
    memcpy(e->call_hash, call, KG_SHA256_LEN);
    e->allowed = d->allowed;
    memcpy(e->reason, d->reason, sizeof(e->reason));
    pthread_mutex_unlock(&g_decisions_lock);
}

/* This KMS's own standing at the decision block, asked at most once per block (cached by block
 * hash, as dstack does): governance still allows it as a KMS, and the root keys published on
 * chain are its own. Uses the identity of the last self-check. */
static pthread_mutex_t g_standing_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t g_standing_block[KG_ETH_HASH_LEN];
static bool g_standing_known, g_standing_ok;
static char g_standing_reason[KG_KMS_MAX_REASON];

static kg_result standing_at(kms *k, const kg_eth_block *at)
{
    pthread_mutex_lock(&g_standing_lock);
    bool known = g_standing_known && memcmp(g_standing_block, at->hash, KG_ETH_HASH_LEN) == 0;
    bool ok = g_standing_ok;
    char reason[KG_KMS_MAX_REASON];
    snprintf(reason, sizeof(reason), "%s", g_standing_reason);
    pthread_mutex_unlock(&g_standing_lock);
    if (!known) {
        kg_boot_identity self;
        pthread_mutex_lock(&k->self_check_lock);
        bool have = k->has_self_identity;
        self = k->self_identity;
        pthread_mutex_unlock(&k->self_check_lock);
        KG_ENSURE(have, KG_ERR_UNAVAILABLE, "this KMS has no attested identity yet (self-check)");
        kg_eth_decision d;
        memset(&d, 0, sizeof(d));
        KG_GUARD(kms_chain_policy(&d, k, KG_ETH_POLICY_KMS, &self, at));
        bool match = false;
        char why[256] = "";
        KG_GUARD(kms_policy_root_keys_held(&match, why, sizeof(why), k, at));
        ok = d.allowed && match;
        snprintf(reason, sizeof(reason), "%.800s", !d.allowed ? d.reason : why);
        pthread_mutex_lock(&g_standing_lock);
        memcpy(g_standing_block, at->hash, KG_ETH_HASH_LEN);
        g_standing_known = true;
        g_standing_ok = ok;
        snprintf(g_standing_reason, sizeof(g_standing_reason), "%s", reason);
        pthread_mutex_unlock(&g_standing_lock);
    }
    KG_ENSURE(ok, KG_ERR_UNAVAILABLE, "this KMS is not allowed at block %llu: %s; ask another KMS",
              (unsigned long long)at->number, reason);
    return KG_OK;
}

static kg_result eth_ask(kg_kms_verdict *out, kms *k, bool app, const kg_boot_identity *bi)
{
    kg_eth_decision d;
    kg_eth_block blk;
    uint8_t call_hash[KG_SHA256_LEN];
    kg_eth_policy_kind kind = app ? KG_ETH_POLICY_APP : KG_ETH_POLICY_KMS;
    memset(&d, 0, sizeof(d));
    kg_buf call;
    kg_buf_init(&call, 16384);
    kg_result rc = kg_eth_policy_calldata(&call, kind, bi);
    if (kg_ok(rc))
        rc = kg_sha256(call_hash, call.data, call.len);
    kg_buf_free(&call);
    KG_GUARD(rc);
    /* The block this decision is made at: resolved now, for every request, by the quorum. */
    KG_GUARD(kms_chain_block(&blk, k));
    out->block_number = (int64_t)blk.number;
    out->block_hash[0] = '0';
    out->block_hash[1] = 'x';
    KG_GUARD(kg_hex_encode(out->block_hash + 2, sizeof(out->block_hash) - 2, blk.hash,
                           sizeof(blk.hash)));
    if (app) /* a release also needs this KMS to stand at that very block */
        KG_GUARD(standing_at(k, &blk));
    if (!decision_lookup(&d, blk.hash, call_hash)) {
        KG_GUARD(kms_chain_policy(&d, k, kind, bi, &blk));
        memcpy(d.block_hash, blk.hash, sizeof(d.block_hash));
        decision_store(&d, call_hash);
    }
    size_t keep = strlen(d.reason);
    if (keep > sizeof(out->reason) - 1)
        keep = sizeof(out->reason) - 1;
    for (size_t i = 0; i < keep; i++) /* the reason goes into logs: printable ASCII only */
        out->reason[i] = (d.reason[i] >= 0x20 && d.reason[i] < 0x7f) ? d.reason[i] : '?';
    out->reason[keep] = 0;
    out->allowed = d.allowed;
    return KG_OK;
}

/* ---- webhook -------------------------------------------------------------------------------- */

/* The webhook's base URL joined with path ("/bootAuth/app", "/"): one slash between them
 * whether or not the configured URL ends in one (dstack's url_join). */
static void webhook_url(char *out, size_t n, const kms *k, const char *path)
{
    const char *base = k->cfg.webhook_url;
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    snprintf(out, n, "%.*s/%s", (int)len, base, path[0] == '/' ? path + 1 : path);
}

/* Copies a string field of the auth server's answer: printable ASCII only (it is served to
 * anyone by GetMeta), "" when absent. */
static kg_result info_string(char *out, size_t n, const json_t *doc, const char *key)
{
    const json_t *v = json_object_get(doc, key);
    out[0] = 0;
    if (v == NULL || json_is_null(v))
        return KG_OK;
    const char *s = json_string_value(v);
    KG_ENSURE(s != NULL, KG_ERR_NETWORK, "auth webhook info: '%s' is not a string", key);
    size_t len = json_string_length(v);
    KG_ENSURE(len < n, KG_ERR_NETWORK, "auth webhook info: '%s' is too long", key);
    for (size_t i = 0; i < len; i++)
        KG_ENSURE(s[i] >= 0x20 && s[i] < 0x7f, KG_ERR_NETWORK,
                  "auth webhook info: '%s' is not printable ASCII", key);
    memcpy(out, s, len + 1);
    return KG_OK;
}

kg_result kms_policy_webhook_info(kms_webhook_info *out, kms *k)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(k->cfg.policy == KG_KMS_POLICY_WEBHOOK, KG_ERR_USAGE,
              "the auth server's info is for policy.backend 'webhook'");
    char url[KG_KMS_URL_MAX + 8];
    webhook_url(url, sizeof(url), k, "/");
    kg_buf resp;
    kg_buf_init(&resp, KMS_MAX_RPC_RESPONSE);
    kg_result rc = http_call(&resp, k, url, NULL);
    json_t *doc = NULL;
    if (kg_ok(rc)) {
        json_error_t jerr;
        doc = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
        if (!json_is_object(doc))
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "auth webhook info: %s is not a JSON object", url);
    }
    if (kg_ok(rc))
        rc = info_string(out->kms_contract, sizeof(out->kms_contract), doc, "kmsContractAddr");
    if (kg_ok(rc))
        rc = info_string(out->gateway_app_id, sizeof(out->gateway_app_id), doc, "gatewayAppId");
    if (kg_ok(rc))
        rc = info_string(out->app_implementation, sizeof(out->app_implementation), doc,
                         "appImplementation");
    if (kg_ok(rc)) {
        const json_t *id = json_object_get(doc, "chainId");
        if (json_is_integer(id) && json_integer_value(id) >= 0) {
            out->has_chain_id = true;
            out->chain_id = (uint64_t)json_integer_value(id);
        } else if (id != NULL && !json_is_null(id)) {
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "auth webhook info: 'chainId' is not a non-negative integer");
        }
    }
    json_decref(doc);
    kg_buf_free(&resp);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

static kg_result webhook_ask(kg_kms_verdict *out, const kms *k, const char *path,
                             const kg_boot_identity *bi)
{
    char app[KG_HEX_SIZE(KG_APP_ID_LEN)], compose[KG_HEX_SIZE(KG_COMPOSE_HASH_LEN)];
    char inst[KG_HEX_SIZE(KG_INSTANCE_ID_LEN)] = "", dev[KG_HEX_SIZE(KG_DEVICE_ID_LEN)];
    char mra[KG_HEX_SIZE(KG_MEASUREMENT_LEN)], mrs[KG_HEX_SIZE(KG_MEASUREMENT_LEN)];
    char os[KG_HEX_SIZE(KG_MEASUREMENT_LEN)];
    KG_GUARD(kg_hex_encode(app, sizeof(app), bi->app_id, KG_APP_ID_LEN));
    KG_GUARD(kg_hex_encode(compose, sizeof(compose), bi->compose_hash, KG_COMPOSE_HASH_LEN));
    if (bi->instance_id_len == KG_INSTANCE_ID_LEN)
        KG_GUARD(kg_hex_encode(inst, sizeof(inst), bi->instance_id, KG_INSTANCE_ID_LEN));
    KG_GUARD(kg_hex_encode(dev, sizeof(dev), bi->device_id, KG_DEVICE_ID_LEN));
    KG_GUARD(kg_hex_encode(mra, sizeof(mra), bi->mr_aggregated, KG_MEASUREMENT_LEN));
    KG_GUARD(kg_hex_encode(mrs, sizeof(mrs), bi->mr_system, KG_MEASUREMENT_LEN));
    KG_GUARD(kg_hex_encode(os, sizeof(os), bi->os_image_hash, KG_MEASUREMENT_LEN));
    json_t *adv = json_array();
    for (size_t i = 0; adv && i < bi->n_advisory_ids; i++)
        json_array_append_new(adv, json_string(bi->advisory_ids[i]));
    json_t *o =
        json_pack("{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "tcbStatus", bi->tcb_status,
                  "advisoryIds", adv, "mrAggregated", mra, "mrSystem", mrs, "osImageHash", os,
                  "appId", app, "composeHash", compose, "instanceId", inst, "deviceId", dev);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    KG_ENSURE(body != NULL, KG_ERR_NOMEM, "out of memory");
    char url[KG_KMS_URL_MAX + 32];
    webhook_url(url, sizeof(url), k, path);
    kg_buf resp;
    kg_buf_init(&resp, KMS_MAX_RPC_RESPONSE);
    kg_result rc = http_call(&resp, k, url, body);
    free(body);
    json_t *doc = NULL;
    if (kg_ok(rc)) {
        json_error_t jerr;
        doc = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
        json_t *allowed = json_object_get(doc, "isAllowed");
        if (!json_is_boolean(allowed)) {
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "auth webhook: reply has no boolean 'isAllowed'");
        } else {
            out->allowed = json_is_true(allowed);
            const char *reason = json_string_value(json_object_get(doc, "reason"));
            snprintf(out->reason, sizeof(out->reason), "%s", reason ? reason : "");
            const char *gw = json_string_value(json_object_get(doc, "gatewayAppId"));
            snprintf(out->gateway_app_id, sizeof(out->gateway_app_id), "%s", gw ? gw : "");
        }
    }
    json_decref(doc);
    kg_buf_free(&resp);
    return rc;
}

/* ---- public --------------------------------------------------------------------------------- */

kg_result kms_policy_ask(void *ctx, kg_kms_verdict *out, kg_kms_caller caller,
                         const kg_boot_identity *id)
{
    kms *k = ctx;
    bool app = caller == KG_KMS_CALLER_APP;
    memset(out, 0, sizeof(*out));
    out->block_number = -1;
    kg_result rc;
    if (k->cfg.policy == KG_KMS_POLICY_ETH)
        rc = eth_ask(out, k, app, id);
    else
        rc = webhook_ask(out, k, app ? "/bootAuth/app" : "/bootAuth/kms", id);
    if (kg_failed(rc)) {
        out->allowed = false; /* fail closed whatever was half-read */
        return rc;
    }
    return KG_OK;
}

kg_result kms_policy_kms_info(uint8_t k256_pub[KG_K256_PUB_LEN], kg_buf *ca_spki, kms *k)
{
    KG_ENSURE(k->cfg.policy == KG_KMS_POLICY_ETH && kms_chain_first() != NULL, KG_ERR_USAGE,
              "the KMS info is on chain: policy.backend must be 'eth'");
    kg_eth_block blk;
    uint8_t agreed_hash[KG_SHA256_LEN], hash[KG_SHA256_LEN];
    KG_GUARD(kms_chain_block(&blk, k));
    KG_GUARD(kms_chain_kms_info(k256_pub, agreed_hash, k, &blk));
    /* the bytes themselves from one node, checked against what the quorum agreed on */
    uint8_t k256[KG_K256_PUB_LEN];
    KG_GUARD(kg_eth_kms_info(k256, ca_spki, kms_chain_first(), k->cfg.kms_contract, &blk));
    KG_GUARD(kg_sha256(hash, ca_spki->data, ca_spki->len));
    KG_ENSURE(memcmp(hash, agreed_hash, sizeof(hash)) == 0 &&
                  memcmp(k256, k256_pub, KG_K256_PUB_LEN) == 0,
              KG_ERR_DENIED, "chain nodes disagree: kmsInfo changed between two reads");
    return KG_OK;
}

kg_result kms_policy_root_keys(void *ctx, uint8_t k256_pub[KG_K256_PUB_LEN],
                               uint8_t ca_spki_sha256[KG_SHA256_LEN], const kg_kms_verdict *at)
{
    kms *k = ctx;
    KG_ENSURE(k->cfg.policy == KG_KMS_POLICY_ETH, KG_ERR_USAGE,
              "the KMS info is on chain: policy.backend must be 'eth'");
    kg_eth_block blk;
    KG_GUARD(kms_chain_block_at(&blk, at));
    return kms_chain_kms_info(k256_pub, ca_spki_sha256, k, &blk);
}

kg_result kms_policy_root_keys_held(bool *match, char *why, size_t why_size, kms *k,
                                    const kg_eth_block *at)
{
    uint8_t k256[KG_K256_PUB_LEN], agreed[KG_SHA256_LEN], mine[KG_SHA256_LEN];
    KG_GUARD(kms_chain_kms_info(k256, agreed, k, at));
    /* kmsInfo is the current epoch's keys: this node must hold that epoch (root-key epochs;
     * which epoch is current is then read per decision, epochs.c) */
    bool k256_ok = false, ca_ok = false;
    kg_result rc = KG_OK;
    pthread_rwlock_rdlock(&k->epochs_lock);
    for (size_t i = 0; kg_ok(rc) && i < k->n_epochs && !(k256_ok && ca_ok); i++) {
        const kms_epoch *e = &k->epochs[i];
        rc = kg_sha256(mine, e->ca_spki.data, e->ca_spki.len);
        bool kk = memcmp(k256, e->k256_pub, KG_K256_PUB_LEN) == 0;
        bool cc = memcmp(agreed, mine, sizeof(mine)) == 0;
        if ((kk && cc) || i == 0) {
            k256_ok = kk;
            ca_ok = cc;
        }
    }
    pthread_rwlock_unlock(&k->epochs_lock);
    KG_GUARD(rc);
    *match = k256_ok && ca_ok;
    /* kmsInfo follows the current root epoch: name it when this node lacks it */
    uint32_t cur = 0;
    bool epochs = false;
    if (!*match && kg_ok(kms_chain_current_root_epoch(&cur, &epochs, k, at)) && epochs && cur > 0) {
        snprintf(why, why_size,
                 "root keys differ from the KMS info on chain: root epoch %u is current on chain "
                 "and this node does not hold it; start it with --onboard HOST:PORT of a node "
                 "that does",
                 (unsigned)cur);
        return KG_OK;
    }
    kg_error_clear();
    snprintf(why, why_size,
             "root keys differ from the KMS info on chain (root k256 key %s, root CA key %s): "
             "wrong state_dir, or kmsInfo changed",
             k256_ok ? "matches" : "differs", ca_ok ? "matches" : "differs");
    return KG_OK;
}

kg_result kms_policy_init(kms *k)
{
    KG_ENSURE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, KG_ERR_INTERNAL,
              "curl_global_init failed");
    if (k->cfg.policy != KG_KMS_POLICY_ETH)
        return KG_OK;
    return kms_chain_init(k);
}

void kms_policy_thread_done(void)
{
    if (t_curl != NULL)
        curl_easy_cleanup(t_curl);
    t_curl = NULL;
}

void kms_policy_free(void)
{
    kms_chain_free();
    kms_policy_thread_done();
    curl_global_cleanup();
}
