/* launch.c - the whole life of an app VM's agent, shared by `keygate-agent boot` and
 * `keygate sim run`: read inputs, boot (boot.c), hand out the disk key, serve the API, run the
 * app command. Errors go to stderr with the step that failed; nothing is released on failure. */
#include "keygate/agent_launch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "keygate/agent_boot.h"
#include "keygate/quote.h"
#include "keygate/ratls.h"
#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "json_out.h"

#define MAX_COMPOSE (1u << 20)
#define MAX_CA_PEM (64u * 1024u)

kg_result kg_agent_read_file(kg_buf *out, const char *path, const char *what)
{
    KG_GUARD_CTX(kg_file_read(out, path, out->max > 0 ? out->max - 1 : 0), "%s '%s'", what, path);
    return kg_buf_terminate(out);
}

/* The encrypted environment file holds what the SDK's encryptEnvVars() returns: hex text
 * (whitespace around it ignored). Raw binary envelopes are accepted too. */
static kg_result read_env_file(kg_buf *out, const char *path)
{
    kg_buf raw;
    kg_buf_init(&raw, 2 * KG_ENV_MAX_CIPHERTEXT_LEN + 64);
    KG_GUARD(kg_agent_read_file(&raw, path, "environment file"));
    size_t b = 0, e = raw.len;
    while (b < e && (raw.data[b] == ' ' || raw.data[b] == '\n' || raw.data[b] == '\r' ||
                     raw.data[b] == '\t'))
        b++;
    while (e > b && (raw.data[e - 1] == ' ' || raw.data[e - 1] == '\n' || raw.data[e - 1] == '\r' ||
                     raw.data[e - 1] == '\t'))
        e--;
    kg_result rc = kg_hex_decode_buf(out, (const char *)raw.data + b, e - b);
    if (kg_failed(rc)) {
        kg_error_clear();
        out->len = 0;
        rc = kg_buf_append(out, raw.data, raw.len);
    }
    kg_buf_free(&raw);
    return rc;
}

static void log_stderr(void *ctx, const char *msg)
{
    fprintf(stderr, "%s: %s; trying the next KMS\n", (const char *)ctx, msg);
}

static void note_stderr(void *ctx, const char *msg)
{
    fprintf(stderr, "%s: %s\n", (const char *)ctx, msg);
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    g_stop = sig;
}

static void *serve_thread(void *arg)
{
    if (kg_failed(kg_agent_server_run(arg)))
        fprintf(stderr, "keygate-agent: API server stopped: %s\n", kg_error_message());
    return NULL;
}

kg_result kg_agent_serve_until_signal(kg_agent *agent, const char *path, mode_t mode)
{
    kg_agent_server *srv = NULL;
    pthread_t th;
    KG_GUARD(kg_agent_server_new(&srv, agent, path, mode));
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (pthread_create(&th, NULL, serve_thread, srv) != 0) {
        kg_agent_server_free(srv);
        KG_BAIL(KG_ERR_IO, "starting the API thread");
    }
    while (!g_stop)
        pause();
    kg_agent_server_stop(srv);
    pthread_join(th, NULL);
    kg_agent_server_free(srv);
    return KG_OK;
}

/* The verifier for KMS attestations: Intel's pinned root unless a root CA file is given. */
static kg_result make_verifier(kg_dcap_verifier **out, const char *root_path)
{
    if (root_path == NULL)
        return kg_dcap_verifier_new(out, NULL, 0);
    kg_buf pem;
    kg_buf_init(&pem, MAX_CA_PEM);
    kg_result rc = kg_agent_read_file(&pem, root_path, "TEE root CA");
    BIO *bio = kg_ok(rc) ? BIO_new_mem_buf(pem.data, (int)pem.len) : NULL;
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    if (kg_ok(rc) && n <= 0) {
        /* not PEM: take the file as DER */
        rc = kg_dcap_verifier_new(out, pem.data, pem.len);
    } else if (kg_ok(rc)) {
        rc = kg_dcap_verifier_new(out, der, (size_t)n);
    }
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    kg_buf_free(&pem);
    KG_GUARD_CTX(rc, "TEE root CA '%s'", root_path);
    return KG_OK;
}

