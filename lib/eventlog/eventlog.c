/* eventlog.c - RTMR3 runtime events: dstack v1 digests, the JSON log, replay and boot identity
 * extraction (docs/protocol.md section 2). */
#include "keygate/eventlog.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/hash.h"

/* ---- digests and extension ----------------------------------------------------------------- */

kg_result kg_event_digest(uint8_t out[KG_RTMR_LEN], const char *name, const uint8_t *payload,
                          size_t payload_len)
{
    /* docs/protocol.md section 2: SHA-384(u32_le(0x08000001) || ":" || name || ":" || payload) */
    const uint8_t type_le[4] = {0x01, 0x00, 0x00, 0x08};
    const void *parts[] = {type_le, ":", name, ":", payload};
    const size_t lens[] = {4, 1, strlen(name), 1, payload_len};
    KG_ENSURE(payload != NULL || payload_len == 0, KG_ERR_USAGE, "event payload is NULL");
    return kg_sha384_parts(out, parts, lens, payload_len > 0 ? 5 : 4);
}

/* Appends s as an RFC 8785 (JCS) JSON string: '"' and '\\' escaped, the short escapes for
 * \b \f \n \r \t, \u00xx (lowercase) for other control characters, everything else as is. */
static kg_result jcs_string(kg_buf *b, const char *s)
{
    KG_GUARD(kg_buf_append_u8(b, '"'));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': KG_GUARD(kg_buf_append_str(b, "\\\"")); break;
        case '\\': KG_GUARD(kg_buf_append_str(b, "\\\\")); break;
        case '\b': KG_GUARD(kg_buf_append_str(b, "\\b")); break;
        case '\f': KG_GUARD(kg_buf_append_str(b, "\\f")); break;
        case '\n': KG_GUARD(kg_buf_append_str(b, "\\n")); break;
        case '\r': KG_GUARD(kg_buf_append_str(b, "\\r")); break;
        case '\t': KG_GUARD(kg_buf_append_str(b, "\\t")); break;
        default:
            if (*p < 0x20)
                KG_GUARD(kg_buf_printf(b, "\\u%04x", *p));
            else
                KG_GUARD(kg_buf_append_u8(b, *p));
        }
    }
    return kg_buf_append_u8(b, '"');
}

kg_result kg_event_digest_v2(uint8_t out[KG_RTMR_LEN], const char *name, const uint8_t *payload,
                             size_t payload_len)
{
    /* dstack event-log V2: SHA-384(JCS({"name":..,"payload":"<hex>","type":134217729})); JCS
     * sorts the keys, so the order is name, payload, type. */
    kg_result rc = KG_ERROR;
    kg_buf j;
    kg_buf_init(&j, 2u * KG_MAX_EVENT_PAYLOAD_LEN + 8u * KG_MAX_EVENT_NAME_LEN + 64u);
    KG_ENSURE_C(payload != NULL || payload_len == 0, KG_ERR_USAGE, "event payload is NULL");
    KG_ENSURE_C(payload_len <= KG_MAX_EVENT_PAYLOAD_LEN, KG_ERR_TOO_LARGE,
                "event payload is %zu bytes, max %u", payload_len, KG_MAX_EVENT_PAYLOAD_LEN);
    KG_GUARD_C(kg_buf_append_str(&j, "{\"name\":"));
    KG_GUARD_C(jcs_string(&j, name));
    KG_GUARD_C(kg_buf_append_str(&j, ",\"payload\":\""));
    KG_GUARD_C(kg_buf_reserve(&j, 2 * payload_len + 1));
    KG_GUARD_C(kg_hex_encode((char *)j.data + j.len, 2 * payload_len + 1, payload, payload_len));
    j.len += 2 * payload_len;
    KG_GUARD_C(kg_buf_printf(&j, "\",\"type\":%u}", KG_EVENT_TYPE_DSTACK));
    KG_GUARD_C(kg_sha384(out, j.data, j.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&j);
    return rc;
}

/* The digest an event's version prescribes. */
static kg_result event_digest(uint8_t out[KG_RTMR_LEN], const kg_event *ev)
{
    if (ev->v2)
        return kg_event_digest_v2(out, ev->name, ev->payload, ev->payload_len);
    return kg_event_digest(out, ev->name, ev->payload, ev->payload_len);
}

kg_result kg_rtmr_extend(uint8_t rtmr[KG_RTMR_LEN], const uint8_t digest[KG_RTMR_LEN])
{
    const void *parts[] = {rtmr, digest};
    const size_t lens[] = {KG_RTMR_LEN, KG_RTMR_LEN};
    uint8_t next[KG_RTMR_LEN];
    KG_GUARD(kg_sha384_parts(next, parts, lens, 2));
    memcpy(rtmr, next, KG_RTMR_LEN);
    return KG_OK;
}

/* ---- the log ------------------------------------------------------------------------------- */

void kg_eventlog_init(kg_eventlog *log)
{
    memset(log, 0, sizeof(*log));
}

void kg_eventlog_free(kg_eventlog *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->count; i++)
        free(log->events[i].payload);
    free(log->events);
    memset(log, 0, sizeof(*log));
}

