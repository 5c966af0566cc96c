/* api.c - the dstack app API handlers (agent/API.md): parse a request's JSON, call the keys or
 * the platform, write the response JSON. Transport-free, so tests call it directly.
 *
 * Divisions: state (new/free), request field readers, the TD report registers for Info, one
 * handler per method, the router.
 */
#include "keygate/agent.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_out.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "keygate/eventlog.h"
#include "sign.h"

#define MAX_QUOTE (64u * 1024u)
#define MAX_EVENT_LOG (1024u * 1024u)

struct kg_agent {
    kg_agent_keys keys;
    uint8_t app_id[KG_APP_ID_LEN];
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    size_t instance_id_len;
    uint8_t compose_hash[32];
    uint8_t device_id[32];
    uint8_t os_image_hash[32];
    char *app_compose;
    char *app_name;
    char *key_provider_info;
    char *vm_config;
    kg_agent_platform platform;
};

/* ---- state ----------------------------------------------------------------------------------- */

void kg_agent_keys_wipe(kg_agent_keys *keys)
{
    if (keys == NULL)
        return;
    free(keys->ca_cert);
    free(keys->gateway_app_id);
    free(keys->receipt);
    kg_memzero(keys, sizeof(*keys));
}

void kg_pem_chain_free(kg_pem_chain *chain)
{
    if (chain == NULL)
        return;
    for (size_t i = 0; i < chain->n && i < KG_AGENT_MAX_CHAIN; i++)
        free(chain->pem[i]);
    memset(chain, 0, sizeof(*chain));
}

static kg_result dup_str(char **out, const char *s)
{
    *out = strdup(s ? s : "");
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* The app's name, from the compose file's "name" (empty when absent or not JSON). */
static kg_result compose_name(char **out, const char *compose)
{
    json_t *root = compose ? json_loads(compose, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *name = json_string_value(json_object_get(root, "name"));
    kg_result rc = dup_str(out, name);
    json_decref(root);
    return rc;
}

kg_result kg_agent_new(kg_agent **out, const kg_agent_keys *keys, const kg_agent_identity *id,
                       const kg_agent_platform *platform)
{
    kg_result rc = KG_ERROR;
    *out = NULL;
    KG_ENSURE(id->instance_id_len == 0 || id->instance_id_len == KG_INSTANCE_ID_LEN, KG_ERR_USAGE,
              "instance id must be empty or 20 bytes, not %zu", id->instance_id_len);
    KG_ENSURE(platform->quote != NULL && platform->emit_event != NULL, KG_ERR_USAGE,
              "agent platform needs quote and emit_event");
    /* The app keys live here for the agent's lifetime: in the secure heap (harden.h). */
    kg_agent *a = kg_secure_zalloc(sizeof(*a));
    KG_ENSURE(a != NULL, KG_ERR_NOMEM, "out of memory");
    memcpy(a->keys.k256_key, keys->k256_key, sizeof(a->keys.k256_key));
    memcpy(a->keys.k256_signature, keys->k256_signature, sizeof(a->keys.k256_signature));
    memcpy(a->keys.disk_key, keys->disk_key, sizeof(a->keys.disk_key));
    memcpy(a->keys.env_key, keys->env_key, sizeof(a->keys.env_key));
    KG_GUARD_C(dup_str(&a->keys.ca_cert, keys->ca_cert));
    KG_GUARD_C(dup_str(&a->keys.gateway_app_id, keys->gateway_app_id));
    memcpy(a->app_id, id->app_id, sizeof(a->app_id));
    memcpy(a->instance_id, id->instance_id, sizeof(a->instance_id));
    a->instance_id_len = id->instance_id_len;
    memcpy(a->compose_hash, id->compose_hash, sizeof(a->compose_hash));
    memcpy(a->device_id, id->device_id, sizeof(a->device_id));
    memcpy(a->os_image_hash, id->os_image_hash, sizeof(a->os_image_hash));
    KG_GUARD_C(dup_str(&a->app_compose, id->app_compose));
    KG_GUARD_C(compose_name(&a->app_name, id->app_compose));
    KG_GUARD_C(dup_str(&a->key_provider_info, id->key_provider_info));
    KG_GUARD_C(dup_str(&a->vm_config, id->vm_config));
    if (keys->receipt != NULL)
        KG_GUARD_C(dup_str(&a->keys.receipt, keys->receipt));
    KG_ENSURE_C(keys->n_previous <= KG_AGENT_MAX_PREVIOUS_EPOCHS, KG_ERR_USAGE,
                "%zu previous epochs, more than %u", keys->n_previous,
                KG_AGENT_MAX_PREVIOUS_EPOCHS);
    a->keys.has_root_epoch = keys->has_root_epoch;
    a->keys.root_epoch = keys->root_epoch;
    memcpy(a->keys.previous, keys->previous, keys->n_previous * sizeof(keys->previous[0]));
    a->keys.n_previous = keys->n_previous;
    a->platform = *platform;
    *out = a;
    a = NULL;
    rc = KG_OK;
cleanup:
    kg_agent_free(a);
    return rc;
}

void kg_agent_free(kg_agent *a)
{
    if (a == NULL)
        return;
    kg_agent_keys_wipe(&a->keys);
    free(a->app_compose);
    free(a->app_name);
    free(a->key_provider_info);
    free(a->vm_config);
    kg_secure_free(a, sizeof(*a));
}

/* ---- request field readers --------------------------------------------------------------------
 * Missing or null fields take their protobuf default ("" / false / empty bytes), as dstack's
 * prpc JSON decoding does; a present field of the wrong type is an error naming the field.
 */

static kg_result get_str(const char **out, json_t *req, const char *name, size_t max)
{
    json_t *v = json_object_get(req, name);
    *out = "";
    if (v == NULL || json_is_null(v))
        return KG_OK;
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "field '%s' must be a string", name);
    size_t n = json_string_length(v);
    KG_ENSURE(n <= max, KG_ERR_TOO_LARGE, "field '%s' is %zu bytes, more than %zu", name, n, max);
    KG_ENSURE(strlen(json_string_value(v)) == n, KG_ERR_INPUT, "field '%s' contains NUL", name);
    *out = json_string_value(v);
    return KG_OK;
}

static kg_result get_bool(bool *out, json_t *req, const char *name, bool dflt)
{
    json_t *v = json_object_get(req, name);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return KG_OK;
    KG_ENSURE(json_is_boolean(v), KG_ERR_INPUT, "field '%s' must be true or false", name);
    *out = json_is_true(v);
    return KG_OK;
}

static kg_result get_u64(bool *present, uint64_t *out, json_t *req, const char *name)
{
    json_t *v = json_object_get(req, name);
    *present = false;
    *out = 0;
    if (v == NULL || json_is_null(v))
        return KG_OK;
    KG_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, KG_ERR_INPUT,
              "field '%s' must be a non-negative integer", name);
    *out = (uint64_t)json_integer_value(v);
    *present = true;
    return KG_OK;
}

