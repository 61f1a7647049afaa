/*
 * paging_map — 4-level paging with 4-KiB and 1-GiB pages, aliases, and the
 * accessed/dirty flags the processor sets.
 *
 * SDM 3A 4.5 (4-level paging; table 4-15 PDPTE mapping a 1-GByte page,
 * table 4-20 PTE mapping a 4-KByte page), 4.8 (accessed and dirty flags:
 * A is set on any access using an entry, D on a write to the page the
 * entry maps), 2A CPUID.80000001H EDX[26] (1-GByte pages). Only linear
 * pages not used before are (re)mapped here: invalidation is paging_tlb's.
 */
#include "hvsim.h"

#define LA_4K  0x0000020000000000ull      /* PML4 slot 4: fresh tables from hv_map */
#define LA_1G  0x0000008000000000ull      /* PML4 slot 1: our own PDPT, PS = 1 */

static volatile uint64_t *at(uint64_t la) { return (volatile uint64_t *)(uintptr_t)la; }

static void fill(void *page, uint64_t v)
{
    uint64_t *p = page;
    for (int i = 0; i < 512; i++)
        p[i] = v + (uint64_t)i;
}

static volatile uint64_t *pde_of(uint64_t la)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[(la >> 39) & 511] & 0x000FFFFFFFFFF000ull);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[(la >> 30) & 511] & 0x000FFFFFFFFFF000ull);
    return &pd[(la >> 21) & 511];
}

