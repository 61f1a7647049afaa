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
 * and one group per behaviour (scenarios/vmx/ept/, issue 6):
 *   quser, qro, qxd          qualification bits 9-11 (user, read/write, XD)
 *   ring3read, ring3write, ring3fetch   a CPL-3 guest's accesses
 *   stackpush   EPT violation pushing a #GP frame (IDT-vectoring + error code)
 *   injectext, injectsw      EPT violation delivering an injected event
 *   crosspage, repmovs, repstos   page-crossing and repeated accesses
 *   walkmisconfig, guestad   the guest's walk: misconfiguration, A-flag write
 *   g2me4k, g4ke2m, ept1g    guest and EPT page sizes
 *   andlevels, pml4enp       permissions ANDed down the walk, a missing PML4E
 *   adfetch, adwrite, adoff  EPT accessed and dirty flags
 *   cr3remap, cr3viol, invlpg   MOV to CR3 and INVLPG in the guest
 *   pmode32, rmviol, rmint, rmintviol   "unrestricted guest" without paging
 *   execonly, execonlyrun    execute-only EPT pages
 *   jcache, jcacheok         code the host ran, refused to the guest by EPT or allowed
 *                            (its EPT accessed flag set), with VPID
 *   jcachenovpid             the refused case without VPID
 *   jcacheoknovpid           without VPID: the guest's fetch sets its PDE's accessed flag
 *   ept1gnoram, rmviolseg, rmintviolseg   reproducers of open hvsim bugs
 *               (no scenario: they fail today)
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

/* ==== issue 6, more EPT behaviours (one group per scenario) ==== */

#define F_IDT_VECTORING_EC 0x440Au
#define F_GUEST_PDPTE0     0x280Au

static bool adv_info(void) { return (rdmsr(MSR_VMX_EPT_VPID_CAP) >> 22) & 1; }
/* bits 9-11 are reported only with IA32_VMX_EPT_VPID_CAP[22] */
static uint64_t adv(uint64_t bits) { return adv_info() ? bits : 0; }

static uint8_t stack_page[2][4096] __attribute__((aligned(4096)));
static uint8_t ivt_page[4096] __attribute__((aligned(4096)));
static uint64_t cr3_pages[2][512] __attribute__((aligned(4096)));

__attribute__((used)) static void snippets2(void)
{
    __asm__ volatile(
        ".globl g_read2\ng_read2: mov (%%rsi), %%rax\n"
        ".globl g_read2b\ng_read2b: mov (%%rdi), %%rdx\n vmcall\n"
        ".globl g_movds\ng_movds: mov %%ax, %%ds\n vmcall\n"
        ".globl g_repmovs\ng_repmovs: rep movsq\n vmcall\n"
        ".globl g_repstos\ng_repstos: rep stosb\n vmcall\n"
        ".globl g_cr3\ng_cr3: mov %%rdx, %%cr3\n"
        ".globl g_cr3b\ng_cr3b: mov (%%rsi), %%rax\n vmcall\n"
        ".globl g_invlpg\ng_invlpg: mov (%%rsi), %%rax\n mov %%rbx, (%%rdi)\n invlpg (%%rsi)\n"
        ".globl g_invlpgb\ng_invlpgb: mov (%%rsi), %%rdx\n vmcall\n"
        ".globl g_nop\ng_nop: nop\n vmcall\n"
        ::: "memory");
}
GUEST(g_read2); GUEST(g_read2b); GUEST(g_movds); GUEST(g_repmovs); GUEST(g_repstos); GUEST(g_cr3); GUEST(g_cr3b);
GUEST(g_invlpg); GUEST(g_invlpgb); GUEST(g_nop);

/* ring-3 guest code (user pages: .hvuser.text) */
extern char u_read[], u_write[], u_jump[];
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_read\nu_read: mov (%rsi), %rax\n vmcall\n"
        ".globl u_write\nu_write: mov %rbx, (%rsi)\n vmcall\n"
        ".globl u_jump\nu_jump: jmp *%rsi\n"
        ".popsection\n");

/* 32-bit guest code (protected mode without paging) */
extern char p32_read2[], p32_read2b[];
__asm__(".pushsection .text\n"
        ".code32\n"
        ".globl p32_read2\np32_read2: mov (%esi), %eax\n"
        ".globl p32_read2b\np32_read2b: mov (%edi), %edx\n vmcall\n"
        ".code64\n"
        ".popsection\n");

/* 16-bit guest code for the real-mode groups (copied to guest-physical
 * 0x9000, CS = DS = SS = 0x900) */
extern char rmv_start[], rmv_read[], rmv_end[], rmi_start[], rmi_handler[], rmi_end[];
__asm__(".pushsection .text\n"
        ".code16\n"
        ".globl rmv_start\nrmv_start:\n"
        "  mov $0x1000, %ax\n"
        "  mov %ax, %ds\n"
        ".globl rmv_read\nrmv_read:\n"
        "  mov 0x234, %bx\n"
        "  vmcall\n"
        ".globl rmv_end\nrmv_end:\n"
        ".globl rmi_start\nrmi_start:\n"
        "  int $0x21\n"
        "  vmcall\n"
        ".globl rmi_handler\nrmi_handler:\n"
        "  mov $0x5a5a, %cx\n"
        "  vmcall\n"
        ".globl rmi_end\nrmi_end:\n"
        ".code64\n"
        ".popsection\n");

static uint64_t pa_of(const volatile void *p) { return (uint64_t)(uintptr_t)p; }

/* Print an EPT violation's fields with the IDT-vectoring information. */
static void expect_vectoring(uint64_t info, uint64_t ec, bool check_ec, uint64_t len, bool check_len)
{
    uint64_t v = vmr(F_IDT_VECTORING_INFO), e = vmr(F_IDT_VECTORING_EC), l = vmr(F_EXIT_INSN_LEN);
    hv_printf("IDT-vectoring information %#llx", (unsigned long long)v);
    if (check_ec)
        hv_printf(", IDT-vectoring error code %#llx", (unsigned long long)e);
    if (check_len)
        hv_printf(", instruction length %llu", (unsigned long long)l);
    hv_printf("\n");
    T_CHECK_EQ(v, info);
    if (check_ec)
        T_CHECK_EQ(e, ec);
    if (check_len)
        T_CHECK_EQ(l, len);
}

/* ---- qualification bits 9-11 (SDM 3C 28.2.1): the guest's own rights for
 * the linear address, from a supervisor-mode read ---- */

static void q911(const char *what, uint64_t gflags, uint64_t qbits)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = pa_of(&data_page[8]);
    uint64_t la = 0x7F0000000000ull + 0x3000;
    hv_map(la, dpa & ~0xFFFull, gflags);
    if (gflags & PTE_U)
        hv_make_user(la);
    uint64_t *pte = ept_entry(dpa, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rsi = la + 64;
    uint64_t r = run_at(g_read);
    expect_violation(what, r, Q_READ | Q_GLA | Q_XLAT | adv(qbits), dpa, la + 64, g_read);
}

