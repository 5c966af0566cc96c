/* config.c - strict parser of the keygate-kms JSON config: every key known, typed and bounded. */
#include "keygate/kms_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/kms_x509.h"

/* Fails on any key of obj not in the NULL-terminated list; the message names it with its
 * section so an operator finds a typo at once. */
static kg_result check_keys(const json_t *obj, const char *section, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                known = true;
        if (!known)
            KG_BAIL(KG_ERR_INPUT, "config: unknown key '%s%s%s'", section, section[0] ? "." : "",
                    key);
    }
    return KG_OK;
}

static kg_result get_object(const json_t **out, const json_t *obj, const char *key)
{
    *out = json_object_get(obj, key);
    if (*out == NULL)
        return KG_OK;
    KG_ENSURE(json_is_object(*out), KG_ERR_INPUT, "config: '%s' must be an object", key);
    return KG_OK;
}

/* Copies a string value; absent keys keep the default already in out. */
static kg_result get_string(char *out, size_t out_size, const json_t *obj, const char *section,
                            const char *key, bool required)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    const char *dot = section[0] ? "." : "";
    if (v == NULL) {
        KG_ENSURE(!required, KG_ERR_INPUT, "config: missing required key '%s%s%s'", section, dot,
                  key);
        return KG_OK;
    }
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "config: '%s%s%s' must be a string", section, dot,
              key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    KG_ENSURE(n < out_size, KG_ERR_INPUT, "config: '%s%s%s' is too long (%zu bytes, max %zu)",
              section, dot, key, n, out_size - 1);
    KG_ENSURE(memchr(s, '\0', n) == NULL, KG_ERR_INPUT, "config: '%s%s%s' contains a NUL byte",
              section, dot, key);
    KG_ENSURE(!required || n > 0, KG_ERR_INPUT, "config: '%s%s%s' must not be empty", section, dot,
              key);
    memcpy(out, s, n);
    out[n] = '\0';
    return KG_OK;
}

static kg_result get_uint(uint64_t *out, const json_t *obj, const char *section, const char *key,
                          uint64_t min, uint64_t max, bool required)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    const char *dot = section[0] ? "." : "";
    if (v == NULL) {
        KG_ENSURE(!required, KG_ERR_INPUT, "config: missing required key '%s%s%s'", section, dot,
                  key);
        return KG_OK;
    }
    KG_ENSURE(json_is_integer(v), KG_ERR_INPUT, "config: '%s%s%s' must be an integer", section, dot,
              key);
    json_int_t i = json_integer_value(v);
    KG_ENSURE(i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max, KG_ERR_INPUT,
              "config: '%s%s%s' = %lld is out of range [%llu, %llu]", section, dot, key,
              (long long)i, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)i;
    return KG_OK;
}

static kg_result get_u32(uint32_t *out, const json_t *obj, const char *section, const char *key,
                         uint32_t min, uint32_t max)
{
    uint64_t v = *out;
    KG_GUARD(get_uint(&v, obj, section, key, min, max, false));
    *out = (uint32_t)v;
    return KG_OK;
}

static kg_result get_bool(bool *out, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return KG_OK;
    KG_ENSURE(json_is_boolean(v), KG_ERR_INPUT, "config: '%s' must be true or false", key);
    *out = json_is_true(v);
    return KG_OK;
}

/* Maps a string value onto one of a list of names; the error lists the accepted values. */
static kg_result get_enum(int *out, const json_t *obj, const char *section, const char *key,
                          const char *const *names, const char *accepted)
{
    char buf[32] = {0};
    KG_GUARD(get_string(buf, sizeof(buf), obj, section, key, false));
    if (buf[0] == '\0')
        return KG_OK;
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(buf, names[i]) == 0) {
            *out = i;
            return KG_OK;
        }
    }
    KG_BAIL(KG_ERR_INPUT, "config: '%s.%s' = '%s' is not one of %s", section, key, buf, accepted);
}

