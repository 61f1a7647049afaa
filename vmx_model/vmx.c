/*
 * vmx.c — VMX operation and the VMX instructions for one logical processor
 * (SDM vol. 2, "VMX Instruction Reference"; SDM 3C "VMX Instruction
 * Reference", 31.2 conventions, 31.4 VM-instruction error numbers).
 *
 * Each instruction follows the order of its "Operation" section:
 *   1. #UD conditions (mode, VMX operation, CPUID-gated support),
 *   2. VM exit when in VMX non-root operation (issue 5; hvsim never enters
 *      non-root operation before VM entry exists),
 *   3. #GP conditions (CPL, and for VMXON the fixed bits and
 *      IA32_FEATURE_CONTROL),
 *   4. the memory operand (faults through the MMU),
 *   5. VMfailInvalid / VMfailValid(n) conditions, then the effect and
 *      VMsucceed.
 * Steps 1-3 are insn_checks(); step 5 is the op_*() function of the
 * instruction. The public vmx_*() API runs 1-3 and 5 with operand values
 * given; the instruction handler runs 1-5.
 *
 * The VMCS lives in guest-physical memory (docs/vmcs-layout.md): hvsim keeps
 * no cached copy, so what VMCLEAR must "write back" is only the launch state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmx_priv.h"

/* ---- results ---- */

/* A result with a fixed text: no formatting on the hot paths (every VMX
 * instruction and VM entry goes through one). The result is small (the
 * text is a pointer): it is returned by value through several layers. */
struct vmx_result res_s(enum vmx_outcome o, const char *text)
{
    return (struct vmx_result){ .outcome = o, .check = -1, .why = text };
}

/* A result with formatted text, kept in a small per-thread ring (results
 * are read right after they are made: cpu_insn_note copies the text). */
struct vmx_result res(enum vmx_outcome o, unsigned err, const char *fmt, ...)
{
    static _Thread_local char ring[VMX_WHY_RING][400];
    static _Thread_local unsigned next;
    char *buf = ring[next++ % VMX_WHY_RING];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(ring[0]), fmt, ap);
    va_end(ap);
    return (struct vmx_result){ .outcome = o, .error = err, .check = -1, .why = buf };
}

