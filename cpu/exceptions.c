/*
 * exceptions.c — event delivery through the IA-32e IDT (SDM 3A 6.14),
 * double-fault escalation (SDM 3A 6.15, table 6-5 "Conditions for
 * Generating a Double Fault") and shutdown on a triple fault.
 *
 * Called from the run loop (never from inside an engine hook): it reads and
 * writes guest memory through mem.c and updates the engine's RIP, RSP,
 * RFLAGS and selectors.
 */
#include <string.h>

#include "cpu_priv.h"

enum xclass { XC_BENIGN, XC_CONTRIBUTORY, XC_PAGE_FAULT, XC_DOUBLE_FAULT };

static enum xclass xclass_of(unsigned v)
{
    switch (v) {
    case VEC_DE: case VEC_TS: case VEC_NP: case VEC_SS: case VEC_GP: case VEC_CP:
        return XC_CONTRIBUTORY;
    case VEC_PF: case VEC_VE:
        return XC_PAGE_FAULT;
    case VEC_DF:
        return XC_DOUBLE_FAULT;
    default:
        return XC_BENIGN;
    }
}

struct event {
    unsigned vector;
    enum ev_type type;
    bool has_ec;
    uint32_t ec;
    uint64_t rip;           /* RIP to push */
};

static void slat_exit(cpu_t *cpu, uint64_t rip, const struct event *ev);

/* VMX interruption types (SDM 3C table "Format of Interruption-Information
 * Fields") of the event types. */
static const unsigned vmx_type[] = { [EV_HW_EXCEPTION] = 3, [EV_SW_INT] = 4, [EV_SW_EXCEPTION] = 6,
                                     [EV_EXT_INT] = 0, [EV_NMI] = 2, [EV_PRIV_SW_EXCEPTION] = 5 };

static bool ev_software(const struct event *e)
{
    return e->type == EV_SW_INT || e->type == EV_SW_EXCEPTION || e->type == EV_PRIV_SW_EXCEPTION;
}

/* Delivering ev met a task gate in the protected-mode IDT naming tss
 * (legacy.c checked both): the task switch (task.c), a VM exit in VMX
 * non-root operation with ev as the IDT-vectoring information. The guest
 * RIP is the INT n / INT3 / INTO / INT1 for software events (their length
 * is recorded), otherwise what the old TSS would have received (SDM 3C
 * 28.3.3 "Saving RIP, RSP, RFLAGS, and SSP"; 28.2.4, 28.2.5). */
static void task_gate_switch(cpu_t *cpu, uint64_t fault_rip, const struct event *ev, uint16_t tss)
{
    bool sw = ev_software(ev);
    struct cpu_task_switch t = {
        .tss_sel = tss, .source = CPU_TASK_IDT, .rip = sw ? fault_rip : ev->rip,
        .insn_len = sw ? (unsigned)(ev->rip - fault_rip) : 0, .vector = ev->vector, .type = vmx_type[ev->type],
        .has_ec = ev->has_ec, .ec = ev->ec,
    };
    (void)task_switch(cpu, &t);
}

static bool ev_external(const struct event *e)
{
    return e->type != EV_SW_INT && e->type != EV_SW_EXCEPTION;
}

/* One attempt at delivering e. Returns true on success; on failure *f holds
 * the exception raised during delivery. */
