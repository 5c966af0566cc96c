/* dotenv_test.c - the .env parser of `keygate env encrypt`: Docker Compose's env-file rules as a
 * table of cases (each example of Compose's "env file syntax" documentation, plus edges), what
 * keygate refuses instead (interpolation, bare KEY, unknown escapes, unclosed quotes) with the
 * line and never the value, limits, and the docs/protocol.md section 5 plaintext it serializes to.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/dotenv.h"

static void parse_ok(kg_env_list *l, const char *text)
{
    kg_env_list_init(l);
    KG_ASSERT_OK(kg_dotenv_parse(l, text, strlen(text), "t.env"));
}

static void forms(void **state)
{
    (void)state;
    kg_env_list l;
    parse_ok(&l,
             "# comment\n\nA=1\r\n  export B = two words \n"
             "C=\"quoted = kept\"\nD='single'\nE=\nF=\"multi\nline\"\nG=a=b=c\n   # indented\n");
    const char *want[][2] = {{"A", "1"},      {"B", "two words"}, {"C", "quoted = kept"},
                             {"D", "single"}, {"E", ""},          {"F", "multi\nline"},
                             {"G", "a=b=c"}};
    assert_int_equal(l.count, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(l.vars[i].key, want[i][0]);
        assert_string_equal(l.vars[i].value, want[i][1]);
    }
    kg_buf out;
    kg_buf_init(&out, 4096);
    KG_ASSERT_OK(kg_env_serialize(&out, &l));
    KG_ASSERT_OK(kg_buf_terminate(&out));
    assert_string_equal((const char *)out.data,
                        "{\"env\":[{\"key\":\"A\",\"value\":\"1\"},{\"key\":\"B\",\"value\":\"two "
                        "words\"},{\"key\":\"C\",\"value\":\"quoted = kept\"},{\"key\":\"D\","
                        "\"value\":\"single\"},{\"key\":\"E\",\"value\":\"\"},{\"key\":\"F\","
                        "\"value\":\"multi\\nline\"},{\"key\":\"G\",\"value\":\"a=b=c\"}]}");
    kg_buf_free(&out);
    kg_env_list_free(&l);

    parse_ok(&l, "");
    assert_int_equal(l.count, 0);
    kg_env_list_free(&l);
    parse_ok(&l, "LAST=no newline");
    assert_int_equal(l.count, 1);
    assert_string_equal(l.vars[0].value, "no newline");
    kg_env_list_free(&l);
}

/* Docker Compose's env-file syntax, case by case: the line(s) of a .env file and the value of
 * VAR they must give. The first block is every example of Compose's documentation ("env file
 * syntax"), the rest edges of the same rules. */
