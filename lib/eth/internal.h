/* internal.h - what the eth module's files share and nothing outside lib/eth/ may use. */
#ifndef KG_ETH_INTERNAL_H
#define KG_ETH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "keygate/eth.h"

/* The client's cached chain id (eth_chainId never changes for a node). */
bool kg_eth_client_cached_chain_id(kg_eth_client *c, uint64_t *out);
void kg_eth_client_cache_chain_id(kg_eth_client *c, uint64_t id);

/* eth_getBlockByNumber(params) read by kg_eth_parse_block_reply (params borrowed). */
struct json_t;
kg_result kg_eth_rpc_block(kg_eth_client *c, kg_eth_block *out, struct json_t *params);

#endif
