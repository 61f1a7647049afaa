/*
 * nonroot.c — VMX non-root operation: which instructions cause VM exits
 * (SDM 3C chapter "VMX Non-Root Operation": "Instructions That Cause VM
 * Exits Unconditionally", "Instructions That Cause VM Exits Conditionally",
 * "Changes to Instruction Behavior in VMX Non-Root Operation"; basic exit
 * reasons from SDM 3D appendix C) and the exit information each instruction
 * exit records (SDM 3C chapter "VM Exits": exit qualification, VM-exit
 * instruction length, VM-exit instruction-information field, guest-linear
 * address). Events are events.c's.
 *
 * Called from cpu/'s guest_insn hook (before cpu/ executes an intercepted
 * instruction) and from the VMX instruction handler. Faults with priority
 * over VM exits (#UD, privilege-level #GP, the I/O permission bitmap) are
 * cpu/'s: cpu_guest_insn.fault_first. Where no exit applies the instruction
 * runs on cpu/, with the value VMX non-root operation substitutes (read
 * shadows, guest/host masks, TSC offset) passed back in cpu_guest_insn.out,
 * or carried out here (MOV to CR8 with the TPR shadow: out.done).
 * A behaviour of a control that is not modelled stops the run loudly,
 * naming the instruction, the exit reason and the control.
 */
#include <string.h>

#include "ept.h"
#include "vmx_priv.h"

/* Basic exit reasons (SDM 3D appendix C). */
enum {
    EXIT_CPUID = 10, EXIT_HLT = 12, EXIT_INVD = 13, EXIT_INVLPG = 14, EXIT_RDPMC = 15,
    EXIT_RDTSC = 16, EXIT_VMCALL = 18, EXIT_VMCLEAR = 19, EXIT_VMLAUNCH = 20, EXIT_VMPTRLD = 21,
    EXIT_VMPTRST = 22, EXIT_VMREAD = 23, EXIT_VMRESUME = 24, EXIT_VMWRITE = 25, EXIT_VMXOFF = 26,
    EXIT_VMXON = 27, EXIT_CR_ACCESS = 28, EXIT_DR_ACCESS = 29, EXIT_IO = 30, EXIT_RDMSR = 31, EXIT_WRMSR = 32,
    EXIT_MWAIT = 36, EXIT_MONITOR = 39, EXIT_PAUSE = 40, EXIT_GDTR_IDTR = 46, EXIT_LDTR_TR = 47,
    EXIT_INVEPT = 50, EXIT_RDTSCP = 51, EXIT_INVVPID = 53, EXIT_WBINVD = 54, EXIT_XSETBV = 55,
    EXIT_RDRAND = 57, EXIT_INVPCID = 58, EXIT_VMFUNC = 59, EXIT_RDSEED = 61, EXIT_TPR_BELOW_THRESHOLD = 43,
};

#define CR0_TS        (1ull << 3)
#define MSR_IA32_TSC  0x10u
#define BASIC_INS_OUTS_INFO (1ull << 54)   /* IA32_VMX_BASIC[54]: INS/OUTS instruction information */


/* A VM exit caused by the intercepted instruction gi, with its exit
 * information (fields the exit does not define are written 0). */
static enum cpu_guest_action exit_info(vmx_t *v, const struct cpu_guest_insn *gi, uint32_t reason, uint64_t qual,
                                       uint32_t info, uint64_t linear)
{
    struct vm_exit_info x = { .reason = reason, .qualification = qual, .insn_len = gi->len, .insn_info = info,
                              .guest_linear = linear };
    vm_exit(v, &x);
    cpu_account_exit(v->cpu, true);
    return CPU_GUEST_EXITED;
}

static enum cpu_guest_action insn_exit(vmx_t *v, const struct cpu_guest_insn *gi, uint32_t reason, uint64_t qual)
{
    return exit_info(v, gi, reason, qual, 0, 0);
}

/* No exit: execute gi with a value VMX non-root operation substitutes. */
static enum cpu_guest_action execute_with(struct cpu_guest_insn *gi, uint64_t value)
{
    gi->out.use_value = true;
    gi->out.value = value;
    return CPU_GUEST_EXECUTE;
}

/* RDTSC, RDTSCP and RDMSR of IA32_TIME_STAMP_COUNTER without an exit (SDM
 * 3C 26.3 "RDTSC", "RDTSCP", "RDMSR"): with "use TSC offsetting" the guest
 * reads TSC + offset, and with "use TSC scaling" as well ((TSC * TSC
 * multiplier) >> 48) + offset; "use TSC scaling" without offsetting changes
 * nothing. */
