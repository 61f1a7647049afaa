/*
 * site_reorder — sensitive instructions in a page that is no longer mapped
 * while hvsim reorders its engine hooks.
 *
 * hvsim stops the engine in front of each sensitive instruction with a code
 * hook on its address, and now and then re-adds those hooks, most-hit first
 * (docs/cpu-mmu.md, "Removing engine hooks"). Unicorn 2.0.1 drops the code
 * translated with a hook when the hook is removed, and to find it translates
 * the code's linear address through the engine's page walk, outside any run.
 * Here the first sites live in a page that the address space the payload
 * then switches to (MOV CR3: SDM 3A 4.10.4.1) does not map, and thousands
 * of CPUIDs elsewhere make the reordering happen while that page is
 * absent. Everything must go on as on hardware: the CPUIDs return the same
 * leaves, and back in the first address space the page runs its code
 * again.
 */
#include "hvsim.h"

#define COLD_LA 0x40000000ull      /* the page that goes away (PDPT slot 1) */
#define HOT_LA  0x80000000ull      /* the page that stays (PDPT slot 2) */
#define NFUNC   12                 /* more than the hooks kept in front */

/* cpuid; ret  (each at its own 16 bytes): the CPUID starts the block the
 * engine translates, which is where Unicorn records a hook's code */
static void put_funcs(uint8_t *page)
{
    for (unsigned k = 0; k < NFUNC; k++) {
        uint8_t *p = page + 16 * k;
        p[0] = 0x0f;
        p[1] = 0xa2;
        p[2] = 0xc3;
    }
}

/* function k with EAX = k % 2 (leaf 0 or 1); RBX, which CPUID writes, is
 * saved around the call */
static uint32_t call_all(uint64_t la)
{
    uint32_t sum = 0;
    for (unsigned k = 0; k < NFUNC; k++) {
        uint32_t a = k % 2;
        __asm__ volatile("push %%rbx\n\t"
                         "call *%1\n\t"
                         "pop %%rbx"
                         : "+a"(a)
                         : "r"(la + 16 * k)
                         : "rcx", "rdx", "memory", "cc");
        sum += a;
    }
    return sum;
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    uint32_t r0[4], r1[4];
    hv_cpuid(0, 0, r0);
    hv_cpuid(1, 0, r1);
    uint32_t expect = (NFUNC / 2) * (r0[0] + r1[0]);

    uint8_t *cold = hv_page_alloc(), *hot = hv_page_alloc();
    put_funcs(cold);
    put_funcs(hot);
    hv_map(COLD_LA, (uint64_t)(uintptr_t)cold, PTE_P | PTE_W);
    hv_map(HOT_LA, (uint64_t)(uintptr_t)hot, PTE_P | PTE_W);

    /* the cold sites: hooked first, run once */
    uint32_t s = call_all(COLD_LA);
    hv_printf("cold page, once: %s\n", hv_yn(s == expect));
    T_EQ(s, expect);

    /* an address space without the cold gigabyte: copies of the PML4 and
     * of its first PDPT, with that PDPT slot cleared */
    uint64_t cr3 = read_cr3();
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xFFFull);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & 0x000FFFFFFFFFF000ull);
    uint64_t *pml4b = hv_page_alloc(), *pdptb = hv_page_alloc();
    for (unsigned i = 0; i < 512; i++) {
        pml4b[i] = pml4[i];
        pdptb[i] = pdpt[i];
    }
    pdptb[COLD_LA >> 30] = 0;
    pml4b[0] = (uint64_t)(uintptr_t)pdptb | (pml4[0] & 0xFFF);
    write_cr3((uint64_t)(uintptr_t)pml4b | (cr3 & 0xFFF));

    /* the hot sites: enough stops for several reorderings */
    bool all = true;
    for (unsigned i = 0; i < 1000; i++)
        all &= call_all(HOT_LA) == expect;
    hv_printf("hot page, 12000 CPUIDs: %s\n", hv_yn(all));
    T_ASSERT(all, "a CPUID in the hot page returned another leaf");

    /* back, and run again */
    write_cr3(cr3);
    s = call_all(COLD_LA);
    hv_printf("cold page, mapped again: %s\n", hv_yn(s == expect));
    T_EQ(s, expect);
    T_DONE();
}
