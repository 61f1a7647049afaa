/*
 * vmx_exits2 — three VM-execution controls whose exits depend on where the
 * guest is and when: the monitor trap flag (exit reason 37), PAUSE-loop
 * exiting (reason 40) and "use TPR shadow" with the TPR threshold (reason
 * 43). A hypervisor-shaped payload like vmx_exits: its 64-bit guest shares
 * the payload's address space and IDT; the command line picks one case,
 * which sets the controls, enters the guest and prints what came back.
 *
 *   mtf-off       MTF 0: the guest runs to its VMCALL
 *   mtf-step      MTF 1: one exit after each instruction (a taken branch too)
 *   mtf-inject    MTF 1 and an injected software interrupt: the exit comes
 *                 at the handler, before its first instruction
 *   mtf-pending   injection of a pending MTF (type 7, vector 0) with MTF 0,
 *                 also into the HLT activity state
 *   mtf-fault     a faulting instruction (#UD) and INT3: the exit comes after
 *                 the exception is delivered, at the handler
 *   mtf-fault-exits  the same #UD with bit 6 of the exception bitmap: exit 0
 *   mtf-hlt       HLT: the exit comes at once, in the HLT activity state;
 *                 HLT exiting takes the exit instead
 *   mtf-timer     MTF against the VMX-preemption timer
 *   mtf-window    MTF against interrupt-window exiting (STI blocking)
 *   mtf-exiting   an instruction that exits (CPUID) takes no MTF exit
 *   mtf-interrupt an external interrupt delivered before the first
 *                 instruction: the exit comes at its handler
 *   mtf-rep       a REP string instruction: the exit after one iteration
 *   tpr-read      MOV from CR8 with and without the TPR shadow
 *   tpr-write     MOV to CR8 with and without the TPR shadow
 *   tpr-below     MOV to CR8 below the TPR threshold: trap-like exit 43
 *   tpr-edges     the threshold's edges (equal, 0, 15) and the VM-entry check
 *   tpr-gp        MOV to CR8 with reserved bits: #GP, VTPR untouched
 *   tpr-mtf       TPR-below-threshold before the MTF exit
 *   ple-off       neither PAUSE control: the loop runs to its VMCALL
 *   ple-window    PLE_Window's edge, counted in PAUSEs
 *   ple-gap       PLE_Gap's edge
 *   ple-priority  "PAUSE exiting" wins over PAUSE-loop exiting
 *   ple-entry     the first PAUSE after VM entry starts a new loop
 *   ple-cpl3      PAUSE-loop exiting is ignored at CPL 3, PAUSE exiting is not
 *
 * SDM 3C "Monitor Trap Flag", "VMX-Preemption Timer", "Instructions That
 * Cause VM Exits Conditionally" (PAUSE, MOV CR8), "PAUSE-Loop Exiting",
 * "Virtualizing CR8-Based TPR Accesses", "TPR Virtualization", "Event
 * Injection" (pending MTF VM exits), "Checks on VM-Execution Control
 * Fields" (TPR threshold), 3D appendix C (reasons 37, 40, 43).
 *
 * The PAUSE-loop cases count the PAUSEs the guest completed before the
 * exit: times are TSC cycles, so the numbers follow the cost model (docs/
 * cost-model.md: a loop iteration of PAUSE and three ordinary
 * instructions is 143 cycles).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

/* controls (SDM 3C "VM-Execution Control Fields") */
#define PIN_TIMER     (1u << 6)
#define P_INT_WINDOW  (1u << 2)
#define P_HLT         (1u << 7)
#define P_CR8_LOAD    (1u << 19)
#define P_CR8_STORE   (1u << 20)
#define P_TPR_SHADOW  (1u << 21)
#define P_MTF         (1u << 27)
#define P_PAUSE       (1u << 30)
#define P2_WBINVD     (1u << 6)
#define P2_PLE        (1u << 10)
#define X_SAVE_TIMER  (1u << 22)
#define F_VAPIC       0x2012u
#define F_TPR_THRESH  0x401Cu
#define F_PLE_GAP     0x4020u
#define F_PLE_WINDOW  0x4022u

#define LOOP_CYCLES   143u       /* PAUSE (140) + INC, CMP, JB (1 each) */

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static uint8_t vapic[4096] __attribute__((aligned(4096)));
__attribute__((used)) static uint8_t rep_src[16] = "abcdefgh", rep_dst[16];