/* Hex bytes field into out (at most cap bytes). */
static kg_result get_hex(uint8_t *out, size_t cap, size_t *out_len, json_t *req, const char *name)
{
    const char *hex;
    *out_len = 0;
    KG_GUARD(get_str(&hex, req, name, 2 * cap + 2));
    KG_GUARD_CTX(kg_hex_decode(out, cap, out_len, hex, strlen(hex)), "field '%s'", name);
    return KG_OK;
}

/* ---- TD report registers, for Info ------------------------------------------------------------
 * Quote layout (Intel TDX DCAP quote spec): header (48 bytes; u16le version at 0); v4: TD report
 * body at 48; v5: u16le body type, u32le body size, then the body. In the TD report body:
 * MRTD at 136, MRCONFIGID 184, MROWNER 232, MROWNERCONFIG 280, RTMR0..3 at 328 + 48 i.
 */
typedef struct td_regs {
    uint8_t mrtd[KG_MR_LEN];
    uint8_t cfg[3][KG_MR_LEN]; /* MRCONFIGID, MROWNER, MROWNERCONFIG */
    uint8_t rtmr[4][KG_MR_LEN];
} td_regs;

static kg_result parse_td_regs(td_regs *r, const uint8_t *quote, size_t len)
{
    kg_reader rd;
    uint16_t version;
    kg_reader_init(&rd, quote, len);
    KG_GUARD(kg_reader_u16le(&rd, &version, "quote version"));
    KG_GUARD(kg_reader_skip(&rd, 46, "quote header"));
    if (version == 5) {
        uint16_t type;
        uint32_t size;
        KG_GUARD(kg_reader_u16le(&rd, &type, "body type"));
        KG_GUARD(kg_reader_u32le(&rd, &size, "body size"));
        KG_ENSURE(type == 2 || type == 3, KG_ERR_INPUT, "quote body type %u is not a TD report",
                  (unsigned)type);
    } else {
        KG_ENSURE(version == 4, KG_ERR_INPUT, "quote version %u is not TDX", (unsigned)version);
    }
    KG_GUARD(kg_reader_skip(&rd, 136, "TD report"));
    KG_GUARD(kg_reader_read(&rd, r->mrtd, KG_MR_LEN, "MRTD"));
    for (int i = 0; i < 3; i++)
        KG_GUARD(kg_reader_read(&rd, r->cfg[i], KG_MR_LEN, "MRCONFIG"));
    for (int i = 0; i < 4; i++)
        KG_GUARD(kg_reader_read(&rd, r->rtmr[i], KG_MR_LEN, "RTMR"));
    return KG_OK;
}