static bool try_deliver(cpu_t *cpu, const struct event *e, struct xcpt *f)
{
    uint32_t ext = ev_external(e) ? 1 : 0;
    uint32_t idt_ec = e->vector * 8 + 2 + ext;     /* error code naming the IDT entry */
    struct mem_acc sys = mem_acc_sys();

    /* IDT entry (SDM 3A 6.14.1, figure 6-8). */
    if ((uint64_t)e->vector * 16 + 15 > cpu->idtr.limit) {
        *f = xcpt_gp(idt_ec);
        return false;
    }
    uint64_t gate[2];
    if (mem_read(cpu, &sys, cpu->idtr.base + (uint64_t)e->vector * 16, gate, 16, f) != MEM_OK)
        return false;
    unsigned gtype = (gate[0] >> 40) & 0xF;
    unsigned gdpl = (gate[0] >> 45) & 3;
    bool gp = (gate[0] >> 47) & 1;
    if (gtype != 0xE && gtype != 0xF) {
        *f = xcpt_gp(idt_ec);
        return false;
    }
    /* Software interrupts check the gate's DPL (SDM 3A 6.12.1.2). */
    if ((e->type == EV_SW_INT || e->type == EV_SW_EXCEPTION) && gdpl < cpu->cpl) {
        *f = xcpt_gp(e->vector * 8 + 2);
        return false;
    }
    if (!gp) {
        *f = (struct xcpt){ VEC_NP, idt_ec, true, 0 };
        return false;
    }
    uint16_t tsel = (uint16_t)(gate[0] >> 16);
    uint64_t target = (gate[0] & 0xFFFF) | (((gate[0] >> 48) & 0xFFFF) << 16) |
                      ((gate[1] & 0xFFFFFFFFull) << 32);
    unsigned ist = (gate[0] >> 32) & 7;

    /* Target code segment (SDM 3A 6.12.1). */
    if ((tsel & 0xFFFC) == 0) {
        *f = xcpt_gp(ext);
        return false;
    }
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, tsel, &lo, &hi, f)) {
        if (f->vector == VEC_GP)
            f->ec = (tsel & 0xFFFCu) | ext;
        return false;
    }
    struct cpu_seg cs;
    seg_from_descriptor(tsel, lo, hi, &cs);
    unsigned ctype = cs.attr & 0xF, cdpl = SEG_ATTR_DPL(cs.attr);
    bool is_code = (cs.attr & SEG_ATTR_S) && (ctype & 8);
    if (!is_code || !(cs.attr & SEG_ATTR_L) || (cs.attr & SEG_ATTR_DB) || cdpl > cpu->cpl) {
        *f = xcpt_gp((tsel & 0xFFFC) | ext);
        return false;
    }
    if (!(cs.attr & SEG_ATTR_P)) {
        *f = (struct xcpt){ VEC_NP, (tsel & 0xFFFCu) | ext, true, 0 };
        return false;
    }
    bool conforming = ctype & 4;
    unsigned new_cpl = conforming ? cpu->cpl : cdpl;

    /* Stack (SDM 3A 6.14.4, 6.14.5): a privilege change or an IST index
     * loads RSP from the 64-bit TSS. */
    uint64_t old_rsp = cpu_gpr(cpu, 4);
    uint64_t rsp = old_rsp;
    bool stack_switch = new_cpl < cpu->cpl;
    if (stack_switch || ist) {
        struct cpu_seg *tr = &cpu->seg[CPU_TR];
        uint64_t off = ist ? 0x24 + 8 * (uint64_t)(ist - 1) : 4 + 8 * (uint64_t)new_cpl;
        if ((tr->attr & SEG_ATTR_UNUSABLE) || tr->sel == 0 || off + 7 > tr->limit) {
            *f = (struct xcpt){ VEC_TS, (tr->sel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        if (mem_read(cpu, &sys, tr->base + off, &rsp, 8, f) != MEM_OK)
            return false;
    }
    if (!pg_canonical(rsp, cpu->prof->linear_bits)) {
        *f = (struct xcpt){ VEC_SS, ext, true, 0 };
        return false;
    }
    if (!pg_canonical(target, cpu->prof->linear_bits)) {
        *f = xcpt_gp(ext);
        return false;
    }
    rsp &= ~0xFull;

    uint64_t rflags = cpu_rflags(cpu);
    uint64_t frame[6];
    int n = 0;
    if (e->has_ec)
        frame[n++] = e->ec;
    frame[n++] = e->rip - cpu_cs_base(cpu);         /* an offset in CS (compatibility mode) */
    frame[n++] = cpu->seg[CPU_CS].sel;
    frame[n++] = rflags;
    frame[n++] = old_rsp;
    frame[n++] = cpu->seg[CPU_SS].sel;
    rsp -= 8 * (uint64_t)n;
    struct mem_acc sa = { .cpl = new_cpl, .implicit_sv = new_cpl < 3, .stack = true };
    if (mem_write(cpu, &sa, rsp, frame, 8 * (size_t)n, f) != MEM_OK)
        return false;

    /* Commit. */
    if (stack_switch) {
        struct cpu_seg ss = { .sel = (uint16_t)new_cpl, .base = 0, .limit = 0,
                              .attr = SEG_ATTR_UNUSABLE | (new_cpl << 5) };
        cpu->seg[CPU_SS] = ss;
    }
    cs.sel = (uint16_t)((tsel & 0xFFFC) | new_cpl);
    cpu->seg[CPU_CS] = cs;
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    rflags &= ~(RF_TF | RF_NT | RF_RF | RF_VM);
    if (gtype == 0xE)
        rflags &= ~RF_IF;
    cpu_set_rflags(cpu, rflags);
    cpu_set_gpr(cpu, 4, rsp);
    cpu_set_rip(cpu, target);
    seg_set_cpl(cpu, new_cpl);
    return true;
}

/* A triple fault in VMX non-root operation is a VM exit (reason 2), not a
 * shutdown (SDM 3C "Other Causes of VM Exits"). */
static void guest_shutdown(cpu_t *cpu)
{
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_shutdown && cpu->virt.guest_shutdown(cpu->virt.ctx, cpu))
        cpu->shutdown = false;
}

void cpu_deliver(cpu_t *cpu, unsigned vector, enum ev_type type, bool has_ec, uint32_t ec,
                 uint64_t next_rip, uint64_t fault_rip)
{
    struct event e = { vector, type, has_ec, ec, next_rip };
    bool ia32e = cpu->efer & EFER_LMA, real = !(cpu->cr0 & CR0_PE);
    /* for VMX non-root operation: the event being delivered when a fault
     * interrupts its delivery (IDT-vectoring information) and CR2 before a
     * #PF wrote it */
    struct event orig = e;
    bool vectoring = false;
    uint64_t cr2_before = cpu->cr2_before_pf;
    cpu->sti_shadow_rip = ~0ull;
    cpu->halted = false;
    if (type == EV_NMI) {
        /* NMI delivery blocks NMIs until the next IRET (SDM 3A 6.7.1), from
         * its start: a fault during delivery runs its handler with NMIs
         * blocked. With "virtual NMIs" the injected NMI sets virtual-NMI
         * blocking instead, in effect before any VM exit its delivery
         * causes (SDM 3C 27.6.1, 28.1) */
        if (cpu->guest_mode && cpu->guest_vnmi)
            cpu->vnmi_blocked = true;
        else
            cpu->nmi_blocked = true;
    }
    for (int depth = 0; depth < 4; depth++) {
        struct xcpt f;
        uint64_t cr2 = cpu->cr2;
        if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_event && !(depth == 0 && cpu->injecting)) {
            /* VMX non-root: the exception bitmap and external-interrupt
             * exiting decide before delivery (SDM 3C "Exceptions"). */
            bool sw = e.type == EV_SW_INT || e.type == EV_SW_EXCEPTION || e.type == EV_PRIV_SW_EXCEPTION;
            struct cpu_guest_event ge = {
                .vector = e.vector, .type = vmx_type[e.type], .has_ec = e.has_ec && !real, .ec = e.ec,
                .fault_rip = fault_rip, .next_rip = sw ? e.rip : fault_rip, .cr2_before = cr2_before,
                .vectoring = vectoring, .orig_vector = orig.vector, .orig_type = vmx_type[orig.type],
                .orig_has_ec = orig.has_ec && !real, .orig_ec = orig.ec,
                .orig_len = (orig.type == EV_SW_INT || orig.type == EV_SW_EXCEPTION ||
                             orig.type == EV_PRIV_SW_EXCEPTION) ? orig.rip - fault_rip : 0,
                .db_bits = (e.vector == VEC_DB && e.type == EV_HW_EXCEPTION) ? cpu->db_bits : 0,
                .nmi_unblocked = cpu->iret_unblocked_nmi && !vectoring,
            };
            enum cpu_guest_action a = cpu->virt.guest_event(cpu->virt.ctx, cpu, &ge);
            if (a != CPU_GUEST_EXECUTE) {
                if (e.vector == VEC_DB)
                    cpu->db_bits = 0;              /* a #DB that exits leaves DR6 alone */
                return;
            }
        }
        if (e.vector == VEC_DB && e.type == EV_HW_EXCEPTION && cpu->db_bits) {
            cpu->dr[6] |= cpu->db_bits;            /* delivered: DR6 reports it (SDM 3B 17.2.3) */
            cpu->db_bits = 0;
        }
        cpu_emit(cpu, CPU_EV_EXCEPTION, fault_rip,
                 e.vector | ((uint64_t)e.type << 8) | ((uint64_t)e.has_ec << 16), e.ec,
                 e.vector == VEC_PF ? cr2 : 0, e.rip);
        if (real)
            e.has_ec = false;                      /* real mode pushes no error codes */
        bool ok = ia32e ? try_deliver(cpu, &e, &f) : legacy_deliver(cpu, e.vector, e.type, e.has_ec, e.ec, e.rip, &f);
        if (ok) {
            cpu->stats.exceptions++;
            cpu_charge(cpu, cost_table[COST_EXCEPTION]);
            return;
        }
        if (cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL)
            return;
        if (f.vector == VEC_SLAT) {
            /* an EPT violation or misconfiguration while delivering e: a VM
             * exit with e in the IDT-vectoring information */
            slat_exit(cpu, fault_rip, &e);
            return;
        }
        if (f.vector == VEC_TASK) {
            /* e met a task gate whose checks passed: a task switch */
            task_gate_switch(cpu, fault_rip, &e, (uint16_t)f.ec);
            return;
        }
        /* A fault while delivering e (SDM 3A table 6-5). */
        enum xclass first = (e.type == EV_SW_INT || e.type == EV_SW_EXCEPTION || e.type == EV_EXT_INT ||
                             e.type == EV_NMI) ? XC_BENIGN : xclass_of(e.vector);
        enum xclass second = xclass_of(f.vector);
        if (f.vector == VEC_PF) {
            cr2_before = cpu->cr2;
            cpu->cr2 = f.cr2;
        }
        if (!vectoring) {
            vectoring = true;              /* f interrupts the delivery of orig */
        }
        if (first == XC_DOUBLE_FAULT && (second == XC_CONTRIBUTORY || second == XC_PAGE_FAULT)) {
            cpu->shutdown = true;
            cpu_emit(cpu, CPU_EV_TRIPLE_FAULT, fault_rip, e.vector, f.vector, f.ec, 0);
            guest_shutdown(cpu);
            return;
        }
        bool df = (first == XC_CONTRIBUTORY && second == XC_CONTRIBUTORY) ||
                  (first == XC_PAGE_FAULT && (second == XC_CONTRIBUTORY || second == XC_PAGE_FAULT));
        if (df)
            e = (struct event){ VEC_DF, EV_HW_EXCEPTION, true, 0, fault_rip };
        else
            e = (struct event){ f.vector, EV_HW_EXCEPTION, f.has_ec, f.ec, fault_rip };
    }
    cpu->shutdown = true;
    cpu_emit(cpu, CPU_EV_TRIPLE_FAULT, fault_rip, e.vector, 0, 0, 0);
    guest_shutdown(cpu);
}

