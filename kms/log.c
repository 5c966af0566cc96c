/* log.c - the KMS's verifiable decision log: this node's Ed25519 log key (generated in the TEE,
 * kept in state_dir like the root keys), its certificate by the root secp256k1 key (checkable
 * against kmsInfo on chain), a signer thread that checkpoints the tree at most every 100 ms
 * while it grows, and the C2SP read API on the HTTPS port. With the eth policy, the root key
 * also signs what KeygateKms needs to anchor the log on chain (the log key's registration and
 * each checkpoint, EIP-712 for this chain and contract), served as GET /log-anchor for anyone
 * to submit (`keygate kms checkpoint`). Entries themselves are appended by lib/audit in the
 * same transaction as the audit row. */
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/fileio.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "keygate/log_anchor.h"
#include "keygate/tlog.h"
#include "kms.h"

#define LOG_KEY_FILE "log-ed25519.key"
#define LOG_INFO_FILE "log-key.json"
#define SIGN_INTERVAL_MS 100
#define MAX_TILE_BYTES (KG_TLOG_TILE_WIDTH * (KG_LOG_MAX_ENTRY + 2u))

static struct {
    pthread_mutex_t lock;
    pthread_cond_t stop_cv;
    pthread_t thread;
    bool started, stopping;
    kms *k;
    kg_audit *reader; /* read-only connection for the HTTP routes (event loop only) */
    uint8_t *seed;    /* KG_ED25519_SEED_LEN, secret: in the secure heap like the root keys */
    char name[KG_NOTE_MAX_NAME];
    kg_buf note; /* the latest signed checkpoint (under lock) */
    uint64_t note_size;
    char *key_json; /* /log-key */
    /* the on-chain anchor (eth policy only) */
    bool anchored;
    kg_log_domain domain;
    uint8_t pub[KG_ED25519_PUB_LEN];
    uint8_t log_id[KG_LOG_ID_LEN];
    uint8_t reg_sig[KG_K256_RECSIG_LEN]; /* the root key's LogKey signature */
    uint64_t anchor_size;                /* the checkpoint anchor_sig signs (under lock) */
    uint8_t anchor_root[KG_TLOG_HASH_LEN];
    uint8_t anchor_sig[KG_K256_RECSIG_LEN];
} g_log = {.lock = PTHREAD_MUTEX_INITIALIZER, .stop_cv = PTHREAD_COND_INITIALIZER};

static kg_result state_path(kg_buf *out, const kms *k, const char *name)
{
    return kg_path_join(out, k->cfg.state_dir, name);
}

/* The seed from state_dir, or a new one written there (0600, never overwritten). */
static kg_result load_or_make_seed(const kms *k)
{
    kg_buf path, hex;
    kg_buf_init(&hex, 256);
    KG_GUARD(state_path(&path, k, LOG_KEY_FILE));
    kg_result rc = kg_file_read_secret(&hex, (const char *)path.data, 256);
    if (kg_failed(rc) && kg_error_code() == KG_ERR_NOT_FOUND) {
        kg_error_clear();
        char text[2 * KG_ED25519_SEED_LEN + 2];
        rc = kg_random(g_log.seed, KG_ED25519_SEED_LEN);
        if (kg_ok(rc))
            rc = kg_hex_encode(text, sizeof(text), g_log.seed, KG_ED25519_SEED_LEN);
        if (kg_ok(rc)) {
            text[2 * KG_ED25519_SEED_LEN] = '\n';
            rc = kg_file_create((const char *)path.data, text, 2 * KG_ED25519_SEED_LEN + 1, 0600);
        }
        kg_memzero(text, sizeof(text));
        if (kg_ok(rc))
            kg_slog(KG_SLOG_INFO, "generated the log key in %s", (const char *)path.data);
    } else if (kg_ok(rc)) {
        while (hex.len > 0 && (hex.data[hex.len - 1] == '\n' || hex.data[hex.len - 1] == '\r'))
            hex.len--;
        rc = kg_buf_terminate(&hex);
        if (kg_ok(rc))
            rc = kg_hex_decode_exact(g_log.seed, KG_ED25519_SEED_LEN, (const char *)hex.data);
    }
    kg_buf_free(&hex);
    kg_buf_free(&path);
    if (kg_failed(rc))
        return kg_error_context("log key");
    return KG_OK;
}

