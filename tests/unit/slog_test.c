/* slog_test.c - the operational log's lines: RFC 3339 UTC time, level, fields, and hostile
 * strings that cannot end a line, drive a terminal or break the JSON. */
#include "test_util.h"

#include <string.h>

#include "keygate/slog.h"

#define T_MS 1764779400123LL /* 2025-12-03T16:30:00.123Z */

static char *render(kg_slog_format fmt, kg_slog_level lvl, const char *msg, const kg_slog_field *f,
                    size_t n)
{
    kg_buf b;
    kg_buf_init(&b, KG_SLOG_MAX_LINE);
    KG_ASSERT_OK(kg_slog_render(&b, fmt, "keygate-kms", T_MS, lvl, msg, f, n));
    char *s = strndup((const char *)b.data, b.len);
    kg_buf_free(&b);
    return s;
}

static void json_line_has_every_field_typed(void **state)
{
    kg_slog_field f[] = {KG_SLOG_INT("request_id", 42), KG_SLOG_STR("method", "GetAppKey"),
                         KG_SLOG_STR("decision", "allow"), KG_SLOG_REAL("latency_ms", 12.5),
                         KG_SLOG_STR("absent", NULL)};
    char *line = render(KG_SLOG_JSON, KG_SLOG_INFO, "request", f, 5);
    size_t n = strlen(line);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2025-12-03T16:30:00.123Z");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "prog")), "keygate-kms");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "request");
    assert_int_equal(json_integer_value(json_object_get(o, "request_id")), 42);
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GetAppKey");
    assert_string_equal(json_string_value(json_object_get(o, "decision")), "allow");
    assert_true(json_real_value(json_object_get(o, "latency_ms")) == 12.5);
    assert_null(json_object_get(o, "absent"));
    assert_true(strncmp(line, "{\"ts\":", 6) == 0); /* time first, as people read it */
    json_decref(o);
    free(line);
}

static void text_line_reads_as_time_level_program_message_fields(void **state)
{
    kg_slog_field f[] = {KG_SLOG_INT("request_id", 7), KG_SLOG_STR("method", "GetMeta"),
                         KG_SLOG_STR("reason", "not allowed by governance"),
                         KG_SLOG_REAL("latency_ms", 0.25)};
    char *line = render(KG_SLOG_TEXT, KG_SLOG_WARN, "request", f, 4);
    assert_string_equal(line, "2025-12-03T16:30:00.123Z warn keygate-kms: request request_id=7 "
                              "method=GetMeta reason=\"not allowed by governance\" "
                              "latency_ms=0.250\n");
    free(line);
}

/* A peer chooses method names, reasons and certificate fields: newlines, escape sequences,
 * quotes and invalid UTF-8 must come out as visible escapes in both formats. */
static void hostile_strings_are_escaped(void **state)
{
    const char *evil = "x\n2025-12-03T00:00:00.000Z info keygate-kms: forged\x1b[31m\"=\\\xff";
    kg_slog_field f[] = {KG_SLOG_STR("method", evil)};
    char *t = render(KG_SLOG_TEXT, KG_SLOG_ERROR, evil, f, 1);
    size_t n = strlen(t);
    assert_null(memchr(t, '\n', n - 1));
    assert_null(strchr(t, '\x1b'));
    assert_non_null(strstr(t, "keygate-kms: x\\x0a2025"));
    /* a quoted value escapes '"' and '\\' (also the escapes' own backslashes) */
    assert_non_null(strstr(t, "method=\"x\\\\x0a2025"));
    assert_non_null(strstr(t, "\\x1b[31m\\\"=\\\\\\\\xff\"\n"));
    free(t);
    char *j = render(KG_SLOG_JSON, KG_SLOG_ERROR, evil, f, 1);
    n = strlen(j);
    assert_null(memchr(j, '\n', n - 1));
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    const char *m = json_string_value(json_object_get(o, "method"));
    assert_non_null(m);
    assert_null(strchr(m, '\n'));
    assert_null(strchr(m, '\x1b'));
    assert_non_null(strstr(m, "\\x1b[31m"));
    assert_non_null(strstr(m, "\\xff"));
    assert_string_equal(m, json_string_value(json_object_get(o, "msg")));
    json_decref(o);
    free(j);
}

static void long_values_are_cut_not_dropped(void **state)
{
    char *big = malloc(3 * KG_SLOG_MAX_VALUE);
    memset(big, 'a', 3 * KG_SLOG_MAX_VALUE - 1);
    big[3 * KG_SLOG_MAX_VALUE - 1] = '\0';
    kg_slog_field f[] = {KG_SLOG_STR("reason", big)};
    char *j = render(KG_SLOG_JSON, KG_SLOG_INFO, "m", f, 1);
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "reason"))), KG_SLOG_MAX_VALUE);
    json_decref(o);
    free(j);
    free(big);
}

static void format_names_parse_strictly(void **state)
{
    kg_slog_format f = KG_SLOG_TEXT;
    KG_ASSERT_OK(kg_slog_parse_format(&f, "json"));
    assert_int_equal(f, KG_SLOG_JSON);
    KG_ASSERT_OK(kg_slog_parse_format(&f, "text"));
    assert_int_equal(f, KG_SLOG_TEXT);
    KG_ASSERT_ERR(kg_slog_parse_format(&f, "JSON"), KG_ERR_INPUT,
                  "log format 'JSON' is not 'text' or 'json'");
    assert_int_equal(f, KG_SLOG_TEXT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_line_has_every_field_typed),
        cmocka_unit_test(text_line_reads_as_time_level_program_message_fields),
        cmocka_unit_test(hostile_strings_are_escaped),
        cmocka_unit_test(long_values_are_cut_not_dropped),
        cmocka_unit_test(format_names_parse_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