/* Names are printable ASCII without ':' so "name:payload" has one reading. */
static kg_result check_name(const char *name)
{
    size_t n = strlen(name);
    KG_ENSURE(n <= KG_MAX_EVENT_NAME_LEN, KG_ERR_TOO_LARGE, "event name is %zu bytes, max %u", n,
              KG_MAX_EVENT_NAME_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        KG_ENSURE(c > 0x20 && c < 0x7f && c != ':', KG_ERR_INPUT,
                  "event name '%.*s' has a forbidden character at offset %zu", (int)n, name, i);
    }
    return KG_OK;
}

/* Reserves one more slot; the new element is zeroed. */
static kg_result push_slot(kg_eventlog *log, kg_event **slot)
{
    KG_ENSURE(log->count < KG_MAX_EVENTS, KG_ERR_TOO_LARGE, "event log has more than %u events",
              KG_MAX_EVENTS);
    if (log->count == log->cap) {
        size_t ncap = log->cap == 0 ? 16 : log->cap * 2;
        if (ncap > KG_MAX_EVENTS)
            ncap = KG_MAX_EVENTS;
        kg_event *n = realloc(log->events, ncap * sizeof(*n));
        KG_ENSURE(n != NULL, KG_ERR_NOMEM, "out of memory growing the event log");
        log->events = n;
        log->cap = ncap;
    }
    *slot = &log->events[log->count];
    memset(*slot, 0, sizeof(**slot));
    return KG_OK;
}

static kg_result dup_payload(kg_event *ev, const uint8_t *payload, size_t len)
{
    KG_ENSURE(len <= KG_MAX_EVENT_PAYLOAD_LEN, KG_ERR_TOO_LARGE,
              "event payload is %zu bytes, max %u", len, KG_MAX_EVENT_PAYLOAD_LEN);
    ev->payload = NULL;
    ev->payload_len = len;
    if (len == 0)
        return KG_OK;
    ev->payload = malloc(len);
    KG_ENSURE(ev->payload != NULL, KG_ERR_NOMEM, "out of memory copying an event payload");
    memcpy(ev->payload, payload, len);
    return KG_OK;
}

kg_result kg_eventlog_append(kg_eventlog *log, const char *name, const uint8_t *payload,
                             size_t payload_len)
{
    return kg_eventlog_append_version(log, false, name, payload, payload_len);
}

kg_result kg_eventlog_append_version(kg_eventlog *log, bool v2, const char *name,
                                     const uint8_t *payload, size_t payload_len)
{
    kg_event *ev = NULL;
    KG_GUARD(check_name(name));
    KG_ENSURE(payload_len <= KG_MAX_EVENT_PAYLOAD_LEN, KG_ERR_TOO_LARGE,
              "event payload is %zu bytes, max %u", payload_len, KG_MAX_EVENT_PAYLOAD_LEN);
    KG_GUARD(push_slot(log, &ev));
    ev->imr = KG_EVENT_IMR_RUNTIME;
    ev->event_type = KG_EVENT_TYPE_DSTACK;
    memcpy(ev->name, name, strlen(name) + 1);
    ev->v2 = v2;
    KG_GUARD(dup_payload(ev, payload, payload_len));
    if (kg_failed(event_digest(ev->digest, ev))) {
        free(ev->payload);
        ev->payload = NULL;
        return KG_ERROR;
    }
    log->count++;
    return KG_OK;
}