static kg_result certify(const kms *k)
{
    uint8_t pub[KG_ED25519_PUB_LEN], node[32], digest[32], cert[KG_K256_RECSIG_LEN];
    KG_GUARD(kg_ed25519_public(pub, g_log.seed));
    KG_GUARD(kg_sha256(node, pub, sizeof(pub)));
    char node_hex[17];
    KG_GUARD(kg_hex_encode(node_hex, sizeof(node_hex), node, 8));
    snprintf(g_log.name, sizeof(g_log.name), "keygate.kms/%s", node_hex);
    KG_GUARD(kg_log_key_cert_digest(digest, g_log.name, pub));
    KG_GUARD(kg_k256_sign_recoverable(cert, k->root.k256_scalar, digest));
    kg_audit_set_node_id(k->audit, node);
    memcpy(g_log.pub, pub, sizeof(pub));
    memcpy(g_log.log_id, node, sizeof(node));
    if (k->cfg.policy == KG_KMS_POLICY_ETH) {
        g_log.anchored = true;
        g_log.domain.chain_id = k->cfg.chain_id;
        memcpy(g_log.domain.contract, k->cfg.kms_contract, sizeof(g_log.domain.contract));
        KG_GUARD(kg_log_anchor_key_digest(digest, &g_log.domain, pub));
        KG_GUARD(kg_k256_sign_recoverable(g_log.reg_sig, k->root.k256_scalar, digest));
    }

    char pub_hex[65], cert_hex[2 * KG_K256_RECSIG_LEN + 1], node_full[65], root_hex[67];
    KG_GUARD(kg_hex_encode(pub_hex, sizeof(pub_hex), pub, sizeof(pub)));
    KG_GUARD(kg_hex_encode(cert_hex, sizeof(cert_hex), cert, sizeof(cert)));
    KG_GUARD(kg_hex_encode(node_full, sizeof(node_full), node, sizeof(node)));
    KG_GUARD(kg_hex_encode(root_hex, sizeof(root_hex), k->root_k256_pub, KG_K256_PUB_LEN));
    kg_buf vkey;
    kg_buf_init(&vkey, 512);
    kg_result rc = kg_note_vkey(&vkey, g_log.name, pub);
    if (kg_ok(rc))
        rc = kg_buf_terminate(&vkey);
    json_t *o = kg_ok(rc) ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", g_log.name, "pubkey",
                                      pub_hex, "node_id", node_full, "cert", cert_hex,
                                      "root_k256_pubkey", root_hex, "vkey", (const char *)vkey.data)
                          : NULL;
    kg_buf_free(&vkey);
    KG_GUARD(rc);
    g_log.key_json = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    KG_ENSURE(g_log.key_json != NULL, KG_ERR_NOMEM, "log key: out of memory");
    kg_buf path;
    KG_GUARD(state_path(&path, k, LOG_INFO_FILE));
    rc =
        kg_file_write_atomic((const char *)path.data, g_log.key_json, strlen(g_log.key_json), 0644);
    kg_buf_free(&path);
    KG_GUARD(rc);
    KG_GUARD(kg_audit_put_meta(k->audit, "log_name", g_log.name));
    KG_GUARD(kg_audit_put_meta(k->audit, "log_pubkey", pub_hex));
    KG_GUARD(kg_audit_put_meta(k->audit, "log_key_cert", cert_hex));
    return KG_OK;
}

/* The root key's LogCheckpoint signature over the tree the signed note names. */
static kg_result anchor_sign(uint8_t sig[KG_K256_RECSIG_LEN], kg_checkpoint *c, const kg_buf *note)
{
    size_t text_len = 0;
    uint8_t digest[32];
    KG_GUARD(kg_note_open(&text_len, note->data, note->len, g_log.name, g_log.pub));
    KG_GUARD(kg_checkpoint_parse(c, note->data, text_len));
    KG_GUARD(
        kg_log_anchor_checkpoint_digest(digest, &g_log.domain, g_log.log_id, c->size, c->root));
    KG_GUARD(kg_k256_sign_recoverable(sig, g_log.k->root.k256_scalar, digest));
    return KG_OK;
}

