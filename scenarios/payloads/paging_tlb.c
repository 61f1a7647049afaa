/*
 * paging_tlb — the TLB: translations stay cached after a paging-structure
 * entry changes until software invalidates them; INVLPG, MOV to CR3 and
 * CR4.PGE invalidate what the SDM says they do.
 *
 * SDM 3A 4.10.2.2 (caching translations in TLBs), 4.10.2.4 (global pages:
 * CR4.PGE = 1 and G = 1 survive MOV to CR3), 4.10.4.1 (operations that
 * invalidate TLBs: INVLPG invalidates all TLB entries for the page, for a
 * page larger than 4 KiB all of them; MOV to CR3 with CR4.PCIDE = 0 all
 * non-global entries; a change of CR4.PGE all entries), 4.10.4.2 and
 * 4.10.4.3 (stale entries may be used until invalidated: hvsim's TLB keeps
 * them deterministically, which is what these checks rely on).
 *
 * Every check is reported (T_CHECK) so that one run shows all of them.
 */
#include "hvsim.h"

#define LA_BASE 0x0000030000000000ull     /* PML4 slot 6, 4-KiB pages */
#define LA_1G   0x0000008000000000ull     /* PML4 slot 1: a 1-GiB page */

struct rd { uint64_t la, val; };

static void do_read(void *p)
{
    struct rd *r = p;
    r->val = *(volatile uint64_t *)(uintptr_t)r->la;
}

static uint64_t rd(uint64_t la) { return *(volatile uint64_t *)(uintptr_t)la; }

