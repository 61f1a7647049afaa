/*
 * sysinsn.c — emulation of the instructions in insn_classes.def, following
 * the "Operation" and "Protected Mode / 64-Bit Mode Exceptions" sections of
 * SDM vol. 2 for each instruction. One handler per class (insn_handlers[]);
 * a class without a handler fails loudly.
 *
 * Called from the run loop with the engine stopped at the instruction, RIP
 * pointing at it, and the time of every earlier instruction accounted.
 * A handler either completes the instruction (RIP advanced), delivers a
 * fault (RIP of the instruction pushed), or stops the run (cpu->pend).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu_priv.h"

typedef bool (*insn_fn)(cpu_t *cpu, const struct dec_insn *d);

/* ---- helpers ---- */

static bool next(cpu_t *cpu, const struct dec_insn *d, unsigned cost)
{
    cpu_set_rip(cpu, d->la + d->len);
    cpu_charge(cpu, cost);
    cpu->insns++;
    return true;
}

static bool fault(cpu_t *cpu, const struct dec_insn *d, struct xcpt x)
{
    cpu_charge(cpu, cost_table[COST_INSN]);
    cpu_raise(cpu, &x, d->la);
    return !(cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL);
}

static bool gp0(cpu_t *cpu, const struct dec_insn *d) { return fault(cpu, d, xcpt_gp(0)); }
static bool ud(cpu_t *cpu, const struct dec_insn *d) { return fault(cpu, d, xcpt_ud()); }

static bool stop_unmodelled(cpu_t *cpu)
{
    (void)cpu;
    return false;
}

static const cs_x86 *X(const struct dec_insn *d) { return &d->ci->detail->x86; }

/* Effective address of memory operand i (no access). */
static uint64_t op_ea(cpu_t *cpu, const struct dec_insn *d, unsigned i)
{
    const cs_x86_op *op = &X(d)->operands[i];
    uint64_t ea = (uint64_t)op->mem.disp;
    unsigned w;
    if (op->mem.base == X86_REG_RIP)
        ea += d->la + d->len;
    else if (op->mem.base != X86_REG_INVALID) {
        unsigned idx = dec_reg_index(op->mem.base, &w);
        if (idx < 16) {
            uint64_t v = cpu_gpr(cpu, idx);
            ea += w == 4 ? (v & 0xFFFFFFFFu) : v;
        }
    }
    if (op->mem.index != X86_REG_INVALID) {
        unsigned idx = dec_reg_index(op->mem.index, &w);
        if (idx < 16) {
            uint64_t v = cpu_gpr(cpu, idx);
            ea += (w == 4 ? (v & 0xFFFFFFFFu) : v) * (uint64_t)op->mem.scale;
        }
    }
    return dec_linear(cpu, X(d), op, ea);
}

static bool op_is_stack(const cs_x86_op *op)
{
    return op->mem.base == X86_REG_RSP || op->mem.base == X86_REG_RBP;
}

/* How memory operand i forms its address (struct cpu_mem_form): the
 * registers, scale, displacement field, address size and the segment used
 * (an override, else SS for an rSP/rBP base, else DS). */
static void mem_form(cpu_t *cpu, const struct dec_insn *d, unsigned i, struct cpu_mem_form *f)
{
    const cs_x86 *x = X(d);
    const cs_x86_op *op = &x->operands[i];
    unsigned w, r;
    memset(f, 0, sizeof(*f));
    f->addr_size = x->addr_size ? x->addr_size : cpu_code_bits(cpu) / 8;
    f->rip_rel = op->mem.base == X86_REG_RIP || op->mem.base == X86_REG_EIP;
    f->base = f->index = CPU_MEM_NOREG;
    if (!f->rip_rel && op->mem.base != X86_REG_INVALID && (r = dec_reg_index(op->mem.base, &w)) < 16)
        f->base = r;
    if (op->mem.index != X86_REG_INVALID && (r = dec_reg_index(op->mem.index, &w)) < 16)
        f->index = r;
    f->scale = f->index == CPU_MEM_NOREG ? 1 : (unsigned)op->mem.scale;
    /* the displacement field is at most 32 bits (16 with 16-bit addressing), sign-extended */
    f->disp = f->addr_size == 2 ? (int16_t)op->mem.disp : (int32_t)op->mem.disp;
    switch (op->mem.segment) {
    case X86_REG_ES: f->seg = CPU_ES; break;
    case X86_REG_CS: f->seg = CPU_CS; break;
    case X86_REG_SS: f->seg = CPU_SS; break;
    case X86_REG_DS: f->seg = CPU_DS; break;
    case X86_REG_FS: f->seg = CPU_FS; break;
    case X86_REG_GS: f->seg = CPU_GS; break;
    default:
        f->seg = (f->base == 4 || f->base == 5) ? CPU_SS : CPU_DS;
        break;
    }
    /* 64-bit mode treats ES, CS, SS and DS overrides as null prefixes (SDM 1
     * 3.4.2.1): the access uses the default segment */
    if (cpu_code_bits(cpu) == 64 && f->seg != CPU_FS && f->seg != CPU_GS)
        f->seg = (f->base == 4 || f->base == 5) ? CPU_SS : CPU_DS;
}

/* Read a GPR of the given Capstone register (zero-extended). */
static uint64_t reg_read(cpu_t *cpu, unsigned reg)
{
    unsigned w;
    unsigned idx = dec_reg_index(reg, &w);
    if (idx == ~0u)
        return 0;
    if (idx >= 16)
        return (cpu_gpr(cpu, idx - 16) >> 8) & 0xFF;
    uint64_t v = cpu_gpr(cpu, idx);
    switch (w) {
    case 1: return v & 0xFF;
    case 2: return v & 0xFFFF;
    case 4: return v & 0xFFFFFFFFu;
    default: return v;
    }
}

/* Write a GPR with x86-64 semantics (32-bit writes zero-extend). */
static void reg_write(cpu_t *cpu, unsigned reg, uint64_t val)
{
    unsigned w;
    unsigned idx = dec_reg_index(reg, &w);
    if (idx == ~0u)
        return;
    if (idx >= 16) {
        uint64_t v = cpu_gpr(cpu, idx - 16);
        cpu_set_gpr(cpu, idx - 16, (v & ~0xFF00ull) | ((val & 0xFF) << 8));
        return;
    }
    uint64_t v = cpu_gpr(cpu, idx);
    switch (w) {
    case 1: v = (v & ~0xFFull) | (val & 0xFF); break;
    case 2: v = (v & ~0xFFFFull) | (val & 0xFFFF); break;
    case 4: v = val & 0xFFFFFFFFu; break;
    default: v = val; break;
    }
    cpu_set_gpr(cpu, idx, v);
}

/* Read operand i (register, memory or immediate) of the given size. */
static bool op_read(cpu_t *cpu, const struct dec_insn *d, unsigned i, uint64_t *val, struct xcpt *x)
{
    const cs_x86_op *op = &X(d)->operands[i];
    switch (op->type) {
    case X86_OP_REG:
        *val = reg_read(cpu, op->reg);
        return true;
    case X86_OP_IMM:
        *val = (uint64_t)op->imm;
        return true;
    case X86_OP_MEM: {
        struct mem_acc a = mem_acc_cur(cpu);
        a.stack = op_is_stack(op);
        uint64_t v = 0;
        enum mem_res r = mem_read(cpu, &a, op_ea(cpu, d, i), &v, op->size ? op->size : 8, x);
        if (r == MEM_UNMODELLED) {
            x->vector = ~0u;
            return false;
        }
        *val = v;
        return r == MEM_OK;
    }
    default:
        *x = xcpt_ud();
        return false;
    }
}

static bool op_write(cpu_t *cpu, const struct dec_insn *d, unsigned i, uint64_t val, struct xcpt *x)
{
    const cs_x86_op *op = &X(d)->operands[i];
    if (op->type == X86_OP_REG) {
        reg_write(cpu, op->reg, val);
        return true;
    }
    if (op->type == X86_OP_MEM) {
        struct mem_acc a = mem_acc_cur(cpu);
        a.stack = op_is_stack(op);
        enum mem_res r = mem_write(cpu, &a, op_ea(cpu, d, i), &val, op->size ? op->size : 8, x);
        if (r == MEM_UNMODELLED) {
            x->vector = ~0u;
            return false;
        }
        return r == MEM_OK;
    }
    *x = xcpt_ud();
    return false;
}

/* Finish an operand access that failed: deliver the fault, or stop the run
 * when the access hit something unmodelled. */
static bool op_failed(cpu_t *cpu, const struct dec_insn *d, struct xcpt x)
{
    if (x.vector == ~0u)
        return stop_unmodelled(cpu);
    return fault(cpu, d, x);
}

static unsigned iopl(cpu_t *cpu) { return (unsigned)((cpu_rflags_sys(cpu) >> 12) & 3); }

static uint64_t canon_mask_ok(cpu_t *cpu, uint64_t v) { return pg_canonical(v, cpu->prof->linear_bits); }

/* ---- control registers (SDM 2B MOV to/from CRn; SDM 3A 2.5) ---- */

bool cpu_write_cr(cpu_t *cpu, unsigned n, uint64_t v, uint64_t rip, struct xcpt *x)
{
    uint64_t old;
    if ((n == 0 || n == 4) && cpu->has_virt && cpu->virt.cr_write &&
        !cpu->virt.cr_write(cpu->virt.ctx, cpu, n, v)) {
        *x = xcpt_gp(0);                           /* e.g. a VMX fixed bit (SDM 3C 24.8) */
        return false;
    }
    switch (n) {
    case 0: {
        old = cpu->cr0;
        if (v >> 32) { *x = xcpt_gp(0); return false; }
        if ((v & CR0_PG) && !(v & CR0_PE)) { *x = xcpt_gp(0); return false; }
        if ((v & CR0_NW) && !(v & CR0_CD)) { *x = xcpt_gp(0); return false; }
        if (!(v & CR0_PG) && cpu_code_bits(cpu) == 64) {
            /* Leaving IA-32e mode requires compatibility mode first (SDM 3A 9.8.5.4). */
            *x = xcpt_gp(0);
            return false;
        }
        bool activate = (v & CR0_PG) && !(old & CR0_PG) && (cpu->efer & EFER_LME);
        if (activate && (!(cpu->cr4 & CR4_PAE) || (cpu->seg[CPU_CS].attr & SEG_ATTR_L))) {
            /* IA-32e activation needs PAE and a CS that is not 64-bit (SDM 3A 9.8.5, 2B MOV CR). */
            *x = xcpt_gp(0);
            return false;
        }
        if ((v & CR0_PG) && (cpu->cr4 & CR4_PAE) && !(cpu->efer & EFER_LME) &&
            (!(old & CR0_PG) || ((old ^ v) & (CR0_CD | CR0_NW)))) {
            uint64_t pd[4];
            if (!pae_load_pdptes_x(cpu, cpu->cr3, v, cpu->cr4, pd, x))
                return false;                      /* a reserved bit in a PDPTE (SDM 3A 4.4.1), or EPT */
            memcpy(cpu->pdpte, pd, sizeof(pd));
        }
        v |= CR0_ET;                               /* hard-wired to 1 */
        cpu->cr0 = v;
        if (activate)
            cpu->efer |= EFER_LMA;                 /* IA-32e mode active (SDM 3A 9.8.5) */
        else if (!(v & CR0_PG) && (cpu->efer & EFER_LMA))
            cpu->efer &= ~EFER_LMA;                /* deactivated from compatibility mode */
        if ((old ^ v) & (CR0_PE | CR0_PG))
            cpu->eng_mode_dirty = true;            /* real/protected, IA-32e: a new code mode */
        eng_sync_cr0_cr4(cpu);
        if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE | CR0_CD | CR0_NW)) {
            view_flush(cpu->view, false);          /* SDM 3A 4.10.4.1 */
            view_set_context(cpu->view);
        }
        break;
    }
    case 3: {
        old = cpu->cr3;
        bool pcide = cpu->cr4 & CR4_PCIDE;
        bool noflush = pcide && (v >> 63);
        v &= ~(1ull << 63);
        if (v >> cpu->prof->maxphyaddr) { *x = xcpt_gp(0); return false; }
        if (!(cpu->efer & EFER_LMA)) {
            v &= 0xFFFFFFFFull;                    /* 32-bit CR3 outside IA-32e mode */
            if ((cpu->cr0 & CR0_PG) && (cpu->cr4 & CR4_PAE)) {
                uint64_t pd[4];
                if (!pae_load_pdptes_x(cpu, v, cpu->cr0, cpu->cr4, pd, x))
                    return false;                  /* SDM 3A 4.4.1 */
                memcpy(cpu->pdpte, pd, sizeof(pd));
            }
        }
        cpu->cr3 = v;
        cpu_charge(cpu, cost_table[COST_TLB_FLUSH]);
        if (!pcide) {
            view_flush_pcid(cpu->view, 0, true);
        } else if (!noflush) {
            view_flush_pcid(cpu->view, (uint16_t)(v & 0xFFF), true);
        }
        view_set_context(cpu->view);
        cpu_emit(cpu, CPU_EV_TLB_INVAL, rip, CPU_INVAL_MOV_CR3, v, noflush ? 2 : 1, 0);
        break;
    }
    case 4: {
        old = cpu->cr4;
        uint64_t rsvd = ~cpu_cr4_supported(cpu);
        if (cpu->has_virt)
            rsvd &= ~cpu->virt.cr4_allow;
        if (v & rsvd) { *x = xcpt_gp(0); return false; }
        if ((cpu->efer & EFER_LMA) && !(v & CR4_PAE)) { *x = xcpt_gp(0); return false; }
        if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) &&
            ((cpu->cr3 & 0xFFF) || !(cpu->efer & EFER_LMA))) {
            *x = xcpt_gp(0);
            return false;
        }
        if ((cpu->cr0 & CR0_PG) && (v & CR4_PAE) && !(cpu->efer & EFER_LMA) &&
            ((old ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP))) {
            uint64_t pd[4];                        /* PAE paging: PDPTEs reloaded (SDM 3A 4.4.1) */
            if (!pae_load_pdptes_x(cpu, cpu->cr3, cpu->cr0, v, pd, x))
                return false;
            memcpy(cpu->pdpte, pd, sizeof(pd));
        }
        cpu->cr4 = v;
        eng_sync_cr0_cr4(cpu);
        if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_PCIDE | CR4_SMEP | CR4_SMAP | CR4_LA57 | CR4_PKE)) {
            view_flush(cpu->view, false);
            view_set_context(cpu->view);
            cpu_emit(cpu, CPU_EV_TLB_INVAL, rip, CPU_INVAL_PAGING_BITS, 4, 0, 0);
        }
        break;
    }
    case 2:
        old = cpu->cr2;                            /* MOV to CR2: any value (SDM 2B MOV CR) */
        cpu->cr2 = v;
        break;
    case 8:
        if (v >> 4) { *x = xcpt_gp(0); return false; }
        old = apic_get_tpr(cpu) >> 4;
        apic_set_tpr(cpu, v << 4);         /* CR8[3:0] is TPR[7:4] (SDM 3A 10.8.6.1) */
        break;
    default:
        *x = xcpt_ud();
        return false;
    }
    cpu_emit(cpu, CPU_EV_CR_WRITE, rip, n, old, v, 0);
    return true;
}

