/* root_epoch_fuzz.c - libFuzzer harness for the decoder of rootEpoch(uint32)'s return data
 * (kg_eth_root_epoch_decode; the answer comes from a chain node the agent and KMS do not trust):
 * a failure leaves the output zeroed, a success a known status and a bounded CA key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kg_eth_root_epoch_info zero;
    kg_eth_root_epoch_info e;
    memset(&e, 0x5a, sizeof(e));
    if (kg_ok(kg_eth_root_epoch_decode(&e, data, size))) {
        if (e.status > KG_EPOCH_RETIRED || e.ca_spki_len > sizeof(e.ca_spki) ||
            (e.status == KG_EPOCH_NONE) != (e.ca_spki_len == 0))
            abort();
    } else if (memcmp(&e, &zero, sizeof(e)) != 0) {
        abort(); /* zeroed on failure */
    }
    kg_error_clear();
    return 0;
}