#define GUEST(name) extern char name[]
__attribute__((used)) static void snippets(void)
{
    __asm__ volatile(
        /* mtf-step: five boundaries, then the VMCALL */
        ".globl g_step\ng_step: mov $0x11, %%eax\n add $0x22, %%eax\n jmp 1f\n int3\n"
        "1: inc %%ecx\n"
        ".globl g_step_end\ng_step_end: vmcall\n"
        ".globl g_int41\ng_int41: int $0x41\n vmcall\n"
        ".globl g_ud\ng_ud: ud2\n vmcall\n"
        ".globl g_int3\ng_int3: int3\n vmcall\n"
        ".globl g_hlt\ng_hlt: hlt\n vmcall\n"
        ".globl g_wbinvd\ng_wbinvd: wbinvd\n vmcall\n"
        ".globl g_sti\ng_sti: sti\n nop\n vmcall\n"
        ".globl g_cpuid\ng_cpuid: cpuid\n nop\n vmcall\n"
        ".globl g_rep\ng_rep: rep movsb\n vmcall\n"
        ".globl g_from_cr8\ng_from_cr8: mov %%cr8, %%rdx\n vmcall\n"
        ".globl g_to_cr8\ng_to_cr8: mov %%r12, %%cr8\n vmcall\n"
        ".globl g_to_cr8_nop\ng_to_cr8_nop: mov %%r12, %%cr8\n nop\n vmcall\n"
        /* PAUSE-loop: RBX counts the PAUSEs completed, up to RCX */
        ".globl g_ple\ng_ple: 1: pause\n inc %%rbx\n cmp %%rcx, %%rbx\n jb 1b\n vmcall\n"
        ::: "memory");
}
/* ring 3 (user-accessible pages, hv_user_init) */
__asm__(".pushsection .hvuser.text, \"ax\"\n"
        ".globl u_ple\nu_ple: 1: pause\n inc %rbx\n cmp %rcx, %rbx\n jb 1b\n vmcall\n"
        ".popsection\n");
GUEST(u_ple);
GUEST(g_step); GUEST(g_step_end); GUEST(g_int41); GUEST(g_ud); GUEST(g_int3); GUEST(g_hlt); GUEST(g_wbinvd);
GUEST(g_sti); GUEST(g_cpuid); GUEST(g_rep); GUEST(g_from_cr8); GUEST(g_to_cr8); GUEST(g_to_cr8_nop); GUEST(g_ple);

static struct vmx_regs g;
static bool launched;
static volatile unsigned int41_count, ud_count, bp_count, irq52_count;

static bool on_int41(struct hv_frame *f) { (void)f; int41_count++; return true; }
static bool on_ud(struct hv_frame *f) { ud_count++; f->rip += 2; return true; }
static bool on_bp(struct hv_frame *f) { (void)f; bp_count++; return true; }
static bool on_irq52(struct hv_frame *f) { (void)f; irq52_count++; apic_eoi(); return true; }

static uint64_t A(const void *p) { return (uint64_t)(uintptr_t)p; }

/* The handler's first instruction: the offset in the (shared) IDT gate. */
static uint64_t gate_target(unsigned vector)
{
    struct hv_dtr i;
    sidt(&i);
    const uint64_t *e = (const uint64_t *)(uintptr_t)(i.base + 16 * vector);
    return (e[0] & 0xFFFF) | ((e[0] >> 32) & 0xFFFF0000ull) | ((e[1] & 0xFFFFFFFFull) << 32);
}

static void controls(uint32_t pin, uint32_t proc, uint32_t proc2, uint32_t exitc)
{
    vmx_init_controls(pin, proc, proc2, exitc, 0);
    uint32_t want_p = vmx_ctls(MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED, proc | (proc2 ? PROC_SECONDARY_CTLS : 0));
    T_ASSERT((want_p & proc) == proc, "primary controls %#x not all allowed", proc);
    if (proc2)
        T_ASSERT((vmr(F_PROC2) & proc2) == proc2, "secondary controls %#x not all allowed", proc2);
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_GUEST_INTERRUPTIBILITY, 0);
}

/* VM entry at rip (the guest's stack reset); returns the exit reason. */
static uint64_t enter_at(const void *rip, uint64_t rflags)
{
    vmw(F_GUEST_RIP, A(rip));
    vmw(F_GUEST_RSP, A(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, rflags);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}
static uint64_t run_at(const void *rip) { return enter_at(rip, 0x2); }

/* VMRESUME where the guest stopped. */
static uint64_t resume(void)
{
    uint64_t r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    return vmr(F_EXIT_REASON);
}

static uint64_t grip(void) { return vmr(F_GUEST_RIP); }
static uint64_t guest_top(void) { return *(const uint64_t *)(uintptr_t)vmr(F_GUEST_RSP); }

/* ---- the monitor trap flag ---- */

static void mtf_off(void)
{
    controls(0, 0, 0, 0);
    g.rax = g.rcx = 0;
    uint64_t r = run_at(g_step);
    hv_printf("monitor trap flag 0: exit %llu at the VMCALL: %s, RAX %#llx, RCX %llu\n", (unsigned long long)r,
              hv_yn(grip() == A(g_step_end)), (unsigned long long)g.rax, (unsigned long long)g.rcx);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(grip(), A(g_step_end));
}

static void mtf_step(void)
{
    controls(0, P_MTF, 0, 0);
    g.rax = g.rcx = 0;
    uint64_t r = run_at(g_step);
    unsigned n = 0;
    static const uint64_t off[] = { 5, 8, 11, 13 }, rax[] = { 0x11, 0x33, 0x33, 0x33 };
    while (r == 37 && n < 8) {
        hv_printf("step %u: exit 37, qualification %#llx, RIP +%llu, RAX %#llx, RCX %llu\n", n + 1,
                  (unsigned long long)vmr(F_EXIT_QUALIFICATION), (unsigned long long)(grip() - A(g_step)),
                  (unsigned long long)g.rax, (unsigned long long)g.rcx);
        if (n < 4) {
            T_CHECK_EQ(grip() - A(g_step), off[n]);
            T_CHECK_EQ(g.rax, rax[n]);
        }
        T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0);
        n++;
        r = resume();
    }
    hv_printf("then exit %llu at the VMCALL (+%llu) after %u MTF exits\n", (unsigned long long)r,
              (unsigned long long)(grip() - A(g_step)), n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 4);
}

