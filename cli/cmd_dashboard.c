/* cmd_dashboard.c - `keygate dashboard`: a local, read-only web page of an app's governance, the
 * KMS, its key-release decisions and the log's verification (README "The dashboard").
 *
 * Map: options and sources (the chain, the KMS nodes, the decision log) | the JSON endpoints,
 * each built by the same functions as the CLI's --json views (status.h, kg_audit_list) | the
 * HTTP server (libevent evhttp, GET only, Host checked) serving them and the page's files, which
 * are compiled in (dashboard_assets.h) so it works offline.
 *
 * Chain data is untrusted: it reaches the page only as JSON, and the page puts text into the
 * document with textContent, never as markup (cli/dashboard/dashboard.js); the Content-Security-
 * Policy allows no script but the page's own files. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "chain.h"
#include "cli.h"
#include "dashboard_assets.h"
#include "devnet.h"
#include "keygate/audit.h"
#include "keygate/hash.h"
#include "status.h"

#define DASH_MAX_NODES 8               /* --kms-url given at most this often */
#define DASH_MAX_DECISIONS 100000u     /* newest decisions served to the page */
#define DASH_MAX_APPS 1000u            /* registered apps shown */
#define DASH_MAX_HEADERS 16384         /* request header bytes */
#define DASH_MAX_VERIFY_REPORT 65536   /* bytes of the verification report served */
#define DASH_MAX_LINE 1024             /* bytes of one report line served */
#define DASH_MAX_CACHED_BLOCKS 100000u /* block timestamps kept between page loads */
#define DASH_HEALTH_TIMEOUT_MS 3000
#define DASH_CONN_TIMEOUT_S 60
#define DASH_HOST_MAX 300 /* a Host header we accept is shorter */

#define CHECKPOINT_PUBLISHED "CheckpointPublished(bytes32,uint64,bytes32,bytes)"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate dashboard [--state DIR | --rpc-url URL --kms-contract ADDR]\n"
            "                         [--kms-url URL]... [--db FILE] [--from-block N]\n"
            "                         [--listen ADDR] [--port N] [--port-file FILE]\n\n"
            "Serves a read-only web page of the governance on chain (apps, owners, notice\n"
            "periods, guardians, each app's compose hashes over time), the KMS (allow-lists,\n"
            "checkpoints, its nodes' self-check), the key-release decisions (a chart and a\n"
            "table, filterable) and the verdict of 'keygate audit verify' on the log. Prints\n"
            "the page's URL on stdout, then serves until interrupted. Nothing is written.\n"
            "  --state DIR         a devnet (default ./%s): chain, KMS contract, KMS URL and\n"
            "                      decision log\n"
            "  --rpc-url URL, --kms-contract ADDR   the chain and KMS contract instead\n"
            "  --kms-url URL       a KMS node whose /health is shown (repeatable, at most %d)\n"
            "  --db FILE           the KMS decision log (config key 'audit_db'; a copy is fine)\n"
            "  --from-block N      read governance events from block N (default 0; an app's\n"
            "                      history: from its contract's creation block)\n"
            "  --listen ADDR       address to serve on (default 127.0.0.1; the page has no\n"
            "                      login, so keep it on loopback)\n"
            "  --port N            port (default 0: a free one)\n"
            "  --port-file FILE    write the port there once listening\n"
            "Exit status: 0 stopped by a signal, 1 failed, 2 usage error.\n",
            KG_DEVNET_DEFAULT_DIR, DASH_MAX_NODES);
}

/* ---- the sources --------------------------------------------------------------------------- */

typedef struct dash {
    kg_cli_target t;
    const char *rpc_url;                  /* as given, or the devnet's */
    const char *kms_urls[DASH_MAX_NODES]; /* borrowed from argv or t.state */
    size_t n_kms_urls;
    const char *db; /* the decision log, or NULL */
    uint64_t from_block;
    bool has_from; /* --from-block given: else each contract's history from its creation */
    uint16_t port;
    char listen[64];
    json_t *block_times; /* block number (decimal text) -> timestamp, cached */
    struct event_base *base;
} dash;

