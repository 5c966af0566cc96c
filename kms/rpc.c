/* rpc.c - the KMS methods of the KMS API (kms/README.md), each one request in, one JSON answer
 * out, on a worker thread. Who may have what is decided by the decision core
 * (lib/kms/decision.c, kms_decision.h): GetAppKey, SignCert and GetKmsKey ask it, derive what
 * they release, have the release recorded, then answer. This file is the glue between that core
 * and this KMS's state (keys, attestation, policy, audit log) plus the wire formats. */
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/epoch.h"
#include "keygate/hash.h"
#include "keygate/kms_request.h"
#include "kms.h"
#include "keygate/kms_x509.h"

#define KMS_MAX_RESPONSE (1u << 20)
#define KMS_MAX_HEX_FIELD KG_K256_RECSIG_LEN /* the longest binary field of a reply */

/* ---- the decision core over this KMS -------------------------------------------------------- */

/* Refusals of callers nobody could verify (no certificate, a certificate that does not attest)
 * cost an attacker nothing to send; one fsync'd row each would let anyone drown the real
 * decisions and fill the disk. They are written at most KMS_UNVERIFIED_PER_S per second (bursts
 * of KMS_UNVERIFIED_BURST) and otherwise only counted. Decisions about a verified identity are
 * always written, and a release never leaves unless its row is. */
#define KMS_UNVERIFIED_PER_S 20.0
#define KMS_UNVERIFIED_BURST 200.0
static pthread_mutex_t g_bucket_lock = PTHREAD_MUTEX_INITIALIZER;
static double g_bucket = KMS_UNVERIFIED_BURST;
static int64_t g_bucket_ms;

static bool unverified_row_allowed(void)
{
    int64_t now = kms_now_ms();
    pthread_mutex_lock(&g_bucket_lock);
    if (g_bucket_ms != 0)
        g_bucket += (double)(now - g_bucket_ms) / 1000.0 * KMS_UNVERIFIED_PER_S;
    if (g_bucket > KMS_UNVERIFIED_BURST)
        g_bucket = KMS_UNVERIFIED_BURST;
    g_bucket_ms = now;
    bool take = g_bucket >= 1.0;
    if (take)
        g_bucket -= 1.0;
    pthread_mutex_unlock(&g_bucket_lock);
    return take;
}

static kg_result record_in_audit(void *ctx, const kg_audit_record *rec, uint64_t *leaf)
{
    kms *k = ctx;
    *leaf = UINT64_MAX;
    if (!rec->allowed && rec->identity == NULL && !unverified_row_allowed()) {
        atomic_fetch_add(&k->metrics.denied, 1);
        atomic_fetch_add(&k->metrics.unverified_not_recorded, 1);
        return KG_OK; /* refused all the same; counted, not written */
    }
    kg_result rc = kg_audit_append_leaf(k->audit, rec, NULL, leaf);
    if (kg_failed(rc))
        atomic_fetch_add(&k->metrics.audit_failures, 1);
    else if (!rec->allowed)
        atomic_fetch_add(&k->metrics.denied, 1);
    return rc;
}

static bool self_allowed(void *ctx, char *reason, size_t n)
{
    kms *k = ctx;
    if (atomic_load(&k->kms_allowed))
        return true;
    pthread_mutex_lock(&k->self_check_lock);
    snprintf(reason, n, "%s", k->self_check_reason);
    pthread_mutex_unlock(&k->self_check_lock);
    return false;
}

void kms_decision_ops(kg_kms_ops *out, kms *k)
{
    *out = (kg_kms_ops){.ctx = k,
                        .attest = kms_attest_peer,
                        .attest_csr = kms_attest_csr,
                        .govern = kms_policy_ask,
                        .record = record_in_audit,
                        .self_allowed = self_allowed,
                        .root_keys = kms_policy_root_keys};
}

static kg_kms_request request_of(const kms *k, const kms_call *c, kg_kms_caller caller)
{
    return (kg_kms_request){.method = c->method,
                            .peer = c->peer_addr,
                            .cert_der = c->peer_cert_der,
                            .cert_len = c->peer_cert_der_len,
                            .tls_cert = c->peer_cert,
                            .caller = caller,
                            .kms_app_id = kms_identity_app_id(k)};
}

/* The released keys' public fingerprints, recorded (and then the release answered) only when
 * the record committed. With a receipt (GetAppKey, SignCert: docs/design.md, "Receipts") the
 * answer waits for a checkpoint that includes the release's log entry. */
static kg_result release(kms *k, kms_call *c, const kg_kms_request *req, const kg_kms_decision *d,
                         const char *released, bool receipt)
{
    kg_kms_ops ops;
    kms_decision_ops(&ops, k);
    uint64_t leaf = UINT64_MAX;
    KG_GUARD(kg_kms_record_release(&ops, req, d, released, &leaf));
    c->wants_receipt = receipt && leaf != UINT64_MAX;
    c->receipt_leaf = leaf;
    atomic_fetch_add(&k->metrics.keys_released, 1);
    return KG_OK;
}

/* Appends "<key>":<JSON string of s> with a leading comma unless first. */
static kg_result put_json_string(kg_buf *out, const char *key, const char *s, bool first)
{
    json_t *v = json_string(s);
    KG_ENSURE(v != NULL, KG_ERR_INPUT, "'%s' is not valid UTF-8", key);
    char *t = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);
    KG_ENSURE(t != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_buf_printf(out, "%s\"%s\":%s", first ? "" : ",", key, t);
    free(t);
    return rc;
}

