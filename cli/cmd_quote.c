/* cmd_quote.c - `keygate quote verify|parse`: DCAP quote verification and inspection as JSON. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "devnet.h"
#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/quote.h"

#define MAX_QUOTE_FILE (2u * KG_MAX_QUOTE_LEN + 64u) /* hex text of the largest quote */
#define MAX_ROOT_FILE (64u * 1024u)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage:\n"
            "  keygate quote verify QUOTE --collateral FILE [--at UNIX_TIME] [--root-ca FILE]\n"
            "  keygate quote verify QUOTE --pccs URL [--cache-dir DIR] [--at UNIX_TIME]\n"
            "                                      [--root-ca FILE]\n"
            "  keygate quote parse QUOTE\n\n"
            "QUOTE is a file with the quote as binary or hex text ('-' for stdin). verify checks\n"
            "it fully against the collateral (PCCS JSON shape) at the given time (default: now)\n"
            "and the pinned Intel SGX Root CA (or --root-ca, PEM or DER). Prints one JSON object;\n"
            "exit 0 verified, 1 not verified, 2 usage error. --pccs fetches the collateral over\n"
            "Intel's v4 API (cached until nextUpdate, on disk too with --cache-dir).\n");
}

/* A file argument ('-' for stdin) of at most max bytes into out (initialised here; freed when
 * this fails). */
static kg_result read_file(kg_buf *out, const char *path, size_t max)
{
    kg_buf_init(out, max);
    kg_result rc =
        strcmp(path, "-") == 0 ? kg_file_read_stdin(out, max) : kg_file_read(out, path, max);
    if (kg_failed(rc))
        kg_buf_free(out);
    return rc;
}

static kg_result load_quote(kg_buf *out, const char *path)
{
    kg_buf raw;
    KG_GUARD(read_file(&raw, path, MAX_QUOTE_FILE));
    kg_buf_init(out, KG_MAX_QUOTE_LEN);
    size_t cap = raw.len < KG_MAX_QUOTE_LEN ? raw.len : KG_MAX_QUOTE_LEN;
    kg_result rc = kg_buf_reserve(out, cap > 0 ? cap : 1);
    if (kg_ok(rc))
        rc = kg_quote_decode_input(out->data, cap, &out->len, raw.data, raw.len);
    kg_buf_free(&raw);
    if (kg_failed(rc)) {
        kg_buf_free(out);
        return kg_error_context("quote '%s'", path);
    }
    return KG_OK;
}

static void put_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 128 + 1];
    if (n <= 128 && kg_ok(kg_hex_encode(hex, sizeof(hex), p, n)))
        json_object_set_new(o, key, json_string(hex));
}

