/*
 * task.c — task switches outside IA-32e mode, up to the point where the
 * processor would start switching (SDM 3A 7.3 "Task Switching", table 7-1;
 * SDM 2A/2B JMP, CALL, INT n, IRET "Operation"; SDM 3C 26.4.2 "Treatment
 * of Task Switches"): the checks on the task gate, the TSS selector and the
 * TSS descriptor, with their faults. What follows them is not modelled:
 * in VMX non-root operation the attempt is a VM exit, in an AMD-V guest
 * with the task-switch intercept a #VMEXIT (APM 2 15.14.1; the model's
 * guest_task_switch hook); anywhere else the run stops, naming the switch.
 *
 * SDM 3C 26.4.2 lists what comes before a task-switch VM exit, in order:
 *   1. the task gate's P bit and privilege (CALL, JMP, INT n, INT3, INTO;
 *      not for other events), the TSS descriptor's privilege (CALL or JMP
 *      to a TSS descriptor), none for IRET;
 *   2. the new TSS selector (in the GDT, within its limit);
 *   3. reading the TSS descriptor (a #PF is possible);
 *   4. its type (available, or busy for IRET), S, P and limit (67H for a
 *      32-bit TSS, 2BH for a 16-bit one; SDM 3A 7.2.2, table 7-1).
 * In IA-32e mode there are no task switches: a far JMP/CALL to a TSS
 * descriptor or a task gate is #GP(selector) (SDM 3C 26.4.2 1.a, 1.c), a
 * task gate in the IDT #GP (exceptions.c), IRET with NT = 1 #GP(0)
 * (sysinsn.c).
 *
 * Called from instruction handlers (sysinsn.c) and from event delivery
 * (legacy.c, exceptions.c), outside engine hooks.
 */
#include "cpu_priv.h"

static const char *const source_name[] = {
    [CPU_TASK_CALL] = "CALL", [CPU_TASK_IRET] = "IRET", [CPU_TASK_JMP] = "JMP", [CPU_TASK_IDT] = "a task gate in the IDT",
};

static struct xcpt xc(unsigned vector, uint32_t ec) { return (struct xcpt){ vector, ec, true, 0 }; }

/* The descriptor's segment limit in bytes (G scales it; SDM 3A 3.4.5). */
static uint32_t desc_limit(uint64_t lo)
{
    uint32_t limit = (uint32_t)((lo & 0xFFFF) | (((lo >> 48) & 0xF) << 16));
    return ((lo >> 55) & 1) ? (limit << 12) | 0xFFF : limit;
}

/* The limit check of the new TSS (SDM 3A 7.3 step 3, table 7-1): at least
 * 67H for a 32-bit TSS (type 9/11), 2BH for a 16-bit one (1/3); #TS. */
static bool tss_limit_ok(uint64_t lo)
{
    unsigned type = (lo >> 40) & 0xF;
    return desc_limit(lo) >= ((type & 8) ? 0x67u : 0x2Bu);
}

/* The new task's TSS descriptor named by a task gate or the previous-task
 * link (SDM 3C 26.4.2 steps 2-4): in the GDT and within its limit, a TSS,
 * available (busy for IRET), present, with a TSS limit. bad is the fault
 * for the selector and the type (#GP for a gate; #TS for IRET); ext the
 * EXT bit of the error code. 1: passed; 0: *x; -1: the run stops. */
static int new_tss(cpu_t *cpu, uint16_t sel, bool busy, unsigned bad, uint32_t ext, struct xcpt *x)
{
    uint32_t ec = (sel & 0xFFFCu) | ext;
    if ((sel & 4) || (uint64_t)(sel & 0xFFF8) + 7 > cpu->gdtr.limit) {
        *x = xc(bad, ec);
        return 0;
    }
    uint64_t lo;
    struct mem_acc a = mem_acc_sys();
    enum mem_res r = mem_read(cpu, &a, (cpu->gdtr.base + (sel & 0xFFF8)) & 0xFFFFFFFFull, &lo, 8, x);
    if (r == MEM_UNMODELLED)
        return -1;
    if (r != MEM_OK)
        return 0;
    unsigned type = (lo >> 40) & 0x1F;               /* with S (bit 4): a system descriptor has it 0 */
    bool tss = type == 1 || type == 9 || type == 3 || type == 11;
    if (!tss || ((type & 2) != 0) != busy) {
        *x = xc(bad, ec);
        return 0;
    }
    if (!((lo >> 47) & 1)) {
        *x = xc(VEC_NP, ec);
        return 0;
    }
    if (!tss_limit_ok(lo)) {
        *x = xc(VEC_TS, ec);
        return 0;
    }
    return 1;
}

