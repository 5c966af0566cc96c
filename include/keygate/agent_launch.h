/* agent_launch.h - one app VM's agent from inputs to a running app: the flow behind
 * `keygate-agent boot` and `keygate sim run`. */
#ifndef KEYGATE_AGENT_LAUNCH_H
#define KEYGATE_AGENT_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "keygate/agent.h"
#include "keygate/bytes.h"
#include "keygate/envcrypt.h"
#include "keygate/ratls.h"

#define KG_LAUNCH_MAX_KMS 8
/* Intel's Provisioning Certification Service (v4 API): collateral for genuine TDX platforms,
 * used to verify the KMS's attestation when no PCCS is named on real TDX. */
#define KG_INTEL_PCS_URL "https://api.trustedservices.intel.com"

typedef struct kg_launch_opts {
    const char *prog;         /* for messages */
    const char *tee_spec;     /* "tdx" or "sim:<platform_dir>:<vm>" (tee.h) */
    const char *app_id_hex;   /* 20 bytes */
    const char *compose_path; /* app-compose.json */
    const char *state_dir;    /* instance seed lives here */
    const char *kms_urls[KG_LAUNCH_MAX_KMS];
    size_t n_kms_urls;
    const char *kms_ca_path;      /* pinned KMS root CA (PEM) */
    const char *kms_k256_hex;     /* the KMS root secp256k1 key (33 bytes compressed, hex); or
                                     read from kmsInfo with rpc_url + kms_contract */
    const char *rpc_url;          /* chain node: kmsInfo and isKmsAllowed (with pccs_url) */
    const char *kms_contract;     /* the KMS contract address (0x...) */
    const char *pccs_url;         /* verify each KMS's attestation with this PCCS, and that
                                     governance allows it (needs rpc_url + kms_contract); NULL:
                                     Intel's PCS on real TDX when rpc_url is given; "none": off */
    const char *tee_root_ca_path; /* optional: quote trust root (PEM/DER) instead of Intel's;
                                     the simulator's root CA for simulated KMS nodes */
    const char *env_path;         /* optional: encrypted environment (hex from encryptEnvVars) */
    const char *disk_key_path;    /* optional: where to write the disk key (mode 0600) */
    const char *keys_out_path;    /* optional: the app keys as a keys file (mode 0600) for a
                                     separate `keygate-agent serve` */
    const char *env_out_path;     /* optional: the decrypted environment as KEY=VALUE lines
                                     (mode 0600) for services started outside the agent */
    const char *vm_config;        /* optional */
    long kms_retry_ms;            /* retry window over the KMS URLs (0: one round) */
    kg_ratls_format ratls_format; /* RA-TLS client certificate evidence: 0 = legacy .1/.2 */
    const char *socket_path;      /* API socket */
    mode_t socket_mode;           /* 0 = 0660 */
    char *const *argv;            /* optional app command; NULL = serve until SIGTERM */
    const char *app_user;         /* who runs argv: "USER|UID[:GROUP|GID]"; NULL = the default
                                     (kg_app_user_resolve) */
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

/* ---- the app's identity: it never runs with the agent's privileges ---------------------------
 *
 * An app running as root could extend RTMR3 itself (on the simulator by writing the VM's
 * rtmr3 and eventlog.json, on TDX through the RTMR extend interface), read the agent's state
 * (instance seed, keys files) and then have the agent quote the forged measurements. So when
 * the agent runs as root it starts the app as another user:
 *   - --app-user USER|UID[:GROUP|GID] when given (a name takes its primary group and its
 *     supplementary groups from the group database; UID:GID takes exactly that group);
 *   - else the dedicated user "keygate-app" when it exists;
 *   - else "nobody" (65534:65534 when it has no passwd entry). nobody is shared with other
 *     daemons, so a dedicated keygate-app user is better (useradd --system keygate-app).
 * "--app-user root" (or uid 0) keeps the app root and prints a warning: it can then forge the
 * measurements the KMS trusts. When the agent is not root nothing changes (it cannot switch
 * users): the app runs as the agent's uid, and --app-user may name only that uid.
 */
#define KG_APP_USER_DEFAULT "keygate-app"
#define KG_APP_USER_FALLBACK "nobody"
#define KG_APP_USER_MAX_GROUPS 64

typedef struct kg_app_user {
    bool drop; /* false: the app keeps the agent's ids (agent not root, or root asked for) */
    uid_t uid;
    gid_t gid;
    gid_t groups[KG_APP_USER_MAX_GROUPS]; /* supplementary groups (setgroups) */
    size_t n_groups;
    char name[64];  /* "" when the uid has no passwd entry */
    char home[256]; /* HOME for the app; "" = leave HOME as it is */
} kg_app_user;

/* Resolves spec (NULL = the default above) for this process's euid. Errors: an unknown user or
 * group (KG_ERR_USAGE), a non-root agent asked for another uid (KG_ERR_DENIED). Warnings go to
 * stderr prefixed with prog. Call it before any thread is started (it reads the user db). */
KG_RESULT kg_app_user_resolve(kg_app_user *out, const char *spec, const char *prog);

/* kg_agent_serve_and_run (agent_boot.h) with the app started as `user` (NULL = the default of
 * kg_app_user_resolve). In the child, before exec: every fd but 0-2 closed, supplementary
 * groups, gid and uid switched (real, effective, saved), checked that root cannot be regained,
 * PR_SET_NO_NEW_PRIVS, HOME/USER/LOGNAME of the user; the cwd stays. The API socket is given
 * to the user's group (mode 0660) so the app can connect; its directory must be traversable by
 * the user (the child checks and fails with exit 126 and the reason if it is not). */
KG_RESULT kg_agent_serve_and_run_as(int *exit_status, kg_agent *agent, const char *socket_path,
                                    mode_t mode, const kg_env_list *env, char *const argv[],
                                    const kg_app_user *user);

/* Reads a whole file into out (appended, NUL-terminated; out's cap bounds the size). */
KG_RESULT kg_agent_read_file(kg_buf *out, const char *path, const char *what);

/* Serves agent on path until SIGTERM or SIGINT. */
KG_RESULT kg_agent_serve_until_signal(kg_agent *agent, const char *path, mode_t mode);

#endif
