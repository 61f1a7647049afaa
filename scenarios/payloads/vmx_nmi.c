/*
 * vmx_nmi — NMIs in VMX non-root operation and TSC scaling, one fact per
 * line. The command line picks a group:
 *   exit      "NMI exiting": an NMI is exit reason 0 (vector 2, type 2);
 *             afterwards NMIs are blocked in VMX root operation until IRET
 *   guest     without "NMI exiting" an NMI goes through the guest IDT
 *             (vector 2) and blocks the next one until its IRET; blocking by
 *             NMI is saved by a VM exit from the handler and loaded again
 *   blocking  blocking by NMI loaded from the interruptibility state: a guest
 *             IRET removes it without "NMI exiting", not with it
 *   vnmi      "virtual NMIs": an injected NMI sets virtual-NMI blocking, IRET
 *             removes it, real NMIs still exit
 *   window    "NMI-window exiting" with and without virtual-NMI blocking,
 *             after an injected NMI, with blocking by MOV SS and by STI
 *   priority  MTF and the preemption timer before NMI-window exits, those
 *             before NMIs, NMIs before interrupt-window exits
 *   iret      "NMI unblocking due to IRET" (interruption information bit 12)
 *   tsc       "use TSC scaling" with several multipliers, with the offset
 *
 * The guest shares the payload's address space, GDT and IDT; it raises NMIs
 * with an ICR write to its own APIC ID (delivery mode NMI, no shorthand:
 * the "self" shorthand is not valid with NMI, SDM 3A 10.6.1).
 *
 * SDM 3A 6.7.1 (NMI handling), 10.6.1 (ICR); SDM 3C 25.6.1-25.6.2 (the
 * controls), 26.2 (NMIs, NMI-window exiting), 26.3 (IRET, RDTSC, RDTSCP,
 * RDMSR), 27.7.1 (interruptibility state at VM entry), 27.6.1.2 (injected
 * NMIs), 28.2.2-28.2.3 (interruption information, NMI unblocking due to
 * IRET), 28.3.4 (saving the interruptibility state), 28.5.5 (blocking by
 * NMI after a VM exit caused by an NMI); 3D appendix C (reasons 0, 7, 8,
 * 18, 37, 52).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

#define PIN_NMI_EXITING  (1u << 3)
#define PIN_VIRTUAL_NMIS (1u << 5)
#define PIN_PREEMPTION   (1u << 6)
#define P_INT_WINDOW     (1u << 2)
#define P_TSC_OFFSET     (1u << 3)
#define P_NMI_WINDOW     (1u << 22)
#define P_MTF            (1u << 27)
#define P2_RDTSCP        (1u << 3)
#define P2_TSC_SCALING   (1u << 25)
#define F_TSC_OFFSET     0x2010u
#define F_TSC_MULTIPLIER 0x2032u
#define ICR_NMI_PHYS     0x4400u            /* delivery mode NMI (100b), assert, physical, no shorthand */

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static struct vmx_regs g;
static bool launched;
volatile uint32_t nmi_dest;                  /* ICR high: this LP's APIC ID in bits 31:24 */
static volatile unsigned nmi_count, nmi_resend, nmi_vmcall, nmi_second_inside;

extern char g_vmcall[], g_nmi[], g_nmi_after[], g_iret_vmcall[], g_after_iret[], g_nmi_iret[], g_nmi_iret_after[],
    g_nop_vmcall[], g_after_nop[], g_iret_bad[], g_rdtsc[], g_rdtscp[], g_rdmsr[];