static void group_quser(void)
{
    q911("supervisor read of a user-mode guest page (U/S = 1 at every level), EPT R=W=X=0",
         PTE_P | PTE_W | PTE_U | PTE_A | PTE_D, Q_USER | Q_RWPAGE);
}

static void group_qro(void)
{
    q911("read of a read-only guest page (R/W = 0 in the guest PTE), EPT R=W=X=0", PTE_P | PTE_A | PTE_D, 0);
}

static void group_qxd(void)
{
    q911("read of an execute-disable guest page (XD = 1, EFER.NXE = 1), EPT R=W=X=0",
         PTE_P | PTE_W | PTE_A | PTE_D | PTE_NX, Q_RWPAGE | Q_NXPAGE);
}

/* ---- a guest in ring 3 ---- */

static uint64_t run_user_at(const void *rip)
{
    hv_user_init();
    vmw(F_GUEST_CS_SEL, SEL_UCODE | 3);
    vmw(F_GUEST_CS_AR, 0xA0FB);                     /* 64-bit code, DPL 3 */
    static const uint32_t data[] = { F_GUEST_SS_SEL, F_GUEST_DS_SEL, F_GUEST_ES_SEL };
    for (unsigned i = 0; i < 3; i++) {
        vmw(data[i], SEL_UDATA | 3);
        vmw(data[i] - F_GUEST_ES_SEL + F_GUEST_ES_AR, 0xC0F3);
    }
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)hv_user_stack() - 64);
    vmw(F_GUEST_RFLAGS, 0x2);
    return enter();
}

static uint64_t user_alias(uint64_t la, uint64_t pa)
{
    hv_map(la, pa & ~0xFFFull, PTE_P | PTE_W | PTE_U | PTE_A | PTE_D);
    hv_make_user(la);
    return la + (pa & 0xFFF);
}

static void print_cpl(void)
{
    uint64_t cs = vmr(F_GUEST_CS_SEL);
    hv_printf("guest CS at the exit %#llx (CPL %llu)\n", (unsigned long long)cs, (unsigned long long)(cs & 3));
    T_CHECK_EQ(cs, SEL_UCODE | 3);
}

static void group_ring3read(void)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = pa_of(&data_page[8]);
    uint64_t la = user_alias(0x7F0000000000ull + 0x3000, dpa);
    uint64_t *pte = ept_entry(dpa, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rsi = la;
    uint64_t r = run_user_at(u_read);
    expect_violation("ring-3 read of a user page with EPT R=W=X=0", r, Q_READ | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE),
                     dpa, la, u_read);
    print_cpl();
}

static void group_ring3write(void)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = pa_of(&data_page[9]);
    uint64_t la = user_alias(0x7F0000000000ull + 0x3000, dpa);
    uint64_t *pte = ept_entry(dpa, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_R;
    invept_all();
    data_page[9] = 5;
    g.rsi = la;
    g.rbx = 6;
    uint64_t r = run_user_at(u_write);
    expect_violation("ring-3 write to a user page with EPT R=1 W=0 X=0", r,
                     Q_WRITE | Q_R | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), dpa, la, u_write);
    print_cpl();
    hv_printf("memory unchanged: %s\n", hv_yn(data_page[9] == 5));
    T_CHECK_EQ(data_page[9], 5);
}

static void group_ring3fetch(void)
{
    setup(2ull << 20, false, 0);
    uint64_t cpa = pa_of(code_page);
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t la = user_alias(0x7F0000000000ull + 0x9000, cpa);
    uint64_t *pte = ept_entry(cpa, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_R | EPT_W;
    invept_all();
    g.rsi = la;
    uint64_t r = run_user_at(u_jump);
    expect_violation("ring-3 fetch from a user page with EPT R=1 W=1 X=0", r,
                     Q_FETCH | Q_R | Q_W | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), cpa, la, (const void *)(uintptr_t)la);
    print_cpl();
}

/* ---- mode-based execute control for EPT (secondary control bit 22):
 * bit 2 allows supervisor-mode fetches, bit 10 user-mode ones, by the U/S
 * of the linear address (SDM 3C 29.3.3.2); qualification bit 5 reports
 * supervisor execute, bit 6 user execute ---- */

#define P2_MBEC  (1u << 22)
#define EPT_XU   (1ull << 10)
#define Q_XU     (1ull << 6)

/* With mode-based execute control, user execute is bit 10 AND-ed down the
 * walk like the others: allow it in the non-leaf entries above gpa. */
static void allow_xu_above(uint64_t gpa)
{
    for (int l = 4; l >= 2; l--)
        *ept_entry(gpa, l) |= EPT_XU;
}

/* User execute everywhere the identity EPT maps (the payload's ring-3 code
 * runs from its own pages). */
static void allow_xu_all(void)
{
    ept_pml4[0] |= EPT_XU;
    uint64_t *pdpt = table(ept_pml4[0]);
    for (int i = 0; i < 4; i++) {
        pdpt[i] |= EPT_XU;
        if (pdpt[i] & EPT_PS)
            continue;
        uint64_t *pd = table(pdpt[i]);
        for (int j = 0; j < 512; j++) {
            pd[j] |= EPT_XU;
            if (!(pd[j] & EPT_PS)) {
                uint64_t *pt = table(pd[j]);
                for (int k = 0; k < 512; k++)
                    pt[k] |= EPT_XU;
            }
        }
    }
}

static void group_mbecsv(void)
{
    setup(2ull << 20, false, P2_MBEC);
    uint64_t cpa = pa_of(code_page);
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t *pte = ept_entry(cpa, 1);
    allow_xu_above(cpa);
    /* user execute only: a supervisor fetch is refused */
    *pte = (*pte & ~(EPT_RWX | EPT_XU)) | EPT_R | EPT_XU;
    invept_all();
    g.rsi = cpa;
    uint64_t r = run_at(g_jump);
    expect_violation("supervisor fetch from a page with EPT R=1 X(supervisor)=0 XU=1", r,
                     Q_FETCH | Q_R | Q_XU | Q_GLA | Q_XLAT | adv(Q_RWPAGE), cpa, cpa, code_page);
    /* supervisor execute: it runs */
    *pte = (*pte & ~(EPT_RWX | EPT_XU)) | EPT_R | EPT_X;
    invept_all();
    r = run_at(g_jump);
    expect_vmcall("supervisor fetch from a page with EPT R=1 X(supervisor)=1 XU=0", r);
}

