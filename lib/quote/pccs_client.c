/* pccs_client.c - the table in front of a PCCS, the one cache of collateral: per platform the
 * last answer (until its nextUpdate) or the last failure (until its backoff ends), one fetch at a
 * time per platform, a cap on fetches per second over all platforms (quote.h, docs/design.md
 * "Denial of service"), and the PCK chains that verified with an answer, so a server finds a
 * caller's answer by the chain's bytes without parsing it (kg_pccs_client_quote_collateral).
 *
 * One mutex guards the table; fetches run outside it. A slot's life:
 *   free -> in flight (one request fetches, others with the same key wait on `done`)
 *        -> answered (json kept while now <= serve_until) or failed (retry_at, backoff_s)
 *        -> in flight again (after serve_until or retry_at), or dropped for another platform.
 * `flights` counts finished fetches, so a waiter takes the result of the very fetch it waited
 * for, even if a later request already started the next one. `answer` names the answer a slot
 * holds (0: none); a remembered chain points at a slot and the answer it verified with, and is
 * dead once the slot holds another (a new fetch, or the slot taken for another platform). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcap_internal.h"
#include "keygate/hash.h"

#define PCCS_ERR_MAX 256u /* a failure's message, as repeated to requests held back */

typedef struct pccs_slot {
    bool used;
    char key[KG_PCCS_KEY_MAX];
    kg_pccs_platform pf;
    bool in_flight;
    uint32_t waiters;
    uint64_t flights;  /* fetches finished for this key */
    int64_t last_used; /* `now` of the last request, for eviction */
    bool last_ok;      /* the last fetch brought an answer (json) */
    char *json;        /* the last answer (owned), or NULL */
    size_t len;
    int64_t serve_until;         /* json answers requests while now <= serve_until */
    int64_t failed_at, retry_at; /* the last failure; no fetch before retry_at */
    uint32_t backoff_s;          /* the wait after the last failure, 0 after a success */
    uint64_t answer;             /* which answer json is (unique per client), 0 without one */
    char err[PCCS_ERR_MAX];
} pccs_slot;

/* A PCK chain a quote verified with: where its answer is, and until when to look there. */
typedef struct chain_entry {
    bool used;
    uint8_t hash[KG_SHA256_LEN]; /* SHA-256 of the exact PCK chain bytes */
    pccs_slot *slot;             /* the answer: slot->answer == answer while it is still there */
    uint64_t answer;
    int64_t use_until; /* min(the verdict's valid_until, verified + KG_PCCS_CHAIN_TTL_S) */
} chain_entry;

struct kg_pccs_client {
    kg_pccs_limits lim;
    kg_pccs_source src;
    pthread_mutex_t mu;
    pthread_cond_t done; /* a fetch finished */
    int64_t window;      /* the second of `now` the rate counter is for */
    uint32_t window_fetches;
    kg_pccs_stats st;
    uint64_t answers;    /* answers taken in so far: the next one's id is answers + 1 */
    pccs_slot *slots;    /* lim.max_platforms of them */
    chain_entry *chains; /* lim.max_chains of them (NULL for none) */
};

kg_result kg_pccs_client_new(kg_pccs_client **out, const kg_pccs_limits *limits,
                             const kg_pccs_source *source)
{
    *out = NULL;
    KG_ENSURE(limits != NULL, KG_ERR_USAGE, "kg_pccs_client_new: no limits");
    KG_ENSURE(limits->max_platforms >= 1 && limits->max_platforms <= KG_PCCS_MAX_PLATFORMS,
              KG_ERR_USAGE, "PCCS client: max_platforms %u is not in 1..%u", limits->max_platforms,
              KG_PCCS_MAX_PLATFORMS);
    KG_ENSURE(limits->backoff_max_s >= limits->backoff_min_s, KG_ERR_USAGE,
              "PCCS client: backoff_max_s %u is below backoff_min_s %u", limits->backoff_max_s,
              limits->backoff_min_s);
    KG_ENSURE(limits->max_chains <= KG_PCCS_MAX_CHAINS, KG_ERR_USAGE,
              "PCCS client: max_chains %u is over %u", limits->max_chains, KG_PCCS_MAX_CHAINS);
    KG_ENSURE(source == NULL || source->fetch != NULL, KG_ERR_USAGE,
              "PCCS client: a source without fetch");
    kg_pccs_client *c = calloc(1, sizeof(*c));
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "allocating the PCCS client");
    c->slots = calloc(limits->max_platforms, sizeof(*c->slots));
    c->chains = limits->max_chains ? calloc(limits->max_chains, sizeof(*c->chains)) : NULL;
    if (c->slots == NULL || (limits->max_chains > 0 && c->chains == NULL)) {
        free(c->slots);
        free(c->chains);
        free(c);
        KG_BAIL(KG_ERR_NOMEM, "allocating the PCCS client's table");
    }
    c->lim = *limits;
    c->src = source ? *source : (kg_pccs_source){.fetch = kg_pccs_http_fetch};
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->done, NULL);
    c->window = -1;
    *out = c;
    return KG_OK;
}

