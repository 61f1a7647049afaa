/*
 * view.c — the instruction engine's view of linear memory, which is also the
 * model's translation cache (TLB). See docs/cpu-mmu.md for the measurements
 * behind this design.
 *
 * Mechanism (Unicorn 2.0.1):
 *  - The engine runs with its own paging ON. Its page tables ("shadow
 *    tables", in a pool registered at engine physical RESERVED_BASE) carry
 *    only presence and write permission; the engine takes the data from
 *    the engine region at the *linear* address (2.0.1 ignores the frame
 *    address). So every guest access is checked by the engine's walker
 *    first, and a missing or read-only shadow entry raises #PF with
 *    exact guest state (RIP, flags), which the INTR hook forwards to
 *    view_handle_fault().
 *  - Engine regions ("windows", 1 GiB of linear space each) are backed by a
 *    host reservation; a translated page is an mmap of the guest-physical
 *    page's memfd offset at the matching host address, so aliases share
 *    memory and host writes are visible at once.
 *  - A shadow entry is present only while the translation it caches is
 *    valid for the current context; invalidations clear entries and
 *    flush the engine's own TLB: inside hooks at once (a region flip),
 *    otherwise once before the engine next runs guest code (a MOV CR3
 *    executed by the engine; docs/cpu-mmu.md "VM entry and exit").
 *
 * Invariants:
 *  - a present shadow leaf implies a live host alias of the right page;
 *  - entries are only removed together with an engine TLB flush, done
 *    before the engine runs guest code again (flush_pending);
 *  - shadow tables never map RESERVED_BASE..RESERVED_END except the
 *    "until" page, which guests cannot reach through their own tables.
 * Called from the run loop and from the INTR/unmapped hooks (in-hook fills).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE          /* RTLD_DEFAULT */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu_priv.h"

/* The top 16 MiB below 1 TiB of linear space belong to hvsim (shadow
 * tables and the run's `until` page); engine physical addresses must stay
 * below 2^40 (the engine's MAXPHYADDR). Documented in docs/boot-protocol.md. */
#define RESERVED_BASE 0x000000FFFF000000ull
#define RESERVED_END  0x0000010000000000ull
#define UNTIL_LA      (RESERVED_END - 0x1000)   /* the trampolines (present, RX) */
#define FLUSH_LA      (UNTIL_LA - 0x1000)       /* never present: its protection flips flush the engine TLB */
#define FLUSH_TRAMP       (UNTIL_LA + 0x40)     /* the flush that starts a run (view_flush_in_run) */
#define FLUSH_SLOT_RAX    (UNTIL_LA + 0x100)    /* ... its data: the RAX to restore */
#define FLUSH_SLOT_TARGET (UNTIL_LA + 0x108)    /* ... and where the run goes on */
#define INVL_TRAMP        (UNTIL_LA + 0x200)    /* INVLPGs that start a run (view_flush_in_run) */
#define INVL_SLOT_RCX     (UNTIL_LA + 0x110)    /* ... its data: RCX and RDX to restore, */
#define INVL_SLOT_RDX     (UNTIL_LA + 0x118)
#define INVL_SLOT_COUNT   (UNTIL_LA + 0x120)    /* ... how many pages, */
#define INVL_SLOT_LIST    (UNTIL_LA + 0x128)    /* ... and their linear addresses */
#define INVL_MAX          24                    /* (the list ends before INVL_TRAMP) */
#define XP_MAX            32                    /* code pages remembered (view_note_exec) */
#define POOL_PAGES    ((unsigned)((FLUSH_LA - RESERVED_BASE) / 4096))
#define SH_1G         (1ull << 10)              /* software bit: cached from a 1-GiB guest page */
#define WIN_SHIFT     30
#define WIN_SIZE      (1ull << WIN_SHIFT)
#define MAX_WIN       32
#define NTREES        4
#define CTX_SV        0
#define CTX_USER      1
#define SH_GLOBAL     (1ull << 9)     /* software bit in shadow leaves: global translation */
#define NO_PAGE       0xFFFFFFFFu

/* Alias entry for one linear page of a window (0: no alias installed). */
#define AL_VALID  (1u << 31)
#define AL_CODE   (1u << 30)      /* the engine may hold translated code for this linear page */
#define AL_STALE  (1u << 29)      /* ... and that code may no longer match memory */
#define AL_PAGE   ((1u << 29) - 1) /* guest-physical page number (RAM is below 2 TiB) */

struct window {
    uint64_t la;          /* linear base */
    uint64_t size;
    uint8_t *host;        /* host reservation */
    uint32_t *alias;      /* one entry per 4-KiB page: the installed host alias */
    uint32_t *big;        /* one per 2 MiB (after alias[], same allocation): first frame + 1 when all
                             512 entries are known valid, contiguous from it and free of stale code;
                             0: unknown (install_alias) */
    uint32_t *tbpage;     /* one bit per 4 KiB (after big[]): the engine holds translated code in this
                             page of the window (view_engine_code); stores into it keep the engine's
                             code check */
    bool used;
};

struct tree {
    bool used;
    struct tlb_tag tag;   /* the translation-cache tag this tree mirrors (VPID, PCID, EPTRTA) */
    uint64_t key;         /* the control state its shadows' rights were computed under (shadow_key) */
    uint64_t apic;        /* ... and the APIC-access page then in effect (~0: none; view_set_context) */
    uint32_t root[2];     /* pool page of the PML4 per context, NO_PAGE if none */
    uint64_t last_use;
};

#define MAX_PENDING_INVAL 64

struct view {
    cpu_t *cpu;
    uint64_t *pool;               /* POOL_PAGES pages of shadow tables */
    uint32_t *free_list;
    uint16_t *child_lo, *child_hi; /* per pool page: slots [lo, hi) may hold entries (tables or leaves) */
    unsigned nfree;
    uint8_t *until_host;
    uint8_t *flush_host;
    bool flush_toggle;
    bool flush_pending;           /* the engine's TLB must be flushed before guest code runs */
    struct window win[MAX_WIN];
    struct tree tree[NTREES];
    unsigned cur;                 /* current tree */
    uint64_t tick;
    uint64_t gen;                 /* bumped whenever a translation is removed */
    bool shadow_lost;             /* a present shadow entry was removed or changed since the last
                                     engine flush was asked for (view_set_context then flushes) */
    uint64_t inval_la[INVL_MAX];  /* pages the engine must drop before guest code runs again (bit 0:
                                     the leaf was a 2-MiB page) */
    uint64_t xpage[XP_MAX];       /* 4-KiB pages the engine ran code from since its jump cache was
                                     last cleared (view_note_exec), */
    unsigned nxpage;              /* ... how many, */
    bool xp_valid;                /* ... false: unknown (more than XP_MAX, or before the first flush) */
    uint64_t xp_last;             /* the page of the last block noted (~0: none) */
    uint64_t unchecked[XP_MAX];   /* code pages whose translation was dropped while the engine's
                                     jump cache may still run their code: the block hook
                                     translates them at their next fetch (view_check_code) */
    unsigned nunchecked;
    unsigned ninval;              /* (a tree switch, instead of a whole flush; 0: none) */
    uint64_t mmio_pa;             /* physical address of the last access routed to the APIC */
    unsigned naliases;            /* valid alias entries over all windows */
    unsigned max_aliases;
    uint64_t *code_pages;         /* linear pages marked AL_CODE (may hold cleared ones) */
    unsigned ncode, capcode;
    /* A filter over the physical pages of code_pages: bit (pfn % 4096) is
     * set when a page with that frame was marked; cleared only with the
     * list (alias_clear). view_phys_written scans the list only when a
     * written frame's bit is set. */
    uint64_t code_pfn_bits[4096 / 64];
    bool any_stale;                              /* some present page may hold stale code */
    uint64_t pending_inval[MAX_PENDING_INVAL];   /* linear pages whose code must be dropped */
    unsigned npending;
    uint32_t hookdel_root;        /* a root mapping every linear address onto the pool (view_hooks_removal_begin) */
    void *eng_cpu;                /* the engine's CPUState, as every fill of its TLB names it (view_engine_seen) */
    uint16_t eng_idx;             /* the engine's MMU indexes any fill has used (a bit each; never cleared) */
    struct view *next_live;       /* (live_views) */
};

/* Every view of this process, so that the engine's calls, which name only
 * its uc_struct, find theirs (view_engine_code). */
static struct view *live_views;

bool view_is_reserved(uint64_t la)
{
    return la >= RESERVED_BASE && la < RESERVED_END;
}

/* The guest reached la inside hvsim's range (data, or code: exec): the run
 * stops as not modelled, naming the address and the range. */
void view_refuse_reserved(struct view *v, uint64_t la, bool exec)
{
    cpu_unmodelled(v->cpu, "guest %s linear %#llx, inside the range [%#llx, %#llx) that hvsim reserves for "
                   "itself (docs/boot-protocol.md)", exec ? "executed code at" : "accessed",
                   (unsigned long long)la, (unsigned long long)RESERVED_BASE, (unsigned long long)RESERVED_END);
}

/* An address in the present trampoline page that nothing executes: the
 * trampolines end with a jump there (never taken), and the block hook
 * stops a run that reaches it (cpu.c, cb_block). */
uint64_t view_until_address(const struct view *v)
{
    (void)v;
    return UNTIL_LA + 0x800;
}

uint64_t view_generation(const struct view *v)
{
    return v->gen;
}

static uint64_t *pool_page(struct view *v, uint32_t idx)
{
    return v->pool + (size_t)idx * 512;
}

/* The accessed flag new shadow entries get: clear once the engine's walker
 * is to mark what it caches (track_accessed), else set (counted as cached) */
static uint64_t new_a(const struct view *v) { return v->cpu->track_accessed ? 0 : PTE_A; }

static uint64_t pool_pa(uint32_t idx)
{
    return RESERVED_BASE + (uint64_t)idx * 4096;
}

/* A slot of a pool table is about to hold an entry: widen its table's range. */
static void note_slot(struct view *v, const uint64_t *slot)
{
    size_t off = (size_t)(slot - v->pool);
    uint32_t idx = (uint32_t)(off / 512);
    unsigned i = (unsigned)(off % 512);
    if (i < v->child_lo[idx])
        v->child_lo[idx] = (uint16_t)i;
    if (i + 1 > v->child_hi[idx])
        v->child_hi[idx] = (uint16_t)(i + 1);
}

static uint32_t pool_alloc(struct view *v)
{
    if (v->nfree == 0)
        return NO_PAGE;
    uint32_t idx = v->free_list[--v->nfree];
    memset(pool_page(v, idx), 0, 4096);
    v->child_lo[idx] = 512;
    v->child_hi[idx] = 0;
    return idx;
}

/* Return a shadow table and the tables below it to the pool. Only the
 * slots that ever pointed to a table are looked at (child_lo/child_hi):
 * a flush frees the whole tree, and most tables hold one or two. */
static void tree_free_level(struct view *v, uint32_t idx, int level)
{
    uint64_t *t = pool_page(v, idx);
    v->shadow_lost = true;
    if (level > 1) {
        for (int i = v->child_lo[idx]; i < v->child_hi[idx]; i++) {
            uint64_t e = t[i];
            if ((e & PTE_P) && !(e & PTE_PS) && e >= RESERVED_BASE)
                tree_free_level(v, (uint32_t)(((e & ~0xFFFull) - RESERVED_BASE) / 4096), level - 1);
        }
    }
    v->free_list[v->nfree++] = idx;
}

static uint32_t ensure_root(struct view *v, struct tree *t, unsigned ctx);

