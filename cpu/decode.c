/*
 * decode.c — instruction decoding (Capstone), the sensitive-instruction
 * classifier, memory-operand analysis and the translation-block scan cache.
 *
 * Called from the block hook (scanning a new translation block), from the
 * code hook at sensitive sites, and from fault handling (which access of
 * which instruction faulted). Never calls uc_emu_start.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_priv.h"

static const char *const class_names[IC_COUNT] = {
#define X(name, mn, why) [IC_##name] = #name,
#include "insn_classes.def"
#undef X
};

const char *insn_class_name(enum insn_class c)
{
    return (unsigned)c < IC_COUNT ? class_names[c] : "?";
}

/* ---- decoded-instruction cache ----
 * Capstone's result depends only on the code size, the address (relative
 * targets) and the instruction's bytes. Sensitive instructions are decoded
 * again every time they are emulated (a VMREAD in a hypervisor's exit loop,
 * a guest's CPUID), at about 7,000 host instructions each; a hit here
 * returns the saved result itself (no copy). Direct-mapped by linear
 * address; an entry is used only if its bytes equal the bytes at hand. */
#define DCACHE_SLOTS 256u                 /* 128 sets of two ways */

struct dcache_ent {
    uint64_t la;
    uint8_t bits;                 /* 0: empty */
    bool mru;                     /* (way 0 of a set) way 0 was used last */
    cs_insn insn;                 /* its detail pointer is &detail */
    cs_detail detail;
    enum insn_class cls;          /* classify(&insn), and its cost: both depend on the bytes alone */
    unsigned cost;
};

static unsigned dcache_slot(uint64_t la, unsigned bits)
{
    uint64_t h = (la ^ ((uint64_t)bits << 56)) * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 32) & (DCACHE_SLOTS - 1);
}

/* One Capstone handle per code size; they share the instruction buffer
 * (cs_insn and its detail have the same layout for every x86 mode). */
bool dec_init(cpu_t *cpu)
{
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cpu->cs) != CS_ERR_OK ||
        cs_open(CS_ARCH_X86, CS_MODE_32, &cpu->cs32) != CS_ERR_OK ||
        cs_open(CS_ARCH_X86, CS_MODE_16, &cpu->cs16) != CS_ERR_OK)
        return false;
    cs_option(cpu->cs, CS_OPT_DETAIL, CS_OPT_ON);
    cs_option(cpu->cs32, CS_OPT_DETAIL, CS_OPT_ON);
    cs_option(cpu->cs16, CS_OPT_DETAIL, CS_OPT_ON);
    cpu->csi = cs_malloc(cpu->cs);
    cpu->dcache = calloc(DCACHE_SLOTS, sizeof(struct dcache_ent));
    return cpu->csi != NULL && cpu->dcache != NULL;
}

void dec_fini(cpu_t *cpu)
{
    free(cpu->dcache);
    if (cpu->csi)
        cs_free(cpu->csi, 1);
    if (cpu->cs)
        cs_close(&cpu->cs);
    if (cpu->cs32)
        cs_close(&cpu->cs32);
    if (cpu->cs16)
        cs_close(&cpu->cs16);
}

/* GPR index in encoding order (RAX=0 .. R15=15) for a Capstone register, with
 * its width in bytes; AH/CH/DH/BH return index 0..3 + 16. ~0u if not a GPR. */