static const char *const error_text[] = {
    [1] = "VMCALL executed in VMX root operation",
    [2] = "VMCLEAR with invalid physical address",
    [3] = "VMCLEAR with VMXON pointer",
    [4] = "VMLAUNCH with non-clear VMCS",
    [5] = "VMRESUME with non-launched VMCS",
    [6] = "VMRESUME after VMXOFF",
    [7] = "VM entry with invalid control field(s)",
    [8] = "VM entry with invalid host-state field(s)",
    [9] = "VMPTRLD with invalid physical address",
    [10] = "VMPTRLD with VMXON pointer",
    [11] = "VMPTRLD with incorrect VMCS revision identifier",
    [12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
    [13] = "VMWRITE to read-only VMCS component",
    [15] = "VMXON executed in VMX root operation",
    [16] = "VM entry with invalid executive-VMCS pointer",
    [17] = "VM entry with non-launched executive VMCS",
    [18] = "VM entry with executive-VMCS pointer not VMXON pointer",
    [19] = "VMCALL with non-clear VMCS",
    [20] = "VMCALL with invalid VM-exit control fields",
    [22] = "VMCALL with incorrect MSEG revision identifier",
    [23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
    [24] = "VMCALL with invalid SMM-monitor features",
    [25] = "VM entry with invalid VM-execution control fields in executive VMCS",
    [26] = "VM entry with events blocked by MOV SS",
    [28] = "invalid operand to INVEPT/INVVPID",
};

const char *vmx_insn_error_text(unsigned error)
{
    if (error < sizeof(error_text) / sizeof(error_text[0]) && error_text[error])
        return error_text[error];
    return "(not a VM-instruction error number)";
}

/* RFLAGS as VMsucceed / VMfailInvalid / VMfailValid leave them (SDM 3C 31.2). */
void set_flags(vmx_t *v, const struct vmx_result *r)
{
    if (r->outcome != VMX_SUCCEED && r->outcome != VMX_FAIL_INVALID && r->outcome != VMX_FAIL_VALID)
        return;
    uint64_t f = cpu_rflags_no_arith(v->cpu);   /* (all six are written) */
    if (r->outcome == VMX_FAIL_INVALID)
        f |= RFLAGS_CF;
    else if (r->outcome == VMX_FAIL_VALID)
        f |= RFLAGS_ZF;
    cpu_set(v->cpu, CPU_RFLAGS, f);
}

/* ---- the VMCS in memory ---- */

static bool region_read32(vmx_t *v, uint64_t pa, unsigned off, uint32_t *val)
{
    return cpu_phys_read(v->cpu, pa + off, val, 4);
}

static bool region_write32(vmx_t *v, uint64_t pa, unsigned off, uint32_t val)
{
    return cpu_phys_write(v->cpu, pa + off, &val, 4);
}

/* The current VMCS region's host address (RAM; the platform's map is
 * fixed), looked up again when the current-VMCS pointer changes. Field
 * accesses read and write the region itself, as before, without the
 * general physical-access path. */
static uint8_t *cur_host(vmx_t *v);

uint8_t *vmcs_region_host(vmx_t *v)
{
    return cur_host(v);
}

static uint8_t *cur_host(vmx_t *v)
{
    if (v->cur_host_pa != v->current) {
        v->cur_host_pa = v->current;
        v->cur_host = v->current == VMCS_INVALID ? NULL : cpu_phys_host(v->cpu, v->current, 4096);
    }
    return v->cur_host;
}

bool field_read_slow(vmx_t *v, int id, uint64_t *val)
{
    uint8_t *h = cur_host(v);
    if (h) {
        memcpy(val, h + vmcs_field_offset(id), 8);
        return true;
    }
    *val = 0;
    return cpu_phys_read(v->cpu, v->current + vmcs_field_offset(id), val, 8);
}

uint64_t field_value(vmx_t *v, enum vmcs_field_id id)
{
    uint64_t x = 0;
    field_read(v, id, &x);
    return x;
}

enum cpu_guest_action nonroot_stop(vmx_t *v, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu_insn_unmodelled(v->cpu, "VMX non-root operation: %s", buf);
    return CPU_GUEST_STOP;
}

bool field_write(vmx_t *v, int id, uint64_t val)
{
    uint8_t *h = cur_host(v);
    if (h) {
        memcpy(h + vmcs_field_offset(id), &val, 8);
        cpu_phys_written(v->cpu, v->current + vmcs_field_offset(id), 8);
        return true;
    }
    return cpu_phys_write(v->cpu, v->current + vmcs_field_offset(id), &val, 8);
}

/* VMfail(n): VMfailValid when there is a current VMCS (the error number goes
 * into its VM-instruction error field), VMfailInvalid otherwise. */
struct vmx_result vmfail(vmx_t *v, unsigned n, const char *rule)
{
    if (v->current == VMCS_INVALID)
        return res(VMX_FAIL_INVALID, 0, "%s; no current VMCS, so VMfailInvalid [SDM 3C 31.2]", rule);
    if (!field_write(v, VMCS_VM_INSTRUCTION_ERROR, n))
        return res(VMX_UNMODELLED, 0, "the current VMCS at %#llx is not in RAM",
                   (unsigned long long)v->current);
    return res(VMX_FAIL_VALID, n, "%s: VMfailValid(%u) \"%s\"", rule, n, vmx_insn_error_text(n));
}

/* A VMX feature exists on this profile (the VMCS fields it adds, SDM 3D
 * appendix B: "exists only on processors that support the 1-setting of"). */
static bool feature_supported(const vmx_t *v, enum vmcs_feature f) { return (v->features >> f) & 1; }

/* ---- steps 1-3: #UD, VM exit, #GP ---- */

static struct vmx_result insn_checks(vmx_t *v, enum cpu_virt_id id)
{
    cpu_t *c = v->cpu;
    enum cpu_mode mode = cpu_mode(c);
    bool pe = cpu_get(c, CPU_CR0) & CR0_PE;
    bool vm86 = mode == CPU_MODE_V86, compat = mode == CPU_MODE_COMPAT;
    const char *mn = "?";
    switch (id) {
    case CPU_VI_VMXON:
        mn = "VMXON";
        if (!pe || !(cpu_get(c, CPU_CR4) & CR4_VMXE) || vm86 || compat)
            return UD("VMXON with CR0.PE = %d, CR4.VMXE = %d in %s: #UD [SDM 3C 31.3 VMXON]", pe,
                      (cpu_get(c, CPU_CR4) & CR4_VMXE) ? 1 : 0, cpu_mode_name(mode));
        if (!v->in_vmx) {
            if (cpu_cpl(c) > 0)
                return GP0("VMXON at CPL %u: #GP(0) [SDM 3C 31.3 VMXON]", cpu_cpl(c));
            uint64_t cr0 = cpu_get(c, CPU_CR0), cr4 = cpu_get(c, CPU_CR4);
            uint64_t f0 = CAP(v, MSR_VMX_CR0_FIXED0), f1 = CAP(v, MSR_VMX_CR0_FIXED1);
            if ((cr0 & f0) != f0 || (cr0 & ~f1))
                return GP0("VMXON with CR0 = %#llx, which IA32_VMX_CR0_FIXED0/1 (%#llx/%#llx) do not allow: "
                           "#GP(0) [SDM 3C 24.8]", (unsigned long long)cr0, (unsigned long long)f0,
                           (unsigned long long)f1);
            f0 = CAP(v, MSR_VMX_CR4_FIXED0);
            f1 = CAP(v, MSR_VMX_CR4_FIXED1);
            if ((cr4 & f0) != f0 || (cr4 & ~f1))
                return GP0("VMXON with CR4 = %#llx, which IA32_VMX_CR4_FIXED0/1 (%#llx/%#llx) do not allow: "
                           "#GP(0) [SDM 3C 24.8]", (unsigned long long)cr4, (unsigned long long)f0,
                           (unsigned long long)f1);
            uint64_t fc = 0;
            cpu_msr_read(c, MSR_IA32_FEATURE_CONTROL, &fc);
            if (!(fc & FEATCTL_LOCK) || !(fc & FEATCTL_VMX_OUTSIDE))
                return GP0("VMXON with IA32_FEATURE_CONTROL = %#llx (lock bit and 'VMX outside SMX' must be 1): "
                           "#GP(0) [SDM 3C 24.7]", (unsigned long long)fc);
        } else if (cpu_cpl(c) > 0) {
            return GP0("VMXON in VMX root operation at CPL %u: #GP(0) [SDM 3C 31.3 VMXON]", cpu_cpl(c));
        }
        return res_s(VMX_SUCCEED, "checks passed");
    case CPU_VI_VMCALL:
        if (!v->in_vmx)
            return UD("VMCALL outside VMX operation: #UD [SDM 3C 31.3 VMCALL]");
        if (vm86 || compat)
            return UD("VMCALL in %s: #UD [SDM 3C 31.3 VMCALL]", cpu_mode_name(mode));
        if (cpu_cpl(c) > 0)
            return GP0("VMCALL in VMX root operation at CPL %u: #GP(0) [SDM 3C 31.3 VMCALL]", cpu_cpl(c));
        return res_s(VMX_SUCCEED, "checks passed");
    case CPU_VI_VMFUNC:
        return UD("VMFUNC in %s: #UD (VMFUNC is only valid in VMX non-root operation) [SDM 3C 31.3 VMFUNC]",
                  v->in_vmx ? "VMX root operation" : "no VMX operation");
    default:
        break;
    }
    switch (id) {
    case CPU_VI_VMXOFF: mn = "VMXOFF"; break;
    case CPU_VI_VMCLEAR: mn = "VMCLEAR"; break;
    case CPU_VI_VMPTRLD: mn = "VMPTRLD"; break;
    case CPU_VI_VMPTRST: mn = "VMPTRST"; break;
    case CPU_VI_VMREAD: mn = "VMREAD"; break;
    case CPU_VI_VMWRITE: mn = "VMWRITE"; break;
    case CPU_VI_VMLAUNCH: mn = "VMLAUNCH"; break;
    case CPU_VI_VMRESUME: mn = "VMRESUME"; break;
    case CPU_VI_INVEPT: mn = "INVEPT"; break;
    case CPU_VI_INVVPID: mn = "INVVPID"; break;
    default:
        return res(VMX_UNMODELLED, 0, "instruction %d is not a VMX instruction", (int)id);
    }
    if (!v->in_vmx || !pe || vm86 || compat)
        return UD("%s %s: #UD [SDM 3C 31.3 %s]", mn,
                  !v->in_vmx ? "outside VMX operation" : !pe ? "with CR0.PE = 0" : vm86 ? "in virtual-8086 mode"
                                                                                   : "in compatibility mode",
                  mn);
    uint32_t proc2 = (allowed1(v, MSR_VMX_PROCBASED_CTLS) & PROC_SECONDARY) ? allowed1(v, MSR_VMX_PROCBASED_CTLS2) : 0;
    uint64_t ev = v->present[MSR_VMX_EPT_VPID_CAP - MSR_VMX_BASIC] ? CAP(v, MSR_VMX_EPT_VPID_CAP) : 0;
    if (id == CPU_VI_INVEPT && (!(proc2 & PROC2_EPT) || !(ev & (1ull << 20))))
        return UD("INVEPT on a processor without %s: #UD [SDM 3C 31.3 INVEPT]",
                  !(proc2 & PROC2_EPT) ? "EPT (IA32_VMX_PROCBASED_CTLS2[33] = 0)" : "INVEPT (IA32_VMX_EPT_VPID_CAP[20] = 0)");
    if (id == CPU_VI_INVVPID && (!(proc2 & PROC2_VPID) || !(ev & (1ull << 32))))
        return UD("INVVPID on a processor without %s: #UD [SDM 3C 31.3 INVVPID]",
                  !(proc2 & PROC2_VPID) ? "VPIDs (IA32_VMX_PROCBASED_CTLS2[37] = 0)"
                                        : "INVVPID (IA32_VMX_EPT_VPID_CAP[32] = 0)");
    if (cpu_cpl(c) > 0)
        return GP0("%s at CPL %u: #GP(0) [SDM 3C 31.3 %s]", mn, cpu_cpl(c), mn);
    return res_s(VMX_SUCCEED, "checks passed");
}

/* ---- step 5 of each instruction ---- */

static bool pa_valid(const vmx_t *v, uint64_t pa)
{
    unsigned width = (CAP(v, MSR_VMX_BASIC) >> 48) & 1 ? 32 : cpu_maxphyaddr(v->cpu);
    return !(pa & 0xFFF) && !(pa >> width);
}

static struct vmx_result op_vmxon(vmx_t *v, uint64_t pa)
{
    if (v->in_vmx)
        return vmfail(v, VMXERR_VMXON_IN_ROOT, "VMXON in VMX root operation");
    if (!pa_valid(v, pa))
        return res(VMX_FAIL_INVALID, 0, "VMXON region %#llx is not 4-KiB aligned or sets bits above the "
                   "%u-bit physical-address width: VMfailInvalid [SDM 3C 31.3 VMXON]", (unsigned long long)pa,
                   cpu_maxphyaddr(v->cpu));
    uint32_t rev;
    if (!region_read32(v, pa, REGION_REVISION, &rev))
        return res(VMX_UNMODELLED, 0, "VMXON region at %#llx: there is no RAM there", (unsigned long long)pa);
    if ((rev & 0x7FFFFFFFu) != v->revision || (rev >> 31))
        return res(VMX_FAIL_INVALID, 0, "VMXON region revision identifier %#x, this processor's is %#x "
                   "(IA32_VMX_BASIC[30:0]), bit 31 must be 0: VMfailInvalid [SDM 3C 31.3 VMXON]", rev, v->revision);
    v->in_vmx = true;
    v->vmxon_ptr = pa;
    v->current = VMCS_INVALID;
    return res(VMX_SUCCEED, 0, "VMX root operation entered");
}

static struct vmx_result op_vmxoff(vmx_t *v)
{
    v->in_vmx = false;
    v->current = VMCS_INVALID;
    cpu_release_init(v->cpu);              /* INIT is no longer blocked (SDM 3C 31.3 VMXOFF) */
    return res(VMX_SUCCEED, 0, "VMX operation left");
}

static struct vmx_result op_vmclear(vmx_t *v, uint64_t pa)
{
    if (!pa_valid(v, pa))
        return vmfail(v, VMXERR_VMCLEAR_INVALID_PA, "VMCLEAR operand is not 4-KiB aligned or beyond the physical-address width");
    if (pa == v->vmxon_ptr)
        return vmfail(v, VMXERR_VMCLEAR_VMXON_PTR, "VMCLEAR operand is the VMXON pointer");
    if (!region_write32(v, pa, REGION_LAUNCH, LAUNCH_CLEAR))
        return res(VMX_UNMODELLED, 0, "VMCLEAR of %#llx: there is no RAM there", (unsigned long long)pa);
    if (pa == v->current)
        v->current = VMCS_INVALID;
    return res(VMX_SUCCEED, 0, "VMCS %#llx: launch state clear", (unsigned long long)pa);
}

static struct vmx_result op_vmptrld(vmx_t *v, uint64_t pa)
{
    if (!pa_valid(v, pa))
        return vmfail(v, VMXERR_VMPTRLD_INVALID_PA, "VMPTRLD operand is not 4-KiB aligned or beyond the physical-address width");
    if (pa == v->vmxon_ptr)
        return vmfail(v, VMXERR_VMPTRLD_VMXON_PTR, "VMPTRLD operand is the VMXON pointer");
    uint32_t rev;
    if (!region_read32(v, pa, REGION_REVISION, &rev))
        return res(VMX_UNMODELLED, 0, "VMPTRLD of %#llx: there is no RAM there", (unsigned long long)pa);
    bool shadowing = feature_supported(v, VMCS_FEAT_VMCS_SHADOWING);
    if ((rev & 0x7FFFFFFFu) != v->revision || ((rev >> 31) && !shadowing))
        return vmfail(v, VMXERR_VMPTRLD_BAD_REVISION, "VMPTRLD of a VMCS whose revision identifier is not this processor's");
    v->current = pa;
    return res(VMX_SUCCEED, 0, "current VMCS %#llx", (unsigned long long)pa);
}

/* Look up a field for VMREAD/VMWRITE: -1 with *r set when it fails. */
static int field_for(vmx_t *v, uint64_t enc, bool *high, struct vmx_result *r)
{
    if (v->current == VMCS_INVALID) {
        *r = res(VMX_FAIL_INVALID, 0, "no current VMCS: VMfailInvalid [SDM 3C 31.3]");
        return -1;
    }
    int id = enc >> 32 ? -1 : vmcs_field_lookup((uint32_t)enc, high);
    if (id < 0 || !vmcs_field_supported(id, v->features)) {
        char rule[120];
        if (id < 0)
            snprintf(rule, sizeof(rule), "encoding %#llx is not a VMCS field", (unsigned long long)enc);
        else
            snprintf(rule, sizeof(rule), "field %s (%#llx) needs %s, which this profile lacks", vmcs_field_name(id),
                     (unsigned long long)enc, vmcs_feature_name(vmcs_field_feature(id)));
        *r = vmfail(v, VMXERR_UNSUPPORTED_FIELD, rule);
        return -1;
    }
    return id;
}

static struct vmx_result op_vmread(vmx_t *v, uint64_t enc, unsigned opsize, uint64_t *value)
{
    struct vmx_result r;
    bool high;
    int id = field_for(v, enc, &high, &r);
    if (id < 0)
        return r;
    uint64_t val;
    if (!field_read(v, id, &val))
        return res(VMX_UNMODELLED, 0, "current VMCS at %#llx: there is no RAM there", (unsigned long long)v->current);
    if (high)
        val >>= 32;
    if (opsize == 4)
        val &= 0xFFFFFFFFu;
    *value = val;
    return res_s(VMX_SUCCEED, "VMREAD: the field was read");
}

static struct vmx_result op_vmwrite(vmx_t *v, uint64_t enc, unsigned opsize, uint64_t value)
{
    struct vmx_result r;
    bool high;
    int id = field_for(v, enc, &high, &r);
    if (id < 0)
        return r;
    if (vmcs_field_group(id) == VMCS_GROUP_EXIT_INFO && !((CAP(v, MSR_VMX_MISC) >> 29) & 1))
        return vmfail(v, VMXERR_VMWRITE_READ_ONLY, "VMWRITE to a VM-exit information field while IA32_VMX_MISC[29] = 0");
    uint64_t old;
    if (!field_read(v, id, &old))
        return res(VMX_UNMODELLED, 0, "current VMCS at %#llx: there is no RAM there", (unsigned long long)v->current);
    if (opsize == 4)
        value &= 0xFFFFFFFFu;        /* outside 64-bit mode the upper half is written as 0 (SDM 3C 25.11.2) */
    uint64_t nv;
    if (high)
        nv = (old & 0xFFFFFFFFu) | (value << 32);
    else {
        unsigned w = vmcs_field_width_bits(id);
        nv = w == 64 ? value : value & ((1ull << w) - 1);
    }
    if (!field_write(v, id, nv))
        return res(VMX_UNMODELLED, 0, "current VMCS at %#llx: there is no RAM there", (unsigned long long)v->current);
    return res_s(VMX_SUCCEED, "VMWRITE: the field was written");
}

static struct vmx_result op_vmlaunch(vmx_t *v, bool resume)
{
    const char *mn = resume ? "VMRESUME" : "VMLAUNCH";
    if (v->current == VMCS_INVALID)
        return res(VMX_FAIL_INVALID, 0, "%s with no current VMCS: VMfailInvalid [SDM 3C 31.3 %s]", mn, mn);
    if (cpu_blocking_by_mov_ss(v->cpu))
        return vmfail(v, VMXERR_ENTRY_MOV_SS_BLOCKING, "VM entry right after MOV SS/POP SS");
    uint32_t launch;
    if (!region_read32(v, v->current, REGION_LAUNCH, &launch))
        return res(VMX_UNMODELLED, 0, "current VMCS at %#llx: there is no RAM there", (unsigned long long)v->current);
    if (!resume && launch != LAUNCH_CLEAR)
        return vmfail(v, VMXERR_VMLAUNCH_NOT_CLEAR, "VMLAUNCH of a VMCS whose launch state is not clear");
    if (resume && launch != LAUNCH_LAUNCHED)
        return vmfail(v, VMXERR_VMRESUME_NOT_LAUNCHED, "VMRESUME of a VMCS whose launch state is not launched");
    struct vmx_result r = vm_entry(v, !resume, 0);
    if (r.outcome == VMX_SUCCEED)
        r.transitioned = true;
    return r;
}

static struct vmx_result op_vmcall(vmx_t *v)
{
    /* No profile has the dual-monitor treatment of SMIs and SMM
     * (IA32_VMX_BASIC[49] = 0), so VMCALL in VMX root operation fails. */
    return vmfail(v, VMXERR_VMCALL_IN_ROOT, "VMCALL in VMX root operation without the dual-monitor treatment");
}

static struct vmx_result op_invept(vmx_t *v, uint64_t type, const uint64_t desc[2])
{
    uint64_t ev = CAP(v, MSR_VMX_EPT_VPID_CAP);
    if (type < 1 || type > 2 || !((ev >> (24 + type)) & 1))
        return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "INVEPT type not supported (IA32_VMX_EPT_VPID_CAP[25/26])");
    if (type == 1) {
        uint64_t eptp = desc[0];
        unsigned mt = eptp & 7, walk = (eptp >> 3) & 7;
        /* page-walk length - 1: 3 needs IA32_VMX_EPT_VPID_CAP[6], 4 needs [7] (SDM 3D A.10) */
        bool walk_ok = (walk == 3 && (ev & (1ull << 6))) || (walk == 4 && (ev & (1ull << 7)));
        bool ok = ((mt == 0 && (ev & (1ull << 8))) || (mt == 6 && (ev & (1ull << 14)))) && walk_ok &&
                  (!((eptp >> 6) & 1) || (ev & (1ull << 21))) && !((eptp >> 7) & 0x1F) &&
                  !(eptp >> cpu_maxphyaddr(v->cpu));
        if (!ok)
            return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "single-context INVEPT with an EPTP that VM entry would reject");
    }
    /* SDM 3C 29.4.3.1 / INVEPT: single-context drops the guest-physical and
     * combined mappings made with the EPTP's EPTRTA (all VPIDs and PCIDs),
     * all-context those of every EPTRTA. hvsim caches no guest-physical
     * mappings (docs/ept.md). Under "flush-always" everything goes. */
    uint64_t rta = desc[0] & 0x000FFFFFFFFFF000ull;
    struct cpu_tlb_inval inv = { .vpid = -1, .eptrta = type == 1 ? rta : ~0ull, .any_ept = type == 2 };
    if (cpu_tlb_flush_always(v->cpu))
        inv = (struct cpu_tlb_inval){ .vpid = -1, .eptrta = ~0ull };
    vmx_gpa_cache_invalidate(v, type == 2 || cpu_tlb_flush_always(v->cpu), rta);
    cpu_tlb_invalidate(v->cpu, &inv, CPU_INVAL_INVEPT, type, type == 1 ? rta : 0, 0);
    return res(VMX_SUCCEED, 0, "INVEPT type %llu", (unsigned long long)type);
}

