/* pccs_client_test.c - the PCCS client's fetch limits with the fetch and the clock injected: a
 * failing platform is fetched once per backoff, concurrent requests share one fetch, many
 * platforms are bounded by the rate and the table, answers are cached until their nextUpdate;
 * and the PCK chains that verified with an answer find it directly, until the verdict's expiry
 * and at most KG_PCCS_CHAIN_TTL_S, never after a failed verification, the least lasting
 * making room. */
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/quote.h"
#include "keygate/sim.h"

#define T0 1767225600 /* the injected clock's start (unix seconds) */
#define BASE "http://pccs.invalid:8081"
#define ANSWER "{\"collateral\":\"of the test\"}"

/* The injected source: counts fetches per call, answers as told, and can hold a fetch until the
 * test lets it go (to have requests overlap). */
typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned fetches;
    kg_err fail;        /* KG_ERR_NONE: answer `answer` */
    const char *answer; /* NULL: ANSWER */
    int64_t expiry;     /* of the answer */
    bool hold;          /* fetches wait until hold is cleared */
    bool holding;       /* a fetch is waiting */
} fake;

static kg_result fake_fetch(void *ctx, char **json, int64_t *expiry, const char *base,
                            const kg_pccs_platform *pf)
{
    fake *f = ctx;
    (void)pf;
    assert_string_equal(base, BASE);
    pthread_mutex_lock(&f->mu);
    f->fetches++;
    while (f->hold) {
        f->holding = true;
        pthread_cond_broadcast(&f->cv);
        pthread_cond_wait(&f->cv, &f->mu);
    }
    f->holding = false;
    kg_err fail = f->fail;
    const char *answer = f->answer ? f->answer : ANSWER;
    *expiry = f->expiry;
    pthread_mutex_unlock(&f->mu);
    if (fail != KG_ERR_NONE)
        KG_BAIL(fail, "GET %s/tdx/certification/v4/tcb?fmspc=%s: HTTP 404", base, pf->fmspc);
    *json = strdup(answer);
    KG_ENSURE(*json != NULL, KG_ERR_NOMEM, "strdup");
    return KG_OK;
}

static void fake_init(fake *f, kg_err fail, int64_t expiry)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->fail = fail;
    f->expiry = expiry;
}