/* The timestamp of a block, cached (blocks do not change under a confirmed log). */
static kg_result block_time(dash *d, uint64_t *ts, uint64_t number)
{
    char key[24];
    snprintf(key, sizeof(key), "%" PRIu64, number);
    json_t *hit = json_object_get(d->block_times, key);
    if (json_is_integer(hit)) {
        *ts = (uint64_t)json_integer_value(hit);
        return KG_OK;
    }
    kg_eth_block b;
    KG_GUARD_CTX(kg_eth_get_block_by_number(d->t.chain.eth, &b, number), "block %" PRIu64, number);
    if (json_object_size(d->block_times) >= DASH_MAX_CACHED_BLOCKS)
        json_object_clear(d->block_times);
    json_object_set_new(d->block_times, key, json_integer((json_int_t)b.timestamp));
    *ts = b.timestamp;
    return KG_OK;
}

/* Adds "time" (Unix seconds) to every entry of arr that has a "block". */
static kg_result add_times(dash *d, json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        json_t *b = json_object_get(e, "block");
        uint64_t ts = 0;
        if (!json_is_integer(b))
            continue;
        KG_GUARD(block_time(d, &ts, (uint64_t)json_integer_value(b)));
        json_object_set_new(e, "time", json_integer((json_int_t)ts));
    }
    return KG_OK;
}

/* ---- endpoints ----------------------------------------------------------------------------- */

