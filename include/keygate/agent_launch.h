/* agent_launch.h - one app VM's agent from inputs to a running app: the flow behind
 * `keygate-agent boot` and `keygate sim run` (issue 7). */
#ifndef KEYGATE_AGENT_LAUNCH_H
#define KEYGATE_AGENT_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "keygate/agent.h"
#include "keygate/bytes.h"

#define KG_LAUNCH_MAX_KMS 8

typedef struct kg_launch_opts {
    const char *prog;          /* for messages */
    const char *tee_spec;      /* "tdx" or "sim:<platform_dir>:<vm>" (tee.h) */
    const char *app_id_hex;    /* 20 bytes */
    const char *compose_path;  /* app-compose.json */
    const char *state_dir;     /* instance seed lives here */
    const char *kms_urls[KG_LAUNCH_MAX_KMS];
    size_t n_kms_urls;
    const char *kms_ca_path;   /* pinned KMS root CA (PEM) */
    const char *kms_k256_hex;  /* the KMS root secp256k1 key (33 bytes compressed, hex); or
                                  read from kmsInfo with rpc_url + kms_contract */
    const char *rpc_url;       /* chain node: kmsInfo and isKmsAllowed (with pccs_url) */
    const char *kms_contract;  /* the KMS contract address (0x...) */
    const char *pccs_url;      /* optional: verify each KMS's attestation with this PCCS, and
                                  that governance allows it (needs rpc_url + kms_contract) */
    const char *tee_root_ca_path; /* optional: quote trust root (PEM/DER) instead of Intel's;
                                     the simulator's root CA for simulated KMS nodes */
    const char *env_path;      /* optional: encrypted environment (hex from encryptEnvVars) */
    const char *disk_key_path; /* optional: where to write the disk key (mode 0600) */
    const char *keys_out_path; /* optional: the app keys as a keys file (mode 0600) for a
                                  separate `keygate-agent serve` */
    const char *env_out_path;  /* optional: the decrypted environment as KEY=VALUE lines
                                  (mode 0600) for services started outside the agent */
    const char *vm_config;     /* optional */
    const char *socket_path;   /* API socket */
    mode_t socket_mode;        /* 0 = 0660 */
    char *const *argv;         /* optional app command; NULL = serve until SIGTERM */
} kg_launch_opts;

/* Boots, serves, runs. Returns the process exit code: the app command's status, 0 after a
 * clean SIGTERM when serving only, or 1 with the reason on stderr when the boot failed or the
 * KMS refused (no key, no environment and no command in that case). */
int kg_agent_launch(const kg_launch_opts *o);

/* The KMS trust (agent_boot.h) the options name: root CA (ca_pem, borrowed), root secp256k1 key
 * from kms_k256_hex and/or kmsInfo on chain (which must agree, and whose root CA must be
 * ca_pem's), attestation (borrowed) only with a chain. *eth is the chain client when one is
 * named (caller frees with kg_eth_client_free after the last use of t). */
struct kg_kms_trust;
struct kg_ratls_policy;
struct kg_eth_client;
KG_RESULT kg_agent_trust_init(struct kg_kms_trust *t, struct kg_eth_client **eth,
                              const kg_launch_opts *o, const char *ca_pem,
                              const struct kg_ratls_policy *attestation);

/* Reads a whole file into out (appended, NUL-terminated; out's cap bounds the size). */
KG_RESULT kg_agent_read_file(kg_buf *out, const char *path, const char *what);

/* Serves agent on path until SIGTERM or SIGINT. */
KG_RESULT kg_agent_serve_until_signal(kg_agent *agent, const char *path, mode_t mode);

#endif
