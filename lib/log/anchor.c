/* anchor.c - the decision log anchored on chain: the EIP-712 digests KeygateKms checks the KMS
 * root key's signatures against (contracts/src/KeygateLogAnchor.sol), and the auditor's
 * consistency check of the published checkpoints against a log (RFC 9162 2.1.4 proofs). */
#include "keygate/log_anchor.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"

#define WORD 32u

/* The type strings, exactly as the contract spells them. */
static const char DOMAIN_TYPE[] =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
static const char DOMAIN_NAME[] = "KeygateKms";
static const char DOMAIN_VERSION[] = "1";
static const char LOG_KEY_TYPE[] = "LogKey(bytes32 publicKey)";
static const char CHECKPOINT_TYPE[] =
    "LogCheckpoint(bytes32 logId,uint64 treeSize,bytes32 rootHash)";

static void word_u64(uint8_t w[WORD], uint64_t v)
{
    memset(w, 0, WORD);
    for (int i = 0; i < 8; i++)
        w[WORD - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* keccak256(abi.encode(typehash, DOMAIN_NAME hash, version hash, chainId, contract)) */
static void domain_separator(uint8_t out[32], const kg_log_domain *d)
{
    uint8_t enc[5 * WORD];
    kg_keccak256(enc, DOMAIN_TYPE, sizeof(DOMAIN_TYPE) - 1);
    kg_keccak256(enc + WORD, DOMAIN_NAME, sizeof(DOMAIN_NAME) - 1);
    kg_keccak256(enc + 2 * WORD, DOMAIN_VERSION, sizeof(DOMAIN_VERSION) - 1);
    word_u64(enc + 3 * WORD, d->chain_id);
    memset(enc + 4 * WORD, 0, 12);
    memcpy(enc + 4 * WORD + 12, d->contract, 20);
    kg_keccak256(out, enc, sizeof(enc));
}

/* keccak256(0x19 0x01 || domain separator || struct hash) */
static void typed_digest(uint8_t out[32], const kg_log_domain *d, const uint8_t *enc, size_t len)
{
    uint8_t msg[2 + 2 * WORD];
    msg[0] = 0x19;
    msg[1] = 0x01;
    domain_separator(msg + 2, d);
    kg_keccak256(msg + 2 + WORD, enc, len);
    kg_keccak256(out, msg, sizeof(msg));
}

kg_result kg_log_anchor_id(uint8_t out[KG_LOG_ID_LEN], const uint8_t pub[KG_ED25519_PUB_LEN])
{
    return kg_sha256(out, pub, KG_ED25519_PUB_LEN);
}

kg_result kg_log_anchor_key_digest(uint8_t out[32], const kg_log_domain *d,
                                   const uint8_t pub[KG_ED25519_PUB_LEN])
{
    KG_ENSURE(d != NULL && pub != NULL, KG_ERR_USAGE, "log anchor: no domain or key");
    uint8_t enc[2 * WORD];
    kg_keccak256(enc, LOG_KEY_TYPE, sizeof(LOG_KEY_TYPE) - 1);
    memcpy(enc + WORD, pub, WORD);
    typed_digest(out, d, enc, sizeof(enc));
    return KG_OK;
}

kg_result kg_log_anchor_checkpoint_digest(uint8_t out[32], const kg_log_domain *d,
                                          const uint8_t log_id[KG_LOG_ID_LEN], uint64_t size,
                                          const uint8_t root[KG_TLOG_HASH_LEN])
{
    KG_ENSURE(d != NULL && log_id != NULL && root != NULL, KG_ERR_USAGE,
              "log anchor: incomplete checkpoint");
    uint8_t enc[4 * WORD];
    kg_keccak256(enc, CHECKPOINT_TYPE, sizeof(CHECKPOINT_TYPE) - 1);
    memcpy(enc + WORD, log_id, WORD);
    word_u64(enc + 2 * WORD, size);
    memcpy(enc + 3 * WORD, root, WORD);
    typed_digest(out, d, enc, sizeof(enc));
    return KG_OK;
}

/* ---- GET /log-anchor ------------------------------------------------------------------------ */

static kg_result put_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 + 2 * 65 + 1] = "0x";
    KG_ENSURE(n <= 65, KG_ERR_USAGE, "log anchor: field too long");
    KG_GUARD(kg_hex_encode(hex + 2, sizeof(hex) - 2, p, n));
    KG_ENSURE(json_object_set_new(o, key, json_string(hex)) == 0, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

kg_result kg_log_anchor_offer_format(kg_buf *out, const kg_log_anchor_offer *a,
                                     const char *log_name)
{
    KG_ENSURE(a != NULL && log_name != NULL && a->size <= KG_TLOG_MAX_SIZE &&
                  a->domain.chain_id <= (uint64_t)INT64_MAX,
              KG_ERR_USAGE, "log anchor: incomplete offer");
    json_t *o = json_object();
    KG_ENSURE(o != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = put_hex(o, "log_id", a->log_id, sizeof(a->log_id));
    if (kg_ok(rc) && json_object_set_new(o, "log_name", json_string(log_name)) != 0)
        rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    if (kg_ok(rc))
        rc = put_hex(o, "public_key", a->pub, sizeof(a->pub));
    if (kg_ok(rc))
        rc = put_hex(o, "registration_signature", a->reg_sig, sizeof(a->reg_sig));
    if (kg_ok(rc) && json_object_set_new(o, "tree_size", json_integer((json_int_t)a->size)) != 0)
        rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    if (kg_ok(rc))
        rc = put_hex(o, "root_hash", a->root, sizeof(a->root));
    if (kg_ok(rc))
        rc = put_hex(o, "signature", a->sig, sizeof(a->sig));
    if (kg_ok(rc) &&
        json_object_set_new(o, "chain_id", json_integer((json_int_t)a->domain.chain_id)) != 0)
        rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    if (kg_ok(rc))
        rc = put_hex(o, "kms_contract", a->domain.contract, sizeof(a->domain.contract));
    char *text = kg_ok(rc) ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    KG_GUARD(rc);
    KG_ENSURE(text != NULL, KG_ERR_NOMEM, "out of memory");
    rc = kg_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

static kg_result get_hex(uint8_t *out, size_t n, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    KG_ENSURE(s != NULL && s[0] == '0' && s[1] == 'x', KG_ERR_INPUT,
              "log anchor: '%s' is missing or not 0x-hex", key);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, s + 2), "log anchor: '%s'", key);
    return KG_OK;
}

static kg_result get_u64(uint64_t *out, json_t *o, const char *key, uint64_t max)
{
    json_t *v = json_object_get(o, key);
    KG_ENSURE(
        json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) <= max,
        KG_ERR_INPUT, "log anchor: '%s' must be an integer 0..%llu", key, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return KG_OK;
}

kg_result kg_log_anchor_offer_parse(kg_log_anchor_offer *out, const uint8_t *text, size_t len)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(text != NULL && len <= KG_LOG_ANCHOR_MAX_JSON, KG_ERR_TOO_LARGE,
              "log anchor: %zu bytes, at most %u", len, KG_LOG_ANCHOR_MAX_JSON);
    json_error_t err;
    json_t *o = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    KG_ENSURE(json_is_object(o), KG_ERR_INPUT, "log anchor: not a JSON object: %s", err.text);
    kg_result rc = get_hex(out->log_id, sizeof(out->log_id), o, "log_id");
    if (kg_ok(rc))
        rc = get_hex(out->pub, sizeof(out->pub), o, "public_key");
    if (kg_ok(rc))
        rc = get_hex(out->reg_sig, sizeof(out->reg_sig), o, "registration_signature");
    if (kg_ok(rc))
        rc = get_u64(&out->size, o, "tree_size", KG_TLOG_MAX_SIZE);
    if (kg_ok(rc))
        rc = get_hex(out->root, sizeof(out->root), o, "root_hash");
    if (kg_ok(rc))
        rc = get_hex(out->sig, sizeof(out->sig), o, "signature");
    if (kg_ok(rc))
        rc = get_u64(&out->domain.chain_id, o, "chain_id", (uint64_t)INT64_MAX);
    if (kg_ok(rc))
        rc = get_hex(out->domain.contract, sizeof(out->domain.contract), o, "kms_contract");
    json_decref(o);
    uint8_t id[KG_LOG_ID_LEN];
    if (kg_ok(rc))
        rc = kg_log_anchor_id(id, out->pub);
    if (kg_ok(rc) && memcmp(id, out->log_id, sizeof(id)) != 0)
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                          "log anchor: log_id is not SHA-256 of public_key");
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

kg_result kg_log_anchor_offer_verify(const kg_log_anchor_offer *o, const uint8_t root_k256[33])
{
    uint8_t digest[32];
    KG_GUARD(kg_log_anchor_key_digest(digest, &o->domain, o->pub));
    KG_GUARD_CTX(kg_k256_verify_recoverable(root_k256, o->reg_sig, digest),
                 "log anchor: the log key's registration is not signed by the KMS root key");
    KG_GUARD(kg_log_anchor_checkpoint_digest(digest, &o->domain, o->log_id, o->size, o->root));
    KG_GUARD_CTX(kg_k256_verify_recoverable(root_k256, o->sig, digest),
                 "log anchor: the checkpoint of size %llu is not signed by the KMS root key",
                 (unsigned long long)o->size);
    return KG_OK;
}

/* ---- the auditor's check -------------------------------------------------------------------- */

typedef struct checker {
    kg_log_anchor_report_fn report;
    void *report_ctx;
    uint64_t violations;
    kg_tlog_proof proof;
} checker;

static void violation(checker *c, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(checker *c, uint64_t index, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->violations++;
    if (c->report != NULL)
        c->report(c->report_ctx, index, msg);
}

/* Whether the tree (n, root_n) extends (m, root_m), with a proof built from rd (0 < m < n). A
 * hash rd cannot give is a failure too: the log cannot show the extension. */
static bool consistent(checker *c, uint64_t m, const uint8_t root_m[KG_TLOG_HASH_LEN], uint64_t n,
                       const uint8_t root_n[KG_TLOG_HASH_LEN], kg_tlog_reader rd, void *rd_ctx,
                       char *why, size_t why_size)
{
    kg_result rc = kg_tlog_consistency_proof(&c->proof, m, n, rd, rd_ctx);
    if (kg_ok(rc))
        rc = kg_tlog_verify_consistency(m, n, &c->proof, root_m, root_n);
    if (kg_ok(rc))
        return true;
    snprintf(why, why_size, "%s", kg_error_message());
    kg_error_clear();
    return false;
}

kg_result kg_log_anchor_check(const kg_log_anchor *a, size_t count, uint64_t n,
                              const uint8_t root[KG_TLOG_HASH_LEN], kg_tlog_reader rd, void *rd_ctx,
                              kg_log_anchor_report_fn report, void *report_ctx,
                              uint64_t *violations)
{
    KG_ENSURE(count == 0 || (a != NULL && root != NULL && rd != NULL), KG_ERR_USAGE,
              "log anchor check: incomplete arguments");
    checker *c = calloc(1, sizeof(*c));
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "out of memory");
    c->report = report;
    c->report_ctx = report_ctx;
    char why[400];
    for (size_t i = 0; i < count; i++) {
        const kg_log_anchor *cur = &a[i];
        if (i > 0) {
            const kg_log_anchor *prev = &a[i - 1];
            if (cur->size < prev->size)
                violation(c, UINT64_MAX,
                          "on-chain checkpoint %zu (block %" PRIu64 ", size %" PRIu64
                          ") is smaller than the one before it (size %" PRIu64 ", block %" PRIu64
                          "): a rollback on chain",
                          i, cur->block, cur->size, prev->size, prev->block);
            else if (cur->size == prev->size &&
                     memcmp(cur->root, prev->root, KG_TLOG_HASH_LEN) != 0)
                violation(c, cur->size > 0 ? cur->size - 1 : UINT64_MAX,
                          "on-chain checkpoints %zu and %zu (blocks %" PRIu64 ", %" PRIu64
                          "): two different trees of size %" PRIu64 " (a fork)",
                          i - 1, i, prev->block, cur->block, cur->size);
            else if (prev->size > 0 && prev->size < cur->size && cur->size <= n &&
                     !consistent(c, prev->size, prev->root, cur->size, cur->root, rd, rd_ctx, why,
                                 sizeof(why)))
                violation(c, prev->size - 1,
                          "on-chain checkpoints %zu and %zu (sizes %" PRIu64 ", %" PRIu64
                          "): the log holds no tree that extends one to the other (%s): a fork",
                          i - 1, i, prev->size, cur->size, why);
        }
        if (cur->size > n) {
            violation(c, n,
                      "on-chain checkpoint %zu (block %" PRIu64 ") covers %" PRIu64
                      " entries but the log's head has %" PRIu64 ": entries %" PRIu64 "..%" PRIu64
                      " were published and are gone (a rollback)",
                      i, cur->block, cur->size, n, n, cur->size - 1);
        } else if (cur->size == n) {
            if (memcmp(cur->root, root, KG_TLOG_HASH_LEN) != 0)
                violation(c, n > 0 ? n - 1 : UINT64_MAX,
                          "on-chain checkpoint %zu (block %" PRIu64 ", size %" PRIu64
                          ") has another root than the log's head of the same size (a fork)",
                          i, cur->block, cur->size);
        } else if (cur->size > 0 &&
                   !consistent(c, cur->size, cur->root, n, root, rd, rd_ctx, why, sizeof(why))) {
            violation(c, cur->size - 1,
                      "on-chain checkpoint %zu (block %" PRIu64 ", size %" PRIu64
                      ") is not a prefix of the log's head (size %" PRIu64
                      "): consistency proof fails (%s): a fork",
                      i, cur->block, cur->size, n, why);
        }
    }
    if (violations != NULL)
        *violations = c->violations;
    free(c);
    return KG_OK;
}