static struct vmx_result op_invvpid(vmx_t *v, uint64_t type, const uint64_t desc[2])
{
    uint64_t ev = CAP(v, MSR_VMX_EPT_VPID_CAP);
    if (type > 3 || !((ev >> (40 + type)) & 1))
        return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "INVVPID type not supported (IA32_VMX_EPT_VPID_CAP[40..43])");
    if (desc[0] >> 16)
        return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "INVVPID descriptor bits 63:16 are not 0");
    uint16_t vpid = (uint16_t)desc[0];
    if (type != 2 && vpid == 0)
        return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "INVVPID of VPID 0 (only all-context may name it)");
    if (type == 0) {
        uint64_t la = desc[1];
        uint64_t top = la >> 47;
        if (top != 0 && top != 0x1FFFF)
            return vmfail(v, VMXERR_INVEPT_INVVPID_OPERAND, "individual-address INVVPID of a non-canonical address");
    }
    /* SDM 3C 29.4.3.1 / INVVPID: 0 individual address (the VPID's mappings
     * of the address, every PCID, globals too), 1 single context, 2 every
     * VPID but 0000H, 3 single context except globals; linear and combined
     * mappings of every EPTRTA. Under "flush-always" everything goes. */
    struct cpu_tlb_inval inv = { .vpid = type == 2 ? -1 : vpid, .except_vpid0 = type == 2, .eptrta = ~0ull,
                                 .has_la = type == 0, .la = desc[1], .keep_global = type == 3 };
    if (cpu_tlb_flush_always(v->cpu))
        inv = (struct cpu_tlb_inval){ .vpid = -1, .eptrta = ~0ull };
    cpu_tlb_invalidate(v->cpu, &inv, CPU_INVAL_INVVPID, type, vpid, type == 0 ? desc[1] : 0);
    return res(VMX_SUCCEED, 0, "INVVPID type %llu, VPID %u", (unsigned long long)type, vpid);
}