enum task_res task_switch(cpu_t *cpu, const struct cpu_task_switch *t)
{
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_task_switch) {
        enum cpu_guest_action a = cpu->virt.guest_task_switch(cpu->virt.ctx, cpu, t);
        if (a == CPU_GUEST_EXITED)
            return TASK_DONE;
        if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
            return TASK_STOP;
    }
    cpu_unmodelled(cpu, "task switch to TSS %#x by %s at linear %#llx: hvsim does not model task switching (in VMX "
                   "non-root operation it is a VM exit, SDM 3C 26.4.2; in an AMD-V guest with the task-switch "
                   "intercept a #VMEXIT, APM 2 15.14.1)", t->tss_sel, source_name[t->source],
                   (unsigned long long)t->rip);
    return TASK_STOP;
}

enum task_res task_far_transfer(cpu_t *cpu, uint16_t sel, bool call, uint64_t rip, unsigned len, struct xcpt *x)
{
    if ((sel & 0xFFFC) == 0)
        return TASK_NONE;                            /* #GP(0): the code-segment path raises it */
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, sel, &lo, &hi, x))
        return cpu->pend.kind == PEND_UNMODELLED ? TASK_STOP : TASK_FAULT;
    if ((lo >> 44) & 1)
        return TASK_NONE;                            /* a code or data segment */
    unsigned type = (lo >> 40) & 0xF, dpl = (lo >> 45) & 3, rpl = sel & 3;
    bool present = (lo >> 47) & 1;
    const char *how = call ? "CALL" : "JMP";
    if (cpu->efer & EFER_LMA) {
        /* IA-32e mode: only 64-bit call gates (SDM 2A JMP/CALL; 3C 26.4.2 1.a, 1.c) */
        if (type == 0xC) {
            cpu_unmodelled(cpu, "far %s through the call gate %#x: call gates are not modelled", how, sel);
            return TASK_STOP;
        }
        *x = xcpt_gp(sel & 0xFFFCu);
        return TASK_FAULT;
    }
    struct cpu_task_switch t = { .source = call ? CPU_TASK_CALL : CPU_TASK_JMP, .rip = rip, .insn_len = len };
    switch (type) {
    case 4: case 0xC:
        cpu_unmodelled(cpu, "far %s through the call gate %#x: call gates are not modelled", how, sel);
        return TASK_STOP;
    case 5: {
        /* TASK-GATE: the gate's privilege and P bit, then the TSS it names */
        if (dpl < cpu->cpl || dpl < rpl) {
            *x = xcpt_gp(sel & 0xFFFCu);
            return TASK_FAULT;
        }
        if (!present) {
            *x = xc(VEC_NP, sel & 0xFFFCu);
            return TASK_FAULT;
        }
        t.tss_sel = (uint16_t)(lo >> 16);
        int r = new_tss(cpu, t.tss_sel, false, VEC_GP, 0, x);
        if (r < 0)
            return TASK_STOP;
        if (r == 0)
            return TASK_FAULT;
        return task_switch(cpu, &t);
    }
    case 1: case 9:
        /* TASK-STATE-SEGMENT: privilege (a TSS lives in the GDT), P, then the limit */
        if ((sel & 4) || dpl < cpu->cpl || dpl < rpl) {
            *x = xcpt_gp(sel & 0xFFFCu);
            return TASK_FAULT;
        }
        if (!present) {
            *x = xc(VEC_NP, sel & 0xFFFCu);
            return TASK_FAULT;
        }
        if (!tss_limit_ok(lo)) {
            *x = xc(VEC_TS, sel & 0xFFFCu);
            return TASK_FAULT;
        }
        t.tss_sel = sel;
        return task_switch(cpu, &t);
    default:                                         /* a busy TSS (3, 11), an LDT, reserved types */
        *x = xcpt_gp(sel & 0xFFFCu);
        return TASK_FAULT;
    }
}

enum task_res task_iret(cpu_t *cpu, uint64_t rip, unsigned len, struct xcpt *x)
{
    /* TASK-RETURN (SDM 2B IRET): the previous-task link of the current TSS */
    uint16_t link;
    struct mem_acc a = mem_acc_sys();
    enum mem_res r = mem_read(cpu, &a, cpu->seg[CPU_TR].base & 0xFFFFFFFFull, &link, 2, x);
    if (r == MEM_UNMODELLED)
        return TASK_STOP;
    if (r != MEM_OK)
        return TASK_FAULT;
    int k = new_tss(cpu, link, true, VEC_TS, 0, x);
    if (k < 0)
        return TASK_STOP;
    if (k == 0)
        return TASK_FAULT;
    struct cpu_task_switch t = { .tss_sel = link, .source = CPU_TASK_IRET, .rip = rip, .insn_len = len };
    return task_switch(cpu, &t);
}

int task_gate_idt(cpu_t *cpu, uint64_t gate, bool ext, uint16_t *tss, struct xcpt *x)
{
    /* TASK-GATE of INT n (SDM 2A): the gate's DPL and P bit were checked by
     * the caller; the TSS selector it holds is #GP(selector, EXT) outside the
     * GDT, for a descriptor that is not an available TSS; #NP when not present */
    *tss = (uint16_t)(gate >> 16);
    return new_tss(cpu, *tss, false, VEC_GP, ext ? 1 : 0, x);
}
