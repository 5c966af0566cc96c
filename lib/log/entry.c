/* entry.c - the log entry: canonical bytes of one decision (docs/design.md, "The decision
 * log"). Fixed field order, big-endian integers, length-prefixed strings; absent fields are
 * explicit and zero-filled, so one decision has exactly one encoding. */
#include "keygate/tlog.h"

#include <string.h>

#define F_APP_ID 0x01u
#define F_COMPOSE 0x02u
#define F_DEVICE 0x04u

static kg_result put_u64(kg_buf *b, uint64_t v)
{
    return kg_buf_append_u64be(b, v);
}

static kg_result put_str(kg_buf *b, const kg_log_str *s)
{
    KG_ENSURE(!s->present || (s->len <= KG_LOG_MAX_STR && (s->len == 0 || s->p != NULL) &&
                              memchr(s->p ? s->p : "", 0, s->len) == NULL),
              KG_ERR_INPUT, "log entry: string field out of its cap");
    KG_GUARD(kg_buf_append_u8(b, s->present ? 1 : 0));
    size_t n = s->present ? s->len : 0;
    KG_GUARD(kg_buf_append_u8(b, (uint8_t)(n >> 8)));
    KG_GUARD(kg_buf_append_u8(b, (uint8_t)n));
    return n ? kg_buf_append(b, s->p, n) : KG_OK;
}

static kg_log_str cstr(const char *s, size_t cap)
{
    return (kg_log_str){.present = true, .p = s, .len = strnlen(s, cap)};
}

/* bytes if present, zeros otherwise */
static kg_result put_opt(kg_buf *b, bool present, const uint8_t *p, size_t n)
{
    static const uint8_t zeros[64] = {0};
    return kg_buf_append(b, present ? p : zeros, n);
}

kg_result kg_log_entry_encode(kg_buf *out, const kg_log_entry *e)
{
    size_t start = out->len;
    kg_result rc = KG_ERROR;
    KG_GUARD_C(kg_buf_append_u8(out, KG_LOG_ENTRY_VERSION));
    KG_GUARD_C(put_u64(out, e->audit_id));
    KG_GUARD_C(put_u64(out, e->time_ms));
    KG_GUARD_C(kg_buf_append_u8(out, e->allowed ? 1 : 0));
    KG_GUARD_C(put_str(out, &e->method));
    KG_GUARD_C(put_str(out, &e->peer));
    KG_GUARD_C(put_str(out, &e->reason));
    KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)e->who));
    if (e->who == KG_LOG_WHO_VERIFIED) {
        const kg_boot_identity *id = &e->identity;
        KG_ENSURE_C((id->instance_id_len == 0 || id->instance_id_len == KG_INSTANCE_ID_LEN) &&
                        id->n_advisory_ids <= KG_MAX_ADVISORY_IDS,
                    KG_ERR_INPUT, "log entry: identity out of its caps");
        uint8_t flags =
            (uint8_t)((id->has_app_id ? F_APP_ID : 0) | (id->has_compose_hash ? F_COMPOSE : 0) |
                      (id->has_device_id ? F_DEVICE : 0));
        KG_GUARD_C(kg_buf_append_u8(out, flags));
        KG_GUARD_C(put_opt(out, id->has_app_id, id->app_id, KG_APP_ID_LEN));
        KG_GUARD_C(put_opt(out, id->has_compose_hash, id->compose_hash, KG_COMPOSE_HASH_LEN));
        KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)id->instance_id_len));
        KG_GUARD_C(put_opt(out, id->instance_id_len != 0, id->instance_id, KG_INSTANCE_ID_LEN));
        KG_GUARD_C(put_opt(out, id->has_device_id, id->device_id, KG_DEVICE_ID_LEN));
        KG_GUARD_C(kg_buf_append(out, id->mr_aggregated, KG_MEASUREMENT_LEN));
        KG_GUARD_C(kg_buf_append(out, id->mr_system, KG_MEASUREMENT_LEN));
        KG_GUARD_C(kg_buf_append(out, id->os_image_hash, KG_MEASUREMENT_LEN));
        kg_log_str tcb = cstr(id->tcb_status, KG_TCB_STATUS_MAX - 1);
        KG_GUARD_C(put_str(out, &tcb));
        KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)id->n_advisory_ids));
        for (size_t i = 0; i < id->n_advisory_ids; i++) {
            kg_log_str a = cstr(id->advisory_ids[i], KG_ADVISORY_ID_MAX - 1);
            KG_GUARD_C(put_str(out, &a));
        }
    } else if (e->who == KG_LOG_WHO_CLAIMED) {
        KG_GUARD_C(kg_buf_append(out, e->claimed_app_id, KG_APP_ID_LEN));
    } else {
        KG_ENSURE_C(e->who == KG_LOG_WHO_NONE, KG_ERR_INPUT, "log entry: bad identity kind");
    }
    KG_GUARD_C(kg_buf_append_u8(out, e->has_block ? 1 : 0));
    KG_GUARD_C(put_u64(out, e->has_block ? e->block_number : 0));
    KG_GUARD_C(put_str(out, &e->block_hash));
    KG_GUARD_C(put_str(out, &e->released));
    KG_GUARD_C(kg_buf_append(out, e->node_id, KG_LOG_NODE_ID_LEN));
    KG_ENSURE_C(out->len - start <= KG_LOG_MAX_ENTRY, KG_ERR_TOO_LARGE,
                "log entry: %zu bytes (at most %u)", out->len - start, KG_LOG_MAX_ENTRY);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        out->len = start;
    return rc;
}

