/* chain_tx.c - a chain write as the CLI reports it (README "Exit status"): the transaction's
 * hash on stderr as soon as the node has it, progress while it waits to be mined (--wait S), and
 * a record of what this process sent, so that a failed command exits 3 ("sent, not yet mined")
 * or 4 ("a change is on chain, then the command failed") instead of 1 ("nothing changed"). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "cli.h"
#include "keygate/hash.h"

#define TX_PROGRESS_EVERY_MS 5000u /* a "still pending" line on stderr this often */
#define TX_POLL_MAX_MS 1000u       /* receipt polling backs off from 20 ms up to this */

/* What this process sent. A command stops at its first failed write, so at most one
 * transaction is ever pending; mined ones are counted, the last one named. */
static struct {
    size_t pending; /* sent (or maybe sent) and not seen mined */
    bool pending_maybe;
    char pending_tx[67]; /* "0x" + 64 hex */
    size_t mined;        /* mined with status success: a change on chain */
    char mined_tx[67];
    uint64_t mined_block;
    char rpc_url[KG_ETH_MAX_URL_LEN + 1];
} g_sent;

static void hash_text(char out[67], const uint8_t h[32])
{
    out[0] = '0';
    out[1] = 'x';
    if (kg_failed(kg_hex_encode(out + 2, 65, h, 32))) {
        kg_error_clear();
        out[2] = '\0';
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void record_pending(const kg_chain *c, const char *tx, bool maybe)
{
    g_sent.pending++;
    g_sent.pending_maybe = maybe;
    snprintf(g_sent.pending_tx, sizeof(g_sent.pending_tx), "%s", tx);
    snprintf(g_sent.rpc_url, sizeof(g_sent.rpc_url), "%s", kg_eth_client_url(c->eth));
}

/* Polls for the receipt of tx until wait_s is over, a progress line every few seconds. A node
 * that fails to answer meanwhile is asked again (the transaction is out; only the deadline ends
 * the wait). *found false at the deadline. */
static kg_result wait_mined(const kg_chain *c, kg_eth_receipt *r, bool *found, const uint8_t h[32],
                            const char *tx, uint32_t wait_s)
{
    uint64_t start = now_ms(), deadline = start + (uint64_t)wait_s * 1000u,
             next_note = start + TX_PROGRESS_EVERY_MS;
    uint32_t pause = 20; /* anvil mines at once; real chains take seconds */
    char last_err[512] = "";
    *found = false;
    for (;;) {
        if (kg_ok(kg_eth_get_receipt(c->eth, r, found, h))) {
            if (*found)
                return KG_OK;
            last_err[0] = '\0';
        } else {
            snprintf(last_err, sizeof(last_err), "%s", kg_error_message());
            kg_error_clear();
        }
        uint64_t now = now_ms();
        if (now >= deadline)
            break;
        if (now >= next_note) {
            uint64_t head = 0;
            bool have_head = kg_ok(kg_eth_block_number(c->eth, &head));
            kg_error_clear();
            fprintf(stderr, "keygate: transaction %s not mined yet (%" PRIu64 " s of %u s", tx,
                    (now - start) / 1000u, wait_s);
            if (have_head)
                fprintf(stderr, "; chain head is block %" PRIu64, head);
            if (last_err[0] != '\0')
                fprintf(stderr, "; last poll failed: %s", last_err);
            fprintf(stderr, ")\n");
            next_note += TX_PROGRESS_EVERY_MS;
        }
        uint64_t left = deadline - now;
        sleep_ms(left < pause ? (uint32_t)left : pause);
        pause = pause * 2 > TX_POLL_MAX_MS ? TX_POLL_MAX_MS : pause * 2;
    }
    if (last_err[0] != '\0')
        KG_BAIL(KG_ERR_UNAVAILABLE, "transaction %s not mined within %u s (last poll: %s)", tx,
                wait_s, last_err);
    KG_BAIL(KG_ERR_UNAVAILABLE, "transaction %s not mined within %u s", tx, wait_s);
}

KG_RESULT kg_chain_send(const kg_chain *c, kg_eth_receipt *receipt, const uint8_t key[32],
                        const uint8_t *to, const kg_buf *data, uint32_t wait_s)
{
    uint8_t h[32], from[20];
    char tx[67];
    kg_eth_sent sent = KG_ETH_NOT_SENT;
    kg_eth_receipt r;
    memset(&r, 0, sizeof(r));
    if (receipt != NULL)
        memset(receipt, 0, sizeof(*receipt));
    KG_GUARD(kg_eth_address_of_key(from, key));
    kg_result rc = kg_eth_send(c->eth, h, &sent, key, to, NULL, data->data, data->len);
    if (kg_failed(rc)) {
        if (sent == KG_ETH_MAYBE_SENT) {
            hash_text(tx, h);
            record_pending(c, tx, true);
            fprintf(stderr, "keygate: transaction %s may have reached the node\n", tx);
            return kg_error_context("sending transaction %s", tx);
        }
        return rc; /* refused or never sent: nothing changed */
    }
    hash_text(tx, h);
    record_pending(c, tx, false);
    if (wait_s == 0) {
        fprintf(stderr, "keygate: sent transaction %s (not waiting: --wait 0)\n", tx);
        KG_BAIL(KG_ERR_UNAVAILABLE, "transaction %s sent, not waited for (--wait 0)", tx);
    }
    fprintf(stderr, "keygate: sent transaction %s; waiting up to %u s for it to be mined\n", tx,
            wait_s);
    bool found = false;
    KG_GUARD(wait_mined(c, &r, &found, h, tx, wait_s));
    g_sent.pending--;
    if (!r.status) {
        char why[KG_ETH_MAX_REASON_LEN + 128];
        uint64_t block = r.block_number;
        kg_eth_receipt_free(&r);
        fprintf(stderr, "keygate: transaction %s reverted in block %" PRIu64 "\n", tx, block);
        kg_eth_revert_reason(c->eth, why, sizeof(why), from, to, NULL, data->data, data->len,
                             block);
        KG_BAIL(KG_ERR_DENIED, "transaction %s reverted in block %" PRIu64 ": %s", tx, block, why);
    }
    g_sent.mined++;
    snprintf(g_sent.mined_tx, sizeof(g_sent.mined_tx), "%s", tx);
    g_sent.mined_block = r.block_number;
    fprintf(stderr, "keygate: transaction %s mined in block %" PRIu64 "\n", tx, r.block_number);
    if (receipt != NULL)
        *receipt = r;
    else
        kg_eth_receipt_free(&r);
    return KG_OK;
}

int kg_cli_tx_exit_status(int status)
{
    if (status == KG_EXIT_OK || (g_sent.pending == 0 && g_sent.mined == 0))
        return status;
    if (g_sent.pending > 0) {
        fprintf(stderr,
                "keygate: transaction %s %s: it may still be mined and take effect. Check it "
                "with: keygate tx status %s --rpc-url %s\n",
                g_sent.pending_tx,
                g_sent.pending_maybe ? "may have reached the node"
                                     : "was sent and is not mined yet",
                g_sent.pending_tx, g_sent.rpc_url);
        json_t *o =
            json_pack("{s:s,s:s,s:s}", "tx", g_sent.pending_tx, "state",
                      g_sent.pending_maybe ? "unknown" : "pending", "rpc_url", g_sent.rpc_url);
        if (o != NULL)
            kg_cli_print_json(o, true);
        json_decref(o);
        return KG_EXIT_PENDING;
    }
    fprintf(stderr,
            "keygate: transaction %s was mined in block %" PRIu64 ": that change is on chain, "
            "although the command failed after it\n",
            g_sent.mined_tx, g_sent.mined_block);
    return KG_EXIT_CHANGED;
}
