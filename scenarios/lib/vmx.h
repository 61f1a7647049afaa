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

/* The usual start of a hypervisor: vmx_enable(), VMXON of a fresh region,
 * VMCLEAR and VMPTRLD of a fresh VMCS (each must succeed). Returns the
 * VMCS's physical address. */
static inline uint64_t vmx_on_with_vmcs(void)
{
    vmx_enable();
    uint64_t vmxon_region = vmx_region(), vmcs = vmx_region();
    uint64_t f = vmxon_flags(vmxon_region);
    T_ASSERT(vmx_status(f) == VMX_OK, "VMXON: %s", vmx_status_name(vmx_status(f)));
    f = vmclear_flags(vmcs);
    T_ASSERT(vmx_status(f) == VMX_OK, "VMCLEAR: %s", vmx_status_name(vmx_status(f)));
    f = vmptrld_flags(vmcs);
    T_ASSERT(vmx_status(f) == VMX_OK, "VMPTRLD: %s", vmx_status_name(vmx_status(f)));
    return vmcs;
}

/* ---- building a VMCS (SDM 3C "Virtual Machine Control Structures") ---- */

/* Field encodings payloads use (SDM 3D appendix B). */
enum {
    F_VPID = 0x0000,
    F_GUEST_ES_SEL = 0x0800, F_GUEST_CS_SEL = 0x0802, F_GUEST_SS_SEL = 0x0804, F_GUEST_DS_SEL = 0x0806,
    F_GUEST_FS_SEL = 0x0808, F_GUEST_GS_SEL = 0x080A, F_GUEST_LDTR_SEL = 0x080C, F_GUEST_TR_SEL = 0x080E,
    F_HOST_ES_SEL = 0x0C00, F_HOST_CS_SEL = 0x0C02, F_HOST_SS_SEL = 0x0C04, F_HOST_DS_SEL = 0x0C06,
    F_HOST_FS_SEL = 0x0C08, F_HOST_GS_SEL = 0x0C0A, F_HOST_TR_SEL = 0x0C0C,
    F_IO_BITMAP_A = 0x2000, F_IO_BITMAP_B = 0x2002, F_MSR_BITMAP = 0x2004, F_EXIT_MSR_STORE_ADDR = 0x2006,
    F_EXIT_MSR_LOAD_ADDR = 0x2008, F_ENTRY_MSR_LOAD_ADDR = 0x200A, F_TSC_OFFSET = 0x2010,
    F_VMCS_LINK = 0x2800, F_GUEST_EFER = 0x2806, F_HOST_EFER = 0x2C02,
    F_PIN = 0x4000, F_PROC = 0x4002, F_EXCEPTION_BITMAP = 0x4004, F_PF_EC_MASK = 0x4006, F_PF_EC_MATCH = 0x4008,
    F_CR3_TARGET_COUNT = 0x400A, F_PREEMPTION_TIMER = 0x482E,
    F_EXIT_CTLS = 0x400C, F_EXIT_MSR_STORE_COUNT = 0x400E, F_EXIT_MSR_LOAD_COUNT = 0x4010, F_ENTRY_CTLS = 0x4012,
    F_ENTRY_MSR_LOAD_COUNT = 0x4014, F_ENTRY_INTR_INFO = 0x4016, F_ENTRY_EXC_EC = 0x4018, F_ENTRY_INSN_LEN = 0x401A,
    F_PROC2 = 0x401E,
    F_INSN_ERROR = 0x4400, F_EXIT_REASON = 0x4402, F_EXIT_INTR_INFO = 0x4404, F_EXIT_INTR_EC = 0x4406,
    F_IDT_VECTORING_INFO = 0x4408, F_EXIT_INSN_LEN = 0x440C, F_EXIT_INSN_INFO = 0x440E,
    F_GUEST_ES_LIMIT = 0x4800, F_GUEST_CS_LIMIT = 0x4802, F_GUEST_SS_LIMIT = 0x4804, F_GUEST_DS_LIMIT = 0x4806,
    F_GUEST_FS_LIMIT = 0x4808, F_GUEST_GS_LIMIT = 0x480A, F_GUEST_LDTR_LIMIT = 0x480C, F_GUEST_TR_LIMIT = 0x480E,
    F_GUEST_GDTR_LIMIT = 0x4810, F_GUEST_IDTR_LIMIT = 0x4812,
    F_GUEST_ES_AR = 0x4814, F_GUEST_CS_AR = 0x4816, F_GUEST_SS_AR = 0x4818, F_GUEST_DS_AR = 0x481A,
    F_GUEST_FS_AR = 0x481C, F_GUEST_GS_AR = 0x481E, F_GUEST_LDTR_AR = 0x4820, F_GUEST_TR_AR = 0x4822,
    F_GUEST_INTERRUPTIBILITY = 0x4824, F_GUEST_ACTIVITY = 0x4826, F_GUEST_SYSENTER_CS = 0x482A,
    F_HOST_SYSENTER_CS = 0x4C00,
    F_CR0_MASK = 0x6000, F_CR4_MASK = 0x6002, F_CR0_SHADOW = 0x6004, F_CR4_SHADOW = 0x6006,
    F_EXIT_QUALIFICATION = 0x6400, F_GUEST_LINEAR = 0x640A,
    F_GUEST_CR0 = 0x6800, F_GUEST_CR3 = 0x6802, F_GUEST_CR4 = 0x6804, F_GUEST_ES_BASE = 0x6806,
    F_GUEST_CS_BASE = 0x6808, F_GUEST_SS_BASE = 0x680A, F_GUEST_DS_BASE = 0x680C, F_GUEST_FS_BASE = 0x680E,
    F_GUEST_GS_BASE = 0x6810, F_GUEST_LDTR_BASE = 0x6812, F_GUEST_TR_BASE = 0x6814, F_GUEST_GDTR_BASE = 0x6816,
    F_GUEST_IDTR_BASE = 0x6818, F_GUEST_DR7 = 0x681A, F_GUEST_RSP = 0x681C, F_GUEST_RIP = 0x681E,
    F_GUEST_RFLAGS = 0x6820, F_GUEST_PENDING_DBG = 0x6822, F_GUEST_SYSENTER_ESP = 0x6824,
    F_GUEST_SYSENTER_EIP = 0x6826,
    F_HOST_CR0 = 0x6C00, F_HOST_CR3 = 0x6C02, F_HOST_CR4 = 0x6C04, F_HOST_FS_BASE = 0x6C06, F_HOST_GS_BASE = 0x6C08,
    F_HOST_TR_BASE = 0x6C0A, F_HOST_GDTR_BASE = 0x6C0C, F_HOST_IDTR_BASE = 0x6C0E, F_HOST_SYSENTER_ESP = 0x6C10,
    F_HOST_SYSENTER_EIP = 0x6C12, F_HOST_RSP = 0x6C14, F_HOST_RIP = 0x6C16,
};

