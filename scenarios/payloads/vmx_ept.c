/*
 * vmx_ept — "enable EPT": a hypervisor-shaped payload whose 64-bit guest
 * shares the payload's linear address space while every guest-physical
 * address goes through an EPT the payload builds (identity map of the first
 * 4 GiB, then per-test changes of single entries). The command line picks
 * a group:
 *   basic, basic1g, basic4k  the guest reads and writes memory through EPT
 *                            with 2-MiB, 1-GiB or 4-KiB EPT pages
 *   violation   EPT violations (exit 48) on a read, a write, a fetch, and on
 *               the guest's own page walk; qualification, guest-physical and
 *               guest-linear address; the host fixes the entry and resumes
 *   misconfig   EPT misconfigurations (exit 49): write without read,
 *               write/execute without read, memory types 2, 3 and 7, a
 *               reserved address bit, bits 6:3 of a non-leaf entry, a 2-MiB
 *               leaf with bits 20:12 set
 *   ad          EPT accessed and dirty flags (EPTP bit 6): A and D of the
 *               entries used, guest paging-structure accesses as writes
 *   remap       one guest-physical page mapped to a different host page
 *   vectoring   an EPT violation while delivering an event (the IDT page):
 *               IDT-vectoring information
 *   nx          guest XD (a guest #PF, seen through the exception bitmap)
 *               against EPT execute permission (an EPT violation), and
 *               both: the guest's #PF comes first
 *   realmode    "unrestricted guest": a real-mode guest (CR0.PE = 0, PG = 0)
 *               whose accesses go through EPT
 *
 * SDM 3C 29.3 "The Extended Page Table Mechanism (EPT)" (entry formats,
 * misconfigurations, violations, accessed and dirty flags), 28.2.1 (exit
 * qualification for EPT violations, guest-linear and guest-physical
 * address), 28.2.4 (IDT-vectoring information), 26.6.2 ("unrestricted
 * guest"), 3D appendix C (exit reasons 48 and 49).
 */
#include "hvsim.h"
#include "vmx.h"

#define P2_EPT          (1u << 1)
#define P2_UNRESTRICTED (1u << 7)
#define F_EPTP          0x201Au
#define F_GUEST_PHYS    0x2400u

#define EPT_R   1ull
#define EPT_W   2ull
#define EPT_X   4ull
#define EPT_RWX 7ull
#define EPT_WB  (6ull << 3)
#define EPT_PS  (1ull << 7)
#define EPT_A   (1ull << 8)
#define EPT_D   (1ull << 9)
#define EPT_ADDR 0x000FFFFFFFFFF000ull

static uint8_t guest_stack[8192] __attribute__((aligned(4096)));
static volatile uint64_t data_page[512] __attribute__((aligned(4096)));
static volatile uint64_t host_page[512] __attribute__((aligned(4096)));
static uint8_t code_page[4096] __attribute__((aligned(4096)));
/* a 2-MiB region nothing else lives in: an EPT entry covering all of it
 * is reached only by the accesses a test makes there */
static volatile uint64_t far_area[(2u << 20) / 8] __attribute__((aligned(2u << 20)));
static uint64_t *ept_pml4;
static uint64_t eptp;
static struct vmx_regs g;
static bool launched;

#define GUEST(name) extern char name[]
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(
        ".globl g_read\ng_read: mov (%%rsi), %%rax\n vmcall\n"
        ".globl g_write\ng_write: mov %%rbx, (%%rsi)\n vmcall\n"
        ".globl g_rmw\ng_rmw: addq $1, (%%rsi)\n vmcall\n"
        ".globl g_jump\ng_jump: jmp *%%rsi\n"
        ".globl g_int3\ng_int3: int3\n vmcall\n"
        ".globl g_readwrite\ng_readwrite: mov (%%rsi), %%rax\n add $5, %%rax\n mov %%rax, (%%rdi)\n vmcall\n"
        ::: "memory");
}
GUEST(g_read); GUEST(g_write); GUEST(g_rmw); GUEST(g_jump); GUEST(g_int3); GUEST(g_readwrite);

/* ---- the EPT (SDM 3C 29.3.2) ---- */

static uint64_t *table(uint64_t e) { return (uint64_t *)(uintptr_t)(e & EPT_ADDR); }

