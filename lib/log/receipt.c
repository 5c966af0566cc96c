/* receipt.c - a key release's receipt (receipt.h, docs/design.md "Receipts"): JSON in and out,
 * and its verification: root k256 key -> log key -> checkpoint -> inclusion -> entry.
 *
 * Map:
 *   JSON out ........ kg_log_receipt_to_json (the KMS, kms/log.c)
 *   JSON in ......... kg_log_receipt_parse: strict members, exact hex, named caps
 *   verification .... kg_log_receipt_verify: the trust chain and the proof
 *   content ......... kg_log_release_check: the entry is this release, to this caller */
#include "keygate/receipt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keygate/audit.h" /* kg_log_key_cert_verify */
#include "keygate/hash.h"

void kg_log_receipt_init(kg_log_receipt *r)
{
    memset(r, 0, sizeof(*r));
    kg_buf_init(&r->entry, KG_LOG_MAX_ENTRY);
    kg_buf_init(&r->checkpoint, KG_NOTE_MAX);
}

void kg_log_receipt_free(kg_log_receipt *r)
{
    if (r == NULL)
        return;
    kg_buf_free(&r->entry);
    kg_buf_free(&r->checkpoint);
    kg_log_receipt_init(r);
}

/* ---- JSON out -------------------------------------------------------------------------------- */

static kg_result put_hex(kg_buf *out, const uint8_t *b, size_t n)
{
    KG_GUARD(kg_buf_reserve(out, 2 * n + 1));
    KG_GUARD(kg_hex_encode((char *)out->data + out->len, 2 * n + 1, b, n));
    out->len += 2 * n;
    return KG_OK;
}

kg_result kg_log_receipt_to_json(kg_buf *out, const kg_log_receipt *r)
{
    KG_ENSURE(r->proof.n <= KG_TLOG_MAX_PROOF, KG_ERR_INTERNAL, "receipt: proof too long");
    json_t *note = json_stringn((const char *)r->checkpoint.data, r->checkpoint.len);
    json_t *name = json_string(r->log_name);
    char *note_text = note ? json_dumps(note, JSON_ENCODE_ANY) : NULL;
    char *name_text = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(note);
    json_decref(name);
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(note_text != NULL && name_text != NULL, KG_ERR_INPUT,
                "receipt: checkpoint or log name is not UTF-8 text");
    KG_GUARD_C(kg_buf_append_str(out, "{\"entry\":\""));
    KG_GUARD_C(put_hex(out, r->entry.data, r->entry.len));
    KG_GUARD_C(kg_buf_printf(out, "\",\"leaf_index\":%llu,\"tree_size\":%llu,\"inclusion_proof\":[",
                             (unsigned long long)r->leaf_index, (unsigned long long)r->tree_size));
    for (size_t i = 0; i < r->proof.n; i++) {
        KG_GUARD_C(kg_buf_append_str(out, i ? ",\"" : "\""));
        KG_GUARD_C(put_hex(out, r->proof.hash[i], KG_TLOG_HASH_LEN));
        KG_GUARD_C(kg_buf_append_str(out, "\""));
    }
    KG_GUARD_C(kg_buf_printf(out, "],\"checkpoint\":%s,\"log_key\":{\"name\":%s,\"pubkey\":\"",
                             note_text, name_text));
    KG_GUARD_C(put_hex(out, r->log_pub, sizeof(r->log_pub)));
    KG_GUARD_C(kg_buf_append_str(out, "\",\"cert\":\""));
    KG_GUARD_C(put_hex(out, r->log_cert, sizeof(r->log_cert)));
    KG_GUARD_C(kg_buf_append_str(out, "\"}}"));
    rc = KG_OK;
cleanup:
    free(note_text);
    free(name_text);
    return rc;
}

/* ---- JSON in --------------------------------------------------------------------------------- */

static kg_result only_members(const json_t *obj, const char *const *names, size_t n,
                              const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        (void)v;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, names[i]) == 0;
        KG_ENSURE(known, KG_ERR_INPUT, "receipt: unknown member '%.64s' in %s", key, what);
    }
    return KG_OK;
}

static kg_result get_string(const char **s, size_t *len, const json_t *obj, const char *name,
                            size_t max)
{
    const json_t *v = json_object_get(obj, name);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "receipt: '%s' missing or not a string", name);
    *s = json_string_value(v);
    *len = json_string_length(v);
    KG_ENSURE(*len <= max, KG_ERR_TOO_LARGE, "receipt: '%s' longer than %zu bytes", name, max);
    KG_ENSURE(memchr(*s, 0, *len) == NULL, KG_ERR_INPUT, "receipt: '%s' holds a NUL", name);
    return KG_OK;
}

