/* abi_fuzz.c - libFuzzer harness for the strict ABI decoder and revert-data parser: whatever
 * decodes must re-encode to exactly the input (the decoder accepts only canonical encodings). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Type lists tried on every input: the policy answer, CLI getters, a mixed tuple, an event. */
static const kg_abi_type T_BOOL_STRING[] = {KG_ABI_T_BOOL, KG_ABI_T_STRING};
static const kg_abi_type T_ARRAY[] = {KG_ABI_T_BYTES32_ARRAY};
static const kg_abi_type T_MIXED[] = {KG_ABI_T_BYTES,   KG_ABI_T_UINT64,        KG_ABI_T_STRING,
                                      KG_ABI_T_ADDRESS, KG_ABI_T_BYTES32_ARRAY, KG_ABI_T_UINT8};

/* a CheckpointPublished event's data, from a chain node's eth_getLogs (keygate audit verify) */
static const kg_abi_type T_CHECKPOINT[] = {KG_ABI_T_UINT64, KG_ABI_T_BYTES32, KG_ABI_T_BYTES};

static const struct {
    const kg_abi_type *t;
    size_t n;
} SHAPES[] = {{T_BOOL_STRING, 2}, {T_ARRAY, 1}, {T_MIXED, 6}, {T_CHECKPOINT, 3}};

/* Rebuilds encoder values from decoded ones. */
static void round_trip(const kg_abi_decoded *v, size_t n, const uint8_t *data, size_t size)
{
    kg_abi_value vals[6];
    kg_abi_value elems[64];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        switch (v[i].type) {
        case KG_ABI_T_BYTES: vals[i] = kg_abi_bytes(v[i].data, v[i].len); break;
        case KG_ABI_T_STRING:
            vals[i] = kg_abi_bytes(v[i].data, v[i].len);
            vals[i].kind = KG_ABI_STRING;
            break;
        case KG_ABI_T_BYTES32_ARRAY:
            if (v[i].len > 64 - used)
                return; /* beyond this harness's scratch space */
            for (size_t j = 0; j < v[i].len; j++)
                elems[used + j] = kg_abi_bytes32(v[i].data + 32 * j);
            vals[i] = kg_abi_array(elems + used, v[i].len);
            used += v[i].len;
            break;
        default: vals[i] = kg_abi_bytes32(v[i].word); break;
        }
    }
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    if (kg_failed(kg_abi_encode(&b, vals, n)) || b.len != size ||
        (size > 0 && memcmp(b.data, data, size) != 0))
        abort();
    kg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_abi_decoded v[6];
    for (size_t s = 0; s < sizeof(SHAPES) / sizeof(SHAPES[0]); s++) {
        if (kg_ok(kg_abi_decode(v, SHAPES[s].t, SHAPES[s].n, data, size, 4096))) {
            char reason[KG_ETH_MAX_REASON_LEN + 1];
            for (size_t i = 0; i < SHAPES[s].n; i++)
                if (v[i].type == KG_ABI_T_STRING &&
                    kg_failed(kg_abi_get_string(reason, sizeof(reason), &v[i])) &&
                    v[i].len <= KG_ETH_MAX_REASON_LEN)
                    abort(); /* a decoded string that fits must copy */
            round_trip(v, SHAPES[s].n, data, size);
        }
        kg_error_clear();
    }
    kg_eth_revert rv;
    if (kg_ok(kg_abi_decode_revert(&rv, data, size))) {
        char text[KG_ETH_MAX_REASON_LEN + 64];
        kg_eth_revert_describe(text, sizeof(text), &rv);
        if (rv.kind == KG_ETH_REVERT_ERROR && strlen(rv.reason) > KG_ETH_MAX_REASON_LEN)
            abort();
    }
    kg_error_clear();
    return 0;
}