static const struct {
    const char *line, *value;
} compose_cases[] = {
    /* Compose's documented examples */
    {"VAR=VAL", "VAL"},
    {"VAR=\"VAL\"", "VAL"},
    {"VAR='VAL'", "VAL"},
    {"VAR=VAL # comment", "VAL"},
    {"VAR=VAL# not a comment", "VAL# not a comment"},
    {"VAR=\"VAL # not a comment\"", "VAL # not a comment"},
    {"VAR=\"VAL\" # comment", "VAL"},
    {"VAR='$OTHER'", "$OTHER"},
    {"VAR='${OTHER}'", "${OTHER}"},
    {"VAR='Let\\'s go!'", "Let's go!"},
    {"VAR=\"{\\\"hello\\\": \\\"json\\\"}\"", "{\"hello\": \"json\"}"},
    {"VAR=\"some\\tvalue\"", "some\tvalue"},
    {"VAR='some\\tvalue'", "some\\tvalue"},
    {"VAR=some\\tvalue", "some\\tvalue"},
    {"VAR='SOME\nVALUE'", "SOME\nVALUE"},
    {"VAR=\"SOME\nVALUE\"", "SOME\nVALUE"},
    /* blanks: around the unquoted value dropped, inside quotes kept */
    {"VAR=value   ", "value"},
    {"VAR=value\t \t", "value"},
    {"VAR=   value", "value"},
    {"VAR=two  inner  spaces ", "two  inner  spaces"},
    {"VAR=\"  padded  \"", "  padded  "},
    {"VAR='  padded  '   # c", "  padded  "},
    {"VAR = spaced", "spaced"},
    {"  export   VAR=x", "x"},
    /* comments */
    {"VAR=#value # comment", "#value"},
    {"VAR=a #b #c", "a"},
    {"VAR=a\t# not a comment (a tab, not a space)", "a\t# not a comment (a tab, not a space)"},
    {"VAR= # after the blanks: the value", "# after the blanks: the value"},
    {"VAR=\"x\"# comment", "x"},
    /* empty values */
    {"VAR=", ""},
    {"VAR=\"\"", ""},
    {"VAR=''", ""},
    /* escapes: double quotes only */
    {"VAR=\"a\\nb\\\\c\\rd\"", "a\nb\\c\rd"},
    {"VAR=\"it\\'s \\$5\"", "it's $5"},
    {"VAR='back\\\\slash'", "back\\\\slash"},
    {"VAR=a\\ b\\", "a\\ b\\"},
    {"VAR=\"a'b\"", "a'b"},
    {"VAR='a\"b'", "a\"b"},
    {"VAR=a\"b'c", "a\"b'c"},
    /* '$': "$$" is a literal '$', a '$' before anything but a name or '{' stays */
    {"VAR=cost $$5", "cost $5"},
    {"VAR=\"$$HOME\"", "$HOME"},
    {"VAR=price $5", "price $5"},
    {"VAR=end$", "end$"},
    /* line ends, '=' in values, UTF-8 */
    {"VAR=crlf\r\n", "crlf"},
    {"VAR=\"multi\r\nline\"\r\n", "multi\nline"},
    {"VAR=a=b=c", "a=b=c"},
    {"VAR=h\xc3\xa9 \xe2\x9c\x93", "h\xc3\xa9 \xe2\x9c\x93"},
};

static void compose_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(compose_cases) / sizeof(compose_cases[0]); i++) {
        kg_env_list l;
        kg_env_list_init(&l);
        /* each case between two other variables: it must end where it should */
        kg_buf text;
        kg_buf_init(&text, 4096);
        KG_ASSERT_OK(kg_buf_printf(&text, "BEFORE=1\n%s\nAFTER=2\n", compose_cases[i].line));
        kg_result r = kg_dotenv_parse(&l, (const char *)text.data, text.len, "t.env");
        if (kg_failed(r))
            fail_msg("case %zu [%s]: %s", i, compose_cases[i].line, kg_error_message());
        if (l.count != 3 || strcmp(l.vars[1].key, "VAR") != 0 ||
            strcmp(l.vars[1].value, compose_cases[i].value) != 0 ||
            strcmp(l.vars[2].value, "2") != 0)
            fail_msg("case %zu [%s]: got %zu variables, VAR=[%s], want [%s]", i,
                     compose_cases[i].line, l.count, l.count > 1 ? l.vars[1].value : "",
                     compose_cases[i].value);
        kg_buf_free(&text);
        kg_env_list_free(&l);
    }
}