/* Control bits used by payloads (SDM 3C 25.6-25.8). */
#define PROC_HLT_EXITING     (1u << 7)
#define PROC_USE_IO_BITMAPS  (1u << 25)
#define PROC_USE_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY_CTLS  (1u << 31)
#define EXIT_HOST_64         (1u << 9)
#define ENTRY_IA32E_GUEST    (1u << 9)

static inline void vmw(uint32_t enc, uint64_t val)
{
    uint64_t f = vmwrite_flags(enc, val);
    T_ASSERT(vmx_status(f) == VMX_OK, "VMWRITE %#x = %#llx: %s (error %llu)", enc, (unsigned long long)val,
             vmx_status_name(vmx_status(f)), (unsigned long long)vmx_insn_error());
}
static inline uint64_t vmr(uint32_t enc)
{
    uint64_t v;
    uint64_t f = vmread_flags(enc, &v);
    T_ASSERT(vmx_status(f) == VMX_OK, "VMREAD %#x: %s", enc, vmx_status_name(vmx_status(f)));
    return v;
}

/* A control word with the bits `want` set where allowed and every
 * must-be-1 bit set, from IA32_VMX_TRUE_* when IA32_VMX_BASIC[55] says so
 * (SDM 3D A.2, A.3). */
static inline uint32_t vmx_ctls(uint32_t msr, uint32_t true_msr, uint32_t want)
{
    uint64_t cap = rdmsr((rdmsr(MSR_VMX_BASIC) >> 55) & 1 ? true_msr : msr);
    return (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
}

/* General-purpose registers of a guest (vmx_enter). */
struct vmx_regs {
    uint64_t rax, rcx, rdx, rbx, rsp_unused, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};
uint64_t vmx_enter(struct vmx_regs *g, int resume);
#define VMX_ENTER_FAILED(r) ((r) >> 63)

/* Host state = the payload's current state (SDM 3C 25.5): the VM exit
 * lands in vmx_enter's stub. */
static inline void vmx_init_host(void)
{
    struct hv_dtr g, i;
    sgdt(&g);
    sidt(&i);
    vmw(F_HOST_CR0, read_cr0());
    vmw(F_HOST_CR3, read_cr3());
    vmw(F_HOST_CR4, read_cr4());
    vmw(F_HOST_CS_SEL, read_cs());
    vmw(F_HOST_SS_SEL, read_ss());
    vmw(F_HOST_DS_SEL, read_ds());
    vmw(F_HOST_ES_SEL, read_ds());
    vmw(F_HOST_FS_SEL, 0);
    vmw(F_HOST_GS_SEL, 0);
    uint16_t tr = str();
    vmw(F_HOST_TR_SEL, tr);
    const uint64_t *gdt = (const uint64_t *)(uintptr_t)g.base;
    uint64_t lo = gdt[tr >> 3], hi = gdt[(tr >> 3) + 1];
    uint64_t trbase = ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24) | ((hi & 0xFFFFFFFF) << 32);
    vmw(F_HOST_TR_BASE, trbase);
    vmw(F_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    vmw(F_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    vmw(F_HOST_GDTR_BASE, g.base);
    vmw(F_HOST_IDTR_BASE, i.base);
    vmw(F_HOST_SYSENTER_CS, rdmsr(0x174));
    vmw(F_HOST_SYSENTER_ESP, rdmsr(0x175));
    vmw(F_HOST_SYSENTER_EIP, rdmsr(0x176));
}

/* A 64-bit guest sharing the payload's address space, GDT and IDT: flat
 * segments like the host's, running rip on the stack rsp (SDM 3C 25.4). */
static inline void vmx_init_guest64(uint64_t rip, uint64_t rsp)
{
    struct hv_dtr g, i;
    sgdt(&g);
    sidt(&i);
    vmw(F_GUEST_CR0, read_cr0());
    vmw(F_GUEST_CR3, read_cr3());
    vmw(F_GUEST_CR4, read_cr4());
    vmw(F_GUEST_DR7, 0x400);
    static const uint32_t sel[] = { F_GUEST_ES_SEL, F_GUEST_CS_SEL, F_GUEST_SS_SEL, F_GUEST_DS_SEL,
                                    F_GUEST_FS_SEL, F_GUEST_GS_SEL };
    for (unsigned s = 0; s < 6; s++) {
        bool cs = s == 1;
        vmw(sel[s], cs ? read_cs() : (s == 4 || s == 5) ? 0 : read_ds());
        vmw(F_GUEST_ES_BASE + 2 * s, 0);
        vmw(F_GUEST_ES_LIMIT + 2 * s, 0xFFFFFFFF);
        /* CS: execute/read accessed, S, P, L, G; data: read/write accessed, S, P, D/B, G; FS/GS null: unusable */
        vmw(F_GUEST_ES_AR + 2 * s, cs ? 0xA09B : (s == 4 || s == 5) ? 0x10000 : 0xC093);
    }
    uint16_t tr = str();
    const uint64_t *gdt = (const uint64_t *)(uintptr_t)g.base;
    uint64_t lo = gdt[tr >> 3], hi = gdt[(tr >> 3) + 1];
    vmw(F_GUEST_TR_SEL, tr);
    vmw(F_GUEST_TR_BASE, ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24) | ((hi & 0xFFFFFFFF) << 32));
    vmw(F_GUEST_TR_LIMIT, (lo & 0xFFFF) | ((lo >> 32) & 0xF0000));
    vmw(F_GUEST_TR_AR, 0x8B);                        /* busy 64-bit TSS, P */
    vmw(F_GUEST_LDTR_SEL, 0);
    vmw(F_GUEST_LDTR_AR, 0x10000);                   /* unusable */
    vmw(F_GUEST_GDTR_BASE, g.base);
    vmw(F_GUEST_GDTR_LIMIT, g.limit);
    vmw(F_GUEST_IDTR_BASE, i.base);
    vmw(F_GUEST_IDTR_LIMIT, i.limit);
    vmw(F_GUEST_RSP, rsp);
    vmw(F_GUEST_RIP, rip);
    vmw(F_GUEST_RFLAGS, 0x2);
    vmw(F_VMCS_LINK, ~0ull);
    vmw(F_GUEST_ACTIVITY, 0);
    vmw(F_GUEST_INTERRUPTIBILITY, 0);
    vmw(F_GUEST_PENDING_DBG, 0);
    vmw(F_GUEST_SYSENTER_CS, 0);
    vmw(F_GUEST_SYSENTER_ESP, 0);
    vmw(F_GUEST_SYSENTER_EIP, 0);
}

/* Controls for a 64-bit guest with a 64-bit host: every must-be-1 bit,
 * plus what the caller asks for. */
static inline void vmx_init_controls(uint32_t pin, uint32_t proc, uint32_t proc2, uint32_t exitc, uint32_t entry)
{
    vmw(F_PIN, vmx_ctls(MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED, pin));
    uint32_t p = vmx_ctls(MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED, proc | (proc2 ? PROC_SECONDARY_CTLS : 0));
    vmw(F_PROC, p);
    if (p & PROC_SECONDARY_CTLS)
        vmw(F_PROC2, (proc2 | (uint32_t)rdmsr(MSR_VMX_PROCBASED_CTLS2)) & (uint32_t)(rdmsr(MSR_VMX_PROCBASED_CTLS2) >> 32));
    vmw(F_EXIT_CTLS, vmx_ctls(MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT, exitc | EXIT_HOST_64));
    vmw(F_ENTRY_CTLS, vmx_ctls(MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY, entry | ENTRY_IA32E_GUEST));
    vmw(F_EXCEPTION_BITMAP, 0);
    vmw(F_CR3_TARGET_COUNT, 0);
    vmw(F_EXIT_MSR_STORE_COUNT, 0);
    vmw(F_EXIT_MSR_LOAD_COUNT, 0);
    vmw(F_ENTRY_MSR_LOAD_COUNT, 0);
    vmw(F_ENTRY_INTR_INFO, 0);
    vmw(F_CR0_MASK, 0);
    vmw(F_CR4_MASK, 0);
}

#endif
