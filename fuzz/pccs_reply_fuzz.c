/* pccs_reply_fuzz.c - libFuzzer harness for the PCCS client's parsers of a PCS/PCCS reply
 * (untrusted network input, pccs.c): the first byte picks the part, the rest is its bytes.
 *   0 TCB Info body  {"tcbInfo":{..},"signature":".."}   (kg_pccs_signed_body)
 *   1 QE Identity body {"enclaveIdentity":{..},"signature":".."}
 *   2 a CRL body (DER, PEM or hex)                        (kg_pccs_crl_hex)
 *   3 an issuer chain header value (percent-encoded PEM)  (kg_pccs_issuer_chain)
 *   4 one raw header line                                  (kg_pccs_header_value)
 * The signed text taken byte for byte must be exactly the top-level member jansson sees. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void signed_body(const uint8_t *p, size_t n, const char *key)
{
    char *text = NULL, *sig = NULL;
    if (kg_failed(kg_pccs_signed_body(&text, &sig, p, n, key))) {
        if (text || sig)
            abort(); /* a failure leaves no output */
        return;
    }
    size_t tl = strlen(text);
    /* the text is a byte range of the body, an object, equal to the member jansson parsed */
    if (tl < 2 || text[0] != '{' || text[tl - 1] != '}' || tl > n)
        abort();
    json_t *body = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    json_t *member = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!body || !member || !json_equal(json_object_get(body, key), member) ||
        strcmp(sig, json_string_value(json_object_get(body, "signature"))) != 0)
        abort();
    int found = 0;
    for (size_t i = 0; i + tl <= n && !found; i++)
        found = memcmp(p + i, text, tl) == 0;
    if (!found)
        abort();
    json_decref(body);
    json_decref(member);
    free(text);
    free(sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char *out = NULL;
    switch (data[0] % 5) {
    case 0: signed_body(p, n, "tcbInfo"); break;
    case 1: signed_body(p, n, "enclaveIdentity"); break;
    case 2:
        if (kg_ok(kg_pccs_crl_hex(&out, p, n, "fuzz"))) {
            size_t l = strlen(out);
            if (l == 0 || l % 2 != 0)
                abort();
            for (size_t i = 0; i < l; i++)
                if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f')))
                    abort();
        } else if (out != NULL) {
            abort();
        }
        break;
    case 3:
        if (kg_ok(kg_pccs_issuer_chain(&out, p, n, "fuzz"))) {
            if (strlen(out) == 0 || strlen(out) > n)
                abort();
        } else if (out != NULL) {
            abort();
        }
        break;
    default: {
        const uint8_t *v = NULL;
        size_t vl = 0;
        if (kg_pccs_header_value(p, n, "SGX-TCB-Info-Issuer-Chain", &v, &vl) &&
            (v < p || v + vl > p + n))
            abort();
        break;
    }
    }
    free(out);
    kg_error_clear();
    return 0;
}