static unsigned fetches(fake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->fetches;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static kg_pccs_client *client(fake *f, kg_pccs_limits lim)
{
    kg_pccs_client *c = NULL;
    kg_pccs_source src = {.ctx = f, .fetch = fake_fetch};
    KG_ASSERT_OK(kg_pccs_client_new(&c, &lim, &src));
    return c;
}

static kg_pccs_platform platform(unsigned n)
{
    kg_pccs_platform pf = {.tdx = true, .ca = "platform"};
    snprintf(pf.fmspc, sizeof(pf.fmspc), "00%010X", n);
    return pf;
}

/* One request; true when it was answered (the answer is checked), false when it failed with an
 * outage (NETWORK from the fetch itself, UNAVAILABLE when held back); anything else fails. */
static bool ask(kg_pccs_client *c, const kg_pccs_platform *pf, int64_t now)
{
    char *json = NULL;
    size_t len = 0;
    kg_error_clear();
    kg_result rc = kg_pccs_client_get_platform(c, &json, &len, BASE, pf, NULL, (uint64_t)now);
    if (kg_ok(rc)) {
        assert_string_equal(json, ANSWER);
        assert_int_equal(len, strlen(ANSWER));
        free(json);
        return true;
    }
    assert_null(json);
    if (kg_error_code() != KG_ERR_NETWORK && kg_error_code() != KG_ERR_UNAVAILABLE)
        fail_msg("want an outage, got %s: %s", kg_err_name(kg_error_code()), kg_error_message());
    return false;
}

static void a_failing_platform_is_fetched_once_per_backoff(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NETWORK, 0);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    kg_pccs_platform pf = platform(1);
    char *json = NULL;
    size_t len = 0;

    /* the first request makes the one fetch and gets its failure ... */
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0), KG_ERR_NETWORK,
                  "PCCS " BASE ": GET " BASE "/tdx/certification/v4/tcb?fmspc=");
    /* ... the next 99 in the same second get "unavailable" saying why and until when */
    for (int i = 0; i < 99; i++)
        KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0),
                      KG_ERR_UNAVAILABLE,
                      "PCCS collateral for FMSPC 000000000001 (tdx) unavailable: a fetch failed 0 "
                      "s ago (GET " BASE "/tdx/certification/v4/tcb?fmspc=000000000001: HTTP "
                      "404); not retried for another 1 s");
    assert_int_equal(fetches(&f), 1);
    /* after the backoff, one retry; it fails again and the wait doubles */
    assert_false(ask(c, &pf, T0 + 1));
    assert_int_equal(fetches(&f), 2);
    assert_false(ask(c, &pf, T0 + 2));
    assert_int_equal(fetches(&f), 2);
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0 + 2),
                  KG_ERR_UNAVAILABLE, "a fetch failed 1 s ago");
    assert_false(ask(c, &pf, T0 + 3));
    assert_int_equal(fetches(&f), 3);

    /* a flood: 10 requests a second for 10 minutes costs one fetch per backoff, the backoff
     * doubling to 60 s (fetches at +0 +1 +3 +7 +15 +31 +63 +123 +183 ... +543) */
    kg_pccs_client_free(c);
    fake_init(&f, KG_ERR_NETWORK, 0);
    c = client(&f, KG_PCCS_SERVER_LIMITS);
    static const int64_t want[] = {0, 1, 3, 7, 15, 31, 63, 123, 183, 243, 303, 363, 423, 483, 543};
    size_t seen = 0;
    for (int64_t t = 0; t < 600; t++) {
        unsigned before = fetches(&f);
        for (int i = 0; i < 10; i++)
            assert_false(ask(c, &pf, T0 + t));
        if (fetches(&f) != before) {
            assert_true(seen < sizeof(want) / sizeof(want[0]));
            assert_int_equal(t, want[seen]);
            assert_int_equal(fetches(&f), before + 1);
            seen++;
        }
    }
    assert_int_equal(seen, sizeof(want) / sizeof(want[0]));
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    assert_int_equal(st.fetches, 15);
    assert_int_equal(st.fetch_failures, 15);
    assert_int_equal(st.refused_backoff, 6000 - 15);
    print_message("# flood of one failing FMSPC, 10 requests/s for 600 s: %llu fetches for 6000 "
                  "requests, %llu refused by the backoff\n",
                  (unsigned long long)st.fetches, (unsigned long long)st.refused_backoff);

    /* the PCCS recovers: the retry after the backoff succeeds, and the answer is kept */
    pthread_mutex_lock(&f.mu);
    f.fail = KG_ERR_NONE;
    f.expiry = T0 + 2000;
    pthread_mutex_unlock(&f.mu);
    assert_true(ask(c, &pf, T0 + 603));
    assert_true(ask(c, &pf, T0 + 604));
    assert_int_equal(fetches(&f), 16);
    kg_pccs_client_free(c);
}