/* Signs a checkpoint when the tree grew (or force). */
static void sign_now(bool force)
{
    uint64_t size = 0;
    uint8_t root[KG_TLOG_HASH_LEN];
    if (kg_failed(kg_audit_log_head(g_log.k->audit, &size, root)))
        goto fail;
    pthread_mutex_lock(&g_log.lock);
    bool grew = size != g_log.note_size || g_log.note.len == 0;
    pthread_mutex_unlock(&g_log.lock);
    if (!grew && !force)
        return;
    kg_buf note;
    kg_buf_init(&note, KG_NOTE_MAX);
    if (kg_failed(kg_audit_checkpoint(g_log.k->audit, g_log.name, g_log.seed, &note, &size))) {
        kg_buf_free(&note);
        goto fail;
    }
    uint8_t sig[KG_K256_RECSIG_LEN];
    kg_checkpoint c;
    if (g_log.anchored && kg_failed(anchor_sign(sig, &c, &note))) {
        kg_buf_free(&note);
        goto fail;
    }
    pthread_mutex_lock(&g_log.lock);
    kg_buf_free(&g_log.note);
    g_log.note = note;
    g_log.note_size = size;
    if (g_log.anchored) {
        g_log.anchor_size = c.size;
        memcpy(g_log.anchor_root, c.root, sizeof(c.root));
        memcpy(g_log.anchor_sig, sig, sizeof(sig));
    }
    pthread_mutex_unlock(&g_log.lock);
    return;
fail:
    kg_slog(KG_SLOG_ERROR, "log: checkpoint not signed: %s", kg_error_message());
}

static void *signer_main(void *arg)
{
    pthread_mutex_lock(&g_log.lock);
    while (!g_log.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SIGN_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!g_log.stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g_log.stop_cv, &g_log.lock, &until);
        if (g_log.stopping)
            break;
        pthread_mutex_unlock(&g_log.lock);
        sign_now(false);
        pthread_mutex_lock(&g_log.lock);
    }
    pthread_mutex_unlock(&g_log.lock);
    return NULL;
}

kg_result kms_log_start(kms *k)
{
    g_log.k = k;
    kg_buf_init(&g_log.note, KG_NOTE_MAX);
    g_log.seed = kg_secure_zalloc(KG_ED25519_SEED_LEN);
    KG_ENSURE(g_log.seed != NULL, KG_ERR_NOMEM, "log key: out of memory");
    KG_GUARD(load_or_make_seed(k));
    KG_GUARD_CTX(certify(k), "log key");
    KG_GUARD_CTX(kg_audit_open(&g_log.reader, k->cfg.audit_db, true), "log reader");
    sign_now(true);
    KG_ENSURE(pthread_create(&g_log.thread, NULL, signer_main, NULL) == 0, KG_ERR_INTERNAL,
              "log: cannot start the checkpoint signer");
    g_log.started = true;
    return KG_OK;
}

void kms_log_stop(void)
{
    if (g_log.started) {
        pthread_mutex_lock(&g_log.lock);
        g_log.stopping = true;
        pthread_cond_broadcast(&g_log.stop_cv);
        pthread_mutex_unlock(&g_log.lock);
        pthread_join(g_log.thread, NULL);
        g_log.started = false;
        sign_now(false); /* the decisions of the last 100 ms */
    }
    kg_audit_free(g_log.reader);
    g_log.reader = NULL;
    kg_buf_free(&g_log.note);
    free(g_log.key_json);
    g_log.key_json = NULL;
    kg_secure_free(g_log.seed, KG_ED25519_SEED_LEN);
    g_log.seed = NULL;
}

/* ---- the public read API (C2SP tlog-tiles) -------------------------------------------------- */

static void reply(struct evhttp_request *req, int status, const void *data, size_t len,
                  const char *type, const char *cache)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", cache);
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    evbuffer_add(out, data, len);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Not Found", out);
    evbuffer_free(out);
}

