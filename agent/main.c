/* main.c - keygate-agent: `boot` measures the app, gets its keys from the KMS and serves the
 * dstack app API (optionally running the app); `serve` serves the API over an existing keys file
 * (the boot/serve split of a real VM image, where boot runs before the app's services). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keygate/agent_boot.h"
#include "keygate/agent_launch.h"
#include "keygate/fileio.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "keygate/version.h"

#define EXIT_USAGE 2
#define AGENT_MAX_CONFIG (64u * 1024u) /* --config FILE: a few dozen options */

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage:\n"
        "  keygate-agent boot [--config FILE] --tee SPEC --app-id HEX --compose FILE --state DIR\n"
        "                     --kms URL [--kms URL ...] --kms-ca PEM\n"
        "                     (--kms-k256 HEX | --rpc-url URL --kms-contract ADDR)\n"
        "                     [--pccs URL [--tee-root-ca PEM]] [--env-file FILE]\n"
        "                     [--disk-key-out FILE] [--kms-retry-s N (60)]\n"
        "                     [--keys-out FILE] [--env-out FILE]\n"
        "                     [--socket PATH] [--socket-mode 0660|0600]\n"
        "                     [--vm-config TEXT] [--app-user USER|UID[:GID]]\n"
        "                     [--ratls-format legacy|dstack] [-- CMD [ARGS...]]\n"
        "  keygate-agent serve --tee SPEC --keys FILE --app-id HEX --compose FILE\n"
        "                     [--instance-id HEX] [--os-image-hash HEX] [--vm-config TEXT]\n"
        "                     [--kms URL --kms-ca PEM (--kms-k256 HEX | --rpc-url URL\n"
        "                     --kms-contract ADDR)] [--socket PATH]\n"
        "                     [--app-user USER|UID[:GID]] [--ratls-format legacy|dstack]\n"
        "                     [-- CMD [ARGS...]]\n"
        "\n"
        "--config FILE: a JSON object of the same options without '--' (\"kms\" may be an\n"
        "array); command-line flags override it.\n"
        "SPEC is 'tdx' or 'sim:<platform_dir>:<vm>'. The API socket defaults to %s.\n"
        "boot extends RTMR3 (system-preparing .. system-ready), fetches the app keys over\n"
        "RA-TLS from the first KMS that answers (a refusal stops the boot), decrypts the\n"
        "environment and serves the API; with CMD it runs CMD with the environment and\n"
        "DSTACK_SIMULATOR_ENDPOINT and exits with its status.\n"
        "A KMS is believed only when its TLS certificate is issued directly by --kms-ca with\n"
        "usage kms:rpc, and the keys it sends carry signatures of the KMS root secp256k1 key\n"
        "(--kms-k256, or kmsInfo of --kms-contract on --rpc-url; both must agree, and the\n"
        "chain's root CA must be --kms-ca's). With --pccs its RA-TLS attestation is verified\n"
        "too (DCAP under Intel's root, or --tee-root-ca for a simulated KMS) and the chain\n"
        "must allow it as a KMS (isKmsAllowed); --pccs needs --rpc-url and --kms-contract.\n"
        "On real TDX with --rpc-url, the attestation is checked by default with Intel's PCS\n"
        "(%s); --pccs none turns it off.\n"
        "A KMS that cannot decide (unreachable, 503) is skipped for the next; rounds over\n"
        "every URL repeat with backoff for --kms-retry-s seconds; a refusal ends the boot.\n"
        "CMD never runs with the agent's privileges: an agent running as root starts it as\n"
        "--app-user, by default the user keygate-app if it exists, else nobody (65534), with\n"
        "no fd but 0-2, no way back to root and no_new_privs; the API socket is given to that\n"
        "user's group. '--app-user root' keeps root, with a warning: the app can then forge\n"
        "its measurements. A non-root agent runs CMD as itself (it cannot switch users).\n"
        "--ratls-format: how this VM presents its attestation to the KMS: legacy (quote and\n"
        "event log in extensions .1/.2, GetTlsKey through a PKCS#10 SignCert) or dstack (the\n"
        "attestation extension .8 and GetTlsKey through SignCert api_version 2, as dstack\n"
        "guests since v0.5.10; 'dstack-msgpack' always encodes .8 as msgpack). Default legacy.\n"
        "serve answers only for --app-id: keys released to another app (the keys file's\n"
        "app_id), a VM whose RTMR3 measured another app id or compose hash, and (with the KMS\n"
        "root key) keys signed for another app are refused (exit 2; 1 for the signature).\n"
        "Secrets leave the agent only as files with mode 0600: --disk-key-out (32 bytes, for\n"
        "cryptsetup), --keys-out (for serve), --env-out (KEY=VALUE lines).\n"
        "Exit status: CMD's status, 0 after SIGTERM, 1 failed or refused, 2 usage.\n",
        KG_AGENT_DEFAULT_SOCKET, KG_INTEL_PCS_URL);
}

