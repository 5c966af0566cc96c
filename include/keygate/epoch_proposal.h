/* epoch_proposal.h - the answer of a KMS node's `POST /epoch/propose` (kms/README.md, "Root-key
 * epochs"): a new root epoch's public keys, its attestation and the identity that attestation
 * proves, as the operator's CLI reads it before sending KeygateKms.proposeRootEpoch. */
#ifndef KEYGATE_EPOCH_PROPOSAL_H
#define KEYGATE_EPOCH_PROPOSAL_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/result.h"

#define KG_EPOCH_PROPOSAL_MAX_CA_SPKI 512u            /* KeygateRootEpochs.MAX_CA_PUBKEY */
#define KG_EPOCH_PROPOSAL_MAX_QUOTE (64u * 1024u)     /* KG_MAX_QUOTE_LEN */
#define KG_EPOCH_PROPOSAL_MAX_EVENTLOG (256u * 1024u) /* KG_SEALED_MAX_EVENTLOG */
/* The whole answer: the quote and event log in hex / JSON, and the rest. */
#define KG_EPOCH_PROPOSAL_MAX_TEXT                                                                 \
    (2u * KG_EPOCH_PROPOSAL_MAX_QUOTE + 6u * KG_EPOCH_PROPOSAL_MAX_EVENTLOG + 8192u)

typedef struct kg_epoch_proposal {
    uint32_t epoch;
    uint8_t ca_spki[KG_EPOCH_PROPOSAL_MAX_CA_SPKI]; /* the root CA's SubjectPublicKeyInfo DER */
    size_t ca_spki_len;
    uint8_t k256_pub[KG_K256_PUB_LEN]; /* compressed, a point on the curve */
    kg_buf quote;                      /* the proposing node's quote */
    kg_buf eventlog;                   /* its event log (JSON text, as the KMS answered it) */
    uint8_t attestation_hash[32];      /* keccak256(quote), checked */
    uint8_t mr_aggregated[32], device_id[32], os_image_hash[32]; /* the proposer's identity */
} kg_epoch_proposal;

/*
 * Parses the answer (untrusted) for epoch `want_epoch`: a JSON object with "epoch" (integer, =
 * want_epoch), "ca_pubkey" (hex of a P-256 SubjectPublicKeyInfo, at most 512 bytes),
 * "k256_pubkey" (hex of 33 bytes, a compressed secp256k1 point), "quote" (hex, 1..64 KiB),
 * "eventlog" (string, at most 256 KiB), "attestation_hash" (0x + 32 bytes, = keccak256(quote)),
 * "mr_aggregated", "device_id", "os_image_hash" (0x + 32 bytes each); other members are ignored.
 * Hex may carry a "0x" prefix. KG_ERR_INPUT names the first member that is wrong. out is
 * initialized here; free it with kg_epoch_proposal_free (also after a failure).
 */
KG_RESULT kg_epoch_proposal_parse(kg_epoch_proposal *out, uint32_t want_epoch, const char *text,
                                  size_t len);
void kg_epoch_proposal_free(kg_epoch_proposal *p);

#endif
