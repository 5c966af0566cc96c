/* log.c - the KMS's verifiable decision log: this node's Ed25519 log key (generated in the TEE,
 * kept in state_dir like the root keys), its certificate by the root secp256k1 key (checkable
 * against kmsInfo on chain), a signer thread that checkpoints the tree at most every 100 ms
 * while it grows, and the C2SP read API on the HTTPS port. With the eth policy, the root key
 * also signs what KeygateKms needs to anchor the log on chain (the log key's registration and
 * each checkpoint, EIP-712 for this chain and contract), served as GET /log-anchor for anyone
 * to submit (`keygate kms checkpoint`). Entries themselves are appended by lib/audit in the
 * same transaction as the audit row.
 *
 * The signer thread does two things:
 *   receipts ........ a release's answer (GetAppKey, SignCert) waits here for its receipt
 *                     (docs/design.md, "Receipts"). Whenever answers wait, the thread signs one
 *                     checkpoint of the committed tree for all of them (a batch: every answer
 *                     that arrived while the previous batch was served), adds each one's entry,
 *                     inclusion proof and that checkpoint, and hands it back to the server. The
 *                     merge delay is one round (a signature and ~log2(n) reads per answer), far
 *                     under 100 ms, and no worker waits for it.
 *   checkpoints ..... at most every 100 ms while the log grows, the newest head is signed and
 *                     stored (log_checkpoints, GET /checkpoint). Receipt checkpoints between
 *                     two stored ones are not stored: each is a prefix of the same tree, and
 *                     whoever holds one checks it against the log. */
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/fileio.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "keygate/log_anchor.h"
#include "keygate/quote.h"
#include "keygate/ratls.h"
#include "keygate/receipt.h"
#include "keygate/tlog.h"
#include "kms.h"

#define LOG_KEY_FILE "log-ed25519.key"
#define LOG_INFO_FILE "log-key.json"
#define SIGN_INTERVAL_MS 100
#define LOG_NAME_ID_LEN 8u /* bytes of the node id in the log's name, keygate.kms/<16 hex> */
#define MAX_TILE_BYTES (KG_TLOG_TILE_WIDTH * (KG_LOG_MAX_ENTRY + 2u))

/* An answer waiting for its receipt (owned by the waiting list until done is called). */
typedef struct receipt_wait {
    kms_call *call;
    uint64_t leaf;
    void (*done)(void *arg);
    void *arg;
    struct receipt_wait *next;
} receipt_wait;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t stop_cv; /* also signalled when an answer starts waiting */
    pthread_cond_t idle_cv; /* a receipt round ended */
    pthread_t thread;
    bool started, stopping, in_round;
    kms *k;
    kg_audit *reader; /* read-only connection for the HTTP routes (event loop only) */
    kg_audit *prover; /* read-only connection for receipts (whoever runs a receipt round) */
    receipt_wait *waiting, *waiting_tail;
    uint8_t pub[KG_ED25519_PUB_LEN];
    uint8_t cert[KG_K256_RECSIG_LEN];
    uint8_t *seed; /* KG_ED25519_SEED_LEN, secret: in the secure heap like the root keys */
    char name[KG_NOTE_MAX_NAME];
    kg_buf note; /* the latest signed checkpoint (under lock) */
    uint64_t note_size;
    char *key_json; /* /log-key */
    /* the on-chain anchor (eth policy only) */
    bool anchored;
    kg_log_domain domain;
    uint8_t log_id[KG_LOG_ID_LEN];
    uint8_t reg_sig[KG_K256_RECSIG_LEN]; /* the root key's LogKey signature */
    uint64_t anchor_size;                /* the checkpoint anchor_sig signs (under lock) */
    uint8_t anchor_root[KG_TLOG_HASH_LEN];
    uint8_t anchor_sig[KG_K256_RECSIG_LEN];
} g_log = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .stop_cv = PTHREAD_COND_INITIALIZER,
           .idle_cv = PTHREAD_COND_INITIALIZER};

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

