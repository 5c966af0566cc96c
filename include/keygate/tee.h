/* tee.h - one interface over the TEE: quotes for 64 bytes of report data, RTMR3 runtime events
 * (digest and log entry together) and the event log; backends Linux TDX (configfs-tsm) and the
 * simulator (docs/protocol.md sections 1, 2, 4). */
#ifndef KEYGATE_TEE_H
#define KEYGATE_TEE_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/eventlog.h"
#include "keygate/result.h"
#include "keygate/sizes.h"

#define KG_MAX_TEE_QUOTE_LEN (64u * 1024u)
#define KG_TEE_SEAL_KEY_LEN 32u
#define KG_TEE_MAX_SEAL_LABEL 64u

typedef struct kg_tee kg_tee;

/* Paths of the Linux TDX backend; any NULL field takes the default shown. Tests point them at
 * a directory tree that imitates the kernel's files. */
typedef struct kg_tee_linux_config {
    /* configfs-tsm report directory: <dir>/<entry>/{inblob,outblob,generation,provider}
     * default "/sys/kernel/config/tsm/report" */
    const char *tsm_report_dir;
    /* RTMR3 extension file (write 48 bytes = extend, read = current value)
     * default "/sys/class/misc/tdx_guest/measurements/rtmr3:sha384" (Linux >= 6.16) */
    const char *rtmr3_path;
    /* Where the runtime event log is persisted (the kernel keeps only the register)
     * default "/run/keygate/eventlog.json" */
    const char *eventlog_path;
    /* A report entry under tsm_report_dir that already exists and is reused (not removed).
     * default NULL: each quote makes and removes its own entry (mkdir/rmdir) */
    const char *report_entry;
} kg_tee_linux_config;

/*
 * Opens the Linux TDX backend. cfg may be NULL (all defaults); its strings are copied.
 * Checks that the report directory exists (KG_ERR_NOT_FOUND otherwise) and creates the event
 * log's directory; each quote then refuses a provider other than "tdx_guest" (when the kernel
 * names one) and a report that raced with another writer. Caller frees with kg_tee_free.
 */
KG_RESULT kg_tee_open_linux(kg_tee **out, const kg_tee_linux_config *cfg);

/*
 * Opens simulated VM `vm` (a name of [A-Za-z0-9._-], created on first use with the platform's
 * measurement profile) of the simulated platform in `platform_dir` (made by kg_sim_init, see
 * sim.h). Caller frees with kg_tee_free.
 */
KG_RESULT kg_tee_open_sim(kg_tee **out, const char *platform_dir, const char *vm);

/*
 * Opens the backend named by a spec string: "tdx" (Linux defaults) or "sim:<platform_dir>:<vm>".
 * Convenience for programs' --tee options. Caller frees.
 */
KG_RESULT kg_tee_open(kg_tee **out, const char *spec);

void kg_tee_free(kg_tee *tee); /* NULL-safe */

/* "tdx" or "sim". Borrowed, static. */
const char *kg_tee_backend(const kg_tee *tee);

/* Produces a quote whose REPORTDATA is report_data, appended to out (cap KG_MAX_TEE_QUOTE_LEN). */
KG_RESULT kg_tee_get_quote(kg_tee *tee, kg_buf *out, const uint8_t report_data[KG_REPORT_DATA_LEN]);

/*
 * Extends RTMR3 with runtime event (name, payload) and appends it to the event log, so that the
 * log always replays to the register: both happen under an exclusive lock, the log entry is
 * made durable first, and a log entry whose extension did not happen (crash in between) is
 * dropped when the log is next read (replay(log without it) == RTMR3).
 */
KG_RESULT kg_tee_extend(kg_tee *tee, const char *name, const uint8_t *payload, size_t payload_len);
/* The same with the digest of dstack's event-log V2 (v2 true: kg_event_digest_v2) or V1. */
KG_RESULT kg_tee_extend_version(kg_tee *tee, bool v2, const char *name, const uint8_t *payload,
                                size_t payload_len);

/* Reads the runtime event log (imr-3 events) into *out (zeroed first; caller frees with
 * kg_eventlog_free). Fails with KG_ERR_VERIFY if the log does not replay to RTMR3. */
KG_RESULT kg_tee_read_eventlog(kg_tee *tee, kg_eventlog *out);

/* Reads the current RTMR3 value. */
KG_RESULT kg_tee_read_rtmr3(kg_tee *tee, uint8_t out[KG_RTMR_LEN]);

/*
 * A sealing key bound to this VM's measurements and to `label` (1..KG_TEE_MAX_SEAL_LABEL
 * characters: one key per purpose), written to out (wiped on failure; the caller wipes it after
 * use). On the simulator: HKDF-SHA256(the platform's seal secret, salt "keygate-sim-seal-v1",
 * info = MRTD || RTMR0 || RTMR1 || RTMR2 || RTMR3 || label), so a VM that measured anything else,
 * or the same VM on another platform, gets another key (docs/design.md, "Sealed root keys").
 * TDX has no hardware sealing key: KG_ERR_UNAVAILABLE saying so; there is no fallback.
 */
KG_RESULT kg_tee_seal_key(kg_tee *tee, uint8_t out[KG_TEE_SEAL_KEY_LEN], const char *label);

#endif