static enum cpu_guest_action tsc_read(vmx_t *v, struct cpu_guest_insn *gi)
{
    if (!(v->proc & PROC_TSC_OFFSETTING))
        return CPU_GUEST_EXECUTE;
    if (v->proc2 & PROC2_TSC_SCALING) {
        gi->out.tsc_scale = true;
        gi->out.tsc_multiplier = field_value(v, VMCS_TSC_MULTIPLIER);
    }
    return execute_with(gi, field_value(v, VMCS_TSC_OFFSET));
}

/* A linear address as an exit records it: bits 63:32 are cleared outside
 * 64-bit mode (SDM 3C "Exit Qualification for VM Exits Due to Instruction
 * Execution" (INVLPG), "Guest Linear Address"). */
static uint64_t linear(vmx_t *v, uint64_t la)
{
    return cpu_mode(v->cpu) == CPU_MODE_64 ? la : la & 0xFFFFFFFFull;
}

/* ---- the VM-exit instruction-information field (SDM 3C "VM-Exit
 * Instruction-Information Field") ----
 *
 * The memory-operand layout shared by the VMX instructions, INVPCID and the
 * descriptor-table instructions:
 *
 *   31    28 27 26   23 22 21   18 17 15 14  11 10 9  7 6    2 1  0
 *  +--------+--+-------+--+-------+-----+------+--+----+------+----+
 *  | Reg2   |BI| Base  |II| Index | Seg | (*)  |MR|ASz | (*)  |Scl |
 *  +--------+--+-------+--+-------+-----+------+--+----+------+----+
 *  Scl: log2(scale), undefined without an index (written 0); ASz: 0 16-bit,
 *  1 32-bit, 2 64-bit; MR: 0 memory, 1 register (VMREAD, VMWRITE, LLDT,
 *  LTR, SLDT, STR; 0 for the others); Seg: ES CS SS DS FS GS = 0..5; II/BI:
 *  index/base register invalid. (*) per class: Reg1 in 6:3 for a register
 *  operand, the operand size in bit 11 (LGDT, LIDT, SGDT, SIDT), the
 *  instruction identity in 29:28 (those and LLDT, LTR, SLDT, STR). Bits the
 *  SDM leaves undefined are written 0 (except the operand-size bit 11 of
 *  LGDT/LIDT/SGDT/SIDT in 64-bit mode, written 1); the address-size, segment, index and
 *  base fields of a register operand are undefined and written 0.
 */
#define INFO_REG1(r)     ((uint32_t)(r) << 3)
#define INFO_REGISTER    (1u << 10)
#define INFO_REG2(r)     ((uint32_t)(r) << 28)
#define INFO_IDENTITY(i) ((uint32_t)(i) << 28)

static uint32_t asize_code(unsigned bytes) { return bytes == 8 ? 2 : bytes == 4 ? 1 : 0; }

static uint32_t info_mem(const struct cpu_mem_form *f)
{
    uint32_t i = asize_code(f->addr_size) << 7 | (uint32_t)f->seg << 15;
    if (f->index == CPU_MEM_NOREG)
        i |= 1u << 22;
    else
        i |= (f->scale == 8 ? 3u : f->scale == 4 ? 2u : f->scale == 2 ? 1u : 0u) | (uint32_t)f->index << 18;
    if (f->base == CPU_MEM_NOREG)
        i |= 1u << 27;
    else
        i |= (uint32_t)f->base << 23;
    return i;
}

/* The exit qualification of an instruction with a memory operand (SDM 3C
 * "Exit Qualification for VM Exits Due to Instruction Execution"): its
 * displacement field, sign-extended; with RIP-relative addressing the
 * displacement plus the RIP of the next instruction. */
static uint64_t qual_disp(const struct cpu_mem_form *f, uint64_t rip, unsigned len)
{
    return f->rip_rel ? rip + len + (uint64_t)f->disp : (uint64_t)f->disp;
}

/* ---- I/O ---- */