static void put_quote_fields(json_t *o, const kg_quote *q)
{
    bool tdx = q->header.tee_type == KG_TEE_TYPE_TDX;
    json_object_set_new(o, "tee", json_string(tdx ? "tdx" : "sgx"));
    json_object_set_new(o, "quote_version", json_integer(q->header.version));
    json_object_set_new(o, "body_type",
                        json_string(q->body_type == KG_BODY_SGX    ? "sgx"
                                    : q->body_type == KG_BODY_TD10 ? "td1.0"
                                                                   : "td1.5"));
    put_hex(o, "qe_vendor_id", q->header.qe_vendor_id, 16);
    if (tdx) {
        const kg_td_report *t = &q->td;
        put_hex(o, "tee_tcb_svn", t->tee_tcb_svn, 16);
        put_hex(o, "mr_seam", t->mr_seam, 48);
        put_hex(o, "mr_signer_seam", t->mr_signer_seam, 48);
        put_hex(o, "seam_attributes", t->seam_attributes, 8);
        put_hex(o, "td_attributes", t->td_attributes, 8);
        put_hex(o, "xfam", t->xfam, 8);
        put_hex(o, "mrtd", t->mrtd, 48);
        put_hex(o, "mr_config_id", t->mr_config_id, 48);
        put_hex(o, "mr_owner", t->mr_owner, 48);
        put_hex(o, "mr_owner_config", t->mr_owner_config, 48);
        put_hex(o, "rtmr0", t->rtmr[0], 48);
        put_hex(o, "rtmr1", t->rtmr[1], 48);
        put_hex(o, "rtmr2", t->rtmr[2], 48);
        put_hex(o, "rtmr3", t->rtmr[3], 48);
        put_hex(o, "report_data", t->report_data, 64);
        if (q->body_type == KG_BODY_TD15) {
            put_hex(o, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
            put_hex(o, "mr_service_td", t->mr_service_td, 48);
        }
    } else {
        const kg_sgx_report *s = &q->sgx;
        put_hex(o, "cpu_svn", s->cpu_svn, 16);
        json_object_set_new(o, "misc_select", json_integer(s->misc_select));
        put_hex(o, "attributes", s->attributes, 16);
        put_hex(o, "mr_enclave", s->mr_enclave, 32);
        put_hex(o, "mr_signer", s->mr_signer, 32);
        json_object_set_new(o, "isv_prod_id", json_integer(s->isv_prod_id));
        json_object_set_new(o, "isv_svn", json_integer(s->isv_svn));
        put_hex(o, "report_data", s->report_data, 64);
    }
    json_object_set_new(o, "qe_isv_svn", json_integer(q->qe_report.isv_svn));
}

static int print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return KG_EXIT_FAILED;
    printf("%s\n", s);
    free(s);
    return KG_EXIT_OK;
}

static int fail_json(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "verified", json_false());
    json_object_set_new(o, "error", json_string(kg_error_message()));
    json_object_set_new(o, "kind", json_string(kg_err_name(kg_error_code())));
    (void)print_json(o);
    fprintf(stderr, "keygate quote: %s\n", kg_error_message());
    return kg_error_code() == KG_ERR_USAGE ? KG_EXIT_USAGE : KG_EXIT_FAILED;
}