kg_result kg_eventlog_copy(kg_eventlog *dst, const kg_eventlog *src)
{
    kg_result rc = KG_ERROR;
    kg_eventlog_init(dst);
    for (size_t i = 0; i < src->count; i++) {
        kg_event *ev = NULL;
        KG_GUARD_C(push_slot(dst, &ev));
        *ev = src->events[i];
        KG_GUARD_C(dup_payload(ev, src->events[i].payload, src->events[i].payload_len));
        dst->count++;
    }
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_eventlog_free(dst);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

kg_result kg_eventlog_to_json(kg_buf *out, const kg_eventlog *log)
{
    char digest_hex[2 * KG_RTMR_LEN + 1];
    KG_GUARD(kg_buf_append_str(out, "["));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        KG_GUARD(kg_hex_encode(digest_hex, sizeof(digest_hex), ev->digest, KG_RTMR_LEN));
        /* Names may hold '"' or '\\': let jansson quote them exactly. */
        json_t *name = json_string(ev->name);
        KG_ENSURE(name != NULL, KG_ERR_INPUT, "event name is not valid UTF-8");
        char *name_json = json_dumps(name, JSON_ENCODE_ANY);
        json_decref(name);
        KG_ENSURE(name_json != NULL, KG_ERR_NOMEM, "out of memory encoding an event name");
        kg_result r = kg_buf_printf(out,
                                    "%s{\"imr\":%u,\"event_type\":%u,\"digest\":\"%s\","
                                    "\"event\":%s,%s\"event_payload\":\"",
                                    i ? "," : "", ev->imr, ev->event_type, digest_hex, name_json,
                                    ev->v2 ? "\"version\":2," : "");
        free(name_json);
        KG_GUARD(r);
        KG_GUARD(kg_buf_reserve(out, 2 * ev->payload_len + 1));
        KG_GUARD(kg_hex_encode((char *)out->data + out->len, 2 * ev->payload_len + 1, ev->payload,
                               ev->payload_len));
        out->len += 2 * ev->payload_len;
        KG_GUARD(kg_buf_append_str(out, "\"}"));
    }
    KG_GUARD(kg_buf_append_str(out, "]"));
    return kg_buf_terminate(out);
}

static kg_result get_u32(json_t *obj, const char *key, uint32_t *out, size_t idx)
{
    json_t *v = json_object_get(obj, key);
    KG_ENSURE(json_is_integer(v), KG_ERR_INPUT, "event %zu: '%s' is missing or not an integer", idx,
              key);
    json_int_t x = json_integer_value(v);
    KG_ENSURE(x >= 0 && x <= 0xffffffffLL, KG_ERR_INPUT, "event %zu: '%s' out of range", idx, key);
    *out = (uint32_t)x;
    return KG_OK;
}

static kg_result get_str(json_t *obj, const char *key, const char **s, size_t *len, size_t idx)
{
    json_t *v = json_object_get(obj, key);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "event %zu: '%s' is missing or not a string", idx,
              key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return KG_OK;
}

