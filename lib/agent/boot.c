/* boot.c - the in-VM boot flow of keygate-agent (docs/protocol.md sections 2 and 5): measure the
 * app's identity into RTMR3, obtain its keys from a KMS over RA-TLS, measure the key provider,
 * decrypt the environment. Nothing reaches the app unless every step succeeded.
 *
 *   system-preparing, app-id, compose-hash, instance-id, boot-mr-done      (identity)
 *   for each KMS URL: GetTempCaCert -> RA-TLS client cert -> GetAppKey     (keys)
 *   os-image-hash, key-provider, system-ready                              (after release)
 */
#include "keygate/agent_boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/kdf.h"
#include "keygate/quote.h"
#include "keygate/receipt.h"
#include "kms_client.h"

#define SEED_LEN 20
#define MAX_REPLY (1u << 20)

void kg_boot_result_free(kg_boot_result *r)
{
    if (r == NULL)
        return;
    kg_agent_keys_wipe(&r->keys);
    kg_env_list_free(&r->env);
    free(r->key_provider_info);
    memset(r, 0, sizeof(*r));
}

/* The instance seed: 20 random bytes made once per app state directory and kept (mode 0600),
 * so an instance keeps its id (and disk key) across reboots (docs/protocol.md section 2). Read
 * as a secret (fileio.h): a seed others could read is refused, not used. */
static kg_result instance_seed(uint8_t seed[SEED_LEN], const char *state_dir)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/instance-seed", state_dir);
    KG_ENSURE(n > 0 && (size_t)n < sizeof(path), KG_ERR_USAGE, "state directory path too long");
    kg_buf b;
    kg_buf_init(&b, SEED_LEN);
    kg_result rc = kg_file_read_secret(&b, path, SEED_LEN);
    if (kg_ok(rc) && b.len != SEED_LEN)
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                          "instance seed '%s' is not exactly %d bytes", path, SEED_LEN);
    if (kg_ok(rc))
        memcpy(seed, b.data, SEED_LEN);
    kg_buf_free(&b); /* wipes */
    if (kg_ok(rc))
        return KG_OK;
    KG_ENSURE(kg_error_code() != KG_ERR_TOO_LARGE, KG_ERR_INPUT,
              "instance seed '%s' is not exactly %d bytes", path, SEED_LEN);
    if (kg_error_code() != KG_ERR_NOT_FOUND)
        return rc;
    kg_error_clear();
    KG_ENSURE(mkdir(state_dir, 0700) == 0 || errno == EEXIST, KG_ERR_IO, "state directory '%s': %s",
              state_dir, strerror(errno));
    KG_GUARD(kg_random(seed, SEED_LEN));
    KG_GUARD(kg_agent_write_secret_file(path, seed, SEED_LEN));
    return KG_OK;
}

/* Apps may opt out of an instance id with "no_instance_id": true in app-compose.json (dstack). */
static bool compose_opts_out(const char *compose, size_t len)
{
    json_t *root = json_loadb(compose, len, 0, NULL);
    bool out = json_is_true(json_object_get(root, "no_instance_id"));
    json_decref(root);
    return out;
}

static kg_result extend(kg_tee *tee, const char *name, const void *payload, size_t len)
{
    KG_GUARD_CTX(kg_tee_extend(tee, name, payload, len), "extending RTMR3 with '%s'", name);
    return KG_OK;
}

/* {"name":"kms","id":"<hex of the KMS root CA SubjectPublicKeyInfo>"} (docs/protocol.md section
 * 2). */
static kg_result key_provider_info(char **out, const char *root_ca_pem)
{
    kg_result rc = KG_ERROR;
    BIO *bio = BIO_new_mem_buf(root_ca_pem, -1);
    X509 *ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    kg_buf b;
    kg_buf_init(&b, 4096);
    KG_ENSURE_OSSL_C(ca != NULL, KG_ERR_INPUT, "KMS root CA is not a PEM certificate");
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ca), &der);
    KG_ENSURE_OSSL_C(n > 0 && n <= 512, KG_ERR_INPUT, "KMS root CA public key");
    char hex[1025];
    KG_GUARD_C(kg_hex_encode(hex, sizeof(hex), der, (size_t)n));
    KG_GUARD_C(kg_buf_printf(&b, "{\"name\":\"kms\",\"id\":\"%s\"}", hex));
    KG_GUARD_C(kg_buf_terminate(&b));
    *out = strdup((const char *)b.data);
    KG_ENSURE_C(*out != NULL, KG_ERR_NOMEM, "out of memory");
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    X509_free(ca);
    BIO_free(bio);
    kg_buf_free(&b);
    return rc;
}

