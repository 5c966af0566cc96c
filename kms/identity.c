/* identity.c - the KMS's own measured identity: what it extends into RTMR3 before any quote, so
 * that governance allows this KMS (its configuration and version on its OS image), never any
 * blank VM of the same image (docs/design.md, "KMS identity").
 *
 * The KMS is measured like a dstack app:
 *   system-preparing, app-id = the KMS contract (20 zero bytes for the webhook backend),
 *   compose-hash = SHA-256(the KMS compose document), instance-id (empty), boot-mr-done,
 *   system-ready (nothing reserved may follow it, so the identity is sealed).
 * The compose document is canonical JSON (sorted keys, no spaces) of exactly the settings that
 * decide who gets keys: the version, the policy (contract and chain, or webhook URL), the quote
 * trust root and the gateway app id. Listen address, ports, paths and limits are operational
 * and not measured, so moving a KMS to another port keeps its identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eventlog.h"
#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/tee.h"
#include "kms.h"

#define KMS_MAX_COMPOSE (8u * 1024u)

/* SHA-256 of the simulator's root CA file, hex, so two KMS trusting different test roots do not
 * share an identity. */
static kg_result sim_root_hash(char out[KG_HEX_SIZE(KG_SHA256_LEN)], const char *path)
{
    kg_buf b;
    kg_buf_init(&b, 64u * 1024u);
    uint8_t h[KG_SHA256_LEN];
    kg_result rc = kg_file_read(&b, path, 64u * 1024u);
    if (kg_ok(rc))
        rc = kg_sha256(h, b.data, b.len);
    if (kg_ok(rc))
        rc = kg_hex_encode(out, KG_HEX_SIZE(KG_SHA256_LEN), h, sizeof(h));
    kg_buf_free(&b);
    KG_GUARD_CTX(rc, "trust_root.sim_ca_file '%s'", path);
    return KG_OK;
}

kg_result kms_identity_compose(kg_buf *out, const kms *k)
{
    kg_result rc = KG_ERROR;
    json_t *doc = NULL, *policy = NULL, *trust = NULL;
    char *text = NULL;
    if (k->cfg.policy == KG_KMS_POLICY_ETH) {
        char addr[2 + KG_HEX_SIZE(KG_ETH_ADDRESS_LEN)] = "0x";
        KG_GUARD(
            kg_hex_encode(addr + 2, sizeof(addr) - 2, k->cfg.kms_contract, KG_ETH_ADDRESS_LEN));
        policy = json_pack("{s:s,s:s,s:I}", "backend", "eth", "kms_contract", addr, "chain_id",
                           (json_int_t)k->cfg.chain_id);
    } else {
        policy = json_pack("{s:s,s:s}", "backend", "webhook", "url", k->cfg.webhook_url);
    }
    KG_ENSURE_C(policy != NULL, KG_ERR_NOMEM, "out of memory");
    if (k->cfg.trust_root == KG_KMS_TRUST_SIM) {
        char h[KG_HEX_SIZE(KG_SHA256_LEN)];
        KG_GUARD_C(sim_root_hash(h, k->cfg.sim_root_ca));
        trust = json_pack("{s:s,s:s}", "kind", "sim", "sim_ca_sha256", h);
    } else {
        trust = json_pack("{s:s}", "kind", "intel");
    }
    KG_ENSURE_C(trust != NULL, KG_ERR_NOMEM, "out of memory");
    doc = json_pack("{s:s,s:s,s:O,s:O,s:s,s:b}", "name", "keygate-kms", "version", KG_VERSION,
                    "policy", policy, "trust_root", trust, "gateway_app_id", k->cfg.gateway_app_id,
                    "is_dev", k->cfg.is_dev);
    KG_ENSURE_C(doc != NULL, KG_ERR_NOMEM, "out of memory");
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    KG_ENSURE_C(text != NULL && strlen(text) < KMS_MAX_COMPOSE, KG_ERR_NOMEM,
                "KMS compose document");
    KG_GUARD_C(kg_buf_append_str(out, text));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    free(text);
    json_decref(doc);
    json_decref(policy);
    json_decref(trust);
    return rc;
}

/* The events of this KMS's identity, in order, into *want (initialised here). */
static kg_result identity_events(kg_eventlog *want, const kms *k)
{
    uint8_t compose_hash[KG_SHA256_LEN];
    kg_buf doc;
    kg_buf_init(&doc, KMS_MAX_COMPOSE);
    kg_eventlog_init(want);
    kg_result rc = kms_identity_compose(&doc, k);
    if (kg_ok(rc))
        rc = kg_sha256(compose_hash, doc.data, doc.len);
    kg_buf_free(&doc);
    KG_GUARD(rc);
    const uint8_t *app_id = kms_identity_app_id(k);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_SYSTEM_PREPARING, NULL, 0);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_APP_ID, app_id, KG_APP_ID_LEN);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_COMPOSE_HASH, compose_hash, KG_COMPOSE_HASH_LEN);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_INSTANCE_ID, NULL, 0);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_BOOT_MR_DONE, NULL, 0);
    if (kg_ok(rc))
        rc = kg_eventlog_append(want, KG_EVENT_SYSTEM_READY, NULL, 0);
    if (kg_failed(rc))
        kg_eventlog_free(want);
    return rc;
}

static bool same_event(const kg_event *a, const kg_event *b)
{
    return a->imr == b->imr && a->event_type == b->event_type &&
           memcmp(a->digest, b->digest, KG_RTMR_LEN) == 0;
}

kg_result kms_identity_measure(const kms *k, kg_tee *tee)
{
    kg_result rc = KG_ERROR;
    kg_eventlog want, have;
    kg_eventlog_init(&have);
    KG_GUARD(identity_events(&want, k));
    KG_GUARD_CTX_C(kg_tee_read_eventlog(tee, &have), "reading this VM's RTMR3 event log");
    size_t runtime = 0;
    for (size_t i = 0; i < have.count; i++)
        runtime += have.events[i].imr == KG_EVENT_IMR_RUNTIME;
    if (runtime == 0) {
        /* A fresh VM: measure ourselves before anything can be quoted. */
        for (size_t i = 0; i < want.count; i++)
            KG_GUARD_CTX_C(kg_tee_extend(tee, want.events[i].name, want.events[i].payload,
                                         want.events[i].payload_len),
                           "measuring the KMS identity ('%s')", want.events[i].name);
    } else {
        /* The same VM after a restart of the KMS process: RTMR3 cannot be reset, so it must
         * already hold exactly this identity; anything else is another identity. */
        bool same = runtime == want.count;
        for (size_t i = 0, j = 0; same && i < have.count; i++) {
            if (have.events[i].imr != KG_EVENT_IMR_RUNTIME)
                continue;
            same = same_event(&have.events[i], &want.events[j++]);
        }
        KG_ENSURE_C(same, KG_ERR_DENIED,
                    "this VM's RTMR3 already holds %zu events that are not this KMS's identity "
                    "(another program, or another KMS configuration or version, measured itself "
                    "here): start the KMS in a fresh VM",
                    runtime);
    }
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&want);
    kg_eventlog_free(&have);
    return rc;
}

const uint8_t *kms_identity_app_id(const kms *k)
{
    static const uint8_t none[KG_APP_ID_LEN];
    return k->cfg.policy == KG_KMS_POLICY_ETH ? k->cfg.kms_contract : none;
}