static void mtf_inject(void)
{
    controls(0, P_MTF, 0, 0);
    /* INT 0x41 as VM entry injects it: software interrupt, length 2 */
    vmw(F_ENTRY_INTR_INFO, 0x80000441);
    vmw(F_ENTRY_INSN_LEN, 2);
    int41_count = 0;
    uint64_t r = run_at(g_int41);
    hv_printf("injected INT 0x41 with MTF: exit %llu at the handler's first instruction: %s, handler ran: %s, "
              "return RIP on the guest stack past the INT: %s\n", (unsigned long long)r,
              hv_yn(grip() == gate_target(0x41)), hv_yn(int41_count != 0), hv_yn(guest_top() == A(g_int41) + 2));
    hv_printf("  entry interruption information valid bit cleared: %s, IDT-vectoring information %#llx\n",
              hv_yn(!(vmr(F_ENTRY_INTR_INFO) >> 31)), (unsigned long long)vmr(F_IDT_VECTORING_INFO));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), gate_target(0x41));
    T_CHECK_EQ(int41_count, 0);
    T_CHECK_EQ(guest_top(), A(g_int41) + 2);
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("MTF 0, VMRESUME: the handler runs (%u), IRETQ, exit %llu at the VMCALL: %s\n", int41_count,
              (unsigned long long)r, hv_yn(grip() == A(g_int41) + 2));
    T_CHECK_EQ(int41_count, 1);
    T_CHECK_EQ(r, 18);
    /* without MTF, the injection alone takes no exit */
    vmw(F_ENTRY_INTR_INFO, 0x80000441);
    r = run_at(g_int41);
    hv_printf("injected INT 0x41 without MTF: exit %llu at the VMCALL: %s, handler ran %u times\n",
              (unsigned long long)r, hv_yn(grip() == A(g_int41) + 2), int41_count);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(int41_count, 2);
}

static void mtf_pending(void)
{
    controls(0, 0, 0, 0);
    vmw(F_ENTRY_INTR_INFO, 0x80000700);           /* other event, vector 0: pending MTF VM exit */
    g.rax = 0x5A;
    uint64_t r = run_at(g_step);
    hv_printf("pending MTF injected with MTF 0: exit %llu before the first instruction: %s, RAX still %#llx, "
              "entry interruption information %#llx\n", (unsigned long long)r, hv_yn(grip() == A(g_step)),
              (unsigned long long)g.rax, (unsigned long long)vmr(F_ENTRY_INTR_INFO));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_step));
    T_CHECK_EQ(g.rax, 0x5A);
    T_CHECK_EQ(vmr(F_ENTRY_INTR_INFO), 0x700);
    r = resume();
    hv_printf("VMRESUME without injection: exit %llu at the VMCALL: %s\n", (unsigned long long)r,
              hv_yn(grip() == A(g_step_end)));
    T_CHECK_EQ(r, 18);
    /* into the HLT activity state: the MTF VM exit wakes it */
    vmw(F_ENTRY_INTR_INFO, 0x80000700);
    vmw(F_GUEST_ACTIVITY, 1);
    r = run_at(g_step);
    hv_printf("pending MTF injected into the HLT state: exit %llu at the entry RIP: %s, activity state saved %llu\n",
              (unsigned long long)r, hv_yn(grip() == A(g_step)), (unsigned long long)vmr(F_GUEST_ACTIVITY));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(vmr(F_GUEST_ACTIVITY), 1);
    vmw(F_GUEST_ACTIVITY, 0);
    r = resume();
    hv_printf("VMRESUME in the active state: exit %llu\n", (unsigned long long)r);
    T_CHECK_EQ(r, 18);
}

static void mtf_fault(void)
{
    controls(0, P_MTF, 0, 0);
    ud_count = bp_count = 0;
    uint64_t r = run_at(g_ud);
    hv_printf("UD2 with MTF: exit %llu after the #UD is delivered, at the handler's first instruction: %s, "
              "handler ran: %s, faulting RIP on the guest stack: %s\n", (unsigned long long)r,
              hv_yn(grip() == gate_target(6)), hv_yn(ud_count != 0), hv_yn(guest_top() == A(g_ud)));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), gate_target(6));
    T_CHECK_EQ(guest_top(), A(g_ud));
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("MTF 0: the handler skips the UD2 (%u), exit %llu at the VMCALL\n", ud_count, (unsigned long long)r);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(ud_count, 1);
    vmw(F_PROC, vmr(F_PROC) | P_MTF);
    r = run_at(g_int3);
    hv_printf("INT3 with MTF: exit %llu at the #BP handler's first instruction: %s, return RIP past the INT3: %s\n",
              (unsigned long long)r, hv_yn(grip() == gate_target(3)), hv_yn(guest_top() == A(g_int3) + 1));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), gate_target(3));
    T_CHECK_EQ(guest_top(), A(g_int3) + 1);
    T_CHECK_EQ(bp_count, 0);
}