/* Identity-map [0, 4 GiB) with leaves of `leaf` bytes (1 GiB or 2 MiB),
 * read/write/execute, write-back. */
static void ept_build(uint64_t leaf, bool ad)
{
    ept_pml4 = hv_page_alloc();
    uint64_t *pdpt = hv_page_alloc();
    ept_pml4[0] = (uint64_t)(uintptr_t)pdpt | EPT_RWX;
    for (uint64_t i = 0; i < 4; i++) {
        if (leaf == (1ull << 30)) {
            pdpt[i] = (i << 30) | EPT_RWX | EPT_WB | EPT_PS;
            continue;
        }
        uint64_t *pd = hv_page_alloc();
        pdpt[i] = (uint64_t)(uintptr_t)pd | EPT_RWX;
        for (uint64_t j = 0; j < 512; j++)
            pd[j] = (i << 30) | (j << 21) | EPT_RWX | EPT_WB | EPT_PS;
    }
    /* EPTP: WB (6), page-walk length 4 (bits 5:3 = 3), A/D (bit 6) */
    eptp = (uint64_t)(uintptr_t)ept_pml4 | 6 | (3 << 3) | (ad ? 1u << 6 : 0);
}

/* The EPT entry at `level` (3 = PDPTE, 2 = PDE, 1 = PTE) for gpa, splitting
 * larger leaves on the way (the split keeps permissions and memory type). */
static uint64_t *ept_entry(uint64_t gpa, int level)
{
    uint64_t *e = &ept_pml4[(gpa >> 39) & 511];
    for (int l = 3; l >= level; l--) {
        uint64_t *t = table(*e);
        e = &t[(gpa >> (12 + 9 * (l - 1))) & 511];
        if (l > level && (*e & EPT_PS)) {
            uint64_t *nt = hv_page_alloc();
            uint64_t child = 1ull << (12 + 9 * (l - 2));
            uint64_t base = *e & EPT_ADDR & ~(child * 512 - 1);
            for (uint64_t k = 0; k < 512; k++)
                nt[k] = (base + k * child) | (*e & 0x7F & ~EPT_PS) | (l - 1 > 1 ? EPT_PS : 0);
            *e = (uint64_t)(uintptr_t)nt | EPT_RWX;
        }
    }
    return e;
}

static void invept_all(void)
{
    uint64_t desc[2] = { eptp, 0 };
    T_ASSERT(vmx_status(invept_flags(2, desc)) == VMX_OK, "INVEPT all-context");
}

static void setup(uint64_t leaf, bool ad, uint32_t proc2)
{
    ept_build(leaf, ad);
    vmx_init_controls(0, 0, P2_EPT | proc2, 0, 0);
    vmw(F_EPTP, eptp);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_read, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
}

static uint64_t enter(void)
{
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

static uint64_t run_at(const void *rip)
{
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, 0x2);
    return enter();
}

/* After an exit that the host handled, run on from the guest's RIP. */
static uint64_t resume(void) { return enter(); }

static void expect_vmcall(const char *what, uint64_t reason)
{
    hv_printf("%s: exit %llu\n", what, (unsigned long long)reason);
    T_CHECK_EQ(reason, 18);
}

/* ---- groups ---- */

static void group_basic(uint64_t leaf)
{
    setup(leaf, false, 0);
    if (leaf == 4096) {
        /* 4-KiB EPT pages for every page this test touches */
        (void)ept_entry((uint64_t)(uintptr_t)data_page, 1);
        (void)ept_entry((uint64_t)(uintptr_t)g_read, 1);
        (void)ept_entry((uint64_t)(uintptr_t)(guest_stack + 4096), 1);
        (void)ept_entry(read_cr3() & EPT_ADDR, 1);
    }
    data_page[3] = 0x1122334455667788ull;
    g.rsi = (uint64_t)(uintptr_t)&data_page[3];
    uint64_t r = run_at(g_read);
    expect_vmcall("guest read through EPT", r);
    hv_printf("guest read %#llx\n", (unsigned long long)g.rax);
    T_CHECK_EQ(g.rax, 0x1122334455667788ull);
    g.rbx = 0xCAFEF00Dull;
    g.rsi = (uint64_t)(uintptr_t)&data_page[4];
    r = run_at(g_write);
    expect_vmcall("guest write through EPT", r);
    hv_printf("host sees %#llx\n", (unsigned long long)data_page[4]);
    T_CHECK_EQ(data_page[4], 0xCAFEF00Dull);
    g.rsi = (uint64_t)(uintptr_t)&data_page[4];
    r = run_at(g_rmw);
    expect_vmcall("guest read-modify-write through EPT", r);
    T_CHECK_EQ(data_page[4], 0xCAFEF00Eull);
    hv_printf("guest-physical address field is not written by a VMCALL exit: %s\n",
              hv_yn(vmr(F_GUEST_PHYS) == 0));
}

