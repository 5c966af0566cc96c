/* tlog_note_fuzz.c - libFuzzer harness for the signed-note and checkpoint parsers
 * (lib/log/note.c): a note opens only with a valid signature of the fixed test key, and a
 * checkpoint body that parses formats back to a prefix of itself (extension lines aside). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the fixed test key's public half, derived once (an Ed25519 key derivation per input was
     * most of this harness's time) */
    static const uint8_t seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    static uint8_t pub[32];
    static int have_pub;
    if (!have_pub) {
        if (kg_failed(kg_ed25519_public(pub, seed)))
            abort();
        have_pub = 1;
    }
    size_t tl = 0;
    if (kg_ok(kg_note_open(&tl, data, size, "keygate.fuzz/log", pub)) && tl > size)
        abort();
    kg_checkpoint c;
    kg_buf b;
    kg_buf_init(&b, KG_NOTE_MAX);
    if (kg_ok(kg_checkpoint_parse(&c, data, size))) {
        if (kg_failed(kg_checkpoint_format(&b, &c)) || b.len > size ||
            memcmp(b.data, data, b.len) != 0)
            abort();
    }
    kg_buf_reset(&b);
    b.len = 0;
    /* base64: whatever decodes is canonical */
    if (size < 4096 && kg_ok(kg_base64_decode(&b, (const char *)data, size))) {
        kg_buf enc;
        kg_buf_init(&enc, 8192);
        if (kg_failed(kg_base64_encode(&enc, b.data, b.len)) || enc.len != size ||
            memcmp(enc.data, data, size) != 0)
            abort();
        kg_buf_free(&enc);
    }
    kg_error_clear();
    kg_buf_free(&b);
    return 0;
}
