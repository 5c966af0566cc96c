/* quote.h - Intel DCAP quotes: parsing (TDX v4/v5, SGX v3) and full verification against PCCS
 * collateral at a caller-given time (docs/protocol.md section 4). */
#ifndef KEYGATE_QUOTE_H
#define KEYGATE_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

/* ---- limits (named maxima every length read from a quote or collateral is checked against) --- */

#define KG_MAX_QUOTE_LEN (64u * 1024u) /* real quotes are ~5 KB (the PCK chain dominates) */
#define KG_MAX_QUOTE_SIG_DATA_LEN (60u * 1024u) /* signature data inside a quote */
#define KG_MAX_QE_AUTH_DATA_LEN 4096u           /* Intel's QE puts 32 bytes here */
#define KG_MAX_PCK_CHAIN_LEN (32u * 1024u)      /* PEM text of the PCK chain (3 certificates) */
#define KG_MAX_COLLATERAL_LEN (1024u * 1024u)   /* the whole collateral JSON document */
#define KG_MAX_ADVISORY_IDS 64u
#define KG_ADVISORY_ID_MAX 32u /* "INTEL-SA-00615" and room to spare, incl. NUL */
#define KG_TCB_STATUS_MAX 48u  /* longest status string incl. NUL */

/* ---- constants from Intel's quote format ----------------------------------------------------- */

#define KG_TEE_TYPE_SGX 0x00000000u
#define KG_TEE_TYPE_TDX 0x00000081u
#define KG_ATT_KEY_TYPE_ECDSA_P256 2u
#define KG_CERT_TYPE_PCK_CHAIN 5u /* PEM chain: PCK leaf, intermediate CA, root CA */
#define KG_CERT_TYPE_QE_REPORT 6u /* QE report certification data (wraps type 5) */
#define KG_QUOTE_HEADER_LEN 48u
#define KG_SGX_REPORT_LEN 384u
#define KG_TD10_REPORT_LEN 584u
#define KG_TD15_REPORT_LEN 648u
#define KG_QUOTE_REPORTDATA_LEN 64u

typedef enum kg_quote_body_type {
    KG_BODY_SGX = 1,  /* SGX enclave report (quote v3, or v5 body type 1) */
    KG_BODY_TD10 = 2, /* TDX 1.0 TD report (quote v4, or v5 body type 2) */
    KG_BODY_TD15 = 3, /* TDX 1.5 TD report (quote v5 body type 3) */
} kg_quote_body_type;

/* Quote header, 48 bytes, little-endian integers. */
typedef struct kg_quote_header {
    uint16_t version;      /* 3 (SGX), 4 or 5 (TDX) */
    uint16_t att_key_type; /* 2 = ECDSA-256 with P-256 */
    uint32_t tee_type;     /* KG_TEE_TYPE_SGX / KG_TEE_TYPE_TDX */
    uint16_t qe_svn;       /* "reserved" in v4/v5 */
    uint16_t pce_svn;      /* "reserved" in v4/v5 */
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
} kg_quote_header;

/* SGX enclave report body, 384 bytes; both an SGX quote's body and the QE report. */
typedef struct kg_sgx_report {
    uint8_t cpu_svn[16];
    uint32_t misc_select;
    uint8_t reserved1[12];
    uint8_t isv_ext_prod_id[16];
    uint8_t attributes[16]; /* attributes[0] bit 1 = DEBUG */
    uint8_t mr_enclave[32];
    uint8_t reserved2[32];
    uint8_t mr_signer[32];
    uint8_t reserved3[32];
    uint8_t config_id[64];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint16_t config_svn;
    uint8_t reserved4[42];
    uint8_t isv_family_id[16];
    uint8_t report_data[64];
} kg_sgx_report;

/* TD report body: 584 bytes (TDX 1.0); TDX 1.5 appends tee_tcb_svn2 and mr_service_td. */
typedef struct kg_td_report {
    uint8_t tee_tcb_svn[16]; /* [0] TDX module ISVSVN, [1] TDX module major version */
    uint8_t mr_seam[48];
    uint8_t mr_signer_seam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8]; /* td_attributes[0] bit 0 = DEBUG (TUD) */
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mr_config_id[48];
    uint8_t mr_owner[48];
    uint8_t mr_owner_config[48];
    uint8_t rtmr[4][48]; /* rtmr[0..3] */
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16];  /* TDX 1.5 only, else zero */
    uint8_t mr_service_td[48]; /* TDX 1.5 only, else zero */
} kg_td_report;