__attribute__((used)) static void guests(void)
{
    __asm__ volatile(
        ".globl g_vmcall\ng_vmcall: vmcall\n 1: jmp 1b\n"
        /* an NMI to this LP's own APIC ID, then a short wait and VMCALL */
        ".globl g_nmi\ng_nmi: mov nmi_dest(%%rip), %%eax\n mov $0xfee00000, %%edx\n mov %%eax, 0x310(%%rdx)\n"
        " mov $0x4400, %%eax\n mov %%eax, 0x300(%%rdx)\n"
        ".globl g_nmi_after\ng_nmi_after: nop\n nop\n nop\n vmcall\n 1: jmp 1b\n"
        /* IRET to the next instruction (it changes nothing but NMI blocking), then VMCALL */
        ".globl g_iret_vmcall\ng_iret_vmcall: mov %%ss, %%ecx\n push %%rcx\n lea 8(%%rsp), %%rax\n push %%rax\n"
        " pushfq\n mov %%cs, %%ecx\n push %%rcx\n lea g_after_iret(%%rip), %%rcx\n push %%rcx\n iretq\n"
        ".globl g_after_iret\ng_after_iret: vmcall\n 1: jmp 1b\n"
        /* an NMI to itself, a wait, an IRET to the next instruction, then VMCALL */
        ".globl g_nmi_iret\ng_nmi_iret: mov nmi_dest(%%rip), %%eax\n mov $0xfee00000, %%edx\n mov %%eax, 0x310(%%rdx)\n"
        " mov $0x4400, %%eax\n mov %%eax, 0x300(%%rdx)\n nop\n nop\n"
        " mov %%ss, %%ecx\n push %%rcx\n lea 8(%%rsp), %%rax\n push %%rax\n"
        " pushfq\n mov %%cs, %%ecx\n push %%rcx\n lea g_nmi_iret_after(%%rip), %%rcx\n push %%rcx\n iretq\n"
        ".globl g_nmi_iret_after\ng_nmi_iret_after: nop\n vmcall\n 1: jmp 1b\n"
        ".globl g_nop_vmcall\ng_nop_vmcall: nop\n"
        ".globl g_after_nop\ng_after_nop: vmcall\n 1: jmp 1b\n"
        /* IRET to a null CS selector: #GP(0) */
        ".globl g_iret_bad\ng_iret_bad: mov %%ss, %%ecx\n push %%rcx\n lea 8(%%rsp), %%rax\n push %%rax\n"
        " pushfq\n push $0\n lea g_vmcall(%%rip), %%rcx\n push %%rcx\n iretq\n"
        ".globl g_rdtsc\ng_rdtsc: rdtsc\n vmcall\n"
        ".globl g_rdtscp\ng_rdtscp: rdtscp\n vmcall\n"
        ".globl g_rdmsr\ng_rdmsr: rdmsr\n vmcall\n" ::: "rax", "rcx", "rdx", "memory");
}

/* IRET to the next instruction in VMX root operation: ends blocking by NMI. */
static void iret_self(void)
{
    __asm__ volatile("mov %%ss, %%ecx\n push %%rcx\n lea 8(%%rsp), %%rax\n push %%rax\n pushfq\n"
                     " mov %%cs, %%ecx\n push %%rcx\n lea 1f(%%rip), %%rcx\n push %%rcx\n iretq\n 1:"
                     ::: "rax", "rcx", "memory", "cc");
}

static void send_nmi_self(void) { apic_send_ipi(apic_self_id(), ICR_NMI_PHYS); }

/* Vector 2, in the host and in the guest (shared IDT). */
static bool on_nmi(struct hv_frame *f)
{
    (void)f;
    nmi_count++;
    if (nmi_resend) {
        /* a second NMI while this one is being handled: held until IRET */
        nmi_resend = 0;
        unsigned before = nmi_count;
        send_nmi_self();
        for (int i = 0; i < 20; i++)
            __asm__ volatile("pause");
        nmi_second_inside = nmi_count != before;
    }
    if (nmi_vmcall) {
        nmi_vmcall = 0;
        __asm__ volatile("vmcall" ::: "memory");   /* a VM exit from inside the handler */
    }
    return true;
}

static void set_ctls(uint32_t pin, uint32_t proc, uint32_t proc2)
{
    vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, pin));
    uint32_t p = vmx_ctls(MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED, proc | PROC_SECONDARY_CTLS);
    vmw(F_PROC, p);
    uint64_t c2 = rdmsr(MSR_VMX_PROCBASED_CTLS2);
    vmw(F_PROC2, (proc2 | (uint32_t)c2) & (uint32_t)(c2 >> 32));
}

/* Enter the guest at rip (RFLAGS rflags, interruptibility intr); returns
 * the exit reason. */
static uint64_t run(const void *rip, uint64_t rflags, uint64_t intr)
{
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    vmw(F_GUEST_RFLAGS, rflags);
    vmw(F_GUEST_INTERRUPTIBILITY, intr);
    uint64_t r = vmx_enter(&g, launched);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VM entry failed: %s, error %llu", vmx_status_name(vmx_status(r)),
             (unsigned long long)vmx_insn_error());
    launched = true;
    return vmr(F_EXIT_REASON);
}

