/* kms.h - keygate-kms internals shared by its parts: state, boot info, policy, RPC, server. */
#ifndef KG_KMS_INTERNAL_H
#define KG_KMS_INTERNAL_H

#include <jansson.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "keygate/audit.h"
#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/kdf.h"
#include "keygate/kms_config.h"
#include "keygate/kms_decision.h"
#include "keygate/result.h"

/* Counters exported on /metrics. Updated from any thread. */
typedef struct kms_metrics {
    atomic_uint_fast64_t requests;      /* every HTTP request answered */
    atomic_uint_fast64_t errors;        /* answered with 4xx/5xx */
    atomic_uint_fast64_t keys_released; /* GetAppKey/SignCert successes */
    atomic_uint_fast64_t denied;        /* policy or attestation denials */
    atomic_uint_fast64_t overloaded;    /* rejected with 503 because the queue was full */
    atomic_uint_fast64_t connections;   /* currently open */
    atomic_uint_fast64_t connections_total;
    atomic_uint_fast64_t audit_failures;
    atomic_uint_fast64_t self_checks; /* every self-check run */
    atomic_uint_fast64_t self_checks_failed;
    atomic_uint_fast64_t chain_disagreements;     /* decisions refused: chain nodes disagreed */
    atomic_uint_fast64_t unverified_not_recorded; /* refusals of unverified callers over the
                                                     audit rate limit: counted, not written */
    atomic_uint_fast64_t latency_us_sum;
    atomic_uint_fast64_t latency_bucket[8]; /* <=1,2,5,10,25,50,100,+Inf ms (cumulative later) */
} kms_metrics;

/* The whole KMS. Root keys never leave this struct except through GetKmsKey to an attested,
 * governance-allowed peer. */
typedef struct kms {
    kg_kms_config cfg;
    kg_root_keys root;   /* RCA and RK scalars (secret) */
    bool root_in_memory; /* root holds keys received (onboarding, recovery) not yet sealed */
    uint8_t root_k256_pub[KG_K256_PUB_LEN];
    kg_app_public_cache *app_pubs; /* apps' public halves, remembered across releases */
    kg_p256_key *root_ca_key;      /* RCA as a key object (secret) */
    X509 *root_ca_cert;
    char *root_ca_pem;      /* owned, NUL-terminated */
    json_t *bootstrap_info; /* {ca_pubkey, k256_pubkey, quote, eventlog} */
    kg_p256_key *tls_key;   /* this run's server TLS key */
    X509 *tls_cert;
    kg_p256_key *temp_ca_key; /* mints RA-TLS client certs; not secret */
    X509 *temp_ca_cert;
    char *temp_ca_pem;
    char *temp_ca_key_pem;
    kg_audit *audit;
    atomic_bool kms_allowed; /* the last self-check's verdict; keys are refused when false */
    char self_check_reason[256];
    kg_boot_identity self_identity; /* this KMS's attested identity at the last self-check */
    bool has_self_identity;
    pthread_mutex_t self_check_lock;
    int64_t last_self_check_ms;
    kms_metrics metrics;
} kms;

/* ---- keys.c ---------------------------------------------------------------------------------- */

/* Loads the root keys from cfg.state_dir, or generates them when may_generate (--bootstrap) and
 * the directory holds none (else that is KG_ERR_NOT_FOUND naming the path), and issues the
 * temporary CA. Refuses key files readable by group or others. */
KG_RESULT kms_keys_init(kms *k, bool may_generate);
void kms_keys_free(kms *k);

/* Replication (docs/protocol.md section 7 flow 6): when state_dir holds no root keys, obtains them
 * from the KMS at host:port with GetKmsKey over mutually attested TLS and stores them (0600). The
 * source must verify as an RA-TLS "kms:rpc" peer that isKmsAllowed accepts (checked before the
 * request is sent), and the keys must equal kmsInfo on chain; otherwise nothing is written.
 * Needs kms_policy_init (eth backend) first. */
KG_RESULT kms_keys_onboard(kms *k, const char *source);

/* The exact REPORTDATA of the bootstrap attestation (documented in kms/README.md):
 * SHA-512("kms-root-pubkey:" || root CA SubjectPublicKeyInfo DER || root k256 compressed). */
KG_RESULT kms_bootstrap_report_data(uint8_t out[64], const kms *k);

/* ---- seal.c: the root keys at rest (docs/design.md, "Sealed root keys") -------------------- */

#define KMS_SEALED_FILE "root-keys.sealed"
struct kg_sealed_file;
struct kg_sealed_holders;
KG_RESULT kms_seal_path(char *out, size_t n, const kms *k);
/* Reads and parses state_dir's sealed file and checks it belongs to this deployment. */
KG_RESULT kms_seal_read(struct kg_sealed_file *out, const kms *k);
/* Seals k->root into state_dir (atomically replacing any older file) with this VM's sealing key
 * when the TEE has one and a recovery slot for `holders` (NULL: none); then reads it back and,
 * with a TEE slot, checks it opens to the same keys. Neither slot possible: an error that says
 * what to set up. */
