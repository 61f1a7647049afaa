/*
 * mb_pae — PAE paging (SDM 3A 4.4) from a Multiboot kernel: the four PDPTE
 * registers (4.4.1), 4-KiB and 2-MiB pages, IA32_EFER.NXE with the XD bit
 * (4.6.2) and the #PF error code (4.7) for execute-disable and
 * reserved-bit faults.
 *
 * PDPTE registers (SDM 3A 4.4.1): MOV to CR3 (and the MOV to CR0/CR4 that
 * turns PAE paging on) loads the four PDPTEs from the 32-byte aligned PDPT
 * at CR3 into registers that the walk uses from then on; a PDPTE changed in
 * memory is not used until the next such load, INVLPG notwithstanding. If
 * a present PDPTE sets a reserved bit (table 4-8: 2:1, 8:5, 63:MAXPHYADDR)
 * the MOV to CR3 raises #GP(0) and nothing is loaded.
 *
 * Layout: identity map of [0, 16 MiB): 4-KiB pages on [0, 4 MiB) (user
 * only on [__user_start, __user_end)), 2-MiB pages above; test pages at
 * 0x40000000 (PDPTE 1, 4 KiB) and 0x80000000 (PDPTE 2, 2 MiB).
 */
#include "mb32.h"

#define MiB (1u << 20)
#define LA4K 0x40000000u
#define LA2M 0x80000000u

static uint64_t *pdpt;
static unsigned maxpa;

static void do_read(void *a) { (void)*(volatile uint32_t *)a; }
static void do_write(void *a) { *(volatile uint32_t *)a = 0x5A5A5A5Au; }
static void do_fetch(void *a) { ((void (*)(void))a)(); }
static void do_load_cr3(void *a) { write_cr3((uint32_t)(uintptr_t)a); }

static uint32_t pa_of(const void *p) { return (uint32_t)(uintptr_t)p; }
static uint32_t rd(uint32_t la) { return *(volatile uint32_t *)(uintptr_t)la; }
static void wr(uint32_t la, uint32_t v) { *(volatile uint32_t *)(uintptr_t)la = v; }
static void set64(uint64_t *p, uint64_t v) { *(volatile uint64_t *)p = v; }
static uint64_t get64(const uint64_t *p) { return *(const volatile uint64_t *)p; }

static void pf0(const char *what, void (*fn)(void *), uint32_t la, uint32_t want)
{
    mb_last_ec = mb_last_cr2 = ~0u;
    bool hit = mb_call_expect(14, fn, (void *)(uintptr_t)la);
    uint32_t ec = mb_last_ec;
    if (hit)
        mb_printf("%s: #PF error code %#x (P=%u W/R=%u U/S=%u RSVD=%u I/D=%u), CR2 = the address: %s\n", what, ec,
                  ec & 1, (ec >> 1) & 1, (ec >> 2) & 1, (ec >> 3) & 1, (ec >> 4) & 1, mb_yn(mb_last_cr2 == la));
    else
        mb_printf("%s: no #PF\n", what);
    T_CHECK(hit, "%s: no #PF", what);
    T_CHECK_EQ(ec, want);
    T_CHECK_EQ(mb_last_cr2, la);
}

static bool no_pf(void (*fn)(void *), uint32_t la) { return !mb_call_expect(14, fn, (void *)(uintptr_t)la); }