/* The log key in this node's attestation (docs/design.md, "The log key in the attestation"): a
 * quote whose REPORTDATA is the RA-TLS binding of the log key's SubjectPublicKeyInfo,
 * SHA-512("ratls-cert:" || SPKI), with the event log; as o's "attestation": {spki, quote,
 * eventlog} (hex; eventlog is the JSON array's bytes). Verified like the KMS's RA-TLS
 * certificate (kg_ratls_verify_key_evidence), so the key is known to be this attested KMS's. */
static kg_result attest_log_key(json_t *o, const kms *k, const uint8_t pub[KG_ED25519_PUB_LEN])
{
    uint8_t spki[KG_ED25519_SPKI_LEN], rd[KG_REPORT_DATA_LEN];
    KG_GUARD(kg_ed25519_spki(spki, pub));
    KG_GUARD(kg_ratls_report_data(rd, spki, sizeof(spki)));
    kg_buf quote, evlog, hex;
    kg_buf_init(&quote, KG_MAX_QUOTE_LEN);
    kg_buf_init(&evlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&hex, 2 * (KG_MAX_QUOTE_LEN + KG_MAX_EVENTLOG_JSON_LEN) + 1);
    json_t *att = json_object();
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(att != NULL && json_object_set(o, "attestation", att) == 0, KG_ERR_NOMEM,
                "out of memory");
    KG_GUARD_CTX_C(kms_attest_quote(&quote, &evlog, k, rd), "quoting the log key");
    const struct {
        const char *name;
        const uint8_t *p;
        size_t n;
    } parts[3] = {{"spki", spki, sizeof(spki)},
                  {"quote", quote.data, quote.len},
                  {"eventlog", evlog.data, evlog.len}};
    for (size_t i = 0; i < 3; i++) {
        kg_buf_reset(&hex);
        hex.len = 0;
        KG_GUARD_C(kg_buf_reserve(&hex, 2 * parts[i].n + 1));
        KG_GUARD_C(kg_hex_encode((char *)hex.data, 2 * parts[i].n + 1, parts[i].p, parts[i].n));
        KG_ENSURE_C(json_object_set_new(att, parts[i].name, json_string((char *)hex.data)) == 0,
                    KG_ERR_NOMEM, "out of memory");
    }
    rc = KG_OK;
cleanup:
    json_decref(att);
    kg_buf_free(&quote);
    kg_buf_free(&evlog);
    kg_buf_free(&hex);
    return rc;
}

