/* slog.c - the operational log (slog.h): one escaped line per event, text or JSON, on stderr. */
#include "keygate/slog.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *g_prog = "keygate";
static kg_slog_format g_format = KG_SLOG_TEXT;

static const char *const level_names[] = {"info", "warn", "error"};

kg_result kg_slog_parse_format(kg_slog_format *out, const char *name)
{
    if (strcmp(name, "text") == 0)
        *out = KG_SLOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = KG_SLOG_JSON;
    else
        KG_BAIL(KG_ERR_INPUT, "log format '%s' is not 'text' or 'json'", name);
    return KG_OK;
}

void kg_slog_init(const char *prog, kg_slog_format format)
{
    g_prog = prog;
    g_format = format;
}

kg_slog_format kg_slog_get_format(void)
{
    return g_format;
}

/* RFC 3339, UTC, milliseconds: 2026-12-03T16:40:00.123Z */
static void format_time(char out[32], int64_t time_ms)
{
    time_t secs = (time_t)(time_ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(out, 32, "1970-01-01T00:00:00.000Z");
        return;
    }
    size_t n = strlen(out);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(time_ms % 1000));
}

/* A text value, quoted when it would otherwise not read back as one token. */
static kg_result text_value(kg_buf *out, const char *v)
{
    if (v[0] != '\0' && strpbrk(v, " \"=\\") == NULL)
        return kg_buf_append_str(out, v);
    KG_GUARD(kg_buf_append_u8(out, '"'));
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            KG_GUARD(kg_buf_append_u8(out, '\\'));
        KG_GUARD(kg_buf_append_u8(out, (uint8_t)*p));
    }
    return kg_buf_append_u8(out, '"');
}

static kg_result render_text(kg_buf *out, const char *ts, const char *prog, kg_slog_level level,
                             const char *msg, const kg_slog_field *f, size_t n, char *val)
{
    KG_GUARD(kg_buf_printf(out, "%s %s %s: %s", ts, level_names[level], prog, msg));
    for (size_t i = 0; i < n; i++) {
        if (f[i].type == KG_SLOG_T_STR && f[i].str == NULL)
            continue;
        KG_GUARD(kg_buf_printf(out, " %s=", f[i].key));
        if (f[i].type == KG_SLOG_T_INT) {
            KG_GUARD(kg_buf_printf(out, "%lld", (long long)f[i].num));
        } else if (f[i].type == KG_SLOG_T_REAL) {
            KG_GUARD(kg_buf_printf(out, "%.3f", f[i].real));
        } else {
            kg_text_escape(val, KG_SLOG_MAX_VALUE + 1, f[i].str, strlen(f[i].str));
            KG_GUARD(text_value(out, val));
        }
    }
    return kg_buf_append_u8(out, '\n');
}

static kg_result set_json(json_t *o, const char *key, json_t *v)
{
    KG_ENSURE(v != NULL && json_object_set_new(o, key, v) == 0, KG_ERR_NOMEM, "log: out of memory");
    return KG_OK;
}

static kg_result render_json(kg_buf *out, const char *ts, const char *prog, kg_slog_level level,
                             const char *msg, const kg_slog_field *f, size_t n, char *val)
{
    kg_result rc = KG_ERROR;
    char *text = NULL;
    json_t *o = json_object();
    KG_ENSURE_C(o != NULL, KG_ERR_NOMEM, "log: out of memory");
    KG_GUARD_C(set_json(o, "ts", json_string(ts)));
    KG_GUARD_C(set_json(o, "level", json_string(level_names[level])));
    KG_GUARD_C(set_json(o, "prog", json_string(prog)));
    KG_GUARD_C(set_json(o, "msg", json_string(msg)));
    for (size_t i = 0; i < n; i++) {
        json_t *v = NULL;
        if (f[i].type == KG_SLOG_T_INT) {
            v = json_integer((json_int_t)f[i].num);
        } else if (f[i].type == KG_SLOG_T_REAL) {
            v = json_real(f[i].real);
        } else if (f[i].str != NULL) {
            kg_text_escape(val, KG_SLOG_MAX_VALUE + 1, f[i].str, strlen(f[i].str));
            v = json_string(val);
        } else {
            continue;
        }
        KG_GUARD_C(set_json(o, f[i].key, v));
    }
    /* keys in the order given: ts, level, prog, msg first, as people read them */
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    KG_ENSURE_C(text != NULL, KG_ERR_NOMEM, "log: out of memory");
    KG_GUARD_C(kg_buf_append_str(out, text));
    KG_GUARD_C(kg_buf_append_u8(out, '\n'));
    rc = KG_OK;
cleanup:
    free(text);
    json_decref(o);
    return rc;
}

kg_result kg_slog_render(kg_buf *out, kg_slog_format format, const char *prog, int64_t time_ms,
                         kg_slog_level level, const char *msg, const kg_slog_field *fields,
                         size_t n_fields)
{
    KG_ENSURE((unsigned)level <= KG_SLOG_ERROR, KG_ERR_INTERNAL, "log: bad level %d", (int)level);
    char ts[32];
    format_time(ts, time_ms);
    char *m = malloc(KG_SLOG_MAX_MSG + 1), *val = malloc(KG_SLOG_MAX_VALUE + 1);
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(m != NULL && val != NULL, KG_ERR_NOMEM, "log: out of memory");
    /* escaped: a message may quote a peer's bytes (a reason, a method name) */
    kg_text_escape(m, KG_SLOG_MAX_MSG + 1, msg, strlen(msg));
    if (format == KG_SLOG_JSON)
        rc = render_json(out, ts, prog, level, m, fields, n_fields, val);
    else
        rc = render_text(out, ts, prog, level, m, fields, n_fields, val);
cleanup:
    free(m);
    free(val);
    return rc;
}

void kg_slog_write(kg_slog_level level, const char *msg, const kg_slog_field *fields,
                   size_t n_fields)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    kg_buf line;
    kg_buf_init(&line, KG_SLOG_MAX_LINE);
    if (kg_failed(kg_slog_render(&line, g_format, g_prog, ms, level, msg, fields, n_fields))) {
        kg_error_clear();
        kg_buf_reset(&line);
        static const char lost[] = "log line lost (too long or out of memory)";
        if (kg_failed(kg_slog_render(&line, g_format, g_prog, ms, KG_SLOG_ERROR, lost, NULL, 0))) {
            kg_error_clear();
            kg_buf_free(&line);
            return;
        }
    }
    flockfile(stderr);
    fwrite(line.data, 1, line.len, stderr);
    fflush(stderr);
    funlockfile(stderr);
    kg_buf_free(&line);
}

void kg_slog(kg_slog_level level, const char *fmt, ...)
{
    char msg[KG_SLOG_MAX_MSG + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kg_slog_write(level, msg, NULL, 0);
}