/* SDM 3C "Instructions That Cause VM Exits Conditionally": I/O (unconditional
 * I/O exiting, I/O bitmaps A and B; an access that wraps past port FFFFH
 * exits). Exit qualification ("Exit Qualification for I/O Instructions"):
 *   2:0 size - 1, 3 direction (1 = IN), 4 string, 5 REP, 6 operand encoding
 *   (1 = immediate), 31:16 port.
 * String I/O also records the guest-linear address of its memory operand
 * and, when IA32_VMX_BASIC[54] = 1, the instruction information ("... INS
 * and OUTS"): 9:7 address size, 17:15 segment (OUTS; undefined for INS,
 * written 0). The exit is decided once, before the first iteration: every
 * iteration uses the same port. */
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
            uint64_t page = field_value(v, p < 0x8000 ? VMCS_IO_BITMAP_A : VMCS_IO_BITMAP_B);
            uint8_t b = 0;
            if (!cpu_phys_read(v->cpu, page + (p & 0x7FFF) / 8, &b, 1))
                return nonroot_stop(v, "I/O bitmap page %#llx is not in RAM", (unsigned long long)page);
            if ((b >> (p % 8)) & 1)
                exits = true;
        }
    } else {
        exits = v->proc & PROC_UNCOND_IO;
    }
    if (!exits)
        return CPU_GUEST_EXECUTE;
    uint64_t q = (gi->size - 1) | ((gi->cls == IC_IN || gi->cls == IC_INS) ? 8u : 0u) | (gi->string ? 0x10u : 0u) |
                 (gi->rep ? 0x20u : 0u) | (gi->port == ~0u ? 0u : 0x40u) | ((uint64_t)port << 16);
    if (!gi->string)
        return insn_exit(v, gi, EXIT_IO, q);
    uint32_t info = 0;
    if (CAP(v, MSR_VMX_BASIC) & BASIC_INS_OUTS_INFO)
        info = asize_code(gi->form.addr_size) << 7 | (gi->cls == IC_OUTS ? (uint32_t)gi->form.seg << 15 : 0);
    return exit_info(v, gi, EXIT_IO, q, info, linear(v, gi->la));
}

/* SDM 3C: MSR bitmaps (read-low, read-high, write-low, write-high quarters). */
static enum cpu_guest_action msr_decision(vmx_t *v, struct cpu_guest_insn *gi)
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
            uint64_t page = field_value(v, VMCS_MSR_BITMAP);
            unsigned bit = (base + (gi->write ? 2048 : 0)) * 8 + (idx & 0x1FFF);
            uint8_t b = 0;
            if (!cpu_phys_read(v->cpu, page + bit / 8, &b, 1))
                return nonroot_stop(v, "MSR bitmap page %#llx is not in RAM", (unsigned long long)page);
            exits = (b >> (bit % 8)) & 1;
        }
    }
    if (exits)
        return insn_exit(v, gi, gi->write ? EXIT_WRMSR : EXIT_RDMSR, 0);
    /* RDMSR of IA32_TIME_STAMP_COUNTER returns the offset (and scaled) TSC
     * (SDM 3C "Changes to Instruction Behavior": RDMSR). */
    if (!gi->write && idx == MSR_IA32_TSC)
        return tsc_read(v, gi);
    return CPU_GUEST_EXECUTE;
}

/* ---- control registers ----
 *
 * Exit qualification for control-register accesses (SDM 3C "Exit
 * Qualification for Control-Register Accesses"):
 *
 *   63    32 31          16 15 12 11   8 7  6  5  4 3    0
 *  +--------+--------------+-----+------+--+--+----+------+
 *  |   0    | LMSW source  |  0  | GPR  | 0|LM|type|  CR  |
 *  +--------+--------------+-----+------+--+--+----+------+
 *  type: 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW; LM: LMSW's operand is
 *  in memory; GPR: MOV CR only; CR: 0 for CLTS and LMSW.
 */
enum { CRQ_MOV_TO = 0, CRQ_MOV_FROM = 1, CRQ_CLTS = 2, CRQ_LMSW = 3 };

static uint64_t cr_qual(unsigned cr, unsigned type, unsigned gpr)
{
    return (uint64_t)cr | (uint64_t)type << 4 | (uint64_t)gpr << 8;
}

/* The CR0/CR4 value the guest reads: read-shadow bits where the guest/host
 * mask is 1 (SDM 3C "Changes to Instruction Behavior": MOV from CR0/CR4,
 * SMSW). */
static uint64_t cr_read_view(vmx_t *v, unsigned cr)
{
    uint64_t mask = field_value(v, cr == 0 ? VMCS_CR0_GUEST_HOST_MASK : VMCS_CR4_GUEST_HOST_MASK);
    uint64_t shadow = field_value(v, cr == 0 ? VMCS_CR0_READ_SHADOW : VMCS_CR4_READ_SHADOW);
    uint64_t real = cpu_get(v->cpu, cr == 0 ? CPU_CR0 : CPU_CR4);
    return (real & ~mask) | (shadow & mask);
}

