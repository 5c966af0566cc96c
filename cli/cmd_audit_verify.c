/* cmd_audit_verify.c - `keygate audit verify`: what an auditor runs over a KMS's decision log
 * (docs/design.md, "The decision log"). The log key's certificate is checked against the KMS
 * root secp256k1 key published on chain (kmsInfo), every checkpoint against that key, the tree
 * recomputed from the entries against every checkpoint, the audit rows against the entries,
 * and each allow entry's governance at its recorded block (historical eth_call). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_verify.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/eth.h"
#include "keygate/hash.h"
#include "keygate/log_anchor.h"
#include "keygate/tlog.h"
#include "status.h"

#define MAX_KEY_JSON 16384u
#define VIOLATION_MAX 1024u  /* bytes of a violation message kept in the JSON list */
#define MAX_ANCHORS 1000000u /* published checkpoints read from the chain */
#define CHECKPOINT_PUBLISHED "CheckpointPublished(bytes32,uint64,bytes32,bytes)"
#define KG_MAX_ROOT_EPOCH_KEYS 64u /* root epochs read from the chain */

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate audit verify [--state DIR | --db FILE] [--kms URL]\n"
        "                            [--log-key-cert FILE] [--rpc-url URL --kms-contract ADDR]\n"
        "                            [--root-k256 HEX] [--no-replay]\n\n"
        "Verifies a KMS decision log; exit 1 listing each violation with its entry index.\n"
        "With a chain, the checkpoints published on the KMS contract (CheckpointPublished)\n"
        "are checked too: signed by the root key, growing, and each consistent with the\n"
        "next and with the log's head (RFC 9162 proofs): a rollback or a fork is a violation.\n"
        "  --state DIR         a devnet (default ./%s): its audit db, chain and KMS contract\n"
        "  --db FILE           a KMS audit database (a copy is fine)\n"
        "  --kms URL           the KMS's public log (GET /log-key, /checkpoint, /tile/...):\n"
        "                      checkpoint, entry bundles and hash tiles; with a db, the db\n"
        "                      must hold the same tree\n"
        "  --log-key-cert FILE the node's log-key.json (name, pubkey, cert) instead of the\n"
        "                      copy in the database\n"
        "  --rpc-url, --kms-contract  the chain: the root key from kmsInfo() and governance\n"
        "                      replay (isAppAllowed / isKmsAllowed at each allow's block)\n"
        "  --root-k256 HEX     the root key directly (compressed), when no chain is given\n"
        "  --no-replay         skip the governance replay\n",
        KG_DEVNET_DEFAULT_DIR);
}

typedef struct vctx {
    FILE *out;          /* the report */
    json_t *violations; /* each violation as {entry, message}, or NULL */
    json_t *entries;    /* the served log's newest max_entries entries as rows, or NULL */
    uint64_t max_entries;
    kg_eth_client *eth;
    uint8_t kms[KG_ETH_ADDRESS_LEN];
    bool have_block;
    kg_eth_block block; /* the last block looked up */
    uint64_t count;     /* violations reported */
    uint64_t skipped;   /* allow entries without identity or block: not replayable */
    /* the root keys that may have signed (kmsInfo, or every root epoch on chain) */
    size_t n_roots;
    uint8_t roots[KG_MAX_ROOT_EPOCH_KEYS][KG_K256_PUB_LEN];
    uint32_t root_epoch[KG_MAX_ROOT_EPOCH_KEYS];
    uint8_t root_status[KG_MAX_ROOT_EPOCH_KEYS]; /* KG_ROOT_EPOCH_*; current for kmsInfo alone */
} vctx;

static void report(void *ctx, uint64_t index, const char *msg)
{
    vctx *v = ctx;
    v->count++;
    if (index == UINT64_MAX)
        fprintf(v->out, "VIOLATION: %s\n", msg);
    else
        fprintf(v->out, "VIOLATION [entry %" PRIu64 "]: %s\n", index, msg);
    if (v->violations != NULL) { /* msg may quote log content: printable text only */
        char esc[4 * VIOLATION_MAX + 1];
        size_t n = kg_text_escape(esc, sizeof(esc), msg, strnlen(msg, VIOLATION_MAX));
        json_array_append_new(
            v->violations,
            json_pack("{s:o,s:s%}", "entry",
                      index == UINT64_MAX ? json_null() : json_integer((json_int_t)index),
                      "message", esc, n));
    }
}

