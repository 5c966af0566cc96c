/* pccs.c - PCCS client (Intel PCS v4 API): collateral for a quote, cached until nextUpdate. */
#include "keygate/quote.h"

kg_result kg_pccs_get_collateral(char **out_json, size_t *out_len, const char *base_url,
                                 const uint8_t *quote, size_t quote_len, const char *cache_dir,
                                 uint64_t now)
{
    KG_ENSURE(out_json && out_len, KG_ERR_USAGE, "kg_pccs_get_collateral: NULL out");
    *out_json = NULL;
    *out_len = 0;
    KG_BAIL(KG_ERR_INTERNAL, "PCCS client not available yet (use --collateral)");
}
