/* audit.h - the KMS's durable decision log in SQLite: every key-release decision, allowed or
 * denied, committed (WAL, synchronous=FULL) before any key leaves (docs/protocol.md section 5). */
#ifndef KEYGATE_AUDIT_H
#define KEYGATE_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/identity.h"
#include "keygate/result.h"
#include "keygate/tlog.h"

#define KG_AUDIT_MAX_FIELD 4096u /* longest text stored in one column (reasons, JSON lists) */

typedef struct kg_audit kg_audit;

/* One decision. Every pointer is borrowed and may be NULL (stored as NULL). Never put secrets
 * here: released keys appear only as public fingerprints. */
typedef struct kg_audit_record {
    int64_t time_ms;    /* Unix time in milliseconds; 0 = now */
    const char *method; /* "GetAppKey", "SignCert", "self-check", ... */
    const char *peer;   /* remote address of the caller */
    bool allowed;       /* the decision */
    const char *reason; /* why (the governance reason or the failing check's message) */
    /* Who asked: the verified identity (identity.h), stored field by field as lowercase hex;
     * or, when the caller's attestation did not verify, only the app id its certificate
     * claims (the reason says so). At most one of the two. */
    const kg_boot_identity *identity;
    const uint8_t *claimed_app_id; /* KG_APP_ID_LEN bytes */
    int64_t block_number;          /* block the policy was read at; -1 = none */
    const char *block_hash;
    const char *released; /* JSON object {"k256_pubkey": "...", ...} of public fingerprints */
} kg_audit_record;

/* Opens (creating if needed, mode 0600) the log at path in WAL mode with synchronous=FULL.
 * read_only opens an existing log for inspection. Caller frees with kg_audit_free. */
KG_RESULT kg_audit_open(kg_audit **out, const char *path, bool read_only);
void kg_audit_free(kg_audit *audit);

/* Appends rec and commits durably before returning; thread-safe (appends are serialized and
 * concurrent appends share one commit). In the same transaction the decision is appended to the
 * verifiable log (tlog.h: its canonical entry, leaf hash and every subtree hash it completes),
 * so a row exists exactly when its leaf does. On failure neither exists and nothing may be
 * released. *id_out (may be NULL) receives the row id. */
KG_RESULT kg_audit_append(kg_audit *audit, const kg_audit_record *rec, int64_t *id_out);
/* The same, and *leaf_out (may be NULL) receives the decision's index in the verifiable log
 * (what a receipt proves). */
KG_RESULT kg_audit_append_leaf(kg_audit *audit, const kg_audit_record *rec, int64_t *id_out,
                               uint64_t *leaf_out);

/* The newest `limit` records (0 = all), oldest first, as a JSON array of objects with the
 * field names above plus "id" and "decision" ("allow" | "deny"). Caller json_decref()s. */
KG_RESULT kg_audit_list(json_t **out, kg_audit *audit, uint32_t limit);

/* Which records kg_audit_query returns: each set field must match; a zeroed filter matches
 * every record. Strings are borrowed. */
typedef struct kg_audit_filter {
    const char *method;   /* exactly this method ("GetAppKey", "self-check", ...) */
    const char *decision; /* "allow" or "deny" */
    const char *app_id;   /* 40 lowercase hex digits, as stored */
    bool has_since, has_until;
    int64_t since_ms; /* time_ms >= since_ms */
    int64_t until_ms; /* time_ms < until_ms */
    uint32_t limit;   /* only the newest `limit` of the matching records; 0 = all */
} kg_audit_filter;

/* The records f matches, oldest first, shaped as kg_audit_list's. Caller json_decref()s. */
KG_RESULT kg_audit_query(json_t **out, kg_audit *audit, const kg_audit_filter *f);

/* ---- the verifiable log (docs/design.md, "The decision log") -------------------------------
 * Tables log_entries (idx, decision_id, entry), log_hashes (level, idx, hash: every complete
 * subtree, so tiles and proofs are O(log n) reads), log_checkpoints (signed notes), log_meta
 * (the log key, its name and certificate). */

/* The node id written into every later entry (SHA-256 of this node's log public key). */
void kg_audit_set_node_id(kg_audit *audit, const uint8_t node_id[KG_LOG_NODE_ID_LEN]);
/* The committed tree's size and root, from memory (writable logs only; no database read). */
KG_RESULT kg_audit_log_head(kg_audit *audit, uint64_t *size, uint8_t root[KG_TLOG_HASH_LEN]);
/* The number of entries in the database (KG_ERR_INPUT if their indices have gaps). */
KG_RESULT kg_audit_log_size(kg_audit *audit, uint64_t *size);
/* A kg_tlog_reader over the stored hashes; ctx is the kg_audit. */
kg_result kg_audit_log_hash(void *ctx, uint32_t level, uint64_t index,
                            uint8_t out[KG_TLOG_HASH_LEN]);