/* MOV to/from CR8 with "use TPR shadow" and without "virtualize APIC
 * accesses" and "virtual-interrupt delivery" (VM entry refuses to run
 * those): the virtual TPR, VTPR, is the 32 bits at offset 80H of the
 * virtual-APIC page (SDM 3C "Virtualizing CR8-Based TPR Accesses", "TPR
 * Virtualization"):
 *
 *   31                    8 7      4 3      0
 *  +-----------------------+--------+--------+
 *  |   cleared by MOV CR8  | CR8[3:0] cleared|
 *  +-----------------------+--------+--------+
 *
 * MOV from CR8 reads VTPR[7:4] (bits 63:4 of the destination 0); MOV to
 * CR8 writes CR8[3:0] to VTPR[7:4] and clears the other bits, then, TPR
 * virtualization: if VTPR[7:4] < TPR threshold[3:0], a trap-like VM exit
 * "TPR below threshold" (reason 43, qualification 0, RIP past the MOV).
 * The local APIC's TPR is not touched. A source with bits 63:4 set is
 * still #GP(0) (cpu/ raises it, before anything is written). The VM-exit
 * instruction length is undefined for reason 43 (written 0). */
static enum cpu_guest_action tpr_shadow(vmx_t *v, struct cpu_guest_insn *gi)
{
    uint64_t pa = field_value(v, VMCS_VIRTUAL_APIC_ADDR) + 0x80;
    uint32_t vtpr;
    if (!cpu_phys_read(v->cpu, pa, &vtpr, 4))
        return nonroot_stop(v, "MOV %s CR8 with 'use TPR shadow': VTPR at %#llx is not in RAM",
                            gi->write ? "to" : "from", (unsigned long long)pa);
    if (!gi->write)
        return execute_with(gi, (vtpr >> 4) & 0xF);
    if (gi->src >> 4)
        return CPU_GUEST_EXECUTE;                  /* #GP(0) from cpu/: reserved bits, nothing written */
    vtpr = (uint32_t)(gi->src & 0xF) << 4;
    cpu_phys_write(v->cpu, pa, &vtpr, 4);
    if ((vtpr >> 4) < (field_value(v, VMCS_TPR_THRESHOLD) & 0xF)) {
        cpu_set(v->cpu, CPU_RIP, cpu_get(v->cpu, CPU_RIP) + gi->len);   /* trap-like: the MOV completed */
        struct vm_exit_info x = { .reason = EXIT_TPR_BELOW_THRESHOLD };
        vm_exit(v, &x);
        cpu_account_exit(v->cpu, true);
        return CPU_GUEST_EXITED;
    }
    gi->out.done = true;
    return CPU_GUEST_EXECUTE;
}

static enum cpu_guest_action cr_decision(vmx_t *v, struct cpu_guest_insn *gi)
{
    unsigned type = gi->write ? CRQ_MOV_TO : CRQ_MOV_FROM;
    if (gi->cr == 0 || gi->cr == 4) {
        uint64_t mask = field_value(v, gi->cr == 0 ? VMCS_CR0_GUEST_HOST_MASK : VMCS_CR4_GUEST_HOST_MASK);
        if (!mask)
            return CPU_GUEST_EXECUTE;
        if (!gi->write)
            return execute_with(gi, cr_read_view(v, gi->cr));
        /* MOV to CR0/CR4 exits unless the source matches the read shadow in
         * every masked bit; otherwise the masked bits keep their value. */
        uint64_t shadow = field_value(v, gi->cr == 0 ? VMCS_CR0_READ_SHADOW : VMCS_CR4_READ_SHADOW);
        if ((gi->src ^ shadow) & mask)
            return insn_exit(v, gi, EXIT_CR_ACCESS, cr_qual(gi->cr, type, gi->gpr));
        uint64_t real = cpu_get(v->cpu, gi->cr == 0 ? CPU_CR0 : CPU_CR4);
        return execute_with(gi, (real & mask) | (gi->src & ~mask));
    }
    if (gi->cr == 3) {
        if (gi->write && (v->proc & PROC_CR3_LOAD)) {
            /* no exit when the source equals one of the first
             * CR3-target-count target values */
            unsigned n = (unsigned)field_value(v, VMCS_CR3_TARGET_COUNT);
            for (unsigned i = 0; i < n && i < 4; i++)
                if (gi->src == field_value(v, VMCS_CR3_TARGET_VALUE0 + i))
                    return CPU_GUEST_EXECUTE;
            return insn_exit(v, gi, EXIT_CR_ACCESS, cr_qual(3, type, gi->gpr));
        }
        if (!gi->write && (v->proc & PROC_CR3_STORE))
            return insn_exit(v, gi, EXIT_CR_ACCESS, cr_qual(3, type, gi->gpr));
        return CPU_GUEST_EXECUTE;
    }
    if (gi->cr == 8) {
        /* CR8-load/store exiting come first; then "use TPR shadow" */
        if ((gi->write && (v->proc & PROC_CR8_LOAD)) || (!gi->write && (v->proc & PROC_CR8_STORE)))
            return insn_exit(v, gi, EXIT_CR_ACCESS, cr_qual(8, type, gi->gpr));
        if (v->proc & PROC_TPR_SHADOW)
            return tpr_shadow(v, gi);
        return CPU_GUEST_EXECUTE;
    }
    return CPU_GUEST_EXECUTE;                      /* CR2: as on bare metal */
}

