/*
 * apic_access.c — guest accesses to the APIC-access page under the VMX
 * control "virtualize APIC accesses" (SDM 3C 30.4 "Virtualizing
 * Memory-Mapped APIC Accesses"), cpu/'s side: which accesses reach the
 * page, how an APIC-access VM exit is recorded, and the virtualized MOVs.
 * What is virtualized, and the VM exits themselves, are the model's
 * (cpu_virt_ops.guest_apic_access and slat_exit; vmx_model/apic_access.c).
 *
 * How accesses get here: the page is never aliased into the engine while
 * the control is in effect (view.c, like the xAPIC page), so an engine
 * access faults and comes back as VEC_APIC_ACCESS (cpu.c handle_exception
 * -> apic_access_insn); accesses cpu/ makes itself (emulated instructions,
 * event delivery) meet it in mem_translate; guest paging-structure accesses
 * through EPT in mem.c's walker callbacks. All of them come after the
 * access's page fault or EPT violation and after the accessed and dirty
 * flags are set (SDM 3C 30.4.1). Called from the run loop and from
 * Unicorn hooks' follow-up (never inside uc_emu_start).
 */
#include "cpu_priv.h"

void cpu_set_apic_access(cpu_t *cpu, bool on, uint64_t page_pa)
{
    page_pa = on ? page_pa & ~0xFFFull : 0;
    if (cpu->apic_acc_on == on && cpu->apic_acc_pa == page_pa)
        return;
    cpu->apic_acc_on = on;
    cpu->apic_acc_pa = page_pa;
    view_set_context(cpu->view);      /* shadows are keyed by the page (view.c shadow_key) */
}

void apic_access_fault(cpu_t *cpu, uint64_t la, uint64_t hpa, unsigned slat_acc, bool gpa_access)
{
    cpu->slat_fault.active = true;
    cpu->slat_fault.stop = false;
    cpu->slat_fault.f = (struct cpu_slat_fault){ .gpa = hpa, .acc = slat_acc & ~CPU_SLAT_PROBE,
                                                 .gla_valid = !gpa_access, .gla = la,
                                                 .gla_translation = !gpa_access, .apic_access = true,
                                                 .apic_gpa = gpa_access };
}

void apic_access_insn(cpu_t *cpu, uint64_t la, enum pg_access acc, uint64_t rip)
{
    /* The access as the instruction makes it: its #PF or EPT violation
     * (and the A/D updates) come first (SDM 3C 30.4.1); else the APIC-access
     * VM exit is recorded, to be raised unless the access is virtualized. */
    struct mem_acc ma = mem_acc_cur(cpu);
    struct xcpt xc;
    uint64_t pa;
    enum mem_res mr = mem_translate(cpu, &ma, la, acc, &pa, &xc);
    if (mr == MEM_UNMODELLED)
        return;
    if (mr == MEM_OK) {
        cpu_internal(cpu, "the APIC-access page access at linear %#llx did not recur", (unsigned long long)la);
        return;
    }
    if (xc.vector != VEC_SLAT || !cpu->slat_fault.f.apic_access) {
        cpu_raise(cpu, &xc, rip);
        return;
    }
    struct dec_insn d;
    if (!dec_at(cpu, rip, &d)) {
        cpu_unmodelled(cpu, "the instruction at %#llx that accesses the APIC-access page (linear %#llx) cannot "
                       "be decoded", (unsigned long long)rip, (unsigned long long)la);
        return;
    }
    const cs_x86 *x = &d.ci->detail->x86;
    dec_memops(cpu, &d);
    /* The access as the model sees it: the memory operand that reached the
     * page (an access that starts on the page before begins at offset 0). */
    unsigned size = 0;
    for (unsigned i = 0; i < d.nmem; i++) {
        uint64_t s = d.mem[i].ea, e = s + d.mem[i].size;
        if (la >= s && la < e) {
            size = (unsigned)(e - la);
            break;
        }
    }
    if (size > 4096 - (unsigned)(la & 0xFFF))
        size = 4096 - (unsigned)(la & 0xFFF);
    struct cpu_apic_access aa = { .offset = (unsigned)(la & 0xFFF), .size = size ? size : 1,
                                  .write = acc == PG_ACC_WRITE, .probe = true, .insn_len = d.len };
    if (cpu->virt.guest_apic_access && size)
        cpu->virt.guest_apic_access(cpu->virt.ctx, cpu, &aa);
    if (!aa.virtualized) {
        cpu->slat_fault.f.insn_len = d.len;
        cpu_raise(cpu, &xc, rip);               /* the APIC-access VM exit (slat_exit) */
        return;
    }
    cpu->slat_fault.active = false;
    /* Virtualized (SDM 3C 30.4.2, 30.4.3): hvsim carries out 32-bit MOV
     * loads and stores of a general register (or an immediate) only. */
    int memi, other;
    dec_mem_other(x, &memi, &other);
    unsigned width = 0, idx = ~0u;
    if (other >= 0 && x->operands[other].type == X86_OP_REG)
        idx = dec_reg_index(x->operands[other].reg, &width);
    bool store = memi == 0;
    bool imm_ok = store && other >= 0 && x->operands[other].type == X86_OP_IMM;
    if (d.id != X86_INS_MOV || x->op_count != 2 || memi < 0 || d.nmem != 1 || d.mem[0].ea != la ||
        d.mem[0].size != 4 || !(imm_ok || (idx != ~0u && width == 4))) {
        cpu_unmodelled(cpu, "'%s %s' at %#llx makes a %u-byte access at APIC-access page offset %#x that VMX "
                       "non-root operation virtualizes (SDM 3C 30.4.2, 30.4.3): hvsim models 32-bit MOV loads and "
                       "stores of a general register only", d.ci->mnemonic, d.ci->op_str, (unsigned long long)rip,
                       size, aa.offset);
        return;
    }
    aa.probe = false;
    if (store)
        aa.value = imm_ok ? (uint32_t)x->operands[other].imm : (uint32_t)cpu_gpr(cpu, idx);
    enum cpu_guest_action r = cpu->virt.guest_apic_access(cpu->virt.ctx, cpu, &aa);
    if (r != CPU_GUEST_EXECUTE)
        return;                                 /* a trap-like VM exit after the store, or a stop */
    if (!store)
        cpu_set_gpr(cpu, idx, (uint32_t)aa.value);   /* a 32-bit destination zero-extends */
    cpu_set_rip(cpu, d.la + d.len);
    cpu_charge(cpu, cost_table[COST_APIC_ACCESS]);
    cpu->insns++;
}

bool apic_access_emulated(cpu_t *cpu, uint64_t la, uint64_t n, bool write)
{
    if (!cpu->slat_fault.active || !cpu->slat_fault.f.apic_access || cpu->slat_fault.f.apic_gpa || !cpu->virt.guest_apic_access)
        return false;
    struct cpu_apic_access aa = { .offset = (unsigned)(la & 0xFFF), .size = (unsigned)n, .write = write,
                                  .probe = true };
    cpu->virt.guest_apic_access(cpu->virt.ctx, cpu, &aa);
    if (!aa.virtualized)
        return false;
    cpu_unmodelled(cpu, "a %u-byte %s at APIC-access page offset %#x made by an instruction or event delivery that "
                   "hvsim emulates: VMX non-root operation virtualizes it (SDM 3C 30.4.2, 30.4.3), which hvsim "
                   "models for MOV only", aa.size, write ? "write" : "read", aa.offset);
    return true;
}
