/*
 * vmx_events — events in VMX non-root operation, one fact per line:
 * exceptions and the exception bitmap (with the #PF error-code mask and
 * match), the exit's interruption and IDT-vectoring information, external
 * interrupts with "external-interrupt exiting" (with and without
 * "acknowledge interrupt on exit"), the VMX-preemption timer and
 * interrupt-window exiting.
 *
 * SDM 3C 26.2 (exceptions, external interrupts, the exception bitmap and
 * #PF mask/match), 26.5.1 (VMX-preemption timer), 26.2 / 25.6.2
 * (interrupt-window exiting), 28.2.2 (information for VM exits due to
 * vectored events), 28.2.4 (information for VM exits that occur during
 * event delivery), 3D appendix C (reasons 0, 1, 7, 52).
 */
#include "hvsim.h"
#include "apic.h"
#include "vmx.h"

static uint8_t guest_stack[8192] __attribute__((aligned(16)));
static volatile uint64_t guest_pf_handled, irq50_seen;

extern char g_ud[], g_int3[], g_pf[], g_int40[], g_spin[], g_spin_bounded[], g_sti[], g_after_nop[], g_vmcall[];
__attribute__((used)) static void guests(void)
{
    __asm__ volatile(
        ".globl g_ud\ng_ud: ud2\n"
        ".globl g_int3\ng_int3: int3\n vmcall\n"
        ".globl g_pf\ng_pf: movq 0x7fff00000000, %%rax\n vmcall\n"
        ".globl g_int40\ng_int40: int $0x40\n vmcall\n"
        ".globl g_spin\ng_spin: pause\n jmp g_spin\n"
        /* waits for an external interrupt, but not for ever: an implementation
         * that takes no exit reaches the VMCALL (reason 18) instead of hanging */
        ".globl g_spin_bounded\ng_spin_bounded: mov $1000000, %%ecx\n 1: pause\n dec %%ecx\n jnz 1b\n vmcall\n 2: jmp 2b\n"
        ".globl g_sti\ng_sti: sti\n nop\n"
        ".globl g_after_nop\ng_after_nop: nop\n"
        ".globl g_vmcall\ng_vmcall: vmcall\n 1: jmp 1b\n" ::: "rax", "memory");
}

/* The guest's own #PF handler (shared IDT): skip the 8-byte MOV. */
static bool guest_pf(struct hv_frame *f)
{
    guest_pf_handled++;
    f->rip += 8;
    return true;
}

static bool irq50(struct hv_frame *f)
{
    (void)f;
    irq50_seen++;
    apic_eoi();
    return true;
}

static struct vmx_regs g;