static kg_result certify(const kms *k)
{
    uint8_t pub[KG_ED25519_PUB_LEN], node[KG_SHA256_LEN], digest[KG_KECCAK256_LEN],
        cert[KG_K256_RECSIG_LEN];
    KG_GUARD(kg_ed25519_public(pub, g_log.seed));
    KG_GUARD(kg_sha256(node, pub, sizeof(pub)));
    char node_hex[2 * LOG_NAME_ID_LEN + 1];
    KG_GUARD(kg_hex_encode(node_hex, sizeof(node_hex), node, LOG_NAME_ID_LEN));
    snprintf(g_log.name, sizeof(g_log.name), "keygate.kms/%s", node_hex);
    KG_GUARD(kg_log_key_cert_digest(digest, g_log.name, pub));
    KG_GUARD(kg_k256_sign_recoverable(cert, k->root.k256_scalar, digest));
    memcpy(g_log.pub, pub, sizeof(pub));
    memcpy(g_log.cert, cert, sizeof(cert));
    kg_audit_set_node_id(k->audit, node);
    memcpy(g_log.log_id, node, sizeof(node));
    if (k->cfg.policy == KG_KMS_POLICY_ETH) {
        g_log.anchored = true;
        g_log.domain.chain_id = k->cfg.chain_id;
        memcpy(g_log.domain.contract, k->cfg.kms_contract, sizeof(g_log.domain.contract));
        KG_GUARD(kg_log_anchor_key_digest(digest, &g_log.domain, pub));
        KG_GUARD(kg_k256_sign_recoverable(g_log.reg_sig, k->root.k256_scalar, digest));
    }

    char pub_hex[2 * KG_ED25519_PUB_LEN + 1], cert_hex[2 * KG_K256_RECSIG_LEN + 1],
        node_full[2 * KG_SHA256_LEN + 1], root_hex[2 * KG_K256_PUB_LEN + 1];
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
    if (kg_ok(rc) && o != NULL)
        rc = attest_log_key(o, k, pub);
    if (kg_failed(rc))
        json_decref(o);
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
    uint8_t digest[KG_KECCAK256_LEN];
    KG_GUARD(kg_note_open(&text_len, note->data, note->len, g_log.name, g_log.pub));
    KG_GUARD(kg_checkpoint_parse(c, note->data, text_len));
    KG_GUARD(
        kg_log_anchor_checkpoint_digest(digest, &g_log.domain, g_log.log_id, c->size, c->root));
    /* the serving root: moves to the current epoch when its own epoch is retired (epochs.c) */
    pthread_rwlock_rdlock(&g_log.k->epochs_lock);
    kg_result rc = kg_k256_sign_recoverable(sig, g_log.k->root.k256_scalar, digest);
    pthread_rwlock_unlock(&g_log.k->epochs_lock);
    return rc;
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

/* ---- receipts ------------------------------------------------------------------------------ */

#ifdef KG_TEST_TAMPER_RECEIPT
/* Test builds only: tests/integration builds these sources a second time as kms-tamper-receipt
 * (never installed, never keygate-kms) so tests/integration/receipt_itest.sh can show the agent
 * refusing bad receipts. The file named by $KG_TEST_TAMPER_RECEIPT says what to break: entry,
 * proof, size, checkpoint, cert, other-leaf (a receipt that verifies, for another decision), or
 * attestation (GET /log-key serves the log key's quote with a byte changed); "signcert-<mode>"
 * breaks only SignCert's receipts; anything else (or no file) breaks nothing. */
static void test_tamper_mode(char *mode, size_t n)
{
    mode[0] = 0;
    const char *path = getenv("KG_TEST_TAMPER_RECEIPT");
    kg_buf text;
    kg_buf_init(&text, n);
    if (path != NULL && kg_ok(kg_file_read(&text, path, n - 1)) && kg_ok(kg_buf_terminate(&text)))
        snprintf(mode, n, "%.*s", (int)strcspn((const char *)text.data, "\n"), text.data);
    kg_buf_free(&text);
    kg_error_clear();
}

static void test_tamper(kg_log_receipt *r, const char *mode)
{
    if (strcmp(mode, "entry") == 0 && r->entry.len > 8)
        r->entry.data[8] ^= 0x01; /* the time */
    else if (strcmp(mode, "proof") == 0 && r->proof.n > 0)
        r->proof.hash[r->proof.n - 1][0] ^= 0x01;
    else if (strcmp(mode, "size") == 0)
        r->tree_size++;
    else if (strcmp(mode, "checkpoint") == 0 && r->checkpoint.len > 3)
        r->checkpoint.data[r->checkpoint.len - 3] ^= 0x01; /* inside the signature */
    else if (strcmp(mode, "cert") == 0)
        r->log_cert[5] ^= 0x01;
}
#endif

/* One answer's receipt against the signed tree (size, note), spliced into its JSON answer as
 * "receipt"; on failure the answer becomes a 503 and no key in it leaves. */
static void answer_receipt(receipt_wait *w, uint64_t size, const kg_buf *note)
{
    kms_call *c = w->call;
    kg_log_receipt *r = malloc(sizeof(*r));
    kg_buf json;
    kg_buf_init(&json, KG_RECEIPT_MAX_JSON);
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(r != NULL, KG_ERR_NOMEM, "out of memory");
    kg_log_receipt_init(r);
    KG_ENSURE_C(w->leaf < size, KG_ERR_INTERNAL, "leaf %llu is not in the signed tree of %llu",
                (unsigned long long)w->leaf, (unsigned long long)size);
    r->leaf_index = w->leaf;
#ifdef KG_TEST_TAMPER_RECEIPT
    char mode_buf[32];
    test_tamper_mode(mode_buf, sizeof(mode_buf));
    /* "signcert-<mode>": only SignCert's receipts (the boot's GetAppKey goes through) */
    const char *mode = mode_buf;
    if (strncmp(mode, "signcert-", 9) == 0)
        mode = strcmp(c->method, "SignCert") == 0 ? mode + 9 : "";
    if (strcmp(mode, "other-leaf") == 0)
        r->leaf_index = 0;
#endif
    r->tree_size = size;
    KG_GUARD_C(kg_audit_log_entry(g_log.prover, r->leaf_index, &r->entry, NULL));
    KG_GUARD_C(
        kg_tlog_inclusion_proof(&r->proof, r->leaf_index, size, kg_audit_log_hash, g_log.prover));
    KG_GUARD_C(kg_buf_append(&r->checkpoint, note->data, note->len));
    snprintf(r->log_name, sizeof(r->log_name), "%s", g_log.name);
    memcpy(r->log_pub, g_log.pub, sizeof(r->log_pub));
    memcpy(r->log_cert, g_log.cert, sizeof(r->log_cert));
#ifdef KG_TEST_TAMPER_RECEIPT
    test_tamper(r, mode);
#endif
    KG_GUARD_C(kg_log_receipt_to_json(&json, r));
    /* the answer is one JSON object: its closing brace becomes ,"receipt":{...}} */
    KG_ENSURE_C(c->response.len > 1 && c->response.data[c->response.len - 1] == '}',
                KG_ERR_INTERNAL, "the answer is not a JSON object");
    c->response.len--;
    KG_GUARD_C(kg_buf_append_str(&c->response, ",\"receipt\":"));
    KG_GUARD_C(kg_buf_append(&c->response, json.data, json.len));
    KG_GUARD_C(kg_buf_append_str(&c->response, "}"));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        (void)kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                           "%s unavailable: no receipt for the release (%s); nothing released",
                           c->method, kg_error_message());
        kms_rpc_answer_error(c);
        kg_error_clear();
    }
    c->wants_receipt = false;
    kg_log_receipt_free(r);
    free(r);
    kg_buf_free(&json);
}