KG_RESULT kms_seal_store(kms *k, const struct kg_sealed_holders *holders);
/* Opens state_dir's sealed file into k->root with this VM's sealing key. */
KG_RESULT kms_seal_open(kms *k);
/* The recovery holders governance names now (eth backend, agreed by the chain quorum); none
 * with the webhook backend. */
KG_RESULT kms_recovery_holders(struct kg_sealed_holders *out, kms *k);

/* ---- recover.c ------------------------------------------------------------------------------ */

/* --recover: waits up to timeout_s for t holders' shares in state_dir/recovery/, opens the
 * sealed file with them and checks the keys against kmsInfo; on success k->root holds them
 * (root_in_memory) for kms_keys_init to seal for this VM. Fewer than t shares: KG_ERR_DENIED
 * saying how many came. */
KG_RESULT kms_recover(kms *k, unsigned timeout_s);

/* ---- rpc.c: one request in, one JSON answer out (runs on a worker thread) ------------------ */

typedef struct kms_call {
    const char *method;  /* without the "KMS." prefix */
    const uint8_t *body; /* borrowed request body */
    size_t body_len;
    X509 *peer_cert;              /* borrowed; NULL when the client presented none */
    const uint8_t *peer_cert_der; /* the same certificate, DER (borrowed); NULL when none */
    size_t peer_cert_der_len;
    const char *peer_addr;
    /* out */
    int status;           /* HTTP status */
    kg_buf response;      /* JSON text; may hold secrets (wiped on free) */
    const char *decision; /* for the log: "allow", "deny", "unavailable", "ok", "bad_request",
                             "error" (a string literal) */
    char reason[512];     /* for the log: why it failed ("" on success); never a secret */
    /* A release whose answer must carry its receipt (GetAppKey, SignCert): the leaf it was
     * logged at. The server has kms/log.c add the receipt before the answer leaves. */
    bool wants_receipt;
    uint64_t receipt_leaf;
} kms_call;

/* Handles one call. Always produces a response (an error object on failure). */
void kms_rpc_handle(kms *k, kms_call *call);
/* Whether the method exists (checked before a job is queued). */
bool kms_rpc_known(const char *method);
/* The log's name for an answer's outcome by its HTTP status: "ok", "deny" (403), "unavailable"
 * (503), "bad_request" (other 4xx), "error" (5xx). A string literal. */
const char *kms_decision_name(int status);
/* Replaces the call's answer by {"error": <the current error message>} with the status
 * kg_err_http_status gives; wipes whatever the answer held (it may hold keys). */
void kms_rpc_answer_error(kms_call *call);

/* ---- policy.c ------------------------------------------------------------------------------- */

KG_RESULT kms_policy_init(kms *k);
void kms_policy_free(void);
/* Releases the calling thread's webhook connection; every thread that asked the policy calls
 * it before exiting (the handle is thread-local, so kms_policy_free cannot reach it). */
void kms_policy_thread_done(void);
/* Asks governance about a verified identity: isAppAllowed for an app, isKmsAllowed for a KMS
 * (the govern operation of kms_decision.h; ctx is the kms). A failure to get a well-formed
 * answer is an error (never "allowed"); a "no" is a success with out->allowed = false. */
KG_RESULT kms_policy_ask(void *ctx, kg_kms_verdict *out, kg_kms_caller caller,
                         const kg_boot_identity *id);
/* What the webhook's auth server says about the deployment on its GET / (dstack's
 * AuthApiInfoResponse), for GetMeta as dstack's KMS fills it. Strings are "" when absent. */
typedef struct kms_webhook_info {
    char kms_contract[64]; /* kmsContractAddr */
    bool has_chain_id;
    uint64_t chain_id;                          /* chainId */
    char gateway_app_id[KG_KMS_MAX_GATEWAY_ID]; /* gatewayAppId */
    char app_implementation[64];                /* appImplementation */
} kms_webhook_info;
/* GET <policy.url>/ of the webhook backend into *out (zeroed on failure; KG_ERR_NETWORK when
 * the server cannot be asked or answers something else). */
KG_RESULT kms_policy_webhook_info(kms_webhook_info *out, kms *k);
/* The root public keys published on chain (kmsInfo() of the KMS contract, contracts/README.md):
 * the compressed root k256 key and the root CA SubjectPublicKeyInfo DER (appended to ca_spki).
 * eth backend only; nothing published is KG_ERR_NOT_FOUND. */
