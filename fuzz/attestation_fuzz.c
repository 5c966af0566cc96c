/* attestation_fuzz.c - libFuzzer harness: dstack's VersionedAttestation (RA-TLS extension .8:
 * V0 SCALE, V1 msgpack) on arbitrary bytes; what parses must stay within the named maxima and
 * re-encode into bytes that parse to the same runtime events. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/ratls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_ratls_attestation a, b;
    if (kg_ok(kg_ratls_attestation_parse(&a, data, size))) {
        if (a.quote.len > KG_MAX_TEE_QUOTE_LEN || a.runtime_events.count > KG_MAX_EVENTS ||
            a.config.len > KG_RATLS_MAX_ATTESTATION_CONFIG_LEN)
            abort();
        kg_buf enc;
        kg_buf_init(&enc, KG_RATLS_MAX_ATTESTATION_LEN);
        if (kg_ok(kg_ratls_attestation_encode(&enc, a.wire, a.quote.data, a.quote.len,
                                              &a.runtime_events, a.report_data,
                                              (const char *)a.config.data))) {
            if (kg_failed(kg_ratls_attestation_parse(&b, enc.data, enc.len)) ||
                b.runtime_events.count != a.runtime_events.count ||
                memcmp(b.report_data, a.report_data, 64) != 0)
                abort();
            for (size_t i = 0; i < a.runtime_events.count; i++)
                if (memcmp(a.runtime_events.events[i].digest, b.runtime_events.events[i].digest,
                           KG_RTMR_LEN) != 0)
                    abort();
            kg_ratls_attestation_free(&b);
        }
        kg_buf_free(&enc);
    }
    kg_ratls_attestation_free(&a);
    kg_error_clear();
    return 0;
}