static void group_mbecuser(void)
{
    setup(2ull << 20, false, P2_MBEC);
    uint64_t cpa = pa_of(code_page);
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t la = user_alias(0x7F0000000000ull + 0x9000, cpa);
    uint64_t *pte = ept_entry(cpa, 1);
    allow_xu_all();
    /* supervisor execute only: a user-mode fetch is refused */
    *pte = (*pte & ~(EPT_RWX | EPT_XU)) | EPT_R | EPT_X;
    invept_all();
    g.rsi = la;
    uint64_t r = run_user_at(u_jump);
    expect_violation("user-mode fetch from a page with EPT R=1 X(supervisor)=1 XU=0", r,
                     Q_FETCH | Q_R | Q_X | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), cpa, la,
                     (const void *)(uintptr_t)la);
    print_cpl();
    /* user execute: it runs */
    *pte = (*pte & ~(EPT_RWX | EPT_XU)) | EPT_R | EPT_XU;
    invept_all();
    r = run_user_at(u_jump);
    expect_vmcall("user-mode fetch from a page with EPT R=1 X(supervisor)=0 XU=1", r);
}

/* ---- violations while delivering an event ---- */

static void group_stackpush(void)
{
    setup(2ull << 20, false, 0);
    uint64_t spa = pa_of(stack_page[1]);
    uint64_t *pte = ept_entry(spa, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_R;
    invept_all();
    uint64_t rsp = spa + 4096 - 64;
    g.rax = 0xFFF8;                                 /* beyond the GDT limit: #GP(0xfff8) */
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)g_movds);
    vmw(F_GUEST_RSP, rsp);
    vmw(F_GUEST_RFLAGS, 0x2);
    uint64_t r = enter();
    uint64_t q = vmr(F_EXIT_QUALIFICATION), pa = vmr(F_GUEST_PHYS), la = vmr(F_GUEST_LINEAR);
    uint64_t grip = vmr(F_GUEST_RIP), grsp = vmr(F_GUEST_RSP);
    bool in_frame = la >= rsp - 48 && la < rsp;
    hv_printf("#GP(0xfff8) whose frame goes to a stack page with EPT R=1 W=0 X=0: exit %llu, qualification %#llx, "
              "guest-linear address inside the frame: %s, guest-physical address = guest-linear address: %s, at the "
              "instruction: %s, guest RSP unchanged: %s\n", (unsigned long long)r, (unsigned long long)q,
              hv_yn(in_frame), hv_yn(pa == la), hv_yn(grip == (uint64_t)(uintptr_t)g_movds), hv_yn(grsp == rsp));
    T_CHECK_EQ(r, 48);
    T_CHECK_EQ(q, Q_WRITE | Q_R | Q_GLA | Q_XLAT | adv(Q_RWPAGE));
    T_CHECK(in_frame, "guest-linear address %#llx", (unsigned long long)la);
    T_CHECK_EQ(pa, la);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)g_movds);
    T_CHECK_EQ(grsp, rsp);
    expect_vectoring(0x80000B0Dull, 0xFFF8, true, 0, false);   /* hardware exception 13 with an error code */
    /* which byte of the 48-byte frame is reported is not architectural */
    hv_printf("the guest-linear address reported is RSP - %llu\n", (unsigned long long)(rsp - la));
}

/* The guest's own copy of the IDT in a page EPT makes unreadable; returns
 * its address. */
static uint64_t unreadable_idt(void)
{
    struct hv_dtr i;
    sidt(&i);
    uint8_t *idt = hv_page_alloc();
    memcpy(idt, (const void *)(uintptr_t)i.base, (size_t)i.limit + 1 > 4096 ? 4096 : (size_t)i.limit + 1);
    vmw(F_GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt);
    uint64_t *ipte = ept_entry((uint64_t)(uintptr_t)idt, 1);
    *ipte &= ~EPT_RWX;
    invept_all();
    return (uint64_t)(uintptr_t)idt;
}

static void inject(const char *what, uint32_t info, uint64_t len, uint64_t rflags, uint64_t vec)
{
    setup(2ull << 20, false, 0);
    uint64_t idt = unreadable_idt();
    vmw(F_ENTRY_INTR_INFO, info);
    vmw(F_ENTRY_INSN_LEN, len);
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)g_nop);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, rflags);
    uint64_t r = enter();
    uint64_t gate = idt + vec * 16;
    expect_violation(what, r, Q_READ | Q_GLA | Q_XLAT | adv(Q_RWPAGE), gate, gate, g_nop);
    expect_vectoring(info, 0, false, len, len != 0);
    uint64_t ei = vmr(F_ENTRY_INTR_INFO);
    hv_printf("VM-entry interruption information after the exit %#llx (valid bit clear: %s)\n",
              (unsigned long long)ei, hv_yn(!(ei >> 31)));
    T_CHECK_EQ(ei >> 31, 0);
}

static void group_injectext(void)
{
    inject("injected external interrupt 0x40 whose IDT gate is in a page with EPT R=W=X=0", 0x80000040u, 0, 0x202,
           0x40);
}

static void group_injectsw(void)
{
    inject("injected software interrupt 0x41 (length 2) whose IDT gate is in a page with EPT R=W=X=0", 0x80000441u,
           2, 0x2, 0x41);
}

/* ---- accesses that cross a page or repeat ---- */

static void group_crosspage(void)
{
    setup(2ull << 20, false, 0);
    uint64_t a = pa_of(&far_area[0x1000 / 8]), b = a + 0x1000;
    far_area[(0x2000 - 8) / 8] = 0x1111111111111111ull;
    uint64_t *pte = ept_entry(b, 1);
    (void)ept_entry(a, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rsi = b - 4;                                  /* bytes b-4 .. b+3 */
    uint64_t r = run_at(g_read);
    expect_violation("8-byte read at 4 bytes before a page with EPT R=W=X=0 (the first page readable)", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_RWPAGE), b, b, g_read);
}