static kg_result put_hex(kg_buf *out, const char *key, const uint8_t *b, size_t n)
{
    char hex[KG_HEX_SIZE(KMS_MAX_HEX_FIELD)];
    KG_ENSURE(n <= KMS_MAX_HEX_FIELD, KG_ERR_INTERNAL, "put_hex: field too long");
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), b, n));
    kg_result rc = kg_buf_printf(out, ",\"%s\":\"%s\"", key, hex);
    kg_memzero(hex, sizeof(hex));
    return rc;
}

/* ---- GetAppKey ------------------------------------------------------------------------------ */

/* An app's keys under one epoch; its public half remembered (keyed by that epoch's root key)
 * after the first derivation. */
static kg_result derive_under(kg_app_keys *keys, kms *k, const kms_epoch *e,
                              const kg_boot_identity *id)
{
    kg_app_public known;
    bool have = k->app_pubs != NULL &&
                kg_app_public_cache_get(k->app_pubs, e->k256_pub, id->app_id, &known);
    KG_GUARD_CTX(kg_kdf_app_keys_known(keys, &e->root, id->app_id,
                                       id->instance_id_len ? id->instance_id : NULL,
                                       id->instance_id_len, have ? &known : NULL),
                 "GetAppKey: deriving keys under root epoch %u", e->epoch);
    if (!have && k->app_pubs != NULL) {
        kg_kdf_app_public(&known, keys);
        kg_app_public_cache_put(k->app_pubs, e->k256_pub, id->app_id, &known);
    }
    return KG_OK;
}

/* The public fingerprints of a release, recorded in the log. A KMS that never rotated records
 * exactly what it did before epochs; otherwise the current epoch and, for each retiring epoch
 * released, its number and the app's key under it. */
static kg_result released_json(char *out, size_t n, const kg_app_keys *keys, uint32_t epoch,
                               const kg_app_keys *prev, const uint32_t *prev_no, size_t n_prev)
{
    char k256_hex[2 * KG_K256_PUB_LEN + 1], env_hex[2 * KG_X25519_LEN + 1];
    char ca_fp_hex[KG_HEX_SIZE(KG_SHA256_LEN)];
    uint8_t ca_fp[KG_SHA256_LEN];
    KG_GUARD(kg_sha256(ca_fp, keys->ca_pub, sizeof(keys->ca_pub)));
    KG_GUARD(kg_hex_encode(ca_fp_hex, sizeof(ca_fp_hex), ca_fp, sizeof(ca_fp)));
    KG_GUARD(kg_hex_encode(k256_hex, sizeof(k256_hex), keys->k256_pub, sizeof(keys->k256_pub)));
    KG_GUARD(kg_hex_encode(env_hex, sizeof(env_hex), keys->env_pub, sizeof(keys->env_pub)));
    size_t w = (size_t)snprintf(out, n,
                                "{\"k256_pubkey\":\"%s\",\"env_pubkey\":\"%s\","
                                "\"app_ca_pubkey_sha256\":\"%s\",\"disk_key\":true",
                                k256_hex, env_hex, ca_fp_hex);
    if (epoch != 0 || n_prev > 0) {
        w += (size_t)snprintf(out + w, w < n ? n - w : 0, ",\"root_epoch\":%u", (unsigned)epoch);
        for (size_t i = 0; i < n_prev; i++) {
            KG_GUARD(kg_hex_encode(k256_hex, sizeof(k256_hex), prev[i].k256_pub,
                                   sizeof(prev[i].k256_pub)));
            w += (size_t)snprintf(out + w, w < n ? n - w : 0,
                                  "%s{\"root_epoch\":%u,\"k256_pubkey\":\"%s\"}",
                                  i ? "," : ",\"previous\":[", (unsigned)prev_no[i], k256_hex);
        }
        if (n_prev > 0)
            w += (size_t)snprintf(out + w, w < n ? n - w : 0, "]");
    }
    w += (size_t)snprintf(out + w, w < n ? n - w : 0, "}");
    KG_ENSURE(w < n, KG_ERR_INTERNAL, "GetAppKey: the release record is too long");
    return KG_OK;
}

static kg_result put_app_keys(kg_buf *out, const kg_app_keys *keys)
{
    KG_GUARD(put_hex(out, "disk_crypt_key", keys->disk_key, sizeof(keys->disk_key)));
    KG_GUARD(put_hex(out, "env_crypt_key", keys->env_key, sizeof(keys->env_key)));
    KG_GUARD(put_hex(out, "k256_key", keys->k256_scalar, sizeof(keys->k256_scalar)));
    return put_hex(out, "k256_signature", keys->k256_signature, sizeof(keys->k256_signature));
}

/* The epochs at the decision's block, and the current one among them held by this node. On
 * success the epoch table is read-locked (*locked set) and *cur points into it until the caller
 * unlocks; an epoch retired since the decision is unavailable, never a fall-back to another. */
static kg_result current_epoch_at(const kms_epoch **cur, kms_epoch_view *view, bool *locked, kms *k,
                                  const kg_kms_verdict *v, const char *method)
{
    KG_GUARD_CTX(kms_epochs_at(view, k, v), "%s", method);
    pthread_rwlock_rdlock(&k->epochs_lock);
    *locked = true;
    *cur = kms_epoch_find(k, view->current);
    KG_ENSURE(*cur != NULL, KG_ERR_UNAVAILABLE, "%s: root epoch %u is no longer held by this node",
              method, view->current);
    return KG_OK;
}