/* A quote binding `key` plus the event log so far, as the RA-TLS client certificate needs. */
static kg_result attested_cert(kg_buf *cert, kg_tee *tee, const kg_p256_key *key,
                               const char *ca_pem, const char *ca_key_pem, const uint8_t app_id[20],
                               kg_ratls_format format)
{
    kg_result rc = KG_ERROR;
    uint8_t rd[64];
    kg_buf quote, log_json;
    kg_eventlog log;
    kg_eventlog_init(&log);
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&log_json, KG_MAX_EVENTLOG_JSON_LEN);
    KG_GUARD_C(kg_ratls_key_report_data(rd, key));
    KG_GUARD_CTX_C(kg_tee_get_quote(tee, &quote, rd), "quote");
    KG_GUARD_CTX_C(kg_tee_read_eventlog(tee, &log), "event log");
    KG_GUARD_C(kg_eventlog_to_json(&log_json, &log));
    KG_GUARD_C(kg_agent_ratls_client_cert(cert, key, ca_pem, ca_key_pem, quote.data, quote.len,
                                          (const char *)log_json.data, app_id, NULL, format));
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    kg_buf_free(&quote);
    kg_buf_free(&log_json);
    return rc;
}

/* Reads a reply's {"error": ...} as the KMS's reason. */
static const char *reply_error(json_t *root)
{
    const char *e = json_string_value(json_object_get(root, "error"));
    return e ? e : "(no reason given)";
}

kg_result kg_kms_trust_check(const kg_kms_trust *t)
{
    static const uint8_t zero[KG_K256_PUB_LEN];
    KG_ENSURE(t != NULL && t->root_ca_pem != NULL, KG_ERR_USAGE, "no pinned KMS root CA given");
    KG_ENSURE(memcmp(t->root_k256_pub, zero, sizeof(zero)) != 0, KG_ERR_USAGE,
              "no KMS root secp256k1 key given: the agent checks the KMS's signatures with it");
    uint8_t full[KG_K256_PUB_UNCOMPRESSED_LEN];
    KG_GUARD_CTX(kg_k256_pub_decompress(full, t->root_k256_pub, KG_K256_PUB_LEN),
                 "KMS root secp256k1 key");
    KG_ENSURE(t->attestation == NULL || t->governance != NULL, KG_ERR_USAGE,
              "verifying the KMS's attestation needs the chain: a genuine TD is not enough, "
              "governance must allow it as a KMS (isKmsAllowed)");
    return KG_OK;
}

