/* chain.c - the KMS's view of the chain: a quorum of independent JSON-RPC nodes agreeing on one
 * block and on every answer read at it (docs/design.md, "Trusting the chain").
 *
 * A decision block is resolved per request:
 *   1. every node is asked for its head, in parallel;
 *   2. the target is the highest block `quorum` nodes have reached, minus `confirmations`;
 *   3. every node that answered is asked for the target's hash; all that answer must agree,
 *      and at least `quorum` must answer;
 *   4. the block must be fresh (timestamp within max_block_age_s) and not below the highest
 *      block decided at minus reorg_allowance.
 * Every answer at that block (isAppAllowed, isKmsAllowed, kmsInfo) is asked of the same nodes,
 * pinned to the block hash; all that answer must agree and `quorum` must answer. Disagreement is
 * a refusal (KG_ERR_DENIED, counted), never an allow; too few answers, or a stale view, is
 * KG_ERR_UNAVAILABLE. With one node and quorum 1 this is the single-node KMS of before.
 *
 * Steps 1-3 are shared between decisions (keygate/flight.h): a decision uses a resolution that
 * started after it arrived, waiting for the one in flight to end and joining the next, so
 * decisions that arrive together read the heads once, and none sees a chain older than it would
 * have alone. policy.head_max_age_ms > 0 lets a decision also use a resolution started at most
 * that long before it arrived (default 0: never; kms/README.md, "The head block"). Step 4 runs
 * per decision. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/eth.h"
#include "keygate/flight.h"
#include "keygate/hash.h"
#include "kms.h"

static kg_eth_client *g_nodes[KG_KMS_MAX_RPC_NODES];
static size_t g_n_nodes;
static _Atomic uint64_t g_highest_decided;
/* Nodes that did not answer this decision's head request (one decision runs on one thread):
 * they sit out its later steps, so one slow node costs a decision one timeout, not one per
 * step. */
static _Thread_local uint32_t t_absent;

/* What one resolution of the decision block found, for every decision that shares it. */
typedef struct head_view {
    kg_eth_block block;
    uint32_t absent; /* nodes that did not answer the head request */
    bool disagreed;  /* it failed because nodes disagreed (counted per decision refused) */
} head_view;
static kg_flight g_head_flight;

/* One node's part of a parallel step. */
typedef struct node_job {
    const kms *k;
    size_t i;
    bool ok;
    kg_err code;
    char error[256];
    /* inputs */
    uint64_t number;        /* block_at */
    const kg_eth_block *at; /* answers */
    kg_eth_policy_kind kind;
    const kg_boot_identity *id;
    /* outputs */
    kg_eth_block block;
    kg_eth_decision decision;
    uint8_t k256[KG_K256_PUB_LEN];
    uint8_t spki_hash[32];
    uint8_t holders[KG_ETH_MAX_RECOVERY_HOLDERS][32];
    size_t n_holders;
    uint8_t threshold;
    uint32_t epoch_no; /* rootEpoch's argument; currentRootEpoch's answer */
    kg_eth_root_epoch_info epoch;
} node_job;

static void capture(node_job *j, kg_result rc)
{
    j->ok = kg_ok(rc);
    if (!j->ok) {
        j->code = kg_error_code();
        snprintf(j->error, sizeof(j->error), "%s", kg_error_message());
        kg_error_clear();
    }
}

/* ---- each_node's helper threads ------------------------------------------------------------
 * A step asks every node at once: node 0 on the calling thread, node i > 0 on the calling
 * thread's helper i, a thread kept for the caller's life and handed one job at a time (a
 * decision runs on one thread, so its helpers never serve two steps at once). A thread created
 * and joined per step cost about 25 us of CPU (clone, stack, exit, join), one and a half times
 * per release with two nodes. The helpers stop when their thread exits (a thread-specific
 * destructor); a helper that cannot be started leaves its node asked in turn on the caller. */
typedef struct node_helper {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t th;
    bool started;
    bool busy; /* a job handed over and not finished */
    bool stop;
    void *(*fn)(void *);
    void *arg;
} node_helper;

typedef struct node_helpers {
    node_helper h[KG_KMS_MAX_RPC_NODES]; /* [0] unused: node 0 runs on the caller */
} node_helpers;

static pthread_key_t g_helpers_key;
static pthread_once_t g_helpers_once = PTHREAD_ONCE_INIT;
static bool g_helpers_key_ok;
static _Thread_local node_helpers *t_helpers;

