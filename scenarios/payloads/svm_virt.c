/*
 * svm_virt — AMD-V interrupt virtualization and the intercepts of issue #7's
 * second part on the amd-server profile (AMD APM vol. 2 chapter 15): virtual
 * interrupts (V_IRQ, V_TPR, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING,
 * V_INTR_VECTOR, 15.21), the VINTR intercept (15.13.5), vGIF (15.33.2), the
 * NMI intercept and GIF (15.13.2, 15.17, 15.21.9), the PUSHF, POPF and DR
 * intercepts (15.9), decode assists (15.8) and the PAUSE filter (15.14.4).
 *
 * A hypervisor-shaped payload: one VMCB for a 64-bit guest that shares the
 * payload's address space, GDT and IDT, so the guest's interrupt handlers
 * are the payload's own, run in the guest (the virtual interrupt's handler
 * counts and records its return RIP; it sends no EOI: a virtual interrupt
 * is not in the local APIC's ISR). The command line names one group; each
 * scenario in scenarios/svm/virt/ runs one:
 *
 *   vintr-taken vintr-priority vintr-masking-if vintr-intercept vintr-hlt
 *   vintr-delivery-exitintinfo          virtual interrupts (15.21.4, 15.21.5)
 *   cr8-v-intr-masking cr8-opens-vintr  CR8 and V_TPR (15.21.2)
 *   intr-v-intr-masking intr-before-vintr  physical INTR masking (15.21.1)
 *   vgif                                the virtual GIF (15.33.2)
 *   nmi-intercept nmi-gif               NMIs (15.13.2, 15.17, 15.21.9)
 *   pushf-popf dr-intercepts            instruction intercepts (15.9)
 *   decode-assists decode-assists-pf decode-assists-npf   (15.8)
 *   pause-filter                        (15.14.4)
 *   unmodelled:vnmi unmodelled:vtpr-sbz what stays unmodelled stops at VMRUN
 *
 * Every group reports what it saw on the console and checks the APM's
 * values with T_CHECK_EQ, so a wrong value fails the payload too.
 *
 * The caps-* groups are for capability overrides (scenarios/svm/caps/,
 * hvsim run --svm-cap, docs/svm.md "Enabling"): each reads CPUID
 * Fn8000_000A first and checks what the processor it reports must do, so
 * the same group passes with the feature and without it:
 *
 *   caps-nrip     NRIP save (EDX bit 3, 15.7.1): nRIP of a CPUID and a #UD
 *                 intercept, EXITINFO2 of an IOIO intercept
 *   caps-decode   decode assists (EDX bit 7, 15.8): EXITINFO1 of MOV CRx,
 *                 MOV DRx, INVLPG and INTn intercepts, the instruction bytes
 *                 of a data #PF
 *   caps-pause    the PAUSE filter and its threshold (EDX bits 10, 12, 15.14.4)
 *   caps-np       nested paging (EDX bit 0, 15.25): VMRUN with NP_ENABLE
 *   caps-asid     the number of ASIDs (EBX, 15.16): VMRUN with the largest
 *                 ASID, then with one beyond it
 *
 * Without a feature a field the APM defines only with it is reported as
 * hvsim writes it (docs/svm.md): nRIP and the instruction-byte count are
 * left as the VMM wrote them, EXITINFO1 of the decode-assist intercepts is
 * 0. NP_ENABLE without nested paging, V_GIF_ENABLE without vGIF and an
 * ASID beyond the number of ASIDs stop the run at VMRUN (unmodelled).
 */
#include "svm.h"

#define ADDR            0x000FFFFFFFFFF000ull
#define NOTMAPPED       0x7FFF00000000ull
#define APIC_ICR_PA     0xFEE00300ull
#define CR4_DE          (1ull << 3)
#define VEC_V           0x55                    /* the virtual interrupt's vector */
#define VEC_IPI         0x50                    /* physical self-IPIs */
#define ICR_SELF_IPI    (ICR_SH_SELF | ICR_ASSERT | ICR_FIXED | VEC_IPI)
#define ICR_NMI_PHYS    0x4400u                 /* delivery mode NMI, assert, physical, no shorthand */

#define B(n) (1u << (n))
/* the virtual-interrupt field (VMCB 0x060, APM table B-1) */
#define V_IRQ          (1ull << 8)
#define V_GIF          (1ull << 9)
#define V_IGN_TPR      (1ull << 20)
#define V_INTR_MASKING (1ull << 24)
#define V_GIF_ENABLE   (1ull << 25)
#define V_NMI_ENABLE   (1ull << 26)
#define VIRQ(tpr, prio, vec) ((uint64_t)(tpr) | V_IRQ | ((uint64_t)(prio) << 16) | ((uint64_t)(vec) << 32))

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static uint8_t iopm[3 * 4096] __attribute__((aligned(4096)));
static uint8_t msrpm[2 * 4096] __attribute__((aligned(4096)));
static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static volatile uint64_t page_a[512] __attribute__((aligned(4096)));

static struct svm_gregs g;

/* Guest code: labels name the instruction boundaries the groups check; a
 * VMMCALL (intercepted) ends each snippet. */