static volatile uint64_t marker = 0x1122334455667788ull;

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();

    /* ---- 4-KiB pages ---- */
    uint64_t *a = hv_page_alloc(), *b = hv_page_alloc();
    uint64_t pa_a = (uint64_t)(uintptr_t)a, pa_b = (uint64_t)(uintptr_t)b;
    fill(a, 0xA000);
    fill(b, 0xB000);
    hv_map(LA_4K, pa_a, PTE_P | PTE_W);
    hv_printf("4K map LA %#llx -> page A: read %#llx, [5] %#llx\n", LA_4K, (unsigned long long)at(LA_4K)[0],
              (unsigned long long)at(LA_4K)[5]);
    T_EQ(at(LA_4K)[0], 0xA000);
    T_EQ(at(LA_4K)[5], 0xA005);
    at(LA_4K)[7] = 0x7777;
    hv_printf("write through the mapping reaches page A: %s\n", a[7] == 0x7777 ? "yes" : "no");
    T_EQ(a[7], 0x7777);

    /* A second linear page aliasing the same frame. */
    hv_map(LA_4K + 0x1000, pa_a, PTE_P | PTE_W);
    at(LA_4K + 0x1000)[8] = 0x8888;
    hv_printf("alias at +0x1000: sees the write through the first mapping: %s, and its own at +0: %s\n",
              at(LA_4K + 0x1000)[7] == 0x7777 ? "yes" : "no", at(LA_4K)[8] == 0x8888 ? "yes" : "no");
    T_EQ(at(LA_4K + 0x1000)[7], 0x7777);
    T_EQ(at(LA_4K)[8], 0x8888);

    /* A third linear page on page B (remapping a used page is paging_tlb's). */
    hv_map(LA_4K + 0x5000, pa_b, PTE_P | PTE_W);
    hv_printf("LA +0x5000 -> page B: read %#llx\n", (unsigned long long)at(LA_4K + 0x5000)[0]);
    T_EQ(at(LA_4K + 0x5000)[0], 0xB000);

    /* ---- accessed and dirty flags (SDM 3A 4.8) ---- */
    volatile uint64_t *pte = hv_pte(LA_4K + 0x2000);
    volatile uint64_t *pde = pde_of(LA_4K + 0x2000);
    hv_map(LA_4K + 0x2000, pa_a, PTE_P | PTE_W);           /* A = D = 0 */
    *pde &= ~PTE_A;
    invlpg((void *)(uintptr_t)(LA_4K + 0x2000));
    hv_printf("fresh PTE: A=%llu D=%llu\n", (unsigned long long)((*pte >> 5) & 1),
              (unsigned long long)((*pte >> 6) & 1));
    T_EQ(*pte & (PTE_A | PTE_D), 0);
    (void)at(LA_4K + 0x2000)[1];
    hv_printf("after a read: PTE A=%llu D=%llu, PDE A=%llu\n", (unsigned long long)((*pte >> 5) & 1),
              (unsigned long long)((*pte >> 6) & 1), (unsigned long long)((*pde >> 5) & 1));
    T_EQ(*pte & (PTE_A | PTE_D), PTE_A);
    T_EQ(*pde & PTE_A, PTE_A);
    at(LA_4K + 0x2000)[1] = 0x42;
    hv_printf("after a write: PTE A=%llu D=%llu, PDE D=%llu (D is only in the leaf)\n",
              (unsigned long long)((*pte >> 5) & 1), (unsigned long long)((*pte >> 6) & 1),
              (unsigned long long)((*pde >> 6) & 1));
    T_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D);
    T_EQ(*pde & PTE_D, 0);

    /* First access a write: both flags at once. */
    volatile uint64_t *pte3 = hv_pte(LA_4K + 0x3000);
    hv_map(LA_4K + 0x3000, pa_b, PTE_P | PTE_W);
    at(LA_4K + 0x3000)[2] = 0x43;
    hv_printf("first access a write: A=%llu D=%llu\n", (unsigned long long)((*pte3 >> 5) & 1),
              (unsigned long long)((*pte3 >> 6) & 1));
    T_EQ(*pte3 & (PTE_A | PTE_D), PTE_A | PTE_D);

    /* Read-only page: reads set A only. */
    volatile uint64_t *pte4 = hv_pte(LA_4K + 0x4000);
    hv_map(LA_4K + 0x4000, pa_b, PTE_P);
    (void)at(LA_4K + 0x4000)[3];
    (void)at(LA_4K + 0x4000)[4];
    hv_printf("read-only page after reads: A=%llu D=%llu\n", (unsigned long long)((*pte4 >> 5) & 1),
              (unsigned long long)((*pte4 >> 6) & 1));
    T_EQ(*pte4 & (PTE_A | PTE_D), PTE_A);

    /* ---- a 1-GiB page: PDPTE with PS = 1 (SDM 3A table 4-15) ---- */
    uint32_t r[4];
    hv_cpuid(0x80000001, 0, r);
    hv_printf("CPUID.80000001H:EDX.Page1GB = %u\n", (r[3] >> 26) & 1);
    T_ASSERT(r[3] & (1u << 26), "no 1-GiB pages");
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    volatile uint64_t *pdpt = hv_page_alloc();
    pdpt[0] = 0 | PTE_P | PTE_W | PTE_PS;                   /* LA_1G -> physical 0, 1 GiB */
    pml4[(LA_1G >> 39) & 511] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W;
    __asm__ volatile("" ::: "memory");
    uint64_t mla = LA_1G + (uint64_t)(uintptr_t)&marker;
    hv_printf("1G page: read of a variable at LA_1G + its physical address: %#llx\n",
              (unsigned long long)*at(mla));
    T_EQ(*at(mla), 0x1122334455667788ull);
    T_EQ(pdpt[0] & (PTE_A | PTE_D), PTE_A);
    *at(mla) = 0x55AA;
    hv_printf("1G page: write through it seen at the identity address: %s; PDPTE A=%llu D=%llu\n",
              marker == 0x55AA ? "yes" : "no", (unsigned long long)((pdpt[0] >> 5) & 1),
              (unsigned long long)((pdpt[0] >> 6) & 1));
    T_EQ(marker, 0x55AA);
    T_EQ(pdpt[0] & (PTE_A | PTE_D), PTE_A | PTE_D);

    /* Far inside the page (offset 255 MiB): the same physical memory. */
    uint64_t far_pa = bi->mem_size - (1ull << 20);
    *at(far_pa) = 0xFA5;
    hv_printf("1G page: offset %#llx reads what identity %#llx holds: %s\n", (unsigned long long)far_pa,
              (unsigned long long)far_pa, *at(LA_1G + far_pa) == 0xFA5 ? "yes" : "no");
    T_EQ(*at(LA_1G + far_pa), 0xFA5);

    /* Split: hv_pte turns the 1-GiB page into 2-MiB pages and one of those
     * into 4-KiB pages; remapping one 4-KiB page leaves its neighbours. */
    uint64_t sla = LA_1G + 0x300000;
    hv_map(sla, pa_a, PTE_P | PTE_W);
    invlpg((void *)(uintptr_t)(sla + 0x1000));
    invlpg((void *)(uintptr_t)(LA_1G + 0x500000));
    uint64_t expect_next = *at(0x301000);
    hv_printf("after the split: PDPTE PS=%llu, remapped page reads page A: %s, neighbour still identity: %s, "
              "other 2-MiB page still identity: %s\n",
              (unsigned long long)((pdpt[0] >> 7) & 1), at(sla)[0] == a[0] ? "yes" : "no",
              *at(sla + 0x1000) == expect_next ? "yes" : "no",
              *at(LA_1G + 0x500000) == *at(0x500000) ? "yes" : "no");
    T_EQ(pdpt[0] & PTE_PS, 0);
    T_EQ(at(sla)[0], a[0]);
    T_EQ(*at(sla + 0x1000), expect_next);
    T_EQ(*at(LA_1G + 0x500000), *at(0x500000));
    T_DONE();
}