unsigned dec_reg_index(unsigned r, unsigned *width)
{
    static const struct { uint16_t reg; uint8_t idx, w; } map[] = {
        { X86_REG_RAX, 0, 8 }, { X86_REG_RCX, 1, 8 }, { X86_REG_RDX, 2, 8 }, { X86_REG_RBX, 3, 8 },
        { X86_REG_RSP, 4, 8 }, { X86_REG_RBP, 5, 8 }, { X86_REG_RSI, 6, 8 }, { X86_REG_RDI, 7, 8 },
        { X86_REG_R8, 8, 8 }, { X86_REG_R9, 9, 8 }, { X86_REG_R10, 10, 8 }, { X86_REG_R11, 11, 8 },
        { X86_REG_R12, 12, 8 }, { X86_REG_R13, 13, 8 }, { X86_REG_R14, 14, 8 }, { X86_REG_R15, 15, 8 },
        { X86_REG_EAX, 0, 4 }, { X86_REG_ECX, 1, 4 }, { X86_REG_EDX, 2, 4 }, { X86_REG_EBX, 3, 4 },
        { X86_REG_ESP, 4, 4 }, { X86_REG_EBP, 5, 4 }, { X86_REG_ESI, 6, 4 }, { X86_REG_EDI, 7, 4 },
        { X86_REG_R8D, 8, 4 }, { X86_REG_R9D, 9, 4 }, { X86_REG_R10D, 10, 4 }, { X86_REG_R11D, 11, 4 },
        { X86_REG_R12D, 12, 4 }, { X86_REG_R13D, 13, 4 }, { X86_REG_R14D, 14, 4 }, { X86_REG_R15D, 15, 4 },
        { X86_REG_AX, 0, 2 }, { X86_REG_CX, 1, 2 }, { X86_REG_DX, 2, 2 }, { X86_REG_BX, 3, 2 },
        { X86_REG_SP, 4, 2 }, { X86_REG_BP, 5, 2 }, { X86_REG_SI, 6, 2 }, { X86_REG_DI, 7, 2 },
        { X86_REG_R8W, 8, 2 }, { X86_REG_R9W, 9, 2 }, { X86_REG_R10W, 10, 2 }, { X86_REG_R11W, 11, 2 },
        { X86_REG_R12W, 12, 2 }, { X86_REG_R13W, 13, 2 }, { X86_REG_R14W, 14, 2 }, { X86_REG_R15W, 15, 2 },
        { X86_REG_AL, 0, 1 }, { X86_REG_CL, 1, 1 }, { X86_REG_DL, 2, 1 }, { X86_REG_BL, 3, 1 },
        { X86_REG_SPL, 4, 1 }, { X86_REG_BPL, 5, 1 }, { X86_REG_SIL, 6, 1 }, { X86_REG_DIL, 7, 1 },
        { X86_REG_R8B, 8, 1 }, { X86_REG_R9B, 9, 1 }, { X86_REG_R10B, 10, 1 }, { X86_REG_R11B, 11, 1 },
        { X86_REG_R12B, 12, 1 }, { X86_REG_R13B, 13, 1 }, { X86_REG_R14B, 14, 1 }, { X86_REG_R15B, 15, 1 },
        { X86_REG_AH, 16, 1 }, { X86_REG_CH, 17, 1 }, { X86_REG_DH, 18, 1 }, { X86_REG_BH, 19, 1 },
    };
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].reg == r) {
            if (width)
                *width = map[i].w;
            return map[i].idx;
        }
    return ~0u;
}

static bool is_cr(unsigned r) { return r >= X86_REG_CR0 && r <= X86_REG_CR15; }
static bool is_dr(unsigned r) { return r >= X86_REG_DR0 && r <= X86_REG_DR15; }
static bool is_sreg(unsigned r)
{
    return r == X86_REG_ES || r == X86_REG_CS || r == X86_REG_SS || r == X86_REG_DS ||
           r == X86_REG_FS || r == X86_REG_GS;
}

/* The sensitive-instruction classifier: Capstone id (plus operands where the
 * id alone is ambiguous) -> class. Anything not listed is IC_NONE. */