static kg_result parse_listen(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"address", "port", NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "listen"));
    if (o == NULL)
        return KG_OK;
    KG_GUARD(check_keys(o, "listen", keys));
    KG_GUARD(
        get_string(c->listen_address, sizeof(c->listen_address), o, "listen", "address", false));
    uint64_t port = c->listen_port;
    KG_GUARD(get_uint(&port, o, "listen", "port", 0, 65535, false));
    c->listen_port = (uint16_t)port;
    return KG_OK;
}

/* "https://..." anywhere, "http://" only to loopback unless explicitly allowed. */
static kg_result check_transport(const kg_kms_config *c, const char *url, const char *key)
{
    if (strncmp(url, "https://", 8) == 0)
        return KG_OK;
    KG_ENSURE(strncmp(url, "http://", 7) == 0, KG_ERR_INPUT,
              "config: '%s' = '%s' is not an http(s) URL", key, url);
    const char *host = url + 7;
    size_t n = strcspn(host, ":/");
    bool loopback = (n == 9 && strncmp(host, "localhost", 9) == 0) ||
                    (n >= 4 && strncmp(host, "127.", 4) == 0) || strncmp(host, "[::1]", 5) == 0;
    KG_ENSURE(loopback || c->allow_insecure_http, KG_ERR_INPUT,
              "config: '%s' = '%s' is plain http to another host: anyone on the path could "
              "answer for it; use https:// (or set policy.allow_insecure_http on a test network)",
              key, url);
    return KG_OK;
}

/* "rpc_urls": a list of 1..KG_KMS_MAX_RPC_NODES distinct URLs, or "rpc_url": one. */
static kg_result parse_rpc_urls(kg_kms_config *c, const json_t *o)
{
    const json_t *list = json_object_get(o, "rpc_urls");
    const json_t *one = json_object_get(o, "rpc_url");
    KG_ENSURE(list == NULL || one == NULL, KG_ERR_INPUT,
              "config: give 'policy.rpc_urls' or 'policy.rpc_url', not both");
    if (list == NULL) {
        KG_GUARD(get_string(c->rpc_urls[0], sizeof(c->rpc_urls[0]), o, "policy", "rpc_url", true));
        c->n_rpc_urls = 1;
    } else {
        KG_ENSURE(json_is_array(list) && json_array_size(list) >= 1 &&
                      json_array_size(list) <= KG_KMS_MAX_RPC_NODES,
                  KG_ERR_INPUT, "config: 'policy.rpc_urls' must be a list of 1 to %u URLs",
                  KG_KMS_MAX_RPC_NODES);
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *u = json_string_value(json_array_get(list, i));
            KG_ENSURE(u != NULL && u[0] != '\0' && strlen(u) < KG_KMS_URL_MAX, KG_ERR_INPUT,
                      "config: 'policy.rpc_urls'[%zu] is not a URL string", i);
            for (size_t j = 0; j < i; j++)
                KG_ENSURE(strcmp(c->rpc_urls[j], u) != 0, KG_ERR_INPUT,
                          "config: 'policy.rpc_urls' names '%s' twice (a quorum of one node)", u);
            memcpy(c->rpc_urls[i], u, strlen(u) + 1);
        }
        c->n_rpc_urls = (uint32_t)json_array_size(list);
    }
    memcpy(c->rpc_url, c->rpc_urls[0], sizeof(c->rpc_url));
    return KG_OK;
}

