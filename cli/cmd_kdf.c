/* cmd_kdf.c - `keygate kdf`: runs the docs/protocol.md section 5/6 derivation from given root keys
 * and prints the results as JSON, to check keygate against dstack (a debugging tool). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/kdf.h"

#define KDF_MAX_ROOT_KEYS_FILE 65536 /* a root-keys JSON file is ~150 bytes */
#define KDF_ROOT_KEYS_ENV "KEYGATE_ROOT_KEYS"

static void kdf_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate kdf --root-keys FILE --app-id HEX [options]\n\n"
            "Derives an app's keys from KMS root keys exactly as dstack does (docs/protocol.md "
            "sections 5\n"
            "and 6) and prints them as JSON, named as in tests/vectors/kdf.json. For checking\n"
            "compatibility; a KMS never needs it.\n\n"
            "Root keys (one source):\n"
            "  --root-keys FILE    JSON {\"ca_scalar\":\"<hex>\",\"k256_scalar\":\"<hex>\"}; '-' "
            "reads stdin; a file\n"
            "                      must be mode 0600 and yours (refused otherwise)\n"
            "  $%s   the same JSON text in the environment\n"
            "  --root-ca-scalar HEX --root-k256-scalar HEX\n"
            "                      DEBUG ONLY: secrets on the command line are visible to every\n"
            "                      local user (ps, /proc) and land in shell history\n"
            "  (an option beats the environment variable)\n\n"
            "Options:\n"
            "  --app-id HEX        20-byte app id (the app contract address)\n"
            "  --instance-id HEX   20-byte instance id (omit for apps without one)\n"
            "  --timestamp SECS    timestamp of the env public key signature_v1 (default: now)\n"
            "  --path P            also run GetKey for this path (docs/protocol.md section 6)\n"
            "  --purpose P         GetKey purpose (default: empty)\n"
            "  --secrets           include the derived secret keys in the output\n\n"
            "Exit status: 0 ok, 1 derivation failed, 2 usage error.\n",
            KDF_ROOT_KEYS_ENV);
}

/* Reads the root-keys JSON from stdin ("-") or a file, which must be a secret file (fileio.h:
 * owned by this user, mode 0600). */
static kg_result read_root_file(kg_buf *out, const char *path)
{
    if (strcmp(path, "-") == 0)
        KG_GUARD_CTX(kg_file_read_stdin(out, KDF_MAX_ROOT_KEYS_FILE), "root keys");
    else
        KG_GUARD_CTX(kg_file_read_secret(out, path, KDF_MAX_ROOT_KEYS_FILE), "root keys");
    return KG_OK;
}

static kg_result hex_arg(uint8_t *out, size_t n, const char *opt, const char *hex)
{
    if (kg_failed(kg_hex_decode_exact(out, n, hex)))
        KG_BAIL(KG_ERR_USAGE, "%s must be %zu bytes of hex (%zu digits), got '%s'", opt, n, 2 * n,
                hex);
    return KG_OK;
}

/* Secret scalars given on argv: decoded, but never quoted back in an error. */
static kg_result secret_hex_arg(uint8_t out[32], const char *opt, const char *hex)
{
    if (kg_failed(kg_hex_decode_exact(out, 32, hex)))
        KG_BAIL(KG_ERR_USAGE, "%s must be 32 bytes of hex (64 digits)", opt);
    return KG_OK;
}

static kg_result set_hex(json_t *obj, const char *key, const uint8_t *data, size_t n)
{
    char hex[2 * 128 + 1];
    KG_ENSURE(n <= 128, KG_ERR_INTERNAL, "set_hex: %zu bytes", n);
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), data, n));
    json_t *s = json_string(hex);
    kg_memzero(hex, sizeof(hex));
    KG_ENSURE(s != NULL && json_object_set_new(obj, key, s) == 0, KG_ERR_NOMEM, "JSON output");
    return KG_OK;
}

typedef struct kdf_args {
    kg_root_keys root;
    uint8_t app_id[KG_APP_ID_LEN];
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    size_t instance_id_len;
    uint64_t timestamp;
    const char *path;    /* NULL: no GetKey */
    const char *purpose; /* "" by default */
    bool secrets;
} kdf_args;