/* Signs the committed head and answers every waiting call in list with its receipt. */
static void receipt_round(receipt_wait *list)
{
    kg_checkpoint c;
    memset(&c, 0, sizeof(c));
    snprintf(c.origin, sizeof(c.origin), "%s", g_log.name);
    kg_buf body, note;
    kg_buf_init(&body, 1024);
    kg_buf_init(&note, KG_NOTE_MAX);
    /* Every waiting release committed before it was queued, so this head includes it. */
    kg_result rc = kg_audit_log_head(g_log.k->audit, &c.size, c.root);
    if (kg_ok(rc))
        rc = kg_checkpoint_format(&body, &c);
    if (kg_ok(rc))
        rc = kg_note_sign(&note, body.data, body.len, g_log.name, g_log.seed);
    char why[300] = "";
    if (kg_failed(rc))
        snprintf(why, sizeof(why), "%s", kg_error_message());
    while (list != NULL) {
        receipt_wait *w = list;
        list = w->next;
        if (kg_ok(rc)) {
            answer_receipt(w, c.size, &note);
        } else {
            (void)kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                               "%s unavailable: checkpoint not signed (%s); nothing released",
                               w->call->method, why);
            kms_rpc_answer_error(w->call);
            kg_error_clear();
        }
        w->done(w->arg);
        free(w);
    }
    kg_buf_free(&body);
    kg_buf_free(&note);
}

