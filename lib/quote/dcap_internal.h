/* dcap_internal.h - shared pieces of the DCAP verifier inside lib/quote (not a public API). */
#ifndef KG_QUOTE_DCAP_INTERNAL_H
#define KG_QUOTE_DCAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keygate/quote.h"
#include "keygate/result.h"

/* ---- PCK certificate SGX extensions (OID 1.2.840.113741.1.13.1), pck_ext.c ------------------ */

#define KG_SGX_EXT_MAX_LEN 4096u /* the extension is ~500 bytes in Intel's certificates */

typedef struct kg_pck_ext {
    uint8_t ppid[16];
    uint8_t cpu_svn[16];
    uint8_t comp_svn[16]; /* SGX TCB component SVNs 1..16 */
    uint16_t pce_svn;
    uint8_t pce_id[2];
    uint8_t fmspc[6];
} kg_pck_ext;

/* Parses the DER value of the SGX extension. Pure; all fields required; *out is zeroed on
 * failure. */
KG_RESULT kg_pck_ext_parse(kg_pck_ext *out, const uint8_t *der, size_t der_len);

/* ---- collateral JSON (TCB Info v3, QE Identity v2), collateral.c ---------------------------- */

#define KG_MAX_TCB_LEVELS 128u
#define KG_MAX_TDX_MODULE_IDS 16u
#define KG_MAX_QE_TCB_LEVELS 32u

/* Intel's TCB statuses (tcbStatus strings), ordered as in the QVL. */
typedef enum kg_tcb_status {
    KG_TCB_UP_TO_DATE = 0,
    KG_TCB_SW_HARDENING_NEEDED,
    KG_TCB_CONFIGURATION_NEEDED,
    KG_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    KG_TCB_OUT_OF_DATE,
    KG_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    KG_TCB_REVOKED,
    KG_TCB_TD_RELAUNCH_ADVISED, /* TDX 1.5: the platform is updated, the TD should relaunch */
    KG_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
} kg_tcb_status;

const char *kg_tcb_status_name(kg_tcb_status s);

/* Advisory ids of one TCB level: a range in its document's pool (ids are shared text). */
#define KG_MAX_ADVISORY_POOL 1024u
typedef struct kg_advisories {
    uint16_t first;
    uint16_t n;
} kg_advisories;
typedef char kg_advisory_id[KG_ADVISORY_ID_MAX];

typedef struct kg_tcb_level {
    uint8_t sgx_svn[16];
    uint8_t tdx_svn[16];
    bool has_tdx;
    uint16_t pce_svn;
    kg_tcb_status status;
    kg_advisories advisories;
} kg_tcb_level;

typedef struct kg_module_tcb_level {
    uint16_t isv_svn;
    kg_tcb_status status;
    kg_advisories advisories;
} kg_module_tcb_level;

typedef struct kg_tdx_module_identity {
    char id[16]; /* "TDX_03", upper-cased */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    kg_module_tcb_level levels[KG_MAX_QE_TCB_LEVELS];
} kg_tdx_module_identity;

typedef struct kg_tcb_info {
    bool is_tdx; /* id "TDX" (else "SGX") */
    uint32_t version;
    int64_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    bool has_tdx_module;
    uint8_t module_mrsigner[48];
    uint8_t module_attributes[8];
    uint8_t module_attributes_mask[8];
    bool has_module_identities;
    size_t n_module_ids;
    kg_tdx_module_identity module_ids[KG_MAX_TDX_MODULE_IDS];
    size_t n_levels;
    kg_tcb_level levels[KG_MAX_TCB_LEVELS];
    size_t n_pool;
    kg_advisory_id pool[KG_MAX_ADVISORY_POOL];
} kg_tcb_info;

typedef struct kg_qe_identity {
    bool is_td_qe; /* id "TD_QE" (else "QE") */
    uint32_t version;
    int64_t issue_date, next_update;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isv_prod_id;
    size_t n_levels;
    kg_module_tcb_level levels[KG_MAX_QE_TCB_LEVELS];
    size_t n_pool;
    kg_advisory_id pool[KG_MAX_ADVISORY_POOL];
} kg_qe_identity;

/* Parse the signed JSON texts (the caller verifies their signatures). Caller-owned outputs
 * (large: allocate them on the heap). */
KG_RESULT kg_tcb_info_parse(kg_tcb_info *out, const char *json, size_t len);
KG_RESULT kg_qe_identity_parse(kg_qe_identity *out, const char *json, size_t len);
/* "YYYY-MM-DDTHH:MM:SSZ" (optionally with fractional seconds) to unix seconds. */
KG_RESULT kg_parse_iso8601(int64_t *out, const char *s);

/* ---- the collateral document (envelope.c) ---------------------------------------------------- */

typedef enum kg_coll_field {
    KG_COLL_PCK_CRL_ISSUER_CHAIN,
    KG_COLL_ROOT_CA_CRL,
    KG_COLL_PCK_CRL,
    KG_COLL_TCB_INFO_ISSUER_CHAIN,
    KG_COLL_TCB_INFO,
    KG_COLL_TCB_INFO_SIGNATURE,
    KG_COLL_QE_IDENTITY_ISSUER_CHAIN,
    KG_COLL_QE_IDENTITY,
    KG_COLL_QE_IDENTITY_SIGNATURE,
    KG_COLL_N
} kg_coll_field;

typedef struct kg_collateral_doc {
    char *v[KG_COLL_N]; /* owned, NUL-terminated (no NUL inside), decoded JSON strings */
    size_t len[KG_COLL_N];
} kg_collateral_doc;

