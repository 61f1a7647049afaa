/*
 * mb_paging32 — 32-bit paging (SDM 3A 4.3) from a Multiboot kernel: 4-KiB
 * pages and 4-MiB pages (CR4.PSE), the #PF error code (SDM 3A 4.7) and CR2
 * for each kind of failed translation, CR0.WP on supervisor writes (4.6.1),
 * the accessed and dirty flags set by the walk (4.8) and INVLPG / MOV CR3
 * making a changed PTE visible (4.10.4.1).
 *
 * Layout (identity map of the first 16 MiB, so the kernel, its stacks and
 * the page pool stay where they are):
 *   [0, 4 MiB)        one page table of 4-KiB pages, supervisor read/write,
 *                     user read/write on [__user_start, __user_end) only;
 *   [4 MiB, 16 MiB)   three 4-MiB pages (PDE.PS = 1), supervisor;
 *   0x40000000...     4-KiB test pages backed by pool frames;
 *   0x80000000...     4-MiB test pages backed by [8 MiB, 16 MiB).
 *
 * Error-code bits (SDM 3A 4.7, figure 4-12): P 0, W/R 1, U/S 2, RSVD 3,
 * I/D 4. In 32-bit paging I/D is set on an instruction fetch only with
 * CR4.SMEP = 1 (there is no XD: the I/D rule of 4.7 needs SMEP, or PAE with
 * IA32_EFER.NXE). Every fault here is provoked at CPL 0 through
 * mb_call_expect(), or at CPL 3 through mb_run_user() with mb_expect().
 */
#include "mb32.h"

#define MiB (1u << 20)
#define LA4K   0x40000000u      /* 4-KiB test pages, one per 0x1000 */
#define LA4M   0x80000000u      /* 4-MiB test pages */

static uint32_t *pd;

/* ---- accesses run by mb_call_expect ---- */
static void do_read(void *a) { (void)*(volatile uint32_t *)a; }
static void do_write(void *a) { *(volatile uint32_t *)a = 0x5A5A5A5Au; }
static void do_fetch(void *a) { ((void (*)(void))a)(); }

/* ---- ring 3 ---- */
static MB_USER_DATA volatile uint32_t user_target;
static MB_USER_DATA uint8_t user_stack[4096] __attribute__((aligned(16)));
static MB_USER void user_read(void) { mb_user_return(*(volatile uint32_t *)user_target); }
static MB_USER void user_write(void)
{
    *(volatile uint32_t *)user_target = 0x0BADC0DEu;
    mb_user_return(1);
}

static void ec_bits(char *buf, size_t n, uint32_t ec)
{
    mb_snprintf(buf, n, "P=%u W/R=%u U/S=%u RSVD=%u I/D=%u", ec & 1, (ec >> 1) & 1, (ec >> 2) & 1,
                (ec >> 3) & 1, (ec >> 4) & 1);
}

/* Run fn(la) at CPL 0 expecting #PF with error code want and CR2 = la. */
static void pf0(const char *what, void (*fn)(void *), uint32_t la, uint32_t want)
{
    mb_last_ec = mb_last_cr2 = ~0u;
    bool hit = mb_call_expect(14, fn, (void *)(uintptr_t)la);
    char b[64];
    ec_bits(b, sizeof b, mb_last_ec);
    if (hit)
        mb_printf("%s: #PF error code %#x (%s), CR2 = the address: %s\n", what, mb_last_ec, b,
                  mb_yn(mb_last_cr2 == la));
    else
        mb_printf("%s: no #PF\n", what);
    T_CHECK(hit, "%s: no #PF", what);
    T_CHECK_EQ(mb_last_ec, want);
    T_CHECK_EQ(mb_last_cr2, la);
}

/* Same from CPL 3: user code accesses user_target = la. */
static void pf3(const char *what, void (*fn)(void), uint32_t la, uint32_t want)
{
    user_target = la;
    mb_last_ec = mb_last_cr2 = ~0u;
    mb_expect(14);
    uint32_t r = mb_run_user(fn, user_stack + sizeof user_stack);
    mb_expect_cancel();
    char b[64];
    ec_bits(b, sizeof b, mb_last_ec);
    if (r == ~0u)
        mb_printf("%s: #PF error code %#x (%s), CR2 = the address: %s, from CS = %#x\n", what, mb_last_ec, b,
                  mb_yn(mb_last_cr2 == la), mb_last_cs);
    else
        mb_printf("%s: no #PF\n", what);
    T_CHECK(r == ~0u, "%s: no #PF (returned %#x)", what, r);
    T_CHECK_EQ(mb_last_ec, want);
    T_CHECK_EQ(mb_last_cr2, la);
    T_CHECK_EQ(mb_last_cs, SEL_UCODE);
}

