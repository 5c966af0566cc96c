/* log_anchor_fuzz.c - libFuzzer harness for the offer a KMS serves at GET /log-anchor
 * (kg_log_anchor_offer_parse, lib/log/anchor.c), which `keygate kms checkpoint` fetches over the
 * network: any input fails with a zeroed offer, or parses to an offer that formats and parses
 * back to the same fields; a parsed offer's signatures are checked against a fixed root key (the
 * seeds are signed by it, so the verification's success path runs too). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/log_anchor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The root key of the seeds: the public key of the k256 scalar 0x11..11 (as in the unit test). */
static uint8_t root_pub[33];
static int have_root;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_root) {
        uint8_t scalar[32];
        memset(scalar, 0x11, sizeof(scalar));
        if (kg_failed(kg_k256_public(root_pub, scalar)))
            abort();
        have_root = 1;
    }
    static const kg_log_anchor_offer zero;
    kg_log_anchor_offer o, back;
    if (kg_failed(kg_log_anchor_offer_parse(&o, data, size))) {
        if (memcmp(&o, &zero, sizeof(o)) != 0)
            abort(); /* a refused offer leaves nothing behind */
        kg_error_clear();
        return 0;
    }
    kg_buf b;
    kg_buf_init(&b, KG_LOG_ANCHOR_MAX_JSON);
    if (kg_failed(kg_log_anchor_offer_format(&b, &o, "keygate.kms/0011223344556677")) ||
        kg_failed(kg_log_anchor_offer_parse(&back, b.data, b.len)) ||
        memcmp(&back, &o, sizeof(o)) != 0)
        abort();
    kg_buf_free(&b);
    (void)kg_ok(kg_log_anchor_offer_verify(&o, root_pub));
    kg_error_clear();
    return 0;
}