/*
 * A parsed quote. Fixed-size fields are copied; the byte ranges marked "borrowed" point into
 * the buffer given to kg_quote_parse, which must outlive this struct.
 */
typedef struct kg_quote {
    kg_quote_header header;
    kg_quote_body_type body_type;
    kg_sgx_report sgx;          /* valid when body_type == KG_BODY_SGX */
    kg_td_report td;            /* valid when body_type is KG_BODY_TD10 or KG_BODY_TD15 */
    const uint8_t *signed_data; /* borrowed: header (+ v5 body descriptor) + body */
    size_t signed_len;
    /* Signature data (ECDSA-256 quote signature data structure) */
    uint8_t signature[64];       /* r || s over signed_data, by the attestation key */
    uint8_t attestation_key[64]; /* raw P-256 point x || y */
    kg_sgx_report qe_report;
    const uint8_t *qe_report_raw; /* borrowed, KG_SGX_REPORT_LEN bytes (what the PCK signed) */
    uint8_t qe_report_signature[64];
    const uint8_t *qe_auth_data; /* borrowed */
    size_t qe_auth_data_len;
    const uint8_t *pck_chain; /* borrowed: PEM text, leaf first (certification data type 5) */
    size_t pck_chain_len;
} kg_quote;

/*
 * Parses a TDX v4/v5 or SGX v3 quote. Pure: no policy, no crypto, no allocation. Requires the
 * ECDSA-P256 attestation key type, certification data type 6 wrapping type 5, each length
 * within what remains and its named maximum, and every byte consumed. On failure *out is zeroed.
 * `out` borrows from `quote` (see kg_quote).
 */
KG_RESULT kg_quote_parse(kg_quote *out, const uint8_t *quote, size_t quote_len);

/* Decodes a quote given either as raw bytes or as hex text (optional 0x, surrounding
 * whitespace) into out (caller-owned, at most out_cap bytes). */
KG_RESULT kg_quote_decode_input(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *in,
                                size_t in_len);

/* ---- DCAP verification ----------------------------------------------------------------------- */

/* The pinned Intel SGX Root CA certificate (DER), SHA-256 fingerprint
 * 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3. Borrowed, static. */
extern const uint8_t kg_intel_sgx_root_ca_der[];
extern const size_t kg_intel_sgx_root_ca_der_len;

/* A verifier: one trust root, and caches of verified collateral and PCK chains. Thread-safe. */
typedef struct kg_dcap_verifier kg_dcap_verifier;

/*
 * Creates a verifier. root_ca_der == NULL means the pinned Intel SGX Root CA (production).
 * Passing another DER certificate makes THAT the only trust root: this is the explicit option
 * the TDX simulator uses for its own test PKI; never pass untrusted bytes here.
 * Caller frees with kg_dcap_verifier_free.
 */
KG_RESULT kg_dcap_verifier_new(kg_dcap_verifier **out, const uint8_t *root_ca_der,
                               size_t root_ca_der_len);
void kg_dcap_verifier_free(kg_dcap_verifier *v); /* NULL-safe */

/* Caches are on by default. Caching never weakens a check: entries are keyed by the exact bytes
 * verified and only used inside the validity window computed when verifying them.
 * Off (the benchmark's "cold" mode), no verdict is reused: every call checks every signature
 * that carries information, each once: the root CA CRL, the PCK CA certificate, the PCK CRL,
 * the TCB signing certificate (by the root), TCB Info and QE Identity (by the TCB signing
 * certificate), the PCK certificate (by the PCK CA), the QE report (by the PCK key) and the
 * quote (by the attestation key): nine ECDSA verifications; and every validity window,
 * revocation, identity and TCB check. Within one call a certificate met in two chains is checked
 * once; the root's self-signature is checked by kg_dcap_verifier_new only (the root is trusted
 * for its exact bytes: every chain must end in the pinned certificate itself). */