static kg_result get_app_key(kms *k, kms_call *c)
{
    kg_kms_ops ops;
    kms_decision_ops(&ops, k);
    kg_kms_request rq = request_of(k, c, KG_KMS_CALLER_APP);
    kg_kms_get_app_key_req *req = calloc(1, sizeof(*req));
    kg_kms_decision *d = calloc(1, sizeof(*d));
    kg_app_keys *keys = calloc(1 + KMS_MAX_EPOCHS, sizeof(*keys)), *prev = keys ? keys + 1 : NULL;
    kg_result rc = KG_ERROR;
    kms_epoch_view view;
    uint32_t prev_no[KMS_MAX_EPOCHS];
    size_t n_prev = 0;
    bool locked = false;
    char *ca_pem = NULL; /* the current epoch's root CA certificate (public) */
    KG_ENSURE_C(req != NULL && d != NULL && keys != NULL, KG_ERR_NOMEM, "out of memory");
    if (kg_failed(kg_kms_parse_get_app_key(req, c->body, c->body_len))) {
        rc = kg_kms_reject_request(&ops, &rq, kg_error_message());
        goto cleanup;
    }
    KG_GUARD_C(kg_kms_decide(d, &ops, &rq));
    const kg_boot_identity *id = &d->peer.boot;
    /* The epochs at the decision's block: the current one in dstack's members, the retiring
     * ones in previous_keys (docs/design.md, "Root-key epochs"). */
    const kms_epoch *cur = NULL;
    KG_GUARD_C(current_epoch_at(&cur, &view, &locked, k, &d->verdict, "GetAppKey"));
    KG_GUARD_C(derive_under(keys, k, cur, id));
    for (size_t i = 0; i < view.n_previous; i++) {
        const kms_epoch *e = kms_epoch_find(k, view.previous[i]);
        if (e == NULL) /* retired since the view was read: never released again */
            continue;
        KG_GUARD_C(derive_under(&prev[n_prev], k, e, id));
        prev_no[n_prev++] = e->epoch;
    }

    /* The table is left before the release: it waits for the durable commit and its receipt,
     * and a retirement (the writer) must not queue behind that I/O. */
    const uint32_t cur_epoch = cur->epoch;
    ca_pem = strdup(cur->ca_pem);
    pthread_rwlock_unlock(&k->epochs_lock);
    locked = false;
    KG_ENSURE_C(ca_pem != NULL, KG_ERR_NOMEM, "out of memory");

    /* Only public keys are recorded, as fingerprints of what was released. */
    char released[1600];
    KG_GUARD_C(released_json(released, sizeof(released), keys, cur_epoch, prev, prev_no, n_prev));
    KG_GUARD_C(release(k, c, &rq, d, released, true));

    /* the governance answer's (the webhook's gatewayAppId, as dstack's KMS passes it on), else
     * the configured one: what GetMeta reports too */
    const char *gateway =
        d->verdict.gateway_app_id[0] ? d->verdict.gateway_app_id : k->cfg.gateway_app_id;
    KG_GUARD_C(kg_buf_append_str(&c->response, "{"));
    KG_GUARD_C(put_json_string(&c->response, "ca_cert", ca_pem, true));
    KG_GUARD_C(put_app_keys(&c->response, keys));
    KG_GUARD_C(put_json_string(&c->response, "gateway_app_id", gateway, false));
    /* dstack's deprecated name for the same value, which older guests read */
    KG_GUARD_C(put_json_string(&c->response, "tproxy_app_id", gateway, false));
    KG_GUARD_C(put_hex(&c->response, "os_image_hash", id->os_image_hash, KG_MEASUREMENT_LEN));
    KG_GUARD_C(kg_buf_printf(&c->response, ",\"root_epoch\":%u", (unsigned)cur_epoch));
    for (size_t i = 0; i < n_prev; i++) {
        KG_GUARD_C(kg_buf_printf(&c->response, "%s{\"root_epoch\":%u",
                                 i ? "," : ",\"previous_keys\":[", (unsigned)prev_no[i]));
        KG_GUARD_C(put_app_keys(&c->response, &prev[i]));
        KG_GUARD_C(kg_buf_append_str(&c->response, "}"));
    }
    if (n_prev > 0)
        KG_GUARD_C(kg_buf_append_str(&c->response, "]"));
    KG_GUARD_C(kg_buf_append_str(&c->response, "}"));
    rc = KG_OK;
cleanup:
    if (locked)
        pthread_rwlock_unlock(&k->epochs_lock);
    free(ca_pem);
    if (keys != NULL)
        for (size_t i = 0; i < 1 + KMS_MAX_EPOCHS; i++)
            kg_kdf_app_keys_wipe(&keys[i]);
    free(keys);
    if (req != NULL)
        kg_memzero(req, sizeof(*req));
    free(req);
    free(d);
    return rc;
}

/* ---- GetAppEnvEncryptPubKey ------------------------------------------------------------------ */