static unsigned cr_number(unsigned reg) { return reg - X86_REG_CR0; }
static unsigned dr_number(unsigned reg) { return reg - X86_REG_DR0; }

static bool h_mov_from_cr(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    unsigned n = cr_number(X(d)->operands[1].reg);
    uint64_t v;
    switch (n) {
    case 0: v = cpu->cr0; break;
    case 2: v = cpu->cr2; break;
    case 3: v = cpu->cr3; break;
    case 4: v = cpu->cr4; break;
    case 8: v = apic_get_tpr(cpu) >> 4; break;
    default: return ud(cpu, d);
    }
    cpu_set_gpr(cpu, dec_reg_index(X(d)->operands[0].reg, NULL), v);
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_mov_to_cr(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    unsigned n = cr_number(X(d)->operands[0].reg);
    uint64_t v = cpu_gpr(cpu, dec_reg_index(X(d)->operands[1].reg, NULL));
    struct xcpt x;
    if (!cpu_write_cr(cpu, n, v, d->la, &x)) {
        if (cpu->pend.kind == PEND_UNMODELLED)
            return false;
        return fault(cpu, d, x);
    }
    return next(cpu, d, cost_table[COST_SERIALIZING]);
}

/* DR7 bits 7:0 enable breakpoints; hvsim does not model them (fails loudly). */
static bool h_mov_dr(cpu_t *cpu, const struct dec_insn *d)
{
    bool to = d->cls == IC_MOV_TO_DR;
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    unsigned n = dr_number(X(d)->operands[to ? 0 : 1].reg);
    if ((n == 4 || n == 5) && (cpu->cr4 & CR4_DE))
        return ud(cpu, d);
    if (n == 4) n = 6;
    if (n == 5) n = 7;
    if (n > 7)
        return ud(cpu, d);
    if (cpu->dr[7] & (1ull << 13)) {
        /* General detect (SDM 3B 17.2.4): #DB before the access, DR6.BD set. */
        cpu->dr[7] &= ~(1ull << 13);
        cpu->db_bits = 1ull << 13;             /* BD, written to DR6 when delivered */
        cpu_charge(cpu, cost_table[COST_INSN]);
        cpu_deliver(cpu, VEC_DB, EV_HW_EXCEPTION, false, 0, d->la, d->la);
        return true;
    }
    unsigned gpr = dec_reg_index(X(d)->operands[to ? 1 : 0].reg, NULL);
    if (!to) {
        cpu_set_gpr(cpu, gpr, cpu->dr[n]);
        return next(cpu, d, cost_table[COST_INSN]);
    }
    uint64_t v = cpu_gpr(cpu, gpr);
    if ((n == 6 || n == 7) && (v >> 32))
        return gp0(cpu, d);
    if (n == 7 && (v & 0xFF)) {
        cpu_unmodelled(cpu, "MOV to DR7 = %#llx enables a hardware breakpoint; debug breakpoints "
                       "are not modelled", (unsigned long long)v);
        return false;
    }
    if (n == 6)
        v = (v & 0x1E00F) | 0xFFFF0FF0u;           /* reserved bits read as 1 (SDM 3B 17.2.3) */
    if (n == 7)
        v = (v & ~0x0000D800ull) | 0x400;
    cpu->dr[n] = v;
    return next(cpu, d, cost_table[COST_SERIALIZING]);
}

static bool h_clts(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    struct xcpt x;
    if (!cpu_write_cr(cpu, 0, cpu->cr0 & ~CR0_TS, d->la, &x))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, x);
    return next(cpu, d, cost_table[COST_SERIALIZING]);
}

static bool h_lmsw(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint64_t v;
    struct xcpt x;
    if (!op_read(cpu, d, 0, &v, &x))
        return op_failed(cpu, d, x);
    /* Loads PE, MP, EM, TS; cannot clear PE (SDM 2A LMSW). */
    uint64_t nv = (cpu->cr0 & ~0xEull) | (v & 0xE) | (cpu->cr0 & CR0_PE) | (v & CR0_PE);
    if (!cpu_write_cr(cpu, 0, nv, d->la, &x))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, x);
    return next(cpu, d, cost_table[COST_SERIALIZING]);
}

static bool h_smsw(cpu_t *cpu, const struct dec_insn *d)
{
    if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
        return gp0(cpu, d);
    struct xcpt x;
    const cs_x86_op *op = &X(d)->operands[0];
    uint64_t v = op->type == X86_OP_MEM ? (cpu->cr0 & 0xFFFF) : cpu->cr0;
    if (!op_write(cpu, d, 0, v, &x))
        return op_failed(cpu, d, x);
    return next(cpu, d, cost_table[COST_INSN]);
}

/* ---- MSRs, CPUID, time, randomness ---- */

static bool h_rdmsr(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint32_t idx = (uint32_t)cpu_gpr(cpu, 1);
    uint64_t v;
    bool ok = msr_rdmsr(cpu, idx, &v);
    if (cpu->pend.kind == PEND_UNMODELLED)
        return false;
    bool known = cpu->msr_claimed || msr_modelled(idx);
    cpu_emit(cpu, CPU_EV_MSR, d->la, idx, ok ? v : 0, 0, ok ? 0 : (known ? 1 : 2));
    if (!ok) {
        if (!known)
            cpu->stats.unmodelled_msrs++;
        return gp0(cpu, d);
    }
    cpu_set_gpr(cpu, 0, v & 0xFFFFFFFFu);
    cpu_set_gpr(cpu, 2, v >> 32);
    return next(cpu, d, cost_table[COST_MSR_ACCESS]);
}

static bool h_wrmsr(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint32_t idx = (uint32_t)cpu_gpr(cpu, 1);
    uint64_t v = (cpu_gpr(cpu, 0) & 0xFFFFFFFFu) | (cpu_gpr(cpu, 2) << 32);
    bool ok = msr_wrmsr(cpu, idx, v);
    if (cpu->pend.kind == PEND_UNMODELLED)
        return false;
    bool known = cpu->msr_claimed || msr_modelled(idx);
    cpu_emit(cpu, CPU_EV_MSR, d->la, idx, v, 1, ok ? 0 : (known ? 1 : 2));
    if (!ok) {
        if (!known)
            cpu->stats.unmodelled_msrs++;
        return gp0(cpu, d);
    }
    return next(cpu, d, cost_table[COST_MSR_ACCESS] + cost_table[COST_SERIALIZING]);
}

static bool h_cpuid(cpu_t *cpu, const struct dec_insn *d)
{
    uint32_t r[4];
    cpuid_query(cpu, (uint32_t)cpu_gpr(cpu, 0), (uint32_t)cpu_gpr(cpu, 1), r);
    cpu_set_gpr(cpu, 0, r[0]);
    cpu_set_gpr(cpu, 3, r[1]);
    cpu_set_gpr(cpu, 1, r[2]);
    cpu_set_gpr(cpu, 2, r[3]);
    return next(cpu, d, cost_table[COST_CPUID]);
}

static bool h_rdtsc(cpu_t *cpu, const struct dec_insn *d)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl > 0)
        return gp0(cpu, d);
    if (d->cls == IC_RDTSCP && !cpu->prof->rdtscp)
        return ud(cpu, d);
    uint64_t tsc = cpu->cycles + cpu->tsc_offset;
    cpu_set_gpr(cpu, 0, tsc & 0xFFFFFFFFu);
    cpu_set_gpr(cpu, 2, tsc >> 32);
    if (d->cls == IC_RDTSCP)
        cpu_set_gpr(cpu, 1, cpu->msr.val[MSR_TSC_AUX] & 0xFFFFFFFFu);
    return next(cpu, d, cost_table[COST_RDTSC]);
}

static bool h_rdpid(cpu_t *cpu, const struct dec_insn *d)
{
    return ud(cpu, d);              /* no profile offers RDPID (CPUID.7.0:ECX[22] = 0) */
}

static bool h_rdpmc(cpu_t *cpu, const struct dec_insn *d)
{
    if (!(cpu->cr4 & CR4_PCE) && cpu->cpl > 0)
        return gp0(cpu, d);
    /* No performance-monitoring counters are modelled (CPUID.0AH = 0), so
     * every ECX value names an invalid counter: #GP(0) (SDM 2B RDPMC). */
    return gp0(cpu, d);
}

/* xoshiro256** (Blackman & Vigna), seeded per LP from the run's seed. */
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t prng_next(cpu_t *cpu)
{
    uint64_t *s = cpu->prng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static bool h_rdrand(cpu_t *cpu, const struct dec_insn *d)
{
    if ((d->cls == IC_RDRAND && !cpu->prof->rdrand) || (d->cls == IC_RDSEED && !cpu->prof->rdseed))
        return ud(cpu, d);
    const cs_x86_op *op = &X(d)->operands[0];
    if (op->type != X86_OP_REG)
        return ud(cpu, d);
    reg_write(cpu, op->reg, prng_next(cpu));
    uint64_t fl = cpu_rflags(cpu) & ~(RF_CF | (1ull << 2) | (1ull << 4) | (1ull << 6) | (1ull << 7) | RF_OF);
    cpu_set_rflags(cpu, fl | RF_CF);
    return next(cpu, d, cost_table[COST_RDRAND]);
}

/* ---- activity ---- */

static bool h_hlt(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    next(cpu, d, cost_table[COST_INSN]);
    cpu->halted = true;
    cpu_emit(cpu, CPU_EV_HALT, d->la, d->la + d->len, cpu_rflags(cpu) & RF_IF ? 1 : 0, 0, 0);
    cpu->pend.kind = PEND_HALT;
    return false;                   /* the run loop reports CPU_STOP_HALTED */
}

static bool h_pause(cpu_t *cpu, const struct dec_insn *d)
{
    return next(cpu, d, cost_table[COST_PAUSE]);
}

static bool h_monitor(cpu_t *cpu, const struct dec_insn *d)
{
    if (!cpu->prof->monitor || cpu->cpl != 0)
        return ud(cpu, d);
    /* MWAIT may return for implementation-specific reasons (SDM 2B MWAIT),
     * and no store to the monitored range can arrive from outside in this
     * model yet, so MONITOR arms nothing and MWAIT returns at once. */
    if (d->cls == IC_MWAIT && (cpu_gpr(cpu, 1) & ~1ull))
        return gp0(cpu, d);
    return next(cpu, d, cost_table[COST_INSN]);
}

/* ---- port I/O (SDM 1 19.5.2 I/O permission bit map) ---- */

static bool io_allowed(cpu_t *cpu, uint16_t port, unsigned size, struct xcpt *x)
{
    if (cpu->cpl <= iopl(cpu))
        return true;
    struct cpu_seg *tr = &cpu->seg[CPU_TR];
    *x = xcpt_gp(0);
    if ((tr->attr & SEG_ATTR_UNUSABLE) || tr->sel == 0 || tr->limit < 0x67)
        return false;
    struct mem_acc a = mem_acc_sys();
    uint16_t base;
    if (mem_read(cpu, &a, tr->base + 0x66, &base, 2, x) != MEM_OK)
        return false;
    uint64_t byte = (uint64_t)base + port / 8;
    if (byte + 1 > tr->limit) {
        *x = xcpt_gp(0);
        return false;
    }
    uint16_t bits;
    if (mem_read(cpu, &a, tr->base + byte, &bits, 2, x) != MEM_OK)
        return false;
    unsigned mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask) {
        *x = xcpt_gp(0);
        return false;
    }
    return true;
}

static unsigned acc_size(unsigned reg)
{
    unsigned w = 1;
    dec_reg_index(reg, &w);
    return w;
}

static bool io_result(cpu_t *cpu, const struct dec_insn *d, enum cpu_io_result r, bool in,
                      uint16_t port, unsigned size)
{
    if (r == CPU_IO_UNMODELLED) {
        cpu_unmodelled(cpu, "%s of %u byte(s) at port %#x: no device decodes this port",
                       in ? "IN" : "OUT", size, port);
        return false;
    }
    return true;
}

static bool h_in_out(cpu_t *cpu, const struct dec_insn *d)
{
    bool in = d->cls == IC_IN;
    const cs_x86 *x = X(d);
    unsigned areg = in ? x->operands[0].reg : x->operands[1].reg;
    const cs_x86_op *pop = in ? &x->operands[1] : &x->operands[0];
    uint16_t port = pop->type == X86_OP_IMM ? (uint16_t)pop->imm : (uint16_t)cpu_gpr(cpu, 2);
    unsigned size = acc_size(areg);
    struct xcpt xc;
    if (!io_allowed(cpu, port, size, &xc))
        return fault(cpu, d, xc);
    enum cpu_io_result r;
    if (in) {
        uint32_t v = 0;
        r = cpu->plat.io_in(cpu->plat.ctx, cpu, port, size, &v);
        if (r != CPU_IO_UNMODELLED)
            reg_write(cpu, areg, v);
        cpu_emit(cpu, CPU_EV_IO, d->la, port, v, size, 0);
    } else {
        uint32_t v = (uint32_t)reg_read(cpu, areg);
        cpu_emit(cpu, CPU_EV_IO, d->la, port, v, size, 1);
        r = cpu->plat.io_out(cpu->plat.ctx, cpu, port, size, v);
    }
    if (!io_result(cpu, d, r, in, port, size))
        return false;
    next(cpu, d, cost_table[COST_PORT_IO]);
    if (r == CPU_IO_STOP) {
        cpu->pend.kind = PEND_PLATFORM;
        return false;
    }
    return true;
}