static kg_result parse_event(kg_event *ev, json_t *el, size_t idx)
{
    const char *s = NULL;
    size_t len = 0, got;
    KG_ENSURE(json_is_object(el), KG_ERR_INPUT, "event %zu is not an object", idx);
    KG_GUARD(get_u32(el, "imr", &ev->imr, idx));
    KG_ENSURE(ev->imr <= 3, KG_ERR_INPUT, "event %zu: imr %u out of range 0..3", idx, ev->imr);
    KG_GUARD(get_u32(el, "event_type", &ev->event_type, idx));
    KG_GUARD(get_str(el, "digest", &s, &len, idx));
    KG_ENSURE(len == 2 * KG_RTMR_LEN, KG_ERR_INPUT, "event %zu: digest must be %u hex chars", idx,
              2 * KG_RTMR_LEN);
    KG_GUARD_CTX(kg_hex_decode(ev->digest, KG_RTMR_LEN, &got, s, len), "event %zu digest", idx);
    KG_ENSURE(got == KG_RTMR_LEN, KG_ERR_INPUT, "event %zu: digest must be %u bytes", idx,
              KG_RTMR_LEN);
    KG_GUARD(get_str(el, "event", &s, &len, idx));
    KG_ENSURE(len <= KG_MAX_EVENT_NAME_LEN && strlen(s) == len, KG_ERR_INPUT,
              "event %zu: name too long or contains NUL", idx);
    memcpy(ev->name, s, len);
    ev->name[len] = '\0';
    if (len > 0)
        KG_GUARD_CTX(check_name(ev->name), "event %zu", idx);
    /* dstack writes "version":2 for an event-log V2 event and omits it for V1 */
    json_t *ver = json_object_get(el, "version");
    if (ver != NULL) {
        KG_ENSURE(json_is_integer(ver) &&
                      (json_integer_value(ver) == 1 || json_integer_value(ver) == 2),
                  KG_ERR_INPUT, "event %zu: 'version' must be 1 or 2", idx);
        ev->v2 = json_integer_value(ver) == 2;
    }
    KG_GUARD(get_str(el, "event_payload", &s, &len, idx));
    KG_ENSURE(len / 2 <= KG_MAX_EVENT_PAYLOAD_LEN, KG_ERR_TOO_LARGE,
              "event %zu: payload is %zu bytes, max %u", idx, len / 2, KG_MAX_EVENT_PAYLOAD_LEN);
    if (len > 0) {
        ev->payload = malloc(len / 2 + 1);
        KG_ENSURE(ev->payload != NULL, KG_ERR_NOMEM, "out of memory");
        KG_GUARD_CTX(kg_hex_decode(ev->payload, len / 2 + 1, &ev->payload_len, s, len),
                     "event %zu payload", idx);
    }
    return KG_OK;
}

kg_result kg_eventlog_parse(kg_eventlog *out, const char *json, size_t json_len)
{
    kg_result rc = KG_ERROR;
    json_t *root = NULL;
    json_error_t jerr;
    kg_eventlog_init(out);
    KG_ENSURE_C(json_len <= KG_MAX_EVENTLOG_JSON_LEN, KG_ERR_TOO_LARGE,
                "event log is %zu bytes, max %u", json_len, KG_MAX_EVENTLOG_JSON_LEN);
    root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE_C(root != NULL, KG_ERR_INPUT, "event log is not JSON: %s (line %d)", jerr.text,
                jerr.line);
    KG_ENSURE_C(json_is_array(root), KG_ERR_INPUT, "event log is not a JSON array");
    KG_ENSURE_C(json_array_size(root) <= KG_MAX_EVENTS, KG_ERR_TOO_LARGE,
                "event log has %zu events, max %u", json_array_size(root), KG_MAX_EVENTS);
    for (size_t i = 0; i < json_array_size(root); i++) {
        kg_event *ev = NULL;
        KG_GUARD_C(push_slot(out, &ev));
        out->count++; /* counted before filling so kg_eventlog_free releases a partial payload */
        KG_GUARD_C(parse_event(ev, json_array_get(root, i), i));
    }
    rc = KG_OK;
cleanup:
    json_decref(root);
    if (kg_failed(rc))
        kg_eventlog_free(out);
    return rc;
}

/* ---- replay and identity ------------------------------------------------------------------- */

kg_result kg_eventlog_replay(uint8_t rtmr3[KG_RTMR_LEN], const kg_eventlog *log)
{
    uint8_t reg[KG_RTMR_LEN] = {0};
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        /* Every RTMR3 event must be a dstack event whose digest is recomputed from its name and
         * payload. An event of another type would be extended with a digest nobody checked,
         * under a label nobody checked: a VM could relabel its real identity events (so they
         * are skipped) and extend someone else's (docs/design.md, "Event log rules"). */
        KG_ENSURE(ev->event_type == KG_EVENT_TYPE_DSTACK, KG_ERR_VERIFY,
                  "event %zu ('%s'): RTMR3 event of type 0x%08x; only dstack runtime events "
                  "(0x%08x) are accepted in RTMR3",
                  i, ev->name, ev->event_type, KG_EVENT_TYPE_DSTACK);
        uint8_t d[KG_RTMR_LEN];
        KG_GUARD(event_digest(d, ev));
        KG_ENSURE(memcmp(d, ev->digest, KG_RTMR_LEN) == 0, KG_ERR_VERIFY,
                  "event %zu ('%s'): digest does not match its name and payload (event-log %s)", i,
                  ev->name, ev->v2 ? "V2" : "V1");
        KG_GUARD(kg_rtmr_extend(reg, ev->digest));
    }
    memcpy(rtmr3, reg, KG_RTMR_LEN);
    return KG_OK;
}