/* ---- parsing --------------------------------------------------------------------------------- */

static kg_result get_u64(kg_reader *r, uint64_t *v, const char *field)
{
    uint32_t hi, lo;
    KG_GUARD(kg_reader_u32be(r, &hi, field));
    KG_GUARD(kg_reader_u32be(r, &lo, field));
    *v = (uint64_t)hi << 32 | lo;
    return KG_OK;
}

static kg_result get_flag(kg_reader *r, bool *v, const char *field)
{
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, &b, field));
    KG_ENSURE(b <= 1, KG_ERR_INPUT, "log entry: '%s' is %u, not 0 or 1", field, (unsigned)b);
    *v = b == 1;
    return KG_OK;
}

static kg_result get_str(kg_reader *r, kg_log_str *s, size_t cap, const char *field)
{
    uint16_t n;
    const uint8_t *p = NULL;
    KG_GUARD(get_flag(r, &s->present, field));
    KG_GUARD(kg_reader_u16be(r, &n, field));
    KG_ENSURE(n <= cap, KG_ERR_TOO_LARGE, "log entry: '%s' of %u bytes (at most %zu)", field,
              (unsigned)n, cap);
    KG_ENSURE(s->present || n == 0, KG_ERR_INPUT, "log entry: absent '%s' with a length", field);
    KG_GUARD(kg_reader_ptr(r, &p, n, field));
    KG_ENSURE(memchr(p, 0, n) == NULL, KG_ERR_INPUT, "log entry: NUL in '%s'", field);
    s->p = (const char *)p;
    s->len = n;
    return KG_OK;
}

/* A fixed field that is all zeros unless present. */
static kg_result get_opt(kg_reader *r, bool present, uint8_t *out, size_t n, const char *field)
{
    KG_GUARD(kg_reader_read(r, out, n, field));
    if (!present)
        for (size_t i = 0; i < n; i++)
            KG_ENSURE(out[i] == 0, KG_ERR_INPUT, "log entry: absent '%s' not zero", field);
    return KG_OK;
}

static kg_result get_cstr(kg_reader *r, char *out, size_t cap, const char *field)
{
    kg_log_str s;
    KG_GUARD(get_str(r, &s, cap - 1, field));
    KG_ENSURE(s.present, KG_ERR_INPUT, "log entry: '%s' absent", field);
    memcpy(out, s.p, s.len);
    out[s.len] = 0;
    return KG_OK;
}