static void not_found(struct evhttp_request *req, const char *msg)
{
    reply(req, 404, msg, strlen(msg), "text/plain; charset=utf-8", "no-store");
}

/* GET /log-anchor: what KeygateKms.registerLogKey and publishCheckpoint take, signed by the
 * root key for this deployment's chain and contract (docs/design.md, "The decision log"). */
static void anchor_reply(struct evhttp_request *req)
{
    if (!g_log.anchored) {
        not_found(req, "no on-chain anchor: this KMS has no KMS contract (policy.backend is not "
                       "eth)\n");
        return;
    }
    pthread_mutex_lock(&g_log.lock);
    uint64_t size = g_log.anchor_size;
    uint8_t root[KG_TLOG_HASH_LEN], sig[KG_K256_RECSIG_LEN];
    memcpy(root, g_log.anchor_root, sizeof(root));
    memcpy(sig, g_log.anchor_sig, sizeof(sig));
    bool have = g_log.note.len > 0;
    pthread_mutex_unlock(&g_log.lock);
    if (!have) {
        not_found(req, "no checkpoint yet\n");
        return;
    }
    kg_log_anchor_offer o = {.size = size, .domain = g_log.domain};
    memcpy(o.log_id, g_log.log_id, sizeof(o.log_id));
    memcpy(o.pub, g_log.pub, sizeof(o.pub));
    memcpy(o.reg_sig, g_log.reg_sig, sizeof(o.reg_sig));
    memcpy(o.root, root, sizeof(o.root));
    memcpy(o.sig, sig, sizeof(o.sig));
    kg_buf body;
    kg_buf_init(&body, KG_LOG_ANCHOR_MAX_JSON);
    if (kg_failed(kg_log_anchor_offer_format(&body, &o, g_log.name))) {
        kg_error_clear();
        kg_buf_free(&body);
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    reply(req, 200, body.data, body.len, "application/json", "no-store");
    kg_buf_free(&body);
}

bool kms_log_route(struct evhttp_request *req, const char *path)
{
    bool checkpoint = strcmp(path, "/checkpoint") == 0, key = strcmp(path, "/log-key") == 0;
    bool tile = strncmp(path, "/tile/", 6) == 0, anchor = strcmp(path, "/log-anchor") == 0;
    if (!checkpoint && !key && !tile && !anchor)
        return false;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return true;
    }
    if (g_log.key_json == NULL) {
        not_found(req, "the decision log is not running\n");
        return true;
    }
    if (key) {
        reply(req, 200, g_log.key_json, strlen(g_log.key_json), "application/json", "no-store");
        return true;
    }
    if (anchor) {
        anchor_reply(req);
        return true;
    }
    pthread_mutex_lock(&g_log.lock);
    kg_buf note;
    kg_buf_init(&note, KG_NOTE_MAX);
    kg_result copied = kg_buf_append(&note, g_log.note.data, g_log.note.len);
    uint64_t size = g_log.note_size;
    pthread_mutex_unlock(&g_log.lock);
    if (kg_failed(copied) || note.len == 0) {
        kg_buf_free(&note);
        not_found(req, "no checkpoint yet\n");
        return true;
    }
    if (checkpoint) {
        reply(req, 200, note.data, note.len, "text/plain; charset=utf-8", "no-store");
        kg_buf_free(&note);
        return true;
    }
    kg_buf_free(&note);
    /* tiles of the tree the latest checkpoint signs: full tiles never change */
    kg_tlog_tile t;
    kg_buf body;
    kg_buf_init(&body, MAX_TILE_BYTES);
    if (kg_failed(kg_tlog_tile_parse(&t, path + 1, strlen(path + 1))) ||
        kg_failed(kg_audit_log_tile(g_log.reader, &body, &t, size))) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s\n", kg_error_message());
        kg_error_clear();
        not_found(req, msg);
    } else {
        reply(req, 200, body.data, body.len, "application/octet-stream",
              t.width == KG_TLOG_TILE_WIDTH ? "public, max-age=31536000, immutable" : "no-cache");
    }
    kg_buf_free(&body);
    return true;
}
