/* sim.h - the simulated TDX platform: its own test PKI (root CA, platform CA, PCK with Intel's
 * SGX extensions, TCB signing), QE and attestation keys, signed collateral, OS measurement
 * profiles, quotes, and a PCCS (Intel v4 API) serving the collateral.
 *
 * Quotes made here pass full DCAP verification ONLY under the simulator's root CA (given
 * explicitly to kg_dcap_verifier_new); the pinned Intel root rejects them. */
#ifndef KEYGATE_SIM_H
#define KEYGATE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/eventlog.h"
#include "keygate/result.h"

#define KG_SIM_DEFAULT_IMAGE "keygate-sim-os-0.1"
#define KG_SIM_MAX_IMAGE_NAME 64u

/* A simulated OS image's measurement profile (what the platform measured at VM launch). */
typedef struct kg_sim_profile {
    char image[KG_SIM_MAX_IMAGE_NAME + 1];
    uint8_t mrtd[KG_RTMR_LEN];
    uint8_t rtmr[3][KG_RTMR_LEN]; /* RTMR0..2 */
    uint8_t os_image_hash[32];    /* SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2) */
} kg_sim_profile;

/* Deterministic profile of a named image ([A-Za-z0-9._-], 1..64 characters): firmware, ACPI tables,
 * kernel, command line and initrd digests derived from the name, extended as a TDX guest boot
 * would. */
KG_RESULT kg_sim_profile_compute(kg_sim_profile *out, const char *image);

typedef struct kg_sim_init_opts {
    const char *image;      /* default KG_SIM_DEFAULT_IMAGE */
    uint64_t now;           /* issue time of collateral and certificates; 0 = current time */
    uint32_t validity_days; /* collateral nextUpdate = now + days; 0 = 30 */
    /* The TCB status the collateral gives this platform: NULL or "UpToDate" (default), or
     * "OutOfDate" (its PCESVN is below the newest TCB level; advisories INTEL-SA-00106,
     * INTEL-SA-00115), to exercise TCB policy (requireTcbUpToDate, isKmsAllowed). */
    const char *tcb_status;
} kg_sim_init_opts;

/*
 * Creates a simulated platform in dir (created with mode 0700 if absent; fails with
 * KG_ERR_USAGE if it already holds a platform). Private keys are written with mode 0600.
 * opts may be NULL.
 */
KG_RESULT kg_sim_init(const char *dir, const kg_sim_init_opts *opts);

/* Re-issues the collateral (TCB Info, QE Identity, both CRLs) valid from `now` (0 = current
 * time) for validity_days (0 = 30), keeping all keys. */
KG_RESULT kg_sim_refresh_collateral(const char *dir, uint64_t now, uint32_t validity_days);

/* The simulator root CA certificate (DER), appended to out. The trust root to give
 * kg_dcap_verifier_new for simulated quotes. */
KG_RESULT kg_sim_root_ca_der(kg_buf *out, const char *dir);

/* The collateral in the PCCS JSON shape kg_dcap_verify takes, appended to out
 * (NUL-terminated). */
KG_RESULT kg_sim_collateral(kg_buf *out, const char *dir);

/* The boot-time events of the platform's VMs (RTMR0..2: firmware, kernel, command line and
 * initrd components of the profile), as a JSON array in the docs/protocol.md section 2 element
 * format, appended to out (NUL-terminated). Checked to replay to the profile's registers. */
KG_RESULT kg_sim_boot_eventlog_json(kg_buf *out, const char *platform_dir);

/* The platform's measurement profile (from dir/profile.json). */
KG_RESULT kg_sim_profile_load(kg_sim_profile *out, const char *dir);

/*
 * Produces a TDX v4 quote for simulated VM state (measurements from the profile, rtmr3 as given)
 * with REPORTDATA = report_data, signed by the platform's attestation key; appended to out.
 */
KG_RESULT kg_sim_quote(kg_buf *out, const char *dir, const uint8_t rtmr3[KG_RTMR_LEN],
                       const uint8_t report_data[64]);

/* ---- PCCS over HTTP (libevent evhttp), Intel's v4 API ------------------------------------------
 * GET /{sgx,tdx}/certification/v4/tcb?fmspc=HEX    {"tcbInfo":...,"signature":"hex"}
 *     header TCB-Info-Issuer-Chain (URL-encoded PEM)
 * GET /{sgx,tdx}/certification/v4/qe/identity     {"enclaveIdentity":...,"signature":"hex"}
 *     header SGX-Enclave-Identity-Issuer-Chain
 * GET /sgx/certification/v4/pckcrl?ca=platform[&encoding=der]   CRL (hex DER; DER with
 *     encoding=der), header SGX-PCK-CRL-Issuer-Chain
 * GET /sgx/certification/v4/rootcacrl             root CA CRL as hex DER
 */
typedef struct kg_sim_pccs kg_sim_pccs;

/* Starts serving dir's collateral on host:port (port 0 = pick a free port) in a background
 * thread. Caller stops and frees with kg_sim_pccs_free. */
KG_RESULT kg_sim_pccs_start(kg_sim_pccs **out, const char *dir, const char *host, uint16_t port);
uint16_t kg_sim_pccs_port(const kg_sim_pccs *p);
void kg_sim_pccs_free(kg_sim_pccs *p); /* stops the thread; NULL-safe */

#endif
