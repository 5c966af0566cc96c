/* agent_boot.h - keygate-agent's boot flow (docs/protocol.md sections 2 and 5) and the binding of
 * the app API to a TEE and a KMS. Separate from agent.h because it needs the TEE layer. */
#ifndef KEYGATE_AGENT_BOOT_H
#define KEYGATE_AGENT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/agent.h"
#include "keygate/envcrypt.h"
#include "keygate/eth.h"
#include "keygate/eventlog.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

/*
 * What the agent authenticates a KMS by: a key release depends on it, since whoever answers
 * GetAppKey chooses the app's disk, env and wallet keys (docs/design.md, "Authenticating the
 * KMS"). Every KMS reply is accepted only when
 *   - its TLS server certificate is issued directly by the pinned root CA (no intermediate:
 *     nothing under the public temporary CA or an app CA passes) with usage "kms:rpc";
 *   - GetAppKey's ca_cert is the pinned root and its k256_signature is the root secp256k1
 *     key's signature over the app key; the env key is the one the root key signed;
 *   - with `attestation` set: the server certificate's RA-TLS attestation verifies (binding,
 *     DCAP, event log) and governance allows that KMS (isKmsAllowed at the node's latest
 *     block on `governance`).
 */
typedef struct kg_kms_trust {
    const char *root_ca_pem;                  /* pinned KMS root CA (required) */
    uint8_t root_k256_pub[KG_K256_PUB_LEN];   /* the KMS root secp256k1 key (required) */
    const kg_ratls_policy *attestation;       /* optional; requires governance */
    kg_eth_client *governance;                /* chain node for isKmsAllowed; borrowed */
    uint8_t kms_contract[KG_ETH_ADDRESS_LEN]; /* the KMS contract on that chain */
} kg_kms_trust;

/* Checks a trust is complete: a root CA, a valid root k256 key, and governance whenever
 * attestation is on. */
KG_RESULT kg_kms_trust_check(const kg_kms_trust *t);

/* Where the agent learns a root-key epoch's public key (docs/design.md, "Root-key epochs"):
 * rootEpoch(n) of the KMS contract, the same chain view kmsInfo() comes from. A table so tests
 * can hand in an epoch's state directly; kg_agent_epoch_source_chain binds it to a trust's chain.
 */
typedef struct kg_agent_epoch_source {
    void *ctx;
    kg_result (*root_epoch)(void *ctx, uint32_t epoch, kg_eth_root_epoch_info *out);
} kg_agent_epoch_source;

/* The chain of `t` (its governance node and KMS contract; borrowed) as an epoch source. */
void kg_agent_epoch_source_chain(kg_agent_epoch_source *out, const kg_kms_trust *t);

/*
 * Checks the root-key epochs of a GetAppKey reply whose current keys already verified under
 * current_k256 (the KMS root key the agent trusts), before any of it is used:
 *   - a reply of epoch 0 (or without "root_epoch") and no previous keys: nothing to check;
 *   - root_epoch N > 0: rootEpoch(N) must be current (or retiring: it was superseded after the
 *     KMS decided) with current_k256 as its key, so the reply names the epoch of its keys;
 *   - each previous epoch M: rootEpoch(M) must be retiring and M's k256_signature that epoch's
 *     root key's signature over this app's key of epoch M (docs/protocol.md section 5).
 * Any of these failing is KG_ERR_VERIFY naming the epoch (the reply is not used). A previous
 * epoch retired on chain since the KMS decided is dropped (its keys wiped), as is every previous
 * epoch when src is NULL (no chain: nothing to verify them against); `note` (optional) is told
 * why. keys->n_previous counts what remains.
 */
KG_RESULT kg_agent_epochs_verify(kg_agent_keys *keys, const uint8_t app_id[20],
                                 const uint8_t current_k256[KG_K256_PUB_LEN],
                                 const kg_agent_epoch_source *src,
                                 void (*note)(void *ctx, const char *msg), void *note_ctx);

/* Decrypts an encrypted environment (docs/protocol.md section 5) with the current env key or,
 * when that key does not open it, with each previous epoch's env key (a migration window: an
 * env encrypted before the rotation). *root_epoch is the epoch whose key opened it. A malformed
 * envelope, or one no held key opens, fails (KG_ERR_VERIFY for the latter); out holds nothing
 * new then. */
KG_RESULT kg_agent_env_decrypt(kg_env_list *out, uint32_t *root_epoch, const kg_agent_keys *keys,
                               const uint8_t *ct, size_t ct_len);

