/* agent_api_fuzz.c - libFuzzer harness for the agent's app API requests (untrusted JSON from any
 * process that can reach the socket): input = method name, '\n', request body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed test key (not a secret) so GetKey/Sign run their full paths. */
static const uint8_t K256[32] = {
    0x29, 0x95, 0xf0, 0x43, 0xba, 0x03, 0xaf, 0x81, 0xab, 0x0d, 0x44, 0x36, 0x75, 0xd4, 0xd2, 0x47,
    0x23, 0x21, 0xf6, 0xc6, 0x56, 0x3c, 0x97, 0x88, 0x56, 0xe3, 0x55, 0x12, 0x94, 0xd9, 0xf1, 0x2a,
};

/* The platform answers with an error: quotes and events are the TEE layer's own fuzz targets. */
static kg_result no_quote(void *ctx, const uint8_t rd[KG_REPORT_DATA_LEN], kg_buf *q, kg_buf *l)
{
    KG_BAIL(KG_ERR_NOT_FOUND, "no TEE");
}

static kg_result no_event(void *ctx, const char *name, const uint8_t *p, size_t n)
{
    KG_BAIL(KG_ERR_NOT_FOUND, "no TEE");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kg_agent *agent;
    if (agent == NULL) {
        kg_agent_keys keys = {0};
        memcpy(keys.k256_key, K256, 32);
        /* in a root-key migration window: GetKey with "root_epoch" reaches the previous key */
        keys.has_root_epoch = true;
        keys.root_epoch = 2;
        keys.n_previous = 1;
        keys.previous[0].root_epoch = 1;
        memcpy(keys.previous[0].k256_key, K256, 32);
        keys.previous[0].k256_key[31] ^= 1;
        kg_agent_identity id = {.app_compose = "{\"name\":\"fuzz\"}"};
        kg_agent_platform plat = {.quote = no_quote, .emit_event = no_event};
        if (kg_failed(kg_agent_new(&agent, &keys, &id, &plat)))
            abort();
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t mlen = nl ? (size_t)(nl - data) : size;
    char method[64];
    if (mlen >= sizeof(method))
        mlen = sizeof(method) - 1;
    memcpy(method, data, mlen);
    method[mlen] = '\0';
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = nl ? size - (size_t)(nl + 1 - data) : 0;
    kg_buf out;
    int status = 0;
    kg_buf_init(&out, KG_AGENT_MAX_RESPONSE + 1024);
    if (kg_failed(kg_agent_handle(agent, method, body, blen, &status, &out)))
        abort(); /* every request, however malformed, must get a JSON reply */
    if (out.len == 0 || out.data[0] != '{' || status < 200 || status > 599)
        abort();
    for (size_t i = 0; i < out.len; i++)
        if (out.data[i] >= 0x80)
            abort(); /* replies stay ASCII (agent/API.md) */
    kg_buf_free(&out);
    return 0;
}