/* INS/OUTS with optional REP (SDM 2A INS, 2B OUTS). */
static bool h_string_io(cpu_t *cpu, const struct dec_insn *d)
{
    bool in = d->cls == IC_INS;
    const cs_x86 *x = X(d);
    unsigned size = d->id == X86_INS_INSB || d->id == X86_INS_OUTSB ? 1 :
                    d->id == X86_INS_INSW || d->id == X86_INS_OUTSW ? 2 : 4;
    bool rep = x->prefix[0] == X86_PREFIX_REP;
    uint16_t port = (uint16_t)cpu_gpr(cpu, 2);
    struct xcpt xc;
    if (!io_allowed(cpu, port, size, &xc))
        return fault(cpu, d, xc);
    /* the address size decides which part of RCX/RSI/RDI counts and moves */
    uint64_t amask = x->addr_size == 8 ? ~0ull : x->addr_size == 4 ? 0xFFFFFFFFull : 0xFFFFull;
    uint64_t count = rep ? cpu_gpr(cpu, 1) & amask : 1;
    int64_t step = (cpu_rflags(cpu) & RF_DF) ? -(int64_t)size : (int64_t)size;
    unsigned ireg = in ? 7 : 6;     /* RDI or RSI */
    bool b64 = cpu_code_bits(cpu) == 64;
    /* INS writes ES:rDI (no override); OUTS reads DS:rSI or the override's
     * segment. In 64-bit mode only FS and GS have bases. */
    uint64_t seg_base = b64 ? 0 : cpu->seg[in ? CPU_ES : CPU_DS].base;
    if (!in) {
        for (unsigned i = 0; i < x->op_count; i++)
            if (x->operands[i].type == X86_OP_MEM) {
                unsigned sr = x->operands[i].mem.segment;
                if (sr == X86_REG_FS) seg_base = cpu->seg[CPU_FS].base;
                if (sr == X86_REG_GS) seg_base = cpu->seg[CPU_GS].base;
                if (!b64 && sr == X86_REG_ES) seg_base = cpu->seg[CPU_ES].base;
                if (!b64 && sr == X86_REG_CS) seg_base = cpu->seg[CPU_CS].base;
                if (!b64 && sr == X86_REG_SS) seg_base = cpu->seg[CPU_SS].base;
            }
    }
    struct mem_acc a = mem_acc_cur(cpu);
    while (count) {
        uint64_t addr = cpu_gpr(cpu, ireg) & amask;
        if (!b64)
            addr = (addr + seg_base) & 0xFFFFFFFFull;
        else
            addr += seg_base;
        uint32_t v = 0;
        enum cpu_io_result r;
        if (in) {
            r = cpu->plat.io_in(cpu->plat.ctx, cpu, port, size, &v);
            if (!io_result(cpu, d, r, true, port, size))
                return false;
            enum mem_res mr = mem_write(cpu, &a, addr, &v, size, &xc);
            if (mr == MEM_UNMODELLED)
                return false;
            if (mr != MEM_OK)
                return fault(cpu, d, xc);
            cpu_emit(cpu, CPU_EV_IO, d->la, port, v, size, 0);
        } else {
            enum mem_res mr = mem_read(cpu, &a, addr, &v, size, &xc);
            if (mr == MEM_UNMODELLED)
                return false;
            if (mr != MEM_OK)
                return fault(cpu, d, xc);
            cpu_emit(cpu, CPU_EV_IO, d->la, port, v, size, 1);
            r = cpu->plat.io_out(cpu->plat.ctx, cpu, port, size, v);
            if (!io_result(cpu, d, r, false, port, size))
                return false;
        }
        uint64_t iv = cpu_gpr(cpu, ireg);
        cpu_set_gpr(cpu, ireg, x->addr_size == 4 ? ((iv + (uint64_t)step) & amask)
                                                 : (iv & ~amask) | ((iv + (uint64_t)step) & amask));
        count--;
        if (rep) {
            uint64_t cv = cpu_gpr(cpu, 1);
            cpu_set_gpr(cpu, 1, x->addr_size == 4 ? count : (cv & ~amask) | count);
        }
        cpu_charge(cpu, cost_table[COST_PORT_IO]);
        if (r == CPU_IO_STOP) {
            if (count == 0)
                next(cpu, d, 0);
            cpu->pend.kind = PEND_PLATFORM;
            return false;
        }
    }
    return next(cpu, d, 0);
}

/* ---- xAPIC register accesses (SDM 3A 10.4.1) ----
 * The APIC page is never aliased into the engine: an access faults and
 * lands here. Software uses plain 32-bit MOVs (SDM 3A 10.4.1: "registers
 * are ... accessed with 32-bit loads and stores"); anything else is
 * reported as unmodelled, naming the instruction. */
bool sysinsn_mmio(cpu_t *cpu, uint64_t la, uint64_t pa)
{
    uint64_t rip = cpu_rip(cpu);
    struct dec_insn d;
    if (!dec_at(cpu, rip, &d)) {
        cpu_unmodelled(cpu, "the instruction at %#llx that accesses the xAPIC page (linear %#llx) cannot be decoded",
                       (unsigned long long)rip, (unsigned long long)la);
        return false;
    }
    if (la - rip < d.len) {
        cpu_unmodelled(cpu, "instruction fetch from the xAPIC register page (linear %#llx)", (unsigned long long)la);
        return false;
    }
    const cs_x86 *x = X(&d);
    dec_memops(cpu, &d);
    int memi, other;
    dec_mem_other(x, &memi, &other);
    if (d.id != X86_INS_MOV || x->op_count != 2 || memi < 0 || d.nmem != 1 || d.mem[0].ea != la) {
        cpu_unmodelled(cpu, "'%s %s' at %#llx accesses the xAPIC register page (physical %#llx): only 32-bit MOV "
                       "loads and stores to APIC registers are modelled", d.ci->mnemonic, d.ci->op_str,
                       (unsigned long long)rip, (unsigned long long)pa);
        return false;
    }
    bool store = memi == 0;
    /* The access rights of the page (the walk that routed us here was a read). */
    struct pg_ctx pc;
    struct pg_result r;
    cpu_pg_ctx(cpu, &pc, cpu->cpl, false);
    if (store && cpu_walk(cpu, &pc, la, PG_ACC_WRITE, true, &r) == PG_FAULT)
        return fault(cpu, &d, (struct xcpt){ VEC_PF, r.error_code, true, la });
    unsigned off = (unsigned)(pa & 0xFFF), size = d.mem[0].size;
    if (size != 4 || (off & 0xF)) {
        cpu_unmodelled(cpu, "'%s %s' at %#llx: a %u-byte access at xAPIC offset %#x; only aligned 32-bit "
                       "accesses to APIC registers are modelled (SDM 3A 10.4.1)", d.ci->mnemonic, d.ci->op_str,
                       (unsigned long long)rip, size, off);
        return false;
    }
    const cs_x86_op *o = &x->operands[other];
    if (store) {
        uint64_t v;
        if (o->type == X86_OP_IMM) {
            v = (uint64_t)o->imm;
        } else {
            unsigned width = 0, idx = dec_reg_index(o->reg, &width);
            if (idx == ~0u) {
                cpu_unmodelled(cpu, "'%s %s' at %#llx: the source of an xAPIC store must be a general register",
                               d.ci->mnemonic, d.ci->op_str, (unsigned long long)rip);
                return false;
            }
            v = cpu_gpr(cpu, idx);
        }
        cpu_emit(cpu, CPU_EV_APIC, rip, CPU_APIC_WRITE, off, (uint32_t)v, 0);
        if (!apic_mmio_write(cpu, off, size, (uint32_t)v))
            return false;
    } else {
        unsigned width = 0, idx = dec_reg_index(o->reg, &width);
        uint32_t v;
        if (idx == ~0u || width != 4) {
            cpu_unmodelled(cpu, "'%s %s' at %#llx: xAPIC loads must go to a 32-bit general register",
                           d.ci->mnemonic, d.ci->op_str, (unsigned long long)rip);
            return false;
        }
        if (!apic_mmio_read(cpu, off, size, &v))
            return false;
        cpu_emit(cpu, CPU_EV_APIC, rip, CPU_APIC_READ, off, v, 0);
        cpu_set_gpr(cpu, idx, v);                  /* a 32-bit destination zero-extends */
    }
    return next(cpu, &d, cost_table[COST_APIC_ACCESS]);
}

/* ---- flags ---- */

static bool h_cli_sti(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl > iopl(cpu))
        return gp0(cpu, d);
    uint64_t fl = cpu_rflags(cpu);
    if (d->cls == IC_CLI) {
        cpu_set_rflags(cpu, fl & ~RF_IF);
    } else {
        if (!(fl & RF_IF)) {
            cpu->sti_shadow_rip = d->la + d->len;   /* blocking by STI (SDM 3A 6.8.3) */
            cpu->sti_shadow_insns = cpu->insns + 1; /* ... for the one instruction after it */
            cpu->shadow_mov_ss = false;
        }
        cpu_set_rflags(cpu, fl | RF_IF);
    }
    return next(cpu, d, cost_table[COST_INSN]);
}

static void ac_changed(cpu_t *cpu, uint64_t old, uint64_t nw)
{
    if (((old ^ nw) & RF_AC) && (cpu->cr4 & CR4_SMAP) && cpu->cpl < 3)
        view_set_context(cpu->view);           /* the shadows' SMAP rights changed (not the TLB's) */
}

/* PUSHF/PUSHFD/PUSHFQ (SDM 2B PUSHF, APM vol. 3 PUSHFx): the image of
 * RFLAGS with VM and RF cleared, of the operand size (64-bit mode: 8, or 2
 * with 0x66). It is a sensitive instruction only for the AMD-V PUSHF
 * intercept (APM 2 15.9), which cpu_guest_insn offers before this runs. In
 * virtual-8086 mode with IOPL < 3 it is #GP(0) without CR4.VME; VME's
 * virtual interrupt flag is not modelled (POPF stops there too). */
