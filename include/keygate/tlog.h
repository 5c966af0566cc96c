/* tlog.h - the verifiable decision log's formats (docs/design.md, "The decision log"):
 *   - RFC 9162 section 2.1 Merkle tree hashing, tree heads, inclusion and consistency proofs;
 *   - C2SP tlog-tiles paths (tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]), tile height 8;
 *   - C2SP tlog-checkpoint bodies (origin, decimal size, base64 root hash);
 *   - C2SP signed-note with Ed25519 (key name + 4-byte key hash), OpenSSL's Ed25519;
 *   - the log entry: canonical bytes of one decision (kg_log_entry).
 * Every parser reads through kg_reader with the caps below. */
#ifndef KEYGATE_TLOG_H
#define KEYGATE_TLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/identity.h"
#include "keygate/result.h"

#define KG_TLOG_HASH_LEN 32u
#define KG_TLOG_TILE_HEIGHT 8u
#define KG_TLOG_TILE_WIDTH 256u              /* hashes (or entries) in a full tile */
#define KG_TLOG_MAX_LEVELS 64u               /* stored-hash levels of a tree of < 2^63 leaves */
#define KG_TLOG_MAX_PROOF 64u                /* hashes in a proof */
#define KG_TLOG_MAX_SIZE ((uint64_t)1 << 62) /* largest tree size accepted from outside */
#define KG_TLOG_MAX_PATH 128u                /* a tile path, as requested over HTTP */

#define KG_NOTE_MAX 16384u    /* a signed note (text + signatures) */
#define KG_NOTE_MAX_SIGS 100u /* signature lines in a note */
#define KG_NOTE_MAX_NAME 128u /* a key name, incl. NUL */
#define KG_ED25519_PUB_LEN 32u
#define KG_ED25519_SEED_LEN 32u
#define KG_ED25519_SIG_LEN 64u
#define KG_CHECKPOINT_MAX_ORIGIN 128u /* incl. NUL */

/* ---- RFC 9162 hashing and proofs ------------------------------------------------------------ */

/* SHA-256(0x00 || data) */
KG_RESULT kg_tlog_leaf_hash(uint8_t out[KG_TLOG_HASH_LEN], const void *data, size_t len);
/* SHA-256(0x01 || left || right) */
KG_RESULT kg_tlog_node_hash(uint8_t out[KG_TLOG_HASH_LEN], const uint8_t left[KG_TLOG_HASH_LEN],
                            const uint8_t right[KG_TLOG_HASH_LEN]);

/* Stored hashes: the hash of every complete subtree, (level, index): level 0 holds the leaf
 * hashes, level L index i covers leaves [i * 2^L, (i + 1) * 2^L). A store answers through this
 * callback; a missing hash is an error (KG_ERR_NOT_FOUND). */
typedef kg_result (*kg_tlog_reader)(void *ctx, uint32_t level, uint64_t index,
                                    uint8_t out[KG_TLOG_HASH_LEN]);

/* The tree head MTH(D[0:n]) (n = 0: SHA-256 of the empty string), from at most log2(n) + 1
 * stored hashes. */
KG_RESULT kg_tlog_tree_hash(uint8_t out[KG_TLOG_HASH_LEN], uint64_t n, kg_tlog_reader rd,
                            void *ctx);

typedef struct kg_tlog_proof {
    size_t n;
    uint8_t hash[KG_TLOG_MAX_PROOF][KG_TLOG_HASH_LEN];
} kg_tlog_proof;

/* PATH(index, D[0:n]) of RFC 9162 2.1.3.1; index < n. */
KG_RESULT kg_tlog_inclusion_proof(kg_tlog_proof *out, uint64_t index, uint64_t n, kg_tlog_reader rd,
                                  void *ctx);
/* PROOF(m, D[0:n]) of RFC 9162 2.1.4.1; 0 < m <= n (m = n: the empty proof). */
KG_RESULT kg_tlog_consistency_proof(kg_tlog_proof *out, uint64_t m, uint64_t n, kg_tlog_reader rd,
                                    void *ctx);
/* RFC 9162 2.1.3.2: KG_ERR_VERIFY unless leaf at index is in the tree of size n with root. */
KG_RESULT kg_tlog_verify_inclusion(const uint8_t leaf[KG_TLOG_HASH_LEN], uint64_t index, uint64_t n,
                                   const kg_tlog_proof *proof,
                                   const uint8_t root[KG_TLOG_HASH_LEN]);
/* RFC 9162 2.1.4.2: KG_ERR_VERIFY unless the tree (n, root_n) extends (m, root_m). */
KG_RESULT kg_tlog_verify_consistency(uint64_t m, uint64_t n, const kg_tlog_proof *proof,
                                     const uint8_t root_m[KG_TLOG_HASH_LEN],
                                     const uint8_t root_n[KG_TLOG_HASH_LEN]);

/* ---- C2SP tlog-tiles paths ------------------------------------------------------------------ */

typedef struct kg_tlog_tile {
    bool entries;   /* tile/entries/...: an entry bundle (level is 0) */
    uint32_t level; /* hashes at tree level 8 * level */
    uint64_t index;
    uint32_t width; /* 1..256; 256 = full */
} kg_tlog_tile;

/* "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]" (no leading slash), NUL-terminated. */
KG_RESULT kg_tlog_tile_path(char *out, size_t out_size, const kg_tlog_tile *t);
/* Parses a tile path exactly as kg_tlog_tile_path writes it (N in 3-digit groups, x-prefixed
 * except the last; .p/W with 1 <= W <= 255; L <= 7); anything else is KG_ERR_INPUT. */
KG_RESULT kg_tlog_tile_parse(kg_tlog_tile *out, const char *path, size_t len);
/* The tile holding a tree of size n's stored hashes: is the tile (level, index) complete
 * (width 256) or partial in a tree of n leaves, and how wide? 0 = not yet in the tree. */
