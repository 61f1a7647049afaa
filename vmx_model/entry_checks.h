/*
 * entry_checks.h — the checks VMLAUNCH/VMRESUME make before entering the
 * guest (Intel SDM vol. 3C, "VM Entries": checks on VMX controls, on the
 * host-state area, on the guest-state area), as a pure module: every check
 * is a row of entry_checks.def with its SDM section and its failure, and
 * the code runs them in the SDM's order.
 *
 * Execution context: called by the VMX model from VMLAUNCH/VMRESUME after
 * the pre-checks (current VMCS, blocking by MOV SS, launch state). Pure:
 * no state, no allocation; reads the VMCS through env->field and guest
 * memory through env->phys_read, nothing else. Loading guest state and the
 * VM-entry MSR-load list (exit reason 34) are the caller's business.
 */
#ifndef HVSIM_ENTRY_CHECKS_H
#define HVSIM_ENTRY_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcs_fields.h"

/* One id per row of entry_checks.def, in its order. */
enum vmentry_check {
#define X(id, kind, sec, text) VMCHK_##id,
#include "entry_checks.def"
#undef X
    VMCHK_COUNT
};

/* How a failed check shows (SDM 3C "VM Entries"; VM-instruction errors 31.4). */
enum vmentry_kind {
    VMCHK_KIND_CONTROL,       /* VMfailValid(7): invalid control field(s) */
    VMCHK_KIND_HOST,          /* VMfailValid(8): invalid host-state field(s) */
    VMCHK_KIND_GUEST,         /* VM-entry failure: exit reason 33 | bit 31, qualification 0 */
    VMCHK_KIND_GUEST_PDPTE,   /* ... qualification 2 (PDPTE loading) */
    VMCHK_KIND_GUEST_LINK,    /* ... qualification 4 (VMCS link pointer) */
    VMCHK_KIND_GUEST_NMI,     /* ... qualification 3 (NMI injection with blocking by STI) */
};

/*
 * What the checks read. Invariant: cap and cap_present have VMX_NCAP_MSRS
 * entries (vmx.h) indexed by MSR - 0x480, with the values the profile's
 * RDMSR returns (CR4_FIXED1 and VMCS_ENUM as vmx_attach computes them);
 * field returns 0 for a field the profile lacks (the checks only read a
 * field whose feature is in `features` anyway).
 */
struct vmentry_env {
    const uint64_t *cap;              /* capability MSR values indexed by MSR - 0x480 */
    const bool *cap_present;          /* which exist */
    uint64_t features;                /* enum vmcs_feature set (vmcs_fields.h) */
    unsigned maxphyaddr;              /* physical-address width */
    uint64_t cr4_supported;           /* unused: IA32_VMX_CR4_FIXED1 says the same */
    bool launch;                      /* VMLAUNCH (true) or VMRESUME */
    bool ia32e_mode;                  /* the processor's IA32_EFER.LMA at VMLAUNCH/VMRESUME */
    bool in_smm;                      /* the processor is in SMM (never, in hvsim today) */
    bool sgx;                         /* CPUID.(7,0):EBX.SGX (the enclave-interruption bit) */
    bool rtm;                         /* CPUID.(7,0):EBX.RTM (pending debug exception bit 16) */
    uint64_t perf_global_ctrl_valid;  /* the bits IA32_PERF_GLOBAL_CTRL may set (0: no PMU) */
    uint64_t vmxon_ptr, current_vmcs; /* for the link-pointer / executive checks */
    void *ctx;
    uint64_t (*field)(void *ctx, enum vmcs_field_id id);              /* the current VMCS's field value */
    const uint8_t *vmcs;              /* or, when not NULL, the current VMCS region itself: the field
                                         at vmcs_field_offset(id), 8 bytes (vmcs_fields.h) */
    bool (*phys_read)(void *ctx, uint64_t pa, void *buf, size_t len); /* false: no RAM there */
};

/* The first failing check of a stage. */
struct vmentry_failure {
    enum vmentry_check check;
    enum vmentry_kind kind;
    uint32_t qualification;           /* exit qualification for the GUEST kinds (0, 2, 3, 4); 0 otherwise */
    const char *condition;            /* the C condition that was false, as written in entry_checks.c */
    char detail[200];                 /* the values involved, e.g. "guest CS access rights 0xa09b, L=1 D=1" */
};

/* Run the checks of one stage in SDM order; false with *f filled at the
 * first failure, true (f untouched) when all pass. Stages run in this order
 * and each assumes the earlier ones passed. */
bool vmentry_check_controls(const struct vmentry_env *e, struct vmentry_failure *f)
    __attribute__((warn_unused_result));
bool vmentry_check_host(const struct vmentry_env *e, struct vmentry_failure *f)
    __attribute__((warn_unused_result));
bool vmentry_check_guest(const struct vmentry_env *e, struct vmentry_failure *f)
    __attribute__((warn_unused_result));

/* The row of a check (NULL / VMCHK_KIND_CONTROL when out of range). */
const char *vmentry_check_name(enum vmentry_check c);      /* "CTL_PIN_ALLOWED0" */
const char *vmentry_check_section(enum vmentry_check c);   /* "Checks on VM-Execution Control Fields" */
const char *vmentry_check_text(enum vmentry_check c);      /* what must hold */
enum vmentry_kind vmentry_check_kind(enum vmentry_check c);
const char *vmentry_kind_name(enum vmentry_kind k);        /* "CONTROL", ..., "GUEST_NMI" */
/* The check named "CTL_PIN_ALLOWED0" (scenarios expecting a check), or -1. */
int vmentry_check_by_name(const char *name);

/* "VM entry failed: <text> (<detail>) [SDM 3C, <section>]" into buf; the
 * length snprintf would have written. */
int vmentry_failure_format(const struct vmentry_failure *f, char *buf, size_t len);

#endif