static void *helper_main(void *arg)
{
    node_helper *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->busy && !h->stop)
            pthread_cond_wait(&h->cond, &h->lock);
        if (!h->busy)
            break; /* stop, and no job left */
        pthread_mutex_unlock(&h->lock);
        h->fn(h->arg);
        pthread_mutex_lock(&h->lock);
        h->busy = false;
        pthread_cond_broadcast(&h->cond);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* The thread-specific destructor: stops and joins the exiting thread's helpers. */
static void helpers_free(void *p)
{
    node_helpers *hs = p;
    for (size_t i = 1; i < KG_KMS_MAX_RPC_NODES; i++) {
        node_helper *h = &hs->h[i];
        if (!h->started)
            continue;
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->th, NULL);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
    }
    free(hs);
}

static void helpers_key_init(void)
{
    g_helpers_key_ok = pthread_key_create(&g_helpers_key, helpers_free) == 0;
}

/* Hands fn(arg) to the calling thread's helper for node i; false when there is none to be had
 * (then the caller runs it itself). */
static bool helper_run(size_t i, void *(*fn)(void *), void *arg)
{
    if (t_helpers == NULL) {
        if (pthread_once(&g_helpers_once, helpers_key_init) != 0 || !g_helpers_key_ok)
            return false;
        node_helpers *hs = calloc(1, sizeof(*hs));
        if (hs == NULL)
            return false;
        if (pthread_setspecific(g_helpers_key, hs) != 0) {
            free(hs);
            return false;
        }
        t_helpers = hs;
    }
    node_helper *h = &t_helpers->h[i];
    if (!h->started) {
        if (pthread_mutex_init(&h->lock, NULL) != 0)
            return false;
        if (pthread_cond_init(&h->cond, NULL) != 0) {
            pthread_mutex_destroy(&h->lock);
            return false;
        }
        if (pthread_create(&h->th, NULL, helper_main, h) != 0) {
            pthread_cond_destroy(&h->cond);
            pthread_mutex_destroy(&h->lock);
            return false;
        }
        h->started = true;
    }
    pthread_mutex_lock(&h->lock);
    h->fn = fn;
    h->arg = arg;
    h->busy = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return true;
}

