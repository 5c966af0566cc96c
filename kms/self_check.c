/* self_check.c - this KMS's own standing (docs/design.md, "KMS identity"): its own attestation,
 * isKmsAllowed for it, and the root keys published on chain (kmsInfo) being the ones it holds.
 * The verdict gates every release (the self_allowed operation of the decision core, rpc.c); run
 * at start and every self_check_interval_s (server.c), audited when it changes. It sits above
 * governance (policy.c) and the root-key epochs (epochs.c), which it brings to the chain's. */
#include <stdio.h>
#include <string.h>

#include "keygate/eth.h"
#include "keygate/slog.h"
#include "kms.h"

void kms_self_check(kms *k)
{
    kg_boot_identity self;
    kg_kms_verdict d;
    memset(&d, 0, sizeof(d));
    d.block_number = -1;
    char reason[sizeof(k->self_check_reason)];
    bool allowed = false, attested = false;
    if (kg_failed(kms_attest_self(&self, k))) {
        snprintf(reason, sizeof(reason), "own attestation: %.200s", kg_error_message());
    } else {
        attested = true;
        pthread_mutex_lock(&k->self_check_lock);
        k->self_identity = self; /* what each release's per-block standing check asks about */
        k->has_self_identity = true;
        pthread_mutex_unlock(&k->self_check_lock);
        if (kg_failed(kms_policy_ask(k, &d, KG_KMS_CALLER_KMS, &self))) {
            snprintf(reason, sizeof(reason), "governance unavailable: %.200s", kg_error_message());
        } else {
            allowed = d.allowed;
            snprintf(reason, sizeof(reason), "%s%.200s", allowed ? "allowed" : "not allowed: ",
                     allowed ? "" : (d.reason[0] ? d.reason : "(no reason given)"));
        }
        /* Identity continuity: the keys this node serves must be the ones published on chain
         * (a wrong or empty state_dir would serve other keys than every app expects). */
        kg_eth_block blk;
        bool match = true;
        char why[256];
        if (allowed && k->cfg.policy == KG_KMS_POLICY_ETH &&
            (kg_failed(kms_chain_block(&blk, k)) ||
             kg_failed(kms_policy_root_keys_held(&match, why, sizeof(why), k, &blk)))) {
            allowed = false;
            snprintf(reason, sizeof(reason), "checking kmsInfo on chain: %.200s",
                     kg_error_message());
        } else if (allowed && !match) {
            allowed = false;
            snprintf(reason, sizeof(reason), "%s", why);
        }
        /* the root epochs at that block: statuses brought to the chain's, retired ones wiped
         * (also done by each release; here so an idle node wipes too) */
        kms_epoch_view view;
        if (allowed && kg_failed(kms_epochs_at(&view, k, &d)))
            kg_slog(KG_SLOG_WARN, "self-check: root epochs: %s", kg_error_message());
    }
    kg_error_clear();
    pthread_mutex_lock(&k->self_check_lock);
    bool was = atomic_load(&k->kms_allowed);
    bool first = k->last_self_check_ms == 0;
    bool changed = first || was != allowed || strcmp(k->self_check_reason, reason) != 0;
    atomic_store(&k->kms_allowed, allowed);
    snprintf(k->self_check_reason, sizeof(k->self_check_reason), "%s", reason);
    k->last_self_check_ms = kms_now_ms();
    pthread_mutex_unlock(&k->self_check_lock);
    atomic_fetch_add(&k->metrics.self_checks, 1);
    if (!allowed)
        atomic_fetch_add(&k->metrics.self_checks_failed, 1);
    if (was != allowed || !allowed)
        kg_slog(allowed ? KG_SLOG_INFO : KG_SLOG_WARN, "self-check: %s", reason);

    /* The self-check is a decision too (it gates every release): audited when its verdict or
     * reason changes (and at start), counted otherwise, so a row a minute does not bury the
     * decisions an auditor looks for. */
    if (!changed)
        return;
    kg_audit_record r = {.method = "self-check",
                         .allowed = allowed,
                         .reason = reason,
                         .identity = attested ? &self : NULL,
                         .block_number = d.block_number,
                         .block_hash = d.block_hash[0] ? d.block_hash : NULL};
    if (k->audit != NULL && kg_failed(kg_audit_append(k->audit, &r, NULL))) {
        atomic_fetch_add(&k->metrics.audit_failures, 1);
        kg_slog(KG_SLOG_ERROR, "self-check: not audited: %s", kg_error_message());
        kg_error_clear();
    }
}