static void an_answer_is_cached_until_its_next_update(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NONE, T0 + 10);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    kg_pccs_platform pf = platform(2);
    for (int64_t t = 0; t <= 10; t++)
        for (int i = 0; i < 5; i++)
            assert_true(ask(c, &pf, T0 + t));
    assert_int_equal(fetches(&f), 1);
    /* after nextUpdate it is fetched again */
    f.expiry = T0 + 100;
    assert_true(ask(c, &pf, T0 + 11));
    assert_int_equal(fetches(&f), 2);
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    assert_int_equal(st.hits, 54);

    /* an answer already past its nextUpdate is passed on (verification names what expired) but
     * asked for again only after the backoff, not on every request */
    f.expiry = T0 + 150;
    assert_true(ask(c, &pf, T0 + 200));
    assert_true(ask(c, &pf, T0 + 200));
    assert_int_equal(fetches(&f), 3);
    assert_true(ask(c, &pf, T0 + 201));
    assert_int_equal(fetches(&f), 4);
    kg_pccs_client_free(c);

    /* without limits (kg_pccs_get_collateral's client) a stale answer is not kept at all */
    fake_init(&f, KG_ERR_NONE, T0 - 1);
    c = client(&f, KG_PCCS_NO_LIMITS);
    assert_true(ask(c, &pf, T0));
    assert_true(ask(c, &pf, T0));
    assert_int_equal(fetches(&f), 2);
    kg_pccs_client_free(c);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

#define N_THREADS 16

typedef struct asker {
    kg_pccs_client *c;
    kg_pccs_platform pf;
    int64_t now;
    bool answered;
    kg_err code;
    char msg[512];
} asker;

static void *ask_thread(void *arg)
{
    asker *a = arg;
    char *json = NULL;
    size_t len = 0;
    kg_result rc =
        kg_pccs_client_get_platform(a->c, &json, &len, BASE, &a->pf, NULL, (uint64_t)a->now);
    a->answered = kg_ok(rc) && json != NULL && strcmp(json, ANSWER) == 0;
    a->code = kg_failed(rc) ? kg_error_code() : KG_ERR_NONE;
    snprintf(a->msg, sizeof(a->msg), "%s", kg_failed(rc) ? kg_error_message() : "");
    free(json);
    return NULL;
}

/* Waits (up to 20 s) until `cond` holds: the threads are not timed, only waited for. */
#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        for (int w_ = 0; !(cond); w_++) {                                                          \
            if (w_ > 20000)                                                                        \
                fail_msg("timed out waiting for %s", #cond);                                       \
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);                               \
        }                                                                                          \
    } while (0)

static uint32_t waiting(kg_pccs_client *c)
{
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    return st.waiting;
}

static bool fetch_held(fake *f)
{
    pthread_mutex_lock(&f->mu);
    bool h = f->holding;
    pthread_mutex_unlock(&f->mu);
    return h;
}

static void release(fake *f)
{
    pthread_mutex_lock(&f->mu);
    f->hold = false;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* N requests arrive while the first one's fetch is in flight: all take its result. */
static void run_concurrent(fake *f, kg_pccs_client *c, asker *a, unsigned fmspc)
{
    pthread_t th[N_THREADS];
    f->hold = true;
    for (int i = 0; i < N_THREADS; i++) {
        a[i] = (asker){.c = c, .pf = platform(fmspc), .now = T0};
        assert_int_equal(pthread_create(&th[i], NULL, ask_thread, &a[i]), 0);
        if (i == 0)
            WAIT_UNTIL(fetch_held(f));
    }
    WAIT_UNTIL(waiting(c) == N_THREADS - 1);
    release(f);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
}

static void concurrent_requests_share_one_fetch(void **state)
{
    (void)state;
    fake f;
    asker a[N_THREADS];
    fake_init(&f, KG_ERR_NONE, T0 + 100);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    run_concurrent(&f, c, a, 3);
    assert_int_equal(fetches(&f), 1);
    for (int i = 0; i < N_THREADS; i++)
        assert_true(a[i].answered);
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    assert_int_equal(st.waited, N_THREADS - 1);
    assert_int_equal(st.waiting, 0);

    /* a failing fetch: the fetcher gets the PCCS's error, the others "unavailable" with it */
    f.fail = KG_ERR_NETWORK;
    run_concurrent(&f, c, a, 4);
    assert_int_equal(fetches(&f), 2);
    assert_int_equal(a[0].code, KG_ERR_NETWORK);
    for (int i = 1; i < N_THREADS; i++) {
        assert_int_equal(a[i].code, KG_ERR_UNAVAILABLE);
        assert_non_null(strstr(a[i].msg, "PCCS collateral for FMSPC 000000000004 (tdx) "
                                         "unavailable: the fetch this request waited for failed: "
                                         "GET " BASE "/tdx/certification/v4/tcb?fmspc="
                                         "000000000004: HTTP 404"));
    }
    kg_pccs_client_free(c);
}

static void a_table_of_fetches_in_flight_refuses_a_new_platform(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NONE, T0 + 100);
    kg_pccs_client *c = client(&f, (kg_pccs_limits){.max_platforms = 1});
    pthread_t th;
    asker a = {.c = c, .pf = platform(5), .now = T0};
    f.hold = true;
    assert_int_equal(pthread_create(&th, NULL, ask_thread, &a), 0);
    WAIT_UNTIL(fetch_held(&f));
    kg_pccs_platform other = platform(6);
    char *json = NULL;
    size_t len = 0;
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &other, NULL, T0),
                  KG_ERR_UNAVAILABLE,
                  "PCCS collateral for FMSPC 000000000006 (tdx) unavailable: all 1 platform "
                  "entries are being fetched");
    release(&f);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(a.answered);
    /* once done, the entry may be replaced */
    assert_true(ask(c, &other, T0));
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    assert_int_equal(st.refused_table, 1);
    assert_int_equal(st.platforms, 1);
    kg_pccs_client_free(c);
}