static bool h_pushf(cpu_t *cpu, const struct dec_insn *d)
{
    bool p66 = X(d)->prefix[2] == 0x66;
    unsigned size = cpu_code_bits(cpu) == 64 ? (p66 ? 2 : 8) : insn_opsize(cpu, p66);
    uint64_t fl = cpu_rflags(cpu);
    if ((cpu->cr0 & CR0_PE) && !(cpu->efer & EFER_LMA) && (fl & RF_VM) && iopl(cpu) < 3) {
        if (cpu->cr4 & CR4_VME) {
            cpu_unmodelled(cpu, "PUSHF in virtual-8086 mode with IOPL < 3 and CR4.VME = 1 (the virtual interrupt "
                           "flag) is not modelled");
            return false;
        }
        return gp0(cpu, d);
    }
    uint64_t v = fl & ~(RF_RF | RF_VM);
    struct xcpt xc;
    enum mem_res r = stack_push(cpu, &v, size, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_popf(cpu_t *cpu, const struct dec_insn *d)
{
    bool p66 = X(d)->prefix[2] == 0x66;
    unsigned size = cpu_code_bits(cpu) == 64 ? (p66 ? 2 : 8) : insn_opsize(cpu, p66);
    uint64_t v = 0;
    struct xcpt xc;
    if (cpu->cr0 & CR0_PE && !(cpu->efer & EFER_LMA) && (cpu_rflags(cpu) & RF_VM)) {
        cpu_unmodelled(cpu, "POPF in virtual-8086 mode is not modelled");
        return false;
    }
    enum mem_res r = stack_pop(cpu, &v, size, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    uint64_t old = cpu_rflags(cpu);
    /* Flags POPF may change (SDM 2B POPF, IA-32e mode). */
    uint64_t mask = 0x3F7FD5;           /* CF PF AF ZF SF TF IF DF OF IOPL NT AC VIF VIP ID */
    mask &= ~(RF_VIF | RF_VIP);
    if (cpu->cpl > 0)
        mask &= ~RF_IOPL;
    if (cpu->cpl > iopl(cpu))
        mask &= ~RF_IF;
    if (size == 2)
        mask &= 0xFFFF;
    uint64_t nw = (old & ~mask) | (v & mask);
    nw = (nw & ~(RF_RF | RF_VM)) | RF_FIXED;
    cpu_set_rflags(cpu, nw);
    ac_changed(cpu, old, nw);
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_stac_clac(cpu_t *cpu, const struct dec_insn *d)
{
    if (!cpu->prof->smap || cpu->cpl > 0)
        return ud(cpu, d);
    uint64_t old = cpu_rflags(cpu);
    uint64_t nw = d->cls == IC_STAC ? (old | RF_AC) : (old & ~RF_AC);
    cpu_set_rflags(cpu, nw);
    ac_changed(cpu, old, nw);
    return next(cpu, d, cost_table[COST_INSN]);
}

/* ---- software interrupts ---- */

static bool h_int(cpu_t *cpu, const struct dec_insn *d)
{
    uint64_t nrip = d->la + d->len;
    cpu->insns++;
    switch (d->cls) {
    case IC_INT:
        cpu_deliver(cpu, (unsigned)(X(d)->operands[0].imm & 0xFF), EV_SW_INT, false, 0, nrip, d->la);
        break;
    case IC_INT3:
        cpu_deliver(cpu, VEC_BP, EV_SW_EXCEPTION, false, 0, nrip, d->la);
        break;
    case IC_INT1:
        cpu_deliver(cpu, VEC_DB, EV_PRIV_SW_EXCEPTION, false, 0, nrip, d->la);
        break;
    default:                        /* INTO: invalid in 64-bit mode, #OF when OF = 1 otherwise */
        if (cpu_code_bits(cpu) == 64) {
            cpu->insns--;
            return ud(cpu, d);
        }
        if (!(cpu_rflags(cpu) & RF_OF)) {
            cpu->insns--;                       /* next() counts it */
            return next(cpu, d, cost_table[COST_INSN]);
        }
        cpu_deliver(cpu, VEC_OF, EV_SW_EXCEPTION, false, 0, nrip, d->la);
        break;
    }
    return !(cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL);
}

/* ---- far transfers, IRET, SYSCALL family ---- */

static struct cpu_seg flat_code64(uint16_t sel, unsigned dpl)
{
    return (struct cpu_seg){ .sel = sel, .base = 0, .limit = 0xFFFFFFFF,
                             .attr = 0xB | SEG_ATTR_S | (dpl << 5) | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G };
}

static struct cpu_seg flat_data(uint16_t sel, unsigned dpl)
{
    return (struct cpu_seg){ .sel = sel, .base = 0, .limit = 0xFFFFFFFF,
                             .attr = 0x3 | SEG_ATTR_S | (dpl << 5) | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
}

static struct cpu_seg flat_code32(uint16_t sel, unsigned dpl)
{
    return (struct cpu_seg){ .sel = sel, .base = 0, .limit = 0xFFFFFFFF,
                             .attr = 0xB | SEG_ATTR_S | (dpl << 5) | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G };
}

/* Check and load a code-segment selector for a far transfer to privilege
 * `rpl` (SDM 2A JMP/CALL, 2B RET): 64-bit, compatibility-mode or legacy
 * code segments. */
static int load_code_seg(cpu_t *cpu, uint16_t sel, bool is_ret, struct cpu_seg *out, struct xcpt *x)
{
    if ((sel & 0xFFFC) == 0) {
        *x = xcpt_gp(0);
        return 0;
    }
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, sel, &lo, &hi, x))
        return 0;
    seg_from_descriptor(sel, lo, hi, out);
    unsigned type = out->attr & 0xF, dpl = SEG_ATTR_DPL(out->attr), rpl = sel & 3;
    if (!(out->attr & SEG_ATTR_S)) {
        if (is_ret) {
            *x = xcpt_gp(sel & 0xFFFC);            /* RET/IRET to a system descriptor (SDM 2B RET, IRET) */
            return 0;
        }
        cpu_unmodelled(cpu, "far transfer through a system descriptor (selector %#x, type %u): "
                       "call gates are not modelled", sel, type);
        return -1;
    }
    if (!(type & 8)) {
        *x = xcpt_gp(sel & 0xFFFC);
        return 0;
    }
    bool conforming = type & 4;
    if (is_ret) {
        if (rpl < cpu->cpl || (conforming ? dpl > rpl : dpl != rpl)) {
            *x = xcpt_gp(sel & 0xFFFC);
            return 0;
        }
    } else {
        if (conforming ? dpl > cpu->cpl : (rpl > cpu->cpl || dpl != cpu->cpl)) {
            *x = xcpt_gp(sel & 0xFFFC);
            return 0;
        }
    }
    if (!(out->attr & SEG_ATTR_P)) {
        *x = (struct xcpt){ VEC_NP, sel & 0xFFFCu, true, 0 };
        return 0;
    }
    if ((out->attr & SEG_ATTR_L) && (out->attr & SEG_ATTR_DB)) {
        *x = xcpt_gp(sel & 0xFFFC);                /* L and D both set (SDM 3A 5.2.1) */
        return 0;
    }
    return 1;
}

/* Load SS for a return to an outer privilege level (SDM 2B IRET/RET). */
static int load_ss_for(cpu_t *cpu, uint16_t sel, unsigned new_cpl, struct cpu_seg *out, struct xcpt *x)
{
    if ((sel & 0xFFFC) == 0) {
        if (new_cpl == 3) {
            *x = xcpt_gp(0);
            return 0;
        }
        *out = (struct cpu_seg){ .sel = sel, .attr = SEG_ATTR_UNUSABLE | (new_cpl << 5) };
        return 1;
    }
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, sel, &lo, &hi, x))
        return 0;
    seg_from_descriptor(sel, lo, hi, out);
    unsigned type = out->attr & 0xF;
    if ((sel & 3) != new_cpl || !(out->attr & SEG_ATTR_S) || (type & 8) || !(type & 2) ||
        SEG_ATTR_DPL(out->attr) != new_cpl) {
        *x = xcpt_gp(sel & 0xFFFC);
        return 0;
    }
    if (!(out->attr & SEG_ATTR_P)) {
        *x = (struct xcpt){ VEC_SS, sel & 0xFFFCu, true, 0 };
        return 0;
    }
    return 1;
}

/* Returning to an outer level: data segments the new level may not use
 * become null (SDM 2B IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
static void null_inaccessible_segments(cpu_t *cpu, unsigned new_cpl)
{
    static const enum cpu_segreg segs[] = { CPU_ES, CPU_DS, CPU_FS, CPU_GS };
    for (unsigned i = 0; i < 4; i++) {
        struct cpu_seg *s = &cpu->seg[segs[i]];
        unsigned type = s->attr & 0xF;
        bool conforming_code = (type & 8) && (type & 4);
        if (!(s->attr & SEG_ATTR_UNUSABLE) && !conforming_code && SEG_ATTR_DPL(s->attr) < new_cpl) {
            s->sel = 0;
            s->attr |= SEG_ATTR_UNUSABLE;
            if (segs[i] != CPU_FS && segs[i] != CPU_GS)
                s->base = 0;
            seg_sync_engine(cpu, segs[i]);
        }
    }
}

static bool iret_exec(cpu_t *cpu, const struct dec_insn *d)
{
    unsigned sz = d->id == X86_INS_IRETQ ? 8 : d->id == X86_INS_IRETD ? 4 : 2;
    uint64_t fl = cpu_rflags(cpu);
    if (!(cpu->efer & EFER_LMA)) {
        unsigned old_cpl = cpu->cpl;
        struct xcpt xc;
        if ((cpu->cr0 & CR0_PE) && (fl & RF_NT) && !(fl & RF_VM)) {
            /* TASK-RETURN, before anything is popped (SDM 2B IRET) */
            enum task_res tr = task_iret(cpu, d->la, d->len, &xc);
            if (tr == TASK_FAULT)
                return fault(cpu, d, xc);
            return tr == TASK_DONE;
        }
        int r = legacy_iret(cpu, sz == 8 ? 4 : sz, &xc);
        if (r < 0)
            return false;
        if (r == 0)
            return fault(cpu, d, xc);
        if (cpu->cpl > old_cpl)
            null_inaccessible_segments(cpu, cpu->cpl);
        ac_changed(cpu, fl, cpu_rflags(cpu));
        cpu->insns++;
        cpu_charge(cpu, cost_table[COST_SERIALIZING] + cost_table[COST_SEG_LOAD]);
        return true;
    }
    if (fl & RF_NT)
        return gp0(cpu, d);                     /* no task switch in IA-32e mode */
    /* IA-32e mode (SDM 2B IRET, "IA-32e-MODE"): EIP/RIP, CS and RFLAGS are
     * popped; SS:RSP too when the IRET executes in 64-bit mode or returns
     * to an outer privilege level (from compatibility mode at the same
     * level, SS and ESP stay). */
    bool in64 = cpu_code_bits(cpu) == 64;
    uint64_t rsp0 = cpu_gpr(cpu, 4);
    uint8_t buf[40];
    struct xcpt xc;
    enum mem_res mr = stack_pop(cpu, buf, 3 * sz, &xc);
    uint64_t v[5] = { 0 };
    for (int i = 0; mr == MEM_OK && i < 3; i++)
        memcpy(&v[i], buf + i * sz, sz);
    bool pop_ss = in64 || (mr == MEM_OK && (v[1] & 3) > cpu->cpl);
    if (mr == MEM_OK && pop_ss) {
        mr = stack_pop(cpu, buf, 2 * sz, &xc);
        for (int i = 0; mr == MEM_OK && i < 2; i++)
            memcpy(&v[3 + i], buf + i * sz, sz);
    }
    uint64_t after = cpu_gpr(cpu, 4);
    cpu_set_gpr(cpu, 4, rsp0);                  /* committed below, once nothing can fault */
    if (mr == MEM_UNMODELLED)
        return false;
    if (mr != MEM_OK)
        return fault(cpu, d, xc);
    uint64_t nrip = v[0], nfl = v[2], nrsp = pop_ss ? v[3] : after;
    uint16_t ncs = (uint16_t)v[1], nss = (uint16_t)v[4];
    struct cpu_seg cs, ss = cpu->seg[CPU_SS];
    int r = load_code_seg(cpu, ncs, true, &cs, &xc);
    if (r < 0)
        return false;
    if (r == 0)
        return fault(cpu, d, xc);
    unsigned new_cpl = ncs & 3;
    bool to64 = cs.attr & SEG_ATTR_L;
    if (to64 ? !canon_mask_ok(cpu, nrip) : nrip > cs.limit)
        return gp0(cpu, d);
    if (pop_ss) {
        r = load_ss_for(cpu, nss, new_cpl, &ss, &xc);
        if (r == 0)
            return fault(cpu, d, xc);
    }
    /* RFLAGS (SDM 2B IRET): IOPL only at CPL 0, IF only if CPL <= IOPL. */
    uint64_t mask = 0x3F7FD5 & ~RF_VM;
    if (cpu->cpl > 0)
        mask &= ~RF_IOPL;
    if (cpu->cpl > iopl(cpu))
        mask &= ~(RF_IF | RF_VIF | RF_VIP);
    if (sz == 2)
        mask &= 0xFFFF;
    uint64_t newfl = ((fl & ~mask) | (nfl & mask) | RF_FIXED) & ~RF_RF;
    if (sz == 4)
        newfl = (newfl & ~0xFFFFFFFF00000000ull);
    cs.sel = ncs;
    unsigned old_cpl = cpu->cpl;
    cpu->seg[CPU_CS] = cs;
    cpu->seg[CPU_SS] = ss;
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    cpu_set_rflags(cpu, newfl);
    cpu_set_gpr(cpu, 4, pop_ss && sz == 4 ? (nrsp & 0xFFFFFFFFu) : nrsp);
    cpu_set_ip(cpu, nrip);
    seg_set_cpl(cpu, new_cpl);
    if (new_cpl > old_cpl)
        null_inaccessible_segments(cpu, new_cpl);
    ac_changed(cpu, fl, newfl);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_SERIALIZING] + cost_table[COST_SEG_LOAD] * 2);
    return true;
}

/* IRET removes blocking by NMI even if it faults (SDM 3A 6.7.1). In VMX
 * non-root operation (SDM 3C 26.3 "IRET"): with "NMI exiting" it leaves
 * blocking by NMI alone, and with "virtual NMIs" it removes virtual-NMI
 * blocking instead. While it executes, iret_unblocked_nmi says whether it
 * removed either: a fault or EPT violation it causes reports "NMI
 * unblocking due to IRET" (SDM 3C 28.2.3). */
static bool h_iret(cpu_t *cpu, const struct dec_insn *d)
{
    bool unblocked;
    if (cpu->guest_mode && cpu->guest_nmi_exiting) {
        unblocked = cpu->guest_vnmi && cpu->vnmi_blocked;
        if (cpu->guest_vnmi)
            cpu->vnmi_blocked = false;
    } else {
        unblocked = cpu->nmi_blocked;
        cpu->nmi_blocked = false;
    }
    cpu->iret_unblocked_nmi = unblocked;
    bool ok = iret_exec(cpu, d);
    cpu->iret_unblocked_nmi = false;
    return ok;
}

static bool h_far_ret(cpu_t *cpu, const struct dec_insn *d)
{
    unsigned sz = d->id == X86_INS_RETFQ ? 8 : (X(d)->prefix[2] == 0x66 ? 2 : 4);
    uint64_t imm = X(d)->op_count && X(d)->operands[0].type == X86_OP_IMM ? (uint64_t)X(d)->operands[0].imm : 0;
    if (!(cpu->efer & EFER_LMA)) {
        struct xcpt lx;
        unsigned old_cpl = cpu->cpl;
        int lr = legacy_far_ret(cpu, insn_opsize(cpu, X(d)->prefix[2] == 0x66), (unsigned)imm & 0xFFFF, &lx);
        if (lr < 0)
            return false;
        if (lr == 0)
            return fault(cpu, d, lx);
        if (cpu->cpl > old_cpl)
            null_inaccessible_segments(cpu, cpu->cpl);
        cpu->insns++;
        cpu_charge(cpu, cost_table[COST_SEG_LOAD] * 2);
        return true;
    }
    uint64_t rsp = cpu_gpr(cpu, 4);
    uint8_t buf[32];
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = true;
    struct xcpt xc;
    enum mem_res mr = mem_read(cpu, &a, rsp, buf, 2 * sz, &xc);
    if (mr == MEM_UNMODELLED)
        return false;
    if (mr != MEM_OK)
        return fault(cpu, d, xc);
    uint64_t nrip = 0, ncs = 0;
    memcpy(&nrip, buf, sz);
    memcpy(&ncs, buf + sz, sz);
    struct cpu_seg cs, ss;
    int r = load_code_seg(cpu, (uint16_t)ncs, true, &cs, &xc);
    if (r < 0)
        return false;
    if (r == 0)
        return fault(cpu, d, xc);
    unsigned new_cpl = ncs & 3;
    if (!canon_mask_ok(cpu, nrip))
        return gp0(cpu, d);
    uint64_t nrsp = rsp + 2 * sz + imm;
    bool outer = new_cpl > cpu->cpl;
    if (outer) {
        uint64_t v[2] = { 0, 0 };
        mr = mem_read(cpu, &a, nrsp, buf, 2 * sz, &xc);
        if (mr == MEM_UNMODELLED)
            return false;
        if (mr != MEM_OK)
            return fault(cpu, d, xc);
        memcpy(&v[0], buf, sz);
        memcpy(&v[1], buf + sz, sz);
        r = load_ss_for(cpu, (uint16_t)v[1], new_cpl, &ss, &xc);
        if (r == 0)
            return fault(cpu, d, xc);
        nrsp = v[0] + imm;
        cpu->seg[CPU_SS] = ss;
        seg_sync_engine(cpu, CPU_SS);
    }
    cs.sel = (uint16_t)ncs;
    cpu->seg[CPU_CS] = cs;
    seg_sync_engine(cpu, CPU_CS);
    cpu_set_gpr(cpu, 4, nrsp);
    cpu_set_rip(cpu, nrip);
    seg_set_cpl(cpu, new_cpl);
    if (outer)
        null_inaccessible_segments(cpu, new_cpl);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_SEG_LOAD] * 2);
    return true;
}

/* JMP/CALL far: through a memory operand m16:16, m16:32 or m16:64, or
 * (outside 64-bit mode, where Capstone decodes it) the direct ptr16:16 /
 * ptr16:32 form. Protected mode only: real-mode far transfers are not
 * modelled yet. */
