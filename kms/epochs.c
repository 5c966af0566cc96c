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
        if (fe->quote_len > 0)
            KG_GUARD(kg_buf_append(&e->quote, data + fe->quote_off, fe->quote_len));
        if (fe->eventlog_len > 0)
            KG_GUARD(kg_buf_append(&e->eventlog, data + fe->eventlog_off, fe->eventlog_len));
    }
    k->root = keys[f->current];
    k->serving_epoch = f->epochs[f->current].epoch;
    return KG_OK;
}

/* An epoch's public keys, key object and root CA certificate. */
static kg_result epoch_objects(kms *k, kms_epoch *e)
{
    kg_buf pem;
    KG_GUARD(kg_k256_public(e->k256_pub, e->root.k256_scalar));
    if (e->ca_key == NULL)
        KG_GUARD(kg_p256_from_scalar(&e->ca_key, e->root.ca_scalar));
    e->ca_spki.len = 0;
    KG_GUARD(kg_p256_spki_der(&e->ca_spki, e->ca_key));
    if (e->ca_cert == NULL)
        KG_GUARD_CTX(kms_keys_root_ca_cert(&e->ca_cert, k, e->epoch, e->ca_key),
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
    json_t *ev = json_stringn((const char *)e->eventlog.data, e->eventlog.len);
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
