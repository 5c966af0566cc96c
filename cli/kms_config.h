/* kms_config.h - the keygate-kms configuration as the CLI writes it: one builder behind
 * `keygate devnet up` (DIR/kms/kms.json), `keygate kms config --state DIR` and
 * `keygate kms config --example` (kms/kms.example.json), so the three never drift apart. */
#ifndef KG_CLI_KMS_CONFIG_H
#define KG_CLI_KMS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keygate/result.h"

/* What a devnet KMS's config depends on; every string is borrowed. */
typedef struct kg_cli_kms_config {
    const char *listen_address; /* NULL = 127.0.0.1 */
    uint16_t port;              /* 0 = any free port (--port-file reports it) */
    const char *state_dir;      /* the KMS's state directory (root keys, audit.db) */
    const char *rpc_url;        /* the devnet's chain node */
    const char *kms_contract;   /* 0x-address */
    uint64_t chain_id;
    const char *pccs_url;
    const char *sim_ca_file;  /* the simulated platform's root CA (trust_root kind sim) */
    const char *sim_dir;      /* the simulated platform (tee backend sim) */
    const char *sim_vm;       /* NULL = "kms" */
    const char *admin_listen; /* NULL = none */
    const char *log_format;   /* NULL = the default (text), not written */
} kg_cli_kms_config;

/* The config document for a KMS on a devnet's simulated platform; *out is the caller's to
 * json_decref. Checked with the KMS's own strict parser (kg_kms_config_parse) before it is
 * returned, so what the CLI writes is what keygate-kms loads. */
KG_RESULT kg_cli_kms_config_devnet(json_t **out, const kg_cli_kms_config *p);

/* The documented example for a production KMS on TDX hardware (kms/kms.example.json), every
 * key present, same check. */
KG_RESULT kg_cli_kms_config_example(json_t **out);

/* The document as written to files: 2-space indent, keys in order, final newline. The caller
 * frees the text. */
KG_RESULT kg_cli_kms_config_text(char **out, const json_t *doc);

/* `keygate kms config` (argv[0] is "config"). */
int kg_cmd_kms_config(int argc, char **argv);

#endif
