/* flight_test.c - kg_flight, the shared head resolution of kms/chain.c: callers that arrive
 * while one is in flight share the next one (one run for all of them), never one that started
 * before they arrived unless an age bound allows it, never a result older than the bound, and
 * a failure reaches exactly the callers that waited for it. */
#include "test_util.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "keygate/flight.h"

typedef struct resolver {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gated;    /* runs block until the gate opens */
    bool in_run;   /* a run is inside fn */
    uint64_t runs; /* runs so far: each writes its number as the result */
    bool fail;     /* runs fail (a disagreement) */
} resolver;

static kg_result resolve(void *arg, void *value)
{
    resolver *r = arg;
    pthread_mutex_lock(&r->lock);
    uint64_t n = ++r->runs;
    r->in_run = true;
    pthread_cond_broadcast(&r->cond);
    while (r->gated)
        pthread_cond_wait(&r->cond, &r->lock);
    r->in_run = false;
    bool fail = r->fail;
    pthread_mutex_unlock(&r->lock);
    memcpy(value, &n, sizeof(n));
    if (fail)
        KG_BAIL(KG_ERR_DENIED, "chain nodes disagree: run %llu", (unsigned long long)n);
    return KG_OK;
}

static void open_gate(resolver *r)
{
    pthread_mutex_lock(&r->lock);
    r->gated = false;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void wait_in_run(resolver *r)
{
    pthread_mutex_lock(&r->lock);
    while (!r->in_run)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct caller {
    kg_flight *f;
    resolver *r;
    uint32_t max_age_ms;
    bool ok;
    kg_err code;
    char error[128];
    uint64_t got;
} caller;

static void *call(void *arg)
{
    caller *c = arg;
    kg_result rc = kg_flight_do(c->f, &c->got, c->max_age_ms, resolve, c->r);
    c->ok = kg_ok(rc);
    c->code = c->ok ? KG_ERR_NONE : kg_error_code();
    snprintf(c->error, sizeof(c->error), "%s", c->ok ? "" : kg_error_message());
    kg_error_clear();
    return NULL;
}

enum { N_CALLERS = 8 };

/* One caller's run is in flight (gated); N more arrive and wait; the gate opens: the first gets
 * its run, the N share exactly one more, started after they all arrived. */
static void run_shared(bool fail, uint32_t max_age_ms)
{
    kg_flight f;
    KG_ASSERT_OK(kg_flight_init(&f, sizeof(uint64_t)));
    resolver r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, true, false, 0, fail};
    caller first = {&f, &r, max_age_ms, false, KG_ERR_NONE, "", 0}, late[N_CALLERS];
    pthread_t t0, t[N_CALLERS];
    assert_int_equal(pthread_create(&t0, NULL, call, &first), 0);
    wait_in_run(&r);
    for (int i = 0; i < N_CALLERS; i++) {
        late[i] = first;
        assert_int_equal(pthread_create(&t[i], NULL, call, &late[i]), 0);
    }
    while (kg_flight_waiting(&f) < N_CALLERS)
        sleep_ms(1);
    assert_int_equal(kg_flight_runs(&f), 1); /* none of them started its own */
    open_gate(&r);
    pthread_join(t0, NULL);
    for (int i = 0; i < N_CALLERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.runs, 2);
    assert_int_equal(kg_flight_runs(&f), 2);
    assert_int_equal(first.got, 1);
    assert_int_equal(first.ok, !fail);
    for (int i = 0; i < N_CALLERS; i++) {
        /* the run in flight when they arrived had asked before them: never theirs */
        assert_int_equal(late[i].got, 2);
        assert_int_equal(late[i].ok, !fail);
        if (fail) {
            assert_int_equal(late[i].code, KG_ERR_DENIED);
            assert_non_null(strstr(late[i].error, "chain nodes disagree: run 2"));
        }
    }
    /* A failure is never kept for a later caller, whatever the age bound. */
    if (fail) {
        caller again = first;
        again.max_age_ms = 60000;
        call(&again);
        assert_int_equal(again.got, 3);
        assert_int_equal(r.runs, 3);
    }
    kg_flight_free(&f);
}

static void concurrent_callers_share_one_run(void **state)
{
    (void)state;
    run_shared(false, 0);
}

static void a_failure_reaches_its_waiters(void **state)
{
    (void)state;
    run_shared(true, 0);
}

static void never_older_than_the_bound(void **state)
{
    (void)state;
    kg_flight f;
    KG_ASSERT_OK(kg_flight_init(&f, sizeof(uint64_t)));
    resolver r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, false};
    caller c = {&f, &r, 0, false, KG_ERR_NONE, "", 0};
    /* bound 0 (the default): every call that shares with no one runs its own */
    for (uint64_t i = 1; i <= 3; i++) {
        call(&c);
        assert_true(c.ok);
        assert_int_equal(c.got, i);
    }
    /* a bound a run is well within: the last one serves */
    c.max_age_ms = 60000;
    call(&c);
    assert_int_equal(c.got, 3);
    assert_int_equal(r.runs, 3);
    /* a run older than the bound is not used: a new one is made */
    c.max_age_ms = 20;
    sleep_ms(40);
    call(&c);
    assert_int_equal(c.got, 4);
    assert_int_equal(r.runs, 4);
    kg_flight_free(&f);
}

/* With a bound, callers that arrive while a run is in flight (started within the bound) wait for
 * it and take it: one run for all. */
static void a_bound_shares_the_run_in_flight(void **state)
{
    (void)state;
    kg_flight f;
    KG_ASSERT_OK(kg_flight_init(&f, sizeof(uint64_t)));
    resolver r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, true, false, 0, false};
    caller first = {&f, &r, 60000, false, KG_ERR_NONE, "", 0}, late[N_CALLERS];
    pthread_t t0, t[N_CALLERS];
    assert_int_equal(pthread_create(&t0, NULL, call, &first), 0);
    wait_in_run(&r);
    for (int i = 0; i < N_CALLERS; i++) {
        late[i] = first;
        assert_int_equal(pthread_create(&t[i], NULL, call, &late[i]), 0);
    }
    while (kg_flight_waiting(&f) < N_CALLERS)
        sleep_ms(1);
    open_gate(&r);
    pthread_join(t0, NULL);
    for (int i = 0; i < N_CALLERS; i++) {
        pthread_join(t[i], NULL);
        assert_true(late[i].ok);
        assert_int_equal(late[i].got, 1);
    }
    assert_int_equal(r.runs, 1);
    kg_flight_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_callers_share_one_run),
        cmocka_unit_test(a_failure_reaches_its_waiters),
        cmocka_unit_test(never_older_than_the_bound),
        cmocka_unit_test(a_bound_shares_the_run_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