static bool no_pf(void (*fn)(void *), uint32_t la)
{
    bool hit = mb_call_expect(14, fn, (void *)(uintptr_t)la);
    return !hit;
}

static uint32_t pa_of(const void *p) { return (uint32_t)(uintptr_t)p; }
static uint32_t rd(uint32_t la) { return *(volatile uint32_t *)(uintptr_t)la; }
static void wr(uint32_t la, uint32_t v) { *(volatile uint32_t *)(uintptr_t)la = v; }

static void setup(void)
{
    pd = pg32_new();
    uint32_t us = pa_of(__user_start), ue = pa_of(__user_end);
    for (uint32_t a = 0; a < 4 * MiB; a += 4096)
        pg32_map4k(pd, a, a, PTE_P | PTE_W | (a >= us && a < ue ? PTE_U : 0));
    for (uint32_t a = 4 * MiB; a < 16 * MiB; a += 4 * MiB)
        pg32_map4m(pd, a, a, PTE_P | PTE_W);
    T_ASSERT(pa_of(__kernel_end) <= 4 * MiB, "kernel ends at %p", (void *)__kernel_end);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3(pa_of(pd));
    write_cr0(read_cr0() | CR0_PG);
    uint32_t cr0 = read_cr0(), cr4 = read_cr4();
    mb_printf("32-bit paging on: CR0.PG = %u, CR4.PAE = %u, CR4.PSE = %u, CR3 = the page directory: %s\n",
              cr0 >> 31, (cr4 >> 5) & 1, (cr4 >> 4) & 1, mb_yn(read_cr3() == pa_of(pd)));
    T_CHECK(cr0 & CR0_PG, "CR0 %#x", cr0);
    T_CHECK(!(cr4 & CR4_PAE) && (cr4 & CR4_PSE), "CR4 %#x", cr4);
    T_CHECK_EQ(read_cr3(), pa_of(pd));
}

static void pages(void)
{
    /* 4 KiB: LA -> frame, and a second LA aliasing the same frame */
    uint8_t *f = mb_page_alloc();
    pg32_map4k(pd, LA4K, pa_of(f), PTE_P | PTE_W);
    pg32_map4k(pd, LA4K + 0x1000, pa_of(f), PTE_P | PTE_W);
    wr(LA4K + 0x10, 0x11223344u);
    bool phys = *(volatile uint32_t *)(f + 0x10) == 0x11223344u;
    bool alias = rd(LA4K + 0x1010) == 0x11223344u;
    mb_printf("4-KiB page: a write at LA %#x lands at the PTE's frame + 0x10: %s; a second PTE naming the "
              "frame sees it: %s\n", LA4K + 0x10, mb_yn(phys), mb_yn(alias));
    T_CHECK(phys, "frame %p", (void *)f);
    T_CHECK(alias, "alias");

    /* 4 MiB: PA = PDE[31:22] | LA[21:0] */
    pg32_map4m(pd, LA4M, 8 * MiB, PTE_P | PTE_W);
    uint32_t la = LA4M + 0x2ABCD0, pa = 8 * MiB + 0x2ABCD0;
    wr(la, 0xCAFE4D00u);
    bool ok = rd(pa) == 0xCAFE4D00u;    /* [8, 12) MiB is identity-mapped */
    mb_printf("4-MiB page (CR4.PSE = 1, PDE.PS = 1): LA %#x -> PA %#x (PDE bits 31:22 + LA bits 21:0): %s\n",
              la, pa, mb_yn(ok));
    T_CHECK(ok, "read %#x at PA %#x", rd(pa), pa);

    /* CR4.PSE = 0: PS in a PDE is ignored, the PDE references a page table
     * (SDM 3A 4.3). Put a PTE where the 4-MiB frame's first page would be
     * read as a table, then clear PSE; until PSE is back only the first
     * 4 MiB (4-KiB pages) and the test LA are touched. */
    uint8_t *g = mb_page_alloc();
    wr(8 * MiB + 4 * ((la >> 12) & 0x3FF), pa_of(g) | PTE_P | PTE_W);
    *(volatile uint32_t *)(g + (la & 0xFFF)) = 0x7AB1E000u;
    write_cr4(read_cr4() & ~CR4_PSE);
    uint32_t v = rd(la);
    write_cr4(read_cr4() | CR4_PSE);
    mb_printf("CR4.PSE = 0: the same PDE (PS = 1) is read as a page-table pointer: %s\n",
              mb_yn(v == 0x7AB1E000u));
    T_CHECK_EQ(v, 0x7AB1E000u);
}

