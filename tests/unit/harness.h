/*
 * harness.h — small helpers shared by the Check unit tests in tests/unit/.
 *
 * Each test_<name>.c is its own executable; this header only holds static
 * helpers (no global state), so including it from several tests is safe.
 */
#ifndef HVSIM_TEST_HARNESS_H
#define HVSIM_TEST_HARNESS_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Number of rows of a static table. */
#define NROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Add a table-driven test: one loop iteration per row of `table`. */
#define ADD_ROWS(tc, fn, table) tcase_add_loop_test((tc), (fn), 0, NROWS(table))

/* Resources a test owns, released by harness_cleanup() (a checked fixture
 * teardown on every TCase made by harness_tcase()). A failing assertion
 * leaves the test early, also under CK_FORK=no, and the teardown still runs,
 * so failed tests do not leak (LeakSanitizer stays quiet). */
#define HARNESS_MAX_OWNED 32
struct harness_owned { void (*fn)(void *); void *p; };
static struct harness_owned harness_owned[HARNESS_MAX_OWNED];
static unsigned harness_nowned;

static inline void *harness_own(void (*fn)(void *), void *p)
{
    ck_assert_msg(harness_nowned < HARNESS_MAX_OWNED, "too many resources owned by one test");
    harness_owned[harness_nowned++] = (struct harness_owned){ fn, p };
    return p;
}

/* Release p now (runs its release function once). */
static inline void harness_release(void *p)
{
    for (unsigned i = harness_nowned; i-- > 0;)
        if (harness_owned[i].p == p) {
            struct harness_owned o = harness_owned[i];
            memmove(&harness_owned[i], &harness_owned[i + 1], (harness_nowned - i - 1) * sizeof(o));
            harness_nowned--;
            o.fn(o.p);
            return;
        }
}

static inline void harness_cleanup(void)
{
    while (harness_nowned) {
        struct harness_owned o = harness_owned[--harness_nowned];
        o.fn(o.p);
    }
}

static inline void harness_free(void *p) { free(p); }

/* A temporary directory removed (with its files, no subdirectories) at
 * teardown, even if the test fails. prefix: e.g. "/tmp/hvsim-test-x-". */
static inline void harness_rm_dir(void *p)
{
    DIR *d = opendir(p);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof(path), "%s/%s", (char *)p, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(p);
    free(p);
}

static inline const char *harness_tmp_dir(const char *prefix)
{
    char path[256];
    snprintf(path, sizeof(path), "%sXXXXXX", prefix);
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp: %s", strerror(errno));
    return harness_own(harness_rm_dir, strdup(path));
}

/* A whole file, NUL-terminated, owned by the test; its size in *n if n. */
static inline char *harness_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_msg(sz >= 0, "cannot size %s", path);
    char *b = malloc((size_t)sz + 16);
    ck_assert_ptr_nonnull(b);
    harness_own(harness_free, b);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    b[sz] = 0;
    if (n)
        *n = (size_t)sz;
    return b;
}

/* Run a suite and turn the failure count into an exit status. */
static inline int harness_run(Suite *s)
{
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* A test case with a timeout generous enough for ASan builds. */
static inline TCase *harness_tcase(const char *name)
{
    TCase *t = tcase_create(name);
    tcase_set_timeout(t, 30);
    tcase_add_checked_fixture(t, NULL, harness_cleanup);
    return t;
}

/* Substring check with a message naming the row and both strings. */
#define ck_assert_msg_contains(row, hay, needle)                                              \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "%s: message \"%s\" does not mention \"%s\"", \
                  (row), (hay), (needle))

#endif
