/*
 * paging.c — page-table builders for the three paging modes a 32-bit
 * kernel can turn on, from a pool of zeroed 4-KiB pages in the kernel's
 * bss. The tables are built with paging off (or identity-mapped) and hold
 * physical addresses; nothing here writes CR0/CR3/CR4 (the kernels do, so
 * that every control-register write is visible in their source).
 *
 * 32-bit paging (SDM 3A 4.3), 4-byte entries:
 *   PDE (PS=0): 31:12 page table | 8 G(ign) 7 PS=0 6 ign 5 A 4 PCD 3 PWT 2 U/S 1 R/W 0 P
 *   PDE (PS=1): 31:22 4-MiB frame | 21:13 PA[39:32] (PSE-36) | 12 PAT | 8 G 7 PS 6 D 5 A ...
 *   PTE:        31:12 4-KiB frame | 8 G 7 PAT 6 D 5 A 4 PCD 3 PWT 2 U/S 1 R/W 0 P
 *   la = PDI[31:22] | PTI[21:12] | offset[11:0]
 *
 * PAE paging (SDM 3A 4.4), 8-byte entries:
 *   PDPTE: 51:12 page directory | 4 PCD 3 PWT 0 P; bits 2:1, 8:5 and
 *          63:MAXPHYADDR reserved (table 4-8)
 *   PDE (PS=1): 2-MiB frame 51:21 | 63 XD | 7 PS 6 D 5 A ...
 *   PDE (PS=0) / PTE: 51:12 | 63 XD | ...
 *   la = PDPTI[31:30] | PDI[29:21] | PTI[20:12] | offset[11:0]
 *
 * 4-level paging (SDM 3A 4.5): PML4E -> PDPTE -> PDE (PS=1, 2 MiB).
 */
#include "mb32.h"

#define POOL_PAGES 96
static uint8_t pool[POOL_PAGES * 4096] __attribute__((aligned(4096)));
static unsigned pool_used;

void *mb_page_alloc(void)
{
    if (pool_used >= POOL_PAGES) {
        mb_puts("FAIL: page pool exhausted\n");
        mb_exit(1);
    }
    void *p = pool + 4096 * pool_used++;
    memset(p, 0, 4096);
    return p;
}

static uint32_t pa_of(const void *p) { return (uint32_t)(uintptr_t)p; }

/* ---- 32-bit paging ---- */
uint32_t *pg32_new(void) { return mb_page_alloc(); }

uint32_t *pg32_pde(uint32_t *pd, uint32_t la) { return &pd[la >> 22]; }

uint32_t *pg32_pte(uint32_t *pd, uint32_t la)
{
    uint32_t pde = pd[la >> 22];
    if (!(pde & PTE_P) || (pde & PTE_PS))
        return NULL;
    return &((uint32_t *)(uintptr_t)(pde & 0xFFFFF000u))[(la >> 12) & 0x3FF];
}

void pg32_map4k(uint32_t *pd, uint32_t la, uint32_t pa, uint32_t flags)
{
    uint32_t *pde = &pd[la >> 22];
    if (!(*pde & PTE_P) || (*pde & PTE_PS))
        *pde = pa_of(mb_page_alloc()) | PTE_P | PTE_W | PTE_U;
    uint32_t *pt = (uint32_t *)(uintptr_t)(*pde & 0xFFFFF000u);
    pt[(la >> 12) & 0x3FF] = (pa & 0xFFFFF000u) | flags;
}

void pg32_map4m(uint32_t *pd, uint32_t la, uint32_t pa, uint32_t flags)
{
    pd[la >> 22] = (pa & 0xFFC00000u) | flags | PTE_PS;
}

/* ---- PAE paging ---- */
uint64_t *pae_new(void) { return mb_page_alloc(); }   /* 4-KiB aligned, so 32-byte aligned */

static uint64_t *pae_dir(uint64_t *pdpt, uint32_t la)
{
    uint64_t *e = &pdpt[la >> 30];
    if (!(*e & PTE_P))
        *e = pa_of(mb_page_alloc()) | PTE_P;          /* a PDPTE has no R/W or U/S (reserved) */
    return (uint64_t *)(uintptr_t)(uint32_t)(*e & 0xFFFFF000u);
}

uint64_t *pae_pde(uint64_t *pdpt, uint32_t la)
{
    if (!(pdpt[la >> 30] & PTE_P))
        return NULL;
    return &pae_dir(pdpt, la)[(la >> 21) & 0x1FF];
}

uint64_t *pae_pte(uint64_t *pdpt, uint32_t la)
{
    uint64_t *pde = pae_pde(pdpt, la);
    if (!pde || !(*pde & PTE_P) || (*pde & PTE_PS))
        return NULL;
    return &((uint64_t *)(uintptr_t)(uint32_t)(*pde & 0xFFFFF000u))[(la >> 12) & 0x1FF];
}

void pae_map4k(uint64_t *pdpt, uint32_t la, uint64_t pa, uint64_t flags)
{
    uint64_t *pde = &pae_dir(pdpt, la)[(la >> 21) & 0x1FF];
    if (!(*pde & PTE_P) || (*pde & PTE_PS))
        *pde = pa_of(mb_page_alloc()) | PTE_P | PTE_W | PTE_U;
    uint64_t *pt = (uint64_t *)(uintptr_t)(uint32_t)(*pde & 0xFFFFF000u);
    pt[(la >> 12) & 0x1FF] = (pa & ~0xFFFull & ~PTE_XD) | flags;
}

void pae_map2m(uint64_t *pdpt, uint32_t la, uint64_t pa, uint64_t flags)
{
    pae_dir(pdpt, la)[(la >> 21) & 0x1FF] = (pa & ~0x1FFFFFull & ~PTE_XD) | flags | PTE_PS;
}

/* ---- 4-level paging ---- */
uint64_t *lm_new_identity(uint64_t bytes)
{
    uint64_t *pml4 = mb_page_alloc();
    uint64_t *pdpt = mb_page_alloc();
    pml4[0] = pa_of(pdpt) | PTE_P | PTE_W;
    for (uint64_t a = 0; a < bytes; a += 2ull << 20) {
        unsigned gi = (unsigned)(a >> 30), mi = (unsigned)(a >> 21) & 0x1FF;
        if (gi >= 512)
            break;
        if (!(pdpt[gi] & PTE_P))
            pdpt[gi] = pa_of(mb_page_alloc()) | PTE_P | PTE_W;
        uint64_t *pd = (uint64_t *)(uintptr_t)(uint32_t)(pdpt[gi] & 0xFFFFF000u);
        pd[mi] = a | PTE_P | PTE_W | PTE_PS;
    }
    return pml4;
}
