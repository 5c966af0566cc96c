/* anvil.h - starts and stops a private anvil (Foundry's local EVM node) for integration tests. */
#ifndef KG_TEST_ANVIL_H
#define KG_TEST_ANVIL_H

#include <stdint.h>
#include <sys/types.h>

/* anvil's first default account (mnemonic "test test ... junk"): a public test key, funded
 * with 10000 ETH on every fresh anvil. Never a secret. */
#define KG_TEST_ANVIL_KEY0 "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define KG_TEST_ANVIL_ADDR0 "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
/* The second default account, for "someone else" (not the owner). */
#define KG_TEST_ANVIL_KEY1 "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b7875d2"
#define KG_TEST_ANVIL_CHAIN_ID 31337u

typedef struct kg_test_anvil {
    pid_t pid; /* 0 when not running */
    uint16_t port;
    char url[64]; /* "http://127.0.0.1:<port>" */
    char log[64]; /* anvil's stdout/stderr, kept for diagnosis */
} kg_test_anvil;

/* Path of a tool in tools/node_modules/.bin (KG_TOOLS_DIR), e.g. "anvil", "cast". Static. */
const char *kg_test_tool(const char *name);

/* Starts anvil on 127.0.0.1 with `extra` arguments (NULL-terminated, may be NULL; not
 * --silent: the bound port is read from its "Listening on" line), on a port it binds itself
 * (port 0, so no race with other processes), and waits (up to 90 s) until it answers
 * eth_chainId. The child dies with the test process
 * (PR_SET_PDEATHSIG), so a crashed test leaves nothing running. Returns 0 on success, 77 if
 * anvil is not installed (scripts/setup not run: callers skip), -1 on failure (message on
 * stderr). */
int kg_test_anvil_start(kg_test_anvil *a, const char *const *extra);

/* Stops it (SIGTERM, then SIGKILL after 3 s) and reaps it; safe to call twice. */
void kg_test_anvil_stop(kg_test_anvil *a);

/* A 127.0.0.1 TCP port that was free a moment ago (bind to port 0). 0 on failure. */
uint16_t kg_test_free_port(void);

#endif