/* ---- many platforms -------------------------------------------------------------------------- */

static void many_platforms_are_bounded_by_the_rate_and_the_table(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NETWORK, 0);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    /* a working platform first */
    kg_pccs_platform good = platform(0xfffffffu);
    f.fail = KG_ERR_NONE;
    f.expiry = T0 + 10000;
    assert_true(ask(c, &good, T0));
    f.fail = KG_ERR_NETWORK;

    /* 1,000 failing FMSPCs a second, each new, for 100 s: 4 fetches a second, the table full */
    char *json = NULL;
    size_t len = 0;
    unsigned n = 0;
    for (int64_t t = 1; t <= 100; t++)
        for (unsigned i = 0; i < 1000; i++, n++) {
            kg_pccs_platform pf = platform(n);
            (void)ask(c, &pf, T0 + t);
        }
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    assert_int_equal(fetches(&f), 1 + 4 * 100);
    assert_int_equal(st.refused_rate, 100 * 1000 - 4 * 100);
    assert_int_equal(st.platforms, 64);
    print_message("# flood of 100,000 distinct failing FMSPCs over 100 s: %u fetches, %llu "
                  "refused by the rate cap, %u table entries\n",
                  fetches(&f), (unsigned long long)st.refused_rate, st.platforms);
    /* in a new second: 4 new platforms are fetched, the fifth is held back and told why */
    kg_pccs_platform pf = platform(n);
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0 + 107),
                  KG_ERR_NETWORK, "HTTP 404");
    for (unsigned i = 1; i < 4; i++) {
        kg_pccs_platform p = platform(n + i);
        assert_false(ask(c, &p, T0 + 107));
    }
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0 + 107),
                  KG_ERR_UNAVAILABLE, "a fetch failed 0 s ago");
    kg_pccs_platform fifth = platform(n + 4);
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &fifth, NULL, T0 + 107),
                  KG_ERR_UNAVAILABLE,
                  "PCCS collateral for FMSPC 0000000186A4 (tdx) unavailable: this client's limit "
                  "of 4 PCCS fetches a second (all platforms) is reached");
    assert_int_equal(fetches(&f), 1 + 4 * 100 + 4);
    /* the working platform's answer survived: failures were dropped from the table first */
    unsigned before = fetches(&f);
    assert_true(ask(c, &good, T0 + 108));
    assert_int_equal(fetches(&f), before);
    kg_pccs_client_free(c);
}

