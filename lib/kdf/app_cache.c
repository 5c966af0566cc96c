/* app_cache.c - the KMS's memory of app public halves (kdf.h, kg_app_public_cache).
 *
 * Only public values are kept: the public keys and the root key's signature over the app key are
 * what every release of an app answers or records, and recomputing them (three scalar
 * multiplications and an ECDSA signature) was a sixth of a release's instructions. The secrets
 * are derived afresh for every release and never stored here.
 *
 * Direct-mapped: an entry's slot is fixed by its app id, so a lookup is one comparison under one
 * short lock, and memory is bounded (slots x ~200 bytes) however many apps ask. The root public
 * key is part of the key: public halves of another root are never returned. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/kdf.h"

typedef struct slot {
    bool used;
    uint8_t root_pub[KG_K256_PUB_LEN];
    uint8_t app_id[KG_APP_ID_LEN];
    kg_app_public pub;
} slot;

struct kg_app_public_cache {
    pthread_mutex_t lock;
    size_t n;
    slot *slots;
};

kg_result kg_app_public_cache_new(kg_app_public_cache **out, size_t slots)
{
    KG_ENSURE(slots > 0 && slots <= (1u << 20), KG_ERR_USAGE,
              "app public cache: %zu slots (1..1048576)", slots);
    kg_app_public_cache *c = calloc(1, sizeof(*c));
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "out of memory");
    c->slots = calloc(slots, sizeof(*c->slots));
    if (c->slots == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->slots);
        free(c);
        KG_BAIL(KG_ERR_NOMEM, "out of memory");
    }
    c->n = slots;
    *out = c;
    return KG_OK;
}

void kg_app_public_cache_free(kg_app_public_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

/* App ids are contract addresses (Keccak output, uniform): their first bytes spread them. */
static slot *slot_of(kg_app_public_cache *c, const uint8_t app_id[KG_APP_ID_LEN])
{
    uint64_t h = 0;
    for (size_t i = 0; i < 8; i++)
        h = (h << 8) | app_id[i];
    return &c->slots[h % c->n];
}

bool kg_app_public_cache_get(kg_app_public_cache *c, const uint8_t root_pub[KG_K256_PUB_LEN],
                             const uint8_t app_id[KG_APP_ID_LEN], kg_app_public *out)
{
    pthread_mutex_lock(&c->lock);
    const slot *s = slot_of(c, app_id);
    bool hit = s->used && memcmp(s->app_id, app_id, KG_APP_ID_LEN) == 0 &&
               memcmp(s->root_pub, root_pub, KG_K256_PUB_LEN) == 0;
    if (hit)
        *out = s->pub;
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void kg_app_public_cache_put(kg_app_public_cache *c, const uint8_t root_pub[KG_K256_PUB_LEN],
                             const uint8_t app_id[KG_APP_ID_LEN], const kg_app_public *pub)
{
    pthread_mutex_lock(&c->lock);
    slot *s = slot_of(c, app_id);
    s->used = true;
    memcpy(s->root_pub, root_pub, KG_K256_PUB_LEN);
    memcpy(s->app_id, app_id, KG_APP_ID_LEN);
    s->pub = *pub;
    pthread_mutex_unlock(&c->lock);
}