static kg_result get_hex_exact(uint8_t *out, size_t n, const json_t *obj, const char *name)
{
    const char *s;
    size_t len;
    KG_GUARD(get_string(&s, &len, obj, name, 2 * n));
    KG_ENSURE(len == 2 * n, KG_ERR_INPUT, "receipt: '%s' is not %zu bytes of hex", name, n);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, s), "receipt: '%s'", name);
    return KG_OK;
}

static kg_result get_u64(uint64_t *out, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    KG_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                  (uint64_t)json_integer_value(v) < KG_TLOG_MAX_SIZE,
              KG_ERR_INPUT, "receipt: '%s' missing or not an integer in [0, 2^62)", name);
    *out = (uint64_t)json_integer_value(v);
    return KG_OK;
}

kg_result kg_log_receipt_parse(kg_log_receipt *out, const json_t *obj)
{
    static const char *const k_members[] = {"entry",           "leaf_index", "tree_size",
                                            "inclusion_proof", "checkpoint", "log_key"};
    static const char *const k_key_members[] = {"name", "pubkey", "cert"};
    kg_log_receipt_init(out);
    KG_ENSURE(json_is_object(obj), KG_ERR_INPUT, "receipt: not a JSON object");
    KG_GUARD(only_members(obj, k_members, sizeof(k_members) / sizeof(k_members[0]), "receipt"));

    const char *s;
    size_t len;
    KG_GUARD(get_string(&s, &len, obj, "entry", 2 * (size_t)KG_LOG_MAX_ENTRY));
    KG_ENSURE(len > 0, KG_ERR_INPUT, "receipt: 'entry' is empty");
    KG_GUARD_CTX(kg_hex_decode_buf(&out->entry, s, len), "receipt: 'entry'");
    KG_GUARD(get_u64(&out->leaf_index, obj, "leaf_index"));
    KG_GUARD(get_u64(&out->tree_size, obj, "tree_size"));

    const json_t *proof = json_object_get(obj, "inclusion_proof");
    KG_ENSURE(json_is_array(proof), KG_ERR_INPUT,
              "receipt: 'inclusion_proof' missing or not a list");
    KG_ENSURE(json_array_size(proof) <= KG_TLOG_MAX_PROOF, KG_ERR_TOO_LARGE,
              "receipt: 'inclusion_proof' has more than %u hashes", KG_TLOG_MAX_PROOF);
    for (size_t i = 0; i < json_array_size(proof); i++) {
        const char *h = json_string_value(json_array_get(proof, i));
        KG_ENSURE(h != NULL && strlen(h) == 2 * KG_TLOG_HASH_LEN, KG_ERR_INPUT,
                  "receipt: inclusion proof hash %zu is not 32 bytes of hex", i);
        KG_GUARD_CTX(kg_hex_decode_exact(out->proof.hash[i], KG_TLOG_HASH_LEN, h),
                     "receipt: inclusion proof hash %zu", i);
    }
    out->proof.n = json_array_size(proof);

    KG_GUARD(get_string(&s, &len, obj, "checkpoint", KG_NOTE_MAX));
    KG_GUARD(kg_buf_append(&out->checkpoint, s, len));

    const json_t *key = json_object_get(obj, "log_key");
    KG_ENSURE(json_is_object(key), KG_ERR_INPUT, "receipt: 'log_key' missing or not an object");
    KG_GUARD(only_members(key, k_key_members, sizeof(k_key_members) / sizeof(k_key_members[0]),
                          "log_key"));
    KG_GUARD(get_string(&s, &len, key, "name", KG_NOTE_MAX_NAME - 1));
    memcpy(out->log_name, s, len);
    out->log_name[len] = 0;
    KG_ENSURE(kg_note_name_ok(out->log_name), KG_ERR_INPUT, "receipt: bad log key name");
    KG_GUARD(get_hex_exact(out->log_pub, sizeof(out->log_pub), key, "pubkey"));
    KG_GUARD(get_hex_exact(out->log_cert, sizeof(out->log_cert), key, "cert"));
    return KG_OK;
}

/* ---- verification ---------------------------------------------------------------------------- */