/* ---- what the engine's TLB may hold ----
 * Shadow entries are made with the accessed flag clear; the engine's page
 * walker sets it in every entry it walks (as on hardware), so the entries
 * with A = 1 are exactly those the engine may have cached since the flags
 * were last cleared, which is whenever an engine flush is asked for. When
 * the view switches to another tree (a VM entry or exit with VPIDs or
 * ASIDs), the flush can be skipped if nothing was removed from any tree
 * since (shadow_lost) and every accessed leaf of every tree is present,
 * identical, in the new root: then whatever the engine cached is what it
 * would cache from the new root (docs/cpu-mmu.md, "Switching trees without
 * a flush"). */
static uint64_t *shadow_slot(struct view *v, uint32_t root, uint64_t la, int leaf_level, bool create);
static uint32_t pool_idx_of(uint64_t e) { return (uint32_t)(((e & ~0xFFFull & ((1ull << 52) - 1)) - RESERVED_BASE) / 4096); }

/* shadow_slot without creating anything: the entry for la at leaf_level
 * (or a large leaf above it), NULL when a table on the way is missing. */
static inline uint64_t *shadow_find(struct view *v, uint32_t root, uint64_t la, int leaf_level)
{
    uint64_t *t = pool_page(v, root);
    for (int level = 4; level > leaf_level; level--) {
        uint64_t *e = &t[(la >> (12 + 9 * (level - 1))) & 511];
        if (!(*e & PTE_P))
            return NULL;
        if (*e & PTE_PS)
            return e;
        t = pool_page(v, pool_idx_of(*e));
    }
    return &t[(la >> (12 + 9 * (leaf_level - 1))) & 511];
}

/* Add a page to an invalidation list (bit 0: a 2-MiB leaf) unless it is
 * there; false when the list is full. */
static bool list_add(uint64_t *list, unsigned *n, uint64_t page)
{
    for (unsigned j = 0; j < *n; j++)
        if (list[j] == page)
            return true;
    if (*n == INVL_MAX)
        return false;
    list[(*n)++] = page;
    return true;
}

/* The engine finds code it translated through its jump cache, keyed by
 * linear address, without looking at its TLB; its INVLPG clears the
 * entries of the page named and the page before only, so dropping a
 * 2-MiB leaf leaves the code of its other pages runnable without a fault.
 * Every page the engine ran code from in the listed 2-MiB leaves
 * (view_note_exec) becomes unchecked (view_check_code translates it at its
 * next fetch) or, when that set is full, is added to the list; false when
 * the pages are not known or too many. */
static bool list_expand_code(struct view *v, uint64_t *list, unsigned *n)
{
    unsigned n0 = *n;
    for (unsigned k = 0; k < n0; k++) {
        if (!(list[k] & 1))
            continue;
        if (!v->xp_valid)
            return false;
        uint64_t base = list[k] & ~((1ull << 21) - 1);
        for (unsigned j = 0; j < v->nxpage; j++) {
            uint64_t pg = v->xpage[j];
            if (pg - base >= (1ull << 21))
                continue;
            /* rather than dropping the page from the engine's jump cache
             * (every block of it looked up again), let the block hook
             * translate it at its next fetch, as the engine's fault would */
            bool seen = false;
            for (unsigned u = 0; u < v->nunchecked && !seen; u++)
                seen = v->unchecked[u] == pg;
            if (seen)
                continue;
            if (v->nunchecked < XP_MAX)
                v->unchecked[v->nunchecked++] = pg;
            else if (!list_add(list, n, pg))
                return false;
        }
    }
    return true;
}

/* The engine runs code of la's page from its jump cache, where its page
 * walker never looks: the shadow entries that map the page (every level)
 * get their accessed flag as if it had walked them, so that the next
 * invalidation lists the page's leaf and makes its code pages unchecked
 * again (removed_accessed, list_expand_code). Without this a leaf made for
 * a fetch here stayed unaccessed when the engine ran only cached code from
 * it, the next VM exit listed nothing, and the host's first block after
 * the exit ran from the jump cache with no fetch translation (seen in
 * vmx_bench: the host's stack was walked before its code). */
static void mark_code_path(struct view *v, uint64_t la)
{
    struct tree *t = &v->tree[v->cur];
    unsigned ctx = v->cpu->cpl == 3 ? 1 : 0;
    uint32_t idx = t->root[ctx];
    for (int level = 4; idx != NO_PAGE && level >= 1; level--) {
        uint64_t *tab = pool_page(v, idx);
        uint64_t *e = &tab[(la >> (12 + 9 * (level - 1))) & 511];
        if (!(*e & PTE_P))
            return;
        *e |= PTE_A;
        if (level == 1 || (*e & PTE_PS) || *e < RESERVED_BASE)
            return;
        idx = pool_idx_of(*e);
    }
}

/* The engine is about to run the block at la (size bytes; cb_block). A
 * page of it whose translation was dropped while the engine's jump cache
 * kept its code (list_expand_code) is translated now, as the engine's
 * fetch fault would have done: view_handle_fault's result for it (1:
 * nothing to do or installed; 0, 2, -1 as there, with *fault_la the
 * address that was looked up). */
int view_check_code(struct view *v, uint64_t la, uint32_t size, struct xcpt *x, uint64_t *fault_la)
{
    uint64_t p = la & ~0xFFFull, q = (la + (size ? size - 1 : 0)) & ~0xFFFull;
    for (uint64_t pg = p;; pg += 4096) {
        for (unsigned u = 0; u < v->nunchecked; u++) {
            if (v->unchecked[u] != pg)
                continue;
            if (!view_engine_maps(v, pg)) {
                uint64_t at = pg == p ? la : pg;
                int r = view_handle_fault(v, at, la, x);
                if (r != 1) {
                    *fault_la = at;
                    return r;
                }
            }
            mark_code_path(v, pg);
            v->unchecked[u] = v->unchecked[--v->nunchecked];
            break;
        }
        if (pg == q)
            break;
    }
    return 1;
}

bool view_code_unchecked(const struct view *v)
{
    return v->nunchecked != 0;
}

/* The listed pages leave the engine's TLB and jump cache: they need not
 * be added again. */
static void xpage_forget(struct view *v, const uint64_t *list, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        for (unsigned j = 0; j < v->nxpage; j++)
            if (v->xpage[j] == list[k]) {
                v->xpage[j] = v->xpage[--v->nxpage];
                break;
            }
}

/* The engine runs a block at la of size bytes (cb_block). */
void view_note_exec(struct view *v, uint64_t la, uint32_t size)
{
    uint64_t p = la & ~0xFFFull, q = (la + (size ? size - 1 : 0)) & ~0xFFFull;
    if (p == v->xp_last && q == p)
        return;
    v->xp_last = q == p ? p : ~0ull;
    for (uint64_t pg = p;; pg += 4096) {
        bool seen = false;
        for (unsigned j = 0; j < v->nxpage && !seen; j++)
            seen = v->xpage[j] == pg;
        if (!seen) {
            if (v->nxpage == XP_MAX)
                v->xp_valid = false;
            else
                v->xpage[v->nxpage++] = pg;
        }
        if (pg == q)
            break;
    }
}

static void accessed_clear(struct view *v, uint32_t idx, int level)
{
    uint64_t *t = pool_page(v, idx);
    for (int i = v->child_lo[idx]; i < v->child_hi[idx]; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P) || !(e & PTE_A))
            continue;
        t[i] = e & ~PTE_A;
        if (level > 1 && !(e & PTE_PS) && e >= RESERVED_BASE)
            accessed_clear(v, pool_idx_of(e), level - 1);
    }
}

/* Collect into list the accessed leaves below table idx (level, covering
 * linear base) that are not present and identical (but for A) in root to
 * (NO_PAGE: all of them); false when there are more than INVL_MAX. */
static bool accessed_diff(struct view *v, uint32_t idx, int level, uint64_t base, uint32_t to, uint64_t *list,
                          unsigned *n)
{
    uint64_t *t = pool_page(v, idx);
    for (int i = v->child_lo[idx]; i < v->child_hi[idx]; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P) || !(e & PTE_A))
            continue;
        uint64_t la = base + ((uint64_t)i << (12 + 9 * (level - 1)));
        if (level > 1 && !(e & PTE_PS)) {
            if (e < RESERVED_BASE || !accessed_diff(v, pool_idx_of(e), level - 1, la, to, list, n))
                return false;
            continue;
        }
        if (view_is_reserved(la))
            continue;              /* the trampoline page: the same in every root, mapped again at once */
        uint64_t *o = to == NO_PAGE ? NULL : shadow_find(v, to, la, level);
        if (o && !((*o ^ e) & ~PTE_A))
            continue;
        if (!list_add(list, n, la | (level > 1)))
            return false;
    }
    return true;
}

static void engine_flush_asked(struct view *v)
{
    v->cpu->eng_fills = 0;                 /* (cpu.c, eng_tlb_regrow) */
    v->ninval = 0;                         /* the flush drops those pages too */
    v->shadow_lost = false;
    v->nxpage = 0;                         /* ... and the engine's jump cache */
    v->xp_valid = true;
    v->xp_last = ~0ull;
    v->nunchecked = 0;
    if (!v->cpu->track_accessed)
        return;
    for (int i = 0; i < NTREES; i++)
        for (int c = 0; c < 2; c++)
            if (v->tree[i].root[c] != NO_PAGE)
                accessed_clear(v, v->tree[i].root[c], 4);
    v->shadow_lost = false;
}

/* The engine will not hold the listed pages any more (they are dropped
 * before its next run: view_flush_in_run): their accessed flags, in every
 * root, need not be looked at again, nor its code there. The trees in `emptied` (a bit per tree) hold
 * no leaf any more and are not looked at. */
static void list_commit(struct view *v, const uint64_t *list, unsigned n, unsigned emptied)
{
    for (unsigned k = v->ninval; k < n; k++)
        for (int i = 0; i < NTREES; i++)
            for (int c = 0; c < 2 && !((emptied >> i) & 1); c++) {
                uint32_t r = v->tree[i].root[c];
                for (int level = 1; level <= 2 && r != NO_PAGE; level++) {
                    uint64_t *sl = shadow_find(v, r, list[k] & ~1ull, level);
                    if (sl && (*sl & PTE_P) && (level == 1 || (*sl & PTE_PS)))
                        *sl &= ~PTE_A;
                }
            }
    xpage_forget(v, list + v->ninval, n - v->ninval);
    memcpy(v->inval_la, list, sizeof(uint64_t) * n);
    v->ninval = n;
}

/* May the engine go on with its TLB as it is after loading root `to`? 1:
 * yes; 2: once it has dropped the pages in v->inval_la (each an accessed
 * leaf of another root that `to` lacks or maps differently; the engine's
 * INVLPG of a page inside one of its large pages empties its TLB tables,
 * but keeps its jump cache); 0: it must flush. */
static int engine_tlb_fits(struct view *v, uint32_t to)
{
    if (v->flush_pending || v->shadow_lost || to == NO_PAGE)
        return 0;
    uint64_t list[INVL_MAX];
    unsigned n = v->ninval;                /* pages already to be dropped (their A flags are clear) */
    memcpy(list, v->inval_la, sizeof(uint64_t) * n);
    for (int i = 0; i < NTREES; i++)
        for (int c = 0; c < 2; c++) {
            uint32_t r = v->tree[i].root[c];
            if (r != NO_PAGE && r != to && !accessed_diff(v, r, 4, 0, to, list, &n))
                return 0;
        }
    if (!n)
        return 1;
    if (!list_expand_code(v, list, &n))
        return 0;
    list_commit(v, list, n, 0);
    return 2;
}

/* Load the engine's CR3 with the current context's root. A register write
 * of CR3 does not flush the engine's TLB in Unicorn 2.0.1 (64-bit mode
 * stores it plainly). The current context always has a root: a tree was
 * just emptied, so the pool cannot be exhausted here. */