/* KEY=VALUE lines (docker --env-file format). Values with a newline cannot be represented
 * there and are refused rather than cut. */
static kg_result write_env_file(const char *path, const kg_env_list *env)
{
    kg_buf b;
    kg_buf_init(&b, 2 * KG_ENV_MAX_CIPHERTEXT_LEN);
    kg_result rc = KG_OK;
    for (size_t i = 0; kg_ok(rc) && i < env->count; i++) {
        if (strchr(env->vars[i].value, '\n') != NULL)
            rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                              "environment variable '%s' has a newline; it cannot be written as "
                              "KEY=VALUE",
                              env->vars[i].key);
        else
            rc = kg_buf_printf(&b, "%s=%s\n", env->vars[i].key, env->vars[i].value);
    }
    if (kg_ok(rc))
        rc = kg_agent_write_secret_file(path, b.data ? (const void *)b.data : "", b.len);
    kg_buf_free(&b);
    KG_GUARD_CTX(rc, "environment file '%s'", path);
    return KG_OK;
}

/* The keys file (kg_agent_keys_load reads it): the GetAppKey reply's fields and the app id they
 * were released to (`serve` refuses to serve them under another). */
static kg_result write_keys_file(const char *path, const kg_agent_keys *k, const uint8_t app_id[20])
{
    kg_buf b;
    kg_jw w;
    kg_buf_init(&b, 256 * 1024);
    kg_result rc = kg_jw_begin(&w, &b);
    if (kg_ok(rc))
        rc = kg_jw_str(&w, "ca_cert", k->ca_cert);
    if (kg_ok(rc))
        rc = kg_jw_hex(&w, "disk_crypt_key", k->disk_key, sizeof(k->disk_key));
    if (kg_ok(rc))
        rc = kg_jw_hex(&w, "env_crypt_key", k->env_key, sizeof(k->env_key));
    if (kg_ok(rc))
        rc = kg_jw_hex(&w, "k256_key", k->k256_key, sizeof(k->k256_key));
    if (kg_ok(rc))
        rc = kg_jw_hex(&w, "k256_signature", k->k256_signature, sizeof(k->k256_signature));
    if (kg_ok(rc))
        rc = kg_jw_str(&w, "gateway_app_id", k->gateway_app_id);
    if (kg_ok(rc))
        rc = kg_jw_hex(&w, "app_id", app_id, 20);
    if (kg_ok(rc) && k->receipt != NULL) /* the verified release's receipt, for GetKeyReceipt */
        rc = kg_jw_raw(&w, "receipt", k->receipt, strlen(k->receipt));
    /* Root-key epochs (docs/protocol.md section 5), verified at boot like the keys above. */
    if (kg_ok(rc) && k->has_root_epoch)
        rc = kg_jw_u64(&w, "root_epoch", k->root_epoch);
    if (kg_ok(rc) && k->n_previous > 0)
        rc = kg_jw_array_begin(&w, "previous_keys");
    for (size_t i = 0; kg_ok(rc) && i < k->n_previous; i++) {
        const kg_agent_epoch_keys *p = &k->previous[i];
        rc = kg_jw_item_begin(&w);
        if (kg_ok(rc))
            rc = kg_jw_u64(&w, "root_epoch", p->root_epoch);
        if (kg_ok(rc))
            rc = kg_jw_hex(&w, "disk_crypt_key", p->disk_key, sizeof(p->disk_key));
        if (kg_ok(rc))
            rc = kg_jw_hex(&w, "env_crypt_key", p->env_key, sizeof(p->env_key));
        if (kg_ok(rc))
            rc = kg_jw_hex(&w, "k256_key", p->k256_key, sizeof(p->k256_key));
        if (kg_ok(rc))
            rc = kg_jw_hex(&w, "k256_signature", p->k256_signature, sizeof(p->k256_signature));
        if (kg_ok(rc))
            rc = kg_jw_item_end(&w);
    }
    if (kg_ok(rc) && k->n_previous > 0)
        rc = kg_jw_array_end(&w);
    if (kg_ok(rc))
        rc = kg_jw_end(&w);
    if (kg_ok(rc))
        rc = kg_agent_write_secret_file(path, b.data, b.len);
    kg_buf_free(&b);
    KG_GUARD_CTX(rc, "keys file '%s'", path);
    return KG_OK;
}