extern char gv_nops[], gv_nops_1[], gv_nops_2[], gv_sti[], gv_sti_1[], gv_sti_2[], gv_sti_hlt[], gv_sti_hlt_1[];
extern char gv_rcr8[], gv_wcr8[], gv_wcr8_1[], gv_ipi[], gv_ipi_1[], gv_ipi_cr8[], gv_ipi_cr8_1[], gv_nmi[], gv_nmi_1[];
extern char gv_stgi[], gv_stgi_1[], gv_clgi[], gv_pushf[], gv_popf[], gv_pushf_popf[];
extern char gv_rdr7[], gv_wdr3[], gv_rdr4[], gv_wdr7[], gv_wdr0[];
extern char gv_rcr0[], gv_wcr4[], gv_smsw[], gv_clts[], gv_lmsw[], gv_invlpg[], gv_int41[], gv_read[], gv_jmp[];
extern char gv_pause3[], gv_pause3_1[], gv_pause3_2[], gv_pause3_3[], gv_pause_gaps[];
extern char gv_cpuid[], gv_ud2[], gv_out80[];
__asm__(".text\n"
        ".globl gv_nops\ngv_nops: nop\n.globl gv_nops_1\ngv_nops_1: nop\n.globl gv_nops_2\ngv_nops_2: vmmcall\n"
        ".globl gv_sti\ngv_sti: sti\n.globl gv_sti_1\ngv_sti_1: nop\n.globl gv_sti_2\ngv_sti_2: nop\n vmmcall\n"
        ".globl gv_sti_hlt\ngv_sti_hlt: sti\n hlt\n.globl gv_sti_hlt_1\ngv_sti_hlt_1: vmmcall\n"
        ".globl gv_rcr8\ngv_rcr8: mov %cr8, %rax\n vmmcall\n"
        ".globl gv_wcr8\ngv_wcr8: mov %rbx, %cr8\n.globl gv_wcr8_1\ngv_wcr8_1: nop\n vmmcall\n"
        ".globl gv_ipi\ngv_ipi: movl %esi, (%rdi)\n.globl gv_ipi_1\ngv_ipi_1: nop\n nop\n vmmcall\n"
        ".globl gv_ipi_cr8\ngv_ipi_cr8: movl %esi, (%rdi)\n nop\n mov %rbx, %cr8\n"
        ".globl gv_ipi_cr8_1\ngv_ipi_cr8_1: nop\n vmmcall\n"
        ".globl gv_nmi\ngv_nmi: movl %edx, 0x10(%rdi)\n movl %esi, (%rdi)\n.globl gv_nmi_1\ngv_nmi_1: nop\n nop\n vmmcall\n"
        ".globl gv_stgi\ngv_stgi: stgi\n.globl gv_stgi_1\ngv_stgi_1: nop\n vmmcall\n"
        ".globl gv_clgi\ngv_clgi: clgi\n vmmcall\n"
        ".globl gv_pushf\ngv_pushf: pushfq\n vmmcall\n"
        ".globl gv_popf\ngv_popf: popfq\n vmmcall\n"
        ".globl gv_pushf_popf\ngv_pushf_popf: pushfq\n pop %rax\n push $0x202\n popfq\n vmmcall\n"
        ".globl gv_rdr7\ngv_rdr7: mov %dr7, %rbx\n vmmcall\n"
        ".globl gv_wdr3\ngv_wdr3: mov %r9, %dr3\n vmmcall\n"
        ".globl gv_rdr4\ngv_rdr4: .byte 0x0f, 0x21, 0xe0\n vmmcall\n"          /* mov %dr4, %rax */
        ".globl gv_wdr7\ngv_wdr7: mov %rdx, %dr7\n vmmcall\n"
        ".globl gv_wdr0\ngv_wdr0: mov %rcx, %dr0\n vmmcall\n"
        ".globl gv_rcr0\ngv_rcr0: mov %cr0, %rax\n vmmcall\n"
        ".globl gv_wcr4\ngv_wcr4: mov %rdx, %cr4\n vmmcall\n"
        ".globl gv_smsw\ngv_smsw: smsw %eax\n vmmcall\n"
        ".globl gv_clts\ngv_clts: clts\n vmmcall\n"
        ".globl gv_lmsw\ngv_lmsw: lmsw %dx\n vmmcall\n"
        ".globl gv_invlpg\ngv_invlpg: invlpg 0x10(%rsi)\n vmmcall\n"
        ".globl gv_int41\ngv_int41: int $0x41\n vmmcall\n"
        ".globl gv_read\ngv_read: mov (%rsi), %rax\n vmmcall\n"
        ".globl gv_jmp\ngv_jmp: jmp *%rsi\n"
        ".globl gv_pause3\ngv_pause3: pause\n.globl gv_pause3_1\ngv_pause3_1: pause\n"
        ".globl gv_pause3_2\ngv_pause3_2: pause\n.globl gv_pause3_3\ngv_pause3_3: vmmcall\n"
        ".globl gv_pause_gaps\ngv_pause_gaps: pause\n wbinvd\n pause\n wbinvd\n pause\n vmmcall\n"
        ".globl gv_cpuid\ngv_cpuid: cpuid\n vmmcall\n"
        ".globl gv_ud2\ngv_ud2: ud2\n vmmcall\n"
        ".globl gv_out80\ngv_out80: outb %al, $0x80\n vmmcall\n");

#define A(p) ((uint64_t)(uintptr_t)(p))
#define U(x) ((unsigned long long)(x))

static uint64_t pa(const volatile void *p) { return (uint64_t)(uintptr_t)p; }
static void w64(unsigned off, uint64_t v) { *(volatile uint64_t *)(vmcb + off) = v; }
static void w32(unsigned off, uint32_t v) { *(volatile uint32_t *)(vmcb + off) = v; }
static void w16(unsigned off, uint16_t v) { *(volatile uint16_t *)(vmcb + off) = v; }
static uint32_t r32(unsigned off) { return *(volatile uint32_t *)(vmcb + off); }
static uint64_t r64(unsigned off) { return *(volatile uint64_t *)(vmcb + off); }
static uint8_t r8(unsigned off) { return *(volatile uint8_t *)(vmcb + off); }
static void set32(unsigned off, uint32_t bits) { w32(off, r32(off) | bits); }


/* A VMCB for a 64-bit guest with the payload's CR0/CR3/CR4, EFER, GDT and
 * IDT, flat segments, at rip on the guest stack, RFLAGS 0x2; ASID 1; VMRUN,
 * VMMCALL and shutdown intercepted. The guest's GPRs start at 0. */
static void fresh(const void *rip)
{
    vmcb_guest64(vmcb, rip, pa(guest_stack + sizeof(guest_stack) - 64), iopm, msrpm);
    memset(&g, 0, sizeof(g));
    w32(V_I3, B(I3_SHUTDOWN));
    w32(V_I4, B(I4_VMRUN) | B(I4_VMMCALL));
}

static void svm_on(void)
{
    svm_enable(hsave);
}

static uint64_t run(void)
{
    svm_run(pa(vmcb), &g);
    return r64(V_EXITCODE);
}

/* VMRUN with the host's RFLAGS.IF = 1 (CLGI; STI; VMRUN, as a hypervisor
 * does): GIF = 0 keeps the host from taking anything before VMRUN. */
static uint64_t run_host_if(void)
{
    __asm__ volatile("clgi\n sti" ::: "memory");
    uint64_t code = run();
    cli();
    return code;
}

static unsigned v_irq_after(void) { return (unsigned)((r64(V_VINTR) >> 8) & 1); }
static unsigned v_tpr_after(void) { return (unsigned)(r64(V_VINTR) & 0xFF); }

/* ---- handlers (the payload's IDT, shared with the guest) ---- */

static volatile uint64_t virq_n, virq_rip, irq_n, irq_rip, nmi_n, nmi_rip, order, virq_order, irq_order;
static bool on_virq(struct hv_frame *f)
{
    virq_n++;
    virq_rip = f->rip;
    virq_order = ++order;
    return true;                          /* no EOI: a virtual interrupt is not in the APIC's ISR */
}
static bool on_irq(struct hv_frame *f)
{
    irq_n++;
    irq_rip = f->rip;
    irq_order = ++order;
    apic_eoi();
    return true;
}
static bool on_nmi(struct hv_frame *f)
{
    nmi_n++;
    nmi_rip = f->rip;
    return true;
}
static volatile uint64_t exc_n, exc_vec, exc_resume;
static bool on_exc(struct hv_frame *f)
{
    exc_n++;
    exc_vec = f->vector;
    if (exc_resume)
        f->rip = exc_resume;
    return true;
}

static void handlers(void)
{
    apic_sw_enable(0xFF);
    hv_set_handler(VEC_V, on_virq);
    hv_set_handler(VEC_V + 1, on_virq);
    hv_set_handler(VEC_IPI, on_irq);
    hv_set_handler(2, on_nmi);
    virq_n = virq_rip = irq_n = irq_rip = nmi_n = nmi_rip = order = virq_order = irq_order = 0;
    exc_n = exc_vec = exc_resume = 0;
}

/* ---- virtual interrupts (15.21.4) ---- */

static void group_vintr_taken(void)
{
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(3, 5, VEC_V));
    uint64_t code = run();
    hv_printf("V_IRQ, V_INTR_PRIO 5 > V_TPR 3, RFLAGS.IF = 1: the guest took vector %#x through its IDT %llu time(s), "
              "before its first instruction: %s\n", VEC_V, U(virq_n), hv_yn(virq_rip == A(gv_nops)));
    hv_printf("  then exit %#llx; V_IRQ written back %u, V_TPR %u\n", U(code), v_irq_after(), v_tpr_after());
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_nops));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(v_irq_after(), 0);
    T_CHECK_EQ(v_tpr_after(), 3);
    virq_n = 0;
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(0, 1, VEC_V + 1));
    code = run();
    hv_printf("V_INTR_VECTOR %#x: the guest's handler for that vector ran %llu time(s); exit %#llx\n", VEC_V + 1,
              U(virq_n), U(code));
    T_CHECK_EQ(virq_n, 1);
}

