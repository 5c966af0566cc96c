/* dotenv_fuzz.c - libFuzzer harness for the .env parser of `keygate env encrypt`: any input
 * either fails cleanly or yields a list whose names pass the policy and which serializes and
 * parses back (kg_env_parse) to the same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_env_list l1, l2;
    kg_buf json;
    kg_env_list_init(&l1);
    kg_env_list_init(&l2);
    kg_buf_init(&json, 8u << 20);
    if (kg_ok(kg_dotenv_parse(&l1, (const char *)data, size, "fuzz"))) {
        if (kg_failed(kg_env_verify_names(&l1)) || kg_failed(kg_env_serialize(&json, &l1)) ||
            kg_failed(kg_env_parse(&l2, json.data, json.len)) || l1.count != l2.count)
            abort();
        for (size_t i = 0; i < l1.count; i++)
            if (strcmp(l1.vars[i].key, l2.vars[i].key) != 0 ||
                strcmp(l1.vars[i].value, l2.vars[i].value) != 0)
                abort();
    }
    kg_error_clear();
    kg_buf_free(&json);
    kg_env_list_free(&l1);
    kg_env_list_free(&l2);
    return 0;
}