/* <disk_key_path>.epoch-<M>: the disk key of previous root epoch M (agent/README.md). */
static kg_result epoch_disk_key_path(char *out, size_t cap, const char *path, uint32_t epoch)
{
    int n = snprintf(out, cap, "%s.epoch-%u", path, (unsigned)epoch);
    KG_ENSURE(n > 0 && (size_t)n < cap, KG_ERR_USAGE, "disk key path '%s' is too long", path);
    return KG_OK;
}

/* Is `name` "<base>.epoch-<digits>" for an epoch not in keys->previous? */
static bool stale_epoch_file(const char *name, const char *base, const kg_agent_keys *k)
{
    size_t bl = strlen(base);
    static const char tag[] = ".epoch-";
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, tag, sizeof(tag) - 1) != 0)
        return false;
    const char *d = name + bl + sizeof(tag) - 1;
    unsigned long long v = 0;
    if (*d == '\0' || strlen(d) > 10)
        return false;
    for (const char *c = d; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (unsigned)(*c - '0');
    }
    for (size_t i = 0; i < k->n_previous; i++)
        if (k->previous[i].root_epoch == v)
            return false;
    return true;
}

/* The disk keys of the previous (retiring) root epochs beside the current one, so a disk
 * encrypted under an old epoch's key can still be opened and re-keyed during the migration window
 * (docs/design.md, "Root-key epochs"); files of epochs no longer released (retired on chain) are
 * removed: that key is not to be used again. The paths written are appended to paths[] (removed
 * again if the boot fails later). */
static kg_result write_epoch_disk_keys(char (*paths)[4096], size_t *n_paths, const char *path,
                                       const kg_agent_keys *k)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dl = slash ? (size_t)(slash - path) : 0;
    KG_ENSURE(dl < sizeof(dir), KG_ERR_USAGE, "disk key path '%s' is too long", path);
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (dl == 0)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)dl, path);
    DIR *dh = opendir(dir);
    KG_ENSURE(dh != NULL, KG_ERR_IO, "disk key directory '%s': %s", dir, strerror(errno));
    struct dirent *de;
    char stale[4096];
    kg_result rc = KG_OK;
    while (kg_ok(rc) && (de = readdir(dh)) != NULL) {
        if (!stale_epoch_file(de->d_name, base, k))
            continue;
        int n = snprintf(stale, sizeof(stale), "%s/%s", dir, de->d_name);
        if (n > 0 && (size_t)n < sizeof(stale) && unlink(stale) != 0 && errno != ENOENT)
            rc = kg_error_set(KG_ERR_IO, __FILE__, __LINE__,
                              "removing the retired epoch's disk key '%s': %s", stale,
                              strerror(errno));
    }
    closedir(dh);
    KG_GUARD(rc);
    for (size_t i = 0; i < k->n_previous; i++) {
        KG_GUARD(epoch_disk_key_path(paths[*n_paths], sizeof(paths[0]), path,
                                     k->previous[i].root_epoch));
        KG_GUARD_CTX(kg_agent_write_secret_file(paths[*n_paths], k->previous[i].disk_key,
                                                sizeof(k->previous[i].disk_key)),
                     "disk key of root epoch %u", (unsigned)k->previous[i].root_epoch);
        (*n_paths)++;
    }
    return KG_OK;
}

/* device_id = SHA-256(PPID) (docs/protocol.md section 2), from this VM's own quote verified like
 * any other: the PPID is only believed from a PCK certificate that chains to the trust root. */