/* Parses the collateral JSON; all KG_COLL_N keys required. Free with kg_collateral_doc_free. */
KG_RESULT kg_collateral_doc_parse(kg_collateral_doc *d, const char *json, size_t len);
void kg_collateral_doc_free(kg_collateral_doc *d);
const char *kg_collateral_key(kg_coll_field f);

/* ---- PCCS replies (pccs.c): untrusted bytes from the network, read through kg_reader --------- */

/* The trimmed value of header `name` (case-insensitive) in one raw header line; false when the
 * line is another header. *value points into line. */
bool kg_pccs_header_value(const uint8_t *line, size_t len, const char *name, const uint8_t **value,
                          size_t *value_len);
/* A percent-encoded issuer chain header value, decoded to a new string (caller frees). */
KG_RESULT kg_pccs_issuer_chain(char **out, const uint8_t *value, size_t len, const char *what);
/* A CRL body (DER, PEM or hex text) as a new lowercase hex string of its DER (caller frees). */
KG_RESULT kg_pccs_crl_hex(char **out, const uint8_t *body, size_t len, const char *what);
/* From a PCS body {"<key>":{...},"signature":"<hex>"}: the value of top-level `key` byte for
 * byte and the signature, as new strings (caller frees both). */
KG_RESULT kg_pccs_signed_body(char **text, char **sig, const uint8_t *body, size_t len,
                              const char *key);

/* ---- the PCCS protocol under the client's table (pccs.c, used by pccs_client.c) ------------- */

#define KG_PCCS_URL_MAX 2048u
/* The key of a platform's collateral in the caches: "<base>|<tdx|sgx>|<FMSPC>|<ca>". */
#define KG_PCCS_KEY_MAX (KG_PCCS_URL_MAX + 64u)

/* The PCCS base URL: url without a trailing "/", "/sgx/certification/v4" or
 * "/tdx/certification/v4". KG_ERR_USAGE for a URL that is not http(s) or too long. */
KG_RESULT kg_pccs_base_of(char *out, size_t n, const char *url);
/* The quote's platform (TEE, FMSPC and PCK CA) from its PCK leaf certificate. Untrusted: the
 * chain is not verified here (kg_dcap_pck_chain_precheck does that). */
KG_RESULT kg_pccs_platform_of(kg_pccs_platform *pf, const uint8_t *quote, size_t quote_len);
/* The default kg_pccs_source: GETs TCB Info, QE Identity, the PCK CRL and the root CA CRL from
 * the PCCS at base and assembles them (*json: caller frees); *expiry is their earliest
 * nextUpdate. ctx is unused. */
KG_RESULT kg_pccs_http_fetch(void *ctx, char **json, int64_t *expiry, const char *base,
                             const kg_pccs_platform *pf);
/* The disk cache, <dir>/pccs-<sha256(key)>.json: a copy of an entry valid at now (its expiry in
 * *expiry; caller frees), or NULL; and storing one (best effort: a failure only costs a fetch). */
char *kg_pccs_disk_get(const char *dir, const char *key, int64_t now, int64_t *expiry);
void kg_pccs_disk_put(const char *dir, const char *key, const char *json, int64_t expiry);

/* ---- X.509 and ECDSA helpers, x509.c --------------------------------------------------------- */

/* Test and bench hook: when set, called on this thread with the label of every ECDSA
 * verification the verifier is about to perform (signatures of quotes, QE reports, collateral
 * texts, certificates and CRLs), so a test can list exactly what one call verifies. */
extern _Thread_local void (*kg_dcap_ecdsa_hook)(void *arg, const char *what);
extern _Thread_local void *kg_dcap_ecdsa_hook_arg;
/* Verifies a raw r||s P-256 ECDSA signature over SHA-256(data). */
KG_RESULT kg_dcap_ecdsa_verify(EVP_PKEY *key, const uint8_t sig[64], const uint8_t *data,
                               size_t len, const char *what);
/* The signature of a certificate or CRL by issuer_key (ecdsa-with-SHA256 only), over its tbs
 * bytes as received. */
KG_RESULT kg_dcap_verify_cert_sig(X509 *cert, EVP_PKEY *issuer_key, const char *what);
KG_RESULT kg_dcap_verify_crl_sig(X509_CRL *crl, EVP_PKEY *issuer_key, const char *what);
/* Builds a P-256 public key from a raw x||y point (checked to be on the curve). */
KG_RESULT kg_dcap_p256_key(EVP_PKEY **out, const uint8_t xy[64]);
/*
 * A cache of parsed certificates and CRLs keyed by their exact DER bytes. Parsing is pure, so
 * reusing the object for identical bytes changes no verdict; every signature, validity and
 * revocation check still runs on it. (OpenSSL 3 spends ~100 us decoding one certificate's key.)
 * Thread-safe; objects handed out are up-referenced (caller frees).
 */
typedef struct kg_der_cache kg_der_cache;
KG_RESULT kg_der_cache_new(kg_der_cache **out);
void kg_der_cache_free(kg_der_cache *c);
void kg_der_cache_set_enabled(kg_der_cache *c, bool enabled);
/* Parses (or finds) exactly `len` bytes of DER; trailing bytes are an error. */
KG_RESULT kg_der_cache_x509(kg_der_cache *c, X509 **out, const uint8_t *der, size_t len,
                            const char *what);
KG_RESULT kg_der_cache_crl(kg_der_cache *c, X509_CRL **out, const uint8_t *der, size_t len,
                           const char *what);

/* Parses a strict PEM chain (leaf first) into a new stack; at most `max` certificates. */
KG_RESULT kg_dcap_pem_chain(STACK_OF(X509) * *out, const uint8_t *pem, size_t len, size_t max,
                            const char *what, kg_der_cache *cache);
/* ASN1_TIME to unix seconds. */
KG_RESULT kg_dcap_asn1_time(int64_t *out, const ASN1_TIME *t);

#endif