static void mtf_fault_exits(void)
{
    controls(0, P_MTF, 0, 0);
    vmw(F_EXCEPTION_BITMAP, 1u << 6);
    ud_count = 0;
    uint64_t r = run_at(g_ud);
    hv_printf("UD2 with MTF and bit 6 in the exception bitmap: exit %llu, interruption information %#llx, at the "
              "UD2: %s, handler ran: %s\n", (unsigned long long)r, (unsigned long long)vmr(F_EXIT_INTR_INFO),
              hv_yn(grip() == A(g_ud)), hv_yn(ud_count != 0));
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000306);
    T_CHECK_EQ(grip(), A(g_ud));
    vmw(F_EXCEPTION_BITMAP, 0);
}

static void mtf_hlt(void)
{
    controls(0, P_MTF, 0, 0);
    uint64_t r = run_at(g_hlt);
    hv_printf("HLT with MTF: exit %llu past the HLT: %s, activity state saved %llu, interruptibility %llu\n",
              (unsigned long long)r, hv_yn(grip() == A(g_hlt) + 1), (unsigned long long)vmr(F_GUEST_ACTIVITY),
              (unsigned long long)vmr(F_GUEST_INTERRUPTIBILITY));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_hlt) + 1);
    T_CHECK_EQ(vmr(F_GUEST_ACTIVITY), 1);
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("activity state 0, MTF 0: exit %llu at the VMCALL\n", (unsigned long long)r);
    T_CHECK_EQ(r, 18);
    controls(0, P_MTF | P_HLT, 0, 0);
    r = run_at(g_hlt);
    hv_printf("HLT with MTF and HLT exiting: exit %llu at the HLT: %s, length %llu\n", (unsigned long long)r,
              hv_yn(grip() == A(g_hlt)), (unsigned long long)vmr(F_EXIT_INSN_LEN));
    T_CHECK_EQ(r, 12);
    T_CHECK_EQ(grip(), A(g_hlt));
}

static void mtf_timer(void)
{
    if (!(vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, PIN_TIMER) & PIN_TIMER)) {
        hv_printf("no VMX-preemption timer on this processor\n");
        return;
    }
    controls(PIN_TIMER, P_MTF, 0, X_SAVE_TIMER);
    vmw(F_PREEMPTION_TIMER, 0);
    uint64_t r = run_at(g_step);
    hv_printf("timer 0 with MTF, nothing injected: exit %llu before the first instruction: %s\n",
              (unsigned long long)r, hv_yn(grip() == A(g_step)));
    T_CHECK_EQ(r, 52);
    T_CHECK_EQ(grip(), A(g_step));
    vmw(F_PREEMPTION_TIMER, 0);
    vmw(F_ENTRY_INTR_INFO, 0x80000700);
    r = run_at(g_step);
    hv_printf("timer 0 with a pending MTF injected: exit %llu before the first instruction: %s\n",
              (unsigned long long)r, hv_yn(grip() == A(g_step)));
    T_CHECK_EQ(r, 37);
    r = resume();
    hv_printf("  VMRESUME (saved timer %llu): exit %llu\n", (unsigned long long)vmr(F_PREEMPTION_TIMER),
              (unsigned long long)r);
    T_CHECK_EQ(r, 52);
    /* the timer runs out during WBINVD (5000 cycles) with 64 << rate cycles left */
    controls(PIN_TIMER, P_MTF, 0, X_SAVE_TIMER);
    vmw(F_PREEMPTION_TIMER, 64);
    r = run_at(g_wbinvd);
    hv_printf("timer expiring during WBINVD with MTF: exit %llu past the WBINVD: %s, saved timer %llu\n",
              (unsigned long long)r, hv_yn(grip() == A(g_wbinvd) + 2), (unsigned long long)vmr(F_PREEMPTION_TIMER));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_wbinvd) + 2);
    T_CHECK_EQ(vmr(F_PREEMPTION_TIMER), 0);
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("  MTF 0, VMRESUME: exit %llu at the same RIP: %s\n", (unsigned long long)r,
              hv_yn(grip() == A(g_wbinvd) + 2));
    T_CHECK_EQ(r, 52);
}

static void mtf_window(void)
{
    controls(0, P_MTF | P_INT_WINDOW, 0, 0);
    uint64_t r = enter_at(g_sti, 0x2);              /* IF = 0: the window is shut */
    hv_printf("STI with MTF and interrupt-window exiting: exit %llu past the STI: %s, interruptibility %llu\n",
              (unsigned long long)r, hv_yn(grip() == A(g_sti) + 1), (unsigned long long)vmr(F_GUEST_INTERRUPTIBILITY));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_sti) + 1);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 1);
    r = resume();
    hv_printf("NOP in the STI shadow: exit %llu past the NOP: %s, window open (IF %llu, interruptibility %llu)\n",
              (unsigned long long)r, hv_yn(grip() == A(g_sti) + 2), (unsigned long long)(vmr(F_GUEST_RFLAGS) >> 9) & 1,
              (unsigned long long)vmr(F_GUEST_INTERRUPTIBILITY));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_sti) + 2);
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("MTF 0: exit %llu at the same RIP: %s\n", (unsigned long long)r, hv_yn(grip() == A(g_sti) + 2));
    T_CHECK_EQ(r, 7);
    T_CHECK_EQ(grip(), A(g_sti) + 2);
}

