/*
 * events.c — events in VMX non-root operation (SDM 3C chapter "VMX
 * Non-Root Operation": exceptions and the exception bitmap, external
 * interrupts, NMIs ("NMI exiting"), triple faults, INIT, start-up IPIs,
 * task switches; the boundary
 * events: the monitor trap flag, the VMX-preemption timer, NMI-window and
 * interrupt-window exiting; chapter "VM Exits": interruption and
 * IDT-vectoring information, NMI unblocking due to IRET). Blocking by NMI
 * and virtual-NMI blocking are cpu/'s state (cpu_set_guest_nmi); VM entry
 * loads them and VM exit saves them (vmtrans.c).
 */
#include <string.h>

#include "vmx_priv.h"

enum { EXIT_EXCEPTION_NMI = 0, EXIT_EXTERNAL_INT = 1, EXIT_TRIPLE_FAULT = 2, EXIT_INIT = 3, EXIT_SIPI = 4,
       EXIT_INT_WINDOW = 7, EXIT_NMI_WINDOW = 8, EXIT_TASK_SWITCH = 9, EXIT_MTF = 37, EXIT_PREEMPTION_TIMER = 52 };
#define INTR_NMI_UNBLOCKED (1u << 12)   /* interruption information: NMI unblocking due to IRET */
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)


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
    if (e->type == 2) {
        /* An NMI (SDM 3C 26.2 "Non-maskable interrupts"): without "NMI
         * exiting" it is delivered through the guest IDT (descriptor 2);
         * with it, exit reason 0 with interruption information vector 2,
         * type 2 (SDM 3C 28.2.2; bit 12 is 0: no IRET was involved). The
         * guest state saved is the state before the NMI (no blocking by
         * NMI unless there was); after the exit NMIs are blocked until the
         * host's IRET (SDM 3C 28.5.5: "VM exits caused directly by NMIs
         * cause blocking by NMI"). */
        if (!(v->pin & PIN_NMI_EXITING))
            return CPU_GUEST_EXECUTE;
        if (e->vectoring)
            return nonroot_stop(v, "an NMI during event delivery: not modelled");
        struct vm_exit_info x = { .reason = EXIT_EXCEPTION_NMI, .intr_info = (1u << 31) | (2u << 8) | 2u };
        vm_exit(v, &x);
        cpu_set_nmi_blocked(cpu, true);
        cpu_account_exit(cpu, false);
        return CPU_GUEST_EXITED;
    }
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
    /* #DB: the exit qualification holds what DR6 would have received (B3-B0,
     * BD, BS; SDM 3C 28.2.1, table "Exit Qualification for Debug
     * Exceptions"); DR6 is not written. A #DB from a data or I/O breakpoint
     * would need DR7 breakpoints, which hvsim does not model. */
    /* Exit reason 0: interruption information (vector, type, error code
     * valid, valid), error code; qualification: the linear address of a
     * #PF, which does not reach CR2. The guest RIP is the instruction. */
    struct vm_exit_info x = { .reason = EXIT_EXCEPTION_NMI };
    x.intr_info = (1u << 31) | ((uint32_t)e->has_ec << 11) | ((e->type & 7) << 8) | (e->vector & 0xFF);
    /* bit 12, "NMI unblocking due to IRET" (SDM 3C 28.2.3): the exception
     * is a fault of an IRET that removed blocking by NMI ("virtual NMIs"
     * 0) or virtual-NMI blocking ("virtual NMIs" 1); cpu/ already removed
     * it, so the interruptibility state saved has bit 3 clear. Undefined
     * (written 0) with IDT-vectoring information (a double fault always
     * has it here) and with "NMI exiting" but not "virtual NMIs", where
     * IRET leaves NMI blocking alone. */
    if (e->nmi_unblocked)
        x.intr_info |= INTR_NMI_UNBLOCKED;
    x.intr_ec = e->has_ec ? e->ec : 0;
    if (e->vector == 1 && e->type == 3)
        x.qualification = e->db_bits & 0x600F;
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
    cpu_set_rip_linear(cpu, e->fault_rip);          /* fault_rip is linear: CS base + RIP */
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}

