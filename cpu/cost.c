/*
 * cost.c — the cost model's instruction classifier (numbers in cost.def).
 * Pure; called when a translation block is scanned.
 */
#include "cpu_priv.h"

const unsigned cost_table[COST_COUNT] = {
#define X(name, cycles, desc) [COST_##name] = cycles,
#include "cost.def"
#undef X
};

unsigned cost_of_insn(const cs_insn *ci, enum insn_class cls)
{
    switch (ci->id) {
    case X86_INS_MUL: case X86_INS_IMUL: case X86_INS_MULX:
        return cost_table[COST_INSN_MUL];
    case X86_INS_DIV: case X86_INS_IDIV:
        return cost_table[COST_INSN_DIV];
    case X86_INS_DIVSS: case X86_INS_DIVSD: case X86_INS_DIVPS: case X86_INS_DIVPD:
    case X86_INS_SQRTSS: case X86_INS_SQRTSD: case X86_INS_SQRTPS: case X86_INS_SQRTPD:
    case X86_INS_FDIV: case X86_INS_FDIVP: case X86_INS_FDIVR: case X86_INS_FDIVRP:
    case X86_INS_FSQRT: case X86_INS_FSIN: case X86_INS_FCOS: case X86_INS_FSINCOS:
    case X86_INS_FPTAN: case X86_INS_FPATAN: case X86_INS_F2XM1: case X86_INS_FYL2X:
        return cost_table[COST_INSN_FP_SLOW];
    case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSD: case X86_INS_MOVSQ:
    case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD: case X86_INS_STOSQ:
    case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD: case X86_INS_LODSQ:
    case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSD: case X86_INS_CMPSQ:
    case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASD: case X86_INS_SCASQ:
        return cost_table[COST_INSN_STRING];
    default:
        break;
    }
    if (ci->detail && ci->detail->x86.prefix[0] == X86_PREFIX_LOCK)
        return cost_table[COST_INSN_LOCKED];
    if (ci->id == X86_INS_XCHG && ci->detail) {
        for (unsigned i = 0; i < ci->detail->x86.op_count; i++)
            if (ci->detail->x86.operands[i].type == X86_OP_MEM)
                return cost_table[COST_INSN_LOCKED];
    }
    (void)cls;
    return cost_table[COST_INSN];
}
