/* result.c - thread-local error record behind the kg_result convention (see result.h). */
#include "keygate/result.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KG_ERROR_MSG_MAX 1024

typedef struct error_state {
    kg_err code;
    char site[96];                  /* "file:line" of the failing site */
    char message[KG_ERROR_MSG_MAX]; /* "outer context: ...: site message" */
} error_state;

static _Thread_local error_state g_err;

/* Keeps only the file's base name so sites read "reader.c:42" whatever the build dir. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

__attribute__((format(printf, 4, 0))) static void record(kg_err code, const char *file, int line,
                                                         const char *fmt, va_list ap)
{
    /* Formatted aside first: the arguments may include kg_error_message() itself (a failure
     * described in terms of the error that caused it), which vsnprintf must not overwrite
     * while reading it. */
    char msg[KG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    g_err.code = code;
    snprintf(g_err.site, sizeof(g_err.site), "%s:%d", base_name(file), line);
    memcpy(g_err.message, msg, sizeof(msg));
}

void kg_error_record(kg_err code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, file, line, fmt, ap);
    va_end(ap);
}

void kg_error_record_ossl(kg_err code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, file, line, fmt, ap);
    va_end(ap);

    /* OpenSSL queues errors per thread; report the earliest (the root cause) and clear the
     * rest so they cannot be misattributed to a later failure. */
    unsigned long e = ERR_get_error();
    if (e != 0) {
        char detail[256];
        ERR_error_string_n(e, detail, sizeof(detail));
        size_t used = strlen(g_err.message);
        snprintf(g_err.message + used, sizeof(g_err.message) - used, " (%s)", detail);
    }
    ERR_clear_error();
}

void kg_error_add_context(const char *fmt, ...)
{
    char prefix[KG_ERROR_MSG_MAX];
    char old[KG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, g_err.message, sizeof(old));
    if (g_err.code == KG_ERR_NONE)
        g_err.code = KG_ERR_INTERNAL; /* context without a recorded cause is itself a bug */
    /* prefix + ": " + old, truncated to the record's size (the innermost cause may be cut). */
    size_t used = 0;
    const char *pieces[] = {prefix, ": ", old};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(pieces[i]);
        if (n > sizeof(g_err.message) - 1 - used)
            n = sizeof(g_err.message) - 1 - used;
        memcpy(g_err.message + used, pieces[i], n);
        used += n;
    }
    g_err.message[used] = '\0';
}

kg_err kg_error_code(void)
{
    return g_err.code;
}
const char *kg_error_message(void)
{
    return g_err.message;
}
const char *kg_error_site(void)
{
    return g_err.site;
}

void kg_error_clear(void)
{
    g_err.code = KG_ERR_NONE;
    g_err.site[0] = '\0';
    g_err.message[0] = '\0';
}

const char *kg_err_name(kg_err code)
{
    switch (code) {
    case KG_ERR_NONE: return "none";
    case KG_ERR_INPUT: return "input";
    case KG_ERR_TRUNCATED: return "truncated";
    case KG_ERR_TOO_LARGE: return "too-large";
    case KG_ERR_USAGE: return "usage";
    case KG_ERR_CRYPTO: return "crypto";
    case KG_ERR_VERIFY: return "verify";
    case KG_ERR_EXPIRED: return "expired";
    case KG_ERR_DENIED: return "denied";
    case KG_ERR_NOT_FOUND: return "not-found";
    case KG_ERR_IO: return "io";
    case KG_ERR_NETWORK: return "network";
    case KG_ERR_NOMEM: return "nomem";
    case KG_ERR_INTERNAL: return "internal";
    case KG_ERR_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

int kg_err_http_status(kg_err code)
{
    switch (code) {
    case KG_ERR_NONE: return 200;
    case KG_ERR_INPUT:
    case KG_ERR_TRUNCATED:
    case KG_ERR_TOO_LARGE:
    case KG_ERR_USAGE: return 400;
    case KG_ERR_VERIFY:
    case KG_ERR_EXPIRED:
    case KG_ERR_DENIED: return 403; /* the request was looked at and refused: do not retry */
    case KG_ERR_NOT_FOUND: return 404;
    case KG_ERR_IO:
    case KG_ERR_NETWORK:
    case KG_ERR_UNAVAILABLE: return 503; /* could not decide: another server may */
    case KG_ERR_CRYPTO:
    case KG_ERR_NOMEM:
    case KG_ERR_INTERNAL: return 500;
    }
    return 500;
}
