/* cmd_kms_config.c - `keygate kms config`: writes a keygate-kms config that loads (checked by
 * the KMS's own parser) for a devnet, or the documented production example; `keygate devnet
 * up` writes its KMS's config with the same code (kms_config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "devnet.h"
#include "keygate/kms_config.h"
#include "kms_config.h"

static void config_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate kms config --state DIR [--rpc-url URL] [--kms-contract ADDR]\n"
            "                          [--kms-state DIR] [--port N] [--sim-vm NAME]\n"
            "                          [--admin-listen HOST:PORT] [--log-format text|json]\n"
            "                          [--out FILE]\n"
            "       keygate kms config --example [--out FILE]\n\n"
            "Writes a keygate-kms config (JSON, checked by the KMS's own strict parser) on\n"
            "stdout or to FILE (mode 0600). With --state: for a KMS on that devnet's chain,\n"
            "PCCS and simulated TDX platform, by default exactly the devnet's own KMS\n"
            "config (DIR/kms/kms.json; kms/README.md walks through a replica). With\n"
            "--example: the production example for TDX hardware (kms/kms.example.json is\n"
            "this output).\n\n"
            "  --rpc-url URL, --kms-contract ADDR   another chain node or KMS contract than\n"
            "                        the devnet's (e.g. contracts from scripts/deploy-contracts)\n"
            "  --kms-state DIR       the KMS's state directory (default: the devnet KMS's);\n"
            "                        a second KMS needs its own\n"
            "  --port N              HTTPS port (default 0: any free port, see --port-file)\n"
            "  --sim-vm NAME         the simulated VM the KMS runs in (default kms); a KMS\n"
            "                        of another config, or a replica, needs its own VM\n"
            "  --admin-listen HOST:PORT   serve /metrics and /health there (plain HTTP)\n"
            "  --log-format F        text (default) or json\n\n"
            "Exit status: 0 ok, 1 failed, 2 usage error.\n");
}

/* ---- the builder ------------------------------------------------------------------------------
 */

static kg_result check_parses(const json_t *doc)
{
    char *text = NULL;
    kg_result rc = kg_cli_kms_config_text(&text, doc);
    if (kg_ok(rc)) {
        kg_kms_config *c = calloc(1, sizeof(*c));
        rc = c != NULL ? kg_kms_config_parse(c, text, strlen(text))
                       : kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
        free(c);
    }
    free(text);
    KG_GUARD_CTX(rc, "the generated KMS config does not load");
    return KG_OK;
}

kg_result kg_cli_kms_config_devnet(json_t **out, const kg_cli_kms_config *p)
{
    *out = NULL;
    KG_ENSURE(p->state_dir && p->rpc_url && p->kms_contract && p->pccs_url && p->sim_ca_file &&
                  p->sim_dir,
              KG_ERR_INPUT, "KMS config: incomplete devnet state");
    /* Two routes to the devnet's one anvil, with a quorum of two, so every decision takes the
     * quorum path (parallel heads, one agreed block, agreeing answers). They are not
     * independent nodes: a real deployment lists nodes run by different parties
     * (docs/design.md). anvil mines only on demand, so block age says nothing here: freshness
     * is off. */
    const char *rpc = p->rpc_url;
    char rpc2[KG_DEVNET_URL_MAX + 16] = "";
    if (strncmp(rpc, "http://127.0.0.1:", 17) == 0)
        snprintf(rpc2, sizeof(rpc2), "http://localhost:%s", rpc + 17);
    json_t *urls = rpc2[0] ? json_pack("[s,s]", rpc, rpc2) : json_pack("[s]", rpc);
    json_t *doc = json_pack(
        "{s:{s:s,s:i},s:s,s:{s:s,s:o,s:i,s:i,s:s,s:I,s:i},s:s,s:{s:s,s:s},s:{s:s,s:s,s:s},"
        "s:{s:i,s:i},s:i,s:b}",
        "listen", "address", p->listen_address ? p->listen_address : "127.0.0.1", "port",
        (int)p->port, "state_dir", p->state_dir, "policy", "backend", "eth", "rpc_urls", urls,
        "quorum", rpc2[0] ? 2 : 1, "max_block_age_s", 0, "kms_contract", p->kms_contract,
        "chain_id", (json_int_t)p->chain_id, "timeout_ms", 5000, "pccs_url", p->pccs_url,
        "trust_root", "kind", "sim", "sim_ca_file", p->sim_ca_file, "tee", "backend", "sim",
        "sim_dir", p->sim_dir, "sim_vm", p->sim_vm ? p->sim_vm : "kms", "limits", "workers", 2,
        "request_timeout_ms", 10000, "self_check_interval_s", 30, "is_dev", 1);
    KG_ENSURE(doc != NULL, KG_ERR_NOMEM, "KMS config: out of memory");
    if ((p->admin_listen != NULL &&
         json_object_set_new(doc, "admin_listen", json_string(p->admin_listen)) != 0) ||
        (p->log_format != NULL &&
         json_object_set_new(doc, "log_format", json_string(p->log_format)) != 0)) {
        json_decref(doc);
        KG_BAIL(KG_ERR_NOMEM, "KMS config: out of memory");
    }
    kg_result rc = check_parses(doc);
    if (kg_failed(rc)) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return KG_OK;
}