static kg_result get_env_pubkey(kms *k, kms_call *c)
{
    kg_kms_app_id_req req;
    KG_GUARD(kg_kms_parse_app_id(&req, c->body, c->body_len));
    uint8_t secret[KG_X25519_LEN], pub[KG_X25519_LEN], sig[KG_K256_RECSIG_LEN],
        sig1[KG_K256_RECSIG_LEN];
    const void *ctx[2] = {req.app_id, "env-encrypt-key"};
    size_t lens[2] = {KG_APP_ID_LEN, strlen("env-encrypt-key")};
    kg_result rc = KG_ERROR;
    uint64_t ts = (uint64_t)time(NULL);
    /* the chain's current epoch at its head, so an env encrypted right after an activation goes
     * to the new epoch's key (keygate env encrypt checks the signature against kmsInfo). Best
     * effort: this answer decides nothing and its client checks it, so without a chain answer
     * it is the epoch as last read (a stale key is refused by that check, not used). */
    if (kg_failed(kms_epochs_at_head(k)))
        kg_error_clear();
    pthread_rwlock_rdlock(&k->epochs_lock);
    bool locked = true;
    const kms_epoch *cur = kms_epoch_current(k);
    KG_ENSURE_C(cur != NULL, KG_ERR_UNAVAILABLE, "no current root epoch");
    uint32_t epoch = cur->epoch;
    KG_GUARD_C(kg_kdf_dh_secret(secret, cur->root.ca_scalar, ctx, lens, 2));
    KG_GUARD_C(kg_x25519_public(pub, secret));
    KG_GUARD_C(kg_kdf_env_pubkey_signature(sig, cur->root.k256_scalar, req.app_id, pub));
    KG_GUARD_C(kg_kdf_env_pubkey_signature_v1(sig1, cur->root.k256_scalar, req.app_id, ts, pub));
    pthread_rwlock_unlock(&k->epochs_lock);
    locked = false;
    KG_GUARD_C(kg_buf_printf(&c->response, "{\"timestamp\":%llu", (unsigned long long)ts));
    KG_GUARD_C(put_hex(&c->response, "public_key", pub, sizeof(pub)));
    KG_GUARD_C(put_hex(&c->response, "signature", sig, sizeof(sig)));
    KG_GUARD_C(put_hex(&c->response, "signature_v1", sig1, sizeof(sig1)));
    KG_GUARD_C(kg_buf_printf(&c->response, ",\"root_epoch\":%u}", (unsigned)epoch));
    rc = KG_OK;
cleanup:
    if (locked)
        pthread_rwlock_unlock(&k->epochs_lock);
    kg_memzero(secret, sizeof(secret));
    return rc;
}

/* ---- GetMeta, GetTempCaCert ------------------------------------------------------------------ */

