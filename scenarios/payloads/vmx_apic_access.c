/*
 * vmx_apic_access — "virtualize APIC accesses" with and without "use TPR
 * shadow" (APIC-register virtualization and virtual-interrupt delivery 0).
 * A hypervisor-shaped payload like vmx_exits2: its 64-bit guest shares the
 * payload's address space and IDT; the APIC-access page is an ordinary page
 * of the payload, mapped with a 4-KiB page. The command line picks a case:
 *
 *   read        MOV load at offset 030H: APIC-access exit, type 0
 *   write       MOV store at offset 300H: type 1
 *   rmw         ADD to offset 0B0H (a read-modify-write is a write): type 1
 *   vtpr        with "use TPR shadow": 32-bit MOV load and store of offset
 *               080H go to the virtual-APIC page, no exit; the store clears
 *               VTPR bytes 3:1; the APIC-access page is untouched
 *   vtpr-below  the same store below the TPR threshold: trap-like exit 43
 *   vtpr-entry  TPR threshold above VTPR[7:4] at VM entry: exit 43 before
 *               the first guest instruction (no VM-entry failure)
 *   no-shadow   without "use TPR shadow" offset 080H exits too (types 0, 1)
 *   fetch       a jump into the page: type 2, RIP the target
 *   event       INT 41H with the guest IDT on the page: type 3, IDT-vectoring
 *               information, the INT's length
 *   host        the host (VMX root operation) reads and writes the page as
 *               ordinary memory between exits (guest VPID 1)
 *   ept         with EPT: a guest-physical address that EPT maps onto the
 *               page exits; the guest-physical address equal to the
 *               APIC-access address, mapped elsewhere, does not
 *   ept-walk    with EPT: the guest's paging structure on the page is a
 *               guest-physical access: type 15
 *
 * SDM 3C 30.4 "Virtualizing Memory-Mapped APIC Accesses" (30.4.1 priority,
 * 30.4.2 reads, 30.4.3 writes, 30.4.6 guest-physical accesses), 30.1.2 "TPR
 * Virtualization", 27.7.7 "VM Exits Induced by the TPR Threshold", 28.2.1
 * (exit qualification for APIC-access VM exits), 28.2.4 and 28.2.5
 * (IDT-vectoring information, instruction length), 3D appendix C (reasons
 * 43, 44).
 */
#include "hvsim.h"
#include "vmx.h"

#define P_TPR_SHADOW  (1u << 21)
#define P2_APIC       (1u << 0)
#define P2_EPT        (1u << 1)
#define P2_VPID       (1u << 5)
#define F_VAPIC       0x2012u
#define F_APIC_ACCESS 0x2014u
#define F_EPTP        0x201Au
#define F_TPR_THRESH  0x401Cu

#define EPT_RWX 7ull
#define EPT_WB  (6ull << 3)
#define EPT_PS  (1ull << 7)
#define EPT_ADDR 0x000FFFFFFFFFF000ull

static uint8_t guest_stack[8192] __attribute__((aligned(4096)));
static volatile uint32_t apic_page[1024] __attribute__((aligned(4096)));   /* the APIC-access page */
static volatile uint32_t vapic[1024] __attribute__((aligned(4096)));       /* the virtual-APIC page */
static volatile uint32_t other_page[1024] __attribute__((aligned(4096)));
static volatile uint32_t alias_page[1024] __attribute__((aligned(4096)));
static struct vmx_regs g;
static bool launched;
static uint64_t *ept_pml4;

#define GUEST(name) extern char name[]
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(
        ".globl g_rd\ng_rd: mov 0x30(%%rsi), %%eax\n vmcall\n"
        ".globl g_wr\ng_wr: mov %%ebx, 0x300(%%rsi)\n vmcall\n"
        ".globl g_rmw\ng_rmw: add %%ebx, 0xb0(%%rsi)\n vmcall\n"
        ".globl g_vrd\ng_vrd: mov 0x80(%%rsi), %%eax\n vmcall\n"
        ".globl g_vwr\ng_vwr: mov %%ebx, 0x80(%%rsi)\n vmcall\n"
        ".globl g_jmp\ng_jmp: jmp *%%rsi\n"
        ".globl g_int\ng_int: int $0x41\n vmcall\n"
        ".globl g_rd0\ng_rd0: mov (%%rsi), %%eax\n vmcall\n"
        ".globl g_nop\ng_nop: nop\n vmcall\n"
        ::: "memory");
}
GUEST(g_rd); GUEST(g_wr); GUEST(g_rmw); GUEST(g_vrd); GUEST(g_vwr); GUEST(g_jmp); GUEST(g_int); GUEST(g_rd0);
GUEST(g_nop);

static uint64_t A(const volatile void *p) { return (uint64_t)(uintptr_t)p; }