static void mtf_exiting(void)
{
    controls(0, P_MTF, 0, 0);
    uint64_t r = run_at(g_cpuid);
    hv_printf("CPUID with MTF: exit %llu at the CPUID: %s\n", (unsigned long long)r, hv_yn(grip() == A(g_cpuid)));
    T_CHECK_EQ(r, 10);
    T_CHECK_EQ(grip(), A(g_cpuid));
    vmw(F_GUEST_RIP, A(g_cpuid) + 2);               /* the hypervisor emulates it */
    r = resume();
    hv_printf("resumed past it: exit %llu past the NOP: %s\n", (unsigned long long)r, hv_yn(grip() == A(g_cpuid) + 3));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_cpuid) + 3);
}

static void mtf_interrupt(void)
{
    controls(0, P_MTF, 0, 0);
    apic_send_self(0x52);                          /* pending in the IRR: the host runs with IF = 0 */
    T_CHECK(apic_irr(0x52), "vector 0x52 not pending");
    uint64_t r = enter_at(g_step, 0x202);
    hv_printf("interrupt 0x52 pending at VM entry (guest IF 1) with MTF: exit %llu at its handler's first "
              "instruction: %s, handler ran: %s, interrupted RIP on the guest stack: %s, in service: %s\n",
              (unsigned long long)r, hv_yn(grip() == gate_target(0x52)), hv_yn(irq52_count != 0),
              hv_yn(guest_top() == A(g_step)), hv_yn(apic_isr(0x52)));
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), gate_target(0x52));
    T_CHECK_EQ(guest_top(), A(g_step));
    vmw(F_PROC, vmr(F_PROC) & ~P_MTF);
    r = resume();
    hv_printf("MTF 0: the handler runs (%u), exit %llu at the VMCALL\n", irq52_count, (unsigned long long)r);
    T_CHECK_EQ(irq52_count, 1);
    T_CHECK_EQ(r, 18);
}

static void mtf_rep(void)
{
    controls(0, P_MTF, 0, 0);
    g.rsi = A(rep_src);
    g.rdi = A(rep_dst);
    g.rcx = 3;
    memset(rep_dst, 0, sizeof(rep_dst));
    uint64_t r = run_at(g_rep);
    hv_printf("REP MOVSB (RCX 3) with MTF: exit %llu at the same instruction: %s, RCX %llu, bytes copied \"%s\"\n",
              (unsigned long long)r, hv_yn(grip() == A(g_rep)), (unsigned long long)g.rcx, (const char *)rep_dst);
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_rep));
    T_CHECK_EQ(g.rcx, 2);
    r = resume();
    r = resume();
    hv_printf("two more: exit %llu past the instruction: %s, RCX %llu, bytes copied \"%s\"\n", (unsigned long long)r,
              hv_yn(grip() == A(g_rep) + 2), (unsigned long long)g.rcx, (const char *)rep_dst);
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(g.rcx, 0);
    T_CHECK_EQ(grip(), A(g_rep) + 2);
    memset(rep_dst, 0, sizeof(rep_dst));
    g.rsi = A(rep_src);
    g.rdi = A(rep_dst);
    g.rcx = 0;
    r = run_at(g_rep);
    hv_printf("REP MOVSB (RCX 0) with MTF: exit %llu past the instruction: %s, bytes copied \"%s\"\n",
              (unsigned long long)r, hv_yn(grip() == A(g_rep) + 2), (const char *)rep_dst);
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(grip(), A(g_rep) + 2);
}

/* ---- the TPR shadow ---- */

static uint32_t *vtpr(void) { return (uint32_t *)(uintptr_t)(vapic + 0x80); }

static void tpr_setup(uint32_t proc, uint32_t thresh, uint32_t vtpr_val)
{
    controls(0, proc, 0, 0);
    vmw(F_VAPIC, A(vapic));
    vmw(F_TPR_THRESH, thresh);
    *vtpr() = vtpr_val;
}

static void tpr_read(void)
{
    apic_write(APIC_TPR, 0x20);
    tpr_setup(P_TPR_SHADOW, 0, 0xA5A5A57C);
    g.rdx = ~0ull;
    uint64_t r = run_at(g_from_cr8);
    hv_printf("MOV from CR8 with the TPR shadow (VTPR 0xa5a5a57c, APIC TPR 0x20): exit %llu, RDX %#llx\n",
              (unsigned long long)r, (unsigned long long)g.rdx);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(g.rdx, 7);
    tpr_setup(P_TPR_SHADOW | P_CR8_STORE, 0, 0x7C);
    r = run_at(g_from_cr8);
    hv_printf("MOV from CR8 with the TPR shadow and CR8-store exiting: exit %llu, qualification %#llx, at the MOV: "
              "%s\n", (unsigned long long)r, (unsigned long long)vmr(F_EXIT_QUALIFICATION), hv_yn(grip() == A(g_from_cr8)));
    T_CHECK_EQ(r, 28);
    T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0x218);
    tpr_setup(0, 0, 0x7C);
    g.rdx = ~0ull;
    r = run_at(g_from_cr8);
    hv_printf("MOV from CR8 without the TPR shadow: exit %llu, RDX %#llx (the APIC TPR)\n", (unsigned long long)r,
              (unsigned long long)g.rdx);
    T_CHECK_EQ(g.rdx, 2);
    hv_printf("APIC TPR after all: %#x\n", apic_read(APIC_TPR));
    T_CHECK_EQ(apic_read(APIC_TPR), 0x20);
    apic_write(APIC_TPR, 0);
}

