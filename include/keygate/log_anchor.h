/* log_anchor.h - the decision log anchored on chain (docs/design.md, "The decision log"):
 *   - the EIP-712 digests the KMS root secp256k1 key signs so that KeygateKms accepts a node's
 *     log key (LogKey) and its checkpoints (LogCheckpoint), bound to one chain and one contract;
 *   - the auditor's check of published checkpoints against a log: sizes that only grow, and
 *     RFC 9162 consistency proofs between successive published checkpoints and the log's head
 *     (a rollback or a fork is a violation). */
#ifndef KEYGATE_LOG_ANCHOR_H
#define KEYGATE_LOG_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"
#include "keygate/tlog.h"

#define KG_LOG_ID_LEN 32u /* SHA-256 of the Ed25519 log public key (= the entries' node_id) */

/* Where anchor signatures are valid: EIP-712 domain {name "KeygateKms", version "1", chainId,
 * verifyingContract} (contracts/src/KeygateLogAnchor.sol). */
typedef struct kg_log_domain {
    uint64_t chain_id;
    uint8_t contract[20];
} kg_log_domain;

/* The log id of a log public key. */
KG_RESULT kg_log_anchor_id(uint8_t out[KG_LOG_ID_LEN], const uint8_t pub[KG_ED25519_PUB_LEN]);
/* keccak256(0x19 0x01 || domain separator || keccak256(abi.encode(
 *   keccak256("LogKey(bytes32 publicKey)"), pub))) */
KG_RESULT kg_log_anchor_key_digest(uint8_t out[32], const kg_log_domain *d,
                                   const uint8_t pub[KG_ED25519_PUB_LEN]);
/* keccak256(0x19 0x01 || domain separator || keccak256(abi.encode(
 *   keccak256("LogCheckpoint(bytes32 logId,uint64 treeSize,bytes32 rootHash)"), logId, size,
 *   root))) */
KG_RESULT kg_log_anchor_checkpoint_digest(uint8_t out[32], const kg_log_domain *d,
                                          const uint8_t log_id[KG_LOG_ID_LEN], uint64_t size,
                                          const uint8_t root[KG_TLOG_HASH_LEN]);

/* What a KMS serves at GET /log-anchor: everything KeygateKms.registerLogKey and
 * publishCheckpoint take, signed by the root key (docs/design.md, "The decision log"). As JSON:
 *   {"log_id":"0x<64>","log_name":"keygate.kms/<16>","public_key":"0x<64>",
 *    "registration_signature":"0x<130>","tree_size":N,"root_hash":"0x<64>",
 *    "signature":"0x<130>","chain_id":N,"kms_contract":"0x<40>"}
 * Signatures are r || s || v with v in {0, 1}. */
#define KG_LOG_ANCHOR_MAX_JSON 8192u

typedef struct kg_log_anchor_offer {
    uint8_t log_id[KG_LOG_ID_LEN];
    uint8_t pub[KG_ED25519_PUB_LEN];
    uint8_t reg_sig[65]; /* LogKey */
    uint64_t size;
    uint8_t root[KG_TLOG_HASH_LEN];
    uint8_t sig[65]; /* LogCheckpoint */
    kg_log_domain domain;
} kg_log_anchor_offer;

/* Appends the JSON of o (log_name: the log's origin, NUL-terminated) to out. */
KG_RESULT kg_log_anchor_offer_format(kg_buf *out, const kg_log_anchor_offer *o,
                                     const char *log_name);
/* Parses the JSON above (at most KG_LOG_ANCHOR_MAX_JSON bytes; every field required, exact
 * lengths, integers in range, duplicate keys refused); checks that log_id is SHA-256 of
 * public_key. Nothing is trusted yet: see kg_log_anchor_offer_verify. */
KG_RESULT kg_log_anchor_offer_parse(kg_log_anchor_offer *out, const uint8_t *text, size_t len);
/* KG_ERR_VERIFY unless both signatures are by root_k256 (compressed) for o's domain. */
KG_RESULT kg_log_anchor_offer_verify(const kg_log_anchor_offer *o, const uint8_t root_k256[33]);

/* One checkpoint published on chain (a CheckpointPublished event). */
typedef struct kg_log_anchor {
    uint64_t size;
    uint8_t root[KG_TLOG_HASH_LEN];
    uint64_t block; /* where it was published (for the messages) */
} kg_log_anchor;

/* Each violation: the entry index it is about (UINT64_MAX: none in particular), a message. */
typedef void (*kg_log_anchor_report_fn)(void *ctx, uint64_t index, const char *msg);

/* Checks the published checkpoints a[0..count) (in publication order) against a log whose head
 * is the tree of n entries with root `root`, whose stored hashes rd answers (kg_tlog_reader):
 *   - publication order: each size larger than the one before (equal size with another root:
 *     a fork on chain; smaller: a rollback on chain);
 *   - each published size at most n: a larger one means the log lost entries it had published
 *     (a rollback; reported at index n, the first missing entry);
 *   - consistency: PROOF(m, n) from rd verifies from the published root to the head's, and
 *     PROOF(m_prev, m) between successive published checkpoints both within the log; a size
 *     equal to n must have the head's root. A failure is a fork, reported at index m - 1.
 * *violations (may be NULL) gets the count. KG_OK when every check could run (a hash missing
 * from rd is also a violation, not an error). */
KG_RESULT kg_log_anchor_check(const kg_log_anchor *a, size_t count, uint64_t n,
                              const uint8_t root[KG_TLOG_HASH_LEN], kg_tlog_reader rd, void *rd_ctx,
                              kg_log_anchor_report_fn report, void *report_ctx,
                              uint64_t *violations);

#endif