static kg_result send_json_obj(kms_call *c, json_t *o)
{
    KG_ENSURE(o != NULL, KG_ERR_NOMEM, "out of memory");
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    KG_ENSURE(t != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_buf_append_str(&c->response, t);
    free(t);
    return rc;
}

static kg_result get_meta(kms *k, kms_call *c)
{
    char k256[2 * KG_K256_PUB_LEN + 1];
    /* the current epoch's root (the bootstrap info stays epoch 0's: how the deployment began) */
    pthread_rwlock_rdlock(&k->epochs_lock);
    const kms_epoch *cur = kms_epoch_current(k);
    kg_result hr =
        kg_hex_encode(k256, sizeof(k256), cur ? cur->k256_pub : k->root_k256_pub, KG_K256_PUB_LEN);
    json_t *o = kg_ok(hr)
                    ? json_pack("{s:s,s:b,s:s,s:O,s:b,s:s,s:I}", "ca_cert",
                                cur ? cur->ca_pem : k->root_ca_pem, "allow_any_upgrade", 0,
                                "k256_pubkey", k256, "bootstrap_info", k->bootstrap_info, "is_dev",
                                k->cfg.is_dev, "gateway_app_id", k->cfg.gateway_app_id,
                                "root_epoch", (json_int_t)(cur ? cur->epoch : 0))
                    : NULL;
    pthread_rwlock_unlock(&k->epochs_lock);
    KG_GUARD(hr);
    /* beyond dstack: the document whose SHA-256 is this KMS's measured compose-hash, so anyone
     * can check what the attested identity stands for */
    kg_buf compose;
    kg_buf_init(&compose, 8192);
    kg_result crc = o != NULL ? kms_identity_compose(&compose, k) : KG_OK;
    if (o != NULL && kg_ok(crc))
        json_object_set_new(o, "kms_compose", json_string((const char *)compose.data));
    kg_buf_free(&compose);
    if (kg_failed(crc)) {
        json_decref(o);
        return crc;
    }
    if (o != NULL && k->cfg.policy == KG_KMS_POLICY_ETH) {
        char addr[2 + KG_HEX_SIZE(KG_ETH_ADDRESS_LEN)] = "0x";
        KG_GUARD(
            kg_hex_encode(addr + 2, sizeof(addr) - 2, k->cfg.kms_contract, KG_ETH_ADDRESS_LEN));
        json_object_set_new(o, "kms_contract_address", json_string(addr));
        json_object_set_new(o, "chain_id", json_integer((json_int_t)k->cfg.chain_id));
    } else if (o != NULL) {
        /* webhook: the deployment as the auth server describes it on its GET /, as dstack's KMS
         * fills these fields (null when it cannot be asked: GetMeta stays available) */
        kms_webhook_info info;
        if (kg_ok(kms_policy_webhook_info(&info, k))) {
            json_object_set_new(o, "kms_contract_address", json_string(info.kms_contract));
            if (info.has_chain_id)
                json_object_set_new(o, "chain_id", json_integer((json_int_t)info.chain_id));
            json_object_set_new(o, "app_auth_implementation", json_string(info.app_implementation));
            if (info.gateway_app_id[0])
                json_object_set_new(o, "gateway_app_id", json_string(info.gateway_app_id));
        } else {
            kg_slog(KG_SLOG_WARN, "GetMeta: %s", kg_error_message());
            kg_error_clear();
        }
    }
    return send_json_obj(c, o);
}

static kg_result get_temp_ca_cert(kms *k, kms_call *c)
{
    pthread_rwlock_rdlock(&k->epochs_lock);
    const kms_epoch *cur = kms_epoch_current(k);
    json_t *o = json_pack("{s:s,s:s,s:s}", "temp_ca_cert", k->temp_ca_pem, "temp_ca_key",
                          k->temp_ca_key_pem, "ca_cert", cur ? cur->ca_pem : k->root_ca_pem);
    pthread_rwlock_unlock(&k->epochs_lock);
    return send_json_obj(c, o);
}

/* ---- SignCert ------------------------------------------------------------------------------- */

/* The app CA (docs/protocol.md section 5: scalar HKDF(RCA, app_id || "app-ca")), certified by the
 * root. */
static kg_result app_ca(kg_p256_key **key, X509 **cert, const kms_epoch *k,
                        const uint8_t app_id[KG_APP_ID_LEN])
{
    uint8_t scalar[KG_P256_SCALAR_LEN];
    const void *ctx[2] = {app_id, "app-ca"};
    size_t lens[2] = {KG_APP_ID_LEN, 6};
    kg_result rc = KG_ERROR;
    char name[80] = "keygate app CA ";
    KG_GUARD_C(kg_kdf_p256_scalar(scalar, k->root.ca_scalar, ctx, lens, 2));
    KG_GUARD_C(kg_p256_from_scalar(key, scalar));
    KG_GUARD_C(
        kg_hex_encode(name + strlen(name), sizeof(name) - strlen(name), app_id, KG_APP_ID_LEN));
    kg_kms_cert_spec spec = {.common_name = name,
                             .is_ca = true,
                             .path_len = 0,
                             .days = 365 * 5,
                             .app_id = app_id,
                             .usage = "app:ca"};
    KG_GUARD_C(
        kg_kms_x509_issue(cert, kg_p256_evp(*key), &spec, kg_p256_evp(k->ca_key), k->ca_cert));
    rc = KG_OK;
cleanup:
    kg_memzero(scalar, sizeof(scalar));
    return rc;
}

/* Bounds of an issued leaf: not valid before an hour ago (clock skew, no backdating beyond),
 * at most a year by default and never beyond its app CA (app_ca: five years). */
#define LEAF_SKEW_S 3600u
#define LEAF_DEFAULT_S (365u * 86400u)
#define LEAF_MAX_S ((365u * 5u - 1u) * 86400u)
#define LEAF_MAX_NAME 64u /* X.520 upper bound of a CN or O */

/* What a SignCert v2 request may have, from its CSR's config (claims of the key holder):
 * subject and organization (at most 64 bytes each), SANs (each an IP address or a DNS name),
 * server/client auth as asked, validity clamped to [now - 1 h, now + 5 y - 1 d] (default a
 * year), the .8 attestation when ext_quote. The app id and usage "app:custom" are the KMS's.
 * KG_ERR_INPUT naming what cannot be issued. ext_app_info is not honoured (no .9 extension). */
static kg_result v2_spec(kg_kms_cert_spec *spec, const char **sans, const kg_csr_v2 *csr,
                         const uint8_t *scale, size_t scale_len, uint64_t now)
{
    KG_ENSURE(strlen(csr->subject) <= LEAF_MAX_NAME, KG_ERR_INPUT,
              "SignCert: subject is longer than %u bytes", LEAF_MAX_NAME);
    KG_ENSURE(!csr->has_org_name || strlen(csr->org_name) <= LEAF_MAX_NAME, KG_ERR_INPUT,
              "SignCert: org_name is longer than %u bytes", LEAF_MAX_NAME);
    for (size_t i = 0; i < csr->n_sans; i++) {
        bool ip;
        KG_ENSURE(kg_kms_x509_san_ok(csr->sans[i], &ip), KG_ERR_INPUT,
                  "SignCert: subject alternative name %zu is neither an IP address nor a DNS "
                  "name",
                  i);
        sans[i] = csr->sans[i];
    }
    uint64_t floor = now - LEAF_SKEW_S, cap = now + LEAF_MAX_S;
    uint64_t nb = csr->has_not_before ? csr->not_before : floor;
    uint64_t na = csr->has_not_after ? csr->not_after : now + LEAF_DEFAULT_S;
    if (nb < floor)
        nb = floor;
    if (na > cap)
        na = cap;
    KG_ENSURE(na > nb && na > now, KG_ERR_INPUT,
              "SignCert: the requested validity (not_after %llu) ends before it begins or "
              "before now",
              (unsigned long long)na);
    *spec = (kg_kms_cert_spec){.common_name = csr->subject[0] ? csr->subject : "app",
                               .org_name = csr->has_org_name ? csr->org_name : NULL,
                               .server_auth = csr->usage_server_auth,
                               .client_auth = csr->usage_client_auth,
                               .not_before = nb,
                               .not_after = na,
                               .alt_names = sans,
                               .n_alt_names = csr->n_sans,
                               .usage = KG_RATLS_USAGE_APP_CUSTOM};
    if (csr->ext_quote) {
        spec->attestation = scale + csr->attestation_offset;
        spec->attestation_len = scale_len - csr->attestation_offset;
    }
    return KG_OK;
}

/* SignCert v1: a DER PKCS#10 whose key must be the attested TLS client's. */
static kg_result v1_key(EVP_PKEY **out, kg_kms_cert_spec *spec, char *cn_buf, size_t cn_size,
                        const kg_kms_sign_cert_req *req, const kms_call *c)
{
    kg_result rc = KG_ERROR;
    const unsigned char *p = req->csr;
    X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)req->csr_len);
    *out = NULL;
    KG_ENSURE_OSSL_C(csr != NULL && p == req->csr + req->csr_len, KG_ERR_INPUT,
                     "SignCert: 'csr' is not one DER certificate request");
    *out = X509_REQ_get_pubkey(csr);
    KG_ENSURE_OSSL_C(*out != NULL, KG_ERR_INPUT, "SignCert: CSR has no usable public key");
    KG_ENSURE_OSSL_C(X509_REQ_verify(csr, *out) == 1, KG_ERR_VERIFY,
                     "SignCert: CSR self-signature does not verify");
    /* The TLS key must be the attested one's: it is the caller's, proven in this handshake. */
    KG_ENSURE_C(
        c->peer_cert != NULL &&
            EVP_PKEY_eq(*out, X509_get0_pubkey(kg_ratls_handshake_cert_x509(c->peer_cert))) == 1,
        KG_ERR_DENIED, "SignCert: the CSR key is not the key of the attested client certificate");
    const char *cn = "app";
    int len = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(csr), NID_commonName, cn_buf,
                                        (int)cn_size);
    if (len > 0)
        cn = cn_buf;
    *spec = (kg_kms_cert_spec){.common_name = cn,
                               .server_auth = true,
                               .client_auth = true,
                               .days = 365,
                               .usage = KG_RATLS_USAGE_APP_CUSTOM};
    rc = KG_OK;