/* An EPT violation: print and check reason, qualification, guest-physical
 * and guest-linear address and the guest RIP. */
static void expect_violation(const char *what, uint64_t r, uint64_t qual, uint64_t gpa, uint64_t gla, const void *rip)
{
    uint64_t q = vmr(F_EXIT_QUALIFICATION), pa = vmr(F_GUEST_PHYS), la = vmr(F_GUEST_LINEAR), grip = vmr(F_GUEST_RIP);
    hv_printf("%s: exit %llu, qualification %#llx, guest-physical address as expected: %s, guest-linear address "
              "as expected: %s, at the instruction: %s\n", what, (unsigned long long)r, (unsigned long long)q,
              hv_yn(pa == gpa), hv_yn(la == gla), hv_yn(grip == (uint64_t)(uintptr_t)rip));
    T_CHECK_EQ(r, 48);
    T_CHECK_EQ(q, qual);
    T_CHECK_EQ(pa, gpa);
    T_CHECK_EQ(la, gla);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)rip);
}

/* Qualification bits (SDM 3C 28.2.1, table "Exit Qualification for EPT
 * Violations"). */
#define Q_READ   (1ull << 0)
#define Q_WRITE  (1ull << 1)
#define Q_FETCH  (1ull << 2)
#define Q_R      (1ull << 3)
#define Q_W      (1ull << 4)
#define Q_X      (1ull << 5)
#define Q_GLA    (1ull << 7)
#define Q_XLAT   (1ull << 8)
#define Q_USER   (1ull << 9)
#define Q_RWPAGE (1ull << 10)
#define Q_NXPAGE (1ull << 11)

static void group_violation(void)
{
    setup(2ull << 20, false, 0);
    bool adv = (rdmsr(MSR_VMX_EPT_VPID_CAP) >> 22) & 1;
    uint64_t advq = adv ? Q_RWPAGE : 0;           /* supervisor, read/write, executable guest page */
    uint64_t dpa = (uint64_t)(uintptr_t)&data_page[8];
    uint64_t *pte = ept_entry(dpa, 1);

    /* read of a not-present page */
    *pte &= ~EPT_RWX;
    invept_all();
    data_page[8] = 77;
    g.rsi = dpa;
    uint64_t r = run_at(g_read);
    expect_violation("read of a page with EPT R=W=X=0", r, Q_READ | Q_GLA | Q_XLAT | advq, dpa, dpa, g_read);
    *pte |= EPT_R;
    invept_all();
    r = resume();
    expect_vmcall("resumed after EPT R was granted", r);
    T_CHECK_EQ(g.rax, 77);

    /* write to a read-only page */
    *pte = (*pte & ~EPT_RWX) | EPT_R;
    invept_all();
    g.rbx = 99;
    r = run_at(g_write);
    expect_violation("write to a page with EPT R=1 W=0 X=0", r, Q_WRITE | Q_R | Q_GLA | Q_XLAT | advq, dpa, dpa,
                     g_write);
    T_CHECK_EQ(data_page[8], 77);
    *pte |= EPT_W;
    invept_all();
    r = resume();
    expect_vmcall("resumed after EPT W was granted", r);
    T_CHECK_EQ(data_page[8], 99);

    /* read-modify-write to a read/execute page: hvsim reports the write
     * alone (docs/ept.md: bit 0 is implementation-specific) */
    *pte = (*pte & ~EPT_RWX) | EPT_R | EPT_X;
    invept_all();
    r = run_at(g_rmw);
    expect_violation("read-modify-write to a page with EPT R=1 W=0 X=1", r, Q_WRITE | Q_R | Q_X | Q_GLA | Q_XLAT | advq,
                     dpa, dpa, g_rmw);
    *pte |= EPT_RWX;
    invept_all();

    /* fetch from a read/write page */
    uint64_t cpa = (uint64_t)(uintptr_t)code_page;
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t *cpte = ept_entry(cpa, 1);
    *cpte = (*cpte & ~EPT_RWX) | EPT_R | EPT_W;
    invept_all();
    g.rsi = cpa;
    r = run_at(g_jump);
    expect_violation("fetch from a page with EPT R=1 W=1 X=0", r, Q_FETCH | Q_R | Q_W | Q_GLA | Q_XLAT | advq, cpa, cpa,
                     code_page);
    *cpte |= EPT_X;
    invept_all();
    r = resume();
    expect_vmcall("resumed after EPT X was granted", r);

    /* the guest's page walk: the page table holding the PTE of a fresh
     * linear mapping is not readable in EPT (bit 8 = 0: an access to a
     * paging-structure entry; the guest-linear address is the one being
     * translated) */
    uint64_t la = 0x7F0000000000ull + 0x3000;
    hv_map(la, dpa & ~0xFFFull, PTE_P | PTE_W | PTE_A | PTE_D);
    uint64_t *gpte = hv_pte(la);
    uint64_t ptpa = (uint64_t)(uintptr_t)gpte;
    uint64_t *tpte = ept_entry(ptpa, 1);
    *tpte &= ~EPT_RWX;
    invept_all();
    g.rsi = la + 8 * 8;
    r = run_at(g_read);
    expect_violation("guest page walk reads a PTE in a page with EPT R=W=X=0", r, Q_READ | Q_GLA, ptpa, la + 64, g_read);
    *tpte |= EPT_RWX;
    invept_all();
    r = resume();
    expect_vmcall("resumed after the page table became readable", r);
    T_CHECK_EQ(g.rax, 99);
}

