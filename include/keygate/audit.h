/* audit.h - the KMS's durable decision log in SQLite: every key-release decision, allowed or
 * denied, committed (WAL, synchronous=FULL) before any key leaves (SPEC.md section 5). */
#ifndef KEYGATE_AUDIT_H
#define KEYGATE_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keygate/identity.h"
#include "keygate/result.h"

#define KG_AUDIT_MAX_FIELD 4096u /* longest text stored in one column (reasons, JSON lists) */

typedef struct kg_audit kg_audit;

/* One decision. Every pointer is borrowed and may be NULL (stored as NULL). Never put secrets
 * here: released keys appear only as public fingerprints. */
typedef struct kg_audit_record {
    int64_t time_ms;    /* Unix time in milliseconds; 0 = now */
    const char *method; /* "GetAppKey", "SignCert", "self-check", ... */
    const char *peer;   /* remote address of the caller */
    bool allowed;       /* the decision */
    const char *reason; /* why (the governance reason or the failing check's message) */
    /* Who asked: the verified identity (identity.h), stored field by field as lowercase hex;
     * or, when the caller's attestation did not verify, only the app id its certificate
     * claims (the reason says so). At most one of the two. */
    const kg_boot_identity *identity;
    const uint8_t *claimed_app_id; /* KG_APP_ID_LEN bytes */
    int64_t block_number;          /* block the policy was read at; -1 = none */
    const char *block_hash;
    const char *released; /* JSON object {"k256_pubkey": "...", ...} of public fingerprints */
} kg_audit_record;

/* Opens (creating if needed, mode 0600) the log at path in WAL mode with synchronous=FULL.
 * read_only opens an existing log for inspection. Caller frees with kg_audit_free. */
KG_RESULT kg_audit_open(kg_audit **out, const char *path, bool read_only);
void kg_audit_free(kg_audit *audit);

/* Appends rec and commits durably before returning; thread-safe (appends are serialized and
 * concurrent appends share one commit). On failure nothing may be released. *id_out (may be
 * NULL) receives the row id. */
KG_RESULT kg_audit_append(kg_audit *audit, const kg_audit_record *rec, int64_t *id_out);

/* The newest `limit` records (0 = all), oldest first, as a JSON array of objects with the
 * field names above plus "id" and "decision" ("allow" | "deny"). Caller json_decref()s. */
KG_RESULT kg_audit_list(json_t **out, kg_audit *audit, uint32_t limit);

#endif