typedef struct args {
    kg_launch_opts o;
    const char *keys_path;
    const char *instance_id_hex;
    const char *os_image_hash_hex;
} args;

static int parse_mode(mode_t *out, const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 8);
    if (end == s || *end != '\0' || v > 0777)
        return -1;
    *out = (mode_t)v;
    return 0;
}

/* Sets one option. Returns 0, or EXIT_USAGE after printing what was wrong. */
static int apply(args *a, const char *f, const char *v, bool *kms_from_config, bool from_config)
{
    if (strcmp(f, "--tee") == 0)
        a->o.tee_spec = v;
    else if (strcmp(f, "--app-id") == 0)
        a->o.app_id_hex = v;
    else if (strcmp(f, "--compose") == 0)
        a->o.compose_path = v;
    else if (strcmp(f, "--state") == 0)
        a->o.state_dir = v;
    else if (strcmp(f, "--kms") == 0) {
        if (*kms_from_config && !from_config) { /* flags replace the config's list */
            a->o.n_kms_urls = 0;
            *kms_from_config = false;
        }
        if (a->o.n_kms_urls >= KG_LAUNCH_MAX_KMS) {
            fprintf(stderr, "keygate-agent: at most %d KMS URLs\n", KG_LAUNCH_MAX_KMS);
            return EXIT_USAGE;
        }
        a->o.kms_urls[a->o.n_kms_urls++] = v;
        if (from_config)
            *kms_from_config = true;
    } else if (strcmp(f, "--kms-ca") == 0)
        a->o.kms_ca_path = v;
    else if (strcmp(f, "--kms-retry-s") == 0) {
        char *end = NULL;
        unsigned long secs = strtoul(v, &end, 10);
        if (end == v || *end != '\0' || secs > 3600) {
            fprintf(stderr, "keygate-agent: --kms-retry-s '%s' is not 0..3600 seconds\n", v);
            return EXIT_USAGE;
        }
        a->o.kms_retry_ms = (long)secs * 1000;
    } else if (strcmp(f, "--kms-k256") == 0)
        a->o.kms_k256_hex = v;
    else if (strcmp(f, "--rpc-url") == 0)
        a->o.rpc_url = v;
    else if (strcmp(f, "--kms-contract") == 0)
        a->o.kms_contract = v;
    else if (strcmp(f, "--pccs") == 0)
        a->o.pccs_url = v;
    else if (strcmp(f, "--tee-root-ca") == 0)
        a->o.tee_root_ca_path = v;
    else if (strcmp(f, "--env-file") == 0)
        a->o.env_path = v;
    else if (strcmp(f, "--disk-key-out") == 0)
        a->o.disk_key_path = v;
    else if (strcmp(f, "--keys-out") == 0)
        a->o.keys_out_path = v;
    else if (strcmp(f, "--env-out") == 0)
        a->o.env_out_path = v;
    else if (strcmp(f, "--socket") == 0)
        a->o.socket_path = v;
    else if (strcmp(f, "--app-user") == 0)
        a->o.app_user = v;
    else if (strcmp(f, "--vm-config") == 0)
        a->o.vm_config = v;
    else if (strcmp(f, "--ratls-format") == 0) {
        /* legacy: .1/.2 certificates and PKCS#10 SignCert; dstack: .8 and SignCert v2 */
        if (kg_failed(kg_ratls_format_from_name(&a->o.ratls_format, v))) {
            fprintf(stderr, "keygate-agent: --ratls-format: %s\n", kg_error_message());
            return EXIT_USAGE;
        }
    } else if (strcmp(f, "--keys") == 0)
        a->keys_path = v;
    else if (strcmp(f, "--instance-id") == 0)
        a->instance_id_hex = v;
    else if (strcmp(f, "--os-image-hash") == 0)
        a->os_image_hash_hex = v;
    else if (strcmp(f, "--socket-mode") == 0) {
        if (parse_mode(&a->o.socket_mode, v) != 0) {
            fprintf(stderr, "keygate-agent: bad socket mode '%s' (octal, e.g. 0660)\n", v);
            return EXIT_USAGE;
        }
    } else {
        fprintf(stderr, "keygate-agent: unknown %s '%s'\n", from_config ? "config key" : "option",
                from_config ? f + 2 : f);
        return EXIT_USAGE;
    }
    return 0;
}