static void engine_load_root(struct view *v)
{
    cpu_t *cpu = v->cpu;
    struct tree *t = &v->tree[v->cur];
    unsigned ctx = cpu->cpl == 3 ? CTX_USER : CTX_SV;
    uint32_t r = ensure_root(v, t, ctx);
    uint64_t root = pool_pa(r == NO_PAGE ? 0 : r);
    eng_cache_drop(cpu);
    if (cpu->eng_cr3_direct)
        memcpy(cpu->eng_env + (cpu->eng_layout.cr0 + 24 - cpu->eng_env_hdr), &root, 8);   /* cr[3] */
    else
        uc_reg_write(cpu->uc, UC_X86_REG_CR3, &root);
    cpu->shadow_root_written = root;
}

/* Flush the engine's TLB now, from inside a hook (a fill that upgrades or
 * replaces an entry the engine may hold). Changing whether an engine region
 * is writable flushes (the engine rebuilds its address space and flushes its
 * whole TLB: about 9 us), so a private never-present page is flipped between
 * read-only and read-write. */
static void engine_tlb_flush_now(struct view *v)
{
    cpu_t *cpu = v->cpu;
    engine_flush_asked(v);
    engine_load_root(v);
    v->flush_toggle = !v->flush_toggle;
    uc_mem_protect(cpu->uc, FLUSH_LA, 4096, v->flush_toggle ? (UC_PROT_READ | UC_PROT_WRITE) : UC_PROT_READ);
    v->flush_pending = false;
}

/* ---- removing engine hooks (cpu.c, reorder_sites) ----
 * Unicorn 2.0.1's uc_hook_del drops the code translated with the hook: for
 * each block the hook was compiled into, it translates the block's linear
 * address (get_page_addr_code) there and then, outside any run. Where the
 * engine's TLB misses and its page walk faults, the #PF is raised by a
 * longjmp into a run that has already returned (measured: the engine's
 * exception state was left at #DF, and the payload of
 * scenarios/cpu/site-reorder never finished: every run stopped at once,
 * before its first instruction). While
 * hooks are removed, the engine's CR3 therefore holds a root that maps
 * every linear address (hookdel_root): a miss translates to pool memory,
 * where no code is ever translated, and drops nothing; code on pages the
 * engine's TLB holds is dropped as before. The engine's TLB is flushed
 * before it runs again, since what it cached from that root belongs to no
 * context (docs/cpu-mmu.md, "Removing engine hooks"). Outside hooks only. */
void view_hooks_removal_begin(struct view *v)
{
    cpu_t *cpu = v->cpu;
    uint64_t root = pool_pa(v->hookdel_root);
    eng_cache_drop(cpu);
    uc_reg_write(cpu->uc, UC_X86_REG_CR3, &root);
}

static void engine_tlb_flush(struct view *v);

void view_hooks_removal_end(struct view *v)
{
    engine_tlb_flush(v);
}

void view_engine_flush(struct view *v)
{
    engine_tlb_flush(v);
}

/* Outside the engine (emulated instructions, VM entry and exit): load the
 * root at once (trampolines run on it) and flush the engine's TLB before
 * the engine runs guest code again (view_sync_engine). Several flushes in
 * a row (a VM exit flushes, then selects the context twice) cost one. */
static void engine_tlb_flush(struct view *v)
{
    engine_flush_asked(v);
    engine_load_root(v);
    v->flush_pending = true;
}

/* ---- invalidations without a whole engine flush ----
 * Entries are about to be removed from the trees in `trees` (a bit per
 * tree): every entry, or (has_la) those that map la. When the engine's
 * walker marks what it caches (track_accessed), nothing was removed behind
 * its back since the last flush was asked for (shadow_lost), and it can
 * hold no more than INVL_MAX pages among them, list those pages (with the
 * ones already to be dropped): the engine then drops just them before it
 * runs again (view_flush_in_run), keeping the rest of its TLB and its jump
 * cache.
 * A VM entry or exit without VPID empties the tree it leaves (SDM 3C
 * 29.4.3), but the engine has touched only a few of its pages since. */
static bool removed_accessed(struct view *v, unsigned trees, bool has_la, uint64_t la, uint64_t *list,
                             unsigned *n)
{
    if (!v->cpu->track_accessed || v->flush_pending || v->shadow_lost)
        return false;
    *n = v->ninval;
    memcpy(list, v->inval_la, sizeof(uint64_t) * *n);
    for (int i = 0; i < NTREES; i++) {
        if (!((trees >> i) & 1))
            continue;
        for (int c = 0; c < 2; c++) {
            uint32_t r = v->tree[i].root[c];
            if (r == NO_PAGE)
                continue;
            if (!has_la) {
                if (!accessed_diff(v, r, 4, 0, NO_PAGE, list, n))
                    return false;
                continue;
            }
            for (int level = 1; level <= 2; level++) {
                uint64_t *sl = shadow_find(v, r, la, level);
                if (!sl || !(*sl & PTE_P) || (level == 2 && !(*sl & PTE_PS)))
                    continue;
                if (*sl & SH_1G)
                    return false;          /* drop_entry removes the whole 1-GiB range */
                if (!(*sl & PTE_A))
                    continue;
                uint64_t page = la & ~((1ull << (12 + 9 * (level - 1))) - 1);
                if (!list_add(list, n, page | (level > 1)))
                    return false;
            }
        }
    }
    return list_expand_code(v, list, n);
}

/* The entries are removed: the engine drops the listed pages (or, when
 * removed_accessed or tree_empty_listed said no, its whole TLB) before it
 * runs guest code. */
static void engine_drop_removed(struct view *v, bool ok, const uint64_t *list, unsigned n, unsigned emptied)
{
    if (!ok) {
        engine_tlb_flush(v);
        return;
    }
    list_commit(v, list, n, emptied);
    v->shadow_lost = false;                /* every removed entry it may hold is listed */
    engine_load_root(v);
    v->cpu->stats.flushes_by_page++;
}

/* The pending flush: in a 64-bit engine, a MOV CR3 executed by the engine
 * itself (QEMU's tlb_flush only: about 39,000 host instructions against
 * 120,000 for the region flip, no address-space rebuild, no translated code
 * lost); otherwise (the trampoline is above 4 GiB, out of reach of
 * compatibility and real mode) the region flip. */
void view_sync_engine(struct view *v)
{
    if (v->ninval && !v->flush_pending) {
        engine_flush_asked(v);    /* page invalidations that are not folded into a run: a whole flush */
        v->flush_pending = true;
    }
    if (!v->flush_pending)
        return;
    cpu_t *cpu = v->cpu;
    if (cpu->eng_bits == 64) {
        engine_load_root(v);
        eng_write_cr_native(cpu, 3, cpu->shadow_root_written);
        v->flush_pending = false;
    } else {
        engine_tlb_flush_now(v);
    }
}

/* Map the `until` page read-only in a fresh root so that the engine's
 * end-of-run translation of it never faults. */
static bool map_until(struct view *v, uint32_t root);

static uint32_t ensure_root(struct view *v, struct tree *t, unsigned ctx)
{
    if (t->root[ctx] != NO_PAGE)
        return t->root[ctx];
    uint32_t r = pool_alloc(v);
    if (r == NO_PAGE)
        return NO_PAGE;
    t->root[ctx] = r;
    if (!map_until(v, r))
        return NO_PAGE;
    return r;
}

/* Walk (and build) the shadow tree down to the level that holds the leaf for
 * la (level 1 for 4 KiB, 2 for 2 MiB). Returns the entry pointer or NULL when
 * the pool is exhausted. */
static uint64_t *shadow_slot(struct view *v, uint32_t root, uint64_t la, int leaf_level, bool create)
{
    uint32_t idx = root;
    for (int level = 4; level > leaf_level; level--) {
        uint64_t *t = pool_page(v, idx);
        unsigned i = (la >> (12 + 9 * (level - 1))) & 511;
        uint64_t e = t[i];
        if ((e & PTE_P) && (e & PTE_PS)) {
            if (!create)
                return &t[i];       /* a large leaf above the requested level */
            t[i] = 0;               /* replace a large leaf by a table */
            v->shadow_lost = true;
            e = 0;
        }
        if (!(e & PTE_P)) {
            if (!create)
                return NULL;
            uint32_t n = pool_alloc(v);
            if (n == NO_PAGE)
                return NULL;
            t[i] = pool_pa(n) | PTE_P | PTE_RW | PTE_US | new_a(v);   /* (A: see "what the engine's TLB may hold") */
            if (i < v->child_lo[idx])
                v->child_lo[idx] = (uint16_t)i;
            if (i + 1 > v->child_hi[idx])
                v->child_hi[idx] = (uint16_t)(i + 1);
            idx = n;
        } else {
            idx = (uint32_t)(((e & ~0xFFFull & ((1ull << 52) - 1)) - RESERVED_BASE) / 4096);
        }
    }
    uint64_t *t = pool_page(v, idx);
    uint64_t *slot = &t[(la >> (12 + 9 * (leaf_level - 1))) & 511];
    if (create)
        note_slot(v, slot);
    return slot;
}

static bool map_until(struct view *v, uint32_t root)
{
    uint64_t *slot = shadow_slot(v, root, UNTIL_LA, 1, true);
    if (!slot)
        return false;
    *slot = PTE_P | PTE_US | PTE_A | PTE_D;
    return true;
}

static void tree_reset(struct view *v, struct tree *t)
{
    for (int c = 0; c < 2; c++) {
        if (t->root[c] != NO_PAGE)
            tree_free_level(v, t->root[c], 4);
        t->root[c] = NO_PAGE;
    }
}

/* Remove every leaf below table idx (level, covering linear base) but keep
 * the tables, their accessed flags cleared (the engine holds nothing below
 * them any more); while `collect` (every table above accessed), list the
 * accessed leaves, which the engine may hold, as accessed_diff does for no
 * target root; *ok becomes false when they cannot all be listed. */
static void empty_collect(struct view *v, uint32_t idx, int level, uint64_t base, bool collect, uint64_t *list,
                          unsigned *n, bool *ok)
{
    uint64_t *t = pool_page(v, idx);
    for (int i = v->child_lo[idx]; i < v->child_hi[idx]; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P))
            continue;
        uint64_t la = base + ((uint64_t)i << (12 + 9 * (level - 1)));
        bool listed = collect && *ok && (e & PTE_A);
        if (level > 1 && !(e & PTE_PS) && e >= RESERVED_BASE) {
            empty_collect(v, pool_idx_of(e), level - 1, la, listed, list, n, ok);
            t[i] = e & ~PTE_A;
            continue;
        }
        t[i] = 0;
        v->shadow_lost = true;
        if (!listed)
            continue;
        if (level > 1 && !(e & PTE_PS))
            *ok = false;           /* (a table outside the pool) */
        else if (view_is_reserved(la))
            continue;              /* the trampoline page: the same in every root, mapped again at once */
        else if (!list_add(list, n, la | (level > 1)))
            *ok = false;
    }
}

/* Empty the trees in `trees` (a bit per tree) but keep their tables (an
 * invalidation that empties the current tree would otherwise free them and
 * zero new ones as the engine refills it), and list the pages the engine
 * may hold from them (with those already to be dropped) as removed_accessed
 * does, in the same pass over their tables: false when the engine must
 * flush its whole TLB instead. */
static bool tree_empty_listed(struct view *v, unsigned trees, uint64_t *list, unsigned *n)
{
    bool ok = v->cpu->track_accessed && !v->flush_pending && !v->shadow_lost;
    *n = 0;
    if (ok) {
        *n = v->ninval;
        memcpy(list, v->inval_la, sizeof(uint64_t) * *n);
    }
    for (int i = 0; i < NTREES; i++) {
        if (!((trees >> i) & 1))
            continue;
        struct tree *t = &v->tree[i];
        for (int c = 0; c < 2; c++) {
            uint32_t r = t->root[c];
            if (r == NO_PAGE)
                continue;
            empty_collect(v, r, 4, 0, true, list, n, &ok);
            if (!map_until(v, r)) {            /* no pool page for the until mapping: free it all */
                tree_free_level(v, r, 4);
                t->root[c] = NO_PAGE;
            }
        }
    }
    return ok && list_expand_code(v, list, n);
}