/* mr_aggregated (docs/protocol.md section 2). */
static kg_result mr_aggregated(uint8_t out[32], const td_regs *r)
{
    static const uint8_t zero[KG_MR_LEN];
    const void *parts[8] = {r->mrtd,    r->rtmr[0], r->rtmr[1], r->rtmr[2],
                            r->rtmr[3], r->cfg[0],  r->cfg[1],  r->cfg[2]};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = KG_MR_LEN;
    bool cfg_set = memcmp(r->cfg[0], zero, KG_MR_LEN) != 0 ||
                   memcmp(r->cfg[1], zero, KG_MR_LEN) != 0 ||
                   memcmp(r->cfg[2], zero, KG_MR_LEN) != 0;
    return kg_sha256_parts(out, parts, lens, cfg_set ? 8 : 5);
}

/* ---- handlers ---------------------------------------------------------------------------------
 * Each writes its result object into *out (a fresh buffer) or fails with the error recorded.
 */

/* The app key and its KMS signature of the epoch GetKey's optional "root_epoch" names
 * (agent/API.md): absent, null or the current epoch is the current key, as dstack has it; a
 * retiring epoch's key during a migration window; anything else is not held (404). */
static kg_result epoch_key(const uint8_t **k256_key, const uint8_t **k256_sig, kg_agent *a,
                           json_t *req)
{
    json_t *v = json_object_get(req, "root_epoch");
    *k256_key = a->keys.k256_key;
    *k256_sig = a->keys.k256_signature;
    if (v == NULL || json_is_null(v))
        return KG_OK;
    KG_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                  json_integer_value(v) <= (json_int_t)UINT32_MAX,
              KG_ERR_INPUT, "field 'root_epoch' must be an epoch number (0 .. 2^32-1)");
    uint32_t want = (uint32_t)json_integer_value(v);
    if (want == a->keys.root_epoch)
        return KG_OK;
    for (size_t i = 0; i < a->keys.n_previous; i++) {
        if (a->keys.previous[i].root_epoch == want) {
            *k256_key = a->keys.previous[i].k256_key;
            *k256_sig = a->keys.previous[i].k256_signature;
            return KG_OK;
        }
    }
    KG_BAIL(KG_ERR_NOT_FOUND,
            "no keys of root epoch %u: this app holds the current epoch %u and %zu previous "
            "epoch(s) (Info lists them)",
            (unsigned)want, (unsigned)a->keys.root_epoch, a->keys.n_previous);
}

static kg_result do_get_key(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_result rc = KG_ERROR;
    const char *path, *purpose, *algorithm;
    const uint8_t *k256_key, *k256_sig;
    uint8_t key[32], pub[KG_K256_PUB_LEN], sig[KG_K256_RECSIG_LEN];
    size_t pub_len;
    kg_jw w;
    KG_GUARD(get_str(&path, req, "path", KG_KDF_MAX_PATH_LEN));
    KG_GUARD(get_str(&purpose, req, "purpose", KG_KDF_MAX_PURPOSE_LEN));
    KG_GUARD(get_str(&algorithm, req, "algorithm", 32));
    KG_GUARD(epoch_key(&k256_key, &k256_sig, a, req));
    KG_GUARD(kg_agent_get_key(key, pub, &pub_len, sig, k256_key, path, purpose, algorithm));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_hex(&w, "key", key, sizeof(key)));
    KG_GUARD_C(kg_jw_array_begin(&w, "signature_chain"));
    KG_GUARD_C(kg_jw_item_hex(&w, sig, sizeof(sig)));
    KG_GUARD_C(kg_jw_item_hex(&w, k256_sig, KG_K256_RECSIG_LEN));
    KG_GUARD_C(kg_jw_array_end(&w));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    return rc;
}