/* An EPT misconfiguration: reason 49 and the guest-physical address. */
static void expect_misconfig(const char *what, uint64_t *entry, uint64_t bad, uint64_t gpa)
{
    uint64_t good = *entry;
    *entry = bad;
    invept_all();
    g.rsi = gpa;
    uint64_t r = run_at(g_read);
    uint64_t pa = vmr(F_GUEST_PHYS), grip = vmr(F_GUEST_RIP);
    hv_printf("%s: exit %llu, guest-physical address as expected: %s, at the instruction: %s\n", what,
              (unsigned long long)r, hv_yn(pa == gpa), hv_yn(grip == (uint64_t)(uintptr_t)g_read));
    T_CHECK_EQ(r, 49);
    T_CHECK_EQ(pa, gpa);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)g_read);
    *entry = good;
    invept_all();
}

static void group_misconfig(void)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = (uint64_t)(uintptr_t)&data_page[5];
    uint64_t *pte = ept_entry(dpa, 1);
    uint64_t base = *pte & ~0x3Full;              /* address and the upper flags, no permissions or type */
    expect_misconfig("PTE write without read (W=1 R=0)", pte, base | EPT_W | EPT_WB, dpa);
    expect_misconfig("PTE write/execute without read", pte, base | EPT_W | EPT_X | EPT_WB, dpa);
    expect_misconfig("PTE memory type 2", pte, base | EPT_RWX | (2ull << 3), dpa);
    expect_misconfig("PTE memory type 3", pte, base | EPT_RWX | (3ull << 3), dpa);
    expect_misconfig("PTE memory type 7", pte, base | EPT_RWX | (7ull << 3), dpa);
    uint32_t cp[4];
    hv_cpuid(0x80000008, 0, cp);
    unsigned maxpa = cp[0] & 0xFF;
    expect_misconfig("PTE address bit at MAXPHYADDR", pte, *pte | (1ull << maxpa), dpa);
    /* a non-leaf PDE and a 2-MiB leaf covering far_area only */
    uint64_t fpa = (uint64_t)(uintptr_t)&far_area[0x123];
    uint64_t *pde2 = ept_entry(fpa, 2);
    expect_misconfig("2-MiB PDE with bit 12 set", pde2, *pde2 | (1ull << 12), fpa);
    (void)ept_entry(fpa, 1);                       /* split: the PDE now references a page table */
    expect_misconfig("PDE referencing a page table with bit 3 set", pde2, *pde2 | (1ull << 3), fpa);
    far_area[0x123] = 0x4242;
    g.rsi = fpa;
    uint64_t r = run_at(g_read);
    expect_vmcall("the PDE restored", r);
    T_CHECK_EQ(g.rax, 0x4242);
}