static kg_result parse_policy(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"backend",
                                       "rpc_url",
                                       "rpc_urls",
                                       "quorum",
                                       "confirmations",
                                       "max_block_age_s",
                                       "reorg_allowance",
                                       "head_max_age_ms",
                                       "kms_contract",
                                       "chain_id",
                                       "url",
                                       "timeout_ms",
                                       "gateway_app_id",
                                       "allow_insecure_http",
                                       NULL};
    static const char *const backends[] = {"eth", "webhook", NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "policy"));
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "config: missing required key 'policy'");
    KG_GUARD(check_keys(o, "policy", keys));
    int backend = KG_KMS_POLICY_ETH;
    KG_GUARD(get_enum(&backend, o, "policy", "backend", backends, "'eth', 'webhook'"));
    c->policy = (kg_kms_policy_backend)backend;
    KG_GUARD(get_u32(&c->policy_timeout_ms, o, "policy", "timeout_ms", 100, 600000));
    KG_GUARD(get_string(c->gateway_app_id, sizeof(c->gateway_app_id), o, "policy", "gateway_app_id",
                        false));
    if (c->policy == KG_KMS_POLICY_ETH) {
        KG_ENSURE(json_object_get(o, "url") == NULL, KG_ERR_INPUT,
                  "config: 'policy.url' is for backend 'webhook', not 'eth'");
        KG_GUARD(parse_rpc_urls(c, o));
        uint32_t quorum = c->n_rpc_urls;
        KG_GUARD(get_u32(&quorum, o, "policy", "quorum", 1, c->n_rpc_urls));
        c->quorum = quorum;
        /* With several nodes and a quorum of one, any node names the decision block alone, and
         * the others, which cannot answer for a block they do not have, count as absent: a
         * liar would decide by itself (found by the SPIN model, docs/formal.md). */
        KG_ENSURE(c->n_rpc_urls < 2 || quorum >= 2, KG_ERR_INPUT,
                  "config: 'policy.quorum' 1 with %u nodes lets any one node decide alone; use "
                  "2 or more (or list one node)",
                  c->n_rpc_urls);
        KG_GUARD(get_u32(&c->confirmations, o, "policy", "confirmations", 0, 10000));
        KG_GUARD(get_u32(&c->max_block_age_s, o, "policy", "max_block_age_s", 0, 86400 * 30));
        KG_GUARD(get_u32(&c->reorg_allowance, o, "policy", "reorg_allowance", 0, 1000000));
        KG_GUARD(get_u32(&c->head_max_age_ms, o, "policy", "head_max_age_ms", 0, 5000));
        char addr[64] = {0};
        KG_GUARD(get_string(addr, sizeof(addr), o, "policy", "kms_contract", true));
        if (kg_failed(kg_hex_decode_exact(c->kms_contract, sizeof(c->kms_contract), addr)))
            KG_BAIL(KG_ERR_INPUT,
                    "config: 'policy.kms_contract' = '%s' is not a 20-byte hex "
                    "address",
                    addr);
        KG_GUARD(get_uint(&c->chain_id, o, "policy", "chain_id", 1, UINT64_MAX >> 1, true));
    } else {
        static const char *const eth_only[] = {
            "rpc_url",      "rpc_urls",        "quorum",   "confirmations",   "max_block_age_s",
            "kms_contract", "reorg_allowance", "chain_id", "head_max_age_ms", NULL};
        for (size_t i = 0; eth_only[i] != NULL; i++)
            KG_ENSURE(json_object_get(o, eth_only[i]) == NULL, KG_ERR_INPUT,
                      "config: 'policy.%s' is for backend 'eth', not 'webhook'", eth_only[i]);
        KG_GUARD(get_string(c->webhook_url, sizeof(c->webhook_url), o, "policy", "url", true));
    }
    KG_GUARD(get_bool(&c->allow_insecure_http, o, "allow_insecure_http"));
    /* A plain-http chain node or webhook on another host puts anyone on the path in the seat
     * of a lying node. */
    for (uint32_t i = 0; c->policy == KG_KMS_POLICY_ETH && i < c->n_rpc_urls; i++)
        KG_GUARD(check_transport(c, c->rpc_urls[i], "policy.rpc_urls"));
    if (c->policy == KG_KMS_POLICY_WEBHOOK)
        KG_GUARD(check_transport(c, c->webhook_url, "policy.url"));
    return KG_OK;
}

