/* eventlog.h - RTMR3 runtime events (dstack v1 digests), the event log JSON, replay, boot
 * identity extraction and the derived measurements mr_system / mr_aggregated / os_image_hash
 * (docs/protocol.md section 2). */
#ifndef KEYGATE_EVENTLOG_H
#define KEYGATE_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"
#include "keygate/sizes.h"

#define KG_RTMR_LEN 48u                  /* SHA-384 registers */
#define KG_EVENT_TYPE_DSTACK 0x08000001u /* dstack v1 runtime event (134217729) */
#define KG_EVENT_IMR_RUNTIME 3u          /* runtime events go to RTMR3 (imr is 0-based) */

/* Named maxima: every event log read from the outside is checked against them. */
#define KG_MAX_EVENTS 1024u                    /* boot (imr 0-2) + runtime events */
#define KG_MAX_EVENT_NAME_LEN 128u             /* bytes, without NUL */
#define KG_MAX_EVENT_PAYLOAD_LEN (64u * 1024u) /* bytes (decoded) */
#define KG_MAX_EVENTLOG_JSON_LEN (2u * 1024u * 1024u)

/* Well-known runtime event names, in boot order (docs/protocol.md section 2). */
#define KG_EVENT_SYSTEM_PREPARING "system-preparing"
#define KG_EVENT_APP_ID "app-id"
#define KG_EVENT_COMPOSE_HASH "compose-hash"
#define KG_EVENT_INSTANCE_ID "instance-id"
#define KG_EVENT_BOOT_MR_DONE "boot-mr-done"
#define KG_EVENT_OS_IMAGE_HASH "os-image-hash"
#define KG_EVENT_KEY_PROVIDER "key-provider"
#define KG_EVENT_SYSTEM_READY "system-ready"

/* One event log element: {"imr":3,"event_type":134217729,"digest":"<hex>","event":"app-id",
 * "event_payload":"<hex>"}, plus "version":2 for an event-log V2 event (dstack's JSON field,
 * absent for V1). The name is printable ASCII without ':' (so the V1 digest input
 * "name:payload" is unambiguous). */
typedef struct kg_event {
    uint32_t imr;
    uint32_t event_type;
    uint8_t digest[KG_RTMR_LEN];
    char name[KG_MAX_EVENT_NAME_LEN + 1];
    uint8_t *payload; /* owned by the log (malloc); NULL when payload_len == 0 */
    size_t payload_len;
    bool v2; /* dstack event-log V2: digest over canonical JSON (kg_event_digest_v2); else V1 */
} kg_event;

/* An ordered event log. Start zeroed (or kg_eventlog_init); kg_eventlog_free releases. */
typedef struct kg_eventlog {
    kg_event *events; /* owned */
    size_t count;
    size_t cap;
} kg_eventlog;

/* Whether `name` is one of the boot flow's reserved event names (KG_EVENT_*): only the agent's
 * boot flow and the KMS's own start may extend them, never an app. */
bool kg_event_name_reserved(const char *name);

/* dstack v1 digest: SHA-384(u32_le(0x08000001) || ":" || name || ":" || payload). */
KG_RESULT kg_event_digest(uint8_t out[KG_RTMR_LEN], const char *name, const uint8_t *payload,
                          size_t payload_len);

/* dstack event-log V2 digest: SHA-384 of the RFC 8785 (JCS) canonical JSON
 * {"name":<name>,"payload":"<lowercase hex of payload>","type":134217729}
 * (dstack/cc-eventlog/src/runtime_events.rs, canonical_event_json_v2). */
KG_RESULT kg_event_digest_v2(uint8_t out[KG_RTMR_LEN], const char *name, const uint8_t *payload,
                             size_t payload_len);

/* RTMR extension: rtmr = SHA-384(rtmr || digest). */
KG_RESULT kg_rtmr_extend(uint8_t rtmr[KG_RTMR_LEN], const uint8_t digest[KG_RTMR_LEN]);

void kg_eventlog_init(kg_eventlog *log);
void kg_eventlog_free(kg_eventlog *log); /* NULL-safe; leaves *log zeroed */

/* Appends a runtime (imr 3, dstack type) event, computing its digest. Copies name/payload.
 * Fails on a bad name, an oversized payload or a full log. */
KG_RESULT kg_eventlog_append(kg_eventlog *log, const char *name, const uint8_t *payload,
                             size_t payload_len);

