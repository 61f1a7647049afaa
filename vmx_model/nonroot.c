/*
 * nonroot.c — VMX non-root operation: which instructions and events cause
 * VM exits (SDM 3C chapter "VMX Non-Root Operation": "Instructions That
 * Cause VM Exits Unconditionally", "Instructions That Cause VM Exits
 * Conditionally", "Other Causes of VM Exits"; basic exit reasons from SDM
 * 3D appendix C).
 *
 * This is the first slice (issue 4, "The first exits"): the exits whose
 * information is complete here are performed; an exit that needs
 * information hvsim does not produce yet (instruction-information field,
 * I/O string details, exception exits with IDT-vectoring) and every
 * behaviour of a control that is not modelled stop the run loudly, naming
 * the instruction, the exit reason and the control. Where no exit applies,
 * the instruction runs as on bare metal (cpu/).
 */
#include <string.h>

#include "vmx_priv.h"

/* Basic exit reasons (SDM 3D appendix C). */
enum {
    EXIT_EXCEPTION_NMI = 0, EXIT_EXTERNAL_INT = 1, EXIT_TRIPLE_FAULT = 2, EXIT_INIT = 3, EXIT_SIPI = 4,
    EXIT_CPUID = 10, EXIT_GETSEC = 11, EXIT_HLT = 12, EXIT_INVD = 13, EXIT_INVLPG = 14, EXIT_RDPMC = 15,
    EXIT_RDTSC = 16, EXIT_VMCALL = 18, EXIT_VMCLEAR = 19, EXIT_VMLAUNCH = 20, EXIT_VMPTRLD = 21,
    EXIT_VMPTRST = 22, EXIT_VMREAD = 23, EXIT_VMRESUME = 24, EXIT_VMWRITE = 25, EXIT_VMXOFF = 26,
    EXIT_VMXON = 27, EXIT_CR_ACCESS = 28, EXIT_DR_ACCESS = 29, EXIT_IO = 30, EXIT_RDMSR = 31, EXIT_WRMSR = 32,
    EXIT_MWAIT = 36, EXIT_MONITOR = 39, EXIT_PAUSE = 40, EXIT_GDTR_IDTR = 46, EXIT_LDTR_TR = 47,
    EXIT_INVEPT = 50, EXIT_RDTSCP = 51, EXIT_INVVPID = 53, EXIT_WBINVD = 54, EXIT_XSETBV = 55,
    EXIT_RDRAND = 57, EXIT_INVPCID = 58, EXIT_VMFUNC = 59, EXIT_RDSEED = 61,
};

