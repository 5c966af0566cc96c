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
#include "keygate/result.h"

#define KMS_MAX_ADVISORIES 32u
#define KMS_MAX_ADVISORY_LEN 64u

/* The caller's identity, built only from a verified attestation (SPEC.md section 2/3
 * AppBootInfo). Never from fields the caller merely claims. */
typedef struct kms_boot_info {
    uint8_t app_id[20];
    uint8_t compose_hash[32];
    uint8_t instance_id[20];
    bool has_instance_id; /* apps may opt out of instance ids (empty) */
    uint8_t device_id[32];
    uint8_t mr_aggregated[32];
    uint8_t mr_system[32];
    uint8_t os_image_hash[32];
    char tcb_status[48];
    char usage[68]; /* the certificate's RA-TLS usage ("kms:rpc", ...), "" if none */
    size_t n_advisories;
    char advisory_ids[KMS_MAX_ADVISORIES][KMS_MAX_ADVISORY_LEN];
} kms_boot_info;

/* The answer of governance for one boot info. */
typedef struct kms_decision {
    bool allowed;
    char reason[512];
    int64_t block_number; /* -1 when the backend has no block (webhook) */
    char block_hash[67];  /* "0x" + 64 hex, or "" */
    char gateway_app_id[64];
} kms_decision;

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
    atomic_uint_fast64_t self_checks_failed;
    atomic_uint_fast64_t latency_us_sum;
    atomic_uint_fast64_t latency_bucket[8]; /* <=1,2,5,10,25,50,100,+Inf ms (cumulative later) */
} kms_metrics;

/* The whole KMS. Root keys never leave this struct except through GetKmsKey to an attested,
 * governance-allowed peer. */
typedef struct kms {
    kg_kms_config cfg;
    kg_root_keys root; /* RCA and RK scalars (secret) */
    uint8_t root_k256_pub[KG_K256_PUB_LEN];
    kg_p256_key *root_ca_key; /* RCA as a key object (secret) */
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
    pthread_mutex_t self_check_lock;
    int64_t last_self_check_ms;
    kms_metrics metrics;
} kms;

/* ---- keys.c ---------------------------------------------------------------------------------- */

/* Loads the root keys from cfg.state_dir, or generates them on first start (bootstrap), and
 * issues this run's TLS and temporary CA certificates. Refuses key files readable by group or
 * others. */
KG_RESULT kms_keys_init(kms *k);
void kms_keys_free(kms *k);

/* Replication (SPEC.md section 7 flow 6): when state_dir holds no root keys, obtains them from
 * the KMS at host:port with GetKmsKey over mutually attested TLS and stores them (0600). The
 * source must verify as an RA-TLS "kms:rpc" peer that isKmsAllowed accepts (checked before the
 * request is sent), and the keys must equal kmsInfo on chain; otherwise nothing is written.
 * Needs kms_policy_init (eth backend) first. */
KG_RESULT kms_keys_onboard(kms *k, const char *source);

/* The exact REPORTDATA of the bootstrap attestation (documented in kms/README.md):
 * SHA-512("kms-root-pubkey:" || root CA SubjectPublicKeyInfo DER || root k256 compressed). */
KG_RESULT kms_bootstrap_report_data(uint8_t out[64], const kms *k);

/* ---- rpc.c: one request in, one JSON answer out (runs on a worker thread) ------------------ */

typedef struct kms_call {
    const char *method;  /* without the "KMS." prefix */
    const uint8_t *body; /* borrowed request body */
    size_t body_len;
    X509 *peer_cert;             /* borrowed; NULL when the client presented none */
    STACK_OF(X509) * peer_chain; /* borrowed; may be NULL */
    const char *peer_addr;
    /* out */
    int status;      /* HTTP status */
    kg_buf response; /* JSON text; may hold secrets (wiped on free) */
} kms_call;

/* Handles one call. Always produces a response (an error object on failure). */
void kms_rpc_handle(kms *k, kms_call *call);
/* Whether the method exists (checked before a job is queued). */
bool kms_rpc_known(const char *method);