/* A release names the root epoch it was made under ("root_epoch", absent: 0) and the
 * retiring epochs whose keys it also released ("previous"): at its block the first must be the
 * chain's current epoch and each of the others retiring (docs/design.md, "Root-key epochs"). */
static kg_result replay_epochs(vctx *v, const kg_log_entry *e)
{
    json_error_t jerr;
    json_t *r = e->released.present ? json_loadb(e->released.p, e->released.len, 0, &jerr) : NULL;
    json_t *n = json_object_get(r, "root_epoch"), *prev = json_object_get(r, "previous");
    json_int_t epoch = n != NULL ? (json_is_integer(n) ? json_integer_value(n) : -1) : 0;
    kg_result rc = KG_OK;
    uint32_t cur = 0;
    if (epoch < 0 || epoch > (json_int_t)UINT32_MAX || (prev != NULL && !json_is_array(prev))) {
        rc =
            kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__, "its record names no valid root epoch");
        goto done;
    }
    rc = kg_eth_current_root_epoch(&cur, v->eth, v->kms, &v->block);
    if (kg_failed(rc) && kg_error_code() == KG_ERR_DENIED) { /* a contract from before epochs */
        kg_error_clear();
        rc = KG_OK;
        cur = 0;
    }
    if (kg_ok(rc) && cur != (uint32_t)epoch)
        rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                          "released under root epoch %lld at block %" PRIu64
                          ", where the current epoch is %u",
                          (long long)epoch, e->block_number, cur);
    for (size_t i = 0; kg_ok(rc) && prev != NULL && i < json_array_size(prev); i++) {
        json_t *m = json_object_get(json_array_get(prev, i), "root_epoch");
        kg_eth_root_epoch_info info;
        if (!json_is_integer(m) || json_integer_value(m) < 0 ||
            json_integer_value(m) > (json_int_t)UINT32_MAX) {
            rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                              "its record names no valid previous root epoch");
            break;
        }
        uint32_t mm = (uint32_t)json_integer_value(m);
        rc = kg_eth_root_epoch(&info, v->eth, v->kms, mm, &v->block);
        if (kg_ok(rc) && info.status != KG_EPOCH_RETIRING)
            rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                              "released root epoch %u's keys at block %" PRIu64
                              ", where that epoch is %s, not retiring",
                              mm, e->block_number, kg_epoch_status_name(info.status));
    }
done:
    json_decref(r);
    return rc;
}

static kg_result replay(void *ctx, const kg_log_entry *e)
{
    vctx *v = ctx;
    if (e->who != KG_LOG_WHO_VERIFIED || !e->has_block) {
        v->skipped++;
        return KG_OK;
    }
    if (!v->have_block || v->block.number != e->block_number) {
        KG_GUARD_CTX(kg_eth_get_block_by_number(v->eth, &v->block, e->block_number),
                     "block %" PRIu64, e->block_number);
        v->have_block = true;
    }
    /* the recorded block hash must be this chain's block at that height */
    char hash[2 + 2 * KG_ETH_HASH_LEN + 1] = "0x";
    KG_GUARD(kg_hex_encode(hash + 2, sizeof(hash) - 2, v->block.hash, KG_ETH_HASH_LEN));
    KG_ENSURE(e->block_hash.present && e->block_hash.len == strlen(hash) &&
                  strncasecmp(e->block_hash.p, hash, e->block_hash.len) == 0,
              KG_ERR_DENIED, "recorded block hash %.*s is not block %" PRIu64 " (%s) of this chain",
              (int)(e->block_hash.present ? e->block_hash.len : 0),
              e->block_hash.p ? e->block_hash.p : "", e->block_number, hash);
    bool kms =
        e->method.present && ((e->method.len == 9 && memcmp(e->method.p, "GetKmsKey", 9) == 0) ||
                              (e->method.len == 10 && memcmp(e->method.p, "self-check", 10) == 0));
    kg_eth_decision d;
    memset(&d, 0, sizeof(d));
    KG_GUARD(kg_eth_policy_check(&d, v->eth, v->kms, kms ? KG_ETH_POLICY_KMS : KG_ETH_POLICY_APP,
                                 &e->identity, &v->block));
    KG_ENSURE(d.allowed, KG_ERR_DENIED, "%s said: %s", kms ? "isKmsAllowed" : "isAppAllowed",
              d.reason);
    bool keys =
        e->method.present && ((e->method.len == 9 && memcmp(e->method.p, "GetAppKey", 9) == 0) ||
                              (e->method.len == 8 && memcmp(e->method.p, "SignCert", 8) == 0));
    return keys ? replay_epochs(v, e) : KG_OK;
}