static void group_vintr_priority(void)
{
    static const struct { unsigned tpr, prio; bool ign; } t[] = {
        { 4, 5, false }, { 5, 5, false }, { 6, 5, false }, { 0, 0, false }, { 0, 1, false }, { 15, 15, false },
        { 15, 0, true }, { 9, 3, true },
    };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        virq_n = 0;
        fresh(gv_nops);
        w64(V_RFLAGS, 0x202);
        w64(V_VINTR, VIRQ(t[k].tpr, t[k].prio, VEC_V) | (t[k].ign ? V_IGN_TPR : 0));
        uint64_t code = run();
        bool want = t[k].ign || t[k].prio > t[k].tpr;
        hv_printf("V_TPR %2u, V_INTR_PRIO %2u, V_IGN_TPR %u: taken %llu time(s), V_IRQ written back %u, exit %#llx\n",
                  t[k].tpr, t[k].prio, t[k].ign, U(virq_n), v_irq_after(), U(code));
        T_CHECK_EQ(virq_n, want ? 1 : 0);
        T_CHECK_EQ(v_irq_after(), want ? 0 : 1);
        T_CHECK_EQ(code, 0x81);
    }
}

static void group_vintr_masking_if(void)
{
    fresh(gv_nops);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    uint64_t code = run();
    hv_printf("RFLAGS.IF = 0: not taken (%llu), exit %#llx, V_IRQ still pending: %u\n", U(virq_n), U(code),
              v_irq_after());
    T_CHECK_EQ(virq_n, 0);
    T_CHECK_EQ(v_irq_after(), 1);
    fresh(gv_sti);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    code = run();
    hv_printf("STI: taken after the instruction that follows it (the interrupt shadow): %s; exit %#llx\n",
              hv_yn(virq_n == 1 && virq_rip == A(gv_sti_2)), U(code));
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_sti_2));
    virq_n = 0;
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_SHADOW, 1);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    code = run();
    hv_printf("INTERRUPT_SHADOW = 1 in the VMCB, RFLAGS.IF = 1: taken after the first guest instruction: %s; exit "
              "%#llx\n", hv_yn(virq_n == 1 && virq_rip == A(gv_nops_1)), U(code));
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_nops_1));
}

static void group_vintr_intercept(void)
{
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    set32(V_I3, B(I3_VINTR));
    uint64_t code = run();
    hv_printf("the VINTR intercept: exit %#llx before the first guest instruction: %s, the interrupt not taken "
              "(%llu), V_IRQ still 1: %u, EXITINTINFO %#llx\n", U(code), hv_yn(r64(V_RIP) == A(gv_nops)),
              U(virq_n), v_irq_after(), U(r64(V_EXITINTINFO)));
    T_CHECK_EQ(code, 0x64);
    T_CHECK_EQ(r64(V_RIP), A(gv_nops));
    T_CHECK_EQ(virq_n, 0);
    T_CHECK_EQ(v_irq_after(), 1);
    w32(V_I3, r32(V_I3) & ~B(I3_VINTR));
    code = run();
    hv_printf("the intercept cleared, VMRUN again: taken %llu time(s), exit %#llx, V_IRQ %u\n", U(virq_n), U(code),
              v_irq_after());
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(v_irq_after(), 0);
    virq_n = 0;
    fresh(gv_nops);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    set32(V_I3, B(I3_VINTR));
    code = run();
    hv_printf("with RFLAGS.IF = 0 the intercept does not trigger: exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x81);
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(7, 5, VEC_V));
    set32(V_I3, B(I3_VINTR));
    code = run();
    hv_printf("nor while V_TPR masks the interrupt: exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x81);
    fresh(gv_sti);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    set32(V_I3, B(I3_VINTR));
    code = run();
    hv_printf("STI: the intercept triggers after the shadowed instruction: exit %#llx there: %s\n", U(code),
              hv_yn(r64(V_RIP) == A(gv_sti_2)));
    T_CHECK_EQ(code, 0x64);
    T_CHECK_EQ(r64(V_RIP), A(gv_sti_2));
}

static void group_vintr_hlt(void)
{
    fresh(gv_sti_hlt);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    uint64_t code = run();
    hv_printf("STI; HLT with V_IRQ pending: the virtual interrupt ends HLT: taken %llu time(s), returning after the "
              "HLT: %s; exit %#llx\n", U(virq_n), hv_yn(virq_rip == A(gv_sti_hlt_1)), U(code));
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_sti_hlt_1));
    T_CHECK_EQ(code, 0x81);
    virq_n = 0;
    fresh(gv_sti_hlt);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    set32(V_I3, B(I3_VINTR));
    code = run();
    hv_printf("the same with the VINTR intercept: exit %#llx, the guest RIP after the HLT: %s\n", U(code),
              hv_yn(r64(V_RIP) == A(gv_sti_hlt_1)));
    T_CHECK_EQ(code, 0x64);
    T_CHECK_EQ(r64(V_RIP), A(gv_sti_hlt_1));
}

static void group_vintr_delivery_exitintinfo(void)
{
    struct hv_dtr id;
    sidt(&id);
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(0, 5, VEC_V));
    w32(V_EXC_ICPT, B(13));
    *(volatile uint32_t *)(vmcb + V_IDTR + 4) = VEC_V * 16 - 1;       /* the guest's IDT ends below the vector */
    uint64_t code = run();
    hv_printf("the vector is beyond the guest's IDT limit, #GP intercepted: exit %#llx, EXITINFO1 (error code) "
              "%#llx, EXITINTINFO %#llx, V_IRQ written back %u\n", U(code), U(r64(V_EXITINFO1)),
              U(r64(V_EXITINTINFO)), v_irq_after());
    T_CHECK_EQ(code, 0x4D);
    T_CHECK_EQ(r64(V_EXITINFO1), VEC_V * 8 + 2 + 1);
    T_CHECK_EQ(r64(V_EXITINTINFO), 0x80000000ull | VEC_V);
    T_CHECK_EQ(v_irq_after(), 0);
    /* the VMM completes the delivery (15.7.2): EXITINTINFO into EVENTINJ */
    *(volatile uint32_t *)(vmcb + V_IDTR + 4) = id.limit;
    w64(V_EVENTINJ, r64(V_EXITINTINFO));
    code = run();
    hv_printf("EXITINTINFO re-injected with the whole IDT: the handler ran %llu time(s), exit %#llx\n", U(virq_n),
              U(code));
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(code, 0x81);
}

/* ---- CR8 and V_TPR (15.21.2) ---- */

/* #UD and #GP in the guest resume at exc_resume (the groups that expect them) */
static void catch_ud_gp(void)
{
    hv_set_handler(6, on_exc);
    hv_set_handler(13, on_exc);
}

