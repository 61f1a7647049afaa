/*
 * engine_locks.c — where hvsim stands between Unicorn 2.0.1 and its own
 * internals: the page-collection "locks" made free, TLB fills counted, code
 * pages tracked for the store fast path, shadow-table walks answered.
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
 * their place: a store into a page with code then costs the invalidation
 * check alone (stores into other pages now skip it, below). Measured
 * with callgrind, a VM-exit round trip (about 33 guest stores) went from
 * 128,100 to 102,800 host instructions (docs/cpu-mmu.md, "Guest stores").
 * Nothing simulated depends on it: every trace is the same.
 * engine_locks_calls() tells cpu_create() whether the engine really calls
 * these (its probe run invalidates translated code once).
 *
 * The same way, tlb_set_page_with_attrs_x86_64 (every fill of the engine's
 * own TLB) is counted on its way to the engine's definition: the count is
 * how cpu.c sees that the engine's TLB is too small for the guest's working
 * set (docs/cpu-mmu.md, "The engine's TLB size"). After the fill, a
 * writable page without translated code loses the store slow path, and
 * tlb_protect_code/tlb_unprotect_code tell view.c which pages hold code
 * (docs/cpu-mmu.md, "Stores into pages without code"). The engine's own
 * page walker reads hvsim's shadow tables through three more of them,
 * answered from the pool directly during runs (docs/cpu-mmu.md, "The
 * engine's page walks").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- fills of the engine's TLB ----
 * MemTxAttrs is a 4-byte struct of bit-fields in Unicorn 2.0.1, passed in
 * one register like the uint32_t here; the arguments are handed on as they
 * came (checked against the call in x86_cpu_tlb_fill: RDI, RSI, RDX, ECX,
 * R8D, R9D and the size on the stack). */
/* The engine's own definition of a function hvsim stands in front of: the
 * engine called it, so it defines it; missing means a broken installation. */
static void *engine_sym(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "hvsim: internal error: the engine's %s cannot be found (dlsym: %s)\n", name, dlerror());
        abort();
    }
    return f;
}

/* tlb_protect_code calls seen (below): a fill skips the store check only
 * once hvsim has seen that the engine announces its code pages to it (an
 * executable that exported this function but not that one would otherwise
 * let stores into code go unchecked) */
static uint64_t code_notices;

typedef void set_page_fn(void *cs, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx,
                         uint64_t size);
static set_page_fn *engine_set_page;
_Thread_local uint64_t engine_fills;          /* (cpu_priv.h: engine_tlb_fills, engine_tlb_fill_alarm) */
_Thread_local uint64_t engine_alarm_at;
_Thread_local uint64_t *engine_alarm_word;

__attribute__((visibility("default"))) void tlb_set_page_with_attrs_x86_64(void *cs, uint64_t vaddr, uint64_t paddr,
                                                                          uint32_t attrs, int prot, int mmu_idx,
                                                                          uint64_t size);

void tlb_set_page_with_attrs_x86_64(void *cs, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx,
                                    uint64_t size)
{
    if (!engine_set_page)
        engine_set_page = (set_page_fn *)engine_sym("tlb_set_page_with_attrs_x86_64");
    if (++engine_fills == engine_alarm_at && engine_alarm_word)
        *engine_alarm_word = 0;
    engine_set_page(cs, vaddr, paddr, attrs, prot, mmu_idx, size);
    if (engine_view)
        view_engine_seen(engine_view, cs, mmu_idx);
    /* a writable page (QEMU's PAGE_WRITE) of one of hvsim's windows, where
     * engine physical = linear: stores into it need the code check only if
     * the engine holds code there (view_engine_fill) */
    if (engine_view && (prot & 2) && !((vaddr ^ paddr) & ~0xfffull) && code_notices)
        view_engine_fill(engine_view, cs, vaddr);
}

/* ---- pages that hold translated code ----
 * The engine calls tlb_protect_code(uc, ram_addr) when a page gets its
 * first translated block, and tlb_unprotect_code(uc, ram_addr) when it has
 * lost its last one (checked against tb_gen_code and
 * tb_invalidate_phys_page_range in the library: RDI the uc_struct, RSI the
 * page's RAM offset). Both do nothing in Unicorn 2.0.1; view.c keeps the
 * record they would have kept (view_engine_code). */
_Thread_local struct view *engine_view;
typedef void protect_fn(void *uc, uint64_t ram_addr);
static protect_fn *engine_protect, *engine_unprotect;

__attribute__((visibility("default"))) void tlb_protect_code_x86_64(void *uc, uint64_t ram_addr);
__attribute__((visibility("default"))) void tlb_unprotect_code_x86_64(void *uc, uint64_t ram_addr);

void tlb_protect_code_x86_64(void *uc, uint64_t ram_addr)
{
    if (!engine_protect)
        engine_protect = (protect_fn *)engine_sym("tlb_protect_code_x86_64");
    code_notices++;
    view_engine_code(uc, ram_addr, true);
    engine_protect(uc, ram_addr);
}

