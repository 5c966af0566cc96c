/* attestation.c - dstack's VersionedAttestation (RA-TLS extension .8, and the attestation inside
 * a v2 CSR): V0 SCALE and V1 msgpack, parse and encode (layouts in include/keygate/ratls.h). */
#include "keygate/ratls.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/hash.h"
#include "ratls/msgpack.h"
#include "ratls/scale.h"

#define MAX_STRUCT_FIELDS 16u /* a msgpack struct map larger than this is not one of dstack's */
#define MAX_DIGEST_LEN 64u    /* a TDX event digest is 48 bytes (SHA-384) or empty (stripped) */
#define MAX_PREIMAGE_HEX (4u * KG_MAX_EVENT_PAYLOAD_LEN + 8u * KG_MAX_EVENT_NAME_LEN + 256u)

/* AttestationQuote variants, in declaration (= SCALE index) order. */
static const char *const k_quote_variants[] = {
    "DstackTdx", "DstackGcpTdx", "DstackNitroEnclave", "DstackAmdSevSnp", "DstackAwsNitroTpm",
};
#define N_QUOTE_VARIANTS ((uint8_t)(sizeof(k_quote_variants) / sizeof(k_quote_variants[0])))

void kg_ratls_attestation_free(kg_ratls_attestation *a)
{
    if (a == NULL)
        return;
    kg_buf_free(&a->quote);
    kg_eventlog_free(&a->runtime_events);
    kg_buf_free(&a->config);
    memset(a, 0, sizeof(*a));
}

static void attestation_init(kg_ratls_attestation *a)
{
    memset(a, 0, sizeof(*a));
    kg_buf_init(&a->quote, KG_MAX_TEE_QUOTE_LEN);
    kg_eventlog_init(&a->runtime_events);
    kg_buf_init(&a->config, KG_RATLS_MAX_ATTESTATION_CONFIG_LEN + 1);
}

/* ---- shared checks --------------------------------------------------------------------------- */

/* A runtime event: name as a C string (no NUL inside), appended with its digest computed. */
static kg_result add_runtime_event(kg_ratls_attestation *a, const uint8_t *name, size_t name_len,
                                   const uint8_t *payload, size_t payload_len, bool v2, size_t idx)
{
    char cname[KG_MAX_EVENT_NAME_LEN + 1];
    KG_ENSURE(name_len <= KG_MAX_EVENT_NAME_LEN, KG_ERR_TOO_LARGE,
              "runtime event %zu: name is %zu bytes, max %u", idx, name_len, KG_MAX_EVENT_NAME_LEN);
    KG_ENSURE(memchr(name, 0, name_len) == NULL, KG_ERR_INPUT,
              "runtime event %zu: name contains NUL", idx);
    memcpy(cname, name, name_len);
    cname[name_len] = '\0';
    KG_GUARD_CTX(kg_eventlog_append_version(&a->runtime_events, v2, cname, payload, payload_len),
                 "runtime event %zu", idx);
    return KG_OK;
}

/* One entry of the TDX event log carried alongside. Identity never comes from it; an RTMR3
 * dstack entry must still say nothing false: a stated digest equals the recomputed one, and a
 * V2 entry's preimage (dstack's validate_v2_preimages) hashes to that digest. */
typedef struct platform_event {
    uint32_t imr, event_type;
    const uint8_t *digest;
    size_t digest_len;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *payload;
    size_t payload_len;
    bool v2;
    const uint8_t *preimage_hex; /* NULL when absent */
    size_t preimage_hex_len;
} platform_event;