void kms_log_receipt_wait(kms_call *call, void (*done)(void *arg), void *arg)
{
    receipt_wait *w = calloc(1, sizeof(*w));
    pthread_mutex_lock(&g_log.lock);
    bool running = g_log.started && !g_log.stopping;
    if (w != NULL && running) {
        *w = (receipt_wait){.call = call, .leaf = call->receipt_leaf, .done = done, .arg = arg};
        if (g_log.waiting_tail != NULL)
            g_log.waiting_tail->next = w;
        else
            g_log.waiting = w;
        g_log.waiting_tail = w;
        pthread_cond_signal(&g_log.stop_cv);
    }
    pthread_mutex_unlock(&g_log.lock);
    if (w != NULL && running)
        return;
    bool nomem = w == NULL;
    free(w);
    (void)kg_error_set(nomem ? KG_ERR_NOMEM : KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                       "%s unavailable: %s; nothing released", call->method,
                       nomem ? "out of memory" : "the decision log is not running");
    kms_rpc_answer_error(call);
    kg_error_clear();
    done(arg);
}

void kms_log_receipts_drain(void)
{
    pthread_mutex_lock(&g_log.lock);
    while (g_log.in_round)
        pthread_cond_wait(&g_log.idle_cv, &g_log.lock);
    receipt_wait *list = g_log.waiting;
    g_log.waiting = g_log.waiting_tail = NULL;
    g_log.in_round = list != NULL;
    pthread_mutex_unlock(&g_log.lock);
    if (list == NULL)
        return;
    receipt_round(list);
    pthread_mutex_lock(&g_log.lock);
    g_log.in_round = false;
    pthread_cond_broadcast(&g_log.idle_cv);
    pthread_mutex_unlock(&g_log.lock);
}

/* ---- the signer thread ----------------------------------------------------------------------- */

static void deadline_in(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_nsec += ms * 1000000L;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static bool passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *signer_main(void *arg)
{
    struct timespec next_store;
    deadline_in(&next_store, SIGN_INTERVAL_MS);
    pthread_mutex_lock(&g_log.lock);
    while (!g_log.stopping) {
        int rc = 0;
        while (!g_log.stopping && g_log.waiting == NULL && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g_log.stop_cv, &g_log.lock, &next_store);
        if (g_log.stopping)
            break;
        receipt_wait *list = g_log.waiting;
        g_log.waiting = g_log.waiting_tail = NULL;
        g_log.in_round = list != NULL;
        pthread_mutex_unlock(&g_log.lock);
        if (list != NULL)
            receipt_round(list);
        if (passed(&next_store)) {
            sign_now(false);
            deadline_in(&next_store, SIGN_INTERVAL_MS);
        }
        pthread_mutex_lock(&g_log.lock);
        g_log.in_round = false;
        pthread_cond_broadcast(&g_log.idle_cv);
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
    KG_GUARD_CTX(kg_audit_open(&g_log.prover, k->cfg.audit_db, true), "log reader");
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
        kms_log_receipts_drain(); /* none should wait: the server drained them */
        g_log.started = false;
        sign_now(false); /* the decisions of the last 100 ms */
    }
    kg_audit_free(g_log.reader);
    g_log.reader = NULL;
    kg_audit_free(g_log.prover);
    g_log.prover = NULL;
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
#ifdef KG_TEST_TAMPER_RECEIPT
        char mode[32];
        test_tamper_mode(mode, sizeof(mode));
        char *bad = strcmp(mode, "attestation") == 0 ? strdup(g_log.key_json) : NULL;
        char *q = bad ? strstr(bad, "\"quote\": \"") : NULL;
        if (q != NULL && strlen(q) > 400) { /* a byte inside the quote's signed body */
            q[300] = q[300] == '0' ? '1' : '0';
            reply(req, 200, bad, strlen(bad), "application/json", "no-store");
            free(bad);
            return true;
        }
        free(bad);
#endif
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