static void group_cr8_v_intr_masking(void)
{
    catch_ud_gp();
    apic_write(APIC_TPR, 0x30);
    fresh(gv_rcr8);
    w64(V_VINTR, 7 | V_INTR_MASKING);
    uint64_t code = run();
    hv_printf("V_INTR_MASKING = 1: MOV from CR8 reads V_TPR: %llu (APIC TPR %#x); exit %#llx\n", U(r64(V_RAX)),
              apic_read(APIC_TPR), U(code));
    T_CHECK_EQ(r64(V_RAX), 7);
    fresh(gv_wcr8);
    w64(V_VINTR, 7 | V_INTR_MASKING);
    g.rbx = 9;
    code = run();
    hv_printf("  MOV to CR8 of 9 writes V_TPR only: V_TPR written back %u, APIC TPR still %#x\n", v_tpr_after(),
              apic_read(APIC_TPR));
    T_CHECK_EQ(v_tpr_after(), 9);
    T_CHECK_EQ(apic_read(APIC_TPR), 0x30);
    fresh(gv_rcr8);
    w64(V_VINTR, 7);
    code = run();
    hv_printf("V_INTR_MASKING = 0: MOV from CR8 reads the APIC's TPR: %llu\n", U(r64(V_RAX)));
    T_CHECK_EQ(r64(V_RAX), 3);
    fresh(gv_wcr8);
    w64(V_VINTR, 7);
    g.rbx = 9;
    code = run();
    hv_printf("  MOV to CR8 of 9 writes both: V_TPR %u, APIC TPR %#x\n", v_tpr_after(), apic_read(APIC_TPR));
    T_CHECK_EQ(v_tpr_after(), 9);
    T_CHECK_EQ(apic_read(APIC_TPR), 0x90);
    apic_write(APIC_TPR, 0);
    fresh(gv_wcr8);
    w64(V_VINTR, 7 | V_INTR_MASKING);
    g.rbx = 0x10;
    exc_resume = A(gv_wcr8_1);
    code = run();
    hv_printf("MOV to CR8 of 0x10 (bits 63:4 set): #GP(0) in the guest: %s, V_TPR unchanged %u; exit %#llx\n",
              hv_yn(exc_n == 1 && exc_vec == 13), v_tpr_after(), U(code));
    T_CHECK_EQ(exc_vec, 13);
    T_CHECK_EQ(v_tpr_after(), 7);
}

static void group_cr8_opens_vintr(void)
{
    fresh(gv_wcr8);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(8, 5, VEC_V) | V_INTR_MASKING);
    g.rbx = 2;
    uint64_t code = run();
    hv_printf("V_TPR 8 masks V_INTR_PRIO 5 until the guest writes 2 to CR8: taken %llu time(s), right after the "
              "MOV: %s; exit %#llx, V_TPR %u, V_IRQ %u\n", U(virq_n), hv_yn(virq_rip == A(gv_wcr8_1)), U(code),
              v_tpr_after(), v_irq_after());
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_wcr8_1));
    T_CHECK_EQ(v_tpr_after(), 2);
    virq_n = 0;
    fresh(gv_wcr8);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(8, 5, VEC_V) | V_INTR_MASKING);
    g.rbx = 5;
    code = run();
    hv_printf("writing 5 (equal to the priority) keeps it pending: taken %llu, V_IRQ %u\n", U(virq_n),
              v_irq_after());
    T_CHECK_EQ(virq_n, 0);
    T_CHECK_EQ(v_irq_after(), 1);
}

/* ---- physical INTR masking (15.21.1) ---- */

static void group_intr_v_intr_masking(void)
{
    fresh(gv_ipi);
    w64(V_VINTR, V_INTR_MASKING);
    set32(V_I3, B(I3_INTR));
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_SELF_IPI;
    uint64_t code = run_host_if();
    hv_printf("V_INTR_MASKING = 1, host RFLAGS.IF = 1, guest RFLAGS.IF = 0, a self-IPI with the INTR intercept: "
              "exit %#llx after the ICR write: %s\n", U(code), hv_yn(r64(V_RIP) == A(gv_ipi_1)));
    T_CHECK_EQ(code, 0x60);
    T_CHECK_EQ(r64(V_RIP), A(gv_ipi_1));
    __asm__ volatile("stgi" ::: "memory");
    hv_sti_nop_cli();
    hv_printf("  the host took it after STGI and STI: %llu time(s)\n", U(irq_n));
    T_CHECK_EQ(irq_n, 1);
    irq_n = 0;
    fresh(gv_ipi);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, V_INTR_MASKING);
    set32(V_I3, B(I3_INTR));
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_SELF_IPI;
    code = run();
    hv_printf("host RFLAGS.IF = 0, guest RFLAGS.IF = 1: the interrupt is masked in the guest: exit %#llx, the guest "
              "took it %llu time(s), IRR bit set: %s\n", U(code), U(irq_n), hv_yn(apic_irr(VEC_IPI)));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(irq_n, 0);
    __asm__ volatile("stgi" ::: "memory");
    hv_sti_nop_cli();
    T_CHECK_EQ(irq_n, 1);
    irq_n = 0;
    fresh(gv_ipi);
    w64(V_VINTR, V_INTR_MASKING);
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_SELF_IPI;
    code = run_host_if();
    hv_printf("host RFLAGS.IF = 1, guest RFLAGS.IF = 0, no INTR intercept: the guest takes it through its IDT "
              "anyway: %llu time(s), in the guest code: %s; exit %#llx\n", U(irq_n), hv_yn(irq_rip == A(gv_ipi_1)),
              U(code));
    T_CHECK_EQ(irq_n, 1);
    T_CHECK_EQ(irq_rip, A(gv_ipi_1));
    T_CHECK_EQ(code, 0x81);
    __asm__ volatile("stgi" ::: "memory");
}

static void group_intr_before_vintr(void)
{
    fresh(gv_ipi_cr8);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(8, 5, VEC_V) | V_INTR_MASKING);
    set32(V_I3, B(I3_INTR));
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_SELF_IPI;
    g.rbx = 0;
    uint64_t code = run_host_if();
    hv_printf("a physical interrupt and a virtual one both ready, INTR intercept: exit %#llx, the virtual one taken "
              "%llu time(s), V_IRQ %u\n", U(code), U(virq_n), v_irq_after());
    T_CHECK_EQ(code, 0x60);
    T_CHECK_EQ(virq_n, 0);
    T_CHECK_EQ(v_irq_after(), 1);
    __asm__ volatile("stgi" ::: "memory");
    hv_sti_nop_cli();
    irq_n = virq_n = order = 0;
    fresh(gv_ipi_cr8);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(8, 5, VEC_V) | V_INTR_MASKING);
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_SELF_IPI;
    g.rbx = 0;
    code = run_host_if();
    hv_printf("without the intercept: the physical interrupt's handler ran first: %s (physical %llu, virtual %llu); "
              "exit %#llx\n", hv_yn(irq_order == 1 && virq_order == 2), U(irq_n), U(virq_n), U(code));
    T_CHECK_EQ(irq_order, 1);
    T_CHECK_EQ(virq_order, 2);
    __asm__ volatile("stgi" ::: "memory");
}

/* ---- vGIF (15.33.2) ---- */

