/* log_forge.c - what a KMS operator holding the node's log key could do to a copy of the
 * decision log, for decision_log_itest.sh: append an "allow" for the identity of the newest
 * GetAppKey release at a block where governance did not allow it (with that block's real hash),
 * and sign a checkpoint with the real log key. Everything but the governance replay verifies.
 * Usage: kg-log-forge DB LOG_KEY_FILE RPC_URL BLOCK */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/audit.h"
#include "keygate/eth.h"
#include "keygate/fileio.h"
#include "keygate/tlog.h"

static int fail(const char *what)
{
    fprintf(stderr, "kg-log-forge: %s: %s\n", what, kg_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5)
        return fprintf(stderr, "usage: kg-log-forge DB LOG_KEY_FILE RPC_URL BLOCK\n"), 2;
    kg_audit *a = NULL;
    kg_buf key, name, entry;
    kg_buf_init(&key, 256);
    kg_buf_init(&name, 256);
    kg_buf_init(&entry, KG_LOG_MAX_ENTRY);
    uint8_t seed[32];
    if (kg_failed(kg_file_read(&key, argv[2], 256)))
        return fail("log key");
    while (key.len > 0 && key.data[key.len - 1] == '\n')
        key.len--;
    if (kg_failed(kg_buf_terminate(&key)) ||
        kg_failed(kg_hex_decode_exact(seed, 32, (const char *)key.data)))
        return fail("log key");
    if (kg_failed(kg_audit_open(&a, argv[1], false)) ||
        kg_failed(kg_audit_get_meta(a, "log_name", &name)))
        return fail("open");
    uint64_t size = 0;
    if (kg_failed(kg_audit_log_size(a, &size)))
        return fail("size");
    static kg_log_entry e;
    bool found = false;
    for (uint64_t i = size; i-- > 0 && !found;) {
        entry.len = 0;
        if (kg_failed(kg_audit_log_entry(a, i, &entry, NULL)) ||
            kg_failed(kg_log_entry_parse(&e, entry.data, entry.len)))
            return fail("entry");
        found = e.allowed && e.who == KG_LOG_WHO_VERIFIED && e.method.len == 9 &&
                memcmp(e.method.p, "GetAppKey", 9) == 0;
    }
    if (!found)
        return fprintf(stderr, "kg-log-forge: no GetAppKey release to copy\n"), 1;
    kg_eth_client *c = NULL;
    kg_eth_block b;
    if (kg_failed(kg_eth_client_new(&c, argv[3], 10000)) ||
        kg_failed(kg_eth_get_block_by_number(c, &b, strtoull(argv[4], NULL, 10))))
        return fail("block");
    char hash[67] = "0x";
    if (kg_failed(kg_hex_encode(hash + 2, sizeof(hash) - 2, b.hash, 32)))
        return fail("hash");
    kg_audit_record r = {.method = "GetAppKey",
                         .peer = "127.0.0.1",
                         .allowed = true,
                         .reason = "allowed",
                         .identity = &e.identity,
                         .block_number = (int64_t)b.number,
                         .block_hash = hash,
                         .released = "{\"k256_pubkey\":\"forged\"}"};
    int64_t row = 0;
    if (kg_failed(kg_audit_append(a, &r, &row)) ||
        kg_failed(kg_audit_checkpoint(a, (const char *)name.data, seed, NULL, NULL)))
        return fail("append");
    printf("forged row %lld (log entry %llu) at block %llu\n", (long long)row,
           (unsigned long long)size, (unsigned long long)b.number);
    kg_eth_client_free(c);
    kg_audit_free(a);
    return 0;
}
