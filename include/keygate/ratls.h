/* ratls.h - RA-TLS: X.509 certificates whose key is bound to a TDX quote, their verification
 * into a verified boot identity, and OpenSSL TLS contexts that check a peer's RA-TLS
 * certificate after the handshake (docs/protocol.md section 4). */
#ifndef KEYGATE_RATLS_H
#define KEYGATE_RATLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/eventlog.h"
#include "keygate/identity.h"
#include "keygate/quote.h"
#include "keygate/result.h"
#include "keygate/tee.h"

/* Certificate extensions (non-critical; extnValue = DER OCTET STRING wrapping the payload). */
#define KG_OID_RATLS_QUOTE "1.3.6.1.4.1.62397.1.1"       /* raw quote */
#define KG_OID_RATLS_EVENTLOG "1.3.6.1.4.1.62397.1.2"    /* event log JSON */
#define KG_OID_RATLS_APP_ID "1.3.6.1.4.1.62397.1.3"      /* app id (20 bytes) */
#define KG_OID_RATLS_USAGE "1.3.6.1.4.1.62397.1.4"       /* usage string */
#define KG_OID_RATLS_ATTESTATION "1.3.6.1.4.1.62397.1.8" /* dstack VersionedAttestation bytes */

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
 * a DER OCTET STRING wrapping payload (docs/protocol.md section 4). For code that builds its own
 * certificates (the KMS's issued certificates, the agent's client certificate). */
struct x509_st;
KG_RESULT kg_ratls_add_ext(struct x509_st *cert, const char *oid, const void *payload, size_t n);

/* ---- dstack's versioned attestation (extension .8, and inside a v2 CSR) ----------------------- *
 *
 * dstack guests since v0.5.10 carry their evidence as VersionedAttestation::to_bytes()
 * (dstack/dstack-attest/src/attestation.rs at 312dc605), told apart by the first byte:
 *   0x00            V0: SCALE  0x00 (variant V0) | AttestationQuote | Vec<RuntimeEvent> |
 *                              [u8; 64] report_data | String config
 *                   AttestationQuote: one index byte, 0 = DstackTdx(TdxQuote { Vec<u8> quote,
 *                   Vec<TdxEvent { u32 imr, u32 event_type, Vec<u8> digest, String event,
 *                   Vec<u8> event_payload }> }); RuntimeEvent { String event, Vec<u8> payload }
 *                   (V0 carries event-log V1 events only: the version is not encoded)
 *   0x80-0x8f, 0xde, 0xdf
 *                   V1: msgpack map (dstack-attest/src/v1.rs, rmp-serde named fields)
 *                   {"version":1, "platform":{"kind":"tdx","data":{"quote":bytes,
 *                    "event_log":[{"imr","event_type","digest"?,"event","event_payload",
 *                    "version"?,"preimage"?}]}},
 *                    "stack":{"kind":"dstack","data":{"report_data":bytes(64),
 *                    "runtime_events":[{"event","payload","version"?}],"config":str}}}
 *                   where "version" 2 marks an event-log V2 event (kg_event_digest_v2).
 * Only TDX evidence of the plain dstack stack is read: GCP-TDX, Nitro, SEV-SNP quotes and the
 * dstack-pod stack are refused (KG_ERR_DENIED, naming the variant). The runtime events are what
 * RTMR3 replays, as dstack verifies them; the TDX event log alongside is checked for
 * consistency (an RTMR3 entry's stated digest, a V2 preimage) but identity never comes from it.
 */
#define KG_RATLS_MAX_ATTESTATION_LEN KG_MAX_RATLS_CERT_LEN
#define KG_RATLS_MAX_ATTESTATION_CONFIG_LEN (64u * 1024u) /* the vm config string */
#define KG_RATLS_MAX_PLATFORM_EVENT_NAME_LEN 1024u        /* TDX boot event labels */