static enum insn_class classify(const cs_insn *ci)
{
    const cs_x86 *x = &ci->detail->x86;
    switch (ci->id) {
    case X86_INS_MOV:
        if (x->op_count == 2 && x->operands[0].type == X86_OP_REG) {
            unsigned d = x->operands[0].reg;
            unsigned s = x->operands[1].type == X86_OP_REG ? x->operands[1].reg : 0;
            if (is_cr(d)) return IC_MOV_TO_CR;
            if (is_cr(s)) return IC_MOV_FROM_CR;
            if (is_dr(d)) return IC_MOV_TO_DR;
            if (is_dr(s)) return IC_MOV_FROM_DR;
            if (is_sreg(d)) return IC_MOV_TO_SREG;
        }
        return IC_NONE;
    case X86_INS_POP:
        if (x->op_count == 1 && x->operands[0].type == X86_OP_REG && is_sreg(x->operands[0].reg))
            return IC_POP_SREG;
        return IC_NONE;
    case X86_INS_CLTS: return IC_CLTS;
    case X86_INS_LMSW: return IC_LMSW;
    case X86_INS_SMSW: return IC_SMSW;
    case X86_INS_RDMSR: return IC_RDMSR;
    case X86_INS_WRMSR: return IC_WRMSR;
    case X86_INS_CPUID: return IC_CPUID;
    case X86_INS_RDTSC: return IC_RDTSC;
    case X86_INS_RDTSCP: return IC_RDTSCP;
    case X86_INS_RDPMC: return IC_RDPMC;
    case X86_INS_RDRAND: return IC_RDRAND;
    case X86_INS_RDSEED: return IC_RDSEED;
    case X86_INS_HLT: return IC_HLT;
    case X86_INS_PAUSE: return IC_PAUSE;
    case X86_INS_MONITOR: return IC_MONITOR;
    case X86_INS_MWAIT: return IC_MWAIT;
    case X86_INS_IN: return IC_IN;
    case X86_INS_OUT: return IC_OUT;
    case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD: return IC_INS;
    case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD: return IC_OUTS;
    case X86_INS_CLI: return IC_CLI;
    case X86_INS_STI: return IC_STI;
    case X86_INS_PUSHF: case X86_INS_PUSHFD: case X86_INS_PUSHFQ: return IC_PUSHF;
    case X86_INS_POPF: case X86_INS_POPFD: case X86_INS_POPFQ: return IC_POPF;
    case X86_INS_STAC: return IC_STAC;
    case X86_INS_CLAC: return IC_CLAC;
    case X86_INS_INT: return IC_INT;
    case X86_INS_INT3: return IC_INT3;
    case X86_INS_INTO: return IC_INTO;
    case X86_INS_INT1: return IC_INT1;
    case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ: return IC_IRET;
    case X86_INS_SYSCALL: return IC_SYSCALL;
    case X86_INS_SYSRET: return IC_SYSRET;
    case X86_INS_SYSENTER: return IC_SYSENTER;
    case X86_INS_SYSEXIT: return IC_SYSEXIT;
    case X86_INS_LJMP: return IC_FAR_JMP;
    case X86_INS_LCALL: return IC_FAR_CALL;
    case X86_INS_RETF: case X86_INS_RETFQ: return IC_FAR_RET;
    case X86_INS_LSS: case X86_INS_LFS: case X86_INS_LGS: case X86_INS_LDS: case X86_INS_LES:
        return IC_LOAD_FARPTR;
    case X86_INS_LAR: return IC_LAR;
    case X86_INS_LSL: return IC_LSL;
    case X86_INS_VERR: return IC_VERR;
    case X86_INS_VERW: return IC_VERW;
    case X86_INS_LGDT: return IC_LGDT;
    case X86_INS_LIDT: return IC_LIDT;
    case X86_INS_LLDT: return IC_LLDT;
    case X86_INS_LTR: return IC_LTR;
    case X86_INS_SGDT: return IC_SGDT;
    case X86_INS_SIDT: return IC_SIDT;
    case X86_INS_SLDT: return IC_SLDT;
    case X86_INS_STR: return IC_STR;
    case X86_INS_INVLPG: return IC_INVLPG;
    case X86_INS_INVPCID: return IC_INVPCID;
    case X86_INS_INVD: return IC_INVD;
    case X86_INS_WBINVD: return IC_WBINVD;
    case X86_INS_XSETBV: return IC_XSETBV;
    case X86_INS_XGETBV: return IC_XGETBV;
    case X86_INS_SWAPGS: return IC_SWAPGS;
    case X86_INS_RDFSBASE: case X86_INS_RDGSBASE:
    case X86_INS_WRFSBASE: case X86_INS_WRGSBASE: return IC_FSGSBASE;
    case X86_INS_VMXON: case X86_INS_VMXOFF: case X86_INS_VMCALL: case X86_INS_VMLAUNCH:
    case X86_INS_VMRESUME: case X86_INS_VMPTRLD: case X86_INS_VMPTRST: case X86_INS_VMCLEAR:
    case X86_INS_VMREAD: case X86_INS_VMWRITE: case X86_INS_INVEPT: case X86_INS_INVVPID:
    case X86_INS_VMFUNC:
        return IC_VMX;
    case X86_INS_VMRUN: case X86_INS_VMMCALL: case X86_INS_VMLOAD: case X86_INS_VMSAVE:
    case X86_INS_STGI: case X86_INS_CLGI: case X86_INS_SKINIT: case X86_INS_INVLPGA:
        return IC_SVM;
    case X86_INS_RSM: return IC_RSM;
    case X86_INS_XSAVES: case X86_INS_XSAVES64: case X86_INS_XRSTORS: case X86_INS_XRSTORS64:
    case X86_INS_GETSEC: case X86_INS_ENCLS: case X86_INS_ENCLU:
        return IC_NOT_IN_PROFILE;
    default:
        return IC_NONE;
    }
}