static kg_result own_device_id(uint8_t out[32], kg_tee *tee, const kg_ratls_policy *policy)
{
    static const uint8_t zero[64];
    kg_result rc = KG_ERROR;
    kg_buf quote;
    char *coll = NULL;
    size_t coll_len = 0;
    kg_dcap_report *rep = calloc(1, sizeof(*rep));
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    KG_ENSURE_C(rep != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_tee_get_quote(tee, &quote, zero));
    KG_GUARD_C(kg_pccs_get_collateral(&coll, &coll_len, policy->pccs_url, quote.data, quote.len,
                                      NULL, (uint64_t)time(NULL)));
    KG_GUARD_C(kg_dcap_verify(policy->verifier, rep, quote.data, quote.len, coll, coll_len,
                              (uint64_t)time(NULL)));
    KG_ENSURE_C(rep->has_ppid, KG_ERR_VERIFY, "PCK certificate carries no PPID");
    KG_GUARD_C(kg_sha256(out, rep->ppid, sizeof(rep->ppid)));
    rc = KG_OK;
cleanup:
    free(coll);
    free(rep);
    kg_buf_free(&quote);
    return rc;
}

/* How this agent authenticates its KMS (kg_kms_trust): the pinned root CA, the root
 * secp256k1 key (--kms-k256, or kmsInfo on chain, or both and then they must agree), and with
 * --pccs the KMS's attestation, which governance must allow (isKmsAllowed): so the chain is
 * required then. The root CA pinned here must be the one published on chain, too. */
kg_result kg_agent_trust_init(kg_kms_trust *t, kg_eth_client **eth, const kg_launch_opts *o,
                              const char *ca_pem, const kg_ratls_policy *attestation)
{
    memset(t, 0, sizeof(*t));
    t->root_ca_pem = ca_pem;
    t->attestation = attestation;
    bool pinned = o->kms_k256_hex != NULL;
    if (pinned)
        KG_GUARD_CTX(kg_hex_decode_exact(t->root_k256_pub, KG_K256_PUB_LEN, o->kms_k256_hex),
                     "--kms-k256 '%s'", o->kms_k256_hex);
    KG_ENSURE((o->rpc_url == NULL) == (o->kms_contract == NULL), KG_ERR_USAGE,
              "--rpc-url and --kms-contract go together");
    if (o->rpc_url == NULL) {
        KG_ENSURE(attestation == NULL, KG_ERR_USAGE,
                  "--pccs (verify the KMS's attestation) needs --rpc-url and --kms-contract: the "
                  "attested KMS must be one governance allows");
        KG_ENSURE(pinned, KG_ERR_USAGE,
                  "the KMS root secp256k1 key is needed to check the KMS's signatures: give "
                  "--kms-k256 HEX, or --rpc-url and --kms-contract to read it from the chain");
        return KG_OK;
    }
    KG_GUARD_CTX(kg_eth_address_parse(t->kms_contract, o->kms_contract), "--kms-contract '%s'",
                 o->kms_contract);
    KG_GUARD_CTX(kg_eth_client_new(eth, o->rpc_url, 0), "--rpc-url '%s'", o->rpc_url);
    t->governance = *eth;
    uint8_t chain_k256[KG_K256_PUB_LEN];
    kg_buf spki;
    kg_buf_init(&spki, 4096);
    kg_result rc = kg_eth_kms_info(chain_k256, &spki, *eth, t->kms_contract, NULL);
    BIO *bio = kg_ok(rc) ? BIO_new_mem_buf(ca_pem, -1) : NULL;
    X509 *ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = ca ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ca), &der) : -1;
    if (kg_ok(rc) && n <= 0)
        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "KMS root CA is not a certificate");
    else if (kg_ok(rc) && ((size_t)n != spki.len || memcmp(der, spki.data, spki.len) != 0))
        rc = kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__,
                          "the pinned KMS root CA is not the one published on chain (kmsInfo)");
    else if (kg_ok(rc) && pinned && memcmp(chain_k256, t->root_k256_pub, KG_K256_PUB_LEN) != 0)
        rc = kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__,
                          "--kms-k256 differs from the KMS root key published on chain (kmsInfo)");
    if (kg_ok(rc))
        memcpy(t->root_k256_pub, chain_k256, KG_K256_PUB_LEN);
    OPENSSL_free(der);
    X509_free(ca);
    BIO_free(bio);
    ERR_clear_error();
    kg_buf_free(&spki);
    KG_GUARD_CTX(rc, "KMS contract %s", o->kms_contract);
    return KG_OK;
}