static void tpr_write(void)
{
    apic_write(APIC_TPR, 0x20);
    tpr_setup(P_TPR_SHADOW, 3, 0xA5A5A53F);
    g.r12 = 5;
    uint64_t r = run_at(g_to_cr8);
    hv_printf("MOV to CR8 (5) with the TPR shadow, threshold 3: exit %llu at the VMCALL: %s, VTPR %#x, APIC TPR %#x\n",
              (unsigned long long)r, hv_yn(grip() == A(g_to_cr8) + 4), *vtpr(), apic_read(APIC_TPR));
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(*vtpr(), 0x50);
    T_CHECK_EQ(apic_read(APIC_TPR), 0x20);
    tpr_setup(P_TPR_SHADOW | P_CR8_LOAD, 3, 0x3F);
    r = run_at(g_to_cr8);
    hv_printf("MOV to CR8 with the TPR shadow and CR8-load exiting: exit %llu, qualification %#llx, VTPR %#x\n",
              (unsigned long long)r, (unsigned long long)vmr(F_EXIT_QUALIFICATION), *vtpr());
    T_CHECK_EQ(r, 28);
    T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0xc08);
    T_CHECK_EQ(*vtpr(), 0x3F);
    tpr_setup(0, 3, 0x3F);
    r = run_at(g_to_cr8);
    hv_printf("MOV to CR8 (5) without the TPR shadow: exit %llu, APIC TPR %#x, VTPR %#x\n", (unsigned long long)r,
              apic_read(APIC_TPR), *vtpr());
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(apic_read(APIC_TPR), 0x50);
    T_CHECK_EQ(*vtpr(), 0x3F);
    apic_write(APIC_TPR, 0);
}

static void tpr_below(void)
{
    apic_write(APIC_TPR, 0x20);
    tpr_setup(P_TPR_SHADOW, 4, 0x40);
    g.r12 = 3;
    uint64_t r = run_at(g_to_cr8);
    hv_printf("MOV to CR8 (3) below the TPR threshold 4: exit %llu, qualification %#llx, past the MOV: %s, VTPR %#x, "
              "APIC TPR %#x\n", (unsigned long long)r, (unsigned long long)vmr(F_EXIT_QUALIFICATION),
              hv_yn(grip() == A(g_to_cr8) + 4), *vtpr(), apic_read(APIC_TPR));
    T_CHECK_EQ(r, 43);
    T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0);
    T_CHECK_EQ(grip(), A(g_to_cr8) + 4);
    T_CHECK_EQ(*vtpr(), 0x30);
    vmw(F_TPR_THRESH, 3);
    r = resume();
    hv_printf("threshold 3, VMRESUME: exit %llu at the VMCALL\n", (unsigned long long)r);
    T_CHECK_EQ(r, 18);
    apic_write(APIC_TPR, 0);
}

static void tpr_edges(void)
{
    tpr_setup(P_TPR_SHADOW, 4, 0x40);
    g.r12 = 4;
    uint64_t r = run_at(g_to_cr8);
    hv_printf("threshold 4, VTPR 0x40 at VM entry: entered; MOV to CR8 (4): exit %llu, VTPR %#x\n",
              (unsigned long long)r, *vtpr());
    T_CHECK_EQ(r, 18);
    tpr_setup(P_TPR_SHADOW, 15, 0xF0);
    g.r12 = 14;
    r = run_at(g_to_cr8);
    hv_printf("threshold 15: MOV to CR8 (14): exit %llu\n", (unsigned long long)r);
    T_CHECK_EQ(r, 43);
    tpr_setup(P_TPR_SHADOW, 15, 0xF0);
    g.r12 = 15;
    r = run_at(g_to_cr8);
    hv_printf("threshold 15: MOV to CR8 (15): exit %llu\n", (unsigned long long)r);
    T_CHECK_EQ(r, 18);
    tpr_setup(P_TPR_SHADOW, 0, 0x00);
    g.r12 = 0;
    r = run_at(g_to_cr8);
    hv_printf("threshold 0: MOV to CR8 (0): exit %llu\n", (unsigned long long)r);
    T_CHECK_EQ(r, 18);
    /* VM entry: threshold above VTPR[7:4] without "virtualize APIC accesses" */
    tpr_setup(P_TPR_SHADOW, 5, 0x4F);
    vmw(F_GUEST_RIP, A(g_to_cr8));
    uint64_t f = vmx_enter(&g, 1);
    hv_printf("threshold 5, VTPR 0x4f: VMRESUME %s, error %llu\n",
              VMX_ENTER_FAILED(f) ? vmx_status_name(vmx_status(f)) : "entered", (unsigned long long)vmx_insn_error());
    T_CHECK(VMX_ENTER_FAILED(f) && vmx_status(f) == VMX_FAIL_VALID, "VMRESUME should fail");
    T_CHECK_EQ(vmx_insn_error(), 7);
}

