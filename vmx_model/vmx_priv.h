/*
 * vmx_priv.h — what the parts of the VT-x model share (vmx.c: the
 * instructions; vmtrans.c: VM entry and VM exit; nonroot.c: what VMX
 * non-root operation does with instructions and events). Not for users of
 * the model: they include vmx.h.
 */
#ifndef HVSIM_VMX_PRIV_H
#define HVSIM_VMX_PRIV_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tlb.h"
#include "vmcs_fields.h"
#include "vmx.h"
#include "vmx_bits.h"

#define VMCS_INVALID  (~0ull)
#define CR0_PE        (1ull << 0)
#define CR4_VMXE      (1ull << 13)
#define RFLAGS_VM     (1ull << 17)
#define RFLAGS_CF     (1ull << 0)
#define RFLAGS_ZF     (1ull << 6)

/* Offsets in a VMCS or VMXON region that are not fields (docs/vmcs-layout.md). */
#define REGION_REVISION   VMCS_REGION_REVISION_OFF
#define REGION_LAUNCH     VMCS_REGION_LAUNCH_OFF
#define LAUNCH_CLEAR      VMCS_REGION_LAUNCH_CLEAR
#define LAUNCH_LAUNCHED   VMCS_REGION_LAUNCH_LAUNCHED

struct vmx {
    cpu_t *cpu;
    uint64_t msr[VMX_NCAP_MSRS];
    bool present[VMX_NCAP_MSRS];
    uint32_t revision;
    bool in_vmx;                 /* VMX operation */
    bool nonroot;                /* VMX non-root operation (a guest runs) */
    uint64_t vmxon_ptr;
    uint64_t current;            /* current-VMCS pointer, VMCS_INVALID when none */
    uint64_t cur_host_pa;        /* the pointer cur_host was looked up for (vmx.c) */
    uint8_t *cur_host;           /* ... the region's host address, NULL: not RAM */
    uint8_t *w_host;             /* during vm_exit: the current region, written directly and
                                    reported written once at the end (vmtrans.c, W) */
    uint64_t features;           /* enum vmcs_feature set of the profile */
    /* the controls of the VM entry in effect (read once at entry) */
    uint32_t pin, proc, proc2, exit_ctls, entry_ctls;
    uint64_t exits;              /* VM exits so far */
    uint64_t timer_deadline;     /* VMX-preemption timer: the cycle it reaches 0 (~0: not active) */
    /* The monitor trap flag (events.c). An MTF VM exit is due at a boundary
     * when mtf_pending (VM entry injected an event or a pending MTF), or
     * when mtf and an instruction retired or an event was delivered since
     * the first boundary after VM entry (mtf_progress, taken once
     * mtf_armed). All cleared by VM exits. */
    bool mtf;                    /* "monitor trap flag" of the VM entry in effect */
    bool mtf_pending;
    bool mtf_armed;
    uint64_t mtf_progress;       /* instructions retired + events delivered at that boundary */
    bool boundary_due;           /* the guest deadline was moved to now for a boundary call (HLT) */
    /* PAUSE-loop exiting (nonroot.c): TSC of the last PAUSE at CPL 0 and
     * of the first PAUSE of the current loop; none since VM entry: !ple_seen */
    bool ple_seen;
    uint64_t ple_last, ple_first;
    uint64_t eptp;               /* the EPTP of the VM entry in effect ("enable EPT") */
    /* pending debug exceptions held by blocking by MOV SS at VM entry: the
     * #DB comes after the first guest instruction (events.c); 0: none */
    uint64_t pdbg_held;
    bool pdbg_armed;
    uint64_t pdbg_progress;
    struct tlb *gpa_cache;       /* guest-physical mappings, tagged by EPTRTA (ept_exits.c) */
    bool tpr_entry_due;          /* a VM exit induced by the TPR threshold is due at the first boundary
                                    after VM entry (apic_access.c) */
    const struct cpu_virt_insn *in_insn;   /* the instruction being executed (NULL: an API call) */
};
/* Report the VMLAUNCH/VMRESUME outcome before the transition it causes, so
 * that the trace reads instruction, then entry or exit (vmx.c). */
void report_transition(vmx_t *v, int check, bool entry_failed);

/* ---- vmtrans.c ---- */
/* VMLAUNCH/VMRESUME after the pre-checks: the checks, then entry. Returns
 * the result for the instruction (VMfailValid 7/8) or a VMX_SUCCEED whose
 * effect already happened (the LP runs the guest, or took a VM-entry
 * failure exit to the host). */
struct vmx_result vm_entry(vmx_t *v, bool launch, unsigned insn_len);
/* A VM exit (SDM 3C "VM Exits"): reason, qualification, instruction length
 * and information, interruption information and error code. */
