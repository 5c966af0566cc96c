/* ratls_fuzz.c - libFuzzer harness: RA-TLS certificate extension parsing (X.509 DER, the
 * OCTET STRING wrapping of each payload) on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/ratls.h"
#include "ratls/ratls_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the inner OCTET STRING unwrapping alone: the payload must lie inside the input */
    const uint8_t *p = NULL;
    size_t n = 0;
    if (kg_ok(kg_ratls_unwrap_octets(&p, &n, data, size, "fuzz")) &&
        (p < data || p + n != data + size))
        abort();

    kg_ratls_evidence ev;
    if (kg_ok(kg_ratls_parse_cert(&ev, data, size))) {
        if (ev.quote.len == 0 || ev.spki.len == 0 || ev.quote.len > KG_MAX_TEE_QUOTE_LEN)
            abort();
        if (ev.has_usage && strlen(ev.usage) > KG_RATLS_MAX_USAGE_LEN)
            abort();
        /* the event log payload goes on to the event log parser in verification */
        kg_eventlog log;
        if (kg_ok(kg_eventlog_parse(&log, (const char *)ev.eventlog.data, ev.eventlog.len)))
            kg_eventlog_free(&log);
    }
    kg_ratls_evidence_free(&ev);
    kg_error_clear();
    return 0;
}