/* --config FILE: a JSON object whose keys are the option names without "--" ("app-id" or
 * "app_id"), values strings, "kms" also an array of strings. Unknown keys are errors, so a
 * typo cannot silently drop a setting. Flags given on the command line override it. */
static json_t *g_config; /* kept for the process lifetime: options borrow its strings */

static int load_config(args *a, const char *path, bool *kms_from_config)
{
    json_error_t jerr;
    kg_buf text;
    kg_buf_init(&text, AGENT_MAX_CONFIG);
    if (kg_failed(kg_file_read(&text, path, AGENT_MAX_CONFIG))) {
        fprintf(stderr, "keygate-agent: config: %s\n", kg_error_message());
        kg_buf_free(&text);
        return EXIT_USAGE;
    }
    g_config = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
    kg_buf_free(&text);
    if (!json_is_object(g_config)) {
        fprintf(stderr, "keygate-agent: config '%s': %s\n", path,
                g_config ? "not a JSON object" : jerr.text);
        return EXIT_USAGE;
    }
    const char *key;
    json_t *val;
    json_object_foreach(g_config, key, val)
    {
        char flag[64];
        int n = snprintf(flag, sizeof(flag), "--%s", key);
        if (n <= 0 || (size_t)n >= sizeof(flag)) {
            fprintf(stderr, "keygate-agent: config key '%s' too long\n", key);
            return EXIT_USAGE;
        }
        for (char *c = flag + 2; *c; c++)
            if (*c == '_')
                *c = '-';
        if (strcmp(flag, "--kms") == 0 && json_is_array(val)) {
            size_t i;
            json_t *u;
            json_array_foreach(val, i, u)
            {
                if (!json_is_string(u)) {
                    fprintf(stderr, "keygate-agent: config 'kms'[%zu] is not a string\n", i);
                    return EXIT_USAGE;
                }
                if (apply(a, flag, json_string_value(u), kms_from_config, true) != 0)
                    return EXIT_USAGE;
            }
            continue;
        }
        if (!json_is_string(val)) {
            fprintf(stderr, "keygate-agent: config '%s' must be a string\n", key);
            return EXIT_USAGE;
        }
        if (apply(a, flag, json_string_value(val), kms_from_config, true) != 0)
            return EXIT_USAGE;
    }
    return 0;
}

/* Returns 0, or EXIT_USAGE after printing what was wrong. */
static int parse(args *a, int argc, char **argv)
{
    bool kms_from_config = false;
    memset(a, 0, sizeof(*a));
    a->o.prog = "keygate-agent";
    a->o.kms_retry_ms = 60000; /* a booting VM waits out a KMS restart or a brief overload */
    a->o.socket_path = KG_AGENT_DEFAULT_SOCKET;
    for (int i = 2; i + 1 < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--config") == 0 && load_config(a, argv[i + 1], &kms_from_config) != 0)
            return EXIT_USAGE;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--") == 0) {
            a->o.argv = &argv[i + 1];
            break;
        }
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "keygate-agent: option '%s' needs a value\n", f);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(f, "--config") == 0)
            continue; /* loaded above */
        if (apply(a, f, v, &kms_from_config, false) != 0)
            return EXIT_USAGE;
    }
    return 0;
}

static int need(const char *value, const char *flag)
{
    if (value == NULL) {
        fprintf(stderr, "keygate-agent: %s is required\n", flag);
        return 1;
    }
    return 0;
}

static int cmd_boot(args *a)
{
    int missing = need(a->o.tee_spec, "--tee") + need(a->o.app_id_hex, "--app-id") +
                  need(a->o.compose_path, "--compose") + need(a->o.state_dir, "--state") +
                  need(a->o.kms_ca_path, "--kms-ca") + need(a->o.n_kms_urls ? "" : NULL, "--kms");
    if (missing)
        return EXIT_USAGE;
    return kg_agent_launch(&a->o);
}

static void hex_of(char *out, size_t cap, const uint8_t *b, size_t n)
{
    if (kg_failed(kg_hex_encode(out, cap, b, n)))
        snprintf(out, cap, "?");
}

