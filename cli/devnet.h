/* devnet.h - what the devnet-aware commands share: the state directory and its devnet.json,
 * the signing key, background service processes, and small HTTP/JSON helpers. */
#ifndef KG_CLI_DEVNET_H
#define KG_CLI_DEVNET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

#define KG_DEVNET_DEFAULT_DIR ".keygate"
#define KG_DEVNET_FILE "devnet.json"
#define KG_DEVNET_MAX_FILE (256u * 1024u) /* devnet.json, bootstrap.json, deploy output */
#define KG_DEVNET_URL_MAX 256u
#define KG_CLI_MAX_HTTP_RESPONSE (4u * 1024u * 1024u)
#define KG_CLI_KEY_ENV "KEYGATE_PRIVATE_KEY"

/* anvil's first well-known development account: public knowledge, funded only on devnets.
 * Written to devnet.json (mode 0600) so commands run against the devnet sign with it by
 * default; never used unless devnet.json says so. */
#define KG_DEVNET_DEV_KEY "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

/*
 * DIR/devnet.json (mode 0600, written by `keygate devnet up`), one flat JSON object; other
 * programs (keygate sim run, tests) read it too, so these keys are an interface:
 *   version 1, state_dir (absolute), rpc_url, chain_id, kms_contract, app_implementation,
 *   kms_implementation, deployer, private_key (the devnet's funded key, 0x-hex),
 *   kms_url ("https://127.0.0.1:PORT"), kms_port, kms_admin_url (the KMS's admin listener,
 *   "http://127.0.0.1:PORT"), pccs_url, sim_dir, sim_root_ca (PEM),
 *   kms_config, kms_state_dir, kms_ca_cert (the KMS root CA PEM apps pin), audit_db,
 *   os_image_hash, kms_mr_aggregated, kms_device_id, k256_pubkey (KMS root, compressed hex).
 * Layout of DIR: devnet.json, chain/anvil-state.json, sim/, kms/ (config, bootstrap.json,
 * state/), logs/<service>.log, run/<service>.pid ("PID STARTTIME"), apps/.
 */

/* Resolves --state (NULL = KG_DEVNET_DEFAULT_DIR) to an absolute path in out. */
KG_RESULT kg_devnet_dir(char out[PATH_MAX], const char *state);

/* Loads DIR/devnet.json; *out is the caller's to json_decref. KG_ERR_NOT_FOUND with a hint to
 * run `keygate devnet up` when it does not exist. */
KG_RESULT kg_devnet_load(json_t **out, const char *dir);

/* Writes DIR/devnet.json atomically with mode 0600 (it holds the devnet key). */
KG_RESULT kg_devnet_save(const char *dir, const json_t *doc);

/* A string member of the state, or NULL. Borrowed from doc. */
const char *kg_devnet_str(const json_t *doc, const char *key);

/* Reads a whole (small) file into out (NUL-terminated), at most max bytes. */
KG_RESULT kg_cli_read_file(kg_buf *out, const char *path, size_t max);
/* A certificate file, PEM or DER (at most max bytes), as DER into der (initialised here; freed
 * when this fails). */
KG_RESULT kg_cli_read_cert_der(kg_buf *der, const char *path, size_t max);
/* Writes data to path atomically (temp file, fsync, rename) with the given mode. */
KG_RESULT kg_cli_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p with mode for each created component. */
KG_RESULT kg_cli_mkdirs(const char *path, mode_t mode);
/* path = a "/" b (KG_ERR_TOO_LARGE past PATH_MAX). */
KG_RESULT kg_cli_path(char out[PATH_MAX], const char *a, const char *b);

/* The directory holding this executable (for its sibling programs keygate-kms, ...). */
KG_RESULT kg_cli_bin_dir(char out[PATH_MAX]);
/* The source tree (for tools/ and scripts/): $KEYGATE_HOME, else the tree this binary was
 * built from. */
KG_RESULT kg_cli_source_dir(char out[PATH_MAX]);

/* ---- signing key ---------------------------------------------------------------------------
 * One source, in this order: --private-key-file FILE (0x-hex, must not be readable by group
 * or others), $KEYGATE_PRIVATE_KEY, the devnet key of devnet.json (when state is not NULL).
 * key is a secret: the caller wipes it. */
KG_RESULT kg_cli_signing_key(uint8_t key[32], const char *key_file, const json_t *state);

/* ---- background services -------------------------------------------------------------------- */
typedef struct kg_proc {
    pid_t pid;
    unsigned long long start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
} kg_proc;

/* Starts argv[0] (a path) in its own session, stdin from /dev/null, stdout and stderr
 * appended to log_path; records it in DIR/run/<name>.pid. */
KG_RESULT kg_proc_spawn(kg_proc *out, const char *dir, const char *name, char *const argv[],
                        const char *log_path);
/* Whether DIR/run/<name>.pid names a process that is still the one we started. */
bool kg_proc_alive(kg_proc *out, const char *dir, const char *name);
/* Stops the service recorded for name (SIGTERM to its process group, SIGKILL after
 * timeout_ms), only if it is still the process we started; removes the pid file. Sets
 * *was_running. */
KG_RESULT kg_proc_stop(const char *dir, const char *name, unsigned timeout_ms, bool *was_running);
/* Runs argv to completion, stdout into out (capped, may be NULL to discard), stderr appended
 * to log_path (or inherited if NULL); extra_env entries ("K=V", may be NULL) are added. Fails
 * with KG_ERR_IO naming the program if it exits non-zero. */
KG_RESULT kg_proc_run(kg_buf *out, char *const argv[], const char *log_path,
                      char *const extra_env[]);

/* ---- HTTP (libcurl) --------------------------------------------------------------------------
 * POST (body != NULL) or GET url; *status receives the HTTP status, the body is appended to
 * resp. insecure skips TLS certificate checks: only for peers whose answers are verified
 * otherwise (KMS replies signed by the root key recorded on chain) or for liveness probes. */
KG_RESULT kg_cli_http(kg_buf *resp, long *status, const char *url, const char *body, bool insecure,
                      long timeout_ms);

/* Prints a JSON value on stdout (indented, or compact when compact). */
void kg_cli_print_json(const json_t *v, bool compact);
/* Sets out's "state" to "allowed", "pending" (with "activates_at", when a proposal takes effect:
 * activates_at non-zero) or "none": where a governed value stands after a write. */
void kg_cli_put_value_state(json_t *out, bool allowed, uint64_t activates_at);

#endif