kg_result kg_agent_kms_rpc_attested(kg_buf *reply, kg_tee *tee, const char *url,
                                    const kg_kms_trust *trust, const kg_p256_key *key,
                                    const uint8_t app_id[20], const char *method, const char *body,
                                    kg_ratls_format format)
{
    kg_result rc = KG_ERROR;
    kg_agent_kms_endpoint ep = {.url = url, .trust = trust};
    kg_buf tmp, cert, key_pem;
    json_t *temp = NULL;
    long status = 0;
    kg_buf_init(&tmp, MAX_REPLY);
    kg_buf_init(&cert, 128 * 1024);
    kg_buf_init(&key_pem, 4096);

    /* The temporary CA only mints client certificates; trust comes from the quote inside. */
    KG_GUARD_C(kg_agent_kms_call(&tmp, &status, &ep, "GetTempCaCert", "{}", NULL, NULL));
    temp = json_loadb((const char *)tmp.data, tmp.len, JSON_REJECT_DUPLICATES, NULL);
    KG_ENSURE_C(status == 200 && json_is_object(temp), KG_ERR_NETWORK,
                "KMS GetTempCaCert at %s answered %ld: %s", url, status,
                temp ? reply_error(temp) : "not JSON");
    const char *ca = json_string_value(json_object_get(temp, "temp_ca_cert"));
    const char *ca_key = json_string_value(json_object_get(temp, "temp_ca_key"));
    KG_ENSURE_C(ca != NULL && ca_key != NULL, KG_ERR_NETWORK,
                "KMS GetTempCaCert at %s: reply lacks temp_ca_cert or temp_ca_key", url);
    KG_GUARD_C(attested_cert(&cert, tee, key, ca, ca_key, app_id, format));
    KG_GUARD_C(kg_p256_private_pem(&key_pem, key));
    KG_GUARD_C(kg_agent_kms_call(reply, &status, &ep, method, body, (const char *)cert.data,
                                 (const char *)key_pem.data));
    if (status != 200) {
        json_t *e = json_loadb((const char *)reply->data, reply->len, 0, NULL);
        /* 4xx: the KMS looked at us and said no. 503: it could not decide; other 5xx: it
         * failed. Either way another KMS may answer (kg_err_http_status is the KMS's side). */
        kg_err code = status >= 400 && status < 500 ? KG_ERR_DENIED
                      : status == 503               ? KG_ERR_UNAVAILABLE
                                                    : KG_ERR_NETWORK;
        (void)kg_error_set(code, __FILE__, __LINE__, "KMS %s at %s: %s (HTTP %ld)", method, url,
                           e ? reply_error(e) : "no JSON reply", status);
        json_decref(e);
        kg_buf_reset(reply);
        reply->len = 0;
        goto cleanup;
    }
    rc = KG_OK;
cleanup:
    json_decref(temp);
    kg_buf_free(&tmp);
    kg_buf_free(&cert);
    kg_buf_free(&key_pem);
    return rc;
}

static kg_result measured_os_image(uint8_t out[32], kg_tee *tee)
{
    static const uint8_t zero[64];
    kg_buf quote;
    kg_quote q;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_result rc = kg_tee_get_quote(tee, &quote, zero);
    if (kg_ok(rc))
        rc = kg_quote_parse(&q, quote.data, quote.len);
    if (kg_ok(rc))
        rc = kg_measure_os_image_hash(out, q.td.mrtd, q.td.rtmr);
    kg_buf_free(&quote);
    return rc;
}

/* The pinned root CA and a PEM certificate are the same certificate (DER equal). */
static kg_result same_cert(const char *pinned_pem, const char *got_pem)
{
    kg_result rc = KG_ERROR;
    BIO *a = BIO_new_mem_buf(pinned_pem, -1), *b = BIO_new_mem_buf(got_pem, -1);
    X509 *xa = a ? PEM_read_bio_X509(a, NULL, NULL, NULL) : NULL;
    X509 *xb = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    KG_ENSURE_OSSL_C(xa != NULL, KG_ERR_INPUT, "pinned KMS root CA is not a PEM certificate");
    KG_ENSURE_OSSL_C(xb != NULL, KG_ERR_VERIFY, "ca_cert is not a PEM certificate");
    KG_ENSURE_C(X509_cmp(xa, xb) == 0, KG_ERR_VERIFY, "ca_cert is not the pinned KMS root CA");
    rc = KG_OK;
cleanup:
    X509_free(xa);
    X509_free(xb);
    BIO_free(a);
    BIO_free(b);
    return rc;
}

/* The env key the KMS sent is the one its root key signed for this app (GetAppEnvEncryptPubKey,
 * signature_v1): an environment sealed by `keygate env encrypt` (which checks that signature)
 * can only be opened by a key the real KMS released. */