static kg_result check_platform_event(const platform_event *e, size_t idx)
{
    KG_ENSURE(e->imr <= 3, KG_ERR_INPUT, "TDX event %zu: imr %u out of range 0..3", idx, e->imr);
    KG_ENSURE(e->digest_len == 0 || e->digest_len == KG_RTMR_LEN, KG_ERR_INPUT,
              "TDX event %zu: digest is %zu bytes, want 0 or %u", idx, e->digest_len, KG_RTMR_LEN);
    if (e->imr != KG_EVENT_IMR_RUNTIME || e->event_type != KG_EVENT_TYPE_DSTACK) {
        KG_ENSURE(!e->v2, KG_ERR_INPUT, "TDX event %zu: event-log version 2 on a non-dstack event",
                  idx);
        return KG_OK;
    }
    /* recompute through a one-event log (it checks the name rules too) */
    kg_result rc = KG_ERROR;
    kg_ratls_attestation tmp;
    uint8_t *pre = NULL;
    attestation_init(&tmp);
    KG_GUARD_CTX_C(
        add_runtime_event(&tmp, e->name, e->name_len, e->payload, e->payload_len, e->v2, idx),
        "TDX event log");
    const uint8_t *want = tmp.runtime_events.events[0].digest;
    KG_ENSURE_C(e->digest_len == 0 || memcmp(e->digest, want, KG_RTMR_LEN) == 0, KG_ERR_VERIFY,
                "TDX event %zu ('%s'): digest does not match its name and payload", idx,
                tmp.runtime_events.events[0].name);
    KG_ENSURE_C(!e->v2 || e->preimage_hex != NULL, KG_ERR_INPUT,
                "TDX event %zu: event-log V2 event without its digest preimage", idx);
    if (e->preimage_hex != NULL) {
        size_t n = 0;
        uint8_t h[KG_RTMR_LEN];
        pre = malloc(e->preimage_hex_len / 2 + 1);
        KG_ENSURE_C(pre != NULL, KG_ERR_NOMEM, "out of memory");
        KG_GUARD_CTX_C(kg_hex_decode(pre, e->preimage_hex_len / 2 + 1, &n,
                                     (const char *)e->preimage_hex, e->preimage_hex_len),
                       "TDX event %zu preimage", idx);
        KG_GUARD_C(kg_sha384(h, pre, n));
        KG_ENSURE_C(memcmp(h, want, KG_RTMR_LEN) == 0, KG_ERR_VERIFY,
                    "TDX event %zu: preimage is not the canonical form of the event", idx);
    }
    rc = KG_OK;
cleanup:
    free(pre);
    kg_ratls_attestation_free(&tmp);
    return rc;
}

/* ---- V0: SCALE ------------------------------------------------------------------------------- */

static kg_result scale_tdx_event(kg_reader *r, size_t idx)
{
    platform_event e = {0};
    KG_GUARD(kg_reader_u32le(r, &e.imr, "TdxEvent.imr"));
    KG_GUARD(kg_reader_u32le(r, &e.event_type, "TdxEvent.event_type"));
    KG_GUARD(kg_scale_bytes(r, &e.digest, &e.digest_len, MAX_DIGEST_LEN, "TdxEvent.digest"));
    KG_GUARD(kg_scale_str(r, &e.name, &e.name_len, KG_RATLS_MAX_PLATFORM_EVENT_NAME_LEN,
                          "TdxEvent.event"));
    KG_GUARD(kg_scale_bytes(r, &e.payload, &e.payload_len, KG_MAX_EVENT_PAYLOAD_LEN,
                            "TdxEvent.event_payload"));
    return check_platform_event(&e, idx);
}