static void alias_clear(struct view *v)
{
    for (int i = 0; i < MAX_WIN; i++)
        if (v->win[i].used && v->win[i].alias)
            memset(v->win[i].alias, 0, sizeof(uint32_t) * ((v->win[i].size >> 12) + (v->win[i].size >> 21)));
    v->naliases = 0;
    v->ncode = 0;
    memset(v->code_pfn_bits, 0, sizeof(v->code_pfn_bits));
}

/* Drop all translated code. Expensive (the engine's first full flush
 * touches its whole 1-GiB code buffer, ~40 ms each later): only for the
 * rare full reset of the view. Everything else uses per-page removal. */
static void tb_flush_all(struct view *v)
{
    uc_ctl_flush_tlb(v->cpu->uc);          /* UC_CTL_TB_FLUSH: drop all translated code */
    tbc_clear(v->cpu->tbc);
    v->cpu->cur_tb = NULL;
}

static void schedule_inval(struct view *v, uint64_t la_page)
{
    for (unsigned i = 0; i < v->npending; i++)
        if (v->pending_inval[i] == la_page)
            return;
    if (v->npending < MAX_PENDING_INVAL)
        v->pending_inval[v->npending++] = la_page;
    else
        v->npending = MAX_PENDING_INVAL + 1;  /* overflow: flush everything */
}

bool view_inval_pending(const struct view *v)
{
    return v->npending != 0;
}

bool view_code_settled(const struct view *v)
{
    return v->npending == 0 && !v->any_stale;
}

/* Called outside the engine with the pages present: the engine translates
 * the linear address to find the code to drop. */
void view_do_pending_inval(struct view *v)
{
    if (v->npending > MAX_PENDING_INVAL) {
        tb_flush_all(v);
    } else {
        for (unsigned i = 0; i < v->npending; i++) {
            uint64_t la = v->pending_inval[i] << 12;
            uc_ctl_remove_cache(v->cpu->uc, la, la + 4096);
        }
        /* only those pages' records: the others still describe what the
         * engine runs, and the block hook's byte check needs them
         * (docs/cpu-mmu.md, "Code written through another alias") */
        tbc_drop_pages(v->cpu->tbc, v->pending_inval, v->npending);
        v->cpu->cur_tb = NULL;
    }
    v->npending = 0;
}

/* Drop every translation of every tree (the TLB may lose entries at any
 * time, SDM 3A 4.10.1), optionally keeping global ones. */
static void flush_trees(struct view *v, bool keep_global, bool in_hook);
static void drop_entry(struct view *v, uint32_t root, uint64_t la, int which);

static void full_reset(struct view *v)
{
    for (int i = 0; i < NTREES; i++)
        tree_reset(v, &v->tree[i]);
    /* Return the host aliases: re-reserve each window. */
    for (int i = 0; i < MAX_WIN; i++) {
        struct window *w = &v->win[i];
        if (!w->used)
            continue;
        if (mmap(w->host, w->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                 -1, 0) == MAP_FAILED)
            cpu_internal(v->cpu, "cannot reset the linear view window at %#llx",
                         (unsigned long long)w->la);
    }
    if (v->ncode)
        tb_flush_all(v);
    alias_clear(v);
    v->gen++;
    v->cpu->stats.view_flushes++;
}

struct view *view_create(cpu_t *cpu, unsigned max_pages)
{
    struct view *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->cpu = cpu;
    v->max_aliases = max_pages ? max_pages : 32768;
    v->pool = mmap(NULL, (size_t)POOL_PAGES * 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    v->until_host = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    v->flush_host = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    v->free_list = malloc(sizeof(uint32_t) * POOL_PAGES);
    v->child_lo = calloc(POOL_PAGES, sizeof(uint16_t));
    v->child_hi = calloc(POOL_PAGES, sizeof(uint16_t));
    if (v->pool == MAP_FAILED || v->until_host == MAP_FAILED || v->flush_host == MAP_FAILED ||
        !v->free_list || !v->child_lo || !v->child_hi) {
        if (v->pool != MAP_FAILED && v->pool)
            munmap(v->pool, (size_t)POOL_PAGES * 4096);
        if (v->until_host != MAP_FAILED && v->until_host)
            munmap(v->until_host, 4096);
        if (v->flush_host != MAP_FAILED && v->flush_host)
            munmap(v->flush_host, 4096);
        free(v->free_list);
        free(v->child_lo);
        free(v->child_hi);
        free(v);
        return NULL;
    }
    for (unsigned i = 0; i < POOL_PAGES; i++)
        v->free_list[i] = POOL_PAGES - 1 - i;
    v->nfree = POOL_PAGES;
    /* the root used while engine hooks are removed: every PML4 and PDPT
     * slot leads to one table each, every PD slot is a 2-MiB supervisor
     * leaf on the start of the pool (2-MiB aligned), where the engine never
     * translates code */
    _Static_assert(POOL_PAGES > 3, "the pool holds the hook-removal root's three tables");
    {
        uint32_t l4 = pool_alloc(v), l3 = pool_alloc(v), l2 = pool_alloc(v);   /* (a fresh pool: never NO_PAGE) */
        for (unsigned i = 0; i < 512; i++) {
            pool_page(v, l4)[i] = pool_pa(l3) | PTE_P | PTE_RW | PTE_US | PTE_A;
            pool_page(v, l3)[i] = pool_pa(l2) | PTE_P | PTE_RW | PTE_US | PTE_A;
            pool_page(v, l2)[i] = RESERVED_BASE | PTE_P | PTE_RW | PTE_PS | PTE_A | PTE_D;
        }
        v->hookdel_root = l4;
    }
    uc_err e = uc_mem_map_ptr(cpu->uc, RESERVED_BASE, (size_t)POOL_PAGES * 4096,
                              UC_PROT_READ | UC_PROT_WRITE, v->pool);
    /* The `until` page also holds the trampolines (view_trampoline_addr):
     * at +16*i a MOV to a control register, which ends the engine's block;
     * the block hook stops the engine in front of the next one (a jump to
     * `until`, never taken). Not ending at `until` right after the MOV keeps
     * the engine's end-of-run discard of the code at `until - 1` away from
     * the trampolines: they are translated once, not at every use. */
    static const uint8_t mov_cr[3][3] = {
        { 0x0f, 0x22, 0xc0 },                           /* 0: mov cr0, rax */
        { 0x0f, 0x22, 0xe0 },                           /* 1: mov cr4, rax */
        { 0x0f, 0x22, 0xd8 },                           /* 2: mov cr3, rax */
    };
    for (unsigned i = 0; i < 3; i++) {
        uint8_t *t = v->until_host + 16 * i;
        int32_t rel = (int32_t)(view_until_address(v) - (UNTIL_LA + 16 * i + 3 + 5));
        memcpy(t, mov_cr[i], 3);
        t[3] = 0xe9;                                    /* jmp rel32 to `until` */
        memcpy(t + 4, &rel, 4);
    }
    /* The flush that starts a run (view_flush_in_run), at FLUSH_TRAMP:
     *   mov cr3, rax ; mov rax, [rip + RAX slot] ; jmp [rip + target slot] */
    {
        uint8_t *t = v->until_host + (FLUSH_TRAMP - UNTIL_LA);
        int32_t d1 = (int32_t)(FLUSH_SLOT_RAX - (FLUSH_TRAMP + 3 + 7));
        int32_t d2 = (int32_t)(FLUSH_SLOT_TARGET - (FLUSH_TRAMP + 3 + 7 + 6));
        static const uint8_t head[3] = { 0x0f, 0x22, 0xd8 };
        memcpy(t, head, 3);
        t[3] = 0x48; t[4] = 0x8b; t[5] = 0x05;          /* mov rax, [rip + d1] */
        memcpy(t + 6, &d1, 4);
        t[10] = 0xff; t[11] = 0x25;                     /* jmp [rip + d2] */
        memcpy(t + 12, &d2, 4);
    }
    /* The page invalidations that start a run (view_flush_in_run), at
     * INVL_TRAMP; no instruction of it changes RFLAGS:
     *   mov rcx, [count]; lea rdx, [list]
     * L: mov rax, [rdx]; invlpg [rax]; lea rdx, [rdx + 8]; loop L
     *   mov rax, [RAX slot]; mov rcx, [RCX slot]; mov rdx, [RDX slot]; jmp [target] */
    {
        uint8_t *t = v->until_host + (INVL_TRAMP - UNTIL_LA);
        uint64_t at = INVL_TRAMP;
        size_t k = 0;
#define RIPREL(b0, b1, b2, slot)                                              \
        do {                                                                  \
            int32_t d = (int32_t)((slot) - (at + k + 7));                     \
            t[k++] = (b0); t[k++] = (b1); t[k++] = (b2);                      \
            memcpy(t + k, &d, 4); k += 4;                                     \
        } while (0)
        RIPREL(0x48, 0x8b, 0x0d, INVL_SLOT_COUNT);      /* mov rcx, [rip + d] */
        RIPREL(0x48, 0x8d, 0x15, INVL_SLOT_LIST);       /* lea rdx, [rip + d] */
        static const uint8_t loop_body[] = { 0x48, 0x8b, 0x02,          /* L: mov rax, [rdx] */
                                             0x0f, 0x01, 0x38,          /* invlpg [rax] */
                                             0x48, 0x8d, 0x52, 0x08,    /* lea rdx, [rdx + 8] */
                                             0xe2, 0xf4 };              /* loop L (-12) */
        memcpy(t + k, loop_body, sizeof(loop_body));
        k += sizeof(loop_body);
        RIPREL(0x48, 0x8b, 0x05, FLUSH_SLOT_RAX);       /* mov rax, [rip + d] */
        RIPREL(0x48, 0x8b, 0x0d, INVL_SLOT_RCX);        /* mov rcx, [rip + d] */
        RIPREL(0x48, 0x8b, 0x15, INVL_SLOT_RDX);        /* mov rdx, [rip + d] */
#undef RIPREL
        int32_t d = (int32_t)(FLUSH_SLOT_TARGET - (at + k + 6));
        t[k++] = 0xff; t[k++] = 0x25;                   /* jmp [rip + d] */
        memcpy(t + k, &d, 4);
    }
    if (e == UC_ERR_OK)
        e = uc_mem_map_ptr(cpu->uc, UNTIL_LA, 4096, UC_PROT_READ | UC_PROT_EXEC, v->until_host);
    if (e == UC_ERR_OK)
        e = uc_mem_map_ptr(cpu->uc, FLUSH_LA, 4096, UC_PROT_READ | UC_PROT_WRITE, v->flush_host);
    if (e == UC_ERR_OK)     /* a known read-only state, so that every flip changes it */
        e = uc_mem_protect(cpu->uc, FLUSH_LA, 4096, UC_PROT_READ);
    if (e != UC_ERR_OK) {
        snprintf(cpu->msg, sizeof(cpu->msg), "uc_mem_map_ptr(shadow pool): %s", uc_strerror(e));
        view_destroy(v);
        return NULL;
    }
    for (int i = 0; i < NTREES; i++)
        v->tree[i] = (struct tree){ .used = false, .root = { NO_PAGE, NO_PAGE } };
    v->tree[0].used = true;
    v->cur = 0;
    v->xp_last = ~0ull;
    v->next_live = live_views;
    live_views = v;
    return v;
}

void view_destroy(struct view *v)
{
    if (!v)
        return;
    for (struct view **l = &live_views; *l; l = &(*l)->next_live)
        if (*l == v) {
            *l = v->next_live;
            break;
        }
    /* The windows stay registered: the engine is closed next (cpu_destroy),
     * and uc_mem_unmap would flush the engine's TLB page by page, 262,144
     * pages per window (tens of milliseconds per run). */
    for (int i = 0; i < MAX_WIN; i++)
        if (v->win[i].used) {
            munmap(v->win[i].host, v->win[i].size);
            free(v->win[i].alias);
        }
    if (v->pool)
        munmap(v->pool, (size_t)POOL_PAGES * 4096);
    if (v->until_host)
        munmap(v->until_host, 4096);
    if (v->flush_host)
        munmap(v->flush_host, 4096);
    free(v->free_list);
    free(v->child_lo);
    free(v->child_hi);
    free(v->code_pages);
    free(v);
}

uint64_t view_trampoline_addr(const struct view *v, unsigned which)
{
    (void)v;
    return UNTIL_LA + 16 * which;
}

static struct window *find_window(struct view *v, uint64_t la)
{
    for (int i = 0; i < MAX_WIN; i++) {
        struct window *w = &v->win[i];
        if (w->used && la - w->la < w->size)
            return w;
    }
    return NULL;
}

bool view_cover(struct view *v, uint64_t la)
{
    if (find_window(v, la))
        return true;
    if (view_is_reserved(la))
        return false;
    uint64_t base = la & ~(WIN_SIZE - 1);
    uint64_t size = WIN_SIZE;
    if (base < RESERVED_END && base + size > RESERVED_BASE)
        size = RESERVED_BASE - base;               /* clip below hvsim's range */
    struct window *w = NULL;
    for (int i = 0; i < MAX_WIN; i++)
        if (!v->win[i].used) {
            w = &v->win[i];
            break;
        }
    if (!w) {
        /* Out of windows: drop them all (and every translation, including
         * code the engine translated but never ran: a new window may get
         * the same engine RAM offsets, and the engine would not announce
         * code there again, view_engine_code). */
        full_reset(v);
        tb_flush_all(v);
        for (int i = 0; i < MAX_WIN; i++) {
            uc_mem_unmap(v->cpu->uc, v->win[i].la, v->win[i].size);
            munmap(v->win[i].host, v->win[i].size);
            free(v->win[i].alias);
            v->win[i].alias = NULL;
            v->win[i].used = false;
        }
        engine_tlb_flush_now(v);
        w = &v->win[0];
    }
    void *h = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h == MAP_FAILED) {
        cpu_internal(v->cpu, "cannot reserve %llu bytes of host address space for the linear view",
                     (unsigned long long)size);
        return false;
    }
    uint32_t *al = calloc((size >> 12) + (size >> 21) + (size >> 17), sizeof(uint32_t));  /* zero pages until touched */
    uc_err e = al ? uc_mem_map_ptr(v->cpu->uc, base, size, UC_PROT_ALL, h) : UC_ERR_NOMEM;
    if (e != UC_ERR_OK) {
        munmap(h, size);
        free(al);
        cpu_internal(v->cpu, "uc_mem_map_ptr(window %#llx): %s", (unsigned long long)base,
                     uc_strerror(e));
        return false;
    }
    *w = (struct window){ .la = base, .size = size, .host = h, .alias = al, .big = al + (size >> 12),
                          .tbpage = al + (size >> 12) + (size >> 21), .used = true };
    return true;
}