void kg_dcap_verifier_set_cache(kg_dcap_verifier *v, bool enabled);
/* Parsing is pure, so parsed objects are reused when their exact bytes repeat: certificates and
 * CRLs (DER), PEM chains, the collateral document, and the TCB Info / QE Identity texts (parsed
 * after their first successful signature check). Every check still runs on them. On by
 * default, also in "cold" mode; off only to measure parsing cost. */
void kg_dcap_verifier_set_parse_cache(kg_dcap_verifier *v, bool enabled);

/* The result of a successful verification. */
typedef struct kg_dcap_report {
    char status[KG_TCB_STATUS_MAX]; /* "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                       "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                       "OutOfDateConfigurationNeeded", and for TDX 1.5
                                       "TDRelaunchAdvised[ConfigurationNeeded]" */
    size_t n_advisory_ids;
    char advisory_ids[KG_MAX_ADVISORY_IDS][KG_ADVISORY_ID_MAX];
    uint8_t fmspc[6]; /* from the PCK certificate's SGX extensions */
    uint8_t pce_id[2];
    uint8_t ppid[16]; /* PPID extension; device_id = SHA-256(ppid) (docs/protocol.md section 2) */
    bool has_ppid;
    uint8_t cpu_svn[16];
    uint16_t pce_svn;
    uint64_t valid_until; /* earliest expiry among everything the verdict relied on */
    kg_quote quote;       /* borrows from the quote buffer passed to kg_dcap_verify */
} kg_dcap_report;

/*
 * Verifies a quote against collateral in the PCCS JSON shape (keys pck_crl_issuer_chain,
 * root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature,
 * qe_identity_issuer_chain, qe_identity, qe_identity_signature; see tests/vectors/dcap/README.md)
 * at unix time `now`, following Intel's quote verification logic (Intel QVL 4.1.2.4): PCK chain to
 * the verifier's root with both CRLs, collateral chains and signatures over the exact signed
 * text, validity windows, QE report signature, attestation key binding, quote signature,
 * FMSPC/PCE-ID, TDX module identity, QE identity, TCB level and combined status. Debug TDs and
 * debug enclaves are rejected; so is a Revoked or unsupported TCB.
 *
 * On failure the error (KG_ERR_VERIFY, KG_ERR_EXPIRED, KG_ERR_DENIED, KG_ERR_INPUT, ...) names
 * the precise cause, and *out is zeroed. out->quote borrows from `quote`.
 *
 * Requirements on collateral made by a non-Intel root (the simulator): the PCK leaf's subject CN
 * contains "SGX PCK Certificate", its CA's "SGX PCK Platform CA" (or "Processor CA"), the TCB
 * Info / QE Identity signer's "SGX TCB Signing"; the PCK leaf carries the SGX extensions
 * (OID 1.2.840.113741.1.13.1 with PPID, TCB, PCE-ID, FMSPC); every chain ends in the root
 * certificate itself; the PCK CRL is issued by the PCK leaf's issuer; TD attributes have
 * SEPT_VE_DISABLE set and no reserved bits.
 */
KG_RESULT kg_dcap_verify(kg_dcap_verifier *v, kg_dcap_report *out, const uint8_t *quote,
                         size_t quote_len, const char *collateral_json, size_t collateral_len,
                         uint64_t now);

/* The same verification for a quote the caller has already parsed with kg_quote_parse (RA-TLS
 * checks REPORTDATA before it fetches collateral, so parsing again here would read the same
 * bytes twice per request). `quote` must be kg_quote_parse's output, unmodified, and the bytes
 * it borrows must outlive *out; it may be &out->quote. */
KG_RESULT kg_dcap_verify_parsed(kg_dcap_verifier *v, kg_dcap_report *out, const kg_quote *quote,
                                const char *collateral_json, size_t collateral_len, uint64_t now);

/* What must hold before anyone fetches collateral for a quote: its PCK certificate chain
 * (leaf first) ends in the verifier's trusted root and each certificate is issued and signed by
 * the next. Neither validity windows nor CRLs (those come with the collateral; kg_dcap_verify
 * checks them). A quote made up by a stranger therefore costs a PCCS nothing, whatever FMSPC its
 * forged leaf names. KG_ERR_VERIFY (or KG_ERR_INPUT for a malformed chain) otherwise. */
KG_RESULT kg_dcap_pck_chain_precheck(kg_dcap_verifier *v, const kg_quote *q);

/* ---- PCCS client (Intel PCS/PCCS v4 API) ----------------------------------------------------- */