/* Capstone (4.0.2, Debian 12) ignores an operand-size prefix that comes
 * before a REP prefix in INS and OUTS: 66 F3 6D, which assemblers emit for
 * "rep insw", decodes as REP INSD (F3 66 6D decodes right; its prefix[2]
 * says 0x66 either way). The operand size of the word/doubleword forms
 * (6D, 6F) is the code size toggled by 0x66 (SDM 2A INS, 2B OUTS, 2.2.1). */
static void fix_string_io_size(cs_insn *ci, unsigned bits)
{
    cs_x86 *x = &ci->detail->x86;
    uint8_t op = x->opcode[0];
    if (op != 0x6D && op != 0x6F)
        return;
    bool wide = (bits == 16) == (x->prefix[2] == 0x66);      /* 4 bytes, else 2 */
    bool in = op == 0x6D;
    ci->id = in ? (wide ? X86_INS_INSD : X86_INS_INSW) : (wide ? X86_INS_OUTSD : X86_INS_OUTSW);
    for (unsigned i = 0; i < x->op_count; i++)
        if (x->operands[i].type == X86_OP_MEM)
            x->operands[i].size = wide ? 4 : 2;
}

bool dec_bytes(cpu_t *cpu, const uint8_t *bytes, size_t n, uint64_t la, struct dec_insn *out)
{
    const uint8_t *p = bytes;
    size_t avail = n;
    uint64_t addr = la;
    memset(out, 0, sizeof(*out));
    out->la = la;
    unsigned bits = cpu_code_bits(cpu);
    /* two ways per set; a miss replaces the way not used last */
    struct dcache_ent *set = &cpu->dcache[dcache_slot(la, bits) & ~1u], *ce = NULL;
    for (unsigned w = 0; w < 2 && !ce; w++)
        if (set[w].bits == bits && set[w].la == la && set[w].insn.size <= n &&
            memcmp(set[w].insn.bytes, bytes, set[w].insn.size) == 0)
            ce = &set[w];
    if (ce) {
        set[0].mru = ce == &set[0];
    } else {
        ce = set[0].mru ? &set[1] : &set[0];
        set[0].mru = ce == &set[0];
        cs_insn *ci = cpu->csi;
        csh h = bits == 64 ? cpu->cs : bits == 32 ? cpu->cs32 : cpu->cs16;
        if (!cs_disasm_iter(h, &p, &avail, &addr, ci)) {
            out->cls = IC_UNDECODABLE;
            return false;
        }
        ce->la = la;
        ce->bits = (uint8_t)bits;
        ce->insn = *ci;
        ce->detail = *ci->detail;
        ce->insn.detail = &ce->detail;
        fix_string_io_size(&ce->insn, bits);
        ce->cls = classify(&ce->insn);
        ce->cost = cost_of_insn(&ce->insn, ce->cls);
    }
    /* the result is the cache entry itself: valid until the slot is
     * decoded into again (callers use it before their next decode) */
    cs_insn *ci = &ce->insn;
    out->len = ci->size;
    memcpy(out->bytes, ci->bytes, ci->size < 16 ? ci->size : 16);
    out->id = ci->id;
    out->ci = ci;
    out->cls = ce->cls;
    out->cost = ce->cost;
    return true;
}

