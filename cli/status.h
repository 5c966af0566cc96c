/* status.h - the JSON of the CLI's read-only views (`app status`, `kms status`, `audit verify`),
 * built once and shared by their --json/text output and `keygate dashboard`. */
#ifndef KG_CLI_STATUS_H
#define KG_CLI_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "chain.h"

/* `keygate app status --json` of app (cmd_app.c): owner (and owner_is_contract), registered,
 * settings (notice_period, guardian, ...), allowed and pending compose hashes, the history from
 * from_block, warnings. app_text names the app in errors. *out is the caller's (json_decref). */
KG_RESULT kg_cli_app_status(json_t **out, const kg_cli_target *t, const uint8_t app[20],
                            const char *app_text, uint64_t from_block);

/* `keygate kms status --json` (cmd_kms.c): KMS contract, owner, root key, governance notice,
 * chain view, allowed and pending MRs, devices and OS images. *out is the caller's. */
KG_RESULT kg_cli_kms_status(json_t **out, const kg_cli_target *t, uint64_t from_block);

/* What `keygate audit verify` checks (cmd_audit_verify.c); every pointer may be NULL. */
typedef struct kg_cli_verify_opts {
    const char *db, *state, *kms_url, *key_file, *rpc_url, *kms_contract, *root_k256;
    bool no_replay;
    /* With kms_url: the served log's newest max_entries entries are appended to entries (when
     * not NULL) as kg_audit_entry_json rows, for readers without the database. */
    json_t *entries;
    uint64_t max_entries;
} kg_cli_verify_opts;

/* Runs the verification, writing its report (the lines `audit verify` prints) to out, and
 * appending each violation to violations (may be NULL) as {"entry": index or null, "message"}.
 * *violation_count is how many there were: the log verifies when it is 0. Fails only when the
 * verification could not run (a missing database, an unreachable chain). */
KG_RESULT kg_cli_audit_verify_run(FILE *out, json_t *violations, uint64_t *violation_count,
                                  const kg_cli_verify_opts *o);

#endif