static void group_ad(void)
{
    setup(2ull << 20, true, 0);
    uint64_t rpa = (uint64_t)(uintptr_t)&host_page[1], wpa = (uint64_t)(uintptr_t)&data_page[1];
    uint64_t *rpte = ept_entry(rpa, 1), *wpte = ept_entry(wpa, 1);
    /* the guest's own page table for a fresh mapping, in its own EPT page */
    uint64_t la = 0x7F0000000000ull + 0x5000;
    hv_map(la, wpa & ~0xFFFull, PTE_P | PTE_W | PTE_A | PTE_D);
    uint64_t *gpte = hv_pte(la);
    uint64_t *tpte = ept_entry((uint64_t)(uintptr_t)gpte, 1);
    *rpte &= ~(EPT_A | EPT_D);
    *wpte &= ~(EPT_A | EPT_D);
    *tpte &= ~(EPT_A | EPT_D);
    invept_all();
    host_page[1] = 40;
    g.rsi = rpa;
    g.rdi = la + 8;
    uint64_t r = run_at(g_readwrite);
    expect_vmcall("guest reads one page and writes another (EPTP bit 6 = 1)", r);
    hv_printf("read page: A=%llu D=%llu; written page: A=%llu D=%llu; guest page-table page: A=%llu D=%llu\n",
              (unsigned long long)((*rpte >> 8) & 1), (unsigned long long)((*rpte >> 9) & 1),
              (unsigned long long)((*wpte >> 8) & 1), (unsigned long long)((*wpte >> 9) & 1),
              (unsigned long long)((*tpte >> 8) & 1), (unsigned long long)((*tpte >> 9) & 1));
    T_CHECK_EQ(*rpte & (EPT_A | EPT_D), EPT_A);
    T_CHECK_EQ(*wpte & (EPT_A | EPT_D), EPT_A | EPT_D);
    T_CHECK_EQ(*tpte & (EPT_A | EPT_D), EPT_A | EPT_D);   /* paging-structure accesses count as writes */
    T_CHECK_EQ(data_page[1], 45);
    /* with A/D on, a guest page table in a read-only EPT page: the walk is a
     * write for EPT, so it is an EPT violation with bits 0 and 1 set */
    *tpte = (*tpte & ~EPT_RWX) | EPT_R;
    invept_all();
    g.rsi = la;
    r = run_at(g_read);
    expect_violation("guest page walk with EPT A/D on, page table in a read-only EPT page", r,
                     Q_READ | Q_WRITE | Q_R | Q_GLA, (uint64_t)(uintptr_t)gpte, la, g_read);
}

static void group_remap(void)
{
    setup(2ull << 20, false, 0);
    uint64_t gpa = (uint64_t)(uintptr_t)data_page, hpa = (uint64_t)(uintptr_t)host_page;
    data_page[2] = 0x1111;
    host_page[2] = 0x2222;
    uint64_t *pte = ept_entry(gpa, 1);
    *pte = hpa | EPT_RWX | EPT_WB;
    invept_all();
    g.rsi = gpa + 16;
    uint64_t r = run_at(g_read);
    expect_vmcall("guest reads its data page, mapped by EPT to another host page", r);
    hv_printf("guest read %#llx (host page), host's data page still %#llx\n", (unsigned long long)g.rax,
              (unsigned long long)data_page[2]);
    T_CHECK_EQ(g.rax, 0x2222);
    g.rbx = 0x3333;
    r = run_at(g_write);
    expect_vmcall("guest writes it", r);
    T_CHECK_EQ(host_page[2], 0x3333);
    T_CHECK_EQ(data_page[2], 0x1111);
    hv_printf("the write reached the host page: %s\n", hv_yn(host_page[2] == 0x3333 && data_page[2] == 0x1111));
}