static void group_repmovs(void)
{
    setup(2ull << 20, false, 0);
    uint64_t src = pa_of(&far_area[0x1000 / 8]);
    uint64_t dstpage = pa_of(&far_area[0x4000 / 8]), dst = dstpage - 64;
    for (unsigned i = 0; i < 16; i++)
        far_area[0x1000 / 8 + i] = 0xA0 + i;
    uint64_t *pte = ept_entry(dstpage, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_R;
    invept_all();
    g.rsi = src;
    g.rdi = dst;
    g.rcx = 16;
    uint64_t r = run_at(g_repmovs);
    expect_violation("REP MOVSQ of 16 quadwords whose 9th lands in a page with EPT R=1 W=0 X=0", r,
                     Q_WRITE | Q_R | Q_GLA | Q_XLAT | adv(Q_RWPAGE), dstpage, dstpage, g_repmovs);
    hv_printf("at the exit: RCX %llu, RSI = source + %llu, RDI = destination + %llu, 8 quadwords copied: %s\n",
              (unsigned long long)g.rcx, (unsigned long long)(g.rsi - src), (unsigned long long)(g.rdi - dst),
              hv_yn(far_area[0x4000 / 8 - 1] == 0xA7 && far_area[0x4000 / 8 - 8] == 0xA0));
    T_CHECK_EQ(g.rcx, 8);
    T_CHECK_EQ(g.rsi, src + 64);
    T_CHECK_EQ(g.rdi, dst + 64);
    *pte |= EPT_W;
    invept_all();
    r = resume();
    expect_vmcall("resumed after EPT W was granted", r);
    hv_printf("RCX %llu, all 16 quadwords copied: %s\n", (unsigned long long)g.rcx,
              hv_yn(far_area[0x4000 / 8 + 7] == 0xAF && far_area[0x4000 / 8] == 0xA8));
    T_CHECK_EQ(g.rcx, 0);
    T_CHECK_EQ(far_area[0x4000 / 8 + 7], 0xAF);
}

static void group_repstos(void)
{
    setup(2ull << 20, false, 0);
    uint64_t page = pa_of(&far_area[0x6000 / 8]), dst = page - 40;
    uint64_t *pte = ept_entry(page, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rax = 0x5C;
    g.rdi = dst;
    g.rcx = 100;
    uint64_t r = run_at(g_repstos);
    expect_violation("REP STOSB of 100 bytes whose 41st lands in a page with EPT R=W=X=0", r,
                     Q_WRITE | Q_GLA | Q_XLAT | adv(Q_RWPAGE), page, page, g_repstos);
    volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)dst;
    hv_printf("at the exit: RCX %llu, RDI = destination + %llu, the 40 bytes before the page stored: %s\n",
              (unsigned long long)g.rcx, (unsigned long long)(g.rdi - dst), hv_yn(b[0] == 0x5C && b[39] == 0x5C));
    T_CHECK_EQ(g.rcx, 60);
    T_CHECK_EQ(g.rdi, page);
}

/* ---- the guest's page walk through EPT ---- */

static void group_walkmisconfig(void)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = pa_of(&data_page[8]);
    uint64_t la = 0x7F0000000000ull + 0x3000;
    hv_map(la, dpa & ~0xFFFull, PTE_P | PTE_W | PTE_A | PTE_D);
    uint64_t ptpa = pa_of(hv_pte(la));
    uint64_t *tpte = ept_entry(ptpa, 1);
    *tpte = (*tpte & ~EPT_RWX) | EPT_W;             /* write without read */
    invept_all();
    g.rsi = la + 64;
    uint64_t r = run_at(g_read);
    uint64_t pa = vmr(F_GUEST_PHYS), grip = vmr(F_GUEST_RIP);
    hv_printf("guest page walk reads a PTE whose EPT PTE has W=1 R=0: exit %llu, guest-physical address = the guest "
              "PTE: %s, at the instruction: %s\n", (unsigned long long)r, hv_yn(pa == ptpa),
              hv_yn(grip == (uint64_t)(uintptr_t)g_read));
    T_CHECK_EQ(r, 49);
    T_CHECK_EQ(pa, ptpa);
    T_CHECK_EQ(grip, (uint64_t)(uintptr_t)g_read);
}

static void group_guestad(void)
{
    setup(2ull << 20, false, 0);
    uint64_t dpa = pa_of(&data_page[8]);
    uint64_t la = 0x7F0000000000ull + 0x3000;
    hv_map(la, dpa & ~0xFFFull, PTE_P | PTE_W);    /* A = D = 0: the walk must set A */
    uint64_t *gpte = hv_pte(la);
    uint64_t ptpa = pa_of(gpte);
    uint64_t *tpte = ept_entry(ptpa, 1);
    *tpte = (*tpte & ~EPT_RWX) | EPT_R | EPT_X;
    invept_all();
    g.rsi = la + 64;
    uint64_t r = run_at(g_read);
    expect_violation("guest walk sets A in a guest PTE whose page has EPT R=1 W=0 X=1 (EPT A/D off)", r,
                     Q_WRITE | Q_R | Q_X | Q_GLA, ptpa, la + 64, g_read);
    hv_printf("guest PTE A flag still 0: %s\n", hv_yn(!(*gpte & PTE_A)));
    T_CHECK_EQ(*gpte & PTE_A, 0);
}