cleanup:
    X509_REQ_free(csr);
    if (kg_failed(rc)) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return rc;
}

/* SignCert: v1 (api_version 0/1) certifies the attested TLS client's own key from a PKCS#10;
 * v2 (dstack's guests since v0.5.10) a fresh key whose SCALE CertSigningRequestV2 embeds the
 * attestation binding it, signed by that key (the TLS client certificate is not used). Either
 * way the decision core decides on the verified identity; the chain is [leaf, app CA, root]. */
static kg_result sign_cert(kms *k, kms_call *c)
{
    kg_kms_ops ops;
    kms_decision_ops(&ops, k);
    kg_kms_request rq = request_of(k, c, KG_KMS_CALLER_APP);
    kg_kms_sign_cert_req *req = calloc(1, sizeof(*req));
    kg_kms_decision *d = calloc(1, sizeof(*d));
    kg_csr_v2 *csr2 = calloc(1, sizeof(*csr2));
    kg_result rc = KG_ERROR;
    EVP_PKEY *csr_key = NULL;
    kg_p256_key *ca_key = NULL;
    X509 *ca_cert = NULL, *leaf = NULL;
    kg_buf pem;
    kg_buf_init(&pem, 64 * 1024);
    const char *sans[KG_CSR_V2_MAX_SANS];
    kg_kms_cert_spec spec;
    bool locked = false;
    char cn_buf[256];
    KG_ENSURE_C(req != NULL && d != NULL && csr2 != NULL, KG_ERR_NOMEM, "out of memory");
    if (kg_failed(kg_kms_parse_sign_cert(req, c->body, c->body_len))) {
        rc = kg_kms_reject_request(&ops, &rq, kg_error_message());
        goto cleanup;
    }
    bool v2 = req->api_version == 2;
    if (req->api_version > 2) {
        char why[64];
        snprintf(why, sizeof(why), "unsupported api_version %u", req->api_version);
        rc = kg_kms_reject_request(&ops, &rq, why);
        goto cleanup;
    }
    if (v2) {
        /* what is asked for must be issuable before anything is decided (a refusal of the
         * request is recorded as such) */
        if (kg_failed(kg_csr_v2_parse(csr2, req->csr, req->csr_len)) ||
            kg_failed(v2_spec(&spec, sans, csr2, req->csr, req->csr_len, (uint64_t)time(NULL)))) {
            char why[KG_KMS_MAX_REASON];
            snprintf(why, sizeof(why), "CSR v2: %s", kg_error_message());
            rc = kg_kms_reject_request(&ops, &rq, why);
            goto cleanup;
        }
        rq.csr = req->csr;
        rq.csr_len = req->csr_len;
        rq.csr_sig = req->signature;
        rq.csr_sig_len = req->signature_len;
    }
    KG_GUARD_C(kg_kms_decide(d, &ops, &rq));
    const uint8_t *app_id = d->peer.boot.app_id;

    if (v2) {
        const unsigned char *p = csr2->pubkey;
        csr_key = d2i_PUBKEY(NULL, &p, (long)csr2->pubkey_len);
        KG_ENSURE_OSSL_C(csr_key != NULL, KG_ERR_INPUT, "SignCert: CSR pubkey");
    } else {
        KG_GUARD_C(v1_key(&csr_key, &spec, cn_buf, sizeof(cn_buf), req, c));
    }
    spec.app_id = app_id; /* the verified one, never a claim */

    /* under the current epoch at the decision's block */
    kms_epoch_view view;
    const kms_epoch *cur = NULL;
    KG_GUARD_C(current_epoch_at(&cur, &view, &locked, k, &d->verdict, "SignCert"));
    KG_GUARD_C(app_ca(&ca_key, &ca_cert, cur, app_id));
    KG_GUARD_C(kg_kms_x509_issue(&leaf, csr_key, &spec, kg_p256_evp(ca_key), ca_cert));

    char fp_hex[KG_HEX_SIZE(KG_SHA256_LEN)], released[160];
    uint8_t fp[KG_SHA256_LEN];
    unsigned int fp_len = 0;
    KG_ENSURE_OSSL_C(X509_digest(leaf, EVP_sha256(), fp, &fp_len) == 1, KG_ERR_CRYPTO,
                     "SignCert: digest");
    KG_GUARD_C(kg_hex_encode(fp_hex, sizeof(fp_hex), fp, sizeof(fp)));
    /* the root epoch it chains to, named unless it is epoch 0 (as before epochs) */
    if (cur->epoch == 0)
        snprintf(released, sizeof(released), "{\"certificate_sha256\":\"%s\"}", fp_hex);
    else
        snprintf(released, sizeof(released), "{\"certificate_sha256\":\"%s\",\"root_epoch\":%u}",
                 fp_hex, (unsigned)cur->epoch);
    KG_GUARD_C(release(k, c, &rq, d, released, true));

    KG_GUARD_C(kg_buf_append_str(&c->response, "{\"certificate_chain\":["));
    X509 *chain[3] = {leaf, ca_cert, cur->ca_cert};
    for (size_t i = 0; i < 3; i++) {
        kg_buf_reset(&pem);
        pem.len = 0;
        KG_GUARD_C(kg_kms_x509_pem(&pem, chain[i]));
        json_t *s = json_string((const char *)pem.data);
        char *t = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        KG_ENSURE_C(t != NULL, KG_ERR_NOMEM, "out of memory");
        kg_result ar = kg_buf_printf(&c->response, "%s%s", i ? "," : "", t);
        free(t);
        KG_GUARD_C(ar);
    }
    KG_GUARD_C(kg_buf_append_str(&c->response, "]}"));
    rc = KG_OK;
cleanup:
    X509_free(leaf);
    X509_free(ca_cert);
    kg_p256_free(ca_key);
    EVP_PKEY_free(csr_key);
    if (locked)
        pthread_rwlock_unlock(&k->epochs_lock);
    kg_buf_free(&pem);
    kg_csr_v2_free(csr2);
    free(csr2);
    free(req);
    free(d);
    return rc;
}

