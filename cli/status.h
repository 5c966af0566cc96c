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
 * settings (notice_period, guardian, ...), the allow-lists read from contract state (from the
 * history for contracts that cannot list them, "lists_from"), the history of the blocks h
 * selects with its range, warnings. app_text names the app in errors. *out is the caller's
 * (json_decref). */
KG_RESULT kg_cli_app_status(json_t **out, const kg_cli_target *t, const uint8_t app[20],
                            const char *app_text, const kg_chain_history_opts *h);

/* An app's allow-lists as its contract state holds them (app_lists.c). JSON arrays, owned: */
typedef struct kg_cli_app_lists {
    json_t *allowed;            /* compose hashes allowed at `block` (hex strings) */
    json_t *pending;            /* {compose_hash, activates_at} not yet allowed at `block` */
    json_t *devices;            /* allowed device ids (hex) */
    json_t *denied_advisories;  /* advisory ids (escaped unless UTF-8) */
    json_t *allowed_advisories; /* likewise */
    json_t *seen;               /* every compose hash listed (object keys) */
    bool enumerable;            /* false: no composeHashCount() (dstack, keygate before it) */
    uint64_t block, timestamp;  /* the latest block when the read began */
} kg_cli_app_lists;

/* Reads them page by page (only the compose hashes when compose_only). A contract without the
 * getters is no failure: l->enumerable is false and the lists stay empty. Free with
 * kg_cli_app_lists_free (also after a failure). */
KG_RESULT kg_cli_app_lists_read(kg_cli_app_lists *l, const kg_chain *c, const uint8_t app[20],
                                bool compose_only);
void kg_cli_app_lists_free(kg_cli_app_lists *l);

/* A list of bytes32 values from count_sig() and page_sig(offset, limit) of contract `to`,
 * appended to out as hex strings. *has is false (nothing appended) when the contract has no such
 * getter (older contracts). */
KG_RESULT kg_cli_word_list_read(json_t *out, bool *has, const kg_chain *c, const uint8_t to[20],
                                const char *count_sig, const char *page_sig);

/* The apps registered with the KMS contract of t, as checksummed address strings in a new JSON
 * array (*ids, the caller's): from its state (registeredAppPage), or, for a KMS contract that
 * cannot list them, from its AppRegistered events in the blocks h selects. Adds "apps_from"
 * ("contract" or "events") and, for events, the history range (kg_chain_history_json) to info.
 * KG_ERR_USAGE without a KMS contract. */
KG_RESULT kg_cli_registered_apps(json_t **ids, json_t *info, const kg_cli_target *t,
                                 const kg_chain_history_opts *h);

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