static kg_result read_report_data(uint8_t rd[KG_REPORT_DATA_LEN], json_t *req)
{
    uint8_t raw[KG_REPORT_DATA_LEN];
    size_t n;
    KG_GUARD(get_hex(raw, sizeof(raw), &n, req, "report_data"));
    /* dstack's pad64: the caller's bytes first, zeros after. */
    memset(rd, 0, KG_REPORT_DATA_LEN);
    memcpy(rd, raw, n);
    return KG_OK;
}

static kg_result take_quote(kg_agent *a, const uint8_t rd[KG_REPORT_DATA_LEN], kg_buf *quote,
                            kg_buf *log)
{
    KG_GUARD_CTX(a->platform.quote(a->platform.ctx, rd, quote, log), "quote");
    KG_GUARD(kg_buf_terminate(log));
    return KG_OK;
}

static kg_result do_get_quote(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_result rc = KG_ERROR;
    uint8_t rd[KG_REPORT_DATA_LEN];
    kg_buf quote, log;
    kg_jw w;
    kg_buf_init(&quote, MAX_QUOTE);
    kg_buf_init(&log, MAX_EVENT_LOG);
    KG_GUARD_C(read_report_data(rd, req));
    KG_GUARD_C(take_quote(a, rd, &quote, &log));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_hex(&w, "quote", quote.data, quote.len));
    /* event_log is a JSON string holding the array: the SDK JSON.parse()s it. */
    KG_GUARD_C(kg_jw_strn(&w, "event_log", (const char *)log.data, log.len));
    KG_GUARD_C(kg_jw_hex(&w, "report_data", rd, sizeof(rd)));
    KG_GUARD_C(kg_jw_str(&w, "vm_config", a->vm_config));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    kg_buf_free(&quote);
    kg_buf_free(&log);
    return rc;
}

static kg_result do_attest(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_result rc = KG_ERROR;
    uint8_t rd[KG_REPORT_DATA_LEN];
    kg_buf quote, log, blob;
    kg_jw w, bw;
    kg_buf_init(&quote, MAX_QUOTE);
    kg_buf_init(&log, MAX_EVENT_LOG);
    kg_buf_init(&blob, 2 * MAX_QUOTE + MAX_EVENT_LOG + 4096);
    KG_GUARD_C(read_report_data(rd, req));
    KG_GUARD_C(take_quote(a, rd, &quote, &log));
    /* keygate's attestation blob: {"version":1,"quote":hex,"event_log":[...],"vm_config":s}. */
    KG_GUARD_C(kg_jw_begin(&bw, &blob));
    KG_GUARD_C(kg_buf_append_str(&blob, "\"version\":1"));
    bw.first = false;
    KG_GUARD_C(kg_jw_hex(&bw, "quote", quote.data, quote.len));
    KG_GUARD_C(kg_jw_raw(&bw, "event_log", (const char *)log.data, log.len));
    KG_GUARD_C(kg_jw_str(&bw, "vm_config", a->vm_config));
    KG_GUARD_C(kg_jw_end(&bw));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_hex(&w, "attestation", blob.data, blob.len));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    kg_buf_free(&quote);
    kg_buf_free(&log);
    kg_buf_free(&blob);
    return rc;
}