kg_result kg_log_entry_parse(kg_log_entry *e, const uint8_t *data, size_t len)
{
    memset(e, 0, sizeof(*e));
    KG_ENSURE(len <= KG_LOG_MAX_ENTRY, KG_ERR_TOO_LARGE, "log entry: %zu bytes (at most %u)", len,
              KG_LOG_MAX_ENTRY);
    kg_reader r;
    kg_reader_init(&r, data, len);
    uint8_t v;
    KG_GUARD(kg_reader_u8(&r, &v, "version"));
    KG_ENSURE(v == KG_LOG_ENTRY_VERSION, KG_ERR_INPUT, "log entry: version %u (want %u)",
              (unsigned)v, KG_LOG_ENTRY_VERSION);
    KG_GUARD(get_u64(&r, &e->audit_id, "audit_id"));
    KG_GUARD(get_u64(&r, &e->time_ms, "time_ms"));
    KG_GUARD(get_flag(&r, &e->allowed, "decision"));
    KG_GUARD(get_str(&r, &e->method, KG_LOG_MAX_STR, "method"));
    KG_GUARD(get_str(&r, &e->peer, KG_LOG_MAX_STR, "peer"));
    KG_GUARD(get_str(&r, &e->reason, KG_LOG_MAX_STR, "reason"));
    uint8_t who;
    KG_GUARD(kg_reader_u8(&r, &who, "who"));
    e->who = (kg_log_who)who;
    if (who == KG_LOG_WHO_VERIFIED) {
        kg_boot_identity *id = &e->identity;
        uint8_t flags, iid_len, nadv;
        KG_GUARD(kg_reader_u8(&r, &flags, "identity flags"));
        KG_ENSURE((flags & ~(F_APP_ID | F_COMPOSE | F_DEVICE)) == 0, KG_ERR_INPUT,
                  "log entry: unknown identity flags 0x%02x", (unsigned)flags);
        id->has_app_id = flags & F_APP_ID;
        id->has_compose_hash = flags & F_COMPOSE;
        id->has_device_id = flags & F_DEVICE;
        KG_GUARD(get_opt(&r, id->has_app_id, id->app_id, KG_APP_ID_LEN, "app_id"));
        KG_GUARD(get_opt(&r, id->has_compose_hash, id->compose_hash, KG_COMPOSE_HASH_LEN,
                         "compose_hash"));
        KG_GUARD(kg_reader_u8(&r, &iid_len, "instance_id length"));
        KG_ENSURE(iid_len == 0 || iid_len == KG_INSTANCE_ID_LEN, KG_ERR_INPUT,
                  "log entry: instance_id of %u bytes", (unsigned)iid_len);
        id->instance_id_len = iid_len;
        KG_GUARD(get_opt(&r, iid_len != 0, id->instance_id, KG_INSTANCE_ID_LEN, "instance_id"));
        KG_GUARD(get_opt(&r, id->has_device_id, id->device_id, KG_DEVICE_ID_LEN, "device_id"));
        KG_GUARD(kg_reader_read(&r, id->mr_aggregated, KG_MEASUREMENT_LEN, "mr_aggregated"));
        KG_GUARD(kg_reader_read(&r, id->mr_system, KG_MEASUREMENT_LEN, "mr_system"));
        KG_GUARD(kg_reader_read(&r, id->os_image_hash, KG_MEASUREMENT_LEN, "os_image_hash"));
        KG_GUARD(get_cstr(&r, id->tcb_status, KG_TCB_STATUS_MAX, "tcb_status"));
        KG_GUARD(kg_reader_u8(&r, &nadv, "advisory count"));
        KG_ENSURE(nadv <= KG_MAX_ADVISORY_IDS, KG_ERR_TOO_LARGE,
                  "log entry: %u advisories (at most %u)", (unsigned)nadv, KG_MAX_ADVISORY_IDS);
        id->n_advisory_ids = nadv;
        for (size_t i = 0; i < nadv; i++)
            KG_GUARD(get_cstr(&r, id->advisory_ids[i], KG_ADVISORY_ID_MAX, "advisory id"));
    } else if (who == KG_LOG_WHO_CLAIMED) {
        KG_GUARD(kg_reader_read(&r, e->claimed_app_id, KG_APP_ID_LEN, "claimed app_id"));
    } else {
        KG_ENSURE(who == KG_LOG_WHO_NONE, KG_ERR_INPUT, "log entry: identity kind %u",
                  (unsigned)who);
    }
    KG_GUARD(get_flag(&r, &e->has_block, "has_block"));
    KG_GUARD(get_u64(&r, &e->block_number, "block_number"));
    KG_ENSURE(e->has_block || e->block_number == 0, KG_ERR_INPUT,
              "log entry: block number without a block");
    KG_ENSURE(e->block_number <= INT64_MAX, KG_ERR_INPUT, "log entry: block number too large");
    KG_GUARD(get_str(&r, &e->block_hash, KG_LOG_MAX_STR, "block_hash"));
    KG_GUARD(get_str(&r, &e->released, KG_LOG_MAX_STR, "released"));
    KG_GUARD(kg_reader_read(&r, e->node_id, KG_LOG_NODE_ID_LEN, "node_id"));
    return kg_reader_expect_end(&r, "log entry");
}
