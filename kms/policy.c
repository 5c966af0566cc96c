/* policy.c - asking governance: the `eth` backend (eth_call of isAppAllowed / isKmsAllowed on
 * the KMS contract at a block resolved per request, SPEC.md section 3) and the `webhook`
 * backend (dstack's POST /bootAuth/app|kms JSON). Every failure to get a well-formed answer is
 * an error, never "allowed". */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/hash.h"
#include "kms.h"

#define KMS_MAX_RPC_RESPONSE (256u * 1024u)
#define KMS_MAX_REASON 400u
/* isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[])) */
#define BOOT_INFO_TUPLE                                                                            \
    "((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))"

static _Thread_local CURL *t_curl; /* one keep-alive connection per worker thread */

/* ---- HTTP ----------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    kg_buf *b = arg;
    if (kg_failed(kg_buf_append(b, data, size * n)))
        return 0; /* over the cap: abort the transfer */
    return size * n;
}

static kg_result http_post_json(kg_buf *out, const kms *k, const char *url, const char *body)
{
    if (t_curl == NULL) {
        t_curl = curl_easy_init();
        KG_ENSURE(t_curl != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    }
    CURL *c = t_curl;
    curl_easy_reset(c);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
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
    curl_slist_free_all(hdr);
    KG_ENSURE(cc == CURLE_OK, KG_ERR_NETWORK, "%s: %s", url, curl_easy_strerror(cc));
    KG_ENSURE(status == 200, KG_ERR_NETWORK, "%s answered HTTP %ld", url, status);
    KG_GUARD(kg_buf_terminate(out));
    return KG_OK;
}

/* ---- JSON-RPC ------------------------------------------------------------------------------- */

/* Calls method with params (JSON text) and returns the "result" member (caller decrefs). */
static kg_result rpc(json_t **result, const kms *k, const char *method, const char *params)
{
    *result = NULL;
    kg_buf req, resp;
    kg_buf_init(&req, 64 * 1024);
    kg_buf_init(&resp, KMS_MAX_RPC_RESPONSE);
    kg_result rc = KG_ERROR;
    json_t *doc = NULL;
    KG_GUARD_C(kg_buf_printf(&req, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
                             method, params));
    KG_GUARD_C(kg_buf_terminate(&req));
    KG_GUARD_CTX_C(http_post_json(&resp, k, k->cfg.rpc_url, (const char *)req.data),
                   "chain node");
    json_error_t jerr;
    doc = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
    KG_ENSURE_C(json_is_object(doc), KG_ERR_NETWORK, "chain node: %s: reply is not a JSON object",
                method);
    json_t *err = json_object_get(doc, "error");
    if (err != NULL && !json_is_null(err)) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        KG_BAIL_C(KG_ERR_NETWORK, "chain node: %s failed: %s", method, msg ? msg : "(no message)");
    }
    json_t *res = json_object_get(doc, "result");
    KG_ENSURE_C(res != NULL, KG_ERR_NETWORK, "chain node: %s: no result", method);
    *result = json_incref(res);
    rc = KG_OK;
cleanup:
    json_decref(doc);
    kg_buf_free(&req);
    kg_buf_free(&resp);
    return rc;
}

