/*
 * msr.c — the MSR file: RDMSR/WRMSR semantics for the MSRs in msrs.def
 * (SDM vol. 4 for layouts; SDM 2B RDMSR/WRMSR for #GP conditions).
 * Called from instruction emulation and from cpu_msr_read/write (boot, tests).
 */
#include <string.h>

#include "cpu_priv.h"

enum msr_kind { MSRK_RW, MSRK_RO, MSRK_ENG, MSRK_TSC };

static const struct msr_desc {
    uint32_t index;
    enum msr_kind kind;
    uint64_t reset;
    const char *name;
} msr_table[MSR_COUNT] = {
#define X(name, index, kind, reset, desc) [MSR_##name] = { index, kind, reset, #name },
#include "msrs.def"
#undef X
};

int msr_lookup(uint32_t index)
{
    switch (index) {               /* (a switch: the compiler refuses an index listed twice) */
#define X(name, index, kind, reset, desc) case index: return MSR_##name;
#include "msrs.def"
#undef X
    default:
        return -1;
    }
}

/* x2APIC registers and IA32_TSC_DEADLINE live in apic.c. */
#define MSR_X2APIC_FIRST 0x800u
#define MSR_X2APIC_LAST  0x8FFu
#define MSR_TSC_DEADLINE 0x6E0u

bool msr_modelled(uint32_t index)
{
    /* 0x480..0x493: the VMX capability MSRs (SDM 3D appendix A), answered
     * by the VMX model or #GP where the profile has no VMX; VM_CR and
     * VM_HSAVE_PA (APM vol. 2 15.30) by the SVM model. */
    return msr_lookup(index) >= 0 || (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST) ||
           index == MSR_TSC_DEADLINE || (index >= 0x480 && index <= 0x493) || index == 0xC0010114u ||
           index == 0xC0010117u;
}

const char *msr_name(uint32_t index)
{
    int i = msr_lookup(index);
    return i < 0 ? NULL : msr_table[i].name;
}

void msr_reset(cpu_t *cpu)
{
    for (int i = 0; i < MSR_COUNT; i++)
        cpu->msr.val[i] = msr_table[i].reset;
    if (cpu->cfg.lp_index == 0)
        cpu->msr.val[MSR_APIC_BASE] |= 0x100;          /* BSP flag */
}

static bool canonical(cpu_t *cpu, uint64_t v)
{
    return pg_canonical(v, cpu->prof->linear_bits);
}

/* PAT entries must encode a valid memory type (SDM 3A 11.12.2): 0,1,4,5,6,7. */
static bool pat_valid(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        unsigned t = (v >> (8 * i)) & 0xFF;
        if (t == 2 || t == 3 || t > 7)
            return false;
    }
    return true;
}

static uint64_t efer_writable_mask(const cpu_t *cpu)
{
    uint64_t m = EFER_LME;
    if (cpu->prof->syscall)
        m |= EFER_SCE;
    if (cpu->prof->nx)
        m |= EFER_NXE;
    if (cpu->prof->is_amd)
        m |= EFER_SVME;
    return m;
}

bool msr_rdmsr(cpu_t *cpu, uint32_t index, uint64_t *val)
{
    cpu->msr_claimed = false;
    if (cpu->has_virt && cpu->virt.msr) {
        int r = cpu->virt.msr(cpu->virt.ctx, cpu, index, false, val);
        if (r >= 0) {
            cpu->msr_claimed = true;           /* the model's MSR: its #GP is a modelled one */
            return r > 0;
        }
    }
    if (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST)
        return apic_msr_read(cpu, index, val) > 0;
    if (index == MSR_TSC_DEADLINE)
        return apic_tsc_deadline_read(cpu, val);
    int i = msr_lookup(index);
    if (i < 0)
        return false;
    switch (msr_table[i].kind) {
    case MSRK_TSC:
        *val = cpu->cycles + cpu->tsc_offset;
        return true;
    case MSRK_ENG:
        *val = eng_get(cpu, i == MSR_FS_BASE ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE);
        return true;
    default:
        break;
    }
    if (i == MSR_EFER) {
        *val = cpu->efer;
        return true;
    }
    *val = cpu->msr.val[i];
    return true;
}

bool msr_wrmsr(cpu_t *cpu, uint32_t index, uint64_t v)
{
    cpu->msr_claimed = false;
    if (cpu->has_virt && cpu->virt.msr) {
        int r = cpu->virt.msr(cpu->virt.ctx, cpu, index, true, &v);
        if (r >= 0) {
            cpu->msr_claimed = true;
            return r > 0;
        }
    }
    if (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST)
        return apic_msr_write(cpu, index, v) > 0;
    if (index == MSR_TSC_DEADLINE)
        return apic_tsc_deadline_write(cpu, v);
    int i = msr_lookup(index);
    if (i < 0)
        return false;
    switch (i) {
    case MSR_TSC:
        /* SDM 3B 17.17.3: a write sets the counter; IA32_TSC_ADJUST follows. */
        cpu->msr.val[MSR_TSC_ADJUST] += v - (cpu->cycles + cpu->tsc_offset);
        cpu->tsc_offset = v - cpu->cycles;
        return true;
    case MSR_TSC_ADJUST:
        cpu->tsc_offset += v - cpu->msr.val[MSR_TSC_ADJUST];
        cpu->msr.val[i] = v;
        return true;
    case MSR_FS_BASE:
    case MSR_GS_BASE:
        if (!canonical(cpu, v))
            return false;
        eng_set(cpu, i == MSR_FS_BASE ? UC_X86_REG_FS_BASE : UC_X86_REG_GS_BASE, v);
        cpu->seg[i == MSR_FS_BASE ? CPU_FS : CPU_GS].base = v;
        return true;
    case MSR_KERNEL_GS_BASE:
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
        if (!canonical(cpu, v))
            return false;
        break;
    case MSR_SYSENTER_CS:
        if (v >> 32)
            return false;
        break;
    case MSR_FMASK:
    case MSR_TSC_AUX:
        if (v >> 32)
            return false;
        break;
    case MSR_PAT:
        if (!pat_valid(v))
            return false;
        break;
    case MSR_MTRR_DEF_TYPE: {
        unsigned t = v & 0xFF;
        if ((v & ~0xCFFull) || !(t == 0 || t == 1 || t == 4 || t == 5 || t == 6))
            return false;
        break;
    }
    case MSR_FEATURE_CONTROL:
        if (cpu->msr.val[i] & 1)
            return false;                   /* locked until reset (SDM 3C 23.7) */
        break;
    case MSR_APIC_BASE:
        return apic_base_write(cpu, v);
    case MSR_EFER: {
        uint64_t mask = efer_writable_mask(cpu);
        if (v & ~(mask | EFER_LMA))
            return false;                   /* reserved bits */
        /* LME may not change while paging is on (SDM 3A 9.8.5) */
        if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
            return false;
        uint64_t nv = (cpu->efer & EFER_LMA) | (v & mask);
        bool paging_bits = (nv ^ cpu->efer) & EFER_NXE;
        cpu->efer = nv;
        if (paging_bits)
            view_flush(cpu->view, false);
        return true;
    }
    case MSR_MTRRCAP:
        return false;
    default:
        break;
    }
    if (msr_table[i].kind == MSRK_RO)
        return false;
    cpu->msr.val[i] = v;
    return true;
}
