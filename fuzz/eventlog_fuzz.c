/* eventlog_fuzz.c - libFuzzer harness: the event log JSON parser, replay and identity
 * extraction on arbitrary bytes; a parsed log must survive a serialise/parse round trip. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_eventlog log, back;
    if (kg_failed(kg_eventlog_parse(&log, (const char *)data, size)))
        return 0;
    uint8_t a[KG_RTMR_LEN], b[KG_RTMR_LEN];
    bool replayed = kg_ok(kg_eventlog_replay(a, &log));
    kg_boot_events be;
    if (kg_failed(kg_eventlog_extract(&be, &log)))
        kg_error_clear(); /* rejecting ambiguous identities is fine; crashing is not */
    kg_buf js;
    kg_buf_init(&js, 2 * KG_MAX_EVENTLOG_JSON_LEN);
    if (kg_failed(kg_eventlog_to_json(&js, &log)))
        abort(); /* whatever parses must serialise */
    if (kg_failed(kg_eventlog_parse(&back, (const char *)js.data, js.len)))
        abort();
    if (back.count != log.count)
        abort();
    for (size_t i = 0; i < log.count; i++) {
        const kg_event *x = &log.events[i], *y = &back.events[i];
        if (x->imr != y->imr || x->event_type != y->event_type ||
            memcmp(x->digest, y->digest, KG_RTMR_LEN) != 0 || strcmp(x->name, y->name) != 0 ||
            x->payload_len != y->payload_len ||
            (x->payload_len && memcmp(x->payload, y->payload, x->payload_len) != 0))
            abort();
    }
    if (replayed && (kg_failed(kg_eventlog_replay(b, &back)) || memcmp(a, b, KG_RTMR_LEN) != 0))
        abort();
    kg_error_clear();
    kg_buf_free(&js);
    kg_eventlog_free(&back);
    kg_eventlog_free(&log);
    return 0;
}
