/*
 * svm_smm — the AMD-V intercepts around SMM and legacy x87 errors, and the
 * TSC ratio (AMD APM vol. 2 chapter 15; docs/svm.md) on the amd-server
 * profile. One VMCB for a 64-bit guest that shares the payload's address
 * space, GDT and IDT. The command line names one group; each scenario in
 * scenarios/svm/smm/ runs one:
 *
 *   rsm          the RSM intercept (15.9, exit 0x73) comes before RSM's #UD
 *                outside SMM; without it the guest's RSM is #UD
 *   smi          an SMI sent by the guest to itself (ICR delivery mode SMI)
 *                with the SMI intercept (15.13.3): #VMEXIT 0x62, the SMI
 *                stays pending and GIF = 0 holds it (15.17); the run ends
 *                before the host's STGI would let it into SMM
 *   smi-stgi     the same, then STGI: the SMI would enter SMM (not modelled)
 *   smi-no-intercept  the guest's SMI without the intercept: SMM (not modelled)
 *   ferr         the FERR_FREEZE intercept (exit 0x7E): an unmasked x87
 *                exception in a guest with CR0.NE = 0 freezes at the next
 *                waiting x87 instruction; with CR0.NE = 1 it is #MF
 *   tsc-ratio    TSC_RATIO (MSR C000_0104, 15.30.5): reset 1.0, reserved
 *                bits #GP, the guest's RDTSC/RDMSR read TSC * ratio + offset
 *
 * Every group reports what it saw on the console and checks the APM's
 * values with T_CHECK_EQ, so a wrong value fails the payload too.
 */
#include "svm.h"

#define MSR_TSC_RATIO   0xC0000104u
#define APIC_ICR_PA     0xFEE00300ull
#define ICR_SMI         (2u << 8)
#define CR0_NE          (1ull << 5)

#define B(n) (1u << (n))
#define A(p) ((uint64_t)(uintptr_t)(p))
#define U(x) ((unsigned long long)(x))

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));
static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static struct svm_gregs g;

/* Guest code; a VMMCALL (intercepted) ends each snippet. */
extern char gs_rsm[], gs_smi[], gs_smi_after[], gs_smi_end[], gs_x87[], gs_x87_fwait[], gs_rdtsc[], gs_rdmsr[];
__asm__(".text\n"
        ".globl gs_rsm\ngs_rsm: rsm\n vmmcall\n"
        /* the ICR: destination (RDX) in ICR high, then delivery mode SMI */
        ".globl gs_smi\ngs_smi: movl %edx, 0x10(%rdi)\n movl %esi, (%rdi)\n"
        ".globl gs_smi_after\ngs_smi_after: nop\n nop\n nop\n"
        ".globl gs_smi_end\ngs_smi_end: vmmcall\n"
        /* #Z unmasked (control word 0x37B), then a waiting x87 instruction */
        ".globl gs_x87\ngs_x87: pushq $0x37B\n fldcw (%rsp)\n fld1\n fldz\n fdivrp %st, %st(1)\n"
        ".globl gs_x87_fwait\ngs_x87_fwait: fwait\n fninit\n popq %rax\n vmmcall\n"
        ".globl gs_rdtsc\ngs_rdtsc: rdtsc\n vmmcall\n"
        ".globl gs_rdmsr\ngs_rdmsr: rdmsr\n vmmcall\n");

static void w64(unsigned off, uint64_t v) { *(volatile uint64_t *)(vmcb + off) = v; }
static void w32(unsigned off, uint32_t v) { *(volatile uint32_t *)(vmcb + off) = v; }
static uint64_t r64(unsigned off) { return *(volatile uint64_t *)(vmcb + off); }

static void fresh(const void *rip)
{
    vmcb_guest64(vmcb, rip, svm_pa(guest_stack + sizeof(guest_stack) - 64), iopm, msrpm);
    memset(&g, 0, sizeof(g));
    w32(V_I4, B(I4_VMRUN) | B(I4_VMMCALL));
}

static uint64_t run(void)
{
    svm_run(svm_pa(vmcb), &g);
    return r64(V_EXITCODE);
}

/* ---- RSM (APM 15.9 table 15-7: the RSM intercept, exit code 0x73) ---- */

static volatile uint64_t ud_n, ud_rip;
static bool on_ud(struct hv_frame *f)
{
    ud_n++;
    ud_rip = f->rip;
    f->rip += 2;                                  /* past the RSM */
    return true;
}