static kg_result hex_str(json_t *obj, const char *name, const uint8_t *b, size_t n)
{
    char hex[2 * KG_MR_LEN + 1];
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), b, n));
    KG_ENSURE(json_object_set_new(obj, name, json_string(hex)) == 0, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

static kg_result do_info(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_result rc = KG_ERROR;
    uint8_t rd[KG_REPORT_DATA_LEN] = {0}, mra[32];
    kg_buf quote, log;
    td_regs regs;
    json_t *tcb = NULL, *events = NULL;
    char *tcb_text = NULL;
    kg_jw w;
    (void)req;
    kg_buf_init(&quote, MAX_QUOTE);
    kg_buf_init(&log, MAX_EVENT_LOG);
    KG_GUARD_C(take_quote(a, rd, &quote, &log));
    KG_GUARD_CTX_C(parse_td_regs(&regs, quote.data, quote.len), "quote");
    KG_GUARD_C(mr_aggregated(mra, &regs));
    events = json_loadb((const char *)log.data, log.len, JSON_REJECT_DUPLICATES, NULL);
    KG_ENSURE_C(json_is_array(events), KG_ERR_INTERNAL, "event log is not a JSON array");
    tcb = json_object();
    KG_ENSURE_C(tcb != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(hex_str(tcb, "mrtd", regs.mrtd, KG_MR_LEN));
    KG_GUARD_C(hex_str(tcb, "rtmr0", regs.rtmr[0], KG_MR_LEN));
    KG_GUARD_C(hex_str(tcb, "rtmr1", regs.rtmr[1], KG_MR_LEN));
    KG_GUARD_C(hex_str(tcb, "rtmr2", regs.rtmr[2], KG_MR_LEN));
    KG_GUARD_C(hex_str(tcb, "rtmr3", regs.rtmr[3], KG_MR_LEN));
    KG_GUARD_C(hex_str(tcb, "mr_aggregated", mra, sizeof(mra)));
    KG_GUARD_C(hex_str(tcb, "os_image_hash", a->os_image_hash, 32));
    KG_GUARD_C(hex_str(tcb, "compose_hash", a->compose_hash, 32));
    /* device_id is unknown (all zero) when the PCK certificate was not verified at boot:
     * say so with "" rather than a plausible-looking value. */
    static const uint8_t no_device[32];
    size_t dev_len = memcmp(a->device_id, no_device, 32) == 0 ? 0 : 32;
    KG_GUARD_C(hex_str(tcb, "device_id", a->device_id, dev_len));
    KG_ENSURE_C(json_object_set(tcb, "event_log", events) == 0 &&
                    json_object_set_new(tcb, "app_compose", json_string(a->app_compose)) == 0,
                KG_ERR_NOMEM, "out of memory");
    /* ENSURE_ASCII: non-ASCII compose text becomes \u escapes (see json_out.c). */
    tcb_text = json_dumps(tcb, JSON_COMPACT | JSON_ENSURE_ASCII);
    KG_ENSURE_C(tcb_text != NULL, KG_ERR_NOMEM, "out of memory");

    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_hex(&w, "app_id", a->app_id, sizeof(a->app_id)));
    KG_GUARD_C(kg_jw_hex(&w, "instance_id", a->instance_id, a->instance_id_len));
    KG_GUARD_C(kg_jw_str(&w, "app_cert", ""));
    KG_GUARD_C(kg_jw_str(&w, "tcb_info", tcb_text));
    KG_GUARD_C(kg_jw_str(&w, "app_name", a->app_name));
    KG_GUARD_C(kg_jw_hex(&w, "device_id", a->device_id, dev_len));
    KG_GUARD_C(kg_jw_hex(&w, "mr_aggregated", mra, sizeof(mra)));
    KG_GUARD_C(kg_jw_hex(&w, "os_image_hash", a->os_image_hash, sizeof(a->os_image_hash)));
    KG_GUARD_C(kg_jw_str(&w, "key_provider_info", a->key_provider_info));
    KG_GUARD_C(kg_jw_hex(&w, "compose_hash", a->compose_hash, sizeof(a->compose_hash)));
    KG_GUARD_C(kg_jw_str(&w, "vm_config", a->vm_config));
    KG_GUARD_C(kg_jw_str(&w, "cloud_vendor", "keygate"));
    KG_GUARD_C(kg_jw_str(&w, "cloud_product", "keygate-agent"));
    /* keygate's additions (agent/API.md): the root-key epochs whose keys this app holds. */
    KG_GUARD_C(kg_jw_u64(&w, "root_epoch", a->keys.root_epoch));
    KG_GUARD_C(kg_jw_array_begin(&w, "previous_root_epochs"));
    for (size_t i = 0; i < a->keys.n_previous; i++)
        KG_GUARD_C(kg_jw_item_u64(&w, a->keys.previous[i].root_epoch));
    KG_GUARD_C(kg_jw_array_end(&w));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    free(tcb_text);
    json_decref(tcb);
    json_decref(events);
    kg_buf_free(&quote);
    kg_buf_free(&log);
    return rc;
}

static kg_result do_version(kg_buf *out)
{
    kg_jw w;
    KG_GUARD(kg_jw_begin(&w, out));
    KG_GUARD(kg_jw_str(&w, "version", KG_VERSION));
    KG_GUARD(kg_jw_str(&w, "rev", "keygate"));
    return kg_jw_end(&w);
}

static kg_result check_event_name(const char *name)
{
    size_t n = strlen(name);
    KG_ENSURE(n > 0, KG_ERR_INPUT, "event name is empty");
    KG_ENSURE(n <= KG_AGENT_MAX_EVENT_NAME, KG_ERR_TOO_LARGE,
              "event name is %zu bytes, more than %u", n, KG_AGENT_MAX_EVENT_NAME);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        /* ':' separates name and payload in the digest input; allowing it would let two
         * different (name, payload) pairs hash alike. */
        KG_ENSURE(c > 0x20 && c < 0x7f && c != ':', KG_ERR_INPUT,
                  "event name must be printable ASCII without spaces or ':'");
    }
    /* Names the boot flow extends: an app must not append one, or a verifier reading the log
     * could take an app's event for the OS's (verifiers refuse such a log outright). */
    KG_ENSURE(!kg_event_name_reserved(name), KG_ERR_DENIED,
              "event name '%s' is reserved for the boot flow", name);
    return KG_OK;
}

