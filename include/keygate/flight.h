/* flight.h - one resolution shared by the callers that arrive while it is in flight, and never
 * by one that arrived after it was asked (unless a caller allows an age bound).
 *
 * The KMS resolves the chain's head for every decision. Decisions that arrive together can share
 * one resolution without any of them seeing an older chain than it would alone: a caller only
 * takes the result of a resolution that *started after it arrived*. A caller that arrives while
 * one is in flight waits for it to finish, then starts (or joins) the next one; at most one runs
 * at a time, so under load the resolutions run back to back, each serving every caller that
 * arrived during the one before (as group commit shares an fsync).
 *
 * With max_age_ms > 0 a caller also takes a resolution that started at most max_age_ms before
 * it arrived (finished, or in flight). A result older than that is never used. A failed
 * resolution is shared only with the callers that were waiting for it, never kept for later
 * ones. */
#ifndef KEYGATE_FLIGHT_H
#define KEYGATE_FLIGHT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

typedef struct kg_flight {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t size;       /* bytes of a result */
    uint64_t started;  /* resolutions started so far: a resolution's sequence number */
    bool busy;         /* one is in flight ... */
    uint64_t busy_seq; /* ... with this number ... */
    uint64_t busy_ns;  /* ... started at this CLOCK_MONOTONIC time */
    bool have;         /* the last finished one: */
    uint64_t have_seq, have_ns;
    bool have_ok;
    kg_err have_code;
    char have_error[512];
    void *value;    /* its result (size bytes) */
    size_t waiting; /* callers waiting (tests) */
} kg_flight;

KG_RESULT kg_flight_init(kg_flight *f, size_t size);
void kg_flight_free(kg_flight *f);

/* The result of a resolution (fn(arg, value), writing `size` bytes of result into value) that
 * this caller may use, into out: one started after the call began, or with max_age_ms > 0 one
 * started at most max_age_ms before. Runs fn on this thread when no usable one is in flight or
 * finished. On failure out still receives what fn wrote (e.g. which nodes answered) and the
 * error is fn's (the same code and message for every caller that shared it). */
KG_RESULT kg_flight_do(kg_flight *f, void *out, uint32_t max_age_ms,
                       kg_result (*fn)(void *arg, void *value), void *arg);

/* Resolutions run so far (tests and metrics). */
uint64_t kg_flight_runs(kg_flight *f);
/* Callers waiting right now (tests). */
size_t kg_flight_waiting(kg_flight *f);

#endif