static void controls(uint32_t proc, uint32_t proc2)
{
    vmx_init_controls(0, proc, proc2 | P2_APIC, 0, 0);
    T_ASSERT(vmr(F_PROC2) & P2_APIC, "'virtualize APIC accesses' is not allowed");
    vmw(F_APIC_ACCESS, A(apic_page));
    vmw(F_VAPIC, A(vapic));
    vmw(F_TPR_THRESH, 0);
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_GUEST_INTERRUPTIBILITY, 0);
}

static uint64_t enter_at(const void *rip)
{
    vmw(F_GUEST_RIP, A(rip));
    vmw(F_GUEST_RSP, A(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, 0x2);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

static uint64_t grip(void) { return vmr(F_GUEST_RIP); }
static uint64_t qual(void) { return vmr(F_EXIT_QUALIFICATION); }

/* An APIC-access exit: reason, qualification, RIP at the instruction. */
static void expect_44(const char *what, uint64_t r, uint64_t q, const void *rip)
{
    hv_printf("%s: exit %llu, qualification %#llx, at the instruction: %s\n", what, (unsigned long long)r,
              (unsigned long long)qual(), hv_yn(grip() == A(rip)));
    hv_printf("  (instruction length %llu, IDT-vectoring information %#llx)\n",
              (unsigned long long)vmr(F_EXIT_INSN_LEN), (unsigned long long)vmr(F_IDT_VECTORING_INFO));
    T_CHECK_EQ(r, 44);
    T_CHECK_EQ(qual(), q);
    T_CHECK_EQ(grip(), A(rip));
}

static void case_read(void)
{
    controls(0, 0);
    apic_page[0x30 / 4] = 0x1234;
    g.rsi = A(apic_page);
    g.rax = 0;
    uint64_t r = enter_at(g_rd);
    expect_44("MOV load of offset 0x30", r, 0x030, g_rd);
    hv_printf("  the load did not happen: %s\n", hv_yn(g.rax == 0));
    T_CHECK_EQ(g.rax, 0);
    T_CHECK_EQ(vmr(F_IDT_VECTORING_INFO) >> 31, 0);
}

static void case_write(void)
{
    controls(0, 0);
    apic_page[0x300 / 4] = 0x55;
    g.rsi = A(apic_page);
    g.rbx = 0xC4500;
    uint64_t r = enter_at(g_wr);
    expect_44("MOV store to offset 0x300", r, 0x1300, g_wr);
    hv_printf("  the store did not happen: %s\n", hv_yn(apic_page[0x300 / 4] == 0x55));
    T_CHECK_EQ(apic_page[0x300 / 4], 0x55);
}

static void case_rmw(void)
{
    controls(0, 0);
    apic_page[0xB0 / 4] = 7;
    g.rsi = A(apic_page);
    g.rbx = 1;
    uint64_t r = enter_at(g_rmw);
    expect_44("ADD to offset 0xb0 (read-modify-write)", r, 0x10B0, g_rmw);
    T_CHECK_EQ(apic_page[0xB0 / 4], 7);
}

static void case_vtpr(void)
{
    controls(P_TPR_SHADOW, 0);
    apic_page[0x80 / 4] = 0xDEAD;
    vapic[0x80 / 4] = 0x5C;
    g.rsi = A(apic_page);
    g.rax = 0;
    uint64_t r = enter_at(g_vrd);
    hv_printf("32-bit MOV load of VTPR (offset 0x80) with the TPR shadow: exit %llu, EAX %#llx\n",
              (unsigned long long)r, (unsigned long long)g.rax);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(g.rax, 0x5C);
    g.rbx = 0xABCDEF37;
    r = enter_at(g_vwr);
    hv_printf("32-bit MOV store of 0xabcdef37 to VTPR: exit %llu, VTPR %#x, APIC-access page %#x\n",
              (unsigned long long)r, vapic[0x80 / 4], apic_page[0x80 / 4]);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(vapic[0x80 / 4], 0x37);
    T_CHECK_EQ(apic_page[0x80 / 4], 0xDEAD);
    r = enter_at(g_rd);
    expect_44("with the TPR shadow, MOV load of offset 0x30", r, 0x030, g_rd);
}

static void case_vtpr_below(void)
{
    controls(P_TPR_SHADOW, 0);
    vmw(F_TPR_THRESH, 4);
    vapic[0x80 / 4] = 0x40;
    g.rsi = A(apic_page);
    g.rbx = 0x30;
    uint64_t r = enter_at(g_vwr);
    hv_printf("MOV store of 0x30 to VTPR below TPR threshold 4: exit %llu, qualification %#llx, past the MOV: %s, "
              "VTPR %#x\n", (unsigned long long)r, (unsigned long long)qual(), hv_yn(grip() == A(g_vwr) + 6),
              vapic[0x80 / 4]);
    T_CHECK_EQ(r, 43);
    T_CHECK_EQ(qual(), 0);
    T_CHECK_EQ(grip(), A(g_vwr) + 6);
    T_CHECK_EQ(vapic[0x80 / 4], 0x30);
    vmw(F_TPR_THRESH, 3);
    r = vmx_enter(&g, 1);
    hv_printf("threshold 3, VMRESUME: exit %llu\n", (unsigned long long)vmr(F_EXIT_REASON));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
}

static void case_vtpr_entry(void)
{
    controls(P_TPR_SHADOW, 0);
    vmw(F_TPR_THRESH, 5);
    vapic[0x80 / 4] = 0x4F;
    uint64_t r = enter_at(g_nop);
    hv_printf("TPR threshold 5, VTPR 0x4f at VM entry: entered, exit %llu, qualification %#llx, before the first "
              "instruction: %s\n", (unsigned long long)r, (unsigned long long)qual(), hv_yn(grip() == A(g_nop)));
    T_CHECK_EQ(r, 43);
    T_CHECK_EQ(grip(), A(g_nop));
    vmw(F_TPR_THRESH, 4);
    r = vmx_enter(&g, 1);
    hv_printf("threshold 4, VMRESUME: exit %llu\n", (unsigned long long)vmr(F_EXIT_REASON));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
}

static void case_no_shadow(void)
{
    controls(0, 0);
    vapic[0x80 / 4] = 0x5C;
    g.rsi = A(apic_page);
    uint64_t r = enter_at(g_vrd);
    expect_44("without the TPR shadow, MOV load of VTPR", r, 0x080, g_vrd);
    g.rbx = 0x20;
    r = enter_at(g_vwr);
    expect_44("without the TPR shadow, MOV store to VTPR", r, 0x1080, g_vwr);
    T_CHECK_EQ(vapic[0x80 / 4], 0x5C);
}

static void case_fetch(void)
{
    controls(P_TPR_SHADOW, 0);
    g.rsi = A(apic_page) + 0x80;
    uint64_t r = enter_at(g_jmp);
    hv_printf("jump to offset 0x80: exit %llu, qualification %#llx, RIP the target: %s\n", (unsigned long long)r,
              (unsigned long long)qual(), hv_yn(grip() == A(apic_page) + 0x80));
    T_CHECK_EQ(r, 44);
    T_CHECK_EQ(qual(), 0x2080);
    T_CHECK_EQ(grip(), A(apic_page) + 0x80);
}

static void case_event(void)
{
    controls(0, 0);
    struct hv_dtr i;
    sidt(&i);
    memcpy((void *)(uintptr_t)A(apic_page), (const void *)(uintptr_t)i.base, 4096);
    vmw(F_GUEST_IDTR_BASE, A(apic_page));
    uint64_t r = enter_at(g_int);
    expect_44("INT 0x41 with the guest IDT on the page", r, 0x3410, g_int);
    hv_printf("  IDT-vectoring information %#llx, instruction length %llu\n",
              (unsigned long long)vmr(F_IDT_VECTORING_INFO), (unsigned long long)vmr(F_EXIT_INSN_LEN));
    T_CHECK_EQ(vmr(F_IDT_VECTORING_INFO), 0x80000441);
    T_CHECK_EQ(vmr(F_EXIT_INSN_LEN), 2);
    vmw(F_GUEST_IDTR_BASE, i.base);
}

static void case_host(void)
{
    controls(0, P2_VPID);              /* VPID 1: the host's translations stay cached across the exits */
    vmw(F_VPID, 1);
    apic_page[0x30 / 4] = 0x1111;
    hv_printf("host before VM entry: reads %#x\n", apic_page[0x30 / 4]);
    g.rsi = A(apic_page);
    uint64_t r = enter_at(g_rd);
    expect_44("guest MOV load of offset 0x30", r, 0x030, g_rd);
    apic_page[0x30 / 4] += 0x2222;
    hv_printf("host after the exit: writes and reads %#x\n", apic_page[0x30 / 4]);
    T_CHECK_EQ(apic_page[0x30 / 4], 0x3333);
    r = enter_at(g_rd);
    expect_44("guest again", r, 0x030, g_rd);
    hv_printf("host again: reads %#x\n", apic_page[0x30 / 4]);
    T_CHECK_EQ(apic_page[0x30 / 4], 0x3333);
}

/* ---- EPT ---- */

static uint64_t *table(uint64_t e) { return (uint64_t *)(uintptr_t)(e & EPT_ADDR); }

/* Identity-map [0, 4 GiB) with 2-MiB leaves; returns the EPTP. */
static uint64_t ept_build(void)
{
    ept_pml4 = hv_page_alloc();
    uint64_t *pdpt = hv_page_alloc();
    ept_pml4[0] = A(pdpt) | EPT_RWX;
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t *pd = hv_page_alloc();
        pdpt[i] = A(pd) | EPT_RWX;
        for (uint64_t j = 0; j < 512; j++)
            pd[j] = (i << 30) | (j << 21) | EPT_RWX | EPT_WB | EPT_PS;
    }
    return A(ept_pml4) | 6 | (3 << 3);
}

/* The 4-KiB EPT entry for gpa (its 2-MiB leaf split). */
static uint64_t *ept_pte(uint64_t gpa)
{
    uint64_t *pdpt = table(ept_pml4[0]);
    uint64_t *pd = table(pdpt[(gpa >> 30) & 511]);
    uint64_t *pde = &pd[(gpa >> 21) & 511];
    if (*pde & EPT_PS) {
        uint64_t *pt = hv_page_alloc();
        uint64_t base = *pde & EPT_ADDR;
        for (uint64_t k = 0; k < 512; k++)
            pt[k] = (base + (k << 12)) | EPT_RWX | EPT_WB;
        *pde = A(pt) | EPT_RWX;
    }
    return &table(*pde)[(gpa >> 12) & 511];
}

static void ept_setup(void)
{
    controls(0, P2_EPT);
    vmw(F_EPTP, ept_build());
}

static void case_ept(void)
{
    ept_setup();
    /* guest-physical alias_page -> host-physical apic_page: exits */
    *ept_pte(A(alias_page)) = A(apic_page) | EPT_RWX | EPT_WB;
    g.rsi = A(alias_page) + 0x30;
    uint64_t r = enter_at(g_rd0);
    expect_44("guest-physical page that EPT maps onto the APIC-access page, offset 0x30", r, 0x030, g_rd0);
    /* guest-physical apic_page -> host-physical other_page: ordinary memory */
    *ept_pte(A(apic_page)) = A(other_page) | EPT_RWX | EPT_WB;
    other_page[0x30 / 4] = 0x77;
    apic_page[0x30 / 4] = 0x99;
    g.rsi = A(apic_page) + 0x30;
    g.rax = 0;
    r = enter_at(g_rd0);
    hv_printf("guest-physical address of the APIC-access page mapped elsewhere: exit %llu, EAX %#llx (the other "
              "page's)\n", (unsigned long long)r, (unsigned long long)g.rax);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(g.rax, 0x77);
}

static void case_ept_walk(void)
{
    ept_setup();
    /* the guest's PML4 at guest-physical other_page, which EPT maps onto
     * the APIC-access page: the walk's first access exits */
    *ept_pte(A(other_page)) = A(apic_page) | EPT_RWX | EPT_WB;
    vmw(F_GUEST_CR3, A(other_page));
    uint64_t r = enter_at(g_nop);
    hv_printf("guest PML4 on the APIC-access page (through EPT): exit %llu, access type %llu, at the first "
              "instruction: %s, IDT-vectoring information valid: %s\n", (unsigned long long)r,
              (unsigned long long)((qual() >> 12) & 0xF), hv_yn(grip() == A(g_nop)),
              hv_yn(vmr(F_IDT_VECTORING_INFO) >> 31));
    T_CHECK_EQ(r, 44);
    T_CHECK_EQ((qual() >> 12) & 0xF, 15);
    T_CHECK_EQ(qual() >> 16, 0);
    T_CHECK_EQ(grip(), A(g_nop));
    vmw(F_GUEST_CR3, read_cr3());
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    /* 4-KiB pages for the APIC-access page and the alias (SDM 3C 30.4.5:
     * the control is guaranteed only through 4-KiB translations) */
    hv_map(A(apic_page), A(apic_page), PTE_P | PTE_W | PTE_A | PTE_D);
    hv_map(A(alias_page), A(alias_page), PTE_P | PTE_W | PTE_A | PTE_D);
    vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64(A(g_nop), A(guest_stack + sizeof(guest_stack) - 64));
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "read", case_read }, { "write", case_write }, { "rmw", case_rmw }, { "vtpr-below", case_vtpr_below },
        { "vtpr-entry", case_vtpr_entry }, { "vtpr", case_vtpr }, { "no-shadow", case_no_shadow },
        { "fetch", case_fetch }, { "event", case_event }, { "host", case_host }, { "ept-walk", case_ept_walk },
        { "ept", case_ept },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hv_cmdline_is(bi, cases[i].name)) {
            cases[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline read|write|rmw|vtpr|vtpr-below|vtpr-entry|no-shadow|fetch|event|host|ept|ept-walk\n");
    hv_exit(1);
}