static void slot_drop(pccs_slot *s)
{
    free(s->json);
    memset(s, 0, sizeof(*s));
}

void kg_pccs_client_free(kg_pccs_client *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; i < c->lim.max_platforms; i++)
        slot_drop(&c->slots[i]);
    free(c->slots);
    free(c->chains);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void kg_pccs_client_clear(kg_pccs_client *c)
{
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < c->lim.max_platforms; i++)
        if (c->slots[i].used && !c->slots[i].in_flight && c->slots[i].waiters == 0)
            slot_drop(&c->slots[i]);
    for (uint32_t i = 0; i < c->lim.max_chains; i++)
        memset(&c->chains[i], 0, sizeof(c->chains[i]));
    c->window = -1;
    c->window_fetches = 0;
    pthread_mutex_unlock(&c->mu);
}

void kg_pccs_client_stats(kg_pccs_client *c, kg_pccs_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->platforms = 0;
    for (uint32_t i = 0; i < c->lim.max_platforms; i++)
        out->platforms += c->slots[i].used ? 1u : 0u;
    out->chains = 0;
    for (uint32_t i = 0; i < c->lim.max_chains; i++)
        out->chains += c->chains[i].used ? 1u : 0u;
    pthread_mutex_unlock(&c->mu);
}

/* ---- the table (all under c->mu) ------------------------------------------------------------- */

static pccs_slot *slot_find(kg_pccs_client *c, const char *key)
{
    for (uint32_t i = 0; i < c->lim.max_platforms; i++)
        if (c->slots[i].used && strcmp(c->slots[i].key, key) == 0)
            return &c->slots[i];
    return NULL;
}

/* A slot for a new key: a free one, else the least recently used of those holding only a
 * failure or an expired answer, else the least recently used answered one. A slot being
 * fetched or waited on is never taken; NULL when all are. Dropping failures first keeps the
 * answers of working platforms while someone presents many failing ones. */
static pccs_slot *slot_take(kg_pccs_client *c, int64_t now)
{
    pccs_slot *dead = NULL, *live = NULL;
    for (uint32_t i = 0; i < c->lim.max_platforms; i++) {
        pccs_slot *s = &c->slots[i];
        if (!s->used)
            return s;
        if (s->in_flight || s->waiters > 0)
            continue;
        bool answering = s->json != NULL && now <= s->serve_until;
        pccs_slot **best = answering ? &live : &dead;
        if (*best == NULL || s->last_used < (*best)->last_used)
            *best = s;
    }
    pccs_slot *s = dead ? dead : live;
    if (s != NULL)
        slot_drop(s);
    return s;
}

static kg_result copy_answer(char **out, size_t *out_len, const pccs_slot *s)
{
    *out = malloc(s->len + 1);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "allocating collateral");
    memcpy(*out, s->json, s->len + 1);
    *out_len = s->len;
    return KG_OK;
}

static const char *tee_name(const kg_pccs_platform *pf)
{
    return pf->tdx ? "tdx" : "sgx";
}

/* What a request finds in the table before it may fetch: an answer, the result of a fetch in
 * flight (after waiting for it), or a recent failure. True when that settles the request (*rc
 * is its result); false when it has to fetch. */
