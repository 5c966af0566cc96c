/* agent.h - keygate-agent: the app-facing dstack API (docs/protocol.md section 6, agent/API.md)
 * served on a unix socket, over the keys the KMS released and the TEE the app runs in. */
#ifndef KEYGATE_AGENT_H
#define KEYGATE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/kdf.h"
#include "keygate/result.h"
#include "keygate/sizes.h"

#define KG_AGENT_DEFAULT_SOCKET "/var/run/dstack.sock"
#define KG_AGENT_SOCKET_MODE 0660       /* default; stricter modes may be asked for */
#define KG_AGENT_MAX_BODY (64u * 1024u) /* request body cap; the SDK sends < 1 KiB */
#define KG_AGENT_MAX_RESPONSE (4u * 1024u * 1024u)
#define KG_AGENT_MAX_STRING 1024u /* GetKey path/purpose, TLS subject, one alt name */
#define KG_AGENT_MAX_ALT_NAMES 32u
#define KG_AGENT_MAX_EVENT_NAME 64u
#define KG_AGENT_MAX_EVENT_PAYLOAD 4096u
#define KG_AGENT_MAX_SIGN_DATA (16u * 1024u)
#define KG_AGENT_MAX_CHAIN 4u /* certificates in a GetTlsKey chain */
#define KG_MR_LEN 48

/* Root-key epochs (docs/design.md, "Root-key epochs"): during a migration window the KMS also
 * releases the app's keys under each retiring epoch, so data sealed under them can be re-keyed. */
#define KG_AGENT_MAX_PREVIOUS_EPOCHS 4u

/* One previous (retiring) epoch's keys of the app: a "previous_keys" entry of GetAppKey. */
typedef struct kg_agent_epoch_keys {
    uint32_t root_epoch;
    uint8_t k256_key[KG_K256_SCALAR_LEN];
    uint8_t k256_signature[KG_K256_RECSIG_LEN]; /* that epoch's root key over the app key */
    uint8_t disk_key[32];
    uint8_t env_key[KG_X25519_LEN];
} kg_agent_epoch_keys;

/* What the KMS released by GetAppKey (docs/protocol.md section 5). Secrets: wipe with
 * kg_agent_keys_wipe. */
typedef struct kg_agent_keys {
    uint8_t k256_key[KG_K256_SCALAR_LEN];       /* app secp256k1 key */
    uint8_t k256_signature[KG_K256_RECSIG_LEN]; /* KMS root over the app public key */
    uint8_t disk_key[32];
    uint8_t env_key[KG_X25519_LEN];
    char *ca_cert;        /* owned PEM: the KMS root CA certificate, or NULL */
    char *gateway_app_id; /* owned, or NULL */
    /* The app the keys were released to: "app_id" of a keys file written by `boot --keys-out`
     * (absent from a KMS reply and from older keys files: has_app_id false). */
    bool has_app_id;
    uint8_t app_id[20];
    /* The release's receipt (receipt.h), the reply's "receipt" object as compact JSON text
     * (owned), or NULL when it has none. Parsing does not verify it: the boot flow does before
     * any key is used, and GetKeyReceipt serves it. */
    char *receipt;
    /* The root-key epoch of the keys above ("root_epoch"; absent from a KMS that never heard of
     * epochs: has_root_epoch false, which is epoch 0), and the keys of older epochs still
     * retiring ("previous_keys", oldest last as the KMS sends them; n_previous 0 when none).
     * Parsing checks their shape (each epoch older than root_epoch, none twice); the boot flow
     * verifies each k256_signature against that epoch's key on chain before keeping them
     * (kg_agent_epochs_verify). */
    bool has_root_epoch;
    uint32_t root_epoch;
    kg_agent_epoch_keys previous[KG_AGENT_MAX_PREVIOUS_EPOCHS];
    size_t n_previous;
} kg_agent_keys;

/* Wipes the secrets and frees the strings; the struct is all-zero afterwards. NULL-safe. */
void kg_agent_keys_wipe(kg_agent_keys *keys);

/* Parses a GetAppKey reply (docs/protocol.md section 5; also the keys file format). A reply
 * carrying "error" fails with KG_ERR_DENIED and the KMS's reason. out is wiped on failure; caller
 * wipes it with kg_agent_keys_wipe. */
KG_RESULT kg_agent_keys_parse(kg_agent_keys *out, const char *json, size_t len);
/* Loads a keys file; refuses one readable or writable by group or others (KG_ERR_DENIED). */
KG_RESULT kg_agent_keys_load(kg_agent_keys *out, const char *path);
/* Writes a secret atomically to path with mode 0600 (temp file + rename). */
KG_RESULT kg_agent_write_secret_file(const char *path, const void *data, size_t len);

/* The app's identity as measured at boot (docs/protocol.md section 2); all fields borrowed by
 * kg_agent_new, which copies them. Strings may be NULL (treated as ""). */