static kg_result do_emit_event(kg_agent *a, json_t *req, kg_buf *out)
{
    const char *name;
    uint8_t payload[KG_AGENT_MAX_EVENT_PAYLOAD];
    size_t n;
    KG_GUARD(get_str(&name, req, "event", KG_AGENT_MAX_EVENT_NAME + 1));
    KG_GUARD(check_event_name(name));
    KG_GUARD(get_hex(payload, sizeof(payload), &n, req, "payload"));
    KG_GUARD_CTX(a->platform.emit_event(a->platform.ctx, name, payload, n), "emit event");
    return kg_buf_append_str(out, "{}");
}

static kg_result read_alg(kg_alg *alg, json_t *req)
{
    const char *name;
    KG_GUARD(get_str(&name, req, "algorithm", 32));
    *alg = kg_alg_parse(name);
    KG_ENSURE(*alg != KG_ALG_UNKNOWN, KG_ERR_INPUT, "unsupported algorithm '%s'", name);
    return KG_OK;
}

static kg_result do_sign(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_alg alg;
    uint8_t *data = malloc(KG_AGENT_MAX_SIGN_DATA);
    uint8_t sig[64], pub[KG_K256_PUB_LEN], link0[KG_K256_RECSIG_LEN];
    size_t n, pub_len;
    kg_jw w;
    kg_result rc = KG_ERROR;
    KG_ENSURE(data != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(read_alg(&alg, req));
    KG_GUARD_C(get_hex(data, KG_AGENT_MAX_SIGN_DATA, &n, req, "data"));
    KG_GUARD_C(kg_agent_sign(sig, pub, &pub_len, link0, a->keys.k256_key, alg, data, n));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_hex(&w, "signature", sig, sizeof(sig)));
    KG_GUARD_C(kg_jw_array_begin(&w, "signature_chain"));
    KG_GUARD_C(kg_jw_item_hex(&w, sig, sizeof(sig)));
    KG_GUARD_C(kg_jw_item_hex(&w, link0, sizeof(link0)));
    KG_GUARD_C(kg_jw_item_hex(&w, a->keys.k256_signature, sizeof(a->keys.k256_signature)));
    KG_GUARD_C(kg_jw_array_end(&w));
    KG_GUARD_C(kg_jw_hex(&w, "public_key", pub, pub_len));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    free(data);
    return rc;
}

static kg_result do_verify(json_t *req, kg_buf *out)
{
    kg_alg alg;
    uint8_t *data = malloc(KG_AGENT_MAX_SIGN_DATA);
    uint8_t sig[128], pub[128];
    size_t n, sig_len, pub_len;
    bool valid = false;
    kg_jw w;
    kg_result rc = KG_ERROR;
    KG_ENSURE(data != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(read_alg(&alg, req));
    KG_GUARD_C(get_hex(data, KG_AGENT_MAX_SIGN_DATA, &n, req, "data"));
    KG_GUARD_C(get_hex(sig, sizeof(sig), &sig_len, req, "signature"));
    KG_GUARD_C(get_hex(pub, sizeof(pub), &pub_len, req, "public_key"));
    KG_GUARD_C(kg_agent_verify(&valid, alg, data, n, sig, sig_len, pub, pub_len));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_bool(&w, "valid", valid));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    free(data);
    return rc;
}

