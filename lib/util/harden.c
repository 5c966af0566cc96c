/* harden.c - process hardening for the key-holding programs (see harden.h). */
#include "keygate/harden.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

kg_result kg_process_harden(const char *prog)
{
    if (prog == NULL)
        prog = "keygate";
    KG_ENSURE(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, KG_ERR_IO,
              "process hardening: prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    struct rlimit none = {0, 0};
    KG_ENSURE(setrlimit(RLIMIT_CORE, &none) == 0, KG_ERR_IO,
              "process hardening: setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
    if (CRYPTO_secure_malloc_initialized())
        return KG_OK;
    /* 1: mlocked and MADV_DONTDUMP; 2: usable, but mlock (or a guard page, or madvise)
     * failed; 0: no secure heap. The arena's pages are locked on fault (mlock2 MLOCK_ONFAULT),
     * so the limit is checked against the whole arena up front. */
    int r = CRYPTO_secure_malloc_init(KG_SECURE_HEAP_SIZE, 32);
    KG_ENSURE(r != 0, KG_ERR_IO,
              "process hardening: cannot create OpenSSL's secure heap (%u bytes)",
              KG_SECURE_HEAP_SIZE);
    if (r == 2) {
        struct rlimit ml = {0, 0};
        (void)getrlimit(RLIMIT_MEMLOCK, &ml);
        fprintf(stderr,
                "%s: warning: the secure heap for key material could not be locked in memory "
                "(RLIMIT_MEMLOCK %llu bytes, need %u; raise it, e.g. LimitMEMLOCK= or ulimit -l, "
                "or grant CAP_IPC_LOCK): keys are kept out of core dumps but may be swapped\n",
                prog, (unsigned long long)ml.rlim_cur, KG_SECURE_HEAP_SIZE);
    }
    return KG_OK;
}

void *kg_secure_zalloc(size_t n)
{
    return OPENSSL_secure_zalloc(n);
}

void kg_secure_free(void *p, size_t n)
{
    if (p != NULL)
        OPENSSL_secure_clear_free(p, n);
}
