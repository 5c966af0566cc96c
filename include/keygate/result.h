/* result.h - the one error convention of keygate: result values, guard macros, message chain. */
#ifndef KEYGATE_RESULT_H
#define KEYGATE_RESULT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Every fallible keygate function returns a kg_result, declared with KG_RESULT so that
 * ignoring it is a compile error under -Werror. A kg_result is a struct, so an int cannot
 * pass for one by accident.
 *
 * The failing site records the error once: a kind (kg_err), its place ("file:line") and a
 * specific message, in thread-local storage. Callers either pass the failure up unchanged
 * (KG_GUARD) or add one line of context (KG_GUARD_CTX); the chain then reads from the
 * outside in, e.g. "GetAppKey: verifying RA-TLS certificate: quote: PCK certificate expired".
 * Only the edge (an HTTP handler, a CLI main) turns it into a status and prints it.
 *
 * Two families of guards:
 *   KG_ENSURE / KG_GUARD / KG_BAIL ...       return the error immediately;
 *   KG_ENSURE_C / KG_GUARD_C / KG_BAIL_C ... jump to the function's `cleanup:` label,
 *   for functions written as
 *       kg_result rc = KG_ERROR;
 *       ...guards...
 *       rc = KG_OK;
 *   cleanup:
 *       ...release in reverse order...
 *       return rc;
 */

typedef enum kg_err {
    KG_ERR_NONE = 0,
    KG_ERR_INPUT,       /* malformed or out-of-range input (bad hex, bad JSON, bad field) */
    KG_ERR_TRUNCATED,   /* input ended before a field it announced */
    KG_ERR_TOO_LARGE,   /* a length exceeds what remains or a named maximum */
    KG_ERR_USAGE,       /* API or command misuse (wrong arguments) */
    KG_ERR_CRYPTO,      /* a cryptographic operation failed to run */
    KG_ERR_VERIFY,      /* a signature, hash, chain or binding does not verify */
    KG_ERR_EXPIRED,     /* outside a validity window */
    KG_ERR_DENIED,      /* policy said no (governance, TCB, debug TD, usage) */
    KG_ERR_NOT_FOUND,   /* a looked-up item does not exist */
    KG_ERR_IO,          /* file, socket or process error */
    KG_ERR_NETWORK,     /* remote endpoint unreachable, timed out or answered badly */
    KG_ERR_NOMEM,       /* allocation failed */
    KG_ERR_INTERNAL,    /* a bug: an invariant did not hold */
    KG_ERR_UNAVAILABLE, /* cannot decide now (chain, PCCS or record store down, this node not
                           serving, overloaded): another node, or later, may answer */
} kg_err;

typedef struct kg_result {
    int failed_; /* 0 = ok; read it through kg_ok()/kg_failed() only */
} kg_result;

#define KG_RESULT __attribute__((warn_unused_result)) kg_result

#define KG_OK ((kg_result){0})
#define KG_ERROR ((kg_result){1})

static inline bool kg_ok(kg_result r)
{
    return r.failed_ == 0;
}
static inline bool kg_failed(kg_result r)
{
    return r.failed_ != 0;
}

/* The one status table of the project's HTTP servers (the KMS and the agent): a refusal is
 * final (403), an outage is not (503: a client tries its next server), bad input is 400. */
int kg_err_http_status(kg_err code);

/* Records a new error (replacing any earlier one). Evaluates to KG_ERROR. */
#define kg_error_set(code, file, line, ...)                                                        \
    (kg_error_record((code), (file), (line), __VA_ARGS__), KG_ERROR)

/* Like kg_error_set, appending OpenSSL's queued error text (and clearing the queue). */
#define kg_error_set_ossl(code, file, line, ...)                                                   \
    (kg_error_record_ossl((code), (file), (line), __VA_ARGS__), KG_ERROR)

/* Prefixes the current message with "<context>: ". Evaluates to KG_ERROR. */
#define kg_error_context(...) (kg_error_add_context(__VA_ARGS__), KG_ERROR)

/* The recorders behind the three above. They are macros so that the compiler sees the constant
 * KG_ERROR at every failing site: an inlined callee's failure path is then known to fail, and
 * the caller's outputs, which stay unwritten on that path, are not reported as "maybe used
 * uninitialized" by an optimizing build. Cold: failure paths are laid out away from hot code. */
void kg_error_record(kg_err code, const char *file, int line, const char *fmt, ...)
    __attribute__((cold, format(printf, 4, 5)));
void kg_error_record_ossl(kg_err code, const char *file, int line, const char *fmt, ...)
    __attribute__((cold, format(printf, 4, 5)));
void kg_error_add_context(const char *fmt, ...) __attribute__((cold, format(printf, 1, 2)));

/* The current error's kind, message chain and "file:line" of the failing site. Borrowed,
 * valid until the next error on this thread. Message is "" when no error was recorded. */
kg_err kg_error_code(void);
const char *kg_error_message(void);
const char *kg_error_site(void);

/* Forgets the current error (for code that handles a failure and goes on). */
void kg_error_clear(void);

/* A short stable name for an error kind ("verify", "denied", ...). */
const char *kg_err_name(kg_err code);

#define KG_BAIL(code, ...) return kg_error_set((code), __FILE__, __LINE__, __VA_ARGS__)

#define KG_ENSURE(cond, code, ...)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return kg_error_set((code), __FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)

#define KG_GUARD(expr)                                                                             \
    do {                                                                                           \
        if (kg_failed(expr))                                                                       \
            return KG_ERROR;                                                                       \
    } while (0)

#define KG_GUARD_CTX(expr, ...)                                                                    \
    do {                                                                                           \
        if (kg_failed(expr))                                                                       \
            return kg_error_context(__VA_ARGS__);                                                  \
    } while (0)

/* OpenSSL convention: 1 is success, anything else is failure. */
#define KG_GUARD_OSSL(expr, code, ...)                                                             \
    do {                                                                                           \
        if ((expr) != 1)                                                                           \
            return kg_error_set_ossl((code), __FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

#define KG_ENSURE_OSSL(cond, code, ...)                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return kg_error_set_ossl((code), __FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

/* The same guards, jumping to `cleanup:` instead of returning. */
#define KG_BAIL_C(code, ...)                                                                       \
    do {                                                                                           \
        (void)kg_error_set((code), __FILE__, __LINE__, __VA_ARGS__);                               \
        goto cleanup;                                                                              \
    } while (0)

#define KG_ENSURE_C(cond, code, ...)                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            KG_BAIL_C((code), __VA_ARGS__);                                                        \
    } while (0)

#define KG_GUARD_C(expr)                                                                           \
    do {                                                                                           \
        if (kg_failed(expr))                                                                       \
            goto cleanup;                                                                          \
    } while (0)

#define KG_GUARD_CTX_C(expr, ...)                                                                  \
    do {                                                                                           \
        if (kg_failed(expr)) {                                                                     \
            (void)kg_error_context(__VA_ARGS__);                                                   \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

#define KG_GUARD_OSSL_C(expr, code, ...)                                                           \
    do {                                                                                           \
        if ((expr) != 1) {                                                                         \
            (void)kg_error_set_ossl((code), __FILE__, __LINE__, __VA_ARGS__);                      \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

#define KG_ENSURE_OSSL_C(cond, code, ...)                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            (void)kg_error_set_ossl((code), __FILE__, __LINE__, __VA_ARGS__);                      \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

#endif
