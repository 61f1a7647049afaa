/*
 * align.c — alignment checking (SDM 3A 6.15 "Interrupt 17—Alignment Check
 * Exception (#AC)", table 6-7 "Alignment Requirements by Data Type"):
 * with CR0.AM = 1, RFLAGS.AC = 1 and CPL 3, a data or stack access whose
 * linear address is not a multiple of its data type's alignment is #AC(0),
 * a fault (nothing of the instruction happens).
 *
 * The engine (Unicorn 2.0.1, QEMU TCG) never checks alignment, and its
 * memory hooks cannot stop an access before it happens (docs/cpu-mmu.md,
 * "Alignment checking"). So while the check is on (ac_active) the run loop
 * (cpu.c) executes one instruction per engine entry, as for the monitor
 * trap flag, and asks ac_check() first: it decodes the instruction's data
 * accesses (explicit operands, implicit stack accesses) from the registers
 * at that boundary and their data types, per table 6-7:
 *
 *   word, segment selector, 32-bit far pointer (m16:16)      2
 *   doubleword, single precision, 48-bit far pointer (m16:32),
 *   32-bit pointer, GDTR/IDTR/LDTR/TR images (SGDT, SIDT,
 *   SLDT, STR)                                               4
 *   quadword, double precision, double extended (m80), m16:64 8
 *   FSTENV/FLDENV, FSAVE/FRSTOR images      4, 2 with a 16-bit operand size
 *   bit strings (BT & co. on memory)        their operand size
 *   bytes; 16 bytes and more (SSE, FXSAVE, CMPXCHG16B: #GP
 *   when they need alignment, SDM 3A 6.15 note; unaligned
 *   SSE references of more than 8 bytes are not checked)     none
 *
 * Where the SDM ranks a fault first it is left to the instruction: a
 * non-canonical address (#GP/#SS), #NM for x87/SSE with CR0.TS or EM, the
 * #GP of a privileged instruction at CPL 3, the UMIP #GP. A memory operand
 * of another size, and a misaligned INS/OUTS whose I/O permission depends
 * on the TSS bitmap (IOPL < 3), stop the run as not modelled rather than
 * go unchecked.
 *
 * Called from the run loop only (outside engine hooks).
 */
#include "cpu_priv.h"

bool ac_active(cpu_t *cpu)
{
    return cpu->cpl == 3 && (cpu->cr0 & CR0_AM) && (cpu->cr0 & CR0_PE) && (cpu_rflags_sys(cpu) & RF_AC);
}

struct ac_access {
    uint64_t la;
    unsigned align;            /* 0 or 1: not checked */
};

/* The linear address of a memory operand (SDM 3A 3.7.5: segment base +
 * base + index * scale + displacement, masked to the address size). */
static uint64_t operand_la(cpu_t *cpu, const struct dec_insn *d, const cs_x86_op *op)
{
    uint64_t ea = (uint64_t)op->mem.disp;
    unsigned regs[2] = { op->mem.base, op->mem.index };
    for (unsigned k = 0; k < 2; k++) {
        unsigned r = regs[k], w = 8;
        if (r == X86_REG_INVALID)
            continue;
        uint64_t v;
        if (r == X86_REG_RIP || r == X86_REG_EIP) {
            v = d->la + d->len;
        } else {
            unsigned idx = dec_reg_index(r, &w);
            v = idx < 16 ? cpu_gpr(cpu, idx) : 0;
            v &= w == 8 ? ~0ull : w == 4 ? 0xFFFFFFFFull : 0xFFFFull;
        }
        ea += k == 1 ? v * (uint64_t)op->mem.scale : v;
    }
    return dec_linear(cpu, &d->ci->detail->x86, op, ea);
}

/* The linear address of the stack slot at SP + delta (SS base and the
 * 16/32-bit stack pointer outside 64-bit mode). */
static uint64_t stack_la(cpu_t *cpu, unsigned reg, int64_t delta)
{
    uint64_t sp = cpu_gpr(cpu, reg) + (uint64_t)delta;
    if (cpu_code_bits(cpu) == 64)
        return sp;
    return (cpu->seg[CPU_SS].base + (sp & legacy_sp_mask(cpu))) & 0xFFFFFFFFull;
}

/* The size of one stack element the instruction pushes or pops (SDM 2A/2B
 * PUSH, POP, CALL, RET, IRET: the operand size; in 64-bit mode near ones
 * default to 8 bytes, far ones to 4). */
