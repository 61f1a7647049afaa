/*
 * legacy.c — events and control transfers outside IA-32e mode: delivery
 * through the real-mode interrupt vector table (SDM 3A 20.1.4) and the
 * protected-mode IDT (SDM 3A 6.10-6.12: 16- and 32-bit interrupt and trap
 * gates, privilege changes through a 32-bit TSS), IRET in real and
 * protected mode, and the stack accesses they share (SS base, SS.B / 16-bit
 * stack pointer).
 *
 * Task gates are checked here and handed to task.c (a VM exit in VMX
 * non-root operation). Not modelled (the run ends as unmodelled, naming
 * it): task switching itself, privilege changes through a 16-bit TSS,
 * virtual-8086 mode.
 */
#include <string.h>

#include "cpu_priv.h"

/* ---- the stack outside 64-bit mode ---- */

uint64_t legacy_sp_mask(const cpu_t *cpu)
{
    if (cpu_code_bits(cpu) == 64)
        return ~0ull;
    return (cpu->seg[CPU_SS].attr & SEG_ATTR_DB) ? 0xFFFFFFFFull : 0xFFFFull;
}

static uint64_t stack_la(const cpu_t *cpu, const struct cpu_seg *ss, uint64_t sp, uint64_t mask)
{
    (void)cpu;
    return (ss->base + (sp & mask)) & 0xFFFFFFFFull;
}

/* Write n bytes below sp on the given stack (wrapping inside a 16-bit SP);
 * returns the new SP, or false with *x. */
static enum mem_res push_bytes(cpu_t *cpu, const struct mem_acc *a, const struct cpu_seg *ss, uint64_t mask,
                               uint64_t *sp, const void *buf, unsigned n, struct xcpt *x)
{
    uint64_t nsp = (*sp - n) & mask;
    const uint8_t *b = buf;
    enum mem_res r;
    if (nsp + n - 1 <= mask) {
        r = mem_write(cpu, a, stack_la(cpu, ss, nsp, mask), b, n, x);
    } else {
        /* a 16-bit stack that wraps: byte by byte */
        r = MEM_OK;
        for (unsigned i = 0; i < n && r == MEM_OK; i++)
            r = mem_write(cpu, a, stack_la(cpu, ss, nsp + i, mask), b + i, 1, x);
    }
    if (r == MEM_OK)
        *sp = (*sp & ~mask) | nsp;
    return r;
}

static enum mem_res pop_bytes(cpu_t *cpu, const struct mem_acc *a, const struct cpu_seg *ss, uint64_t mask,
                              uint64_t *sp, void *buf, unsigned n, struct xcpt *x)
{
    uint64_t s = *sp & mask;
    uint8_t *b = buf;
    enum mem_res r = MEM_OK;
    if (s + n - 1 <= mask)
        r = mem_read(cpu, a, stack_la(cpu, ss, s, mask), b, n, x);
    else
        for (unsigned i = 0; i < n && r == MEM_OK; i++)
            r = mem_read(cpu, a, stack_la(cpu, ss, (s + i) & mask, mask), b + i, 1, x);
    if (r == MEM_OK)
        *sp = (*sp & ~mask) | ((s + n) & mask);
    return r;
}

static void set_cs_real(cpu_t *cpu, uint16_t sel)
{
    struct cpu_seg *cs = &cpu->seg[CPU_CS];
    cs->sel = sel;
    cs->base = (uint64_t)sel << 4;
    cs->attr = (cs->attr & ~SEG_ATTR_UNUSABLE) | SEG_ATTR_P | SEG_ATTR_S | 0xB;
    seg_sync_engine(cpu, CPU_CS);
    cpu->eng_mode_dirty = true;
}

/* ---- delivery ---- */

/* Real mode (SDM 3A 20.1.4): push FLAGS, CS, IP; CS:IP from the IVT entry
 * at IDTR.base + 4 v; IF, TF and AC cleared. No error code is pushed. */