static kg_result check_env_key(const kg_agent_keys *keys, const kg_boot_config *cfg,
                               const char *url)
{
    kg_result rc = KG_ERROR;
    kg_agent_kms_endpoint ep = {.url = url, .trust = cfg->kms};
    kg_buf reply;
    kg_buf_init(&reply, MAX_REPLY);
    json_t *doc = NULL;
    long status = 0;
    char body[64], app_hex[41];
    uint8_t pub[KG_X25519_LEN], got[KG_X25519_LEN], sig[KG_K256_RECSIG_LEN];
    KG_GUARD_C(kg_hex_encode(app_hex, sizeof(app_hex), cfg->app_id, 20));
    snprintf(body, sizeof(body), "{\"app_id\":\"%s\"}", app_hex);
    KG_GUARD_C(kg_agent_kms_call(&reply, &status, &ep, "GetAppEnvEncryptPubKey", body, NULL, NULL));
    doc = json_loadb((const char *)reply.data, reply.len, JSON_REJECT_DUPLICATES, NULL);
    KG_ENSURE_C(status == 200 && json_is_object(doc), KG_ERR_NETWORK,
                "KMS GetAppEnvEncryptPubKey at %s answered %ld", url, status);
    const char *pub_hex = json_string_value(json_object_get(doc, "public_key"));
    const char *sig_hex = json_string_value(json_object_get(doc, "signature_v1"));
    json_t *ts = json_object_get(doc, "timestamp");
    KG_ENSURE_C(pub_hex && sig_hex && json_is_integer(ts) && json_integer_value(ts) >= 0,
                KG_ERR_VERIFY,
                "GetAppEnvEncryptPubKey reply lacks public_key, signature_v1 or "
                "timestamp");
    KG_GUARD_CTX_C(kg_hex_decode_exact(got, sizeof(got), pub_hex), "env public key");
    KG_GUARD_CTX_C(kg_hex_decode_exact(sig, sizeof(sig), sig_hex), "env public key signature");
    KG_GUARD_C(kg_kdf_env_pubkey_verify_v1(cfg->kms->root_k256_pub, cfg->app_id,
                                           (uint64_t)json_integer_value(ts), got, sig));
    KG_GUARD_C(kg_x25519_public(pub, keys->env_key));
    KG_ENSURE_C(CRYPTO_memcmp(pub, got, sizeof(pub)) == 0, KG_ERR_VERIFY,
                "env_crypt_key is not the env key the KMS root key signed for this app");
    rc = KG_OK;
cleanup:
    json_decref(doc);
    kg_buf_free(&reply);
    return rc;
}

/* What a GetAppKey reply must prove before any key in it is used: it comes from the holder of
 * the pinned root keys (kg_kms_trust). */
static kg_result check_keys(const kg_agent_keys *keys, const kg_boot_config *cfg, const char *url)
{
    uint8_t app_pub[KG_K256_PUB_LEN];
    KG_ENSURE(keys->ca_cert != NULL, KG_ERR_VERIFY, "GetAppKey reply has no ca_cert");
    KG_GUARD(same_cert(cfg->kms->root_ca_pem, keys->ca_cert));
    KG_GUARD(kg_k256_public(app_pub, keys->k256_key));
    KG_GUARD(kg_kdf_k256_signature_verify(cfg->kms->root_k256_pub, cfg->app_id, app_pub,
                                          keys->k256_signature));
    KG_GUARD(check_env_key(keys, cfg, url));
    return KG_OK;
}

/* The release's receipt in a GetAppKey reply (docs/design.md, "Receipts"), verified before any
 * key in the reply is used: root k256 key -> log key -> checkpoint -> inclusion -> an entry
 * that is this release, to this VM, naming the public keys of what it received. */
static kg_result check_receipt(const kg_agent_keys *keys, const kg_boot_config *cfg,
                               const kg_boot_result *me, const char *url)
{
    KG_ENSURE(keys->receipt != NULL, KG_ERR_VERIFY,
              "GetAppKey reply has no receipt: the release cannot be shown to be logged");
    uint8_t k256_pub[KG_K256_PUB_LEN], env_pub[KG_X25519_LEN];
    char k256_hex[2 * KG_K256_PUB_LEN + 1], env_hex[2 * KG_X25519_LEN + 1];
    KG_GUARD(kg_k256_public(k256_pub, keys->k256_key));
    KG_GUARD(kg_x25519_public(env_pub, keys->env_key));
    KG_GUARD(kg_hex_encode(k256_hex, sizeof(k256_hex), k256_pub, sizeof(k256_pub)));
    KG_GUARD(kg_hex_encode(env_hex, sizeof(env_hex), env_pub, sizeof(env_pub)));
    const char *names[2] = {"k256_pubkey", "env_pubkey"};
    const char *values[2] = {k256_hex, env_hex};
    kg_log_release_expect want = {.method = "GetAppKey",
                                  .app_id = me->app_id,
                                  .compose_hash = me->compose_hash,
                                  .instance_id = me->instance_id,
                                  .instance_id_len = me->instance_id_len,
                                  .os_image_hash = me->os_image_hash,
                                  .released_names = names,
                                  .released_values = values,
                                  .n_released = 2};
    kg_agent_kms_endpoint ep = {.url = url, .trust = cfg->kms};
    return kg_agent_receipt_check(keys->receipt, strlen(keys->receipt), &want, &ep);
}