static void setup(void)
{
    uint32_t r[4];
    mb_cpuid(0x80000008, 0, r);
    maxpa = r[0] & 0xFF;
    pdpt = pae_new();
    uint32_t us = pa_of(__user_start), ue = pa_of(__user_end);
    for (uint32_t a = 0; a < 4 * MiB; a += 4096)
        pae_map4k(pdpt, a, a, PTE_P | PTE_W | (a >= us && a < ue ? PTE_U : 0));
    for (uint32_t a = 4 * MiB; a < 16 * MiB; a += 2 * MiB)
        pae_map2m(pdpt, a, a, PTE_P | PTE_W);
    /* The test ranges' PDPTEs must be present before MOV CR3 loads the
     * PDPTE registers: one made present later is not used (4.4.1). */
    pdpt[LA4K >> 30] = pa_of(mb_page_alloc()) | PTE_P;
    pdpt[LA2M >> 30] = pa_of(mb_page_alloc()) | PTE_P;
    T_ASSERT(pa_of(__kernel_end) <= 4 * MiB, "kernel ends at %p", (void *)__kernel_end);
    write_cr4(read_cr4() | CR4_PAE);
    write_cr3(pa_of(pdpt));
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
    uint64_t efer = rdmsr(MSR_EFER);
    mb_printf("PAE paging on: CR0.PG = %u, CR4.PAE = %u, EFER.LME = %u, CR3 = the PDPT: %s\n", read_cr0() >> 31,
              (read_cr4() >> 5) & 1, (unsigned)(efer >> 8) & 1, mb_yn(read_cr3() == pa_of(pdpt)));
    T_CHECK((read_cr0() & CR0_PG) && (read_cr4() & CR4_PAE) && !(efer & EFER_LME), "CR0 %#x CR4 %#x",
            read_cr0(), read_cr4());
    T_CHECK_EQ(read_cr3(), pa_of(pdpt));
}

static void pages(void)
{
    uint8_t *f = mb_page_alloc();
    pae_map4k(pdpt, LA4K, pa_of(f), PTE_P | PTE_W);
    wr(LA4K + 0x20, 0x4B4B4B4Bu);
    bool ok4 = *(volatile uint32_t *)(f + 0x20) == 0x4B4B4B4Bu;
    mb_printf("4-KiB page: a write at LA %#x lands at the PTE's frame + 0x20: %s\n", LA4K + 0x20, mb_yn(ok4));
    T_CHECK(ok4, "4-KiB");

    uint32_t la = LA2M + 0x1ABCD0, pa = 8 * MiB + 0x1ABCD0;
    pae_map2m(pdpt, LA2M, 8 * MiB, PTE_P | PTE_W);
    volatile uint64_t *pde = pae_pde(pdpt, LA2M);
    (void)rd(la);
    uint64_t after_read = *pde;
    wr(la, 0x2B2B2B2Bu);
    uint64_t after_write = *pde;
    bool ok2 = rd(pa) == 0x2B2B2B2Bu;
    mb_printf("2-MiB page (PDE.PS = 1): LA %#x -> PA %#x (PDE bits 51:21 + LA bits 20:0): %s\n", la, pa, mb_yn(ok2));
    mb_printf("2-MiB page: after a read PDE.A = %u, PDE.D = %u; after a write PDE.D = %u\n",
              (unsigned)(after_read >> 5) & 1, (unsigned)(after_read >> 6) & 1, (unsigned)(after_write >> 6) & 1);
    T_CHECK(ok2, "2-MiB");
    T_CHECK((after_read & PTE_A) && !(after_read & PTE_D) && (after_write & PTE_D), "PDE %#llx / %#llx",
            (unsigned long long)after_read, (unsigned long long)after_write);
}