static bool deliver_real(cpu_t *cpu, unsigned vector, uint64_t ret_la, struct xcpt *f)
{
    struct mem_acc sys = mem_acc_sys();
    if ((uint64_t)vector * 4 + 3 > cpu->idtr.limit) {
        *f = xcpt_gp(vector * 8 + 2);
        return false;
    }
    uint16_t ent[2];
    if (mem_read(cpu, &sys, (cpu->idtr.base + (uint64_t)vector * 4) & 0xFFFFFFFFull, ent, 4, f) != MEM_OK)
        return false;
    uint64_t fl = cpu_rflags(cpu), sp = cpu_gpr(cpu, 4), mask = legacy_sp_mask(cpu);
    /* FLAGS is pushed first (highest address), IP last (lowest) */
    uint16_t frame[3] = { (uint16_t)(ret_la - cpu_cs_base(cpu)), cpu->seg[CPU_CS].sel, (uint16_t)fl };
    uint8_t buf[6];
    memcpy(buf, &frame[0], 2);
    memcpy(buf + 2, &frame[1], 2);
    memcpy(buf + 4, &frame[2], 2);
    if (push_bytes(cpu, &sys, &cpu->seg[CPU_SS], mask, &sp, buf, 6, f) != MEM_OK)
        return false;
    cpu_set_gpr(cpu, 4, sp);
    cpu_set_rflags(cpu, fl & ~(RF_IF | RF_TF | RF_AC));
    set_cs_real(cpu, ent[1]);
    cpu_set_ip(cpu, ent[0]);
    return true;
}