static kg_result read_cert_request(kg_agent_cert_request *cr, json_t *req)
{
    memset(cr, 0, sizeof(*cr));
    KG_GUARD(get_str(&cr->subject, req, "subject", KG_AGENT_MAX_STRING));
    KG_GUARD(get_bool(&cr->usage_ra_tls, req, "usage_ra_tls", false));
    KG_GUARD(get_bool(&cr->usage_server_auth, req, "usage_server_auth", false));
    KG_GUARD(get_bool(&cr->usage_client_auth, req, "usage_client_auth", false));
    KG_GUARD(get_bool(&cr->with_app_info, req, "with_app_info", false));
    KG_GUARD(get_u64(&cr->has_not_before, &cr->not_before, req, "not_before"));
    KG_GUARD(get_u64(&cr->has_not_after, &cr->not_after, req, "not_after"));
    json_t *alt = json_object_get(req, "alt_names");
    if (alt != NULL && !json_is_null(alt)) {
        KG_ENSURE(json_is_array(alt), KG_ERR_INPUT, "field 'alt_names' must be an array");
        KG_ENSURE(json_array_size(alt) <= KG_AGENT_MAX_ALT_NAMES, KG_ERR_TOO_LARGE,
                  "field 'alt_names' has %zu entries, more than %u", json_array_size(alt),
                  KG_AGENT_MAX_ALT_NAMES);
        for (size_t i = 0; i < json_array_size(alt); i++) {
            json_t *v = json_array_get(alt, i);
            KG_ENSURE(json_is_string(v) && json_string_length(v) > 0 &&
                          json_string_length(v) <= KG_AGENT_MAX_STRING &&
                          strlen(json_string_value(v)) == json_string_length(v),
                      KG_ERR_INPUT, "alt_names[%zu] must be a non-empty string", i);
            cr->alt_names[cr->n_alt_names++] = json_string_value(v);
        }
    }
    KG_ENSURE(!cr->has_not_before || !cr->has_not_after || cr->not_before < cr->not_after,
              KG_ERR_INPUT, "not_before must be earlier than not_after");
    return KG_OK;
}

static kg_result do_get_tls_key(kg_agent *a, json_t *req, kg_buf *out)
{
    kg_result rc = KG_ERROR;
    kg_agent_cert_request cr;
    kg_p256_key *key = NULL;
    kg_pem_chain chain = {0};
    kg_buf pem;
    kg_jw w;
    kg_buf_init(&pem, 4096);
    KG_GUARD_C(read_cert_request(&cr, req));
    KG_ENSURE_C(a->platform.sign_cert != NULL, KG_ERR_NOT_FOUND,
                "GetTlsKey needs a KMS to sign certificates, and this agent has none");
    /* A fresh key per call, as dstack does: the certificate, not the key, carries identity. */
    KG_GUARD_C(kg_p256_generate(&key));
    KG_GUARD_CTX_C(a->platform.sign_cert(a->platform.ctx, key, &cr, &chain), "KMS SignCert");
    KG_ENSURE_C(chain.n > 0, KG_ERR_NETWORK, "KMS SignCert returned an empty chain");
    KG_GUARD_C(kg_p256_private_pem(&pem, key));
    KG_GUARD_C(kg_jw_begin(&w, out));
    KG_GUARD_C(kg_jw_strn(&w, "key", (const char *)pem.data, pem.len));
    KG_GUARD_C(kg_jw_array_begin(&w, "certificate_chain"));
    for (size_t i = 0; i < chain.n; i++)
        KG_GUARD_C(kg_jw_item_str(&w, chain.pem[i]));
    KG_GUARD_C(kg_jw_array_end(&w));
    KG_GUARD_C(kg_jw_end(&w));
    rc = KG_OK;
cleanup:
    kg_buf_free(&pem);
    kg_pem_chain_free(&chain);
    kg_p256_free(key);
    return rc;
}

/* ---- GetKeyReceipt (a keygate addition: agent/API.md) ---------------------------------------- */

/* {"receipt": {...}}: the receipt of the key release this app's keys came from, as the KMS
 * answered it and the agent verified it at boot (docs/design.md, "Receipts"). */