static void accessed_dirty(void)
{
    /* a fresh page table (new PDE) and a fresh PTE, A = D = 0 */
    uint32_t la = LA4K + 0x400000;
    pg32_map4k(pd, la, pa_of(mb_page_alloc()), PTE_P | PTE_W);
    volatile uint32_t *pde = pg32_pde(pd, la), *pte = pg32_pte(pd, la);
    mb_printf("fresh 4-KiB mapping: PDE.A = %u, PTE.A = %u, PTE.D = %u\n", (*pde >> 5) & 1, (*pte >> 5) & 1,
              (*pte >> 6) & 1);
    T_CHECK(!(*pde & PTE_A) && !(*pte & (PTE_A | PTE_D)), "PDE %#x PTE %#x", *pde, *pte);
    (void)rd(la);
    uint32_t e1 = *pde, t1 = *pte;
    mb_printf("after a read: PDE.A = %u, PTE.A = %u, PTE.D = %u\n", (e1 >> 5) & 1, (t1 >> 5) & 1, (t1 >> 6) & 1);
    T_CHECK((e1 & PTE_A) && (t1 & PTE_A) && !(t1 & PTE_D), "PDE %#x PTE %#x", e1, t1);
    wr(la, 1);
    uint32_t e2 = *pde, t2 = *pte;
    mb_printf("after a write: PTE.D = %u; PDE bit 6 (ignored in a PDE that references a table) = %u\n",
              (t2 >> 6) & 1, (e2 >> 6) & 1);
    T_CHECK(t2 & PTE_D, "PTE %#x", t2);
    T_CHECK(!(e2 & PTE_D), "PDE %#x", e2);

    /* a 4-MiB page: A and D are in the PDE itself */
    uint32_t la4 = LA4M + 0x400000;
    pg32_map4m(pd, la4, 12 * MiB, PTE_P | PTE_W);
    volatile uint32_t *p4 = pg32_pde(pd, la4);
    (void)rd(la4 + 0x100);
    uint32_t r4 = *p4;
    wr(la4 + 0x100, 2);
    uint32_t w4 = *p4;
    mb_printf("4-MiB page: after a read PDE.A = %u, PDE.D = %u; after a write PDE.D = %u\n", (r4 >> 5) & 1,
              (r4 >> 6) & 1, (w4 >> 6) & 1);
    T_CHECK((r4 & PTE_A) && !(r4 & PTE_D), "PDE %#x", r4);
    T_CHECK(w4 & PTE_D, "PDE %#x", w4);
}

static void not_present(void)
{
    pf0("read, PTE not present", do_read, LA4K + 0x3000, 0x0);
    pf0("write, PTE not present", do_write, LA4K + 0x3008, 0x2);
    pf0("read, PDE not present", do_read, 0x50000010u, 0x0);
    pf0("write, 4-MiB PDE not present", do_write, LA4M + 0xC00000 + 0x20, 0x2);
}

