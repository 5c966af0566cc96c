/* harden.h - process hardening for the programs that hold keys (keygate-kms, keygate-agent):
 * no core dumps, no same-uid ptrace or /proc/<pid>/mem, and a secure heap for key material. */
#ifndef KEYGATE_HARDEN_H
#define KEYGATE_HARDEN_H

#include <stddef.h>

#include "keygate/result.h"

/* Size of OpenSSL's secure heap arena (a power of two; mlocked, MADV_DONTDUMP). It holds the
 * long-lived key structs (the KMS's `kms`, the agent's keys) and OpenSSL's private-key BIGNUMs. */
#define KG_SECURE_HEAP_SIZE (1u << 20)

/*
 * Call first thing in main, before any key is loaded:
 *   - prctl(PR_SET_DUMPABLE, 0): no core file, and /proc/<pid>/mem, ptrace and most of
 *     /proc/<pid>/ are closed to every process without CAP_SYS_PTRACE, same uid included;
 *   - setrlimit(RLIMIT_CORE, {0, 0}): no core file, not even after a later exec;
 *   - CRYPTO_secure_malloc_init: OpenSSL's secure heap (an mlocked MADV_DONTDUMP arena with
 *     guard pages); OpenSSL 3 keeps EC private keys there, and OPENSSL_secure_zalloc (see
 *     kg_secure_zalloc) puts our own key structs there.
 * When the arena cannot be mlocked (RLIMIT_MEMLOCK too low, no CAP_IPC_LOCK) it is still
 * excluded from core dumps; that is said once on stderr, prefixed with `prog`, and is not an
 * error. Fails (KG_ERR_IO) only when the dumpable flag or the core limit cannot be set, or the
 * secure heap cannot be created at all. Calling it again is harmless.
 */
KG_RESULT kg_process_harden(const char *prog);

/* Zeroed memory from the secure heap (plain heap before kg_process_harden); NULL when out of
 * memory. kg_secure_free wipes n bytes and frees; NULL-safe. */
void *kg_secure_zalloc(size_t n);
void kg_secure_free(void *p, size_t n);

#endif