static void group_g2me4k(void)
{
    setup(2ull << 20, false, 0);
    /* the guest maps far_area with one 2-MiB page (the boot map); EPT
     * splits it into 4-KiB pages and refuses reads of the sixth */
    uint64_t p4 = pa_of(&far_area[4 * 512 + 1]), p5 = pa_of(&far_area[5 * 512 + 2]);
    far_area[4 * 512 + 1] = 0x4444;
    uint64_t *pte = ept_entry(p5, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rsi = p4;
    g.rdi = p5;
    uint64_t r = run_at(g_read2);
    expect_violation("guest 2-MiB page, EPT 4-KiB pages: a read of the page with EPT R=W=X=0 after a read of its "
                     "neighbour", r, Q_READ | Q_GLA | Q_XLAT | adv(Q_RWPAGE), p5, p5, g_read2b);
    hv_printf("the neighbour read %#llx\n", (unsigned long long)g.rax);
    T_CHECK_EQ(g.rax, 0x4444);
}

static void group_g4ke2m(void)
{
    setup(2ull << 20, false, 0);
    /* guest 4-KiB pages onto one 2-MiB EPT page with W = 0 */
    uint64_t base = pa_of(far_area);
    uint64_t la = 0x7F0000000000ull + 0x10000;
    hv_map(la, base + 0x3000, PTE_P | PTE_W | PTE_A | PTE_D);
    hv_map(la + 0x1000, base + 0x1F0000, PTE_P | PTE_W | PTE_A | PTE_D);
    far_area[0x3000 / 8 + 3] = 0x3333;
    uint64_t *pde = ept_entry(base, 2);
    *pde = (*pde & ~EPT_RWX) | EPT_R | EPT_X;
    invept_all();
    g.rsi = la + 24;
    g.rdi = la + 0x1000 + 0x18;
    g.rbx = 7;
    uint64_t r = run_at(g_read);
    expect_vmcall("guest 4-KiB page, EPT 2-MiB page with R=1 W=0 X=1: read", r);
    T_CHECK_EQ(g.rax, 0x3333);
    g.rsi = la + 0x1000 + 0x18;
    r = run_at(g_write);
    expect_violation("write through another guest 4-KiB page into the same EPT 2-MiB page", r,
                     Q_WRITE | Q_R | Q_X | Q_GLA | Q_XLAT | adv(Q_RWPAGE), base + 0x1F0018, la + 0x1018, g_write);
}

/* The third GiB of guest-physical space is one EPT PDPTE (a 1-GiB leaf)
 * with W = 0, mapped to host-physical GiB `host_gib`. */
static void ept1g_write(uint64_t host_gib)
{
    setup(1ull << 30, false, 0);
    uint64_t gpa = 0x80000000ull + 0xABC008ull;
    uint64_t la = 0x7F0000000000ull + 0x20000;
    hv_map(la, gpa & ~0xFFFull, PTE_P | PTE_W | PTE_A | PTE_D);
    uint64_t *pdpte = &table(ept_pml4[0])[2];
    *pdpte = (host_gib << 30) | EPT_R | EPT_X | EPT_WB | EPT_PS;
    invept_all();
    g.rsi = la + (gpa & 0xFFF);
    g.rbx = 1;
    uint64_t r = run_at(g_write);
    expect_violation("write into a 1-GiB EPT page with R=1 W=0 X=1", r, Q_WRITE | Q_R | Q_X | Q_GLA | Q_XLAT | adv(Q_RWPAGE),
                     gpa, la + (gpa & 0xFFF), g_write);
}

/* guest-physical GiB 2 onto host-physical GiB 0 (RAM) */
static void group_ept1g(void) { ept1g_write(0); }
/* the same onto host-physical GiB 2, where the machine has no RAM: the
 * write must still be an EPT violation (nothing is accessed) */
static void group_ept1gnoram(void) { ept1g_write(2); }

static void group_andlevels(void)
{
    setup(2ull << 20, false, 0);
    uint64_t fpa = pa_of(&far_area[0x5000 / 8 + 2]);
    (void)ept_entry(fpa, 1);                        /* split: the PDE references a page table of RWX PTEs */
    uint64_t *pde = ept_entry(fpa, 2);
    *pde = (*pde & ~EPT_RWX) | EPT_R | EPT_X;       /* the non-leaf PDE without W */
    invept_all();
    g.rsi = fpa;
    g.rbx = 9;
    uint64_t r = run_at(g_write);
    expect_violation("write through an EPT PTE with R=W=X=1 under a PDE with W=0", r,
                     Q_WRITE | Q_R | Q_X | Q_GLA | Q_XLAT | adv(Q_RWPAGE), fpa, fpa, g_write);
}

static void group_pml4enp(void)
{
    setup(2ull << 20, false, 0);
    /* guest-physical 512 GiB: EPT PML4E 1 is not present */
    uint64_t gpa = 0x8000000000ull + 0x7008;
    uint64_t la = 0x7F0000000000ull + 0x30000;
    hv_map(la, gpa & ~0xFFFull, PTE_P | PTE_W | PTE_A | PTE_D);
    g.rsi = la + 8;
    uint64_t r = run_at(g_read);
    expect_violation("read of guest-physical 0x8000007008, whose EPT PML4E is not present", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_RWPAGE), gpa, la + 8, g_read);
}

/* ---- EPT accessed and dirty flags ---- */

static void print_ad(const char *what, uint64_t e)
{
    hv_printf("%s: A=%llu D=%llu\n", what, (unsigned long long)((e >> 8) & 1), (unsigned long long)((e >> 9) & 1));
}

static void group_adfetch(void)
{
    setup(2ull << 20, true, 0);
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t cpa = pa_of(code_page);
    uint64_t *pte = ept_entry(cpa, 1), *pde = ept_entry(cpa, 2);
    *pte &= ~(EPT_A | EPT_D);
    *pde &= ~(EPT_A | EPT_D);
    invept_all();
    g.rsi = cpa;
    uint64_t r = run_at(g_jump);
    expect_vmcall("guest fetches a VMCALL from a page whose EPT PTE has A=D=0 (EPTP bit 6 = 1)", r);
    print_ad("EPT PTE of the code page", *pte);
    print_ad("EPT PDE above it", *pde);
    T_CHECK_EQ(*pte & (EPT_A | EPT_D), EPT_A);
    T_CHECK_EQ(*pde & (EPT_A | EPT_D), EPT_A);
}

static void group_adwrite(void)
{
    setup(2ull << 20, true, 0);
    uint64_t fpa = pa_of(&far_area[0x7000 / 8 + 1]);
    uint64_t *pte = ept_entry(fpa, 1), *pde = ept_entry(fpa, 2);
    uint64_t *pdpte = ept_entry(fpa, 3), *pml4e = &ept_pml4[0];
    *pte &= ~(EPT_A | EPT_D);
    *pde &= ~(EPT_A | EPT_D);
    invept_all();
    g.rsi = fpa;
    g.rbx = 0x77;
    uint64_t r = run_at(g_write);
    expect_vmcall("guest writes a page whose EPT PTE has A=D=0 (EPTP bit 6 = 1), no INVEPT after the exit", r);
    print_ad("EPT PTE (leaf)", *pte);
    print_ad("EPT PDE", *pde);
    print_ad("EPT PDPTE", *pdpte);
    print_ad("EPT PML4E", *pml4e);
    T_CHECK_EQ(*pte & (EPT_A | EPT_D), EPT_A | EPT_D);
    T_CHECK_EQ(*pde & (EPT_A | EPT_D), EPT_A);
    T_CHECK_EQ(*pdpte & (EPT_A | EPT_D), EPT_A);
    T_CHECK_EQ(*pml4e & (EPT_A | EPT_D), EPT_A);
}

static void group_adoff(void)
{
    setup(2ull << 20, false, 0);
    uint64_t rpa = pa_of(&far_area[0x8000 / 8]), wpa = pa_of(&far_area[0x9000 / 8]);
    uint64_t *rpte = ept_entry(rpa, 1), *wpte = ept_entry(wpa, 1);
    *rpte &= ~(EPT_A | EPT_D);
    *wpte &= ~(EPT_A | EPT_D);
    invept_all();
    far_area[0x8000 / 8] = 40;
    g.rsi = rpa;
    g.rdi = wpa;
    uint64_t r = run_at(g_readwrite);
    expect_vmcall("guest reads one page and writes another (EPTP bit 6 = 0)", r);
    print_ad("EPT PTE of the page read", *rpte);
    print_ad("EPT PTE of the page written", *wpte);
    T_CHECK_EQ(*rpte & (EPT_A | EPT_D), 0);
    T_CHECK_EQ(*wpte & (EPT_A | EPT_D), 0);
    T_CHECK_EQ(far_area[0x9000 / 8], 45);
}

/* ---- MOV to CR3 and INVLPG in the guest ---- */

