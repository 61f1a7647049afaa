/*
 * test_tbcache.c — the block-record cache of cpu/decode.c (tbc_*), which
 * the block hook uses to recognise code it has decoded and to compare that
 * code with memory (docs/cpu-mmu.md, "Code written through another
 * alias"). tbc_drop_pages removes exactly the records of blocks that touch
 * the pages named (a block that spans two pages touches both) and keeps
 * every other one findable, also when records shared a probe run of the
 * open-addressing table with removed ones. A full neighbourhood evicts one
 * record, named to the caller, instead of all of them.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cpu_priv.h"
#include "harness.h"

static void tbc_release(void *p) { tbc_destroy(p); }

static const struct tb_info *put(struct tbcache *t, uint64_t la, uint32_t size)
{
    struct tb_info tmpl = { .la = la, .bits = 64, .size = size, .ninsn = 1 };
    uint64_t evicted;
    const struct tb_info *r = tbc_insert(t, &tmpl, &evicted);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(evicted == ~0ull, "inserting %#llx evicted %#llx", (unsigned long long)la,
                  (unsigned long long)evicted);
    return r;
}

/* Each row: blocks (la, size), the pages dropped, and which blocks stay. */
static const struct drop_row {
    const char *what;
    struct { uint64_t la; uint32_t size; } b[6];
    unsigned nb;
    uint64_t pages[3];
    unsigned np;
    bool stays[6];
} drop_rows[] = {
    { "one page of three", { { 0x1000, 16 }, { 0x2000, 16 }, { 0x3000, 16 } }, 3, { 2 }, 1, { true, false, true } },
    { "a block spanning into the page goes too",
      { { 0x1FF0, 0x20 }, { 0x2F00, 0x10 }, { 0x3000, 8 } }, 3, { 2 }, 1, { false, false, true } },
    { "a block spanning out of the page goes too",
      { { 0x2FF8, 0x10 }, { 0x3008, 0x10 } }, 2, { 2 }, 1, { false, true } },
    { "several pages", { { 0x1000, 4 }, { 0x5000, 4 }, { 0x9000, 4 }, { 0xA000, 4 } }, 4, { 5, 0xA }, 2,
      { true, false, true, false } },
    { "no page of any block", { { 0x1000, 4 }, { 0x2000, 4 } }, 2, { 7 }, 1, { true, true } },
    { "high addresses", { { 0xFFFF800000001000ull, 32 }, { 0xFFFF800000002000ull, 32 } }, 2,
      { 0xFFFF800000001ull }, 1, { false, true } },
};

START_TEST(drop_table)
{
    const struct drop_row *r = &drop_rows[_i];
    struct tbcache *t = harness_own(tbc_release, tbc_create());
    ck_assert_ptr_nonnull(t);
    for (unsigned i = 0; i < r->nb; i++)
        put(t, r->b[i].la, r->b[i].size);
    tbc_drop_pages(t, r->pages, r->np);
    for (unsigned i = 0; i < r->nb; i++) {
        const struct tb_info *e = tbc_lookup(t, r->b[i].la);
        if (r->stays[i]) {
            ck_assert_msg(e && e->la == r->b[i].la && e->size == r->b[i].size, "%s: block %u (%#llx) lost", r->what,
                          i, (unsigned long long)r->b[i].la);
        } else {
            ck_assert_msg(e == NULL, "%s: block %u (%#llx) kept", r->what, i, (unsigned long long)r->b[i].la);
        }
    }
}
END_TEST

/* Many records (so that probe runs are long and shared), a page in every
 * seven dropped: every other record is found again, none of the dropped. */
START_TEST(drop_under_load)
{
    struct tbcache *t = harness_own(tbc_release, tbc_create());
    ck_assert_ptr_nonnull(t);
    enum { N = 2000 };
    uint64_t la[N];
    for (unsigned i = 0; i < N; i++) {
        la[i] = 0x400000ull + (uint64_t)i * 0x340;          /* several blocks per page */
        put(t, la[i], 0x30);
    }
    for (unsigned i = 0; i < N; i++)            /* (no neighbourhood filled up: nothing started over) */
        ck_assert_msg(tbc_lookup(t, la[i]) != NULL, "record %#llx missing before the drop", (unsigned long long)la[i]);
    uint64_t pages[64];
    unsigned np = 0;
    for (uint64_t p = 0x400; p < 0x400 + (N * 0x340 >> 12) && np < 64; p += 7)
        pages[np++] = p;
    tbc_drop_pages(t, pages, np);
    unsigned kept = 0, dropped = 0;
    for (unsigned i = 0; i < N; i++) {
        uint64_t first = la[i] >> 12, last = (la[i] + 0x2F) >> 12;
        bool gone = false;
        for (unsigned k = 0; k < np; k++)
            gone |= pages[k] >= first && pages[k] <= last;
        const struct tb_info *e = tbc_lookup(t, la[i]);
        if (gone) {
            ck_assert_msg(e == NULL, "record %#llx kept", (unsigned long long)la[i]);
            dropped++;
        } else {
            ck_assert_msg(e && e->la == la[i], "record %#llx lost", (unsigned long long)la[i]);
            kept++;
        }
    }
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_gt(kept, dropped);
}
END_TEST

/* Insert records until a neighbourhood is full: the record evicted then
 * is named, it alone is gone, and every other one is still found (before,
 * a full neighbourhood dropped every record). */
START_TEST(full_neighbourhood_evicts_one)
{
    struct tbcache *t = harness_own(tbc_release, tbc_create());
    ck_assert_ptr_nonnull(t);
    enum { MAX = 8192 };
    static uint64_t la[MAX];
    uint64_t evicted = ~0ull;
    unsigned n = 0;
    while (n < MAX && evicted == ~0ull) {
        la[n] = 0x10000000ull + (uint64_t)n * 0x40;
        struct tb_info tmpl = { .la = la[n], .bits = 64, .size = 0x20, .ninsn = 1 };
        ck_assert_ptr_nonnull(tbc_insert(t, &tmpl, &evicted));
        n++;
    }
    ck_assert_msg(evicted != ~0ull, "no neighbourhood filled up in %u records", n);
    ck_assert_ptr_nonnull(tbc_lookup(t, la[n - 1]));      /* the new one is in */
    unsigned gone = 0;
    for (unsigned i = 0; i + 1 < n; i++) {
        const struct tb_info *e = tbc_lookup(t, la[i]);
        if (la[i] == evicted) {
            ck_assert_ptr_null(e);
            gone++;
        } else {
            ck_assert_msg(e && e->la == la[i], "record %#llx lost", (unsigned long long)la[i]);
        }
    }
    ck_assert_uint_eq(gone, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tbcache");
    TCase *t = harness_tcase("drop_pages");
    ADD_ROWS(t, drop_table, drop_rows);
    tcase_add_test(t, drop_under_load);
    tcase_add_test(t, full_neighbourhood_evicts_one);
    suite_add_tcase(s, t);
    return harness_run(s);
}
