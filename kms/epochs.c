/* epochs.c - the root-key epochs this node holds (docs/design.md, "Root-key epochs"): the table
 * loaded from the sealed file, each epoch's key objects and root CA certificate, and the admin
 * side of a rotation: generating, attesting and sealing a proposed epoch (POST /epoch/propose)
 * and listing the epochs (GET /epochs).
 *
 * Epoch 0 is the deployment's first root; epoch N > 0 is generated inside one node's TEE, its
 * public keys bound to that node's quote by REPORTDATA (epoch.h), proposed on chain by the owner
 * and activated after the notice. Derivation under any epoch is the derivation of epoch 0 with
 * that epoch's root keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/epoch.h"
#include "keygate/eth.h"
#include "keygate/hash.h"
#include "keygate/kms_x509.h"
#include "keygate/sealed.h"
#include "keygate/slog.h"
#include "kms.h"

static void epoch_clear(kms_epoch *e)
{
    kg_kdf_root_keys_wipe(&e->root);
    kg_p256_free(e->ca_key);
    X509_free(e->ca_cert);
    free(e->ca_pem);
    kg_buf_free(&e->ca_spki);
    kg_buf_free(&e->quote);
    kg_buf_free(&e->eventlog);
    memset(e, 0, sizeof(*e));
}

static void epoch_blank(kms_epoch *e, uint32_t n, uint8_t status)
{
    memset(e, 0, sizeof(*e));
    e->epoch = n;
    e->status = status;
    kg_buf_init(&e->ca_spki, 4096);
    kg_buf_init(&e->quote, KG_SEALED_MAX_QUOTE);
    kg_buf_init(&e->eventlog, KG_SEALED_MAX_EVENTLOG);
}

void kms_epochs_free(kms *k)
{
    for (size_t i = 0; i < k->n_epochs; i++)
        epoch_clear(&k->epochs[i]);
    k->n_epochs = 0;
}

kg_result kms_epochs_single(kms *k)
{
    kms_epochs_free(k);
    epoch_blank(&k->epochs[0], 0, KG_EPOCH_CURRENT);
    k->epochs[0].root = k->root;
    k->n_epochs = 1;
    k->serving_epoch = 0;
    return KG_OK;
}

/* An epoch's public keys and its CA key object, from its scalars. */
static kg_result epoch_publics(kms_epoch *e)
{
    KG_GUARD(kg_k256_public(e->k256_pub, e->root.k256_scalar));
    if (e->ca_key == NULL)
        KG_GUARD(kg_p256_from_scalar(&e->ca_key, e->root.ca_scalar));
    e->ca_spki.len = 0;
    return kg_p256_spki_der(&e->ca_spki, e->ca_key);
}

kg_result kms_epochs_from_file(kms *k, const kg_sealed_file *f, const uint8_t *data,
                               const kg_root_keys keys[])
{
    kms_epochs_free(k);
    for (size_t i = 0; i < f->n_epochs; i++) {
        const kg_sealed_epoch *fe = &f->epochs[i];
        kms_epoch *e = &k->epochs[i];
        epoch_blank(e, fe->epoch, fe->status);
        k->n_epochs = i + 1;
        e->root = keys[i];
        KG_GUARD(epoch_publics(e));
        if (fe->quote_len > 0)
            KG_GUARD(kg_buf_append(&e->quote, data + fe->quote_off, fe->quote_len));
        if (fe->eventlog_len > 0)
            KG_GUARD(kg_buf_append(&e->eventlog, data + fe->eventlog_off, fe->eventlog_len));
    }
    k->root = keys[f->current];
    k->serving_epoch = f->epochs[f->current].epoch;
    return KG_OK;
}

kg_result kms_epochs_unseal(kms *k)
{
    kg_result rc = KG_ERROR;
    kg_root_keys keys[KG_SEALED_MAX_EPOCHS];
    kg_sealed_file *f = calloc(1, sizeof(*f));
    kg_buf raw;
    kg_buf_init(&raw, 0);
    memset(keys, 0, sizeof(keys));
    KG_ENSURE_C(f != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kms_seal_open(f, &raw, keys, k));
    KG_GUARD_C(kms_epochs_from_file(k, f, raw.data, keys));
    rc = KG_OK;
cleanup:
    for (size_t i = 0; i < KG_SEALED_MAX_EPOCHS; i++)
        kg_kdf_root_keys_wipe(&keys[i]);
    kg_buf_free(&raw);
    free(f);
    return rc;
}