static void group_rsm(void)
{
    fresh(gs_rsm);
    w32(V_I3, B(I3_RSM));
    uint64_t code = run(), rip = r64(V_RIP), nrip = r64(V_NRIP);
    hv_printf("RSM in the guest with the RSM intercept: exit %#llx, guest RIP at the RSM: %s, nRIP - RIP = %llu\n",
              U(code), hv_yn(rip == A(gs_rsm)), U(nrip - rip));
    T_CHECK_EQ(code, 0x73);
    T_CHECK_EQ(rip, A(gs_rsm));
    T_CHECK_EQ(nrip - rip, 2);
    fresh(gs_rsm);
    w32(V_I3, B(I3_RSM));
    w32(V_EXC_ICPT, B(6));
    code = run();
    hv_printf("  with the #UD intercept as well: exit %#llx (the intercept comes before the #UD)\n", U(code));
    T_CHECK_EQ(code, 0x73);
    fresh(gs_rsm);
    hv_set_handler(6, on_ud);
    code = run();
    hv_printf("RSM in the guest without the intercept: #UD in the guest (%llu, at the RSM: %s); next exit %#llx "
              "(VMMCALL)\n", U(ud_n), hv_yn(ud_rip == A(gs_rsm)), U(code));
    T_CHECK_EQ(ud_n, 1);
    T_CHECK_EQ(code, 0x81);
    ud_n = 0;
    __asm__ volatile("rsm" ::: "memory");
    hv_printf("RSM in the host: #UD (%llu)\n", U(ud_n));
    T_CHECK_EQ(ud_n, 1);
}

/* ---- SMI (APM 15.13.3 "SMI Intercept", 15.17 GIF) ---- */

static uint64_t smi_guest(bool intercept)
{
    fresh(gs_smi);
    if (intercept)
        w32(V_I3, B(I3_SMI));
    g.rdi = APIC_ICR_PA;
    g.rdx = (uint64_t)apic_self_id() << 24;
    g.rsi = ICR_SH_NONE | ICR_ASSERT | ICR_SMI;
    return run();
}

static void group_smi(bool stgi)
{
    uint64_t code = smi_guest(true), rip = r64(V_RIP);
    hv_printf("an SMI sent by the guest to its own APIC ID with the SMI intercept: exit %#llx, EXITINFO1 %#llx, "
              "EXITINFO2 %#llx, nRIP %#llx, guest RIP after the ICR write: %s\n", U(code), U(r64(V_EXITINFO1)),
              U(r64(V_EXITINFO2)), U(r64(V_NRIP)), hv_yn(rip >= A(gs_smi_after) && rip <= A(gs_smi_end)));
    T_CHECK_EQ(code, 0x62);
    T_CHECK_EQ(r64(V_EXITINFO1), 1);
    T_CHECK_EQ(r64(V_EXITINFO2), 0);
    T_CHECK_EQ(r64(V_NRIP), 0);
    T_CHECK(rip >= A(gs_smi_after) && rip <= A(gs_smi_end), "guest RIP %#llx", U(rip));
    hv_printf("  GIF = 0 after #VMEXIT holds the SMI: the host runs on\n");
    if (!stgi)
        return;
    hv_printf("  STGI: the SMI would enter SMM now\n");
    __asm__ volatile("stgi\n nop" ::: "memory");
    hv_printf("the run went on after STGI\n");
    hv_exit(1);
}

static void group_smi_no_intercept(void)
{
    hv_printf("an SMI sent by the guest to its own APIC ID without the SMI intercept\n");
    uint64_t code = smi_guest(false);
    hv_printf("the run went on: exit %#llx\n", U(code));
    hv_exit(1);
}

/* ---- FERR_FREEZE (APM table B-1 vector 3 bit 30, exit code 0x7E) ---- */

static volatile uint64_t mf_n, mf_rip;
static bool on_mf(struct hv_frame *f)
{
    mf_n++;
    mf_rip = f->rip;
    f->rip += 1;                                  /* past the FWAIT; the guest's FNINIT clears the error */
    return true;
}

static void group_ferr(void)
{
    fresh(gs_x87);
    w32(V_I3, B(I3_FERR));
    w64(V_CR0, read_cr0() & ~CR0_NE);
    uint64_t code = run(), rip = r64(V_RIP);
    hv_printf("an unmasked x87 #Z in a guest with CR0.NE = 0 and the FERR_FREEZE intercept: exit %#llx at the "
              "FWAIT: %s, nRIP %#llx, EXITINFO1 %#llx\n", U(code), hv_yn(rip == A(gs_x87_fwait)), U(r64(V_NRIP)),
              U(r64(V_EXITINFO1)));
    T_CHECK_EQ(code, 0x7E);
    T_CHECK_EQ(rip, A(gs_x87_fwait));
    T_CHECK_EQ(r64(V_NRIP), 0);
    T_CHECK_EQ(r64(V_EXITINFO1), 0);
    __asm__ volatile("fninit");
    fresh(gs_x87);
    w32(V_I3, B(I3_FERR));
    hv_set_handler(16, on_mf);
    code = run();
    hv_printf("the same with CR0.NE = 1: #MF in the guest (%llu, at the FWAIT: %s), no freeze; next exit %#llx "
              "(VMMCALL)\n", U(mf_n), hv_yn(mf_rip == A(gs_x87_fwait)), U(code));
    T_CHECK_EQ(mf_n, 1);
    T_CHECK_EQ(code, 0x81);
}