static void a_bad_answer_is_an_outage_not_a_verdict(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_INPUT, 0);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    kg_pccs_platform pf = platform(7);
    char *json = NULL;
    size_t len = 0;
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0), KG_ERR_NETWORK,
                  "PCCS " BASE " answered badly: GET ");
    KG_ASSERT_ERR(kg_pccs_client_get_platform(c, &json, &len, BASE, &pf, NULL, T0),
                  KG_ERR_UNAVAILABLE, "not retried for another 1 s");
    kg_pccs_client_free(c);
}

/* ---- by PCK chain ---------------------------------------------------------------------------- */

/* A parsed quote for the chain functions: only its PCK chain bytes are read, and the lookup reads
 * nothing else either before it finds the chain; a chain not found goes to the precheck, which
 * these made-up bytes fail (so a miss is seen as that error, and nothing is fetched). */
static kg_quote chain_quote(const char *chain)
{
    kg_quote q;
    memset(&q, 0, sizeof(q));
    q.pck_chain = (const uint8_t *)chain;
    q.pck_chain_len = strlen(chain);
    return q;
}

/* Asks for q's collateral by its chain at now: true for an answer (ANSWER), false for a miss. */
static bool by_chain(kg_pccs_client *c, kg_dcap_verifier *v, const kg_quote *q, const char *base,
                     int64_t now)
{
    char *json = NULL;
    size_t len = 0;
    static const uint8_t raw[1];
    kg_error_clear();
    kg_result rc = kg_pccs_client_quote_collateral(c, &json, &len, v, base, q, raw, sizeof(raw),
                                                   (uint64_t)now);
    if (kg_ok(rc)) {
        assert_string_equal(json, ANSWER);
        assert_int_equal(len, strlen(ANSWER));
        free(json);
        return true;
    }
    assert_null(json);
    assert_non_null(strstr(kg_error_message(), "before fetching collateral"));
    return false;
}

static void verified(kg_pccs_client *c, const kg_quote *q, uint64_t valid_until, int64_t now)
{
    kg_pccs_client_verified(c, q, ANSWER, strlen(ANSWER), valid_until, (uint64_t)now);
}

static kg_pccs_stats stats(kg_pccs_client *c)
{
    kg_pccs_stats st;
    kg_pccs_client_stats(c, &st);
    return st;
}

/* A chain that verified finds its answer without a parse, until the earliest expiry the verdict
 * relied on and at most KG_PCCS_CHAIN_TTL_S after the verification (each verification starts
 * that again), never past the answer's own nextUpdate, and only at the PCCS it came from. */