bool dec_at(cpu_t *cpu, uint64_t la, struct dec_insn *out)
{
    uint8_t buf[16];
    size_t n = mem_peek_code(cpu, la, buf, sizeof(buf));
    if (n == 0) {
        memset(out, 0, sizeof(*out));
        out->la = la;
        out->cls = IC_UNDECODABLE;
        return false;
    }
    return dec_bytes(cpu, buf, n, la, out);
}

/* The linear address of a memory operand whose offset (effective address,
 * before masking) is ea: masked to the address size, plus the segment base
 * (64-bit mode: FS and GS only; otherwise every segment, 32-bit wrap). */
uint64_t dec_linear(cpu_t *cpu, const cs_x86 *x, const cs_x86_op *op, uint64_t ea)
{
    if (x->addr_size == 4)
        ea &= 0xFFFFFFFFu;
    else if (x->addr_size == 2)
        ea &= 0xFFFFu;
    unsigned sr = op->mem.segment;
    if (cpu_code_bits(cpu) == 64) {
        if (sr == X86_REG_FS)
            ea += cpu->seg[CPU_FS].base;
        else if (sr == X86_REG_GS)
            ea += cpu->seg[CPU_GS].base;
        return ea;
    }
    enum cpu_segreg s;
    switch (sr) {
    case X86_REG_ES: s = CPU_ES; break;
    case X86_REG_CS: s = CPU_CS; break;
    case X86_REG_SS: s = CPU_SS; break;
    case X86_REG_DS: s = CPU_DS; break;
    case X86_REG_FS: s = CPU_FS; break;
    case X86_REG_GS: s = CPU_GS; break;
    default: {
        unsigned b = op->mem.base;
        bool stack = b == X86_REG_ESP || b == X86_REG_EBP || b == X86_REG_SP || b == X86_REG_BP;
        s = stack ? CPU_SS : CPU_DS;
        break;
    }
    }
    return (ea + cpu->seg[s].base) & 0xFFFFFFFFull;
}

/* Register value for address computation (Capstone register -> engine). */
static uint64_t addr_reg(cpu_t *cpu, const struct dec_insn *d, unsigned r, unsigned *w)
{
    if (r == X86_REG_RIP) {
        *w = 8;
        return d->la + d->len;
    }
    if (r == X86_REG_EIP) {
        *w = 4;
        return (d->la + d->len) & 0xFFFFFFFFu;
    }
    unsigned idx = dec_reg_index(r, w);
    if (idx == ~0u || idx >= 16)
        return 0;
    uint64_t v = cpu_gpr(cpu, idx);
    if (*w == 4)
        v &= 0xFFFFFFFFu;
    else if (*w == 2)
        v &= 0xFFFF;
    return v;
}

static bool stack_pushes(unsigned id)
{
    return id == X86_INS_PUSH || id == X86_INS_CALL || id == X86_INS_PUSHF || id == X86_INS_PUSHFQ ||
           id == X86_INS_PUSHFD || id == X86_INS_ENTER || id == X86_INS_LCALL;
}

static bool stack_pops(unsigned id)
{
    return id == X86_INS_POP || id == X86_INS_RET || id == X86_INS_POPF || id == X86_INS_POPFQ ||
           id == X86_INS_POPFD || id == X86_INS_RETF || id == X86_INS_RETFQ || id == X86_INS_IRET ||
           id == X86_INS_IRETD || id == X86_INS_IRETQ;
}