/* A platform whose collateral a PCCS holds: what a quote's PCK leaf certificate names. */
typedef struct kg_pccs_platform {
    bool tdx;       /* TDX collateral (else SGX) */
    char fmspc[13]; /* 12 uppercase hex digits */
    char ca[10];    /* the PCK CA: "platform" or "processor" */
} kg_pccs_platform;

/*
 * Fetches the collateral for `quote` (its FMSPC and CA type come from the quote's PCK
 * certificate) from a PCCS at base_url (e.g. "https://localhost:8081/sgx/certification/v4" is
 * derived from "https://localhost:8081"), and writes it to *out_json (caller frees with free())
 * in the same JSON shape kg_dcap_verify takes. Responses are cached in memory and, when
 * cache_dir is not NULL, on disk, until their nextUpdate. A process-wide client with
 * KG_PCCS_NO_LIMITS (one fetch at a time per platform, nothing else held back): for tools and
 * the agent, which fetch for one peer at a time. A server uses its own kg_pccs_client.
 */
KG_RESULT kg_pccs_get_collateral(char **out_json, size_t *out_len, const char *base_url,
                                 const uint8_t *quote, size_t quote_len, const char *cache_dir,
                                 uint64_t now);
/* Forgets the in-memory PCCS cache of kg_pccs_get_collateral (the disk cache stays). */
void kg_pccs_clear_memory_cache(void);

/*
 * A PCCS client with fetch limits (docs/design.md, "Denial of service"): what stands between
 * callers' quotes and the PCCS. Per platform (base URL, TEE, FMSPC, CA) one table entry holds
 * the last answer, kept until its nextUpdate; concurrent requests for a platform wait for one
 * fetch (single flight); a failed fetch (or an answer already past its nextUpdate) is not
 * retried before a backoff that starts at backoff_min_s and doubles up to backoff_max_s; at most
 * fetches_per_s fetches begin in any one second of the callers' clock, over all platforms; the
 * table has max_platforms entries (a full table drops a failed, then the least recently used
 * entry; it refuses when every entry is being fetched).
 *
 * Errors of kg_pccs_client_get*: a fetch that failed is KG_ERR_NETWORK (the PCCS is down or
 * answered badly: nothing about the quote), a request held back by a limit is KG_ERR_UNAVAILABLE
 * naming the limit, the FMSPC and when to try again. Both mean "no collateral now", never that
 * the quote is bad.
 */
typedef struct kg_pccs_limits {
    uint32_t backoff_min_s; /* 0: a failure is not remembered (no negative cache) */
    uint32_t backoff_max_s;
    uint32_t fetches_per_s; /* 0: unlimited */
    uint32_t max_platforms; /* 1..KG_PCCS_MAX_PLATFORMS */
    uint32_t max_chains; /* PCK chains kg_pccs_client_verified remembers, 0..KG_PCCS_MAX_CHAINS */
} kg_pccs_limits;

#define KG_PCCS_MAX_PLATFORMS 1024u
#define KG_PCCS_MAX_CHAINS 1024u
/* What a server facing many callers uses (the KMS). A KMS's callers share few platforms (one
 * FMSPC per CPU model and TCB level); 4 fetches a second is 16 GETs to the PCCS at most. Each
 * calling host has its own PCK chain; one remembered costs 64 bytes, not a copy of collateral. */
#define KG_PCCS_SERVER_LIMITS                                                                      \
    ((kg_pccs_limits){.backoff_min_s = 1,                                                          \
                      .backoff_max_s = 60,                                                         \
                      .fetches_per_s = 4,                                                          \
                      .max_platforms = 64,                                                         \
                      .max_chains = 64})
#define KG_PCCS_NO_LIMITS ((kg_pccs_limits){.max_platforms = 16})

/* Where the collateral of one platform comes from: the PCCS over HTTP(S) by default; tests give
 * another. fetch writes a new JSON document (caller frees) and its earliest nextUpdate (unix
 * seconds); base is the PCCS base URL without a path. It may be called from any thread. */
typedef struct kg_pccs_source {
    void *ctx;
    kg_result (*fetch)(void *ctx, char **json, int64_t *expiry, const char *base,
                       const kg_pccs_platform *pf);
} kg_pccs_source;

