/* slog.h - the operational log of keygate's services (keygate-kms, keygate-agent): one line per
 * event on stderr, as text for people or JSON for log collectors, each with an RFC 3339 UTC
 * timestamp, a level, the program and a message, plus typed fields (a request's id, method,
 * decision, latency). Not the decision log (audit.h): nothing here is evidence, and nothing
 * here may be a secret (no bodies, no keys; callers pass public facts only). */
#ifndef KEYGATE_SLOG_H
#define KEYGATE_SLOG_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

#define KG_SLOG_MAX_MSG 4096u   /* a message longer than this (after escaping) is cut */
#define KG_SLOG_MAX_VALUE 1024u /* a string field longer than this (after escaping) is cut */
#define KG_SLOG_MAX_LINE 16384u /* one rendered line */

typedef enum kg_slog_format {
    KG_SLOG_TEXT = 0, /* 2026-12-03T16:40:00.123Z info keygate-kms: msg key=value ... */
    KG_SLOG_JSON,     /* {"ts":"...","level":"info","prog":"keygate-kms","msg":"...",...} */
} kg_slog_format;

typedef enum kg_slog_level {
    KG_SLOG_INFO = 0,
    KG_SLOG_WARN,
    KG_SLOG_ERROR,
} kg_slog_level;

typedef enum kg_slog_type {
    KG_SLOG_T_STR = 0,
    KG_SLOG_T_INT,
    KG_SLOG_T_REAL,
} kg_slog_type;

/* One field; key is a fixed identifier (trusted), str may be anything (it is escaped). */
typedef struct kg_slog_field {
    const char *key;
    kg_slog_type type;
    const char *str; /* KG_SLOG_T_STR; NULL leaves the field out */
    int64_t num;     /* KG_SLOG_T_INT */
    double real;     /* KG_SLOG_T_REAL */
} kg_slog_field;

#define KG_SLOG_STR(k, v) ((kg_slog_field){.key = (k), .type = KG_SLOG_T_STR, .str = (v)})
#define KG_SLOG_INT(k, v) ((kg_slog_field){.key = (k), .type = KG_SLOG_T_INT, .num = (int64_t)(v)})
#define KG_SLOG_REAL(k, v) ((kg_slog_field){.key = (k), .type = KG_SLOG_T_REAL, .real = (v)})

/* "text" or "json" into *out; anything else is KG_ERR_INPUT naming the value. */
KG_RESULT kg_slog_parse_format(kg_slog_format *out, const char *name);

/* Sets the program name (borrowed: a string literal) and the format for every later line.
 * Before any call the program is "keygate" and the format text. Not for use while other
 * threads log. */
void kg_slog_init(const char *prog, kg_slog_format format);
kg_slog_format kg_slog_get_format(void);

/* Renders one line (with its '\n') into out: time_ms is Unix time in milliseconds. Every
 * string (message and field values) goes through kg_text_escape first, so no caller-supplied
 * byte can end the line, drive a terminal or break the JSON; in text format a value holding a
 * space, '"' or '=' is quoted with '"' and '\' escaped. Pure: for tests and kg_slog_write. */
KG_RESULT kg_slog_render(kg_buf *out, kg_slog_format format, const char *prog, int64_t time_ms,
                         kg_slog_level level, const char *msg, const kg_slog_field *fields,
                         size_t n_fields);

/* Writes one line to stderr in a single write (lines of concurrent threads do not mix). A
 * line that cannot be rendered is replaced by a fixed one saying so. */
void kg_slog_write(kg_slog_level level, const char *msg, const kg_slog_field *fields,
                   size_t n_fields);

/* A line with only a message, printf-style. */
void kg_slog(kg_slog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