/* ---- the API ---- */

#define API_CHECKS(v, id)                                      \
    do {                                                       \
        struct vmx_result _c = insn_checks(v, id);             \
        if (_c.outcome != VMX_SUCCEED)                         \
            return _c;                                         \
    } while (0)

static unsigned opsize(vmx_t *v) { return cpu_mode(v->cpu) == CPU_MODE_64 ? 8 : 4; }

static struct vmx_result done(vmx_t *v, struct vmx_result r)
{
    if (!r.transitioned)
        set_flags(v, &r);
    return r;
}

struct vmx_result vmx_vmxon(vmx_t *v, uint64_t pa) { API_CHECKS(v, CPU_VI_VMXON); return done(v, op_vmxon(v, pa)); }
struct vmx_result vmx_vmxoff(vmx_t *v) { API_CHECKS(v, CPU_VI_VMXOFF); return done(v, op_vmxoff(v)); }
struct vmx_result vmx_vmclear(vmx_t *v, uint64_t pa) { API_CHECKS(v, CPU_VI_VMCLEAR); return done(v, op_vmclear(v, pa)); }
struct vmx_result vmx_vmptrld(vmx_t *v, uint64_t pa) { API_CHECKS(v, CPU_VI_VMPTRLD); return done(v, op_vmptrld(v, pa)); }

