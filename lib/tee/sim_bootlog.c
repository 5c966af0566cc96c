/* sim_bootlog.c - the boot-time event log (RTMR0..2) of a simulated VM, so a verifier or the
 * dstack SDK's replayRtmrs() can reproduce every register of a simulated quote, as the CCEL
 * does on real TDX. The events are the components kg_sim_profile_compute measures. */
#include <string.h>

#include "keygate/hash.h"
#include "keygate/sim.h"

#define EV_EVENT_TAG 0x00000006u /* TCG event type for the simulated components */

/* The component list and digest of kg_sim_profile_compute (sim_platform.c); the replay check
 * below fails closed if the two ever diverge. */
static const char *const k_parts[3][3] = {
    {"td-hob", "acpi-tables", "tdvf-config"},
    {"kernel", "gpt", NULL},
    {"cmdline", "initrd", NULL},
};

static kg_result component(uint8_t out[KG_RTMR_LEN], const char *image, const char *what)
{
    const void *parts[] = {"keygate-sim:", image, ":", what};
    const size_t lens[] = {12, strlen(image), 1, strlen(what)};
    return kg_sha384_parts(out, parts, lens, 4);
}

kg_result kg_sim_boot_eventlog_json(kg_buf *out, const char *platform_dir)
{
    kg_sim_profile prof;
    uint8_t reg[KG_RTMR_LEN], d[KG_RTMR_LEN];
    char hex[2 * KG_RTMR_LEN + 1];
    bool first = true;
    KG_GUARD(kg_sim_profile_load(&prof, platform_dir));
    KG_GUARD(kg_buf_append_u8(out, '['));
    for (unsigned r = 0; r < 3; r++) {
        memset(reg, 0, sizeof(reg));
        for (int i = 0; i < 3 && k_parts[r][i] != NULL; i++) {
            KG_GUARD(component(d, prof.image, k_parts[r][i]));
            KG_GUARD(kg_rtmr_extend(reg, d));
            KG_GUARD(kg_hex_encode(hex, sizeof(hex), d, sizeof(d)));
            KG_GUARD(kg_buf_printf(out,
                                   "%s{\"imr\":%u,\"event_type\":%u,\"digest\":\"%s\","
                                   "\"event\":\"%s\",\"event_payload\":\"\"}",
                                   first ? "" : ",", r, EV_EVENT_TAG, hex, k_parts[r][i]));
            first = false;
        }
        KG_ENSURE(memcmp(reg, prof.rtmr[r], KG_RTMR_LEN) == 0, KG_ERR_INTERNAL,
                  "simulated boot events do not replay to RTMR%u of the profile", r);
    }
    KG_GUARD(kg_buf_append_u8(out, ']'));
    return kg_buf_terminate(out);
}