/* Resume after a VMCALL exit, past the VMCALL. */
static uint64_t resume_past_vmcall(void)
{
    vmw(F_GUEST_RIP, vmr(F_GUEST_RIP) + 3);
    uint64_t r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "VMRESUME failed, error %llu", (unsigned long long)vmx_insn_error());
    return vmr(F_EXIT_REASON);
}

static bool rip_is(const void *p) { return vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)p; }
static unsigned long long intr_state(void) { return (unsigned long long)vmr(F_GUEST_INTERRUPTIBILITY); }
static unsigned long long reason(void) { return (unsigned long long)vmr(F_EXIT_REASON); }
static unsigned long long info(void) { return (unsigned long long)vmr(F_EXIT_INTR_INFO); }

/* An NMI exit with NMIs left blocked in VMX root operation (28.5.5), and a
 * second NMI pending behind that blocking: the set-up for an NMI pending at
 * the next VM entry. */
static void make_pending_nmi(void)
{
    iret_self();                                     /* a clean start: no blocking, nothing pending */
    set_ctls(PIN_NMI_EXITING, 0, 0);
    run(g_nmi, 2, 0);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    send_nmi_self();
}

static void group_exit(void)
{
    set_ctls(PIN_NMI_EXITING, 0, 0);
    unsigned before = nmi_count;
    run(g_nmi, 2, 0);
    hv_printf("NMI exiting, the guest sends itself an NMI: reason %llu, interruption info %#llx, guest RIP after the "
              "ICR write: %s, interruptibility %#llx\n", reason(), info(), hv_yn(rip_is(g_nmi_after)), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000202);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    T_CHECK_EQ(nmi_count, before);
    send_nmi_self();
    unsigned after_send = nmi_count;
    iret_self();
    hv_printf("after the NMI exit, an NMI in VMX root operation waits for IRET: taken before IRET: %s, after: %s\n",
              hv_yn(after_send != before), hv_yn(nmi_count == before + 1));
    T_CHECK_EQ(after_send, before);
    T_CHECK_EQ(nmi_count, before + 1);
    /* a VMCALL exit does not block NMIs */
    run(g_vmcall, 2, 0);
    send_nmi_self();
    hv_printf("after a VMCALL exit an NMI in VMX root operation is taken at once: %s\n",
              hv_yn(nmi_count == before + 2));
    T_CHECK_EQ(nmi_count, before + 2);
}

static void group_guest(void)
{
    set_ctls(0, 0, 0);
    nmi_count = 0;
    nmi_resend = 1;
    nmi_second_inside = 0;
    run(g_nmi, 2, 0);
    hv_printf("without NMI exiting: the guest's NMI went through its IDT (vector 2): %s; a second NMI sent by the "
              "handler waited for its IRET: %s, then was taken: %s; exit reason %llu, interruptibility %#llx\n",
              hv_yn(nmi_count >= 1), hv_yn(!nmi_second_inside), hv_yn(nmi_count == 2), reason(), intr_state());
    T_CHECK_EQ(nmi_second_inside, 0);
    T_CHECK_EQ(nmi_count, 2);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    /* a VM exit inside the guest's NMI handler saves blocking by NMI */
    nmi_count = 0;
    nmi_vmcall = 1;
    run(g_nmi, 2, 0);
    unsigned long long saved = intr_state();
    hv_printf("VMCALL inside the guest's NMI handler: reason %llu, interruptibility %#llx (blocking by NMI)\n",
              reason(), saved);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    T_CHECK_EQ(saved, 8);
    /* resumed with bit 3 = 1: the guest's handler IRETs, which unblocks */
    uint64_t r = resume_past_vmcall();
    send_nmi_self();
    hv_printf("resumed with interruptibility 8: the handler's IRET ends the blocking, exit reason %llu with "
              "interruptibility %#llx; NMIs in VMX root operation are not blocked: %s\n", (unsigned long long)r,
              intr_state(), hv_yn(nmi_count == 2));
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    T_CHECK_EQ(nmi_count, 2);
}