static kg_result api_overview(json_t **out, dash *d)
{
    uint64_t number = 0, ts = 0;
    char kms_s[43] = "";
    KG_GUARD(kg_chain_latest(&d->t.chain, &number, &ts));
    if (d->t.has_kms)
        kg_eth_address_checksum(kms_s, d->t.kms);
    json_t *urls = json_array();
    for (size_t i = 0; i < d->n_kms_urls; i++)
        json_array_append_new(urls, json_string(d->kms_urls[i]));
    *out = json_pack("{s:s,s:I,s:{s:I,s:I},s:s?,s:s?,s:o,s:I}", "rpc_url", d->rpc_url, "chain_id",
                     (json_int_t)d->t.chain.chain_id, "head", "number", (json_int_t)number,
                     "timestamp", (json_int_t)ts, "kms_contract", d->t.has_kms ? kms_s : NULL,
                     "audit_db", d->db, "kms_urls", urls, "from_block", (json_int_t)d->from_block);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* The apps registered with the KMS contract (its state, or its AppRegistered events for a KMS
 * contract from before enumeration), at most DASH_MAX_APPS of them. */
static kg_result registered_apps(json_t **ids, dash *d)
{
    const kg_chain_history_opts h = {.from_block = d->from_block, .has_from = d->has_from};
    json_t *info = json_object();
    KG_ENSURE(info != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_cli_registered_apps(ids, info, &d->t, &h);
    json_decref(info);
    KG_GUARD(rc);
    while (json_array_size(*ids) > DASH_MAX_APPS)
        json_array_remove(*ids, json_array_size(*ids) - 1);
    return KG_OK;
}

/* Every registered app as `app status --json` shows it, its history entries timed; an app that
 * cannot be read is listed under "errors" with the reason instead of failing the page. */
static kg_result api_apps(json_t **out, dash *d)
{
    json_t *ids = NULL;
    KG_ENSURE(d->t.has_kms, KG_ERR_USAGE, "no KMS contract: give --kms-contract ADDR");
    KG_GUARD(registered_apps(&ids, d));
    json_t *apps = json_array(), *errors = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        uint8_t app[20];
        json_t *st = NULL;
        const char *text = json_string_value(id);
        const kg_chain_history_opts h = {.from_block = d->from_block, .has_from = d->has_from};
        if (kg_ok(kg_cli_parse_address(app, "app", text)) &&
            kg_ok(kg_cli_app_status(&st, &d->t, app, text, &h)) &&
            kg_ok(add_times(d, json_object_get(st, "history")))) {
            json_array_append_new(apps, st);
            continue;
        }
        json_decref(st);
        json_array_append_new(errors,
                              json_pack("{s:s,s:s}", "app_id", text, "error", kg_error_message()));
        kg_error_clear();
    }
    json_decref(ids);
    *out = json_pack("{s:o,s:o}", "apps", apps, "errors", errors);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* The checkpoints published on the KMS contract: {log_id, size, root, block, time, tx}. Their
 * signatures are checked by the verification (api_verify), not here. */
static kg_result checkpoints(json_t **out, dash *d)
{
    uint8_t topic[32];
    kg_eth_logs logs;
    memset(&logs, 0, sizeof(logs));
    kg_keccak256(topic, CHECKPOINT_PUBLISHED, strlen(CHECKPOINT_PUBLISHED));
    KG_GUARD(kg_chain_logs(&d->t.chain, &logs, d->t.kms, topic, d->from_block));
    json_t *arr = json_array();
    kg_result rc = KG_OK;
    for (size_t i = 0; i < logs.count && kg_ok(rc); i++) {
        const kg_eth_log *l = &logs.items[i];
        static const kg_abi_type types[3] = {KG_ABI_T_UINT64, KG_ABI_T_BYTES32, KG_ABI_T_BYTES};
        kg_abi_decoded v[3];
        uint64_t ts = 0;
        if (l->n_topics != 2 || kg_failed(kg_abi_decode(v, types, 3, l->data, l->data_len, 256))) {
            kg_error_clear();
            continue; /* malformed: the verification reports it */
        }
        rc = block_time(d, &ts, l->block_number);
        json_array_append_new(arr, json_pack("{s:o,s:I,s:o,s:I,s:I,s:o}", "log_id",
                                             kg_chain_hex_json(l->topics[1], 32), "size",
                                             (json_int_t)kg_abi_get_u64(&v[0]), "root",
                                             kg_chain_hex_json(v[1].word, 32), "block",
                                             (json_int_t)l->block_number, "time", (json_int_t)ts,
                                             "tx", kg_chain_hex_json(l->tx_hash, 32)));
    }
    kg_eth_logs_free(&logs);
    if (kg_failed(rc)) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return KG_OK;
}

/* A node's GET /health as it reports it ({url, health} or {url, error}). The KMS serves TLS with
 * a certificate rooted in its own attestation; the dashboard only displays what the node says,
 * so the connection is not authenticated here (audit verify checks the log cryptographically). */
static json_t *node_health(const char *url)
{
    char full[KG_DEVNET_URL_MAX + 16];
    kg_buf body;
    long status = 0;
    json_t *o = json_pack("{s:s}", "url", url);
    snprintf(full, sizeof(full), "%s/health", url);
    kg_buf_init(&body, 64 * 1024);
    if (kg_failed(kg_cli_http(&body, &status, full, NULL, true, DASH_HEALTH_TIMEOUT_MS))) {
        json_object_set_new(o, "error", json_string(kg_error_message()));
        kg_error_clear();
    } else {
        json_error_t jerr;
        json_t *h = json_loadb((const char *)body.data, body.len, JSON_REJECT_DUPLICATES, &jerr);
        json_object_set_new(o, "http_status", json_integer(status));
        if (json_is_object(h))
            json_object_set_new(o, "health", h);
        else {
            json_decref(h);
            json_object_set_new(o, "error", json_string("GET /health: not a JSON object"));
        }
    }
    kg_buf_free(&body);
    return o;
}

static kg_result api_kms(json_t **out, dash *d)
{
    json_t *st = NULL, *cps = NULL, *nodes = json_array();
    KG_ENSURE(d->t.has_kms, KG_ERR_USAGE, "no KMS contract: give --kms-contract ADDR");
    kg_result rc = kg_cli_kms_status(&st, &d->t, d->from_block);
    if (kg_ok(rc))
        rc = checkpoints(&cps, d);
    if (kg_failed(rc)) {
        json_decref(st);
        json_decref(nodes);
        return rc;
    }
    for (size_t i = 0; i < d->n_kms_urls; i++)
        json_array_append_new(nodes, node_health(d->kms_urls[i]));
    *out = json_pack("{s:o,s:o,s:o}", "status", st, "checkpoints", cps, "nodes", nodes);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* The served log's decisions (no database): read while `audit verify --kms URL` reads the entry
 * bundles, each as its row would be listed (kg_audit_entry_json). The governance replay is left
 * to /api/verify; the report is not kept. */
static kg_result served_decisions(json_t *rows, dash *d)
{
    char kms_s[43] = "";
    uint64_t count = 0;
    if (d->t.has_kms)
        kg_eth_address_checksum(kms_s, d->t.kms);
    kg_cli_verify_opts o = {.kms_url = d->kms_urls[0],
                            .rpc_url = d->rpc_url,
                            .kms_contract = d->t.has_kms ? kms_s : NULL,
                            .no_replay = true,
                            .entries = rows,
                            .max_entries = DASH_MAX_DECISIONS};
    FILE *f = fopen("/dev/null", "w");
    KG_ENSURE(f != NULL, KG_ERR_IO, "cannot open /dev/null: %s", strerror(errno));
    kg_result rc = kg_cli_audit_verify_run(f, NULL, &count, &o);
    fclose(f);
    return rc;
}

/* The newest decisions, as `keygate audit list --json` lists them: from the database, else
 * from the first KMS node's served log. */
static kg_result api_decisions(json_t **out, dash *d)
{
    kg_audit *a = NULL;
    json_t *rows = NULL;
    const char *source = d->db;
    if (d->db != NULL) {
        KG_GUARD(kg_audit_open(&a, d->db, true));
        kg_result rc = kg_audit_list(&rows, a, DASH_MAX_DECISIONS);
        kg_audit_free(a);
        KG_GUARD(rc);
    } else {
        KG_ENSURE(d->n_kms_urls > 0, KG_ERR_NOT_FOUND,
                  "no decision log: give --db FILE or --kms-url URL");
        rows = json_array();
        KG_ENSURE(rows != NULL, KG_ERR_NOMEM, "out of memory");
        if (kg_failed(served_decisions(rows, d))) {
            json_decref(rows);
            return kg_error_context("reading the served log of %s", d->kms_urls[0]);
        }
        source = d->kms_urls[0];
    }
    *out = json_pack("{s:o,s:I,s:s}", "decisions", rows, "limit", (json_int_t)DASH_MAX_DECISIONS,
                     "source", source);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* `keygate audit verify` of the log against this chain: {ok, violations, report}. */
static kg_result api_verify(json_t **out, dash *d)
{
    char kms_s[43] = "";
    char *text = NULL;
    size_t len = 0;
    json_t *violations = json_array();
    uint64_t count = 0;
    KG_ENSURE(d->db != NULL || d->n_kms_urls > 0, KG_ERR_NOT_FOUND,
              "no decision log: give --db FILE or --kms-url URL");
    if (d->t.has_kms)
        kg_eth_address_checksum(kms_s, d->t.kms);
    kg_cli_verify_opts o = {.db = d->db,
                            .kms_url = d->db == NULL ? d->kms_urls[0] : NULL,
                            .rpc_url = d->rpc_url,
                            .kms_contract = d->t.has_kms ? kms_s : NULL};
    FILE *f = open_memstream(&text, &len);
    KG_ENSURE(f != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_cli_audit_verify_run(f, violations, &count, &o);
    fclose(f);
    json_t *lines = json_array();
    if (kg_ok(rc) && text != NULL) {
        /* the report quotes log content: each line as printable text */
        char esc[4 * DASH_MAX_LINE + 1];
        size_t total = 0;
        for (char *p = text, *nl; *p != '\0' && total < DASH_MAX_VERIFY_REPORT; p = nl + 1) {
            nl = strchr(p, '\n');
            size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
            size_t cut = n < DASH_MAX_LINE ? n : DASH_MAX_LINE;
            json_array_append_new(lines,
                                  json_stringn(esc, kg_text_escape(esc, sizeof(esc), p, cut)));
            total += n + 1;
            if (nl == NULL)
                break;
        }
    }
    if (kg_ok(rc)) {
        *out = json_pack("{s:b,s:I,s:o,s:o,s:s}", "ok", count == 0, "violation_count",
                         (json_int_t)count, "violations", violations, "report", lines, "source",
                         d->db != NULL ? d->db : d->kms_urls[0]);
        violations = NULL;
        lines = NULL;
        if (*out == NULL)
            rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    }
    json_decref(lines);
    free(text);
    json_decref(violations);
    return rc;
}

/* ---- the HTTP server ----------------------------------------------------------------------- */

typedef kg_result (*dash_api)(json_t **out, dash *d);

static const struct {
    const char *path;
    dash_api fn;
} apis[] = {
    {"/api/overview", api_overview},   {"/api/apps", api_apps},     {"/api/kms", api_kms},
    {"/api/decisions", api_decisions}, {"/api/verify", api_verify},
};

static void set_headers(struct evhttp_request *req, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    /* only the page's own scripts run; uPlot sizes its elements through the style property */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                      "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                      "form-action 'none'; frame-ancestors 'none'");
}

static void send_bytes(struct evhttp_request *req, int code, const char *type, const void *data,
                       size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, data, len) != 0) {
        evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    set_headers(req, type);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void send_json(struct evhttp_request *req, int code, json_t *v)
{
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    if (text == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    send_bytes(req, code, "application/json", text, strlen(text));
    free(text);
}

static void send_error_json(struct evhttp_request *req, int code, const char *msg)
{
    json_t *e = json_pack("{s:s}", "error", msg);
    send_json(req, code, e);
    json_decref(e);
}

/* The Host header must name this server (127.0.0.1, localhost, [::1] or --listen, with its
 * port): a web page elsewhere that rebinds its own name to 127.0.0.1 cannot read the JSON. */
static bool host_ok(const dash *d, const char *host)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    char want[DASH_HOST_MAX];
    if (host == NULL || strlen(host) >= DASH_HOST_MAX)
        return false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) + 1; i++) {
        const char *n = i < sizeof(names) / sizeof(names[0]) ? names[i] : d->listen;
        bool v6 = strchr(n, ':') != NULL && n[0] != '[';
        snprintf(want, sizeof(want), "%s%s%s:%u", v6 ? "[" : "", n, v6 ? "]" : "",
                 (unsigned)d->port);
        if (strcasecmp(host, want) == 0)
            return true;
    }
    return false;
}

static const char *asset_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (dot != NULL && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (dot != NULL && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    return "application/octet-stream";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    dash *d = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    if (path == NULL) {
        send_error_json(req, 400, "bad request URI");
        return;
    }
    if (!host_ok(d, host)) {
        send_error_json(req, 403, "unexpected Host header: open the URL the dashboard printed");
        return;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < kg_dashboard_n_assets; i++) {
        const kg_dashboard_asset *a = &kg_dashboard_assets[i];
        if (strcmp(path, a->path) == 0) {
            send_bytes(req, 200, asset_type(a->path), a->data, a->len);
            return;
        }
    }
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        if (strcmp(path, apis[i].path) != 0)
            continue;
        json_t *out = NULL;
        if (kg_failed(apis[i].fn(&out, d))) {
            /* the chain or the log could not be read: the page shows why */
            send_error_json(req, kg_error_code() == KG_ERR_NOT_FOUND ? 404 : 502,
                            kg_error_message());
            kg_error_clear();
            return;
        }
        send_json(req, 200, out);
        json_decref(out);
        return;
    }
    send_error_json(req, 404, "not found");
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static kg_result serve(dash *d, uint16_t want_port, const char *port_file)
{
    struct evhttp *http = NULL;
    struct event *sig_int = NULL, *sig_term = NULL;
    kg_result rc = KG_ERROR;
    signal(SIGPIPE, SIG_IGN);
    d->base = event_base_new();
    KG_ENSURE_C(d->base != NULL, KG_ERR_INTERNAL, "libevent: event_base_new failed");
    http = evhttp_new(d->base);
    KG_ENSURE_C(http != NULL, KG_ERR_NOMEM, "libevent: evhttp_new failed");
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(http, DASH_MAX_HEADERS);
    evhttp_set_max_body_size(http, 0);
    evhttp_set_timeout(http, DASH_CONN_TIMEOUT_S);
    evhttp_set_gencb(http, on_request, d);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, d->listen, want_port);
    KG_ENSURE_C(bound != NULL, KG_ERR_IO, "cannot listen on %s port %u: %s", d->listen,
                (unsigned)want_port, strerror(errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    KG_ENSURE_C(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0,
                KG_ERR_IO, "getsockname: %s", strerror(errno));
    d->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    sig_int = evsignal_new(d->base, SIGINT, on_signal, d->base);
    sig_term = evsignal_new(d->base, SIGTERM, on_signal, d->base);
    KG_ENSURE_C(sig_int != NULL && sig_term != NULL && event_add(sig_int, NULL) == 0 &&
                    event_add(sig_term, NULL) == 0,
                KG_ERR_INTERNAL, "libevent: cannot watch signals");
    bool v6 = strchr(d->listen, ':') != NULL;
    printf("http://%s%s%s:%u/\n", v6 ? "[" : "", d->listen, v6 ? "]" : "", (unsigned)d->port);
    fflush(stdout);
    fprintf(stderr, "keygate dashboard: serving (read-only) until interrupted\n");
    if (port_file != NULL) {
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", (unsigned)d->port);
        KG_GUARD_C(kg_cli_write_file(port_file, text, (size_t)n, 0644));
    }
    KG_ENSURE_C(event_base_dispatch(d->base) >= 0, KG_ERR_INTERNAL, "libevent: event loop failed");
    rc = KG_OK;
cleanup:
    if (sig_int != NULL)
        event_free(sig_int);
    if (sig_term != NULL)
        event_free(sig_term);
    if (http != NULL)
        evhttp_free(http);
    if (d->base != NULL)
        event_base_free(d->base);
    d->base = NULL;
    return rc;
}

/* ---- the command --------------------------------------------------------------------------- */

static kg_result parse_u64(uint64_t *out, const char *opt, const char *text, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    KG_ENSURE(errno == 0 && end != text && *end == '\0' && text[0] != '-' && v <= max, KG_ERR_USAGE,
              "%s '%s' is not a number up to %" PRIu64, opt, text, max);
    *out = v;
    return KG_OK;
}

int kg_cmd_dashboard(int argc, char **argv)
{
    const char *state = NULL, *rpc = NULL, *kmsc = NULL, *db = NULL, *port_file = NULL,
               *listen = "127.0.0.1";
    uint64_t port = 0;
    dash d;
    memset(&d, 0, sizeof(d));
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'm'},
                                         {"kms-url", required_argument, NULL, 'k'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"from-block", required_argument, NULL, 'f'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"port-file", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        kg_result rc = KG_OK;
        switch (c) {
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'm': kmsc = optarg; break;
        case 'k':
            if (d.n_kms_urls == DASH_MAX_NODES)
                rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                                  "--kms-url given more than %d times", DASH_MAX_NODES);
            else
                d.kms_urls[d.n_kms_urls++] = optarg;
            break;
        case 'd': db = optarg; break;
        case 'f':
            rc = parse_u64(&d.from_block, "--from-block", optarg, INT64_MAX);
            d.has_from = true;
            break;
        case 'l': listen = optarg; break;
        case 'p': rc = parse_u64(&port, "--port", optarg, 65535); break;
        case 'P': port_file = optarg; break;
        case 'h': usage(stdout); return KG_EXIT_OK;
        default: usage(stderr); return KG_EXIT_USAGE;
        }
        if (kg_failed(rc))
            return kg_cli_fail();
    }
    if (optind != argc) {
        fprintf(stderr, "keygate dashboard: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    if (strlen(listen) >= sizeof(d.listen) ||
        (strchr(listen, ':') == NULL && inet_addr(listen) == INADDR_NONE)) {
        fprintf(stderr, "keygate dashboard: --listen '%s' is not an IP address\n", listen);
        return KG_EXIT_USAGE;
    }
    snprintf(d.listen, sizeof(d.listen), "%s", listen);
    int status = KG_EXIT_FAILED;
    d.block_times = json_object();
    if (kg_failed(kg_cli_target_open(&d.t, state, rpc, kmsc)))
        goto fail;
    d.rpc_url = rpc != NULL ? rpc : kg_devnet_str(d.t.state, "rpc_url");
    d.db = db != NULL ? db : kg_devnet_str(d.t.state, "audit_db");
    if (d.n_kms_urls == 0 && kg_devnet_str(d.t.state, "kms_url") != NULL)
        d.kms_urls[d.n_kms_urls++] = kg_devnet_str(d.t.state, "kms_url");
    if (kg_failed(serve(&d, (uint16_t)port, port_file)))
        goto fail;
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(d.block_times);
    kg_cli_target_close(&d.t);
    return status;
}
