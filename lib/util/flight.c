/* flight.c - a resolution shared by the callers that arrive while it is in flight (flight.h). */
#include "keygate/flight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

kg_result kg_flight_init(kg_flight *f, size_t size)
{
    memset(f, 0, sizeof(*f));
    f->size = size;
    f->value = calloc(1, size ? size : 1);
    KG_ENSURE(f->value != NULL, KG_ERR_NOMEM, "out of memory");
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f->value);
        f->value = NULL;
        KG_BAIL(KG_ERR_INTERNAL, "pthread_mutex_init failed");
    }
    if (pthread_cond_init(&f->done, NULL) != 0) {
        pthread_mutex_destroy(&f->lock);
        free(f->value);
        f->value = NULL;
        KG_BAIL(KG_ERR_INTERNAL, "pthread_cond_init failed");
    }
    return KG_OK;
}

void kg_flight_free(kg_flight *f)
{
    if (f == NULL || f->value == NULL)
        return;
    pthread_cond_destroy(&f->done);
    pthread_mutex_destroy(&f->lock);
    free(f->value);
    memset(f, 0, sizeof(*f));
}

kg_result kg_flight_do(kg_flight *f, void *out, uint32_t max_age_ms,
                       kg_result (*fn)(void *arg, void *value), void *arg)
{
    pthread_mutex_lock(&f->lock);
    /* Read under the lock: a resolution numbered above `arrived` started after this call. */
    uint64_t arrived = f->started;
    uint64_t now = mono_ns();
    uint64_t age_ns = (uint64_t)max_age_ms * 1000000u;
    uint64_t oldest_ns = max_age_ms > 0 && now > age_ns ? now - age_ns : now;
    for (;;) {
        /* started after this call, or (with an age bound) at most max_age_ms before it */
        bool have_usable = f->have && (f->have_seq > arrived ||
                                       (max_age_ms > 0 && f->have_ok && f->have_ns >= oldest_ns));
        if (have_usable) {
            memcpy(out, f->value, f->size);
            bool ok = f->have_ok;
            kg_err code = f->have_code;
            char error[sizeof(f->have_error)];
            if (!ok)
                memcpy(error, f->have_error, sizeof(error));
            pthread_mutex_unlock(&f->lock);
            if (ok)
                return KG_OK;
            return kg_error_set(code, __FILE__, __LINE__, "%s", error);
        }
        if (!f->busy)
            break; /* nothing to use or wait for: run one */
        /* In flight: usable or not, wait for it (a usable one serves this caller; after an
         * older one, this caller runs or joins the next). */
        f->waiting++;
        pthread_cond_wait(&f->done, &f->lock);
        f->waiting--;
    }
    uint64_t seq = ++f->started;
    f->busy = true;
    f->busy_seq = seq;
    f->busy_ns = mono_ns();
    pthread_mutex_unlock(&f->lock);

    memset(out, 0, f->size);
    kg_result rc = fn(arg, out);
    kg_err code = kg_ok(rc) ? KG_ERR_NONE : kg_error_code();

    pthread_mutex_lock(&f->lock);
    f->have = true;
    f->have_seq = seq;
    f->have_ns = f->busy_ns;
    f->have_ok = kg_ok(rc);
    f->have_code = code;
    if (!f->have_ok)
        snprintf(f->have_error, sizeof(f->have_error), "%s", kg_error_message());
    memcpy(f->value, out, f->size);
    f->busy = false;
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

uint64_t kg_flight_runs(kg_flight *f)
{
    pthread_mutex_lock(&f->lock);
    uint64_t n = f->started;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t kg_flight_waiting(kg_flight *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->waiting;
    pthread_mutex_unlock(&f->lock);
    return n;
}
