/* seal.c - the KMS's root keys at rest: state_dir/root-keys.sealed (lib/seal/sealed.c), written
 * whenever the KMS holds keys that are not sealed yet (bootstrap, migration, onboarding,
 * recovery) and opened at start with this VM's sealing key (docs/design.md, "Sealed root keys").
 * The plaintext keys never reach the disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"
#include "keygate/fileio.h"
#include "keygate/sealed.h"
#include "keygate/slog.h"
#include "kms.h"

kg_result kms_seal_path(char *out, size_t n, const kms *k)
{
    int w = snprintf(out, n, "%s/%s", k->cfg.state_dir, KMS_SEALED_FILE);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_INPUT, "state path too long for '%s'",
              KMS_SEALED_FILE);
    return KG_OK;
}

/* The chain id this deployment's files carry (0 with the webhook backend). */
static uint64_t file_chain(const kms *k)
{
    return k->cfg.policy == KG_KMS_POLICY_ETH ? k->cfg.chain_id : 0;
}

/* This VM's sealing key into key; false (and the reason on stderr once) when the TEE has none. */
static bool tee_key(uint8_t key[32], bool quiet)
{
    if (kg_ok(kms_attest_seal_key(key)))
        return true;
    if (!quiet)
        kg_slog(KG_SLOG_WARN, "%s", kg_error_message());
    kg_error_clear();
    return false;
}

kg_result kms_seal_read_raw(kg_sealed_file *out, kg_buf *raw, const kms *k)
{
    char path[KG_KMS_PATH_MAX + 32];
    KG_GUARD(kms_seal_path(path, sizeof(path), k));
    kg_buf_init(raw, KG_SEALED_MAX_LEN + 1);
    kg_result rc = kg_file_read(raw, path, KG_SEALED_MAX_LEN + 1);
    if (kg_ok(rc))
        rc = kg_sealed_parse(out, raw->data, raw->len);
    if (kg_failed(rc)) {
        kg_buf_free(raw);
        return kg_error_context("'%s'", path);
    }
    uint64_t chain = file_chain(k);
    if (out->header.chain_id != chain ||
        memcmp(out->header.kms_contract, kms_identity_app_id(k), 20) != 0) {
        kg_buf_free(raw);
        KG_BAIL(KG_ERR_DENIED,
                "'%s' was sealed for another deployment (chain %llu and another KMS contract)",
                path, (unsigned long long)out->header.chain_id);
    }
    return KG_OK;
}

kg_result kms_seal_read(kg_sealed_file *out, const kms *k)
{
    kg_buf raw;
    KG_GUARD(kms_seal_read_raw(out, &raw, k));
    kg_buf_free(&raw);
    return KG_OK;
}

kg_result kms_seal_store(kms *k, const kg_sealed_holders *holders)
{
    kg_result rc = KG_ERROR;
    char path[KG_KMS_PATH_MAX + 32];
    uint8_t key[32];
    kg_sealed_file *back = calloc(1, sizeof(*back));
    kg_sealed_epoch_in in[KMS_MAX_EPOCHS];
    kg_root_keys check[KG_SEALED_MAX_EPOCHS];
    kg_buf file;
    kg_buf_init(&file, KG_SEALED_MAX_LEN);
    memset(check, 0, sizeof(check));
    for (size_t i = 0; i < k->n_epochs; i++)
        in[i] = (kg_sealed_epoch_in){.epoch = k->epochs[i].epoch,
                                     .status = k->epochs[i].status,
                                     .root = &k->epochs[i].root,
                                     .quote = k->epochs[i].quote.data,
                                     .quote_len = k->epochs[i].quote.len,
                                     .eventlog = k->epochs[i].eventlog.data,
                                     .eventlog_len = k->epochs[i].eventlog.len};
    bool have_tee = tee_key(key, holders != NULL && holders->n > 0);
    KG_GUARD_C(kms_seal_path(path, sizeof(path), k));
    KG_GUARD_CTX_C(kg_sealed_seal_epochs(&file, file_chain(k), kms_identity_app_id(k), in,
                                         k->n_epochs, have_tee ? key : NULL, holders),
                   "this TEE cannot seal and the KMS contract names no recovery holders: set "
                   "them (recoveryHolders, contracts/README.md) before starting this node");
    KG_GUARD_C(kg_file_write_atomic(path, file.data, file.len, 0600));
    /* What is on disk must open here (or, without a TEE slot, at least parse) before anything
     * that depended on the old form is removed. */
    KG_ENSURE_C(back != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kms_seal_read(back, k));
    if (have_tee) {
        KG_GUARD_CTX_C(kg_sealed_open_tee(check, back, key), "re-reading '%s'", path);
        KG_ENSURE_C(back->n_epochs == k->n_epochs, KG_ERR_INTERNAL, "'%s' holds other epochs",
                    path);
        for (size_t i = 0; i < k->n_epochs; i++)
            KG_ENSURE_C(back->epochs[i].epoch == k->epochs[i].epoch &&
                            back->epochs[i].status == k->epochs[i].status &&
                            kg_ct_equal(&check[i], &k->epochs[i].root, sizeof(check[i])),
                        KG_ERR_INTERNAL, "'%s' opens to other keys", path);
    }
    char epochs[48] = "";
    if (k->n_epochs > 1)
        snprintf(epochs, sizeof(epochs), "; %zu epochs", k->n_epochs);
    kg_slog(KG_SLOG_INFO, "root keys sealed in %s (%s%s%s)%s", path,
            have_tee ? "this VM's sealing key" : "",
            have_tee && holders && holders->n ? " and " : "",
            holders && holders->n ? "recovery holders" : "", epochs);
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    for (size_t i = 0; i < KG_SEALED_MAX_EPOCHS; i++)
        kg_kdf_root_keys_wipe(&check[i]);
    kg_buf_free(&file);
    free(back);
    return rc;
}

kg_result kms_recovery_holders(kg_sealed_holders *out, kms *k)
{
    memset(out, 0, sizeof(*out));
    if (k->cfg.policy != KG_KMS_POLICY_ETH)
        return KG_OK; /* no chain to name them: the TEE slot (or peers) only */
    kg_eth_block blk;
    size_t n = 0;
    KG_GUARD_CTX(kms_chain_block(&blk, k), "reading the recovery holders");
    KG_GUARD_CTX(kms_chain_recovery_holders(out->pub, &n, &out->threshold, k, &blk),
                 "reading the recovery holders");
    out->n = (uint8_t)n;
    return KG_OK;
}

kg_result kms_seal_open(kg_sealed_file *f, kg_buf *raw, kg_root_keys keys[], const kms *k)
{
    uint8_t key[32];
    KG_GUARD(kms_seal_read_raw(f, raw, k));
    KG_ENSURE(f->has_tee, KG_ERR_UNAVAILABLE, "it has no slot for a TEE sealing key");
    KG_GUARD(kms_attest_seal_key(key));
    kg_result rc = kg_sealed_open_tee(keys, f, key);
    kg_memzero(key, sizeof(key));
    return rc;
}