static void group_vectoring(void)
{
    setup(2ull << 20, false, 0);
    /* the guest gets its own copy of the IDT, in a page EPT makes unreadable */
    struct hv_dtr i;
    sidt(&i);
    uint8_t *idt = hv_page_alloc();
    memcpy(idt, (const void *)(uintptr_t)i.base, (size_t)i.limit + 1 > 4096 ? 4096 : (size_t)i.limit + 1);
    vmw(F_GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt);
    uint64_t *ipte = ept_entry((uint64_t)(uintptr_t)idt, 1);
    *ipte &= ~EPT_RWX;
    invept_all();
    uint64_t r = run_at(g_int3);
    bool adv = (rdmsr(MSR_VMX_EPT_VPID_CAP) >> 22) & 1;
    uint64_t gate = (uint64_t)(uintptr_t)idt + 3 * 16;
    expect_violation("INT3 whose IDT gate is in a page with EPT R=W=X=0", r,
                     Q_READ | Q_GLA | Q_XLAT | (adv ? Q_RWPAGE : 0), gate, gate, g_int3);
    uint64_t idtv = vmr(F_IDT_VECTORING_INFO), len = vmr(F_EXIT_INSN_LEN);
    hv_printf("IDT-vectoring information %#llx, instruction length %llu\n", (unsigned long long)idtv,
              (unsigned long long)len);
    T_CHECK_EQ(idtv, 0x80000603ull);               /* valid, software exception (6), vector 3 */
    T_CHECK_EQ(len, 1);
}

static void group_nx(void)
{
    setup(2ull << 20, false, 0);
    vmw(F_EXCEPTION_BITMAP, 1u << 14);
    bool adv = (rdmsr(MSR_VMX_EPT_VPID_CAP) >> 22) & 1;
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t cpa = (uint64_t)(uintptr_t)code_page;
    uint64_t la = 0x7F0000000000ull + 0x9000;      /* a second mapping of the code page */
    uint64_t *cpte = ept_entry(cpa, 1);
    /* guest XD = 1, EPT X = 1: the guest's #PF (exception bitmap: exit 0) */
    hv_map(la, cpa, PTE_P | PTE_W | PTE_A | PTE_D | PTE_NX);
    g.rsi = la;
    uint64_t r = run_at(g_jump);
    uint64_t info = vmr(F_EXIT_INTR_INFO), ec = vmr(F_EXIT_INTR_EC), q = vmr(F_EXIT_QUALIFICATION);
    hv_printf("guest XD=1, EPT X=1: exit %llu, interruption information %#llx, error code %#llx, address as "
              "expected: %s\n", (unsigned long long)r, (unsigned long long)info, (unsigned long long)ec, hv_yn(q == la));
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(info, 0x80000B0Eull);
    T_CHECK_EQ(ec, 0x11);                           /* P, I/D */
    /* guest XD = 1 and EPT X = 0: still the guest's #PF first */
    *cpte &= ~EPT_X;
    invept_all();
    r = run_at(g_jump);
    hv_printf("guest XD=1, EPT X=0: exit %llu, interruption information %#llx\n", (unsigned long long)r,
              (unsigned long long)vmr(F_EXIT_INTR_INFO));
    T_CHECK_EQ(r, 0);
    /* guest XD = 0, EPT X = 0: an EPT violation, the guest page executable (bit 11 = 0) */
    hv_map(la, cpa, PTE_P | PTE_W | PTE_A | PTE_D);
    r = run_at(g_jump);
    expect_violation("guest XD=0, EPT X=0", r, Q_FETCH | Q_R | Q_W | Q_GLA | Q_XLAT | (adv ? Q_RWPAGE : 0), cpa, la,
                     (const void *)(uintptr_t)la);
    /* and with EPT X = 1 the code runs */
    *cpte |= EPT_X;
    invept_all();
    r = run_at(g_jump);
    expect_vmcall("guest XD=0, EPT X=1", r);
}

/* ---- realmode: "unrestricted guest" ---- */

/* 16-bit guest code (copied to code_page): reads the word at DS:0x100,
 * adds 0x1111, stores it at DS:0x102, VMCALL. */
extern char rm_start[], rm_end[];
__asm__(".pushsection .text\n"
        ".code16\n"
        ".globl rm_start\nrm_start:\n"
        "  mov 0x100, %ax\n"
        "  add $0x1111, %ax\n"
        "  mov %ax, 0x102\n"
        "  mov %cr0, %ebx\n"
        "  vmcall\n"
        ".globl rm_end\nrm_end:\n"
        ".code64\n"
        ".popsection\n");