/* One KMS: keys into *keys or an error (KG_ERR_DENIED = the KMS refused). */
static kg_result keys_from(kg_agent_keys *keys, const kg_boot_config *cfg, const kg_boot_result *me,
                           const char *url)
{
    kg_result rc = KG_ERROR;
    kg_p256_key *key = NULL;
    kg_buf reply;
    kg_buf_init(&reply, MAX_REPLY);
    json_t *body =
        json_pack("{s:i,s:s}", "api_version", 1, "vm_config", cfg->vm_config ? cfg->vm_config : "");
    char *body_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    KG_ENSURE_C(body_text != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_p256_generate(&key));
    KG_GUARD_C(kg_agent_kms_rpc_attested(&reply, cfg->tee, url, cfg->kms, key, cfg->app_id,
                                         "GetAppKey", body_text, cfg->ratls_format));
    KG_GUARD_CTX_C(kg_agent_keys_parse(keys, (const char *)reply.data, reply.len), "KMS %s", url);
    /* A reply that fails these is an impostor's, not a refusal: it is an error, not DENIED,
     * so a bad answer from one URL does not stop the next KMS from being asked. */
    KG_GUARD_CTX_C(check_keys(keys, cfg, url), "KMS %s: keys not issued by the pinned KMS", url);
    kg_agent_epoch_source chain;
    kg_agent_epoch_source_chain(&chain, cfg->kms);
    KG_GUARD_CTX_C(kg_agent_epochs_verify(keys, cfg->app_id, cfg->kms->root_k256_pub,
                                          cfg->kms->governance != NULL ? &chain : NULL, cfg->note,
                                          cfg->log_ctx),
                   "KMS %s: root-key epochs", url);
    KG_GUARD_CTX_C(check_receipt(keys, cfg, me, url),
                   "KMS %s: the release's receipt does not verify; its keys are not used", url);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_agent_keys_wipe(keys);
    free(body_text);
    json_decref(body);
    kg_p256_free(key);
    kg_buf_free(&reply);
    return rc;
}

/* <state_dir>/key-receipt.json: the receipt kept with the instance's state (mode 0600 like
 * the rest of it; it holds no secret). */
static kg_result keep_receipt(const char *state_dir, const char *receipt)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/key-receipt.json", state_dir);
    KG_ENSURE(n > 0 && (size_t)n < sizeof(path), KG_ERR_USAGE, "state directory path too long");
    KG_ENSURE(mkdir(state_dir, 0700) == 0 || errno == EEXIST, KG_ERR_IO, "state directory '%s': %s",
              state_dir, strerror(errno));
    KG_GUARD_CTX(kg_agent_write_secret_file(path, receipt, strlen(receipt)), "key receipt '%s'",
                 path);
    return KG_OK;
}

/* The environment, under the current env key or a retiring epoch's (kg_agent_env_decrypt); an
 * env still sealed to a previous epoch is said, so the operator re-encrypts it in time. */
static kg_result decrypt_env(kg_boot_result *out, const kg_boot_config *cfg)
{
    uint32_t epoch;
    KG_GUARD(kg_agent_env_decrypt(&out->env, &epoch, &out->keys, cfg->env_ct, cfg->env_ct_len));
    if (epoch == out->keys.root_epoch)
        return KG_OK;
    out->env_from_previous = true;
    out->env_root_epoch = epoch;
    if (cfg->note != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the app environment is encrypted to root epoch %u's env key: re-encrypt it to "
                 "the current env key (root epoch %u) before epoch %u is retired",
                 (unsigned)epoch, (unsigned)out->keys.root_epoch, (unsigned)epoch);
        cfg->note(cfg->log_ctx, msg);
    }
    return KG_OK;
}

