/*
 * vmx.h — Intel VT-x for one logical processor: VMX operation, the current
 * VMCS and the VMX instructions (SDM vol. 2, "VMX Instruction Reference";
 * vol. 3C, "VMX Operation" and "Virtual Machine Control Structures").
 *
 * The model registers with a cpu through struct cpu_virt_ops. Every VMX
 * instruction is also a C function here that returns the same
 * architectural outcome (the instruction handlers are thin callers), so a
 * native backend can drive the model without executing instructions.
 *
 * The VMCS lives in guest-physical memory in the layout of
 * docs/vmcs-layout.md; hvsim keeps no copy, so VMCLEAR has nothing to write
 * back beyond the launch state.
 */
#ifndef HVSIM_VMX_H
#define HVSIM_VMX_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu.h"

/* ---- capabilities (caps.c): the VMX capability MSRs of a CPU profile ---- */

/* IA32_VMX_* MSR numbers (SDM 3D appendix A; 2.1 table 2-2). */
enum {
    MSR_IA32_FEATURE_CONTROL = 0x3A,
    MSR_VMX_BASIC = 0x480, MSR_VMX_PINBASED_CTLS, MSR_VMX_PROCBASED_CTLS, MSR_VMX_EXIT_CTLS,
    MSR_VMX_ENTRY_CTLS, MSR_VMX_MISC, MSR_VMX_CR0_FIXED0, MSR_VMX_CR0_FIXED1, MSR_VMX_CR4_FIXED0,
    MSR_VMX_CR4_FIXED1, MSR_VMX_VMCS_ENUM, MSR_VMX_PROCBASED_CTLS2, MSR_VMX_EPT_VPID_CAP,
    MSR_VMX_TRUE_PINBASED_CTLS, MSR_VMX_TRUE_PROCBASED_CTLS, MSR_VMX_TRUE_EXIT_CTLS,
    MSR_VMX_TRUE_ENTRY_CTLS, MSR_VMX_VMFUNC, MSR_VMX_PROCBASED_CTLS3, MSR_VMX_EXIT_CTLS2,
    MSR_VMX_LAST = MSR_VMX_EXIT_CTLS2,
};
#define VMX_NCAP_MSRS (MSR_VMX_LAST - MSR_VMX_BASIC + 1)

/* IA32_FEATURE_CONTROL bits (SDM 3C 24.7). */
#define FEATCTL_LOCK         (1ull << 0)
#define FEATCTL_VMX_IN_SMX   (1ull << 1)
#define FEATCTL_VMX_OUTSIDE  (1ull << 2)

struct vmx_caps {
    const char *profile;                 /* CPU profile name these belong to */
    uint64_t msr[VMX_NCAP_MSRS];         /* indexed by MSR - MSR_VMX_BASIC */
    bool present[VMX_NCAP_MSRS];         /* false: RDMSR #GPs (the MSR does not exist) */
};

/* The capabilities of a CPU profile, or NULL when it has no VMX. */
const struct vmx_caps *vmx_caps_for_profile(const char *profile_name);
uint32_t vmx_caps_revision(const struct vmx_caps *c);           /* IA32_VMX_BASIC[30:0] */
/* Override one capability MSR of a copy (a scenario or --vmx-cap): its value,
 * or !present to remove it. False, with a message naming the MSR, when the
 * value is not a possible capability: a control MSR whose allowed-0 bits
 * are not allowed-1, a revision identifier with bit 31, a region size of
 * 0 or above 4096, CR0/CR4 FIXED0 bits missing from FIXED1, an MSR that
 * every VMX processor has (BASIC, the four control MSRs, MISC, the fixed
 * bits, VMCS_ENUM) removed. IA32_VMX_CR4_FIXED1 and IA32_VMX_VMCS_ENUM left at 0
 * are computed at attach; an override keeps its value. */
bool vmx_caps_override(struct vmx_caps *c, uint32_t msr, bool present, uint64_t value, char *err, size_t n);
const char *vmx_cap_msr_name(uint32_t msr);                     /* "IA32_VMX_BASIC", or NULL */
/* The existence rules between the capability MSRs (SDM 3D appendix A):
 * PROCBASED_CTLS2 exists iff primary control 31 may be 1; EPT_VPID_CAP iff
 * EPT or VPID may be 1; VMFUNC iff "enable VM functions" may be 1; the TRUE
 * MSRs iff IA32_VMX_BASIC[55]; PROCBASED_CTLS3 iff primary 17; EXIT_CTLS2
 * iff exit control 31. False with a message naming the rule. */
bool vmx_caps_consistent(const struct vmx_caps *c, char *err, size_t n);

/* ---- one logical processor ---- */

typedef struct vmx vmx_t;

/* Create the model for a cpu and register it (cpu_set_virt_ops). NULL if
 * out of memory. */
vmx_t *vmx_attach(cpu_t *cpu, const struct vmx_caps *caps);
void vmx_detach(vmx_t *v);   /* unregisters and frees */

/* The architectural outcome of a VMX operation. */
enum vmx_outcome {
    VMX_SUCCEED = 0,      /* VMsucceed: CF=PF=AF=ZF=SF=OF=0 */
    VMX_FAIL_INVALID,     /* VMfailInvalid: CF=1 */
    VMX_FAIL_VALID,       /* VMfailValid(error): ZF=1, VM-instruction error field = error */
    VMX_FAULT,            /* an exception: vector (and error code) */
    VMX_UNMODELLED,       /* hvsim does not model this: why says what */
};

