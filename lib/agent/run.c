/* run.c - runs an app process beside the agent API: serves the socket in a thread, starts the
 * command as the app user (agent_launch.h) with its decrypted environment and
 * DSTACK_SIMULATOR_ENDPOINT, returns its status. */
#define _GNU_SOURCE /* setresuid, getresuid */
#include "keygate/agent_boot.h"
#include "keygate/agent_launch.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *serve_thread(void *arg)
{
    if (kg_failed(kg_agent_server_run(arg)))
        fprintf(stderr, "keygate-agent: API server stopped: %s\n", kg_error_message());
    return NULL;
}

/* ---- the app user ---------------------------------------------------------------------------- */

static bool parse_id(unsigned long *out, const char *s)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v >= (unsigned long)(uid_t)-1)
        return false;
    *out = v;
    return true;
}

/* Fills the user's name, home and (from the group database) supplementary groups. */
static kg_result from_passwd(kg_app_user *u, const struct passwd *pw, bool own_groups)
{
    int n = snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
    KG_ENSURE(n > 0 && (size_t)n < sizeof(u->name), KG_ERR_USAGE, "user name '%s' too long",
              pw->pw_name);
    n = snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir ? pw->pw_dir : "");
    if (n < 0 || (size_t)n >= sizeof(u->home))
        u->home[0] = '\0';
    u->n_groups = 0;
    if (own_groups) {
        int ng = KG_APP_USER_MAX_GROUPS;
        KG_ENSURE(getgrouplist(pw->pw_name, u->gid, u->groups, &ng) >= 0, KG_ERR_USAGE,
                  "user '%s' is in more than %d groups", pw->pw_name, KG_APP_USER_MAX_GROUPS);
        u->n_groups = (size_t)ng;
    } else {
        u->groups[0] = u->gid;
        u->n_groups = 1;
    }
    return KG_OK;
}

kg_result kg_app_user_resolve(kg_app_user *out, const char *spec, const char *prog)
{
    memset(out, 0, sizeof(*out));
    if (prog == NULL)
        prog = "keygate-agent";
    const char *want = spec ? spec : KG_APP_USER_DEFAULT;
    char user[128];
    const char *colon = strchr(want, ':');
    size_t ulen = colon ? (size_t)(colon - want) : strlen(want);
    KG_ENSURE(ulen > 0 && ulen < sizeof(user), KG_ERR_USAGE, "--app-user '%s': bad user", want);
    memcpy(user, want, ulen);
    user[ulen] = '\0';
    const char *group = colon ? colon + 1 : NULL;
    KG_ENSURE(group == NULL || group[0] != '\0', KG_ERR_USAGE, "--app-user '%s': empty group",
              want);

    unsigned long id;
    struct passwd *pw = NULL;
    errno = 0;
    if (parse_id(&id, user)) {
        out->uid = (uid_t)id;
        pw = getpwuid(out->uid);
    } else {
        pw = getpwnam(user);
        if (pw == NULL && spec == NULL) { /* no dedicated user: nobody */
            pw = getpwnam(KG_APP_USER_FALLBACK);
            if (pw == NULL) {
                out->uid = 65534;
                out->gid = 65534;
            }
        } else {
            KG_ENSURE(pw != NULL, KG_ERR_USAGE, "--app-user '%s': no user '%s'", want, user);
        }
        if (pw != NULL)
            out->uid = pw->pw_uid;
    }
    if (group != NULL) {
        if (parse_id(&id, group)) {
            out->gid = (gid_t)id;
        } else {
            struct group *gr = getgrnam(group);
            KG_ENSURE(gr != NULL, KG_ERR_USAGE, "--app-user '%s': no group '%s'", want, group);
            out->gid = gr->gr_gid;
        }
    } else if (pw != NULL) {
        out->gid = pw->pw_gid;
    } else if (out->uid != 65534) {
        KG_BAIL(KG_ERR_USAGE,
                "--app-user '%s': uid %lu has no passwd entry; give its group too (UID:GID)", want,
                (unsigned long)out->uid);
    }
    if (pw != NULL)
        KG_GUARD(from_passwd(out, pw, group == NULL));
    else {
        out->groups[0] = out->gid;
        out->n_groups = 1;
    }

    uid_t me = geteuid();
    if (me != 0) {
        /* Not root: cannot switch users. The app runs as we do; asking for anyone else is an
         * error rather than a silent downgrade of what the operator expected. */
        KG_ENSURE(spec == NULL || out->uid == me, KG_ERR_DENIED,
                  "--app-user '%s': the agent runs as uid %lu, not root, and cannot start the "
                  "app as another user",
                  spec, (unsigned long)me);
        out->drop = false;
        return KG_OK;
    }
    if (out->uid == 0) {
        fprintf(stderr,
                "%s: warning: the app runs as root (--app-user %s): it can extend RTMR3 and read "
                "the agent's state, so it can forge the measurements the KMS and anyone "
                "verifying its quotes rely on\n",
                prog, want);
        out->drop = false;
        return KG_OK;
    }
    out->drop = true;
    return KG_OK;
}

