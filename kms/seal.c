/* seal.c - the KMS's root keys at rest: state_dir/root-keys.sealed (lib/seal/sealed.c), written
 * whenever the KMS holds keys that are not sealed yet (bootstrap, migration, onboarding,
 * recovery) and opened at start with this VM's sealing key (docs/design.md, "Sealed root keys").
 * The plaintext keys never reach the disk. */
#include <stdio.h>
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

/* The header this deployment's files carry for k->root. */
static kg_result header_for(kg_sealed_header *h, const kms *k)
{
    uint64_t chain = k->cfg.policy == KG_KMS_POLICY_ETH ? k->cfg.chain_id : 0;
    return kg_sealed_header_for(h, chain, kms_identity_app_id(k), &k->root);
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

kg_result kms_seal_read(kg_sealed_file *out, const kms *k)
{
    char path[KG_KMS_PATH_MAX + 32];
    kg_buf raw;
    KG_GUARD(kms_seal_path(path, sizeof(path), k));
    kg_buf_init(&raw, KG_SEALED_MAX_LEN + 1);
    kg_result rc = kg_file_read(&raw, path, KG_SEALED_MAX_LEN + 1);
    if (kg_ok(rc))
        rc = kg_sealed_parse(out, raw.data, raw.len);
    kg_buf_free(&raw);
    KG_GUARD_CTX(rc, "'%s'", path);
    uint64_t chain = k->cfg.policy == KG_KMS_POLICY_ETH ? k->cfg.chain_id : 0;
    KG_ENSURE(out->header.chain_id == chain &&
                  memcmp(out->header.kms_contract, kms_identity_app_id(k), 20) == 0,
              KG_ERR_DENIED,
              "'%s' was sealed for another deployment (chain %llu and another KMS contract)", path,
              (unsigned long long)out->header.chain_id);
    return KG_OK;
}

kg_result kms_seal_store(kms *k, const kg_sealed_holders *holders)
{
    kg_result rc = KG_ERROR;
    char path[KG_KMS_PATH_MAX + 32];
    uint8_t key[32];
    kg_sealed_header h;
    kg_sealed_file back;
    kg_root_keys check;
    kg_buf file;
    kg_buf_init(&file, KG_SEALED_MAX_LEN);
    memset(&check, 0, sizeof(check));
    bool have_tee = tee_key(key, holders != NULL && holders->n > 0);
    KG_GUARD_C(kms_seal_path(path, sizeof(path), k));
    KG_GUARD_C(header_for(&h, k));
    KG_GUARD_CTX_C(kg_sealed_seal(&file, &h, &k->root, have_tee ? key : NULL, holders),
                   "this TEE cannot seal and the KMS contract names no recovery holders: set "
                   "them (recoveryHolders, contracts/README.md) before starting this node");
    KG_GUARD_C(kg_file_write_atomic(path, file.data, file.len, 0600));
    /* What is on disk must open here (or, without a TEE slot, at least parse) before anything
     * that depended on the old form is removed. */
    KG_GUARD_C(kms_seal_read(&back, k));
    if (have_tee) {
        KG_GUARD_CTX_C(kg_sealed_open_tee(&check, &back, key), "re-reading '%s'", path);
        KG_ENSURE_C(kg_ct_equal(&check, &k->root, sizeof(check)), KG_ERR_INTERNAL,
                    "'%s' opens to other keys", path);
    }
    kg_slog(KG_SLOG_INFO, "root keys sealed in %s (%s%s%s)", path,
            have_tee ? "this VM's sealing key" : "",
            have_tee && holders && holders->n ? " and " : "",
            holders && holders->n ? "recovery holders" : "");
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    kg_kdf_root_keys_wipe(&check);
    kg_buf_free(&file);
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

kg_result kms_seal_open(kms *k)
{
    kg_result rc = KG_ERROR;
    uint8_t key[32];
    kg_sealed_file f;
    KG_GUARD(kms_seal_read(&f, k));
    KG_ENSURE(f.has_tee, KG_ERR_UNAVAILABLE, "it has no slot for a TEE sealing key");
    KG_GUARD_C(kms_attest_seal_key(key));
    KG_GUARD_C(kg_sealed_open_tee(&k->root, &f, key));
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    return rc;
}
