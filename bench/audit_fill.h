/* audit_fill.h - decision logs of N entries for benchmarks (audit_fill.c). */
#ifndef KG_BENCH_AUDIT_FILL_H
#define KG_BENCH_AUDIT_FILL_H

#include <stdint.h>

#include "keygate/audit.h"

#define KG_BENCH_MAX_LOG_ENTRIES 100000000ull

/* Appends realistic allow decisions to `a` from several threads until its log holds `entries`
 * (an existing log is topped up, not rewritten); *size receives the log's size. 0, or -1 after
 * printing why to stderr (the log then holds what was committed). */
int kg_bench_audit_fill_to(kg_audit *a, uint64_t entries, uint64_t *size);

#endif
