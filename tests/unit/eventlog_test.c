/* eventlog_test.c - dstack v1 event digests (tests/vectors/events.json), JSON round trip,
 * parser limits, replay, boot identity extraction and derived measurements. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/eventlog.h"
#include "keygate/hash.h"

static void digest_vectors(void **state)
{
    json_t *v = kg_test_load_json("events.json");
    assert_int_equal(json_integer_value(json_object_get(v, "event_type")), KG_EVENT_TYPE_DSTACK);
    json_t *vecs = json_object_get(v, "digest_vectors");
    assert_true(json_array_size(vecs) >= 1);
    for (size_t i = 0; i < json_array_size(vecs); i++) {
        json_t *e = json_array_get(vecs, i);
        kg_buf payload;
        kg_test_hex(&payload, json_string_value(json_object_get(e, "payload_hex")));
        uint8_t d[KG_RTMR_LEN];
        KG_ASSERT_OK(kg_event_digest(d, json_string_value(json_object_get(e, "event")),
                                     payload.data, payload.len));
        kg_test_assert_hex(d, KG_RTMR_LEN, json_string_value(json_object_get(e, "digest")));
        kg_buf_free(&payload);
    }
    json_decref(v);
}

/* A boot in the boot flow's order, then an app event after system-ready. */
static void build_boot_log(kg_eventlog *log)
{
    uint8_t app_id[20], compose[32], inst[20], osh[32];
    memset(app_id, 0x11, sizeof(app_id));
    memset(compose, 0x22, sizeof(compose));
    memset(inst, 0x33, sizeof(inst));
    memset(osh, 0x44, sizeof(osh));
    const char *kp = "{\"name\":\"kms\",\"id\":\"abcd\"}";
    kg_eventlog_init(log);
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_APP_ID, app_id, 20));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_COMPOSE_HASH, compose, 32));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_INSTANCE_ID, inst, 20));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_OS_IMAGE_HASH, osh, 32));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_KEY_PROVIDER, (const uint8_t *)kp, strlen(kp)));
    KG_ASSERT_OK(kg_eventlog_append(log, KG_EVENT_SYSTEM_READY, NULL, 0));
    /* Emitted by the app after boot: an ordinary event, no identity. */
    KG_ASSERT_OK(kg_eventlog_append(log, "app-started", (const uint8_t *)"v1", 2));
}

static void replay_matches_manual_extension(void **state)
{
    kg_eventlog log;
    build_boot_log(&log);
    uint8_t want[KG_RTMR_LEN] = {0}, got[KG_RTMR_LEN];
    for (size_t i = 0; i < log.count; i++) {
        /* RTMR3 = SHA-384(RTMR3 || digest), computed here independently */
        uint8_t cat[2 * KG_RTMR_LEN];
        memcpy(cat, want, KG_RTMR_LEN);
        memcpy(cat + KG_RTMR_LEN, log.events[i].digest, KG_RTMR_LEN);
        KG_ASSERT_OK(kg_sha384(want, cat, sizeof(cat)));
    }
    KG_ASSERT_OK(kg_eventlog_replay(got, &log));
    assert_memory_equal(got, want, KG_RTMR_LEN);
    KG_ASSERT_OK(kg_eventlog_check_rtmr3(&log, want));
    want[0] ^= 1;
    KG_ASSERT_ERR(kg_eventlog_check_rtmr3(&log, want), KG_ERR_VERIFY,
                  "event log replay does not match RTMR3");
    kg_eventlog_free(&log);
}