/* A second-level (EPT) fault becomes a VM exit instead of an exception
 * (SDM 3C 28.2.1 "EPT violations", 29.3.3). ev: the event being delivered
 * when it happened (IDT-vectoring information), or NULL. */
static void slat_exit(cpu_t *cpu, uint64_t rip, const struct event *ev)
{
    struct cpu_slat_fault f = cpu->slat_fault.f;
    cpu->slat_fault.active = false;
    f.rip = rip;
    if (ev) {
        f.vectoring = true;
        f.orig_vector = ev->vector;
        f.orig_type = vmx_type[ev->type];
        f.orig_has_ec = ev->has_ec && (cpu->cr0 & CR0_PE);
        f.orig_ec = ev->ec;
        f.orig_len = (ev->type == EV_SW_INT || ev->type == EV_SW_EXCEPTION || ev->type == EV_PRIV_SW_EXCEPTION)
                         ? ev->rip - rip : 0;
    }
    f.nmi_unblocked = cpu->iret_unblocked_nmi && !ev;   /* an access of the IRET that unblocked NMIs */
    if (!cpu->guest_mode || !cpu->has_virt || !cpu->virt.slat_exit) {
        cpu_internal(cpu, "a second-level translation fault outside guest mode (gpa %#llx)",
                     (unsigned long long)f.gpa);
        return;
    }
    cpu_set_rip(cpu, rip);
    cpu->virt.slat_exit(cpu->virt.ctx, cpu, &f);
}

