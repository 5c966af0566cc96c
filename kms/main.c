/* main.c - keygate-kms entry: flags, start-up order (config, TEE, root keys, audit log, chain,
 * server certificate, self-check) and the bootstrap print. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/harden.h"
#include "keygate/slog.h"
#include "keygate/version.h"
#include "kms.h"
#include "log.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate-kms --config FILE [--bootstrap | --onboard HOST:PORT | --recover\n"
            "                   [--recover-timeout S]] [--port-file FILE]\n"
            "                   [--log-format text|json]\n\n"
            "The keygate key management service: releases an app's keys only to TEE instances\n"
            "running code its on-chain governance allows (see kms/README.md).\n\n"
            "  --config FILE     strict JSON config (kms/kms.example.json documents every key)\n"
            "  --bootstrap       generate the root keys if needed, print the bootstrap info\n"
            "                    JSON (publish it on chain) and this KMS's measured boot info,\n"
            "                    then exit\n"
            "  --onboard HOST:PORT  when state_dir has no root keys, obtain them from that KMS\n"
            "                    (GetKmsKey over mutually attested TLS; this node must be\n"
            "                    allowed by isKmsAllowed) instead of generating new ones; also\n"
            "                    how a node whose sealed keys do not open here (TDX) restarts\n"
            "  --recover         recover the sealed root keys from t of the n recovery holders\n"
            "                    named on chain: writes state_dir/recovery/request.json, waits\n"
            "                    for their shares there (docs/design.md, \"Sealed root keys\")\n"
            "  --recover-timeout S  how long --recover waits for the shares (default 3600)\n"
            "  --port-file FILE  write the listening port there once bound (for port 0)\n"
            "  --log-format F    stderr log lines as 'text' or 'json' (one object per line);\n"
            "                    overrides the config's log_format (kms/README.md, \"Logs\")\n"
            "  --version         print the version and git commit\n");
}

static void boot_info_json(json_t *o, const kg_boot_identity *bi)
{
    char h[KG_HEX_SIZE(KG_MEASUREMENT_LEN)]; /* the longest field below */
    struct {
        const char *name;
        const uint8_t *b;
        size_t n;
    } f[] = {{"app_id", bi->app_id, KG_APP_ID_LEN},
             {"compose_hash", bi->compose_hash, KG_COMPOSE_HASH_LEN},
             {"device_id", bi->device_id, KG_DEVICE_ID_LEN},
             {"mr_aggregated", bi->mr_aggregated, KG_MEASUREMENT_LEN},
             {"mr_system", bi->mr_system, KG_MEASUREMENT_LEN},
             {"os_image_hash", bi->os_image_hash, KG_MEASUREMENT_LEN}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (kg_ok(kg_hex_encode(h, sizeof(h), f[i].b, f[i].n)))
            json_object_set_new(o, f[i].name, json_string(h));
    json_object_set_new(o, "tcb_status", json_string(bi->tcb_status));
}