/* The log key: name, public key and the root's certificate over them. */
typedef struct log_key {
    char name[KG_NOTE_MAX_NAME];
    uint8_t pub[KG_ED25519_PUB_LEN];
    bool has_cert;
    uint8_t cert[KG_K256_RECSIG_LEN];
} log_key;

static kg_result key_from_json(log_key *k, const char *text, size_t len)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "log key: not JSON: %s", err.text);
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *pub = json_string_value(json_object_get(o, "pubkey"));
    const char *cert = json_string_value(json_object_get(o, "cert"));
    kg_result rc = KG_OK;
    if (name == NULL || pub == NULL || cert == NULL || !kg_note_name_ok(name))
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "log key: needs name, pubkey, cert");
    if (kg_ok(rc)) {
        snprintf(k->name, sizeof(k->name), "%s", name);
        rc = kg_hex_decode_exact(k->pub, sizeof(k->pub), pub);
    }
    if (kg_ok(rc))
        rc = kg_hex_decode_exact(k->cert, sizeof(k->cert), cert);
    k->has_cert = kg_ok(rc);
    json_decref(o);
    return rc;
}

static kg_result key_from_db(log_key *k, kg_audit *a)
{
    kg_buf b;
    kg_buf_init(&b, 1024);
    kg_result rc = kg_audit_get_meta(a, "log_name", &b);
    if (kg_ok(rc) && !kg_note_name_ok((const char *)b.data))
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "log key: bad name in the database");
    if (kg_ok(rc))
        snprintf(k->name, sizeof(k->name), "%s", (const char *)b.data);
    b.len = 0;
    if (kg_ok(rc))
        rc = kg_audit_get_meta(a, "log_pubkey", &b);
    if (kg_ok(rc))
        rc = kg_hex_decode_exact(k->pub, sizeof(k->pub), (const char *)b.data);
    b.len = 0;
    if (kg_ok(rc) && kg_ok(kg_audit_get_meta(a, "log_key_cert", &b)))
        k->has_cert = kg_ok(kg_hex_decode_exact(k->cert, sizeof(k->cert), (const char *)b.data));
    kg_error_clear();
    kg_buf_free(&b);
    return rc;
}

static kg_result http_get(kg_buf *out, const char *base, const char *path)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", base, path);
    long status = 0;
    /* insecure TLS: everything fetched is checked against signatures rooted on chain */
    KG_GUARD_CTX(kg_cli_http(out, &status, url, NULL, true, 30000), "GET %s", url);
    KG_ENSURE(status == 200, KG_ERR_NETWORK, "GET %s: HTTP %ld", url, status);
    return KG_OK;
}

/* Every stored hash of a tree rebuilt from the served entries (--kms without a database), so
 * consistency proofs can be built from it: level l holds the complete subtrees of 2^l leaves. */
typedef struct mem_tree {
    uint64_t n;
    kg_buf level[KG_TLOG_MAX_LEVELS];
} mem_tree;

#define MEM_TREE_MAX_LEAVES                                                                        \
    ((size_t)1 << 26) /* a served log checked in memory (2 GiB of hashes)                          \
                       */

static mem_tree *mem_tree_new(void)
{
    mem_tree *t = calloc(1, sizeof(*t));
    for (uint32_t l = 0; t != NULL && l < KG_TLOG_MAX_LEVELS; l++)
        kg_buf_init(&t->level[l],
                    ((MEM_TREE_MAX_LEAVES >> (l < 26 ? l : 26)) + 1) * KG_TLOG_HASH_LEN);
    return t;
}

static kg_result mem_tree_push(mem_tree *t, const uint8_t leaf[KG_TLOG_HASH_LEN])
{
    uint8_t h[KG_TLOG_HASH_LEN];
    memcpy(h, leaf, sizeof(h));
    KG_GUARD(kg_buf_append(&t->level[0], h, sizeof(h)));
    uint32_t l = 0;
    for (uint64_t i = t->n; (i & 1) && l + 1 < KG_TLOG_MAX_LEVELS; i >>= 1, l++) {
        const uint8_t *left = t->level[l].data + t->level[l].len - 2 * KG_TLOG_HASH_LEN;
        KG_GUARD(kg_tlog_node_hash(h, left, h));
        KG_GUARD(kg_buf_append(&t->level[l + 1], h, sizeof(h)));
    }
    t->n++;
    return KG_OK;
}