struct vmx_result vmx_vmptrst(vmx_t *v, uint64_t *pa)
{
    API_CHECKS(v, CPU_VI_VMPTRST);
    *pa = v->current;
    return done(v, res(VMX_SUCCEED, 0, "current VMCS pointer %#llx", (unsigned long long)v->current));
}

struct vmx_result vmx_vmread(vmx_t *v, uint64_t enc, uint64_t *value)
{
    API_CHECKS(v, CPU_VI_VMREAD);
    /* outside 64-bit mode the encoding is a 32-bit register (SDM 3C 31.3 VMREAD), as for INVEPT's type */
    return done(v, op_vmread(v, opsize(v) == 4 ? enc & 0xFFFFFFFFu : enc, opsize(v), value));
}

struct vmx_result vmx_vmwrite(vmx_t *v, uint64_t enc, uint64_t value)
{
    API_CHECKS(v, CPU_VI_VMWRITE);
    return done(v, op_vmwrite(v, opsize(v) == 4 ? enc & 0xFFFFFFFFu : enc, opsize(v), value));
}

struct vmx_result vmx_vmlaunch(vmx_t *v, bool resume)
{
    API_CHECKS(v, resume ? CPU_VI_VMRESUME : CPU_VI_VMLAUNCH);
    return done(v, op_vmlaunch(v, resume));
}

