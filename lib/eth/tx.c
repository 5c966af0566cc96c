/* tx.c - EIP-1559 (type 2) transaction signing, sender and contract-creation addresses, and
 * EIP-55 address text (see eth.h). */
#include "keygate/eth.h"

#include <ctype.h>
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"

/* rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas_limit, destination,
 *      amount, data, access_list]) items, without the list header (EIP-1559). */
static kg_result tx_fields(kg_buf *out, const kg_eth_tx *tx)
{
    KG_GUARD(kg_rlp_uint(out, tx->chain_id));
    KG_GUARD(kg_rlp_uint(out, tx->nonce));
    KG_GUARD(kg_rlp_uint(out, tx->max_priority_fee_per_gas));
    KG_GUARD(kg_rlp_uint(out, tx->max_fee_per_gas));
    KG_GUARD(kg_rlp_uint(out, tx->gas_limit));
    /* Contract creation has an empty destination (0x80), not the zero address. */
    KG_GUARD(kg_rlp_bytes(out, tx->to, tx->has_to ? KG_ETH_ADDRESS_LEN : 0));
    KG_GUARD(kg_rlp_uint256(out, tx->value));
    KG_GUARD(kg_rlp_bytes(out, tx->data, tx->data_len));
    KG_GUARD(kg_rlp_list(out, NULL, 0)); /* empty access list */
    return KG_OK;
}

/* 0x02 || rlp(list(fields)) appended to out. */
static kg_result typed_envelope(kg_buf *out, const kg_buf *fields)
{
    KG_GUARD(kg_buf_append_u8(out, 0x02));
    return kg_rlp_list(out, fields->data, fields->len);
}

kg_result kg_eth_tx_sign(kg_buf *raw, uint8_t tx_hash[KG_ETH_HASH_LEN], const kg_eth_tx *tx,
                         const uint8_t key[32])
{
    kg_result rc = KG_ERROR;
    kg_buf fields, unsigned_tx;
    uint8_t digest[KG_KECCAK256_LEN], sig[KG_K256_RECSIG_LEN];
    size_t mark = raw->len;
    kg_buf_init(&fields, KG_ETH_MAX_TX_LEN);
    kg_buf_init(&unsigned_tx, KG_ETH_MAX_TX_LEN);
    KG_ENSURE_C(tx->data_len == 0 || tx->data != NULL, KG_ERR_USAGE, "transaction data is NULL");
    KG_ENSURE_C(tx->data_len <= KG_ETH_MAX_ABI_LEN, KG_ERR_TOO_LARGE,
                "transaction data of %zu bytes exceeds %u", tx->data_len, KG_ETH_MAX_ABI_LEN);

    /* Signing hash: keccak256(0x02 || rlp([...9 fields])). */
    KG_GUARD_C(tx_fields(&fields, tx));
    KG_GUARD_C(typed_envelope(&unsigned_tx, &fields));
    kg_keccak256(digest, unsigned_tx.data, unsigned_tx.len);
    KG_GUARD_CTX_C(kg_k256_sign_recoverable(sig, key, digest), "signing transaction");

    /* Signed: the same fields, then y_parity, r, s (integers: leading zeros stripped). */
    KG_GUARD_C(kg_rlp_uint(&fields, sig[64]));
    KG_GUARD_C(kg_rlp_uint256(&fields, sig));
    KG_GUARD_C(kg_rlp_uint256(&fields, sig + 32));
    KG_GUARD_C(typed_envelope(raw, &fields));
    if (tx_hash != NULL)
        kg_keccak256(tx_hash, raw->data + mark, raw->len - mark);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        raw->len = mark;
    kg_buf_free(&fields);
    kg_buf_free(&unsigned_tx);
    kg_memzero(digest, sizeof(digest));
    return rc;
}

kg_result kg_eth_address_of_key(uint8_t addr[KG_ETH_ADDRESS_LEN], const uint8_t key[32])
{
    uint8_t pub[KG_K256_PUB_UNCOMPRESSED_LEN];
    KG_GUARD(kg_k256_public_uncompressed(pub, key));
    return kg_k256_eth_address(addr, pub, sizeof(pub));
}

kg_result kg_eth_create_address(uint8_t addr[KG_ETH_ADDRESS_LEN],
                                const uint8_t sender[KG_ETH_ADDRESS_LEN], uint64_t nonce)
{
    kg_result rc = KG_ERROR;
    kg_buf items, list;
    uint8_t h[KG_KECCAK256_LEN];
    kg_buf_init(&items, 64);
    kg_buf_init(&list, 64);
    KG_GUARD_C(kg_rlp_bytes(&items, sender, KG_ETH_ADDRESS_LEN));
    KG_GUARD_C(kg_rlp_uint(&items, nonce));
    KG_GUARD_C(kg_rlp_list(&list, items.data, items.len));
    kg_keccak256(h, list.data, list.len);
    memcpy(addr, h + 12, KG_ETH_ADDRESS_LEN);
    rc = KG_OK;
cleanup:
    kg_buf_free(&items);
    kg_buf_free(&list);
    return rc;
}

/* EIP-55: hex digit i is upper-case iff nibble i of keccak256(lowercase hex) is >= 8. */
void kg_eth_address_checksum(char out[43], const uint8_t addr[KG_ETH_ADDRESS_LEN])
{
    static const char HEX[] = "0123456789abcdef";
    char lower[40];
    uint8_t h[KG_KECCAK256_LEN];
    for (size_t i = 0; i < KG_ETH_ADDRESS_LEN; i++) {
        lower[2 * i] = HEX[addr[i] >> 4];
        lower[2 * i + 1] = HEX[addr[i] & 15];
    }
    kg_keccak256(h, lower, sizeof(lower));
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < 40; i++) {
        uint8_t nib = (i % 2 == 0) ? (uint8_t)(h[i / 2] >> 4) : (uint8_t)(h[i / 2] & 15);
        char c = lower[i];
        out[2 + i] = (c >= 'a' && nib >= 8) ? (char)(c - 'a' + 'A') : c;
    }
    out[42] = '\0';
}

kg_result kg_eth_address_parse(uint8_t addr[KG_ETH_ADDRESS_LEN], const char *text)
{
    KG_ENSURE(text != NULL && strlen(text) == 42 && text[0] == '0' && (text[1] == 'x'),
              KG_ERR_INPUT, "address '%s' is not 0x followed by 40 hex digits", text ? text : "");
    bool upper = false, lower = false;
    for (size_t i = 2; i < 42; i++) {
        upper |= isupper((unsigned char)text[i]) != 0;
        lower |= islower((unsigned char)text[i]) != 0;
    }
    uint8_t a[KG_ETH_ADDRESS_LEN];
    size_t n;
    KG_GUARD_CTX(kg_hex_decode(a, sizeof(a), &n, text + 2, 40), "address '%s'", text);
    KG_ENSURE(n == KG_ETH_ADDRESS_LEN, KG_ERR_INPUT, "address '%s' is not 20 bytes", text);
    if (upper && lower) {
        char want[43];
        kg_eth_address_checksum(want, a);
        KG_ENSURE(strcmp(want, text) == 0, KG_ERR_INPUT,
                  "address '%s' has a bad EIP-55 checksum (expected '%s')", text, want);
    }
    memcpy(addr, a, sizeof(a));
    return KG_OK;
}