static void write_protect(void)
{
    uint8_t *f = mb_page_alloc();
    uint32_t la = LA4K + 0x4000;
    pg32_map4k(pd, la, pa_of(f), PTE_P);          /* read-only, supervisor */

    write_cr0(read_cr0() & ~CR0_WP);
    bool ok0 = no_pf(do_write, la + 0x40);
    uint32_t seen = *(volatile uint32_t *)(f + 0x40);
    mb_printf("CR0.WP = 0: a supervisor write to a read-only page succeeds: %s\n",
              mb_yn(ok0 && seen == 0x5A5A5A5Au));
    T_CHECK(ok0 && seen == 0x5A5A5A5Au, "fault %u, wrote %#x", !ok0, seen);

    write_cr0(read_cr0() | CR0_WP);
    invlpg((void *)(uintptr_t)la);
    pf0("CR0.WP = 1: supervisor write to a read-only PTE", do_write, la + 0x44, 0x3);
    bool rok = no_pf(do_read, la + 0x40);
    mb_printf("CR0.WP = 1: a supervisor read of the read-only page succeeds: %s\n", mb_yn(rok));
    T_CHECK(rok, "read faulted");

    /* read-only at the PDE: R/W is the AND of both levels (SDM 3A 4.6) */
    uint32_t la2 = LA4K + 0x800000;
    pg32_map4k(pd, la2, pa_of(mb_page_alloc()), PTE_P | PTE_W);
    *pg32_pde(pd, la2) &= ~PTE_W;
    invlpg((void *)(uintptr_t)la2);
    pf0("CR0.WP = 1: supervisor write, PTE writable but PDE read-only", do_write, la2, 0x3);
}

static void reserved_bits(bool probe_low)
{
    uint32_t r[4];
    mb_cpuid(1, 0, r);
    bool pse36 = (r[3] >> 17) & 1;
    mb_cpuid(0x80000000, 0, r);
    unsigned maxpa = 36;
    if (r[0] >= 0x80000008) {
        mb_cpuid(0x80000008, 0, r);
        maxpa = r[0] & 0xFF;
    }
    /* SDM 3A 4.3, table 4-4: bits 21:(M-19) of a 4-MiB PDE are reserved,
     * M = min(40, MAXPHYADDR) with PSE-36, 32 without (bits 21:13). */
    unsigned m = pse36 ? (maxpa < 40 ? maxpa : 40) : 32;
    mb_printf("CPUID: PSE-36 = %u, MAXPHYADDR = %u: a 4-MiB PDE has reserved bits 21:%u\n", pse36, maxpa,
              m - 19);
    uint32_t la = LA4M + 0x800000;
    *pg32_pde(pd, la) = 12 * MiB | (1u << 21) | PTE_PS | PTE_P | PTE_W;
    invlpg((void *)(uintptr_t)la);
    pf0("read, 4-MiB PDE with bit 21 set", do_read, la + 0x10, 0x9);
    pf0("write, 4-MiB PDE with bit 21 set", do_write, la + 0x14, 0xB);
    if (m - 19 < 21 && probe_low) {
        /* the lowest reserved bit too (bit 13 without PSE-36); only with
         * the command line word "probe-low-rsvd": hvsim 0.1 walks bits
         * 20:13 as PSE-36 address bits although its CPUID says no PSE-36
         * (docs/multiboot.md, mb_paging32) */
        unsigned b = m - 19;
        char what[64];
        mb_snprintf(what, sizeof what, "read, 4-MiB PDE with bit %u set", b);
        *pg32_pde(pd, la) = 12 * MiB | (1u << b) | PTE_PS | PTE_P | PTE_W;
        invlpg((void *)(uintptr_t)la);
        pf0(what, do_read, la + 0x18, 0x9);
    }
    *pg32_pde(pd, la) = 0;
    invlpg((void *)(uintptr_t)la);
}

static void fetches(void)
{
    /* a 4-KiB page holding RET, mapped for user and for supervisor */
    uint8_t *code = mb_page_alloc();
    code[0] = 0xC3;
    uint32_t la_u = LA4K + 0x6000, la_s = LA4K + 0x7000;
    pg32_map4k(pd, la_u, pa_of(code), PTE_P | PTE_U);
    pg32_map4k(pd, la_s, pa_of(code), PTE_P);
    bool ran = no_pf(do_fetch, la_s);
    mb_printf("supervisor fetch from a present supervisor page: runs: %s\n", mb_yn(ran));
    T_CHECK(ran, "fetch faulted");
    pf0("supervisor fetch, PTE not present, CR4.SMEP = 0", do_fetch, LA4K + 0x5000, 0x0);

    uint32_t r[4];
    mb_cpuid(0, 0, r);
    bool smep = false;
    if (r[0] >= 7) {
        mb_cpuid(7, 0, r);
        smep = (r[1] >> 7) & 1;
    }
    mb_printf("CPUID.7.0:EBX.SMEP = %u\n", smep);
    if (!smep)
        return;
    write_cr4(read_cr4() | (1u << 20));
    pf0("supervisor fetch, PTE not present, CR4.SMEP = 1", do_fetch, LA4K + 0x5000, 0x10);
    pf0("supervisor fetch from a user page, CR4.SMEP = 1", do_fetch, la_u, 0x11);
    write_cr4(read_cr4() & ~(1u << 20));
}