struct vmx_result vmx_vmcall(vmx_t *v) { API_CHECKS(v, CPU_VI_VMCALL); return done(v, op_vmcall(v)); }

struct vmx_result vmx_invept(vmx_t *v, uint64_t type, const uint64_t desc[2])
{
    API_CHECKS(v, CPU_VI_INVEPT);
    return done(v, op_invept(v, opsize(v) == 4 ? type & 0xFFFFFFFFu : type, desc));
}

struct vmx_result vmx_invvpid(vmx_t *v, uint64_t type, const uint64_t desc[2])
{
    API_CHECKS(v, CPU_VI_INVVPID);
    return done(v, op_invvpid(v, opsize(v) == 4 ? type & 0xFFFFFFFFu : type, desc));
}

bool vmx_in_operation(const vmx_t *v) { return v->in_vmx; }
uint64_t vmx_vmxon_pointer(const vmx_t *v) { return v->in_vmx ? v->vmxon_ptr : VMCS_INVALID; }
uint64_t vmx_current_vmcs(const vmx_t *v) { return v->current; }

/* ---- the instruction handlers (struct cpu_virt_ops) ---- */

/* Finish an instruction with its outcome: the trace, RFLAGS, RIP. */
void report_transition(vmx_t *v, int check, bool entry_failed)
{
    if (v->in_insn)
        cpu_insn_report(v->cpu, 0, 0, 0, check >= 0 ? (uint64_t)check : 0, entry_failed);
}

static bool finish_op(vmx_t *v, const struct cpu_virt_insn *in, struct vmx_result r, uint64_t operand,
                      uint64_t value)
{
    if (r.outcome != VMX_UNMODELLED && !r.transitioned)
        cpu_insn_report(v->cpu, r.outcome == VMX_SUCCEED ? 0 : r.outcome == VMX_FAIL_INVALID ? 1
                                : r.outcome == VMX_FAIL_VALID ? 2 : 3,
                        r.error, r.vector, operand, value);
    if (r.check >= 0 && !r.transitioned)
        cpu_insn_note(v->cpu, r.why);               /* VMfailValid(7/8): say which check */
    if (r.transitioned) {
        /* VM entry (RIP and RFLAGS are the guest's), or a VM-entry failure
         * (the host's): the instruction is done. */
        if (r.entry_failed)
            cpu_insn_note(v->cpu, r.why);
        cpu_insn_retire_jump(v->cpu, r.entry_failed ? CPU_VCOST_EXIT : CPU_VCOST_ENTRY);
        return !r.halted;
    }
    switch (r.outcome) {
    case VMX_FAULT:
        cpu_insn_fault(v->cpu, r.vector, r.has_ec, r.ec);
        return true;
    case VMX_UNMODELLED:
        cpu_insn_unmodelled(v->cpu, "%s: %s", in->mnemonic, r.why);
        return false;
    default:
        set_flags(v, &r);
        cpu_insn_retire(v->cpu);
        return true;
    }
}

static bool finish(vmx_t *v, const struct cpu_virt_insn *in, struct vmx_result r)
{
    return finish_op(v, in, r, 0, 0);
}

static bool read_u64(vmx_t *v, const struct cpu_virt_operand *op, unsigned size, uint64_t *out)
{
    *out = 0;
    return cpu_insn_read(v->cpu, op, out, size);
}

static bool vmx_insn_root(vmx_t *v, const struct cpu_virt_insn *in);