static void group_blocking(void)
{
    /* without NMI exiting: bit 3 blocks until the guest's IRET */
    set_ctls(0, 0, 0);
    nmi_count = 0;
    run(g_nmi_iret, 2, 8);
    hv_printf("without NMI exiting, entry with blocking by NMI: the guest's NMI is taken after its IRET: %s (count "
              "%u), exit reason %llu, interruptibility %#llx\n", hv_yn(nmi_count == 1), nmi_count, reason(),
              intr_state());
    T_CHECK_EQ(nmi_count, 1);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    /* with NMI exiting: IRET in the guest leaves the blocking alone */
    set_ctls(PIN_NMI_EXITING, 0, 0);
    nmi_count = 0;
    run(g_nmi_iret, 2, 8);
    hv_printf("NMI exiting, entry with blocking by NMI: the guest's NMI and IRET cause no exit, reason %llu, "
              "interruptibility saved %#llx\n", reason(), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 8);
    unsigned held = nmi_count;
    iret_self();
    hv_printf("  the NMI stays pending in VMX root operation until the host's IRET: %s, then taken: %s\n",
              hv_yn(held == 0), hv_yn(nmi_count == 1));
    T_CHECK_EQ(held, 0);
    T_CHECK_EQ(nmi_count, 1);
}

static void group_vnmi(void)
{
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, 0, 0);
    bool have = (vmr(F_PIN) & PIN_VIRTUAL_NMIS) != 0;
    hv_printf("virtual NMIs offered: %s\n", hv_yn(have));
    if (!have)
        return;
    nmi_count = 0;
    nmi_vmcall = 1;
    vmw(F_ENTRY_INTR_INFO, 0x80000202);              /* inject an NMI */
    run(g_vmcall, 2, 0);
    hv_printf("injected NMI: delivered through the guest IDT: %s; VMCALL in its handler: reason %llu, "
              "interruptibility %#llx (virtual-NMI blocking)\n", hv_yn(nmi_count == 1), reason(), intr_state());
    T_CHECK_EQ(nmi_count, 1);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 8);
    uint64_t r = resume_past_vmcall();
    hv_printf("resumed: the handler's IRET removes virtual-NMI blocking: reason %llu at the VMCALL, interruptibility "
              "%#llx\n", (unsigned long long)r, intr_state());
    T_CHECK_EQ(r, 18);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    /* virtual-NMI blocking does not block NMIs */
    unsigned before = nmi_count;
    run(g_nmi, 2, 8);
    hv_printf("with virtual-NMI blocking the guest's NMI still exits: reason %llu, interruption info %#llx, "
              "interruptibility %#llx\n", reason(), info(), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000202);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 8);
    T_CHECK_EQ(nmi_count, before);
    iret_self();                                     /* the NMI exit blocked NMIs in VMX root operation */
    /* IRET in the guest removes virtual-NMI blocking */
    run(g_iret_vmcall, 2, 8);
    hv_printf("entry with virtual-NMI blocking, the guest executes IRET: reason %llu, interruptibility %#llx\n",
              reason(), intr_state());
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
}

