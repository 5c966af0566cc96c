/* qe_identity_fuzz.c - libFuzzer harness entering the QE Identity v2 JSON parser directly (in
 * verification it runs only after the signature over the text checks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kg_qe_identity qe; /* ~33 KB: kept off the stack */
    if (kg_ok(kg_qe_identity_parse(&qe, (const char *)data, size))) {
        if (qe.version != 2 || qe.n_levels == 0 || qe.n_levels > KG_MAX_QE_TCB_LEVELS ||
            qe.n_pool > KG_MAX_ADVISORY_POOL)
            abort();
        for (size_t i = 0; i < qe.n_levels; i++) {
            const kg_module_tcb_level *l = &qe.levels[i];
            if ((l->status != KG_TCB_UP_TO_DATE && l->status != KG_TCB_OUT_OF_DATE &&
                 l->status != KG_TCB_REVOKED) ||
                (size_t)l->advisories.first + l->advisories.n > qe.n_pool)
                abort();
            for (size_t k = 0; k < l->advisories.n; k++) {
                size_t len = strnlen(qe.pool[l->advisories.first + k], KG_ADVISORY_ID_MAX);
                if (len == 0 || len >= KG_ADVISORY_ID_MAX)
                    abort();
            }
        }
    } else if (qe.n_levels != 0 || qe.n_pool != 0 || qe.version != 0) {
        abort(); /* a failure leaves the output zeroed */
    }
    kg_error_clear();
    return 0;
}