static void group_realmode(void)
{
    ept_build(2ull << 20, false);
    vmx_init_controls(0, 0, P2_EPT | P2_UNRESTRICTED, 0, 0);
    vmw(F_ENTRY_CTLS, vmx_ctls(MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY, 0));   /* not IA-32e mode */
    vmw(F_EPTP, eptp);
    vmx_init_host();
    vmx_init_guest64(0, 0);
    /* guest-physical page 0x9000 holds the code and data (EPT maps it to
     * code_page): CS = DS = SS = 0x900, base 0x9000 */
    uint64_t gpa = 0x9000, hpa = (uint64_t)(uintptr_t)code_page;
    memcpy(code_page, rm_start, (size_t)(rm_end - rm_start));
    *(volatile uint16_t *)(code_page + 0x100) = 0x2222;
    uint64_t *pte = ept_entry(gpa, 1);
    *pte = hpa | EPT_RWX | EPT_WB;
    invept_all();
    uint64_t cr0 = (read_cr0() | CR0_NE) & ~((1ull << 31) | 1ull);   /* PG = PE = 0 */
    vmw(F_GUEST_CR0, cr0);
    vmw(F_GUEST_CR4, read_cr4() & ~((1ull << 5) | (1ull << 17)));    /* no PAE, no PCIDE */
    vmw(F_GUEST_CR3, 0);
    static const uint32_t sel[] = { F_GUEST_ES_SEL, F_GUEST_CS_SEL, F_GUEST_SS_SEL, F_GUEST_DS_SEL,
                                    F_GUEST_FS_SEL, F_GUEST_GS_SEL };
    for (unsigned s = 0; s < 6; s++) {
        vmw(sel[s], 0x900);
        vmw(F_GUEST_ES_BASE + 2 * s, gpa);
        vmw(F_GUEST_ES_LIMIT + 2 * s, 0xFFFF);
        vmw(F_GUEST_ES_AR + 2 * s, s == 1 ? 0x9B : 0x93);
    }
    vmw(F_GUEST_TR_SEL, 0);
    vmw(F_GUEST_TR_BASE, 0);
    vmw(F_GUEST_TR_LIMIT, 0xFFFF);
    vmw(F_GUEST_TR_AR, 0x8B);
    vmw(F_GUEST_GDTR_BASE, 0);
    vmw(F_GUEST_GDTR_LIMIT, 0xFFFF);
    vmw(F_GUEST_IDTR_BASE, 0);
    vmw(F_GUEST_IDTR_LIMIT, 0x3FF);
    vmw(F_GUEST_EFER, 0);
    vmw(F_GUEST_RIP, 0);
    vmw(F_GUEST_RSP, 0xFF0);
    vmw(F_GUEST_RFLAGS, 0x2);
    uint64_t r = enter();
    hv_printf("real-mode guest: exit %llu, guest CS %#llx, RIP %#llx\n", (unsigned long long)r,
              (unsigned long long)vmr(F_GUEST_CS_SEL), (unsigned long long)vmr(F_GUEST_RIP));
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(vmr(F_GUEST_CS_SEL), 0x900);
    uint16_t out = *(volatile uint16_t *)(code_page + 0x102);
    hv_printf("the guest stored %#x through EPT; its CR0 read %#llx (PE = %llu, PG = %llu)\n", out,
              (unsigned long long)(g.rbx & 0xFFFFFFFF), (unsigned long long)(g.rbx & 1),
              (unsigned long long)((g.rbx >> 31) & 1));
    T_CHECK_EQ(out, 0x3333);
    T_CHECK_EQ(g.rbx & 0x80000001ull, 0);
}

static bool is(const struct hvsim_boot_info *bi, const char *word)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    if (!c)
        return false;
    size_t n = strlen(word);
    return !memcmp(c, word, n) && (c[n] == 0 || c[n] == ' ');
}

static void group_basic2m(void) { group_basic(2ull << 20); }
static void group_basic1g(void) { group_basic(1ull << 30); }
static void group_basic4k(void) { group_basic(4096); }

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    (void)vmx_on_with_vmcs();
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "basic", group_basic2m }, { "basic1g", group_basic1g }, { "basic4k", group_basic4k },
        { "violation", group_violation }, { "misconfig", group_misconfig }, { "ad", group_ad },
        { "remap", group_remap }, { "vectoring", group_vectoring }, { "nx", group_nx },
        { "realmode", group_realmode },
    };
    for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (is(bi, groups[i].name)) {
            groups[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline basic|basic1g|basic4k|violation|misconfig|ad|remap|vectoring|nx|realmode\n");
    hv_exit(1);
}