static void json_round_trip_and_tamper(void **state)
{
    kg_eventlog log, back;
    build_boot_log(&log);
    kg_buf js;
    kg_buf_init(&js, KG_MAX_EVENTLOG_JSON_LEN);
    KG_ASSERT_OK(kg_eventlog_to_json(&js, &log));
    assert_non_null(strstr((char *)js.data, "{\"imr\":3,\"event_type\":134217729,\"digest\":\""));
    assert_non_null(strstr((char *)js.data, "\"event\":\"app-id\",\"event_payload\":\"1111"));
    KG_ASSERT_OK(kg_eventlog_parse(&back, (char *)js.data, js.len));
    assert_int_equal(back.count, log.count);
    uint8_t a[KG_RTMR_LEN], b[KG_RTMR_LEN];
    KG_ASSERT_OK(kg_eventlog_replay(a, &log));
    KG_ASSERT_OK(kg_eventlog_replay(b, &back));
    assert_memory_equal(a, b, KG_RTMR_LEN);
    kg_eventlog_free(&back);

    /* Change one payload nibble (the compose hash): the stated digest no longer matches. */
    char *p = strstr((char *)js.data, "\"event_payload\":\"2222");
    assert_non_null(p);
    p[17] = '3';
    KG_ASSERT_OK(kg_eventlog_parse(&back, (char *)js.data, js.len));
    KG_ASSERT_ERR(kg_eventlog_replay(a, &back), KG_ERR_VERIFY,
                  "event 2 ('compose-hash'): digest does not match");
    kg_eventlog_free(&back);
    kg_buf_free(&js);
    kg_eventlog_free(&log);
}

static void extract_only_before_system_ready(void **state)
{
    kg_eventlog log;
    build_boot_log(&log);
    kg_boot_events be;
    KG_ASSERT_OK(kg_eventlog_extract(&be, &log));
    assert_true(be.has_app_id && be.has_compose_hash && be.has_instance_id);
    assert_true(be.system_ready && be.boot_mr_done && be.has_key_provider);
    assert_int_equal(be.app_id[0], 0x11);
    assert_int_equal(be.compose_hash[31], 0x22);
    assert_int_equal(be.instance_id_len, 20);
    assert_int_equal(be.key_provider_len, strlen("{\"name\":\"kms\",\"id\":\"abcd\"}"));

    /* An app that extends a victim's app id after system-ready: the log is refused outright,
     * not merely read up to system-ready. */
    uint8_t victim[20];
    memset(victim, 0xee, sizeof(victim));
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_APP_ID, victim, 20));
    KG_ASSERT_ERR(kg_eventlog_extract(&be, &log), KG_ERR_INPUT,
                  "event 9: reserved event 'app-id' after system-ready");
    assert_false(be.has_app_id);
    kg_eventlog_free(&log);

    /* Every reserved name is refused after system-ready, system-ready included. */
    const char *names[] = {KG_EVENT_SYSTEM_PREPARING, KG_EVENT_BOOT_MR_DONE, KG_EVENT_SYSTEM_READY,
                           KG_EVENT_KEY_PROVIDER};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        build_boot_log(&log);
        KG_ASSERT_OK(kg_eventlog_append(&log, names[i], NULL, 0));
        KG_ASSERT_ERR(kg_eventlog_extract(&be, &log), KG_ERR_INPUT, "after system-ready");
        kg_eventlog_free(&log);
    }

    /* A second app-id is ambiguous: rejected. */
    uint8_t id[20] = {0};
    kg_eventlog_init(&log);
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_APP_ID, id, 20));
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_APP_ID, id, 20));
    KG_ASSERT_ERR(kg_eventlog_extract(&be, &log), KG_ERR_INPUT, "event 'app-id' appears twice");
    kg_eventlog_free(&log);

    /* Identity after boot-mr-done is refused (the KMS is asked right after boot-mr-done). */
    kg_eventlog_init(&log);
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_COMPOSE_HASH, victim, 20));
    KG_ASSERT_ERR(kg_eventlog_extract(&be, &log), KG_ERR_INPUT,
                  "event 1: identity event 'compose-hash' after boot-mr-done");
    kg_eventlog_free(&log);

    kg_eventlog_init(&log);
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_COMPOSE_HASH, id, 20));
    KG_ASSERT_ERR(kg_eventlog_extract(&be, &log), KG_ERR_INPUT,
                  "event 'compose-hash' payload is 20 bytes, want 32");
    kg_eventlog_free(&log);
    assert_true(kg_event_name_reserved("key-provider"));
    assert_false(kg_event_name_reserved("app-started"));
}