static void group_cr3remap(void)
{
    setup(2ull << 20, false, 0);
    /* guest-physical page G (all zeros in host memory) is mapped by EPT to
     * host page H, a copy of the current PML4 */
    uint64_t G = pa_of(cr3_pages[0]), H = pa_of(cr3_pages[1]);
    memcpy(cr3_pages[1], (const void *)(uintptr_t)(read_cr3() & EPT_ADDR), 4096);
    memset(cr3_pages[0], 0, 4096);
    uint64_t *pte = ept_entry(G, 1);
    *pte = H | EPT_RWX | EPT_WB;
    invept_all();
    data_page[6] = 0x6666;
    g.rdx = G;
    g.rsi = pa_of(&data_page[6]);
    uint64_t r = run_at(g_cr3);
    expect_vmcall("guest MOV to CR3 of guest-physical page G, which EPT maps to a host copy of the PML4; then a read", r);
    uint64_t cr3 = vmr(F_GUEST_CR3);
    hv_printf("guest read %#llx; guest CR3 at the exit = G: %s\n", (unsigned long long)g.rax, hv_yn(cr3 == G));
    T_CHECK_EQ(g.rax, 0x6666);
    T_CHECK_EQ(cr3, G);
}

static void group_cr3viol(void)
{
    setup(2ull << 20, false, 0);
    uint64_t G = pa_of(cr3_pages[0]);
    memcpy(cr3_pages[0], (const void *)(uintptr_t)(read_cr3() & EPT_ADDR), 4096);
    uint64_t *pte = ept_entry(G, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rdx = G;
    g.rsi = pa_of(&data_page[6]);
    uint64_t r = run_at(g_cr3);
    uint64_t next = (uint64_t)(uintptr_t)g_cr3b;
    expect_violation("guest MOV to CR3 of a page with EPT R=W=X=0: the next fetch reads its PML4E", r, Q_READ | Q_GLA,
                     G + ((next >> 39) & 511) * 8, next, g_cr3b);
    uint64_t cr3 = vmr(F_GUEST_CR3);
    hv_printf("guest CR3 at the exit = the new value: %s\n", hv_yn(cr3 == G));
    T_CHECK_EQ(cr3, G);
}

static void group_invlpg(void)
{
    setup(2ull << 20, false, 0);
    uint64_t p1 = pa_of(data_page), p2 = pa_of(host_page);
    uint64_t la = 0x7F0000000000ull + 0x40000;
    hv_map(la, p1, PTE_P | PTE_W | PTE_A | PTE_D);
    uint64_t *gpte = hv_pte(la);
    data_page[7] = 0x7777;
    uint64_t *pte2 = ept_entry(p2, 1);
    *pte2 &= ~EPT_RWX;
    invept_all();
    g.rsi = la + 56;
    g.rdi = pa_of(gpte);
    g.rbx = p2 | PTE_P | PTE_W | PTE_A | PTE_D;
    uint64_t r = run_at(g_invlpg);
    expect_violation("guest reads through its PTE, points the PTE at a page with EPT R=W=X=0, INVLPG, reads again", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_RWPAGE), p2 + 56, la + 56, g_invlpgb);
    hv_printf("the first read %#llx\n", (unsigned long long)g.rax);
    T_CHECK_EQ(g.rax, 0x7777);
}

/* ---- "unrestricted guest" ---- */

static void group_pmode32(void)
{
    ept_build(2ull << 20, false);
    vmx_init_controls(0, 0, P2_EPT | P2_UNRESTRICTED, 0, 0);
    vmw(F_ENTRY_CTLS, vmx_ctls(MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY, 0));   /* not IA-32e mode */
    vmw(F_EPTP, eptp);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)p32_read2, 0);
    vmw(F_GUEST_CR0, (read_cr0() | CR0_NE | 1) & ~(1ull << 31));   /* PE = 1, PG = 0 */
    vmw(F_GUEST_CR4, read_cr4() & ~((1ull << 5) | (1ull << 17)));
    vmw(F_GUEST_EFER, 0);
    vmw(F_GUEST_CS_AR, 0xC09B);                     /* 32-bit code */
    static const uint32_t data[] = { F_GUEST_SS_SEL, F_GUEST_DS_SEL, F_GUEST_ES_SEL };
    for (unsigned i = 0; i < 3; i++)
        vmw(data[i] - F_GUEST_ES_SEL + F_GUEST_ES_AR, 0xC093);
    uint64_t a = pa_of(&data_page[10]), b = pa_of(&host_page[11]);
    data_page[10] = 0xAAAA;
    uint64_t *pte = ept_entry(b, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    g.rsi = a;
    g.rdi = b;
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    uint64_t r = enter();
    expect_violation("32-bit protected-mode guest without paging reads a page with EPT R=W=X=0", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), b, b, p32_read2b);
    hv_printf("the first read %#llx; guest CR0.PE = %llu, CR0.PG = %llu\n", (unsigned long long)(g.rax & 0xFFFFFFFF),
              (unsigned long long)(vmr(F_GUEST_CR0) & 1), (unsigned long long)((vmr(F_GUEST_CR0) >> 31) & 1));
    T_CHECK_EQ(g.rax & 0xFFFFFFFF, 0xAAAA);
}

/* A real-mode guest at guest-physical 0x9000 (EPT maps it to code_page):
 * CS = DS = SS = 0x900, SP 0xFF0, IP = ip. */