static bool settle(kg_pccs_client *c, kg_result *rc, char **out, size_t *out_len, pccs_slot *s,
                   int64_t now)
{
    if (s == NULL)
        return false;
    s->last_used = now;
    if (s->json != NULL && now <= s->serve_until) {
        c->st.hits++;
        *rc = copy_answer(out, out_len, s);
        return true;
    }
    if (s->in_flight) {
        uint64_t flight = s->flights;
        s->waiters++;
        c->st.waited++;
        c->st.waiting++;
        while (s->flights == flight)
            pthread_cond_wait(&c->done, &c->mu);
        c->st.waiting--;
        s->waiters--;
        if (s->last_ok && s->json != NULL)
            *rc = copy_answer(out, out_len, s);
        else
            *rc = kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                               "PCCS collateral for FMSPC %s (%s) unavailable: the fetch this "
                               "request waited for failed: %s",
                               s->pf.fmspc, tee_name(&s->pf), s->err);
        return true;
    }
    if (now < s->retry_at) {
        c->st.refused_backoff++;
        *rc = kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__,
                           "PCCS collateral for FMSPC %s (%s) unavailable: a fetch failed %lld s "
                           "ago (%s); not retried for another %lld s",
                           s->pf.fmspc, tee_name(&s->pf), (long long)(now - s->failed_at), s->err,
                           (long long)(s->retry_at - now));
        return true;
    }
    return false;
}

/* Records a failure (message from the current error) and when the next fetch may begin. */
static void slot_failed(kg_pccs_client *c, pccs_slot *s, int64_t now, const char *why)
{
    uint32_t b = s->backoff_s == 0 ? c->lim.backoff_min_s : s->backoff_s * 2u;
    if (b > c->lim.backoff_max_s || b < s->backoff_s)
        b = c->lim.backoff_max_s;
    s->backoff_s = b;
    s->failed_at = now;
    s->retry_at = now + (int64_t)b;
    snprintf(s->err, sizeof(s->err), "%s", why);
    c->st.fetch_failures++;
}

/* ---- a request ------------------------------------------------------------------------------- */

