/* pck_ext_fuzz.c - libFuzzer harness entering the PCK certificate's SGX extension parser
 * (OID 1.2.840.113741.1.13.1, DER) directly: in verification it runs on the leaf only after
 * the chain's signatures check, and the PCCS client runs it on an unverified leaf to pick the
 * FMSPC. Parsing is pure: the same bytes give the same fields; a failure zeroes them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kg_pck_ext zero;
    kg_pck_ext a, b;
    if (kg_ok(kg_pck_ext_parse(&a, data, size))) {
        if (size > KG_SGX_EXT_MAX_LEN || kg_failed(kg_pck_ext_parse(&b, data, size)) ||
            memcmp(&a, &b, sizeof(a)) != 0)
            abort();
    } else if (memcmp(&a, &zero, sizeof(a)) != 0) {
        abort();
    }
    kg_error_clear();
    return 0;
}
