/* dotenv_test.c - the .env parser of `keygate env encrypt`: accepted forms, every rejection with
 * its line, limits, and that the result serializes to the SPEC.md section 5 plaintext. */
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
    parse_ok(&l, "# comment\n\nA=1\r\n  export B = two words \n"
                 "C=\"quoted = kept\"\nD='single'\nE=\nF=\"unbalanced\nG=a=b=c\n   # indented\n");
    const char *want[][2] = {{"A", "1"},          {"B", "two words "},    {"C", "quoted = kept"},
                             {"D", "single"},     {"E", ""},              {"F", "\"unbalanced"},
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
                        "words \"},{\"key\":\"C\",\"value\":\"quoted = kept\"},{\"key\":\"D\","
                        "\"value\":\"single\"},{\"key\":\"E\",\"value\":\"\"},{\"key\":\"F\","
                        "\"value\":\"\\\"unbalanced\"},{\"key\":\"G\",\"value\":\"a=b=c\"}]}");
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
        cmocka_unit_test(forms),
        cmocka_unit_test(rejections),
        cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
