/* epoch.c - root-key epoch names and the REPORTDATA of a proposed epoch (epoch.h). */
#include "keygate/epoch.h"

#include <string.h>

#include "keygate/hash.h"

const char *kg_epoch_status_name(unsigned status)
{
    static const char *const names[] = {"none", "proposed", "current", "retiring", "retired"};
    return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}

kg_result kg_epoch_report_data(uint8_t out[64], uint64_t chain_id, const uint8_t kms_contract[20],
                               uint32_t epoch, const uint8_t *ca_spki, size_t ca_spki_len,
                               const uint8_t k256_pub[KG_K256_PUB_LEN])
{
    uint8_t msg[sizeof(KG_EPOCH_REPORT_DOMAIN) - 1 + 8 + 20 + 4 + 32 + KG_K256_PUB_LEN];
    uint8_t *p = msg;
    KG_ENSURE(ca_spki != NULL && ca_spki_len > 0, KG_ERR_USAGE, "epoch report data: no CA key");
    memcpy(p, KG_EPOCH_REPORT_DOMAIN, sizeof(KG_EPOCH_REPORT_DOMAIN) - 1);
    p += sizeof(KG_EPOCH_REPORT_DOMAIN) - 1;
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(chain_id >> (8 * i));
    memcpy(p, kms_contract, 20);
    p += 20;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(epoch >> (8 * i));
    KG_GUARD(kg_sha256(p, ca_spki, ca_spki_len));
    p += 32;
    memcpy(p, k256_pub, KG_K256_PUB_LEN);
    return kg_sha512(out, msg, sizeof(msg));
}
