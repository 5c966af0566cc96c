/* ratls.h - RA-TLS: X.509 certificates whose key is bound to a TDX quote, their verification
 * into a verified boot identity, and OpenSSL TLS contexts that check a peer's RA-TLS
 * certificate after the handshake (SPEC.md section 4). Owner: the "tee" helper (issue 5). */
#ifndef KEYGATE_RATLS_H
#define KEYGATE_RATLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/eventlog.h"
#include "keygate/quote.h"
#include "keygate/result.h"
#include "keygate/tee.h"

/* Certificate extensions (non-critical; extnValue = DER OCTET STRING wrapping the payload). */
#define KG_OID_RATLS_QUOTE "1.3.6.1.4.1.62397.1.1"    /* raw quote */
#define KG_OID_RATLS_EVENTLOG "1.3.6.1.4.1.62397.1.2" /* event log JSON */
#define KG_OID_RATLS_APP_ID "1.3.6.1.4.1.62397.1.3"   /* app id (20 bytes) */
#define KG_OID_RATLS_USAGE "1.3.6.1.4.1.62397.1.4"    /* usage string */

#define KG_RATLS_USAGE_KMS_RPC "kms:rpc"
#define KG_RATLS_USAGE_APP_CA "app:ca"
#define KG_RATLS_USAGE_APP_CUSTOM "app:custom"

#define KG_MAX_RATLS_CERT_LEN (4u * 1024u * 1024u) /* a cert with quote + event log */
#define KG_RATLS_MAX_USAGE_LEN 64u

/* REPORTDATA = SHA-512("ratls-cert:" || SubjectPublicKeyInfo DER). */
KG_RESULT kg_ratls_report_data(uint8_t out[64], const uint8_t *spki_der, size_t spki_len);
/* The same, for a key (borrowed): the REPORTDATA a quote must carry to bind `key`. */
KG_RESULT kg_ratls_key_report_data(uint8_t out[64], const kg_p256_key *key);

/* Adds one non-critical RA-TLS extension to cert (an OpenSSL X509, borrowed): the extnValue is
 * a DER OCTET STRING wrapping payload (SPEC.md section 4). For code that builds its own
 * certificates (the KMS's issued certificates, the agent's client certificate). */
struct x509_st;
KG_RESULT kg_ratls_add_ext(struct x509_st *cert, const char *oid, const void *payload, size_t n);

/* ---- creating ---------------------------------------------------------------------------------- */

typedef struct kg_ratls_cert_opts {
    const char *common_name;         /* subject CN; NULL = "keygate RA-TLS" */
    const char *usage;               /* NULL = no usage extension */
    const uint8_t *app_id;           /* NULL or 20 bytes */
    const char *const *dns_names;    /* subjectAltName DNS entries (may be NULL) */
    size_t n_dns_names;
    uint64_t not_before, not_after;  /* 0 = now - 1 hour / not_before + 365 days */
    bool is_ca;                      /* basicConstraints CA:TRUE (an app CA) */
    /* Issuer: both NULL = self-signed by `key`; else the certificate is issued by this CA
     * (the KMS's temp CA or an app CA). Borrowed. */
    const kg_p256_key *issuer_key;
    const uint8_t *issuer_cert_der;
    size_t issuer_cert_der_len;
} kg_ratls_cert_opts;

/*
 * Asks the TEE for a quote binding `key` (REPORTDATA over its SPKI) and reads the event log.
 * quote_out and eventlog_json_out are appended to (the JSON NUL-terminated). For flows that
 * put the evidence elsewhere (a CSR). Borrowed: tee, key.
 */
KG_RESULT kg_ratls_attest_key(kg_buf *quote_out, kg_buf *eventlog_json_out, kg_tee *tee,
                              const kg_p256_key *key);

/*
 * Creates an RA-TLS certificate for `key` (borrowed) carrying quote, event log, and the optional
 * app id and usage extensions; appended to out_der as DER. opts may be NULL (self-signed).
 */
KG_RESULT kg_ratls_cert_new(kg_buf *out_der, kg_tee *tee, const kg_p256_key *key,
                            const kg_ratls_cert_opts *opts);

/* ---- parsing and verifying ---------------------------------------------------------------------- */

/* The RA-TLS payloads of a certificate, copied out (owned). Pure parse: nothing verified. */
typedef struct kg_ratls_evidence {
    kg_buf quote;    /* extension .1 payload */
    kg_buf eventlog; /* extension .2 payload (NUL-terminated); len 0 when absent */
    bool has_app_id;
    uint8_t app_id[KG_APP_ID_LEN];
    bool has_usage;
    char usage[KG_RATLS_MAX_USAGE_LEN + 1];
    kg_buf spki; /* the leaf's SubjectPublicKeyInfo DER */
    uint64_t not_before, not_after;
    bool self_issued;       /* issuer name == subject name, no foreign authority key id */
    bool self_signature_ok; /* self-issued and its signature verifies with its own key */
} kg_ratls_evidence;