static kg_result parse_trust_root(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"kind", "sim_ca_file", NULL};
    static const char *const kinds[] = {"intel", "sim", NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "trust_root"));
    if (o == NULL)
        return KG_OK;
    KG_GUARD(check_keys(o, "trust_root", keys));
    int kind = KG_KMS_TRUST_INTEL;
    KG_GUARD(get_enum(&kind, o, "trust_root", "kind", kinds, "'intel', 'sim'"));
    c->trust_root = (kg_kms_trust_root)kind;
    if (c->trust_root == KG_KMS_TRUST_SIM)
        KG_GUARD(get_string(c->sim_root_ca, sizeof(c->sim_root_ca), o, "trust_root", "sim_ca_file",
                            true));
    else
        KG_ENSURE(json_object_get(o, "sim_ca_file") == NULL, KG_ERR_INPUT,
                  "config: 'trust_root.sim_ca_file' is only for kind 'sim'");
    return KG_OK;
}

static kg_result parse_tee(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"backend", "sim_dir", "sim_vm", NULL};
    static const char *const backends[] = {"tdx", "sim", NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "tee"));
    if (o == NULL)
        return KG_OK;
    KG_GUARD(check_keys(o, "tee", keys));
    int backend = KG_KMS_TEE_TDX;
    KG_GUARD(get_enum(&backend, o, "tee", "backend", backends, "'tdx', 'sim'"));
    c->tee = (kg_kms_tee_backend)backend;
    if (c->tee == KG_KMS_TEE_SIM) {
        KG_GUARD(get_string(c->sim_dir, sizeof(c->sim_dir), o, "tee", "sim_dir", true));
        KG_GUARD(get_string(c->sim_vm, sizeof(c->sim_vm), o, "tee", "sim_vm", false));
        for (const char *p = c->sim_vm; *p; p++)
            KG_ENSURE((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                          (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-',
                      KG_ERR_INPUT, "config: 'tee.sim_vm' = '%s' may only use [A-Za-z0-9._-]",
                      c->sim_vm);
    } else {
        KG_ENSURE(json_object_get(o, "sim_dir") == NULL && json_object_get(o, "sim_vm") == NULL,
                  KG_ERR_INPUT,
                  "config: 'tee.sim_dir' and 'tee.sim_vm' are only for backend "
                  "'sim'");
    }
    return KG_OK;
}

static kg_result parse_tls(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"server_names", NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "tls"));
    if (o == NULL)
        return KG_OK;
    KG_GUARD(check_keys(o, "tls", keys));
    const json_t *list = json_object_get(o, "server_names");
    if (list == NULL)
        return KG_OK;
    KG_ENSURE(json_is_array(list) && json_array_size(list) >= 1 &&
                  json_array_size(list) <= KG_KMS_MAX_SERVER_NAMES,
              KG_ERR_INPUT, "config: 'tls.server_names' must be a list of 1 to %u names",
              KG_KMS_MAX_SERVER_NAMES);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        const char *name = json_string_value(v);
        bool ip = false;
        KG_ENSURE(name != NULL && json_string_length(v) == strlen(name) &&
                      strlen(name) <= KG_KMS_MAX_SERVER_NAME && kg_kms_x509_san_ok(name, &ip),
                  KG_ERR_INPUT,
                  "config: 'tls.server_names'[%zu] is not a DNS name or an IP address", i);
        for (size_t j = 0; j < i; j++)
            KG_ENSURE(strcmp(c->server_names[j], name) != 0, KG_ERR_INPUT,
                      "config: 'tls.server_names' names '%s' twice", name);
        memcpy(c->server_names[i], name, strlen(name) + 1);
    }
    c->n_server_names = (uint32_t)json_array_size(list);
    return KG_OK;
}