typedef struct kg_agent_identity {
    uint8_t app_id[KG_APP_ID_LEN];
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    size_t instance_id_len; /* 0 (opted out) or 20 */
    uint8_t compose_hash[32];
    uint8_t device_id[32];
    uint8_t os_image_hash[32];
    const char *app_compose;       /* raw app-compose.json text */
    const char *key_provider_info; /* the key-provider event payload */
    const char *vm_config;
} kg_agent_identity;

/* What GetTlsKey asks the KMS to certify (the fields of the SDK's request). */
typedef struct kg_agent_cert_request {
    const char *subject;
    const char *alt_names[KG_AGENT_MAX_ALT_NAMES];
    size_t n_alt_names;
    bool usage_server_auth;
    bool usage_client_auth;
    bool usage_ra_tls; /* embed a quote binding the key (RA-TLS extension) */
    bool with_app_info;
    bool has_not_before, has_not_after;
    uint64_t not_before, not_after; /* unix seconds */
} kg_agent_cert_request;

/* A PEM certificate chain, leaf first; each entry owned. */
typedef struct kg_pem_chain {
    char *pem[KG_AGENT_MAX_CHAIN];
    size_t n;
} kg_pem_chain;

void kg_pem_chain_free(kg_pem_chain *chain); /* frees entries, zeroes; NULL-safe */

/*
 * The platform under the API: the TEE (quotes, RTMR3) and the KMS (certificates). The boot
 * flow binds it to the real or simulated TEE and to the KMS the keys came from.
 */
typedef struct kg_agent_platform {
    void *ctx;
    /* A quote over report_data; appends the raw quote to *quote and the event log (JSON array
     * text, docs/protocol.md section 2, covering every RTMR the quote carries) to *event_log. */
    kg_result (*quote)(void *ctx, const uint8_t report_data[KG_REPORT_DATA_LEN], kg_buf *quote,
                       kg_buf *event_log);
    /* Extends RTMR3 with a runtime event (docs/protocol.md section 2) and logs it. */
    kg_result (*emit_event)(void *ctx, const char *name, const uint8_t *payload, size_t len);
    /* Has the KMS certify `key` under the app CA (SignCert); fills *chain (leaf, app CA, root
     * CA). NULL when no KMS is reachable: GetTlsKey then fails cleanly. */
    kg_result (*sign_cert)(void *ctx, const kg_p256_key *key, const kg_agent_cert_request *req,
                           kg_pem_chain *chain);
} kg_agent_platform;

typedef struct kg_agent kg_agent;

/* Creates the API state; copies keys, identity and platform (the platform's ctx stays
 * borrowed and must outlive the agent). Caller frees with kg_agent_free. */
KG_RESULT kg_agent_new(kg_agent **out, const kg_agent_keys *keys, const kg_agent_identity *id,
                       const kg_agent_platform *platform);
void kg_agent_free(kg_agent *agent); /* wipes the keys; NULL-safe */

/*
 * Handles one API call: `method` is the path after "/" ("GetKey", also "prpc/GetKey" and a
 * trailing "?json"), `body` the request JSON (untrusted, at most KG_AGENT_MAX_BODY bytes).
 * Always produces a JSON response in *response (appended) and an HTTP status in *status:
 * 200 with the result, or {"error":"..."} with the KMS's status for the error's kind
 * (kg_err_http_status: 400 bad request, 403 refused, 404 unknown, 503 could not decide, e.g.
 * no KMS reachable or able to decide for GetTlsKey, 500 a bug). Fails only when no response at
 * all can be produced (out of memory).
 */
KG_RESULT kg_agent_handle(kg_agent *agent, const char *method, const uint8_t *body, size_t body_len,
                          int *status, kg_buf *response);

/* GetKey's derivation (docs/protocol.md section 6): key = HKDF-SHA256(app key, "RATLS", path);
 * signature_chain[0] = app key over keccak256(purpose ":" hex(pubkey)). Outputs zeroed on
 * failure. algorithm: "secp256k1", "k256", "" or "ed25519". */
KG_RESULT kg_agent_get_key(uint8_t key[32], uint8_t *pub, size_t *pub_len,
                           uint8_t sig[KG_K256_RECSIG_LEN],
                           const uint8_t app_k256_key[KG_K256_SCALAR_LEN], const char *path,
                           const char *purpose, const char *algorithm);

/* ---- the unix-socket server ------------------------------------------------------------------ */

typedef struct kg_agent_server kg_agent_server;

/*
 * Binds the API to a unix socket at `path` with `mode` (0660 or stricter; 0 = default).
 * Refuses a path that exists and is not a socket, and a socket something still listens on;
 * removes a stale socket. The agent is borrowed. Caller frees with kg_agent_server_free, which
 * also removes the socket file.
 */
KG_RESULT kg_agent_server_new(kg_agent_server **out, kg_agent *agent, const char *path,
                              mode_t mode);
/* Serves until kg_agent_server_stop (from any thread or a signal handler's loop). */
KG_RESULT kg_agent_server_run(kg_agent_server *srv);
void kg_agent_server_stop(kg_agent_server *srv);
void kg_agent_server_free(kg_agent_server *srv);

#endif