void dec_memops(cpu_t *cpu, struct dec_insn *d)
{
    const cs_x86 *x = &d->ci->detail->x86;
    d->nmem = 0;
    for (unsigned i = 0; i < x->op_count && d->nmem < DEC_MAX_MEMOPS; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type != X86_OP_MEM)
            continue;
        /* LEA, NOP r/m, prefetches, INVLPG and friends do not access memory. */
        if (d->id == X86_INS_LEA || d->id == X86_INS_NOP || d->id == X86_INS_INVLPG ||
            d->id == X86_INS_PREFETCH || d->id == X86_INS_PREFETCHW || d->id == X86_INS_PREFETCHNTA ||
            d->id == X86_INS_PREFETCHT0 || d->id == X86_INS_PREFETCHT1 || d->id == X86_INS_PREFETCHT2 ||
            d->id == X86_INS_CLFLUSH)
            continue;
        unsigned wb = 8, wi = 8;
        uint64_t ea = (uint64_t)op->mem.disp;
        if (op->mem.base != X86_REG_INVALID)
            ea += addr_reg(cpu, d, op->mem.base, &wb);
        if (op->mem.index != X86_REG_INVALID)
            ea += addr_reg(cpu, d, op->mem.index, &wi) * (uint64_t)op->mem.scale;
        ea = dec_linear(cpu, x, op, ea);
        struct dec_memop *m = &d->mem[d->nmem++];
        m->ea = ea;
        m->size = op->size ? op->size : 1;
        m->read = (op->access & CS_AC_READ) != 0;
        m->write = (op->access & CS_AC_WRITE) != 0;
        if (!m->read && !m->write)
            m->read = true;
        m->stack = op->mem.base == X86_REG_RSP || op->mem.base == X86_REG_RBP ||
                   op->mem.base == X86_REG_ESP || op->mem.base == X86_REG_EBP;
    }
    /* Implicit stack accesses (SDM 2A PUSH/POP/CALL/RET/ENTER/LEAVE). */
    unsigned osz = x->prefix[2] == 0x66 ? 2 : 8;
    if (d->nmem < DEC_MAX_MEMOPS && stack_pushes(d->id)) {
        struct dec_memop *m = &d->mem[d->nmem++];
        unsigned n = d->id == X86_INS_LCALL ? 16 : osz;
        m->ea = cpu_gpr(cpu, 4) - n;
        m->size = n;
        m->write = true;
        m->read = false;
        m->stack = true;
    } else if (d->nmem < DEC_MAX_MEMOPS && stack_pops(d->id)) {
        struct dec_memop *m = &d->mem[d->nmem++];
        unsigned n = osz;
        if (d->id == X86_INS_IRET || d->id == X86_INS_IRETD || d->id == X86_INS_IRETQ)
            n = 40;
        else if (d->id == X86_INS_RETF || d->id == X86_INS_RETFQ)
            n = 16;
        m->ea = cpu_gpr(cpu, 4);
        m->size = n;
        m->read = true;
        m->write = false;
        m->stack = true;
    } else if (d->nmem < DEC_MAX_MEMOPS && d->id == X86_INS_LEAVE) {
        struct dec_memop *m = &d->mem[d->nmem++];
        m->ea = cpu_gpr(cpu, 5);
        m->size = osz;
        m->read = true;
        m->stack = true;
    }
}

/* ---- translation-block scan cache ----
 * Open addressing keyed by the block's first linear address. Bounded: when
 * full it is cleared (entries are re-created on the next execution). A TLB
 * flush does not clear it: records carry the view generation they were
 * checked in, and cb_block checks an older record again (code bytes, fetch
 * rights) instead of decoding the block again. */
#define TBC_SLOTS 8192u

struct tbcache {
    struct tb_info *slot[TBC_SLOTS];
    struct tb_info *keep[TBC_SLOTS];      /* tbc_drop_pages' survivors */
    unsigned used;
};

struct tbcache *tbc_create(void)
{
    return calloc(1, sizeof(struct tbcache));
}

static void tb_free(struct tb_info *t)
{
    if (!t)
        return;
    free(t->bytes);
    free(t->off);
    free(t->cls);
    free(t->cum);
    free(t);
}

static unsigned tbc_hash(uint64_t la);

/* The first empty slot of la's neighbourhood (16 slots from its hash), or
 * -1 when they are all taken. */
static int tbc_free_slot(const struct tbcache *t, uint64_t la)
{
    unsigned h = tbc_hash(la);
    for (unsigned i = 0; i < 16; i++) {
        unsigned s = (h + i) & (TBC_SLOTS - 1);
        if (!t->slot[s])
            return (int)s;
    }
    return -1;
}

void tbc_clear(struct tbcache *t)
{
    for (unsigned i = 0; i < TBC_SLOTS; i++) {
        tb_free(t->slot[i]);
        t->slot[i] = NULL;
    }
    t->used = 0;
}