/* Protected mode without IA-32e (SDM 3A 6.10-6.12). */
static bool deliver_prot(cpu_t *cpu, unsigned vector, bool sw, bool external, bool has_ec, uint32_t ec,
                         uint64_t ret_la, struct xcpt *f)
{
    uint32_t ext = external ? 1 : 0;
    uint32_t idt_ec = vector * 8 + 2 + ext;
    struct mem_acc sys = mem_acc_sys();
    if ((uint64_t)vector * 8 + 7 > cpu->idtr.limit) {
        *f = xcpt_gp(idt_ec);
        return false;
    }
    uint64_t gate;
    if (mem_read(cpu, &sys, (cpu->idtr.base + (uint64_t)vector * 8) & 0xFFFFFFFFull, &gate, 8, f) != MEM_OK)
        return false;
    unsigned gtype = (gate >> 40) & 0x1F, gdpl = (gate >> 45) & 3;
    bool present = (gate >> 47) & 1;
    if (gtype != 0x5 && gtype != 0x6 && gtype != 0x7 && gtype != 0xE && gtype != 0xF) {
        *f = xcpt_gp(idt_ec);
        return false;
    }
    if (sw && gdpl < cpu->cpl) {
        *f = xcpt_gp(vector * 8 + 2);            /* SDM 3A 6.12.1.2 */
        return false;
    }
    if (!present) {
        *f = (struct xcpt){ VEC_NP, idt_ec, true, 0 };
        return false;
    }
    if (gtype == 0x5) {
        /* A task gate (SDM 3A 6.11, 7.3; 2A INT n "TASK-GATE"): its TSS is
         * checked here; the switch itself is cpu_deliver's (task.c), which
         * receives the selector as the pseudo-vector VEC_TASK. */
        uint16_t tss;
        int r = task_gate_idt(cpu, gate, external, &tss, f);
        if (r == 1)
            *f = (struct xcpt){ VEC_TASK, tss, false, 0 };
        return false;
    }
    bool gate32 = gtype & 8, trap = gtype & 1;
    uint16_t tsel = (uint16_t)(gate >> 16);
    uint32_t target = (uint32_t)((gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000ull));
    if (!gate32)
        target &= 0xFFFF;
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
    if (!(cs.attr & SEG_ATTR_S) || !(ctype & 8) || cdpl > cpu->cpl) {
        *f = xcpt_gp((tsel & 0xFFFC) | ext);
        return false;
    }
    if (!(cs.attr & SEG_ATTR_P)) {
        *f = (struct xcpt){ VEC_NP, (tsel & 0xFFFCu) | ext, true, 0 };
        return false;
    }
    if (cpu_rflags_sys(cpu) & RF_VM) {
        cpu_unmodelled(cpu, "interrupt in virtual-8086 mode (not modelled)");
        return false;
    }
    bool conforming = ctype & 4;
    unsigned new_cpl = conforming ? cpu->cpl : cdpl;
    uint64_t fl = cpu_rflags(cpu);
    uint64_t old_sp = cpu_gpr(cpu, 4), sp = old_sp;
    struct cpu_seg ss = cpu->seg[CPU_SS];
    bool inner = new_cpl < cpu->cpl;
    if (inner) {
        /* New stack from the 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n (SDM 3A 7.2.1). */
        const struct cpu_seg *tr = &cpu->seg[CPU_TR];
        unsigned ttype = tr->attr & 0xF;
        if ((tr->attr & SEG_ATTR_UNUSABLE) || tr->sel == 0) {
            *f = (struct xcpt){ VEC_TS, (tr->sel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        if (ttype == 1 || ttype == 3) {
            cpu_unmodelled(cpu, "privilege change through a 16-bit TSS (not modelled)");
            return false;
        }
        uint64_t off = 4 + 8 * (uint64_t)new_cpl;
        if (off + 5 > tr->limit) {
            *f = (struct xcpt){ VEC_TS, (tr->sel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        uint32_t esp;
        uint16_t sssel;
        if (mem_read(cpu, &sys, tr->base + off, &esp, 4, f) != MEM_OK ||
            mem_read(cpu, &sys, tr->base + off + 4, &sssel, 2, f) != MEM_OK)
            return false;
        if ((sssel & 0xFFFC) == 0 || (sssel & 3) != new_cpl) {
            *f = (struct xcpt){ VEC_TS, (sssel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        uint64_t slo, shi;
        if (!seg_read_descriptor(cpu, sssel, &slo, &shi, f)) {
            *f = (struct xcpt){ VEC_TS, (sssel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        seg_from_descriptor(sssel, slo, shi, &ss);
        unsigned st = ss.attr & 0xF;
        if (!(ss.attr & SEG_ATTR_S) || (st & 8) || !(st & 2) || SEG_ATTR_DPL(ss.attr) != new_cpl) {
            *f = (struct xcpt){ VEC_TS, (sssel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        if (!(ss.attr & SEG_ATTR_P)) {
            *f = (struct xcpt){ VEC_SS, (sssel & 0xFFFCu) | ext, true, 0 };
            return false;
        }
        sp = esp;
    }
    uint64_t mask = (ss.attr & SEG_ATTR_DB) ? 0xFFFFFFFFull : 0xFFFFull;
    unsigned w = gate32 ? 4 : 2;
    uint32_t words[6];
    unsigned nw = 0;
    if (inner) {
        words[nw++] = cpu->seg[CPU_SS].sel;
        words[nw++] = (uint32_t)old_sp;
    }
    words[nw++] = (uint32_t)fl;
    words[nw++] = cpu->seg[CPU_CS].sel;
    words[nw++] = (uint32_t)(ret_la - cpu_cs_base(cpu));
    if (has_ec)
        words[nw++] = ec;
    uint8_t buf[24];
    for (unsigned i = 0; i < nw; i++)                      /* highest address first */
        memcpy(buf + (nw - 1 - i) * w, &words[i], w);
    if (new_cpl == 3 && ac_active(cpu) && ((ss.base + ((sp - nw * w) & mask)) & (w - 1))) {
        /* a ring-3 handler's frame pushed to a misaligned stack with
         * alignment checking on (SDM 3A 6.15): whether those pushes are
         * checked is not decided here */
        cpu_unmodelled(cpu, "vector %u delivered at CPL 3 to a stack at %#llx with alignment checking (CR0.AM, "
                       "RFLAGS.AC) on: alignment checking of the frame's pushes is not modelled", vector,
                       (unsigned long long)(sp & mask));
        return false;
    }
    struct mem_acc sa = { .cpl = new_cpl, .implicit_sv = new_cpl < 3, .stack = true };
    if (push_bytes(cpu, &sa, &ss, mask, &sp, buf, nw * w, f) != MEM_OK)
        return false;
    /* Commit. */
    if (inner) {
        ss.sel = (uint16_t)((ss.sel & 0xFFFC) | new_cpl);
        cpu->seg[CPU_SS] = ss;
        seg_sync_engine(cpu, CPU_SS);
    }
    cs.sel = (uint16_t)((tsel & 0xFFFC) | new_cpl);
    cpu->seg[CPU_CS] = cs;
    seg_sync_engine(cpu, CPU_CS);
    cpu->eng_mode_dirty = true;
    fl &= ~(RF_TF | RF_NT | RF_RF | RF_VM);
    if (!trap)
        fl &= ~RF_IF;
    cpu_set_rflags(cpu, fl);
    cpu_set_gpr(cpu, 4, sp);
    cpu_set_ip(cpu, target);
    seg_set_cpl(cpu, new_cpl);
    return true;
}

bool legacy_deliver(cpu_t *cpu, unsigned vector, enum ev_type type, bool has_ec, uint32_t ec, uint64_t ret_la,
                    struct xcpt *f)
{
    if (!(cpu->cr0 & CR0_PE))
        return deliver_real(cpu, vector, ret_la, f);
    bool sw = type == EV_SW_INT || type == EV_SW_EXCEPTION;
    bool external = !(type == EV_SW_INT || type == EV_SW_EXCEPTION);
    return deliver_prot(cpu, vector, sw, external, has_ec, ec, ret_la, f);
}

/* ---- IRET (SDM 2B IRET, "REAL-ADDRESS-MODE" and "PROTECTED-MODE") ---- */

int legacy_iret(cpu_t *cpu, unsigned osz, struct xcpt *x)
{
    uint64_t fl = cpu_rflags(cpu), sp = cpu_gpr(cpu, 4), mask = legacy_sp_mask(cpu);
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = true;
    uint8_t buf[12];
    enum mem_res r = pop_bytes(cpu, &a, &cpu->seg[CPU_SS], mask, &sp, buf, 3 * osz, x);
    if (r == MEM_UNMODELLED)
        return -1;
    if (r != MEM_OK)
        return 0;
    uint32_t nip = 0, ncs = 0, nfl = 0;
    memcpy(&nip, buf, osz);
    memcpy(&ncs, buf + osz, osz);
    memcpy(&nfl, buf + 2 * osz, osz);
    if (!(cpu->cr0 & CR0_PE)) {
        /* Real mode: every flag but VM and VIF/VIP comes from the stack. */
        uint64_t m = osz == 4 ? (0x3F7FD5ull & ~(RF_VM | RF_VIF | RF_VIP)) : 0x7FD5;
        cpu_set_rflags(cpu, ((fl & ~m) | (nfl & m) | RF_FIXED) & ~RF_RF);
        cpu_set_gpr(cpu, 4, sp);
        set_cs_real(cpu, (uint16_t)ncs);
        cpu_set_ip(cpu, nip);
        return 1;
    }
    /* NT = 1 (a task return) is the caller's, before anything is popped (task.c) */
    if (osz == 4 && (nfl & RF_VM) && cpu->cpl == 0) {
        cpu_unmodelled(cpu, "IRET to virtual-8086 mode is not modelled");
        return -1;
    }
    /* the code segment (same checks as a far return) */
    if ((ncs & 0xFFFC) == 0) {
        *x = xcpt_gp(0);
        return 0;
    }
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, (uint16_t)ncs, &lo, &hi, x))
        return 0;
    struct cpu_seg cs;
    seg_from_descriptor((uint16_t)ncs, lo, hi, &cs);
    unsigned type = cs.attr & 0xF, dpl = SEG_ATTR_DPL(cs.attr), rpl = ncs & 3;
    if (!(cs.attr & SEG_ATTR_S) || !(type & 8) || rpl < cpu->cpl || ((type & 4) ? dpl > rpl : dpl != rpl)) {
        *x = xcpt_gp(ncs & 0xFFFC);
        return 0;
    }
    if (!(cs.attr & SEG_ATTR_P)) {
        *x = (struct xcpt){ VEC_NP, ncs & 0xFFFCu, true, 0 };
        return 0;
    }
    unsigned new_cpl = rpl;
    struct cpu_seg ss = cpu->seg[CPU_SS];
    bool outer = new_cpl > cpu->cpl;
    if (outer) {
        uint32_t nsp = 0, nss = 0;
        r = pop_bytes(cpu, &a, &cpu->seg[CPU_SS], mask, &sp, buf, 2 * osz, x);
        if (r == MEM_UNMODELLED)
            return -1;
        if (r != MEM_OK)
            return 0;
        memcpy(&nsp, buf, osz);
        memcpy(&nss, buf + osz, osz);
        if ((nss & 0xFFFC) == 0 || (nss & 3) != new_cpl) {
            *x = xcpt_gp(nss & 0xFFFC);
            return 0;
        }
        uint64_t slo, shi;
        if (!seg_read_descriptor(cpu, (uint16_t)nss, &slo, &shi, x))
            return 0;
        seg_from_descriptor((uint16_t)nss, slo, shi, &ss);
        unsigned st = ss.attr & 0xF;
        if (!(ss.attr & SEG_ATTR_S) || (st & 8) || !(st & 2) || SEG_ATTR_DPL(ss.attr) != new_cpl) {
            *x = xcpt_gp(nss & 0xFFFC);
            return 0;
        }
        if (!(ss.attr & SEG_ATTR_P)) {
            *x = (struct xcpt){ VEC_SS, nss & 0xFFFCu, true, 0 };
            return 0;
        }
        sp = nsp;
    }
    if (nip > cs.limit) {
        *x = xcpt_gp(0);
        return 0;
    }
    /* EFLAGS: IOPL only at CPL 0, IF only if CPL <= IOPL (SDM 2B IRET). */
    uint64_t m = 0x3F7FD5ull & ~(RF_VM | RF_VIF | RF_VIP);
    unsigned iopl = (unsigned)((fl >> 12) & 3);
    if (cpu->cpl > 0)
        m &= ~RF_IOPL;
    if (cpu->cpl > iopl)
        m &= ~RF_IF;
    if (osz == 2)
        m &= 0xFFFF;
    uint64_t newfl = ((fl & ~m) | (nfl & m) | RF_FIXED) & ~RF_RF;
    cs.sel = (uint16_t)ncs;
    cpu->seg[CPU_CS] = cs;
    seg_sync_engine(cpu, CPU_CS);
    if (outer) {
        cpu->seg[CPU_SS] = ss;                        /* selector and cache from the popped SS */
        seg_sync_engine(cpu, CPU_SS);
    }
    cpu->eng_mode_dirty = true;
    cpu_set_rflags(cpu, newfl);
    cpu_set_gpr(cpu, 4, sp);
    cpu_set_ip(cpu, nip);
    seg_set_cpl(cpu, new_cpl);
    return 1;
}

/* ---- the current stack, for instruction handlers (any mode) ---- */

enum mem_res stack_pop(cpu_t *cpu, void *buf, unsigned n, struct xcpt *x)
{
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = true;
    uint64_t sp = cpu_gpr(cpu, 4);
    enum mem_res r;
    if (cpu_code_bits(cpu) == 64) {
        r = mem_read(cpu, &a, sp, buf, n, x);
        sp += n;
    } else {
        r = pop_bytes(cpu, &a, &cpu->seg[CPU_SS], legacy_sp_mask(cpu), &sp, buf, n, x);
    }
    if (r == MEM_OK)
        cpu_set_gpr(cpu, 4, sp);
    return r;
}

enum mem_res stack_push(cpu_t *cpu, const void *buf, unsigned n, struct xcpt *x)
{
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = true;
    uint64_t sp = cpu_gpr(cpu, 4);
    enum mem_res r;
    if (cpu_code_bits(cpu) == 64) {
        r = mem_write(cpu, &a, sp - n, buf, n, x);
        sp -= n;
    } else {
        r = push_bytes(cpu, &a, &cpu->seg[CPU_SS], legacy_sp_mask(cpu), &sp, buf, n, x);
    }
    if (r == MEM_OK)
        cpu_set_gpr(cpu, 4, sp);
    return r;
}

/* Operand size of an instruction without REX.W: 16 or 32 bits by the code
 * size and the 0x66 prefix (64-bit mode: 32, or 16 with 0x66). */
unsigned insn_opsize(const cpu_t *cpu, bool prefix66)
{
    unsigned bits = cpu_code_bits(cpu);
    if (bits == 16)
        return prefix66 ? 4 : 2;
    return prefix66 ? 2 : 4;
}

/* ---- far transfers in real mode and protected mode ---- */

void legacy_set_cs_real(cpu_t *cpu, uint16_t sel) { set_cs_real(cpu, sel); }

/* RET far outside IA-32e mode (SDM 2B RET, "real-address mode" and
 * "protected mode"): pop IP/EIP and CS (osz 2 or 4), release imm bytes; a
 * return to an outer privilege level pops SS:ESP as well. */
int legacy_far_ret(cpu_t *cpu, unsigned osz, unsigned imm, struct xcpt *x)
{
    uint64_t sp = cpu_gpr(cpu, 4), mask = legacy_sp_mask(cpu);
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = true;
    uint8_t buf[8];
    enum mem_res r = pop_bytes(cpu, &a, &cpu->seg[CPU_SS], mask, &sp, buf, 2 * osz, x);
    if (r != MEM_OK)
        return r == MEM_UNMODELLED ? -1 : 0;
    uint32_t nip = 0, ncs = 0;
    memcpy(&nip, buf, osz);
    memcpy(&ncs, buf + osz, osz);
    sp = (sp & ~mask) | ((sp + imm) & mask);
    if (!(cpu->cr0 & CR0_PE)) {
        cpu_set_gpr(cpu, 4, sp);
        set_cs_real(cpu, (uint16_t)ncs);
        cpu_set_ip(cpu, nip);
        return 1;
    }
    if ((ncs & 0xFFFC) == 0) {
        *x = xcpt_gp(0);
        return 0;
    }
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, (uint16_t)ncs, &lo, &hi, x))
        return 0;
    struct cpu_seg cs;
    seg_from_descriptor((uint16_t)ncs, lo, hi, &cs);
    unsigned type = cs.attr & 0xF, dpl = SEG_ATTR_DPL(cs.attr), rpl = ncs & 3;
    if (!(cs.attr & SEG_ATTR_S) || !(type & 8) || rpl < cpu->cpl || ((type & 4) ? dpl > rpl : dpl != rpl)) {
        *x = xcpt_gp(ncs & 0xFFFC);
        return 0;
    }
    if (!(cs.attr & SEG_ATTR_P)) {
        *x = (struct xcpt){ VEC_NP, ncs & 0xFFFCu, true, 0 };
        return 0;
    }
    struct cpu_seg ss = cpu->seg[CPU_SS];
    bool outer = rpl > cpu->cpl;
    if (outer) {
        uint32_t nsp = 0, nss = 0;
        r = pop_bytes(cpu, &a, &cpu->seg[CPU_SS], mask, &sp, buf, 2 * osz, x);
        if (r != MEM_OK)
            return r == MEM_UNMODELLED ? -1 : 0;
        memcpy(&nsp, buf, osz);
        memcpy(&nss, buf + osz, osz);
        if ((nss & 0xFFFC) == 0 || (nss & 3) != rpl) {
            *x = xcpt_gp(nss & 0xFFFC);
            return 0;
        }
        uint64_t slo, shi;
        if (!seg_read_descriptor(cpu, (uint16_t)nss, &slo, &shi, x))
            return 0;
        seg_from_descriptor((uint16_t)nss, slo, shi, &ss);
        unsigned st = ss.attr & 0xF;
        if (!(ss.attr & SEG_ATTR_S) || (st & 8) || !(st & 2) || SEG_ATTR_DPL(ss.attr) != rpl) {
            *x = xcpt_gp(nss & 0xFFFC);
            return 0;
        }
        if (!(ss.attr & SEG_ATTR_P)) {
            *x = (struct xcpt){ VEC_SS, nss & 0xFFFCu, true, 0 };
            return 0;
        }
        sp = nsp + imm;
    }
    if (nip > cs.limit) {
        *x = xcpt_gp(0);
        return 0;
    }
    cpu->seg[CPU_CS] = cs;
    seg_sync_engine(cpu, CPU_CS);
    if (outer) {
        cpu->seg[CPU_SS] = ss;
        seg_sync_engine(cpu, CPU_SS);
    }
    cpu->eng_mode_dirty = true;
    cpu_set_gpr(cpu, 4, sp);
    cpu_set_ip(cpu, nip);
    seg_set_cpl(cpu, rpl);
    return 1;
}