/* Appends entry `index`'s bytes to out; *decision_id (may be NULL) is its row. */
KG_RESULT kg_audit_log_entry(kg_audit *audit, uint64_t index, kg_buf *out, int64_t *decision_id);
/* A C2SP tile (hashes) or entry bundle as of a tree of tree_size entries, appended to out;
 * KG_ERR_NOT_FOUND when the tree has no such tile at that width. */
KG_RESULT kg_audit_log_tile(kg_audit *audit, kg_buf *out, const kg_tlog_tile *t,
                            uint64_t tree_size);
/* Stores a signed checkpoint note (serialized with the appends). */
KG_RESULT kg_audit_put_checkpoint(kg_audit *audit, uint64_t size, const uint8_t *note, size_t len);
/* The newest stored checkpoint note, appended to note; KG_ERR_NOT_FOUND when none. */
KG_RESULT kg_audit_latest_checkpoint(kg_audit *audit, kg_buf *note);
/* Log metadata ("log_name", "log_pubkey", "log_key_cert", "first_decision"). get appends the
 * value NUL-terminated; KG_ERR_NOT_FOUND when absent. */
KG_RESULT kg_audit_put_meta(kg_audit *audit, const char *key, const char *value);
KG_RESULT kg_audit_get_meta(kg_audit *audit, const char *key, kg_buf *out);

/* Signs the committed tree head as a C2SP checkpoint of the log `name` (its origin and key
 * name) with the Ed25519 key of seed and stores it; the signed note is appended to note (may
 * be NULL), its size to *size (may be NULL). */
KG_RESULT kg_audit_checkpoint(kg_audit *audit, const char *name,
                              const uint8_t seed[KG_ED25519_SEED_LEN], kg_buf *note,
                              uint64_t *size);

/* ---- verification (lib/audit/verify.c; `keygate audit verify`) ---------------------------- */

/* Governance replay of one allow entry: KG_OK when governance allowed it at its recorded
 * block, KG_ERR_DENIED (message: why) when it did not; any other error means it could not be
 * asked (also a violation: the log cannot be shown to be right). */
typedef kg_result (*kg_audit_policy_fn)(void *ctx, const kg_log_entry *e);
/* Every violation, with the entry index (UINT64_MAX when it is about no one entry). */
typedef void (*kg_audit_report_fn)(void *ctx, uint64_t index, const char *msg);

typedef struct kg_audit_verify_opts {
    /* The log key: when NULL, the one stored in log_meta (whose certification the caller
     * checks against the KMS root with kg_log_key_cert_check). */
    const char *log_name;
    const uint8_t *log_pub;    /* KG_ED25519_PUB_LEN */
    kg_audit_policy_fn policy; /* NULL: no governance replay */
    void *policy_ctx;
    kg_audit_report_fn report;
    void *report_ctx;
} kg_audit_verify_opts;

typedef struct kg_audit_verify_result {
    uint64_t entries, checkpoints, rows, rows_before_log, allows_replayed, violations;
    uint64_t signed_size; /* the largest checkpointed size */
} kg_audit_verify_result;

/* Checks the whole log in one pass: every checkpoint's signature and root against the tree
 * recomputed from the entries (a fork, a rewrite or deleted entries show), the stored hashes
 * (inclusion proofs from them for a sample and for the newest entry, consistency proofs between
 * successive checkpoints), every entry against its audit row (an edited or deleted row shows)
 * and every row against its entry, and, with opts->policy, each allow entry's governance at its
 * block. KG_OK when it could run to the end (res->violations counts what it found). */
KG_RESULT kg_audit_verify(kg_audit *audit, const kg_audit_verify_opts *opts,
                          kg_audit_verify_result *res);

/* The log key's certification by the KMS root secp256k1 key: a recoverable signature over
 * keccak256("keygate-log-key-v1\n" || name || "\n" || pub). */
KG_RESULT kg_log_key_cert_digest(uint8_t digest[32], const char *name,
                                 const uint8_t pub[KG_ED25519_PUB_LEN]);
/* KG_ERR_VERIFY unless cert (65 bytes r || s || v) by root_k256 (compressed) certifies the
 * log key (name, pub). */
KG_RESULT kg_log_key_cert_verify(const uint8_t root_k256[33], const char *name,
                                 const uint8_t pub[KG_ED25519_PUB_LEN], const uint8_t cert[65]);

/* The decision a log entry records, as the JSON object kg_audit_list gives for its row ("id" is
 * the entry's audit_id; text that is not UTF-8 escaped as \xNN). Caller json_decref()s *out. */
KG_RESULT kg_audit_entry_json(json_t **out, const kg_log_entry *e);

#endif