static kg_result parse_limits(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"max_body_bytes",
                                       "request_timeout_ms",
                                       "handshake_timeout_ms",
                                       "workers",
                                       "max_connections",
                                       "max_connections_per_source",
                                       "max_queue",
                                       NULL};
    const json_t *o;
    KG_GUARD(get_object(&o, root, "limits"));
    if (o == NULL)
        return KG_OK;
    KG_GUARD(check_keys(o, "limits", keys));
    KG_GUARD(get_u32(&c->max_body_bytes, o, "limits", "max_body_bytes", 1024, 16u << 20));
    KG_GUARD(get_u32(&c->request_timeout_ms, o, "limits", "request_timeout_ms", 100, 600000));
    KG_GUARD(get_u32(&c->workers, o, "limits", "workers", 1, 256));
    /* the first request is due within request_timeout_ms of accept, the handshake before it */
    if (c->handshake_timeout_ms > c->request_timeout_ms)
        c->handshake_timeout_ms = c->request_timeout_ms;
    KG_GUARD(get_u32(&c->handshake_timeout_ms, o, "limits", "handshake_timeout_ms", 100,
                     c->request_timeout_ms));
    KG_GUARD(get_u32(&c->max_connections, o, "limits", "max_connections", 1, 65536));
    /* a source may hold every slot if the operator says so, never more */
    if (c->max_connections_per_source > c->max_connections)
        c->max_connections_per_source = c->max_connections;
    KG_GUARD(get_u32(&c->max_connections_per_source, o, "limits", "max_connections_per_source", 1,
                     c->max_connections));
    KG_GUARD(get_u32(&c->max_queue, o, "limits", "max_queue", 1, 1u << 20));
    return KG_OK;
}

/* "admin_listen": HOST:PORT with an IPv4 or IPv6 literal ([::1]:9100) or a name; port 0 takes
 * any free port (tests). */
static kg_result parse_admin(kg_kms_config *c, const json_t *root)
{
    char v[96] = "";
    KG_GUARD(get_string(v, sizeof(v), root, "", "admin_listen", false));
    if (v[0] == '\0')
        return KG_OK;
    const char *host = v, *colon = strrchr(v, ':');
    size_t host_len = colon != NULL ? (size_t)(colon - v) : 0;
    if (v[0] == '[') { /* [v6]:port */
        const char *close = strchr(v, ']');
        KG_ENSURE(close != NULL && close + 1 == colon, KG_ERR_INPUT,
                  "config: 'admin_listen' = '%s' is not [IPv6]:PORT", v);
        host = v + 1;
        host_len = (size_t)(close - host);
    }
    KG_ENSURE(colon != NULL && host_len > 0 && host_len < sizeof(c->admin_address), KG_ERR_INPUT,
              "config: 'admin_listen' = '%s' is not HOST:PORT (e.g. 127.0.0.1:9100)", v);
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    KG_ENSURE(colon[1] >= '0' && colon[1] <= '9' && errno == 0 && *end == '\0' && port <= 65535,
              KG_ERR_INPUT, "config: 'admin_listen' = '%s': the port is not 0..65535", v);
    memcpy(c->admin_address, host, host_len);
    c->admin_address[host_len] = '\0';
    c->admin_port = (uint16_t)port;
    c->has_admin = true;
    return KG_OK;
}

static void set_defaults(kg_kms_config *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->listen_address, "127.0.0.1", sizeof("127.0.0.1"));
    memcpy(c->sim_vm, "kms", sizeof("kms"));
    c->listen_port = 8000;
    c->policy = KG_KMS_POLICY_ETH;
    c->policy_timeout_ms = 5000;
    c->max_block_age_s = 300;
    c->reorg_allowance = 64;
    c->trust_root = KG_KMS_TRUST_INTEL;
    c->tee = KG_KMS_TEE_TDX;
    memcpy(c->server_names[0], "kms.keygate", sizeof("kms.keygate"));
    c->n_server_names = 1;
    c->max_body_bytes = 262144;
    c->request_timeout_ms = 10000;
    c->workers = 2;
    c->max_connections = 512;
    c->max_connections_per_source = 64;
    c->handshake_timeout_ms = 2000;
    c->max_queue = 1024;
    c->self_check_interval_s = 60;
}