uint32_t kg_tlog_tile_width(uint32_t level, uint64_t index, uint64_t n);

/* ---- C2SP tlog-checkpoint ------------------------------------------------------------------- */

typedef struct kg_checkpoint {
    char origin[KG_CHECKPOINT_MAX_ORIGIN];
    uint64_t size;
    uint8_t root[KG_TLOG_HASH_LEN];
} kg_checkpoint;

/* "<origin>\n<size>\n<base64 root>\n" appended to out. */
KG_RESULT kg_checkpoint_format(kg_buf *out, const kg_checkpoint *c);
/* Parses a checkpoint body (the note text): origin line, canonical decimal size, canonical
 * base64 32-byte root, then extension lines (accepted, ignored). */
KG_RESULT kg_checkpoint_parse(kg_checkpoint *out, const uint8_t *text, size_t len);

/* ---- C2SP signed-note, Ed25519 -------------------------------------------------------------- */

/* The key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || pub). */
KG_RESULT kg_note_key_id(uint8_t out[4], const char *name, const uint8_t pub[KG_ED25519_PUB_LEN]);
/* The verifier key text "<name>+<key id hex>+<base64(0x01 || pub)>" (Go's note.NewVerifier). */
KG_RESULT kg_note_vkey(kg_buf *out, const char *name, const uint8_t pub[KG_ED25519_PUB_LEN]);
/* A key name: 1..127 printable ASCII bytes, no space and no '+'. */
bool kg_note_name_ok(const char *name);

/* Signs text (which must end in "\n" and hold no blank line at its end) with the Ed25519 key
 * of this seed: appends text, "\n", and "— <name> <base64(key id || signature)>\n" to out. */
KG_RESULT kg_note_sign(kg_buf *out, const uint8_t *text, size_t text_len, const char *name,
                       const uint8_t seed[KG_ED25519_SEED_LEN]);
/* Opens a signed note: *text_len is the signed text's length (a prefix of note). KG_OK when a
 * signature line names (name, key id of pub) and its Ed25519 signature verifies; lines of other
 * keys are ignored; a line with our name and key id that does not verify, or no line of ours,
 * is KG_ERR_VERIFY. Malformed notes are KG_ERR_INPUT. */
KG_RESULT kg_note_open(size_t *text_len, const uint8_t *note, size_t len, const char *name,
                       const uint8_t pub[KG_ED25519_PUB_LEN]);

/* Ed25519 helpers (OpenSSL). */
#define KG_ED25519_SPKI_LEN 44u /* RFC 8410 SubjectPublicKeyInfo DER of an Ed25519 key */
KG_RESULT kg_ed25519_spki(uint8_t out[KG_ED25519_SPKI_LEN], const uint8_t pub[KG_ED25519_PUB_LEN]);
KG_RESULT kg_ed25519_public(uint8_t pub[KG_ED25519_PUB_LEN],
                            const uint8_t seed[KG_ED25519_SEED_LEN]);
KG_RESULT kg_ed25519_sign(uint8_t sig[KG_ED25519_SIG_LEN], const uint8_t seed[KG_ED25519_SEED_LEN],
                          const void *msg, size_t len);
KG_RESULT kg_ed25519_verify(const uint8_t pub[KG_ED25519_PUB_LEN],
                            const uint8_t sig[KG_ED25519_SIG_LEN], const void *msg, size_t len);

/* ---- base64 (standard, padded, canonical) --------------------------------------------------- */

KG_RESULT kg_base64_encode(kg_buf *out, const uint8_t *in, size_t n);
/* Decodes exactly the canonical encoding (re-encoding gives the same text) into out. */
KG_RESULT kg_base64_decode(kg_buf *out, const char *in, size_t n);

/* ---- the log entry (docs/design.md, "The decision log": canonical bytes) -------------------- */

#define KG_LOG_ENTRY_VERSION 1u
#define KG_LOG_MAX_STR 4096u    /* one string field (the audit log's column cap) */
#define KG_LOG_MAX_ENTRY 65535u /* an entry (entry bundles carry uint16 lengths) */
#define KG_LOG_NODE_ID_LEN 32u  /* SHA-256 of the node's log public key */

/* A string field: absent (NULL in the audit row) or len bytes (no NUL inside). Borrowed. */
typedef struct kg_log_str {
    bool present;
    const char *p;
    size_t len;
} kg_log_str;

typedef enum kg_log_who {
    KG_LOG_WHO_NONE = 0,
    KG_LOG_WHO_VERIFIED = 1, /* identity */
    KG_LOG_WHO_CLAIMED = 2,  /* claimed_app_id (attestation did not verify) */
} kg_log_who;

typedef struct kg_log_entry {
    uint64_t audit_id; /* the decisions row it mirrors */
    uint64_t time_ms;
    bool allowed;
    kg_log_str method, peer, reason;
    kg_log_who who;
    kg_boot_identity identity;             /* who == VERIFIED */
    uint8_t claimed_app_id[KG_APP_ID_LEN]; /* who == CLAIMED */
    bool has_block;
    uint64_t block_number;
    kg_log_str block_hash;
    kg_log_str released; /* JSON object of public fingerprints, never a secret */
    uint8_t node_id[KG_LOG_NODE_ID_LEN];
} kg_log_entry;

/* Appends the canonical bytes of e to out. */
KG_RESULT kg_log_entry_encode(kg_buf *out, const kg_log_entry *e);
/* Parses canonical bytes (strings borrowed from data); anything not canonical is an error, so
 * kg_log_entry_encode(parse(b)) == b. */
KG_RESULT kg_log_entry_parse(kg_log_entry *out, const uint8_t *data, size_t len);

#endif