static bool h_far_jmp_call(cpu_t *cpu, const struct dec_insn *d)
{
    const cs_x86 *x = X(d);
    const cs_x86_op *op = &x->operands[0];
    uint64_t target = 0;
    uint16_t sel;
    unsigned osz;
    struct xcpt xc;
    enum mem_res mr;
    if (x->op_count == 2 && op->type == X86_OP_IMM && x->operands[1].type == X86_OP_IMM) {
        sel = (uint16_t)op->imm;
        target = (uint64_t)x->operands[1].imm;
        osz = x->operands[1].size ? x->operands[1].size : (cpu_code_bits(cpu) == 16 ? 2 : 4);
        target &= osz == 2 ? 0xFFFFull : 0xFFFFFFFFull;
    } else if (op->type == X86_OP_MEM) {
        /* m16:16, m16:32, or m16:64 with REX.W in 64-bit mode, where the
         * default is m16:32 (SDM 2A JMP/CALL); Capstone reports 10 bytes for
         * FF /5 in 64-bit mode with or without REX.W */
        bool p66 = x->prefix[2] == 0x66;
        osz = cpu_code_bits(cpu) == 64 ? ((x->rex & 8) ? 8 : p66 ? 2 : 4) : insn_opsize(cpu, p66);
        uint8_t buf[10];
        struct mem_acc a = mem_acc_cur(cpu);
        a.stack = op_is_stack(op);
        mr = mem_read(cpu, &a, op_ea(cpu, d, 0), buf, osz + 2, &xc);
        if (mr == MEM_UNMODELLED)
            return false;
        if (mr != MEM_OK)
            return fault(cpu, d, xc);
        memcpy(&target, buf, osz);
        memcpy(&sel, buf + osz, 2);
    } else {
        return ud(cpu, d);
    }
    uint64_t ret_ip = d->la + d->len - cpu_cs_base(cpu);
    if (!(cpu->cr0 & CR0_PE)) {
        /* Real mode (SDM 2B JMP/CALL far, real-address mode): no descriptor. */
        if (d->cls == IC_FAR_CALL) {
            uint8_t fb[8];
            uint32_t ocs = cpu->seg[CPU_CS].sel, oip = (uint32_t)ret_ip;
            memcpy(fb, &oip, osz);
            memcpy(fb + osz, &ocs, osz);
            mr = stack_push(cpu, fb, 2 * osz, &xc);
            if (mr == MEM_UNMODELLED)
                return false;
            if (mr != MEM_OK)
                return fault(cpu, d, xc);
        }
        legacy_set_cs_real(cpu, sel);
        cpu_set_ip(cpu, target);
        cpu->insns++;
        cpu_charge(cpu, cost_table[COST_SEG_LOAD]);
        return true;
    }
    /* a task gate or TSS descriptor: a task switch (task.c) */
    enum task_res tr = task_far_transfer(cpu, sel, d->cls == IC_FAR_CALL, d->la, d->len, &xc);
    if (tr == TASK_FAULT)
        return fault(cpu, d, xc);
    if (tr != TASK_NONE)
        return tr == TASK_DONE;
    struct cpu_seg cs;
    int r = load_code_seg(cpu, sel, false, &cs, &xc);
    if (r < 0)
        return false;
    if (r == 0)
        return fault(cpu, d, xc);
    bool to64 = (cpu->efer & EFER_LMA) && (cs.attr & SEG_ATTR_L);
    if (to64 ? !canon_mask_ok(cpu, target) : target > cs.limit)
        return gp0(cpu, d);
    if (d->cls == IC_FAR_CALL) {
        uint64_t frame[2] = { ret_ip, cpu->seg[CPU_CS].sel };
        uint8_t fb[16];
        memcpy(fb, &frame[0], osz);
        memcpy(fb + osz, &frame[1], osz);
        mr = stack_push(cpu, fb, 2 * osz, &xc);
        if (mr == MEM_UNMODELLED)
            return false;
        if (mr != MEM_OK)
            return fault(cpu, d, xc);
    }
    cs.sel = (uint16_t)((sel & 0xFFFC) | cpu->cpl);
    unsigned old_bits = cpu_code_bits(cpu);
    cpu->seg[CPU_CS] = cs;
    if (cpu_code_bits(cpu) != old_bits)
        cpu->eng_mode_dirty = true;
    seg_sync_engine(cpu, CPU_CS);
    cpu_set_ip(cpu, target);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_SEG_LOAD]);
    return true;
}

static bool h_syscall(cpu_t *cpu, const struct dec_insn *d)
{
    if (!(cpu->efer & EFER_SCE) || !(cpu->efer & EFER_LMA))
        return ud(cpu, d);
    uint64_t star = cpu->msr.val[MSR_STAR];
    uint64_t fl = cpu_rflags(cpu);
    cpu_set_gpr(cpu, 1, d->la + d->len);
    cpu_set_gpr(cpu, 11, fl);
    uint16_t sel = (uint16_t)((star >> 32) & 0xFFFC);
    cpu->seg[CPU_CS] = flat_code64(sel, 0);
    cpu->seg[CPU_SS] = flat_data((uint16_t)(sel + 8), 0);
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    uint64_t nfl = (fl & ~cpu->msr.val[MSR_FMASK] & ~RF_RF) | RF_FIXED;
    cpu_set_rflags(cpu, nfl);
    cpu_set_rip(cpu, cpu->msr.val[MSR_LSTAR]);
    seg_set_cpl(cpu, 0);
    ac_changed(cpu, fl, nfl);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_PRIV_SWITCH]);
    return true;
}

static bool h_sysret(cpu_t *cpu, const struct dec_insn *d)
{
    if (!(cpu->efer & EFER_SCE))
        return ud(cpu, d);
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    bool rexw = X(d)->rex & 8;
    if (!rexw) {
        cpu_unmodelled(cpu, "SYSRET to compatibility mode (no REX.W): only 64-bit mode is modelled so far");
        return false;
    }
    uint64_t rcx = cpu_gpr(cpu, 1);
    /* Intel raises #GP(0) in ring 0 for a non-canonical RCX; AMD loads it
     * and faults on the first fetch in ring 3 (SDM 2B SYSRET; APM vol. 3). */
    if (!cpu->prof->is_amd && !canon_mask_ok(cpu, rcx))
        return gp0(cpu, d);
    uint64_t star = cpu->msr.val[MSR_STAR];
    uint16_t base = (uint16_t)(star >> 48);
    uint64_t old = cpu_rflags(cpu);
    cpu->seg[CPU_CS] = flat_code64((uint16_t)((base + 16) | 3), 3);
    cpu->seg[CPU_SS] = flat_data((uint16_t)((base + 8) | 3), 3);
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    uint64_t nfl = (cpu_gpr(cpu, 11) & 0x3C7FD7) | RF_FIXED;
    cpu_set_rflags(cpu, nfl);
    cpu_set_rip(cpu, rcx);
    seg_set_cpl(cpu, 3);
    ac_changed(cpu, old, nfl);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_PRIV_SWITCH]);
    return true;
}

static bool h_sysenter(cpu_t *cpu, const struct dec_insn *d)
{
    bool ia32e = cpu->efer & EFER_LMA;
    if (ia32e && !cpu->prof->sysenter_in_long_mode)
        return ud(cpu, d);                    /* AMD: #UD in long mode (APM vol. 3) */
    uint64_t cs = cpu->msr.val[MSR_SYSENTER_CS];
    if (!(cpu->cr0 & CR0_PE) || (cs & 0xFFFC) == 0)
        return gp0(cpu, d);                   /* SDM 2B SYSENTER */
    uint64_t old = cpu_rflags(cpu);
    /* IA-32e mode: a 64-bit CS; otherwise a flat 32-bit one (SDM 2B SYSENTER). */
    cpu->seg[CPU_CS] = ia32e ? flat_code64((uint16_t)(cs & 0xFFFC), 0) : flat_code32((uint16_t)(cs & 0xFFFC), 0);
    cpu->seg[CPU_SS] = flat_data((uint16_t)((cs & 0xFFFC) + 8), 0);
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    cpu_set_rflags(cpu, old & ~(RF_VM | RF_IF | RF_RF));
    cpu_set_gpr(cpu, 4, ia32e ? cpu->msr.val[MSR_SYSENTER_ESP] : cpu->msr.val[MSR_SYSENTER_ESP] & 0xFFFFFFFFu);
    cpu->eng_mode_dirty = true;
    cpu_set_ip(cpu, ia32e ? cpu->msr.val[MSR_SYSENTER_EIP] : cpu->msr.val[MSR_SYSENTER_EIP] & 0xFFFFFFFFu);
    seg_set_cpl(cpu, 0);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_PRIV_SWITCH]);
    return true;
}

static bool h_sysexit(cpu_t *cpu, const struct dec_insn *d)
{
    bool ia32e = cpu->efer & EFER_LMA;
    if (ia32e && !cpu->prof->sysenter_in_long_mode)
        return ud(cpu, d);
    uint64_t cs = cpu->msr.val[MSR_SYSENTER_CS];
    if (!(cpu->cr0 & CR0_PE) || cpu->cpl != 0 || (cs & 0xFFFC) == 0)
        return gp0(cpu, d);
    if (!ia32e) {
        /* Protected mode: flat 32-bit CS = SYSENTER_CS + 16, SS = + 24, RPL 3;
         * EIP = EDX, ESP = ECX (SDM 2B SYSEXIT). */
        cpu->seg[CPU_CS] = flat_code32((uint16_t)(((cs & 0xFFFC) + 16) | 3), 3);
        cpu->seg[CPU_SS] = flat_data((uint16_t)(((cs & 0xFFFC) + 24) | 3), 3);
        seg_sync_engine(cpu, CPU_CS);
        seg_sync_engine(cpu, CPU_SS);
        cpu->eng_mode_dirty = true;
        cpu_set_gpr(cpu, 4, cpu_gpr(cpu, 1) & 0xFFFFFFFFu);
        cpu_set_ip(cpu, cpu_gpr(cpu, 2) & 0xFFFFFFFFu);
        seg_set_cpl(cpu, 3);
        cpu->insns++;
        cpu_charge(cpu, cost_table[COST_PRIV_SWITCH]);
        return true;
    }
    if (!(X(d)->rex & 8)) {
        cpu_unmodelled(cpu, "SYSEXIT to compatibility mode (no REX.W): only 64-bit mode is modelled so far");
        return false;
    }
    uint64_t rdx = cpu_gpr(cpu, 2), rcx = cpu_gpr(cpu, 1);
    if (!canon_mask_ok(cpu, rdx) || !canon_mask_ok(cpu, rcx))
        return gp0(cpu, d);
    cpu->seg[CPU_CS] = flat_code64((uint16_t)(((cs & 0xFFFC) + 32) | 3), 3);
    cpu->seg[CPU_SS] = flat_data((uint16_t)(((cs & 0xFFFC) + 40) | 3), 3);
    seg_sync_engine(cpu, CPU_CS);
    seg_sync_engine(cpu, CPU_SS);
    cpu_set_gpr(cpu, 4, rcx);
    cpu_set_rip(cpu, rdx);
    seg_set_cpl(cpu, 3);
    cpu->insns++;
    cpu_charge(cpu, cost_table[COST_PRIV_SWITCH]);
    return true;
}

/* ---- segment registers ---- */

static enum cpu_segreg sreg_of(unsigned reg)
{
    switch (reg) {
    case X86_REG_ES: return CPU_ES;
    case X86_REG_CS: return CPU_CS;
    case X86_REG_SS: return CPU_SS;
    case X86_REG_DS: return CPU_DS;
    case X86_REG_FS: return CPU_FS;
    default: return CPU_GS;
    }
}

static bool h_mov_sreg(cpu_t *cpu, const struct dec_insn *d)
{
    enum cpu_segreg s = sreg_of(X(d)->operands[0].reg);
    if (s == CPU_CS)
        return ud(cpu, d);
    uint64_t v;
    struct xcpt xc;
    if (!op_read(cpu, d, 1, &v, &xc))
        return op_failed(cpu, d, xc);
    if (!seg_load_data(cpu, s, (uint16_t)v, &xc))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, xc);
    if (s == CPU_SS) {
        cpu->sti_shadow_rip = d->la + d->len;      /* blocking by MOV SS */
        cpu->sti_shadow_insns = cpu->insns + 1;
        cpu->shadow_mov_ss = true;
    }
    return next(cpu, d, cost_table[COST_SEG_LOAD]);
}

static bool h_pop_sreg(cpu_t *cpu, const struct dec_insn *d)
{
    enum cpu_segreg s = sreg_of(X(d)->operands[0].reg);
    bool p66 = X(d)->prefix[2] == 0x66;
    unsigned size = cpu_code_bits(cpu) == 64 ? (p66 ? 2 : 8) : insn_opsize(cpu, p66);
    uint64_t rsp = cpu_gpr(cpu, 4), v = 0;
    struct xcpt xc;
    /* POP DS/ES/SS/FS/GS: the load happens before RSP moves, so a faulting
     * load leaves the stack as it was (SDM 2B POP). */
    enum mem_res r = stack_pop(cpu, &v, size, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    uint64_t nrsp = cpu_gpr(cpu, 4);
    cpu_set_gpr(cpu, 4, rsp);
    if (!seg_load_data(cpu, s, (uint16_t)v, &xc))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, xc);
    cpu_set_gpr(cpu, 4, nrsp);
    if (s == CPU_SS) {
        cpu->sti_shadow_rip = d->la + d->len;      /* POP SS blocks like MOV SS (SDM 3A 6.8.3) */
        cpu->sti_shadow_insns = cpu->insns + 1;
        cpu->shadow_mov_ss = true;
    }
    return next(cpu, d, cost_table[COST_SEG_LOAD]);
}

static bool h_load_farptr(cpu_t *cpu, const struct dec_insn *d)
{
    enum cpu_segreg s = d->id == X86_INS_LSS ? CPU_SS : d->id == X86_INS_LFS ? CPU_FS :
                        d->id == X86_INS_LDS ? CPU_DS : d->id == X86_INS_LES ? CPU_ES : CPU_GS;
    const cs_x86_op *dst = &X(d)->operands[0];
    unsigned w = 8;
    dec_reg_index(dst->reg, &w);
    uint8_t buf[10];
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = op_is_stack(&X(d)->operands[1]);
    struct xcpt xc;
    enum mem_res r = mem_read(cpu, &a, op_ea(cpu, d, 1), buf, w + 2, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    uint64_t off = 0;
    uint16_t sel;
    memcpy(&off, buf, w);
    memcpy(&sel, buf + w, 2);
    if (!seg_load_data(cpu, s, sel, &xc))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, xc);
    reg_write(cpu, dst->reg, off);
    return next(cpu, d, cost_table[COST_SEG_LOAD]);
}

/* LAR, LSL, VERR, VERW (SDM 2A/2B): ZF reports whether the descriptor is
 * visible at the current privilege level and of an acceptable type. */
