/* test_util.h - helpers shared by the cmocka unit tests: vectors, hex, error assertions. */
#ifndef KG_TEST_UTIL_H
#define KG_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

/* Reads tests/vectors/<rel> whole; caller frees with kg_buf_free. Fails the test if absent. */
void kg_test_read_vector(kg_buf *out, const char *rel);
/* Parses tests/vectors/<rel> as JSON; caller json_decref()s. */
json_t *kg_test_load_json(const char *rel);
/* Decodes hex into a kg_buf (fails the test on bad hex); caller frees. */
void kg_test_hex(kg_buf *out, const char *hex);
/* Asserts n bytes equal the given hex string, printing both on mismatch. */
void kg_test_assert_hex(const uint8_t *got, size_t n, const char *want_hex);

/* Asserts the call succeeded, printing the error chain if it did not. */
#define KG_ASSERT_OK(expr)                                                                         \
    do {                                                                                           \
        kg_result r_ = (expr);                                                                     \
        if (kg_failed(r_))                                                                         \
            fail_msg("%s failed: %s (%s)", #expr, kg_error_message(), kg_error_site());            \
    } while (0)

/* Asserts the call failed with the given kind and a message containing `needle`. */
#define KG_ASSERT_ERR(expr, code, needle)                                                          \
    do {                                                                                           \
        kg_error_clear();                                                                          \
        kg_result r_ = (expr);                                                                     \
        if (kg_ok(r_))                                                                             \
            fail_msg("%s succeeded, expected error containing '%s'", #expr, (needle));             \
        if (kg_error_code() != (code) || strstr(kg_error_message(), (needle)) == NULL)             \
            fail_msg("%s: got %s '%s', want %s containing '%s'", #expr,                            \
                     kg_err_name(kg_error_code()), kg_error_message(), kg_err_name(code),          \
                     (needle));                                                                    \
    } while (0)

#endif
