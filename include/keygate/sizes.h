/* sizes.h - the byte lengths of the identifiers every layer shares, defined once: the event log
 * measures them, the KDF derives from them, the chain encodes them, the TEE binds them. */
#ifndef KEYGATE_SIZES_H
#define KEYGATE_SIZES_H

#define KG_ETH_ADDRESS_LEN 20  /* an Ethereum address */
#define KG_APP_ID_LEN 20u      /* an app id: its app contract's address */
#define KG_INSTANCE_ID_LEN 20u /* instance_id is 20 bytes or empty (docs/protocol.md section 2) */
#define KG_COMPOSE_HASH_LEN 32u
#define KG_REPORT_DATA_LEN 64u /* a TD report's REPORTDATA */

#endif
