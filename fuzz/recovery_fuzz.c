/* recovery_fuzz.c - libFuzzer harness for the recovery messages a KMS and a holder exchange
 * through a disk the host controls (recovery.h): the request JSON and a share JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_recovery_request rq;
    if (kg_ok(kg_recovery_request_parse(&rq, (const char *)data, size)) && rq.cert_der.len == 0)
        abort(); /* an empty certificate is refused by the parser */
    kg_recovery_request_free(&rq);
    uint8_t to[32], x = 0;
    if (kg_ok(kg_recovery_share_peek(to, &x, (const char *)data, size)) && (x < 1 || x > 16))
        abort();
    /* opening needs a file: one holder, threshold 1, nothing else set */
    kg_sealed_file *f = calloc(1, sizeof(*f));
    if (f != NULL) {
        uint8_t secret[32], pub[32];
        memset(secret, 0x31, sizeof(secret));
        kg_shamir_share s;
        f->has_recovery = true;
        f->threshold = 1;
        f->n = 1;
        if (kg_ok(kg_x25519_public(pub, secret)) &&
            kg_ok(kg_recovery_share_open(&s, (const char *)data, size, secret, pub, f)) && s.x != 1)
            abort();
        free(f);
    }
    kg_error_clear();
    return 0;
}
