/* collateral_fuzz.c - libFuzzer harness: arbitrary collateral documents verified against the real
 * TDX quote (the collateral JSON parser, CRL and chain handling, signed-text parsers). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keygate/quote.h"

#define KG_FUZZ_QUOTE KG_VECTORS_DIR "/dcap/tdx_quote"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *quote;
static size_t quote_len;
static kg_dcap_verifier *verifier;

static void init(void)
{
    if (verifier)
        return;
    if (kg_failed(kg_dcap_verifier_new(&verifier, NULL, 0)))
        abort();
    FILE *f = fopen(KG_FUZZ_QUOTE, "rb");
    if (!f)
        abort();
    quote = malloc(KG_MAX_QUOTE_LEN);
    if (!quote)
        abort();
    quote_len = fread(quote, 1, KG_MAX_QUOTE_LEN, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    static kg_dcap_report report;
    if (kg_ok(kg_dcap_verify(verifier, &report, quote, quote_len, (const char *)data, size,
                             1751328000))) {
        if (report.status[0] == 0)
            abort();
    } else if (report.status[0] != 0) {
        abort(); /* a failure leaves the report zeroed */
    }
    kg_error_clear();
    return 0;
}