kg_result kg_cli_kms_config_example(json_t **out)
{
    *out = NULL;
    /* Placeholders an operator replaces: the chain nodes (independent providers, a quorum
     * of them must agree), the KMS contract scripts/deploy-contracts printed as "kms", the
     * PCCS, the names guests reach this KMS by. Every other value is the default. */
    json_t *doc = json_pack(
        "{s:{s:s,s:i},s:s,s:s,"
        "s:{s:s,s:[s,s,s],s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:s,s:b},"
        "s:s,s:{s:s},s:{s:s},s:{s:[s]},"
        "s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i},s:i,s:b,s:s,s:s}",
        "listen", "address", "0.0.0.0", "port", 8000, "state_dir", "/var/lib/keygate-kms",
        "audit_db", "/var/lib/keygate-kms/audit.db", "policy", "backend", "eth", "rpc_urls",
        "https://rpc-1.example.net", "https://rpc-2.example.org", "https://rpc-3.example.com",
        "quorum", 2, "confirmations", 0, "max_block_age_s", 300, "reorg_allowance", 64,
        "kms_contract", "0x0000000000000000000000000000000000000000", "chain_id", 1, "timeout_ms",
        5000, "gateway_app_id", "", "allow_insecure_http", 0, "pccs_url",
        "https://pccs.example.com/sgx/certification/v4", "trust_root", "kind", "intel", "tee",
        "backend", "tdx", "tls", "server_names", "kms.example.com", "limits", "max_body_bytes",
        262144, "request_timeout_ms", 10000, "handshake_timeout_ms", 2000, "workers", 2,
        "max_connections", 512, "max_connections_per_source", 64, "max_queue", 1024,
        "self_check_interval_s", 60, "is_dev", 0, "log_format", "json", "admin_listen",
        "127.0.0.1:9100");
    KG_ENSURE(doc != NULL, KG_ERR_NOMEM, "KMS config: out of memory");
    kg_result rc = check_parses(doc);
    if (kg_failed(rc)) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return KG_OK;
}

