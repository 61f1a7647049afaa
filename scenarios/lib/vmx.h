/*
 * vmx.h — VMX helpers for payloads (include after hvsim.h): the VMX
 * instructions as C functions that return how they completed, the
 * capability MSRs, the VMCS field encodings payloads use, and the set-up a
 * hypervisor does before VMXON (IA32_FEATURE_CONTROL, CR0/CR4 fixed bits,
 * VMXON region). Everything here also runs on hardware and in Bochs.
 *
 * SDM 3C 31.2: VMsucceed clears CF, PF, AF, ZF, SF, OF; VMfailInvalid sets
 * CF; VMfailValid sets ZF (the error number is in the VM-instruction error
 * field of the current VMCS, encoding 0x4400).
 */
#ifndef HVSIM_PAYLOAD_VMX_H
#define HVSIM_PAYLOAD_VMX_H

#include "hvsim.h"

enum vmx_status { VMX_OK = 0, VMX_FAIL_INVALID = 1, VMX_FAIL_VALID = 2 };
#define VMX_ARITH_FLAGS 0x8D5ull        /* CF PF AF ZF SF OF */

static inline int vmx_status(uint64_t rflags)
{
    if (rflags & RFLAGS_CF)
        return VMX_FAIL_INVALID;
    if (rflags & RFLAGS_ZF)
        return VMX_FAIL_VALID;
    return VMX_OK;
}
static inline const char *vmx_status_name(int s)
{
    return s == VMX_OK ? "VMsucceed" : s == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid";
}

/* Each instruction starts from RFLAGS with all six flags set, so that a
 * flag the instruction fails to clear is seen. */
#define VMX_INSN(asm_text, ...)                                                        \
    ({                                                                                 \
        uint64_t _f;                                                                   \
        __asm__ volatile("pushq $0x8d5; popfq; " asm_text "; pushfq; popq %0"          \
                         : "=&r"(_f) __VA_ARGS__);                                     \
        _f;                                                                            \
    })

static inline uint64_t vmxon_flags(uint64_t pa) { return VMX_INSN("vmxon %1", : "m"(pa) : "cc", "memory"); }
static inline uint64_t vmxoff_flags(void) { return VMX_INSN("vmxoff", : : "cc", "memory"); }
static inline uint64_t vmclear_flags(uint64_t pa) { return VMX_INSN("vmclear %1", : "m"(pa) : "cc", "memory"); }
static inline uint64_t vmptrld_flags(uint64_t pa) { return VMX_INSN("vmptrld %1", : "m"(pa) : "cc", "memory"); }
static inline uint64_t vmptrst_flags(uint64_t *pa) { return VMX_INSN("vmptrst %1", : "m"(*pa) : "cc", "memory"); }
static inline uint64_t vmlaunch_flags(void) { return VMX_INSN("vmlaunch", : : "cc", "memory"); }
static inline uint64_t vmresume_flags(void) { return VMX_INSN("vmresume", : : "cc", "memory"); }
static inline uint64_t vmcall_flags(void) { return VMX_INSN("vmcall", : : "cc", "memory"); }

static inline uint64_t vmread_flags(uint64_t enc, uint64_t *val)
{
    uint64_t f, v = 0xDEADBEEFDEADBEEFull;
    __asm__ volatile("pushq $0x8d5; popfq; vmread %2, %1; pushfq; popq %0"
                     : "=&r"(f), "+r"(v) : "r"(enc) : "cc", "memory");
    *val = v;
    return f;
}
static inline uint64_t vmwrite_flags(uint64_t enc, uint64_t val)
{
    uint64_t f;
    __asm__ volatile("pushq $0x8d5; popfq; vmwrite %2, %1; pushfq; popq %0"
                     : "=&r"(f) : "r"(enc), "r"(val) : "cc", "memory");
    return f;
}
static inline uint64_t invept_flags(uint64_t type, const uint64_t desc[2])
{
    uint64_t f;
    __asm__ volatile("pushq $0x8d5; popfq; invept %2, %1; pushfq; popq %0"
                     : "=&r"(f) : "r"(type), "m"(*(const uint64_t(*)[2])desc) : "cc", "memory");
    return f;
}
static inline uint64_t invvpid_flags(uint64_t type, const uint64_t desc[2])
{
    uint64_t f;
    __asm__ volatile("pushq $0x8d5; popfq; invvpid %2, %1; pushfq; popq %0"
                     : "=&r"(f) : "r"(type), "m"(*(const uint64_t(*)[2])desc) : "cc", "memory");
    return f;
}

/* The VM-instruction error field (valid after VMfailValid). */
#define VMCS_VM_INSTRUCTION_ERROR 0x4400u
static inline uint64_t vmx_insn_error(void)
{
    uint64_t v;
    return vmx_status(vmread_flags(VMCS_VM_INSTRUCTION_ERROR, &v)) == VMX_OK ? v : ~0ull;
}

/* Capability MSRs (SDM 3D appendix A). */
#define MSR_FEATURE_CONTROL       0x3A
#define MSR_VMX_BASIC             0x480
#define MSR_VMX_PINBASED_CTLS     0x481
#define MSR_VMX_PROCBASED_CTLS    0x482
#define MSR_VMX_EXIT_CTLS         0x483
#define MSR_VMX_ENTRY_CTLS        0x484
#define MSR_VMX_MISC              0x485
#define MSR_VMX_CR0_FIXED0        0x486
#define MSR_VMX_CR0_FIXED1        0x487
#define MSR_VMX_CR4_FIXED0        0x488
#define MSR_VMX_CR4_FIXED1        0x489
#define MSR_VMX_VMCS_ENUM         0x48A
#define MSR_VMX_PROCBASED_CTLS2   0x48B
#define MSR_VMX_EPT_VPID_CAP      0x48C
#define MSR_VMX_TRUE_PINBASED     0x48D
#define MSR_VMX_TRUE_PROCBASED    0x48E
#define MSR_VMX_TRUE_EXIT         0x48F
#define MSR_VMX_TRUE_ENTRY        0x490
#define MSR_VMX_VMFUNC            0x491
#define CR4_VMXE (1ull << 13)
#define CR0_NE   (1ull << 5)

/* The set-up before VMXON (SDM 3C 24.7, 24.8): lock IA32_FEATURE_CONTROL
 * with "VMX outside SMX" if it is unlocked, apply the CR0/CR4 fixed bits,
 * set CR4.VMXE, and write the revision identifier into a VMXON region.
 * Returns the region's physical address (payload memory is identity-mapped). */
static inline uint32_t vmx_revision(void) { return (uint32_t)rdmsr(MSR_VMX_BASIC) & 0x7FFFFFFFu; }
static inline void vmx_enable(void)
{
    uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);
    if (!(fc & 1))
        wrmsr(MSR_FEATURE_CONTROL, fc | 5);
    uint64_t cr0 = read_cr0(), cr4 = read_cr4();
    cr0 = (cr0 | rdmsr(MSR_VMX_CR0_FIXED0)) & rdmsr(MSR_VMX_CR0_FIXED1);
    cr4 = (cr4 | CR4_VMXE | rdmsr(MSR_VMX_CR4_FIXED0)) & rdmsr(MSR_VMX_CR4_FIXED1);
    write_cr0(cr0);
    write_cr4(cr4);
}
/* A fresh 4-KiB region with this processor's revision identifier. */
static inline uint64_t vmx_region(void)
{
    uint32_t *p = hv_page_alloc();
    p[0] = vmx_revision();
    return (uint64_t)(uintptr_t)p;
}

#endif