static kg_result parse_root(kg_kms_config *c, const json_t *root)
{
    static const char *const keys[] = {"listen",     "state_dir",       "audit_db",
                                       "policy",     "pccs_url",        "trust_root",
                                       "tee",        "limits",          "self_check_interval_s",
                                       "is_dev",     "collateral_file", "tls",
                                       "log_format", "admin_listen",    NULL};
    KG_ENSURE(json_is_object(root), KG_ERR_INPUT, "config: the top level must be a JSON object");
    KG_GUARD(check_keys(root, "", keys));
    KG_GUARD(parse_listen(c, root));
    KG_GUARD(get_string(c->state_dir, sizeof(c->state_dir), root, "", "state_dir", true));
    KG_GUARD(get_string(c->audit_db, sizeof(c->audit_db), root, "", "audit_db", false));
    if (c->audit_db[0] == '\0') {
        int n = snprintf(c->audit_db, sizeof(c->audit_db), "%s/audit.db", c->state_dir);
        KG_ENSURE(n > 0 && (size_t)n < sizeof(c->audit_db), KG_ERR_INPUT,
                  "config: 'state_dir' is too long to hold 'audit.db'");
    }
    KG_GUARD(parse_policy(c, root));
    KG_GUARD(get_string(c->collateral_file, sizeof(c->collateral_file), root, "", "collateral_file",
                        false));
    KG_GUARD(get_string(c->pccs_url, sizeof(c->pccs_url), root, "", "pccs_url",
                        c->collateral_file[0] == '\0'));
    KG_GUARD(parse_trust_root(c, root));
    KG_GUARD(parse_tee(c, root));
    KG_GUARD(parse_tls(c, root));
    KG_GUARD(parse_limits(c, root));
    KG_GUARD(get_u32(&c->self_check_interval_s, root, "", "self_check_interval_s", 0, 86400));
    KG_GUARD(get_bool(&c->is_dev, root, "is_dev"));
    KG_GUARD(parse_admin(c, root));
    char fmt[16] = "";
    KG_GUARD(get_string(fmt, sizeof(fmt), root, "", "log_format", false));
    if (fmt[0] != '\0' && kg_failed(kg_slog_parse_format(&c->log_format, fmt)))
        KG_BAIL(KG_ERR_INPUT, "config: 'log_format' = '%s' is not 'text' or 'json'", fmt);
    return KG_OK;
}

kg_result kg_kms_config_parse(kg_kms_config *out, const char *text, size_t len)
{
    set_defaults(out);
    if (len > KG_KMS_CONFIG_MAX_BYTES) {
        memset(out, 0, sizeof(*out));
        KG_BAIL(KG_ERR_TOO_LARGE, "config: %zu bytes exceeds the maximum of %u", len,
                KG_KMS_CONFIG_MAX_BYTES);
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        memset(out, 0, sizeof(*out));
        KG_BAIL(KG_ERR_INPUT, "config: invalid JSON at line %d column %d: %s", jerr.line,
                jerr.column, jerr.text);
    }
    kg_result rc = parse_root(out, root);
    json_decref(root);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

kg_result kg_kms_config_load(kg_kms_config *out, const char *path)
{
    kg_buf text;
    kg_buf_init(&text, KG_KMS_CONFIG_MAX_BYTES);
    memset(out, 0, sizeof(*out));
    kg_result rc = KG_ERROR;
    KG_GUARD_CTX_C(kg_file_read(&text, path, KG_KMS_CONFIG_MAX_BYTES), "config");
    KG_GUARD_CTX_C(kg_kms_config_parse(out, (const char *)text.data, text.len), "'%s'", path);
    rc = KG_OK;
cleanup:
    kg_buf_free(&text);
    return rc;
}