int kg_agent_launch(const kg_launch_opts *o)
{
    int exit_code = 1;
    bool ok = false;
    kg_tee *tee = NULL;
    kg_dcap_verifier *verifier = NULL;
    kg_ratls_policy policy = {0};
    kg_kms_trust trust = {0};
    kg_eth_client *eth = NULL;
    const char *written[3];
    size_t n_written = 0;
    /* The previous epochs' disk keys (<disk_key_path>.epoch-<M>), removed like written[]. */
    char epoch_paths[KG_AGENT_MAX_PREVIOUS_EPOCHS][4096];
    size_t n_epoch_paths = 0;
    kg_agent *agent = NULL;
    /* The boot result holds the app keys and the decrypted environment until the app exits:
     * in the secure heap (harden.h), never in a core dump. */
    kg_boot_result *brp = kg_secure_zalloc(sizeof(*brp));
    if (brp == NULL) {
        fprintf(stderr, "%s: out of memory\n", o->prog ? o->prog : "keygate-agent");
        return 1;
    }
    kg_buf compose, ca, env_ct, bootlog;
    kg_buf_init(&bootlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&compose, MAX_COMPOSE);
    kg_buf_init(&ca, MAX_CA_PEM);
    kg_buf_init(&env_ct, KG_ENV_MAX_CIPHERTEXT_LEN);
    kg_env_list_init(&brp->env);
    const char *prog = o->prog ? o->prog : "keygate-agent";
    kg_boot_config cfg = {.state_dir = o->state_dir,
                          .kms_urls = o->kms_urls,
                          .n_kms_urls = o->n_kms_urls,
                          .vm_config = o->vm_config,
                          .retry_for_ms = o->kms_retry_ms,
                          .ratls_format = o->ratls_format,
                          .log = log_stderr,
                          .log_ctx = (void *)prog,
                          .note = note_stderr};

    /* Who runs the app, settled before any key is fetched: a bad --app-user stops here. */
    kg_app_user app_user;
    bool run_app = o->argv != NULL && o->argv[0] != NULL;
    if (run_app)
        KG_GUARD_C(kg_app_user_resolve(&app_user, o->app_user, prog));
    KG_GUARD_C(kg_hex_decode_exact(cfg.app_id, 20, o->app_id_hex));
    KG_GUARD_C(kg_agent_read_file(&compose, o->compose_path, "compose file"));
    cfg.compose = (const char *)compose.data;
    cfg.compose_len = compose.len;
    KG_GUARD_C(kg_agent_read_file(&ca, o->kms_ca_path, "KMS root CA"));
    if (o->env_path != NULL) {
        KG_GUARD_C(read_env_file(&env_ct, o->env_path));
        cfg.env_ct = env_ct.data;
        cfg.env_ct_len = env_ct.len;
    }
    KG_GUARD_CTX_C(kg_tee_open(&tee, o->tee_spec), "opening the TEE '%s'", o->tee_spec);
    cfg.tee = tee;
    /* The KMS's attestation is checked wherever the agent has what it needs: a PCCS, or on real
     * TDX with the chain given, Intel's PCS (collateral for genuine platforms). Only an explicit
     * --pccs none turns it off. */
    const char *pccs = o->pccs_url;
    if (pccs == NULL && o->rpc_url != NULL && strcmp(kg_tee_backend(tee), "tdx") == 0)
        pccs = KG_INTEL_PCS_URL;
    if (pccs != NULL && strcmp(pccs, "none") == 0)
        pccs = NULL;
    if (pccs != NULL) {
        KG_GUARD_C(make_verifier(&verifier, o->tee_root_ca_path));
        policy.verifier = verifier;
        policy.pccs_url = pccs;
    }
    KG_GUARD_C(
        kg_agent_trust_init(&trust, &eth, o, (const char *)ca.data, pccs != NULL ? &policy : NULL));
    cfg.kms = &trust;

    KG_GUARD_C(kg_agent_boot(brp, &cfg));
    if (o->disk_key_path != NULL) {
        KG_GUARD_CTX_C(kg_agent_write_secret_file(o->disk_key_path, brp->keys.disk_key,
                                                  sizeof(brp->keys.disk_key)),
                       "disk key");
        written[n_written++] = o->disk_key_path;
        KG_GUARD_C(
            write_epoch_disk_keys(epoch_paths, &n_epoch_paths, o->disk_key_path, &brp->keys));
    }
    if (o->keys_out_path != NULL) {
        KG_GUARD_C(write_keys_file(o->keys_out_path, &brp->keys, brp->app_id));
        written[n_written++] = o->keys_out_path;
    }
    if (o->env_out_path != NULL) {
        KG_GUARD_C(write_env_file(o->env_out_path, &brp->env));
        written[n_written++] = o->env_out_path;
    }

    KG_GUARD_C(kg_agent_boot_eventlog(&bootlog, o->tee_spec));
    kg_agent_tee_ctx tctx = {.tee = tee,
                             .kms_urls = o->kms_urls,
                             .n_kms_urls = o->n_kms_urls,
                             .kms = &trust,
                             .boot_eventlog_json = (const char *)bootlog.data,
                             .ratls_format = o->ratls_format};
    memcpy(tctx.app_id, cfg.app_id, 20);
    kg_agent_platform plat;
    kg_agent_platform_tee(&plat, &tctx);
    kg_agent_identity id = {.instance_id_len = brp->instance_id_len,
                            .app_compose = cfg.compose,
                            .key_provider_info = brp->key_provider_info,
                            .vm_config = o->vm_config};
    memcpy(id.app_id, brp->app_id, 20);
    memcpy(id.instance_id, brp->instance_id, 20);
    memcpy(id.compose_hash, brp->compose_hash, 32);
    memcpy(id.os_image_hash, brp->os_image_hash, 32);
    if (trust.attestation != NULL)
        KG_GUARD_CTX_C(own_device_id(id.device_id, tee, trust.attestation), "device id");
    tctx.self = &id;
    tctx.instance_known = true;
    KG_GUARD_C(kg_agent_new(&agent, &brp->keys, &id, &plat));

    if (run_app) {
        int status = 1;
        KG_GUARD_C(kg_agent_serve_and_run_as(&status, agent, o->socket_path, o->socket_mode,
                                             &brp->env, o->argv, &app_user));
        exit_code = status;
    } else {
        KG_GUARD_C(kg_agent_serve_until_signal(agent, o->socket_path, o->socket_mode));
        exit_code = 0;
    }
    ok = true;
cleanup:
    if (!ok) {
        fprintf(stderr, "%s: %s\n", prog, kg_error_message());
        /* A failed boot leaves no key material behind, not even part of it. */
        if (exit_code == 1)
            for (size_t i = 0; i < n_written; i++)
                unlink(written[i]);
        if (exit_code == 1)
            for (size_t i = 0; i < n_epoch_paths; i++)
                unlink(epoch_paths[i]);
    }
    kg_agent_free(agent);
    kg_boot_result_free(brp);
    kg_secure_free(brp, sizeof(*brp));
    kg_tee_free(tee);
    kg_dcap_verifier_free(verifier);
    kg_eth_client_free(eth);
    kg_buf_free(&compose);
    kg_buf_free(&ca);
    kg_buf_free(&env_ct);
    kg_buf_free(&bootlog);
    return exit_code;
}