/* CLTS, LMSW, SMSW under the CR0 guest/host mask and read shadow (SDM 3C
 * "Instructions That Cause VM Exits Conditionally" and "Changes to
 * Instruction Behavior in VMX Non-Root Operation"). */
static enum cpu_guest_action msw_decision(vmx_t *v, struct cpu_guest_insn *gi)
{
    uint64_t mask = field_value(v, VMCS_CR0_GUEST_HOST_MASK);
    uint64_t shadow = field_value(v, VMCS_CR0_READ_SHADOW);
    uint64_t cr0 = cpu_get(v->cpu, CPU_CR0);
    switch (gi->cls) {
    case IC_CLTS:
        /* exits iff TS is set in both the mask and the shadow; a masked TS
         * is left alone */
        if (mask & shadow & CR0_TS)
            return insn_exit(v, gi, EXIT_CR_ACCESS, cr_qual(0, CRQ_CLTS, 0));
        return (mask & CR0_TS) ? execute_with(gi, cr0) : CPU_GUEST_EXECUTE;
    case IC_LMSW: {
        uint64_t src = gi->src & 0xFFFF;
        /* PE: exits when masked, set in the source and clear in the shadow
         * (LMSW cannot clear PE); MP, EM, TS: exits when masked and the
         * source differs from the shadow */
        bool exits = ((mask & src & CR0_PE) && !(shadow & CR0_PE)) || ((src ^ shadow) & mask & 0xE);
        if (exits) {
            uint64_t q = cr_qual(0, CRQ_LMSW, 0) | (gi->mem ? 1u << 6 : 0) | src << 16;
            return exit_info(v, gi, EXIT_CR_ACCESS, q, 0, gi->mem ? linear(v, gi->la) : 0);
        }
        if (!(mask & 0xF))
            return CPU_GUEST_EXECUTE;
        /* the unmasked ones of MP, EM, TS are loaded, an unmasked PE can
         * only be set */
        uint64_t nv = (cr0 & ~(0xEull & ~mask)) | (src & 0xE & ~mask);
        if (!(mask & CR0_PE))
            nv |= src & CR0_PE;
        return execute_with(gi, nv);
    }
    default:                                       /* SMSW */
        return mask ? execute_with(gi, cr_read_view(v, 0)) : CPU_GUEST_EXECUTE;
    }
}

/* ---- descriptor tables, RDRAND/RDSEED ---- */

/* Exit reasons 46 (LGDT, LIDT, SGDT, SIDT) and 47 (LLDT, LTR, SLDT, STR):
 * the memory-operand layout above with the instruction identity; the
 * qualification is the displacement (0 for a register operand). */
static enum cpu_guest_action desc_table_exit(vmx_t *v, const struct cpu_guest_insn *gi)
{
    uint64_t q = gi->mem ? qual_disp(&gi->form, gi->rip, gi->len) : 0;
    switch (gi->cls) {
    case IC_SGDT: case IC_SIDT: case IC_LGDT: case IC_LIDT: {
        unsigned id = gi->cls == IC_SGDT ? 0 : gi->cls == IC_SIDT ? 1 : gi->cls == IC_LGDT ? 2 : 3;
        /* bit 11: operand size, 0 16-bit, 1 32-bit (undefined in 64-bit mode: written 1) */
        uint32_t info = info_mem(&gi->form) | (gi->opsize >= 4 ? 1u << 11 : 0) | INFO_IDENTITY(id);
        return exit_info(v, gi, EXIT_GDTR_IDTR, q, info, 0);
    }
    default: {
        unsigned id = gi->cls == IC_SLDT ? 0 : gi->cls == IC_STR ? 1 : gi->cls == IC_LLDT ? 2 : 3;
        uint32_t info = (gi->mem ? info_mem(&gi->form) : INFO_REG1(gi->gpr) | INFO_REGISTER) | INFO_IDENTITY(id);
        return exit_info(v, gi, EXIT_LDTR_TR, q, info, 0);
    }
    }
}

/* RDRAND/RDSEED (57/61): information 6:3 destination register, 12:11
 * operand size (0 16-bit, 1 32-bit, 2 64-bit); qualification 0. */
static enum cpu_guest_action rdrand_exit(vmx_t *v, const struct cpu_guest_insn *gi)
{
    uint32_t info = INFO_REG1(gi->gpr) | asize_code(gi->opsize) << 11;
    return exit_info(v, gi, gi->cls == IC_RDRAND ? EXIT_RDRAND : EXIT_RDSEED, 0, info, 0);
}

