/* chain_history.c - a contract's event history read the way public chain nodes allow
 * (README "Reading history on real chains"): eth_getLogs in windows of at most --log-window
 * blocks, from the contract's creation block (found by bisection over eth_getCode) or from
 * --from-block, and an honest account of whether history before the range exists unread. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"

/* Moves the logs of `more` to the end of `all` (more is left empty). */
static kg_result logs_append(kg_eth_logs *all, kg_eth_logs *more)
{
    if (more->count == 0)
        return KG_OK;
    KG_ENSURE(all->count <= KG_CHAIN_MAX_HISTORY_LOGS - more->count, KG_ERR_TOO_LARGE,
              "more than %u logs in the history: give a later --from-block",
              KG_CHAIN_MAX_HISTORY_LOGS);
    kg_eth_log *grown = realloc(all->items, (all->count + more->count) * sizeof(*grown));
    KG_ENSURE(grown != NULL, KG_ERR_NOMEM, "out of memory");
    memcpy(grown + all->count, more->items, more->count * sizeof(*grown));
    all->items = grown;
    all->count += more->count;
    free(more->items); /* the data pointers moved with the structs */
    more->items = NULL;
    more->count = 0;
    return KG_OK;
}

/* A node's answer must be what was asked: logs of that address, in the window, with the topic
 * asked for. A log from elsewhere would put foreign events in a contract's history. */
static kg_result logs_check(const kg_eth_logs *logs, const uint8_t address[20],
                            const uint8_t *topic0, uint64_t from, uint64_t to)
{
    for (size_t i = 0; i < logs->count; i++) {
        const kg_eth_log *l = &logs->items[i];
        KG_ENSURE(memcmp(l->address, address, 20) == 0, KG_ERR_NETWORK,
                  "chain node: eth_getLogs answered with a log of another contract");
        KG_ENSURE(l->block_number >= from && l->block_number <= to, KG_ERR_NETWORK,
                  "chain node: eth_getLogs for blocks %" PRIu64 "..%" PRIu64
                  " answered with a log of block %" PRIu64,
                  from, to, l->block_number);
        KG_ENSURE(topic0 == NULL || (l->n_topics >= 1 && memcmp(l->topics[0], topic0, 32) == 0),
                  KG_ERR_NETWORK, "chain node: eth_getLogs answered with a log of another event");
    }
    return KG_OK;
}

/* Reads [from, to] in windows; appends to out. */
static kg_result read_windows(const kg_chain *c, kg_eth_logs *out, size_t *requests,
                              const uint8_t address[20], const uint8_t *topic0, uint64_t from,
                              uint64_t to, uint64_t window)
{
    for (uint64_t a = from; a <= to;) {
        uint64_t b = to - a < window - 1 ? to : a + window - 1;
        kg_eth_logs part;
        memset(&part, 0, sizeof(part));
        if (kg_failed(kg_eth_get_logs(c->eth, &part, address, topic0, a, b)))
            return kg_error_context("eth_getLogs of blocks %" PRIu64 "..%" PRIu64
                                    " (a window of %" PRIu64 " blocks; a node that refuses it "
                                    "takes a smaller --log-window)",
                                    a, b, b - a + 1);
        (*requests)++;
        kg_result rc = logs_check(&part, address, topic0, a, b);
        if (kg_ok(rc))
            rc = logs_append(out, &part);
        kg_eth_logs_free(&part);
        KG_GUARD(rc);
        if (b == to)
            break;
        a = b + 1;
    }
    return KG_OK;
}

/* Whether address has code at block n: 1 yes, 0 no, -1 the node cannot say (pruned state). */
static int code_at(const kg_chain *c, const uint8_t address[20], uint64_t n)
{
    kg_buf code;
    kg_buf_init(&code, KG_ETH_MAX_RPC_REPLY);
    kg_result rc = kg_eth_get_code_at(c->eth, &code, address, n);
    int has = kg_ok(rc) ? code.len > 0 : -1;
    kg_buf_free(&code);
    kg_error_clear();
    return has;
}

/* The first block at which address has code, by bisection over [0, head] (a contract's events
 * cannot come before it exists). *exact is false when the node has no state for some block it
 * was asked about (not an archive node): *first is then the earliest block known to have the
 * code, and what came before it is not known. */