void slat_raise(cpu_t *cpu, uint64_t rip)
{
    slat_exit(cpu, rip, NULL);
}

/* A fault raised by an instruction at rip (faults push the instruction's own RIP). */
void cpu_raise(cpu_t *cpu, const struct xcpt *x, uint64_t rip)
{
    if (x->vector == VEC_SLAT) {
        slat_exit(cpu, rip, NULL);
        return;
    }
    if (x->vector == VEC_MF && !(cpu->cr0 & CR0_NE) && !cpu->guest_mode) {
        /* The engine runs with CR0.NE = 1 and raises #MF; with CR0.NE = 0
         * x87 errors are reported through FERR# and IGNNE# (SDM 1 8.7), which
         * hvsim does not model. A guest's model decides (AMD-V: the
         * FERR_FREEZE intercept); VT-x keeps CR0.NE = 1 (fixed bit). */
        cpu_unmodelled(cpu, "an unmasked x87 exception at RIP %#llx with CR0.NE = 0: legacy x87 error reporting "
                       "(FERR#, IGNNE#) is not modelled", (unsigned long long)rip);
        return;
    }
    cpu->cr2_before_pf = cpu->cr2;
    if (x->vector == VEC_PF)
        cpu->cr2 = x->cr2;
    cpu_deliver(cpu, x->vector, EV_HW_EXCEPTION, x->has_ec, x->ec, rip, rip);
}