static void a_verified_chain_finds_its_answer_until_the_verdict_expires(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NONE, T0 + 100000);
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, NULL, 0));
    kg_pccs_platform pf = platform(1);
    kg_quote a = chain_quote("chain of host A"), b = chain_quote("chain of host B");
    assert_true(ask(c, &pf, T0)); /* the platform's answer in the table */
    assert_int_equal(fetches(&f), 1);

    /* unknown chains go to the precheck */
    assert_false(by_chain(c, v, &a, BASE, T0));
    /* a hit: the verdict relied on collateral until T0 + 10 */
    verified(c, &a, T0 + 10, T0);
    assert_true(by_chain(c, v, &a, BASE, T0));
    assert_true(by_chain(c, v, &a, BASE, T0 + 9));
    assert_false(by_chain(c, v, &b, BASE, T0 + 9)); /* another host's chain is not A's */
    assert_false(by_chain(c, v, &a, BASE, T0 + 10));
    assert_int_equal(stats(c).chain_hits, 2);

    /* the TTL caps a later verdict expiry; a verification starts it again */
    verified(c, &a, T0 + 5000, T0 + 20);
    assert_true(by_chain(c, v, &a, BASE, T0 + 20 + KG_PCCS_CHAIN_TTL_S - 1));
    assert_false(by_chain(c, v, &a, BASE, T0 + 20 + KG_PCCS_CHAIN_TTL_S));
    verified(c, &a, 0, T0 + 400); /* 0: nothing earlier than the TTL */
    assert_true(by_chain(c, v, &a, BASE, T0 + 400 + KG_PCCS_CHAIN_TTL_S - 1));
    verified(c, &a, T0 + 5000, T0 + 600);
    assert_true(by_chain(c, v, &a, BASE, T0 + 800));
    /* only for the PCCS the answer came from */
    assert_false(by_chain(c, v, &a, "http://other-pccs.invalid:8081", T0 + 800));
    assert_true(by_chain(c, v, &a, BASE "/sgx/certification/v4/", T0 + 800));
    assert_int_equal(stats(c).chain_hits, 6);
    assert_int_equal(stats(c).chains, 1);
    assert_int_equal(fetches(&f), 1);

    /* never past the answer's nextUpdate, even within the chain's own time */
    kg_pccs_client_free(c);
    fake_init(&f, KG_ERR_NONE, T0 + 100);
    c = client(&f, KG_PCCS_SERVER_LIMITS);
    assert_true(ask(c, &pf, T0));
    verified(c, &a, 0, T0 + 50);
    assert_true(by_chain(c, v, &a, BASE, T0 + 100));
    assert_false(by_chain(c, v, &a, BASE, T0 + 101));
    /* a new answer for the platform: the chain has to verify with it first */
    f.expiry = T0 + 1000;
    assert_true(ask(c, &pf, T0 + 101));
    assert_int_equal(fetches(&f), 2);
    assert_false(by_chain(c, v, &a, BASE, T0 + 102));
    verified(c, &a, 0, T0 + 102);
    assert_true(by_chain(c, v, &a, BASE, T0 + 102));

    /* an answer not in the table (another document) is not remembered; clear forgets chains */
    kg_pccs_client_verified(c, &b, "{\"other\":1}", 11, 0, T0 + 102);
    assert_int_equal(stats(c).chains, 1);
    kg_pccs_client_clear(c);
    assert_int_equal(stats(c).chains, 0);
    assert_false(by_chain(c, v, &a, BASE, T0 + 102));
    kg_dcap_verifier_free(v);
    kg_pccs_client_free(c);
}

/* max_chains remembered; a new one replaces the one that lasts least (an expired one first). */
static void the_least_lasting_chain_makes_room(void **state)
{
    (void)state;
    fake f;
    fake_init(&f, KG_ERR_NONE, T0 + 100000);
    kg_pccs_limits lim = KG_PCCS_SERVER_LIMITS;
    lim.max_chains = 3;
    kg_pccs_client *c = client(&f, lim);
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, NULL, 0));
    kg_pccs_platform pf = platform(1);
    kg_quote q[5] = {chain_quote("chain 0"), chain_quote("chain 1"), chain_quote("chain 2"),
                     chain_quote("chain 3"), chain_quote("chain 4")};
    assert_true(ask(c, &pf, T0));
    verified(c, &q[0], T0 + 50, T0);
    verified(c, &q[1], T0 + 20, T0);
    verified(c, &q[2], T0 + 90, T0);
    for (int i = 0; i < 3; i++)
        assert_true(by_chain(c, v, &q[i], BASE, T0 + 10));
    /* a fourth replaces chain 1 (until T0 + 20) */
    verified(c, &q[3], T0 + 70, T0 + 10);
    assert_int_equal(stats(c).chains, 3);
    assert_false(by_chain(c, v, &q[1], BASE, T0 + 11));
    assert_true(by_chain(c, v, &q[0], BASE, T0 + 11));
    assert_true(by_chain(c, v, &q[2], BASE, T0 + 11));
    assert_true(by_chain(c, v, &q[3], BASE, T0 + 11));
    /* the same chain again takes its own entry, not another's */
    verified(c, &q[0], T0 + 60, T0 + 11);
    assert_int_equal(stats(c).chains, 3);
    assert_true(by_chain(c, v, &q[2], BASE, T0 + 12));
    assert_true(by_chain(c, v, &q[3], BASE, T0 + 12));
    /* at T0 + 61 chain 0 has expired: a fifth replaces it, not the live chain 3 (until T0 + 70) */
    verified(c, &q[4], T0 + 80, T0 + 61);
    assert_false(by_chain(c, v, &q[0], BASE, T0 + 61));
    assert_true(by_chain(c, v, &q[3], BASE, T0 + 61));
    assert_true(by_chain(c, v, &q[4], BASE, T0 + 61));
    /* without max_chains nothing is remembered */
    kg_pccs_client_free(c);
    c = client(&f, KG_PCCS_NO_LIMITS);
    assert_true(ask(c, &pf, T0));
    verified(c, &q[0], 0, T0);
    assert_false(by_chain(c, v, &q[0], BASE, T0));
    assert_int_equal(stats(c).chains, 0);
    kg_dcap_verifier_free(v);
    kg_pccs_client_free(c);
}