kg_result kg_cli_kms_config_text(char **out, const json_t *doc)
{
    char *t = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    KG_ENSURE(t != NULL, KG_ERR_NOMEM, "KMS config: out of memory");
    size_t n = strlen(t);
    char *withnl = realloc(t, n + 2);
    if (withnl == NULL) {
        free(t);
        KG_BAIL(KG_ERR_NOMEM, "KMS config: out of memory");
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    *out = withnl;
    return KG_OK;
}

/* ---- the command ------------------------------------------------------------------------------
 */

static int emit(const json_t *doc, const char *out_path)
{
    char *text = NULL;
    if (kg_failed(kg_cli_kms_config_text(&text, doc)))
        return kg_cli_fail();
    int status = KG_EXIT_OK;
    if (out_path == NULL) {
        fputs(text, stdout);
    } else if (kg_failed(kg_cli_write_file(out_path, text, strlen(text), 0600))) {
        status = kg_cli_fail();
    } else {
        fprintf(stderr, "keygate kms config: wrote %s\n", out_path);
    }
    free(text);
    return status;
}

int kg_cmd_kms_config(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'k'},
                                         {"kms-state", required_argument, NULL, 'S'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"sim-vm", required_argument, NULL, 'v'},
                                         {"admin-listen", required_argument, NULL, 'a'},
                                         {"log-format", required_argument, NULL, 'l'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"example", no_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL, *out_path = NULL;
    bool example = false, any_devnet_opt = false;
    kg_cli_kms_config p;
    memset(&p, 0, sizeof(p));
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'e' && c != 'h' && c != 'o' && c != 's')
            any_devnet_opt = true;
        switch (c) {
        case 's': state = optarg; break;
        case 'r': p.rpc_url = optarg; break;
        case 'k': p.kms_contract = optarg; break;
        case 'S': p.state_dir = optarg; break;
        case 'p': {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' || v > 65535) {
                fprintf(stderr, "keygate kms config: --port '%s' is not 0..65535\n", optarg);
                return KG_EXIT_USAGE;
            }
            p.port = (uint16_t)v;
            break;
        }
        case 'v': p.sim_vm = optarg; break;
        case 'a': p.admin_listen = optarg; break;
        case 'l':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "keygate kms config: --log-format '%s' is not text or json\n",
                        optarg);
                return KG_EXIT_USAGE;
            }
            p.log_format = optarg;
            break;
        case 'o': out_path = optarg; break;
        case 'e': example = true; break;
        case 'h': config_usage(stdout); return KG_EXIT_OK;
        default: return kg_cli_bad_option("kms config", argc, argv);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms config: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    if (example == (state != NULL) || (example && any_devnet_opt)) {
        fprintf(stderr, "keygate kms config: give --state DIR (a devnet's KMS) or --example "
                        "alone\n");
        return KG_EXIT_USAGE;
    }
    json_t *doc = NULL;
    if (example) {
        if (kg_failed(kg_cli_kms_config_example(&doc)))
            return kg_cli_fail();
        int st = emit(doc, out_path);
        json_decref(doc);
        return st;
    }
    char dir[PATH_MAX];
    json_t *dn = NULL;
    if (kg_failed(kg_devnet_dir(dir, state)) || kg_failed(kg_devnet_load(&dn, dir)))
        return kg_cli_fail();
    if (p.rpc_url == NULL)
        p.rpc_url = kg_devnet_str(dn, "rpc_url");
    if (p.kms_contract == NULL)
        p.kms_contract = kg_devnet_str(dn, "kms_contract");
    if (p.state_dir == NULL)
        p.state_dir = kg_devnet_str(dn, "kms_state_dir");
    p.chain_id = (uint64_t)json_integer_value(json_object_get(dn, "chain_id"));
    p.pccs_url = kg_devnet_str(dn, "pccs_url");
    p.sim_ca_file = kg_devnet_str(dn, "sim_root_ca");
    p.sim_dir = kg_devnet_str(dn, "sim_dir");
    int status;
    if (kg_failed(kg_cli_kms_config_devnet(&doc, &p))) {
        /* a bad --kms-contract, --admin-listen, --sim-vm ... is refused by the KMS's parser */
        bool usage = any_devnet_opt && kg_error_code() == KG_ERR_INPUT;
        status = kg_cli_fail();
        if (usage)
            status = KG_EXIT_USAGE;
    } else
        status = emit(doc, out_path);
    json_decref(doc);
    json_decref(dn);
    return status;
}
