/*
 * svm_basic — AMD-V on the amd-server profile (AMD APM vol. 2 chapter 15):
 * a hypervisor-shaped payload with a VMCB for a 64-bit guest that shares
 * the payload's address space. The command line picks a group:
 *   discovery   CPUID Fn8000_0001 ECX.SVM and Fn8000_000A, VM_CR, VM_HSAVE_PA,
 *               the #UD and #GP rules of the SVM instructions, GIF with STGI/CLGI
 *   run         VMRUN; CPUID, HLT and VMMCALL intercepts with EXITCODE and
 *               nRIP; guest RAX saved in the VMCB; the host resumes each time
 *   invalid:NAME  VMRUN with one illegal state of svm_checks.def: EXITCODE -1
 *   io-msr      the I/O and MSR permission maps, both sides of each bit
 *   exceptions  exception intercepts (EXITINFO1 = error code, #PF address in
 *               EXITINFO2), INTn, the shutdown intercept, EVENTINJ
 *   vmsave      VMSAVE and VMLOAD of FS/GS/TR/LDTR and the syscall MSRs
 *   asid        ASID-tagged translations: the same ASID without TLB_CONTROL
 *               keeps a stale mapping, TLB_CONTROL 3 drops it, INVLPGA too
 *   npt         nested paging: identity nested tables, then each kind of #NPF
 *               (not present, write to read-only, execute of NX, a guest
 *               page-table access, an A-bit update, during event delivery),
 *               fixing the entry and resuming, G_PAT
 *   npt-stale   a nested entry made read-only without a TLB flush: the
 *               guest's cached writable translation survives (a missing-flush
 *               bug), TLB_CONTROL 3 makes the write fault
 */
#include "svm.h"

#ifndef MSR_STAR
#define MSR_STAR        0xC0000081u
#endif
#define MSR_KERNEL_GS   0xC0000102u
#define ADDR            0x000FFFFFFFFFF000ull
#define LA1             0x7F8000000000ull

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));
static uint8_t save_area[4096] __attribute__((aligned(4096)));
static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static volatile uint64_t page_a[512] __attribute__((aligned(4096)));
static volatile uint64_t page_b[512] __attribute__((aligned(4096)));

static struct svm_gregs g;

extern char g_cpuid_hlt[], g_vmmcall[], g_after_vmmcall[], g_io[], g_msr[], g_ud[], g_int[], g_pf[], g_triple[], g_read[];
extern char g_write[], g_rdpat[], g_nxcode[];
__asm__(".text\n"
        ".globl g_cpuid_hlt\ng_cpuid_hlt: mov $0x80000001, %eax\n cpuid\n hlt\n mov $0x1234, %eax\n"
        ".globl g_vmmcall\ng_vmmcall: vmmcall\n"
        ".globl g_after_vmmcall\ng_after_vmmcall: jmp g_after_vmmcall\n"
        ".globl g_io\ng_io: outb %al, $0x80\n inb $0x81, %al\n mov $0x3f8, %dx\n outw %ax, %dx\n vmmcall\n"
        ".globl g_msr\ng_msr: mov $0x174, %ecx\n rdmsr\n mov $0x175, %ecx\n wrmsr\n mov $0xc0000081, %ecx\n rdmsr\n"
        "  mov $0xc0010117, %ecx\n rdmsr\n mov $0x40000000, %ecx\n rdmsr\n vmmcall\n"
        ".globl g_ud\ng_ud: ud2\n vmmcall\n"
        ".globl g_int\ng_int: int $0x41\n vmmcall\n"
        ".globl g_pf\ng_pf: mov (%rsi), %rax\n vmmcall\n"
        ".globl g_triple\ng_triple: lidt (%rsi)\n ud2\n"
        ".globl g_read\ng_read: mov (%rsi), %rax\n vmmcall\n"
        ".globl g_write\ng_write: mov %rdx, (%rsi)\n mov (%rsi), %rax\n vmmcall\n"
        ".globl g_rdpat\ng_rdpat: mov $0x277, %ecx\n rdmsr\n shl $32, %rdx\n or %rdx, %rax\n vmmcall\n"
        ".balign 4096\n.globl g_nxcode\ng_nxcode: mov $0x77, %eax\n vmmcall\n .balign 4096\n");

