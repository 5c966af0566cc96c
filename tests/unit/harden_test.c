/* harden_test.c - process hardening (harden.h) and the app user the agent runs the app as
 * (kg_app_user_resolve, agent_launch.h), as root and, in a child that dropped to nobody, as a
 * non-root agent. */
#define _GNU_SOURCE /* setresuid */
#include "test_util.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keygate/agent_launch.h"
#include "keygate/harden.h"

static void harden_sets_dumpable_core_and_secure_heap(void **state)
{
    (void)state;
    KG_ASSERT_OK(kg_process_harden("harden_test"));
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_true(rl.rlim_cur == 0 && rl.rlim_max == 0);
    assert_true(CRYPTO_secure_malloc_initialized());
    uint8_t *p = kg_secure_zalloc(64);
    assert_non_null(p);
    assert_true(CRYPTO_secure_allocated(p));
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(p[i], 0);
    kg_secure_free(p, 64);
    KG_ASSERT_OK(kg_process_harden("harden_test")); /* again: harmless */
}

static uid_t default_uid(void)
{
    struct passwd *pw = getpwnam(KG_APP_USER_DEFAULT);
    if (pw == NULL)
        pw = getpwnam(KG_APP_USER_FALLBACK);
    return pw ? pw->pw_uid : 65534;
}

static void app_user_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    kg_app_user u;
    KG_ASSERT_OK(kg_app_user_resolve(&u, NULL, "harden_test"));
    assert_true(u.drop);
    assert_int_equal(u.uid, default_uid());
    assert_true(u.uid != 0);

    KG_ASSERT_OK(kg_app_user_resolve(&u, "65534:65534", "harden_test"));
    assert_true(u.drop);
    assert_int_equal(u.uid, 65534);
    assert_int_equal(u.gid, 65534);
    assert_int_equal(u.n_groups, 1); /* UID:GID: exactly that group */
    assert_int_equal(u.groups[0], 65534);

    KG_ASSERT_OK(kg_app_user_resolve(&u, "root", "harden_test")); /* warns */
    assert_false(u.drop);
    KG_ASSERT_OK(kg_app_user_resolve(&u, "0:0", "harden_test"));
    assert_false(u.drop);

    assert_true(kg_failed(kg_app_user_resolve(&u, "no-such-user-kg", "harden_test")));
    assert_int_equal(kg_error_code(), KG_ERR_USAGE);
    assert_non_null(strstr(kg_error_message(), "no user 'no-such-user-kg'"));
    assert_true(kg_failed(kg_app_user_resolve(&u, "root:no-such-group-kg", "harden_test")));
    assert_non_null(strstr(kg_error_message(), "no group"));
    assert_true(kg_failed(kg_app_user_resolve(&u, "4000000", "harden_test"))); /* no passwd */
    assert_non_null(strstr(kg_error_message(), "UID:GID"));
    assert_true(kg_failed(kg_app_user_resolve(&u, "", "harden_test")));
    assert_true(kg_failed(kg_app_user_resolve(&u, "65534:", "harden_test")));
}

/* A non-root agent cannot switch users: it keeps its own uid and refuses any other. */
static void app_user_as_non_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become a non-root process with a known uid */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(10);
        kg_app_user u;
        if (kg_failed(kg_app_user_resolve(&u, NULL, "t")) || u.drop)
            _exit(11);
        if (kg_failed(kg_app_user_resolve(&u, "65534", "t")) || u.drop)
            _exit(12);
        if (kg_ok(kg_app_user_resolve(&u, "root", "t")) || kg_error_code() != KG_ERR_DENIED)
            _exit(13);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(harden_sets_dumpable_core_and_secure_heap),
        cmocka_unit_test(app_user_as_root),
        cmocka_unit_test(app_user_as_non_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