/* VM-instruction error numbers (SDM 3C 31.4, table 31-1). */
enum vmx_insn_error {
    VMXERR_VMCALL_IN_ROOT = 1,
    VMXERR_VMCLEAR_INVALID_PA = 2,
    VMXERR_VMCLEAR_VMXON_PTR = 3,
    VMXERR_VMLAUNCH_NOT_CLEAR = 4,
    VMXERR_VMRESUME_NOT_LAUNCHED = 5,
    VMXERR_VMRESUME_AFTER_VMXOFF = 6,
    VMXERR_ENTRY_INVALID_CONTROLS = 7,
    VMXERR_ENTRY_INVALID_HOST_STATE = 8,
    VMXERR_VMPTRLD_INVALID_PA = 9,
    VMXERR_VMPTRLD_VMXON_PTR = 10,
    VMXERR_VMPTRLD_BAD_REVISION = 11,
    VMXERR_UNSUPPORTED_FIELD = 12,
    VMXERR_VMWRITE_READ_ONLY = 13,
    VMXERR_VMXON_IN_ROOT = 15,
    VMXERR_ENTRY_INVALID_EXEC_VMCS_PTR = 16,
    VMXERR_ENTRY_NONLAUNCHED_EXEC_VMCS = 17,
    VMXERR_ENTRY_EXEC_VMCS_NOT_VMXON = 18,
    VMXERR_VMCALL_NONCLEAR_VMCS = 19,
    VMXERR_VMCALL_INVALID_EXIT_CTLS = 20,
    VMXERR_VMCALL_BAD_MSEG_REVISION = 22,
    VMXERR_VMXOFF_DUAL_MONITOR = 23,
    VMXERR_VMCALL_INVALID_SMM_FEATURES = 24,
    VMXERR_ENTRY_INVALID_EXEC_CTLS = 25,
    VMXERR_ENTRY_MOV_SS_BLOCKING = 26,
    VMXERR_INVEPT_INVVPID_OPERAND = 28,
};
const char *vmx_insn_error_text(unsigned error);

#define VMX_WHY_RING 8
struct vmx_result {
    enum vmx_outcome outcome;
    unsigned error;       /* VMX_FAIL_VALID: the VM-instruction error number */
    unsigned vector;      /* VMX_FAULT */
    bool has_ec;
    uint32_t ec;
    const char *why;      /* plain words: which rule decided (with its SDM section); static text,
                             or text res() formatted, valid until VMX_WHY_RING more formatted
                             results are made on the same thread */
    /* VMLAUNCH/VMRESUME only */
    int check;            /* the failing VM-entry check (enum vmentry_check), -1: none */
    bool transitioned;    /* the LP left the instruction's context: it entered the guest, or a
                             VM-entry failure loaded host state (RFLAGS and RIP are not the
                             instruction's outcome then) */
    bool entry_failed;    /* ... it was a VM-entry failure (exit reason 33 or 34, bit 31) */
    bool halted;          /* ... the guest was entered in the HLT activity state */
};

/* The API: each call is the whole instruction given its operand values, in
 * the order of the SDM's "Operation" section (faults, then VMfail checks,
 * then the effect), and sets RFLAGS as the instruction does (except on a
 * fault). Memory operands are the caller's business (they are read between
 * the fault checks and the rest: vmx_insn_checks() then vmx_*() would read
 * them twice; the instruction handlers use the internal split). */
struct vmx_result vmx_vmxon(vmx_t *v, uint64_t region_pa);
struct vmx_result vmx_vmxoff(vmx_t *v);
struct vmx_result vmx_vmclear(vmx_t *v, uint64_t vmcs_pa);
struct vmx_result vmx_vmptrld(vmx_t *v, uint64_t vmcs_pa);
struct vmx_result vmx_vmptrst(vmx_t *v, uint64_t *vmcs_pa);
struct vmx_result vmx_vmread(vmx_t *v, uint64_t encoding, uint64_t *value);
struct vmx_result vmx_vmwrite(vmx_t *v, uint64_t encoding, uint64_t value);
struct vmx_result vmx_vmlaunch(vmx_t *v, bool resume);
struct vmx_result vmx_vmcall(vmx_t *v);
struct vmx_result vmx_invept(vmx_t *v, uint64_t type, const uint64_t desc[2]);
struct vmx_result vmx_invvpid(vmx_t *v, uint64_t type, const uint64_t desc[2]);

/* "Virtualize APIC accesses" (apic_access.c; SDM 3C 30.4, 28.2.1), pure:
 * whether a linear data access of size bytes at page offset offset is
 * virtualized ("APIC-register virtualization" and "virtual-interrupt
 * delivery" 0); the access type of exit-qualification bits 15:12 (acc:
 * CPU_SLAT_* bits); the exit qualification. */
bool vmx_apic_access_virtualized(bool tpr_shadow, unsigned offset, unsigned size, bool write);
unsigned vmx_apic_access_type(bool guest_physical, bool event_delivery, unsigned acc);
uint64_t vmx_apic_access_qual(unsigned type, unsigned offset);

/* State queries (tests, traces, the scenario engine). */
bool vmx_in_operation(const vmx_t *v);             /* after VMXON, before VMXOFF */
uint64_t vmx_vmxon_pointer(const vmx_t *v);
uint64_t vmx_current_vmcs(const vmx_t *v);          /* ~0: invalid */

#endif