static void group_vgif(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID 8000_000AH EDX bit 16 (vGIF): %u\n", (r[3] >> 16) & 1);
    fresh(gv_nops);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(0, 5, VEC_V) | V_GIF_ENABLE);
    uint64_t code = run();
    hv_printf("V_GIF_ENABLE with V_GIF = 0: the virtual interrupt is held (%llu), exit %#llx, V_IRQ %u\n", U(virq_n),
              U(code), v_irq_after());
    T_CHECK_EQ(virq_n, 0);
    T_CHECK_EQ(v_irq_after(), 1);
    fresh(gv_stgi);
    w64(V_RFLAGS, 0x202);
    w64(V_VINTR, VIRQ(0, 5, VEC_V) | V_GIF_ENABLE);
    code = run();
    hv_printf("the guest's STGI sets V_GIF: taken %llu time(s), right after it: %s; exit %#llx, V_GIF written back "
              "%llu\n", U(virq_n), hv_yn(virq_rip == A(gv_stgi_1)), U(code), U((r64(V_VINTR) >> 9) & 1));
    T_CHECK_EQ(virq_n, 1);
    T_CHECK_EQ(virq_rip, A(gv_stgi_1));
    T_CHECK_EQ((r64(V_VINTR) >> 9) & 1, 1);
    fresh(gv_clgi);
    w64(V_VINTR, V_GIF_ENABLE | V_GIF);
    code = run();
    hv_printf("the guest's CLGI clears it: exit %#llx, V_GIF written back %llu\n", U(code),
              U((r64(V_VINTR) >> 9) & 1));
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ((r64(V_VINTR) >> 9) & 1, 0);
    fresh(gv_stgi);
    w64(V_VINTR, V_GIF_ENABLE);
    set32(V_I4, B(I4_STGI));
    code = run();
    hv_printf("the STGI intercept still applies: exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x84);
}

/* ---- NMIs (15.13.2, 15.17, 15.21.9) ---- */

static void group_nmi_intercept(void)
{
    fresh(gv_nmi);
    set32(V_I3, B(I3_NMI));
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_NMI_PHYS;
    g.rdx = (uint64_t)apic_self_id() << 24;
    uint64_t code = run();
    hv_printf("an NMI IPI sent by the guest with the NMI intercept: exit %#llx after the ICR write: %s, EXITINTINFO "
              "%#llx, the guest's NMI handler ran %llu time(s)\n", U(code), hv_yn(r64(V_RIP) == A(gv_nmi_1)),
              U(r64(V_EXITINTINFO)), U(nmi_n));
    T_CHECK_EQ(code, 0x61);
    T_CHECK_EQ(r64(V_RIP), A(gv_nmi_1));
    T_CHECK_EQ(nmi_n, 0);
    hv_spin_cycles(20000);
    hv_printf("  GIF = 0 after #VMEXIT holds it: the host's handler ran %llu time(s) in 20000 cycles\n", U(nmi_n));
    T_CHECK_EQ(nmi_n, 0);
    __asm__ volatile("stgi\n nop" ::: "memory");
    hv_printf("  after STGI the host took it: %llu time(s)\n", U(nmi_n));
    T_CHECK_EQ(nmi_n, 1);
    nmi_n = 0;
    __asm__ volatile("clgi" ::: "memory");
    fresh(gv_nmi);
    g.rdi = APIC_ICR_PA;
    g.rsi = ICR_NMI_PHYS;
    g.rdx = (uint64_t)apic_self_id() << 24;
    code = run();
    hv_printf("without the intercept the guest takes it through its IDT: %llu time(s), in the guest code: %s; exit "
              "%#llx\n", U(nmi_n), hv_yn(nmi_rip == A(gv_nmi_1)), U(code));
    T_CHECK_EQ(nmi_n, 1);
    T_CHECK_EQ(code, 0x81);
    __asm__ volatile("stgi" ::: "memory");
}

static void group_nmi_gif(void)
{
    __asm__ volatile("clgi" ::: "memory");
    apic_send_ipi(apic_self_id(), ICR_NMI_PHYS);
    hv_spin_cycles(20000);
    hv_printf("CLGI, an NMI IPI to this LP, 20000 cycles: held (the handler ran %llu times)\n", U(nmi_n));
    T_CHECK_EQ(nmi_n, 0);
    __asm__ volatile("stgi\n nop" ::: "memory");
    hv_printf("STGI: the NMI is taken: %llu time(s)\n", U(nmi_n));
    T_CHECK_EQ(nmi_n, 1);
}

/* ---- PUSHF, POPF and DR intercepts (15.9) ---- */

static void group_pushf_popf(void)
{
    fresh(gv_pushf);
    set32(V_I3, B(I3_PUSHF));
    uint64_t code = run();
    hv_printf("PUSHF with the PUSHF intercept: exit %#llx, at the PUSHF: %s, nRIP - RIP = %llu, nothing pushed: %s\n",
              U(code), hv_yn(r64(V_RIP) == A(gv_pushf)), U(r64(V_NRIP) - r64(V_RIP)),
              hv_yn(r64(V_RSP) == pa(guest_stack + sizeof(guest_stack) - 64)));
    T_CHECK_EQ(code, 0x70);
    T_CHECK_EQ(r64(V_NRIP) - r64(V_RIP), 1);
    fresh(gv_popf);
    set32(V_I3, B(I3_POPF));
    code = run();
    hv_printf("POPF with the POPF intercept: exit %#llx, at the POPF: %s, nRIP - RIP = %llu\n", U(code),
              hv_yn(r64(V_RIP) == A(gv_popf)), U(r64(V_NRIP) - r64(V_RIP)));
    T_CHECK_EQ(code, 0x71);
    T_CHECK_EQ(r64(V_NRIP) - r64(V_RIP), 1);
    fresh(gv_pushf_popf);
    w64(V_RFLAGS, 0x246);
    code = run();
    hv_printf("neither intercepted: PUSHF pushed %#llx, POPF loaded RFLAGS %#llx; exit %#llx\n", U(r64(V_RAX)),
              U(r64(V_RFLAGS)), U(code));
    T_CHECK_EQ(r64(V_RAX), 0x246);
    T_CHECK_EQ(r64(V_RFLAGS) & 0xFFF, 0x202);
}