/* ---- host aliases ---- */
static uint32_t *alias_entry(struct view *v, uint64_t la)
{
    struct window *w = find_window(v, la);
    return w ? &w->alias[(la - w->la) >> 12] : NULL;
}

/* Linear page la is about to show a different physical page. Other trees
 * (other PCIDs) may still cache the old translation, but the engine has one
 * host alias per linear address, shared by all trees: drop their entries
 * for la (an eviction the SDM allows, 4.10.2.2). See docs/cpu-mmu.md. */
static void drop_other_trees(struct view *v, uint64_t la)
{
    for (int i = 0; i < NTREES; i++) {
        if ((unsigned)i == v->cur)
            continue;
        struct tree *t = &v->tree[i];
        for (int c = 0; c < 2; c++) {
            if (t->root[c] == NO_PAGE)
                continue;
            uint64_t *s1 = shadow_find(v, t->root[c], la, 1);
            if (s1 && (*s1 & PTE_P)) {
                *s1 = 0;                /* a 4-KiB leaf, or a 2-MiB leaf returned early */
                v->shadow_lost = true;
            }
            uint64_t *s2 = shadow_find(v, t->root[c], la, 2);
            if (s2 && (*s2 & PTE_P) && (*s2 & PTE_PS)) {
                *s2 = 0;
                v->shadow_lost = true;
            }
        }
    }
}

/* Install host aliases for [la, la+len) -> [pa, pa+len) (inside window w). */
static bool install_alias(struct view *v, struct window *w, uint64_t la, uint64_t pa, uint64_t len)
{
    cpu_t *cpu = v->cpu;
    bool need = false;
    uint32_t *al = &w->alias[(la - w->la) >> 12];
    unsigned fresh = 0;
    /* The common case after a flush: every page already aliased to the
     * right frame and none holding stale code (a read-only pass; for a
     * 2-MiB page, known from an earlier pass until an entry changes) */
    uint32_t pfn0 = (uint32_t)(pa >> 12);
    uint32_t *big = len == (1ull << 21) && !((la - w->la) & ((1ull << 21) - 1)) ? &w->big[(la - w->la) >> 21] : NULL;
    if (big && *big == ((pfn0 & AL_PAGE) + 1))
        return true;
    uint64_t k0 = 0;
    while (k0 < len >> 12 &&
           (al[k0] & (AL_VALID | AL_STALE | AL_PAGE)) == (AL_VALID | ((pfn0 + (uint32_t)k0) & AL_PAGE)))
        k0++;
    if (k0 == len >> 12) {
        if (big)
            *big = (pfn0 & AL_PAGE) + 1;
        return true;
    }
    for (uint64_t b = (la - w->la) >> 21; b <= (la - w->la + len - 1) >> 21; b++)
        w->big[b] = 0;                   /* entries of these 2-MiB ranges change below */
    for (uint64_t k = 0; k < len >> 12; k++) {
        uint32_t e = al[k];
        uint32_t want = (uint32_t)((pa >> 12) + k) & AL_PAGE;
        if (!(e & AL_VALID)) {
            need = true;
            fresh++;
            continue;
        }
        if ((e & AL_PAGE) != want) {
            need = true;
            drop_other_trees(v, la + (k << 12));
            if (e & AL_CODE)
                e |= AL_STALE;         /* the engine's code for this address came from the old page */
        }
        if ((e & AL_CODE) && (e & AL_STALE)) {
            schedule_inval(v, (la >> 12) + k);
            e &= ~(AL_CODE | AL_STALE);
        }
        al[k] = e;
    }
    if (!need)
        return true;
    if (v->naliases + fresh > v->max_aliases) {
        full_reset(v);
        return false;                    /* caller restarts the fill */
    }
    struct cpu_phys_span sp;
    cpu->plat.phys_span(cpu->plat.ctx, pa, &sp);
    if (sp.kind != CPU_SPAN_RAM || pa - sp.base + len > sp.len) {
        cpu_unmodelled(cpu, "guest access to physical %#llx (linear %#llx): no RAM there and no "
                       "device model", (unsigned long long)pa, (unsigned long long)la);
        return false;
    }
    uint8_t *h = w->host + (la - w->la);
    if (mmap(h, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, sp.fd,
             (off_t)(sp.fd_offset + (pa - sp.base))) == MAP_FAILED) {
        cpu_internal(cpu, "mmap of guest page %#llx for linear %#llx failed",
                     (unsigned long long)pa, (unsigned long long)la);
        return false;
    }
    for (uint64_t k = 0; k < len >> 12; k++)
        al[k] = AL_VALID | (al[k] & (AL_CODE | AL_STALE)) | ((uint32_t)((pa >> 12) + k) & AL_PAGE);
    v->naliases += fresh;
    return true;
}

/* Host address of [la, la+len) as the engine sees it, for code the engine
 * is executing (its pages are present, so their aliases are live). NULL if
 * the range leaves its window. */
const uint8_t *view_code_ptr(struct view *v, uint64_t la, size_t len)
{
    struct window *w = find_window(v, la);
    if (!w || la + len - w->la > w->size)
        return NULL;
    return w->host + (la - w->la);
}

/* The engine's translated code for the pages of [la, la + size) is to be
 * dropped before it runs again (view_do_pending_inval); their block
 * records go now, so that a run that starts without that drop (a single
 * step, which translates its instruction afresh anyway) scans the block
 * again instead of finding the old record once more. From the block hook. */
void view_drop_code(struct view *v, uint64_t la, uint32_t size)
{
    uint64_t pages[2];
    unsigned n = 0;
    for (uint64_t p = la >> 12; p <= (la + size - 1) >> 12 && n < 2; p++) {
        schedule_inval(v, p);
        pages[n++] = p;
    }
    tbc_drop_pages(v->cpu->tbc, pages, n);
    v->cpu->cur_tb = NULL;
}

/* The engine's code on la's page is dropped before it runs again (with
 * the page's block records then: view_do_pending_inval). Unlike
 * view_drop_code, no record goes now: the caller (scan_block) has just
 * inserted one that may lie on that page. */
void view_drop_page_code(struct view *v, uint64_t la)
{
    schedule_inval(v, la >> 12);
}

void view_note_code(struct view *v, uint64_t la)
{
    uint32_t *e = alias_entry(v, la);
    if (!e || !(*e & AL_VALID) || (*e & AL_CODE))
        return;
    if (v->ncode == v->capcode) {
        unsigned nc = v->capcode ? v->capcode * 2 : 256;
        uint64_t *n = realloc(v->code_pages, sizeof(uint64_t) * nc);
        if (!n)
            return;                      /* not marked: only costs a missed host-write check */
        v->code_pages = n;
        v->capcode = nc;
    }
    *e |= AL_CODE;
    v->code_pages[v->ncode++] = la >> 12;
    unsigned b = (*e & AL_PAGE) % 4096;
    v->code_pfn_bits[b / 64] |= 1ull << (b % 64);
}

/* Drop code-list entries whose flag was cleared (keeps the list short). */
static void compact_code_list(struct view *v)
{
    unsigned j = 0;
    for (unsigned i = 0; i < v->ncode; i++) {
        uint32_t *e = alias_entry(v, v->code_pages[i] << 12);
        if (e && (*e & AL_VALID) && (*e & AL_CODE))
            v->code_pages[j++] = v->code_pages[i];
    }
    v->ncode = j;
}

void view_phys_written(struct view *v, uint64_t pa, uint64_t len)
{
    /* A host-side write to a page translated code was taken from: the
     * engine cannot see it. Mark the linear pages' code stale; it is dropped
     * before the engine runs again (present pages) or when the page is
     * next installed. */
    if (!v || !v->ncode || !len)
        return;
    uint64_t first = pa >> 12, last = (pa + len - 1) >> 12;
    if (last - first < 4096) {
        bool maybe = false;
        for (uint64_t f = first; f <= last && !maybe; f++) {
            unsigned b = (uint32_t)f & AL_PAGE;
            b %= 4096;
            maybe = (v->code_pfn_bits[b / 64] >> (b % 64)) & 1;
        }
        if (!maybe)
            return;
    }
    for (unsigned i = 0; i < v->ncode; i++) {
        uint32_t *e = alias_entry(v, v->code_pages[i] << 12);
        if (e && (*e & AL_VALID) && (*e & AL_CODE) && (*e & AL_PAGE) >= first && (*e & AL_PAGE) <= last) {
            *e |= AL_STALE;
            struct window *w = find_window(v, v->code_pages[i] << 12);
            if (w)
                w->big[((v->code_pages[i] << 12) - w->la) >> 21] = 0;
            v->any_stale = true;
        }
    }
}