kg_result kg_pccs_client_get_platform(kg_pccs_client *c, char **out_json, size_t *out_len,
                                      const char *base_url, const kg_pccs_platform *pf,
                                      const char *cache_dir, uint64_t now)
{
    KG_ENSURE(c && out_json && out_len && base_url && pf, KG_ERR_USAGE,
              "kg_pccs_client_get_platform: NULL argument");
    *out_json = NULL;
    *out_len = 0;
    char base[KG_PCCS_URL_MAX], key[KG_PCCS_KEY_MAX];
    KG_GUARD(kg_pccs_base_of(base, sizeof(base), base_url));
    snprintf(key, sizeof(key), "%s|%s|%s|%s", base, tee_name(pf), pf->fmspc, pf->ca);
    int64_t t = (int64_t)now;
    kg_result rc = KG_ERROR;

    pthread_mutex_lock(&c->mu);
    bool settled = settle(c, &rc, out_json, out_len, slot_find(c, key), t);
    pthread_mutex_unlock(&c->mu);
    if (settled)
        return rc;

    /* the disk cache, outside the lock (a file read); its hit enters the table */
    char *json = NULL;
    int64_t expiry = 0;
    if (cache_dir != NULL)
        json = kg_pccs_disk_get(cache_dir, key, t, &expiry);

    pthread_mutex_lock(&c->mu);
    pccs_slot *s = slot_find(c, key);
    if (json == NULL && settle(c, &rc, out_json, out_len, s, t)) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (json == NULL && c->lim.fetches_per_s > 0 && c->window == t &&
        c->window_fetches >= c->lim.fetches_per_s) {
        c->st.refused_rate++;
        pthread_mutex_unlock(&c->mu);
        KG_BAIL(KG_ERR_UNAVAILABLE,
                "PCCS collateral for FMSPC %s (%s) unavailable: this client's limit of %u PCCS "
                "fetches a second (all platforms) is reached; try again in a second",
                pf->fmspc, tee_name(pf), c->lim.fetches_per_s);
    }
    if (s == NULL || s->in_flight) {
        s = s == NULL ? slot_take(c, t) : NULL;
        if (s == NULL) {
            c->st.refused_table += json == NULL ? 1u : 0u;
            pthread_mutex_unlock(&c->mu);
            if (json != NULL) { /* no room to remember it: answer this request only */
                *out_len = strlen(json);
                *out_json = json;
                return KG_OK;
            }
            KG_BAIL(KG_ERR_UNAVAILABLE,
                    "PCCS collateral for FMSPC %s (%s) unavailable: all %u platform entries "
                    "are being fetched; try again shortly",
                    pf->fmspc, tee_name(pf), c->lim.max_platforms);
        }
        s->used = true;
        snprintf(s->key, sizeof(s->key), "%s", key);
        s->pf = *pf;
        s->last_used = t;
    }
    if (json != NULL) {
        c->st.hits++;
        free(s->json);
        s->json = json;
        s->len = strlen(json);
        s->answer = ++c->answers;
        s->serve_until = expiry;
        s->last_ok = true;
        s->backoff_s = 0;
        s->retry_at = 0;
        rc = copy_answer(out_json, out_len, s);
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (c->window != t) {
        c->window = t;
        c->window_fetches = 0;
    }
    c->window_fetches++;
    c->st.fetches++;
    s->in_flight = true;
    pthread_mutex_unlock(&c->mu);

    /* the fetch, outside the lock; the slot stays ours while in flight (never taken) */
    kg_result fetched = c->src.fetch(c->src.ctx, &json, &expiry, base, pf);
    kg_err code = kg_failed(fetched) ? kg_error_code() : KG_ERR_NONE;
    char why[PCCS_ERR_MAX];
    snprintf(why, sizeof(why), "%s", kg_failed(fetched) ? kg_error_message() : "");

    pthread_mutex_lock(&c->mu);
    s->in_flight = false;
    s->flights++;
    if (kg_failed(fetched)) {
        free(s->json);
        s->json = NULL;
        s->answer = 0;
        s->last_ok = false;
        slot_failed(c, s, t, why);
    } else {
        free(s->json);
        s->json = json;
        s->len = strlen(json);
        s->answer = ++c->answers;
        s->last_ok = true;
        if (t <= expiry) {
            s->serve_until = expiry;
            s->backoff_s = 0;
            s->retry_at = 0;
        } else {
            /* stale already: passed on (verification names the expired part), and served only
             * until the backoff ends so a PCCS that lags is not asked again on every request */
            char stale[PCCS_ERR_MAX];
            snprintf(stale, sizeof(stale), "the PCCS's answer expired at %lld", (long long)expiry);
            slot_failed(c, s, t, stale);
            s->serve_until = s->retry_at - 1;
        }
        fetched = copy_answer(out_json, out_len, s);
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
    if (code != KG_ERR_NONE && code != KG_ERR_NETWORK && code != KG_ERR_NOMEM)
        /* the PCCS's answer did not parse or check out: an outage, not a verdict on the quote */
        KG_BAIL(KG_ERR_NETWORK, "PCCS %s answered badly: %s", base, why);
    if (code != KG_ERR_NONE)
        return kg_error_context("PCCS %s", base);
    if (kg_ok(fetched) && cache_dir != NULL && t <= expiry)
        kg_pccs_disk_put(cache_dir, key, *out_json, expiry);
    return fetched;
}

kg_result kg_pccs_client_get(kg_pccs_client *c, char **out_json, size_t *out_len,
                             const char *base_url, const uint8_t *quote, size_t quote_len,
                             const char *cache_dir, uint64_t now)
{
    KG_ENSURE(out_json && out_len && base_url && quote, KG_ERR_USAGE,
              "kg_pccs_client_get: NULL argument");
    *out_json = NULL;
    *out_len = 0;
    char base[KG_PCCS_URL_MAX];
    kg_pccs_platform pf;
    KG_GUARD(kg_pccs_base_of(base, sizeof(base), base_url));
    KG_GUARD_CTX(kg_pccs_platform_of(&pf, quote, quote_len), "PCCS request");
    return kg_pccs_client_get_platform(c, out_json, out_len, base, &pf, cache_dir, now);
}

/* ---- by PCK chain ---------------------------------------------------------------------------- */

/* The remembered chain with this hash, or NULL (under c->mu). */
static chain_entry *chain_find(kg_pccs_client *c, const uint8_t hash[KG_SHA256_LEN])
{
    for (uint32_t i = 0; i < c->lim.max_chains; i++)
        if (c->chains[i].used && memcmp(c->chains[i].hash, hash, KG_SHA256_LEN) == 0)
            return &c->chains[i];
    return NULL;
}

/* Whether a remembered chain still leads to an answer at now, for base (under c->mu): its own
 * time, and the answer's (the slot holds that very answer, for this PCCS, before its
 * nextUpdate). */
static bool chain_live(const chain_entry *e, const char *base, int64_t now)
{
    const pccs_slot *s = e->slot;
    size_t bl = strlen(base);
    return now < e->use_until && s->used && s->answer == e->answer && s->json != NULL &&
           now <= s->serve_until && strncmp(s->key, base, bl) == 0 && s->key[bl] == '|';
}

kg_result kg_pccs_client_quote_collateral(kg_pccs_client *c, char **out_json, size_t *out_len,
                                          kg_dcap_verifier *v, const char *base_url,
                                          const kg_quote *q, const uint8_t *raw, size_t raw_len,
                                          uint64_t now)
{
    KG_ENSURE(c && out_json && out_len && v && base_url && q && raw, KG_ERR_USAGE,
              "kg_pccs_client_quote_collateral: NULL argument");
    *out_json = NULL;
    *out_len = 0;
    char base[KG_PCCS_URL_MAX];
    KG_GUARD(kg_pccs_base_of(base, sizeof(base), base_url));
    if (c->lim.max_chains > 0) {
        uint8_t hash[KG_SHA256_LEN];
        KG_GUARD(kg_sha256(hash, q->pck_chain, q->pck_chain_len));
        kg_result rc = KG_ERROR;
        bool hit = false;
        pthread_mutex_lock(&c->mu);
        chain_entry *e = chain_find(c, hash);
        if (e != NULL && chain_live(e, base, (int64_t)now)) {
            hit = true;
            c->st.chain_hits++;
            e->slot->last_used = (int64_t)now;
            rc = copy_answer(out_json, out_len, e->slot);
        }
        pthread_mutex_unlock(&c->mu);
        if (hit)
            return rc;
    }
    /* Nothing is fetched for a chain that does not lead to the trusted root: a stranger's
     * made-up quotes (any FMSPC) must not make a server hammer its PCCS. */
    KG_GUARD_CTX(kg_dcap_pck_chain_precheck(v, q), "before fetching collateral");
    KG_GUARD_CTX(kg_pccs_client_get(c, out_json, out_len, base, raw, raw_len, NULL, now),
                 "fetching collateral");
    return KG_OK;
}

void kg_pccs_client_verified(kg_pccs_client *c, const kg_quote *q, const char *json, size_t len,
                             uint64_t valid_until, uint64_t now)
{
    uint8_t hash[KG_SHA256_LEN];
    if (c == NULL || c->lim.max_chains == 0 || q == NULL || json == NULL)
        return;
    if (kg_failed(kg_sha256(hash, q->pck_chain, q->pck_chain_len))) {
        kg_error_clear();
        return;
    }
    int64_t until = (int64_t)now + (int64_t)KG_PCCS_CHAIN_TTL_S;
    if (valid_until != 0 && valid_until < (uint64_t)until)
        until = (int64_t)valid_until;
    pthread_mutex_lock(&c->mu);
    chain_entry *e = chain_find(c, hash);
    /* the answer it verified with: the one this chain already leads to (the common case, no
     * comparison), else the slot holding exactly these bytes */
    pccs_slot *s = NULL;
    if (e != NULL && e->slot->used && e->slot->answer == e->answer && e->slot->len == len &&
        e->slot->json != NULL)
        s = e->slot;
    for (uint32_t i = 0; s == NULL && i < c->lim.max_platforms; i++) {
        pccs_slot *t = &c->slots[i];
        if (t->used && t->json != NULL && t->len == len && memcmp(t->json, json, len) == 0)
            s = t;
    }
    if (s != NULL) {
        if (e == NULL) { /* an empty entry, else the one that lasts least */
            for (uint32_t i = 0; i < c->lim.max_chains; i++) {
                chain_entry *t = &c->chains[i];
                if (!t->used) {
                    e = t;
                    break;
                }
                if (e == NULL || t->use_until < e->use_until)
                    e = t;
            }
        }
        e->used = true;
        memcpy(e->hash, hash, KG_SHA256_LEN);
        e->slot = s;
        e->answer = s->answer;
        e->use_until = until;
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- the process-wide client of kg_pccs_get_collateral --------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static kg_pccs_client *g_client;

static void global_init(void)
{
    if (kg_failed(kg_pccs_client_new(&g_client, &KG_PCCS_NO_LIMITS, NULL)))
        kg_error_clear();
}

kg_result kg_pccs_get_collateral(char **out_json, size_t *out_len, const char *base_url,
                                 const uint8_t *quote, size_t quote_len, const char *cache_dir,
                                 uint64_t now)
{
    pthread_once(&g_once, global_init);
    KG_ENSURE(g_client != NULL, KG_ERR_NOMEM, "allocating the PCCS client");
    return kg_pccs_client_get(g_client, out_json, out_len, base_url, quote, quote_len, cache_dir,
                              now);
}

void kg_pccs_clear_memory_cache(void)
{
    pthread_once(&g_once, global_init);
    if (g_client != NULL)
        kg_pccs_client_clear(g_client);
}
