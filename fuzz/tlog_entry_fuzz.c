/* tlog_entry_fuzz.c - libFuzzer harness for the decision-log entry parser (lib/log/entry.c):
 * any input fails cleanly or is canonical (re-encoding gives the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kg_log_entry e;
    kg_buf b;
    kg_buf_init(&b, KG_LOG_MAX_ENTRY);
    if (kg_ok(kg_log_entry_parse(&e, data, size))) {
        if (kg_failed(kg_log_entry_encode(&b, &e)) || b.len != size ||
            memcmp(b.data, data, size) != 0)
            abort();
    }
    kg_error_clear();
    kg_buf_free(&b);
    return 0;
}