static kg_result mem_tree_read(void *ctx, uint32_t level, uint64_t index,
                               uint8_t out[KG_TLOG_HASH_LEN])
{
    const mem_tree *t = ctx;
    KG_ENSURE(level < KG_TLOG_MAX_LEVELS && index < t->level[level].len / KG_TLOG_HASH_LEN,
              KG_ERR_NOT_FOUND, "no stored hash (%u, %" PRIu64 ")", (unsigned)level, index);
    memcpy(out, t->level[level].data + index * KG_TLOG_HASH_LEN, KG_TLOG_HASH_LEN);
    return KG_OK;
}

static void mem_tree_free(mem_tree *t)
{
    for (uint32_t l = 0; l < KG_TLOG_MAX_LEVELS; l++)
        kg_buf_free(&t->level[l]);
}

/* --kms: the served log. Checks the served checkpoint, rebuilds the tree from the entry
 * bundles (compared with the served hash tiles), and with a db, that the db holds that tree. */
static kg_result verify_remote(vctx *v, const char *base, const log_key *key, kg_audit *local,
                               bool do_replay, uint64_t *entries, mem_tree *mt,
                               kg_checkpoint *served)
{
    kg_buf note, tile, bundle;
    kg_buf_init(&note, KG_NOTE_MAX);
    kg_buf_init(&tile, KG_TLOG_TILE_WIDTH * KG_TLOG_HASH_LEN);
    kg_buf_init(&bundle, KG_TLOG_TILE_WIDTH * (KG_LOG_MAX_ENTRY + 2u));
    kg_result rc = KG_ERROR;
    kg_log_entry *e = malloc(sizeof(*e));
    KG_ENSURE_C(e != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(http_get(&note, base, "/checkpoint"));
    size_t tl;
    kg_checkpoint c;
    if (kg_failed(kg_note_open(&tl, note.data, note.len, key->name, key->pub)) ||
        kg_failed(kg_checkpoint_parse(&c, note.data, tl))) {
        report(v, UINT64_MAX, kg_error_message());
        rc = KG_OK;
        goto cleanup;
    }
    fprintf(v->out, "served checkpoint: %s, size %" PRIu64 "\n", c.origin, c.size);
    *served = c;
    /* rebuild the tree from the bundles */
    uint64_t size = 0;
    uint8_t edge[KG_TLOG_MAX_LEVELS][KG_TLOG_HASH_LEN];
    for (uint64_t t = 0; t * KG_TLOG_TILE_WIDTH < c.size; t++) {
        kg_tlog_tile tt = {.entries = true, .index = t, .width = kg_tlog_tile_width(0, t, c.size)};
        char p[KG_TLOG_MAX_PATH + 2] = "/";
        KG_GUARD_C(kg_tlog_tile_path(p + 1, sizeof(p) - 1, &tt));
        bundle.len = 0;
        tile.len = 0;
        KG_GUARD_C(http_get(&bundle, base, p));
        tt.entries = false;
        KG_GUARD_C(kg_tlog_tile_path(p + 1, sizeof(p) - 1, &tt));
        KG_GUARD_C(http_get(&tile, base, p));
        KG_ENSURE_C(tile.len == (size_t)tt.width * KG_TLOG_HASH_LEN, KG_ERR_INPUT, "%s: %zu bytes",
                    p, tile.len);
        kg_reader r;
        kg_reader_init(&r, bundle.data, bundle.len);
        for (uint32_t i = 0; i < tt.width; i++) {
            uint16_t n;
            const uint8_t *d;
            KG_GUARD_C(kg_reader_u16be(&r, &n, "bundle entry length"));
            KG_GUARD_C(kg_reader_ptr(&r, &d, n, "bundle entry"));
            uint8_t h[KG_TLOG_HASH_LEN];
            KG_GUARD_C(kg_tlog_leaf_hash(h, d, n));
            if (mt != NULL)
                KG_GUARD_C(mem_tree_push(mt, h));
            if (memcmp(h, tile.data + (size_t)i * KG_TLOG_HASH_LEN, KG_TLOG_HASH_LEN) != 0)
                report(v, size, "served hash tile differs from the served entry");
            if (kg_failed(kg_log_entry_parse(e, d, n))) {
                report(v, size, kg_error_message());
                kg_error_clear();
                goto next;
            }
            if (v->entries != NULL && c.size - size <= v->max_entries) {
                json_t *row = NULL;
                KG_GUARD_C(kg_audit_entry_json(&row, e));
                KG_ENSURE_C(json_array_append_new(v->entries, row) == 0, KG_ERR_NOMEM,
                            "out of memory");
            }
            if (do_replay && e->allowed && kg_failed(replay(v, e)))
                report(v, size, kg_error_message());
        next:;
            uint32_t level = 0;
            for (uint64_t j = size; j & 1; j >>= 1, level++)
                KG_GUARD_C(kg_tlog_node_hash(h, edge[level], h));
            memcpy(edge[level], h, KG_TLOG_HASH_LEN);
            size++;
        }
        KG_GUARD_C(kg_reader_expect_end(&r, "entry bundle"));
    }
    uint8_t root[KG_TLOG_HASH_LEN];
    if (size == 0) {
        KG_GUARD_C(kg_tlog_tree_hash(root, 0, NULL, NULL));
    } else {
        bool have = false;
        for (uint32_t l = 0; l < KG_TLOG_MAX_LEVELS && (size >> l) != 0; l++) {
            if (!((size >> l) & 1))
                continue;
            if (!have)
                memcpy(root, edge[l], KG_TLOG_HASH_LEN);
            else
                KG_GUARD_C(kg_tlog_node_hash(root, edge[l], root));
            have = true;
        }
    }
    if (memcmp(root, c.root, KG_TLOG_HASH_LEN) != 0)
        report(v, UINT64_MAX, "the served entries do not make the served checkpoint's tree");
    *entries = size;
    if (local != NULL) {
        uint64_t have_n = 0;
        uint8_t lroot[KG_TLOG_HASH_LEN];
        KG_GUARD_C(kg_audit_log_size(local, &have_n));
        if (have_n < c.size)
            report(v, UINT64_MAX, "the database holds fewer entries than the served checkpoint");
        else if (kg_failed(kg_tlog_tree_hash(lroot, c.size, kg_audit_log_hash, local)) ||
                 memcmp(lroot, c.root, KG_TLOG_HASH_LEN) != 0)
            report(v, UINT64_MAX, "the database and the served log are different trees (a fork)");
    }
    rc = KG_OK;
cleanup:
    free(e);
    kg_buf_free(&note);
    kg_buf_free(&tile);
    kg_buf_free(&bundle);
    return rc;
}

/* Whether sig over digest is by root_k256 or, after a rotation, by another root epoch's key
 * (each node signs with the root it serves). The error is root_k256's. */
static bool signed_by_a_root(const vctx *v, const uint8_t root_k256[33],
                             const uint8_t sig[KG_K256_RECSIG_LEN], const uint8_t digest[32])
{
    if (kg_ok(kg_k256_verify_recoverable(root_k256, sig, digest)))
        return true;
    for (size_t i = 0; i < v->n_roots; i++)
        if (kg_ok(kg_k256_verify_recoverable(v->roots[i], sig, digest))) {
            kg_error_clear();
            return true;
        }
    return false;
}

/* Every root epoch's key on chain (latest block) into v->roots: none when the KMS contract has
 * no epochs (kmsInfo is then the only root). */
static kg_result read_root_epochs(vctx *v)
{
    uint32_t cur = 0;
    kg_result rc = kg_eth_current_root_epoch(&cur, v->eth, v->kms, NULL);
    if (kg_failed(rc) && kg_error_code() == KG_ERR_DENIED) {
        kg_error_clear();
        return KG_OK;
    }
    KG_GUARD(rc);
    kg_eth_root_epoch_info *info = calloc(1, sizeof(*info));
    KG_ENSURE(info != NULL, KG_ERR_NOMEM, "out of memory");
    uint32_t lo = cur >= KG_MAX_ROOT_EPOCH_KEYS ? cur - KG_MAX_ROOT_EPOCH_KEYS + 1 : 0;
    for (uint32_t n = lo; kg_ok(rc) && n <= cur; n++) {
        rc = kg_eth_root_epoch(info, v->eth, v->kms, n, NULL);
        if (kg_ok(rc) && info->status != KG_EPOCH_NONE) {
            memcpy(v->roots[v->n_roots], info->k256_pub, KG_K256_PUB_LEN);
            v->root_epoch[v->n_roots] = n;
            v->root_status[v->n_roots++] = info->status;
        }
    }
    free(info);
    return rc;
}

/* The checkpoints published on chain for this log (CheckpointPublished events of the KMS
 * contract, in chain order), each signature checked again against the root key (the contract
 * checked it, but its code can be upgraded), then kg_log_anchor_check against the log's head. */
static kg_result verify_anchors(vctx *v, const log_key *key, const uint8_t root_k256[33],
                                uint64_t n, const uint8_t head[KG_TLOG_HASH_LEN], kg_tlog_reader rd,
                                void *rd_ctx, const char *what)
{
    uint8_t log_id[KG_LOG_ID_LEN], topic0[32];
    kg_log_domain dom;
    kg_eth_logs logs = {0};
    kg_log_anchor *a = NULL;
    size_t na = 0;
    kg_result rc = KG_ERROR;
    memset(&dom, 0, sizeof(dom));
    memcpy(dom.contract, v->kms, sizeof(dom.contract));
    KG_GUARD(kg_log_anchor_id(log_id, key->pub));
    KG_GUARD(kg_eth_chain_id(v->eth, &dom.chain_id));
    kg_keccak256(topic0, CHECKPOINT_PUBLISHED, strlen(CHECKPOINT_PUBLISHED));
    KG_GUARD_CTX(kg_eth_get_logs(v->eth, &logs, v->kms, topic0, 0, UINT64_MAX),
                 "reading CheckpointPublished events");
    KG_ENSURE_C(logs.count <= MAX_ANCHORS, KG_ERR_TOO_LARGE, "more than %u published checkpoints",
                MAX_ANCHORS);
    a = calloc(logs.count + 1, sizeof(*a));
    KG_ENSURE_C(a != NULL, KG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < logs.count; i++) {
        const kg_eth_log *l = &logs.items[i];
        if (l->n_topics != 2 || memcmp(l->topics[1], log_id, KG_LOG_ID_LEN) != 0)
            continue; /* another node's log */
        static const kg_abi_type types[3] = {KG_ABI_T_UINT64, KG_ABI_T_BYTES32, KG_ABI_T_BYTES};
        kg_abi_decoded d[3];
        uint8_t sig[KG_K256_RECSIG_LEN], digest[32];
        if (kg_failed(kg_abi_decode(d, types, 3, l->data, l->data_len, 256)) ||
            d[2].len != KG_K256_RECSIG_LEN) {
            report(v, UINT64_MAX, "a CheckpointPublished event is malformed");
            kg_error_clear();
            continue;
        }
        a[na].size = kg_abi_get_u64(&d[0]);
        memcpy(a[na].root, d[1].word, KG_TLOG_HASH_LEN);
        a[na].block = l->block_number;
        memcpy(sig, d[2].data, sizeof(sig));
        if (sig[64] >= 27)
            sig[64] -= 27;
        if (kg_failed(
                kg_log_anchor_checkpoint_digest(digest, &dom, log_id, a[na].size, a[na].root)) ||
            !signed_by_a_root(v, root_k256, sig, digest)) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "on-chain checkpoint of size %" PRIu64 " at block %" PRIu64
                     " is not signed by the KMS root key: %s",
                     a[na].size, a[na].block, kg_error_message());
            kg_error_clear();
            report(v, UINT64_MAX, msg);
            continue;
        }
        na++;
    }
    if (na == 0) {
        fprintf(v->out, "WARNING: no checkpoint of this log is published on chain (keygate kms "
                        "checkpoint): rollbacks cannot be seen\n");
    } else {
        uint64_t found = 0;
        KG_GUARD_C(kg_log_anchor_check(a, na, n, head, rd, rd_ctx, report, v, &found));
        fprintf(v->out,
                "on-chain checkpoints: %zu published (latest: size %" PRIu64 " at block %" PRIu64
                "), against %s (size %" PRIu64 "): %s\n",
                na, a[na - 1].size, a[na - 1].block, what, n,
                found == 0 ? "consistent" : "VIOLATIONS");
    }
    rc = KG_OK;
