/*
 * events.c — events in VMX non-root operation (SDM 3C chapter "VMX
 * Non-Root Operation": exceptions and the exception bitmap, external
 * interrupts, triple faults, INIT; chapter "VM Exits": interruption and
 * IDT-vectoring information).
 */
#include <string.h>

#include "vmx_priv.h"

enum { EXIT_EXCEPTION_NMI = 0, EXIT_EXTERNAL_INT = 1, EXIT_TRIPLE_FAULT = 2, EXIT_INIT = 3, EXIT_INT_WINDOW = 7,
       EXIT_PREEMPTION_TIMER = 52 };


/* Events in VMX non-root operation (SDM 3C "Exceptions", "External
 * Interrupts"; the exception bitmap with the #PF error-code mask/match; the
 * exit's interruption and IDT-vectoring information, SDM 3C "Information
 * for VM Exits Due to Vectored Events", "Information for VM Exits That
 * Occur During Event Delivery"). */
enum cpu_guest_action nonroot_event(void *ctx, cpu_t *cpu, const struct cpu_guest_event *e)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    if (e->type == 0) {
        if (!(v->pin & PIN_EXT_INT_EXITING))
            return CPU_GUEST_EXECUTE;
        /* exit reason 1; with "acknowledge interrupt on exit" the processor
         * acknowledges it and records its vector, otherwise it stays
         * pending in the IRR */
        struct vm_exit_info x = { .reason = EXIT_EXTERNAL_INT };
        if (v->exit_ctls & EXIT_ACK_INT) {
            cpu_apic_acknowledge(cpu, e->vector);
            x.intr_info = (1u << 31) | (0u << 8) | (e->vector & 0xFF);
        }
        if (e->vectoring)
            return nonroot_stop(v, "an external interrupt during event delivery: not modelled");
        vm_exit(v, &x);
        cpu_account_exit(cpu, false);
        return CPU_GUEST_EXITED;
    }
    if (e->type == 2)
        return nonroot_stop(v, "NMI in VMX non-root operation: not modelled");
    if (e->type == 4)
        return CPU_GUEST_EXECUTE;                  /* INT n is not subject to the exception bitmap */
    uint32_t bitmap = (uint32_t)field_value(v, VMCS_EXCEPTION_BITMAP);
    bool exits = (bitmap >> (e->vector & 31)) & 1;
    if (e->vector == 14) {
        uint32_t mask = (uint32_t)field_value(v, VMCS_PAGE_FAULT_ERROR_CODE_MASK);
        uint32_t match = (uint32_t)field_value(v, VMCS_PAGE_FAULT_ERROR_CODE_MATCH);
        bool eq = (e->ec & mask) == match;
        exits = eq ? exits : !exits;               /* SDM 3C "Exceptions": the bit's meaning inverts */
    }
    if (!exits)
        return CPU_GUEST_EXECUTE;
    if (e->vector == 1 && e->type == 3)
        return nonroot_stop(v, "#DB with bit 1 set in the exception bitmap: the debug-exception exit qualification is not "
                    "modelled yet");
    /* Exit reason 0: interruption information (vector, type, error code
     * valid, valid), error code; qualification: the linear address of a
     * #PF, which does not reach CR2. The guest RIP is the instruction. */
    struct vm_exit_info x = { .reason = EXIT_EXCEPTION_NMI };
    x.intr_info = (1u << 31) | ((uint32_t)e->has_ec << 11) | ((e->type & 7) << 8) | (e->vector & 0xFF);
    x.intr_ec = e->has_ec ? e->ec : 0;
    if (e->vector == 14 && e->type == 3) {
        x.qualification = cpu_get(cpu, CPU_CR2);
        cpu_set(cpu, CPU_CR2, e->cr2_before);
    }
    if (e->type == 5 || e->type == 6)
        x.insn_len = (unsigned)(e->next_rip - e->fault_rip);
    if (e->vectoring) {
        x.idt_info = (1u << 31) | ((uint32_t)e->orig_has_ec << 11) | ((e->orig_type & 7) << 8) | (e->orig_vector & 0xFF);
        x.idt_ec = e->orig_has_ec ? e->orig_ec : 0;
        if (e->orig_type >= 4 && e->orig_type <= 6)
            x.insn_len = (unsigned)e->orig_len;
    }
    cpu_set(cpu, CPU_RIP, e->fault_rip);
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}

/* Instruction-boundary events: the VMX-preemption timer reached 0 (reason
 * 52, SDM 3C "VMX-Preemption Timer"), the interrupt window opened with
 * "interrupt-window exiting" (reason 7). */
enum cpu_guest_action nonroot_boundary(void *ctx, cpu_t *cpu)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    struct vm_exit_info x = { 0 };
    if ((v->pin & PIN_PREEMPTION_TIMER) && cpu_cycles(cpu) >= v->timer_deadline)
        x.reason = EXIT_PREEMPTION_TIMER;
    else if (v->proc & PROC_INT_WINDOW)
        x.reason = EXIT_INT_WINDOW;
    else
        return CPU_GUEST_EXECUTE;
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}

/* A triple fault in VMX non-root operation: exit reason 2 (SDM 3C "Other
 * Causes of VM Exits"); the guest state saved is the state at the fault. */
bool nonroot_shutdown(void *ctx, cpu_t *cpu)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return false;
    struct vm_exit_info x = { .reason = EXIT_TRIPLE_FAULT };
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return true;
}

/* An INIT signal in VMX non-root operation: exit reason 3, no qualification
 * (SDM 3C "Other Causes of VM Exits"). The LP is not reset. */
void nonroot_init(vmx_t *v)
{
    struct vm_exit_info x = { .reason = EXIT_INIT };
    vm_exit(v, &x);
    cpu_account_exit(v->cpu, false);
}
