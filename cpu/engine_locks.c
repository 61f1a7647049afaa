/*
 * engine_locks.c — Unicorn 2.0.1's page-collection "locks", made free.
 *
 * Unicorn 2.0.1 sends every guest store through QEMU's notdirty_write: it
 * has no dirty-memory tracking, so no page ever counts as dirty and the
 * store fast path is never taken. Each such store (and every translated-
 * code invalidation) calls page_collection_lock(), which allocates a GTree
 * and a page entry per page that holds code, and page_collection_unlock(),
 * which frees them again. The locks themselves are no-ops in Unicorn (one
 * thread; page_lock() does nothing), and the collection is used by nothing
 * else: it is only handed back to page_collection_unlock() (upstream
 * Unicorn removed the allocations: unicorn-engine/unicorn pull request
 * 1838, "Ignore page_collection_lock", after 2.0.1).
 *
 * libunicorn.so.2 calls both through its procedure linkage table, so these
 * definitions, exported from the executable (cpu/CMakeLists.txt), take
 * their place: a store then costs the invalidation check alone. Measured
 * with callgrind, a VM-exit round trip (about 33 guest stores) went from
 * 128,100 to 102,800 host instructions (docs/cpu-mmu.md, "Guest stores").
 * Nothing simulated depends on it: every trace is the same.
 * engine_locks_calls() tells cpu_create() whether the engine really calls
 * these (its probe run invalidates translated code once).
 */
#include <stdint.h>

#include "cpu_priv.h"

struct uc_struct;
struct page_collection;

static char the_collection;          /* what page_collection_lock() hands out: never looked into */
static uint64_t calls;

__attribute__((visibility("default"))) struct page_collection *page_collection_lock_x86_64(struct uc_struct *uc,
                                                                                           uint64_t start,
                                                                                           uint64_t end);
__attribute__((visibility("default"))) void page_collection_unlock_x86_64(struct page_collection *set);

struct page_collection *page_collection_lock_x86_64(struct uc_struct *uc, uint64_t start, uint64_t end)
{
    (void)uc; (void)start; (void)end;
    calls++;
    return (struct page_collection *)(void *)&the_collection;
}

void page_collection_unlock_x86_64(struct page_collection *set)
{
    (void)set;
}

uint64_t engine_locks_calls(void)
{
    return calls;
}