static bool vmx_insn(void *ctx, cpu_t *cpu, const struct cpu_virt_insn *in)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (in->id >= CPU_VI_VMRUN) {
        cpu_insn_fault(v->cpu, 6, false, 0);        /* SVM instructions on an Intel processor: #UD */
        return true;
    }
    if (v->nonroot)
        return nonroot_vmx_insn(v, in);
    v->in_insn = in;
    bool ok = vmx_insn_root(v, in);
    v->in_insn = NULL;
    return ok;
}

static bool vmx_insn_root(vmx_t *v, const struct cpu_virt_insn *in)
{               /* step 2: VM exit (SDM 3C "Instructions That Cause VM Exits Unconditionally") */
    struct vmx_result c = insn_checks(v, in->id);
    if (c.outcome != VMX_SUCCEED)
        return finish(v, in, c);
    unsigned osz = opsize(v);
    uint64_t a = 0, b = 0;
    switch (in->id) {
    case CPU_VI_VMXON:
    case CPU_VI_VMCLEAR:
    case CPU_VI_VMPTRLD:
        if (in->nops != 1 || !in->op[0].mem)
            return finish(v, in, UD("%s with a register operand: #UD", in->mnemonic));
        if (in->id == CPU_VI_VMXON && v->in_vmx)
            return finish(v, in, op_vmxon(v, 0));    /* VMfail(15); the operand is not read */
        if (!read_u64(v, &in->op[0], 8, &a))
            return true;
        return finish_op(v, in, in->id == CPU_VI_VMXON ? op_vmxon(v, a)
                                : in->id == CPU_VI_VMCLEAR ? op_vmclear(v, a) : op_vmptrld(v, a), a, 0);
    case CPU_VI_VMXOFF:
        return finish(v, in, op_vmxoff(v));
    case CPU_VI_VMPTRST:
        if (in->nops != 1 || !in->op[0].mem)
            return finish(v, in, UD("VMPTRST with a register operand: #UD"));
        if (!cpu_insn_write(v->cpu, &in->op[0], &v->current, 8))
            return true;
        return finish_op(v, in, res(VMX_SUCCEED, 0, "stored"), 0, v->current);
    case CPU_VI_VMREAD: {
        /* VMREAD r/m, r: op[0] the destination, op[1] the field encoding */
        if (in->nops != 2 || in->op[1].mem)
            return finish(v, in, res(VMX_UNMODELLED, 0, "unexpected operand forms"));
        read_u64(v, &in->op[1], osz, &a);
        struct vmx_result r = op_vmread(v, a, osz, &b);
        if (r.outcome == VMX_SUCCEED && !cpu_insn_write(v->cpu, &in->op[0], &b, osz))
            return true;
        return finish_op(v, in, r, a, b);
    }
    case CPU_VI_VMWRITE: {
        /* VMWRITE r, r/m: op[0] the field encoding, op[1] the value */
        if (in->nops != 2 || in->op[0].mem)
            return finish(v, in, res(VMX_UNMODELLED, 0, "unexpected operand forms"));
        read_u64(v, &in->op[0], osz, &a);
        struct vmx_result r;
        bool high;
        int id = field_for(v, a, &high, &r);
        if (id >= 0) {
            /* the value is read only once the VMfail checks have passed */
            if (vmcs_field_group(id) == VMCS_GROUP_EXIT_INFO && !((CAP(v, MSR_VMX_MISC) >> 29) & 1))
                return finish_op(v, in, op_vmwrite(v, a, osz, 0), a, 0);
            if (!read_u64(v, &in->op[1], osz, &b))
                return true;
            r = op_vmwrite(v, a, osz, b);
        }
        return finish_op(v, in, r, a, b);
    }
    case CPU_VI_VMLAUNCH:
    case CPU_VI_VMRESUME: {
        struct vmx_result r = op_vmlaunch(v, in->id == CPU_VI_VMRESUME);
        return finish_op(v, in, r, r.check >= 0 ? (uint64_t)r.check : 0, r.transitioned ? (uint64_t)r.entry_failed : 0);
    }
    case CPU_VI_VMCALL:
        return finish(v, in, op_vmcall(v));
    case CPU_VI_INVEPT:
    case CPU_VI_INVVPID: {
        if (in->nops != 2 || in->op[0].mem || !in->op[1].mem)
            return finish(v, in, res(VMX_UNMODELLED, 0, "unexpected operand forms"));
        read_u64(v, &in->op[0], osz, &a);
        uint64_t ev = CAP(v, MSR_VMX_EPT_VPID_CAP);
        bool inv = in->id == CPU_VI_INVEPT;
        /* an unsupported type fails before the descriptor is read */
        if ((inv && (a < 1 || a > 2 || !((ev >> (24 + a)) & 1))) || (!inv && (a > 3 || !((ev >> (40 + a)) & 1))))
            return finish_op(v, in, inv ? op_invept(v, a, (uint64_t[2]){ 0, 0 }) : op_invvpid(v, a, (uint64_t[2]){ 0, 0 }),
                             a, 0);
        uint64_t desc[2];
        if (!cpu_insn_read(v->cpu, &in->op[1], desc, 16))
            return true;
        return finish_op(v, in, inv ? op_invept(v, a, desc) : op_invvpid(v, a, desc), a, desc[0]);
    }
    default:
        return finish(v, in, res(VMX_UNMODELLED, 0, "not a VMX instruction"));
    }
}

/* The VMX capability MSRs (read-only) and IA32_FEATURE_CONTROL's writable bits. */
static int vmx_msr(void *ctx, cpu_t *cpu, uint32_t index, bool write, uint64_t *val)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (index == MSR_IA32_FEATURE_CONTROL) {
        if (write && (*val & ~(FEATCTL_LOCK | FEATCTL_VMX_OUTSIDE)))
            return 0;       /* SMX, SGX, LMCE and the other bits: not supported, #GP (SDM 3C 24.7) */
        return -1;          /* cpu/'s MSR file keeps the value and the lock */
    }
    if (index < MSR_VMX_BASIC || index > MSR_VMX_LAST)
        return -1;
    if (write || !v->present[index - MSR_VMX_BASIC])
        return 0;
    *val = v->msr[index - MSR_VMX_BASIC];
    return 1;
}