/* An epoch's public keys, key object and root CA certificate. */
static kg_result epoch_objects(kms *k, kms_epoch *e)
{
    kg_buf pem;
    KG_GUARD(epoch_publics(e));
    if (e->ca_cert == NULL)
        KG_GUARD_CTX(kms_state_root_ca_cert(&e->ca_cert, k, e->epoch, e->ca_key),
                     "epoch %u's root CA certificate", e->epoch);
    kg_buf_init(&pem, 64u * 1024u);
    kg_result rc = kg_kms_x509_pem(&pem, e->ca_cert);
    free(e->ca_pem);
    e->ca_pem = kg_ok(rc) ? strdup((const char *)pem.data) : NULL;
    kg_buf_free(&pem);
    KG_GUARD(rc);
    KG_ENSURE(e->ca_pem != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

kg_result kms_epochs_init(kms *k)
{
    for (size_t i = 0; i < k->n_epochs; i++)
        KG_GUARD(epoch_objects(k, &k->epochs[i]));
    return KG_OK;
}

const kms_epoch *kms_epoch_find(const kms *k, uint32_t n)
{
    for (size_t i = 0; i < k->n_epochs; i++)
        if (k->epochs[i].epoch == n)
            return &k->epochs[i];
    return NULL;
}

const kms_epoch *kms_epoch_current(const kms *k)
{
    for (size_t i = 0; i < k->n_epochs; i++)
        if (k->epochs[i].status == KG_EPOCH_CURRENT)
            return &k->epochs[i];
    return NULL;
}

/* ---- the admin side ------------------------------------------------------------------------ */

static json_t *hex_string(const uint8_t *b, size_t n)
{
    char *h = malloc(KG_HEX_SIZE(n));
    json_t *s = NULL;
    if (h != NULL && kg_ok(kg_hex_encode(h, KG_HEX_SIZE(n), b, n)))
        s = json_string(h);
    kg_error_clear();
    free(h);
    return s;
}

static json_t *hex0x(const uint8_t *b, size_t n)
{
    char h[2 + KG_HEX_SIZE(64)];
    if (n > 64 || kg_failed(kg_hex_encode(h + 2, sizeof(h) - 2, b, n))) {
        kg_error_clear();
        return NULL;
    }
    h[0] = '0';
    h[1] = 'x';
    return json_string(h);
}

/* The REPORTDATA of e's attestation on this deployment. */
static kg_result epoch_report_data(uint8_t rd[64], const kms *k, const kms_epoch *e)
{
    return kg_epoch_report_data(rd, k->cfg.chain_id, k->cfg.kms_contract, e->epoch, e->ca_spki.data,
                                e->ca_spki.len, e->k256_pub);
}

/* The answer of POST /epoch/propose for a pending epoch: its public keys, attestation and the
 * identity the attestation proves (verified here, as every node will verify it). */
static kg_result propose_answer(json_t **out, kms *k, const kms_epoch *e)
{
    uint8_t rd[64], att[KG_KECCAK256_LEN];
    kg_boot_identity id;
    KG_GUARD(epoch_report_data(rd, k, e));
    KG_GUARD_CTX(kms_attest_evidence(&id, k, e->quote.data, e->quote.len, e->eventlog.data,
                                     e->eventlog.len, rd),
                 "epoch %u: this node's own attestation does not verify", e->epoch);
    kg_keccak256(att, e->quote.data, e->quote.len);
    json_t *ev =
        json_stringn(e->eventlog.len ? (const char *)e->eventlog.data : "", e->eventlog.len);
    *out = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "epoch", (json_int_t)e->epoch,
                     "ca_pubkey", hex_string(e->ca_spki.data, e->ca_spki.len), "k256_pubkey",
                     hex_string(e->k256_pub, KG_K256_PUB_LEN), "quote",
                     hex_string(e->quote.data, e->quote.len), "eventlog", ev, "attestation_hash",
                     hex0x(att, sizeof(att)), "mr_aggregated",
                     hex0x(id.mr_aggregated, KG_MEASUREMENT_LEN), "device_id",
                     hex0x(id.device_id, KG_DEVICE_ID_LEN), "os_image_hash",
                     hex0x(id.os_image_hash, KG_MEASUREMENT_LEN));
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "epoch %u: building the answer", e->epoch);
    return KG_OK;
}

/* {"epoch": N} and nothing else, N in 1..2^32-1. */
static kg_result parse_propose(uint32_t *n, const uint8_t *body, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "POST /epoch/propose: body is not JSON: %s", jerr.text);
    json_t *v = json_object_get(o, "epoch");
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
    size_t keys = json_is_object(o) ? json_object_size(o) : 0;
    json_decref(o);
    KG_ENSURE(keys == 1 && x >= 1 && x <= (json_int_t)UINT32_MAX, KG_ERR_INPUT,
              "POST /epoch/propose: want {\"epoch\": N} with N from 1 to 4294967295");
    *n = (uint32_t)x;
    return KG_OK;
}

