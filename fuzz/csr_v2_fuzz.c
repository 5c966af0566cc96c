/* csr_v2_fuzz.c - libFuzzer harness: dstack's CertSigningRequestV2 (SCALE, SignCert api_version 2)
 * on arbitrary bytes; parsed strings stay NUL-terminated within their caps. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/ratls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_csr_v2 *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return 0;
    if (kg_ok(kg_csr_v2_parse(c, data, size))) {
        if (c->pubkey_len > KG_CSR_V2_MAX_PUBKEY_LEN || c->n_sans > KG_CSR_V2_MAX_SANS ||
            strlen(c->subject) > KG_CSR_V2_MAX_NAME_LEN)
            abort();
        for (size_t i = 0; i < c->n_sans; i++)
            if (strlen(c->sans[i]) > KG_CSR_V2_MAX_NAME_LEN)
                abort();
    }
    kg_csr_v2_free(c);
    free(c);
    kg_error_clear();
    return 0;
}