static uint64_t pa(const volatile void *p) { return (uint64_t)(uintptr_t)p; }
static void w64(unsigned off, uint64_t v) { *(volatile uint64_t *)(vmcb + off) = v; }
static void w32(unsigned off, uint32_t v) { *(volatile uint32_t *)(vmcb + off) = v; }
static uint64_t r64(unsigned off) { return *(volatile uint64_t *)(vmcb + off); }

/* A VMCB for a 64-bit guest with the payload's CR0/CR3/CR4, EFER, GDT and
 * IDT, flat segments, at rip on the guest stack; ASID 1; VMRUN and
 * VMMCALL intercepted. */
static void vmcb_init(const void *rip)
{
    vmcb_guest64(vmcb, rip, pa(guest_stack + sizeof(guest_stack) - 64), iopm, msrpm);
    w32(V_I4, SVM_BIT(I4_VMRUN) | SVM_BIT(I4_VMMCALL));
}

/* NRIP save (CPUID Fn8000_000A EDX bit 3): without it (QEMU TCG), resume
 * after an intercepted instruction of known length from the saved RIP. */
static bool nrips;
static uint64_t next_rip(unsigned len)
{
    return nrips ? r64(V_NRIP) : r64(V_RIP) + len;
}

static void svm_on(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    nrips = (r[3] >> 3) & 1;
    svm_enable(hsave);
}

static uint64_t run(void)
{
    svm_run(pa(vmcb), &g);
    return r64(V_EXITCODE);
}

/* ---- discovery ---- */

static void do_vmrun(void *arg) { (void)arg; __asm__ volatile("mov %0, %%rax\n vmrun" ::"r"(pa(vmcb)) : "rax", "memory"); }
static void do_vmmcall(void *arg) { (void)arg; __asm__ volatile("vmmcall" ::: "memory"); }
static void do_skinit(void *arg) { (void)arg; __asm__ volatile("mov $0, %%eax\n skinit" ::: "rax", "memory"); }
static void do_vmrun_unaligned(void *arg)
{
    (void)arg;
    __asm__ volatile("mov %0, %%rax\n vmrun" ::"r"(pa(vmcb) + 8) : "rax", "memory");
}
static void do_hsave_unaligned(void *arg) { (void)arg; wrmsr(MSR_VM_HSAVE_PA, pa(hsave) + 0x10); }

static void group_discovery(void)
{
    uint32_t r[4];
    hv_cpuid(0x80000001, 0, r);
    hv_printf("CPUID 8000_0001H ECX.SVM (bit 2): %u\n", (r[2] >> 2) & 1);
    hv_cpuid(0x80000000, 0, r);
    hv_printf("maximum extended leaf %#x\n", r[0]);
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID 8000_000AH: revision %u, %u ASIDs, features EDX %#x (NRIP save: %u)\n", r[0], r[1], r[3],
              (r[3] >> 3) & 1);
    hv_printf("VM_CR %#llx\n", (unsigned long long)rdmsr(MSR_VM_CR));
    hv_printf("VMRUN with EFER.SVME = 0: #UD: %s\n", hv_yn(hv_call_expect(6, do_vmrun, NULL)));
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    hv_printf("EFER.SVME set: %s\n", hv_yn((rdmsr(MSR_EFER) & EFER_SVME) != 0));
    hv_printf("VM_HSAVE_PA not 4-KiB aligned: #GP: %s\n", hv_yn(hv_call_expect(13, do_hsave_unaligned, NULL)));
    wrmsr(MSR_VM_HSAVE_PA, pa(hsave));
    hv_printf("VM_HSAVE_PA reads back: %s\n", hv_yn(rdmsr(MSR_VM_HSAVE_PA) == pa(hsave)));
    hv_printf("VMRUN with rAX not 4-KiB aligned: #GP: %s\n", hv_yn(hv_call_expect(13, do_vmrun_unaligned, NULL)));
    hv_printf("VMMCALL outside a guest: #UD: %s\n", hv_yn(hv_call_expect(6, do_vmmcall, NULL)));
    hv_printf("SKINIT: #UD: %s\n", hv_yn(hv_call_expect(6, do_skinit, NULL)));
    __asm__ volatile("clgi\n stgi" ::: "memory");
    hv_printf("CLGI and STGI at CPL 0: completed\n");
}

/* ---- run ---- */