static enum cpu_guest_action stop(vmx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum cpu_guest_action stop(vmx_t *v, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu_insn_unmodelled(v->cpu, "VMX non-root operation: %s", buf);
    return CPU_GUEST_STOP;
}

/* An instruction exit with everything it records here: reason,
 * qualification, instruction length. */
static enum cpu_guest_action insn_exit(vmx_t *v, const struct cpu_guest_insn *gi, uint32_t reason, uint64_t qual)
{
    struct vm_exit_info x = { .reason = reason, .qualification = qual, .insn_len = gi->len };
    vm_exit(v, &x);
    cpu_account_exit(v->cpu, true);
    return CPU_GUEST_EXITED;
}

static uint64_t vmcs(vmx_t *v, enum vmcs_field_id id)
{
    uint64_t x = 0;
    field_read(v, id, &x);
    return x;
}

/* A bit of a bitmap page in guest-physical memory. */
static bool bitmap_bit(vmx_t *v, uint64_t page, unsigned bit, bool *ok)
{
    uint8_t b = 0;
    *ok = cpu_phys_read(v->cpu, page + bit / 8, &b, 1);
    return (b >> (bit % 8)) & 1;
}

/* SDM 3C "Instructions That Cause VM Exits Conditionally": I/O. */
static enum cpu_guest_action io_decision(vmx_t *v, const struct cpu_guest_insn *gi)
{
    unsigned port = gi->port == ~0u ? (unsigned)(cpu_get(v->cpu, CPU_RDX) & 0xFFFF) : gi->port;
    bool exits;
    if (v->proc & PROC_IO_BITMAPS) {
        exits = false;
        for (unsigned p = port; p < port + gi->size; p++) {       /* any port of the access; wrap-around exits */
            if (p > 0xFFFF) {
                exits = true;
                break;
            }
            bool ok;
            uint64_t page = vmcs(v, p < 0x8000 ? VMCS_IO_BITMAP_A : VMCS_IO_BITMAP_B);
            if (bitmap_bit(v, page, p & 0x7FFF, &ok))
                exits = true;
            if (!ok)
                return stop(v, "I/O bitmap page %#llx is not in RAM", (unsigned long long)page);
        }
    } else {
        exits = v->proc & PROC_UNCOND_IO;
    }
    if (!exits)
        return CPU_GUEST_EXECUTE;
    if (gi->string)
        return stop(v, "'%s' causes a VM exit (reason 30, I/O): string I/O exits (guest-linear address, "
                    "instruction information) are not modelled yet (issue 5)", gi->mnemonic);
    /* Exit qualification for I/O (SDM 3C table "Exit Qualification for I/O
     * Instructions"): size - 1, direction (1 = IN), string, REP, operand
     * encoding (1 = immediate), port. */
    uint64_t q = (gi->size - 1) | ((gi->cls == IC_IN) ? 8u : 0u) | (gi->port == ~0u ? 0u : 0x40u) |
                 ((uint64_t)port << 16);
    return insn_exit(v, gi, EXIT_IO, q);
}

/* SDM 3C: MSR bitmaps (read-low, read-high, write-low, write-high quarters). */
static enum cpu_guest_action msr_decision(vmx_t *v, const struct cpu_guest_insn *gi)
{
    uint32_t idx = (uint32_t)cpu_get(v->cpu, CPU_RCX);
    bool exits = true;
    if (v->proc & PROC_MSR_BITMAPS) {
        unsigned base;
        if (idx <= 0x1FFF)
            base = 0;
        else if (idx >= 0xC0000000u && idx <= 0xC0001FFFu)
            base = 1024;
        else
            base = ~0u;
        if (base != ~0u) {
            bool ok;
            uint64_t page = vmcs(v, VMCS_MSR_BITMAP);
            exits = bitmap_bit(v, page, (base + (gi->write ? 2048 : 0)) * 8 + (idx & 0x1FFF), &ok);
            if (!ok)
                return stop(v, "MSR bitmap page %#llx is not in RAM", (unsigned long long)page);
        }
    }
    if (!exits)
        return CPU_GUEST_EXECUTE;
    return insn_exit(v, gi, gi->write ? EXIT_WRMSR : EXIT_RDMSR, 0);
}

/* MOV CR3 / CR8 / CR0 / CR4 (SDM 3C "Exit Qualification for Control-Register
 * Accesses": 3:0 CR, 5:4 access type, 11:8 GPR). */
static enum cpu_guest_action cr_decision(vmx_t *v, const struct cpu_guest_insn *gi)
{
    if (gi->cr == 0 || gi->cr == 4) {
        uint64_t mask = vmcs(v, gi->cr == 0 ? VMCS_CR0_GUEST_HOST_MASK : VMCS_CR4_GUEST_HOST_MASK);
        if (mask)
            return stop(v, "MOV %s CR%u with CR%u guest/host mask %#llx: guest/host masks and read shadows are "
                        "not modelled yet (issue 5)", gi->write ? "to" : "from", gi->cr, gi->cr,
                        (unsigned long long)mask);
        return CPU_GUEST_EXECUTE;
    }
    if (gi->cr == 3) {
        if (gi->write && (v->proc & PROC_CR3_LOAD)) {
            unsigned n = (unsigned)vmcs(v, VMCS_CR3_TARGET_COUNT);
            (void)n;
            return stop(v, "MOV to CR3 with 'CR3-load exiting' = 1 causes a VM exit (reason 28) whose qualification "
                        "needs the source register: not modelled yet (issue 5)");
        }
        if (!gi->write && (v->proc & PROC_CR3_STORE))
            return stop(v, "MOV from CR3 with 'CR3-store exiting' = 1: the exit (reason 28) is not modelled yet "
                        "(issue 5)");
        return CPU_GUEST_EXECUTE;
    }
    if (gi->cr == 8) {
        if ((gi->write && (v->proc & PROC_CR8_LOAD)) || (!gi->write && (v->proc & PROC_CR8_STORE)))
            return stop(v, "MOV %s CR8 with 'CR8-%s exiting' = 1: the exit (reason 28) is not modelled yet (issue 5)",
                        gi->write ? "to" : "from", gi->write ? "load" : "store");
        return CPU_GUEST_EXECUTE;
    }
    return CPU_GUEST_EXECUTE;                      /* CR2 and invalid registers: as on bare metal */
}

enum cpu_guest_action nonroot_insn(void *ctx, cpu_t *cpu, const struct cpu_guest_insn *gi)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    switch (gi->cls) {
    /* unconditional */
    case IC_CPUID: return insn_exit(v, gi, EXIT_CPUID, 0);
    case IC_INVD: return insn_exit(v, gi, EXIT_INVD, 0);
    case IC_XSETBV: return insn_exit(v, gi, EXIT_XSETBV, 0);
    /* conditional on a primary control */
    case IC_HLT: return (v->proc & PROC_HLT) ? insn_exit(v, gi, EXIT_HLT, 0) : CPU_GUEST_EXECUTE;
    case IC_RDPMC: return (v->proc & PROC_RDPMC) ? insn_exit(v, gi, EXIT_RDPMC, 0) : CPU_GUEST_EXECUTE;
    case IC_MWAIT: return (v->proc & PROC_MWAIT) ? insn_exit(v, gi, EXIT_MWAIT, 0) : CPU_GUEST_EXECUTE;
    case IC_MONITOR: return (v->proc & PROC_MONITOR) ? insn_exit(v, gi, EXIT_MONITOR, 0) : CPU_GUEST_EXECUTE;
    case IC_PAUSE: return (v->proc & PROC_PAUSE) ? insn_exit(v, gi, EXIT_PAUSE, 0) : CPU_GUEST_EXECUTE;
    case IC_RDTSC:
    case IC_RDTSCP:
        if (gi->cls == IC_RDTSCP && !(v->proc2 & PROC2_RDTSCP)) {
            cpu_insn_fault_at(v->cpu, gi->rip, 6);       /* RDTSCP without "enable RDTSCP": #UD */
            return CPU_GUEST_EXITED;
        }
        if (v->proc & PROC_RDTSC)
            return insn_exit(v, gi, gi->cls == IC_RDTSC ? EXIT_RDTSC : EXIT_RDTSCP, 0);
        if ((v->proc & PROC_TSC_OFFSETTING) && vmcs(v, VMCS_TSC_OFFSET))
            return stop(v, "'%s' with TSC offsetting (offset %#llx) and no RDTSC exiting: the offset is not "
                        "applied yet (issue 5)", gi->mnemonic, (unsigned long long)vmcs(v, VMCS_TSC_OFFSET));
        return CPU_GUEST_EXECUTE;
    case IC_INVLPG:
        if (v->proc & PROC_INVLPG)
            return stop(v, "INVLPG with 'INVLPG exiting' = 1: the exit (reason 14, the linear address as "
                        "qualification) is not modelled yet (issue 5)");
        return CPU_GUEST_EXECUTE;
    case IC_MOV_TO_CR:
    case IC_MOV_FROM_CR:
        return cr_decision(v, gi);
    case IC_CLTS:
    case IC_LMSW:
    case IC_SMSW: {
        uint64_t mask = vmcs(v, VMCS_CR0_GUEST_HOST_MASK);
        if (mask)
            return stop(v, "'%s' with CR0 guest/host mask %#llx: not modelled yet (issue 5)", gi->mnemonic,
                        (unsigned long long)mask);
        return CPU_GUEST_EXECUTE;
    }
    case IC_MOV_TO_DR:
    case IC_MOV_FROM_DR:
        if (v->proc & PROC_MOV_DR)
            return stop(v, "MOV DR with 'MOV-DR exiting' = 1: the exit (reason 29) is not modelled yet (issue 5)");
        return CPU_GUEST_EXECUTE;
    case IC_IN:
    case IC_OUT:
    case IC_INS:
    case IC_OUTS:
        return io_decision(v, gi);
    case IC_RDMSR:
    case IC_WRMSR:
        return msr_decision(v, gi);
    /* secondary controls */
    case IC_WBINVD: return (v->proc2 & PROC2_WBINVD) ? insn_exit(v, gi, EXIT_WBINVD, 0) : CPU_GUEST_EXECUTE;
    case IC_RDRAND:
    case IC_RDSEED:
        if ((gi->cls == IC_RDRAND && (v->proc2 & PROC2_RDRAND)) || (gi->cls == IC_RDSEED && (v->proc2 & PROC2_RDSEED)))
            return stop(v, "'%s' exiting: the exit (reason %u) needs the instruction-information field, not "
                        "modelled yet (issue 5)", gi->mnemonic, gi->cls == IC_RDRAND ? EXIT_RDRAND : EXIT_RDSEED);
        return CPU_GUEST_EXECUTE;
    case IC_INVPCID:
        if (!(v->proc2 & PROC2_INVPCID)) {
            cpu_insn_fault_at(v->cpu, gi->rip, 6);       /* INVPCID without "enable INVPCID": #UD */
            return CPU_GUEST_EXITED;
        }
        if (v->proc & PROC_INVLPG)
            return stop(v, "INVPCID with 'INVLPG exiting' = 1: the exit (reason 58) is not modelled yet (issue 5)");
        return CPU_GUEST_EXECUTE;
    case IC_LGDT: case IC_LIDT: case IC_SGDT: case IC_SIDT:
    case IC_LLDT: case IC_LTR: case IC_SLDT: case IC_STR:
        if (v->proc2 & PROC2_DESC_TABLE)
            return stop(v, "'%s' with 'descriptor-table exiting' = 1: the exit (reason %u) is not modelled yet "
                        "(issue 5)", gi->mnemonic,
                        (gi->cls == IC_LGDT || gi->cls == IC_LIDT || gi->cls == IC_SGDT || gi->cls == IC_SIDT)
                            ? EXIT_GDTR_IDTR : EXIT_LDTR_TR);
        return CPU_GUEST_EXECUTE;
    default:
        return CPU_GUEST_EXECUTE;                  /* no VM exit for this instruction */
    }
}