static void pdpte_registers(void)
{
    /* LA4K + 0x1000 -> page A through PDPTE 1's directory (never accessed) */
    uint8_t *a = mb_page_alloc(), *b = mb_page_alloc();
    *(volatile uint32_t *)a = 0xAAAA0001u;
    *(volatile uint32_t *)b = 0xBBBB0002u;
    uint32_t la = LA4K + 0x1000;
    pae_map4k(pdpt, la, pa_of(a), PTE_P | PTE_W);
    /* a second directory mapping the same LA to page B */
    uint64_t *pd2 = mb_page_alloc(), *pt2 = mb_page_alloc();
    pd2[0] = pa_of(pt2) | PTE_P | PTE_W;
    pt2[1] = pa_of(b) | PTE_P | PTE_W;
    uint64_t old = get64(&pdpt[1]);
    set64(&pdpt[1], pa_of(pd2) | PTE_P);
    invlpg((void *)(uintptr_t)la);
    uint32_t v0 = rd(la);
    mb_printf("PDPTE 1 changed in memory, INVLPG, no MOV CR3: the walk used %s\n",
              v0 == 0xAAAA0001u ? "the old PDPTE (page A)" : v0 == 0xBBBB0002u ? "the new PDPTE (page B)" : "?");
    T_CHECK_EQ(v0, 0xAAAA0001u);
    write_cr3(read_cr3());
    uint32_t v1 = rd(la);
    mb_printf("after MOV CR3 (PDPTEs reloaded): the walk used %s\n",
              v1 == 0xAAAA0001u ? "the old PDPTE (page A)" : v1 == 0xBBBB0002u ? "the new PDPTE (page B)" : "?");
    T_CHECK_EQ(v1, 0xBBBB0002u);
    set64(&pdpt[1], old);
    write_cr3(read_cr3());

    /* PDPTE 3 was not present at the last MOV CR3: making it present in
     * memory changes nothing until the next one */
    uint8_t *c = mb_page_alloc();
    *(volatile uint32_t *)c = 0xCCCC0003u;
    uint64_t *pd3 = mb_page_alloc(), *pt3 = mb_page_alloc();
    pd3[0] = pa_of(pt3) | PTE_P | PTE_W;
    pt3[1] = pa_of(c) | PTE_P | PTE_W;
    uint32_t la3 = 0xC0001000u;
    set64(&pdpt[3], pa_of(pd3) | PTE_P);
    invlpg((void *)(uintptr_t)la3);
    pf0("PDPTE 3 made present in memory after MOV CR3, read", do_read, la3, 0x0);
    write_cr3(read_cr3());
    bool now = no_pf(do_read, la3) && rd(la3) == 0xCCCC0003u;
    mb_printf("after MOV CR3 the read through PDPTE 3 succeeds: %s\n", mb_yn(now));
    T_CHECK(now, "PDPTE 3 still not used");
    set64(&pdpt[3], 0);
    write_cr3(read_cr3());

    /* a reserved bit in a present PDPTE: MOV CR3 is #GP(0), CR3 unchanged */
    static const struct { unsigned bit; const char *name; } rsv[] = {
        { 1, "bit 1 (R/W position)" }, { 5, "bit 5" }, { 63, "bit 63 (XD position)" },
    };
    uint32_t cr3 = read_cr3();
    for (unsigned i = 0; i < sizeof rsv / sizeof rsv[0]; i++) {
        set64(&pdpt[3], pa_of(pd2) | PTE_P | (1ull << rsv[i].bit));
        mb_last_ec = ~0u;
        bool gp = mb_call_expect(13, do_load_cr3, (void *)(uintptr_t)cr3);
        mb_printf("present PDPTE 3 with %s set: MOV CR3 raises #GP(%#x): %s; CR3 unchanged: %s\n", rsv[i].name,
                  mb_last_ec, mb_yn(gp), mb_yn(read_cr3() == cr3));
        T_CHECK(gp, "no #GP for PDPTE bit %u", rsv[i].bit);
        T_CHECK_EQ(mb_last_ec, 0);
        T_CHECK_EQ(read_cr3(), cr3);
    }
    if (maxpa < 52) {
        set64(&pdpt[3], pa_of(pd2) | PTE_P | (1ull << maxpa));
        bool gp = mb_call_expect(13, do_load_cr3, (void *)(uintptr_t)cr3);
        mb_printf("present PDPTE 3 with bit MAXPHYADDR set: MOV CR3 raises #GP(%#x): %s\n", mb_last_ec, mb_yn(gp));
        T_CHECK(gp && mb_last_ec == 0, "no #GP(0) for PDPTE bit %u", maxpa);
    }
    /* not present: reserved bits are not checked */
    set64(&pdpt[3], 0x1E6u);                      /* bits 1, 2, 5-8, P = 0 */
    bool gp = mb_call_expect(13, do_load_cr3, (void *)(uintptr_t)cr3);
    mb_printf("PDPTE 3 not present with reserved bits set: MOV CR3 succeeds: %s\n", mb_yn(!gp));
    T_CHECK(!gp, "MOV CR3 faulted");
    set64(&pdpt[3], 0);
    write_cr3(cr3);
}

