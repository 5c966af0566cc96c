/* sim_internal.h - the simulator's shared pieces: its PKI helpers and the platform record. */
#ifndef KG_SIM_INTERNAL_H
#define KG_SIM_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"
#include "keygate/sim.h"

#define SIM_MAX_FILE (256u * 1024u)

/* The platform's fixed facts (dir/platform.json), read back for every quote. */
typedef struct sim_platform {
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    uint8_t ppid[16];
    uint8_t cpu_svn[16]; /* = the 16 SGX TCB component SVNs */
    uint16_t pce_svn;
    uint16_t newest_pce_svn; /* PCESVN of the UpToDate TCB level (> pce_svn: OutOfDate) */
    uint8_t tee_tcb_svn[16];
    uint8_t mr_seam[48];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    uint8_t qe_report[384];
    uint8_t qe_report_sig[64];
    uint8_t qe_auth_data[32];
} sim_platform;

kg_result sim_platform_load(sim_platform *out, const char *dir);

#define SIM_SEAL_SECRET_LEN 32u
/* The platform's seal secret (dir/seal.secret, 0600): the stand-in for a CPU's fused key, from
 * which a VM's sealing key derives (tee.h, kg_tee_seal_key). Created on first use on a platform
 * made before it existed. A secret: the caller wipes out. */
kg_result sim_seal_secret(uint8_t out[SIM_SEAL_SECRET_LEN], const char *dir);

/* PKI */
kg_result sim_key_generate(EVP_PKEY **out);
kg_result sim_key_save(const char *path, EVP_PKEY *key); /* PEM PKCS#8, mode 0600 */
kg_result sim_key_load(EVP_PKEY **out, const char *path);
kg_result sim_cert_load(X509 **out, const char *path);
kg_result sim_cert_pem(kg_buf *out, X509 *cert); /* appends PEM text */
/* ECDSA-SHA256 over msg, raw r||s. */
kg_result sim_sign_raw(uint8_t sig[64], EVP_PKEY *key, const void *msg, size_t len);
/* Raw x||y of a P-256 public key. */
kg_result sim_pub_raw(uint8_t out[64], EVP_PKEY *key);

/* Reads dir/name whole into out (NUL-terminated). */
kg_result sim_read(kg_buf *out, const char *dir, const char *name);

#endif