/* A new epoch n at the end of the table: generated here, certified, attested, then sealed
 * with every other epoch. Nothing of it remains if any step fails. Caller holds the write
 * lock. */
static kg_result propose_new(kms *k, uint32_t n)
{
    kg_result rc = KG_ERROR;
    kg_sealed_holders holders;
    uint8_t rd[64];
    KG_ENSURE(k->n_epochs < KMS_MAX_EPOCHS, KG_ERR_DENIED,
              "epoch %u: this node already holds %u epochs; retire one first", n, KMS_MAX_EPOCHS);
    kms_epoch *e = &k->epochs[k->n_epochs];
    epoch_blank(e, n, KG_EPOCH_PROPOSED);
    KG_GUARD_CTX_C(kg_p256_generate(&e->ca_key), "epoch %u: generating the root CA key", n);
    KG_GUARD_C(kg_p256_scalar(e->root.ca_scalar, e->ca_key));
    KG_GUARD_CTX_C(kg_k256_generate(e->root.k256_scalar), "epoch %u: generating the root k256 key",
                   n);
    KG_GUARD_C(epoch_objects(k, e));
    KG_GUARD_C(epoch_report_data(rd, k, e));
    KG_GUARD_CTX_C(kms_attest_quote(&e->quote, &e->eventlog, k, rd), "epoch %u: attestation", n);
    KG_ENSURE_C(e->eventlog.len <= KG_SEALED_MAX_EVENTLOG, KG_ERR_TOO_LARGE,
                "epoch %u: the event log (%zu bytes) exceeds what the sealed file keeps (%u)", n,
                e->eventlog.len, KG_SEALED_MAX_EVENTLOG);
    KG_GUARD_C(kms_recovery_holders(&holders, k));
    k->n_epochs++;
    rc = kms_seal_store(k, &holders);
    if (kg_failed(rc))
        k->n_epochs--;
    KG_GUARD_CTX_C(rc, "epoch %u: sealing it", n);
    kg_slog(KG_SLOG_INFO, "root epoch %u generated and sealed as proposed", n);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        epoch_clear(e);
    return rc;
}

kg_result kms_epoch_propose(json_t **out, kms *k, const uint8_t *body, size_t body_len)
{
    uint32_t n;
    *out = NULL;
    KG_GUARD(parse_propose(&n, body, body_len));
    KG_ENSURE(k->cfg.policy == KG_KMS_POLICY_ETH, KG_ERR_USAGE,
              "root epochs are published on chain: they need policy.backend 'eth'");
    /* the chain's current epoch, when the KMS contract has epochs: N must be the next one */
    kg_eth_block blk;
    uint32_t chain_cur = 0;
    bool supported = false;
    KG_GUARD_CTX(kms_chain_block(&blk, k), "POST /epoch/propose");
    KG_GUARD_CTX(kms_chain_current_root_epoch(&chain_cur, &supported, k, &blk),
                 "POST /epoch/propose");
    KG_ENSURE(!supported || n == chain_cur + 1, KG_ERR_INPUT,
              "epoch %u is not the next epoch: the current epoch on chain is %u, so propose %u", n,
              (unsigned)chain_cur, (unsigned)chain_cur + 1);
    kg_result rc = KG_ERROR;
    pthread_rwlock_wrlock(&k->epochs_lock);
    const kms_epoch *cur = kms_epoch_current(k), *pending = NULL;
    for (size_t i = 0; i < k->n_epochs; i++)
        if (k->epochs[i].status == KG_EPOCH_PROPOSED)
            pending = &k->epochs[i];
    if (pending != NULL && pending->epoch == n) {
        rc = propose_answer(out, k, pending); /* the same proposal again (a retry, or re-proposed
                                                 after a veto) */
        goto done;
    }
    if (pending != NULL) {
        rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                          "epoch %u is already proposed by this node; one epoch is pending at a "
                          "time",
                          pending->epoch);
        goto done;
    }
    if (cur == NULL || n != cur->epoch + 1) {
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                          "epoch %u is not the next epoch: the current epoch is %u, so propose %u",
                          n, cur ? cur->epoch : 0, cur ? cur->epoch + 1 : 1);
        goto done;
    }
    rc = propose_new(k, n);
    if (kg_ok(rc))
        rc = propose_answer(out, k, &k->epochs[k->n_epochs - 1]);
done:
    pthread_rwlock_unlock(&k->epochs_lock);
    return rc;
}

