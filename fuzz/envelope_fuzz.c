/* envelope_fuzz.c - libFuzzer harness entering the collateral document parser (envelope.c, the
 * first parser an untrusted collateral document meets) directly, without a quote: every value
 * is a NUL-terminated string of its stated length with no NUL inside. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_collateral_doc d;
    if (kg_ok(kg_collateral_doc_parse(&d, (const char *)data, size))) {
        for (size_t i = 0; i < KG_COLL_N; i++) {
            if (d.v[i] == NULL || strlen(d.v[i]) != d.len[i] || d.len[i] > size ||
                kg_collateral_key((kg_coll_field)i) == NULL)
                abort();
        }
        kg_collateral_doc_free(&d);
    }
    kg_error_clear();
    return 0;
}