/* With a real (simulated) platform: a quote whose chain leads to the trusted root fetches its
 * platform's collateral, and its chain is remembered only once a quote with it verified: a
 * quote that fails verification (its signature broken, same chain) leaves nothing behind; a
 * chain of another root is refused before anything is fetched. */
static void only_a_verified_quote_leaves_its_chain(void **state)
{
    (void)state;
    char dir[64], plat[96];
    snprintf(dir, sizeof(dir), "/tmp/kg-pccs-client-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(plat, sizeof(plat), "%s/p", dir);
    uint64_t now = (uint64_t)time(NULL);
    kg_sim_init_opts o = {.now = now, .validity_days = 30};
    KG_ASSERT_OK(kg_sim_init(plat, &o));
    kg_buf root, coll, good, bad;
    kg_buf_init(&root, 65536);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    kg_buf_init(&good, KG_MAX_QUOTE_LEN);
    kg_buf_init(&bad, KG_MAX_QUOTE_LEN);
    KG_ASSERT_OK(kg_sim_root_ca_der(&root, plat));
    KG_ASSERT_OK(kg_sim_collateral(&coll, plat));
    uint8_t rtmr3[48] = {0}, rd[64];
    memset(rd, 0xab, sizeof(rd));
    KG_ASSERT_OK(kg_sim_quote(&good, plat, rtmr3, rd));
    KG_ASSERT_OK(kg_buf_append(&bad, good.data, good.len));
    kg_quote gq, bq;
    KG_ASSERT_OK(kg_quote_parse(&gq, good.data, good.len));
    uint8_t *at = NULL;
    for (size_t i = 0; at == NULL && i + sizeof(rd) <= bad.len; i++)
        if (memcmp(bad.data + i, rd, sizeof(rd)) == 0)
            at = bad.data + i;
    assert_non_null(at);
    *at ^= 1; /* REPORTDATA is signed: the quote breaks, its PCK chain stays */
    KG_ASSERT_OK(kg_quote_parse(&bq, bad.data, bad.len));
    assert_int_equal(bq.pck_chain_len, gq.pck_chain_len);

    kg_dcap_verifier *v = NULL, *intel = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, root.data, root.len));
    KG_ASSERT_OK(kg_dcap_verifier_new(&intel, NULL, 0));
    fake f;
    fake_init(&f, KG_ERR_NONE, (int64_t)now + 30 * 86400);
    f.answer = (const char *)coll.data;
    kg_pccs_client *c = client(&f, KG_PCCS_SERVER_LIMITS);
    kg_dcap_report *rep = calloc(1, sizeof(*rep));
    assert_non_null(rep);

    /* a verifier with another root: refused before any fetch */
    char *json = NULL;
    size_t len = 0;
    KG_ASSERT_ERR(
        kg_pccs_client_quote_collateral(c, &json, &len, intel, BASE, &gq, good.data, good.len, now),
        KG_ERR_VERIFY, "before fetching collateral");
    assert_int_equal(fetches(&f), 0);

    /* the broken quote: fetched, fails, not reported; again: the table, not its chain */
    for (int i = 0; i < 2; i++) {
        KG_ASSERT_OK(
            kg_pccs_client_quote_collateral(c, &json, &len, v, BASE, &bq, bad.data, bad.len, now));
        assert_int_equal(len, coll.len);
        assert_true(kg_failed(kg_dcap_verify(v, rep, bad.data, bad.len, json, len, now)));
        free(json);
    }
    assert_int_equal(fetches(&f), 1);
    kg_pccs_stats st = stats(c);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.chain_hits, 0);
    assert_int_equal(st.chains, 0);

    /* the good quote verifies and is reported: its chain (the same bytes) now finds the answer */
    KG_ASSERT_OK(
        kg_pccs_client_quote_collateral(c, &json, &len, v, BASE, &gq, good.data, good.len, now));
    KG_ASSERT_OK(kg_dcap_verify(v, rep, good.data, good.len, json, len, now));
    assert_true(rep->valid_until > now);
    kg_pccs_client_verified(c, &gq, json, len, rep->valid_until, now);
    free(json);
    st = stats(c);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.chains, 1);
    KG_ASSERT_OK(kg_pccs_client_quote_collateral(c, &json, &len, intel, BASE, &gq, good.data,
                                                 good.len, now + 1));
    assert_int_equal(len, coll.len);
    assert_memory_equal(json, coll.data, len);
    free(json);
    assert_int_equal(stats(c).chain_hits, 1);
    assert_int_equal(fetches(&f), 1);

    free(rep);
    kg_pccs_client_free(c);
    kg_dcap_verifier_free(v);
    kg_dcap_verifier_free(intel);
    kg_buf_free(&root);
    kg_buf_free(&coll);
    kg_buf_free(&good);
    kg_buf_free(&bad);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void limits_out_of_range_are_refused(void **state)
{
    (void)state;
    kg_pccs_client *c = NULL;
    KG_ASSERT_ERR(kg_pccs_client_new(&c, &(kg_pccs_limits){.max_platforms = 0}, NULL), KG_ERR_USAGE,
                  "max_platforms 0 is not in 1..1024");
    KG_ASSERT_ERR(kg_pccs_client_new(&c, &(kg_pccs_limits){.max_platforms = 1025}, NULL),
                  KG_ERR_USAGE, "max_platforms 1025");
    KG_ASSERT_ERR(kg_pccs_client_new(
                      &c,
                      &(kg_pccs_limits){.backoff_min_s = 5, .backoff_max_s = 1, .max_platforms = 1},
                      NULL),
                  KG_ERR_USAGE, "backoff_max_s 1 is below backoff_min_s 5");
    KG_ASSERT_ERR(
        kg_pccs_client_new(&c, &(kg_pccs_limits){.max_platforms = 1, .max_chains = 1025}, NULL),
        KG_ERR_USAGE, "max_chains 1025 is over 1024");
    assert_null(c);
    kg_pccs_client_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_failing_platform_is_fetched_once_per_backoff),
        cmocka_unit_test(an_answer_is_cached_until_its_next_update),
        cmocka_unit_test(concurrent_requests_share_one_fetch),
        cmocka_unit_test(a_table_of_fetches_in_flight_refuses_a_new_platform),
        cmocka_unit_test(many_platforms_are_bounded_by_the_rate_and_the_table),
        cmocka_unit_test(a_bad_answer_is_an_outage_not_a_verdict),
        cmocka_unit_test(a_verified_chain_finds_its_answer_until_the_verdict_expires),
        cmocka_unit_test(the_least_lasting_chain_makes_room),
        cmocka_unit_test(only_a_verified_quote_leaves_its_chain),
        cmocka_unit_test(limits_out_of_range_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