/* serve answers for one app, the one --app-id names: it refuses (KG_ERR_USAGE, before any
 * socket exists) keys released to another app (the keys file's "app_id", written by boot
 * --keys-out) and a VM whose boot measured another identity into RTMR3 (the app-id and
 * compose-hash events of this TEE's runtime event log, checked against RTMR3, and instance-id
 * when --instance-id is given). A VM with no boot events (nothing measured yet) has nothing to
 * compare; the keys file's signature is then what ties the keys to the app, checked with the
 * KMS root key when --kms-ca (and --kms-k256 or the chain) are given. */
static void note_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "keygate-agent: %s\n", msg);
}

static kg_result check_serve_identity(kg_tee *tee, const kg_agent_identity *id, kg_agent_keys *keys,
                                      const kg_kms_trust *trust, bool have_instance_id)
{
    char want[41], got[65];
    hex_of(want, sizeof(want), id->app_id, 20);
    if (keys->has_app_id && memcmp(keys->app_id, id->app_id, 20) != 0) {
        hex_of(got, sizeof(got), keys->app_id, 20);
        KG_BAIL(KG_ERR_USAGE,
                "--app-id %s is not the app the keys file was released to (%s): serve the keys "
                "of app %s only under --app-id %s",
                want, got, got, got);
    }
    kg_eventlog log;
    kg_boot_events ev;
    kg_eventlog_init(&log);
    kg_result rc = kg_tee_read_eventlog(tee, &log);
    if (kg_ok(rc))
        rc = kg_eventlog_extract(&ev, &log);
    kg_eventlog_free(&log);
    KG_GUARD_CTX(rc, "this VM's boot measurements (RTMR3 event log)");
    if (ev.has_app_id && memcmp(ev.app_id, id->app_id, 20) != 0) {
        hex_of(got, sizeof(got), ev.app_id, 20);
        KG_BAIL(KG_ERR_USAGE, "--app-id %s is not the app this VM booted: RTMR3 measured app-id %s",
                want, got);
    }
    if (ev.has_compose_hash && memcmp(ev.compose_hash, id->compose_hash, 32) != 0) {
        hex_of(got, sizeof(got), ev.compose_hash, 32);
        KG_BAIL(KG_ERR_USAGE,
                "--compose is not the compose file this VM booted: RTMR3 measured compose-hash "
                "%s",
                got);
    }
    if (have_instance_id && ev.has_instance_id &&
        (ev.instance_id_len != id->instance_id_len ||
         memcmp(ev.instance_id, id->instance_id, ev.instance_id_len) != 0))
        KG_BAIL(KG_ERR_USAGE,
                "--instance-id is not the instance id this VM booted with (RTMR3 instance-id)");
    if (trust != NULL) {
        uint8_t app_pub[KG_K256_PUB_LEN];
        KG_GUARD(kg_k256_public(app_pub, keys->k256_key));
        KG_GUARD_CTX(kg_kdf_k256_signature_verify(trust->root_k256_pub, id->app_id, app_pub,
                                                  keys->k256_signature),
                     "keys file: k256_signature is not the KMS root key's signature for app %s "
                     "(keys of another app, or not from this KMS)",
                     want);
        /* A previous epoch's keys are served only while the chain says it is retiring. */
        kg_agent_epoch_source chain;
        kg_agent_epoch_source_chain(&chain, trust);
        KG_GUARD_CTX(kg_agent_epochs_verify(keys, id->app_id, trust->root_k256_pub,
                                            trust->governance != NULL ? &chain : NULL, note_stderr,
                                            NULL),
                     "keys file: root-key epochs");
    }
    return KG_OK;
}

