/* secret.c - wiping and constant-time comparison for key material (see bytes.h). */
#include "keygate/bytes.h"

#include <openssl/crypto.h>

void kg_memzero(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

bool kg_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