/* The relabelling attack: the real identity events are given another event type (so a lax
 * verifier skips them and extends their digests unchecked) and the victim's identity follows
 * under the dstack type. The log replays to the true RTMR3, and must still be refused. */
static void relabelled_events_are_refused(void **state)
{
    kg_eventlog log;
    build_boot_log(&log);
    uint8_t rtmr3[KG_RTMR_LEN];
    /* The true register: what the real boot extended. */
    kg_eventlog truth;
    kg_eventlog_init(&truth);
    for (size_t i = 0; i < 5; i++) /* system-preparing .. boot-mr-done of the attacker's boot */
        KG_ASSERT_OK(kg_eventlog_append(&truth, log.events[i].name, log.events[i].payload,
                                        log.events[i].payload_len));
    uint8_t victim[20], victim_compose[32];
    memset(victim, 0xee, sizeof(victim));
    memset(victim_compose, 0xdd, sizeof(victim_compose));
    KG_ASSERT_OK(kg_eventlog_append(&truth, KG_EVENT_APP_ID, victim, 20));
    KG_ASSERT_OK(kg_eventlog_append(&truth, KG_EVENT_COMPOSE_HASH, victim_compose, 32));
    KG_ASSERT_OK(kg_eventlog_replay(rtmr3, &truth));
    /* The forged presentation: the attacker's own identity events relabelled. */
    for (size_t i = 0; i < 5; i++)
        truth.events[i].event_type = 0x0000000d; /* EV_IPL, say: not a dstack event */
    KG_ASSERT_ERR(kg_eventlog_check_rtmr3(&truth, rtmr3), KG_ERR_VERIFY,
                  "event 0 ('system-preparing'): RTMR3 event of type 0x0000000d");
    kg_boot_events be;
    KG_ASSERT_ERR(kg_eventlog_extract(&be, &truth), KG_ERR_VERIFY, "is not a dstack event");
    kg_eventlog_free(&truth);
    kg_eventlog_free(&log);
}

static void parse_rejects_malformed(void **state)
{
    kg_eventlog log;
    const char *d = "000000000000000000000000000000000000000000000000"
                    "000000000000000000000000000000000000000000000000";
    char js[512];
    KG_ASSERT_ERR(kg_eventlog_parse(&log, "{}", 2), KG_ERR_INPUT, "not a JSON array");
    KG_ASSERT_ERR(kg_eventlog_parse(&log, "[1", 2), KG_ERR_INPUT, "not JSON");
    KG_ASSERT_ERR(kg_eventlog_parse(&log, "[{}]", 4), KG_ERR_INPUT,
                  "event 0: 'imr' is missing or not an integer");
    snprintf(
        js, sizeof(js),
        "[{\"imr\":4,\"event_type\":1,\"digest\":\"%s\",\"event\":\"\",\"event_payload\":\"\"}]",
        d);
    KG_ASSERT_ERR(kg_eventlog_parse(&log, js, strlen(js)), KG_ERR_INPUT, "imr 4 out of range");
    snprintf(
        js, sizeof(js),
        "[{\"imr\":3,\"event_type\":1,\"digest\":\"%.94s\",\"event\":\"\",\"event_payload\":\"\"}]",
        d);
    KG_ASSERT_ERR(kg_eventlog_parse(&log, js, strlen(js)), KG_ERR_INPUT,
                  "digest must be 96 hex chars");
    snprintf(
        js, sizeof(js),
        "[{\"imr\":3,\"event_type\":1,\"digest\":\"%s\",\"event\":\"a:b\",\"event_payload\":\"\"}]",
        d);
    KG_ASSERT_ERR(kg_eventlog_parse(&log, js, strlen(js)), KG_ERR_INPUT, "forbidden character");
    snprintf(js, sizeof(js),
             "[{\"imr\":3,\"event_type\":1,\"digest\":\"%s\",\"event\":\"x\",\"event_payload\":"
             "\"abc\"}]",
             d);
    KG_ASSERT_ERR(kg_eventlog_parse(&log, js, strlen(js)), KG_ERR_INPUT, "odd length");
    snprintf(
        js, sizeof(js),
        "[{\"imr\":3,\"event_type\":-1,\"digest\":\"%s\",\"event\":\"x\",\"event_payload\":\"\"}]",
        d);
    KG_ASSERT_ERR(kg_eventlog_parse(&log, js, strlen(js)), KG_ERR_INPUT, "out of range");

    /* More than KG_MAX_EVENTS elements */
    kg_buf big;
    kg_buf_init(&big, KG_MAX_EVENTLOG_JSON_LEN);
    KG_ASSERT_OK(kg_buf_append_str(&big, "["));
    for (unsigned i = 0; i <= KG_MAX_EVENTS; i++)
        KG_ASSERT_OK(kg_buf_printf(&big, "%s1", i ? "," : ""));
    KG_ASSERT_OK(kg_buf_append_str(&big, "]"));
    KG_ASSERT_ERR(kg_eventlog_parse(&log, (char *)big.data, big.len), KG_ERR_TOO_LARGE, "max 1024");
    kg_buf_free(&big);

    /* Appending a name with ':' is refused (digest input would be ambiguous). */
    kg_eventlog_init(&log);
    KG_ASSERT_ERR(kg_eventlog_append(&log, "a:b", NULL, 0), KG_ERR_INPUT, "forbidden character");
    uint8_t *huge = calloc(1, KG_MAX_EVENT_PAYLOAD_LEN + 1);
    KG_ASSERT_ERR(kg_eventlog_append(&log, "x", huge, KG_MAX_EVENT_PAYLOAD_LEN + 1),
                  KG_ERR_TOO_LARGE, "max 65536");
    free(huge);
    kg_eventlog_free(&log);
}