kg_result kg_eventlog_check_rtmr3(const kg_eventlog *log, const uint8_t rtmr3[KG_RTMR_LEN])
{
    uint8_t got[KG_RTMR_LEN];
    KG_GUARD(kg_eventlog_replay(got, log));
    KG_ENSURE(memcmp(got, rtmr3, KG_RTMR_LEN) == 0, KG_ERR_VERIFY,
              "event log replay does not match RTMR3");
    return KG_OK;
}

/* The names the boot flow reserves (docs/design.md, "Event log rules"). */
static const char *const k_reserved[] = {
    KG_EVENT_SYSTEM_PREPARING, KG_EVENT_APP_ID,        KG_EVENT_COMPOSE_HASH, KG_EVENT_INSTANCE_ID,
    KG_EVENT_BOOT_MR_DONE,     KG_EVENT_OS_IMAGE_HASH, KG_EVENT_KEY_PROVIDER, KG_EVENT_SYSTEM_READY,
};
#define N_RESERVED (sizeof(k_reserved) / sizeof(k_reserved[0]))

bool kg_event_name_reserved(const char *name)
{
    for (size_t i = 0; i < N_RESERVED; i++)
        if (strcmp(name, k_reserved[i]) == 0)
            return true;
    return false;
}

static size_t reserved_index(const char *name)
{
    for (size_t i = 0; i < N_RESERVED; i++)
        if (strcmp(name, k_reserved[i]) == 0)
            return i;
    return N_RESERVED;
}

/* Copies a fixed-size identity payload. */
static kg_result take_fixed(uint8_t *dst, size_t want, const kg_event *ev)
{
    KG_ENSURE(ev->payload_len == want, KG_ERR_INPUT, "event '%s' payload is %zu bytes, want %zu",
              ev->name, ev->payload_len, want);
    memcpy(dst, ev->payload, want);
    return KG_OK;
}

/*
 * The rules, each one closing a way to make a log say two things:
 *   - only RTMR3 events count (replay already required them all to be verified dstack events);
 *   - each reserved event appears at most once in the whole log;
 *   - no reserved event follows system-ready (the app runs after it; what it emits is never
 *     identity, and a reserved name there could only be an attempt to look like a boot);
 *   - app-id, compose-hash and instance-id precede boot-mr-done when it is present.
 */