static unsigned stack_elem(cpu_t *cpu, const struct dec_insn *d)
{
    const cs_x86 *x = &d->ci->detail->x86;
    bool p66 = x->prefix[2] == 0x66, w = x->rex & 8;
    switch (d->id) {
    case X86_INS_IRET: return 2;
    case X86_INS_IRETD: return 4;
    case X86_INS_IRETQ: case X86_INS_RETFQ: return 8;
    case X86_INS_PUSHFQ: case X86_INS_POPFQ: return 8;
    case X86_INS_PUSHFD: case X86_INS_POPFD: case X86_INS_PUSHAL: case X86_INS_POPAL: return 4;
    case X86_INS_PUSHAW: case X86_INS_POPAW: return 2;
    default: break;
    }
    if (cpu_code_bits(cpu) == 64) {
        bool far = d->id == X86_INS_LCALL || d->id == X86_INS_RETF;
        return far ? (w ? 8 : p66 ? 2 : 4) : (p66 ? 2 : 8);
    }
    return insn_opsize(cpu, p66);
}

static bool has_group(const struct dec_insn *d, unsigned g)
{
    const cs_detail *det = d->ci->detail;
    for (unsigned i = 0; i < det->groups_count; i++)
        if (det->groups[i] == g)
            return true;
    return false;
}

/* Table 6-7 by operand size, for instructions without a rule of their own. */
static int size_align(unsigned size)
{
    switch (size) {
    case 1: case 16: case 32: case 64: return 0;
    case 2: case 4: case 8: return (int)size;
    case 6: return 4;               /* 48-bit far pointer */
    case 10: return 8;              /* double extended precision, m16:64 */
    default: return size > 16 ? 0 : -1;
    }
}

