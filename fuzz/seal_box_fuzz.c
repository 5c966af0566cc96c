/* seal_box_fuzz.c - libFuzzer harness for kg_box_open (lib/seal/box.c), which reads boxes that
 * carry recovery shares from their holders and between KMS nodes (untrusted bytes): any input
 * opens only to exactly its ciphertext's length and otherwise appends nothing; and the input as a
 * plaintext seals and opens back to itself. The recipient key is a fixed test key (not a secret):
 * the seeds are boxes to it, so mutations of them reach the AES-GCM stage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/sealbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t SECRET[KG_X25519_LEN] = {
    0x58, 0x13, 0x6d, 0x2a, 0x91, 0x0e, 0x47, 0xc4, 0x3b, 0x8f, 0x62, 0xd9, 0x05, 0x7a, 0xe3, 0x1c,
    0x94, 0x28, 0xbf, 0x50, 0x6e, 0xa1, 0x37, 0xc8, 0x0d, 0xf6, 0x49, 0x82, 0x2b, 0x7e, 0xd5, 0x40,
};
static const char AAD[] = "keygate fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pub[KG_X25519_LEN];
    static int have_pub;
    if (!have_pub) {
        if (kg_failed(kg_x25519_public(pub, SECRET)))
            abort();
        have_pub = 1;
    }
    kg_buf out;
    kg_buf_init(&out, KG_BOX_MAX_PLAINTEXT);
    if (kg_ok(kg_box_open(&out, SECRET, KG_BOX_LABEL_HOLDER_SHARE, AAD, sizeof(AAD) - 1, data,
                          size))) {
        if (size < KG_BOX_OVERHEAD || out.len != size - KG_BOX_OVERHEAD)
            abort();
    } else if (out.len != 0) {
        abort(); /* nothing of a box that does not open reaches the caller */
    }
    kg_error_clear();

    /* the input as plaintext: sealed to the key, it opens to itself */
    if (size <= KG_BOX_MAX_PLAINTEXT) {
        kg_buf box, back;
        kg_buf_init(&box, KG_BOX_MAX_PLAINTEXT + KG_BOX_OVERHEAD);
        kg_buf_init(&back, KG_BOX_MAX_PLAINTEXT);
        if (kg_failed(kg_box_seal(&box, pub, KG_BOX_LABEL_HOLDER_SHARE, AAD, sizeof(AAD) - 1, data,
                                  size)) ||
            box.len != size + KG_BOX_OVERHEAD ||
            kg_failed(kg_box_open(&back, SECRET, KG_BOX_LABEL_HOLDER_SHARE, AAD, sizeof(AAD) - 1,
                                  box.data, box.len)) ||
            back.len != size || (size > 0 && memcmp(back.data, data, size) != 0))
            abort();
        kg_buf_free(&box);
        kg_buf_free(&back);
    }
    kg_buf_free(&out);
    return 0;
}