static bool h_desc_query(cpu_t *cpu, const struct dec_insn *d)
{
    bool verx = d->cls == IC_VERR || d->cls == IC_VERW;
    uint64_t selv;
    struct xcpt xc;
    if (!op_read(cpu, d, verx ? 0 : 1, &selv, &xc))
        return op_failed(cpu, d, xc);
    uint16_t sel = (uint16_t)selv;
    bool ok = false;
    uint64_t lo = 0, hi = 0;
    if ((sel & 0xFFFC) != 0) {
        struct xcpt ig;
        ok = seg_read_descriptor(cpu, sel, &lo, &hi, &ig);
        if (!ok && (ig.vector == VEC_PF || ig.vector == VEC_SLAT))
            return fault(cpu, d, ig);
    }
    struct cpu_seg s = { 0 };
    if (ok) {
        seg_from_descriptor(sel, lo, hi, &s);
        unsigned type = s.attr & 0xF, dpl = SEG_ATTR_DPL(s.attr), rpl = sel & 3;
        bool sys = !(s.attr & SEG_ATTR_S);
        bool conforming = !sys && (type & 0xC) == 0xC;
        if (!conforming && (dpl < cpu->cpl || dpl < rpl))
            ok = false;
        if (ok && sys) {
            /* IA-32e mode: LAR accepts LDT(2), TSS avail/busy(9,B), call gate(C);
             * LSL accepts LDT and TSS; VERR/VERW accept no system segment.
             * Outside it the 16-bit TSSs (1, 3), 16-bit call gates (4) and
             * task gates (5) are valid for LAR, and 1 and 3 for LSL (SDM 2A
             * LAR table 3-52, LSL table 3-60). */
            bool legacy = !(cpu->efer & EFER_LMA);
            if (verx)
                ok = false;
            else if (d->cls == IC_LAR)
                ok = type == 2 || type == 9 || type == 0xB || type == 0xC ||
                     (legacy && (type == 1 || type == 3 || type == 4 || type == 5));
            else
                ok = type == 2 || type == 9 || type == 0xB || (legacy && (type == 1 || type == 3));
        } else if (ok) {
            if (d->cls == IC_VERR)
                ok = !(type & 8) || (type & 2);               /* data, or readable code */
            else if (d->cls == IC_VERW)
                ok = !(type & 8) && (type & 2);               /* writable data */
        }
    }
    uint64_t fl = cpu_rflags(cpu) & ~(1ull << 6);
    if (ok) {
        fl |= 1ull << 6;
        if (d->cls == IC_LAR)
            reg_write(cpu, X(d)->operands[0].reg, lo >> 32 & 0x00FFFF00u);
        else if (d->cls == IC_LSL)
            reg_write(cpu, X(d)->operands[0].reg, s.limit);
    }
    cpu_set_rflags(cpu, fl);
    return next(cpu, d, cost_table[COST_SEG_LOAD]);
}

/* ---- descriptor tables ---- */