/* Events in VMX non-root operation (SDM 3C "Exceptions", "External
 * Interrupts"; the exception bitmap with the #PF error-code mask/match). */
enum cpu_guest_action nonroot_event(void *ctx, cpu_t *cpu, unsigned vector, unsigned type, bool has_ec, uint32_t ec)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    if (type == 0) {
        if (v->pin & PIN_EXT_INT_EXITING)
            return stop(v, "external interrupt %#x with 'external-interrupt exiting' = 1: the exit (reason 1) is not "
                        "modelled yet (issue 5)", vector);
        return CPU_GUEST_EXECUTE;
    }
    if (type == 2)
        return stop(v, "NMI in VMX non-root operation: not modelled");
    if (type == 4)
        return CPU_GUEST_EXECUTE;                  /* INT n is not subject to the exception bitmap */
    uint32_t bitmap = (uint32_t)vmcs(v, VMCS_EXCEPTION_BITMAP);
    bool exits = (bitmap >> (vector & 31)) & 1;
    if (vector == 14) {
        uint32_t mask = (uint32_t)vmcs(v, VMCS_PAGE_FAULT_ERROR_CODE_MASK);
        uint32_t match = (uint32_t)vmcs(v, VMCS_PAGE_FAULT_ERROR_CODE_MATCH);
        bool eq = (ec & mask) == match;
        exits = eq ? exits : !exits;               /* SDM 3C "Exceptions": the bit's meaning inverts */
    }
    if (!exits)
        return CPU_GUEST_EXECUTE;
    (void)has_ec;
    return stop(v, "exception %u (error code %#x) with its bit set in the exception bitmap (%#x): the exit (reason 0, "
                "interruption information, IDT-vectoring) is not modelled yet (issue 5)", vector, ec, bitmap);
}