static kg_result parse_scale(kg_ratls_attestation *a, kg_reader *r)
{
    uint8_t v, q;
    const uint8_t *p, *name;
    size_t n, name_len;
    KG_GUARD(kg_scale_enum(r, &v, 1, "VersionedAttestation"));
    KG_GUARD(kg_scale_enum(r, &q, N_QUOTE_VARIANTS, "AttestationQuote"));
    KG_ENSURE(q == 0, KG_ERR_DENIED,
              "attestation quote variant %s is not supported (only DstackTdx)",
              k_quote_variants[q]);
    KG_GUARD(kg_scale_bytes(r, &p, &n, KG_MAX_TEE_QUOTE_LEN, "TdxQuote.quote"));
    KG_GUARD(kg_buf_append(&a->quote, p, n));
    /* TdxEvent: at least 4 + 4 + 1 + 1 + 1 bytes */
    KG_GUARD(kg_scale_len(r, &n, KG_MAX_EVENTS, 11, "TdxQuote.event_log"));
    for (size_t i = 0; i < n; i++)
        KG_GUARD(scale_tdx_event(r, i));
    a->n_platform_events = n;
    /* RuntimeEvent: at least 1 + 1 bytes; V0 cannot say V2, so every event is V1 */
    KG_GUARD(kg_scale_len(r, &n, KG_MAX_EVENTS, 2, "Attestation.runtime_events"));
    for (size_t i = 0; i < n; i++) {
        size_t plen;
        KG_GUARD(kg_scale_str(r, &name, &name_len, KG_MAX_EVENT_NAME_LEN, "RuntimeEvent.event"));
        KG_GUARD(kg_scale_bytes(r, &p, &plen, KG_MAX_EVENT_PAYLOAD_LEN, "RuntimeEvent.payload"));
        KG_GUARD(add_runtime_event(a, name, name_len, p, plen, false, i));
    }
    KG_GUARD(kg_reader_read(r, a->report_data, 64, "Attestation.report_data"));
    KG_GUARD(kg_scale_str(r, &p, &n, KG_RATLS_MAX_ATTESTATION_CONFIG_LEN, "Attestation.config"));
    KG_GUARD(kg_buf_append(&a->config, p, n));
    /* Attestation.report is () and encodes to nothing */
    return kg_reader_expect_end(r, "the V0 attestation");
}

/* ---- V1: msgpack ----------------------------------------------------------------------------- */

/* Reads a map key and returns its index in keys[] (n entries); unknown or repeated keys fail. */
static kg_result mp_key(kg_reader *r, size_t *idx, const char *const *keys, size_t n,
                        uint32_t *seen, const char *what)
{
    const uint8_t *k;
    size_t klen;
    KG_GUARD(kg_mp_str(r, &k, &klen, 64, what));
    for (size_t i = 0; i < n; i++) {
        if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0) {
            KG_ENSURE((*seen & (1u << i)) == 0, KG_ERR_INPUT, "%s: key '%s' appears twice", what,
                      keys[i]);
            *seen |= 1u << i;
            *idx = i;
            return KG_OK;
        }
    }
    KG_BAIL(KG_ERR_INPUT, "%s: unknown key '%.*s'", what, (int)klen, (const char *)k);
}

/* Every key whose bit is in `required` was seen. */
static kg_result mp_required(uint32_t seen, uint32_t required, const char *const *keys, size_t n,
                             const char *what)
{
    for (size_t i = 0; i < n; i++)
        KG_ENSURE(!(required & (1u << i)) || (seen & (1u << i)), KG_ERR_INPUT,
                  "%s: missing key '%s'", what, keys[i]);
    return KG_OK;
}

static kg_result mp_u32(kg_reader *r, uint32_t *out, const char *field)
{
    uint64_t v;
    KG_GUARD(kg_mp_uint(r, &v, field));
    KG_ENSURE(v <= 0xffffffffu, KG_ERR_INPUT, "'%s': %llu does not fit 32 bits", field,
              (unsigned long long)v);
    *out = (uint32_t)v;
    return KG_OK;
}

/* An EventLogVersion: 1 or 2. */
static kg_result mp_log_version(kg_reader *r, bool *v2, const char *field)
{
    uint64_t v;
    KG_GUARD(kg_mp_uint(r, &v, field));
    KG_ENSURE(v == 1 || v == 2, KG_ERR_INPUT, "'%s': unknown event log version %llu", field,
              (unsigned long long)v);
    *v2 = v == 2;
    return KG_OK;
}

/* bin or array-of-bytes into a scratch buffer, borrowed back as p/n */
static kg_result mp_bytes_tmp(kg_reader *r, kg_buf *tmp, size_t max, const char *field)
{
    kg_buf_reset(tmp);
    return kg_mp_bytes(r, tmp, max, field);
}