static void tpr_gp(void)
{
    tpr_setup(P_TPR_SHADOW, 0, 0x3F);
    vmw(F_EXCEPTION_BITMAP, 1u << 13);
    g.r12 = 0x10;
    uint64_t r = run_at(g_to_cr8);
    hv_printf("MOV to CR8 (0x10) with the TPR shadow: exit %llu, interruption information %#llx, error code %llu, "
              "at the MOV: %s, VTPR %#x\n", (unsigned long long)r, (unsigned long long)vmr(F_EXIT_INTR_INFO),
              (unsigned long long)vmr(F_EXIT_INTR_EC), hv_yn(grip() == A(g_to_cr8)), *vtpr());
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000b0d);
    T_CHECK_EQ(vmr(F_EXIT_INTR_EC), 0);
    T_CHECK_EQ(*vtpr(), 0x3F);
    vmw(F_EXCEPTION_BITMAP, 0);
}

static void tpr_mtf(void)
{
    tpr_setup(P_TPR_SHADOW | P_MTF, 4, 0x40);
    g.r12 = 2;
    uint64_t r = run_at(g_to_cr8_nop);
    hv_printf("MOV to CR8 (2) below threshold 4 with MTF: exit %llu past the MOV: %s\n", (unsigned long long)r,
              hv_yn(grip() == A(g_to_cr8_nop) + 4));
    T_CHECK_EQ(r, 43);
    tpr_setup(P_TPR_SHADOW | P_MTF, 4, 0x40);
    g.r12 = 6;
    r = run_at(g_to_cr8_nop);
    hv_printf("MOV to CR8 (6) with MTF: exit %llu past the MOV: %s, VTPR %#x\n", (unsigned long long)r,
              hv_yn(grip() == A(g_to_cr8_nop) + 4), *vtpr());
    T_CHECK_EQ(r, 37);
    T_CHECK_EQ(*vtpr(), 0x60);
}

/* ---- PAUSE-loop exiting ---- */

/* Run the PAUSE loop (at most max PAUSEs); returns the exit reason, *n the
 * PAUSEs completed. */
static uint64_t ple_run(uint64_t max, uint64_t *n)
{
    g.rbx = 0;
    g.rcx = max;
    uint64_t r = run_at(g_ple);
    *n = g.rbx;
    return r;
}

static void ple_off(void)
{
    uint64_t n;
    controls(0, 0, 0, 0);
    uint64_t r = ple_run(50, &n);
    hv_printf("neither PAUSE exiting nor PAUSE-loop exiting: exit %llu after %llu PAUSEs\n", (unsigned long long)r,
              (unsigned long long)n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 50);
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_GAP, 0);
    vmw(F_PLE_WINDOW, 0);
    r = ple_run(50, &n);
    hv_printf("PAUSE-loop exiting with PLE_Gap 0: every PAUSE starts a loop: exit %llu after %llu PAUSEs\n",
              (unsigned long long)r, (unsigned long long)n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 50);
}

static void ple_window(void)
{
    uint64_t n;
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_GAP, 100000);
    vmw(F_PLE_WINDOW, 0);
    uint64_t r = ple_run(1000, &n);
    hv_printf("PLE_Window 0: exit %llu, qualification %#llx, length %llu, at a PAUSE: %s, after %llu PAUSE(s)\n",
              (unsigned long long)r, (unsigned long long)vmr(F_EXIT_QUALIFICATION),
              (unsigned long long)vmr(F_EXIT_INSN_LEN), hv_yn(grip() == A(g_ple)), (unsigned long long)n);
    T_CHECK_EQ(r, 40);
    T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0);
    T_CHECK_EQ(vmr(F_EXIT_INSN_LEN), 2);
    T_CHECK_EQ(n, 1);
    static const uint32_t w[] = { 10 * LOOP_CYCLES - 1, 10 * LOOP_CYCLES, 10 * LOOP_CYCLES + 1 };
    static const uint64_t want[] = { 10, 11, 11 };
    for (unsigned i = 0; i < 3; i++) {
        vmw(F_PLE_WINDOW, w[i]);
        r = ple_run(1000, &n);
        hv_printf("PLE_Window %u: exit %llu after %llu PAUSEs\n", w[i], (unsigned long long)r, (unsigned long long)n);
        T_CHECK_EQ(r, 40);
        T_CHECK_EQ(n, want[i]);
    }
}

static void ple_gap(void)
{
    uint64_t n;
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_WINDOW, 0);
    vmw(F_PLE_GAP, LOOP_CYCLES);
    uint64_t r = ple_run(50, &n);
    hv_printf("PAUSEs %u cycles apart, PLE_Gap %u: one loop, exit %llu after %llu PAUSE(s)\n", LOOP_CYCLES,
              LOOP_CYCLES, (unsigned long long)r, (unsigned long long)n);
    T_CHECK_EQ(r, 40);
    T_CHECK_EQ(n, 1);
    vmw(F_PLE_GAP, LOOP_CYCLES - 1);
    r = ple_run(50, &n);
    hv_printf("PLE_Gap %u: each PAUSE starts a loop, exit %llu after %llu PAUSEs\n", LOOP_CYCLES - 1,
              (unsigned long long)r, (unsigned long long)n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 50);
}