/* The current context's shadow tree maps la: a 4-KiB leaf, or the 2-MiB
 * leaf that covers it (shadow_slot stops at a 2-MiB leaf), so the engine
 * translates la without a fault. */
bool view_engine_maps(struct view *v, uint64_t la)
{
    struct tree *t = &v->tree[v->cur];
    unsigned ctx = v->cpu->cpl == 3 ? 1 : 0;
    uint64_t *s1 = t->root[ctx] == NO_PAGE ? NULL : shadow_find(v, t->root[ctx], la, 1);
    return s1 && (*s1 & PTE_P);
}

/* The pending flush can be folded into the next run: a 64-bit engine, no
 * stale code to drop first (that needs the engine's TLB already flushed),
 * no single-stepping (TF). */
bool view_flush_in_run_ok(struct view *v)
{
    cpu_t *cpu = v->cpu;
    return (v->flush_pending || v->ninval) && cpu->eng_bits == 64 && !v->any_stale && !v->npending &&
           !(cpu_rflags_sys(cpu) & RF_TF);
}

/* The address the engine's INVLPG is given for an entry of inval_la: a
 * 2-MiB leaf is dropped by INVLPG of its last page (any page of it empties
 * the engine's TLB of the 2-MiB range, and its jump cache keeps the code of
 * the first pages, often hot). */
static uint64_t inval_addr(uint64_t e)
{
    return e & 1 ? (e & ~1ull) + 0x1FF000 : e;
}

/* QEMU's tlb_flush_page_by_mmuidx(cpu, addr, idxmap): INVLPG's
 * tlb_flush_page is this with every MMU index; the indexes no fill ever
 * used hold no entry and no large-page range, and are left out */
typedef void flush_page_fn(void *cs, uint64_t addr, uint16_t idxmap);
static flush_page_fn *eng_flush_page;
static int eng_flush_page_api;      /* 0: not looked up yet, 1: found, -1: missing (the trampoline does it) */

static bool flush_page_api(void)
{
    if (!eng_flush_page_api) {
        eng_flush_page = (flush_page_fn *)dlsym(RTLD_DEFAULT, "tlb_flush_page_by_mmuidx_x86_64");
        eng_flush_page_api = eng_flush_page ? 1 : -1;
    }
    return eng_flush_page_api > 0;
}

void view_engine_seen(struct view *v, void *cs, int mmu_idx)
{
    v->eng_cpu = cs;
    v->eng_idx |= (uint16_t)(1u << (mmu_idx & 15));
}

/* Fold the pending flush into the run that starts at target. Pages to
 * drop (v->inval_la) are dropped here by the engine's own INVLPG, called
 * directly, or, before its CPU is known, by INVL_TRAMP, which executes the
 * INVLPGs and jumps to target. A whole flush starts the run at FLUSH_TRAMP
 * with RAX = the shadow root; the trampoline executes MOV CR3 (the engine's
 * TLB flush, as view_sync_engine's), restores RAX and jumps to target,
 * which the engine then runs without another entry. The block hook
 * ignores hvsim's reserved range (no accounting, no stop), so the run is
 * what it would have been. Returns where to start the run. */
uint64_t view_flush_in_run(struct view *v, uint64_t target)
{
    cpu_t *cpu = v->cpu;
    if (!v->flush_pending && v->ninval && v->eng_cpu && flush_page_api()) {
        /* helper_invlpg is tlb_flush_page of the CPU, which Unicorn runs
         * at once on the caller's thread (docs/cpu-mmu.md, "Pages dropped
         * without the trampoline") */
        for (unsigned k = 0; k < v->ninval; k++)
            eng_flush_page(v->eng_cpu, inval_addr(v->inval_la[k]), v->eng_idx);
        v->ninval = 0;
        cpu->stats.pages_dropped_directly++;
        return target;
    }
    if (!v->flush_pending && v->ninval) {
        /* only pages to drop (engine_tlb_fits): INVL_TRAMP */
        uint64_t regs[3] = { eng_get(cpu, UC_X86_REG_RAX), eng_get(cpu, UC_X86_REG_RCX),
                             eng_get(cpu, UC_X86_REG_RDX) };
        uint64_t count = v->ninval;
        memcpy(v->until_host + (FLUSH_SLOT_RAX - UNTIL_LA), &regs[0], 8);
        memcpy(v->until_host + (INVL_SLOT_RCX - UNTIL_LA), &regs[1], 8);
        memcpy(v->until_host + (INVL_SLOT_RDX - UNTIL_LA), &regs[2], 8);
        memcpy(v->until_host + (INVL_SLOT_COUNT - UNTIL_LA), &count, 8);
        for (unsigned k = 0; k < v->ninval; k++) {
            uint64_t a = inval_addr(v->inval_la[k]);
            memcpy(v->until_host + (INVL_SLOT_LIST - UNTIL_LA) + 8 * k, &a, 8);
        }
        memcpy(v->until_host + (FLUSH_SLOT_TARGET - UNTIL_LA), &target, 8);
        v->ninval = 0;
        return INVL_TRAMP;
    }
    engine_load_root(v);
    uint64_t rax = eng_get(cpu, UC_X86_REG_RAX);
    memcpy(v->until_host + (FLUSH_SLOT_RAX - UNTIL_LA), &rax, 8);
    memcpy(v->until_host + (FLUSH_SLOT_TARGET - UNTIL_LA), &target, 8);
    eng_set(cpu, UC_X86_REG_RAX, cpu->shadow_root_written);
    v->flush_pending = false;
    return FLUSH_TRAMP;
}

void view_prepare_run(struct view *v)
{
    view_sync_engine(v);       /* first: the engine translates the addresses below */
    if (v->any_stale) {
        v->any_stale = false;
        struct tree *t = &v->tree[v->cur];
        unsigned ctx = v->cpu->cpl == 3 ? 1 : 0;
        for (unsigned i = 0; i < v->ncode; i++) {
            uint64_t la = v->code_pages[i] << 12;
            uint32_t *e = alias_entry(v, la);
            if (!e || !(*e & AL_CODE) || !(*e & AL_STALE))
                continue;
            uint64_t *s1 = t->root[ctx] == NO_PAGE ? NULL : shadow_find(v, t->root[ctx], la, 1);
            if (s1 && (*s1 & PTE_P)) {
                schedule_inval(v, la >> 12);
                *e &= ~(AL_CODE | AL_STALE);
            }
        }
        compact_code_list(v);
    }
    if (v->npending)
        view_do_pending_inval(v);
}

/* ---- shadow entries ---- */
static struct tree *cur_tree(struct view *v) { return &v->tree[v->cur]; }
static unsigned cur_ctx(struct view *v) { return v->cpu->cpl == 3 ? CTX_USER : CTX_SV; }

/* Install the translation r for la in the current tree and context.
 * Returns 1 on success, 0 to retry (state was reset), -1 on failure. */
static int fill(struct view *v, uint64_t la, const struct pg_result *r, bool writable, uint64_t max_span,
                bool walked)
{
    cpu_t *cpu = v->cpu;
    struct window *w = find_window(v, la);
    if (!w)
        return -1;
    /* max_span: the second-level page (EPT) may be smaller than the guest's */
    bool large = r->page_size >= (2ull << 20) && max_span >= (2ull << 20);
    uint64_t span = large ? (2ull << 20) : 4096;
    uint64_t la_base = la & ~(span - 1);
    uint64_t pa_base = (r->pa & ~(span - 1));
    /* A large page whose 2 MiB block is not wholly inside one window or one
     * RAM span is installed 4 KiB at a time. */
    if (large) {
        struct cpu_phys_span sp;
        cpu->plat.phys_span(cpu->plat.ctx, pa_base, &sp);
        uint64_t apic = apic_base_page(cpu);
        bool apic_inside = (apic_xapic_page(cpu, apic) && apic - pa_base < span) ||
                           (apic_access_hit(cpu, cpu->apic_acc_pa) && cpu->apic_acc_pa - pa_base < span);
        if (la_base < w->la || la_base + span > w->la + w->size || sp.kind != CPU_SPAN_RAM ||
            pa_base < sp.base || pa_base + span > sp.base + sp.len || apic_inside) {
            large = false;
            span = 4096;
            la_base = la & ~0xFFFull;
            pa_base = r->pa & ~0xFFFull;
        }
    }
    if (!install_alias(v, w, la_base, pa_base, span))
        return cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL ? -1 : 0;
    struct tree *t = cur_tree(v);
    unsigned ctx = cur_ctx(v);
    uint32_t root = ensure_root(v, t, ctx);
    uint64_t *slot = root == NO_PAGE ? NULL : shadow_slot(v, root, la_base, large ? 2 : 1, true);
    if (!slot) {
        flush_trees(v, false, true);
        return 0;
    }
    uint64_t e = PTE_P | PTE_US | PTE_D | new_a(v) | (writable ? PTE_RW : 0) |
                 (r->global ? SH_GLOBAL : 0) | (large ? PTE_PS : 0) |
                 (r->page_size > (2ull << 20) ? SH_1G : 0);
    bool had = (*slot & PTE_P) != 0;
    if (had)
        v->shadow_lost = true;
    *slot = e;
    if (had)
        engine_tlb_flush_now(v);     /* an upgrade (read-only -> writable) */
    else if (root != (uint32_t)((cpu->shadow_root_written - RESERVED_BASE) / 4096))
        engine_tlb_flush_now(v);     /* the root was just created */
    cpu->stats.view_fills++;
    if (walked)
        cpu_charge(cpu, cost_table[COST_PAGE_WALK]);   /* a refill from the translation cache is free */
    return 1;
}

/* Translation prefetch (SDM 3A 4.10.2.3 allows caching translations that
 * no access has used yet): after a 4-KiB miss, install the other entries of
 * the same guest page table that are present, already accessed (A = 1, so
 * no flag changes behind the guest's back) and permitted for the current
 * context. Contiguous runs share one host mapping. */