KG_RESULT kms_policy_kms_info(uint8_t k256_pub[KG_K256_PUB_LEN], kg_buf *ca_spki, kms *k);
/* Runs the self-check now and records its verdict in k->kms_allowed. */
void kms_self_check(kms *k);

/* ---- attest.c ------------------------------------------------------------------------------- */

/* Verifies a peer's RA-TLS certificate (DER, or `cert` when the TLS stack decoded it: NULL
 * otherwise) into its identity: the attest operation of kms_decision.h (ctx is the kms), with
 * this KMS's trust root and collateral cache. */
KG_RESULT kms_attest_peer(void *ctx, kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                          X509 *cert);
/* Verifies a SignCert v2 CSR and its signature into the identity its embedded attestation
 * proves (the attest_csr operation of kms_decision.h; ctx is the kms), same trust root and
 * collateral as kms_attest_peer. */
KG_RESULT kms_attest_csr(void *ctx, kg_ratls_identity *out, const uint8_t *csr, size_t csr_len,
                         const uint8_t *sig, size_t sig_len);
/* A fresh key and an RA-TLS certificate for it with usage "kms:rpc" from this KMS's TEE, to
 * authenticate to a peer KMS (onboarding). Caller frees both. */
KG_RESULT kms_attest_client_cert(kg_p256_key **key, X509 **cert, const kms *k);
/* This KMS's own identity (for the self-check) and quote for the bootstrap info. */
KG_RESULT kms_attest_self(kg_boot_identity *out, kms *k);
KG_RESULT kms_attest_quote(kg_buf *quote, kg_buf *eventlog, const kms *k,
                           const uint8_t report_data[64]);
/* This VM's sealing key for the sealed root-key file (kg_tee_seal_key with
 * KG_SEALED_TEE_LABEL); KG_ERR_UNAVAILABLE on TDX, which has none. The caller wipes out. */
KG_RESULT kms_attest_seal_key(uint8_t out[32]);

/* Opens the TEE and the DCAP verifier the config names; kms_attest_free closes them. */
KG_RESULT kms_attest_init(kms *k);
void kms_attest_free(void);
/* Issues this run's RA-TLS server certificate (usage "kms:rpc") into k->tls_key/tls_cert. */
KG_RESULT kms_attest_server_cert(kms *k);

/* ---- chain.c: the quorum's view of the chain ------------------------------------------------ */

struct kg_eth_block;
struct kg_eth_decision;
struct kg_eth_client;
/* Opens a client per policy.rpc_urls node and checks each is on policy.chain_id. */
KG_RESULT kms_chain_init(const kms *k);
void kms_chain_free(void);
/* The block a decision is made at: the highest block a quorum has reached minus confirmations,
 * the same hash at every node that answers, fresh, not going backwards (chain.c). */
KG_RESULT kms_chain_block(struct kg_eth_block *out, kms *k);
/* isAppAllowed / isKmsAllowed at `at`, the same answer from every node that answers. */
KG_RESULT kms_chain_policy(struct kg_eth_decision *out, kms *k, int kind,
                           const kg_boot_identity *id, const struct kg_eth_block *at);
/* kmsInfo() at `at`: root k256 key and SHA-256 of the root CA SPKI, agreed by the quorum. */
KG_RESULT kms_chain_kms_info(uint8_t k256[KG_K256_PUB_LEN], uint8_t spki_hash[32], kms *k,
                             const struct kg_eth_block *at);
/* recoveryHolders() at `at`, the same answer from every node that answers (a node that names
 * other holders could otherwise have shares sealed to keys of its choosing). */
KG_RESULT kms_chain_recovery_holders(uint8_t holders[16][32], size_t *n, uint8_t *threshold, kms *k,
                                     const struct kg_eth_block *at);
/* The first node's client (for reads whose result the quorum then confirms). */
struct kg_eth_client *kms_chain_first(void);

/* ---- identity.c ----------------------------------------------------------------------------- */

struct kg_tee;
/* The KMS compose document (canonical JSON of the settings that decide who gets keys; its
 * SHA-256 is the compose-hash this KMS measures), appended to out and NUL-terminated. */
KG_RESULT kms_identity_compose(kg_buf *out, const kms *k);
/* Extends this KMS's identity into a fresh VM's RTMR3, or checks that RTMR3 already holds
 * exactly it (a restart in the same VM); KG_ERR_DENIED when RTMR3 holds anything else. */
KG_RESULT kms_identity_measure(const kms *k, struct kg_tee *tee);
/* The app id a KMS of this deployment measures: the KMS contract (zeros for the webhook
 * backend). Borrowed from k. */
const uint8_t *kms_identity_app_id(const kms *k);
/* The operations table of the decision core over this KMS (attest, govern, record, standing). */
void kms_decision_ops(kg_kms_ops *out, kms *k);

/* ---- util ----------------------------------------------------------------------------------- */
int64_t kms_now_ms(void);

#endif