static void reserved_bits(void)
{
    uint32_t la = LA4K + 0x2000;
    uint8_t *f = mb_page_alloc();
    pae_map4k(pdpt, la, pa_of(f), PTE_P | PTE_W);
    uint64_t *pte = pae_pte(pdpt, la);
    set64(pte, get64(pte) | (1ull << maxpa));
    pf0("read, PTE bit MAXPHYADDR set", do_read, la, 0x9);
    pf0("write, PTE bit MAXPHYADDR set", do_write, la + 8, 0xB);
    set64(pte, pa_of(f) | PTE_P | PTE_W);
    invlpg((void *)(uintptr_t)la);

    uint32_t la2 = LA2M + 0x200000;
    pae_map2m(pdpt, la2, 10 * MiB, PTE_P | PTE_W);
    uint64_t *pde = pae_pde(pdpt, la2);
    set64(pde, get64(pde) | (1ull << 13));      /* 2-MiB PDE bits 20:13 are reserved (table 4-9) */
    pf0("read, 2-MiB PDE with bit 13 set", do_read, la2 + 0x30, 0x9);
    set64(pde, 0);
    invlpg((void *)(uintptr_t)la2);
}

static void execute_disable(void)
{
    uint32_t r[4];
    mb_cpuid(0x80000001, 0, r);
    bool nx = (r[3] >> 20) & 1;
    mb_printf("CPUID.80000001H:EDX.NX = %u\n", nx);
    uint8_t *code = mb_page_alloc();
    code[0] = 0xC3;                               /* RET */
    *(volatile uint32_t *)(code + 0x100) = 0x0D0D0D0Du;
    uint32_t la_x = LA4K + 0x3000, la_xd = LA4K + 0x4000;
    pae_map4k(pdpt, la_x, pa_of(code), PTE_P);
    pae_map4k(pdpt, la_xd, pa_of(code), PTE_P | PTE_XD);

    /* IA32_EFER.NXE = 0: XD is a reserved bit (table 4-11), fetches never set I/D */
    uint64_t efer = rdmsr(MSR_EFER);
    mb_printf("EFER.NXE = %u\n", (unsigned)(efer >> 11) & 1);
    T_CHECK(!(efer & EFER_NXE), "EFER %#llx", (unsigned long long)efer);
    pf0("EFER.NXE = 0: read through a PTE with XD set", do_read, la_xd + 0x100, 0x9);
    pf0("EFER.NXE = 0: fetch, PTE not present", do_fetch, LA4K + 0x5000, 0x0);
    if (!nx)
        return;

    wrmsr(MSR_EFER, efer | EFER_NXE);
    mb_printf("EFER.NXE = %u\n", (unsigned)(rdmsr(MSR_EFER) >> 11) & 1);
    bool ran = no_pf(do_fetch, la_x);
    mb_printf("EFER.NXE = 1: fetch from a page with XD = 0 runs: %s\n", mb_yn(ran));
    T_CHECK(ran, "fetch faulted");
    uint32_t v = 0;
    bool rok = no_pf(do_read, la_xd + 0x100);
    if (rok)
        v = rd(la_xd + 0x100);
    mb_printf("EFER.NXE = 1: read through a PTE with XD set: %s\n", rok && v == 0x0D0D0D0Du ? "allowed" : "FAILED");
    T_CHECK(rok && v == 0x0D0D0D0Du, "read %#x", v);
    pf0("EFER.NXE = 1: fetch from a page with XD = 1", do_fetch, la_xd, 0x11);
    pf0("EFER.NXE = 1: fetch, PTE not present", do_fetch, LA4K + 0x5000, 0x10);
    /* XD in the PDE applies to every page below it (SDM 3A 4.6.2) */
    uint32_t la_pd = LA4K + 0x600000;
    pae_map4k(pdpt, la_pd, pa_of(code), PTE_P);
    uint64_t *pde = pae_pde(pdpt, la_pd);
    set64(pde, get64(pde) | PTE_XD);
    pf0("EFER.NXE = 1: fetch, PTE XD = 0 but PDE XD = 1", do_fetch, la_pd, 0x11);
    wrmsr(MSR_EFER, efer);
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    (void)mbi;
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    mb_cpu_init();
    setup();
    pages();
    pdpte_registers();
    reserved_bits();
    execute_disable();
    mb_printf("CR2 = %#x (the last #PF's address)\n", read_cr2());
    T_DONE();
}