/* PAUSE (SDM 3C "Instructions That Cause VM Exits Conditionally", PAUSE;
 * "PAUSE-Loop Exiting"): "PAUSE exiting" exits at any CPL, and at CPL 0
 * "PAUSE-loop exiting" is then ignored; at CPL > 0 "PAUSE-loop exiting" is
 * ignored. Otherwise, at CPL 0: a PAUSE more than PLE_Gap TSC cycles after
 * the previous PAUSE at CPL 0 (or the first since VM entry) is the first
 * of a loop; a later one more than PLE_Window cycles after the first of
 * its loop exits (reason 40, qualification 0). Times are the LP's TSC at
 * the start of each PAUSE (hvsim's virtual clock; the TSC offset cancels
 * out). */
static enum cpu_guest_action pause_decision(vmx_t *v, const struct cpu_guest_insn *gi)
{
    if (v->proc & PROC_PAUSE)
        return insn_exit(v, gi, EXIT_PAUSE, 0);
    if (!(v->proc2 & PROC2_PAUSE_LOOP) || cpu_cpl(v->cpu) != 0)
        return CPU_GUEST_EXECUTE;
    uint64_t now = cpu_cycles(v->cpu);
    uint64_t gap = field_value(v, VMCS_PLE_GAP) & 0xFFFFFFFFu, window = field_value(v, VMCS_PLE_WINDOW) & 0xFFFFFFFFu;
    if (!v->ple_seen || now - v->ple_last > gap)
        v->ple_first = now;
    else if (now - v->ple_first > window)
        return insn_exit(v, gi, EXIT_PAUSE, 0);
    v->ple_seen = true;
    v->ple_last = now;
    return CPU_GUEST_EXECUTE;
}