int ac_check(cpu_t *cpu, const struct dec_insn *d)
{
    if (!d->ci || !d->ci->detail || d->cls == IC_UNDECODABLE || d->cls == IC_NOT_IN_PROFILE)
        return 0;
    const cs_x86 *x = &d->ci->detail->x86;
    bool p66 = x->prefix[2] == 0x66;
    /* faults ranked before the data accesses */
    if ((cpu->cr0 & (CR0_TS | CR0_EM)) && (has_group(d, X86_GRP_FPU) || has_group(d, X86_GRP_MMX) ||
                                           has_group(d, X86_GRP_SSE1) || has_group(d, X86_GRP_SSE2) ||
                                           has_group(d, X86_GRP_SSE3) || has_group(d, X86_GRP_SSSE3) ||
                                           has_group(d, X86_GRP_SSE41) || has_group(d, X86_GRP_SSE42) ||
                                           has_group(d, X86_GRP_AES)))
        return 0;                   /* #NM (or #UD) first */
    switch (d->cls) {
    case IC_NONE: case IC_PUSHF: case IC_POPF: case IC_IRET: case IC_FAR_JMP: case IC_FAR_CALL: case IC_FAR_RET:
    case IC_MOV_TO_SREG: case IC_POP_SREG: case IC_LOAD_FARPTR: case IC_LAR: case IC_LSL: case IC_VERR:
    case IC_VERW:
        break;
    case IC_SGDT: case IC_SIDT: case IC_SLDT: case IC_STR: case IC_SMSW:
        if (cpu->cr4 & CR4_UMIP)
            return 0;               /* #GP(0) at CPL 3 first */
        break;
    case IC_INS: case IC_OUTS:
        break;                      /* (the I/O permission: below) */
    default:
        return 0;                   /* no data access at CPL 3, or a #GP/#UD at CPL 3 comes first */
    }

    struct ac_access acc[6];
    unsigned n = 0;
    /* explicit memory operands */
    for (unsigned i = 0; i < x->op_count && n < 4; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type != X86_OP_MEM)
            continue;
        int align;
        switch (d->id) {
        case X86_INS_LEA: case X86_INS_NOP: case X86_INS_PREFETCH: case X86_INS_PREFETCHW:
        case X86_INS_PREFETCHNTA: case X86_INS_PREFETCHT0: case X86_INS_PREFETCHT1: case X86_INS_PREFETCHT2:
        case X86_INS_CLFLUSH: case X86_INS_CLFLUSHOPT: case X86_INS_CLWB: case X86_INS_XLATB:
            align = 0;              /* no access, or bytes */
            break;
        case X86_INS_FXSAVE: case X86_INS_FXRSTOR: case X86_INS_FXSAVE64: case X86_INS_FXRSTOR64:
            align = 0;              /* 16-byte alignment is #GP (the engine's) */
            break;
        case X86_INS_FNSTENV: case X86_INS_FLDENV: case X86_INS_FNSAVE: case X86_INS_FRSTOR:
            align = p66 != (cpu_code_bits(cpu) == 16) ? 2 : 4;
            break;
        case X86_INS_FNSTSW: case X86_INS_FNSTCW: case X86_INS_FLDCW:
            align = 2;
            break;
        case X86_INS_SGDT: case X86_INS_SIDT: case X86_INS_SLDT: case X86_INS_STR:
            align = 4;              /* "GDTR, IDTR, LDTR, or task register contents" */
            break;
        case X86_INS_LDS: case X86_INS_LES: case X86_INS_LFS: case X86_INS_LGS: case X86_INS_LSS:
        case X86_INS_BOUND:
            align = (int)x->operands[0].size;     /* the offset part / each bound: the operand size */
            break;
        case X86_INS_LJMP: case X86_INS_LCALL: {
            bool w = x->rex & 8;
            align = cpu_code_bits(cpu) == 64 ? (w ? 8 : p66 ? 2 : 4) : (int)insn_opsize(cpu, p66);
            break;
        }
        default:
            align = size_align(op->size);
            break;
        }
        if (align < 0) {
            cpu_unmodelled(cpu, "alignment checking (CR0.AM, RFLAGS.AC at CPL 3) of '%s %s' (a %u-byte memory "
                           "operand) is not modelled", d->ci->mnemonic, d->ci->op_str, op->size);
            return -1;
        }
        acc[n++] = (struct ac_access){ operand_la(cpu, d, op), (unsigned)align };
    }
    /* implicit stack accesses (SDM 2A/2B PUSH, POP, CALL, RET, ENTER, LEAVE, PUSHA, IRET) */
    unsigned e = stack_elem(cpu, d);
    switch (d->id) {
    case X86_INS_PUSH: case X86_INS_PUSHF: case X86_INS_PUSHFD: case X86_INS_PUSHFQ: case X86_INS_CALL:
    case X86_INS_LCALL: case X86_INS_PUSHAW: case X86_INS_PUSHAL: case X86_INS_ENTER:
        acc[n++] = (struct ac_access){ stack_la(cpu, 4, -(int64_t)e), e };
        if (d->id == X86_INS_ENTER && x->op_count == 2 && (x->operands[1].imm & 31) > 1)
            acc[n++] = (struct ac_access){ stack_la(cpu, 5, -(int64_t)e), e };   /* the frame pointers copied */
        break;
    case X86_INS_POP: case X86_INS_POPF: case X86_INS_POPFD: case X86_INS_POPFQ: case X86_INS_RET:
    case X86_INS_RETF: case X86_INS_RETFQ: case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ:
    case X86_INS_POPAW: case X86_INS_POPAL:
        acc[n++] = (struct ac_access){ stack_la(cpu, 4, 0), e };
        break;
    case X86_INS_LEAVE:
        acc[n++] = (struct ac_access){ stack_la(cpu, 5, 0), e };
        break;
    default:
        break;
    }
    for (unsigned i = 0; i < n; i++) {
        if (acc[i].align < 2)
            continue;
        if (cpu_code_bits(cpu) == 64 && !pg_canonical(acc[i].la, cpu->prof->linear_bits))
            return 0;               /* #GP/#SS first */
        if (!(acc[i].la & (acc[i].align - 1)))
            continue;
        if ((d->cls == IC_INS || d->cls == IC_OUTS) && ((cpu_rflags(cpu) & RF_IOPL) >> 12) < 3) {
            cpu_unmodelled(cpu, "alignment checking (CR0.AM, RFLAGS.AC at CPL 3) of a misaligned '%s' with IOPL < 3 "
                           "is not modelled (whether the TSS I/O permission bitmap allows the port, and so whether its #GP "
                           "comes first, is not decided here)",
                           d->ci->mnemonic);
            return -1;
        }
        return 1;
    }
    return 0;
}

void ac_raise(cpu_t *cpu, uint64_t rip)
{
    struct xcpt x = { VEC_AC, 0, true, 0 };
    cpu_raise(cpu, &x, rip);
}