/* Counters since the client was made (and two gauges). */
typedef struct kg_pccs_stats {
    uint64_t fetches;         /* fetches begun (each is 4 GETs with the HTTP source) */
    uint64_t fetch_failures;  /* of which failed or were already stale */
    uint64_t hits;            /* answered from the table or the disk cache */
    uint64_t chain_hits;      /* answered by a remembered PCK chain (kg_pccs_client_verified) */
    uint64_t waited;          /* waited for another request's fetch of the same platform */
    uint64_t refused_backoff; /* held back: the platform's last fetch failed recently */
    uint64_t refused_rate;    /* held back: fetches_per_s reached */
    uint64_t refused_table;   /* held back: every entry of the table is being fetched */
    uint32_t platforms;       /* entries in use */
    uint32_t chains;          /* PCK chains remembered */
    uint32_t waiting;         /* requests waiting for a fetch now */
} kg_pccs_stats;

typedef struct kg_pccs_client kg_pccs_client;

/* A new client (caller frees with kg_pccs_client_free). source NULL: HTTP. Both borrowed only
 * for the call (copied). KG_ERR_USAGE for limits out of range. */
KG_RESULT kg_pccs_client_new(kg_pccs_client **out, const kg_pccs_limits *limits,
                             const kg_pccs_source *source);
/* Frees the client (NULL is fine). No request may be in progress. */
void kg_pccs_client_free(kg_pccs_client *c);
/* The collateral for `quote` (its platform from the PCK leaf, not verified here: verify the
 * chain first) at `now` (unix seconds; the clock of every limit). As kg_pccs_get_collateral. */
KG_RESULT kg_pccs_client_get(kg_pccs_client *c, char **out_json, size_t *out_len,
                             const char *base_url, const uint8_t *quote, size_t quote_len,
                             const char *cache_dir, uint64_t now);
/* The same for a platform already known. */
KG_RESULT kg_pccs_client_get_platform(kg_pccs_client *c, char **out_json, size_t *out_len,
                                      const char *base_url, const kg_pccs_platform *pf,
                                      const char *cache_dir, uint64_t now);
/*
 * The collateral for a quote already parsed (q borrows from raw), for a server that verifies many
 * callers' quotes (the KMS's kg_ratls_collateral_source): the answer of the quote's platform entry
 * (the one cache: an answer is used until its nextUpdate), found
 *   - by the exact bytes of the quote's PCK chain, when a quote with this very chain verified
 *     with that answer (kg_pccs_client_verified) until the earliest expiry that verdict relied
 *     on and at most KG_PCCS_CHAIN_TTL_S ago: no parse of the chain (a quarter of a KMS's CPU
 *     under load when parsed per request);
 *   - else, once the chain leads to v's trusted root (kg_dcap_pck_chain_precheck: a stranger's
 *     made-up quote, whatever FMSPC it names, costs the PCCS nothing), by the platform its PCK
 *     leaf names, as kg_pccs_client_get (fetch limits, errors).
 * *out_json: caller frees. v and q borrowed.
 */
#define KG_PCCS_CHAIN_TTL_S 300u
KG_RESULT kg_pccs_client_quote_collateral(kg_pccs_client *c, char **out_json, size_t *out_len,
                                          kg_dcap_verifier *v, const char *base_url,
                                          const kg_quote *q, const uint8_t *raw, size_t raw_len,
                                          uint64_t now);
/* A quote with q's PCK chain verified at `now` with json (as kg_pccs_client_quote_collateral
 * gave it), and the verdict relied on it until valid_until (0: no earlier expiry than the
 * answer's): the chain then finds that answer directly until min(valid_until, now +
 * KG_PCCS_CHAIN_TTL_S), while the answer is still its platform's. A chain not reported (its
 * verification failed) is not remembered; an answer no longer in the table is not either. The
 * least lasting of max_chains entries makes room. */
void kg_pccs_client_verified(kg_pccs_client *c, const kg_quote *q, const char *json, size_t len,
                             uint64_t valid_until, uint64_t now);
/* A consistent copy of the counters. */
void kg_pccs_client_stats(kg_pccs_client *c, kg_pccs_stats *out);
/* Forgets every entry not being fetched and every remembered chain (counters stay). */
void kg_pccs_client_clear(kg_pccs_client *c);

#endif