cleanup:
    free(a);
    kg_eth_logs_free(&logs);
    return rc;
}

int kg_cmd_audit_verify(int argc, char **argv)
{
    const char *db = NULL, *state = NULL, *kms_url = NULL, *key_file = NULL, *rpc = NULL,
               *contract = NULL, *root_hex = NULL;
    bool no_replay = false;
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"kms", required_argument, NULL, 'k'},
                                         {"log-key-cert", required_argument, NULL, 'c'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'm'},
                                         {"root-k256", required_argument, NULL, 'R'},
                                         {"no-replay", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 's': state = optarg; break;
        case 'k': kms_url = optarg; break;
        case 'c': key_file = optarg; break;
        case 'r': rpc = optarg; break;
        case 'm': contract = optarg; break;
        case 'R': root_hex = optarg; break;
        case 'n': no_replay = true; break;
        case 'h': usage(stdout); return KG_EXIT_OK;
        default: usage(stderr); return KG_EXIT_USAGE;
        }
    }
    if (optind != argc || (db != NULL && state != NULL)) {
        usage(stderr);
        return KG_EXIT_USAGE;
    }
    kg_cli_verify_opts o = {.db = db,
                            .state = state,
                            .kms_url = kms_url,
                            .key_file = key_file,
                            .rpc_url = rpc,
                            .kms_contract = contract,
                            .root_k256 = root_hex,
                            .no_replay = no_replay};
    uint64_t violations = 0;
    if (kg_failed(kg_cli_audit_verify_run(stdout, NULL, &violations, &o)))
        return kg_cli_fail();
    return violations == 0 ? KG_EXIT_OK : KG_EXIT_FAILED;
}