kg_result kms_epochs_list(json_t **out, kms *k)
{
    json_t *list = json_array();
    pthread_rwlock_rdlock(&k->epochs_lock);
    const kms_epoch *cur = kms_epoch_current(k);
    for (size_t i = 0; list != NULL && i < k->n_epochs; i++) {
        const kms_epoch *e = &k->epochs[i];
        json_t *o = json_pack("{s:I,s:s,s:o}", "epoch", (json_int_t)e->epoch, "status",
                              kg_epoch_status_name(e->status), "k256_pubkey",
                              hex_string(e->k256_pub, KG_K256_PUB_LEN));
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_int_t current = cur ? (json_int_t)cur->epoch : 0;
    pthread_rwlock_unlock(&k->epochs_lock);
    *out = list ? json_pack("{s:I,s:o}", "current", current, "epochs", list) : NULL;
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "GET /epochs: out of memory");
    return KG_OK;
}

/* ---- the chain's view at a decision's block -------------------------------------------------- */

static pthread_mutex_t g_view_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_view_known;
static uint8_t g_view_block[KG_ETH_HASH_LEN];
static kms_epoch_view g_view;

/* The view this node's own table gives (no chain to ask). Caller holds the lock. */
static void local_view(kms_epoch_view *out, const kms *k)
{
    memset(out, 0, sizeof(*out));
    const kms_epoch *cur = kms_epoch_current(k);
    out->current = cur ? cur->epoch : 0;
    for (size_t i = 0; i < k->n_epochs; i++)
        if (k->epochs[i].status == KG_EPOCH_RETIRING)
            out->previous[out->n_previous++] = k->epochs[i].epoch;
}

/* What this node holds of an epoch, copied out of the table (public values). */
typedef struct held_epoch {
    uint32_t epoch;
    uint8_t status;
    uint8_t k256_pub[KG_K256_PUB_LEN];
    uint8_t ca_spki[KG_ETH_MAX_ROOT_CA_SPKI_LEN];
    size_t ca_spki_len;
    uint8_t chain_status; /* on chain, when the chain names this epoch with these keys */
    bool on_chain;
} held_epoch;

static bool same_keys(const held_epoch *h, const kg_eth_root_epoch_info *c)
{
    return c->status != KG_EPOCH_NONE && memcmp(h->k256_pub, c->k256_pub, KG_K256_PUB_LEN) == 0 &&
           h->ca_spki_len == c->ca_spki_len && memcmp(h->ca_spki, c->ca_spki, h->ca_spki_len) == 0;
}

/* Records the wiping of a retired epoch in the decision log. */
static void record_retired(kms *k, uint32_t epoch, const uint8_t k256_pub[KG_K256_PUB_LEN],
                           const kg_kms_verdict *v)
{
    char reason[160], released[160], k256_hex[KG_HEX_SIZE(KG_K256_PUB_LEN)];
    snprintf(reason, sizeof(reason),
             "root epoch %u is retired on chain: its root keys are wiped from this node",
             (unsigned)epoch);
    if (kg_failed(kg_hex_encode(k256_hex, sizeof(k256_hex), k256_pub, KG_K256_PUB_LEN)))
        k256_hex[0] = 0;
    snprintf(released, sizeof(released),
             "{\"root_epoch\":%u,\"root_k256_pubkey\":\"%s\",\"wiped\":true}", (unsigned)epoch,
             k256_hex);
    kg_audit_record r = {.method = "root-epoch-retired",
                         .allowed = false,
                         .reason = reason,
                         .block_number = v->block_number,
                         .block_hash = v->block_hash[0] ? v->block_hash : NULL,
                         .released = released};
    kg_slog(KG_SLOG_INFO, "%s (block %lld)", reason, (long long)v->block_number);
    if (k->audit != NULL && kg_failed(kg_audit_append(k->audit, &r, NULL))) {
        atomic_fetch_add(&k->metrics.audit_failures, 1);
        kg_slog(KG_SLOG_ERROR, "root epoch %u: its retirement is not in the log: %s",
                (unsigned)epoch, kg_error_message());
    }
    kg_error_clear();
}

/* Brings the table to the chain's statuses: each held epoch the chain names with the same keys
 * takes the chain's status; a retired one leaves the table and the sealed file (resealed first:
 * if that fails nothing changes), then its keys are wiped. */