static void group_run(void)
{
    svm_on();
    vmcb_init(g_cpuid_hlt);
    w32(V_I3, SVM_BIT(I3_CPUID) | SVM_BIT(I3_HLT));
    w64(V_RAX, 0x5555);
    uint64_t code = run();
    uint64_t nrip = r64(V_NRIP), rip = r64(V_RIP);
    hv_printf("exit %#llx (CPUID), guest RIP %#llx, nRIP - RIP = %llu, guest RAX %#llx\n", (unsigned long long)code,
              (unsigned long long)(rip - (uint64_t)(uintptr_t)g_cpuid_hlt), (unsigned long long)(nrip - rip),
              (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(code, 0x72);
    T_CHECK_EQ(nrip - rip, 2);
    T_CHECK_EQ(r64(V_RAX), 0x80000001);
    w64(V_RIP, next_rip(2));
    code = run();
    nrip = r64(V_NRIP);
    rip = r64(V_RIP);
    hv_printf("exit %#llx (HLT), nRIP - RIP = %llu\n", (unsigned long long)code, (unsigned long long)(nrip - rip));
    T_CHECK_EQ(code, 0x78);
    T_CHECK_EQ(nrip - rip, 1);
    w64(V_RIP, next_rip(1));
    code = run();
    nrip = r64(V_NRIP);
    hv_printf("exit %#llx (VMMCALL), guest RAX %#llx, nRIP is after it: %s\n", (unsigned long long)code,
              (unsigned long long)r64(V_RAX), hv_yn(nrip == (uint64_t)(uintptr_t)g_after_vmmcall));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(r64(V_RAX), 0x1234);
    hv_printf("EVENTINJ valid bit clear: %s; CPL saved %u\n", hv_yn(!(r64(V_EVENTINJ) >> 31 & 1)), vmcb[V_CPL]);
}

/* ---- invalid guest states ---- */

static void group_invalid(const char *name)
{
    svm_on();
    vmcb_init(g_cpuid_hlt);
    static const struct { const char *name; unsigned off; uint64_t set, clear; } t[] = {
        { "EFER_SVME", V_EFER, 0, EFER_SVME },
        { "CR0_CD_NW", V_CR0, 1ull << 29, 1ull << 30 },
        { "CR0_HIGH", V_CR0, 1ull << 32, 0 },
        { "CR3_MBZ", V_CR3, 1ull << 62, 0 },
        { "CR4_MBZ", V_CR4, 1ull << 31, 0 },
        { "DR6_HIGH", V_DR6, 1ull << 40, 0 },
        { "DR7_HIGH", V_DR7, 1ull << 33, 0 },
        { "EFER_MBZ", V_EFER, 1ull << 20, 0 },
        { "LME_PG_PAE", V_CR4, 0, 1ull << 5 },
        { "LME_PG_PE", V_CR0, 0, 1ull },
        { "VMRUN_INTERCEPT", V_I4, 0, SVM_BIT(I4_VMRUN) },
        { "MSRPM_RANGE", V_MSRPM, 0xFFFFFFFFF000ull, 0 },
        { "IOPM_RANGE", V_IOPM, 0xFFFFFFFFF000ull, 0 },
        { "ASID_ZERO", V_ASID, 0, 0xFFFFFFFF },
        { "EVENTINJ_TYPE", V_EVENTINJ, (1ull << 31) | (1ull << 8), 0 },
        { "EVENTINJ_VECTOR", V_EVENTINJ, (1ull << 31) | (3ull << 8) | 2, 0 },
    };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        if (strcmp(name, t[k].name))
            continue;
        if (!strcmp(name, "LME_PG_CS_LD"))
            break;
        uint64_t v = *(volatile uint64_t *)(vmcb + t[k].off);
        if (t[k].off == V_I4 || t[k].off == V_ASID)
            *(volatile uint32_t *)(vmcb + t[k].off) = (uint32_t)((v | t[k].set) & ~t[k].clear);
        else
            *(volatile uint64_t *)(vmcb + t[k].off) = (v | t[k].set) & ~t[k].clear;
        uint64_t code = run();
        hv_printf("VMRUN with %s: EXITCODE %#llx, the host continues after VMRUN\n", name, (unsigned long long)code);
        T_CHECK_EQ(code, ~0ull);
        return;
    }
    if (!strcmp(name, "LME_PG_CS_LD")) {
        *(volatile uint16_t *)(vmcb + V_CS + 2) = 0xE9B;             /* L and D both set */
        uint64_t code = run();
        hv_printf("VMRUN with %s: EXITCODE %#llx, the host continues after VMRUN\n", name, (unsigned long long)code);
        T_CHECK_EQ(code, ~0ull);
        return;
    }
    hv_printf("no such check: %s\n", name);
    hv_exit(1);
}

/* ---- I/O and MSR permission maps ---- */

static void group_io_msr(void)
{
    svm_on();
    vmcb_init(g_io);
    w32(V_I3, SVM_BIT(I3_IOIO) | SVM_BIT(I3_MSR));
    iopm[0x81 / 8] |= 1u << (0x81 % 8);                              /* IN from 0x81 */
    iopm[0x3F9 / 8] |= 1u << (0x3F9 % 8);                            /* the high byte of a word at 0x3F8 */
    uint64_t code = run();
    hv_printf("OUT to port 0x80 (clear in the IOPM) runs; IN from 0x81: exit %#llx, EXITINFO1 %#llx, EXITINFO2 is "
              "the next RIP: %s\n", (unsigned long long)code, (unsigned long long)r64(V_EXITINFO1),
              hv_yn(r64(V_EXITINFO2) == r64(V_NRIP)));
    T_CHECK_EQ(code, 0x7B);
    T_CHECK_EQ(r64(V_EXITINFO1), (0x81ull << 16) | (1 << 4) | (4 << 7) | 1);
    w64(V_RIP, next_rip(2));                                         /* in al, 0x81 */
    code = run();
    hv_printf("OUT of a word to 0x3F8 whose second byte's bit is set: exit %#llx, EXITINFO1 %#llx\n",
              (unsigned long long)code, (unsigned long long)r64(V_EXITINFO1));
    T_CHECK_EQ(code, 0x7B);
    T_CHECK_EQ(r64(V_EXITINFO1), (0x3F8ull << 16) | (2 << 4) | (4 << 7));
    w64(V_RIP, next_rip(2));                                         /* out dx, ax */
    code = run();
    hv_printf("then VMMCALL: exit %#llx\n", (unsigned long long)code);
    T_CHECK_EQ(code, 0x81);

    vmcb_init(g_msr);
    w32(V_I3, SVM_BIT(I3_MSR));
    msrpm[(2 * 0x175 + 1) / 8] |= 1u << ((2 * 0x175 + 1) % 8);      /* WRMSR 0x175 */
    msrpm[0x800 + (2 * 0x81) / 8] |= 1u << ((2 * 0x81) % 8);         /* RDMSR 0xC0000081 */
    static const char *const what[] = { "WRMSR of 0x175 (write bit set)", "RDMSR of 0xC0000081 (read bit set)",
                                        "RDMSR of 0xC0010117 (clear in the third vector)",
                                        "RDMSR of 0x40000000 (outside the map: always)" };
    static const uint64_t expect_ecx[] = { 0x175, 0xC0000081, 0xC0010117, 0x40000000 };
    for (unsigned k = 0; k < 4; k++) {
        code = run();
        uint64_t ecx = g.rcx & 0xFFFFFFFF;
        hv_printf("%s: exit %#llx, EXITINFO1 %llu, ECX %#llx\n", what[k], (unsigned long long)code,
                  (unsigned long long)r64(V_EXITINFO1), (unsigned long long)ecx);
        if (k == 2) {
            /* not intercepted: it ran, and so the next exit is the one after */
            T_CHECK_EQ(ecx, 0x40000000);
            w64(V_RIP, next_rip(2));
            break;
        }
        T_CHECK_EQ(code, 0x7C);
        T_CHECK_EQ(ecx, expect_ecx[k]);
        T_CHECK_EQ(r64(V_EXITINFO1), k == 0 ? 1 : 0);
        w64(V_RIP, next_rip(2));                                     /* RDMSR and WRMSR: 2 bytes */
        if (k == 1)
            k++;                                                     /* 0xC0010117 runs without an exit */
    }
}

/* ---- exceptions, INTn, shutdown, EVENTINJ ---- */

static volatile uint64_t ud_handled, ud_skip = 2;
static bool on_ud(struct hv_frame *f)
{
    ud_handled++;
    f->rip += ud_skip;                   /* past a UD2; 0 for an injected #UD (RIP is the next instruction) */
    return true;
}

static void group_exceptions(void)
{
    svm_on();
    hv_set_handler(6, on_ud);
    vmcb_init(g_ud);
    w32(V_EXC_ICPT, 1u << 6);
    uint64_t code = run();
    hv_printf("UD2 with the #UD intercept: exit %#llx, at the UD2: %s\n", (unsigned long long)code,
              hv_yn(r64(V_RIP) == (uint64_t)(uintptr_t)g_ud));
    T_CHECK_EQ(code, 0x46);
    w32(V_EXC_ICPT, 0);
    code = run();
    hv_printf("without it: the guest's handler ran %llu time(s), then exit %#llx\n", (unsigned long long)ud_handled,
              (unsigned long long)code);
    T_CHECK_EQ(ud_handled, 1);
    T_CHECK_EQ(code, 0x81);

    vmcb_init(g_pf);
    w32(V_EXC_ICPT, 1u << 14);
    g.rsi = 0x7FFF00000000ull;                                       /* not mapped */
    code = run();
    hv_printf("#PF with the #PF intercept: exit %#llx, EXITINFO1 (error code) %#llx, EXITINFO2 (address) %#llx\n",
              (unsigned long long)code, (unsigned long long)r64(V_EXITINFO1), (unsigned long long)r64(V_EXITINFO2));
    T_CHECK_EQ(code, 0x4E);
    T_CHECK_EQ(r64(V_EXITINFO1), 0);
    T_CHECK_EQ(r64(V_EXITINFO2), 0x7FFF00000000ull);

    vmcb_init(g_int);
    w32(V_I3, SVM_BIT(I3_INTN));
    code = run();
    hv_printf("INT 0x41 with the INTn intercept: exit %#llx, at the INT: %s\n", (unsigned long long)code,
              hv_yn(r64(V_RIP) == (uint64_t)(uintptr_t)g_int));
    T_CHECK_EQ(code, 0x75);

    static uint8_t bad_idt[10];
    vmcb_init(g_triple);
    w32(V_I3, SVM_BIT(I3_SHUTDOWN));
    g.rsi = pa(bad_idt);                                             /* an IDT with limit 0 */
    code = run();
    hv_printf("a triple fault with the shutdown intercept: exit %#llx\n", (unsigned long long)code);
    T_CHECK_EQ(code, 0x7F);

    ud_handled = 0;
    ud_skip = 0;
    vmcb_init(g_vmmcall);
    w64(V_EVENTINJ, (1ull << 31) | (3ull << 8) | 6);                 /* inject #UD */
    code = run();
    hv_printf("EVENTINJ of #UD: the guest's handler ran %llu time(s) first, then exit %#llx\n",
              (unsigned long long)ud_handled, (unsigned long long)code);
    T_CHECK_EQ(ud_handled, 1);
}

/* ---- VMSAVE / VMLOAD ---- */

static void group_vmsave(void)
{
    svm_on();
    uint64_t star = rdmsr(MSR_STAR), kgs = 0xFFFF888812345000ull;
    wrmsr(MSR_KERNEL_GS, kgs);
    uint64_t sa = pa(save_area);
    __asm__ volatile("mov %0, %%rax\n vmsave" ::"r"(sa) : "rax", "memory");
    hv_printf("VMSAVE: KernelGSBase %s, STAR %s\n",
              hv_yn(*(volatile uint64_t *)(save_area + V_KGS) == kgs),
              hv_yn(*(volatile uint64_t *)(save_area + V_STAR) == star));
    wrmsr(MSR_KERNEL_GS, 0);
    *(volatile uint64_t *)(save_area + V_STAR) = 0x0023001000000000ull;
    __asm__ volatile("mov %0, %%rax\n vmload" ::"r"(sa) : "rax", "memory");
    hv_printf("VMLOAD: KernelGSBase back %s, STAR %#llx\n", hv_yn(rdmsr(MSR_KERNEL_GS) == kgs),
              (unsigned long long)rdmsr(MSR_STAR));
    T_CHECK_EQ(rdmsr(MSR_KERNEL_GS), kgs);
    T_CHECK_EQ(rdmsr(MSR_STAR), 0x0023001000000000ull);
}

/* ---- ASIDs ---- */

static uint64_t *make_root(uint64_t target)
{
    uint64_t *pml4 = hv_page_alloc();
    memcpy(pml4, (const void *)(uintptr_t)(read_cr3() & ADDR), 4096);
    uint64_t *pdpt = hv_page_alloc(), *pd = hv_page_alloc(), *pt = hv_page_alloc();
    pml4[255] = pa(pdpt) | PTE_P | PTE_W;
    pdpt[0] = pa(pd) | PTE_P | PTE_W;
    pd[0] = pa(pt) | PTE_P | PTE_W;
    pt[0] = target | PTE_P | PTE_W | PTE_A | PTE_D;
    return pml4;
}

static void group_asid(void)
{
    svm_on();
    page_a[0] = 0xA;
    page_b[0] = 0xB;
    uint64_t *t1 = make_root(pa(page_a)), *t2 = make_root(pa(page_b));
    vmcb_init(g_read);
    w64(V_CR3, pa(t1));
    g.rsi = LA1;
    run();
    hv_printf("ASID 1, LA1 mapped to page A: the guest reads %#llx\n", (unsigned long long)r64(V_RAX));
    vmcb_init(g_read);
    w64(V_CR3, pa(t2));
    run();
    hv_printf("same ASID, tables mapping LA1 to page B, TLB_CONTROL 0: %#llx\n", (unsigned long long)r64(V_RAX));
    vmcb_init(g_read);
    w64(V_CR3, pa(t2));
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    run();
    hv_printf("TLB_CONTROL 3 (flush this guest's ASID): %#llx\n", (unsigned long long)r64(V_RAX));
    vmcb_init(g_read);
    w64(V_CR3, pa(t1));
    run();
    hv_printf("back to tables 1 without a flush: %#llx\n", (unsigned long long)r64(V_RAX));
    __asm__ volatile("mov %0, %%rax\n mov $1, %%ecx\n invlpga" ::"r"(LA1) : "rax", "rcx", "memory");
    vmcb_init(g_read);
    w64(V_CR3, pa(t1));
    run();
    hv_printf("after INVLPGA of LA1 in ASID 1: %#llx\n", (unsigned long long)r64(V_RAX));
}


/* ---- nested paging (APM 15.25) ---- */

#define I_NPF 0x400ull
/* identity nested tables for guest-physical 0-4 GiB (svm.h) */
static struct svm_npt nt;
static uint64_t npt_build(void) { svm_npt_identity(&nt); return nt.ncr3; }
static volatile uint64_t *npte(uint64_t gpa) { return svm_npte(&nt, gpa); }

static uint64_t ncr3;

static void vmcb_npt(const void *rip)
{
    vmcb_init(rip);
    w64(V_NP_ENABLE, 1);
    w64(V_NCR3, ncr3);
    w64(V_GPAT, 0x0007040600070406ull);
}

static void npf_report(const char *what, uint64_t code, uint64_t want_info1, uint64_t want_gpa)
{
    uint64_t i1 = r64(V_EXITINFO1), i2 = r64(V_EXITINFO2);
    hv_printf("%s: exit %#llx, EXITINFO1 %#llx, EXITINFO2 is the expected guest-physical address: %s\n", what,
              (unsigned long long)code, (unsigned long long)i1, hv_yn(i2 == want_gpa));
    T_CHECK_EQ(code, I_NPF);
    T_CHECK_EQ(i1, want_info1);
    T_CHECK_EQ(i2, want_gpa);
}

/* Guest tables mapping LA1 + 5 pages -> target, their PD without the
 * accessed flag (the walk must set it). */
static uint64_t *g_pd, *g_pt;
static uint64_t *guest_tables(uint64_t target)
{
    uint64_t *pml4 = hv_page_alloc();
    memcpy(pml4, (const void *)(uintptr_t)(read_cr3() & ADDR), 4096);
    uint64_t *pdpt = hv_page_alloc();
    g_pd = hv_page_alloc();
    g_pt = hv_page_alloc();
    pml4[255] = pa(pdpt) | PTE_P | PTE_W | PTE_A;
    pdpt[0] = pa(g_pd) | PTE_P | PTE_W | PTE_A;
    g_pd[0] = pa(g_pt) | PTE_P | PTE_W;
    g_pt[5] = target | PTE_P | PTE_W | PTE_A | PTE_D;
    return pml4;
}

static void group_npt(void)
{
    svm_on();
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID 8000_000AH EDX bit 0 (nested paging): %u\n", r[3] & 1);
    T_CHECK_EQ(r[3] & 1, 1);
    ncr3 = npt_build();
    page_a[0] = 0xA;
    page_b[0] = 0xB;

    vmcb_npt(g_read);
    g.rsi = pa(page_a);
    uint64_t code = run();
    hv_printf("identity nested tables: exit %#llx, the guest read %#llx\n", (unsigned long long)code,
              (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(r64(V_RAX), 0xA);

    /* not present: EXITINFO1 = U (nested accesses are user accesses) |
     * final translation. The guest's translation of page A is cached under
     * ASID 1 from the first run: without a flush it would still be used. */
    volatile uint64_t *e = npte(pa(page_a));
    uint64_t keep = *e;
    *e = 0;
    vmcb_npt(g_read);
    g.rsi = pa(page_a) + 0x18;
    code = run();
    hv_printf("entry cleared, same ASID, TLB_CONTROL 0: exit %#llx\n",
              (unsigned long long)code);
    vmcb_npt(g_read);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    code = run();
    npf_report("read of a guest-physical page not present in the nested tables", code, 0x100000004ull,
               pa(page_a) + 0x18);
    hv_printf("  guest RIP is the read: %s; EXITINTINFO %#llx\n",
              hv_yn(r64(V_RIP) == (uint64_t)(uintptr_t)g_read), (unsigned long long)r64(V_EXITINTINFO));
    *e = keep;
    page_a[3] = 0x33;
    code = run();
    hv_printf("entry made present, VMRUN again without a flush: exit %#llx, the guest read %#llx\n",
              (unsigned long long)code, (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(r64(V_RAX), 0x33);

    /* read-only: a read goes through, a write faults with P|W|U */
    e = npte(pa(page_b));
    *e &= ~PTE_W;
    vmcb_npt(g_read);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    g.rsi = pa(page_b);
    code = run();
    hv_printf("read of a read-only nested page: exit %#llx, %#llx\n", (unsigned long long)code,
              (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(code, 0x81);
    vmcb_npt(g_write);
    g.rsi = pa(page_b) + 8;
    g.rdx = 0xBB;
    code = run();
    npf_report("write to a read-only nested page", code, 0x100000007ull, pa(page_b) + 8);
    *e |= PTE_W;
    vmcb_npt(g_write);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    code = run();
    hv_printf("entry made writable, TLB_CONTROL 3: exit %#llx, page B word 1 = %#llx\n", (unsigned long long)code,
              (unsigned long long)page_b[1]);
    T_CHECK_EQ(page_b[1], 0xBB);

    /* execute of a nested NX page (host EFER.NXE = 1): P|U|I/D */
    e = npte(pa(g_nxcode));
    *e |= PTE_NX;
    vmcb_npt(g_nxcode);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    code = run();
    npf_report("fetch from a nested NX page", code, 0x100000015ull, pa(g_nxcode));
    *e &= ~PTE_NX;
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    code = run();
    hv_printf("NX cleared: exit %#llx, guest RAX %#llx\n", (unsigned long long)code, (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(r64(V_RAX), 0x77);

    /* guest page-table accesses, which the nested walk treats as user
     * writes (npt.c): the guest's PT page not present (W|U | guest
     * page-table access), then its PD read-only in the nested tables although
     * the walk has no flag to set in it (P|W|U | guest page-table access) */
    uint64_t *gt = guest_tables(pa(page_a));
    uint64_t la = LA1 + 5 * 4096;
    e = npte(pa(g_pt));
    keep = *e;
    *e = 0;
    vmcb_npt(g_read);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    w64(V_CR3, pa(gt));
    g.rsi = la;
    code = run();
    npf_report("guest page-table page not present in the nested tables", code, 0x200000006ull, pa(g_pt) + 5 * 8);
    *e = keep;
    g_pd[0] |= PTE_A;
    e = npte(pa(g_pd));
    *e &= ~PTE_W;
    code = run();
    npf_report("guest PD read-only in the nested tables, no flag to update", code, 0x200000007ull, pa(g_pd));
    *e |= PTE_W;
    code = run();
    hv_printf("PD writable again: exit %#llx, the guest read %#llx through its own tables\n",
              (unsigned long long)code, (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(r64(V_RAX), 0xA);

    /* #NPF while delivering an exception: the guest's IDT entry for #UD
     * is in a page not present in the nested tables */
    struct hv_dtr id;
    sidt(&id);
    uint64_t ud_gate = id.base + 6 * 16;
    e = npte(ud_gate);
    keep = *e;
    *e = 0;
    vmcb_npt(g_ud);
    code = run();
    npf_report("#UD delivery reads a gate not present in the nested tables", code, 0x100000004ull, ud_gate);
    hv_printf("  EXITINTINFO %#llx (valid, exception, vector 6), guest RIP at the UD2: %s\n",
              (unsigned long long)r64(V_EXITINTINFO), hv_yn(r64(V_RIP) == (uint64_t)(uintptr_t)g_ud));
    T_CHECK_EQ(r64(V_EXITINTINFO), 0x80000306ull);
    *e = keep;

    /* G_PAT is the guest's PAT under nested paging; the host's comes back */
    uint64_t host_pat = rdmsr(0x277);
    vmcb_npt(g_rdpat);
    w64(V_GPAT, 0x0606060606060606ull);
    code = run();
    hv_printf("guest RDMSR PAT with G_PAT 0x0606060606060606: %#llx; host PAT after #VMEXIT unchanged: %s\n",
              (unsigned long long)r64(V_RAX), hv_yn(rdmsr(0x277) == host_pat));
    T_CHECK_EQ(r64(V_RAX), 0x0606060606060606ull);
}

/* A nested entry downgraded to read-only without a flush (15.16: the VMM
 * must flush the ASID's translations after changing the nested tables). */
static void group_npt_stale(void)
{
    svm_on();
    ncr3 = npt_build();
    volatile uint64_t *e = npte(pa(page_a));
    vmcb_npt(g_write);
    g.rsi = pa(page_a);
    g.rdx = 0x1;
    uint64_t code = run();
    hv_printf("guest write through a writable nested entry: exit %#llx\n", (unsigned long long)code);
    *e &= ~PTE_W;
    vmcb_npt(g_write);
    g.rdx = 0x2;
    code = run();
    hv_printf("entry made read-only, same ASID, TLB_CONTROL 0: exit %#llx, page A word 0 = %#llx\n",
              (unsigned long long)code, (unsigned long long)page_a[0]);
    vmcb_npt(g_write);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    g.rdx = 0x3;
    code = run();
    hv_printf("TLB_CONTROL 3: exit %#llx, EXITINFO1 %#llx, page A word 0 = %#llx\n", (unsigned long long)code,
              (unsigned long long)r64(V_EXITINFO1), (unsigned long long)page_a[0]);
    T_CHECK_EQ(code, I_NPF);

    /* other nested tables (guest-physical page A -> system-physical page
     * B), same ASID: the TLB is not tagged by N_CR3 */
    page_a[0] = 0xA;
    page_b[0] = 0xB;
    vmcb_npt(g_read);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    g.rsi = pa(page_a);
    run();
    hv_printf("tables 1, guest-physical page A: %#llx\n", (unsigned long long)r64(V_RAX));
    ncr3 = npt_build();
    e = npte(pa(page_a));
    *e = pa(page_b) | PTE_P | PTE_W | PTE_U;
    vmcb_npt(g_read);
    run();
    hv_printf("N_CR3 switched to tables mapping it to page B, TLB_CONTROL 0: %#llx\n", (unsigned long long)r64(V_RAX));
    vmcb_npt(g_read);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    run();
    hv_printf("TLB_CONTROL 3: %#llx\n", (unsigned long long)r64(V_RAX));
    T_CHECK_EQ(r64(V_RAX), 0xB);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    if (hv_cmdline_is(bi, "discovery")) group_discovery();
    else if (hv_cmdline_is(bi, "run")) group_run();
    else if (c && !memcmp(c, "invalid:", 8)) group_invalid(c + 8);
    else if (hv_cmdline_is(bi, "io-msr")) group_io_msr();
    else if (hv_cmdline_is(bi, "exceptions")) group_exceptions();
    else if (hv_cmdline_is(bi, "vmsave")) group_vmsave();
    else if (hv_cmdline_is(bi, "asid")) group_asid();
    else if (hv_cmdline_is(bi, "npt")) group_npt();
    else if (hv_cmdline_is(bi, "npt-stale")) group_npt_stale();
    else {
        hv_printf("usage: --cmdline discovery|run|invalid:CHECK|io-msr|exceptions|vmsave|asid|npt|npt-stale\n");
        hv_exit(1);
    }
    T_DONE();
}
