/* anvil.c - starts and stops a private anvil for integration tests (see anvil.h). */
#include "anvil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keygate/eth.h"

#ifndef KG_TOOLS_DIR
#error "KG_TOOLS_DIR must point at the project's tools/ directory"
#endif

#define ANVIL_MAX_ARGS 32
/* Generous: on a loaded 2-core machine anvil can take many seconds to start; the waits end as
 * soon as it is ready or has exited. */
#define ANVIL_READY_MS 90000

const char *kg_test_tool(const char *name)
{
    static _Thread_local char path[512];
    snprintf(path, sizeof(path), "%s/node_modules/.bin/%s", KG_TOOLS_DIR, name);
    return path;
}

uint16_t kg_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int spawn(kg_test_anvil *a, const char *const *extra)
{
    /* Port 0: anvil binds a port of its own and prints it ("Listening on 127.0.0.1:PORT"), so
     * no other process can take it between a probe and the bind. */
    const char *argv[ANVIL_MAX_ARGS] = {kg_test_tool("anvil"), "--host", "127.0.0.1", "--port",
                                        "0"};
    size_t argc = 5;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (argc + 1 >= ANVIL_MAX_ARGS) {
            fprintf(stderr, "anvil: too many arguments\n");
            return -1;
        }
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    snprintf(a->log, sizeof(a->log), "/tmp/kg-anvil-XXXXXX");
    int logfd = mkstemp(a->log);
    if (logfd < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the test, even if it crashes before kg_test_anvil_stop. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(logfd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    if (pid < 0) {
        unlink(a->log);
        return -1;
    }
    a->pid = pid;
    return 0;
}

/* Reads the port anvil bound from its log; 0 while it has not said yet. */
static uint16_t logged_port(const kg_test_anvil *a)
{
    static const char tag[] = "Listening on 127.0.0.1:";
    FILE *f = fopen(a->log, "r");
    if (f == NULL)
        return 0;
    char line[512];
    unsigned long port = 0;
    while (port == 0 && fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, tag);
        if (p != NULL)
            port = strtoul(p + sizeof(tag) - 1, NULL, 10);
    }
    fclose(f);
    return port > 0 && port <= 65535 ? (uint16_t)port : 0;
}

/* Polls eth_chainId until anvil answers, it exits, or the deadline passes. */
static int wait_ready(kg_test_anvil *a)
{
    long waited = 0;
    for (; waited < ANVIL_READY_MS && (a->port = logged_port(a)) == 0; waited += 50) {
        if (waitpid(a->pid, NULL, WNOHANG) == a->pid) {
            a->pid = 0;
            return -1;
        }
        sleep_ms(50);
    }
    if (a->port == 0)
        return -1;
    snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%u", a->port);
    kg_eth_client *c = NULL;
    if (kg_failed(kg_eth_client_new(&c, a->url, 1000)))
        return -1;
    int rc = -1;
    for (; waited < ANVIL_READY_MS; waited += 50) {
        int status;
        if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
            a->pid = 0;
            break; /* exited: port taken, bad argument, ... */
        }
        uint64_t id;
        if (kg_ok(kg_eth_chain_id(c, &id))) {
            rc = 0;
            break;
        }
        sleep_ms(50);
    }
    kg_error_clear();
    kg_eth_client_free(c);
    return rc;
}

/* Copies anvil's output to stderr (why it did not start). */
static void dump_log(const kg_test_anvil *a)
{
    FILE *f = fopen(a->log, "r");
    if (f == NULL)
        return;
    char line[512];
    fprintf(stderr, "anvil (port %u) said:\n", a->port);
    for (int i = 0; i < 40 && fgets(line, sizeof(line), f) != NULL; i++)
        fputs(line, stderr);
    fclose(f);
}

int kg_test_anvil_start(kg_test_anvil *a, const char *const *extra)
{
    memset(a, 0, sizeof(*a));
    if (access(kg_test_tool("anvil"), X_OK) != 0) {
        fprintf(stderr, "anvil: %s not found (run scripts/setup)\n", kg_test_tool("anvil"));
        return 77;
    }
    if (spawn(a, extra) != 0) {
        fprintf(stderr, "anvil: cannot start: %s\n", strerror(errno));
        return -1;
    }
    if (wait_ready(a) == 0)
        return 0;
    dump_log(a);
    kg_test_anvil_stop(a);
    unlink(a->log);
    fprintf(stderr, "anvil: did not start\n");
    return -1;
}

void kg_test_anvil_stop(kg_test_anvil *a)
{
    if (a->pid <= 0)
        return;
    kill(a->pid, SIGTERM);
    for (int i = 0; i < 60; i++) {
        if (waitpid(a->pid, NULL, WNOHANG) == a->pid) {
            a->pid = 0;
            unlink(a->log);
            return;
        }
        sleep_ms(50);
    }
    kill(a->pid, SIGKILL);
    while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    a->pid = 0;
    unlink(a->log);
}