/* Instructions retired plus events delivered through the IDT: what has
 * happened since a boundary (an MTF VM exit follows either). */
static uint64_t progress(cpu_t *cpu)
{
    struct cpu_stats s;
    cpu_get_stats(cpu, &s);
    return cpu_insns(cpu) + s.exceptions;
}

void nonroot_boundary_due(vmx_t *v)
{
    v->boundary_due = true;
    cpu_set_guest_deadline(v->cpu, cpu_cycles(v->cpu));
}

/* Is an MTF VM exit due at this boundary (SDM 3C "Monitor Trap Flag")?
 * With the control, cpu/ steps the guest one instruction (one iteration
 * of a REP string instruction) or one event delivery at a time
 * (cpu_set_guest_step) and calls here at every boundary: the first call
 * after VM entry notes how far the LP had got; any instruction that
 * completed or event delivered (a fault's, an interrupt's, INT n's, with
 * their nested exceptions) since then makes the MTF VM exit pending here,
 * before the next instruction or at the start of the handler. A VM entry
 * that injected a vectored event or a pending MTF (type 7, vector 0) set
 * mtf_pending: the exit comes before the first instruction after VM
 * entry. An instruction that exits itself ends non-root operation first,
 * so no MTF VM exit follows it. */
static bool mtf_due(vmx_t *v, cpu_t *cpu)
{
    if (v->mtf_pending)
        return true;
    if (!v->mtf)
        return false;
    uint64_t p = progress(cpu);
    if (!v->mtf_armed) {
        v->mtf_armed = true;
        v->mtf_progress = p;
        return false;
    }
    return p != v->mtf_progress;
}

/* Instruction-boundary events, highest priority first (SDM 3C "Monitor
 * Trap Flag", "VMX-Preemption Timer", 26.2 "NMI-window exiting", SDM 3A
 * "Priority Among Concurrent Events"): an MTF VM exit (reason 37; below
 * SMIs and INIT, above debug-trap exceptions), the VMX-preemption timer at
 * 0 (reason 52; below debug traps, above NMI-window exits), the NMI window
 * open with "NMI-window exiting" (reason 8; no virtual-NMI blocking and no
 * blocking by MOV SS or, as hvsim's processors do, by STI; above NMIs),
 * then a pending NMI (cpu/ takes it after this hook: an exit with "NMI
 * exiting" or delivery through the guest IDT), then the interrupt window
 * with "interrupt-window exiting" (reason 7; RFLAGS.IF = 1 and no blocking
 * by STI or MOV SS; above external interrupts, which cpu/ takes after the
 * NMI). No SMIs or debug traps reach a guest in hvsim: a guest that could
 * raise a single-step trap with the MTF stops the run. */
enum cpu_guest_action nonroot_boundary(void *ctx, cpu_t *cpu)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    /* wait-for-SIPI: no instruction boundary, nothing but a SIPI ends it
     * (SDM 3C 27.7.2 "Activity State"; the VMX-preemption timer stays at 0
     * there without a VM exit, 26.5.1) */
    if (cpu_waiting_for_sipi(cpu))
        return CPU_GUEST_EXECUTE;
    if (v->boundary_due) {
        v->boundary_due = false;
        cpu_set_guest_deadline(cpu, v->timer_deadline);
    }
    if (v->tpr_entry_due)
        return vmx_tpr_entry_exit(v, cpu);         /* SDM 3C 27.7.7: right after VM entry (apic_access.c) */
    if (v->pdbg_held) {
        /* the #DB VM entry's blocking by MOV SS held: due once the first
         * guest instruction completed (a trap on that instruction) */
        uint64_t p = progress(cpu);
        if (!v->pdbg_armed) {
            v->pdbg_armed = true;
            v->pdbg_progress = p;
        } else if (p != v->pdbg_progress) {
            uint64_t bits = v->pdbg_held & 0x400F;
            v->pdbg_held = 0;
            cpu_set_guest_step(cpu, v->mtf);
            cpu_raise_debug_trap(cpu, bits);
            return v->nonroot ? CPU_GUEST_EXECUTE : CPU_GUEST_EXITED;
        }
    }
    uint64_t rflags = cpu_rflags_no_arith(cpu);    /* (TF and IF only) */
    if ((v->mtf || v->mtf_pending) && (rflags & RFLAGS_TF))
        return nonroot_stop(v, "the monitor trap flag with RFLAGS.TF = 1: the order of MTF VM exits and single-step "
                            "debug exceptions is not modelled");
    struct vm_exit_info x = { 0 };
    if (mtf_due(v, cpu))
        x.reason = EXIT_MTF;
    else if ((v->pin & PIN_PREEMPTION_TIMER) && cpu_cycles(cpu) >= v->timer_deadline)
        x.reason = EXIT_PREEMPTION_TIMER;
    else if ((v->proc & PROC_NMI_WINDOW) && !cpu_virtual_nmi_blocked(cpu) && !cpu_blocking_by_sti(cpu) &&
             !cpu_blocking_by_mov_ss(cpu))
        x.reason = EXIT_NMI_WINDOW;
    else if (cpu_nmi_ready(cpu))
        return CPU_GUEST_EXECUTE;                  /* the NMI comes before the interrupt window */
    else if ((v->proc & PROC_INT_WINDOW) && (rflags & RFLAGS_IF) && !cpu_blocking_by_sti(cpu) &&
             !cpu_blocking_by_mov_ss(cpu))
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