typedef enum kg_ratls_attestation_wire {
    KG_RATLS_ATTESTATION_V0 = 0, /* SCALE */
    KG_RATLS_ATTESTATION_V1 = 1, /* msgpack */
} kg_ratls_attestation_wire;

/* A decoded VersionedAttestation (owned; free with kg_ratls_attestation_free). */
typedef struct kg_ratls_attestation {
    kg_ratls_attestation_wire wire;
    kg_buf quote;               /* the TDX quote */
    kg_eventlog runtime_events; /* the stack's runtime events, as imr-3 dstack events whose
                                   digests were computed here (V1, or V2 where marked) */
    size_t n_platform_events;   /* entries of the TDX event log carried alongside */
    uint8_t report_data[64];    /* what the attestation says the quote's REPORTDATA is */
    kg_buf config;              /* the vm config string (NUL-terminated; may be empty) */
} kg_ratls_attestation;

/* Parses VersionedAttestation bytes into *out (initialised here; free with
 * kg_ratls_attestation_free, also on failure). Pure: nothing is verified against the quote.
 * Every length is checked against what remains and the named maxima; trailing bytes are an
 * error. */
KG_RESULT kg_ratls_attestation_parse(kg_ratls_attestation *out, const uint8_t *data, size_t len);
void kg_ratls_attestation_free(kg_ratls_attestation *a); /* NULL-safe */

/* Encodes a TDX VersionedAttestation (appended to out): the quote, the imr-3 events of `log`
 * as runtime events (and again, with digests, as the TDX event log), report_data and config
 * (NULL = ""). V0 cannot carry an event-log V2 event (KG_ERR_USAGE). All borrowed. */
KG_RESULT kg_ratls_attestation_encode(kg_buf *out, kg_ratls_attestation_wire wire,
                                      const uint8_t *quote, size_t quote_len,
                                      const kg_eventlog *log, const uint8_t report_data[64],
                                      const char *config);

/* ---- creating -------------------------------------------------------------------------------- */

/* Where a certificate carries its evidence. */
typedef enum kg_ratls_format {
    KG_RATLS_FORMAT_LEGACY = 0, /* .1 quote + .2 event log JSON (dstack guests up to v0.5.8) */
    KG_RATLS_FORMAT_V8,         /* .8: V0 SCALE, or V1 msgpack when an event is event-log V2
                                   (the choice dstack's into_versioned makes) */
    KG_RATLS_FORMAT_V8_MSGPACK, /* .8 as V1 msgpack whatever the events */
} kg_ratls_format;

/* The format a name selects, for the programs' --ratls-format option: "legacy" (.1/.2, with
 * SignCert v1 PKCS#10 requests), "dstack" (.8 and SignCert v2, as guests since v0.5.10; "v8" is
 * the same), "dstack-msgpack" (.8 always as V1 msgpack). KG_ERR_USAGE naming the value else. */
KG_RESULT kg_ratls_format_from_name(kg_ratls_format *out, const char *name);

/* Adds the evidence extensions to cert for `format`: .1 quote + .2 event log JSON, or .8
 * (dstack's VersionedAttestation of the same quote and event log, its report_data that of
 * key's SPKI, config NULL = ""). For code that builds its own certificates. All borrowed. */
KG_RESULT kg_ratls_add_evidence_exts(struct x509_st *cert, kg_ratls_format format,
                                     const kg_p256_key *key, const uint8_t *quote, size_t quote_len,
                                     const char *eventlog_json, size_t eventlog_len,
                                     const char *config);

