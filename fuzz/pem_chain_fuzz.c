/* pem_chain_fuzz.c - libFuzzer harness for the strict PEM certificate chain parser (x509.c; the
 * PCK chain inside a quote and the issuer chains of collateral are such text) and the DER walk
 * of each certificate's signed part when checked against the next certificate's key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "quote/dcap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *chain = NULL;
    if (kg_ok(kg_dcap_pem_chain(&chain, data, size, 8, "fuzz chain", NULL))) {
        int n = sk_X509_num(chain);
        if (n < 1 || n > 8)
            abort();
        for (int i = 0; i < n; i++) {
            X509 *issuer = sk_X509_value(chain, i + 1 < n ? i + 1 : i);
            EVP_PKEY *key = X509_get0_pubkey(issuer);
            if (key)
                (void)kg_ok(kg_dcap_verify_cert_sig(sk_X509_value(chain, i), key, "fuzz cert"));
            kg_error_clear();
        }
        sk_X509_pop_free(chain, X509_free);
    } else if (chain != NULL) {
        abort();
    }
    kg_error_clear();
    return 0;
}
