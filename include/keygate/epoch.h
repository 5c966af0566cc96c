/* epoch.h - root-key epochs (docs/design.md, "Root-key epochs"): the status an epoch has on chain
 * and in a KMS, and the REPORTDATA binding a new epoch's public keys to the quote of the node
 * that generated them. */
#ifndef KEYGATE_EPOCH_H
#define KEYGATE_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/crypto.h"
#include "keygate/result.h"

/* uint8 on chain (KeygateKms.rootEpoch) and in the sealed file. Exactly one epoch is Current. */
typedef enum kg_epoch_status {
    KG_EPOCH_NONE = 0,
    KG_EPOCH_PROPOSED = 1,
    KG_EPOCH_CURRENT = 2,
    KG_EPOCH_RETIRING = 3,
    KG_EPOCH_RETIRED = 4,
} kg_epoch_status;

/* "none", "proposed", "current", "retiring", "retired"; "unknown" for anything else. */
const char *kg_epoch_status_name(unsigned status);

/* The REPORTDATA of a proposed epoch's attestation:
 *   SHA-512("keygate-root-epoch:" || chain_id u64 BE || kms_contract[20] || epoch u32 BE
 *           || SHA-256(ca_spki DER) || k256_pub[33]) */
#define KG_EPOCH_REPORT_DOMAIN "keygate-root-epoch:"
KG_RESULT kg_epoch_report_data(uint8_t out[64], uint64_t chain_id, const uint8_t kms_contract[20],
                               uint32_t epoch, const uint8_t *ca_spki, size_t ca_spki_len,
                               const uint8_t k256_pub[KG_K256_PUB_LEN]);

#endif
