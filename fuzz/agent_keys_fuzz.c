/* agent_keys_fuzz.c - libFuzzer harness for the agent's parser of the KMS's GetAppKey reply
 * (kg_agent_keys_parse; the reply arrives over RA-TLS from a KMS the agent has not yet checked
 * the keys of): a failure leaves the keys wiped, a success NUL-terminated strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kg_agent_keys zero;
    kg_agent_keys k;
    memset(&k, 0x5a, sizeof(k));
    if (kg_ok(kg_agent_keys_parse(&k, (const char *)data, size))) {
        if ((k.ca_cert && strlen(k.ca_cert) > size) ||
            (k.gateway_app_id && strlen(k.gateway_app_id) > size))
            abort();
        /* previous epochs: within the cap, each older than the current one */
        if (k.n_previous > KG_AGENT_MAX_PREVIOUS_EPOCHS || (k.n_previous > 0 && !k.has_root_epoch))
            abort();
        for (size_t i = 0; i < k.n_previous; i++)
            if (k.previous[i].root_epoch >= k.root_epoch)
                abort();
    } else if (memcmp(&k, &zero, sizeof(k)) != 0) {
        abort(); /* wiped on failure */
    }
    kg_agent_keys_wipe(&k);
    kg_error_clear();
    return 0;
}