static kg_result parse_quantity(uint64_t *out, const json_t *v, const char *what)
{
    const char *s = json_string_value(v);
    KG_ENSURE(s != NULL && strncmp(s, "0x", 2) == 0 && strlen(s) > 2 && strlen(s) <= 18,
              KG_ERR_NETWORK, "chain node: %s is not a quantity", what);
    uint64_t x = 0;
    for (const char *p = s + 2; *p; p++) {
        int d = (*p >= '0' && *p <= '9')   ? *p - '0'
                : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
                                           : -1;
        KG_ENSURE(d >= 0, KG_ERR_NETWORK, "chain node: %s is not a quantity", what);
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return KG_OK;
}

/* The block this decision is made at: the node's latest, by number and hash. */
static kg_result latest_block(kms_decision *d, const kms *k)
{
    json_t *blk = NULL;
    KG_GUARD(rpc(&blk, k, "eth_getBlockByNumber", "[\"latest\",false]"));
    kg_result rc = KG_ERROR;
    uint64_t n = 0;
    KG_ENSURE_C(json_is_object(blk), KG_ERR_NETWORK, "chain node: no latest block");
    KG_GUARD_C(parse_quantity(&n, json_object_get(blk, "number"), "block number"));
    const char *h = json_string_value(json_object_get(blk, "hash"));
    KG_ENSURE_C(h != NULL && strlen(h) == 66 && strncmp(h, "0x", 2) == 0, KG_ERR_NETWORK,
                "chain node: bad block hash");
    d->block_number = (int64_t)n;
    memcpy(d->block_hash, h, 67);
    rc = KG_OK;
cleanup:
    json_decref(blk);
    return rc;
}

/* ---- ABI ------------------------------------------------------------------------------------ */

static kg_result put_word(kg_buf *b, const uint8_t *bytes, size_t n, bool left_pad)
{
    uint8_t w[32] = {0};
    memcpy(left_pad ? w + 32 - n : w, bytes, n);
    return kg_buf_append(b, w, 32);
}

static kg_result put_uint(kg_buf *b, uint64_t v)
{
    uint8_t w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (uint8_t)(v >> (56 - 8 * i));
    return put_word(b, w, 8, true);
}

static kg_result put_string(kg_buf *b, const char *s)
{
    size_t n = strlen(s);
    KG_GUARD(put_uint(b, n));
    KG_GUARD(kg_buf_append(b, s, n));
    static const uint8_t zeros[32] = {0};
    return kg_buf_append(b, zeros, (32 - n % 32) % 32);
}

static size_t padded(size_t n) { return 32 + (n + 31) / 32 * 32; }

/* calldata = selector(fn BOOT_INFO_TUPLE) || abi.encode(bootInfo). */
static kg_result encode_call(kg_buf *out, const char *fn, const kms_boot_info *bi)
{
    char sig[160];
    snprintf(sig, sizeof(sig), "%s" BOOT_INFO_TUPLE, fn);
    uint8_t sel[32];
    kg_keccak256(sel, sig, strlen(sig));
    KG_GUARD(kg_buf_append(out, sel, 4));
    KG_GUARD(put_uint(out, 32)); /* offset of the (dynamic) tuple */
    uint8_t zero20[20] = {0};
    KG_GUARD(put_word(out, bi->app_id, 20, true));
    KG_GUARD(put_word(out, bi->compose_hash, 32, false));
    KG_GUARD(put_word(out, bi->has_instance_id ? bi->instance_id : zero20, 20, true));
    KG_GUARD(put_word(out, bi->device_id, 32, false));
    KG_GUARD(put_word(out, bi->mr_aggregated, 32, false));
    KG_GUARD(put_word(out, bi->mr_system, 32, false));
    KG_GUARD(put_word(out, bi->os_image_hash, 32, false));
    size_t head = 9 * 32;
    KG_GUARD(put_uint(out, head));                                  /* tcbStatus */
    KG_GUARD(put_uint(out, head + padded(strlen(bi->tcb_status)))); /* advisoryIds */
    KG_GUARD(put_string(out, bi->tcb_status));
    KG_GUARD(put_uint(out, bi->n_advisories));
    size_t off = 32 * bi->n_advisories;
    for (size_t i = 0; i < bi->n_advisories; i++) {
        KG_GUARD(put_uint(out, off));
        off += padded(strlen(bi->advisory_ids[i]));
    }
    for (size_t i = 0; i < bi->n_advisories; i++)
        KG_GUARD(put_string(out, bi->advisory_ids[i]));
    return KG_OK;
}

/* Reads a 32-byte word as a small integer; fails unless the upper bytes are zero. */
static kg_result read_small(uint64_t *out, kg_reader *r, const char *what)
{
    uint8_t w[32];
    KG_GUARD(kg_reader_read(r, w, 32, what));
    for (int i = 0; i < 24; i++)
        KG_ENSURE(w[i] == 0, KG_ERR_NETWORK, "ABI: %s out of range", what);
    uint64_t v = 0;
    for (int i = 24; i < 32; i++)
        v = (v << 8) | w[i];
    *out = v;
    return KG_OK;
}

/* Decodes (bool isAllowed, string reason). Strict: canonical bool, in-bounds offset/length. */
static kg_result decode_bool_string(kms_decision *d, const uint8_t *data, size_t len)
{
    kg_reader r;
    kg_reader_init(&r, data, len);
    uint64_t b = 0, off = 0, n = 0;
    KG_ENSURE(len >= 96, KG_ERR_NETWORK,
              "ABI: reply of %zu bytes is not (bool,string) (no contract code at that address?)",
              len);
    KG_GUARD(read_small(&b, &r, "isAllowed"));
    KG_ENSURE(b <= 1, KG_ERR_NETWORK, "ABI: isAllowed is not a bool");
    KG_GUARD(read_small(&off, &r, "reason offset"));
    KG_ENSURE(off >= 64 && off <= len - 32, KG_ERR_NETWORK, "ABI: reason offset out of range");
    r.pos = (size_t)off;
    KG_GUARD(read_small(&n, &r, "reason length"));
    KG_ENSURE(n <= kg_reader_remaining(&r) && n <= 4096, KG_ERR_NETWORK,
              "ABI: reason length out of range");
    const uint8_t *s = NULL;
    KG_GUARD(kg_reader_ptr(&r, &s, (size_t)n, "reason"));
    size_t keep = n < sizeof(d->reason) - 1 ? (size_t)n : sizeof(d->reason) - 1;
    for (size_t i = 0; i < keep; i++) /* the reason goes into logs: printable ASCII only */
        d->reason[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    d->reason[keep] = 0;
    d->allowed = b == 1;
    return KG_OK;
}

static kg_result eth_ask(kms_decision *out, const kms *k, const char *fn,
                         const kms_boot_info *bi)
{
    kg_result rc = KG_ERROR;
    kg_buf call, params, ret;
    kg_buf_init(&call, 8192);
    kg_buf_init(&params, 32768);
    kg_buf_init(&ret, KMS_MAX_RPC_RESPONSE);
    json_t *res = NULL;
    char *hex = NULL;
    char to[41];
    KG_GUARD_C(latest_block(out, k));
    KG_GUARD_C(encode_call(&call, fn, bi));
    hex = malloc(2 * call.len + 1);
    KG_ENSURE_C(hex != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_hex_encode(hex, 2 * call.len + 1, call.data, call.len));
    KG_GUARD_C(kg_hex_encode(to, sizeof(to), k->cfg.kms_contract, 20));
    /* Pinned to the block resolved above (EIP-1898), so number, hash and answer agree. */
    KG_GUARD_C(kg_buf_printf(&params,
                             "[{\"to\":\"0x%s\",\"data\":\"0x%s\"},{\"blockHash\":\"%s\"}]", to,
                             hex, out->block_hash));
    KG_GUARD_C(kg_buf_terminate(&params));
    KG_GUARD_CTX_C(rpc(&res, k, "eth_call", (const char *)params.data), "%s", fn);
    const char *r = json_string_value(res);
    KG_ENSURE_C(r != NULL, KG_ERR_NETWORK, "%s: eth_call result is not a string", fn);
    KG_GUARD_CTX_C(kg_hex_decode_buf(&ret, r, strlen(r)), "%s: eth_call result", fn);
    KG_GUARD_CTX_C(decode_bool_string(out, ret.data, ret.len), "%s", fn);
    rc = KG_OK;
cleanup:
    free(hex);
    json_decref(res);
    kg_buf_free(&call);
    kg_buf_free(&params);
    kg_buf_free(&ret);
    return rc;
}

/* ---- webhook -------------------------------------------------------------------------------- */

static kg_result webhook_ask(kms_decision *out, const kms *k, const char *path,
                             const kms_boot_info *bi)
{
    char app[41], compose[65], inst[41] = "", dev[65], mra[65], mrs[65], os[65];
    KG_GUARD(kg_hex_encode(app, sizeof(app), bi->app_id, 20));
    KG_GUARD(kg_hex_encode(compose, sizeof(compose), bi->compose_hash, 32));
    if (bi->has_instance_id)
        KG_GUARD(kg_hex_encode(inst, sizeof(inst), bi->instance_id, 20));
    KG_GUARD(kg_hex_encode(dev, sizeof(dev), bi->device_id, 32));
    KG_GUARD(kg_hex_encode(mra, sizeof(mra), bi->mr_aggregated, 32));
    KG_GUARD(kg_hex_encode(mrs, sizeof(mrs), bi->mr_system, 32));
    KG_GUARD(kg_hex_encode(os, sizeof(os), bi->os_image_hash, 32));
    json_t *adv = json_array();
    for (size_t i = 0; adv && i < bi->n_advisories; i++)
        json_array_append_new(adv, json_string(bi->advisory_ids[i]));
    json_t *o = json_pack("{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "tcbStatus", bi->tcb_status,
                          "advisoryIds", adv, "mrAggregated", mra, "mrSystem", mrs,
                          "osImageHash", os, "appId", app, "composeHash", compose, "instanceId",
                          inst, "deviceId", dev);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    KG_ENSURE(body != NULL, KG_ERR_NOMEM, "out of memory");
    char url[KG_KMS_URL_MAX + 32];
    snprintf(url, sizeof(url), "%s%s", k->cfg.webhook_url, path);
    kg_buf resp;
    kg_buf_init(&resp, KMS_MAX_RPC_RESPONSE);
    kg_result rc = http_post_json(&resp, k, url, body);
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

static kg_result ask(kms_decision *out, const kms *k, bool app, const kms_boot_info *bi)
{
    memset(out, 0, sizeof(*out));
    out->block_number = -1;
    kg_result rc;
    if (k->cfg.policy == KG_KMS_POLICY_ETH)
        rc = eth_ask(out, k, app ? "isAppAllowed" : "isKmsAllowed", bi);
    else
        rc = webhook_ask(out, k, app ? "/bootAuth/app" : "/bootAuth/kms", bi);
    if (kg_failed(rc)) {
        out->allowed = false; /* fail closed whatever was half-read */
        return rc;
    }
    return KG_OK;
}

kg_result kms_policy_app(kms_decision *out, const kms *k, const kms_boot_info *bi)
{
    return ask(out, k, true, bi);
}

kg_result kms_policy_kms(kms_decision *out, const kms *k, const kms_boot_info *bi)
{
    return ask(out, k, false, bi);
}

kg_result kms_policy_init(kms *k)
{
    KG_ENSURE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, KG_ERR_INTERNAL,
              "curl_global_init failed");
    if (k->cfg.policy != KG_KMS_POLICY_ETH)
        return KG_OK;
    /* A KMS pointed at the wrong chain must not start: the same contract address on another
     * chain is another governance. */
    json_t *res = NULL;
    KG_GUARD_CTX(rpc(&res, k, "eth_chainId", "[]"), "checking chain_id");
    uint64_t id = 0;
    kg_result rc = parse_quantity(&id, res, "chain id");
    json_decref(res);
    KG_GUARD(rc);
    KG_ENSURE(id == k->cfg.chain_id, KG_ERR_DENIED,
              "chain node at '%s' is chain %llu, config says %llu", k->cfg.rpc_url,
              (unsigned long long)id, (unsigned long long)k->cfg.chain_id);
    return KG_OK;
}

void kms_policy_free(void)
{
    if (t_curl != NULL)
        curl_easy_cleanup(t_curl);
    t_curl = NULL;
    curl_global_cleanup();
}

void kms_self_check(kms *k)
{
    kms_boot_info self;
    kms_decision d;
    char reason[sizeof(k->self_check_reason)];
    bool allowed = false;
    if (kg_failed(kms_attest_self(&self, k))) {
        snprintf(reason, sizeof(reason), "own attestation: %.200s", kg_error_message());
    } else if (kg_failed(kms_policy_kms(&d, k, &self))) {
        snprintf(reason, sizeof(reason), "governance unavailable: %.200s", kg_error_message());
    } else {
        allowed = d.allowed;
        snprintf(reason, sizeof(reason), "%s%.200s", allowed ? "allowed" : "not allowed: ",
                 allowed ? "" : (d.reason[0] ? d.reason : "(no reason given)"));
    }
    kg_error_clear();
    pthread_mutex_lock(&k->self_check_lock);
    bool was = atomic_load(&k->kms_allowed);
    atomic_store(&k->kms_allowed, allowed);
    snprintf(k->self_check_reason, sizeof(k->self_check_reason), "%s", reason);
    k->last_self_check_ms = kms_now_ms();
    pthread_mutex_unlock(&k->self_check_lock);
    if (!allowed)
        atomic_fetch_add(&k->metrics.self_checks_failed, 1);
    if (was != allowed || !allowed)
        fprintf(stderr, "keygate-kms: self-check: %s\n", reason);
}
