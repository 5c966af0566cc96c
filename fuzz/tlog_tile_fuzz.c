/* tlog_tile_fuzz.c - libFuzzer harness for C2SP tile paths (lib/log/merkle.c), which arrive
 * in HTTP requests: a path that parses formats back to exactly itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_tlog_tile t;
    char out[KG_TLOG_MAX_PATH + 1];
    if (kg_ok(kg_tlog_tile_parse(&t, (const char *)data, size))) {
        if (kg_failed(kg_tlog_tile_path(out, sizeof(out), &t)) || strlen(out) != size ||
            memcmp(out, data, size) != 0)
            abort();
    }
    kg_error_clear();
    return 0;
}