kg_result kg_agent_boot(kg_boot_result *out, const kg_boot_config *cfg)
{
    kg_result rc = KG_ERROR;
    uint8_t seed[SEED_LEN], digest[32];
    memset(out, 0, sizeof(*out));
    kg_env_list_init(&out->env);
    KG_ENSURE(cfg->n_kms_urls > 0, KG_ERR_USAGE, "no KMS URL given");
    KG_GUARD(kg_kms_trust_check(cfg->kms));

    /* Identity (docs/protocol.md section 2). */
    KG_GUARD_C(kg_sha256(out->compose_hash, cfg->compose, cfg->compose_len));
    memcpy(out->app_id, cfg->app_id, 20);
    if (!compose_opts_out(cfg->compose, cfg->compose_len)) {
        KG_GUARD_C(instance_seed(seed, cfg->state_dir));
        const void *parts[2] = {seed, cfg->app_id};
        size_t lens[2] = {SEED_LEN, 20};
        KG_GUARD_C(kg_sha256_parts(digest, parts, lens, 2));
        memcpy(out->instance_id, digest, 20);
        out->instance_id_len = 20;
    }
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_APP_ID, cfg->app_id, 20));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_COMPOSE_HASH, out->compose_hash, 32));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_INSTANCE_ID, out->instance_id, out->instance_id_len));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    /* The measured OS image (docs/protocol.md section 2), from our own quote; the KMS computes
     * the same from the quote it verifies, and the release's receipt must name it. */
    KG_GUARD_C(measured_os_image(out->os_image_hash, cfg->tee));

    /* Keys: KMS nodes in order; a refusal (or a certificate the KMS refused) ends the boot, an
     * unreachable or undecided node does not. With a retry window, rounds over every URL repeat
     * with exponential backoff (0.5 s doubling to 8 s) until it closes: a KMS that is briefly
     * overloaded or restarting, or a host delaying our connections, does not fail the boot. */
    kg_result got = KG_ERROR;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long backoff_ms = 500;
    for (unsigned round = 0;; round++) {
        bool final = false;
        for (size_t i = 0; i < cfg->n_kms_urls; i++) {
            got = keys_from(&out->keys, cfg, out, cfg->kms_urls[i]);
            final = kg_ok(got) || kg_error_code() == KG_ERR_DENIED;
            if (final)
                break;
            if (cfg->log != NULL && (i + 1 < cfg->n_kms_urls || cfg->retry_for_ms > 0))
                cfg->log(cfg->log_ctx, kg_error_message());
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (final || spent + backoff_ms > cfg->retry_for_ms)
            break;
        char msg[96];
        snprintf(msg, sizeof(msg), "no KMS could decide (round %u); retrying in %ld ms", round + 1,
                 backoff_ms);
        if (cfg->log != NULL)
            cfg->log(cfg->log_ctx, msg);
        struct timespec d = {.tv_sec = backoff_ms / 1000, .tv_nsec = (backoff_ms % 1000) * 1000000};
        nanosleep(&d, NULL);
        backoff_ms = backoff_ms >= 4000 ? 8000 : backoff_ms * 2;
    }
    KG_GUARD_C(got);
    KG_GUARD_C(keep_receipt(cfg->state_dir, out->keys.receipt));

    KG_GUARD_C(key_provider_info(&out->key_provider_info, cfg->kms->root_ca_pem));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_OS_IMAGE_HASH, out->os_image_hash, 32));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_KEY_PROVIDER, out->key_provider_info,
                      strlen(out->key_provider_info)));
    KG_GUARD_C(extend(cfg->tee, KG_EVENT_SYSTEM_READY, NULL, 0));

    if (cfg->env_ct != NULL) {
        KG_GUARD_CTX_C(decrypt_env(out, cfg), "decrypting the app environment");
        KG_GUARD_CTX_C(kg_env_verify_names(&out->env), "app environment");
    }
    rc = KG_OK;
cleanup:
    kg_memzero(seed, sizeof(seed));
    if (kg_failed(rc)) {
        uint8_t app_id[20];
        memcpy(app_id, out->app_id, 20);
        kg_boot_result_free(out); /* no partial keys */
        memcpy(out->app_id, app_id, 20);
    }
    return rc;
}