static void rm_guest_at(const char *start, const char *end, uint64_t ip, uint16_t seg)
{
    ept_build(2ull << 20, false);
    vmx_init_controls(0, 0, P2_EPT | P2_UNRESTRICTED, 0, 0);
    vmw(F_ENTRY_CTLS, vmx_ctls(MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY, 0));
    vmw(F_EPTP, eptp);
    vmx_init_host();
    vmx_init_guest64(0, 0);
    uint64_t gpa = 0x9000, hpa = pa_of(code_page);
    memcpy(code_page, start, (size_t)(end - start));
    uint64_t *pte = ept_entry(gpa, 1);
    *pte = hpa | EPT_RWX | EPT_WB;
    invept_all();
    vmw(F_GUEST_CR0, (read_cr0() | CR0_NE) & ~((1ull << 31) | 1ull));
    vmw(F_GUEST_CR4, read_cr4() & ~((1ull << 5) | (1ull << 17)));
    vmw(F_GUEST_CR3, 0);
    static const uint32_t sel[] = { F_GUEST_ES_SEL, F_GUEST_CS_SEL, F_GUEST_SS_SEL, F_GUEST_DS_SEL,
                                    F_GUEST_FS_SEL, F_GUEST_GS_SEL };
    for (unsigned s = 0; s < 6; s++) {
        vmw(sel[s], seg);
        vmw(F_GUEST_ES_BASE + 2 * s, (uint64_t)seg << 4);
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
    vmw(F_GUEST_RIP, ip);
    vmw(F_GUEST_RSP, gpa - ((uint64_t)seg << 4) + 0xFF0);
    vmw(F_GUEST_RFLAGS, 0x2);
}


/* seg: the real-mode segment of the code (CS = SS = seg, base seg * 16) */
static void rmviol(uint16_t seg)
{
    uint64_t ip0 = 0x9000 - ((uint64_t)seg << 4);
    rm_guest_at(rmv_start, rmv_end, ip0, seg);
    uint64_t *pte = ept_entry(0x10000, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    uint64_t r = enter();
    expect_violation("real-mode guest reads 0x1000:0x234, a page with EPT R=W=X=0", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), 0x10234, 0x10234,
                     (const void *)(uintptr_t)(ip0 + (uint64_t)(rmv_read - rmv_start)));
}

/* code at 0000:9000 (CS base 0) */
static void group_rmviol(void) { rmviol(0); }
/* the same code at 0900:0000 (CS base 0x9000) */
static void group_rmviolseg(void) { rmviol(0x900); }

static void rm_int_setup(uint16_t seg)
{
    uint64_t ip0 = 0x9000 - ((uint64_t)seg << 4);
    rm_guest_at(rmi_start, rmi_end, ip0, seg);
    /* the IVT at guest-physical 0 is ivt_page, through EPT */
    memset(ivt_page, 0, sizeof(ivt_page));
    uint32_t vec = ((uint32_t)seg << 16) | (uint32_t)(ip0 + (uint64_t)(rmi_handler - rmi_start));
    memcpy(ivt_page + 0x21 * 4, &vec, 4);
    uint64_t *pte = ept_entry(0, 1);
    *pte = pa_of(ivt_page) | EPT_RWX | EPT_WB;
    invept_all();
}

static void group_rmint(void)
{
    rm_int_setup(0x900);
    uint64_t r = enter();
    uint64_t rip = vmr(F_GUEST_RIP), rsp = vmr(F_GUEST_RSP);
    const volatile uint16_t *st = (const volatile uint16_t *)(code_page + 0xFF0 - 6);
    hv_printf("real-mode INT 0x21 through the IVT at guest-physical 0 (EPT maps it to a host page): exit %llu, "
              "handler reached: %s, CX %#llx\n", (unsigned long long)r,
              hv_yn(rip == (uint64_t)(rmi_handler - rmi_start) + 3), (unsigned long long)(g.rcx & 0xFFFF));
    hv_printf("SP %#llx, pushed IP %#x CS %#x FLAGS %#x\n", (unsigned long long)rsp, st[0], st[1], st[2]);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(rip, (uint64_t)(rmi_handler - rmi_start) + 3);
    T_CHECK_EQ(g.rcx & 0xFFFF, 0x5A5A);
    T_CHECK_EQ(rsp, 0xFEA);
    T_CHECK_EQ(st[0], 2);
    T_CHECK_EQ(st[1], 0x900);
    T_CHECK_EQ(st[2], 2);
}

static void rmintviol(uint16_t seg)
{
    rm_int_setup(seg);
    uint64_t *pte = ept_entry(0, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    uint64_t r = enter();
    expect_violation("real-mode INT 0x21 whose IVT entry is in a page with EPT R=W=X=0", r,
                     Q_READ | Q_GLA | Q_XLAT | adv(Q_USER | Q_RWPAGE), 0x84, 0x84,
                     (const void *)(uintptr_t)(0x9000 - ((uint64_t)seg << 4)));
    expect_vectoring(0x80000421ull, 0, false, 2, true);   /* software interrupt 0x21 */
}

static void group_rmintviol(void) { rmintviol(0); }
static void group_rmintviolseg(void) { rmintviol(0x900); }

/* ---- execute-only translations (IA32_VMX_EPT_VPID_CAP[0]) ---- */

static void group_execonly(void)
{
    setup(2ull << 20, false, 0);
    bool xo = rdmsr(MSR_VMX_EPT_VPID_CAP) & 1;
    hv_printf("execute-only translations supported: %s\n", hv_yn(xo));
    uint64_t dpa = pa_of(&data_page[12]);
    uint64_t *pte = ept_entry(dpa, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_X;
    invept_all();
    g.rsi = dpa;
    uint64_t r = run_at(g_read);
    if (xo) {
        expect_violation("read of an execute-only page (EPT R=0 W=0 X=1)", r, Q_READ | Q_X | Q_GLA | Q_XLAT | adv(Q_RWPAGE),
                         dpa, dpa, g_read);
    } else {
        hv_printf("read of an execute-only page (EPT R=0 W=0 X=1): exit %llu (misconfiguration)\n",
                  (unsigned long long)r);
        T_CHECK_EQ(r, 49);
    }
}

static void group_execonlyrun(void)
{
    setup(2ull << 20, false, 0);
    code_page[0] = 0x0F; code_page[1] = 0x01; code_page[2] = 0xC1;   /* vmcall */
    uint64_t cpa = pa_of(code_page);
    uint64_t *pte = ept_entry(cpa, 1);
    *pte = (*pte & ~EPT_RWX) | EPT_X;
    invept_all();
    g.rsi = cpa;
    hv_printf("guest jumps to a VMCALL in an execute-only page\n");
    uint64_t r = run_at(g_jump);
    expect_vmcall("the VMCALL ran", r);
}

/* Code the host ran, at a linear address the guest's EPT does not let it
 * fetch from: with VPID the VM entry keeps the host's translations, and
 * the guest's jump there is an EPT violation all the same. The code sits
 * on the fourth 4-KiB page of a 2-MiB page (the host maps it with one
 * 2-MiB page, EPT splits it): hvsim must not let the engine reuse the code
 * it translated for the host (its jump cache) when it drops the host's
 * 2-MiB translation from its TLB for the guest (docs/cpu-mmu.md, "Switching
 * trees without a flush"). */
__attribute__((used)) static void snippets_jc(void)
{
    __asm__ volatile(".globl g_call\ng_call: call *%%rsi\n vmcall\n" ::: "memory");
}
GUEST(g_call);

/* mov eax, 0x77; ret on the fourth 4-KiB page of far_area (a 2-MiB page of
 * its own): the code host and guest run */
static volatile uint8_t *jc_code(void)
{
    volatile uint8_t *code = (volatile uint8_t *)&far_area[3 * 512];
    static const uint8_t f[] = { 0xb8, 0x77, 0x00, 0x00, 0x00, 0xc3 };
    for (unsigned i = 0; i < sizeof(f); i++)
        code[i] = f[i];
    return code;
}

static void jc_host_runs(volatile uint8_t *code)
{
    uint64_t v;
    __asm__ volatile("call *%1" : "=a"(v) : "r"(code) : "memory", "cc");
    T_CHECK_EQ(v, 0x77);
}

/* the guest runs its VMCALL only (its own translations get cached) */
static void jc_guest_elsewhere(const char *what)
{
    g.rsi = (uint64_t)(uintptr_t)g_call + 2;                /* g_jump: jmp rsi, to g_call's VMCALL */
    expect_vmcall(what, run_at(g_jump));
}

/* the guest calls la (g_call: call rsi; vmcall) */
static uint64_t jc_guest_calls(uint64_t la)
{
    g.rsi = la;
    g.rax = 0;
    return run_at(g_call);
}

/* The guest's call ran the code (VMCALL exit, RAX from it) and its walk
 * set the accessed flag named */
static void jc_expect_ran(int round, uint64_t r, const char *flag, bool accessed)
{
    hv_printf("round %d: the guest's call to the code the host ran: exit %llu, RAX %#llx, %s: %d\n", round,
              (unsigned long long)r, (unsigned long long)g.rax, flag, accessed ? 1 : 0);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(g.rax, 0x77);
    T_CHECK(accessed, "the accessed flag is clear after the guest ran the code");
}

static void jcache(bool vpid)
{
    setup(2ull << 20, false, vpid ? 1u << 5 : 0);           /* EPT, and VPID or not */
    if (vpid)
        vmw(F_VPID, 1);
    volatile uint8_t *code = jc_code();
    uint64_t fpa = pa_of(code);
    uint64_t *pte = ept_entry(fpa, 1);
    *pte &= ~EPT_RWX;
    invept_all();
    jc_guest_elsewhere("a first guest run");
    for (int round = 0; round < 2; round++) {
        jc_host_runs(code);
        uint64_t r = jc_guest_calls(fpa);
        uint64_t q = vmr(F_EXIT_QUALIFICATION), gpa = vmr(F_GUEST_PHYS), rip = vmr(F_GUEST_RIP);
        hv_printf("round %d: the host ran the code at %#llx; the guest's call there: exit %llu, fetch "
                  "violation: %s, guest-physical address as expected: %s, at the code: %s\n", round,
                  (unsigned long long)fpa, (unsigned long long)r, (q & Q_FETCH) ? "yes" : "no",
                  gpa == fpa ? "yes" : "no", rip == fpa ? "yes" : "no");
        T_CHECK_EQ(r, 48);
        T_CHECK_EQ(q & Q_FETCH, Q_FETCH);
        T_CHECK_EQ(gpa, fpa);
        T_CHECK_EQ(rip, fpa);
    }
}

static void group_jcache(void) { jcache(true); }
static void group_jcachenovpid(void) { jcache(false); }

/* The same, with the guest allowed to run the code and EPT accessed flags
 * on: the guest's fetch walks EPT and sets the accessed flag of the page's
 * EPT entry (SDM 3C 29.3.5), though the host ran the same code just before
 * (the engine must not run its translation of it without that walk). */
static void group_jcacheok(void)
{
    setup(2ull << 20, true, 1u << 5);                       /* EPT with A/D, and VPID */
    vmw(F_VPID, 1);
    volatile uint8_t *code = jc_code();
    uint64_t fpa = pa_of(code);
    volatile uint64_t *pte = ept_entry(fpa, 1);
    invept_all();
    jc_guest_elsewhere("a first guest run");
    for (int round = 0; round < 2; round++) {
        *pte &= ~(EPT_A | EPT_D);
        invept_all();
        jc_guest_elsewhere("the guest runs elsewhere");
        jc_host_runs(code);
        uint64_t r = jc_guest_calls(fpa);
        jc_expect_ran(round, r, "EPT accessed flag of its page", (*pte & EPT_A) != 0);
    }
}

/* Without VPID, VM entry invalidates the linear mappings of VPID 0 (SDM 3C
 * 29.4.3): the guest's first fetch from a page then walks its paging
 * structures and sets the accessed flag of the entries it uses (SDM 3A
 * 4.8), though the host ran the code there just before and cleared the
 * flag after (its own cached translation may stay: no INVLPG). */
static volatile uint64_t *pde_of_la(uint64_t la)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & ~0xFFFull);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[(la >> 39) & 511] & 0x000FFFFFFFFFF000ull);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[(la >> 30) & 511] & 0x000FFFFFFFFFF000ull);
    return &pd[(la >> 21) & 511];
}

