/* receipt_fuzz.c - libFuzzer harness for a release's receipt (lib/log/receipt.c), as the agent
 * reads it from a KMS answer: JSON -> kg_log_receipt_parse -> kg_log_receipt_verify against a
 * fixed root key. A receipt that parses writes back as JSON that parses to the same receipt. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t root[KG_K256_PUB_LEN] = {
        0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0,
        0x62, 0x95, 0xce, 0x87, 0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d,
        0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98}; /* G */
    json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (o == NULL)
        return 0;
    kg_log_receipt r;
    if (kg_ok(kg_log_receipt_parse(&r, o))) {
        kg_log_entry e;
        if (kg_failed(kg_log_receipt_verify(&e, &r, root)))
            kg_error_clear(); /* any verdict; it must only not crash */
        kg_buf out;
        kg_buf_init(&out, KG_RECEIPT_MAX_JSON);
        if (kg_failed(kg_log_receipt_to_json(&out, &r)))
            abort();
        json_t *o2 = json_loadb((const char *)out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
        kg_log_receipt r2;
        if (o2 == NULL || kg_failed(kg_log_receipt_parse(&r2, o2)) ||
            r2.leaf_index != r.leaf_index || r2.tree_size != r.tree_size ||
            r2.entry.len != r.entry.len || memcmp(r2.entry.data, r.entry.data, r.entry.len) != 0 ||
            r2.proof.n != r.proof.n)
            abort();
        kg_log_receipt_free(&r2);
        json_decref(o2);
        kg_buf_free(&out);
    }
    kg_log_receipt_free(&r);
    json_decref(o);
    kg_error_clear();
    return 0;
}