static bool parse_time(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static int cmd_verify(int argc, char **argv)
{
    const char *quote_path = NULL, *coll_path = NULL, *pccs = NULL, *root_path = NULL;
    const char *cache_dir = NULL;
    uint64_t now = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--collateral") == 0 && has_val) {
            coll_path = argv[++i];
        } else if (strcmp(a, "--pccs") == 0 && has_val) {
            pccs = argv[++i];
        } else if (strcmp(a, "--cache-dir") == 0 && has_val) {
            cache_dir = argv[++i];
        } else if (strcmp(a, "--root-ca") == 0 && has_val) {
            root_path = argv[++i];
        } else if (strcmp(a, "--at") == 0 && has_val) {
            if (!parse_time(argv[++i], &now)) {
                fprintf(stderr, "keygate quote verify: bad --at '%s' (unix seconds)\n", argv[i]);
                return KG_EXIT_USAGE;
            }
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return KG_EXIT_OK;
        } else if ((a[0] != '-' || strcmp(a, "-") == 0) && !quote_path) {
            quote_path = a;
        } else {
            fprintf(stderr, "keygate quote verify: unexpected argument '%s'\n", a);
            usage(stderr);
            return KG_EXIT_USAGE;
        }
    }
    if (!quote_path || (!coll_path == !pccs)) {
        fprintf(stderr, "keygate quote verify: need QUOTE and exactly one of --collateral or "
                        "--pccs\n");
        usage(stderr);
        return KG_EXIT_USAGE;
    }

    int rc = KG_EXIT_FAILED;
    kg_buf quote = {0}, coll = {0}, root = {0};
    char *fetched = NULL;
    size_t fetched_len = 0;
    kg_dcap_verifier *v = NULL;
    kg_dcap_report *rep = calloc(1, sizeof(*rep));
    if (!rep) {
        fprintf(stderr, "keygate quote verify: out of memory\n");
        return KG_EXIT_FAILED;
    }
    if (kg_failed(load_quote(&quote, quote_path))) {
        rc = fail_json();
        goto cleanup;
    }
    if (root_path && kg_failed(kg_cli_read_cert_der(&root, root_path, MAX_ROOT_FILE))) {
        rc = fail_json();
        goto cleanup;
    }
    if (coll_path) {
        if (kg_failed(read_file(&coll, coll_path, KG_MAX_COLLATERAL_LEN))) {
            rc = fail_json();
            goto cleanup;
        }
    } else if (kg_failed(kg_pccs_get_collateral(&fetched, &fetched_len, pccs, quote.data, quote.len,
                                                cache_dir, now))) {
        (void)kg_error_context("PCCS '%s'", pccs);
        rc = fail_json();
        goto cleanup;
    }
    if (kg_failed(kg_dcap_verifier_new(&v, root_path ? root.data : NULL, root.len))) {
        rc = fail_json();
        goto cleanup;
    }
    const char *cj = coll_path ? (const char *)coll.data : fetched;
    size_t cl = coll_path ? coll.len : fetched_len;
    if (kg_failed(kg_dcap_verify(v, rep, quote.data, quote.len, cj, cl, now))) {
        rc = fail_json();
        goto cleanup;
    }
    json_t *o = json_object();
    json_object_set_new(o, "verified", json_true());
    put_quote_fields(o, &rep->quote);
    json_object_set_new(o, "status", json_string(rep->status));
    json_t *adv = json_array();
    for (size_t i = 0; i < rep->n_advisory_ids; i++)
        json_array_append_new(adv, json_string(rep->advisory_ids[i]));
    json_object_set_new(o, "advisory_ids", adv);
    put_hex(o, "fmspc", rep->fmspc, 6);
    put_hex(o, "pce_id", rep->pce_id, 2);
    if (rep->has_ppid) {
        uint8_t dev[KG_SHA256_LEN];
        put_hex(o, "ppid", rep->ppid, 16);
        if (kg_ok(kg_sha256(dev, rep->ppid, 16)))
            put_hex(o, "device_id", dev, sizeof(dev)); /* docs/protocol.md section 2 */
    }
    json_object_set_new(o, "valid_until", json_integer((json_int_t)rep->valid_until));
    json_object_set_new(o, "verified_at", json_integer((json_int_t)now));
    rc = print_json(o);
cleanup:
    kg_dcap_verifier_free(v);
    free(rep);
    free(fetched);
    kg_buf_free(&quote);
    kg_buf_free(&coll);
    kg_buf_free(&root);
    return rc;
}

static int cmd_parse(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return KG_EXIT_OK;
    }
    if (argc != 2) {
        usage(stderr);
        return KG_EXIT_USAGE;
    }
    kg_buf quote;
    kg_quote q;
    if (kg_failed(load_quote(&quote, argv[1])))
        return fail_json();
    if (kg_failed(kg_quote_parse(&q, quote.data, quote.len))) {
        kg_buf_free(&quote);
        json_t *o = json_object();
        json_object_set_new(o, "parsed", json_false());
        json_object_set_new(o, "error", json_string(kg_error_message()));
        (void)print_json(o);
        fprintf(stderr, "keygate quote parse: %s\n", kg_error_message());
        return KG_EXIT_FAILED;
    }
    json_t *o = json_object();
    json_object_set_new(o, "parsed", json_true());
    put_quote_fields(o, &q);
    json_object_set_new(o, "pck_chain_len", json_integer((json_int_t)q.pck_chain_len));
    kg_buf_free(&quote);
    return print_json(o);
}

int kg_cmd_quote(int argc, char **argv)
{
    static const kg_cli_group group = {"quote", usage};
    static const kg_cli_command subs[] = {{"verify", cmd_verify, NULL}, {"parse", cmd_parse, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}