/* Drop the records of blocks that touch any of the n linear pages (page
 * numbers); the others stay. Removal would break the probe runs that
 * lookups follow, so the survivors are placed again, in slot order from
 * just after an empty slot (no run crosses it): each then finds a slot no
 * farther from its hash than before. (Should one not, it is dropped too,
 * and scanned again when next run.) */
void tbc_drop_pages(struct tbcache *t, const uint64_t *pages, unsigned n)
{
    struct tb_info **keep = t->keep;
    unsigned nk = 0, z = 0;
    while (z < TBC_SLOTS && t->slot[z])
        z++;
    for (unsigned j = 1; j <= TBC_SLOTS; j++) {
        unsigned i = (z + j) & (TBC_SLOTS - 1);
        struct tb_info *e = t->slot[i];
        if (!e)
            continue;
        t->slot[i] = NULL;
        uint64_t first = e->la >> 12, last = (e->la + (e->size ? e->size - 1 : 0)) >> 12;
        bool hit = false;
        for (unsigned k = 0; k < n && !hit; k++)
            hit = pages[k] >= first && pages[k] <= last;
        if (hit)
            tb_free(e);
        else
            keep[nk++] = e;
    }
    t->used = 0;
    for (unsigned j = 0; j < nk; j++) {
        int s = tbc_free_slot(t, keep[j]->la);
        if (s < 0) {
            tb_free(keep[j]);
            continue;
        }
        t->slot[s] = keep[j];
        t->used++;
    }
}

void tbc_destroy(struct tbcache *t)
{
    if (!t)
        return;
    tbc_clear(t);
    free(t);
}

static unsigned tbc_hash(uint64_t la)
{
    la ^= la >> 17;
    la *= 0x9E3779B97F4A7C15ull;
    return (unsigned)(la >> 40) & (TBC_SLOTS - 1);
}

unsigned tbc_home(uint64_t la)
{
    return tbc_hash(la);
}

const struct tb_info *tbc_lookup(struct tbcache *t, uint64_t la)
{
    unsigned h = tbc_hash(la);
    for (unsigned i = 0; i < 16; i++) {
        struct tb_info *e = t->slot[(h + i) & (TBC_SLOTS - 1)];
        if (!e)
            return NULL;
        if (e->la == la)
            return e;
    }
    return NULL;
}

/* Insert (or replace) the record for tmpl->la. When the 16 slots from its
 * hash are all taken, the record in the first of them is evicted (the slot
 * stays taken, so the probe runs through it still hold) and its address
 * returned in *evicted (else ~0): the caller drops the engine's code there,
 * which would otherwise run without a record to compare. */
const struct tb_info *tbc_insert(struct tbcache *t, const struct tb_info *tmpl, uint64_t *evicted)
{
    *evicted = ~0ull;
    unsigned h = tbc_hash(tmpl->la);
    struct tb_info *n = malloc(sizeof(*n));
    if (!n)
        return NULL;
    *n = *tmpl;
    for (unsigned i = 0; i < 16; i++) {
        unsigned s = (h + i) & (TBC_SLOTS - 1);
        struct tb_info *e = t->slot[s];
        if (e && e->la == tmpl->la) {
            tb_free(e);
            t->slot[s] = n;
            return n;
        }
    }
    int f = tbc_free_slot(t, tmpl->la);
    if (f >= 0) {
        t->slot[f] = n;
        t->used++;
        return n;
    }
    *evicted = t->slot[h]->la;
    tb_free(t->slot[h]);
    t->slot[h] = n;
    return n;
}

/* The cache owns its records; the run loop only sees them as const. */
void tbc_set_gen(struct tbcache *t, const struct tb_info *tb, uint64_t gen)
{
    (void)t;
    ((struct tb_info *)tb)->gen = gen;
}

void tb_prefix(const struct tb_info *tb, uint64_t la, uint64_t *cycles, uint64_t *insns)
{
    uint64_t off = la - tb->la;
    unsigned k = 0;
    while (k < tb->ninsn && tb->off[k] < off)
        k++;
    *cycles = tb->cum[k];
    *insns = k;
}