/* ---- GetKmsKey (replication) ----------------------------------------------------------------- */

/* Hands the root keys to another KMS node: only over a verified RA-TLS client certificate with
 * usage "kms:rpc" whose boot info governance allows as a KMS (isKmsAllowed), and only while this
 * node is itself allowed. The decision is audited before the keys leave (docs/protocol.md section
 * 7, flow 6). Reply in dstack's KmsKeyResponse shape: {temp_ca_key, keys: [{ca_key, k256_key}]}. */
/* Appends "<key>":"<pem>" escaping only the newlines: a private key PEM is a secret and goes
 * into the (wiped) response by hand, never through jansson's heap. */
static kg_result put_secret_pem(kg_buf *out, const char *key, const kg_buf *pem)
{
    KG_GUARD(kg_buf_printf(out, "\"%s\":\"", key));
    for (size_t i = 0; i < pem->len; i++)
        KG_GUARD(pem->data[i] == '\n' ? kg_buf_append_str(out, "\\n")
                                      : kg_buf_append(out, &pem->data[i], 1));
    return kg_buf_append_str(out, "\"");
}

/* One epoch of GetKmsKey's "epochs": its keys, status, root CA certificate and attestation. */
static kg_result put_epoch(kg_buf *out, const kms_epoch *e, bool first)
{
    kg_result rc = KG_ERROR;
    kg_buf pem;
    kg_buf_init(&pem, 16384);
    char *hex = malloc(KG_HEX_SIZE(e->quote.len));
    KG_ENSURE_C(hex != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_p256_private_pem(&pem, e->ca_key));
    KG_GUARD_C(kg_buf_printf(out, "%s{\"root_epoch\":%u,\"status\":\"%s\",", first ? "" : ",",
                             (unsigned)e->epoch, kg_epoch_status_name(e->status)));
    KG_GUARD_C(put_secret_pem(out, "ca_key", &pem));
    KG_GUARD_C(put_hex(out, "k256_key", e->root.k256_scalar, KG_K256_SCALAR_LEN));
    KG_GUARD_C(put_json_string(out, "ca_cert", e->ca_pem, false));
    hex[0] = 0; /* epoch 0 has no quote of its own (its attestation is the bootstrap's) */
    if (e->quote.len > 0)
        KG_GUARD_C(kg_hex_encode(hex, KG_HEX_SIZE(e->quote.len), e->quote.data, e->quote.len));
    KG_GUARD_C(kg_buf_printf(out, ",\"quote\":\"%s\"", hex));
    json_t *ev =
        json_stringn(e->eventlog.len ? (const char *)e->eventlog.data : "", e->eventlog.len);
    char *t = ev ? json_dumps(ev, JSON_ENCODE_ANY) : NULL;
    json_decref(ev);
    KG_ENSURE_C(t != NULL, KG_ERR_INPUT, "epoch %u: the event log is not UTF-8", e->epoch);
    rc = kg_buf_printf(out, ",\"eventlog\":%s}", t);
    free(t);
cleanup:
    free(hex);
    kg_buf_free(&pem);
    return rc;
}

/* Hands the root keys to another KMS node: only over a verified RA-TLS client certificate with
 * usage "kms:rpc" whose boot info governance allows as a KMS (isKmsAllowed), and only while this
 * node is itself allowed. The decision is audited before the keys leave (docs/protocol.md section
 * 7, flow 6). Reply in dstack's KmsKeyResponse shape: {temp_ca_key, keys: [{ca_key, k256_key}]},
 * keys[0] the current root epoch; beyond dstack, "epochs" carries every live epoch this node
 * holds (the replica checks each against the chain before adopting it). */