struct vm_exit_info {
    uint32_t reason;
    uint64_t qualification;
    unsigned insn_len;
    uint32_t insn_info;
    uint32_t intr_info, intr_ec;
    uint32_t idt_info, idt_ec;       /* IDT-vectoring information (an exit during event delivery) */
    uint64_t guest_linear;
    uint64_t guest_physical;         /* EPT violations and misconfigurations */
    bool has_guest_physical;
};
void vm_exit(vmx_t *v, const struct vm_exit_info *x);

/* The translation cache at VM entry (entry) or exit: invalidations and the tag. */
void vmx_tlb_transition(vmx_t *v, bool entry);

/* ---- ept_exits.c: "enable EPT" (cpu_virt_ops.slat and .slat_exit) ---- */
int vmx_slat(void *ctx, cpu_t *cpu, uint64_t gpa, unsigned acc, struct cpu_slat *out);
/* INVEPT (eptrta, or every one with all) and the "flush-always" transitions:
 * drop cached guest-physical mappings. */
void vmx_gpa_cache_invalidate(vmx_t *v, bool all, uint64_t eptrta);
enum cpu_guest_action vmx_slat_exit(void *ctx, cpu_t *cpu, const struct cpu_slat_fault *f);

/* ---- nonroot.c: the cpu_virt_ops guest hooks ---- */
enum cpu_guest_action nonroot_insn(void *ctx, cpu_t *cpu, struct cpu_guest_insn *gi);
enum cpu_guest_action nonroot_event(void *ctx, cpu_t *cpu, const struct cpu_guest_event *e);
enum cpu_guest_action nonroot_boundary(void *ctx, cpu_t *cpu);
/* Have cpu/ call nonroot_boundary at the next boundary even from the HLT
 * state (an MTF VM exit after HLT wakes the LP). */
void nonroot_boundary_due(vmx_t *v);
bool nonroot_shutdown(void *ctx, cpu_t *cpu);
void nonroot_init(vmx_t *v);       /* an INIT signal: exit reason 3 */
bool nonroot_sipi(void *ctx, cpu_t *cpu, unsigned vector);   /* a SIPI in wait-for-SIPI: exit reason 4 */
/* A task switch (cpu/task.c): exit reason 9. */
enum cpu_guest_action nonroot_task_switch(void *ctx, cpu_t *cpu, const struct cpu_task_switch *t);
/* ---- apic_access.c: "virtualize APIC accesses" (SDM 3C 30.4) ---- */
enum cpu_guest_action nonroot_apic_access(void *ctx, cpu_t *cpu, struct cpu_apic_access *a);
/* The APIC-access VM exit (reason 44) of a fault cpu/ recorded with apic_access. */
enum cpu_guest_action vmx_apic_access_exit(vmx_t *v, cpu_t *cpu, const struct cpu_slat_fault *f);
/* VM entry: set cpu/'s APIC-access page; true when the TPR threshold
 * induces a VM exit right after the entry. */
bool vmx_apic_access_entry(vmx_t *v);
enum cpu_guest_action vmx_tpr_entry_exit(vmx_t *v, cpu_t *cpu);
/* VMCALL and the other VMX instructions in VMX non-root operation. */
bool nonroot_vmx_insn(vmx_t *v, const struct cpu_virt_insn *in);

#define CAP(v, m) ((v)->msr[(m) - MSR_VMX_BASIC])
static inline uint32_t allowed1(const vmx_t *v, unsigned m) { return (uint32_t)(CAP(v, m) >> 32); }

struct vmx_result res(enum vmx_outcome o, unsigned err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct vmx_result res_s(enum vmx_outcome o, const char *text);
#define UD(...)  ({ struct vmx_result _r = res(VMX_FAULT, 0, __VA_ARGS__); _r.vector = 6; _r; })
#define GP0(...) ({ struct vmx_result _r = res(VMX_FAULT, 0, __VA_ARGS__); _r.vector = 13; _r.has_ec = true; _r; })
struct vmx_result vmfail(vmx_t *v, unsigned n, const char *rule);
void set_flags(vmx_t *v, const struct vmx_result *r);
/* A field of the current VMCS (8-byte slot, zero-extended); inline for
 * the region in RAM, whose host address is looked up once per current
 * VMCS (vmcs_region_host). */
bool field_read_slow(vmx_t *v, int id, uint64_t *val);
static inline bool field_read(vmx_t *v, int id, uint64_t *val)
{
    if (v->cur_host_pa == v->current && v->cur_host) {
        memcpy(val, v->cur_host + vmcs_field_offset((enum vmcs_field_id)id), 8);
        return true;
    }
    return field_read_slow(v, id, val);
}
/* The current VMCS region's host address (its fields at vmcs_field_offset),
 * NULL when it is not RAM. */
uint8_t *vmcs_region_host(vmx_t *v);
bool field_write(vmx_t *v, int id, uint64_t val);
/* A field of the current VMCS, 0 if it cannot be read. */
uint64_t field_value(vmx_t *v, enum vmcs_field_id id);
/* Stop the run in VMX non-root operation: "VMX non-root operation: <what>". */
enum cpu_guest_action nonroot_stop(vmx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
