/* kms_config.h - the strict JSON configuration of keygate-kms (kms/kms.example.json documents
 * it). */
#ifndef KEYGATE_KMS_CONFIG_H
#define KEYGATE_KMS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "keygate/result.h"
#include "keygate/slog.h"

#define KG_KMS_CONFIG_MAX_BYTES (64u * 1024u) /* a config file larger than this is refused */
#define KG_KMS_PATH_MAX 1024u
#define KG_KMS_URL_MAX 1024u
#define KG_KMS_MAX_RPC_NODES 8u /* chain nodes asked for one decision */
#define KG_KMS_MAX_SERVER_NAMES 16u
#define KG_KMS_MAX_SERVER_NAME 253u /* a DNS name */

typedef enum kg_kms_policy_backend {
    KG_KMS_POLICY_ETH =
        0, /* eth_call isAppAllowed on the KMS contract (docs/protocol.md section 3) */
    KG_KMS_POLICY_WEBHOOK, /* dstack's POST /bootAuth/app auth server */
} kg_kms_policy_backend;

typedef enum kg_kms_trust_root {
    KG_KMS_TRUST_INTEL = 0, /* the pinned Intel SGX Root CA */
    KG_KMS_TRUST_SIM,       /* the simulator's test root CA, from a file (tests, devnets) */
} kg_kms_trust_root;

typedef enum kg_kms_tee_backend {
    KG_KMS_TEE_TDX = 0, /* Linux configfs-tsm quotes, RTMR extend */
    KG_KMS_TEE_SIM,     /* the software TDX of `keygate sim init` */
} kg_kms_tee_backend;

/* Every field has a value after kg_kms_config_load: defaults for what the file omits. Strings
 * are owned by the struct (fixed arrays), so the config can be copied and freed trivially. */
typedef struct kg_kms_config {
    char listen_address[64];         /* "listen.address", default "127.0.0.1" */
    uint16_t listen_port;            /* "listen.port", default 8000 */
    char state_dir[KG_KMS_PATH_MAX]; /* "state_dir": root keys and certificates (required) */
    char audit_db[KG_KMS_PATH_MAX];  /* "audit_db", default "<state_dir>/audit.db" */

    kg_kms_policy_backend policy; /* "policy.backend", default "eth" */
    char rpc_url[KG_KMS_URL_MAX]; /* the first chain node (= rpc_urls[0]) */
    /* "policy.rpc_urls" (a list) or "policy.rpc_url" (one): independent chain nodes; a decision
     * needs `quorum` of them to report the same block hash and the same answer, and any
     * disagreement among those that answer is a denial (docs/design.md, "Trusting the chain"). */
    char rpc_urls[KG_KMS_MAX_RPC_NODES][KG_KMS_URL_MAX];
    uint32_t n_rpc_urls;
    uint32_t quorum;          /* "policy.quorum", default: every node */
    uint32_t confirmations;   /* "policy.confirmations": decide at head - N, default 0 */
    uint32_t max_block_age_s; /* "policy.max_block_age_s": refuse an older block; 0 = off,
                                 default 300 */
    uint32_t reorg_allowance; /* "policy.reorg_allowance": never decide below the highest
                                 block decided at minus this, default 64 */
    uint32_t head_max_age_ms; /* "policy.head_max_age_ms": a decision may use a decision block
                                 resolved at most this long before it arrived; default 0: only
                                 one resolved after it arrived (kms/chain.c) */
    bool allow_insecure_http; /* "policy.allow_insecure_http": plain http:// to a remote chain
                                 node or webhook (test networks only; logged loudly) */
    uint8_t kms_contract[20]; /* "policy.kms_contract" (eth) */
    uint64_t chain_id;        /* "policy.chain_id" (eth) */
    char webhook_url[KG_KMS_URL_MAX]; /* "policy.url" (webhook) */
    uint32_t policy_timeout_ms;       /* "policy.timeout_ms", default 5000 */
    char gateway_app_id[64];          /* "policy.gateway_app_id", reported to apps, default "" */

    char pccs_url[KG_KMS_URL_MAX];         /* "pccs_url" (required unless collateral_file) */
    char collateral_file[KG_KMS_PATH_MAX]; /* "collateral_file": fixed collateral (PCCS JSON
                                              shape) read at start, for air-gapped setups */
    kg_kms_trust_root trust_root;          /* "trust_root.kind", default "intel" */
    char sim_root_ca[KG_KMS_PATH_MAX];     /* "trust_root.sim_ca_file" (kind "sim") */

    kg_kms_tee_backend tee;        /* "tee.backend", default "tdx" */
    char sim_dir[KG_KMS_PATH_MAX]; /* "tee.sim_dir" (backend "sim") */
    char sim_vm[64];               /* "tee.sim_vm": the simulated VM's name, default "kms" */

    /* "tls.server_names": the names (DNS names or IP addresses) in the KMS's server
     * certificate, so a client that checks the host name of the URL it was given (dstack's
     * guest: https://<name>:<port>) accepts it; default ["kms.keygate"] */
    char server_names[KG_KMS_MAX_SERVER_NAMES][KG_KMS_MAX_SERVER_NAME + 1];
    uint32_t n_server_names;

    uint32_t max_body_bytes;     /* "limits.max_body_bytes", default 262144 (a dstack guest's
                                    SignCert v2 carries its quote and event log as hex) */
    uint32_t request_timeout_ms; /* "limits.request_timeout_ms", default 10000 */
    uint32_t workers;            /* "limits.workers", default 2 */
    uint32_t max_connections;    /* "limits.max_connections", default 512: beyond it the
                                    oldest idle connection is closed */
    uint32_t max_connections_per_source; /* "limits.max_connections_per_source", default 64
                                            (an IPv4 address or an IPv6 /64); at most
                                            max_connections */
    uint32_t handshake_timeout_ms; /* "limits.handshake_timeout_ms": TLS handshake deadline from
                                      accept, default 2000 */
    uint32_t max_queue;            /* "limits.max_queue": pending jobs before 503, default 1024 */

    uint32_t self_check_interval_s; /* "self_check_interval_s", default 60; 0 = only at start */
    bool is_dev;                    /* "is_dev", default false; reported by GetMeta */
    kg_slog_format log_format;      /* "log_format": "text" (default) or "json" (one JSON object
                                       per line); keygate-kms --log-format overrides it */
    /* "admin_listen": "HOST:PORT" ("[v6]:PORT") of a separate plain-HTTP listener for GET
     * /metrics and /health; when set, /metrics leaves the public port. Default: none. */
    bool has_admin;
    char admin_address[64];
    uint16_t admin_port;
} kg_kms_config;

/* Parses a config document of len bytes. Strict: unknown keys, wrong types, out-of-range
 * numbers and missing required keys fail with KG_ERR_INPUT and a message naming the key in
 * quotes ("config: unknown key 'limits.wrokers'"). out is fully written on success and zeroed
 * on failure. */
KG_RESULT kg_kms_config_parse(kg_kms_config *out, const char *text, size_t len);

/* Reads the file at path (at most KG_KMS_CONFIG_MAX_BYTES) and parses it. */
KG_RESULT kg_kms_config_load(kg_kms_config *out, const char *path);

#endif
