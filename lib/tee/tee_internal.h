/* tee_internal.h - the backend table behind kg_tee and the file helpers the backends share. */
#ifndef KG_TEE_INTERNAL_H
#define KG_TEE_INTERNAL_H

#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"
#include "keygate/tee.h"

/* What a backend provides; the generic layer (tee.c) does locking and the event journal. */
typedef struct kg_tee_ops {
    const char *name;
    kg_result (*quote)(kg_tee *tee, kg_buf *out, const uint8_t report_data[64]);
    kg_result (*read_rtmr3)(kg_tee *tee, uint8_t out[48]);
    kg_result (*extend_rtmr3)(kg_tee *tee, const uint8_t digest[48]);
    void (*free)(kg_tee *tee);
    /* NULL when the platform has no sealing key (TDX): kg_tee_seal_key then fails closed. */
    kg_result (*seal_key)(kg_tee *tee, uint8_t out[KG_TEE_SEAL_KEY_LEN], const char *label);
} kg_tee_ops;

struct kg_tee {
    const kg_tee_ops *ops;
    char *eventlog_path; /* owned: the persisted runtime event log (JSON array) */
    char *lock_path;     /* owned: eventlog_path + ".lock" */
    void *impl;          /* backend state, owned, released by ops->free */
};

/* Allocates a kg_tee with the given ops and event log path. */
kg_result kg_tee_alloc(kg_tee **out, const kg_tee_ops *ops, const char *eventlog_path);

#include "keygate/fileio.h" /* kg_file_read, kg_file_write_atomic, kg_mkdir_p, kg_path_join */

#endif