/* A SIPI that reaches the LP in the wait-for-SIPI activity state in VMX
 * non-root operation (SDM 3C 26.2 "Other Causes of VM Exits": start-up
 * IPIs; 27.7.2: the active and HLT states discard SIPIs, cpu/ drops them
 * before this hook): exit reason 4, the SIPI vector in exit-qualification
 * bits 7:0 (SDM 3C 28.2.1, table "Exit Qualification for SIPI"). Nothing
 * else of the SIPI happens; the guest state saved has activity state 3
 * (the state before the VM exit) and the RIP it had. */
bool nonroot_sipi(void *ctx, cpu_t *cpu, unsigned vector)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return false;
    struct vm_exit_info x = { .reason = EXIT_SIPI, .qualification = vector & 0xFF };
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return true;
}

/* A task switch in VMX non-root operation (SDM 3C 26.4.2 "Treatment of Task
 * Switches"): after its first checks (cpu/task.c) every attempt is a VM
 * exit, reason 9, before anything of the switch happens. Exit
 * qualification (SDM 3C 28.2.1, table "Exit Qualification for Task
 * Switches"):
 *
 *   63      32 31  30 29        16 15           0
 *  +----------+------+------------+--------------+
 *  |    0     | src  |     0      | TSS selector |
 *  +----------+------+------------+--------------+
 *  src: 0 CALL, 1 IRET, 2 JMP, 3 a task gate in the IDT.
 *
 * A task gate in the IDT records the event being delivered as IDT-vectoring
 * information (28.2.4). The VM-exit instruction length is that of the
 * CALL, IRET or JMP, or of the software interrupt or (privileged) software
 * exception that met the gate; undefined otherwise (written 0; 28.2.5).
 * The guest RIP is the instruction, or for other events what the old TSS
 * would have received (28.3.3). */
enum cpu_guest_action nonroot_task_switch(void *ctx, cpu_t *cpu, const struct cpu_task_switch *t)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    struct vm_exit_info x = { .reason = EXIT_TASK_SWITCH,
                              .qualification = t->tss_sel | (uint64_t)(t->source & 3) << 30 };
    if (t->source != CPU_TASK_IDT) {
        x.insn_len = t->insn_len;
    } else {
        x.idt_info = (1u << 31) | ((uint32_t)t->has_ec << 11) | ((t->type & 7) << 8) | (t->vector & 0xFF);
        x.idt_ec = t->has_ec ? t->ec : 0;
        if (t->type >= 4 && t->type <= 6)
            x.insn_len = t->insn_len;
    }
    cpu_set_rip_linear(cpu, t->rip);
    vm_exit(v, &x);
    /* CALL, JMP and IRET count as executed, like other instruction exits;
     * an INT n that met the gate was counted by cpu/ */
    cpu_account_exit(cpu, t->source != CPU_TASK_IDT);
    return CPU_GUEST_EXITED;
}