enum cpu_guest_action nonroot_insn(void *ctx, cpu_t *cpu, struct cpu_guest_insn *gi)
{
    vmx_t *v = ctx;
    (void)cpu;
    if (!v->nonroot)
        return CPU_GUEST_EXECUTE;
    /* the #UD of a disabled secondary control comes first */
    if (gi->cls == IC_RDTSCP && !(v->proc2 & PROC2_RDTSCP)) {
        cpu_insn_fault_at(v->cpu, gi->rip, 6);           /* RDTSCP without "enable RDTSCP": #UD */
        return CPU_GUEST_EXITED;
    }
    if (gi->cls == IC_INVPCID && !(v->proc2 & PROC2_INVPCID)) {
        cpu_insn_fault_at(v->cpu, gi->rip, 6);           /* INVPCID without "enable INVPCID": #UD */
        return CPU_GUEST_EXITED;
    }
    if (gi->fault_first)
        return CPU_GUEST_EXECUTE;                  /* cpu/ raises a fault that comes before any exit */
    switch (gi->cls) {
    /* unconditional */
    case IC_CPUID: return insn_exit(v, gi, EXIT_CPUID, 0);
    case IC_INVD: return insn_exit(v, gi, EXIT_INVD, 0);
    case IC_XSETBV: return insn_exit(v, gi, EXIT_XSETBV, 0);
    /* conditional on a primary control */
    case IC_HLT:
        if (v->proc & PROC_HLT)
            return insn_exit(v, gi, EXIT_HLT, 0);
        /* the MTF VM exit after HLT is not blocked by the HLT state: it
         * comes at once, with activity state HLT saved (SDM 3C "Activity
         * State", "Monitor Trap Flag") */
        if (v->mtf)
            nonroot_boundary_due(v);
        return CPU_GUEST_EXECUTE;
    case IC_RDPMC: return (v->proc & PROC_RDPMC) ? insn_exit(v, gi, EXIT_RDPMC, 0) : CPU_GUEST_EXECUTE;
    case IC_MWAIT: return (v->proc & PROC_MWAIT) ? insn_exit(v, gi, EXIT_MWAIT, 0) : CPU_GUEST_EXECUTE;
    case IC_MONITOR: return (v->proc & PROC_MONITOR) ? insn_exit(v, gi, EXIT_MONITOR, 0) : CPU_GUEST_EXECUTE;
    case IC_PAUSE: return pause_decision(v, gi);
    case IC_RDTSC:
    case IC_RDTSCP:
        if (v->proc & PROC_RDTSC)
            return insn_exit(v, gi, gi->cls == IC_RDTSC ? EXIT_RDTSC : EXIT_RDTSCP, 0);
        /* TSC offsetting and scaling; RDTSCP's ECX is IA32_TSC_AUX unchanged */
        return tsc_read(v, gi);
    case IC_INVLPG:
        /* qualification: the linear-address operand */
        return (v->proc & PROC_INVLPG) ? insn_exit(v, gi, EXIT_INVLPG, linear(v, gi->la)) : CPU_GUEST_EXECUTE;
    case IC_MOV_TO_CR:
    case IC_MOV_FROM_CR:
        return cr_decision(v, gi);
    case IC_CLTS:
    case IC_LMSW:
    case IC_SMSW:
        return msw_decision(v, gi);
    case IC_MOV_TO_DR:
    case IC_MOV_FROM_DR:
        /* qualification ("Exit Qualification for MOV DR"): 2:0 DR, 4
         * direction (1 = MOV from DR), 11:8 GPR */
        if (v->proc & PROC_MOV_DR)
            return insn_exit(v, gi, EXIT_DR_ACCESS,
                             (gi->cr & 7) | (gi->write ? 0u : 0x10u) | (uint64_t)gi->gpr << 8);
        return CPU_GUEST_EXECUTE;
    case IC_IN:
    case IC_OUT:
    case IC_INS:
    case IC_OUTS: {
        enum cpu_guest_action a = io_decision(v, gi);
        /* cpu/ performs every iteration of REP INS/OUTS at once: the MTF
         * VM exit after the first iteration cannot be placed */
        if (a == CPU_GUEST_EXECUTE && gi->rep && v->mtf)
            return nonroot_stop(v, "'%s' with REP and the monitor trap flag: the MTF VM exit after each iteration "
                                "of a REP INS/OUTS is not modelled", gi->mnemonic);
        return a;
    }
    case IC_RDMSR:
    case IC_WRMSR:
        return msr_decision(v, gi);
    /* secondary controls */
    case IC_WBINVD: return (v->proc2 & PROC2_WBINVD) ? insn_exit(v, gi, EXIT_WBINVD, 0) : CPU_GUEST_EXECUTE;
    case IC_RDRAND: return (v->proc2 & PROC2_RDRAND) ? rdrand_exit(v, gi) : CPU_GUEST_EXECUTE;
    case IC_RDSEED: return (v->proc2 & PROC2_RDSEED) ? rdrand_exit(v, gi) : CPU_GUEST_EXECUTE;
    case IC_INVPCID:
        /* "INVLPG exiting" governs INVPCID; information as for INVEPT with
         * the type register as Reg2, qualification the displacement */
        if (v->proc & PROC_INVLPG)
            return exit_info(v, gi, EXIT_INVPCID, qual_disp(&gi->form, gi->rip, gi->len),
                             info_mem(&gi->form) | INFO_REG2(gi->gpr), 0);
        return CPU_GUEST_EXECUTE;
    case IC_LGDT: case IC_LIDT: case IC_SGDT: case IC_SIDT:
    case IC_LLDT: case IC_LTR: case IC_SLDT: case IC_STR:
        return (v->proc2 & PROC2_DESC_TABLE) ? desc_table_exit(v, gi) : CPU_GUEST_EXECUTE;
    default:
        return CPU_GUEST_EXECUTE;                  /* no VM exit for this instruction */
    }
}

/* VMX instructions in VMX non-root operation (SDM 3C "Instructions That
 * Cause VM Exits Unconditionally"; vol. 2 "Operation": the #UD in
 * virtual-8086 and compatibility mode comes first, the exit before the CPL
 * check). VMFUNC: #UD unless VM functions are enabled. The memory-operand
 * instructions record the instruction information (SDM 3C tables "...
 * VMCLEAR, VMPTRLD, VMPTRST, VMXON ...", "... VMREAD and VMWRITE", "...
 * INVEPT, INVPCID, and INVVPID") and the displacement as qualification (0
 * for a register operand). */
/* VMFUNC with "enable VM functions" (SDM 3C 26.5.6 "VM Functions", 31.3
 * VMFUNC): EAX names the function; a function the VM-function controls do
 * not enable (or EAX >= 64) is a VM exit (reason 59). Function 0, EPTP
 * switching (26.5.6.3): ECX indexes the 512-entry EPTP list; an index of
 * 512 or more, or an entry VM entry would not accept as EPTP, is a VM exit;
 * otherwise the entry becomes the EPTP (the VMCS field too) and the
 * instruction completes. Cached translations are kept: they are tagged by
 * EPTRTA. Returns true when the instruction completed (or stopped the run),
 * false when it must exit. */
