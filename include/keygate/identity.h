/* identity.h - the one identity of a booted TD that governance is asked about: produced by
 * lib/ratls from a verified attestation, encoded by lib/eth as dstack's AppBootInfo, recorded by
 * lib/audit. One shape and one set of caps from the attestation to the audit row
 * (docs/design.md, "The decision path"). */
#ifndef KEYGATE_IDENTITY_H
#define KEYGATE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/eventlog.h" /* KG_APP_ID_LEN, KG_COMPOSE_HASH_LEN, KG_INSTANCE_ID_LEN */
#include "keygate/quote.h"    /* KG_TCB_STATUS_MAX, KG_MAX_ADVISORY_IDS, KG_ADVISORY_ID_MAX */

#define KG_DEVICE_ID_LEN 32u   /* SHA-256(PPID) */
#define KG_MEASUREMENT_LEN 32u /* mr_aggregated, mr_system, os_image_hash */

/*
 * dstack's AppBootInfo (contracts/README.md), every field measured or verified, never claimed:
 * identity events from the replayed RTMR3 log, measurements from the verified quote, device
 * and TCB from DCAP. The caps are the DCAP verifier's, so a verified identity always fits;
 * anything longer is an error at its source, never cut.
 */
typedef struct kg_boot_identity {
    bool has_app_id;
    uint8_t app_id[KG_APP_ID_LEN];
    bool has_compose_hash;
    uint8_t compose_hash[KG_COMPOSE_HASH_LEN];
    size_t instance_id_len; /* 0 (absent or opted out: the zero address on chain) or 20 */
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    bool has_device_id;
    uint8_t device_id[KG_DEVICE_ID_LEN];
    uint8_t mr_aggregated[KG_MEASUREMENT_LEN];
    uint8_t mr_system[KG_MEASUREMENT_LEN];
    uint8_t os_image_hash[KG_MEASUREMENT_LEN]; /* SHA-256(MRTD || RTMR0..2), measured */
    char tcb_status[KG_TCB_STATUS_MAX];        /* NUL-terminated, e.g. "UpToDate" */
    size_t n_advisory_ids;
    char advisory_ids[KG_MAX_ADVISORY_IDS][KG_ADVISORY_ID_MAX]; /* NUL-terminated */
} kg_boot_identity;

#endif