/* INIT: blocked in VMX root operation, a VM exit in non-root operation
 * (SDM 3C 31.3 VMXON "block INIT signals"; 26.2 "INIT signals"), except
 * in the wait-for-SIPI activity state, which blocks it (SDM 3C 27.7.2): it
 * is held until the LP leaves that state and then exits at the next VM
 * entry (cpu_release_init). */
static int vmx_init_signal(void *ctx, cpu_t *cpu)
{
    vmx_t *v = ctx;
    if (!v->in_vmx)
        return CPU_INIT_DELIVER;
    if (v->nonroot && !cpu_waiting_for_sipi(cpu)) {
        nonroot_init(v);
        return CPU_INIT_CONSUMED;
    }
    return CPU_INIT_BLOCKED;
}

static void vmx_cpuid(void *ctx, cpu_t *cpu, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    (void)ctx;
    (void)cpu;
    (void)sub;
    if (leaf == 1)
        r[2] |= 1u << 5;    /* CPUID.1:ECX.VMX (SDM 3C 24.6) */
}

/* In VMX operation CR0 and CR4 must keep their fixed bits (SDM 3C 24.8). */
static bool vmx_cr_write(void *ctx, cpu_t *cpu, unsigned cr, uint64_t val)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (!v->in_vmx)
        return true;
    /* VMX non-root operation: the same fixed bits apply to the value written
     * (the guest/host-masked bits keep theirs, nonroot.c); "unrestricted
     * guest" would exempt PE and PG but stops at VM entry (SDM 3C "Changes
     * to Instruction Behavior in VMX Non-Root Operation": MOV to CR0/CR4). */
    uint64_t f0 = cr == 0 ? CAP(v, MSR_VMX_CR0_FIXED0) : CAP(v, MSR_VMX_CR4_FIXED0);
    uint64_t f1 = cr == 0 ? CAP(v, MSR_VMX_CR0_FIXED1) : CAP(v, MSR_VMX_CR4_FIXED1);
    return (val & f0) == f0 && !(val & ~f1);
}

vmx_t *vmx_attach(cpu_t *cpu, const struct vmx_caps *caps)
{
    vmx_t *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->gpa_cache = tlb_create();
    if (!v->gpa_cache) {
        free(v);
        return NULL;
    }
    v->cpu = cpu;
    v->cur_host_pa = VMCS_INVALID;
    memcpy(v->msr, caps->msr, sizeof(v->msr));
    memcpy(v->present, caps->present, sizeof(v->present));
    /* IA32_VMX_CR4_FIXED1: the CR4 bits this CPU supports, VMXE included
     * (SDM 3D A.8); IA32_VMX_VMCS_ENUM: the highest field index (A.9). */
    if (!v->msr[MSR_VMX_CR4_FIXED1 - MSR_VMX_BASIC])
        v->msr[MSR_VMX_CR4_FIXED1 - MSR_VMX_BASIC] = (cpu_cr4_supported(cpu) | CR4_VMXE) & 0xFFFFFFFFu;
    uint64_t a1[VMCS_CTLW_COUNT] = { 0 };
    a1[VMCS_CTLW_PIN] = allowed1(v, MSR_VMX_PINBASED_CTLS);
    a1[VMCS_CTLW_PROC] = allowed1(v, MSR_VMX_PROCBASED_CTLS);
    a1[VMCS_CTLW_EXIT] = allowed1(v, MSR_VMX_EXIT_CTLS);
    a1[VMCS_CTLW_ENTRY] = allowed1(v, MSR_VMX_ENTRY_CTLS);
    if (v->present[MSR_VMX_PROCBASED_CTLS2 - MSR_VMX_BASIC])
        a1[VMCS_CTLW_PROC2] = allowed1(v, MSR_VMX_PROCBASED_CTLS2);
    if (v->present[MSR_VMX_VMFUNC - MSR_VMX_BASIC])
        a1[VMCS_CTLW_VMFUNC] = CAP(v, MSR_VMX_VMFUNC);
    v->features = vmcs_features_from_allowed1(a1);
    if (!v->msr[MSR_VMX_VMCS_ENUM - MSR_VMX_BASIC])
        v->msr[MSR_VMX_VMCS_ENUM - MSR_VMX_BASIC] = (uint64_t)vmcs_max_index(v->features) << 1;
    v->revision = vmx_caps_revision(caps);
    v->current = VMCS_INVALID;
    v->timer_deadline = ~0ull;
    struct cpu_virt_ops ops = {
        .ctx = v, .cr4_allow = CR4_VMXE, .insn = vmx_insn, .msr = vmx_msr, .cpuid = vmx_cpuid,
        .cr_write = vmx_cr_write, .guest_insn = nonroot_insn, .guest_event = nonroot_event,
        .guest_shutdown = nonroot_shutdown, .init_signal = vmx_init_signal, .guest_boundary = nonroot_boundary,
        .slat = vmx_slat, .slat_exit = vmx_slat_exit, .guest_task_switch = nonroot_task_switch,
        .guest_sipi = nonroot_sipi, .guest_apic_access = nonroot_apic_access,
    };
    cpu_set_virt_ops(cpu, &ops);
    return v;
}

void vmx_detach(vmx_t *v)
{
    if (!v)
        return;
    cpu_set_virt_ops(v->cpu, NULL);
    tlb_destroy(v->gpa_cache);
    free(v);
}