static void group_dr_intercepts(void)
{
    catch_ud_gp();
    fresh(gv_rdr7);
    w32(V_DR_ICPT, B(7));
    uint64_t code = run();
    hv_printf("MOV RBX, DR7 with the DR7 read intercept: exit %#llx, EXITINFO1 (GPR) %llu, nRIP - RIP = %llu\n",
              U(code), U(r64(V_EXITINFO1)), U(r64(V_NRIP) - r64(V_RIP)));
    T_CHECK_EQ(code, 0x27);
    T_CHECK_EQ(r64(V_EXITINFO1), 3);
    fresh(gv_wdr3);
    w32(V_DR_ICPT, B(16 + 3));
    code = run();
    hv_printf("MOV DR3, R9 with the DR3 write intercept: exit %#llx, EXITINFO1 (GPR) %llu\n", U(code),
              U(r64(V_EXITINFO1)));
    T_CHECK_EQ(code, 0x33);
    T_CHECK_EQ(r64(V_EXITINFO1), 9);
    fresh(gv_wdr0);
    w32(V_DR_ICPT, B(0));
    code = run();
    hv_printf("MOV DR0, RCX with only the DR0 read intercept: not intercepted, exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x81);
    fresh(gv_rdr4);
    w32(V_DR_ICPT, B(4));
    w64(V_CR4, read_cr4() | CR4_DE);
    exc_resume = A(gv_rdr4) + 3;
    code = run();
    hv_printf("MOV RAX, DR4 with CR4.DE = 1 and the DR4 read intercept: #UD in the guest first: %s; exit %#llx\n",
              hv_yn(exc_n == 1 && exc_vec == 6), U(code));
    T_CHECK_EQ(exc_vec, 6);
    T_CHECK_EQ(code, 0x81);
    exc_n = 0;
    fresh(gv_wdr7);
    w32(V_DR_ICPT, B(16 + 7));
    g.rdx = 1ull << 32;
    exc_resume = A(gv_wdr7) + 3;
    code = run();
    hv_printf("MOV DR7 of a value with bits 63:32 set, DR7 write intercept: #GP in the guest first: %s; exit %#llx\n",
              hv_yn(exc_n == 1 && exc_vec == 13), U(code));
    T_CHECK_EQ(exc_vec, 13);
    T_CHECK_EQ(code, 0x81);
}

/* ---- decode assists (15.8) ---- */

static void da(const char *what, const void *rip, uint64_t want_code, uint64_t want_info1)
{
    uint64_t code = run();
    hv_printf("%s: exit %#llx, EXITINFO1 %#llx\n", what, U(code), U(r64(V_EXITINFO1)));
    T_CHECK_EQ(code, want_code);
    T_CHECK_EQ(r64(V_RIP), A(rip));
    T_CHECK_EQ(r64(V_EXITINFO1), want_info1);
}

static void group_decode_assists(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID 8000_000AH EDX bit 7 (decode assists): %u\n", (r[3] >> 7) & 1);
    fresh(gv_rcr0);
    w32(V_CR_ICPT, B(0));
    da("MOV RAX, CR0 (CR0 read intercept)", gv_rcr0, 0x00, 1ull << 63);
    fresh(gv_wcr4);
    w32(V_CR_ICPT, B(16 + 4));
    g.rdx = read_cr4();
    da("MOV CR4, RDX (CR4 write intercept)", gv_wcr4, 0x14, (1ull << 63) | 2);
    fresh(gv_smsw);
    w32(V_CR_ICPT, B(0));
    da("SMSW (CR0 read intercept)", gv_smsw, 0x00, 0);
    fresh(gv_clts);
    w32(V_CR_ICPT, B(16));
    da("CLTS (CR0 write intercept)", gv_clts, 0x10, 0);
    fresh(gv_lmsw);
    set32(V_I3, B(I3_CR0_SEL));
    g.rdx = read_cr0() & 0xFFFF;
    da("LMSW of CR0's own value (selective CR0 write intercept: LMSW always)", gv_lmsw, 0x65, 0);
    fresh(gv_invlpg);
    set32(V_I3, B(I3_INVLPG));
    g.rsi = 0x12345000;
    da("INVLPG 0x10(%rsi), RSI 0x12345000 (INVLPG intercept)", gv_invlpg, 0x79, 0x12345010);
    fresh(gv_int41);
    set32(V_I3, B(I3_INTN));
    da("INT 0x41 (INTn intercept)", gv_int41, 0x75, 0x41);
}

static void group_decode_assists_pf(void)
{
    fresh(gv_read);
    w32(V_EXC_ICPT, B(14));
    vmcb[V_INSN_LEN] = 0xEE;
    g.rsi = NOTMAPPED;
    uint64_t code = run();
    uint8_t n = r8(V_INSN_LEN);
    hv_printf("a data #PF (MOV RAX, [RSI]) intercepted: exit %#llx, EXITINFO1 %#llx, %u instruction bytes: %02x %02x "
              "%02x %02x %02x %02x\n", U(code), U(r64(V_EXITINFO1)), n, r8(V_INSN_BYTES), r8(V_INSN_BYTES + 1),
              r8(V_INSN_BYTES + 2), r8(V_INSN_BYTES + 3), r8(V_INSN_BYTES + 4), r8(V_INSN_BYTES + 5));
    T_CHECK_EQ(code, 0x4E);
    T_CHECK_EQ(n & 0xF, 15);
    T_CHECK_EQ(r8(V_INSN_BYTES), 0x48);
    T_CHECK_EQ(r8(V_INSN_BYTES + 3), 0x0F);                         /* the VMMCALL after it */
    fresh(gv_jmp);
    w32(V_EXC_ICPT, B(14));
    vmcb[V_INSN_LEN] = 0xEE;
    g.rsi = NOTMAPPED;
    code = run();
    hv_printf("an instruction-fetch #PF: exit %#llx, EXITINFO1 %#llx, instruction bytes %u\n", U(code),
              U(r64(V_EXITINFO1)), r8(V_INSN_LEN));
    T_CHECK_EQ(code, 0x4E);
    T_CHECK_EQ(r8(V_INSN_LEN), 0);
    fresh(gv_nops);
    vmcb[V_INSN_LEN] = 0xEE;
    code = run();
    hv_printf("any other intercept clears the count: exit %#llx, instruction bytes %u\n", U(code), r8(V_INSN_LEN));
    T_CHECK_EQ(r8(V_INSN_LEN), 0);
}

/* identity nested tables for guest-physical 0-4 GiB (svm.h) */
static struct svm_npt nt;
static uint64_t npt_build(void) { svm_npt_identity(&nt); return nt.ncr3; }
static volatile uint64_t *npte(uint64_t gpa) { return svm_npte(&nt, gpa); }

static void group_decode_assists_npf(void)
{
    uint64_t ncr3 = npt_build();
    volatile uint64_t *e = npte(pa(page_a));
    *e = 0;
    fresh(gv_read);
    w64(V_NP_ENABLE, 1);
    w64(V_NCR3, ncr3);
    w64(V_GPAT, 0x0007040600070406ull);
    g.rsi = pa(page_a);
    uint64_t code = run();
    uint8_t n = r8(V_INSN_LEN);
    hv_printf("a #NPF of a data read: exit %#llx, EXITINFO1 %#llx, %u instruction bytes: %02x %02x %02x\n", U(code),
              U(r64(V_EXITINFO1)), n, r8(V_INSN_BYTES), r8(V_INSN_BYTES + 1), r8(V_INSN_BYTES + 2));
    T_CHECK_EQ(code, 0x400);
    T_CHECK_EQ(n & 0xF, 15);
    T_CHECK_EQ(r8(V_INSN_BYTES + 2), 0x06);
    *e = pa(page_a) | PTE_P | PTE_W | PTE_U | PTE_NX;
    fresh(gv_jmp);
    w64(V_NP_ENABLE, 1);
    w64(V_NCR3, ncr3);
    w64(V_GPAT, 0x0007040600070406ull);
    *(volatile uint8_t *)(vmcb + V_TLB_CTL) = 3;
    vmcb[V_INSN_LEN] = 0xEE;
    g.rsi = pa(page_a);
    code = run();
    hv_printf("a #NPF of an instruction fetch (nested NX): exit %#llx, EXITINFO1 %#llx, instruction bytes %u\n",
              U(code), U(r64(V_EXITINFO1)), r8(V_INSN_LEN));
    T_CHECK_EQ(code, 0x400);
    T_CHECK_EQ(r8(V_INSN_LEN), 0);
}

/* ---- the PAUSE filter (15.14.4) ---- */

static const char *which_pause(uint64_t rip)
{
    return rip == A(gv_pause3) ? "first" : rip == A(gv_pause3_1) ? "second" : rip == A(gv_pause3_2) ? "third" : "?";
}

static void group_pause_filter(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    hv_printf("CPUID 8000_000AH EDX bit 10 (PAUSE filter) %u, bit 12 (threshold) %u\n", (r[3] >> 10) & 1,
              (r[3] >> 12) & 1);
    static const struct { uint16_t count, thresh; } t[] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 0 } };
    for (unsigned k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
        fresh(gv_pause3);
        set32(V_I3, B(I3_PAUSE));
        w16(V_PAUSE_COUNT, t[k].count);
        uint64_t code = run();
        if (code == 0x77)
            hv_printf("PAUSE filter count %u, three PAUSEs: exit 0x77 at the %s\n", t[k].count, which_pause(r64(V_RIP)));
        else
            hv_printf("PAUSE filter count %u, three PAUSEs: no PAUSE exit (exit %#llx)\n", t[k].count, U(code));
        /* "decremented until it reaches zero at which time a #VMEXIT is generated" */
        unsigned nth = t[k].count ? t[k].count : 1;
        T_CHECK_EQ(code, nth <= 3 ? 0x77 : 0x81);
        if (nth <= 3)
            T_CHECK_EQ(r64(V_RIP), nth == 1 ? A(gv_pause3) : nth == 2 ? A(gv_pause3_1) : A(gv_pause3_2));
    }
    fresh(gv_pause3);
    set32(V_I3, B(I3_PAUSE));
    w16(V_PAUSE_COUNT, 2);
    w16(V_PAUSE_THRESH, 1000);
    uint64_t code = run();
    hv_printf("count 2, threshold 1000 cycles, PAUSEs back to back: exit %#llx at the %s\n", U(code),
              which_pause(r64(V_RIP)));
    T_CHECK_EQ(code, 0x77);
    T_CHECK_EQ(r64(V_RIP), A(gv_pause3_1));
    fresh(gv_pause_gaps);
    set32(V_I3, B(I3_PAUSE));
    w16(V_PAUSE_COUNT, 2);
    w16(V_PAUSE_THRESH, 1000);
    code = run();
    hv_printf("count 2, threshold 1000 cycles, a WBINVD between the PAUSEs: each reloads the count, exit %#llx\n",
              U(code));
    T_CHECK_EQ(code, 0x81);
    fresh(gv_pause3);
    w16(V_PAUSE_COUNT, 1);
    code = run();
    hv_printf("count 1 without the PAUSE intercept: exit %#llx\n", U(code));
    T_CHECK_EQ(code, 0x81);
}

