/*
 * seg.c — segment descriptors, the CPL, and data-segment loads in IA-32e
 * mode (SDM 3A ch. 3 and 5). The engine never reads descriptors: hvsim
 * keeps the descriptor caches and mirrors selectors and FS/GS bases into
 * the engine (a selector write there changes nothing else, measured).
 */
#include "cpu_priv.h"

static const int eng_seg_reg[6] = {
    [CPU_ES] = UC_X86_REG_ES, [CPU_CS] = UC_X86_REG_CS, [CPU_SS] = UC_X86_REG_SS,
    [CPU_DS] = UC_X86_REG_DS, [CPU_FS] = UC_X86_REG_FS, [CPU_GS] = UC_X86_REG_GS,
};

void seg_sync_engine(cpu_t *cpu, enum cpu_segreg s)
{
    if (s > CPU_GS)
        return;
    if (cpu_code_bits(cpu) != 64 || cpu->eng_bits != 64) {
        /* Outside 64-bit mode the engine needs whole segment caches: they
         * are written into it before it runs again (engmode.c). */
        cpu->eng_mode_dirty = true;
        return;
    }
    eng_set(cpu, eng_seg_reg[s], cpu->seg[s].sel);
    if (s == CPU_FS)
        eng_set(cpu, UC_X86_REG_FS_BASE, cpu->seg[s].base);
    else if (s == CPU_GS)
        eng_set(cpu, UC_X86_REG_GS_BASE, cpu->seg[s].base);
}

void seg_set_cpl(cpu_t *cpu, unsigned cpl)
{
    if (cpu->cpl == cpl)
        return;
    cpu->cpl = cpl;
    view_set_context(cpu->view);
}

/* Descriptor layout (SDM 3A 3.4.5, figure 3-8):
 *  lo 15:0 limit 15:0 | 31:16 base 15:0 | 39:32 base 23:16 | 43:40 type | 44 S
 *     46:45 DPL | 47 P | 51:48 limit 19:16 | 52 AVL | 53 L | 54 D/B | 55 G
 *     63:56 base 31:24
 *  hi (system descriptors in IA-32e mode) 31:0 base 63:32 */
void seg_from_descriptor(uint16_t sel, uint64_t lo, uint64_t hi, struct cpu_seg *out)
{
    out->sel = sel;
    out->base = ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24);
    uint32_t limit = (uint32_t)((lo & 0xFFFF) | (((lo >> 48) & 0xF) << 16));
    bool g = (lo >> 55) & 1;
    out->limit = g ? (limit << 12) | 0xFFF : limit;
    out->attr = (uint32_t)((lo >> 40) & 0xFF) | (uint32_t)(((lo >> 52) & 0xF) << 12);
    bool system = !((lo >> 44) & 1);
    if (system)
        out->base |= (hi & 0xFFFFFFFFull) << 32;
}

/* Read the 8-byte descriptor (and, for system descriptors, the upper 8
 * bytes) for a selector. #GP(selector) when outside the table. */
bool seg_read_descriptor(cpu_t *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi, struct xcpt *x)
{
    uint64_t base;
    uint32_t limit;
    if (sel & 4) {
        if (cpu->seg[CPU_LDTR].attr & SEG_ATTR_UNUSABLE || cpu->seg[CPU_LDTR].sel == 0) {
            *x = xcpt_gp(sel & 0xFFFC);
            return false;
        }
        base = cpu->seg[CPU_LDTR].base;
        limit = cpu->seg[CPU_LDTR].limit;
    } else {
        base = cpu->gdtr.base;
        limit = cpu->gdtr.limit;
    }
    uint64_t off = (uint64_t)(sel & 0xFFF8);
    if (off + 7 > limit) {
        *x = xcpt_gp(sel & 0xFFFC);
        return false;
    }
    struct mem_acc a = mem_acc_sys();
    if (mem_read(cpu, &a, base + off, lo, 8, x) != MEM_OK)
        return false;
    *hi = 0;
    bool system = !((*lo >> 44) & 1);
    if (system && hi && (cpu->efer & EFER_LMA)) {   /* 16-byte system descriptors in IA-32e mode only */
        if (off + 15 > limit) {
            *x = xcpt_gp(sel & 0xFFFC);
            return false;
        }
        if (mem_read(cpu, &a, base + off + 8, hi, 8, x) != MEM_OK)
            return false;
    }
    return true;
}

/* MOV/POP to DS, ES, FS, GS or SS in IA-32e mode (SDM 2B MOV, "Operation"
 * and the protected-mode exceptions). */
bool seg_load_data(cpu_t *cpu, enum cpu_segreg s, uint16_t sel, struct xcpt *x)
{
    struct cpu_seg n = { 0 };
    unsigned rpl = sel & 3;
    if (!(cpu->cr0 & CR0_PE)) {
        /* Real mode: base = selector * 16; limit and attributes stay as they
         * are (a cache loaded in protected mode survives: "unreal" mode),
         * the segment becomes usable (SDM 3A 20.1.1). */
        n = cpu->seg[s];
        n.sel = sel;
        n.base = (uint64_t)sel << 4;
        n.attr = (n.attr & ~SEG_ATTR_UNUSABLE) | SEG_ATTR_P | SEG_ATTR_S;
        cpu->seg[s] = n;
        seg_sync_engine(cpu, s);
        return true;
    }
    if ((sel & 0xFFFC) == 0) {
        /* Null selector: allowed for DS/ES/FS/GS, and for SS only in 64-bit
         * mode when CPL < 3 and RPL == CPL (SDM 2B MOV). */
        if (s == CPU_SS && (cpu_code_bits(cpu) != 64 || cpu->cpl == 3 || rpl != cpu->cpl)) {
            *x = xcpt_gp(0);
            return false;
        }
        n.sel = sel;
        n.attr = SEG_ATTR_UNUSABLE | (s == CPU_SS ? (cpu->cpl << 5) : 0);
        if (s == CPU_FS || s == CPU_GS)
            n.base = cpu->seg[s].base;        /* base kept (SDM 3A 3.4.4) */
    } else {
        uint64_t lo, hi;
        if (!seg_read_descriptor(cpu, sel, &lo, &hi, x))
            return false;
        seg_from_descriptor(sel, lo, hi, &n);
        unsigned type = n.attr & 0xF, dpl = SEG_ATTR_DPL(n.attr);
        bool code = type & 8, rw = type & 2, conforming = code && (type & 4);
        if (!(n.attr & SEG_ATTR_S)) {
            *x = xcpt_gp(sel & 0xFFFC);
            return false;
        }
        if (s == CPU_SS) {
            if (rpl != cpu->cpl || code || !rw || dpl != cpu->cpl) {
                *x = xcpt_gp(sel & 0xFFFC);
                return false;
            }
        } else {
            if (code && !rw) {                    /* execute-only code */
                *x = xcpt_gp(sel & 0xFFFC);
                return false;
            }
            if (!conforming && (rpl > dpl || cpu->cpl > dpl)) {
                *x = xcpt_gp(sel & 0xFFFC);
                return false;
            }
        }
        if (!(n.attr & SEG_ATTR_P)) {
            *x = (struct xcpt){ s == CPU_SS ? VEC_SS : VEC_NP, sel & 0xFFFCu, true, 0 };
            return false;
        }
        if (s == CPU_FS || s == CPU_GS)
            n.base &= 0xFFFFFFFFull;             /* descriptor loads set bits 31:0 */
    }
    cpu->seg[s] = n;
    seg_sync_engine(cpu, s);
    return true;
}