static void prefetch(struct view *v, uint64_t la, const struct pg_result *r, const struct pg_ctx *pc)
{
    cpu_t *cpu = v->cpu;
    uint64_t pt[512];
    if (!phys_read(cpu, r->leaf_entry_pa & ~0xFFFull, pt, sizeof(pt)))
        return;
    struct window *w = find_window(v, la);
    if (!w)
        return;
    uint64_t base = la & ~0x1FFFFFull;
    struct tree *t = cur_tree(v);
    uint32_t root = t->root[cur_ctx(v)];
    if (root == NO_PAGE)
        return;
    const uint64_t frame = 0x000FFFFFFFFFF000ull;
    /* The shadow page table covering the same 2 MiB: its slots are indexed
     * like the guest's (the faulting entry was just installed in it). */
    uint64_t *sh = shadow_find(v, root, base, 1);
    if (!sh)
        return;
    struct tlb_tag tag;
    cpu_tlb_tag(cpu, &tag);
    uint16_t fl[512];                                /* translation-cache flags per entry taken */
    /* What depends on the context alone, once per table: a last-level
     * entry's reserved bits (no PS bit there: the entry does not matter),
     * and the read and write checks per (user, writable, nx); 0xFF: not
     * yet computed */
    const uint64_t rsvd = pg_rsvd_mask(pc, 1, 0);
    uint8_t perm_rd[8], perm_wr[8];
    memset(perm_rd, 0xFF, sizeof(perm_rd));
    memset(perm_wr, 0xFF, sizeof(perm_wr));
    unsigned i = 0;
    while (i < 512) {
        /* Find a run of eligible entries with contiguous frames. */
        unsigned start = i, n = 0;
        uint64_t pa0 = 0;
        bool wr = false, glob = false;
        for (; i < 512; i++) {
            uint64_t e = pt[i], la_i = base + ((uint64_t)i << 12);
            bool ok = (e & PTE_P) && (e & PTE_A) && !(e & rsvd) &&
                      la_i - w->la < w->size && la_i != (la & ~0xFFFull) && !view_is_reserved(la_i) &&
                      !apic_xapic_page(cpu, e & frame) &&   /* APIC registers: never aliased */
                      !apic_access_hit(cpu, e & frame);     /* nor the APIC-access page */
            bool user = r->upper_user && (e & PTE_US);
            bool writable = r->upper_writable && (e & PTE_RW);
            bool nx = r->upper_nx || ((pc->efer & EFER_NXE) && (e & PTE_XD));
            unsigned uwn = (user ? 4u : 0u) | (writable ? 2u : 0u) | (nx ? 1u : 0u);
            if (ok) {
                if (perm_rd[uwn] == 0xFF)
                    perm_rd[uwn] = pg_check_perm(pc, PG_ACC_READ, user, writable, nx) == 0;
                ok = perm_rd[uwn];
            }
            bool e_wr = false;
            if (ok && (e & PTE_D)) {
                if (perm_wr[uwn] == 0xFF)
                    perm_wr[uwn] = pg_check_perm(pc, PG_ACC_WRITE, user, writable, nx) == 0;
                e_wr = perm_wr[uwn];
            }
            bool e_gl = (pc->cr4 & CR4_PGE) && (e & PTE_G);
            struct tlb_entry old;
            if (ok && ((sh[i] & PTE_P) || tlb_lookup(cpu->tlb, &tag, la_i, &old)))
                ok = false;                              /* already cached (perhaps stale: kept) */
            fl[i] = (uint16_t)((user ? TLB_USER : 0) | (writable ? TLB_WRITABLE : 0) | (nx ? TLB_NX : 0) |
                               (e_gl ? TLB_GLOBAL : 0) | ((e & PTE_D) ? TLB_DIRTY : 0) | TLB_SLAT_R | TLB_SLAT_W |
                               TLB_SLAT_X | TLB_SLAT_XU | TLB_SLAT_D);
            if (!ok || (n && ((e & frame) != pa0 + ((uint64_t)n << 12) || e_wr != wr || e_gl != glob)))
                break;
            if (n == 0) {
                pa0 = e & frame;
                wr = e_wr;
                glob = e_gl;
                start = i;
            }
            n++;
        }
        if (n) {
            uint64_t la0 = base + ((uint64_t)start << 12);
            struct cpu_phys_span sp;
            cpu->plat.phys_span(cpu->plat.ctx, pa0, &sp);
            if (sp.kind != CPU_SPAN_RAM || pa0 - sp.base + ((uint64_t)n << 12) > sp.len)
                continue;                                /* not (all) RAM: left to demand */
            if (!install_alias(v, w, la0, pa0, (uint64_t)n << 12))
                return;                                  /* the view was reset */
            note_slot(v, &sh[start]);
            note_slot(v, &sh[start + n - 1]);
            for (unsigned k = 0; k < n; k++) {
                sh[start + k] = PTE_P | PTE_US | PTE_D | new_a(v) | (wr ? PTE_RW : 0) | (glob ? SH_GLOBAL : 0);
                uint64_t lak = la0 + ((uint64_t)k << 12), pak = pa0 + ((uint64_t)k << 12);
                struct tlb_entry te = { .la = lak, .pa = pak, .gpa = pak, .guest_la = lak, .size_log2 = 12,
                                        .guest_size_log2 = 12, .flags = fl[start + k] };
                tlb_insert(cpu->tlb, &tag, &te);
            }
            cpu->stats.view_prefetches += n;
        } else {
            i++;
        }
    }
}

uint64_t view_mmio_pa(const struct view *v) { return v->mmio_pa; }

int view_handle_fault(struct view *v, uint64_t la, uint64_t rip, struct xcpt *x)
{
    cpu_t *cpu = v->cpu;
    if (view_is_reserved(la)) {
        view_refuse_reserved(v, la, la == rip);
        return -1;
    }
    if (!view_cover(v, la))
        return -1;
    struct pg_ctx pc;
    cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
    struct pg_result r;
    for (int attempt = 0; attempt < 4; attempt++) {
        /* A present (read-only) shadow entry means the access was a write. */
        struct tree *t = cur_tree(v);
        unsigned ctx = cur_ctx(v);
        uint64_t *slot = NULL;
        if (t->root[ctx] != NO_PAGE) {
            slot = shadow_find(v, t->root[ctx], la, 1);
            if (slot && (*slot & PTE_P) && (*slot & PTE_PS))
                ;                               /* a 2-MiB leaf */
            else if (!slot || !(*slot & PTE_P))
                slot = NULL;
        }
        enum pg_access acc = slot ? PG_ACC_WRITE : PG_ACC_READ;
        struct cpu_slat sl;
        bool cached;
        enum pg_status st = cpu_translate(cpu, &pc, la, acc, true, &r, &sl, &cached);
        if (st == PG_FAULT) {
            *x = (struct xcpt){ VEC_PF, r.error_code, true, la };
            return 0;
        }
        if (st == PG_SLAT) {
            if (cpu->slat_fault.stop)
                return -1;
            *x = (struct xcpt){ VEC_SLAT, 0, false, 0 };
            return 0;
        }
        if (st != PG_OK) {
            if (st == PG_BUS_ERROR)
                cpu_unmodelled(cpu, "page walk for linear %#llx reads unbacked physical %#llx",
                               (unsigned long long)la, (unsigned long long)r.bad_pa);
            else
                cpu_unmodelled(cpu, "paging mode (CR0=%#llx CR4=%#llx EFER=%#llx) is not modelled",
                               (unsigned long long)cpu->cr0, (unsigned long long)cpu->cr4,
                               (unsigned long long)cpu->efer);
            return -1;
        }
        if (apic_access_hit(cpu, sl.hpa)) {
            /* the APIC-access page (SDM 3C 30.4): never aliased either; the
             * instruction's access decides (apic_access.c) */
            *x = (struct xcpt){ VEC_APIC_ACCESS, 0, false, 0 };
            return 0;
        }
        if (apic_xapic_page(cpu, sl.hpa)) {
            /* The xAPIC register page: nothing is installed, so every access
             * faults and is emulated (the instruction decides read/write). */
            v->mmio_pa = sl.hpa;
            return 2;
        }
        if (cpu->slat_on) {
            struct cpu_phys_span sp;
            cpu->plat.phys_span(cpu->plat.ctx, sl.hpa, &sp);
            if (sp.kind != CPU_SPAN_RAM) {
                /* the access the view assumed (a read) found no RAM; the
                 * instruction's own access may be refused by EPT first */
                *x = (struct xcpt){ VEC_NORAM, 0, false, 0 };
                return 0;
            }
        }
        bool w = pg_check_perm(&pc, PG_ACC_WRITE, r.user, r.writable, r.nx) == 0 && r.dirty &&
                 (sl.perm & CPU_SLAT_PERM_W) && sl.dirty;
        struct pg_result hr = r;
        hr.pa = sl.hpa;                       /* host-physical (the same without EPT) */
        int f = fill(v, la, &hr, w, cpu->slat_on ? sl.page_size : ~0ull, !cached);
        enum pg_mode pm = pg_mode_of(pc.cr0, pc.cr4, pc.efer);
        if (f > 0 && !cached && r.page_size == 4096 && !cpu->slat_on && (pm == PG_MODE_4LEVEL || pm == PG_MODE_PAE))
            prefetch(v, la, &r, &pc);          /* 8-byte entries, 512 per table */
        if (f != 0)
            return f;
    }
    cpu_internal(cpu, "translation of %#llx could not be installed", (unsigned long long)la);
    return -1;
}

static void clear_level(struct view *v, uint32_t idx, int level, bool keep_global)
{
    uint64_t *t = pool_page(v, idx);
    for (int i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_P))
            continue;
        bool leaf = level == 1 || (e & PTE_PS);
        if (leaf) {
            if (!(keep_global && (e & SH_GLOBAL))) {
                t[i] = 0;
                v->shadow_lost = true;
            }
        } else if (e >= RESERVED_BASE) {
            clear_level(v, (uint32_t)(((e & ~0xFFFull & ((1ull << 52) - 1)) - RESERVED_BASE) / 4096),
                        level - 1, keep_global);
        }
    }
}

static void flush_trees(struct view *v, bool keep_global, bool in_hook)
{
    uint64_t list[INVL_MAX];
    unsigned n = 0;
    bool ok = !in_hook && removed_accessed(v, (1u << NTREES) - 1, false, 0, list, &n);
    for (int i = 0; i < NTREES; i++) {
        struct tree *t = &v->tree[i];
        if (!keep_global) {
            tree_reset(v, t);
        } else {
            for (int c = 0; c < 2; c++)
                if (t->root[c] != NO_PAGE) {
                    clear_level(v, t->root[c], 4, true);
                    map_until(v, t->root[c]);
                }
        }
    }
    v->gen++;
    v->cpu->stats.view_flushes++;
    if (in_hook)
        engine_tlb_flush_now(v);
    else
        engine_drop_removed(v, ok, list, n, 0);
}

static bool tag_eq(const struct tlb_tag *a, const struct tlb_tag *b)
{
    return a->vpid == b->vpid && a->pcid == b->pcid && a->eptrta == b->eptrta;
}

/* An architectural invalidation of every mapping of the current VPID (all
 * PCIDs and EPTRTAs): MOV to CR0/CR4 changing paging bits, IA32_EFER.NXE,
 * INVPCID types 2 and 3, INIT (SDM 3A 4.10.4.1, 3C 29.4.3). */
void view_flush(struct view *v, bool keep_global)
{
    struct tlb_sel sel = { .vpid = v->cpu->tlb_vpid, .pcid = TLB_ANY_PCID, .eptrta = TLB_ANY_EPTRTA,
                           .keep_global = keep_global };
    tlb_invalidate(v->cpu->tlb, &sel);
    flush_trees(v, keep_global, false);
}

void view_drop_shadows(struct view *v)
{
    flush_trees(v, false, false);
}

void view_tag(const struct view *v, struct tlb_tag *tag)
{
    cpu_tlb_tag(v->cpu, tag);
}

void view_invalidate(struct view *v, const struct tlb_sel *sel)
{
    tlb_invalidate(v->cpu->tlb, sel);
    uint64_t list[INVL_MAX];
    unsigned n = 0;
    if (sel->has_la) {
        bool ok = removed_accessed(v, (1u << NTREES) - 1, true, sel->la, list, &n);
        for (int i = 0; i < NTREES; i++)
            for (int c = 0; c < 2; c++)
                if (v->tree[i].root[c] != NO_PAGE)
                    drop_entry(v, v->tree[i].root[c], sel->la, 0);
        v->gen++;
        engine_drop_removed(v, ok, list, n, 0);
    } else {
        unsigned trees = 0;
        for (int i = 0; i < NTREES; i++)
            if (v->tree[i].used && tlb_tag_matches(&v->tree[i].tag, sel))
                trees |= 1u << i;
        bool ok = tree_empty_listed(v, trees, list, &n);
        v->gen++;
        v->cpu->stats.view_flushes++;
        if (ensure_root(v, cur_tree(v), cur_ctx(v)) == NO_PAGE) {
            flush_trees(v, false, false);
            return;
        }
        engine_drop_removed(v, ok, list, n, trees);
    }
}

/* Drop the cached translation of la in one tree context. `which`: 0 all
 * entries, 1 non-global only, 2 global only. */