void tlb_unprotect_code_x86_64(void *uc, uint64_t ram_addr)
{
    if (!engine_unprotect)
        engine_unprotect = (protect_fn *)engine_sym("tlb_unprotect_code_x86_64");
    view_engine_code(uc, ram_addr, false);
    engine_unprotect(uc, ram_addr);
}

/* ---- the engine's page walks through hvsim's shadow tables ----
 * The engine's walker (x86_cpu_tlb_fill) reads each level of hvsim's shadow
 * tables with x86_ldq_phys (x86_ldl_phys for 32-bit tables) and sets their
 * accessed and dirty flags with x86_stl_phys_notdirty, each a full lookup
 * of the engine's address space (a flat-view search and a memory-region
 * dispatch, a few hundred host instructions) that ends in a plain load or
 * store of the pool's host memory. The library calls all three through its
 * procedure linkage table (checked in x86_cpu_tlb_fill), so during a run
 * hvsim answers accesses inside the running view's pool itself, from the
 * same memory (cpu_priv.h: engine_pool_*); everything else goes on to the
 * engine's own definition. docs/cpu-mmu.md, "The engine's page walks". */
_Thread_local uint8_t *engine_pool;
_Thread_local uint64_t engine_pool_pa, engine_pool_len;
_Thread_local uint64_t engine_pool_hits;

typedef uint64_t ldq_fn(void *cs, uint64_t addr);
typedef uint32_t ldl_fn(void *cs, uint64_t addr);
typedef void stl_fn(void *cs, uint64_t addr, uint32_t val);
static ldq_fn *engine_ldq;
static ldl_fn *engine_ldl;
static stl_fn *engine_stl_nd;

/* the pool's host address for [addr, addr + n), or NULL */
static inline uint8_t *pool_at(uint64_t addr, uint64_t n)
{
    uint64_t off = addr - engine_pool_pa;
    if (!engine_pool || off >= engine_pool_len || engine_pool_len - off < n)
        return NULL;
    engine_pool_hits++;
    return engine_pool + off;
}

__attribute__((visibility("default"))) uint64_t x86_ldq_phys_x86_64(void *cs, uint64_t addr);
__attribute__((visibility("default"))) uint32_t x86_ldl_phys_x86_64(void *cs, uint64_t addr);
__attribute__((visibility("default"))) void x86_stl_phys_notdirty_x86_64(void *cs, uint64_t addr, uint32_t val);

uint64_t x86_ldq_phys_x86_64(void *cs, uint64_t addr)
{
    uint8_t *p = pool_at(addr, 8);
    if (p) {
        uint64_t v;
        memcpy(&v, p, 8);               /* (x86 hosts only: little-endian, as the engine's ldq_le) */
        return v;
    }
    if (!engine_ldq)
        engine_ldq = (ldq_fn *)engine_sym("x86_ldq_phys_x86_64");
    return engine_ldq(cs, addr);
}

uint32_t x86_ldl_phys_x86_64(void *cs, uint64_t addr)
{
    uint8_t *p = pool_at(addr, 4);
    if (p) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    if (!engine_ldl)
        engine_ldl = (ldl_fn *)engine_sym("x86_ldl_phys_x86_64");
    return engine_ldl(cs, addr);
}

void x86_stl_phys_notdirty_x86_64(void *cs, uint64_t addr, uint32_t val)
{
    uint8_t *p = pool_at(addr, 4);
    if (p) {
        memcpy(p, &val, 4);
        return;
    }
    if (!engine_stl_nd)
        engine_stl_nd = (stl_fn *)engine_sym("x86_stl_phys_notdirty_x86_64");
    engine_stl_nd(cs, addr, val);
}

/* ---- the engine's CPU state ----
 * reg_write (uc_reg_write of MXCSR) applies the new value with
 * update_mxcsr_status(env), called through the procedure linkage table
 * (checked in the library), so its argument is the engine's CPUX86State.
 * While engine_env_catch is set (eng_layout_find, once per engine), the
 * pointer is kept there; eng_layout_find then checks it against a
 * uc_context image of the same engine before anything uses it. */
_Thread_local void **engine_env_catch;
typedef void mxcsr_fn(void *env);
static mxcsr_fn *engine_mxcsr;

__attribute__((visibility("default"))) void update_mxcsr_status_x86_64(void *env);

void update_mxcsr_status_x86_64(void *env)
{
    if (engine_env_catch)
        *engine_env_catch = env;
    if (!engine_mxcsr)
        engine_mxcsr = (mxcsr_fn *)engine_sym("update_mxcsr_status_x86_64");
    engine_mxcsr(env);
}

/* The engine's computation of the arithmetic flags from its lazy state
 * (what its RFLAGS read uses: cpu.c, env_rflags). */
typedef uint64_t cc_all_fn(uint64_t dst, uint64_t src1, uint64_t src2, int op);
static cc_all_fn *engine_cc_all;

uint64_t engine_cc_compute_all(uint64_t dst, uint64_t src1, uint64_t src2, int op)
{
    if (!engine_cc_all)
        engine_cc_all = (cc_all_fn *)engine_sym("helper_cc_compute_all_x86_64");
    return engine_cc_all(dst, src1, src2, op);
}