/* ---- capability overrides (scenarios/svm/caps/): each group checks what
 * the CPUID it reads promises ---- */

static uint32_t svm_edx(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    return r[3];
}

#define NRIP_MARK 0x1111ull                     /* nRIP before VMRUN: shows whether #VMEXIT wrote it */

/* nRIP as the payload prints it: relative to the guest RIP, 0, or the mark */
static void print_nrip(const char *what, uint64_t code)
{
    uint64_t nrip = r64(V_NRIP), rip = r64(V_RIP);
    if (nrip == NRIP_MARK)
        hv_printf("%s: exit %#llx, nRIP %#llx (as written before VMRUN)\n", what, U(code), U(nrip));
    else if (nrip == 0)
        hv_printf("%s: exit %#llx, nRIP 0\n", what, U(code));
    else
        hv_printf("%s: exit %#llx, nRIP = RIP + %llu\n", what, U(code), U(nrip - rip));
}

static void group_caps_nrip(void)
{
    bool nrips = (svm_edx() >> 3) & 1;
    hv_printf("CPUID 8000_000AH EDX bit 3 (NRIP save): %u\n", nrips);
    fresh(gv_cpuid);
    set32(V_I3, B(I3_CPUID));
    w64(V_NRIP, NRIP_MARK);
    uint64_t code = run();
    print_nrip("CPUID with the CPUID intercept", code);
    T_CHECK_EQ(code, 0x72);
    T_CHECK_EQ(r64(V_NRIP), nrips ? A(gv_cpuid) + 2 : NRIP_MARK);
    fresh(gv_ud2);
    w32(V_EXC_ICPT, B(6));
    w64(V_NRIP, NRIP_MARK);
    code = run();
    print_nrip("UD2 with the #UD intercept", code);
    T_CHECK_EQ(code, 0x46);
    T_CHECK_EQ(r64(V_NRIP), nrips ? 0 : NRIP_MARK);
    /* 15.10.2: EXITINFO2 of an IOIO intercept is the next RIP, with or
     * without NRIP save */
    fresh(gv_out80);
    set32(V_I3, B(I3_IOIO));
    iopm[0x80 / 8] |= 1u << (0x80 % 8);
    w64(V_NRIP, NRIP_MARK);
    code = run();
    iopm[0x80 / 8] &= (uint8_t)~(1u << (0x80 % 8));
    print_nrip("OUT 0x80 with the IOIO intercept", code);
    hv_printf("  EXITINFO2 = RIP + %llu\n", U(r64(V_EXITINFO2) - r64(V_RIP)));
    T_CHECK_EQ(code, 0x7B);
    T_CHECK_EQ(r64(V_EXITINFO2), A(gv_out80) + 2);
    T_CHECK_EQ(r64(V_NRIP), nrips ? A(gv_out80) + 2 : NRIP_MARK);
}

/* One intercept of the caps-decode group: EXITINFO1 is written by every
 * #VMEXIT (the mark before VMRUN shows it); with decode assists it is want,
 * without them hvsim writes 0. */
static void caps_da(bool da, const char *what, uint64_t want_code, uint64_t want_info1)
{
    w64(V_EXITINFO1, 0x5555);
    uint64_t code = run();
    hv_printf("%s: exit %#llx, EXITINFO1 %#llx\n", what, U(code), U(r64(V_EXITINFO1)));
    T_CHECK_EQ(code, want_code);
    T_CHECK_EQ(r64(V_EXITINFO1), da ? want_info1 : 0);
}

static void group_caps_decode(void)
{
    bool da = (svm_edx() >> 7) & 1;
    hv_printf("CPUID 8000_000AH EDX bit 7 (decode assists): %u\n", da);
    fresh(gv_rcr0);
    w32(V_CR_ICPT, B(0));
    caps_da(da, "MOV RAX, CR0 (CR0 read intercept)", 0x00, 1ull << 63);
    fresh(gv_wcr4);
    w32(V_CR_ICPT, B(16 + 4));
    g.rdx = read_cr4();
    caps_da(da, "MOV CR4, RDX (CR4 write intercept)", 0x14, (1ull << 63) | 2);
    fresh(gv_rdr7);
    w32(V_DR_ICPT, B(7));
    caps_da(da, "MOV RBX, DR7 (DR7 read intercept)", 0x27, 3);
    fresh(gv_invlpg);
    set32(V_I3, B(I3_INVLPG));
    g.rsi = 0x12345000;
    caps_da(da, "INVLPG 0x10(%rsi), RSI 0x12345000 (INVLPG intercept)", 0x79, 0x12345010);
    fresh(gv_int41);
    set32(V_I3, B(I3_INTN));
    caps_da(da, "INT 0x41 (INTn intercept)", 0x75, 0x41);
    /* 15.8.4: the instruction bytes of a data #PF; the #PF address is in
     * EXITINFO2 either way (15.12.15) */
    fresh(gv_read);
    w32(V_EXC_ICPT, B(14));
    vmcb[V_INSN_LEN] = 0xEE;
    g.rsi = NOTMAPPED;
    uint64_t code = run();
    uint8_t n = r8(V_INSN_LEN);
    hv_printf("a data #PF (MOV RAX, [RSI]) intercepted: exit %#llx, EXITINFO2 the address: %s, instruction-byte "
              "count field %#x%s\n", U(code), hv_yn(r64(V_EXITINFO2) == NOTMAPPED), n,
              n == 0xEE ? " (as written before VMRUN)" : "");
    T_CHECK_EQ(code, 0x4E);
    T_CHECK_EQ(r64(V_EXITINFO2), NOTMAPPED);
    T_CHECK_EQ(n, da ? 15 : 0xEE);
    if (da)
        T_CHECK_EQ(r8(V_INSN_BYTES), 0x48);
    fresh(gv_nops);
    vmcb[V_INSN_LEN] = 0xEE;
    code = run();
    hv_printf("another intercept: exit %#llx, instruction-byte count field %#x%s\n", U(code), r8(V_INSN_LEN),
              r8(V_INSN_LEN) == 0xEE ? " (as written before VMRUN)" : "");
    T_CHECK_EQ(r8(V_INSN_LEN), da ? 0 : 0xEE);
}