static void ple_priority(void)
{
    uint64_t n;
    controls(0, P_PAUSE, P2_PLE, 0);
    vmw(F_PLE_GAP, 100000);
    vmw(F_PLE_WINDOW, 100000);
    uint64_t r = ple_run(50, &n);
    hv_printf("PAUSE exiting with PAUSE-loop exiting: exit %llu at the first PAUSE: %s, after %llu PAUSEs\n",
              (unsigned long long)r, hv_yn(grip() == A(g_ple)), (unsigned long long)n);
    T_CHECK_EQ(r, 40);
    T_CHECK_EQ(n, 0);
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_GAP, 100000);
    vmw(F_PLE_WINDOW, 100000);
    r = ple_run(50, &n);
    hv_printf("PAUSE-loop exiting alone, PLE_Window 100000: exit %llu after %llu PAUSEs\n", (unsigned long long)r,
              (unsigned long long)n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 50);
}

static void ple_entry(void)
{
    uint64_t n;
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_GAP, 100000);
    vmw(F_PLE_WINDOW, 0);
    uint64_t r = ple_run(1000, &n);
    T_CHECK_EQ(r, 40);
    for (int i = 0; i < 2; i++) {
        r = resume();
        hv_printf("VMRESUME at the PAUSE: it starts a new loop; exit %llu after %llu PAUSEs in all\n",
                  (unsigned long long)r, (unsigned long long)g.rbx);
        T_CHECK_EQ(r, 40);
        T_CHECK_EQ(g.rbx, 2 + i);
    }
}

/* The PAUSE loop at CPL 3: user selectors 0x2B/0x23, the user stack. */
static uint64_t ple_run_user(uint64_t max, uint64_t *n)
{
    vmw(F_GUEST_CS_SEL, 0x2B);
    vmw(F_GUEST_CS_AR, 0xA0FB);                    /* 64-bit code, DPL 3 */
    vmw(F_GUEST_SS_SEL, 0x23);
    vmw(F_GUEST_SS_AR, 0xC0F3);                    /* data, DPL 3 */
    vmw(F_GUEST_RIP, A(u_ple));
    vmw(F_GUEST_RSP, A(hv_user_stack()) - 64);
    vmw(F_GUEST_RFLAGS, 0x2);
    g.rbx = 0;
    g.rcx = max;
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    *n = g.rbx;
    return vmr(F_EXIT_REASON);
}

static void ple_cpl3(void)
{
    uint64_t n;
    hv_user_init();
    controls(0, 0, P2_PLE, 0);
    vmw(F_PLE_GAP, 100000);
    vmw(F_PLE_WINDOW, 0);
    uint64_t r = ple_run_user(50, &n);
    hv_printf("PAUSE-loop exiting (PLE_Window 0) at CPL 3: ignored, exit %llu after %llu PAUSEs\n",
              (unsigned long long)r, (unsigned long long)n);
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(n, 50);
    controls(0, P_PAUSE, 0, 0);
    r = ple_run_user(50, &n);
    hv_printf("PAUSE exiting at CPL 3: exit %llu at the first PAUSE: %s, after %llu PAUSEs\n", (unsigned long long)r,
              hv_yn(grip() == A(u_ple)), (unsigned long long)n);
    T_CHECK_EQ(r, 40);
    T_CHECK_EQ(n, 0);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    hv_cpu_init();
    hv_set_handler(0x41, on_int41);
    hv_set_handler(6, on_ud);
    hv_set_handler(3, on_bp);
    hv_set_handler(0x52, on_irq52);
    apic_sw_enable(0xFF);
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    T_ASSERT(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64(A(g_step), A(guest_stack + sizeof(guest_stack) - 64));
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "mtf-off", mtf_off }, { "mtf-step", mtf_step }, { "mtf-inject", mtf_inject },
        { "mtf-pending", mtf_pending }, { "mtf-fault-exits", mtf_fault_exits }, { "mtf-fault", mtf_fault },
        { "mtf-hlt", mtf_hlt }, { "mtf-timer", mtf_timer }, { "mtf-window", mtf_window },
        { "mtf-exiting", mtf_exiting }, { "mtf-interrupt", mtf_interrupt }, { "mtf-rep", mtf_rep },
        { "tpr-read", tpr_read }, { "tpr-write", tpr_write }, { "tpr-below", tpr_below }, { "tpr-edges", tpr_edges },
        { "tpr-gp", tpr_gp }, { "tpr-mtf", tpr_mtf },
        { "ple-off", ple_off }, { "ple-window", ple_window }, { "ple-gap", ple_gap },
        { "ple-priority", ple_priority }, { "ple-entry", ple_entry }, { "ple-cpl3", ple_cpl3 },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hv_cmdline_is(bi, cases[i].name)) {
            cases[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    hv_printf("usage: --cmdline mtf-off|mtf-step|mtf-inject|mtf-pending|mtf-fault|mtf-fault-exits|mtf-hlt|mtf-timer|"
              "mtf-window|mtf-exiting|mtf-interrupt|mtf-rep|tpr-read|tpr-write|tpr-below|tpr-edges|tpr-gp|tpr-mtf|ple-off|"
              "ple-window|ple-gap|ple-priority|ple-entry|ple-cpl3\n");
    hv_exit(1);
}
