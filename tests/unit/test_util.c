/* test_util.c - vector loading and assertions for the unit tests (see test_util.h). */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#define KG_TEST_MAX_VECTOR (16u << 20)

void kg_test_read_vector(kg_buf *out, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", KG_VECTORS_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open vector %s", path);
    kg_buf_init(out, KG_TEST_MAX_VECTOR);
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        KG_ASSERT_OK(kg_buf_append(out, chunk, n));
    fclose(f);
}

json_t *kg_test_load_json(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", KG_VECTORS_DIR, rel);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fail_msg("cannot parse %s: %s (line %d)", path, err.text, err.line);
    return j;
}

void kg_test_hex(kg_buf *out, const char *hex)
{
    kg_buf_init(out, KG_TEST_MAX_VECTOR);
    KG_ASSERT_OK(kg_hex_decode_buf(out, hex, strlen(hex)));
}

void kg_test_assert_hex(const uint8_t *got, size_t n, const char *want_hex)
{
    char buf[2 * 4096 + 1];
    if (n > 4096)
        fail_msg("kg_test_assert_hex: %zu bytes is too long", n);
    KG_ASSERT_OK(kg_hex_encode(buf, sizeof(buf), got, n));
    const char *w = want_hex;
    if (w[0] == '0' && w[1] == 'x')
        w += 2;
    if (strcmp(buf, w) != 0)
        fail_msg("bytes differ\n  got  %s\n  want %s", buf, w);
}
