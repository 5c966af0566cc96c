/* tcb_info_fuzz.c - libFuzzer harness entering the TCB Info v3 JSON parser directly (in
 * verification it runs only after the signature over the text checks, so no other harness
 * reaches it): what parses must stay inside its fixed arrays and advisory pool. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_advisories(const kg_advisories *a, size_t n_pool, const kg_advisory_id *pool)
{
    if ((size_t)a->first + a->n > n_pool)
        abort();
    for (size_t i = 0; i < a->n; i++) {
        size_t len = strnlen(pool[a->first + i], KG_ADVISORY_ID_MAX);
        if (len == 0 || len >= KG_ADVISORY_ID_MAX)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kg_tcb_info info; /* ~40 KB: kept off the stack */
    if (kg_ok(kg_tcb_info_parse(&info, (const char *)data, size))) {
        if (info.version != 3 || info.n_levels == 0 || info.n_levels > KG_MAX_TCB_LEVELS ||
            info.n_module_ids > KG_MAX_TDX_MODULE_IDS || info.n_pool > KG_MAX_ADVISORY_POOL ||
            info.has_tdx_module != info.is_tdx)
            abort();
        for (size_t i = 0; i < info.n_levels; i++) {
            if (info.levels[i].has_tdx != info.is_tdx ||
                strcmp(kg_tcb_status_name(info.levels[i].status), "?") == 0)
                abort();
            check_advisories(&info.levels[i].advisories, info.n_pool, info.pool);
        }
        for (size_t m = 0; m < info.n_module_ids; m++) {
            const kg_tdx_module_identity *id = &info.module_ids[m];
            if (id->n_levels == 0 || id->n_levels > KG_MAX_QE_TCB_LEVELS ||
                strnlen(id->id, sizeof(id->id)) >= sizeof(id->id))
                abort();
            for (size_t i = 0; i < id->n_levels; i++)
                check_advisories(&id->levels[i].advisories, info.n_pool, info.pool);
        }
    } else if (info.n_levels != 0 || info.n_pool != 0) {
        abort(); /* a failure leaves the output zeroed */
    }
    kg_error_clear();

    /* The date parser on its own (a NUL-terminated copy of a short input). */
    if (size < 64) {
        char s[64];
        memcpy(s, data, size);
        s[size] = 0;
        int64_t t;
        (void)kg_ok(kg_parse_iso8601(&t, s));
        kg_error_clear();
    }
    return 0;
}
