/* envcrypt_test.c - env envelope and JSON list against tests/vectors/env.json: the published
 * ciphertext, its invalid inputs, tampering, round trips, and name policy. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/envcrypt.h"

typedef struct fixture {
    json_t *v;
    uint8_t secret[32];
    kg_buf ct;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->v = kg_test_load_json("env.json");
    KG_ASSERT_OK(kg_hex_decode_exact(f->secret, 32,
                                     json_string_value(json_object_get(f->v, "x25519_secret"))));
    kg_test_hex(&f->ct, json_string_value(json_object_get(f->v, "ciphertext")));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kg_buf_free(&f->ct);
    json_decref(f->v);
    free(f);
    return 0;
}

static void decrypts_published_vector(void **state)
{
    fixture *f = *state;
    const char *want = json_string_value(json_object_get(f->v, "plaintext"));
    kg_buf pt;
    kg_buf_init(&pt, KG_ENV_MAX_PLAINTEXT_LEN);
    KG_ASSERT_OK(kg_env_decrypt(&pt, f->secret, f->ct.data, f->ct.len));
    assert_int_equal(pt.len, strlen(want));
    assert_memory_equal(pt.data, want, pt.len);
    kg_buf_free(&pt);

    /* The legacy array form parses; its key "" is accepted as bytes but fails name policy. */
    kg_env_list l;
    kg_env_list_init(&l);
    KG_ASSERT_OK(kg_env_decrypt_vars(&l, f->secret, f->ct.data, f->ct.len));
    assert_int_equal(l.count, 1);
    assert_string_equal(l.vars[0].key, "");
    assert_string_equal(l.vars[0].value, "");
    KG_ASSERT_ERR(kg_env_verify_names(&l), KG_ERR_INPUT, "env[0]: env variable name is empty");
    kg_env_list_free(&l);
    assert_int_equal(l.count, 0);
}

/* "" empty, "00 xN" = N zero bytes: each must fail with the field it lacks. */
static void invalid_inputs_fail_cleanly(void **state)
{
    fixture *f = *state;
    json_t *inv = json_object_get(f->v, "invalid_inputs");
    assert_int_equal(json_array_size(inv), 4);
    static const struct {
        size_t n;
        const char *err;
    } want[] = {
        {0, "env ciphertext: truncated reading 'ephemeral public key' (need 32, have 0)"},
        {31, "env ciphertext: truncated reading 'ephemeral public key' (need 32, have 31)"},
        {43, "env ciphertext: truncated reading 'iv' (need 12, have 11)"},
        {44, "env ciphertext: truncated reading 'tag' (need 16, have 0)"},
    };
    for (size_t i = 0; i < json_array_size(inv); i++) {
        const char *spec = json_string_value(json_array_get(inv, i));
        size_t n = 0;
        if (spec[0] != '\0') {
            /* "00 xN": N copies of byte 00. */
            assert_true(strncmp(spec, "00 x", 4) == 0);
            char *end = NULL;
            n = strtoul(spec + 4, &end, 10);
            assert_true(*end == '\0');
        }
        assert_int_equal(n, want[i].n);
        uint8_t *buf = calloc(1, n + 1);
        kg_buf pt;
        kg_buf_init(&pt, 1024);
        KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, buf, n), KG_ERR_TRUNCATED, want[i].err);
        assert_int_equal(pt.len, 0);
        kg_env_list l;
        kg_env_list_init(&l);
        KG_ASSERT_ERR(kg_env_decrypt_vars(&l, f->secret, buf, n), KG_ERR_TRUNCATED, want[i].err);
        assert_int_equal(l.count, 0);
        kg_buf_free(&pt);
        free(buf);
    }
    /* The shortest well-formed envelope: 60 zero bytes has a low-order (zero) ephemeral key. */
    uint8_t zeros[KG_ENV_MIN_CIPHERTEXT_LEN] = {0};
    kg_buf pt;
    kg_buf_init(&pt, 1024);
    KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, zeros, sizeof(zeros)), KG_ERR_VERIFY,
                  "env ciphertext: X25519 shared secret is all zero");
    /* The cap is checked before any byte is read, so the short buffer is never overrun. */
    KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, zeros, KG_ENV_MAX_CIPHERTEXT_LEN + 1),
                  KG_ERR_TOO_LARGE, "exceeds 1048576");
    kg_buf_free(&pt);
}

