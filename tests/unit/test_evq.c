/* test_evq.c — the deterministic event queue (sim/evq.c). */
#include <check.h>
#include <stdlib.h>

#include "evq.h"

START_TEST(orders_by_time_then_insertion)
{
    evq_t *q = evq_create();
    ck_assert_ptr_nonnull(q);
    evq_push(q, 50, 1, 0, 0);
    evq_push(q, 10, 2, 0, 0);
    evq_push(q, 50, 3, 0, 0);
    evq_push(q, 10, 4, 0, 0);
    evq_push(q, 0, 5, 0, 0);
    unsigned want[] = { 5, 2, 4, 1, 3 };
    for (unsigned i = 0; i < 5; i++) {
        struct evq_event e;
        ck_assert(evq_pop(q, &e));
        ck_assert_uint_eq(e.kind, want[i]);
    }
    ck_assert(!evq_pop(q, NULL));
    evq_destroy(q);
}
END_TEST

START_TEST(cancel_keeps_heap_order)
{
    evq_t *q = evq_create();
    uint64_t ids[64];
    for (unsigned i = 0; i < 64; i++)
        ids[i] = evq_push(q, (i * 37) % 64, i, 0, 0);
    for (unsigned i = 0; i < 64; i += 3)
        ck_assert(evq_cancel(q, ids[i]));
    ck_assert(!evq_cancel(q, ids[0]));
    uint64_t last = 0;
    unsigned n = 0;
    struct evq_event e;
    while (evq_pop(q, &e)) {
        ck_assert_uint_ge(e.time, last);
        ck_assert_uint_ne(e.kind % 3, 0);
        last = e.time;
        n++;
    }
    ck_assert_uint_eq(n, 64 - 22);
    evq_destroy(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("evq");
    TCase *t = tcase_create("core");
    tcase_add_test(t, orders_by_time_then_insertion);
    tcase_add_test(t, cancel_keeps_heap_order);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