/* A triple fault in VMX non-root operation: exit reason 2 (SDM 3C "Other
 * Causes of VM Exits"); the guest state saved is the state at the fault. */
bool nonroot_shutdown(void *ctx, cpu_t *cpu)
{
    vmx_t *v = ctx;
    if (!v->nonroot)
        return false;
    struct vm_exit_info x = { .reason = EXIT_TRIPLE_FAULT };
    vm_exit(v, &x);
    cpu_account_exit(cpu, false);
    return true;
}

/* VMX instructions in VMX non-root operation: they exit unconditionally
 * (VMFUNC: #UD unless VM functions are enabled). */
bool nonroot_vmx_insn(vmx_t *v, const struct cpu_virt_insn *in)
{
    uint32_t reason;
    switch (in->id) {
    case CPU_VI_VMCALL: reason = EXIT_VMCALL; break;
    case CPU_VI_VMLAUNCH: reason = EXIT_VMLAUNCH; break;
    case CPU_VI_VMRESUME: reason = EXIT_VMRESUME; break;
    case CPU_VI_VMXOFF: reason = EXIT_VMXOFF; break;
    case CPU_VI_VMFUNC:
        if (!(v->proc2 & PROC2_VMFUNC)) {
            cpu_insn_report(v->cpu, 3, 0, 6, 0, 0);
            cpu_insn_fault(v->cpu, 6, false, 0);
            return true;
        }
        cpu_insn_unmodelled(v->cpu, "VMX non-root operation: VMFUNC with VM functions enabled is not modelled");
        return false;
    default:
        cpu_insn_unmodelled(v->cpu, "VMX non-root operation: '%s' causes a VM exit whose instruction-information "
                            "field is not modelled yet (issue 5)", in->mnemonic);
        return false;
    }
    struct vm_exit_info x = { .reason = reason, .insn_len = in->len };
    vm_exit(v, &x);
    cpu_insn_retire_jump(v->cpu, CPU_VCOST_EXIT);
    return true;
}

/* An INIT signal in VMX non-root operation: exit reason 3, no qualification
 * (SDM 3C "Other Causes of VM Exits"). The LP is not reset. */
void nonroot_init(vmx_t *v)
{
    struct vm_exit_info x = { .reason = EXIT_INIT };
    vm_exit(v, &x);
    cpu_account_exit(v->cpu, false);
}