/* ---- in the child, between fork and exec (single-threaded: the API thread starts later) ----- */

static void child_fail(const char *what)
{
    fprintf(stderr, "keygate: starting the app: %s: %s\n", what, strerror(errno));
    _exit(126);
}

/* Closes every fd above 2: the agent's TEE, state and socket fds must not reach the app. */
static void close_fds_above_2(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1L << 20)
        max = 1L << 20;
    for (long fd = 3; fd < max; fd++)
        (void)close((int)fd);
}

static void become(const kg_app_user *u, const char *socket_path)
{
    if (setgroups(u->n_groups, u->groups) != 0)
        child_fail("setgroups");
    if (setresgid(u->gid, u->gid, u->gid) != 0)
        child_fail("setresgid");
    if (setresuid(u->uid, u->uid, u->uid) != 0)
        child_fail("setresuid");
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0 || r != u->uid || e != u->uid ||
        s != u->uid || gr != u->gid || ge != u->gid || gs != u->gid)
        child_fail("user ids not switched");
    /* There must be no way back to root. */
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
        errno = EPERM;
        child_fail("root could be regained after dropping privileges");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail("PR_SET_NO_NEW_PRIVS");
    if (u->home[0] != '\0' && setenv("HOME", u->home, 1) != 0)
        child_fail("setenv HOME");
    if (u->name[0] != '\0' &&
        (setenv("USER", u->name, 1) != 0 || setenv("LOGNAME", u->name, 1) != 0))
        child_fail("setenv USER");
    if (access(socket_path, R_OK | W_OK) != 0) {
        fprintf(stderr,
                "keygate: the app user (uid %lu) cannot reach the API socket '%s': %s (its "
                "directory must be traversable by that user)\n",
                (unsigned long)u->uid, socket_path, strerror(errno));
        _exit(126);
    }
    if (access(".", X_OK) != 0)
        fprintf(stderr,
                "keygate: warning: the app user (uid %lu) cannot use the working directory: %s\n",
                (unsigned long)u->uid, strerror(errno));
}

/* ---- serve and run --------------------------------------------------------------------------- */

kg_result kg_agent_serve_and_run(int *exit_status, kg_agent *agent, const char *socket_path,
                                 mode_t mode, const kg_env_list *env, char *const argv[])
{
    return kg_agent_serve_and_run_as(exit_status, agent, socket_path, mode, env, argv, NULL);
}

kg_result kg_agent_serve_and_run_as(int *exit_status, kg_agent *agent, const char *socket_path,
                                    mode_t mode, const kg_env_list *env, char *const argv[],
                                    const kg_app_user *user)
{
    kg_result rc = KG_ERROR;
    kg_agent_server *srv = NULL;
    bool thread_started = false;
    pthread_t th;
    pid_t pid = -1;
    kg_app_user deflt;
    *exit_status = 1;
    KG_ENSURE(argv != NULL && argv[0] != NULL, KG_ERR_USAGE, "no command to run");
    if (user == NULL) {
        KG_GUARD(kg_app_user_resolve(&deflt, NULL, "keygate-agent"));
        user = &deflt;
    }
    if (mode == 0)
        mode = KG_AGENT_SOCKET_MODE;
    KG_ENSURE(!user->drop || (mode & 0060) == 0060, KG_ERR_USAGE,
              "socket mode %04o keeps the app user (uid %lu) out of the API socket; use 0660",
              (unsigned)mode, (unsigned long)user->uid);
    /* Bound and listening before the command starts, so its first call finds the socket. */
    KG_GUARD(kg_agent_server_new(&srv, agent, socket_path, mode));
    /* The app reaches the API through the socket's group (never through "others"). */
    if (user->drop)
        KG_ENSURE_C(chown(socket_path, (uid_t)-1, user->gid) == 0 && chmod(socket_path, mode) == 0,
                    KG_ERR_IO, "giving the API socket '%s' to gid %lu: %s", socket_path,
                    (unsigned long)user->gid, strerror(errno));
    /* Fork while still single-threaded: the child may then use setenv before exec. */
    pid = fork();
    KG_ENSURE_C(pid >= 0, KG_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        close_fds_above_2();
        if (user->drop)
            become(user, socket_path);
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