static const char *which(uint64_t v)
{
    return v == 0xAAAA ? "page A" : v == 0xBBBB ? "page B" : "?";
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    uint64_t *a = hv_page_alloc(), *b = hv_page_alloc();
    a[0] = 0xAAAA;
    b[0] = 0xBBBB;
    uint64_t pa_a = (uint64_t)(uintptr_t)a, pa_b = (uint64_t)(uintptr_t)b;
    uint64_t v;

    /* 1. Remap a page that was used: PTE write + INVLPG (hv_map). */
    uint64_t la1 = LA_BASE;
    hv_map(la1, pa_a, PTE_P | PTE_W);
    v = rd(la1);
    hv_printf("remap: before: %s\n", which(v));
    T_CHECK_EQ(v, 0xAAAA);
    hv_map(la1, pa_b, PTE_P | PTE_W);
    v = rd(la1);
    hv_printf("remap: after PTE write + INVLPG: %s\n", which(v));
    T_CHECK_EQ(v, 0xBBBB);

    /* 2. Stale until INVLPG. */
    uint64_t la2 = LA_BASE + 0x1000;
    volatile uint64_t *pte2 = hv_pte(la2);
    hv_map(la2, pa_a, PTE_P | PTE_W);
    v = rd(la2);
    hv_printf("stale: cached translation: %s\n", which(v));
    T_CHECK_EQ(v, 0xAAAA);
    *pte2 = pa_b | PTE_P | PTE_W;                   /* no INVLPG */
    v = rd(la2);
    hv_printf("stale: PTE now names page B, no INVLPG: %s\n", which(v));
    T_CHECK_EQ(v, 0xAAAA);
    invlpg((void *)(uintptr_t)la2);
    v = rd(la2);
    hv_printf("stale: after INVLPG: %s\n", which(v));
    T_CHECK_EQ(v, 0xBBBB);

    /* 3. MOV to CR3 flushes non-global translations and keeps global ones. */
    write_cr4(read_cr4() | CR4_PGE);
    uint64_t lag = LA_BASE + 0x2000, lan = LA_BASE + 0x3000;
    volatile uint64_t *pteg = hv_pte(lag), *pten = hv_pte(lan);
    hv_map(lag, pa_a, PTE_P | PTE_W | PTE_G);
    hv_map(lan, pa_a, PTE_P | PTE_W);
    uint64_t g0 = rd(lag), n0 = rd(lan);
    hv_printf("CR3: CR4.PGE=1; global page: %s, non-global page: %s\n", which(g0), which(n0));
    T_CHECK_EQ(g0, 0xAAAA);
    T_CHECK_EQ(n0, 0xAAAA);
    *pteg = pa_b | PTE_P | PTE_W | PTE_G;
    *pten = pa_b | PTE_P | PTE_W;
    uint64_t g1 = rd(lag), n1 = rd(lan);
    hv_printf("CR3: both PTEs now name page B, before MOV CR3: global %s, non-global %s\n", which(g1), which(n1));
    T_CHECK_EQ(g1, 0xAAAA);
    T_CHECK_EQ(n1, 0xAAAA);
    write_cr3(read_cr3());
    uint64_t g2 = rd(lag), n2 = rd(lan);
    hv_printf("CR3: after MOV CR3: global %s (kept), non-global %s (flushed)\n", which(g2), which(n2));
    T_CHECK_EQ(g2, 0xAAAA);
    T_CHECK_EQ(n2, 0xBBBB);
    invlpg((void *)(uintptr_t)lag);
    uint64_t g3 = rd(lag);
    hv_printf("CR3: INVLPG removes the global translation too: %s\n", which(g3));
    T_CHECK_EQ(g3, 0xBBBB);

    /* 4. Changing CR4.PGE flushes everything, global entries included. */
    *pteg = pa_a | PTE_P | PTE_W | PTE_G;
    write_cr3(read_cr3());
    uint64_t g4 = rd(lag);
    hv_printf("PGE: global PTE back to page A, after MOV CR3: %s\n", which(g4));
    T_CHECK_EQ(g4, 0xBBBB);
    write_cr4(read_cr4() & ~CR4_PGE);
    uint64_t g5 = rd(lag);
    hv_printf("PGE: after clearing CR4.PGE: %s\n", which(g5));
    T_CHECK_EQ(g5, 0xAAAA);

    /* 5. INVLPG on a 1-GiB page invalidates every TLB entry of that page,
     *    whichever address inside it is named (SDM 3A 4.10.4.1). */
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    volatile uint64_t *pdpt = hv_page_alloc();
    pdpt[0] = 0 | PTE_P | PTE_W | PTE_PS;
    pml4[(LA_1G >> 39) & 511] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W;
    __asm__ volatile("" ::: "memory");
    uint64_t off1 = pa_a, off2 = bi->mem_size - (4ull << 20);   /* in different 2-MiB regions */
    *(volatile uint64_t *)(uintptr_t)off2 = 0xC2C2;
    uint64_t x1 = rd(LA_1G + off1), x2 = rd(LA_1G + off2);
    hv_printf("1G: two addresses in different 2-MiB regions read %#llx and %#llx\n", (unsigned long long)x1,
              (unsigned long long)x2);
    T_CHECK_EQ(x1, 0xAAAA);
    T_CHECK_EQ(x2, 0xC2C2);
    pdpt[0] = 0;                                            /* not present */
    invlpg((void *)(uintptr_t)(LA_1G + off1));
    struct rd r2 = { LA_1G + off2, 0 };
    bool f2 = hv_call_expect(14, do_read, &r2);
    hv_printf("1G: PDPTE cleared, INVLPG of the first address; the second one: %s",
              f2 ? "#PF" : "no fault");
    if (f2)
        hv_printf(" ec=%#llx cr2=LA_1G+%#llx", (unsigned long long)hv_last_ec,
                  (unsigned long long)(hv_last_cr2 - LA_1G));
    hv_putc('\n');
    T_CHECK(f2, "read %#llx through a stale translation", (unsigned long long)r2.val);
    T_CHECK(!f2 || (hv_last_ec == 0 && hv_last_cr2 == LA_1G + off2), "ec/cr2");
    struct rd r1 = { LA_1G + off1, 0 };
    bool f1 = hv_call_expect(14, do_read, &r1);
    hv_printf("1G: the first address: %s\n", f1 ? "#PF" : "no fault");
    T_CHECK(f1, "read %#llx through a stale translation", (unsigned long long)r1.val);
    T_DONE();
}