static void drop_entry(struct view *v, uint32_t root, uint64_t la, int which)
{
    uint64_t *s = shadow_find(v, root, la, 1);
    bool from_1g = false;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            s = shadow_find(v, root, la, 2);
        if (!s || !(*s & PTE_P) || (pass == 1 && !(*s & PTE_PS)))
            continue;
        bool g = (*s & SH_GLOBAL) != 0;
        if ((which == 1 && g) || (which == 2 && !g))
            continue;
        if (*s & SH_1G)
            from_1g = true;
        *s = 0;
        v->shadow_lost = true;
    }
    if (from_1g) {
        /* The guest's page was 1 GiB: all of it goes (SDM 3A 4.10.4.1).
         * hvsim cached it in pieces, so drop the whole 1-GiB range of this
         * tree (more than needed is allowed). */
        uint64_t *pdpte = shadow_find(v, root, la, 3);
        if (pdpte && (*pdpte & PTE_P) && !(*pdpte & PTE_PS) && *pdpte >= RESERVED_BASE) {
            tree_free_level(v, (uint32_t)(((*pdpte & ~0xFFFull & ((1ull << 52) - 1)) - RESERVED_BASE) / 4096), 2);
            *pdpte = 0;
        }
    }
}

/* INVLPG (SDM 2A): the current PCID's translations of la, and global ones
 * in every PCID. */
void view_invlpg(struct view *v, uint64_t la)
{
    /* the current VPID's and PCID's mappings of la, and global ones of
     * every PCID (SDM 2A INVLPG, 3C 29.4.3) */
    struct tlb_tag cur;
    cpu_tlb_tag(v->cpu, &cur);
    struct tlb_sel sel = { .vpid = cur.vpid, .pcid = cur.pcid, .eptrta = TLB_ANY_EPTRTA, .has_la = true, .la = la };
    tlb_invalidate(v->cpu->tlb, &sel);
    sel.pcid = TLB_ANY_PCID;
    sel.only_global = true;
    tlb_invalidate(v->cpu->tlb, &sel);
    for (int i = 0; i < NTREES; i++) {
        struct tree *t = &v->tree[i];
        for (int c = 0; c < 2; c++)
            if (t->root[c] != NO_PAGE)
                drop_entry(v, t->root[c], la, (unsigned)i == v->cur ? 0 : 2);
    }
    v->gen++;
    engine_tlb_flush(v);
}

/* INVPCID type 0 (SDM 2A): non-global translations of la tagged `pcid`. */
void view_invpcid_addr(struct view *v, uint64_t la, uint16_t pcid)
{
    struct tlb_sel sel = { .vpid = v->cpu->tlb_vpid, .pcid = pcid, .eptrta = TLB_ANY_EPTRTA, .has_la = true,
                           .la = la, .keep_global = true };
    tlb_invalidate(v->cpu->tlb, &sel);
    for (int i = 0; i < NTREES; i++) {
        struct tree *t = &v->tree[i];
        if (!t->used || t->tag.pcid != pcid)
            continue;
        for (int c = 0; c < 2; c++)
            if (t->root[c] != NO_PAGE)
                drop_entry(v, t->root[c], la, 1);
    }
    v->gen++;
    engine_tlb_flush(v);
}

/* What the rights in a shadow entry depend on besides the cached entry
 * itself: paging mode, CR0.WP, SMEP/SMAP (with RFLAGS.AC), PKE, and
 * whether EPT is on. A tree whose shadows were made under another state
 * is emptied when selected (the translation cache refills it). */
static uint64_t shadow_key(const cpu_t *cpu)
{
    return (cpu->cr0 & (CR0_PG | CR0_WP)) |
           ((uint64_t)(cpu->cr4 & (CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PKE)) << 32) |
           ((cpu->efer & EFER_LMA) ? 1ull << 63 : 0) | (((cpu->cr4 & CR4_SMAP) && (cpu_rflags_sys((cpu_t *)cpu) & RF_AC)) ? 1ull << 62 : 0) |
           (cpu->slat_on ? 1ull << 61 : 0);
}

/* Select the tree for the current tag (VPID, PCID, EPTRTA) and load the
 * engine's CR3 for the current privilege context. */
void view_set_context(struct view *v)
{
    cpu_t *cpu = v->cpu;
    cpu->view_tag_pending = false;
    struct tlb_tag tag;
    cpu_tlb_tag(cpu, &tag);
    int found = -1, lru = 0;
    for (int i = 0; i < NTREES; i++) {
        if (v->tree[i].used && tag_eq(&v->tree[i].tag, &tag))
            found = i;
        if (v->tree[i].last_use < v->tree[lru].last_use || !v->tree[i].used)
            if (v->tree[lru].used)
                lru = i;
    }
    uint64_t key = shadow_key(cpu);
    /* a page that must not be aliased now may be present in shadows made
     * without "virtualize APIC accesses" (or with another page) */
    uint64_t apic = cpu->apic_acc_on && cpu->guest_mode ? cpu->apic_acc_pa : ~0ull;
    if (found < 0) {
        found = lru;
        tree_reset(v, &v->tree[found]);
        v->tree[found].used = true;
        v->tree[found].tag = tag;
        v->tree[found].key = key;
        v->tree[found].apic = apic;
    } else if (v->tree[found].key != key || v->tree[found].apic != apic) {
        tree_reset(v, &v->tree[found]);
        v->tree[found].key = key;
        v->tree[found].apic = apic;
        v->gen++;
    }
    v->cur = (unsigned)found;
    v->tree[found].last_use = ++v->tick;
    if (!v->cpu->track_accessed) {
        /* a second tree, or a guest (VMX non-root or an AMD-V guest: world
         * switches empty trees or change them): from now on the engine's
         * walker marks what it caches (entries made before keep A = 1:
         * counted as cached) */
        int used = 0;
        for (int i = 0; i < NTREES; i++)
            used += v->tree[i].used;
        if (used > 1 || cpu->guest_mode) {
            v->cpu->track_accessed = true;
            /* the block hook notes code pages from now on (view_note_exec);
             * what the engine ran before is known after its next flush */
            v->xp_valid = false;
            v->nxpage = 0;
        }
    }
    struct tree *t = cur_tree(v);
    if (ensure_root(v, t, cur_ctx(v)) == NO_PAGE) {
        flush_trees(v, false, false);
        ensure_root(v, t, cur_ctx(v));
    }
    int fit = engine_tlb_fits(v, t->root[cur_ctx(v)]);
    if (fit) {
        engine_load_root(v);      /* a plain CR3 load: the engine keeps its TLB (see above) */
        if (fit == 1)
            cpu->stats.flushes_skipped++;
        else
            cpu->stats.flushes_by_page++;
    } else {
        engine_tlb_flush(v);
    }
}

/* Drop the translations tagged with one PCID (INVPCID types 0/1 and MOV CR3). */
void view_flush_pcid(struct view *v, uint16_t pcid, bool keep_global)
{
    struct tlb_sel sel = { .vpid = v->cpu->tlb_vpid, .pcid = pcid, .eptrta = TLB_ANY_EPTRTA,
                           .keep_global = keep_global };
    tlb_invalidate(v->cpu->tlb, &sel);
    for (int i = 0; i < NTREES; i++) {
        struct tree *t = &v->tree[i];
        if (!t->used || t->tag.pcid != pcid || t->tag.vpid != v->cpu->tlb_vpid)
            continue;
        for (int c = 0; c < 2; c++)
            if (t->root[c] != NO_PAGE) {
                if (keep_global) {
                    clear_level(v, t->root[c], 4, true);
                    map_until(v, t->root[c]);
                } else {
                    tree_free_level(v, t->root[c], 4);
                    t->root[c] = NO_PAGE;
                }
            }
    }
    v->gen++;
    v->cpu->stats.view_flushes++;
    if (ensure_root(v, cur_tree(v), cur_ctx(v)) == NO_PAGE)
        flush_trees(v, false, false);
    engine_tlb_flush(v);
}

/* ---- stores without the engine's code check (docs/cpu-mmu.md, "Guest stores") ----
 * Unicorn 2.0.1 has no dirty-memory tracking, so every entry it puts in its
 * TLB for a writable RAM page carries TLB_NOTDIRTY and every guest store
 * takes the slow path that looks for translated code in the page. The
 * engine announces the pages that get their first translated block
 * (tlb_protect_code) and those that lose their last one
 * (tlb_unprotect_code): engine_locks.c passes both here, and a fill of a
 * window page without code has its TLB_NOTDIRTY cleared (tlb_set_dirty),
 * as QEMU does for a page its dirty bitmap says holds no code. When a page
 * gets code, every entry of the engine's TLB that maps it gets the flag
 * back (tlb_reset_dirty), so a store into code still drops the engine's
 * translation of it, exactly as before. */
typedef void *map_ram_fn(void *uc, void *block, uint64_t ram_addr);
typedef void reset_dirty_fn(void *cs, uintptr_t host, uintptr_t len);
typedef void set_dirty_fn(void *cs, uint64_t vaddr);
static map_ram_fn *eng_map_ram;
static reset_dirty_fn *eng_reset_dirty;
static set_dirty_fn *eng_set_dirty;
static int eng_dirty_api;            /* 0: not looked up yet, 1: found, -1: missing (stores stay checked) */

static bool dirty_api(void)
{
    if (!eng_dirty_api) {
        eng_map_ram = (map_ram_fn *)dlsym(RTLD_DEFAULT, "qemu_map_ram_ptr_x86_64");
        eng_reset_dirty = (reset_dirty_fn *)dlsym(RTLD_DEFAULT, "tlb_reset_dirty_x86_64");
        eng_set_dirty = (set_dirty_fn *)dlsym(RTLD_DEFAULT, "tlb_set_dirty_x86_64");
        eng_dirty_api = eng_map_ram && eng_reset_dirty && eng_set_dirty ? 1 : -1;
    }
    return eng_dirty_api > 0;
}

static inline bool tb_bit(const struct window *w, uint64_t k)
{
    return (w->tbpage[k >> 5] >> (k & 31)) & 1;
}

void view_engine_code(void *uc, uint64_t ram_addr, bool has_code)
{
    if (!dirty_api())
        return;
    for (struct view *v = live_views; v; v = v->next_live) {
        if ((void *)v->cpu->uc != uc)
            continue;
        uint8_t *host = eng_map_ram(uc, NULL, ram_addr & ~0xfffull);
        for (int i = 0; i < MAX_WIN; i++) {
            struct window *w = &v->win[i];
            if (!w->used || (uintptr_t)(host - w->host) >= w->size)
                continue;
            uint64_t k = (uint64_t)(host - w->host) >> 12;
            if (has_code && !tb_bit(w, k)) {
                w->tbpage[k >> 5] |= 1u << (k & 31);
                if (v->eng_cpu)         /* (no fill yet: nothing to mark) */
                    eng_reset_dirty(v->eng_cpu, (uintptr_t)host, 4096);
                v->cpu->stats.engine_code_pages++;
            } else if (!has_code) {
                w->tbpage[k >> 5] &= ~(1u << (k & 31));
            }
            return;
        }
        return;                     /* hvsim's own range (trampolines): its stores stay checked */
    }
}

void view_engine_fill(struct view *v, void *cs, uint64_t vaddr)
{
    struct window *w = find_window(v, vaddr);
    if (!w || !dirty_api())
        return;
    uint64_t k = (vaddr - w->la) >> 12;
    if (tb_bit(w, k))
        return;
    eng_set_dirty(cs, vaddr);
    v->cpu->stats.engine_plain_store_fills++;
}

void view_pool_span(const struct view *v, uint8_t **host, uint64_t *pa, uint64_t *len)
{
    *host = (uint8_t *)v->pool;
    *pa = RESERVED_BASE;
    *len = (uint64_t)POOL_PAGES * 4096;
}