/* ---- TSC_RATIO (APM 15.30.5): guest TSC = host TSC * ratio + TSC_OFFSET ---- */

#define TSC_OFF (1ull << 48)
static void ratio_check(const char *what, uint64_t ratio, uint64_t before, uint64_t after, uint64_t guest)
{
    uint64_t lo = (uint64_t)(((unsigned __int128)before * ratio) >> 32) + TSC_OFF;
    uint64_t hi = (uint64_t)(((unsigned __int128)after * ratio) >> 32) + TSC_OFF;
    bool ok = guest >= lo && guest <= hi;
    hv_printf("  %s: the guest's TSC lies between host TSC * ratio + TSC_OFFSET before and after VMRUN: %s\n", what,
              hv_yn(ok));
    T_CHECK(ok, "guest %#llx, expected %#llx..%#llx", U(guest), U(lo), U(hi));
}

static void ratio_bit40(void *arg)
{
    (void)arg;
    wrmsr(MSR_TSC_RATIO, 1ull << 40);
}

static void group_tsc_ratio(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID Fn8000_000A EDX bit 4 (TscRateMsr): %u\n", (r[3] >> 4) & 1);
    T_CHECK_EQ((r[3] >> 4) & 1, 1);
    hv_printf("TSC_RATIO after reset: %#llx (1.0)\n", U(rdmsr(MSR_TSC_RATIO)));
    T_CHECK_EQ(rdmsr(MSR_TSC_RATIO), 0x100000000ull);
    bool gp = hv_call_expect(13, ratio_bit40, NULL);
    hv_printf("WRMSR TSC_RATIO with bit 40 (reserved): #GP: %s; TSC_RATIO still %#llx\n", hv_yn(gp),
              U(rdmsr(MSR_TSC_RATIO)));
    T_CHECK(gp, "no #GP");
    T_CHECK_EQ(rdmsr(MSR_TSC_RATIO), 0x100000000ull);
    static const struct { const char *what; uint64_t ratio; } t[] = {
        { "ratio 2.0", 0x200000000ull }, { "ratio 0.5", 0x80000000ull }, { "ratio 1.75", 0x1C0000000ull },
    };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        wrmsr(MSR_TSC_RATIO, t[k].ratio);
        fresh(gs_rdtsc);
        w64(V_TSC_OFFSET, TSC_OFF);
        uint64_t t0 = rdtsc();
        uint64_t code = run();
        uint64_t t1 = rdtsc();
        hv_printf("RDTSC in the guest, TSC_RATIO %#llx (%s), TSC_OFFSET 2^48: exit %#llx\n", U(t[k].ratio),
                  t[k].what, U(code));
        T_CHECK_EQ(code, 0x81);
        ratio_check("RDTSC", t[k].ratio, t0, t1, (r64(V_RAX) & 0xFFFFFFFFull) | (g.rdx << 32));
        hv_printf("  the host's TSC is not scaled: it advanced by less than 2^20: %s\n", hv_yn(t1 - t0 < (1u << 20)));
        T_CHECK(t1 - t0 < (1u << 20), "host TSC %#llx..%#llx", U(t0), U(t1));
    }
    wrmsr(MSR_TSC_RATIO, 0x300000000ull);
    fresh(gs_rdmsr);
    g.rcx = 0x10;
    w64(V_TSC_OFFSET, TSC_OFF);
    uint64_t t0 = rdtsc();
    uint64_t code = run();
    uint64_t t1 = rdtsc();
    hv_printf("RDMSR of the TSC in the guest, TSC_RATIO 3.0: exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x81);
    ratio_check("RDMSR TSC", 0x300000000ull, t0, t1, (r64(V_RAX) & 0xFFFFFFFFull) | (g.rdx << 32));
    wrmsr(MSR_TSC_RATIO, 0x100000000ull);
}

static bool is(const char *c, const char *word)
{
    size_t n = strlen(word);
    return c && !memcmp(c, word, n) && (c[n] == 0 || c[n] == ' ');
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    if (lp != 0)
        for (;;)
            hlt();
    hv_cpu_init();
    svm_enable(hsave);
    if (is(c, "rsm"))
        group_rsm();
    else if (is(c, "smi"))
        group_smi(false);
    else if (is(c, "smi-stgi"))
        group_smi(true);
    else if (is(c, "smi-no-intercept"))
        group_smi_no_intercept();
    else if (is(c, "ferr"))
        group_ferr();
    else if (is(c, "tsc-ratio"))
        group_tsc_ratio();
    else {
        hv_printf("usage: --cmdline GROUP (see the comment at the top of svm_smm.c)\n");
        hv_exit(1);
    }
    (void)nlps;
    T_DONE();
}