static kg_result mp_tdx_event(kg_reader *r, size_t idx, kg_buf *digest, kg_buf *payload)
{
    static const char *const keys[] = {"imr",           "event_type", "digest",  "event",
                                       "event_payload", "version",    "preimage"};
    const uint32_t required = 1u | 2u | 8u | 16u; /* digest has a serde default */
    platform_event e = {0};
    uint32_t seen = 0;
    size_t n;
    KG_GUARD(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, "TdxEvent"));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        KG_GUARD(mp_key(r, &k, keys, 7, &seen, "TdxEvent"));
        switch (k) {
        case 0: KG_GUARD(mp_u32(r, &e.imr, "TdxEvent.imr")); break;
        case 1: KG_GUARD(mp_u32(r, &e.event_type, "TdxEvent.event_type")); break;
        case 2: KG_GUARD(mp_bytes_tmp(r, digest, MAX_DIGEST_LEN, "TdxEvent.digest")); break;
        case 3:
            KG_GUARD(kg_mp_str(r, &e.name, &e.name_len, KG_RATLS_MAX_PLATFORM_EVENT_NAME_LEN,
                               "TdxEvent.event"));
            break;
        case 4:
            KG_GUARD(mp_bytes_tmp(r, payload, KG_MAX_EVENT_PAYLOAD_LEN, "TdxEvent.event_payload"));
            break;
        case 5: KG_GUARD(mp_log_version(r, &e.v2, "TdxEvent.version")); break;
        default: {
            kg_mp_type t;
            KG_GUARD(kg_mp_peek(r, &t, "TdxEvent.preimage"));
            if (t == KG_MP_NIL)
                KG_GUARD(kg_mp_nil(r, "TdxEvent.preimage"));
            else
                KG_GUARD(kg_mp_str(r, &e.preimage_hex, &e.preimage_hex_len, MAX_PREIMAGE_HEX,
                                   "TdxEvent.preimage"));
        }
        }
    }
    KG_GUARD_CTX(mp_required(seen, required, keys, 7, "TdxEvent"), "TDX event %zu", idx);
    if (seen & 4u) {
        e.digest = digest->data;
        e.digest_len = digest->len;
    }
    e.payload = payload->data;
    e.payload_len = payload->len;
    return check_platform_event(&e, idx);
}

/* Reads {"kind": <str>, "data": ...} up to the data value; kind copied into kind[32]. */
static kg_result mp_tagged(kg_reader *r, char kind[32], const char *what)
{
    size_t n;
    const uint8_t *k, *v;
    size_t klen, vlen;
    KG_GUARD(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, what));
    /* serde writes the tag first; keygate reads it in that order only */
    KG_ENSURE(n == 2, KG_ERR_INPUT, "%s: want a map of kind and data, got %zu entries", what, n);
    KG_GUARD(kg_mp_str(r, &k, &klen, 64, what));
    KG_ENSURE(klen == 4 && memcmp(k, "kind", 4) == 0, KG_ERR_INPUT, "%s: first key must be 'kind'",
              what);
    KG_GUARD(kg_mp_str(r, &v, &vlen, 31, what));
    memcpy(kind, v, vlen);
    kind[vlen] = '\0';
    KG_GUARD(kg_mp_str(r, &k, &klen, 64, what));
    KG_ENSURE(klen == 4 && memcmp(k, "data", 4) == 0, KG_ERR_INPUT, "%s: second key must be 'data'",
              what);
    return KG_OK;
}