kg_result kg_eventlog_extract(kg_boot_events *out, const kg_eventlog *log)
{
    kg_result rc = KG_ERROR;
    bool seen[N_RESERVED] = {false};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_ENSURE_C(ev->event_type == KG_EVENT_TYPE_DSTACK, KG_ERR_VERIFY,
                    "event %zu ('%s'): RTMR3 event of type 0x%08x is not a dstack event", i,
                    ev->name, ev->event_type);
        size_t r = reserved_index(ev->name);
        if (r == N_RESERVED)
            continue; /* an ordinary event: extended, carries no identity */
        KG_ENSURE_C(!out->system_ready, KG_ERR_INPUT,
                    "event %zu: reserved event '%s' after system-ready", i, ev->name);
        KG_ENSURE_C(!seen[r], KG_ERR_INPUT, "event '%s' appears twice", ev->name);
        seen[r] = true;
        bool identity = strcmp(ev->name, KG_EVENT_APP_ID) == 0 ||
                        strcmp(ev->name, KG_EVENT_COMPOSE_HASH) == 0 ||
                        strcmp(ev->name, KG_EVENT_INSTANCE_ID) == 0;
        KG_ENSURE_C(!identity || !out->boot_mr_done, KG_ERR_INPUT,
                    "event %zu: identity event '%s' after boot-mr-done", i, ev->name);
        if (strcmp(ev->name, KG_EVENT_SYSTEM_READY) == 0) {
            out->system_ready = true;
        } else if (strcmp(ev->name, KG_EVENT_APP_ID) == 0) {
            KG_GUARD_C(take_fixed(out->app_id, KG_APP_ID_LEN, ev));
            out->has_app_id = true;
        } else if (strcmp(ev->name, KG_EVENT_COMPOSE_HASH) == 0) {
            KG_GUARD_C(take_fixed(out->compose_hash, KG_COMPOSE_HASH_LEN, ev));
            out->has_compose_hash = true;
        } else if (strcmp(ev->name, KG_EVENT_INSTANCE_ID) == 0) {
            KG_ENSURE_C(ev->payload_len == 0 || ev->payload_len == KG_INSTANCE_ID_LEN, KG_ERR_INPUT,
                        "event 'instance-id' payload is %zu bytes, want 0 or 20", ev->payload_len);
            if (ev->payload_len)
                memcpy(out->instance_id, ev->payload, ev->payload_len);
            out->instance_id_len = ev->payload_len;
            out->has_instance_id = true;
        } else if (strcmp(ev->name, KG_EVENT_OS_IMAGE_HASH) == 0) {
            KG_GUARD_C(take_fixed(out->os_image_hash, 32, ev));
            out->has_os_image_hash = true;
        } else if (strcmp(ev->name, KG_EVENT_KEY_PROVIDER) == 0) {
            KG_ENSURE_C(ev->payload_len <= KG_MAX_KEY_PROVIDER_LEN, KG_ERR_TOO_LARGE,
                        "event 'key-provider' payload is %zu bytes, max %u", ev->payload_len,
                        KG_MAX_KEY_PROVIDER_LEN);
            if (ev->payload_len)
                memcpy(out->key_provider, ev->payload, ev->payload_len);
            out->key_provider_len = ev->payload_len;
            out->has_key_provider = true;
        } else if (strcmp(ev->name, KG_EVENT_BOOT_MR_DONE) == 0) {
            out->boot_mr_done = true;
        }
    }
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- derived measurements ------------------------------------------------------------------ */

kg_result kg_measure_os_image_hash(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                                   const uint8_t rtmr[4][KG_RTMR_LEN])
{
    const void *parts[] = {mrtd, rtmr[0], rtmr[1], rtmr[2]};
    const size_t lens[] = {KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN};
    return kg_sha256_parts(out, parts, lens, 4);
}

kg_result kg_measure_mr_system(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                               const uint8_t rtmr[4][KG_RTMR_LEN], const uint8_t *key_provider,
                               size_t key_provider_len)
{
    uint8_t kp[32] = {0};
    if (key_provider != NULL)
        KG_GUARD(kg_sha256(kp, key_provider, key_provider_len));
    const void *parts[] = {mrtd, rtmr[0], rtmr[1], rtmr[2], kp};
    const size_t lens[] = {KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN, 32};
    return kg_sha256_parts(out, parts, lens, 5);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

kg_result kg_measure_mr_aggregated(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                                   const uint8_t rtmr[4][KG_RTMR_LEN],
                                   const uint8_t mr_config_id[KG_RTMR_LEN],
                                   const uint8_t mr_owner[KG_RTMR_LEN],
                                   const uint8_t mr_owner_config[KG_RTMR_LEN])
{
    const void *parts[] = {mrtd,    rtmr[0],      rtmr[1],  rtmr[2],
                           rtmr[3], mr_config_id, mr_owner, mr_owner_config};
    const size_t lens[] = {KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN,
                           KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN, KG_RTMR_LEN};
    bool extra = !all_zero(mr_config_id, KG_RTMR_LEN) || !all_zero(mr_owner, KG_RTMR_LEN) ||
                 !all_zero(mr_owner_config, KG_RTMR_LEN);
    return kg_sha256_parts(out, parts, lens, extra ? 8 : 5);
}
