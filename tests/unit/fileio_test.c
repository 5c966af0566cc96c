/* fileio_test.c - the one set of file helpers: bounded reads, secret reads that refuse exposed or
 * foreign files and symlinks, atomic writes with the exact mode, create-once writes. */
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/fileio.h"

static void temp_dir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/kg-fileio-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void reads_are_bounded(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    KG_ASSERT_OK(kg_file_write_atomic(path, "0123456789", 10, 0644));
    kg_buf b;
    kg_buf_init(&b, 1024);
    KG_ASSERT_OK(kg_file_read(&b, path, 10));
    assert_int_equal(b.len, 10);
    kg_buf_reset(&b);
    b.len = 0;
    KG_ASSERT_ERR(kg_file_read(&b, path, 9), KG_ERR_TOO_LARGE, "is larger than 9 bytes");
    KG_ASSERT_ERR(kg_file_read(&b, "/nonexistent/f", 9), KG_ERR_NOT_FOUND, "does not exist");
    kg_buf_free(&b);
    unlink(path);
    rmdir(dir);
}

static void secrets_refuse_exposed_files(void **state)
{
    (void)state;
    char dir[64], path[128], link[128];
    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/key", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    mode_t old = umask(0); /* the mode asked for is the mode given, whatever the umask */
    KG_ASSERT_OK(kg_file_write_atomic(path, "secret", 6, 0600));
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kg_buf b;
    kg_buf_init(&b, 1024);
    KG_ASSERT_OK(kg_file_read_secret(&b, path, 64));
    assert_int_equal(chmod(path, 0640), 0);
    KG_ASSERT_ERR(kg_file_read_secret(&b, path, 64), KG_ERR_DENIED,
                  "is accessible to group or others (mode 0640)");
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(symlink(path, link), 0);
    KG_ASSERT_ERR(kg_file_read_secret(&b, link, 64), KG_ERR_IO, "cannot open");
    kg_buf_free(&b);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

/* A command's "-" argument: standard input to its end, with the same bound as a file. */
static void stdin_reads_are_bounded(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/in", dir);
    KG_ASSERT_OK(kg_file_write_atomic(path, "0123456789", 10, 0600));
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_non_null(freopen(path, "r", stdin));
    kg_buf b;
    kg_buf_init(&b, 1024);
    KG_ASSERT_OK(kg_file_read_stdin(&b, 10));
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "0123456789", 10);
    b.len = 0;
    assert_int_equal(lseek(STDIN_FILENO, 0, SEEK_SET), 0);
    KG_ASSERT_ERR(kg_file_read_stdin(&b, 9), KG_ERR_TOO_LARGE,
                  "'standard input' is larger than 9 bytes");
    kg_buf_free(&b);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    unlink(path);
    rmdir(dir);
}

static void create_never_overwrites(void **state)
{
    (void)state;
    char dir[64], path[128];
    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/root.key", dir);
    KG_ASSERT_OK(kg_file_create(path, "first", 5, 0600));
    KG_ASSERT_ERR(kg_file_create(path, "second", 6, 0600), KG_ERR_IO, "cannot create");
    kg_buf b;
    kg_buf_init(&b, 64);
    KG_ASSERT_OK(kg_file_read(&b, path, 64));
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "first", 5);
    /* an atomic write replaces, and leaves no temporary file behind */
    KG_ASSERT_OK(kg_file_write_atomic(path, "third", 5, 0600));
    char listing[256];
    snprintf(listing, sizeof(listing), "ls -A %s | wc -l | grep -qx 1", dir);
    assert_int_equal(system(listing), 0);
    kg_buf_free(&b);
    unlink(path);
    rmdir(dir);
}

/* Threads replacing one file at once: every write succeeds and the file is always one
 * writer's whole content (each call has its own temporary file). */
#define RACE_THREADS 8
#define RACE_WRITES 40
#define RACE_LEN 8192

static char g_race_path[128];

static void *race_writer(void *arg)
{
    static char data[RACE_THREADS][RACE_LEN];
    size_t id = (size_t)arg;
    memset(data[id], 'a' + (int)id, RACE_LEN);
    for (int i = 0; i < RACE_WRITES; i++)
        if (kg_failed(kg_file_write_atomic(g_race_path, data[id], RACE_LEN, 0600)))
            return (void *)1;
    return NULL;
}

static void concurrent_atomic_writes_stay_whole(void **state)
{
    (void)state;
    char dir[64];
    temp_dir(dir, sizeof(dir));
    snprintf(g_race_path, sizeof(g_race_path), "%s/shared", dir);
    pthread_t th[RACE_THREADS];
    for (size_t i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_writer, (void *)i), 0);
    int failed = 0;
    for (size_t i = 0; i < RACE_THREADS; i++) {
        void *r;
        assert_int_equal(pthread_join(th[i], &r), 0);
        failed += r != NULL;
    }
    assert_int_equal(failed, 0);
    kg_buf b;
    kg_buf_init(&b, RACE_LEN);
    KG_ASSERT_OK(kg_file_read(&b, g_race_path, RACE_LEN));
    assert_int_equal(b.len, RACE_LEN);
    for (size_t i = 1; i < RACE_LEN; i++)
        assert_int_equal(b.data[i], b.data[0]);
    kg_buf_free(&b);
    char listing[128];
    snprintf(listing, sizeof(listing), "ls -A %s | wc -l | grep -qx 1", dir);
    assert_int_equal(system(listing), 0);
    unlink(g_race_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_are_bounded),
        cmocka_unit_test(secrets_refuse_exposed_files),
        cmocka_unit_test(stdin_reads_are_bounded),
        cmocka_unit_test(create_never_overwrites),
        cmocka_unit_test(concurrent_atomic_writes_stay_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