static int print_bootstrap(kms *k)
{
    json_t *out = json_deep_copy(k->bootstrap_info);
    kg_boot_identity self;
    if (out == NULL)
        return 1;
    if (kg_ok(kms_attest_self(&self, k))) {
        json_t *s = json_object();
        boot_info_json(s, &self);
        json_object_set_new(out, "kms_boot_info", s);
        /* what the measured compose-hash stands for (kms/identity.c) */
        kg_buf doc;
        kg_buf_init(&doc, 8192);
        if (kg_ok(kms_identity_compose(&doc, k)))
            json_object_set_new(out, "kms_compose", json_string((const char *)doc.data));
        kg_buf_free(&doc);
    } else {
        kg_slog(KG_SLOG_WARN, "own boot info unavailable: %s", kg_error_message());
    }
    char *text = json_dumps(out, JSON_INDENT(2));
    json_decref(out);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    /* Before anything else, and before any key is loaded: no core dumps, no same-uid
     * /proc/<pid>/mem or ptrace, a secure heap for key material. */
    if (kg_failed(kg_process_harden("keygate-kms"))) {
        fprintf(stderr, "keygate-kms: %s\n", kg_error_message());
        return 1;
    }
    const char *config = NULL, *port_file = NULL, *onboard = NULL, *log_format = NULL;
    bool bootstrap = false, recover = false;
    unsigned long recover_timeout = 3600;
    kg_slog_init("keygate-kms", KG_SLOG_TEXT);
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"bootstrap", no_argument, NULL, 'b'},
                                         {"port-file", required_argument, NULL, 'p'},
                                         {"onboard", required_argument, NULL, 'o'},
                                         {"log-format", required_argument, NULL, 'l'},
                                         {"recover", no_argument, NULL, 'r'},
                                         {"recover-timeout", required_argument, NULL, 't'},
                                         {"version", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'b': bootstrap = true; break;
        case 'p': port_file = optarg; break;
        case 'o': onboard = optarg; break;
        case 'l': log_format = optarg; break;
        case 'r': recover = true; break;
        case 't': {
            char *end = NULL;
            recover_timeout = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '\0' || recover_timeout == 0 || recover_timeout > 86400) {
                fprintf(stderr, "keygate-kms: --recover-timeout '%s' is not 1..86400 seconds\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'v': printf("%s\n", KG_VERSION_LINE("keygate-kms")); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (config == NULL || optind != argc || (int)bootstrap + (onboard != NULL) + recover > 1) {
        usage(stderr);
        return 2;
    }
    kg_slog_format fmt = KG_SLOG_TEXT;
    if (log_format != NULL) {
        if (kg_failed(kg_slog_parse_format(&fmt, log_format))) {
            fprintf(stderr, "keygate-kms: --log-format: %s\n", kg_error_message());
            return 2;
        }
        kg_slog_init("keygate-kms", fmt);
    }

    /* The root keys live in this struct: in the secure heap (mlocked, never in a core dump). */
    kms *k = kg_secure_zalloc(sizeof(*k));
    if (k == NULL) {
        fprintf(stderr, "keygate-kms: out of memory\n");
        return 1;
    }
    pthread_mutex_init(&k->self_check_lock, NULL);
    pthread_rwlock_init(&k->epochs_lock, NULL);
    int status = 1;
    bool policy_ready = false;
    if (kg_failed(kg_kms_config_load(&k->cfg, config)))
        goto fail;
    if (log_format == NULL)
        kg_slog_init("keygate-kms", k->cfg.log_format);
    if (kg_failed(kms_attest_init(k)))
        goto fail;
    /* Governance before the keys: a replica checks the source and the received keys against the
     * chain, and whoever seals reads the recovery holders from it. */
    if (kg_failed(kms_policy_init(k)))
        goto fail;
    policy_ready = true;
    if (onboard != NULL && kg_failed(kms_onboard(k, onboard)))
        goto fail;
    if (recover && kg_failed(kms_recover(k, (unsigned)recover_timeout)))
        goto fail;
    if (kg_failed(kms_keys_init(k, bootstrap)))
        goto fail;
    if (bootstrap) {
        status = print_bootstrap(k);
        goto done;
    }
    if (kg_failed(kms_keys_serve_current(k)))
        goto fail;
    if (kg_failed(kg_audit_open(&k->audit, k->cfg.audit_db, false)))
        goto fail;
    if (kg_failed(kms_log_start(k))) /* the decision log's key, checkpoints (kms/log.c) */
        goto fail;
    if (!policy_ready && kg_failed(kms_policy_init(k)))
        goto fail;
    if (kg_failed(kms_attest_server_cert(k)))
        goto fail;
    snprintf(k->self_check_reason, sizeof(k->self_check_reason), "not run yet");
    kms_self_check(k);
    if (kg_failed(kms_server_run(k, port_file)))
        goto fail;
    status = 0;
    goto done;
fail:
    kg_slog(KG_SLOG_ERROR, "%s", kg_error_message());
done:
    kms_policy_free();
    kms_log_stop();
    kg_audit_free(k->audit);
    kms_keys_free(k);
    kms_attest_free();
    pthread_mutex_destroy(&k->self_check_lock);
    pthread_rwlock_destroy(&k->epochs_lock);
    kg_secure_free(k, sizeof(*k));
    return status;
}
