/* quote_fuzz.c - libFuzzer harness: quote parsing and full DCAP verification of arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/quote.h"

/* Inputs are quotes; verification runs against the TDX vector's collateral (found through
 * KG_VECTORS_DIR), so the signature and chain code is reached with real keys. */
#define KG_FUZZ_COLLATERAL KG_VECTORS_DIR "/dcap/tdx_quote_collateral.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *collateral;
static size_t collateral_len;
static kg_dcap_verifier *verifier;

static void init(void)
{
    if (verifier)
        return;
    if (kg_failed(kg_dcap_verifier_new(&verifier, NULL, 0)))
        abort();
    FILE *f = fopen(KG_FUZZ_COLLATERAL, "rb");
    if (!f)
        return;
    collateral = malloc(KG_MAX_COLLATERAL_LEN);
    if (collateral)
        collateral_len = fread(collateral, 1, KG_MAX_COLLATERAL_LEN, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    kg_quote q;
    if (kg_ok(kg_quote_parse(&q, data, size))) {
        /* parse is pure and deterministic: the fields must lie inside the input */
        if (q.signed_data != data || q.signed_len > size || q.pck_chain < data ||
            q.pck_chain + q.pck_chain_len > data + size)
            abort();
    }
    static kg_dcap_report report;
    if (collateral_len > 0 && kg_ok(kg_dcap_verify(verifier, &report, data, size, collateral,
                                                   collateral_len, 1751328000))) {
        /* only the genuine quote verifies; its verdict is always complete */
        if (report.status[0] == 0 || report.quote.signed_data != data)
            abort();
    }
    kg_error_clear();
    return 0;
}