static kg_result get_kms_key(kms *k, kms_call *c)
{
    kg_kms_ops ops;
    kms_decision_ops(&ops, k);
    kg_kms_request rq = request_of(k, c, KG_KMS_CALLER_KMS);
    kg_kms_decision *d = calloc(1, sizeof(*d));
    kg_buf pem;
    kg_buf_init(&pem, 16384);
    kg_result rc = KG_ERROR;
    kms_epoch_view view;
    bool locked = false;
    KG_ENSURE_C(d != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_kms_decide(d, &ops, &rq));
    const kms_epoch *cur = NULL;
    KG_GUARD_C(current_epoch_at(&cur, &view, &locked, k, &d->verdict, "GetKmsKey"));
    char k256_hex[2 * KG_K256_PUB_LEN + 1], released[1200];
    KG_GUARD_C(kg_hex_encode(k256_hex, sizeof(k256_hex), cur->k256_pub, KG_K256_PUB_LEN));
    size_t w = (size_t)snprintf(released, sizeof(released),
                                "{\"root_k256_pubkey\":\"%s\",\"root_ca_key\":true", k256_hex);
    /* a node that never rotated records what it did before epochs */
    for (size_t i = 0; k->n_epochs > 1 && i < k->n_epochs && w < sizeof(released); i++) {
        KG_GUARD_C(
            kg_hex_encode(k256_hex, sizeof(k256_hex), k->epochs[i].k256_pub, KG_K256_PUB_LEN));
        w += (size_t)snprintf(released + w, sizeof(released) - w,
                              "%s{\"root_epoch\":%u,\"root_k256_pubkey\":\"%s\"}",
                              i ? "," : ",\"epochs\":[", (unsigned)k->epochs[i].epoch, k256_hex);
    }
    if (k->n_epochs > 1 && w < sizeof(released))
        w += (size_t)snprintf(released + w, sizeof(released) - w, "]");
    if (w < sizeof(released))
        w += (size_t)snprintf(released + w, sizeof(released) - w, "}");
    KG_ENSURE_C(w < sizeof(released), KG_ERR_INTERNAL, "GetKmsKey: the release record is too long");
    KG_GUARD_C(release(k, c, &rq, d, released, false));
    KG_GUARD_C(kg_p256_private_pem(&pem, cur->ca_key));
    KG_GUARD_C(kg_buf_append_str(&c->response, "{"));
    KG_GUARD_C(put_json_string(&c->response, "temp_ca_key", k->temp_ca_key_pem, true));
    /* beyond dstack: the root CA certificate itself, so every node serves the same ca_cert */
    KG_GUARD_C(put_json_string(&c->response, "ca_cert", cur->ca_pem, false));
    KG_GUARD_C(kg_buf_append_str(&c->response, ",\"keys\":[{"));
    KG_GUARD_C(put_secret_pem(&c->response, "ca_key", &pem));
    KG_GUARD_C(put_hex(&c->response, "k256_key", cur->root.k256_scalar, KG_K256_SCALAR_LEN));
    KG_GUARD_C(kg_buf_append_str(&c->response, "}],\"epochs\":["));
    for (size_t i = 0; i < k->n_epochs; i++)
        KG_GUARD_C(put_epoch(&c->response, &k->epochs[i], i == 0));
    KG_GUARD_C(kg_buf_append_str(&c->response, "]}"));
    rc = KG_OK;
cleanup:
    if (locked)
        pthread_rwlock_unlock(&k->epochs_lock);
    kg_buf_free(&pem);
    free(d);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

typedef kg_result (*kms_method_fn)(kms *k, kms_call *c);

static const struct {
    const char *name;
    kms_method_fn fn;
    bool decides; /* asks the decision core: its success is an "allow" */
} k_methods[] = {
    {"GetAppKey", get_app_key, true}, {"GetAppEnvEncryptPubKey", get_env_pubkey, false},
    {"GetMeta", get_meta, false},     {"GetTempCaCert", get_temp_ca_cert, false},
    {"SignCert", sign_cert, true},    {"GetKmsKey", get_kms_key, true},
};

const char *kms_decision_name(int status)
{
    return status == 200   ? "ok"
           : status == 403 ? "deny" /* refused after looking: attestation or governance */
           : status == 503 ? "unavailable"
           : status < 500  ? "bad_request"
                           : "error";
}

bool kms_rpc_known(const char *method)
{
    for (size_t i = 0; i < sizeof(k_methods) / sizeof(k_methods[0]); i++)
        if (strcmp(method, k_methods[i].name) == 0)
            return true;
    return false;
}

void kms_rpc_answer_error(kms_call *c)
{
    snprintf(c->reason, sizeof(c->reason), "%s", kg_error_message());
    /* Whatever was half-built may hold keys: wipe it and answer only the error, with the
     * status the one table gives (403 refused, 503 could not decide, 400 bad request). */
    kg_buf_reset(&c->response);
    c->response.len = 0;
    c->wants_receipt = false;
    c->status = kg_err_http_status(kg_error_code());
    c->decision = kms_decision_name(c->status);
    json_t *o = json_pack("{s:s}", "error", kg_error_message());
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (t == NULL || kg_failed(kg_buf_append_str(&c->response, t))) {
        c->status = 500;
        c->decision = "error";
        c->response.len = 0;
        if (kg_failed(kg_buf_append_str(&c->response, "{\"error\":\"internal error\"}")))
            kg_error_clear(); /* the server answers 500 with an empty body */
    }
    free(t);
    json_decref(o);
}

void kms_rpc_handle(kms *k, kms_call *c)
{
    kms_method_fn fn = NULL;
    bool decides = false;
    for (size_t i = 0; i < sizeof(k_methods) / sizeof(k_methods[0]); i++) {
        if (strcmp(c->method, k_methods[i].name) == 0) {
            fn = k_methods[i].fn;
            decides = k_methods[i].decides;
        }
    }
    kg_error_clear();
    c->reason[0] = '\0';
    kg_result rc =
        fn ? fn(k, c)
           : kg_error_set(KG_ERR_NOT_FOUND, __FILE__, __LINE__, "unknown method '%s'", c->method);
    if (kg_ok(rc)) {
        c->status = 200;
        c->decision = decides ? "allow" : "ok";
        return;
    }
    kms_rpc_answer_error(c);
}
