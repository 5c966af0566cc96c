/* receipt.h - the receipt of a key release (docs/design.md, "Receipts"): the release's decision
 * log entry, its leaf index, an RFC 9162 inclusion proof, the signed checkpoint of the tree it
 * is proven against, and the log key with its certificate by the KMS root secp256k1 key. The
 * KMS adds it to every GetAppKey and SignCert answer as "receipt"; keygate-agent verifies it
 * before it uses the keys and serves it to the app (agent/API.md, GetKeyReceipt).
 *
 * JSON (all byte strings lowercase hex):
 *   {"entry": hex, "leaf_index": n, "tree_size": n, "inclusion_proof": [hex32, ...],
 *    "checkpoint": "<C2SP signed note>",
 *    "log_key": {"name": str, "pubkey": hex32, "cert": hex65}}
 * Exactly these members, each once; parsing is pure, verification is a separate step. */
#ifndef KEYGATE_RECEIPT_H
#define KEYGATE_RECEIPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/result.h"
#include "keygate/tlog.h"

#define KG_RECEIPT_MAX_JSON (4u * KG_LOG_MAX_ENTRY + 64u * 1024u) /* a receipt's JSON text */

typedef struct kg_log_receipt {
    kg_buf entry; /* canonical entry bytes (owned, at most KG_LOG_MAX_ENTRY) */
    uint64_t leaf_index;
    uint64_t tree_size;
    kg_tlog_proof proof;
    kg_buf checkpoint; /* the signed note (owned, at most KG_NOTE_MAX) */
    char log_name[KG_NOTE_MAX_NAME];
    uint8_t log_pub[KG_ED25519_PUB_LEN];
    uint8_t log_cert[KG_K256_RECSIG_LEN]; /* root k256 over kg_log_key_cert_digest */
} kg_log_receipt;

/* Initialises the buffers (empty); kg_log_receipt_free releases them. */
void kg_log_receipt_init(kg_log_receipt *r);
void kg_log_receipt_free(kg_log_receipt *r); /* NULL-safe; leaves r initialised and empty */

/* Appends the receipt's JSON object text (the layout above) to out. */
KG_RESULT kg_log_receipt_to_json(kg_buf *out, const kg_log_receipt *r);

/* Reads a receipt object (untrusted) into *out (initialised here; free it also on failure).
 * Every member is required, none may repeat or be unknown, hex must be exact and sizes within
 * the caps. Nothing is verified. KG_ERR_INPUT names the bad member. */
KG_RESULT kg_log_receipt_parse(kg_log_receipt *out, const json_t *obj);

/*
 * Verifies the receipt against the KMS root secp256k1 key (compressed, as kmsInfo publishes it):
 *   1. the log key's certificate by the root key (kg_log_key_cert_verify);
 *   2. the checkpoint's signature by that log key, its origin = the key name, its size =
 *      tree_size;
 *   3. leaf_index < tree_size and the inclusion proof of SHA-256(0x00 || entry) at leaf_index
 *      against the checkpoint's root;
 *   4. the entry parses (canonical bytes) and names this log key's node (node_id = SHA-256 of
 *      the log public key).
 * On KG_OK *entry holds the parsed entry (its strings borrowed from r->entry). Any failure is
 * KG_ERR_VERIFY (or KG_ERR_INPUT for a malformed part), the message names the step.
 */
KG_RESULT kg_log_receipt_verify(kg_log_entry *entry, const kg_log_receipt *r,
                                const uint8_t root_k256[KG_K256_PUB_LEN]);

/* What a release's entry must say for the one who received it (keygate-agent after
 * GetAppKey): an allow of `method` for this verified app, compose hash and instance, the OS
 * image it measured, and the public fingerprints of what it received. */
typedef struct kg_log_release_expect {
    const char *method;                 /* "GetAppKey", "SignCert" */
    const uint8_t *app_id;              /* KG_APP_ID_LEN */
    const uint8_t *compose_hash;        /* KG_COMPOSE_HASH_LEN */
    const uint8_t *instance_id;         /* instance_id_len bytes (0: none); NULL: not checked */
    size_t instance_id_len;             /* 0 or KG_INSTANCE_ID_LEN */
    const uint8_t *os_image_hash;       /* KG_MEASUREMENT_LEN, or NULL: not checked */
    const char *const *released_names;  /* members of the entry's "released" object */
    const char *const *released_values; /* ... and the string each must hold */
    size_t n_released;
} kg_log_release_expect;

/* KG_ERR_VERIFY unless the entry is such a release (the message names the first field that
 * differs). */
KG_RESULT kg_log_release_check(const kg_log_entry *e, const kg_log_release_expect *want);

#endif
