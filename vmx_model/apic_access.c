/*
 * apic_access.c — "virtualize APIC accesses" (SDM 3C chapter "APIC
 * Virtualization and Virtual Interrupts", 30.4 "Virtualizing Memory-Mapped
 * APIC Accesses"; 28.2.1 for the exit qualification; 27.7.7 "VM Exits
 * Induced by the TPR Threshold"), with "APIC-register virtualization" and
 * "virtual-interrupt delivery" 0 (VM entry stops as not modelled otherwise).
 *
 * cpu/ routes every guest access whose physical address (after EPT) lies in
 * the APIC-access page here (cpu/apic_access.c): an instruction's linear
 * data access asks nonroot_apic_access() whether it is virtualized (and, if
 * so, has it carried out); every other access, and every access that is
 * not virtualized, comes back as a second-level fault with apic_access set
 * and becomes the APIC-access VM exit in vmx_apic_access_exit().
 * Called from cpu/'s run loop (never inside the engine).
 */
#include "vmx_priv.h"

enum { EXIT_TPR_BELOW_THRESHOLD = 43, EXIT_APIC_ACCESS = 44 };
#define VTPR_OFFSET 0x80u

/* SDM 3C 30.4.2 (reads) and 30.4.3.1 (writes), both controls that widen
 * them 0: an access is virtualized only with "use TPR shadow" = 1, at most
 * 32 bits, not an instruction fetch (the caller never asks for one), within
 * the low 4 bytes of a 16-byte-aligned region, and at page offset 080H
 * (VTPR). Offset 080H with at most 4 bytes implies the region rule. */
bool vmx_apic_access_virtualized(bool tpr_shadow, unsigned offset, unsigned size, bool write)
{
    (void)write;                         /* the same rule for both without APIC-register virtualization */
    return tpr_shadow && size >= 1 && size <= 4 && offset == VTPR_OFFSET;
}

/* The access type of exit-qualification bits 15:12 (SDM 3C 28.2.1, table
 * "Exit Qualification for APIC-Access VM Exits from Linear Accesses and
 * Guest-Physical Accesses"). acc: CPU_SLAT_* of the access. */
unsigned vmx_apic_access_type(bool guest_physical, bool event_delivery, unsigned acc)
{
    if (guest_physical)
        return event_delivery ? 10 : 15;
    if (event_delivery)
        return 3;
    if (acc & CPU_SLAT_FETCH)
        return 2;
    return (acc & CPU_SLAT_WRITE) ? 1 : 0;
}

/*
 *   63          17  16  15    12 11            0
 *  +--------------+---+--------+---------------+
 *  |   reserved   |asy|  type  |    offset     |
 *  +--------------+---+--------+---------------+
 *  offset: of the access within the page (undefined for a guest-physical
 *  access: hvsim writes the offset of the paging-structure entry); asy:
 *  asynchronous accesses (Intel PT, PEBS), which hvsim never makes.
 */
uint64_t vmx_apic_access_qual(unsigned type, unsigned offset)
{
    return ((uint64_t)(type & 0xF) << 12) | (offset & 0xFFFu);
}

/* TPR virtualization (SDM 3C 30.1.2) after a write to VTPR: with
 * "virtual-interrupt delivery" 0, a trap-like VM exit "TPR below threshold"
 * when VTPR[7:4] < TPR threshold[3:0]. */
static bool tpr_below_threshold(vmx_t *v, uint32_t vtpr)
{
    return ((vtpr >> 4) & 0xF) < (field_value(v, VMCS_TPR_THRESHOLD) & 0xF);
}