static void group_window(void)
{
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, P_NMI_WINDOW, 0);
    bool have = (vmr(F_PROC) & P_NMI_WINDOW) && (vmr(F_PIN) & PIN_VIRTUAL_NMIS);
    hv_printf("NMI-window exiting offered: %s\n", hv_yn(have));
    if (!have)
        return;
    run(g_vmcall, 2, 0);
    hv_printf("NMI-window exiting, no virtual-NMI blocking: reason %llu before the first instruction: %s\n",
              reason(), hv_yn(rip_is(g_vmcall)));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
    T_CHECK(rip_is(g_vmcall), "guest RIP %#llx", (unsigned long long)vmr(F_GUEST_RIP));
    run(g_iret_vmcall, 2, 8);
    hv_printf("NMI-window exiting with virtual-NMI blocking: reason %llu right after the guest's IRET: %s, "
              "interruptibility %#llx\n", reason(), hv_yn(rip_is(g_after_iret)), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
    T_CHECK(rip_is(g_after_iret), "guest RIP %#llx", (unsigned long long)vmr(F_GUEST_RIP));
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    nmi_count = 0;
    vmw(F_ENTRY_INTR_INFO, 0x80000202);
    run(g_vmcall, 2, 0);
    hv_printf("NMI-window exiting with an injected NMI: the handler ran (%u) and the exit (reason %llu) comes after "
              "its IRET, at the VMCALL: %s\n", nmi_count, reason(), hv_yn(rip_is(g_vmcall)));
    T_CHECK_EQ(nmi_count, 1);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
    T_CHECK(rip_is(g_vmcall), "guest RIP %#llx", (unsigned long long)vmr(F_GUEST_RIP));
    run(g_nop_vmcall, 2, 2);
    hv_printf("NMI-window exiting with blocking by MOV SS: reason %llu after the first instruction: %s, "
              "interruptibility %#llx\n", reason(), hv_yn(rip_is(g_after_nop)), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
    T_CHECK(rip_is(g_after_nop), "guest RIP %#llx", (unsigned long long)vmr(F_GUEST_RIP));
    run(g_nop_vmcall, 0x202, 1);
    hv_printf("NMI-window exiting with blocking by STI: reason %llu after the first instruction: %s\n", reason(),
              hv_yn(rip_is(g_after_nop)));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
}

static void group_priority(void)
{
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION, P_NMI_WINDOW, 0);
    bool have = (vmr(F_PROC) & P_NMI_WINDOW) && (vmr(F_PIN) & PIN_PREEMPTION);
    hv_printf("NMI-window exiting and the VMX-preemption timer offered: %s\n", hv_yn(have));
    if (!have)
        return;
    vmw(F_PREEMPTION_TIMER, 0);
    run(g_vmcall, 2, 0);
    hv_printf("preemption timer 0 and the NMI window open at VM entry: reason %llu\n", reason());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 52);
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, P_NMI_WINDOW | P_MTF, 0);
    if (vmr(F_PROC) & P_MTF) {
        vmw(F_ENTRY_INTR_INFO, 0x80000700);          /* a pending MTF VM exit */
        run(g_vmcall, 2, 0);
        hv_printf("pending MTF VM exit and the NMI window open at VM entry: reason %llu\n", reason());
        T_CHECK_EQ(vmr(F_EXIT_REASON), 37);
    } else {
        hv_printf("no monitor trap flag on this processor\n");
    }
    /* an NMI pending at VM entry (held by the blocking an NMI exit leaves) */
    make_pending_nmi();
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, P_NMI_WINDOW, 0);
    unsigned before = nmi_count;
    run(g_vmcall, 2, 0);
    hv_printf("an NMI pending and the NMI window open at VM entry: reason %llu (the window first); the NMI is then "
              "taken in VMX root operation: %s\n", reason(), hv_yn(nmi_count == before + 1));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 8);
    T_CHECK_EQ(nmi_count, before + 1);
    make_pending_nmi();
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, 0, 0);
    run(g_vmcall, 2, 0);
    hv_printf("an NMI pending at VM entry, virtual NMIs, no NMI-window exiting: reason %llu, interruption info %#llx, "
              "before the first instruction: %s\n", reason(), info(), hv_yn(rip_is(g_vmcall)));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000202);
    /* the NMI comes before the interrupt window */
    make_pending_nmi();
    set_ctls(PIN_NMI_EXITING, P_INT_WINDOW, 0);
    run(g_vmcall, 0x202, 0);
    hv_printf("an NMI pending and the interrupt window open at VM entry: reason %llu (the NMI first)\n", reason());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    run(g_vmcall, 0x202, 0);
    hv_printf("  entered again: reason %llu\n", reason());
    T_CHECK_EQ(vmr(F_EXIT_REASON), 7);
    /* without NMI exiting a pending NMI is delivered through the guest IDT first */
    make_pending_nmi();
    set_ctls(0, 0, 0);
    nmi_count = 0;
    run(g_vmcall, 2, 0);
    hv_printf("an NMI pending at VM entry without NMI exiting: delivered through the guest IDT (%u), then reason "
              "%llu\n", nmi_count, reason());
    T_CHECK_EQ(nmi_count, 1);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
}

static void group_iret(void)
{
    set_ctls(PIN_NMI_EXITING | PIN_VIRTUAL_NMIS, 0, 0);
    vmw(F_EXCEPTION_BITMAP, 1u << 13);
    run(g_iret_bad, 2, 8);
    hv_printf("IRET to a null CS with virtual-NMI blocking, #GP exits: reason %llu, interruption info %#llx (bit 12 "
              "set), error code %#llx, interruptibility %#llx\n", reason(), info(),
              (unsigned long long)vmr(F_EXIT_INTR_EC), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80001b0d);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    run(g_iret_bad, 2, 0);
    hv_printf("the same IRET without virtual-NMI blocking: interruption info %#llx (bit 12 clear)\n", info());
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000b0d);
    set_ctls(0, 0, 0);
    run(g_iret_bad, 2, 8);
    hv_printf("without NMI exiting, with blocking by NMI: interruption info %#llx (bit 12 set), interruptibility "
              "%#llx\n", info(), intr_state());
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80001b0d);
    T_CHECK_EQ(vmr(F_GUEST_INTERRUPTIBILITY), 0);
    vmw(F_EXCEPTION_BITMAP, 0);
}