static kg_result mp_platform(kg_ratls_attestation *a, kg_reader *r, kg_buf *t1, kg_buf *t2)
{
    static const char *const keys[] = {"quote", "event_log"};
    static const char *const other[] = {"gcp-tdx", "nitro-enclave", "aws-nitro-tpm", "sev-snp"};
    char kind[32];
    uint32_t seen = 0;
    size_t n;
    KG_GUARD(mp_tagged(r, kind, "PlatformEvidence"));
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        KG_ENSURE(strcmp(kind, other[i]) != 0, KG_ERR_DENIED,
                  "attestation platform '%s' is not supported (only tdx)", kind);
    KG_ENSURE(strcmp(kind, "tdx") == 0, KG_ERR_INPUT, "unknown attestation platform '%s'", kind);
    KG_GUARD(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, "PlatformEvidence::Tdx"));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        KG_GUARD(mp_key(r, &k, keys, 2, &seen, "PlatformEvidence::Tdx"));
        if (k == 0) {
            KG_GUARD(kg_mp_bytes(r, &a->quote, KG_MAX_TEE_QUOTE_LEN, "quote"));
        } else {
            size_t m;
            KG_GUARD(kg_mp_array(r, &m, KG_MAX_EVENTS, "event_log"));
            for (size_t j = 0; j < m; j++)
                KG_GUARD(mp_tdx_event(r, j, t1, t2));
            a->n_platform_events = m;
        }
    }
    return mp_required(seen, 3u, keys, 2, "PlatformEvidence::Tdx");
}

static kg_result mp_runtime_event(kg_ratls_attestation *a, kg_reader *r, size_t idx,
                                  kg_buf *payload)
{
    static const char *const keys[] = {"event", "payload", "version"};
    const uint8_t *name = NULL;
    size_t name_len = 0, n;
    bool v2 = false;
    uint32_t seen = 0;
    kg_buf_reset(payload);
    KG_GUARD(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, "RuntimeEvent"));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        KG_GUARD(mp_key(r, &k, keys, 3, &seen, "RuntimeEvent"));
        if (k == 0)
            KG_GUARD(kg_mp_str(r, &name, &name_len, KG_MAX_EVENT_NAME_LEN, "RuntimeEvent.event"));
        else if (k == 1)
            KG_GUARD(mp_bytes_tmp(r, payload, KG_MAX_EVENT_PAYLOAD_LEN, "RuntimeEvent.payload"));
        else
            KG_GUARD(mp_log_version(r, &v2, "RuntimeEvent.version"));
    }
    KG_GUARD_CTX(mp_required(seen, 3u, keys, 3, "RuntimeEvent"), "runtime event %zu", idx);
    return add_runtime_event(a, name, name_len, payload->data, payload->len, v2, idx);
}

static kg_result mp_stack(kg_ratls_attestation *a, kg_reader *r, kg_buf *tmp)
{
    static const char *const keys[] = {"report_data", "runtime_events", "config"};
    char kind[32];
    uint32_t seen = 0;
    size_t n;
    KG_GUARD(mp_tagged(r, kind, "StackEvidence"));
    KG_ENSURE(strcmp(kind, "dstack-pod") != 0, KG_ERR_DENIED,
              "attestation stack 'dstack-pod' is not supported (only dstack)");
    KG_ENSURE(strcmp(kind, "dstack") == 0, KG_ERR_INPUT, "unknown attestation stack '%s'", kind);
    KG_GUARD(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, "StackEvidence::Dstack"));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        KG_GUARD(mp_key(r, &k, keys, 3, &seen, "StackEvidence::Dstack"));
        if (k == 0) {
            KG_GUARD(mp_bytes_tmp(r, tmp, 64, "report_data"));
            KG_ENSURE(tmp->len == 64, KG_ERR_INPUT, "'report_data' is %zu bytes, want 64",
                      tmp->len);
            memcpy(a->report_data, tmp->data, 64);
        } else if (k == 1) {
            size_t m;
            KG_GUARD(kg_mp_array(r, &m, KG_MAX_EVENTS, "runtime_events"));
            for (size_t j = 0; j < m; j++)
                KG_GUARD(mp_runtime_event(a, r, j, tmp));
        } else {
            const uint8_t *p;
            size_t plen;
            KG_GUARD(kg_mp_str(r, &p, &plen, KG_RATLS_MAX_ATTESTATION_CONFIG_LEN, "config"));
            KG_GUARD(kg_buf_append(&a->config, p, plen));
        }
    }
    return mp_required(seen, 7u, keys, 3, "StackEvidence::Dstack");
}