static void any_flipped_byte_fails(void **state)
{
    fixture *f = *state;
    kg_buf pt;
    kg_buf_init(&pt, 1024);
    for (size_t i = 0; i < f->ct.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            f->ct.data[i] ^= (uint8_t)(1u << bit);
            /* A flipped top bit of the ephemeral key is caught as a non-canonical key; every
             * other change by the AES-GCM tag. */
            kg_error_clear();
            if (kg_ok(kg_env_decrypt(&pt, f->secret, f->ct.data, f->ct.len)))
                fail_msg("byte %zu bit %d flipped: ciphertext still decrypts", i, bit);
            if (i == 31 && bit == 7)
                assert_int_equal(kg_error_code(), KG_ERR_INPUT);
            else
                assert_int_equal(kg_error_code(), KG_ERR_VERIFY);
            assert_non_null(strstr(kg_error_message(), "env ciphertext: "));
            assert_int_equal(pt.len, 0);
            f->ct.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* u = p = 2^255 - 19 is the non-canonical spelling of u = 0. */
    kg_buf alt;
    kg_test_hex(&alt, json_string_value(json_object_get(f->v, "ciphertext")));
    memset(alt.data, 0xff, 32);
    alt.data[0] = 0xed;
    alt.data[31] = 0x7f;
    KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, alt.data, alt.len), KG_ERR_INPUT,
                  "ephemeral public key is not a canonical X25519 key");
    alt.data[0] = 0xec; /* p - 1 is canonical: it reaches the key agreement */
    KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, alt.data, alt.len), KG_ERR_VERIFY,
                  "env ciphertext: ");
    kg_buf_free(&alt);
    /* Truncating by one byte fails too. */
    KG_ASSERT_ERR(kg_env_decrypt(&pt, f->secret, f->ct.data, f->ct.len - 1), KG_ERR_VERIFY,
                  "tag does not verify");
    /* The wrong key fails. */
    uint8_t other[32];
    memcpy(other, f->secret, 32);
    other[5] ^= 1;
    KG_ASSERT_ERR(kg_env_decrypt(&pt, other, f->ct.data, f->ct.len), KG_ERR_VERIFY,
                  "tag does not verify");
    KG_ASSERT_OK(kg_env_decrypt(&pt, f->secret, f->ct.data, f->ct.len)); /* restored intact */
    kg_buf_free(&pt);
}

static void encrypt_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t pub[32];
    KG_ASSERT_OK(kg_x25519_public(pub, f->secret));
    kg_env_list in, out;
    kg_env_list_init(&in);
    kg_env_list_init(&out);
    KG_ASSERT_OK(kg_env_list_add(&in, "DB_PASSWORD", 11, "s3cr\"et\n", 8));
    KG_ASSERT_OK(kg_env_list_add(&in, "API_KEY", 7, "\xc3\xa9t\xc3\xa9", 5));
    kg_buf json, ct, ct2;
    kg_buf_init(&json, 4096);
    kg_buf_init(&ct, 8192);
    kg_buf_init(&ct2, 8192);
    KG_ASSERT_OK(kg_env_serialize(&json, &in));
    KG_ASSERT_OK(kg_buf_terminate(&json));
    assert_string_equal((const char *)json.data,
                        "{\"env\":[{\"key\":\"DB_PASSWORD\",\"value\":\"s3cr\\\"et\\n\"},"
                        "{\"key\":\"API_KEY\",\"value\":\"\xc3\xa9t\xc3\xa9\"}]}");
    KG_ASSERT_OK(kg_env_encrypt(&ct, pub, json.data, json.len));
    assert_int_equal(ct.len, KG_ENV_MIN_CIPHERTEXT_LEN + json.len);
    KG_ASSERT_OK(kg_env_encrypt(&ct2, pub, json.data, json.len));
    assert_memory_not_equal(ct.data, ct2.data, 44); /* fresh ephemeral key and IV each time */

    KG_ASSERT_OK(kg_env_decrypt_vars(&out, f->secret, ct.data, ct.len));
    KG_ASSERT_OK(kg_env_verify_names(&out));
    assert_int_equal(out.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(out.vars[i].key, in.vars[i].key);
        assert_string_equal(out.vars[i].value, in.vars[i].value);
    }
    /* A low-order recipient key is refused rather than sealing to an all-zero secret. */
    uint8_t zero[32] = {0};
    size_t before = ct.len;
    KG_ASSERT_ERR(kg_env_encrypt(&ct, zero, "x", 1), KG_ERR_VERIFY, "env public key: X25519");
    assert_int_equal(ct.len, before);
    kg_env_list_free(&in);
    kg_env_list_free(&out);
    kg_buf_free(&json);
    kg_buf_free(&ct);
    kg_buf_free(&ct2);
}