static void enter(const char *what, const void *rip, uint64_t rflags)
{
    vmw(F_GUEST_RIP, (uint64_t)(uintptr_t)rip);
    vmw(F_GUEST_RSP, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    vmw(F_GUEST_RFLAGS, rflags);
    uint64_t r = vmx_enter(&g, 1);
    T_ASSERT(!VMX_ENTER_FAILED(r), "%s: VM entry failed, error %llu", what, (unsigned long long)vmx_insn_error());
}

/* The exit's information; the error code only where the SDM defines it
 * (interruption information bits 31 and 11 set, SDM 3C 28.2.2). */
static void show(const char *what)
{
    uint64_t ii = vmr(F_EXIT_INTR_INFO);
    hv_printf("%s: reason %llu, interruption info %#llx, ", what, (unsigned long long)vmr(F_EXIT_REASON),
              (unsigned long long)ii);
    if ((ii & 0x80000800) == 0x80000800)
        hv_printf("error code %#llx", (unsigned long long)vmr(F_EXIT_INTR_EC));
    else
        hv_printf("no error code");
    hv_printf(", IDT-vectoring %#llx, qualification %#llx\n", (unsigned long long)vmr(F_IDT_VECTORING_INFO),
              (unsigned long long)vmr(F_EXIT_QUALIFICATION));
}

int hv_main(const struct hvsim_boot_info *bi, unsigned lp, unsigned nlps)
{
    (void)bi; (void)lp; (void)nlps;
    hv_cpu_init();
    hv_set_handler(14, guest_pf);
    hv_set_handler(0x50, irq50);
    hv_set_gate(0x40, 0, 0, false);                /* INT 0x40 through a not-present gate: #NP */
    apic_sw_enable(0xFF);
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    T_ASSERT(vmx_status(vmxon_flags(vmxon_region)) == VMX_OK, "VMXON");
    T_ASSERT(vmx_status(vmclear_flags(vmcs)) == VMX_OK, "VMCLEAR");
    T_ASSERT(vmx_status(vmptrld_flags(vmcs)) == VMX_OK, "VMPTRLD");
    vmx_init_controls(0, 0, 0, 0, 0);
    vmx_init_host();
    vmx_init_guest64((uint64_t)(uintptr_t)g_vmcall, (uint64_t)(uintptr_t)(guest_stack + sizeof(guest_stack) - 8));
    uint64_t r = vmx_enter(&g, 0);
    T_ASSERT(!VMX_ENTER_FAILED(r) && vmr(F_EXIT_REASON) == 18, "first VMLAUNCH");

    /* ---- exceptions and the exception bitmap ---- */
    vmw(F_EXCEPTION_BITMAP, (1u << 6) | (1u << 3) | (1u << 14) | (1u << 11));
    enter("#UD", g_ud, 2);
    show("#UD with bit 6 set");
    T_CHECK_EQ(vmr(F_EXIT_REASON), 0);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000306);     /* valid, hardware exception, vector 6 */
    T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_ud);

    enter("INT3", g_int3, 2);
    show("INT3 with bit 3 set");
    hv_printf("  instruction length %llu, guest RIP at the INT3: %s\n", (unsigned long long)vmr(F_EXIT_INSN_LEN),
              hv_yn(vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)g_int3));
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000603);     /* valid, software exception, vector 3 */
    T_CHECK_EQ(vmr(F_EXIT_INSN_LEN), 1);
    T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_int3);

    write_cr2(0x1234);
    vmw(F_PF_EC_MASK, 0);
    vmw(F_PF_EC_MATCH, 0);
    enter("#PF", g_pf, 2);
    show("#PF with bit 14 set, mask 0 match 0");
    hv_printf("  CR2 still %#llx: the #PF that exits does not write CR2\n", (unsigned long long)read_cr2());
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000b0e);     /* valid, error code, hardware exception, vector 14 */
    T_CHECK_EQ(vmr(F_EXIT_INTR_EC), 0);
    T_CHECK_EQ(vmr(F_EXIT_QUALIFICATION), 0x7fff00000000ull);
    T_CHECK_EQ(read_cr2(), 0x1234);

    /* mask P, match P: a not-present fault (P = 0) does not match, so bit 14 = 1 now means "no exit" */
    vmw(F_PF_EC_MASK, 1);
    vmw(F_PF_EC_MATCH, 1);
    enter("#PF", g_pf, 2);
    hv_printf("#PF with bit 14 set, mask 1 match 1, error code 0: delivered to the guest (%llu), then exit reason %llu\n",
              (unsigned long long)guest_pf_handled, (unsigned long long)vmr(F_EXIT_REASON));
    T_CHECK_EQ(guest_pf_handled, 1);
    T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
    vmw(F_EXCEPTION_BITMAP, 1u << 11);
    vmw(F_PF_EC_MASK, 0);
    vmw(F_PF_EC_MATCH, 0);

    enter("INT 0x40", g_int40, 2);
    show("#NP while delivering INT 0x40 (bit 11 set)");
    hv_printf("  instruction length %llu (the INT's)\n", (unsigned long long)vmr(F_EXIT_INSN_LEN));
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000b0b);     /* #NP with error code */
    T_CHECK_EQ(vmr(F_EXIT_INTR_EC), 0x40 * 8 + 2);     /* IDT entry 0x40, IDT bit */
    T_CHECK_EQ(vmr(F_IDT_VECTORING_INFO), 0x80000440); /* valid, software interrupt, vector 0x40 */
    T_CHECK_EQ(vmr(F_EXIT_INSN_LEN), 2);
    vmw(F_EXCEPTION_BITMAP, 0);

    /* ---- external interrupts ---- */
    uint32_t exitc = (uint32_t)vmr(F_EXIT_CTLS);
    vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, 1u));
    vmw(F_EXIT_CTLS, vmx_ctls(MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT, exitc | (1u << 15)));
    apic_write(APIC_TDCR, 0xB);                        /* divide by 1 */
    apic_write(APIC_LVT_TIMER, 0x50);
    apic_write(APIC_TMICT, 200);
    enter("timer interrupt", g_spin_bounded, 2);       /* IF = 0 in the guest: it still exits */
    show("external interrupt, acknowledged on exit");
    hv_printf("  vector 0x50 in service after the exit: %s\n", hv_yn(apic_isr(0x50)));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 1);
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0x80000050);
    T_CHECK(apic_isr(0x50), "not acknowledged");
    apic_eoi();

    vmw(F_EXIT_CTLS, exitc);
    apic_write(APIC_TMICT, 200);
    enter("timer interrupt", g_spin_bounded, 2);
    show("external interrupt, not acknowledged");
    T_CHECK_EQ(vmr(F_EXIT_REASON), 1);
    hv_printf("  vector 0x50 pending in the IRR: %s; taken by the host after STI: ", hv_yn(apic_irr(0x50)));
    T_CHECK_EQ(vmr(F_EXIT_INTR_INFO), 0);
    T_CHECK(apic_irr(0x50), "not pending");
    hv_sti_nop_cli();
    hv_printf("%s\n", hv_yn(irq50_seen == 1));
    T_CHECK_EQ(irq50_seen, 1);
    vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, 0));

    /* ---- the VMX-preemption timer ---- */
    uint64_t misc = rdmsr(MSR_VMX_MISC);
    if (vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, 1u << 6) & (1u << 6)) {
        vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, 1u << 6));
        vmw(F_EXIT_CTLS, vmx_ctls(MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT, exitc | (1u << 22)));
        vmw(F_PREEMPTION_TIMER, 100);
        enter("preemption timer", g_spin, 2);
        hv_printf("VMX-preemption timer 100 (rate: TSC >> %llu): exit reason %llu, saved value %llu\n",
                  (unsigned long long)(misc & 0x1F), (unsigned long long)vmr(F_EXIT_REASON),
                  (unsigned long long)vmr(F_PREEMPTION_TIMER));
        T_CHECK_EQ(vmr(F_EXIT_REASON), 52);
        T_CHECK_EQ(vmr(F_PREEMPTION_TIMER), 0);
        vmw(F_PREEMPTION_TIMER, 1000000);
        enter("VMCALL before the timer", g_vmcall, 2);
        uint64_t left = vmr(F_PREEMPTION_TIMER);
        hv_printf("VMX-preemption timer 1000000, VMCALL first: exit reason %llu, value saved below the start and "
                  "above 0: %s\n", (unsigned long long)vmr(F_EXIT_REASON), hv_yn(left > 0 && left < 1000000));
        T_CHECK_EQ(vmr(F_EXIT_REASON), 18);
        T_CHECK(left > 0 && left < 1000000, "saved %llu", (unsigned long long)left);
        vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, 0));
        vmw(F_EXIT_CTLS, exitc);
    } else {
        hv_printf("no VMX-preemption timer on this processor\n");
    }

    /* ---- interrupt-window exiting ---- */
    uint32_t proc = (uint32_t)vmr(F_PROC);
    vmw(F_PROC, proc | (1u << 2));
    enter("window", g_vmcall, 0x202);
    hv_printf("interrupt-window exiting, guest entered with IF = 1: reason %llu at the entry RIP: %s\n",
              (unsigned long long)vmr(F_EXIT_REASON), hv_yn(vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)g_vmcall));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 7);
    enter("window after STI", g_sti, 2);
    hv_printf("interrupt-window exiting, guest executes STI; NOP: reason %llu after the NOP: %s\n",
              (unsigned long long)vmr(F_EXIT_REASON), hv_yn(vmr(F_GUEST_RIP) == (uint64_t)(uintptr_t)g_after_nop));
    T_CHECK_EQ(vmr(F_EXIT_REASON), 7);
    T_CHECK_EQ(vmr(F_GUEST_RIP), (uint64_t)(uintptr_t)g_after_nop);
    vmw(F_PROC, proc);

    T_ASSERT(vmx_status(vmxoff_flags()) == VMX_OK, "VMXOFF");
    T_DONE();
}