/* What keygate does not support is refused with the line, and no message quotes a value. */
static const struct {
    const char *text, *needle;
} refused_cases[] = {
    {"A=1\nVAR=$SECRETVALUE\n", "t.env:2: value of VAR: variable interpolation"},
    {"VAR=${SECRETVALUE:-x}\n", "t.env:1: value of VAR: variable interpolation"},
    {"VAR=\"SECRETVALUE $USER\"\n", "variable interpolation"},
    {"VAR=\"SECRETVALUE\\q\"\n", "t.env:1: value of VAR: unsupported escape"},
    {"A=1\n\nVAR=\"SECRETVALUE\nB=2\n",
     "t.env:3: value of VAR: the double quote opened on this line is never closed"},
    {"VAR='SECRETVALUE\n", "single quote opened on this line is never closed"},
    {"VAR=\"SECRETVALUE\" trailing\n", "t.env:1: value of VAR: text after the closing quote"},
    {"VAR='SECRETVALUE'x\n", "text after the closing quote"},
    {"A=1\nSECRETVALUE\n", "t.env:2: expected KEY=VALUE: the line has no '='"},
    {"SECRETVALUE more words\n", "t.env:1: expected KEY=VALUE"},
    {"A=\"multi\nline\"\nVAR=\"SECRETVALUE\\x\"\n", "t.env:3: value of VAR: unsupported escape"},
};

static void refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused_cases) / sizeof(refused_cases[0]); i++) {
        kg_env_list l;
        kg_env_list_init(&l);
        KG_ASSERT_ERR(
            kg_dotenv_parse(&l, refused_cases[i].text, strlen(refused_cases[i].text), "t.env"),
            KG_ERR_INPUT, refused_cases[i].needle);
        if (strstr(kg_error_message(), "SECRETVALUE") != NULL)
            fail_msg("case %zu: the message quotes the value: %s", i, kg_error_message());
        kg_env_list_free(&l);
    }
}

static void expect_err(const char *text, size_t len, kg_err code, const char *needle)
{
    kg_env_list l;
    kg_env_list_init(&l);
    KG_ASSERT_ERR(kg_dotenv_parse(&l, text, len, "t.env"), code, needle);
    kg_env_list_free(&l);
}

static void rejections(void **state)
{
    (void)state;
    expect_err("A=1\nnot a line\n", 15, KG_ERR_INPUT, "t.env:2: expected KEY=VALUE");
    expect_err("=x\n", 3, KG_ERR_INPUT, "t.env:1: variable name is empty");
    expect_err("A=1\n1BAD=x\n", 11, KG_ERR_INPUT, "t.env:2");
    expect_err("A-B=x\n", 6, KG_ERR_INPUT, "t.env:1");
    expect_err("A=1\nA=2\n", 8, KG_ERR_INPUT, "t.env");
    expect_err("A=1\0\n", 5, KG_ERR_INPUT, "NUL byte");
    expect_err("A=\xff\n", 4, KG_ERR_INPUT, "t.env:1: value of A is not valid UTF-8");
    expect_err("A=\xc0\xaf\n", 5, KG_ERR_INPUT, "not valid UTF-8");     /* overlong '/' */
    expect_err("A=\xed\xa0\x80\n", 6, KG_ERR_INPUT, "not valid UTF-8"); /* surrogate */
    expect_err("A=\xe2\x9c\n", 5, KG_ERR_INPUT, "not valid UTF-8");     /* truncated */
    char name[KG_ENV_MAX_NAME_LEN + 8];
    memset(name, 'N', KG_ENV_MAX_NAME_LEN + 1);
    memcpy(name + KG_ENV_MAX_NAME_LEN + 1, "=1\n", 4);
    expect_err(name, strlen(name), KG_ERR_INPUT, "longer than");
}

static void limits(void **state)
{
    (void)state;
    size_t n = KG_DOTENV_MAX_LEN + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    expect_err(big, n, KG_ERR_TOO_LARGE, "larger than");
    free(big);
    /* more variables than KG_ENV_MAX_VARS */
    kg_buf many;
    kg_buf_init(&many, KG_DOTENV_MAX_LEN);
    for (unsigned i = 0; i <= KG_ENV_MAX_VARS; i++)
        KG_ASSERT_OK(kg_buf_printf(&many, "V%u=1\n", i));
    expect_err((const char *)many.data, many.len, KG_ERR_TOO_LARGE, "t.env:4097");
    kg_buf_free(&many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forms),      cmocka_unit_test(compose_table), cmocka_unit_test(refused),
        cmocka_unit_test(rejections), cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