static void derived_measurements(void **state)
{
    uint8_t mrtd[48], rtmr[4][48], zero[48] = {0}, owner[48], out[32], want[32];
    memset(mrtd, 1, 48);
    for (int i = 0; i < 4; i++)
        memset(rtmr[i], 2 + i, 48);
    memset(owner, 9, 48);
    uint8_t cat[48 * 8];
    memcpy(cat, mrtd, 48);
    memcpy(cat + 48, rtmr, 4 * 48);
    KG_ASSERT_OK(kg_measure_mr_aggregated(out, mrtd, rtmr, zero, zero, zero));
    KG_ASSERT_OK(kg_sha256(want, cat, 5 * 48));
    assert_memory_equal(out, want, 32);
    /* a non-zero MROWNER brings all three optional registers in */
    memset(cat + 5 * 48, 0, 48);
    memcpy(cat + 6 * 48, owner, 48);
    memset(cat + 7 * 48, 0, 48);
    KG_ASSERT_OK(kg_measure_mr_aggregated(out, mrtd, rtmr, zero, owner, zero));
    KG_ASSERT_OK(kg_sha256(want, cat, 8 * 48));
    assert_memory_equal(out, want, 32);

    KG_ASSERT_OK(kg_measure_os_image_hash(out, mrtd, rtmr));
    KG_ASSERT_OK(kg_sha256(want, cat, 4 * 48));
    assert_memory_equal(out, want, 32);

    KG_ASSERT_OK(kg_measure_mr_system(out, mrtd, rtmr, NULL, 0));
    memset(cat + 4 * 48, 0, 32);
    KG_ASSERT_OK(kg_sha256(want, cat, 4 * 48 + 32));
    assert_memory_equal(out, want, 32);
    KG_ASSERT_OK(kg_measure_mr_system(out, mrtd, rtmr, (const uint8_t *)"kp", 2));
    KG_ASSERT_OK(kg_sha256(cat + 4 * 48, "kp", 2));
    KG_ASSERT_OK(kg_sha256(want, cat, 4 * 48 + 32));
    assert_memory_equal(out, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_vectors),
        cmocka_unit_test(replay_matches_manual_extension),
        cmocka_unit_test(json_round_trip_and_tamper),
        cmocka_unit_test(extract_only_before_system_ready),
        cmocka_unit_test(relabelled_events_are_refused),
        cmocka_unit_test(parse_rejects_malformed),
        cmocka_unit_test(derived_measurements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
