/* epochs.c - the root-key epochs of a key release (docs/design.md, "Root-key epochs"): a
 * GetAppKey reply names the epoch of its keys and may carry the app's keys under retiring epochs;
 * each is believed only when the chain publishes that epoch, in the right state, with the root
 * key that signed it. */
#include "keygate/agent_boot.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keygate/kdf.h"

static kg_result chain_root_epoch(void *ctx, uint32_t epoch, kg_eth_root_epoch_info *out)
{
    const kg_kms_trust *t = ctx;
    return kg_eth_root_epoch(out, t->governance, t->kms_contract, epoch, NULL);
}

void kg_agent_epoch_source_chain(kg_agent_epoch_source *out, const kg_kms_trust *t)
{
    out->ctx = (void *)t;
    out->root_epoch = chain_root_epoch;
}

static void say(void (*note)(void *, const char *), void *ctx, const char *msg)
{
    if (note != NULL)
        note(ctx, msg);
}

/* Removes previous[i], wiping its keys; the rest keep their order. */
static void drop_previous(kg_agent_keys *keys, size_t i)
{
    for (size_t j = i; j + 1 < keys->n_previous; j++)
        keys->previous[j] = keys->previous[j + 1];
    keys->n_previous--;
    kg_memzero(&keys->previous[keys->n_previous], sizeof(keys->previous[0]));
}

/* The current epoch N > 0 must be the one whose key the agent trusts. */
static kg_result check_current(const kg_agent_keys *keys,
                               const uint8_t current_k256[KG_K256_PUB_LEN],
                               const kg_agent_epoch_source *src)
{
    kg_eth_root_epoch_info e;
    unsigned n = (unsigned)keys->root_epoch;
    KG_GUARD_CTX(src->root_epoch(src->ctx, keys->root_epoch, &e), "the reply's root epoch %u", n);
    KG_ENSURE(e.status == KG_EPOCH_CURRENT || e.status == KG_EPOCH_RETIRING, KG_ERR_VERIFY,
              "the reply names root epoch %u, which is %s on chain, not current", n,
              kg_epoch_status_name(e.status));
    KG_ENSURE(CRYPTO_memcmp(e.k256_pub, current_k256, KG_K256_PUB_LEN) == 0, KG_ERR_VERIFY,
              "the reply names root epoch %u, but its keys are signed by another root key than "
              "epoch %u's on chain",
              n, n);
    return KG_OK;
}

/* One previous epoch: retiring on chain (retired: *drop), and its signature by its own root. */
static kg_result check_previous(bool *drop, const kg_agent_epoch_keys *p, const uint8_t app_id[20],
                                const kg_agent_epoch_source *src)
{
    kg_eth_root_epoch_info e;
    unsigned m = (unsigned)p->root_epoch;
    uint8_t app_pub[KG_K256_PUB_LEN];
    *drop = false;
    KG_GUARD_CTX(src->root_epoch(src->ctx, p->root_epoch, &e), "previous root epoch %u", m);
    if (e.status == KG_EPOCH_RETIRED) {
        *drop = true;
        return KG_OK;
    }
    KG_ENSURE(e.status == KG_EPOCH_RETIRING, KG_ERR_VERIFY,
              "previous_keys of root epoch %u, which is %s on chain: only a retiring epoch's keys "
              "are released",
              m, kg_epoch_status_name(e.status));
    KG_GUARD(kg_k256_public(app_pub, p->k256_key));
    KG_GUARD_CTX(kg_kdf_k256_signature_verify(e.k256_pub, app_id, app_pub, p->k256_signature),
                 "previous_keys of root epoch %u: k256_signature is not epoch %u's root key's "
                 "signature over this app's key",
                 m, m);
    return KG_OK;
}

kg_result kg_agent_epochs_verify(kg_agent_keys *keys, const uint8_t app_id[20],
                                 const uint8_t current_k256[KG_K256_PUB_LEN],
                                 const kg_agent_epoch_source *src,
                                 void (*note)(void *ctx, const char *msg), void *note_ctx)
{
    char msg[256];
    /* Epoch 0 is kmsInfo()'s root, the key current_k256 already is: a KMS that never rotated
     * costs no chain read. */
    if (keys->root_epoch == 0 && keys->n_previous == 0)
        return KG_OK;
    if (src == NULL) {
        if (keys->n_previous > 0) {
            snprintf(msg, sizeof(msg),
                     "the KMS sent keys of %zu previous root epoch(s); without the chain "
                     "(--rpc-url, --kms-contract) they cannot be verified and are not kept",
                     keys->n_previous);
            while (keys->n_previous > 0)
                drop_previous(keys, 0);
            say(note, note_ctx, msg);
        }
        return KG_OK;
    }
    if (keys->root_epoch > 0)
        KG_GUARD(check_current(keys, current_k256, src));
    for (size_t i = 0; i < keys->n_previous;) {
        bool drop;
        uint32_t m = keys->previous[i].root_epoch;
        KG_GUARD(check_previous(&drop, &keys->previous[i], app_id, src));
        if (!drop) {
            i++;
            continue;
        }
        drop_previous(keys, i);
        snprintf(msg, sizeof(msg),
                 "root epoch %u was retired on chain after the KMS decided: its keys are not kept",
                 (unsigned)m);
        say(note, note_ctx, msg);
    }
    return KG_OK;
}

kg_result kg_agent_env_decrypt(kg_env_list *out, uint32_t *root_epoch, const kg_agent_keys *keys,
                               const uint8_t *ct, size_t ct_len)
{
    *root_epoch = keys->root_epoch;
    kg_result rc = kg_env_decrypt_vars(out, keys->env_key, ct, ct_len);
    /* Only a failed authentication (sealed to another key) moves on to the next key; a
     * malformed envelope fails at once, with the current key's message. */
    if (kg_ok(rc) || kg_error_code() != KG_ERR_VERIFY || keys->n_previous == 0)
        return rc;
    for (size_t i = 0; i < keys->n_previous; i++) {
        kg_error_clear();
        if (kg_ok(kg_env_decrypt_vars(out, keys->previous[i].env_key, ct, ct_len))) {
            *root_epoch = keys->previous[i].root_epoch;
            return KG_OK;
        }
    }
    KG_BAIL(KG_ERR_VERIFY,
            "the environment opens with neither the current env key (root epoch %u) nor those "
            "of the %zu previous epoch(s) the KMS released: encrypted for another app, or to a "
            "retired epoch",
            (unsigned)keys->root_epoch, keys->n_previous);
}
