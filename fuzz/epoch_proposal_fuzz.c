/* epoch_proposal_fuzz.c - libFuzzer harness for the reader of a KMS node's POST /epoch/propose
 * answer (kg_epoch_proposal_parse; `keygate kms epoch propose` sends what it reads to the chain):
 * a failure keeps nothing, a success has bounded keys, a compressed k256 key and a quote whose
 * keccak256 is the attestation hash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/epoch_proposal.h"
#include "keygate/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_epoch_proposal p;
    if (kg_ok(kg_epoch_proposal_parse(&p, 1, (const char *)data, size))) {
        uint8_t h[KG_KECCAK256_LEN];
        kg_keccak256(h, p.quote.data, p.quote.len);
        if (p.epoch != 1 || p.ca_spki_len == 0 || p.ca_spki_len > sizeof(p.ca_spki) ||
            (p.k256_pub[0] != 2 && p.k256_pub[0] != 3) || p.quote.len == 0 ||
            memcmp(h, p.attestation_hash, sizeof(h)) != 0)
            abort();
    } else if (p.quote.data != NULL || p.eventlog.data != NULL || p.ca_spki_len != 0) {
        abort(); /* nothing kept on failure */
    }
    kg_epoch_proposal_free(&p);
    kg_error_clear();
    return 0;
}