/* ---- policy.c ------------------------------------------------------------------------------- */

KG_RESULT kms_policy_init(kms *k);
void kms_policy_free(void);
/* Releases the calling thread's webhook connection; every thread that asked the policy calls
 * it before exiting (the handle is thread-local, so kms_policy_free cannot reach it). */
void kms_policy_thread_done(void);
/* Asks governance whether an app instance may have its keys. A failure to get an answer is an
 * error (never "allowed"); a "no" is a success with out->allowed = false. */
KG_RESULT kms_policy_app(kms_decision *out, const kms *k, const kms_boot_info *bi);
/* Asks whether this KMS itself is allowed (isKmsAllowed). */
KG_RESULT kms_policy_kms(kms_decision *out, const kms *k, const kms_boot_info *bi);
/* The root public keys published on chain (kmsInfo() of the KMS contract, contracts/README.md):
 * the compressed root k256 key and the root CA SubjectPublicKeyInfo DER (appended to ca_spki).
 * eth backend only; nothing published is KG_ERR_NOT_FOUND. */
KG_RESULT kms_policy_kms_info(uint8_t k256_pub[KG_K256_PUB_LEN], kg_buf *ca_spki, const kms *k);
/* Runs the self-check now and records its verdict in k->kms_allowed. */
void kms_self_check(kms *k);

/* ---- attest.c ------------------------------------------------------------------------------- */

/* Verifies a peer's RA-TLS certificate (SPEC.md section 4) into a boot info. */
/* require_app: the event log must name an app (app-id, compose-hash); KMS peers need not. */
KG_RESULT kms_attest_peer(kms_boot_info *out, const kms *k, X509 *cert, STACK_OF(X509) * chain,
                          bool require_app);
/* The identity a certificate that failed verification claims, for the audit record only: the
 * app id of its RA-TLS app-id extension (zero when it has none). Never used to decide. */
void kms_attest_claimed(kms_boot_info *out, X509 *cert);
/* A fresh key and an RA-TLS certificate for it with usage "kms:rpc" from this KMS's TEE, to
 * authenticate to a peer KMS (onboarding). Caller frees both. */
KG_RESULT kms_attest_client_cert(kg_p256_key **key, X509 **cert, const kms *k);
/* This KMS's own boot info (for the self-check) and quote for the bootstrap info. */
KG_RESULT kms_attest_self(kms_boot_info *out, const kms *k);
KG_RESULT kms_attest_quote(kg_buf *quote, kg_buf *eventlog, const kms *k,
                           const uint8_t report_data[64]);

/* Opens the TEE and the DCAP verifier the config names; kms_attest_free closes them. */
KG_RESULT kms_attest_init(kms *k);
void kms_attest_free(void);
/* Issues this run's RA-TLS server certificate (usage "kms:rpc") into k->tls_key/tls_cert. */
KG_RESULT kms_attest_server_cert(kms *k);

/* ---- identity.c ----------------------------------------------------------------------------- */

struct kg_tee;
/* The KMS compose document (canonical JSON of the settings that decide who gets keys; its
 * SHA-256 is the compose-hash this KMS measures), appended to out and NUL-terminated. */
KG_RESULT kms_identity_compose(kg_buf *out, const kms *k);
/* Extends this KMS's identity into a fresh VM's RTMR3, or checks that RTMR3 already holds
 * exactly it (a restart in the same VM); KG_ERR_DENIED when RTMR3 holds anything else. */
KG_RESULT kms_identity_measure(const kms *k, struct kg_tee *tee);
/* Whether a verified peer measured a KMS identity of this deployment (its app-id event is the
 * KMS contract). Call with a boot info from kms_attest_peer(require_app = true). */
bool kms_is_kms_identity(const kms *k, const kms_boot_info *bi);

/* ---- util ----------------------------------------------------------------------------------- */
int64_t kms_now_ms(void);

#endif