static kg_result apply_chain(kms *k, const held_epoch *held, size_t n_held, const kg_kms_verdict *v)
{
    bool change = false;
    for (size_t i = 0; i < n_held; i++)
        change |= held[i].on_chain && held[i].chain_status != held[i].status;
    if (!change)
        return KG_OK;
    kg_sealed_holders holders;
    KG_GUARD(kms_recovery_holders(&holders, k));
    kg_result rc = KG_OK;
    kms_epoch saved[KMS_MAX_EPOCHS], gone[KMS_MAX_EPOCHS];
    size_t n_saved = 0, n_gone = 0;
    pthread_rwlock_wrlock(&k->epochs_lock);
    memcpy(saved, k->epochs, sizeof(saved));
    n_saved = k->n_epochs;
    size_t w = 0;
    for (size_t i = 0; i < k->n_epochs; i++) {
        kms_epoch e = k->epochs[i];
        for (size_t j = 0; j < n_held; j++)
            if (held[j].epoch == e.epoch && held[j].on_chain)
                e.status = held[j].chain_status;
        if (e.status == KG_EPOCH_RETIRED)
            gone[n_gone++] = e;
        else
            k->epochs[w++] = e;
    }
    k->n_epochs = w;
    if (kms_epoch_current(k) == NULL) {
        rc = kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                          "the chain's statuses leave this node no current root epoch");
    } else {
        rc = kms_seal_store(k, &holders);
    }
    if (kg_failed(rc)) {
        memcpy(k->epochs, saved, sizeof(saved)); /* as before: nothing wiped, nothing changed */
        k->n_epochs = n_saved;
    } else {
        for (size_t i = 0; i < n_gone; i++) {
            /* the serving root (log anchors, kms_key_check) moves to the current epoch */
            if (gone[i].epoch == k->serving_epoch) {
                const kms_epoch *cur = kms_epoch_current(k);
                k->root = cur->root;
                k->serving_epoch = cur->epoch;
            }
        }
    }
    pthread_rwlock_unlock(&k->epochs_lock);
    KG_GUARD_CTX(rc, "bringing the root epochs to the chain's statuses at block %lld",
                 (long long)v->block_number);
    for (size_t i = 0; i < n_gone; i++) {
        uint8_t pub[KG_K256_PUB_LEN];
        uint32_t n = gone[i].epoch;
        memcpy(pub, gone[i].k256_pub, sizeof(pub));
        epoch_clear(&gone[i]);
        record_retired(k, n, pub, v);
    }
    return KG_OK;
}