/* Waits until the calling thread's helper for node i has finished the job it was handed. */
static void helper_wait(size_t i)
{
    node_helper *h = &t_helpers->h[i];
    pthread_mutex_lock(&h->lock);
    while (h->busy)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

/* Runs fn on every job, node 0 on this thread and the others on its helpers, and waits. Every
 * node asked that did not answer (an error, or no answer within policy.timeout_ms) is counted
 * (keygate_kms_chain_node_errors_total); a node sitting out the decision is not asked. */
static void each_node(kms *k, void *(*fn)(void *), node_job *jobs, size_t n)
{
    bool handed[KG_KMS_MAX_RPC_NODES] = {false};
    for (size_t i = 0; i < n; i++)
        if (t_absent & (1u << i)) {
            jobs[i].ok = false;
            snprintf(jobs[i].error, sizeof(jobs[i].error), "did not answer this decision's head");
        }
    for (size_t i = 1; i < n; i++)
        if (!(t_absent & (1u << i)))
            handed[i] = helper_run(i, fn, &jobs[i]);
    if (!(t_absent & 1u))
        fn(&jobs[0]);
    for (size_t i = 1; i < n; i++) {
        if (handed[i])
            helper_wait(i);
        else if (!(t_absent & (1u << i)))
            fn(&jobs[i]); /* no helper to be had: ask this node here, in turn */
    }
    for (size_t i = 0; i < n; i++)
        if (!(t_absent & (1u << i)) && !jobs[i].ok)
            atomic_fetch_add(&k->metrics.chain_node_errors, 1);
}

static void *job_head(void *arg)
{
    node_job *j = arg;
    capture(j, kg_eth_get_block(g_nodes[j->i], &j->block, "latest"));
    return NULL;
}

static void *job_block_at(void *arg)
{
    node_job *j = arg;
    capture(j, kg_eth_get_block_by_number(g_nodes[j->i], &j->block, j->number));
    return NULL;
}

static void *job_policy(void *arg)
{
    node_job *j = arg;
    capture(j, kg_eth_policy_check(&j->decision, g_nodes[j->i], j->k->cfg.kms_contract, j->kind,
                                   j->id, j->at));
    return NULL;
}

static void *job_kms_info(void *arg)
{
    node_job *j = arg;
    kg_buf spki;
    kg_buf_init(&spki, 4096);
    kg_result rc = kg_eth_kms_info(j->k256, &spki, g_nodes[j->i], j->k->cfg.kms_contract, j->at);
    if (kg_ok(rc))
        rc = kg_sha256(j->spki_hash, spki.data, spki.len);
    kg_buf_free(&spki);
    capture(j, rc);
    return NULL;
}

static void *job_recovery_holders(void *arg)
{
    node_job *j = arg;
    capture(j, kg_eth_recovery_holders(j->holders, &j->n_holders, &j->threshold, g_nodes[j->i],
                                       j->k->cfg.kms_contract, j->at));
    return NULL;
}

static void *job_current_epoch(void *arg)
{
    node_job *j = arg;
    capture(j,
            kg_eth_current_root_epoch(&j->epoch_no, g_nodes[j->i], j->k->cfg.kms_contract, j->at));
    return NULL;
}

static void *job_root_epoch(void *arg)
{
    node_job *j = arg;
    capture(
        j, kg_eth_root_epoch(&j->epoch, g_nodes[j->i], j->k->cfg.kms_contract, j->epoch_no, j->at));
    return NULL;
}

static void init_jobs(node_job *jobs, const kms *k)
{
    memset(jobs, 0, sizeof(node_job) * g_n_nodes);
    for (size_t i = 0; i < g_n_nodes; i++) {
        jobs[i].k = k;
        jobs[i].i = i;
    }
}

/* Fails with "chain view unavailable" when fewer than quorum jobs succeeded. */
static kg_result need_quorum(const kms *k, const node_job *jobs, const char *what)
{
    size_t ok = 0, first_bad = g_n_nodes;
    for (size_t i = 0; i < g_n_nodes; i++) {
        if (jobs[i].ok)
            ok++;
        else if (first_bad == g_n_nodes)
            first_bad = i;
    }
    bool bad = first_bad < g_n_nodes;
    KG_ENSURE(ok >= k->cfg.quorum, KG_ERR_UNAVAILABLE,
              "chain view unavailable: %zu of %zu nodes answered %s (quorum %u)%s%s%s%.200s", ok,
              g_n_nodes, what, k->cfg.quorum, bad ? "; '" : "",
              bad ? k->cfg.rpc_urls[first_bad] : "", bad ? "': " : "",
              bad ? jobs[first_bad].error : "");
    return KG_OK;
}

/* Counts a disagreement and fails with "chain nodes disagree: '<a>' and '<b>' <what>". */
static kg_result disagree(kms *k, const char *a, const char *b, const char *what)
{
    atomic_fetch_add(&k->metrics.chain_disagreements, 1);
    KG_BAIL(KG_ERR_DENIED, "chain nodes disagree: '%s' and '%s' %s", a, b, what);
}

/* The first node that answered (*ref) and the first later one whose answer differs from it
 * (*odd), by same(); *odd = g_n_nodes when every answer agrees. */
static void find_odd(size_t *ref, size_t *odd, const node_job *jobs,
                     bool (*same)(const node_job *, const node_job *))
{
    *ref = *odd = g_n_nodes;
    for (size_t i = 0; i < g_n_nodes; i++) {
        if (!jobs[i].ok)
            continue;
        if (*ref == g_n_nodes)
            *ref = i;
        else if (!same(&jobs[*ref], &jobs[i])) {
            *odd = i;
            return;
        }
    }
}

static bool same_block(const node_job *a, const node_job *b)
{
    return memcmp(a->block.hash, b->block.hash, KG_ETH_HASH_LEN) == 0;
}

static bool same_decision(const node_job *a, const node_job *b)
{
    return a->decision.allowed == b->decision.allowed &&
           strcmp(a->decision.reason, b->decision.reason) == 0;
}

static bool same_kms_info(const node_job *a, const node_job *b)
{
    return memcmp(a->k256, b->k256, KG_K256_PUB_LEN) == 0 &&
           memcmp(a->spki_hash, b->spki_hash, sizeof(a->spki_hash)) == 0;
}

static bool same_holders(const node_job *a, const node_job *b)
{
    return a->n_holders == b->n_holders && a->threshold == b->threshold &&
           memcmp(a->holders, b->holders, a->n_holders * 32) == 0;
}

static bool same_epoch_no(const node_job *a, const node_job *b)
{
    return a->epoch_no == b->epoch_no;
}

static bool same_epoch(const node_job *a, const node_job *b)
{
    const kg_eth_root_epoch_info *x = &a->epoch, *y = &b->epoch;
    return x->status == y->status && x->activates_at == y->activates_at &&
           memcmp(x->k256_pub, y->k256_pub, sizeof(x->k256_pub)) == 0 &&
           x->ca_spki_len == y->ca_spki_len &&
           memcmp(x->ca_spki, y->ca_spki, x->ca_spki_len) == 0 &&
           memcmp(x->attestation_hash, y->attestation_hash, sizeof(x->attestation_hash)) == 0;
}

static int by_number_desc(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

/* Steps 1-3: the heads, the target, and the nodes' agreement on its hash (kg_flight's fn). */
static kg_result resolve_block(void *arg, void *value)
{
    kms *k = arg;
    head_view *v = value;
    node_job jobs[KG_KMS_MAX_RPC_NODES];
    uint64_t heads[KG_KMS_MAX_RPC_NODES];
    size_t n_heads = 0;
    init_jobs(jobs, k);
    atomic_fetch_add(&k->metrics.head_resolutions, 1);
    t_absent = 0; /* a new resolution: every node is asked again */
    each_node(k, job_head, jobs, g_n_nodes);
    for (size_t i = 0; i < g_n_nodes; i++)
        if (!jobs[i].ok)
            t_absent |= 1u << i;
    v->absent = t_absent;
    KG_GUARD(need_quorum(k, jobs, "their head"));
    for (size_t i = 0; i < g_n_nodes; i++)
        if (jobs[i].ok)
            heads[n_heads++] = jobs[i].block.number;
    qsort(heads, n_heads, sizeof(heads[0]), by_number_desc);
    uint64_t reached = heads[k->cfg.quorum - 1]; /* the highest block a quorum has */
    KG_ENSURE(reached >= k->cfg.confirmations, KG_ERR_UNAVAILABLE,
              "chain view unavailable: head %llu is below policy.confirmations %u",
              (unsigned long long)reached, k->cfg.confirmations);
    uint64_t target = reached - k->cfg.confirmations;

    /* The heads themselves serve when every node that answered is at the target. */
    bool same = true;
    for (size_t i = 0; i < g_n_nodes; i++)
        if (jobs[i].ok && jobs[i].block.number != target)
            same = false;
    if (!same) {
        /* every node is asked again, those whose head failed too: a node that answers now
         * is a voice like any other */
        for (size_t i = 0; i < g_n_nodes; i++) {
            jobs[i].number = target;
            jobs[i].ok = false;
        }
        each_node(k, job_block_at, jobs, g_n_nodes);
        char what[64];
        snprintf(what, sizeof(what), "block %llu", (unsigned long long)target);
        KG_GUARD(need_quorum(k, jobs, what));
    }
    size_t ref, odd;
    find_odd(&ref, &odd, jobs, same_block);
    if (odd < g_n_nodes) {
        char h1[67] = "0x", h2[67] = "0x";
        if (kg_failed(kg_hex_encode(h1 + 2, 65, jobs[ref].block.hash, 32)) ||
            kg_failed(kg_hex_encode(h2 + 2, 65, jobs[odd].block.hash, 32)))
            kg_error_clear();
        v->disagreed = true; /* counted by each decision it refuses (kms_chain_block) */
        KG_BAIL(KG_ERR_DENIED,
                "chain nodes disagree: '%s' and '%s' report different blocks: block %llu is "
                "%.18s... at one, %.18s... at the other",
                k->cfg.rpc_urls[ref], k->cfg.rpc_urls[odd], (unsigned long long)target, h1, h2);
    }
    v->block = jobs[ref].block;
    return KG_OK;
}

kg_result kms_chain_block(kg_eth_block *out, kms *k)
{
    KG_ENSURE(g_n_nodes > 0, KG_ERR_USAGE, "no chain nodes configured");
    head_view v;
    kg_result rc = kg_flight_do(&g_head_flight, &v, k->cfg.head_max_age_ms, resolve_block, k);
    /* the nodes that did not answer the head sit out this decision's later steps */
    t_absent = v.absent;
    if (kg_failed(rc)) {
        if (v.disagreed)
            atomic_fetch_add(&k->metrics.chain_disagreements, 1);
        return rc;
    }
    *out = v.block;

    /* Step 4, per decision: the block it uses is judged at the time it decides. */
    uint64_t now = (uint64_t)time(NULL);
    KG_ENSURE(k->cfg.max_block_age_s == 0 || out->timestamp + k->cfg.max_block_age_s >= now,
              KG_ERR_UNAVAILABLE,
              "chain view is stale: block %llu is %llu s old (policy.max_block_age_s = %u)",
              (unsigned long long)out->number, (unsigned long long)(now - out->timestamp),
              k->cfg.max_block_age_s);
    uint64_t highest = atomic_load(&g_highest_decided);
    KG_ENSURE(out->number + k->cfg.reorg_allowance >= highest, KG_ERR_DENIED,
              "chain went backwards: block %llu is below the highest block decided at (%llu) "
              "by more than policy.reorg_allowance (%u)",
              (unsigned long long)out->number, (unsigned long long)highest, k->cfg.reorg_allowance);
    while (out->number > highest &&
           !atomic_compare_exchange_weak(&g_highest_decided, &highest, out->number))
        ;
    return KG_OK;
}

kg_result kms_chain_block_at(kg_eth_block *out, const kg_kms_verdict *v)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(v->block_number >= 0 && strlen(v->block_hash) == 2 + 2 * KG_ETH_HASH_LEN &&
                  kg_ok(kg_hex_decode_exact(out->hash, KG_ETH_HASH_LEN, v->block_hash + 2)),
              KG_ERR_INTERNAL, "decision block '%s' (%lld) is not a block of the chain",
              v->block_hash, (long long)v->block_number);
    out->number = (uint64_t)v->block_number;
    return KG_OK;
}

kg_result kms_chain_policy(kg_eth_decision *out, kms *k, int kind, const kg_boot_identity *id,
                           const kg_eth_block *at)
{
    node_job jobs[KG_KMS_MAX_RPC_NODES];
    init_jobs(jobs, k);
    for (size_t i = 0; i < g_n_nodes; i++) {
        jobs[i].kind = (kg_eth_policy_kind)kind;
        jobs[i].id = id;
        jobs[i].at = at;
    }
    each_node(k, job_policy, jobs, g_n_nodes);
    /* A node that reverted or answered nonsense is not "an answer": it counts as absent. */
    char what[64];
    snprintf(what, sizeof(what), "the policy at block %llu", (unsigned long long)at->number);
    KG_GUARD(need_quorum(k, jobs, what));
    size_t ref, odd;
    find_odd(&ref, &odd, jobs, same_decision);
    if (odd < g_n_nodes) {
        const kg_eth_decision *a = &jobs[ref].decision, *b = &jobs[odd].decision;
        char detail[300];
        snprintf(detail, sizeof(detail),
                 "answer differently at block %llu: one says %s (%.80s), the other %s (%.80s)",
                 (unsigned long long)at->number, a->allowed ? "allowed" : "denied", a->reason,
                 b->allowed ? "allowed" : "denied", b->reason);
        return disagree(k, k->cfg.rpc_urls[ref], k->cfg.rpc_urls[odd], detail);
    }
    *out = jobs[ref].decision;
    return KG_OK;
}

/* One read of the KMS contract at block `at` from every node (fn), a quorum of answers, and
 * every answer the same (same): *ref is the node whose answer stands. */
static kg_result read_agreed(size_t *ref, node_job *jobs, kms *k, const kg_eth_block *at,
                             void *(*fn)(void *), const char *what,
                             bool (*same)(const node_job *, const node_job *), const char *differ)
{
    init_jobs(jobs, k);
    for (size_t i = 0; i < g_n_nodes; i++)
        jobs[i].at = at;
    each_node(k, fn, jobs, g_n_nodes);
    KG_GUARD(need_quorum(k, jobs, what));
    size_t odd;
    find_odd(ref, &odd, jobs, same);
    if (odd < g_n_nodes)
        return disagree(k, k->cfg.rpc_urls[*ref], k->cfg.rpc_urls[odd], differ);
    return KG_OK;
}

kg_result kms_chain_kms_info(uint8_t k256[KG_K256_PUB_LEN], uint8_t spki_hash[32], kms *k,
                             const kg_eth_block *at)
{
    node_job jobs[KG_KMS_MAX_RPC_NODES];
    size_t ref;
    KG_GUARD(read_agreed(&ref, jobs, k, at, job_kms_info, "kmsInfo()", same_kms_info,
                         "report different kmsInfo"));
    memcpy(k256, jobs[ref].k256, KG_K256_PUB_LEN);
    memcpy(spki_hash, jobs[ref].spki_hash, 32);
    return KG_OK;
}

kg_result kms_chain_recovery_holders(uint8_t holders[KG_ETH_MAX_RECOVERY_HOLDERS][32], size_t *n,
                                     uint8_t *threshold, kms *k, const kg_eth_block *at)
{
    node_job jobs[KG_KMS_MAX_RPC_NODES];
    size_t ref;
    KG_GUARD(read_agreed(&ref, jobs, k, at, job_recovery_holders, "recoveryHolders()", same_holders,
                         "report different recovery holders"));
    memcpy(holders, jobs[ref].holders, jobs[ref].n_holders * 32);
    *n = jobs[ref].n_holders;
    *threshold = jobs[ref].threshold;
    return KG_OK;
}

kg_result kms_chain_current_root_epoch(uint32_t *out, bool *supported, kms *k,
                                       const kg_eth_block *at)
{
    node_job jobs[KG_KMS_MAX_RPC_NODES];
    size_t ref;
    *out = 0;
    *supported = true;
    kg_result rc = read_agreed(&ref, jobs, k, at, job_current_epoch, "currentRootEpoch()",
                               same_epoch_no, "report different current root epochs");
    if (kg_ok(rc)) {
        *out = jobs[ref].epoch_no;
        return KG_OK;
    }
    /* A KMS contract from before epochs has no currentRootEpoch(): a quorum of nodes that all
     * say it reverted, and none that answers, means no rotation can have happened. */
    size_t reverted = 0, answered = 0;
    for (size_t i = 0; i < g_n_nodes; i++) {
        answered += jobs[i].ok;
        reverted += !jobs[i].ok && jobs[i].code == KG_ERR_DENIED;
    }
    if (answered == 0 && reverted >= k->cfg.quorum) {
        kg_error_clear();
        *supported = false;
        return KG_OK;
    }
    return rc;
}

kg_result kms_chain_root_epoch(kg_eth_root_epoch_info *out, kms *k, uint32_t epoch,
                               const kg_eth_block *at)
{
    node_job *jobs = calloc(KG_KMS_MAX_RPC_NODES, sizeof(*jobs));
    size_t ref;
    char what[48];
    KG_ENSURE(jobs != NULL, KG_ERR_NOMEM, "out of memory");
    snprintf(what, sizeof(what), "rootEpoch(%u)", (unsigned)epoch);
    init_jobs(jobs, k);
    for (size_t i = 0; i < g_n_nodes; i++) {
        jobs[i].at = at;
        jobs[i].epoch_no = epoch;
    }
    each_node(k, job_root_epoch, jobs, g_n_nodes);
    kg_result rc = need_quorum(k, jobs, what);
    if (kg_ok(rc)) {
        size_t odd;
        find_odd(&ref, &odd, jobs, same_epoch);
        if (odd < g_n_nodes)
            rc = disagree(k, k->cfg.rpc_urls[ref], k->cfg.rpc_urls[odd],
                          "report different root epochs");
        else
            *out = jobs[ref].epoch;
    }
    free(jobs);
    return rc;
}

kg_eth_client *kms_chain_first(void)
{
    return g_n_nodes > 0 ? g_nodes[0] : NULL;
}

kg_result kms_chain_init(const kms *k)
{
    KG_GUARD(kg_flight_init(&g_head_flight, sizeof(head_view)));
    for (uint32_t i = 0; i < k->cfg.n_rpc_urls; i++) {
        const char *url = k->cfg.rpc_urls[i];
        if (strncmp(url, "http://", 7) == 0 && k->cfg.allow_insecure_http)
            kg_slog(KG_SLOG_WARN,
                    "WARNING: chain node '%s' is plain http and policy.allow_insecure_http is "
                    "set: anyone on the path can answer for it (test networks only)",
                    url);
        KG_GUARD_CTX(kg_eth_client_new(&g_nodes[i], url, k->cfg.policy_timeout_ms),
                     "policy.rpc_urls[%u] '%s'", i, url);
        g_n_nodes = i + 1;
        /* A node on another chain is another governance: the KMS does not start. */
        uint64_t id = 0;
        KG_GUARD_CTX(kg_eth_chain_id(g_nodes[i], &id), "checking chain_id of '%s'", url);
        KG_ENSURE(id == k->cfg.chain_id, KG_ERR_DENIED,
                  "chain node at '%s' is chain %llu, config says %llu", url, (unsigned long long)id,
                  (unsigned long long)k->cfg.chain_id);
    }
    return KG_OK;
}

void kms_chain_free(void)
{
    for (size_t i = 0; i < g_n_nodes; i++)
        kg_eth_client_free(g_nodes[i]);
    memset(g_nodes, 0, sizeof(g_nodes));
    g_n_nodes = 0;
    kg_flight_free(&g_head_flight);
}