static kg_result do_get_key_receipt(kg_agent *a, kg_buf *out)
{
    KG_ENSURE(a->keys.receipt != NULL, KG_ERR_NOT_FOUND,
              "no key receipt: these keys were not released with one (a keys file of an older "
              "boot, or a KMS without a decision log)");
    kg_jw w;
    KG_GUARD(kg_jw_begin(&w, out));
    KG_GUARD(kg_jw_raw(&w, "receipt", a->keys.receipt, strlen(a->keys.receipt)));
    return kg_jw_end(&w);
}

/* ---- router ---------------------------------------------------------------------------------- */

/* Copies the method name out of "GetKey", "prpc/GetKey", "GetKey?json" into name. */
static kg_result method_name(char *name, size_t cap, const char *path)
{
    if (strncmp(path, "prpc/", 5) == 0)
        path += 5;
    size_t n = strcspn(path, "?");
    KG_ENSURE(n > 0 && n < cap, KG_ERR_NOT_FOUND, "no such method");
    memcpy(name, path, n);
    name[n] = '\0';
    return KG_OK;
}

static kg_result dispatch(kg_agent *a, const char *name, json_t *req, kg_buf *out)
{
    if (strcmp(name, "GetKey") == 0)
        return do_get_key(a, req, out);
    if (strcmp(name, "GetQuote") == 0)
        return do_get_quote(a, req, out);
    if (strcmp(name, "Attest") == 0)
        return do_attest(a, req, out);
    if (strcmp(name, "Info") == 0)
        return do_info(a, req, out);
    if (strcmp(name, "Version") == 0)
        return do_version(out);
    if (strcmp(name, "EmitEvent") == 0)
        return do_emit_event(a, req, out);
    if (strcmp(name, "Sign") == 0)
        return do_sign(a, req, out);
    if (strcmp(name, "Verify") == 0)
        return do_verify(req, out);
    if (strcmp(name, "GetTlsKey") == 0)
        return do_get_tls_key(a, req, out);
    if (strcmp(name, "GetKeyReceipt") == 0)
        return do_get_key_receipt(a, out);
    KG_BAIL(KG_ERR_NOT_FOUND, "no such method '%s'", name);
}

static kg_result parse_body(json_t **out, const uint8_t *body, size_t len)
{
    json_error_t jerr;
    *out = NULL;
    KG_ENSURE(len <= KG_AGENT_MAX_BODY, KG_ERR_TOO_LARGE, "request body is %zu bytes, more than %u",
              len, KG_AGENT_MAX_BODY);
    if (len == 0) { /* some clients send no body for argument-less calls */
        *out = json_object();
        KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
        return KG_OK;
    }
    *out = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE(*out != NULL, KG_ERR_INPUT, "request body is not valid JSON: %s (line %d)", jerr.text,
              jerr.line);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        KG_BAIL(KG_ERR_INPUT, "request body must be a JSON object");
    }
    return KG_OK;
}

kg_result kg_agent_handle(kg_agent *a, const char *method, const uint8_t *body, size_t body_len,
                          int *status, kg_buf *response)
{
    char name[64];
    json_t *req = NULL;
    kg_buf result;
    kg_buf_init(&result, KG_AGENT_MAX_RESPONSE);
    kg_error_clear();
    kg_result rc = method_name(name, sizeof(name), method);
    if (kg_ok(rc))
        rc = parse_body(&req, body, body_len);
    if (kg_ok(rc))
        rc = dispatch(a, name, req, &result);
    json_decref(req);
    if (kg_ok(rc)) {
        *status = 200;
        rc = kg_buf_append(response, result.data, result.len);
        kg_buf_free(&result); /* wipes: results may hold keys */
        return rc;
    }
    kg_buf_free(&result);
    *status = kg_err_http_status(kg_error_code()); /* the KMS's table (result.h) */
    kg_jw w;
    char msg[512];
    /* Copy the message first: building the reply may record errors of its own. Non-ASCII bytes
     * (from quoted input) become '?'. */
    const char *m = kg_error_message();
    size_t i = 0;
    for (; m[i] != '\0' && i + 1 < sizeof(msg); i++)
        msg[i] = (m[i] & 0x80) || (unsigned char)m[i] < 0x20 ? '?' : m[i];
    msg[i] = '\0';
    KG_GUARD(kg_jw_begin(&w, response));
    KG_GUARD(kg_jw_str(&w, "error", msg));
    return kg_jw_end(&w);
}