static bool vmfunc(vmx_t *v, const struct cpu_virt_insn *in)
{
    cpu_t *c = v->cpu;
    uint64_t fn = cpu_get(c, CPU_RAX) & 0xFFFFFFFFu, idx = cpu_get(c, CPU_RCX) & 0xFFFFFFFFu;
    uint64_t ctl = field_value(v, VMCS_VM_FUNCTION_CONTROLS);
    if (fn >= 64 || !((ctl >> fn) & 1) || fn != 0 || idx >= 512)
        return false;
    uint64_t list = field_value(v, VMCS_EPTP_LIST_ADDR), eptp;
    if (!cpu_phys_read(c, list + 8 * idx, &eptp, 8)) {
        cpu_insn_unmodelled(c, "VMFUNC EPTP switching: EPTP-list entry %llu at %#llx is not in RAM",
                            (unsigned long long)idx, (unsigned long long)(list + 8 * idx));
        return true;
    }
    if (ept_eptp_invalid(eptp, CAP(v, MSR_VMX_EPT_VPID_CAP), cpu_maxphyaddr(c)))
        return false;
    (void)in;
    v->eptp = eptp;
    field_write(v, VMCS_EPT_POINTER, eptp);
    cpu_tlb_switch_ept(c, eptp & 0x000FFFFFFFFFF000ull);
    cpu_insn_report(c, 0, 0, 0, fn, idx);
    cpu_insn_retire(c);
    return true;
}

bool nonroot_vmx_insn(vmx_t *v, const struct cpu_virt_insn *in)
{
    enum cpu_mode m = cpu_mode(v->cpu);
    /* VMCALL exits in every mode of VMX non-root operation (its Operation
     * tests "in VMX non-root operation" before the mode); the other VMX
     * instructions #UD first with CR0.PE = 0, in virtual-8086 mode and in
     * compatibility mode (SDM 3C 31.3, each instruction's Operation) */
    if (in->id != CPU_VI_VMCALL && (m == CPU_MODE_V86 || m == CPU_MODE_COMPAT || m == CPU_MODE_REAL)) {
        cpu_insn_report(v->cpu, 3, 0, 6, 0, 0);
        cpu_insn_fault(v->cpu, 6, false, 0);
        return true;
    }
    struct vm_exit_info x = { .insn_len = in->len };
    const struct cpu_virt_operand *rm = NULL;     /* the operand the information describes */
    switch (in->id) {
    case CPU_VI_VMCALL: x.reason = EXIT_VMCALL; break;
    case CPU_VI_VMLAUNCH: x.reason = EXIT_VMLAUNCH; break;
    case CPU_VI_VMRESUME: x.reason = EXIT_VMRESUME; break;
    case CPU_VI_VMXOFF: x.reason = EXIT_VMXOFF; break;
    case CPU_VI_VMCLEAR: x.reason = EXIT_VMCLEAR; rm = &in->op[0]; break;
    case CPU_VI_VMPTRLD: x.reason = EXIT_VMPTRLD; rm = &in->op[0]; break;
    case CPU_VI_VMPTRST: x.reason = EXIT_VMPTRST; rm = &in->op[0]; break;
    case CPU_VI_VMXON: x.reason = EXIT_VMXON; rm = &in->op[0]; break;
    case CPU_VI_VMREAD:                          /* Reg1/memory = the destination, Reg2 = the encoding */
        x.reason = EXIT_VMREAD;
        rm = &in->op[0];
        x.insn_info = INFO_REG2(in->op[1].reg);
        break;
    case CPU_VI_VMWRITE:                         /* Reg1/memory = the source, Reg2 = the encoding */
        x.reason = EXIT_VMWRITE;
        rm = &in->op[1];
        x.insn_info = INFO_REG2(in->op[0].reg);
        break;
    case CPU_VI_INVEPT:
    case CPU_VI_INVVPID:                         /* Reg2 = the type, memory = the descriptor */
        x.reason = in->id == CPU_VI_INVEPT ? EXIT_INVEPT : EXIT_INVVPID;
        rm = &in->op[1];
        x.insn_info = INFO_REG2(in->op[0].reg);
        break;
    case CPU_VI_VMFUNC:
        if (!(v->proc2 & PROC2_VMFUNC)) {
            cpu_insn_report(v->cpu, 3, 0, 6, 0, 0);
            cpu_insn_fault(v->cpu, 6, false, 0);
            return true;
        }
        if (vmfunc(v, in))
            return true;
        x.reason = EXIT_VMFUNC;                  /* no qualification; the instruction's length */
        break;
    default:
        cpu_insn_unmodelled(v->cpu, "VMX non-root operation: '%s' has no VM exit in hvsim's table", in->mnemonic);
        return false;
    }
    if (rm && rm->mem) {
        x.insn_info |= info_mem(&rm->form);
        x.qualification = qual_disp(&rm->form, in->rip, in->len);
    } else if (rm) {
        x.insn_info |= INFO_REG1(rm->reg) | INFO_REGISTER;
    }
    vm_exit(v, &x);
    cpu_insn_retire_jump(v->cpu, CPU_VCOST_EXIT);
    return true;
}