static void group_jcacheoknovpid(void)
{
    setup(2ull << 20, false, 0);
    volatile uint8_t *code = jc_code();
    uint64_t fla = (uint64_t)(uintptr_t)code;
    volatile uint64_t *pde = pde_of_la(fla);
    T_ASSERT(*pde & PTE_PS, "far_area is mapped by a 2-MiB page");
    jc_guest_elsewhere("a first guest run");
    for (int round = 0; round < 2; round++) {
        jc_host_runs(code);
        *pde &= ~PTE_A;                                     /* no INVLPG */
        uint64_t r = jc_guest_calls(fla);
        jc_expect_ran(round, r, "accessed flag of the guest's PDE", (*pde & PTE_A) != 0);
    }
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
        { "realmode", group_realmode }, { "mbecsv", group_mbecsv }, { "mbecuser", group_mbecuser },
        { "quser", group_quser }, { "qro", group_qro }, { "qxd", group_qxd },
        { "ring3read", group_ring3read }, { "ring3write", group_ring3write }, { "ring3fetch", group_ring3fetch },
        { "stackpush", group_stackpush }, { "injectext", group_injectext }, { "injectsw", group_injectsw },
        { "crosspage", group_crosspage }, { "repmovs", group_repmovs }, { "repstos", group_repstos },
        { "walkmisconfig", group_walkmisconfig }, { "guestad", group_guestad }, { "g2me4k", group_g2me4k },
        { "g4ke2m", group_g4ke2m }, { "ept1g", group_ept1g }, { "andlevels", group_andlevels },
        { "pml4enp", group_pml4enp }, { "adfetch", group_adfetch }, { "adwrite", group_adwrite },
        { "adoff", group_adoff }, { "cr3remap", group_cr3remap }, { "cr3viol", group_cr3viol },
        { "invlpg", group_invlpg }, { "pmode32", group_pmode32 }, { "rmviol", group_rmviol },
        { "rmint", group_rmint }, { "rmintviol", group_rmintviol }, { "execonly", group_execonly },
        { "execonlyrun", group_execonlyrun }, { "jcache", group_jcache },
        { "jcacheok", group_jcacheok }, { "jcachenovpid", group_jcachenovpid },
        { "jcacheoknovpid", group_jcacheoknovpid },
        /* reproducers of hvsim bugs (no scenario yet) */
        { "ept1gnoram", group_ept1gnoram }, { "rmviolseg", group_rmviolseg }, { "rmintviolseg", group_rmintviolseg },
    };
    for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (hv_cmdline_is(bi, groups[i].name)) {
            groups[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline GROUP (see the list at the top of scenarios/payloads/vmx_ept.c)\n");
    hv_exit(1);
}