static void user(void)
{
    uint8_t *f = mb_page_alloc();
    uint32_t la_ro = LA4K + 0x9000, la_rw = LA4K + 0xA000;
    *(volatile uint32_t *)f = 0x55E12EADu;
    pg32_map4k(pd, la_ro, pa_of(f), PTE_P | PTE_U);
    pg32_map4k(pd, la_rw, pa_of(f), PTE_P | PTE_W | PTE_U);
    user_target = la_ro;
    uint32_t v = mb_run_user(user_read, user_stack + sizeof user_stack);
    mb_printf("CPL 3 read of a user page: %#x\n", v);
    T_CHECK_EQ(v, 0x55E12EADu);
    user_target = la_rw;
    uint32_t w = mb_run_user(user_write, user_stack + sizeof user_stack);
    mb_printf("CPL 3 write to a user read/write page: %s\n", mb_yn(w == 1 && *(volatile uint32_t *)f == 0x0BADC0DEu));
    T_CHECK(w == 1 && *(volatile uint32_t *)f == 0x0BADC0DEu, "returned %#x", w);

    pf3("CPL 3 read of a supervisor page", user_read, LA4K + 0x10, 0x5);
    pf3("CPL 3 write to a supervisor page", user_write, LA4K + 0x14, 0x7);
    pf3("CPL 3 write to a user read-only page", user_write, la_ro + 0x8, 0x7);
    pf3("CPL 3 read, PTE not present", user_read, LA4K + 0xB000, 0x4);
}

static void invalidation(void)
{
    uint8_t *a = mb_page_alloc(), *b = mb_page_alloc();
    *(volatile uint32_t *)a = 0xAAAAAAAAu;
    *(volatile uint32_t *)b = 0xBBBBBBBBu;
    uint32_t la = LA4K + 0xC000;
    pg32_map4k(pd, la, pa_of(a), PTE_P | PTE_W);
    uint32_t v0 = rd(la);
    mb_printf("INVLPG: PTE names page A, read: %s\n", v0 == 0xAAAAAAAAu ? "page A" : "?");
    T_CHECK_EQ(v0, 0xAAAAAAAAu);
    *pg32_pte(pd, la) = pa_of(b) | PTE_P | PTE_W;
    /* Without invalidation either page may be read (SDM 3A 4.10.4.3): not checked. */
    invlpg((void *)(uintptr_t)la);
    uint32_t v1 = rd(la);
    mb_printf("INVLPG: PTE changed to page B, after INVLPG: %s\n", v1 == 0xBBBBBBBBu ? "page B" : "page A");
    T_CHECK_EQ(v1, 0xBBBBBBBBu);
    *pg32_pte(pd, la) = pa_of(a) | PTE_P | PTE_W;
    write_cr3(read_cr3());
    uint32_t v2 = rd(la);
    mb_printf("MOV CR3: PTE changed back to page A, after reloading CR3: %s\n",
              v2 == 0xAAAAAAAAu ? "page A" : "page B");
    T_CHECK_EQ(v2, 0xAAAAAAAAu);
}

void mb_main(uint32_t magic, const struct mb_info *mbi)
{
    T_ASSERT(magic == MB_BOOTLOADER_MAGIC, "magic %#x", magic);
    const char *cmd = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
    bool probe_low = false;
    for (const char *c = cmd; *c; c++)
        if (!strncmp(c, "probe-low-rsvd", 14))
            probe_low = true;
    mb_cpu_init();
    setup();
    pages();
    accessed_dirty();
    not_present();
    write_protect();
    reserved_bits(probe_low);
    fetches();
    user();
    invalidation();
    mb_printf("CR2 = %#x (the last #PF's address)\n", read_cr2());
    T_DONE();
}
