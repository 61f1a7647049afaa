/*
 * pcid — process-context identifiers and INVPCID: translations are tagged
 * with the PCID current when they were cached; MOV to CR3 with bit 63 set
 * keeps them, without it flushes the new PCID's non-global entries; INVPCID
 * invalidates by address, by context, or everything, with its #GP checks.
 *
 * SDM 3A 4.10.1 (PCIDs), 4.10.2.4 (caching with PCIDs), 4.10.4.1 (MOV to CR3
 * with CR4.PCIDE = 1), 4.10.4.2; SDM 2A INVPCID (types 0-3, descriptor
 * bits 63:12 reserved, non-canonical address, #GP conditions); SDM 3A 2.5
 * (CR4.PCIDE may be set only with CR3[11:0] = 0 in IA-32e mode).
 */
#include "hvsim.h"

#define LA 0x0000040000000000ull          /* PML4 slot 8, 4-KiB pages */
#define NOFLUSH (1ull << 63)

static uint64_t rd(uint64_t la) { return *(volatile uint64_t *)(uintptr_t)la; }

static const char *which(uint64_t v)
{
    return v == 0xAAAA ? "A" : v == 0xBBBB ? "B" : "?";
}

static void invpcid(uint64_t type, uint64_t pcid, uint64_t la)
{
    struct { uint64_t pcid, la; } d = { pcid, la };
    __asm__ volatile("invpcid %0, %1" :: "m"(d), "r"(type) : "memory");
}

static void set_cr4_pcide(void *arg) { write_cr4(read_cr4() | CR4_PCIDE); (void)arg; }
static void invpcid_bad_type(void *arg) { invpcid(4, 0, 0); (void)arg; }
static void invpcid_rsvd(void *arg) { invpcid(1, 1ull << 12, 0); (void)arg; }
static void invpcid_noncanon(void *arg) { invpcid(0, 1, 0x0000800000000000ull); (void)arg; }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    hv_cpu_init();
    uint32_t r[4];
    hv_cpuid(1, 0, r);
    T_ASSERT(r[2] & (1u << 17), "CPUID.1:ECX.PCID is clear");
    hv_cpuid(7, 0, r);
    T_ASSERT(r[1] & (1u << 10), "CPUID.7:EBX.INVPCID is clear");

    uint64_t *a = hv_page_alloc(), *b = hv_page_alloc();
    a[0] = 0xAAAA;
    b[0] = 0xBBBB;
    uint64_t pa_a = (uint64_t)(uintptr_t)a, pa_b = (uint64_t)(uintptr_t)b;
    uint64_t base = read_cr3() & ~0xFFFull;

    /* CR4.PCIDE with CR3[11:0] != 0 is refused. */
    write_cr3(base | 1);
    T_CHECK_EQ(hv_call_expect(13, set_cr4_pcide, 0), 1);
    hv_printf("PCIDE with CR3[11:0] = 1: #GP(%llu)\n", (unsigned long long)hv_last_ec);
    write_cr3(base);
    write_cr4(read_cr4() | CR4_PCIDE);
    hv_printf("PCIDE set with PCID 0\n");

    /* Cache LA -> A under PCID 1, then point the PTE at B (no invalidation). */
    volatile uint64_t *pte = hv_pte(LA);
    write_cr3(base | 1);
    *pte = pa_a | PTE_P | PTE_W;
    invpcid(0, 1, LA);
    uint64_t v1 = rd(LA);
    *pte = pa_b | PTE_P | PTE_W;
    hv_printf("PCID 1: %s, PTE now names B\n", which(v1));
    T_CHECK_EQ(v1, 0xAAAA);

    /* PCID 2 runs (with another page of its own), then PCID 1 resumes. */
    volatile uint64_t *pte2 = hv_pte(LA + 0x1000);
    *pte2 = pa_b | PTE_P | PTE_W;
    write_cr3(base | 2 | NOFLUSH);
    uint64_t v2 = rd(LA + 0x1000);
    hv_printf("PCID 2 (no flush), its own page: %s\n", which(v2));
    T_CHECK_EQ(v2, 0xBBBB);

    /* Back to PCID 1 with bit 63 set: its stale entry is still there. */
    write_cr3(base | 1 | NOFLUSH);
    uint64_t v3 = rd(LA);
    hv_printf("PCID 1 again (no flush): %s (retained)\n", which(v3));
    T_CHECK_EQ(v3, 0xAAAA);

    /* INVPCID type 0 for another PCID leaves PCID 1 alone ... */
    invpcid(0, 2, LA);
    uint64_t v4 = rd(LA);
    hv_printf("INVPCID individual-address for PCID 2: PCID 1 still %s\n", which(v4));
    T_CHECK_EQ(v4, 0xAAAA);
    /* ... and for PCID 1 removes it. */
    invpcid(0, 1, LA);
    uint64_t v5 = rd(LA);
    hv_printf("INVPCID individual-address for PCID 1: %s\n", which(v5));
    T_CHECK_EQ(v5, 0xBBBB);

    /* Type 1 (single context): cache A again, then flush the context. */
    *pte = pa_a | PTE_P | PTE_W;
    invpcid(0, 1, LA);
    (void)rd(LA);
    *pte = pa_b | PTE_P | PTE_W;
    invpcid(1, 1, 0);
    uint64_t v6 = rd(LA);
    hv_printf("INVPCID single-context: %s\n", which(v6));
    T_CHECK_EQ(v6, 0xBBBB);

    /* MOV to CR3 without bit 63 flushes the new PCID's entries. */
    *pte = pa_a | PTE_P | PTE_W;
    invpcid(0, 1, LA);
    (void)rd(LA);
    *pte = pa_b | PTE_P | PTE_W;
    write_cr3(base | 1);
    uint64_t v7 = rd(LA);
    hv_printf("MOV CR3 to PCID 1 without bit 63: %s\n", which(v7));
    T_CHECK_EQ(v7, 0xBBBB);

    /* Global entry: survives type 3 (all but globals), not type 2. */
    *pte = pa_a | PTE_P | PTE_W | PTE_G;
    write_cr4(read_cr4() | CR4_PGE);
    invpcid(2, 0, 0);
    (void)rd(LA);
    *pte = pa_b | PTE_P | PTE_W | PTE_G;
    invpcid(3, 0, 0);
    uint64_t v8 = rd(LA);
    hv_printf("INVPCID all-but-globals: global entry %s (kept)\n", which(v8));
    T_CHECK_EQ(v8, 0xAAAA);
    invpcid(2, 0, 0);
    uint64_t v9 = rd(LA);
    hv_printf("INVPCID all-including-globals: %s\n", which(v9));
    T_CHECK_EQ(v9, 0xBBBB);

    /* #GP conditions. */
    T_CHECK_EQ(hv_call_expect(13, invpcid_bad_type, 0), 1);
    hv_printf("INVPCID type 4: #GP(%llu)\n", (unsigned long long)hv_last_ec);
    T_CHECK_EQ(hv_call_expect(13, invpcid_rsvd, 0), 1);
    hv_printf("INVPCID with descriptor bits 63:12 set: #GP(%llu)\n", (unsigned long long)hv_last_ec);
    T_CHECK_EQ(hv_call_expect(13, invpcid_noncanon, 0), 1);
    hv_printf("INVPCID individual address, non-canonical: #GP(%llu)\n", (unsigned long long)hv_last_ec);
    T_DONE();
}