/*
 * Parses a DER certificate's RA-TLS extensions into *out (initialised here; free with
 * kg_ratls_evidence_free, also on failure). Fails on a missing quote extension, a duplicated or
 * critical RA-TLS extension, a payload that is not exactly one DER OCTET STRING, an app id that
 * is not 20 bytes, a usage that is not printable ASCII, or a size over the named maxima.
 */
KG_RESULT kg_ratls_parse_cert(kg_ratls_evidence *out, const uint8_t *der, size_t der_len);
void kg_ratls_evidence_free(kg_ratls_evidence *ev); /* NULL-safe */

/* Where verification takes its trust root, collateral and time from. All borrowed. */
typedef struct kg_ratls_policy {
    kg_dcap_verifier *verifier;  /* required: Intel root in production, sim root in tests */
    const char *collateral_json; /* fixed collateral (PCCS JSON shape), or NULL to fetch: */
    size_t collateral_len;
    const char *pccs_url;        /* PCCS base URL used when collateral_json is NULL */
    const char *pccs_cache_dir;  /* optional on-disk collateral cache */
    uint64_t now;                /* verification time; 0 = current time */
} kg_ratls_policy;

/* A verified boot identity (SPEC.md sections 2-4): everything here was checked against the
 * quote (binding, DCAP, event log replay == RTMR3). */
typedef struct kg_ratls_identity {
    bool has_app_id;
    uint8_t app_id[KG_APP_ID_LEN];
    bool has_compose_hash;
    uint8_t compose_hash[KG_COMPOSE_HASH_LEN];
    size_t instance_id_len; /* 0 (absent or opted out) or 20 */
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    bool has_device_id;
    uint8_t device_id[32];     /* SHA-256(PPID) */
    uint8_t mr_aggregated[32];
    uint8_t mr_system[32];
    uint8_t os_image_hash[32]; /* SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2), measured */
    bool has_key_provider;
    size_t key_provider_len;
    uint8_t key_provider[KG_MAX_KEY_PROVIDER_LEN];
    bool system_ready;
    bool has_usage;
    char usage[KG_RATLS_MAX_USAGE_LEN + 1];
    char tcb_status[KG_TCB_STATUS_MAX];
    size_t n_advisory_ids;
    char advisory_ids[KG_MAX_ADVISORY_IDS][KG_ADVISORY_ID_MAX];
    uint8_t mrtd[KG_RTMR_LEN];
    uint8_t rtmr[4][KG_RTMR_LEN];
    uint8_t report_data[64];
    uint64_t valid_until; /* earliest expiry the verdict relied on (collateral, cert) */
} kg_ratls_identity;

/*
 * Verifies a DER certificate: RA-TLS extensions, the certificate's validity at `now`, the key
 * binding (REPORTDATA == SHA-512("ratls-cert:" || leaf SPKI)), full DCAP verification of the
 * quote (TDX only), the event log replay against RTMR3, if the certificate names an app
 * id, that it equals the event log's, and a self-issued certificate's own signature. Fills *out (zeroed on failure). Errors: KG_ERR_VERIFY
 * ("key is not bound to the quote", "event log replay does not match RTMR3", DCAP causes),
 * KG_ERR_EXPIRED, KG_ERR_INPUT (malformed), KG_ERR_NETWORK (collateral fetch).
 */
KG_RESULT kg_ratls_verify_cert(kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                               const kg_ratls_policy *policy);

/* The verified identity as the AppBootInfo governance is asked about (isAppAllowed /
 * isKmsAllowed). KG_ERR_VERIFY without a device id (a PCK certificate with no PPID). */
struct kg_app_boot_info;
KG_RESULT kg_ratls_boot_info(struct kg_app_boot_info *out, const kg_ratls_identity *id);

/* The identity as one JSON object (hex byte fields), appended to out (NUL-terminated). */
KG_RESULT kg_ratls_identity_to_json(kg_buf *out, const kg_ratls_identity *id);

/* ---- TLS --------------------------------------------------------------------------------------- */

struct ssl_ctx_st;
struct ssl_st;

/*
 * Makes a TLS 1.3 context presenting the RA-TLS certificate cert_der (+ optional PEM chain of
 * issuing CAs) with `key`. It requests the peer's certificate (servers: required when
 * require_peer_cert) and accepts any chain at the TLS layer: trust comes from the attestation,
 * checked after the handshake with kg_ratls_peer_identity. Caller frees with SSL_CTX_free.
 */
KG_RESULT kg_ratls_ssl_ctx_new(struct ssl_ctx_st **out, bool server, const kg_p256_key *key,
                               const uint8_t *cert_der, size_t cert_len, const char *chain_pem,
                               bool require_peer_cert);

/* After a completed handshake: verifies the peer's leaf certificate as RA-TLS. The TLS
 * handshake proved the peer holds the leaf's key; the quote binds that key. */
KG_RESULT kg_ratls_peer_identity(kg_ratls_identity *out, struct ssl_st *ssl,
                                 const kg_ratls_policy *policy);

#endif