enum cpu_guest_action nonroot_apic_access(void *ctx, cpu_t *cpu, struct cpu_apic_access *a)
{
    vmx_t *v = ctx;
    a->virtualized = v->nonroot && (v->proc2 & PROC2_VIRT_APIC_ACCESS) &&
                     vmx_apic_access_virtualized(v->proc & PROC_TPR_SHADOW, a->offset, a->size, a->write);
    if (!a->virtualized || a->probe)
        return CPU_GUEST_EXECUTE;
    uint64_t vapic = field_value(v, VMCS_VIRTUAL_APIC_ADDR);
    if (!a->write) {
        /* "returns data from the corresponding page offset on the virtual-APIC page" (30.4.2) */
        uint32_t val = 0;
        if (!cpu_phys_read(cpu, vapic + a->offset, &val, a->size))
            return nonroot_stop(v, "a virtualized read of VTPR: the virtual-APIC page %#llx is not RAM",
                                (unsigned long long)vapic);
        a->value = val;
        return CPU_GUEST_EXECUTE;
    }
    /* The write goes to the virtual-APIC page (30.4.3.2); APIC-write
     * emulation for offset 080H then clears bytes 3:1 of VTPR and performs
     * TPR virtualization (30.4.3.2, 30.1.2). */
    uint32_t val = (uint32_t)a->value, vtpr = 0;
    if (!cpu_phys_write(cpu, vapic + a->offset, &val, a->size) || !cpu_phys_read(cpu, vapic + VTPR_OFFSET, &vtpr, 4))
        return nonroot_stop(v, "a virtualized write of VTPR: the virtual-APIC page %#llx is not RAM",
                            (unsigned long long)vapic);
    vtpr &= 0xFF;
    cpu_phys_write(cpu, vapic + VTPR_OFFSET, &vtpr, 4);
    if (!tpr_below_threshold(v, vtpr))
        return CPU_GUEST_EXECUTE;
    /* trap-like: the instruction completed (RIP past it); instruction
     * length undefined for reason 43 (written 0) */
    cpu_set(cpu, CPU_RIP, cpu_get(cpu, CPU_RIP) + a->insn_len);
    struct vm_exit_info x = { .reason = EXIT_TPR_BELOW_THRESHOLD };
    vm_exit(v, &x);
    cpu_account_exit(cpu, true);
    return CPU_GUEST_EXITED;
}

enum cpu_guest_action vmx_apic_access_exit(vmx_t *v, cpu_t *cpu, const struct cpu_slat_fault *f)
{
    if (!v->nonroot)
        return nonroot_stop(v, "an APIC-access VM exit outside VMX non-root operation (physical %#llx)",
                            (unsigned long long)f->gpa);
    unsigned type = vmx_apic_access_type(f->apic_gpa, f->vectoring, f->acc);
    struct vm_exit_info x = { .reason = EXIT_APIC_ACCESS, .qualification = vmx_apic_access_qual(type, (unsigned)f->gpa) };
    if (f->vectoring) {
        /* IDT-vectoring information is valid iff the type is 3 or 10
         * (28.2.1); the instruction length only for a software interrupt or
         * exception being delivered (28.2.5) */
        x.idt_info = (1u << 31) | ((uint32_t)f->orig_has_ec << 11) | ((f->orig_type & 7) << 8) | (f->orig_vector & 0xFF);
        x.idt_ec = f->orig_has_ec ? f->orig_ec : 0;
        if (f->orig_type >= 4 && f->orig_type <= 6)
            x.insn_len = (unsigned)f->orig_len;
    } else if (type == 0 || type == 1 || type == 15) {
        /* undefined by the SDM for an access during instruction execution;
         * hvsim writes the instruction's length (0 when cpu/ emulated it),
         * as the processors KVM's fast EOI path relies on (docs/vmx.md) */
        x.insn_len = f->insn_len;
    }
    cpu_set_rip_linear(cpu, f->rip);
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}

/* At VM entry, after the checks: route the APIC-access page (or nothing)
 * and decide the VM exit induced by the TPR threshold (SDM 3C 27.7.7): with
 * "use TPR shadow" and "virtualize APIC accesses" 1 and "virtual-interrupt
 * delivery" 0, a VM exit right after VM entry (after any injection) when
 * TPR threshold[3:0] > VTPR[7:4]. */
bool vmx_apic_access_entry(vmx_t *v)
{
    bool on = (v->proc2 & PROC2_VIRT_APIC_ACCESS) != 0;
    cpu_set_apic_access(v->cpu, on, on ? field_value(v, VMCS_APIC_ACCESS_ADDR) : 0);
    if (!on || !(v->proc & PROC_TPR_SHADOW) || (v->proc2 & PROC2_VIRT_INTR))
        return false;
    uint8_t vtpr = 0;
    cpu_phys_read(v->cpu, field_value(v, VMCS_VIRTUAL_APIC_ADDR) + VTPR_OFFSET, &vtpr, 1);
    return (field_value(v, VMCS_TPR_THRESHOLD) & 0xF) > (unsigned)(vtpr >> 4);
}

/* The VM exit of vmx_apic_access_entry(), at the first boundary (events.c):
 * not blocked by RFLAGS.IF or the interruptibility state. */
enum cpu_guest_action vmx_tpr_entry_exit(vmx_t *v, cpu_t *cpu)
{
    v->tpr_entry_due = false;
    cpu_set_guest_step(cpu, v->mtf);
    struct vm_exit_info x = { .reason = EXIT_TPR_BELOW_THRESHOLD };
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return CPU_GUEST_EXITED;
}