kg_result kg_cli_audit_verify_run(FILE *out, json_t *violations, uint64_t *violation_count,
                                  const kg_cli_verify_opts *o)
{
    const char *db = o->db, *state = o->state, *kms_url = o->kms_url, *key_file = o->key_file,
               *rpc = o->rpc_url, *contract = o->kms_contract, *root_hex = o->root_k256;
    bool no_replay = o->no_replay;
    kg_result status = KG_ERROR;
    json_t *doc = NULL;
    kg_audit *audit = NULL;
    vctx v = {.out = out,
              .violations = violations,
              .entries = o->entries,
              .max_entries = o->max_entries,
              .eth = NULL};
    *violation_count = 0;
    log_key key;
    memset(&key, 0, sizeof(key));
    char dir[PATH_MAX];
    if (db == NULL && (kms_url == NULL || state != NULL)) {
        if (kg_failed(kg_devnet_dir(dir, state)) || kg_failed(kg_devnet_load(&doc, dir)))
            goto fail;
        db = kg_devnet_str(doc, "audit_db");
        if (rpc == NULL)
            rpc = kg_devnet_str(doc, "rpc_url");
        if (contract == NULL)
            contract = kg_devnet_str(doc, "kms_contract");
        if (kms_url == NULL && db == NULL)
            kms_url = kg_devnet_str(doc, "kms_url");
    }
    if (db != NULL && kg_failed(kg_audit_open(&audit, db, true)))
        goto fail;
    /* the log key: from the file given, else the database's copy, else the KMS */
    kg_buf kb;
    kg_buf_init(&kb, MAX_KEY_JSON);
    kg_result kr = key_file != NULL ? kg_cli_read_file(&kb, key_file, MAX_KEY_JSON)
                   : audit != NULL  ? KG_OK
                                    : http_get(&kb, kms_url, "/log-key");
    if (kg_ok(kr))
        kr = kb.len > 0 ? key_from_json(&key, (const char *)kb.data, kb.len)
                        : key_from_db(&key, audit);
    kg_buf_free(&kb);
    if (kg_failed(kr))
        goto fail;
    fprintf(v.out, "log: %s\nlog key: ", key.name);
    for (size_t i = 0; i < sizeof(key.pub); i++)
        fprintf(v.out, "%02x", key.pub[i]);
    fprintf(v.out, "\n");

    /* the root key: kmsInfo on chain, or given */
    uint8_t root[KG_K256_PUB_LEN];
    bool have_root = false;
    if (rpc != NULL && contract != NULL) {
        kg_buf spki;
        kg_buf_init(&spki, 4096);
        kg_result r = kg_eth_client_new(&v.eth, rpc, 30000);
        if (kg_ok(r))
            r = kg_eth_address_parse(v.kms, contract);
        if (kg_ok(r))
            r = kg_eth_kms_info(root, &spki, v.eth, v.kms, NULL);
        kg_buf_free(&spki);
        if (kg_failed(r))
            goto fail;
        have_root = true;
        fprintf(v.out, "root key: kmsInfo() of %s at %s\n", contract, rpc);
    } else if (root_hex != NULL) {
        if (kg_failed(kg_hex_decode_exact(root, sizeof(root), root_hex)))
            goto fail;
        have_root = true;
    }
    if (v.eth != NULL && kg_failed(read_root_epochs(&v)))
        goto fail;
    if (have_root) {
        size_t by = v.n_roots;
        if (key.has_cert && kg_failed(kg_log_key_cert_verify(root, key.name, key.pub, key.cert)))
            for (by = 0; by < v.n_roots; by++)
                if (kg_ok(kg_log_key_cert_verify(v.roots[by], key.name, key.pub, key.cert)))
                    break;
        if (!key.has_cert)
            report(&v, UINT64_MAX, "the log key has no certificate by the KMS root key");
        else if (by == v.n_roots &&
                 kg_failed(kg_log_key_cert_verify(root, key.name, key.pub, key.cert)))
            report(&v, UINT64_MAX, kg_error_message());
        else if (by < v.n_roots) /* the node started under an earlier root epoch */
            fprintf(v.out, "log key certified by the root key of root epoch %u (%s): ok\n",
                    v.root_epoch[by], kg_epoch_status_name(v.root_status[by]));
        else
            fprintf(v.out, "log key certified by the KMS root key: ok\n");
        kg_error_clear();
    } else {
        fprintf(v.out, "WARNING: log key certification not checked (give --state, --rpc-url and "
                       "--kms-contract, or --root-k256)\n");
    }
    bool do_replay = v.eth != NULL && !no_replay;
    if (!do_replay)
        fprintf(v.out, "WARNING: governance not replayed (%s)\n",
                no_replay ? "--no-replay" : "no chain given");

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kg_audit_verify_result res;
    memset(&res, 0, sizeof(res));
    if (audit != NULL) {
        kg_audit_verify_opts ao = {.log_name = key.name,
                                   .log_pub = key.pub,
                                   .policy = do_replay ? replay : NULL,
                                   .policy_ctx = &v,
                                   .report = report,
                                   .report_ctx = &v};
        if (kg_failed(kg_audit_verify(audit, &ao, &res)))
            goto fail;
        fprintf(v.out,
                "database: %" PRIu64 " entries, %" PRIu64 " checkpoints (largest %" PRIu64
                "), %" PRIu64 " audit rows (%" PRIu64 " from before the log), %" PRIu64
                " allows replayed\n",
                res.entries, res.checkpoints, res.signed_size, res.rows, res.rows_before_log,
                res.allows_replayed - v.skipped);
    }
    /* the log's head, for the checkpoints published on chain: the database's whole tree,
     * else the served checkpoint (its tree rebuilt in memory for the proofs) */
    bool anchors = have_root && v.eth != NULL;
    if (audit != NULL && anchors) {
        uint64_t n = 0;
        uint8_t head[KG_TLOG_HASH_LEN];
        if (kg_failed(kg_audit_log_size(audit, &n)))
            goto fail;
        if (kg_failed(kg_tlog_tree_hash(head, n, kg_audit_log_hash, audit))) {
            report(&v, UINT64_MAX, kg_error_message());
            kg_error_clear();
        } else if (kg_failed(verify_anchors(&v, &key, root, n, head, kg_audit_log_hash, audit,
                                            "the database's log"))) {
            goto fail;
        }
    }
    if (kms_url != NULL) {
        uint64_t n = 0;
        mem_tree *mt = audit == NULL && anchors ? mem_tree_new() : NULL;
        kg_checkpoint served;
        memset(&served, 0, sizeof(served));
        served.size = UINT64_MAX;
        kg_result r =
            verify_remote(&v, kms_url, &key, audit, do_replay && audit == NULL, &n, mt, &served);
        if (kg_ok(r) && mt != NULL && served.size != UINT64_MAX)
            r = mt->n >= served.size ? verify_anchors(&v, &key, root, served.size, served.root,
                                                      mem_tree_read, mt, "the served checkpoint")
                                     : KG_OK; /* reported: the entries do not make its tree */
        if (mt != NULL)
            mem_tree_free(mt);
        free(mt);
        if (kg_failed(r))
            goto fail;
        fprintf(v.out, "served log: %" PRIu64 " entries rebuilt from the tiles\n", n);
    }
    if (!anchors)
        fprintf(v.out, "WARNING: on-chain checkpoints not checked (no chain given)\n");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (v.count == 0)
        fprintf(v.out, "verdict: OK (%.2f s)\n", secs);
    else
        fprintf(v.out, "verdict: FAILED, %" PRIu64 " violation(s) (%.2f s)\n", v.count, secs);
    *violation_count = v.count;
    status = KG_OK;
fail:
    kg_eth_client_free(v.eth);
    kg_audit_free(audit);
    json_decref(doc);
    return status;
}