/* The guest's TSC read through rip, checked against the host's reads
 * before and after scaled by mult (2^48 = 1.0) plus off. */
static void tsc_case(const char *what, const void *rip, uint64_t mult, uint64_t off, bool scaled)
{
    g.rcx = 0x10;
    uint64_t before = rdtsc();
    run(rip, 2, 0);
    uint64_t after = rdtsc();
    uint64_t t = (g.rdx << 32) | (g.rax & 0xFFFFFFFF);
    uint64_t lo = scaled ? (uint64_t)(((unsigned __int128)before * mult) >> 48) : before;
    uint64_t hi = scaled ? (uint64_t)(((unsigned __int128)after * mult) >> 48) : after;
    bool in = t >= lo + off && t <= hi + off;
    hv_printf("%s: exit reason %llu, the guest read the expected TSC: %s\n", what, reason(), hv_yn(in));
    T_CHECK(in, "%s: guest %#llx, expected %#llx..%#llx", what, (unsigned long long)t,
            (unsigned long long)(lo + off), (unsigned long long)(hi + off));
}

static void group_tsc(void)
{
    set_ctls(0, P_TSC_OFFSET | PROC_USE_MSR_BITMAPS, P2_RDTSCP | P2_TSC_SCALING);
    bool have = (vmr(F_PROC2) & P2_TSC_SCALING) != 0;
    hv_printf("TSC scaling offered: %s\n", hv_yn(have));
    if (!have)
        return;
    vmw(F_MSR_BITMAP, (uint64_t)(uintptr_t)hv_page_alloc());
    static const struct { const char *name; uint64_t mult; } m[] = {
        { "multiplier 1.0 (2^48)", 1ull << 48 },
        { "multiplier 2.0", 2ull << 48 },
        { "multiplier 0.5", 1ull << 47 },
        { "multiplier 0.75", 3ull << 46 },
        { "multiplier 3.0", 3ull << 48 },
    };
    char what[96];
    for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        vmw(F_TSC_MULTIPLIER, m[i].mult);
        vmw(F_TSC_OFFSET, 0);
        hv_snprintf(what, sizeof(what), "RDTSC, TSC scaling %s, offset 0", m[i].name);
        tsc_case(what, g_rdtsc, m[i].mult, 0, true);
    }
    vmw(F_TSC_MULTIPLIER, 1ull << 47);
    vmw(F_TSC_OFFSET, 1ull << 40);
    tsc_case("RDTSC, TSC scaling 0.5, offset 2^40 (added after scaling)", g_rdtsc, 1ull << 47, 1ull << 40, true);
    tsc_case("RDTSCP, TSC scaling 0.5, offset 2^40", g_rdtscp, 1ull << 47, 1ull << 40, true);
    tsc_case("RDMSR IA32_TIME_STAMP_COUNTER, TSC scaling 0.5, offset 2^40", g_rdmsr, 1ull << 47, 1ull << 40, true);
    vmw(F_TSC_OFFSET, (uint64_t)0 - 0x100000);
    vmw(F_TSC_MULTIPLIER, 2ull << 48);
    tsc_case("RDTSC, TSC scaling 2.0, offset -0x100000", g_rdtsc, 2ull << 48, (uint64_t)0 - 0x100000, true);
    /* scaling only acts with offsetting */
    set_ctls(0, PROC_USE_MSR_BITMAPS, P2_RDTSCP | P2_TSC_SCALING);
    tsc_case("RDTSC, TSC scaling 2.0 without TSC offsetting: the TSC unchanged", g_rdtsc, 0, 0, false);
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)lp; (void)nlps;
    static const struct { const char *name; void (*fn)(void); } groups[] = {
        { "exit", group_exit }, { "guest", group_guest }, { "blocking", group_blocking }, { "vnmi", group_vnmi },
        { "window", group_window }, { "priority", group_priority }, { "iret", group_iret }, { "tsc", group_tsc },
    };
    hv_cpu_init();
    hv_set_handler(2, on_nmi);
    apic_sw_enable(0xFF);
    nmi_dest = apic_self_id() << 24;
    vmx_on_with_vmcs();
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_vmcall, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 64));
    for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (hv_cmdline_is(bi, groups[i].name)) {
            groups[i].fn();
            T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
            T_DONE();
        }
    }
    hv_printf("usage: --cmdline exit|guest|blocking|vnmi|window|priority|iret|tsc\n");
    hv_exit(1);
}
