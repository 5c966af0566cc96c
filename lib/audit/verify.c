/* verify.c - `keygate audit verify`'s core: one pass over the decision log that recomputes the
 * Merkle tree from the entries and checks it against every signed checkpoint, the stored hashes
 * (inclusion and consistency proofs built from them), the audit rows (byte for byte, both ways)
 * and, through a callback, governance at each allow entry's block. Violations are reported, not
 * fatal: the auditor gets all of them. */
#include "keygate/audit.h"

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/tlog.h"

#include "audit_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROW_REPORTS 100u /* rows without an entry printed one by one, then counted */
#define PROOF_SAMPLE 4096u   /* an inclusion proof from stored hashes every this many entries */

typedef struct ckpt {
    int64_t id;
    uint64_t size;
    uint8_t root[KG_TLOG_HASH_LEN];
} ckpt;

typedef struct vstate {
    const kg_audit_verify_opts *o;
    kg_audit_verify_result *res;
} vstate;

static void violation(vstate *v, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(vstate *v, uint64_t index, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    v->res->violations++;
    if (v->o->report)
        v->o->report(v->o->report_ctx, index, msg);
}

kg_result kg_log_key_cert_digest(uint8_t digest[32], const char *name,
                                 const uint8_t pub[KG_ED25519_PUB_LEN])
{
    KG_ENSURE(kg_note_name_ok(name), KG_ERR_INPUT, "log key: bad name");
    kg_buf m;
    kg_buf_init(&m, 512);
    kg_result rc = kg_buf_printf(&m, "keygate-log-key-v1\n%s\n", name);
    if (kg_ok(rc))
        rc = kg_buf_append(&m, pub, KG_ED25519_PUB_LEN);
    if (kg_ok(rc))
        kg_keccak256(digest, m.data, m.len);
    kg_buf_free(&m);
    return rc;
}

kg_result kg_log_key_cert_verify(const uint8_t root_k256[33], const char *name,
                                 const uint8_t pub[KG_ED25519_PUB_LEN], const uint8_t cert[65])
{
    uint8_t d[32];
    KG_GUARD(kg_log_key_cert_digest(d, name, pub));
    KG_GUARD_CTX(kg_k256_verify_recoverable(root_k256, cert, d),
                 "log key '%s' is not certified by the KMS root key", name);
    return KG_OK;
}

kg_result kg_audit_checkpoint(kg_audit *a, const char *name,
                              const uint8_t seed[KG_ED25519_SEED_LEN], kg_buf *note, uint64_t *size)
{
    kg_checkpoint c;
    memset(&c, 0, sizeof(c));
    KG_ENSURE(kg_note_name_ok(name), KG_ERR_USAGE, "checkpoint: bad log name");
    snprintf(c.origin, sizeof(c.origin), "%s", name);
    KG_GUARD(kg_audit_log_head(a, &c.size, c.root));
    kg_buf body, signed_;
    kg_buf_init(&body, 1024);
    kg_buf_init(&signed_, KG_NOTE_MAX);
    kg_result rc = kg_checkpoint_format(&body, &c);
    if (kg_ok(rc))
        rc = kg_note_sign(&signed_, body.data, body.len, name, seed);
    if (kg_ok(rc))
        rc = kg_audit_put_checkpoint(a, c.size, signed_.data, signed_.len);
    if (kg_ok(rc) && note != NULL)
        rc = kg_buf_append(note, signed_.data, signed_.len);
    if (kg_ok(rc) && size != NULL)
        *size = c.size;
    kg_buf_free(&body);
    kg_buf_free(&signed_);
    return rc;
}

static int cmp_ckpt(const void *x, const void *y)
{
    const ckpt *a = x, *b = y;
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Streaming tree: the right edge as leaves arrive (as audit.c keeps it). */
typedef struct edge {
    uint64_t size;
    uint8_t h[KG_TLOG_MAX_LEVELS][KG_TLOG_HASH_LEN];
} edge;

static kg_result edge_push(edge *e, const uint8_t leaf[KG_TLOG_HASH_LEN])
{
    uint8_t h[KG_TLOG_HASH_LEN];
    memcpy(h, leaf, KG_TLOG_HASH_LEN);
    uint32_t level = 0;
    for (uint64_t i = e->size; i & 1; i >>= 1, level++)
        KG_GUARD(kg_tlog_node_hash(h, e->h[level], h));
    memcpy(e->h[level], h, KG_TLOG_HASH_LEN);
    e->size++;
    return KG_OK;
}

static kg_result edge_root(const edge *e, uint8_t root[KG_TLOG_HASH_LEN])
{
    if (e->size == 0)
        return kg_sha256(root, "", 0);
    bool have = false;
    for (uint32_t l = 0; l < KG_TLOG_MAX_LEVELS && (e->size >> l) != 0; l++) {
        if (!((e->size >> l) & 1))
            continue;
        if (!have)
            memcpy(root, e->h[l], KG_TLOG_HASH_LEN);
        else
            KG_GUARD(kg_tlog_node_hash(root, e->h[l], root));
        have = true;
    }
    return KG_OK;
}

static kg_result load_key(kg_audit *a, const kg_audit_verify_opts *o, char name[KG_NOTE_MAX_NAME],
                          uint8_t pub[KG_ED25519_PUB_LEN])
{
    if (o->log_name != NULL && o->log_pub != NULL) {
        KG_ENSURE(kg_note_name_ok(o->log_name), KG_ERR_INPUT, "log key: bad name");
        snprintf(name, KG_NOTE_MAX_NAME, "%s", o->log_name);
        memcpy(pub, o->log_pub, KG_ED25519_PUB_LEN);
        return KG_OK;
    }
    kg_buf b;
    kg_buf_init(&b, 1024);
    kg_result rc = kg_audit_get_meta(a, "log_name", &b);
    if (kg_ok(rc)) {
        rc = kg_note_name_ok((const char *)b.data)
                 ? KG_OK
                 : kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "log key: bad stored name");
        if (kg_ok(rc))
            snprintf(name, KG_NOTE_MAX_NAME, "%s", (const char *)b.data);
    }
    kg_buf_reset(&b);
    b.len = 0;
    if (kg_ok(rc))
        rc = kg_audit_get_meta(a, "log_pubkey", &b);
    if (kg_ok(rc))
        rc = kg_hex_decode_exact(pub, KG_ED25519_PUB_LEN, (const char *)b.data);
    kg_buf_free(&b);
    if (kg_failed(rc))
        return kg_error_context("the log's key (no checkpoint was ever signed?)");
    return KG_OK;
}

/* Compares a stored decisions row (columns 1..17 of st from `first`) with the entry's row. */
static void compare_row(vstate *v, uint64_t idx, sqlite3_stmt *st, int first, const kg_log_entry *e)
{
    kg_audit_row_text want;
    if (kg_failed(kg_audit_row_of_entry_(&want, e))) {
        violation(v, idx, "entry %" PRIu64 ": cannot render its row: %s", idx, kg_error_message());
        return;
    }
    for (int c = 1; c <= KG_AUDIT_N_COLS; c++) {
        int col = first + c - 1;
        int type = sqlite3_column_type(st, col);
        bool differs;
        if (c == 1) {
            differs = type != SQLITE_INTEGER || sqlite3_column_int64(st, col) != want.time_ms;
        } else if (c == 15) {
            differs = want.has_block ? (type != SQLITE_INTEGER ||
                                        sqlite3_column_int64(st, col) != want.block_number)
                                     : type != SQLITE_NULL;
        } else if (want.col[c] == NULL) {
            differs = type != SQLITE_NULL;
        } else {
            size_t n = strlen(want.col[c]);
            differs = type != SQLITE_TEXT || (size_t)sqlite3_column_bytes(st, col) != n ||
                      memcmp(sqlite3_column_text(st, col), want.col[c], n) != 0;
        }
        if (differs) {
            violation(v, idx,
                      "entry %" PRIu64 ": audit row %" PRIu64 " differs from the log in '%s'", idx,
                      e->audit_id, kg_audit_col_names_[c]);
            break;
        }
    }
    kg_audit_row_text_free_(&want);
}

static kg_result prove_sample(vstate *v, kg_audit *a, const ckpt *top, uint64_t idx)
{
    kg_tlog_proof *p = malloc(sizeof(*p));
    uint8_t leaf[KG_TLOG_HASH_LEN];
    KG_ENSURE(p != NULL, KG_ERR_NOMEM, "out of memory");
    if (kg_failed(kg_audit_log_hash(a, 0, idx, leaf)) ||
        kg_failed(kg_tlog_inclusion_proof(p, idx, top->size, kg_audit_log_hash, a)) ||
        kg_failed(kg_tlog_verify_inclusion(leaf, idx, top->size, p, top->root)))
        violation(v, idx,
                  "entry %" PRIu64 ": no inclusion proof in checkpoint of size %" PRIu64
                  " from the stored hashes: %s",
                  idx, top->size, kg_error_message());
    free(p);
    return KG_OK;
}

kg_result kg_audit_verify(kg_audit *a, const kg_audit_verify_opts *o, kg_audit_verify_result *res)
{
    memset(res, 0, sizeof(*res));
    vstate v = {.o = o, .res = res};
    sqlite3 *db = kg_audit_sqlite_(a);
    kg_result rc = KG_ERROR;
    sqlite3_stmt *st = NULL;
    ckpt *cps = NULL;
    size_t ncp = 0, capcp = 0;
    kg_log_entry *e = malloc(sizeof(*e));
    edge *ed = calloc(1, sizeof(*ed));
    kg_tlog_proof *proof = malloc(sizeof(*proof));
    char name[KG_NOTE_MAX_NAME];
    uint8_t pub[KG_ED25519_PUB_LEN];
    KG_ENSURE_C(e && ed && proof, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(load_key(a, o, name, pub));

    /* 1. every checkpoint: signature by the log key, well-formed, our origin */
    if (sqlite3_prepare_v2(db, "SELECT id, note FROM log_checkpoints ORDER BY id;", -1, &st,
                           NULL) != SQLITE_OK)
        KG_BAIL_C(KG_ERR_IO, "audit verify: reading checkpoints: %s", sqlite3_errmsg(db));
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const uint8_t *note = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1), tl;
        kg_checkpoint c;
        res->checkpoints++;
        if (kg_failed(kg_note_open(&tl, note ? note : (const uint8_t *)"", len, name, pub))) {
            violation(&v, UINT64_MAX, "checkpoint #%lld: %s", (long long)id, kg_error_message());
            continue;
        }
        if (kg_failed(kg_checkpoint_parse(&c, note, tl))) {
            violation(&v, UINT64_MAX, "checkpoint #%lld: %s", (long long)id, kg_error_message());
            continue;
        }
        if (strcmp(c.origin, name) != 0) {
            violation(&v, UINT64_MAX, "checkpoint #%lld: origin '%s' is not the log '%s'",
                      (long long)id, c.origin, name);
            continue;
        }
        if (ncp == capcp) {
            size_t nc = capcp ? capcp * 2 : 64;
            ckpt *grown = realloc(cps, nc * sizeof(*cps));
            KG_ENSURE_C(grown != NULL, KG_ERR_NOMEM, "out of memory");
            cps = grown;
            capcp = nc;
        }
        cps[ncp].id = id;
        cps[ncp].size = c.size;
        memcpy(cps[ncp].root, c.root, KG_TLOG_HASH_LEN);
        ncp++;
    }
    KG_ENSURE_C(step == SQLITE_DONE, KG_ERR_IO, "audit verify: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    st = NULL;
    if (ncp > 1)
        qsort(cps, ncp, sizeof(*cps), cmp_ckpt);
    for (size_t i = 1; i < ncp; i++)
        if (cps[i].size == cps[i - 1].size &&
            memcmp(cps[i].root, cps[i - 1].root, KG_TLOG_HASH_LEN) != 0)
            violation(&v, UINT64_MAX,
                      "checkpoints #%lld and #%lld: two different trees of size %" PRIu64
                      " (a fork)",
                      (long long)cps[i - 1].id, (long long)cps[i].id, cps[i].size);
    if (ncp > 0)
        res->signed_size = cps[ncp - 1].size;

    /* 2. one pass over the entries, their stored leaf hashes and their rows */
    if (sqlite3_prepare_v2(
            db,
            "SELECT e.idx, e.decision_id, e.entry, h.hash, d.id, d.time_ms, d.method, d.peer,"
            " d.decision, d.reason, d.app_id, d.compose_hash, d.instance_id, d.device_id,"
            " d.mr_aggregated, d.mr_system, d.os_image_hash, d.tcb_status, d.advisory_ids,"
            " d.block_number, d.block_hash, d.released FROM log_entries e"
            " LEFT JOIN log_hashes h ON h.level = 0 AND h.idx = e.idx"
            " LEFT JOIN decisions d ON d.id = e.decision_id ORDER BY e.idx;",
            -1, &st, NULL) != SQLITE_OK)
        KG_BAIL_C(KG_ERR_IO, "audit verify: reading the log: %s", sqlite3_errmsg(db));
    size_t next_cp = 0;
    /* checkpoints of size 0 */
    while (next_cp < ncp && cps[next_cp].size == 0) {
        uint8_t root[KG_TLOG_HASH_LEN];
        KG_GUARD_C(edge_root(ed, root));
        if (memcmp(root, cps[next_cp].root, KG_TLOG_HASH_LEN) != 0)
            violation(&v, UINT64_MAX, "checkpoint #%lld: not the empty tree",
                      (long long)cps[next_cp].id);
        next_cp++;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);
        int64_t decision_id = sqlite3_column_int64(st, 1);
        const uint8_t *blob = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if (idx != ed->size) {
            violation(&v, ed->size, "entry %" PRIu64 " missing (next stored is %" PRIu64 ")",
                      ed->size, idx);
            break; /* every later root would differ; the checkpoints below say so */
        }
        res->entries++;
        uint8_t leaf[KG_TLOG_HASH_LEN];
        KG_GUARD_C(kg_tlog_leaf_hash(leaf, blob ? blob : (const uint8_t *)"", len));
        if (sqlite3_column_bytes(st, 3) != KG_TLOG_HASH_LEN ||
            memcmp(sqlite3_column_blob(st, 3), leaf, KG_TLOG_HASH_LEN) != 0)
            violation(&v, idx, "entry %" PRIu64 ": stored leaf hash differs from the entry", idx);
        KG_GUARD_C(edge_push(ed, leaf));
        while (next_cp < ncp && cps[next_cp].size == ed->size) {
            uint8_t root[KG_TLOG_HASH_LEN];
            KG_GUARD_C(edge_root(ed, root));
            if (memcmp(root, cps[next_cp].root, KG_TLOG_HASH_LEN) != 0)
                violation(&v, idx,
                          "checkpoint #%lld (size %" PRIu64 "): its root is not the tree of the"
                          " stored entries (history rewritten)",
                          (long long)cps[next_cp].id, cps[next_cp].size);
            next_cp++;
        }
        if (kg_failed(kg_log_entry_parse(e, blob ? blob : (const uint8_t *)"", len))) {
            violation(&v, idx, "entry %" PRIu64 ": %s", idx, kg_error_message());
            continue;
        }
        if (e->audit_id != (uint64_t)decision_id)
            violation(&v, idx, "entry %" PRIu64 ": names row %" PRIu64 ", indexed as row %lld", idx,
                      e->audit_id, (long long)decision_id);
        if (sqlite3_column_type(st, 4) == SQLITE_NULL)
            violation(&v, idx, "entry %" PRIu64 ": its audit row %" PRIu64 " is gone", idx,
                      e->audit_id);
        else
            compare_row(&v, idx, st, 5, e);
        if (e->allowed && o->policy != NULL) {
            res->allows_replayed++;
            kg_error_clear();
            if (kg_failed(o->policy(o->policy_ctx, e))) {
                if (kg_error_code() == KG_ERR_DENIED)
                    violation(&v, idx,
                              "entry %" PRIu64 ": released at block %" PRIu64
                              " but governance did not allow it there: %s",
                              idx, e->block_number, kg_error_message());
                else
                    violation(&v, idx, "entry %" PRIu64 ": governance could not be replayed: %s",
                              idx, kg_error_message());
            }
        }
    }
    KG_ENSURE_C(step == SQLITE_DONE || step == SQLITE_ROW, KG_ERR_IO, "audit verify: %s",
                sqlite3_errmsg(db));
    sqlite3_finalize(st);
    st = NULL;
    for (; next_cp < ncp; next_cp++)
        violation(&v, UINT64_MAX,
                  "checkpoint #%lld covers %" PRIu64 " entries but the log holds %" PRIu64
                  " (entries deleted)",
                  (long long)cps[next_cp].id, cps[next_cp].size, ed->size);
    if (ed->size > res->signed_size)
        violation(&v, res->signed_size,
                  "entries %" PRIu64 "..%" PRIu64 " are in no signed checkpoint", res->signed_size,
                  ed->size - 1);

    /* 3. every row since the log began has its entry */
    kg_buf first;
    kg_buf_init(&first, 64);
    int64_t first_decision = 1;
    if (kg_ok(kg_audit_get_meta(a, "first_decision", &first)))
        first_decision = strtoll((const char *)first.data, NULL, 10);
    kg_error_clear();
    kg_buf_free(&first);
    if (sqlite3_prepare_v2(db,
                           "SELECT d.id FROM decisions d LEFT JOIN log_entries e ON e.decision_id"
                           " = d.id WHERE d.id >= ? AND e.idx IS NULL ORDER BY d.id;",
                           -1, &st, NULL) != SQLITE_OK)
        KG_BAIL_C(KG_ERR_IO, "audit verify: reading rows: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, first_decision);
    uint64_t orphans = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (++orphans <= MAX_ROW_REPORTS)
            violation(&v, UINT64_MAX,
                      "audit row %lld is in no log entry (added or altered by hand)",
                      (long long)sqlite3_column_int64(st, 0));
    }
    if (orphans > MAX_ROW_REPORTS)
        violation(&v, UINT64_MAX, "... and %" PRIu64 " more audit rows in no log entry",
                  orphans - MAX_ROW_REPORTS);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT COUNT(*) FROM decisions),"
                           " (SELECT COUNT(*) FROM decisions WHERE id < ?);",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, first_decision);
        if (sqlite3_step(st) == SQLITE_ROW) {
            res->rows = (uint64_t)sqlite3_column_int64(st, 0);
            res->rows_before_log = (uint64_t)sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    st = NULL;

    /* 4. the stored hashes (what tiles and proofs are served from) agree with the checkpoints */
    if (ncp > 0 && cps[ncp - 1].size > 0 && cps[ncp - 1].size <= ed->size) {
        const ckpt *top = &cps[ncp - 1];
        uint8_t root[KG_TLOG_HASH_LEN];
        if (kg_failed(kg_tlog_tree_hash(root, top->size, kg_audit_log_hash, a)) ||
            memcmp(root, top->root, KG_TLOG_HASH_LEN) != 0)
            violation(&v, UINT64_MAX, "stored hashes do not give checkpoint #%lld's root",
                      (long long)top->id);
        for (uint64_t i = 0; i < top->size; i += PROOF_SAMPLE)
            KG_GUARD_C(prove_sample(&v, a, top, i));
        KG_GUARD_C(prove_sample(&v, a, top, top->size - 1));
        /* consistency from every distinct earlier size among the newest 64 checkpoints */
        size_t from = ncp > 64 ? ncp - 64 : 0;
        for (size_t i = from; i + 1 < ncp; i++) {
            if (cps[i].size == 0 || cps[i].size == cps[i + 1].size)
                continue;
            if (kg_failed(kg_tlog_consistency_proof(proof, cps[i].size, top->size,
                                                    kg_audit_log_hash, a)) ||
                kg_failed(kg_tlog_verify_consistency(cps[i].size, top->size, proof, cps[i].root,
                                                     top->root)))
                violation(&v, UINT64_MAX, "checkpoint #%lld: %s", (long long)cps[i].id,
                          kg_error_message());
        }
    }
    kg_error_clear();
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    free(cps);
    free(e);
    free(ed);
    free(proof);
    return rc;
}