/* Serves over a keys file (a GetAppKey reply, mode 0600) for an app booted earlier. */
static int cmd_serve(args *a)
{
    int missing = need(a->o.tee_spec, "--tee") + need(a->keys_path, "--keys") +
                  need(a->o.app_id_hex, "--app-id") + need(a->o.compose_path, "--compose");
    if (missing)
        return EXIT_USAGE;
    int exit_code = 1;
    kg_tee *tee = NULL;
    kg_agent *agent = NULL;
    kg_agent_keys *keys = kg_secure_zalloc(sizeof(*keys)); /* secure heap (harden.h) */
    kg_agent_identity id = {0};
    kg_buf compose, ca, bootlog;
    kg_buf_init(&bootlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&compose, 1u << 20);
    kg_buf_init(&ca, 64u * 1024u);
    kg_agent_tee_ctx tctx = {.kms_urls = a->o.kms_urls,
                             .n_kms_urls = a->o.n_kms_urls,
                             .ratls_format = a->o.ratls_format};
    kg_kms_trust trust = {0};
    kg_eth_client *eth = NULL;
    kg_result rc =
        keys != NULL ? KG_OK : kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    /* Who runs CMD, settled before the keys are read: a bad --app-user stops here. */
    kg_app_user app_user;
    bool run_app = a->o.argv != NULL && a->o.argv[0] != NULL;
    if (kg_ok(rc) && run_app)
        rc = kg_app_user_resolve(&app_user, a->o.app_user, "keygate-agent");
    if (kg_ok(rc))
        rc = kg_hex_decode_exact(id.app_id, 20, a->o.app_id_hex);
    if (kg_ok(rc) && a->instance_id_hex != NULL) {
        rc = kg_hex_decode_exact(id.instance_id, 20, a->instance_id_hex);
        id.instance_id_len = 20;
    }
    if (kg_ok(rc) && a->os_image_hash_hex != NULL)
        rc = kg_hex_decode_exact(id.os_image_hash, 32, a->os_image_hash_hex);
    if (kg_ok(rc))
        rc = kg_agent_keys_load(keys, a->keys_path);
    if (kg_ok(rc))
        rc = kg_agent_read_file(&compose, a->o.compose_path, "compose file");
    if (kg_ok(rc) && a->o.kms_ca_path != NULL) {
        rc = kg_agent_read_file(&ca, a->o.kms_ca_path, "KMS root CA");
        if (kg_ok(rc))
            rc = kg_agent_trust_init(&trust, &eth, &a->o, (const char *)ca.data, NULL);
        if (kg_ok(rc))
            rc = kg_kms_trust_check(&trust);
        tctx.kms = &trust;
    }
    if (kg_ok(rc))
        rc = kg_sha256(id.compose_hash, compose.data, compose.len);
    if (kg_ok(rc))
        rc = kg_tee_open(&tee, a->o.tee_spec);
    if (kg_ok(rc))
        rc = check_serve_identity(tee, &id, keys, tctx.kms, a->instance_id_hex != NULL);
    if (kg_ok(rc))
        rc = kg_agent_boot_eventlog(&bootlog, a->o.tee_spec);
    tctx.boot_eventlog_json = (const char *)bootlog.data;
    if (kg_ok(rc)) {
        kg_agent_platform plat;
        tctx.tee = tee;
        memcpy(tctx.app_id, id.app_id, 20);
        kg_agent_platform_tee(&plat, &tctx);
        id.app_compose = (const char *)compose.data;
        id.vm_config = a->o.vm_config;
        tctx.self = &id;
        tctx.instance_known = a->instance_id_hex != NULL;
        rc = kg_agent_new(&agent, keys, &id, &plat);
    }
    if (kg_ok(rc) && run_app)
        rc = kg_agent_serve_and_run_as(&exit_code, agent, a->o.socket_path, a->o.socket_mode, NULL,
                                       a->o.argv, &app_user);
    else if (kg_ok(rc)) {
        rc = kg_agent_serve_until_signal(agent, a->o.socket_path, a->o.socket_mode);
        exit_code = 0;
    }
    if (kg_failed(rc)) {
        fprintf(stderr, "keygate-agent: %s\n", kg_error_message());
        exit_code = kg_error_code() == KG_ERR_USAGE ? EXIT_USAGE : 1;
    }
    kg_agent_free(agent);
    kg_agent_keys_wipe(keys);
    kg_secure_free(keys, sizeof(*keys));
    kg_tee_free(tee);
    kg_eth_client_free(eth);
    kg_buf_free(&compose);
    kg_buf_free(&ca);
    kg_buf_free(&bootlog);
    return exit_code;
}

static int run(int argc, char **argv);

int main(int argc, char **argv)
{
    /* Before anything else, and before any key is read: no core dumps, no same-uid
     * /proc/<pid>/mem or ptrace, a secure heap for key material (harden.h). */
    if (kg_failed(kg_process_harden("keygate-agent"))) {
        fprintf(stderr, "keygate-agent: %s\n", kg_error_message());
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int rc = run(argc, argv);
    json_decref(g_config);
    return rc;
}

static int run(int argc, char **argv)
{
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s\n", KG_VERSION_LINE("keygate-agent"));
        return 0;
    }
    args a;
    int u = parse(&a, argc, argv);
    if (u != 0)
        return u;
    if (strcmp(argv[1], "boot") == 0)
        return cmd_boot(&a);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(&a);
    fprintf(stderr, "keygate-agent: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