kg_result kms_epochs_at(kms_epoch_view *out, kms *k, const kg_kms_verdict *v)
{
    memset(out, 0, sizeof(*out));
    kg_eth_block blk;
    memset(&blk, 0, sizeof(blk));
    if (k->cfg.policy != KG_KMS_POLICY_ETH || v->block_number < 0) {
        pthread_rwlock_rdlock(&k->epochs_lock);
        local_view(out, k);
        pthread_rwlock_unlock(&k->epochs_lock);
        return KG_OK;
    }
    KG_GUARD(kms_chain_block_at(&blk, v));
    pthread_mutex_lock(&g_view_lock);
    bool known = g_view_known && memcmp(g_view_block, blk.hash, KG_ETH_HASH_LEN) == 0;
    if (known)
        *out = g_view;
    pthread_mutex_unlock(&g_view_lock);
    if (known)
        return KG_OK;

    kg_result rc = KG_ERROR;
    kg_eth_root_epoch_info *info = calloc(1, sizeof(*info));
    held_epoch *held = calloc(KMS_MAX_EPOCHS, sizeof(*held));
    size_t n_held = 0;
    uint32_t cur = 0;
    bool supported = true;
    KG_ENSURE_C(info != NULL && held != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_CTX_C(kms_chain_current_root_epoch(&cur, &supported, k, &blk),
                   "root epochs at block %lld", (long long)v->block_number);
    pthread_rwlock_rdlock(&k->epochs_lock);
    if (!supported)
        local_view(out, k);
    for (size_t i = 0; i < k->n_epochs && supported; i++) {
        const kms_epoch *e = &k->epochs[i];
        held_epoch *h = &held[n_held++];
        h->epoch = e->epoch;
        h->status = e->status;
        memcpy(h->k256_pub, e->k256_pub, KG_K256_PUB_LEN);
        h->ca_spki_len = e->ca_spki.len <= sizeof(h->ca_spki) ? e->ca_spki.len : 0;
        memcpy(h->ca_spki, e->ca_spki.data, h->ca_spki_len);
    }
    pthread_rwlock_unlock(&k->epochs_lock);
    if (supported) {
        bool cur_held = false;
        for (size_t i = 0; i < n_held; i++) {
            KG_GUARD_C(kms_chain_root_epoch(info, k, held[i].epoch, &blk));
            held[i].on_chain = same_keys(&held[i], info);
            held[i].chain_status = info->status;
            if (!held[i].on_chain)
                continue;
            if (held[i].epoch == cur && info->status == KG_EPOCH_CURRENT)
                cur_held = true;
            else if (info->status == KG_EPOCH_RETIRING)
                out->previous[out->n_previous++] = held[i].epoch;
        }
        KG_ENSURE_C(cur_held, KG_ERR_UNAVAILABLE,
                    "root epoch %u is current on chain at block %lld and this node does not "
                    "hold it; start it with --onboard HOST:PORT of a node that does",
                    (unsigned)cur, (long long)v->block_number);
        out->current = cur;
        /* an epoch still retiring on chain that this node lacks: its apps could not migrate */
        for (uint32_t m = cur > KMS_MAX_EPOCHS ? cur - KMS_MAX_EPOCHS : 0; m < cur; m++) {
            bool have = false;
            for (size_t i = 0; i < n_held; i++)
                have |= held[i].epoch == m && held[i].on_chain;
            if (have)
                continue;
            KG_GUARD_C(kms_chain_root_epoch(info, k, m, &blk));
            KG_ENSURE_C(info->status != KG_EPOCH_RETIRING, KG_ERR_UNAVAILABLE,
                        "root epoch %u is retiring on chain at block %lld and this node does not "
                        "hold it; start it with --onboard HOST:PORT of a node that does",
                        (unsigned)m, (long long)v->block_number);
        }
        KG_GUARD_C(apply_chain(k, held, n_held, v));
    }
    pthread_mutex_lock(&g_view_lock);
    memcpy(g_view_block, blk.hash, KG_ETH_HASH_LEN);
    g_view = *out;
    g_view_known = true;
    pthread_mutex_unlock(&g_view_lock);
    rc = KG_OK;
cleanup:
    free(info);
    free(held);
    return rc;
}

/* ---- a replica adopting a peer's epochs (GetKmsKey "epochs") -------------------------------- */

/* The secret parts of one entry into e->root (checked keys), and its public values. */
static kg_result entry_keys(kms_epoch *e, const json_t *o)
{
    const char *pem = json_string_value(json_object_get(o, "ca_key"));
    const char *khex = json_string_value(json_object_get(o, "k256_key"));
    KG_ENSURE(pem != NULL && khex != NULL, KG_ERR_INPUT, "no ca_key / k256_key");
    KG_GUARD_CTX(kg_p256_from_pem(&e->ca_key, pem, strlen(pem)), "ca_key");
    KG_GUARD(kg_p256_scalar(e->root.ca_scalar, e->ca_key));
    KG_GUARD_CTX(kg_hex_decode_exact(e->root.k256_scalar, KG_K256_SCALAR_LEN, khex), "k256_key");
    KG_GUARD_CTX(kg_kdf_root_keys_check(&e->root), "keys");
    KG_GUARD(kg_k256_public(e->k256_pub, e->root.k256_scalar));
    return kg_p256_spki_der(&e->ca_spki, e->ca_key);
}

/* Its attestation: hex quote and event log text, within the sealed file's caps. */
static kg_result entry_attestation(kms_epoch *e, const json_t *o)
{
    const char *q = json_string_value(json_object_get(o, "quote"));
    const json_t *ev = json_object_get(o, "eventlog");
    KG_ENSURE(q != NULL && json_is_string(ev), KG_ERR_INPUT, "no quote / eventlog");
    size_t qlen = strlen(q) / 2, evlen = json_string_length(ev);
    KG_ENSURE(strlen(q) % 2 == 0 && qlen <= KG_SEALED_MAX_QUOTE && evlen <= KG_SEALED_MAX_EVENTLOG,
              KG_ERR_INPUT, "the attestation is malformed or too large");
    if (qlen > 0) {
        KG_GUARD(kg_buf_reserve(&e->quote, qlen));
        KG_GUARD_CTX(kg_hex_decode_exact(e->quote.data, qlen, q), "quote");
        e->quote.len = qlen;
    }
    return evlen > 0 ? kg_buf_append(&e->eventlog, json_string_value(ev), evlen) : KG_OK;
}

/* What adopting epoch e (on chain as `c`) needs beyond equal keys: for a generated epoch, the
 * proposer's quote is the one whose hash the chain holds, it verifies with the epoch's
 * REPORTDATA, and it attests a KMS of this deployment, decided as the source was (the decision
 * core as a KMS caller: the KMS contract measured, isKmsAllowed). */
static kg_result check_attestation(kms *k, const kms_epoch *e, const kg_eth_root_epoch_info *c,
                                   const kg_kms_ops *ops, const kg_kms_request *req)
{
    uint8_t h[KG_KECCAK256_LEN], rd[64];
    kg_boot_identity id;
    kg_keccak256(h, e->quote.data, e->quote.len);
    KG_ENSURE(e->quote.len > 0 && memcmp(h, c->attestation_hash, sizeof(h)) == 0, KG_ERR_DENIED,
              "keccak256 of its quote is not the attestationHash on chain");
    KG_GUARD(epoch_report_data(rd, k, e));
    KG_GUARD_CTX(kms_attest_evidence(&id, k, e->quote.data, e->quote.len, e->eventlog.data,
                                     e->eventlog.len, rd),
                 "its attestation does not verify");
    char role[48];
    snprintf(role, sizeof(role), "root epoch %u's proposer", (unsigned)e->epoch);
    kg_kms_request rq = *req;
    rq.kms_role = role;
    rq.cert_der = NULL;
    rq.cert_len = 0;
    rq.tls_cert = NULL;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    KG_ENSURE(d != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_kms_decide_identity(d, ops, &rq, &id);
    free(d);
    return rc;
}

/* One entry: parsed, checked against the chain at blk, added to the table (or skipped: a
 * proposal not on chain yet, an epoch retired on chain). */
static kg_result adopt_one(kms *k, const json_t *o, const kg_eth_block *blk, bool supported,
                           const char *source, const kg_kms_ops *ops, const kg_kms_request *req)
{
    json_t *n = json_object_get(o, "root_epoch");
    const char *status = json_string_value(json_object_get(o, "status"));
    KG_ENSURE(json_is_integer(n) && json_integer_value(n) >= 0 &&
                  json_integer_value(n) <= (json_int_t)UINT32_MAX && status != NULL,
              KG_ERR_INPUT, "an entry without root_epoch / status");
    uint32_t no = (uint32_t)json_integer_value(n);
    KG_ENSURE(k->n_epochs < KMS_MAX_EPOCHS, KG_ERR_INPUT, "more than %u epochs", KMS_MAX_EPOCHS);
    KG_ENSURE(k->n_epochs == 0 || no > k->epochs[k->n_epochs - 1].epoch, KG_ERR_INPUT,
              "epochs out of order (%u)", no);
    kms_epoch *e = &k->epochs[k->n_epochs];
    epoch_blank(e, no, KG_EPOCH_NONE);
    kg_result rc = KG_ERROR;
    kg_eth_root_epoch_info *c = calloc(1, sizeof(*c));
    held_epoch *h = calloc(1, sizeof(*h));
    KG_ENSURE_C(c != NULL && h != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_CTX_C(entry_keys(e, o), "epoch %u", no);
    KG_GUARD_CTX_C(entry_attestation(e, o), "epoch %u", no);
    if (!supported && no != 0 && strcmp(status, "proposed") == 0) {
        kg_slog(KG_SLOG_INFO,
                "onboarding: root epoch %u from %s not adopted: a proposal, and the KMS contract "
                "has no root epochs",
                no, source);
        epoch_clear(e);
        rc = KG_OK;
        goto cleanup;
    } else if (!supported) {
        /* no epochs on chain: epoch 0 only, whose keys the caller checked against kmsInfo */
        KG_ENSURE_C(no == 0, KG_ERR_DENIED,
                    "%s sent root epoch %u, but the KMS contract has no root epochs; refusing to "
                    "onboard",
                    source, no);
        e->status = KG_EPOCH_CURRENT;
    } else {
        KG_GUARD_C(kms_chain_root_epoch(c, k, no, blk));
        memcpy(h->k256_pub, e->k256_pub, KG_K256_PUB_LEN);
        h->ca_spki_len = e->ca_spki.len <= sizeof(h->ca_spki) ? e->ca_spki.len : 0;
        memcpy(h->ca_spki, e->ca_spki.data, h->ca_spki_len);
        if (c->status == KG_EPOCH_RETIRED ||
            (c->status == KG_EPOCH_NONE && strcmp(status, "proposed") == 0)) {
            kg_slog(KG_SLOG_INFO, "onboarding: root epoch %u from %s not adopted: %s", no, source,
                    c->status == KG_EPOCH_RETIRED ? "retired on chain"
                                                  : "a proposal not on chain (yet)");
            epoch_clear(e);
            rc = KG_OK;
            goto cleanup;
        }
        KG_ENSURE_C(same_keys(h, c), KG_ERR_DENIED,
                    "root epoch %u from %s is not the epoch on chain (%s); refusing to onboard", no,
                    source, c->status == KG_EPOCH_NONE ? "none there" : "other keys");
        if (no > 0)
            KG_GUARD_CTX_C(check_attestation(k, e, c, ops, req),
                           "root epoch %u from %s; refusing to onboard", no, source);
        e->status = c->status;
    }
    const char *cert = json_string_value(json_object_get(o, "ca_cert"));
    if (cert != NULL) { /* the very root CA certificate the source serves */
        KG_GUARD_CTX_C(kg_kms_x509_from_pem(&e->ca_cert, cert, strlen(cert)), "epoch %u: ca_cert",
                       no);
        KG_ENSURE_C(X509_check_private_key(e->ca_cert, kg_p256_evp(e->ca_key)) == 1, KG_ERR_VERIFY,
                    "epoch %u: ca_cert does not certify its ca_key", no);
        KG_GUARD_C(kms_state_save_root_ca_cert(k, no, e->ca_cert));
    }
    k->n_epochs++;
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        epoch_clear(e);
    free(c);
    free(h);
    return rc;
}

kg_result kms_epochs_adopt(kms *k, const json_t *list, const char *source, const kg_kms_ops *ops,
                           const kg_kms_request *req, const kg_kms_verdict *at)
{
    kg_eth_block blk;
    uint32_t cur = 0;
    bool supported = true;
    KG_ENSURE(json_is_array(list) && json_array_size(list) >= 1 &&
                  json_array_size(list) <= KMS_MAX_EPOCHS,
              KG_ERR_INPUT, "GetKmsKey from %s: 'epochs' is not a list of 1 to %u epochs", source,
              KMS_MAX_EPOCHS);
    KG_GUARD_CTX(kms_chain_block_at(&blk, at), "onboarding: root epochs");
    KG_GUARD_CTX(kms_chain_current_root_epoch(&cur, &supported, k, &blk), "onboarding");
    kms_epochs_free(k);
    kg_result rc = KG_OK;
    for (size_t i = 0; kg_ok(rc) && i < json_array_size(list); i++)
        rc = adopt_one(k, json_array_get(list, i), &blk, supported, source, ops, req);
    const kms_epoch *c = kms_epoch_current(k);
    if (kg_ok(rc) && (c == NULL || (supported && c->epoch != cur)))
        rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                          "GetKmsKey from %s: no root epoch %u, the current one on chain; refusing "
                          "to onboard",
                          source, (unsigned)cur);
    if (kg_failed(rc)) {
        kms_epochs_free(k);
        return kg_error_context("GetKmsKey from %s", source);
    }
    k->root = c->root;
    k->serving_epoch = c->epoch;
    kg_slog(KG_SLOG_INFO, "onboarding: %zu root epoch%s from %s adopted (current: %u)", k->n_epochs,
            k->n_epochs == 1 ? "" : "s", source, (unsigned)c->epoch);
    return KG_OK;
}

kg_result kms_epochs_at_head(kms *k)
{
    if (k->cfg.policy != KG_KMS_POLICY_ETH)
        return KG_OK;
    kg_eth_block blk;
    KG_GUARD(kms_chain_block(&blk, k));
    kg_kms_verdict v;
    memset(&v, 0, sizeof(v));
    v.block_number = (int64_t)blk.number;
    v.block_hash[0] = '0';
    v.block_hash[1] = 'x';
    KG_GUARD(kg_hex_encode(v.block_hash + 2, sizeof(v.block_hash) - 2, blk.hash, KG_ETH_HASH_LEN));
    kms_epoch_view view;
    return kms_epochs_at(&view, k, &v);
}

kg_result kms_epochs_lack_current(bool *lacks, uint32_t *cur, kms *k)
{
    kg_eth_block blk;
    bool supported = false;
    *lacks = false;
    KG_GUARD(kms_chain_block(&blk, k));
    KG_GUARD(kms_chain_current_root_epoch(cur, &supported, k, &blk));
    if (!supported)
        return KG_OK;
    const kms_epoch *e = kms_epoch_find(k, *cur);
    if (e == NULL) {
        *lacks = true;
        return KG_OK;
    }
    kg_result rc = KG_ERROR;
    kg_eth_root_epoch_info *c = calloc(1, sizeof(*c));
    held_epoch *h = calloc(1, sizeof(*h));
    KG_ENSURE_C(c != NULL && h != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kms_chain_root_epoch(c, k, *cur, &blk));
    memcpy(h->k256_pub, e->k256_pub, KG_K256_PUB_LEN);
    h->ca_spki_len = e->ca_spki.len <= sizeof(h->ca_spki) ? e->ca_spki.len : 0;
    memcpy(h->ca_spki, e->ca_spki.data, h->ca_spki_len);
    *lacks = !same_keys(h, c);
    rc = KG_OK;
cleanup:
    free(c);
    free(h);
    return rc;
}