static bool h_lgdt_lidt(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    if (X(d)->operands[0].type != X86_OP_MEM)
        return ud(cpu, d);
    /* m16&64 in 64-bit mode, m16&32 otherwise (with a 16-bit operand size
     * only base bits 23:0 are loaded, SDM 2A LGDT/LIDT) */
    bool b64 = cpu_code_bits(cpu) == 64;
    unsigned n = b64 ? 10 : 6;
    uint8_t buf[10] = { 0 };
    struct mem_acc a = mem_acc_cur(cpu);
    struct xcpt xc;
    enum mem_res r = mem_read(cpu, &a, op_ea(cpu, d, 0), buf, n, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    struct cpu_dtr t = { 0, 0 };
    memcpy(&t.limit, buf, 2);
    memcpy(&t.base, buf + 2, n - 2);
    bool o16 = X(d)->prefix[2] == 0x66 ? cpu_code_bits(cpu) == 32 : cpu_code_bits(cpu) == 16;
    if (!b64 && o16)
        t.base &= 0xFFFFFF;
    if (!canon_mask_ok(cpu, t.base))
        return gp0(cpu, d);
    if (d->cls == IC_LGDT)
        cpu->gdtr = t;
    else
        cpu->idtr = t;
    return next(cpu, d, cost_table[COST_DESC_TABLE]);
}

static bool h_sgdt_sidt(cpu_t *cpu, const struct dec_insn *d)
{
    if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
        return gp0(cpu, d);
    if (X(d)->operands[0].type != X86_OP_MEM)
        return ud(cpu, d);
    const struct cpu_dtr *t = d->cls == IC_SGDT ? &cpu->gdtr : &cpu->idtr;
    /* m16&64 in 64-bit mode, m16&32 otherwise (SDM 2A SGDT/SIDT: all 32
     * base bits are stored whatever the operand size, on current parts) */
    unsigned n = cpu_code_bits(cpu) == 64 ? 10 : 6;
    uint8_t buf[10];
    memcpy(buf, &t->limit, 2);
    memcpy(buf + 2, &t->base, 8);
    struct mem_acc a = mem_acc_cur(cpu);
    struct xcpt xc;
    enum mem_res r = mem_write(cpu, &a, op_ea(cpu, d, 0), buf, n, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_sldt_str(cpu_t *cpu, const struct dec_insn *d)
{
    if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
        return gp0(cpu, d);
    uint16_t sel = d->cls == IC_SLDT ? cpu->seg[CPU_LDTR].sel : cpu->seg[CPU_TR].sel;
    struct xcpt xc;
    const cs_x86_op *op = &X(d)->operands[0];
    uint64_t v = sel;
    if (op->type == X86_OP_MEM) {
        struct mem_acc a = mem_acc_cur(cpu);
        enum mem_res r = mem_write(cpu, &a, op_ea(cpu, d, 0), &v, 2, &xc);
        if (r == MEM_UNMODELLED)
            return false;
        if (r != MEM_OK)
            return fault(cpu, d, xc);
    } else {
        reg_write(cpu, op->reg, v);
    }
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_lldt_ltr(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint64_t v;
    struct xcpt xc;
    if (!op_read(cpu, d, 0, &v, &xc))
        return op_failed(cpu, d, xc);
    uint16_t sel = (uint16_t)v;
    bool ltr = d->cls == IC_LTR;
    if ((sel & 0xFFFC) == 0) {
        if (ltr)
            return gp0(cpu, d);
        cpu->seg[CPU_LDTR] = (struct cpu_seg){ .sel = sel, .attr = SEG_ATTR_UNUSABLE };
        return next(cpu, d, cost_table[COST_DESC_TABLE]);
    }
    if (sel & 4)
        return fault(cpu, d, xcpt_gp(sel & 0xFFFC));
    uint64_t lo, hi;
    if (!seg_read_descriptor(cpu, sel, &lo, &hi, &xc))
        return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, xc);
    struct cpu_seg s;
    seg_from_descriptor(sel, lo, hi, &s);
    unsigned type = s.attr & 0xF;
    /* An available TSS (64-bit in IA-32e mode; 32- or 16-bit otherwise) or an LDT. */
    bool want = ltr ? (type == 9 || (type == 1 && !(cpu->efer & EFER_LMA))) : type == 2;
    if ((s.attr & SEG_ATTR_S) || !want)
        return fault(cpu, d, xcpt_gp(sel & 0xFFFC));
    if (!(s.attr & SEG_ATTR_P))
        return fault(cpu, d, (struct xcpt){ VEC_NP, sel & 0xFFFCu, true, 0 });
    if (!canon_mask_ok(cpu, s.base))
        return fault(cpu, d, xcpt_gp(sel & 0xFFFC));
    if (ltr) {
        /* Mark the descriptor busy in the GDT (SDM 2A LTR). */
        uint64_t nlo = lo | (2ull << 40);
        struct mem_acc a = mem_acc_sys();
        enum mem_res r = mem_write(cpu, &a, cpu->gdtr.base + (sel & 0xFFF8), &nlo, 8, &xc);
        if (r == MEM_UNMODELLED)
            return false;
        if (r != MEM_OK)
            return fault(cpu, d, xc);
        s.attr |= 2;
        cpu->seg[CPU_TR] = s;
    } else {
        cpu->seg[CPU_LDTR] = s;
    }
    return next(cpu, d, cost_table[COST_DESC_TABLE]);
}

/* ---- TLB and caches ---- */

static bool h_invlpg(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    if (X(d)->operands[0].type != X86_OP_MEM)
        return ud(cpu, d);
    uint64_t la = op_ea(cpu, d, 0);
    if (canon_mask_ok(cpu, la))                 /* a non-canonical INVLPG is a no-op */
        view_invlpg(cpu->view, la);
    cpu_emit(cpu, CPU_EV_TLB_INVAL, d->la, CPU_INVAL_INVLPG, la, 0, 0);
    return next(cpu, d, cost_table[COST_TLB_FLUSH]);
}

static bool h_invpcid(cpu_t *cpu, const struct dec_insn *d)
{
    if (!cpu->prof->invpcid)
        return ud(cpu, d);
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint64_t type = reg_read(cpu, X(d)->operands[0].reg);
    uint64_t desc[2];
    struct mem_acc a = mem_acc_cur(cpu);
    struct xcpt xc;
    enum mem_res r = mem_read(cpu, &a, op_ea(cpu, d, 1), desc, 16, &xc);
    if (r == MEM_UNMODELLED)
        return false;
    if (r != MEM_OK)
        return fault(cpu, d, xc);
    uint16_t pcid = desc[0] & 0xFFF;
    bool pcide = cpu->cr4 & CR4_PCIDE;
    if (type > 3 || (desc[0] >> 12))
        return gp0(cpu, d);
    switch (type) {
    case 0:                                       /* individual address */
        if (!canon_mask_ok(cpu, desc[1]) || (!pcide && pcid))
            return gp0(cpu, d);
        view_invpcid_addr(cpu->view, desc[1], pcid);
        break;
    case 1:                                       /* single context, globals kept */
        if (!pcide && pcid)
            return gp0(cpu, d);
        view_flush_pcid(cpu->view, pcid, true);
        break;
    case 2:                                       /* all contexts including globals */
        view_flush(cpu->view, false);
        break;
    case 3:                                       /* all contexts except globals */
        view_flush(cpu->view, true);
        break;
    }
    view_set_context(cpu->view);
    cpu_emit(cpu, CPU_EV_TLB_INVAL, d->la, CPU_INVAL_INVPCID, type, pcid, desc[1]);
    return next(cpu, d, cost_table[COST_TLB_FLUSH]);
}

static bool h_cache(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    return next(cpu, d, cost_table[COST_CACHE_FLUSH]);
}

static bool h_xsetbv_xgetbv(cpu_t *cpu, const struct dec_insn *d)
{
    /* No profile offers XSAVE, so CR4.OSXSAVE cannot be set and both
     * instructions raise #UD (SDM 2B XSETBV/XGETBV). */
    if (!cpu->prof->xsave || !(cpu->cr4 & CR4_OSXSAVE))
        return ud(cpu, d);
    cpu_unmodelled(cpu, "XSETBV/XGETBV with XSAVE enabled is not modelled");
    return false;
}

static bool h_swapgs(cpu_t *cpu, const struct dec_insn *d)
{
    if (cpu_code_bits(cpu) != 64)
        return ud(cpu, d);                    /* SDM 2B SWAPGS: #UD outside 64-bit mode */
    if (cpu->cpl != 0)
        return gp0(cpu, d);
    uint64_t k = cpu->msr.val[MSR_KERNEL_GS_BASE];
    cpu->msr.val[MSR_KERNEL_GS_BASE] = cpu->seg[CPU_GS].base;
    cpu->seg[CPU_GS].base = k;
    seg_sync_engine(cpu, CPU_GS);
    return next(cpu, d, cost_table[COST_INSN]);
}

static bool h_fsgsbase(cpu_t *cpu, const struct dec_insn *d)
{
    if (!(cpu->cr4 & CR4_FSGSBASE) || cpu_code_bits(cpu) != 64)
        return ud(cpu, d);                    /* 64-bit mode only (SDM 2B RDFSBASE) */
    bool fs = d->id == X86_INS_RDFSBASE || d->id == X86_INS_WRFSBASE;
    bool wr = d->id == X86_INS_WRFSBASE || d->id == X86_INS_WRGSBASE;
    enum cpu_segreg s = fs ? CPU_FS : CPU_GS;
    unsigned reg = X(d)->operands[0].reg;
    if (wr) {
        uint64_t v = reg_read(cpu, reg);
        if (!canon_mask_ok(cpu, v))
            return gp0(cpu, d);
        cpu->seg[s].base = v;
        seg_sync_engine(cpu, s);
    } else {
        reg_write(cpu, reg, cpu->seg[s].base);
    }
    return next(cpu, d, cost_table[COST_INSN]);
}

/* ---- VMX and SVM instructions: decoded here, executed by the model ---- */

static const struct { unsigned cs_id; enum cpu_virt_id id; const char *name; enum cost_event cost; } virt_insns[] = {
    { X86_INS_VMXON, CPU_VI_VMXON, "vmxon", COST_VMX_ONOFF },
    { X86_INS_VMXOFF, CPU_VI_VMXOFF, "vmxoff", COST_VMX_ONOFF },
    { X86_INS_VMCLEAR, CPU_VI_VMCLEAR, "vmclear", COST_VMX_PTR },
    { X86_INS_VMPTRLD, CPU_VI_VMPTRLD, "vmptrld", COST_VMX_PTR },
    { X86_INS_VMPTRST, CPU_VI_VMPTRST, "vmptrst", COST_VMX_FIELD },
    { X86_INS_VMREAD, CPU_VI_VMREAD, "vmread", COST_VMX_FIELD },
    { X86_INS_VMWRITE, CPU_VI_VMWRITE, "vmwrite", COST_VMX_FIELD },
    { X86_INS_VMLAUNCH, CPU_VI_VMLAUNCH, "vmlaunch", COST_VMX_PTR },
    { X86_INS_VMRESUME, CPU_VI_VMRESUME, "vmresume", COST_VMX_PTR },
    { X86_INS_VMCALL, CPU_VI_VMCALL, "vmcall", COST_VMX_PTR },
    { X86_INS_VMFUNC, CPU_VI_VMFUNC, "vmfunc", COST_VMX_PTR },
    { X86_INS_INVEPT, CPU_VI_INVEPT, "invept", COST_TLB_FLUSH },
    { X86_INS_INVVPID, CPU_VI_INVVPID, "invvpid", COST_TLB_FLUSH },
    { X86_INS_VMRUN, CPU_VI_VMRUN, "vmrun", COST_VMX_PTR },
    { X86_INS_VMMCALL, CPU_VI_VMMCALL, "vmmcall", COST_VMX_PTR },
    { X86_INS_VMLOAD, CPU_VI_VMLOAD, "vmload", COST_VMX_PTR },
    { X86_INS_VMSAVE, CPU_VI_VMSAVE, "vmsave", COST_VMX_PTR },
    { X86_INS_STGI, CPU_VI_STGI, "stgi", COST_VMX_FIELD },
    { X86_INS_CLGI, CPU_VI_CLGI, "clgi", COST_VMX_FIELD },
    { X86_INS_SKINIT, CPU_VI_SKINIT, "skinit", COST_VMX_ONOFF },
    { X86_INS_INVLPGA, CPU_VI_INVLPGA, "invlpga", COST_TLB_FLUSH },
};

const char *cpu_virt_insn_name(unsigned id)
{
    for (unsigned k = 0; k < sizeof(virt_insns) / sizeof(virt_insns[0]); k++)
        if (virt_insns[k].id == id)
            return virt_insns[k].name;
    return "?";
}

static bool h_virt(cpu_t *cpu, const struct dec_insn *d)
{
    if (!cpu->has_virt)
        return ud(cpu, d);                        /* no virtualization model registered */
    unsigned k = 0;
    while (k < sizeof(virt_insns) / sizeof(virt_insns[0]) && virt_insns[k].cs_id != d->id)
        k++;
    if (k == sizeof(virt_insns) / sizeof(virt_insns[0])) {
        cpu_internal(cpu, "instruction class %s holds Capstone id %u, which has no VMX/SVM identifier",
                     insn_class_name(d->cls), d->id);
        return false;
    }
    struct cpu_virt_insn in = { .id = virt_insns[k].id, .mnemonic = virt_insns[k].name, .rip = d->la,
                                .len = d->len };
    const cs_x86 *x = X(d);
    for (unsigned i = 0; i < x->op_count && i < 2; i++) {
        const cs_x86_op *op = &x->operands[i];
        struct cpu_virt_operand *o = &in.op[in.nops++];
        o->size = op->size;
        if (op->type == X86_OP_MEM) {
            o->mem = true;
            o->la = op_ea(cpu, d, i);
            o->stack = op_is_stack(op);
            mem_form(cpu, d, i, &o->form);
        } else if (op->type == X86_OP_REG) {
            unsigned w;
            o->reg = dec_reg_index(op->reg, &w);
            if (o->reg >= 16) {
                cpu_internal(cpu, "%s: operand %u is not a general-purpose register", in.mnemonic, i);
                return false;
            }
        } else {
            cpu_internal(cpu, "%s: operand %u has an unexpected type %d", in.mnemonic, i, (int)op->type);
            return false;
        }
    }
    cpu->virt_cur = d;
    cpu->virt_id = in.id;
    cpu->virt_cost = cost_table[virt_insns[k].cost];
    bool ok = cpu->virt.insn(cpu->virt.ctx, cpu, &in);
    cpu->virt_cur = NULL;
    if (!ok && cpu->pend.kind == PEND_HALT)
        return false;                             /* VM entry into the HLT activity state */
    if (!ok && cpu->pend.kind != PEND_UNMODELLED && cpu->pend.kind != PEND_INTERNAL)
        cpu_internal(cpu, "%s: the virtualization model stopped the run without saying why", in.mnemonic);
    return ok && !(cpu->pend.kind == PEND_UNMODELLED || cpu->pend.kind == PEND_INTERNAL);
}

/* The services of cpu.h for the model's instruction handlers. */
static const struct dec_insn *virt_insn_of(cpu_t *cpu, const char *what)
{
    if (!cpu->virt_cur)
        cpu_internal(cpu, "%s called outside a VMX/SVM instruction", what);
    return cpu->virt_cur;
}

static bool virt_access(cpu_t *cpu, const struct cpu_virt_operand *op, void *buf, size_t len, bool write)
{
    const struct dec_insn *d = virt_insn_of(cpu, write ? "cpu_insn_write" : "cpu_insn_read");
    if (!d)
        return false;
    if (!op->mem) {
        uint64_t v = 0;
        if (write) {
            memcpy(&v, buf, len < 8 ? len : 8);
            cpu_set_gpr(cpu, op->reg, len >= 8 ? v : (len == 4 ? (v & 0xFFFFFFFFu) : v));
        } else {
            v = cpu_gpr(cpu, op->reg);
            memcpy(buf, &v, len < 8 ? len : 8);
        }
        return true;
    }
    struct mem_acc a = mem_acc_cur(cpu);
    a.stack = op->stack;
    struct xcpt x;
    enum mem_res r = write ? mem_write(cpu, &a, op->la, buf, len, &x) : mem_read(cpu, &a, op->la, buf, len, &x);
    if (r == MEM_OK)
        return true;
    if (r == MEM_FAULT)
        fault(cpu, d, x);
    return false;
}

bool cpu_insn_read(cpu_t *cpu, const struct cpu_virt_operand *op, void *buf, size_t len)
{
    return virt_access(cpu, op, buf, len, false);
}

bool cpu_insn_write(cpu_t *cpu, const struct cpu_virt_operand *op, const void *buf, size_t len)
{
    return virt_access(cpu, op, (void *)buf, len, true);
}

void cpu_insn_fault(cpu_t *cpu, unsigned vector, bool has_ec, uint32_t ec)
{
    const struct dec_insn *d = virt_insn_of(cpu, "cpu_insn_fault");
    if (d)
        fault(cpu, d, (struct xcpt){ vector, ec, has_ec, 0 });
}

void cpu_insn_report(cpu_t *cpu, unsigned outcome, unsigned error, unsigned vector, uint64_t operand, uint64_t value)
{
    const struct dec_insn *d = virt_insn_of(cpu, "cpu_insn_report");
    if (!d)
        return;
    cpu_emit_virt(cpu, d->la, cpu->virt_id, outcome, error, vector, operand, value);
}

void cpu_insn_fault_at(cpu_t *cpu, uint64_t rip, unsigned vector)
{
    struct xcpt x = { vector, 0, false, 0 };
    cpu_charge(cpu, cost_table[COST_INSN]);
    cpu_raise(cpu, &x, rip);
}

void cpu_insn_retire_jump(cpu_t *cpu, enum cpu_virt_cost extra)
{
    if (!virt_insn_of(cpu, "cpu_insn_retire_jump"))
        return;
    cpu_charge(cpu, cpu->virt_cost + (extra == CPU_VCOST_ENTRY ? cost_table[COST_VM_ENTRY]
                                      : extra == CPU_VCOST_EXIT ? cost_table[COST_VM_EXIT] : 0));
    cpu->insns++;
}

void cpu_account_exit(cpu_t *cpu, bool count_insn)
{
    cpu_charge(cpu, cost_table[COST_VM_EXIT]);
    if (count_insn)
        cpu->insns++;
}

void cpu_insn_retire(cpu_t *cpu)
{
    const struct dec_insn *d = virt_insn_of(cpu, "cpu_insn_retire");
    if (d)
        next(cpu, d, cpu->virt_cost);
}

void cpu_insn_unmodelled(cpu_t *cpu, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu_unmodelled(cpu, "%s", buf);
}

static bool h_not_in_profile(cpu_t *cpu, const struct dec_insn *d)
{
    return ud(cpu, d);
}

/* RSM outside SMM is #UD (SDM 2B RSM, APM 3 RSM), and hvsim has no SMM,
 * so an RSM that gets here is #UD. In an AMD-V guest the RSM intercept
 * came first (the model's guest_insn; APM 2 15.9, docs/svm.md). */
static bool h_rsm(cpu_t *cpu, const struct dec_insn *d)
{
    return ud(cpu, d);
}

/* Bytes the decoder (Capstone 4.0.2) rejects: invalid encodings (LOCK on
 * a non-lockable instruction, undefined opcodes) and extensions newer than
 * it, none of which any profile advertises. Both are #UD on the modelled
 * CPUs (SDM 2A 2.1.1, LOCK; CPUID-gated instructions). */
static bool h_undecodable(cpu_t *cpu, const struct dec_insn *d)
{
    return ud(cpu, d);
}

static const insn_fn insn_handlers[IC_COUNT] = {
    [IC_MOV_FROM_CR] = h_mov_from_cr, [IC_MOV_TO_CR] = h_mov_to_cr,
    [IC_MOV_FROM_DR] = h_mov_dr, [IC_MOV_TO_DR] = h_mov_dr,
    [IC_CLTS] = h_clts, [IC_LMSW] = h_lmsw, [IC_SMSW] = h_smsw,
    [IC_RDMSR] = h_rdmsr, [IC_WRMSR] = h_wrmsr, [IC_CPUID] = h_cpuid,
    [IC_RDTSC] = h_rdtsc, [IC_RDTSCP] = h_rdtsc, [IC_RDPID] = h_rdpid, [IC_RDPMC] = h_rdpmc,
    [IC_RDRAND] = h_rdrand, [IC_RDSEED] = h_rdrand,
    [IC_HLT] = h_hlt, [IC_PAUSE] = h_pause, [IC_MONITOR] = h_monitor, [IC_MWAIT] = h_monitor,
    [IC_IN] = h_in_out, [IC_OUT] = h_in_out, [IC_INS] = h_string_io, [IC_OUTS] = h_string_io,
    [IC_CLI] = h_cli_sti, [IC_STI] = h_cli_sti, [IC_PUSHF] = h_pushf, [IC_POPF] = h_popf,
    [IC_STAC] = h_stac_clac, [IC_CLAC] = h_stac_clac,
    [IC_INT] = h_int, [IC_INT3] = h_int, [IC_INTO] = h_int, [IC_INT1] = h_int,
    [IC_IRET] = h_iret, [IC_SYSCALL] = h_syscall, [IC_SYSRET] = h_sysret,
    [IC_SYSENTER] = h_sysenter, [IC_SYSEXIT] = h_sysexit,
    [IC_FAR_JMP] = h_far_jmp_call, [IC_FAR_CALL] = h_far_jmp_call, [IC_FAR_RET] = h_far_ret,
    [IC_MOV_TO_SREG] = h_mov_sreg, [IC_POP_SREG] = h_pop_sreg, [IC_LOAD_FARPTR] = h_load_farptr,
    [IC_LAR] = h_desc_query, [IC_LSL] = h_desc_query, [IC_VERR] = h_desc_query, [IC_VERW] = h_desc_query,
    [IC_LGDT] = h_lgdt_lidt, [IC_LIDT] = h_lgdt_lidt, [IC_LLDT] = h_lldt_ltr, [IC_LTR] = h_lldt_ltr,
    [IC_SGDT] = h_sgdt_sidt, [IC_SIDT] = h_sgdt_sidt, [IC_SLDT] = h_sldt_str, [IC_STR] = h_sldt_str,
    [IC_INVLPG] = h_invlpg, [IC_INVPCID] = h_invpcid, [IC_INVD] = h_cache, [IC_WBINVD] = h_cache,
    [IC_XSETBV] = h_xsetbv_xgetbv, [IC_XGETBV] = h_xsetbv_xgetbv,
    [IC_SWAPGS] = h_swapgs, [IC_FSGSBASE] = h_fsgsbase,
    [IC_VMX] = h_virt, [IC_SVM] = h_virt,
    [IC_RSM] = h_rsm, [IC_NOT_IN_PROFILE] = h_not_in_profile, [IC_UNDECODABLE] = h_undecodable,
};

bool sysinsn_has_handler(enum insn_class c);
bool sysinsn_has_handler(enum insn_class c)
{
    return (unsigned)c < IC_COUNT && insn_handlers[c] != NULL;
}

/* Classes whose handlers implement 16- and 32-bit semantics too (operand
 * and address sizes, segment bases, protected-mode rules). Outside 64-bit
 * mode every other class fails loudly until its legacy semantics exist. */
static bool legacy_ready(enum insn_class c)
{
    switch (c) {
    case IC_IRET: case IC_INT: case IC_INT3: case IC_INT1: case IC_INTO: case IC_PUSHF: case IC_POPF: case IC_FAR_CALL:
    case IC_FAR_RET: case IC_SGDT: case IC_SIDT: case IC_SLDT: case IC_STR: case IC_LTR: case IC_LLDT:
    case IC_SMSW: case IC_LMSW: case IC_POP_SREG: case IC_LOAD_FARPTR: case IC_INS: case IC_OUTS:
    case IC_SYSENTER: case IC_SYSEXIT: case IC_LAR: case IC_LSL: case IC_VERR: case IC_VERW:
    case IC_MOV_FROM_DR: case IC_MOV_TO_DR: case IC_XSETBV: case IC_XGETBV: case IC_RDPMC: case IC_RDPID:
    case IC_MONITOR: case IC_MWAIT: case IC_STAC: case IC_CLAC: case IC_INVPCID: case IC_FSGSBASE: case IC_SWAPGS:
    case IC_MOV_FROM_CR: case IC_MOV_TO_CR: case IC_CLTS: case IC_RDMSR: case IC_WRMSR: case IC_CPUID:
    case IC_RDTSC: case IC_RDTSCP: case IC_RDRAND: case IC_RDSEED: case IC_HLT: case IC_PAUSE: case IC_IN:
    case IC_OUT: case IC_CLI: case IC_STI: case IC_LGDT: case IC_LIDT: case IC_FAR_JMP: case IC_MOV_TO_SREG:
    case IC_INVLPG: case IC_INVD: case IC_WBINVD: case IC_UNDECODABLE: case IC_NOT_IN_PROFILE: case IC_RSM:
        return true;
    default:
        return false;
    }
}

/* ---- guest mode: what the virtualization model's guest_insn hook sees ---- */

/* Faults that take priority over VM exits (SDM 3C "Relative Priority of
 * Faults and VM Exits"): #UD, #GP based on privilege level (CPL, CR4.TSD,
 * CR4.PCE, CR4.UMIP) and #GP from the TSS I/O permission bitmap. MOV DR is
 * the exception: its VM exit comes before the CPL #GP and the #UD for
 * DR4/DR5 with CR4.DE=1 (SDM 3C "Instructions That Cause VM Exits
 * Conditionally", MOV DR). */
static bool guest_fault_first(cpu_t *cpu, const struct dec_insn *d, const struct cpu_guest_insn *gi)
{
    bool user = cpu->cpl != 0;
    enum cpu_mode m = cpu_mode(cpu);
    const cs_x86 *x = X(d);
    switch (d->cls) {
    case IC_MOV_TO_CR: case IC_MOV_FROM_CR:
        return user || !(gi->cr == 0 || gi->cr == 2 || gi->cr == 3 || gi->cr == 4 || gi->cr == 8);
    case IC_MOV_TO_DR: case IC_MOV_FROM_DR:
        return gi->cr > 7;                        /* DR8-DR15 (REX.R) are invalid opcodes */
    case IC_CLTS: case IC_LMSW: case IC_RDMSR: case IC_WRMSR: case IC_HLT: case IC_INVD: case IC_WBINVD:
        return user;
    case IC_INVLPG: case IC_LGDT: case IC_LIDT:
        return user || x->operands[0].type != X86_OP_MEM;
    case IC_LLDT: case IC_LTR:
        return user || m == CPU_MODE_REAL || m == CPU_MODE_V86;
    case IC_SLDT: case IC_STR:
        return m == CPU_MODE_REAL || m == CPU_MODE_V86 || ((cpu->cr4 & CR4_UMIP) && user);
    case IC_SGDT: case IC_SIDT:
        return ((cpu->cr4 & CR4_UMIP) && user) || x->operands[0].type != X86_OP_MEM;
    case IC_SMSW:
        return (cpu->cr4 & CR4_UMIP) && user;
    case IC_INVPCID:
        return !cpu->prof->invpcid || user;
    case IC_MONITOR: case IC_MWAIT:
        return !cpu->prof->monitor || user;
    case IC_RDPMC:
        return !(cpu->cr4 & CR4_PCE) && user;
    case IC_RDTSC:
        return (cpu->cr4 & CR4_TSD) && user;
    case IC_RDTSCP:
        return ((cpu->cr4 & CR4_TSD) && user) || !cpu->prof->rdtscp;
    case IC_RDRAND: case IC_RDSEED:
        return (d->cls == IC_RDRAND ? !cpu->prof->rdrand : !cpu->prof->rdseed) || x->operands[0].type != X86_OP_REG;
    case IC_XSETBV:
        return !(cpu->cr4 & CR4_OSXSAVE) || user;
    case IC_IN: case IC_OUT: case IC_INS: case IC_OUTS: {
        struct xcpt xc;
        unsigned port = gi->port == ~0u ? (unsigned)(cpu_gpr(cpu, 2) & 0xFFFF) : gi->port;
        return !io_allowed(cpu, (uint16_t)port, gi->size, &xc);
    }
    default:
        return false;
    }
}

/* The linear address of the first memory access of INS (ES:rDI) or OUTS
 * (DS:rSI or the override), as h_string_io computes it. */
static uint64_t string_io_la(cpu_t *cpu, const struct dec_insn *d, unsigned *seg)
{
    const cs_x86 *x = X(d);
    bool in = d->cls == IC_INS;
    uint64_t amask = x->addr_size == 8 ? ~0ull : x->addr_size == 4 ? 0xFFFFFFFFull : 0xFFFFull;
    *seg = in ? CPU_ES : CPU_DS;
    if (!in)
        for (unsigned i = 0; i < x->op_count; i++)
            if (x->operands[i].type == X86_OP_MEM) {
                switch (x->operands[i].mem.segment) {
                case X86_REG_ES: *seg = CPU_ES; break;
                case X86_REG_CS: *seg = CPU_CS; break;
                case X86_REG_SS: *seg = CPU_SS; break;
                case X86_REG_FS: *seg = CPU_FS; break;
                case X86_REG_GS: *seg = CPU_GS; break;
                default: break;
                }
            }
    uint64_t addr = cpu_gpr(cpu, in ? 7 : 6) & amask;
    if (cpu_code_bits(cpu) != 64)
        return (addr + cpu->seg[*seg].base) & 0xFFFFFFFFull;
    return (*seg == CPU_FS || *seg == CPU_GS) ? addr + cpu->seg[*seg].base : addr;
}

/* Fill the hook's view of the instruction. Returns false when an operand
 * fetch that comes before the exit decision faulted (*cont: the run goes on). */
static bool guest_insn_fill(cpu_t *cpu, const struct dec_insn *d, struct cpu_guest_insn *gi, bool *cont)
{
    memset(gi, 0, sizeof(*gi));
    gi->cls = d->cls;
    gi->mnemonic = d->ci ? d->ci->mnemonic : insn_class_name(d->cls);
    gi->rip = d->la;
    gi->len = d->len;
    gi->port = ~0u;
    const cs_x86 *x = d->ci ? X(d) : NULL;
    if (!x)
        return true;
    unsigned w = 8;
    switch (d->cls) {
    case IC_MOV_TO_CR: case IC_MOV_TO_DR:
        gi->write = true;
        gi->cr = d->cls == IC_MOV_TO_CR ? cr_number(x->operands[0].reg) : dr_number(x->operands[0].reg);
        gi->gpr = dec_reg_index(x->operands[1].reg, &w);
        gi->src = cpu_gpr(cpu, gi->gpr);
        if (w == 4)
            gi->src &= 0xFFFFFFFFu;
        break;
    case IC_MOV_FROM_CR: case IC_MOV_FROM_DR:
        gi->cr = d->cls == IC_MOV_FROM_CR ? cr_number(x->operands[1].reg) : dr_number(x->operands[1].reg);
        gi->gpr = dec_reg_index(x->operands[0].reg, &w);
        break;
    case IC_WRMSR:
        gi->write = true;
        break;
    case IC_IN: case IC_OUT: {
        const cs_x86_op *pop = &x->operands[d->cls == IC_IN ? 1 : 0];
        const cs_x86_op *dop = &x->operands[d->cls == IC_IN ? 0 : 1];
        gi->write = d->cls == IC_OUT;
        if (pop->type == X86_OP_IMM)
            gi->port = (unsigned)pop->imm & 0xFFFF;
        gi->size = dop->size;
        break;
    }
    case IC_INS: case IC_OUTS:
        gi->write = d->cls == IC_OUTS;
        gi->string = true;
        gi->rep = x->prefix[0] == X86_PREFIX_REP;
        gi->size = x->operands[d->cls == IC_INS ? 0 : 1].size;
        gi->mem = true;
        gi->la = string_io_la(cpu, d, &gi->form.seg);
        gi->form.addr_size = x->addr_size;
        gi->form.base = gi->form.index = CPU_MEM_NOREG;
        break;
    case IC_LMSW: case IC_SMSW: case IC_LLDT: case IC_LTR: case IC_SLDT: case IC_STR:
    case IC_INVLPG: case IC_LGDT: case IC_LIDT: case IC_SGDT: case IC_SIDT:
        if (x->operands[0].type == X86_OP_MEM) {
            gi->mem = true;
            gi->la = op_ea(cpu, d, 0);
            mem_form(cpu, d, 0, &gi->form);
        } else if (x->operands[0].type == X86_OP_REG) {
            gi->gpr = dec_reg_index(x->operands[0].reg, &w);
        }
        break;
    case IC_INVPCID:
        gi->gpr = dec_reg_index(x->operands[0].reg, &w);
        if (x->operands[1].type == X86_OP_MEM) {
            gi->mem = true;
            gi->la = op_ea(cpu, d, 1);
            mem_form(cpu, d, 1, &gi->form);
        }
        break;
    case IC_INT:
        gi->src = (uint64_t)x->operands[0].imm & 0xFF;
        break;
    case IC_RDRAND: case IC_RDSEED:
        if (x->operands[0].type == X86_OP_REG)
            gi->gpr = dec_reg_index(x->operands[0].reg, &w);
        gi->opsize = x->operands[0].size;
        break;
    default:
        break;
    }
    if (d->cls == IC_LGDT || d->cls == IC_LIDT || d->cls == IC_SGDT || d->cls == IC_SIDT) {
        unsigned bits = cpu_code_bits(cpu);        /* the operand-size attribute (0x66 toggles 16/32) */
        bool o66 = x->prefix[2] == 0x66;
        gi->opsize = bits == 64 ? 8 : (bits == 32) != o66 ? 4 : 2;
    }
    gi->fault_first = guest_fault_first(cpu, d, gi);
    if (d->cls == IC_LMSW && !gi->fault_first) {
        /* LMSW exits depending on its source: the operand is fetched first
         * and its faults come before the VM exit. */
        uint64_t v;
        struct xcpt xc;
        if (!op_read(cpu, d, 0, &v, &xc)) {
            *cont = op_failed(cpu, d, xc);
            return false;
        }
        gi->src = v & 0xFFFF;
    }
    return true;
}

/* The TSC as an adjusted RDTSC/RDTSCP/RDMSR reads it before the offset:
 * with TSC scaling the 128-bit product of the TSC and the multiplier,
 * shifted right by 48 (SDM 3C 26.3 "RDTSC"). */
static uint64_t scaled_tsc(const struct cpu_guest_insn *gi, uint64_t tsc)
{
    if (!gi->out.tsc_scale)
        return tsc;
    return (uint64_t)(((unsigned __int128)tsc * gi->out.tsc_multiplier) >> 48);
}

/* An intercepted instruction whose effect VMX non-root operation changes
 * (struct cpu_guest_insn, out): the same checks as its handler, with the
 * value the model supplies. */
static bool execute_adjusted(cpu_t *cpu, const struct dec_insn *d, const struct cpu_guest_insn *gi)
{
    uint64_t v = gi->out.value;
    struct xcpt x;
    switch (d->cls) {
    case IC_MOV_FROM_CR:
        if (cpu->cpl != 0)
            return gp0(cpu, d);
        cpu_set_gpr(cpu, gi->gpr, v);
        return next(cpu, d, cost_table[COST_INSN]);
    case IC_SMSW: {
        if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
            return gp0(cpu, d);
        if (!op_write(cpu, d, 0, X(d)->operands[0].type == X86_OP_MEM ? (v & 0xFFFF) : v, &x))
            return op_failed(cpu, d, x);
        return next(cpu, d, cost_table[COST_INSN]);
    }
    case IC_MOV_TO_CR: case IC_CLTS: case IC_LMSW:
        if (cpu->cpl != 0)
            return gp0(cpu, d);
        if (!cpu_write_cr(cpu, d->cls == IC_MOV_TO_CR ? gi->cr : 0, v, d->la, &x))
            return cpu->pend.kind == PEND_UNMODELLED ? false : fault(cpu, d, x);
        return next(cpu, d, cost_table[COST_SERIALIZING]);
    case IC_RDTSC: case IC_RDTSCP: {
        if ((cpu->cr4 & CR4_TSD) && cpu->cpl > 0)
            return gp0(cpu, d);
        if (d->cls == IC_RDTSCP && !cpu->prof->rdtscp)
            return ud(cpu, d);
        uint64_t tsc = scaled_tsc(gi, cpu->cycles + cpu->tsc_offset) + v;
        cpu_set_gpr(cpu, 0, tsc & 0xFFFFFFFFu);
        cpu_set_gpr(cpu, 2, tsc >> 32);
        if (d->cls == IC_RDTSCP)
            cpu_set_gpr(cpu, 1, cpu->msr.val[MSR_TSC_AUX] & 0xFFFFFFFFu);
        return next(cpu, d, cost_table[COST_RDTSC]);
    }
    case IC_RDMSR: {
        if (cpu->cpl != 0)
            return gp0(cpu, d);
        uint32_t idx = (uint32_t)cpu_gpr(cpu, 1);
        uint64_t val;
        if (idx != 0x10 || !msr_rdmsr(cpu, idx, &val)) {
            cpu_internal(cpu, "an adjusted RDMSR of MSR %#x: only IA32_TIME_STAMP_COUNTER is offset", idx);
            return false;
        }
        val = scaled_tsc(gi, val) + v;
        cpu_emit(cpu, CPU_EV_MSR, d->la, idx, val, 0, 0);
        cpu_set_gpr(cpu, 0, val & 0xFFFFFFFFu);
        cpu_set_gpr(cpu, 2, val >> 32);
        return next(cpu, d, cost_table[COST_MSR_ACCESS]);
    }
    default:
        cpu_internal(cpu, "the virtualization model adjusted '%s', which takes no adjusted value", gi->mnemonic);
        return false;
    }
}

bool sysinsn_emulate(cpu_t *cpu, const struct dec_insn *d)
{
    insn_fn fn = (unsigned)d->cls < IC_COUNT ? insn_handlers[d->cls] : NULL;
    if (!fn) {
        cpu_unmodelled(cpu, "instruction class %s at RIP %#llx has no emulation",
                       insn_class_name(d->cls), (unsigned long long)d->la);
        return false;
    }
    unsigned bits = cpu_code_bits(cpu);
    /* VMX non-root operation or an AMD-V guest: a VMX or SVM instruction
     * exits (or faults) in every mode, which the model decides (SDM 3C
     * 31.3, the instructions' first checks; APM 2 15.9, APM 3 VMMCALL) */
    if (bits != 64 && !legacy_ready(d->cls) && !((d->cls == IC_VMX || d->cls == IC_SVM) && cpu->guest_mode)) {
        cpu_unmodelled(cpu, "'%s %s' at linear %#llx in %s: this instruction is modelled in 64-bit mode only so "
                       "far", d->ci ? d->ci->mnemonic : insn_class_name(d->cls), d->ci ? d->ci->op_str : "",
                       (unsigned long long)d->la,
                       !(cpu->cr0 & CR0_PE) ? "real mode" : (cpu->efer & EFER_LMA) ?
                       (bits == 32 ? "32-bit compatibility mode" : "16-bit compatibility mode") :
                       (bits == 32 ? "32-bit protected mode" : "16-bit protected mode"));
        return false;
    }
    if (cpu->guest_mode && cpu->has_virt && cpu->virt.guest_insn && d->cls != IC_VMX && d->cls != IC_SVM &&
        d->cls != IC_UNDECODABLE) {
        struct cpu_guest_insn gi;
        bool cont;
        if (!guest_insn_fill(cpu, d, &gi, &cont))
            return cont;                          /* an operand fetch faulted first */
        enum cpu_guest_action a = cpu->virt.guest_insn(cpu->virt.ctx, cpu, &gi);
        if (a == CPU_GUEST_EXITED)
            return true;
        if (a == CPU_GUEST_STOP)
            return false;
        if (gi.out.done)
            return next(cpu, d, cost_table[d->cls == IC_MOV_TO_CR ? COST_SERIALIZING : COST_INSN]);
        if (gi.out.use_value)
            return execute_adjusted(cpu, d, &gi);
    }
    return fn(cpu, d);
}