static void group_caps_pause(void)
{
    uint32_t edx = svm_edx();
    bool filter = (edx >> 10) & 1, thresh = (edx >> 12) & 1;
    hv_printf("CPUID 8000_000AH EDX bit 10 (PAUSE filter) %u, bit 12 (threshold) %u\n", filter, thresh);
    fresh(gv_pause3);
    set32(V_I3, B(I3_PAUSE));
    w16(V_PAUSE_COUNT, 3);
    uint64_t code = run();
    hv_printf("PAUSE filter count 3, three PAUSEs: exit %#llx at the %s\n", U(code), which_pause(r64(V_RIP)));
    /* without the filter the count is ignored: every PAUSE exits */
    T_CHECK_EQ(code, 0x77);
    T_CHECK_EQ(r64(V_RIP), filter ? A(gv_pause3_2) : A(gv_pause3));
    fresh(gv_pause_gaps);
    set32(V_I3, B(I3_PAUSE));
    w16(V_PAUSE_COUNT, 2);
    w16(V_PAUSE_THRESH, 1000);
    code = run();
    if (code == 0x77)
        hv_printf("count 2, threshold 1000 cycles, a WBINVD between the PAUSEs: exit 0x77 at the PAUSE at +%llu\n",
                  U(r64(V_RIP) - A(gv_pause_gaps)));
    else
        hv_printf("count 2, threshold 1000 cycles, a WBINVD between the PAUSEs: no PAUSE exit (exit %#llx)\n",
                  U(code));
    /* with the threshold each PAUSE reloads the count; without it the
     * second PAUSE (at +4) brings the count to 0; without the filter the
     * first exits */
    if (filter && thresh)
        T_CHECK_EQ(code, 0x81);
    else
        T_CHECK_EQ(r64(V_RIP) - A(gv_pause_gaps), filter ? 4 : 0);
}

static void group_caps_np(void)
{
    bool np = svm_edx() & 1;
    hv_printf("CPUID 8000_000AH EDX bit 0 (nested paging): %u\n", np);
    uint64_t ncr3 = npt_build();
    page_a[0] = 0xA;
    fresh(gv_read);
    w64(V_NP_ENABLE, 1);
    w64(V_NCR3, ncr3);
    w64(V_GPAT, 0x0007040600070406ull);
    g.rsi = pa(page_a);
    hv_printf("VMRUN with NP_ENABLE and identity nested tables\n");
    uint64_t code = run();
    hv_printf("exit %#llx, the guest read %#llx\n", U(code), U(r64(V_RAX)));
    T_CHECK_EQ(np, 1);                              /* without nested paging hvsim stops at VMRUN */
    T_CHECK_EQ(code, 0x81);
    T_CHECK_EQ(r64(V_RAX), 0xA);
}

static void group_caps_asid(void)
{
    uint32_t r[4];
    hv_cpuid(0x8000000A, 0, r);
    uint32_t nasid = r[1];
    hv_printf("CPUID 8000_000AH EBX: %u ASIDs\n", nasid);
    fresh(gv_nops);
    w32(V_ASID, nasid - 1);
    uint64_t code = run();
    hv_printf("VMRUN with ASID %u (the largest): exit %#llx\n", nasid - 1, U(code));
    T_CHECK_EQ(code, 0x81);
    fresh(gv_nops);
    w32(V_ASID, nasid);
    hv_printf("VMRUN with ASID %u (the number of ASIDs)\n", nasid);
    code = run();
    hv_printf("VMRUN returned: exit %#llx (hvsim must have stopped)\n", U(code));
}

/* ---- what stays unmodelled (the run stops at VMRUN, naming it) ---- */

static void group_unmodelled(const char *what)
{
    fresh(gv_nops);
    if (!strcmp(what, "vnmi")) {
        hv_printf("VMRUN with V_NMI_ENABLE (NMI virtualization) and the NMI intercept\n");
        w64(V_VINTR, V_NMI_ENABLE);
        set32(V_I3, B(I3_NMI));
    } else if (!strcmp(what, "vtpr-sbz")) {
        hv_printf("VMRUN with V_TPR 0x25 (bits 7:4 are SBZ)\n");
        w64(V_VINTR, 0x25);
    } else {
        hv_printf("no such unmodelled case: %s\n", what);
        hv_exit(1);
    }
    uint64_t code = run();
    hv_printf("VMRUN returned: exit %#llx (hvsim must have stopped)\n", U(code));
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    svm_on();
    handlers();
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "vintr-taken", group_vintr_taken }, { "vintr-priority", group_vintr_priority },
        { "vintr-masking-if", group_vintr_masking_if }, { "vintr-intercept", group_vintr_intercept },
        { "vintr-hlt", group_vintr_hlt }, { "vintr-delivery-exitintinfo", group_vintr_delivery_exitintinfo },
        { "cr8-v-intr-masking", group_cr8_v_intr_masking }, { "cr8-opens-vintr", group_cr8_opens_vintr },
        { "intr-v-intr-masking", group_intr_v_intr_masking }, { "intr-before-vintr", group_intr_before_vintr },
        { "vgif", group_vgif }, { "nmi-intercept", group_nmi_intercept }, { "nmi-gif", group_nmi_gif },
        { "pushf-popf", group_pushf_popf }, { "dr-intercepts", group_dr_intercepts },
        { "decode-assists", group_decode_assists }, { "decode-assists-pf", group_decode_assists_pf },
        { "decode-assists-npf", group_decode_assists_npf }, { "pause-filter", group_pause_filter },
        { "caps-nrip", group_caps_nrip }, { "caps-decode", group_caps_decode }, { "caps-pause", group_caps_pause },
        { "caps-np", group_caps_np }, { "caps-asid", group_caps_asid },
    };
    const char *c = (const char *)(uintptr_t)bi->cmdline;
    for (unsigned k = 0; k < sizeof(groups) / sizeof(groups[0]); k++)
        if (hv_cmdline_is(bi, groups[k].name)) {
            groups[k].fn();
            T_DONE();
        }
    if (c && !memcmp(c, "unmodelled:", 11)) {
        group_unmodelled(c + 11);
        T_DONE();
    }
    hv_printf("usage: --cmdline GROUP (see svm_virt.c)\n");
    hv_exit(1);
}