/* The same for an event-log V2 event (v2 true) or V1 (v2 false). */
KG_RESULT kg_eventlog_append_version(kg_eventlog *log, bool v2, const char *name,
                                     const uint8_t *payload, size_t payload_len);

/* Deep copy of src into *dst (which must be zeroed/initialised; freed and reset on failure). */
KG_RESULT kg_eventlog_copy(kg_eventlog *dst, const kg_eventlog *src);

/* Serialises the log as a JSON array (docs/protocol.md section 2 element format), appended to out
 * and NUL-terminated. */
KG_RESULT kg_eventlog_to_json(kg_buf *out, const kg_eventlog *log);

/* Parses untrusted event log JSON (an array of elements) into *out (zeroed first; caller frees
 * with kg_eventlog_free; freed on failure). Pure: checks shape, types, hex, names and the named
 * maxima, but not digests (kg_eventlog_replay does). */
KG_RESULT kg_eventlog_parse(kg_eventlog *out, const char *json, size_t json_len);

/*
 * Replays the imr-3 events from 48 zero bytes into rtmr3. Every imr-3 event must be of the dstack
 * type (0x08000001) and its stated digest must equal the digest recomputed from its name and
 * payload (V1, or V2 when the event says so); anything else is KG_ERR_VERIFY (an unchecked
 * digest could hide a relabelled event).
 */
KG_RESULT kg_eventlog_replay(uint8_t rtmr3[KG_RTMR_LEN], const kg_eventlog *log);

/* Replays and compares with the RTMR3 value from a verified quote: KG_ERR_VERIFY
 * "event log replay does not match RTMR3" on mismatch. */
KG_RESULT kg_eventlog_check_rtmr3(const kg_eventlog *log, const uint8_t rtmr3[KG_RTMR_LEN]);

#define KG_MAX_KEY_PROVIDER_LEN 1024u

/* The identity claims of a boot, taken ONLY from dstack-type imr-3 events that precede the
 * first `system-ready` (docs/protocol.md section 2). Everything after system-ready is app-emitted
 * and ignored here. */
typedef struct kg_boot_events {
    bool has_app_id;
    uint8_t app_id[KG_APP_ID_LEN];
    bool has_compose_hash;
    uint8_t compose_hash[KG_COMPOSE_HASH_LEN];
    bool has_instance_id;   /* event present (it may be empty: apps that opt out) */
    size_t instance_id_len; /* 0 or 20 */
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    bool has_os_image_hash; /* the VM's own claim; the KMS uses the measured value instead */
    uint8_t os_image_hash[32];
    bool has_key_provider;
    size_t key_provider_len;
    uint8_t key_provider[KG_MAX_KEY_PROVIDER_LEN]; /* JSON {"name":"kms","id":"<hex>"} */
    bool system_ready;                             /* a system-ready event was seen */
    bool boot_mr_done;
} kg_boot_events;

/*
 * Extracts the boot identity. Call only on a log whose replay was checked against the quote.
 * Fails closed on any log that could be read two ways: a reserved event (the names above)
 * repeated, a reserved event after system-ready, app-id/compose-hash/instance-id after
 * boot-mr-done, an identity payload of the wrong size (KG_ERR_INPUT), or an imr-3 event that is
 * not a dstack event (KG_ERR_VERIFY).
 */
KG_RESULT kg_eventlog_extract(kg_boot_events *out, const kg_eventlog *log);

/* os_image_hash = SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2) (docs/protocol.md section 2). */
KG_RESULT kg_measure_os_image_hash(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                                   const uint8_t rtmr[4][KG_RTMR_LEN]);

/* mr_system = SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2 || SHA-256(key-provider payload) or 32
 * zero bytes when key_provider == NULL). */
KG_RESULT kg_measure_mr_system(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                               const uint8_t rtmr[4][KG_RTMR_LEN], const uint8_t *key_provider,
                               size_t key_provider_len);

/* mr_aggregated = SHA-256(MRTD || RTMR0..3 [|| MRCONFIGID || MROWNER || MROWNERCONFIG, only
 * if any of the three is non-zero]). */
KG_RESULT kg_measure_mr_aggregated(uint8_t out[32], const uint8_t mrtd[KG_RTMR_LEN],
                                   const uint8_t rtmr[4][KG_RTMR_LEN],
                                   const uint8_t mr_config_id[KG_RTMR_LEN],
                                   const uint8_t mr_owner[KG_RTMR_LEN],
                                   const uint8_t mr_owner_config[KG_RTMR_LEN]);

#endif