static kg_result creation_block(const kg_chain *c, uint64_t *first, bool *exact,
                                const uint8_t address[20], uint64_t head)
{
    int at_head = code_at(c, address, head);
    KG_ENSURE(at_head != 0, KG_ERR_NOT_FOUND, "no contract at that address at block %" PRIu64,
              head);
    KG_ENSURE(at_head > 0, KG_ERR_NETWORK,
              "chain node cannot tell whether there is a contract at block %" PRIu64, head);
    uint64_t lo = 0, hi = head; /* code at hi; none before lo */
    *exact = true;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int has = code_at(c, address, mid);
        if (has < 0) {
            /* pruned state below some block: keep what is known */
            *exact = false;
            lo = mid + 1;
            continue;
        }
        if (has > 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *first = hi;
    return KG_OK;
}

KG_RESULT kg_chain_history_read(kg_chain_history *h, const kg_chain *c, const uint8_t address[20],
                                const uint8_t *topic0, const kg_chain_history_opts *o)
{
    memset(h, 0, sizeof(*h));
    h->window = o->window != 0 ? o->window : KG_CHAIN_LOG_WINDOW;
    KG_GUARD(kg_chain_block_number(c, &h->to_block));
    if (o->has_from) {
        KG_ENSURE(o->from_block <= h->to_block, KG_ERR_USAGE,
                  "--from-block %" PRIu64 " is after the chain's head (block %" PRIu64 ")",
                  o->from_block, h->to_block);
        h->from_block = o->from_block;
        if (h->from_block == 0) {
            h->start = KG_HISTORY_FROM_GENESIS;
        } else {
            int before = code_at(c, address, h->from_block - 1);
            h->start = before == 0  ? KG_HISTORY_AFTER_CREATION
                       : before > 0 ? KG_HISTORY_PARTIAL
                                    : KG_HISTORY_UNKNOWN;
        }
    } else {
        bool exact = false;
        KG_GUARD(creation_block(c, &h->from_block, &exact, address, h->to_block));
        h->start = exact ? KG_HISTORY_FROM_CREATION : KG_HISTORY_UNKNOWN;
    }
    uint64_t windows = (h->to_block - h->from_block) / h->window + 1;
    if (windows > 10)
        fprintf(stderr,
                "keygate: reading events from block %" PRIu64 " to %" PRIu64 ": %" PRIu64
                " requests of up to %" PRIu64 " blocks (--from-block, --log-window)\n",
                h->from_block, h->to_block, windows, h->window);
    kg_result rc = read_windows(c, &h->logs, &h->requests, address, topic0, h->from_block,
                                h->to_block, h->window);
    if (kg_failed(rc))
        kg_chain_history_free(h);
    return rc;
}

void kg_chain_history_free(kg_chain_history *h)
{
    kg_eth_logs_free(&h->logs);
}

bool kg_chain_history_complete(const kg_chain_history *h)
{
    return h->start == KG_HISTORY_FROM_GENESIS || h->start == KG_HISTORY_FROM_CREATION ||
           h->start == KG_HISTORY_AFTER_CREATION;
}

const char *kg_chain_history_gap(const kg_chain_history *h)
{
    switch (h->start) {
    case KG_HISTORY_PARTIAL: return "the contract is older than the first block read";
    case KG_HISTORY_UNKNOWN:
        return "the chain node keeps no state that old (not an archive node?), so whether "
               "the contract is older than the first block read is not known";
    default: return NULL;
    }
}

void kg_chain_history_json(json_t *out, const kg_chain_history *h)
{
    json_object_set_new(out, "history_from_block", json_integer((json_int_t)h->from_block));
    json_object_set_new(out, "history_to_block", json_integer((json_int_t)h->to_block));
    json_object_set_new(out, "history_complete", json_boolean(kg_chain_history_complete(h)));
    json_object_set_new(out, "log_window", json_integer((json_int_t)h->window));
    json_object_set_new(out, "log_requests", json_integer((json_int_t)h->requests));
    const char *gap = kg_chain_history_gap(h);
    if (gap != NULL) {
        char note[512];
        snprintf(note, sizeof(note),
                 "history before block %" PRIu64 " was not read: %s; what only earlier "
                 "events name is missing (give an earlier --from-block, 0 for all)",
                 h->from_block, gap);
        json_object_set_new(out, "history_note", json_string(note));
    }
}

KG_RESULT kg_chain_logs(const kg_chain *c, kg_eth_logs *logs, const uint8_t address[20],
                        const uint8_t *topic0, uint64_t from_block)
{
    uint64_t head;
    size_t requests = 0;
    memset(logs, 0, sizeof(*logs));
    KG_GUARD(kg_chain_block_number(c, &head));
    if (from_block > head)
        return KG_OK;
    kg_result rc =
        read_windows(c, logs, &requests, address, topic0, from_block, head, KG_CHAIN_LOG_WINDOW);
    if (kg_failed(rc))
        kg_eth_logs_free(logs);
    return rc;
}

KG_RESULT kg_cli_parse_block(uint64_t *out, const char *opt, const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    KG_ENSURE(errno == 0 && end != text && *end == '\0' && text[0] != '-' && text[0] != '+',
              KG_ERR_USAGE, "%s '%s' is not a block number", opt, text);
    *out = v;
    return KG_OK;
}

KG_RESULT kg_cli_parse_log_window(uint64_t *out, const char *text)
{
    uint64_t v = 0;
    if (kg_failed(kg_cli_parse_block(&v, "--log-window", text)) || v == 0 ||
        v > KG_CHAIN_MAX_LOG_WINDOW) {
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE, "--log-window '%s' is not a number of blocks (1..%u)", text,
                KG_CHAIN_MAX_LOG_WINDOW);
    }
    *out = v;
    return KG_OK;
}