static void parse_shapes(void **state)
{
    static const struct {
        const char *json;
        const char *err; /* NULL = accepted */
        size_t count;
    } cases[] = {
        {"{\"env\":[]}", NULL, 0},
        {"[]", NULL, 0},
        {"{\"env\":[{\"key\":\"A\",\"value\":\"1\"}],\"extra\":true}", NULL, 1},
        {"[{\"key\":\"A\",\"value\":\"1\"},{\"key\":\"B\",\"value\":\"2\"}]", NULL, 2},
        {"", "env JSON invalid", 0},
        {"{\"env\":[]} trailing", "env JSON invalid", 0},
        {"{}", "object has no 'env' member", 0},
        {"{\"env\":{}}", "want {\"env\":[...]} or [...]", 0},
        {"\"env\"", "env JSON invalid", 0},
        {"{\"env\":\"A=1\"}", "want {\"env\":[...]} or [...]", 0},
        {"[1]", "env[0]: not an object", 0},
        {"[{\"key\":\"A\",\"value\":\"1\"},{\"value\":\"x\"}]", "env[1]: 'key' missing", 0},
        {"[{\"key\":\"A\",\"value\":2}]", "env[0]: 'value' missing or not a string", 0},
        {"[{\"key\":\"A\",\"key\":\"B\",\"value\":\"\"}]", "env JSON invalid", 0},
        {"[{\"key\":\"A\\u0000B\",\"value\":\"\"}]", "env JSON invalid", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kg_env_list l;
        kg_env_list_init(&l);
        if (cases[i].err == NULL) {
            KG_ASSERT_OK(kg_env_parse(&l, cases[i].json, strlen(cases[i].json)));
            assert_int_equal(l.count, cases[i].count);
        } else {
            KG_ASSERT_ERR(kg_env_parse(&l, cases[i].json, strlen(cases[i].json)), KG_ERR_INPUT,
                          cases[i].err);
            assert_int_equal(l.count, 0); /* all or nothing */
        }
        kg_env_list_free(&l);
    }
}

static void too_many_vars(void **state)
{
    kg_buf j;
    kg_buf_init(&j, 1u << 20);
    KG_ASSERT_OK(kg_buf_append_str(&j, "["));
    for (int i = 0; i <= KG_ENV_MAX_VARS; i++)
        KG_ASSERT_OK(kg_buf_printf(&j, "%s{\"key\":\"K%d\",\"value\":\"\"}", i ? "," : "", i));
    KG_ASSERT_OK(kg_buf_append_str(&j, "]"));
    kg_env_list l;
    kg_env_list_init(&l);
    KG_ASSERT_ERR(kg_env_parse(&l, j.data, j.len), KG_ERR_TOO_LARGE,
                  "env has 4097 variables, more than 4096");
    assert_int_equal(l.count, 0);
    kg_buf_free(&j);
}

static void name_policy(void **state)
{
    KG_ASSERT_OK(kg_env_check_name("A"));
    KG_ASSERT_OK(kg_env_check_name("_private_9"));
    KG_ASSERT_ERR(kg_env_check_name(""), KG_ERR_INPUT, "name is empty");
    KG_ASSERT_ERR(kg_env_check_name("9LIVES"), KG_ERR_INPUT, "'9LIVES' is not");
    KG_ASSERT_ERR(kg_env_check_name("A-B"), KG_ERR_INPUT, "(byte 1)");
    KG_ASSERT_ERR(kg_env_check_name("A=B"), KG_ERR_INPUT, "(byte 1)");
    KG_ASSERT_ERR(kg_env_check_name("A B"), KG_ERR_INPUT, "(byte 1)");
    char longname[KG_ENV_MAX_NAME_LEN + 2];
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    KG_ASSERT_ERR(kg_env_check_name(longname), KG_ERR_INPUT, "of 257 bytes exceeds 256");

    kg_env_list l;
    kg_env_list_init(&l);
    KG_ASSERT_OK(kg_env_list_add(&l, "X", 1, "1", 1));
    KG_ASSERT_OK(kg_env_list_add(&l, "Y", 1, "2", 1));
    KG_ASSERT_OK(kg_env_verify_names(&l));
    KG_ASSERT_OK(kg_env_list_add(&l, "X", 1, "3", 1));
    KG_ASSERT_ERR(kg_env_verify_names(&l), KG_ERR_INPUT, "env[2]: variable 'X' repeats env[0]");
    KG_ASSERT_ERR(kg_env_list_add(&l, "A\0B", 3, "", 0), KG_ERR_INPUT, "key contains a NUL");
    assert_int_equal(l.count, 3);
    kg_env_list_free(&l);
    kg_env_list_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decrypts_published_vector),
        cmocka_unit_test(invalid_inputs_fail_cleanly),
        cmocka_unit_test(any_flipped_byte_fails),
        cmocka_unit_test(encrypt_round_trip),
        cmocka_unit_test(parse_shapes),
        cmocka_unit_test(too_many_vars),
        cmocka_unit_test(name_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