/* Derives and builds the output object; *out is the caller's to json_decref. */
static kg_result derive(json_t **out, const kdf_args *a)
{
    kg_result rc = KG_ERROR;
    kg_app_keys k;
    kg_get_key gk;
    kg_p256_key *root_ca = NULL;
    uint8_t root_ca_pub[KG_P256_PUB_LEN], root_k256_pub[KG_K256_PUB_LEN];
    uint8_t sig[KG_K256_RECSIG_LEN], sig_v1[KG_K256_RECSIG_LEN];
    json_t *o = json_object();
    memset(&gk, 0, sizeof(gk));

    KG_ENSURE_C(o != NULL, KG_ERR_NOMEM, "JSON output");
    KG_GUARD_C(kg_kdf_app_keys(&k, &a->root, a->app_id, a->instance_id, a->instance_id_len));
    KG_GUARD_C(kg_p256_from_scalar(&root_ca, a->root.ca_scalar));
    KG_GUARD_C(kg_p256_public(root_ca_pub, root_ca));
    KG_GUARD_C(kg_k256_public(root_k256_pub, a->root.k256_scalar));
    KG_GUARD_C(kg_kdf_env_pubkey_signature(sig, a->root.k256_scalar, a->app_id, k.env_pub));
    KG_GUARD_C(kg_kdf_env_pubkey_signature_v1(sig_v1, a->root.k256_scalar, a->app_id, a->timestamp,
                                              k.env_pub));

    KG_GUARD_C(set_hex(o, "app_id", a->app_id, KG_APP_ID_LEN));
    KG_GUARD_C(set_hex(o, "instance_id", a->instance_id, a->instance_id_len));
    KG_GUARD_C(set_hex(o, "root_ca_pubkey_uncompressed", root_ca_pub, sizeof(root_ca_pub)));
    KG_GUARD_C(set_hex(o, "root_k256_pubkey_compressed", root_k256_pub, sizeof(root_k256_pub)));
    KG_GUARD_C(set_hex(o, "app_ca_pubkey_uncompressed", k.ca_pub, sizeof(k.ca_pub)));
    KG_GUARD_C(set_hex(o, "env_crypt_pubkey_x25519", k.env_pub, sizeof(k.env_pub)));
    KG_GUARD_C(set_hex(o, "k256_pubkey_compressed", k.k256_pub, sizeof(k.k256_pub)));
    KG_GUARD_C(set_hex(o, "k256_signature", k.k256_signature, sizeof(k.k256_signature)));
    KG_GUARD_C(set_hex(o, "env_pubkey_signature_legacy", sig, sizeof(sig)));
    KG_ENSURE_C(
        json_object_set_new(o, "env_pubkey_timestamp", json_integer((json_int_t)a->timestamp)) == 0,
        KG_ERR_NOMEM, "JSON output");
    KG_GUARD_C(set_hex(o, "env_pubkey_signature_v1", sig_v1, sizeof(sig_v1)));
    if (a->secrets) {
        KG_GUARD_C(set_hex(o, "app_ca_scalar", k.ca_scalar, sizeof(k.ca_scalar)));
        KG_GUARD_C(set_hex(o, "disk_crypt_key", k.disk_key, sizeof(k.disk_key)));
        KG_GUARD_C(set_hex(o, "env_crypt_key", k.env_key, sizeof(k.env_key)));
        KG_GUARD_C(set_hex(o, "k256_key", k.k256_scalar, sizeof(k.k256_scalar)));
    }
    if (a->path != NULL) {
        KG_GUARD_C(kg_kdf_get_key(&gk, k.k256_scalar, k.k256_signature, a->path, strlen(a->path),
                                  a->purpose, strlen(a->purpose)));
        KG_ENSURE_C(json_object_set_new(o, "get_key_path", json_string(a->path)) == 0 &&
                        json_object_set_new(o, "get_key_purpose", json_string(a->purpose)) == 0,
                    KG_ERR_INPUT, "--path and --purpose must be UTF-8");
        if (a->secrets)
            KG_GUARD_C(set_hex(o, "get_key_key", gk.key, sizeof(gk.key)));
        KG_GUARD_C(set_hex(o, "get_key_pubkey_compressed", gk.pub, sizeof(gk.pub)));
        json_t *chain = json_array();
        KG_ENSURE_C(chain != NULL && json_object_set_new(o, "get_key_signature_chain", chain) == 0,
                    KG_ERR_NOMEM, "JSON output");
        for (size_t i = 0; i < 2; i++) {
            char hex[2 * KG_K256_RECSIG_LEN + 1];
            KG_GUARD_C(kg_hex_encode(hex, sizeof(hex), gk.signature_chain[i], KG_K256_RECSIG_LEN));
            KG_ENSURE_C(json_array_append_new(chain, json_string(hex)) == 0, KG_ERR_NOMEM,
                        "JSON output");
        }
    }
    *out = o;
    o = NULL;
    rc = KG_OK;
cleanup:
    json_decref(o);
    kg_p256_free(root_ca);
    kg_kdf_app_keys_wipe(&k);
    kg_kdf_get_key_wipe(&gk);
    return rc;
}

enum {
    OPT_ROOT_KEYS = 256,
    OPT_ROOT_CA,
    OPT_ROOT_K256,
    OPT_APP_ID,
    OPT_INSTANCE_ID,
    OPT_TIMESTAMP,
    OPT_PATH,
    OPT_PURPOSE,
    OPT_SECRETS,
    OPT_HELP
};