kg_result kg_log_receipt_verify(kg_log_entry *entry, const kg_log_receipt *r,
                                const uint8_t root_k256[KG_K256_PUB_LEN])
{
    memset(entry, 0, sizeof(*entry));
    /* 1. the log key, certified by the KMS root (the key kmsInfo publishes) */
    KG_ENSURE(kg_ok(kg_log_key_cert_verify(root_k256, r->log_name, r->log_pub, r->log_cert)),
              KG_ERR_VERIFY, "receipt: the log key '%s' is not certified by the KMS root key",
              r->log_name);
    /* 2. the checkpoint, signed by that key, of this log, at tree_size */
    size_t text_len = 0;
    KG_GUARD_CTX(
        kg_note_open(&text_len, r->checkpoint.data, r->checkpoint.len, r->log_name, r->log_pub),
        "receipt: checkpoint");
    kg_checkpoint c;
    KG_GUARD_CTX(kg_checkpoint_parse(&c, r->checkpoint.data, text_len), "receipt: checkpoint");
    KG_ENSURE(strcmp(c.origin, r->log_name) == 0, KG_ERR_VERIFY,
              "receipt: the checkpoint is of log '%s', not '%s'", c.origin, r->log_name);
    KG_ENSURE(c.size == r->tree_size, KG_ERR_VERIFY,
              "receipt: the checkpoint signs a tree of %llu entries, the receipt says %llu",
              (unsigned long long)c.size, (unsigned long long)r->tree_size);
    /* 3. the entry is a leaf of that tree */
    KG_ENSURE(r->leaf_index < r->tree_size, KG_ERR_VERIFY,
              "receipt: leaf %llu is not in a tree of %llu entries",
              (unsigned long long)r->leaf_index, (unsigned long long)r->tree_size);
    uint8_t leaf[KG_TLOG_HASH_LEN];
    KG_GUARD(kg_tlog_leaf_hash(leaf, r->entry.data, r->entry.len));
    KG_GUARD_CTX(kg_tlog_verify_inclusion(leaf, r->leaf_index, r->tree_size, &r->proof, c.root),
                 "receipt: the entry is not leaf %llu of the checkpointed tree",
                 (unsigned long long)r->leaf_index);
    /* 4. the entry itself, written by this node */
    KG_GUARD_CTX(kg_log_entry_parse(entry, r->entry.data, r->entry.len), "receipt: entry");
    uint8_t node[KG_LOG_NODE_ID_LEN];
    KG_GUARD(kg_sha256(node, r->log_pub, sizeof(r->log_pub)));
    if (CRYPTO_memcmp(node, entry->node_id, sizeof(node)) != 0) {
        memset(entry, 0, sizeof(*entry));
        KG_BAIL(KG_ERR_VERIFY, "receipt: the entry names another node than the log key's");
    }
    return KG_OK;
}

static bool str_is(const kg_log_str *s, const char *want)
{
    size_t n = strlen(want);
    return s->present && s->len == n && memcmp(s->p, want, n) == 0;
}

kg_result kg_log_release_check(const kg_log_entry *e, const kg_log_release_expect *w)
{
    const kg_boot_identity *id = &e->identity;
    KG_ENSURE(e->allowed, KG_ERR_VERIFY, "receipt: the entry records a refusal, not a release");
    KG_ENSURE(str_is(&e->method, w->method), KG_ERR_VERIFY,
              "receipt: the entry is not a %s release", w->method);
    KG_ENSURE(e->who == KG_LOG_WHO_VERIFIED, KG_ERR_VERIFY,
              "receipt: the entry has no verified identity");
    KG_ENSURE(id->has_app_id && memcmp(id->app_id, w->app_id, KG_APP_ID_LEN) == 0, KG_ERR_VERIFY,
              "receipt: the entry's app id is not this app's");
    KG_ENSURE(id->has_compose_hash &&
                  memcmp(id->compose_hash, w->compose_hash, KG_COMPOSE_HASH_LEN) == 0,
              KG_ERR_VERIFY, "receipt: the entry's compose hash is not this app's");
    KG_ENSURE(w->instance_id == NULL ||
                  (id->instance_id_len == w->instance_id_len &&
                   (w->instance_id_len == 0 ||
                    memcmp(id->instance_id, w->instance_id, w->instance_id_len) == 0)),
              KG_ERR_VERIFY, "receipt: the entry's instance id is not this instance's");
    KG_ENSURE(w->os_image_hash == NULL ||
                  memcmp(id->os_image_hash, w->os_image_hash, KG_MEASUREMENT_LEN) == 0,
              KG_ERR_VERIFY, "receipt: the entry's OS image hash is not this VM's");
    if (w->n_released == 0)
        return KG_OK;
    KG_ENSURE(e->released.present, KG_ERR_VERIFY, "receipt: the entry names no released keys");
    json_t *rel = json_loadb(e->released.p, e->released.len, JSON_REJECT_DUPLICATES, NULL);
    kg_result rc = KG_OK;
    if (!json_is_object(rel)) {
        rc = kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__,
                          "receipt: the entry's released keys are not a JSON object");
    }
    for (size_t i = 0; kg_ok(rc) && i < w->n_released; i++) {
        const char *got = json_string_value(json_object_get(rel, w->released_names[i]));
        if (got == NULL || strcmp(got, w->released_values[i]) != 0)
            rc = kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__,
                              "receipt: the entry's %s is not the one received",
                              w->released_names[i]);
    }
    json_decref(rel);
    return rc;
}