static kg_result parse_msgpack(kg_ratls_attestation *a, kg_reader *r)
{
    static const char *const keys[] = {"version", "platform", "stack"};
    kg_result rc = KG_ERROR;
    kg_buf t1, t2;
    uint32_t seen = 0;
    size_t n;
    kg_buf_init(&t1, KG_MAX_EVENT_PAYLOAD_LEN);
    kg_buf_init(&t2, KG_MAX_EVENT_PAYLOAD_LEN);
    KG_GUARD_C(kg_mp_map(r, &n, MAX_STRUCT_FIELDS, "Attestation"));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        KG_GUARD_C(mp_key(r, &k, keys, 3, &seen, "Attestation"));
        if (k == 0) {
            uint64_t v;
            KG_GUARD_C(kg_mp_uint(r, &v, "version"));
            KG_ENSURE_C(v == 1, KG_ERR_INPUT, "unsupported attestation version %llu (want 1)",
                        (unsigned long long)v);
        } else if (k == 1) {
            KG_GUARD_CTX_C(mp_platform(a, r, &t1, &t2), "platform");
        } else {
            KG_GUARD_CTX_C(mp_stack(a, r, &t1), "stack");
        }
    }
    KG_GUARD_C(mp_required(seen, 7u, keys, 3, "Attestation"));
    KG_GUARD_C(kg_reader_expect_end(r, "the V1 attestation"));
    rc = KG_OK;
cleanup:
    kg_buf_free(&t1);
    kg_buf_free(&t2);
    return rc;
}

kg_result kg_ratls_attestation_parse(kg_ratls_attestation *out, const uint8_t *data, size_t len)
{
    kg_result rc = KG_ERROR;
    kg_reader r;
    attestation_init(out);
    KG_ENSURE_C(len <= KG_RATLS_MAX_ATTESTATION_LEN, KG_ERR_TOO_LARGE,
                "attestation is %zu bytes, max %u", len, KG_RATLS_MAX_ATTESTATION_LEN);
    KG_ENSURE_C(len > 0, KG_ERR_TRUNCATED, "attestation is empty");
    kg_reader_init(&r, data, len);
    uint8_t first = data[0];
    if (first == 0x00) {
        out->wire = KG_RATLS_ATTESTATION_V0;
        KG_GUARD_CTX_C(parse_scale(out, &r), "V0 (SCALE) attestation");
    } else if ((first >= 0x80 && first <= 0x8f) || first == 0xde || first == 0xdf) {
        out->wire = KG_RATLS_ATTESTATION_V1;
        KG_GUARD_CTX_C(parse_msgpack(out, &r), "V1 (msgpack) attestation");
    } else {
        KG_BAIL_C(KG_ERR_INPUT, "unknown attestation wire format (first byte 0x%02x)", first);
    }
    KG_GUARD_C(kg_buf_terminate(&out->config));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        kg_ratls_attestation_free(out);
        attestation_init(out);
    }
    return rc;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static kg_result encode_scale(kg_buf *out, const uint8_t *quote, size_t quote_len,
                              const kg_eventlog *log, size_t n_rt, const uint8_t rd[64],
                              const char *config)
{
    KG_GUARD(kg_buf_append_u8(out, 0x00)); /* VersionedAttestation::V0 */
    KG_GUARD(kg_buf_append_u8(out, 0x00)); /* AttestationQuote::DstackTdx */
    KG_GUARD(kg_scale_put_bytes(out, quote, quote_len));
    KG_GUARD(kg_scale_put_compact(out, n_rt));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_GUARD(kg_scale_put_u32(out, ev->imr));
        KG_GUARD(kg_scale_put_u32(out, ev->event_type));
        KG_GUARD(kg_scale_put_bytes(out, ev->digest, KG_RTMR_LEN));
        KG_GUARD(kg_scale_put_str(out, ev->name, strlen(ev->name)));
        KG_GUARD(kg_scale_put_bytes(out, ev->payload, ev->payload_len));
    }
    KG_GUARD(kg_scale_put_compact(out, n_rt));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_GUARD(kg_scale_put_str(out, ev->name, strlen(ev->name)));
        KG_GUARD(kg_scale_put_bytes(out, ev->payload, ev->payload_len));
    }
    KG_GUARD(kg_buf_append(out, rd, 64));
    return kg_scale_put_str(out, config, strlen(config));
}