typedef struct kg_ratls_cert_opts {
    const char *common_name;      /* subject CN; NULL = "keygate RA-TLS" */
    const char *usage;            /* NULL = no usage extension */
    const uint8_t *app_id;        /* NULL or 20 bytes */
    const char *const *dns_names; /* subjectAltName DNS entries (may be NULL) */
    size_t n_dns_names;
    uint64_t not_before, not_after; /* 0 = now - 1 hour / not_before + 365 days */
    bool is_ca;                     /* basicConstraints CA:TRUE (an app CA) */
    /* Issuer: both NULL = self-signed by `key`; else the certificate is issued by this CA
     * (the KMS's temp CA or an app CA). Borrowed. */
    const kg_p256_key *issuer_key;
    const uint8_t *issuer_cert_der;
    size_t issuer_cert_der_len;
    kg_ratls_format format; /* 0 = legacy .1/.2 */
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

/* ---- parsing and verifying ------------------------------------------------------------------- */

/* The RA-TLS payloads of a certificate, copied out (owned). Pure parse: nothing verified. */
typedef struct kg_ratls_evidence {
    kg_buf quote;         /* extension .1 payload, or the quote inside .8 */
    kg_buf eventlog;      /* extension .2 payload, or .8's runtime events as event log JSON
                             (NUL-terminated); len 0 when absent */
    bool has_attestation; /* the evidence came from .8 (then .1 and .2 are absent) */
    kg_ratls_attestation_wire attestation_wire;
    uint8_t attestation_report_data[64]; /* .8's report_data: must equal the quote's */
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
 * kg_ratls_evidence_free, also on failure). The evidence is either .1/.2 or .8, never both.
 * Fails on a missing quote or attestation extension, a duplicated or
 * critical RA-TLS extension, a payload that is not exactly one DER OCTET STRING, an app id that
 * is not 20 bytes, a usage that is not printable ASCII, or a size over the named maxima.
 */
KG_RESULT kg_ratls_parse_cert(kg_ratls_evidence *out, const uint8_t *der, size_t der_len);
/* The same, from a certificate already decoded (borrowed): the one a TLS handshake decoded, so
 * a server does not decode it twice (the decode, public key included, costs more than a warm
 * quote verification). */
KG_RESULT kg_ratls_parse_x509(kg_ratls_evidence *out, struct x509_st *cert);
void kg_ratls_evidence_free(kg_ratls_evidence *ev); /* NULL-safe */

/* A collateral source that keeps its own cache (the KMS's: lib/quote's PCCS client through
 * kg_pccs_client_quote_collateral and kg_pccs_client_verified): get returns the collateral for
 * a parsed quote (a malloc'd copy the verifier frees; KG_ERR_NETWORK or KG_ERR_UNAVAILABLE when
 * it cannot be had now); verified, when set, learns that the quote verified with it at `now`
 * and until when the verdict relied on it, so it may be reused until then. */
typedef struct kg_ratls_collateral_source {
    void *ctx;
    kg_result (*get)(void *ctx, char **json, size_t *len, const kg_quote *quote, const uint8_t *raw,
                     size_t raw_len, uint64_t now);
    void (*verified)(void *ctx, const kg_quote *quote, const char *json, size_t len,
                     uint64_t valid_until, uint64_t now);
} kg_ratls_collateral_source;

/* Where verification takes its trust root, collateral and time from. All borrowed. */
typedef struct kg_ratls_policy {
    kg_dcap_verifier *verifier;  /* required: Intel root in production, sim root in tests */
    const char *collateral_json; /* fixed collateral (PCCS JSON shape), or NULL to fetch: */
    size_t collateral_len;
    const char *pccs_url;       /* PCCS base URL used when collateral_json is NULL */
    const char *pccs_cache_dir; /* optional on-disk collateral cache */
    const kg_ratls_collateral_source *collateral; /* used when collateral_json is NULL; takes
                                                      precedence over pccs_url */
    uint64_t now;                                 /* verification time; 0 = current time */
} kg_ratls_policy;

/* A verified RA-TLS peer: its boot identity (identity.h; everything there was checked against
 * the quote: binding, DCAP, event log replay == RTMR3) and the evidence around it. */
typedef struct kg_ratls_identity {
    kg_boot_identity boot;
    bool has_key_provider;
    size_t key_provider_len;
    uint8_t key_provider[KG_MAX_KEY_PROVIDER_LEN];
    bool system_ready;
    bool has_usage; /* the usage the certificate's holder wrote: informative, decides nothing */
    char usage[KG_RATLS_MAX_USAGE_LEN + 1];
    uint8_t mrtd[KG_RTMR_LEN];
    uint8_t rtmr[4][KG_RTMR_LEN];
    uint8_t report_data[64];
    uint64_t valid_until; /* earliest expiry the verdict relied on (collateral, cert) */
} kg_ratls_identity;

/*
 * Verifies a DER certificate: RA-TLS extensions, the certificate's validity at `now`, the key
 * binding (REPORTDATA == SHA-512("ratls-cert:" || leaf SPKI)), full DCAP verification of the
 * quote (TDX only), the event log replay against RTMR3, if the certificate names an app
 * id, that it equals the event log's, and a self-issued certificate's own signature. Fills *out
 * (zeroed on failure). Errors: KG_ERR_VERIFY
 * ("key is not bound to the quote", "event log replay does not match RTMR3", DCAP causes),
 * KG_ERR_EXPIRED, KG_ERR_INPUT (malformed), KG_ERR_NETWORK (collateral fetch).
 */
KG_RESULT kg_ratls_verify_cert(kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                               const kg_ratls_policy *policy);
/* The same for a certificate already decoded (borrowed), e.g. SSL_get0_peer_certificate. */
KG_RESULT kg_ratls_verify_x509(kg_ratls_identity *out, struct x509_st *cert,
                               const kg_ratls_policy *policy);

/*
 * Verifies evidence that binds a key which is not a certificate's (the KMS's log key:
 * docs/design.md, "The log key in the attestation"): the quote's REPORTDATA must be
 * SHA-512("ratls-cert:" || spki), the RA-TLS binding of that SubjectPublicKeyInfo, then DCAP, the
 * event log replay and the identity exactly as kg_ratls_verify_cert. eventlog_json is the event log
 * JSON array. Fills *out (zeroed on failure); errors as kg_ratls_verify_cert.
 */
KG_RESULT kg_ratls_verify_key_evidence(kg_ratls_identity *out, const uint8_t *spki, size_t spki_len,
                                       const uint8_t *quote, size_t quote_len,
                                       const char *eventlog_json, size_t eventlog_len,
                                       const kg_ratls_policy *policy);

/*
 * Verifies evidence that binds something other than a key (the KMS's own self-check, a root
 * epoch's proposal: docs/design.md): the quote's REPORTDATA must be exactly report_data, then
 * DCAP (TDX only), the event log replay and the identity exactly as kg_ratls_verify_cert, so a
 * KMS's own identity and its callers' come from one producer. eventlog_json is the event log
 * JSON array. Fills *out (zeroed on failure; valid_until is the DCAP verdict's). Errors as
 * kg_ratls_verify_cert; a REPORTDATA mismatch is KG_ERR_VERIFY "the quote's REPORTDATA is not
 * the expected binding".
 */
KG_RESULT kg_ratls_verify_quote_evidence(kg_ratls_identity *out,
                                         const uint8_t report_data[KG_REPORT_DATA_LEN],
                                         const uint8_t *quote, size_t quote_len,
                                         const char *eventlog_json, size_t eventlog_len,
                                         const kg_ratls_policy *policy);

/* The identity as one JSON object (hex byte fields), appended to out (NUL-terminated). */
KG_RESULT kg_ratls_identity_to_json(kg_buf *out, const kg_ratls_identity *id);

/* ---- dstack's SignCert v2 request (CertSigningRequestV2) ------------------------------------- *
 *
 * SCALE (dstack/ra-tls/src/cert.rs at 312dc605), the bytes a guest sends hex-encoded as "csr"
 * with api_version 2:
 *   String confirm ("please sign cert:") | Vec<u8> pubkey (SubjectPublicKeyInfo DER) |
 *   CertConfigV2 { Option<String> org_name | String subject | Vec<String> subject_alt_names |
 *                  bool usage_server_auth | bool usage_client_auth | bool ext_quote |
 *                  bool ext_app_info | Option<u64> not_before | Option<u64> not_after } |
 *   VersionedAttestation (all remaining bytes, kg_ratls_attestation_parse)
 * "signature" is a DER ECDSA-P256-SHA256 signature over exactly those bytes by pubkey.
 */
#define KG_CSR_V2_CONFIRM "please sign cert:"
#define KG_CSR_V2_MAX_LEN (KG_RATLS_MAX_ATTESTATION_LEN + 64u * 1024u)
#define KG_CSR_V2_MAX_PUBKEY_LEN 1024u
#define KG_CSR_V2_MAX_NAME_LEN 255u /* confirm, org name, subject, each alt name */
#define KG_CSR_V2_MAX_SANS 32u
#define KG_CSR_V2_MAX_SIG_LEN 128u

/* A decoded CertSigningRequestV2 (owned; free with kg_csr_v2_free). Strings are NUL-terminated
 * and contain no NUL. Large: allocate it. */
typedef struct kg_csr_v2 {
    char confirm[KG_CSR_V2_MAX_NAME_LEN + 1];
    uint8_t pubkey[KG_CSR_V2_MAX_PUBKEY_LEN]; /* SubjectPublicKeyInfo DER */
    size_t pubkey_len;
    bool has_org_name;
    char org_name[KG_CSR_V2_MAX_NAME_LEN + 1];
    char subject[KG_CSR_V2_MAX_NAME_LEN + 1];
    size_t n_sans;
    char sans[KG_CSR_V2_MAX_SANS][KG_CSR_V2_MAX_NAME_LEN + 1];
    bool usage_server_auth, usage_client_auth, ext_quote, ext_app_info;
    bool has_not_before, has_not_after;
    uint64_t not_before, not_after; /* seconds since the epoch */
    kg_ratls_attestation attestation;
    size_t attestation_offset; /* where the attestation's bytes start in the SCALE input (they
                                  run to its end): what a certificate's .8 extension carries */
} kg_csr_v2;

/* Parses the SCALE bytes into *out (initialised here; free with kg_csr_v2_free, also on
 * failure). Pure: neither the signature nor the attestation is checked. */
KG_RESULT kg_csr_v2_parse(kg_csr_v2 *out, const uint8_t *scale, size_t len);
void kg_csr_v2_free(kg_csr_v2 *csr); /* NULL-safe */

/*
 * Verifies a SignCert v2 request: parses it into *csr (the requested subject, SANs, usage and
 * validity: claims of the key holder), requires the confirm word, requires `sig_der` to be a
 * DER ECDSA-P256-SHA256 signature over `scale` by the CSR's key, then verifies the embedded
 * attestation as kg_ratls_verify_cert verifies a certificate's (the quote's REPORTDATA and the
 * attestation's report_data are SHA-512("ratls-cert:" || the CSR's pubkey), full DCAP, runtime
 * events replayed to RTMR3 under the event log rules) into *id. Both outputs are the caller's;
 * *csr must be freed with kg_csr_v2_free whatever the result, *id is zeroed on failure.
 * Errors: KG_ERR_VERIFY (signature by another key, binding, replay), KG_ERR_INPUT/TRUNCATED/
 * TOO_LARGE (malformed), KG_ERR_DENIED (a non-TDX attestation), KG_ERR_NETWORK (collateral).
 */
KG_RESULT kg_csr_v2_verify(kg_csr_v2 *csr, kg_ratls_identity *id, const uint8_t *scale, size_t len,
                           const uint8_t *sig_der, size_t sig_len, const kg_ratls_policy *policy);

/* The request fields a client asks for (borrowed strings; NULL org_name = None). */
typedef struct kg_csr_v2_request {
    const char *org_name;
    const char *subject;
    const char *const *sans;
    size_t n_sans;
    bool usage_server_auth, usage_client_auth, ext_quote, ext_app_info;
    bool has_not_before, has_not_after;
    uint64_t not_before, not_after;
} kg_csr_v2_request;

/* Encodes a CertSigningRequestV2 for `key` with the given VersionedAttestation bytes (appended
 * verbatim) into scale_out, and its DER signature by key into sig_out. All borrowed. */
KG_RESULT kg_csr_v2_build(kg_buf *scale_out, kg_buf *sig_out, const kg_p256_key *key,
                          const kg_csr_v2_request *req, const uint8_t *attestation,
                          size_t attestation_len);

/* As a guest makes one: attests `key` with the TEE (quote over its SPKI, the event log) and
 * builds the request with that attestation, V0 unless an event is event-log V2 or `wire` asks
 * for V1. */
KG_RESULT kg_csr_v2_new(kg_buf *scale_out, kg_buf *sig_out, kg_tee *tee, const kg_p256_key *key,
                        const kg_csr_v2_request *req, kg_ratls_attestation_wire wire);

/* ---- TLS ------------------------------------------------------------------------------------- */

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

/* ---- a certificate received in a TLS 1.3 handshake ------------------------------------------ *
 *
 * In a completed TLS 1.3 handshake the peer's CertificateVerify, which OpenSSL has checked, is a
 * signature by the leaf's key over the transcript, and the transcript holds the whole Certificate
 * message: the key holder signed every byte of the leaf in this very handshake. The leaf's own
 * signature (self-signed, or by the temp CA whose key is public) can add nothing to that, so it
 * is not checked on this path; everything else is (kms/README.md, "The client certificate's
 * signature"). A certificate that did not arrive this way (a file, a CSR's, one handed over by a
 * callback) goes through kg_ratls_verify_cert / kg_ratls_verify_x509, which check it. */

/* A peer's leaf certificate as received in a completed TLS 1.3 handshake (opaque; owned: free
 * with kg_ratls_handshake_cert_free). Only kg_ratls_handshake_cert_take makes one. */
typedef struct kg_ratls_handshake_cert kg_ratls_handshake_cert;

/* Takes the peer's leaf certificate from ssl (borrowed), whose handshake must be complete, TLS
 * 1.3 and not resumed (a resumed session's certificate was not proven in it). Call it while ssl
 * is alive; the result outlives it. Errors: KG_ERR_DENIED "peer presented no certificate",
 * KG_ERR_USAGE (handshake not complete, not TLS 1.3, resumed). */
KG_RESULT kg_ratls_handshake_cert_take(kg_ratls_handshake_cert **out, const struct ssl_st *ssl);
void kg_ratls_handshake_cert_free(kg_ratls_handshake_cert *hc); /* NULL-safe */
/* The certificate (borrowed from hc). */
struct x509_st *kg_ratls_handshake_cert_x509(const kg_ratls_handshake_cert *hc);

/* kg_ratls_verify_x509 for a handshake's certificate, without the redundant check of the
 * certificate's own signature (above): extensions, validity, key binding, full DCAP, event log
 * replay, app id. Errors as kg_ratls_verify_cert. */
KG_RESULT kg_ratls_verify_handshake_cert(kg_ratls_identity *out, const kg_ratls_handshake_cert *hc,
                                         const kg_ratls_policy *policy);

/* After a completed TLS 1.3 handshake: verifies the peer's leaf certificate as RA-TLS
 * (kg_ratls_handshake_cert_take, then kg_ratls_verify_handshake_cert). The handshake proved the
 * peer holds the leaf's key; the quote binds that key. */
KG_RESULT kg_ratls_peer_identity(kg_ratls_identity *out, struct ssl_st *ssl,
                                 const kg_ratls_policy *policy);

#endif