/* Parses argv into a; fills the root keys from exactly one source. */
static kg_result parse_args(kdf_args *a, bool *help, int argc, char **argv)
{
    static const struct option opts[] = {
        {"root-keys", required_argument, NULL, OPT_ROOT_KEYS},
        {"root-ca-scalar", required_argument, NULL, OPT_ROOT_CA},
        {"root-k256-scalar", required_argument, NULL, OPT_ROOT_K256},
        {"app-id", required_argument, NULL, OPT_APP_ID},
        {"instance-id", required_argument, NULL, OPT_INSTANCE_ID},
        {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
        {"path", required_argument, NULL, OPT_PATH},
        {"purpose", required_argument, NULL, OPT_PURPOSE},
        {"secrets", no_argument, NULL, OPT_SECRETS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *root_file = NULL;
    bool have_ca = false, have_k256 = false, have_app = false, have_ts = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT_KEYS: root_file = optarg; break;
        case OPT_ROOT_CA:
            KG_GUARD(secret_hex_arg(a->root.ca_scalar, "--root-ca-scalar", optarg));
            kg_memzero(optarg, strlen(optarg)); /* shortens its life in /proc/<pid>/cmdline */
            have_ca = true;
            break;
        case OPT_ROOT_K256:
            KG_GUARD(secret_hex_arg(a->root.k256_scalar, "--root-k256-scalar", optarg));
            kg_memzero(optarg, strlen(optarg));
            have_k256 = true;
            break;
        case OPT_APP_ID:
            KG_GUARD(hex_arg(a->app_id, KG_APP_ID_LEN, "--app-id", optarg));
            have_app = true;
            break;
        case OPT_INSTANCE_ID:
            KG_GUARD(hex_arg(a->instance_id, KG_INSTANCE_ID_LEN, "--instance-id", optarg));
            a->instance_id_len = KG_INSTANCE_ID_LEN;
            break;
        case OPT_TIMESTAMP: {
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull(optarg, &end, 10);
            KG_ENSURE(errno == 0 && end != optarg && *end == '\0' && optarg[0] != '-' &&
                          t <= (unsigned long long)INT64_MAX,
                      KG_ERR_USAGE, "--timestamp '%s' is not a number of seconds", optarg);
            a->timestamp = t;
            have_ts = true;
            break;
        }
        case OPT_PATH: a->path = optarg; break;
        case OPT_PURPOSE: a->purpose = optarg; break;
        case OPT_SECRETS: a->secrets = true; break;
        case OPT_HELP: *help = true; return KG_OK;
        default:
            KG_BAIL(KG_ERR_USAGE, "unknown or incomplete option '%s'",
                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        }
    }
    KG_ENSURE(optind == argc, KG_ERR_USAGE, "unexpected argument '%s'",
              argv[optind < argc ? optind : 0]);
    KG_ENSURE(have_app, KG_ERR_USAGE, "--app-id is required");
    KG_ENSURE(have_ca == have_k256, KG_ERR_USAGE,
              "--root-ca-scalar and --root-k256-scalar go together");
    const char *env = getenv(KDF_ROOT_KEYS_ENV);
    int sources = (root_file != NULL) + have_ca + (env != NULL && root_file == NULL && !have_ca);
    KG_ENSURE(sources == 1, KG_ERR_USAGE,
              "give the root keys once: --root-keys FILE, $%s, or the two --root-*-scalar "
              "options",
              KDF_ROOT_KEYS_ENV);
    if (root_file != NULL || !have_ca) {
        kg_buf text;
        kg_buf_init(&text, KDF_MAX_ROOT_KEYS_FILE);
        kg_result rc =
            root_file != NULL ? read_root_file(&text, root_file) : kg_buf_append_str(&text, env);
        if (kg_ok(rc)) {
            rc = kg_kdf_root_keys_parse_json(&a->root, (const char *)text.data, text.len);
            if (kg_failed(rc))
                (void)kg_error_context("%s", root_file != NULL ? root_file : "$" KDF_ROOT_KEYS_ENV);
        }
        kg_buf_free(&text);
        KG_GUARD(rc);
    } else {
        KG_GUARD(kg_kdf_root_keys_check(&a->root));
    }
    if (!have_ts)
        a->timestamp = (uint64_t)time(NULL);
    if (a->purpose != NULL && a->path == NULL)
        KG_BAIL(KG_ERR_USAGE, "--purpose needs --path");
    if (a->purpose == NULL)
        a->purpose = "";
    return KG_OK;
}

int kg_cmd_kdf(int argc, char **argv)
{
    kdf_args a;
    json_t *o = NULL;
    bool help = false;
    memset(&a, 0, sizeof(a));
    static const kg_cli_group group = {"kdf", kdf_usage};
    kg_result prc = parse_args(&a, &help, argc, argv);
    int st = kg_cli_group_parsed(&group, prc, help);
    if (st != KG_CLI_CONTINUE) {
        kg_kdf_root_keys_wipe(&a.root);
        return st;
    }
    kg_result rc = derive(&o, &a);
    kg_kdf_root_keys_wipe(&a.root);
    if (kg_failed(rc))
        return kg_cli_fail();
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL) {
        fprintf(stderr, "keygate kdf: out of memory\n");
        return KG_EXIT_FAILED;
    }
    printf("%s\n", text);
    kg_memzero(text, strlen(text));
    free(text);
    return KG_EXIT_OK;
}