/* The V2 digest preimage as dstack's fill_preimage writes it: hex of the canonical JSON. */
static kg_result put_v2_preimage(kg_buf *out, const kg_event *ev)
{
    kg_result rc = KG_ERROR;
    kg_buf j, h;
    kg_buf_init(&j, 2u * KG_MAX_EVENT_PAYLOAD_LEN + 8u * KG_MAX_EVENT_NAME_LEN + 64u);
    kg_buf_init(&h, MAX_PREIMAGE_HEX + 1);
    /* name is printable ASCII without ':' (kg_eventlog rules): only '"' and '\\' need escaping */
    KG_GUARD_C(kg_buf_append_str(&j, "{\"name\":\""));
    for (const char *c = ev->name; *c; c++) {
        if (*c == '"' || *c == '\\')
            KG_GUARD_C(kg_buf_append_u8(&j, '\\'));
        KG_GUARD_C(kg_buf_append_u8(&j, (uint8_t)*c));
    }
    KG_GUARD_C(kg_buf_append_str(&j, "\",\"payload\":\""));
    for (size_t i = 0; i < ev->payload_len; i++)
        KG_GUARD_C(kg_buf_printf(&j, "%02x", ev->payload[i]));
    KG_GUARD_C(kg_buf_printf(&j, "\",\"type\":%u}", KG_EVENT_TYPE_DSTACK));
    KG_GUARD_C(kg_buf_reserve(&h, 2 * j.len + 1));
    KG_GUARD_C(kg_hex_encode((char *)h.data, 2 * j.len + 1, j.data, j.len));
    h.len = 2 * j.len;
    KG_GUARD_C(kg_mp_put_str(out, (const char *)h.data, h.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&j);
    kg_buf_free(&h);
    return rc;
}

static kg_result encode_msgpack(kg_buf *out, const uint8_t *quote, size_t quote_len,
                                const kg_eventlog *log, size_t n_rt, const uint8_t rd[64],
                                const char *config)
{
    /* rmp-serde's to_vec_named: structs as maps in declaration order, plain Vec<u8> as arrays
     * of integers, serde_human_bytes fields as bin, V1 event versions omitted */
    KG_GUARD(kg_mp_put_map(out, 3));
    KG_GUARD(kg_mp_put_cstr(out, "version"));
    KG_GUARD(kg_mp_put_uint(out, 1));
    KG_GUARD(kg_mp_put_cstr(out, "platform"));
    KG_GUARD(kg_mp_put_map(out, 2));
    KG_GUARD(kg_mp_put_cstr(out, "kind"));
    KG_GUARD(kg_mp_put_cstr(out, "tdx"));
    KG_GUARD(kg_mp_put_cstr(out, "data"));
    KG_GUARD(kg_mp_put_map(out, 2));
    KG_GUARD(kg_mp_put_cstr(out, "quote"));
    KG_GUARD(kg_mp_put_u8_array(out, quote, quote_len));
    KG_GUARD(kg_mp_put_cstr(out, "event_log"));
    KG_GUARD(kg_mp_put_array(out, n_rt));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_GUARD(kg_mp_put_map(out, ev->v2 ? 7 : 5));
        KG_GUARD(kg_mp_put_cstr(out, "imr"));
        KG_GUARD(kg_mp_put_uint(out, ev->imr));
        KG_GUARD(kg_mp_put_cstr(out, "event_type"));
        KG_GUARD(kg_mp_put_uint(out, ev->event_type));
        KG_GUARD(kg_mp_put_cstr(out, "digest"));
        KG_GUARD(kg_mp_put_bin(out, ev->digest, KG_RTMR_LEN));
        KG_GUARD(kg_mp_put_cstr(out, "event"));
        KG_GUARD(kg_mp_put_cstr(out, ev->name));
        KG_GUARD(kg_mp_put_cstr(out, "event_payload"));
        KG_GUARD(kg_mp_put_bin(out, ev->payload, ev->payload_len));
        if (ev->v2) {
            KG_GUARD(kg_mp_put_cstr(out, "version"));
            KG_GUARD(kg_mp_put_uint(out, 2));
            KG_GUARD(kg_mp_put_cstr(out, "preimage"));
            KG_GUARD(put_v2_preimage(out, ev));
        }
    }
    KG_GUARD(kg_mp_put_cstr(out, "stack"));
    KG_GUARD(kg_mp_put_map(out, 2));
    KG_GUARD(kg_mp_put_cstr(out, "kind"));
    KG_GUARD(kg_mp_put_cstr(out, "dstack"));
    KG_GUARD(kg_mp_put_cstr(out, "data"));
    KG_GUARD(kg_mp_put_map(out, 3));
    KG_GUARD(kg_mp_put_cstr(out, "report_data"));
    KG_GUARD(kg_mp_put_u8_array(out, rd, 64));
    KG_GUARD(kg_mp_put_cstr(out, "runtime_events"));
    KG_GUARD(kg_mp_put_array(out, n_rt));
    for (size_t i = 0; i < log->count; i++) {
        const kg_event *ev = &log->events[i];
        if (ev->imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_GUARD(kg_mp_put_map(out, ev->v2 ? 3 : 2));
        KG_GUARD(kg_mp_put_cstr(out, "event"));
        KG_GUARD(kg_mp_put_cstr(out, ev->name));
        KG_GUARD(kg_mp_put_cstr(out, "payload"));
        KG_GUARD(kg_mp_put_bin(out, ev->payload, ev->payload_len));
        if (ev->v2) {
            KG_GUARD(kg_mp_put_cstr(out, "version"));
            KG_GUARD(kg_mp_put_uint(out, 2));
        }
    }
    KG_GUARD(kg_mp_put_cstr(out, "config"));
    return kg_mp_put_cstr(out, config);
}

kg_result kg_ratls_attestation_encode(kg_buf *out, kg_ratls_attestation_wire wire,
                                      const uint8_t *quote, size_t quote_len,
                                      const kg_eventlog *log, const uint8_t report_data[64],
                                      const char *config)
{
    size_t n_rt = 0;
    bool any_v2 = false;
    if (config == NULL)
        config = "";
    KG_ENSURE(quote_len <= KG_MAX_TEE_QUOTE_LEN, KG_ERR_TOO_LARGE, "quote is %zu bytes", quote_len);
    KG_ENSURE(strlen(config) <= KG_RATLS_MAX_ATTESTATION_CONFIG_LEN, KG_ERR_TOO_LARGE,
              "attestation config is %zu bytes, max %u", strlen(config),
              KG_RATLS_MAX_ATTESTATION_CONFIG_LEN);
    for (size_t i = 0; i < log->count; i++) {
        if (log->events[i].imr != KG_EVENT_IMR_RUNTIME)
            continue;
        KG_ENSURE(log->events[i].event_type == KG_EVENT_TYPE_DSTACK, KG_ERR_USAGE,
                  "event %zu: only dstack runtime events go into an attestation", i);
        any_v2 |= log->events[i].v2;
        n_rt++;
    }
    if (wire == KG_RATLS_ATTESTATION_V0) {
        KG_ENSURE(!any_v2, KG_ERR_USAGE,
                  "a V0 (SCALE) attestation cannot carry event-log V2 events");
        return encode_scale(out, quote, quote_len, log, n_rt, report_data, config);
    }
    KG_ENSURE(wire == KG_RATLS_ATTESTATION_V1, KG_ERR_USAGE, "unknown attestation wire %d",
              (int)wire);
    return encode_msgpack(out, quote, quote_len, log, n_rt, report_data, config);
}
