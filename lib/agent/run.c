/* run.c - runs an app process beside the agent API: serves the socket in a thread, starts the
 * command with its decrypted environment and DSTACK_SIMULATOR_ENDPOINT, returns its status. */
#include "keygate/agent_boot.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *serve_thread(void *arg)
{
    if (kg_failed(kg_agent_server_run(arg)))
        fprintf(stderr, "keygate-agent: API server stopped: %s\n", kg_error_message());
    return NULL;
}

kg_result kg_agent_serve_and_run(int *exit_status, kg_agent *agent, const char *socket_path,
                                 mode_t mode, const kg_env_list *env, char *const argv[])
{
    kg_result rc = KG_ERROR;
    kg_agent_server *srv = NULL;
    bool thread_started = false;
    pthread_t th;
    pid_t pid = -1;
    *exit_status = 1;
    KG_ENSURE(argv != NULL && argv[0] != NULL, KG_ERR_USAGE, "no command to run");
    /* Bound and listening before the command starts, so its first call finds the socket. */
    KG_GUARD(kg_agent_server_new(&srv, agent, socket_path, mode));
    /* Fork while still single-threaded: the child may then use setenv before exec. */
    pid = fork();
    KG_ENSURE_C(pid >= 0, KG_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        for (size_t i = 0; env != NULL && i < env->count; i++)
            if (setenv(env->vars[i].key, env->vars[i].value, 1) != 0)
                _exit(127);
        if (setenv("DSTACK_SIMULATOR_ENDPOINT", socket_path, 1) != 0)
            _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "keygate: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    KG_ENSURE_C(pthread_create(&th, NULL, serve_thread, srv) == 0, KG_ERR_IO,
                "starting the API thread");
    thread_started = true;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        KG_ENSURE_C(errno == EINTR, KG_ERR_IO, "waitpid: %s", strerror(errno));
    }
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    rc = KG_OK;
cleanup:
    if (thread_started) {
        kg_agent_server_stop(srv);
        pthread_join(th, NULL);
    } else if (kg_failed(rc) && pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    kg_agent_server_free(srv);
    return rc;
}