typedef struct kg_boot_config {
    kg_tee *tee; /* borrowed: the VM's TEE (RTMR3 starts at this boot) */
    uint8_t app_id[20];
    const char *compose; /* raw app-compose.json bytes (hashed as they are) */
    size_t compose_len;
    const char *state_dir;       /* persistent: holds the instance seed (mode 0600) */
    const char *const *kms_urls; /* tried in order; a refusal stops, unreachable does not */
    size_t n_kms_urls;
    const kg_kms_trust *kms; /* how every KMS is authenticated (required); borrowed */
    const uint8_t *env_ct;   /* optional encrypted environment (docs/protocol.md section 5) */
    size_t env_ct_len;
    const char *vm_config;        /* passed to GetAppKey, informational */
    long retry_for_ms;            /* 0: one round over the KMS URLs; else rounds with
                                     backoff until this much time has passed */
    kg_ratls_format ratls_format; /* the RA-TLS client certificate's evidence: legacy .1/.2
                                     (0) or dstack's .8, as guests since v0.5.10 send it */
    void (*log)(void *ctx, const char *msg); /* optional progress/failover messages */
    void *log_ctx;
    void (*note)(void *ctx, const char *msg); /* optional: what the boot decided about root-key
                                                 epochs (dropped keys, an env sealed to a
                                                 previous epoch); ctx is log_ctx */
} kg_boot_config;

typedef struct kg_boot_result {
    kg_agent_keys keys; /* secrets */
    uint8_t app_id[20];
    uint8_t compose_hash[32];
    uint8_t instance_id[20];
    size_t instance_id_len;
    uint8_t os_image_hash[32];
    char *key_provider_info; /* owned: the key-provider event payload */
    kg_env_list env;         /* decrypted environment (secrets) */
    /* The environment opened with a previous epoch's env key (keys.previous[]): it must be
     * re-encrypted to the current env key before that epoch is retired. */
    bool env_from_previous;
    uint32_t env_root_epoch;
} kg_boot_result;

/* Runs the boot flow. On failure *out holds no keys and no environment (only app_id), the
 * error names the step, and a KMS refusal is KG_ERR_DENIED with the KMS's reason. A GetAppKey
 * answer is used only when its receipt verifies (docs/design.md, "Receipts": the log key
 * certified by the pinned root k256 key, the checkpoint signed by it, the entry included in it,
 * and the entry an allow for this app, compose hash, instance and OS image with the public keys
 * of what was received); otherwise that KMS's answer is an impostor's and the next is asked.
 * The verified receipt is keys.receipt, also kept as <state_dir>/key-receipt.json. Caller frees
 * with kg_boot_result_free (wipes). */
KG_RESULT kg_agent_boot(kg_boot_result *out, const kg_boot_config *cfg);
void kg_boot_result_free(kg_boot_result *r);

/* One attested KMS call: GetTempCaCert, an RA-TLS client certificate for `key` (quote from
 * tee; evidence as `format` says), then `method` with body, each to a server authenticated by
 * `trust`. A non-200 answer
 * is an error (4xx KG_ERR_DENIED, else KG_ERR_NETWORK) carrying the KMS's reason. Reply body
 * appended to *reply. */
KG_RESULT kg_agent_kms_rpc_attested(kg_buf *reply, kg_tee *tee, const char *url,
                                    const kg_kms_trust *trust, const kg_p256_key *key,
                                    const uint8_t app_id[20], const char *method, const char *body,
                                    kg_ratls_format format);

/* The app API over a TEE and a KMS: quotes and events from tee, GetTlsKey through SignCert at
 * the first reachable KMS URL. All fields borrowed; must outlive the agent. */
typedef struct kg_agent_tee_ctx {
    kg_tee *tee;
    uint8_t app_id[20];
    const char *const *kms_urls;
    size_t n_kms_urls;
    const kg_kms_trust *kms;        /* as in kg_boot_config; NULL: no GetTlsKey */
    const char *boot_eventlog_json; /* imr 0..2 events (kg_agent_boot_eventlog), or NULL */
    kg_ratls_format ratls_format;   /* legacy: GetTlsKey sends a PKCS#10 (SignCert v1) over a
                                       .1/.2 client certificate; .8 formats: a SCALE
                                       CertSigningRequestV2 (SignCert v2) over a .8 one */
    /* This VM as the KMS must have logged it (SignCert's receipt is checked against it): app id,
     * compose hash, and the instance id and OS image hash when known (instance_known; an all-zero
     * os_image_hash is not checked). NULL: set before the first GetTlsKey, or none is served. */
    const kg_agent_identity *self;
    bool instance_known;
} kg_agent_tee_ctx;

/* The boot-time (RTMR0..2) events of the TEE named by tee_spec, as a JSON array appended to out:
 * the simulated platform's components for "sim:..."; "[]" on real TDX (CCEL not parsed yet). */
KG_RESULT kg_agent_boot_eventlog(kg_buf *out, const char *tee_spec);

void kg_agent_platform_tee(kg_agent_platform *out, kg_agent_tee_ctx *ctx);

/* Serves `agent` on socket_path (mode as kg_agent_server_new) and runs argv with the decrypted
 * environment (may be NULL) and DSTACK_SIMULATOR_ENDPOINT=socket_path; returns when the command
 * exits, its exit status (128+signal if killed) in *exit_status. The socket is removed after. */
KG_RESULT kg_agent_serve_and_run(int *exit_status, kg_agent *agent, const char *socket_path,
                                 mode_t mode, const kg_env_list *env, char *const argv[]);

#endif
