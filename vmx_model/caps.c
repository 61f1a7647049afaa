/*
 * caps.c — the VMX capability MSRs of each Intel CPU profile (SDM 3D
 * appendix A, "VMX Capability Reporting Facility"). Data only; what each
 * value means is in docs/vmx.md.
 *
 * A control MSR holds the allowed 0-settings in bits 31:0 (a 1 there: the
 * control must be 1) and the allowed 1-settings in bits 63:32 (a 0 there:
 * the control must be 0) (SDM 3D A.3). A profile offers a control only
 * when hvsim models what it does or fails loudly at VM entry when it is
 * used (docs/vmx.md, "What the profiles offer").
 */
#include <stdio.h>
#include <string.h>

#include "vmx.h"
#include "vmx_bits.h"

#define CTLS(allowed0, allowed1) (((uint64_t)(allowed1) << 32) | (uint32_t)(allowed0))
#define IDX(msr) ((msr) - MSR_VMX_BASIC)

/* IA32_VMX_BASIC (SDM 3D A.1): 30:0 revision, 44:32 region size, 48 32-bit
 * physical addresses only, 49 dual-monitor SMM, 53:50 memory type (6 = WB),
 * 54 INS/OUTS instruction information, 55 TRUE controls, 56 hardware
 * exceptions injected without the error-code consistency check. */
#define BASIC(rev, ins_outs, true_ctls, no_ec_check) \
    ((uint64_t)(rev) | (0x1000ull << 32) | (6ull << 50) | ((uint64_t)(ins_outs) << 54) | \
     ((uint64_t)(true_ctls) << 55) | ((uint64_t)(no_ec_check) << 56))

/* Default-1 classes (SDM 3D A.2): controls that are 1 in the non-TRUE MSRs. */
#define PIN_DEFAULT1   0x00000016u
#define PROC_DEFAULT1  0x0401E172u
#define EXIT_DEFAULT1  0x00036DFFu
#define ENTRY_DEFAULT1 0x000011FFu

/* ---- intel-server: a recent server part ---- */
#define SRV_PIN  (PIN_DEFAULT1 | PIN_EXT_INT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPTION_TIMER)
#define SRV_PROC (PROC_DEFAULT1 | PROC_INT_WINDOW | PROC_TSC_OFFSETTING | PROC_HLT | PROC_INVLPG | PROC_MWAIT | \
                  PROC_RDPMC | PROC_RDTSC | PROC_CR3_LOAD | PROC_CR3_STORE | PROC_CR8_LOAD | PROC_CR8_STORE | \
                  PROC_TPR_SHADOW | PROC_NMI_WINDOW | PROC_MOV_DR | PROC_UNCOND_IO | PROC_IO_BITMAPS | PROC_MTF | \
                  PROC_MSR_BITMAPS | PROC_MONITOR | PROC_PAUSE | PROC_SECONDARY)
#define SRV_PROC2 (PROC2_EPT | PROC2_DESC_TABLE | PROC2_RDTSCP | PROC2_VPID | PROC2_WBINVD | \
                   PROC2_UNRESTRICTED | PROC2_PAUSE_LOOP | PROC2_RDRAND | PROC2_INVPCID | PROC2_VMFUNC | \
                   PROC2_RDSEED | PROC2_MODE_BASED_EPT | PROC2_TSC_SCALING | PROC2_VIRT_APIC_ACCESS)
#define SRV_EXIT  (EXIT_DEFAULT1 | EXIT_SAVE_DEBUG | EXIT_HOST_ADDR_SPACE | EXIT_ACK_INT | EXIT_SAVE_PAT | \
                   EXIT_LOAD_PAT | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PREEMPTION_TIMER)
#define SRV_ENTRY (ENTRY_DEFAULT1 | ENTRY_LOAD_DEBUG | ENTRY_IA32E_GUEST | ENTRY_LOAD_PAT | ENTRY_LOAD_EFER)
/* IA32_VMX_MISC (SDM 3D A.6): 4:0 preemption-timer rate (TSC >> 5), 5 EFER.LMA
 * stored into "IA-32e mode guest" on exit, 8:6 activity states HLT,
 * shutdown, wait-for-SIPI, 24:16 four CR3-target values, 27:25 0 (512
 * MSRs per list), 29 VMWRITE to VM-exit information fields, 30 injection
 * with instruction length 0. */
#define SRV_MISC (5ull | (1ull << 5) | (7ull << 6) | (4ull << 16) | (1ull << 29) | (1ull << 30))
/* IA32_VMX_EPT_VPID_CAP (SDM 3D A.10): execute-only (0), 4-level walks (6),
 * UC (8) and WB (14) memory types, 2-MiB (16) and 1-GiB (17) pages, INVEPT
 * (20), A/D flags (21), advanced exit information (22), single-context
 * (25) and all-context (26) INVEPT, INVVPID (32) of every type (40-43). */
#define SRV_EPT_VPID ((1ull << 0) | (1ull << 6) | (1ull << 8) | (1ull << 14) | (1ull << 16) | (1ull << 17) | \
                      (1ull << 20) | (1ull << 21) | (1ull << 22) | (1ull << 25) | (1ull << 26) | (1ull << 32) | \
                      (1ull << 40) | (1ull << 41) | (1ull << 42) | (1ull << 43))

/* ---- intel-minimal: the smallest VMX a hypervisor may meet ---- */
#define MIN_PIN  (PIN_DEFAULT1 | PIN_EXT_INT_EXITING | PIN_NMI_EXITING)
#define MIN_PROC (PROC_DEFAULT1 | PROC_INT_WINDOW | PROC_TSC_OFFSETTING | PROC_HLT | PROC_INVLPG | PROC_MWAIT | \
                  PROC_RDPMC | PROC_RDTSC | PROC_CR3_LOAD | PROC_CR3_STORE | PROC_CR8_LOAD | PROC_CR8_STORE | \
                  PROC_MOV_DR | PROC_UNCOND_IO | PROC_IO_BITMAPS | PROC_MSR_BITMAPS | PROC_MONITOR | PROC_PAUSE)
#define MIN_EXIT  (EXIT_DEFAULT1 | EXIT_HOST_ADDR_SPACE | EXIT_ACK_INT)
#define MIN_ENTRY (ENTRY_DEFAULT1 | ENTRY_IA32E_GUEST)
#define MIN_MISC  ((1ull << 6) | (4ull << 16))          /* HLT only, 4 CR3 targets, no timer */

static const struct vmx_caps profile_caps[] = {
    {
        .profile = "intel-server",
        .msr = {
            [IDX(MSR_VMX_BASIC)] = BASIC(VMX_REVISION_SERVER, 1, 1, 1),
            [IDX(MSR_VMX_PINBASED_CTLS)] = CTLS(PIN_DEFAULT1, SRV_PIN),
            [IDX(MSR_VMX_PROCBASED_CTLS)] = CTLS(PROC_DEFAULT1, SRV_PROC),
            [IDX(MSR_VMX_EXIT_CTLS)] = CTLS(EXIT_DEFAULT1, SRV_EXIT),
            [IDX(MSR_VMX_ENTRY_CTLS)] = CTLS(ENTRY_DEFAULT1, SRV_ENTRY),
            [IDX(MSR_VMX_MISC)] = SRV_MISC,
            [IDX(MSR_VMX_CR0_FIXED0)] = 0x80000021u,           /* PG, NE, PE (SDM 3D A.7) */
            [IDX(MSR_VMX_CR0_FIXED1)] = 0xFFFFFFFFu,
            [IDX(MSR_VMX_CR4_FIXED0)] = 0x2000u,               /* VMXE (SDM 3D A.8) */
            /* CR4_FIXED1 and VMCS_ENUM are computed at attach (the CPU's CR4
             * bits, the VMCS field table) */
            [IDX(MSR_VMX_PROCBASED_CTLS2)] = CTLS(0, SRV_PROC2),
            [IDX(MSR_VMX_EPT_VPID_CAP)] = SRV_EPT_VPID,
            /* TRUE controls: the default-1 controls that may be 0 (SDM 3D A.2) */
            [IDX(MSR_VMX_TRUE_PINBASED_CTLS)] = CTLS(PIN_DEFAULT1, SRV_PIN),
            [IDX(MSR_VMX_TRUE_PROCBASED_CTLS)] = CTLS(PROC_DEFAULT1 & ~(PROC_CR3_LOAD | PROC_CR3_STORE), SRV_PROC),
            [IDX(MSR_VMX_TRUE_EXIT_CTLS)] = CTLS(EXIT_DEFAULT1 & ~EXIT_SAVE_DEBUG, SRV_EXIT),
            [IDX(MSR_VMX_TRUE_ENTRY_CTLS)] = CTLS(ENTRY_DEFAULT1 & ~ENTRY_LOAD_DEBUG, SRV_ENTRY),
            [IDX(MSR_VMX_VMFUNC)] = 1,                         /* EPTP switching (SDM 3D A.11) */
        },
        .present = {
            [IDX(MSR_VMX_BASIC)] = true, [IDX(MSR_VMX_PINBASED_CTLS)] = true,
            [IDX(MSR_VMX_PROCBASED_CTLS)] = true, [IDX(MSR_VMX_EXIT_CTLS)] = true,
            [IDX(MSR_VMX_ENTRY_CTLS)] = true, [IDX(MSR_VMX_MISC)] = true,
            [IDX(MSR_VMX_CR0_FIXED0)] = true, [IDX(MSR_VMX_CR0_FIXED1)] = true,
            [IDX(MSR_VMX_CR4_FIXED0)] = true, [IDX(MSR_VMX_CR4_FIXED1)] = true,
            [IDX(MSR_VMX_VMCS_ENUM)] = true, [IDX(MSR_VMX_PROCBASED_CTLS2)] = true,
            [IDX(MSR_VMX_EPT_VPID_CAP)] = true, [IDX(MSR_VMX_TRUE_PINBASED_CTLS)] = true,
            [IDX(MSR_VMX_TRUE_PROCBASED_CTLS)] = true, [IDX(MSR_VMX_TRUE_EXIT_CTLS)] = true,
            [IDX(MSR_VMX_TRUE_ENTRY_CTLS)] = true, [IDX(MSR_VMX_VMFUNC)] = true,
        },
    },
    {
        .profile = "intel-minimal",
        .msr = {
            [IDX(MSR_VMX_BASIC)] = BASIC(VMX_REVISION_MINIMAL, 0, 0, 0),
            [IDX(MSR_VMX_PINBASED_CTLS)] = CTLS(PIN_DEFAULT1, MIN_PIN),
            [IDX(MSR_VMX_PROCBASED_CTLS)] = CTLS(PROC_DEFAULT1, MIN_PROC),
            [IDX(MSR_VMX_EXIT_CTLS)] = CTLS(EXIT_DEFAULT1, MIN_EXIT),
            [IDX(MSR_VMX_ENTRY_CTLS)] = CTLS(ENTRY_DEFAULT1, MIN_ENTRY),
            [IDX(MSR_VMX_MISC)] = MIN_MISC,
            [IDX(MSR_VMX_CR0_FIXED0)] = 0x80000021u,
            [IDX(MSR_VMX_CR0_FIXED1)] = 0xFFFFFFFFu,
            [IDX(MSR_VMX_CR4_FIXED0)] = 0x2000u,
        },
        .present = {
            [IDX(MSR_VMX_BASIC)] = true, [IDX(MSR_VMX_PINBASED_CTLS)] = true,
            [IDX(MSR_VMX_PROCBASED_CTLS)] = true, [IDX(MSR_VMX_EXIT_CTLS)] = true,
            [IDX(MSR_VMX_ENTRY_CTLS)] = true, [IDX(MSR_VMX_MISC)] = true,
            [IDX(MSR_VMX_CR0_FIXED0)] = true, [IDX(MSR_VMX_CR0_FIXED1)] = true,
            [IDX(MSR_VMX_CR4_FIXED0)] = true, [IDX(MSR_VMX_CR4_FIXED1)] = true,
            [IDX(MSR_VMX_VMCS_ENUM)] = true,
        },
    },
};

const struct vmx_caps *vmx_caps_for_profile(const char *name)
{
    if (!name)
        return NULL;
    for (unsigned i = 0; i < sizeof(profile_caps) / sizeof(profile_caps[0]); i++)
        if (!strcmp(profile_caps[i].profile, name))
            return &profile_caps[i];
    return NULL;
}

uint32_t vmx_caps_revision(const struct vmx_caps *c)
{
    return (uint32_t)(c->msr[IDX(MSR_VMX_BASIC)] & 0x7FFFFFFFu);
}

static const char *const cap_names[VMX_NCAP_MSRS] = {
    "IA32_VMX_BASIC", "IA32_VMX_PINBASED_CTLS", "IA32_VMX_PROCBASED_CTLS", "IA32_VMX_EXIT_CTLS",
    "IA32_VMX_ENTRY_CTLS", "IA32_VMX_MISC", "IA32_VMX_CR0_FIXED0", "IA32_VMX_CR0_FIXED1", "IA32_VMX_CR4_FIXED0",
    "IA32_VMX_CR4_FIXED1", "IA32_VMX_VMCS_ENUM", "IA32_VMX_PROCBASED_CTLS2", "IA32_VMX_EPT_VPID_CAP",
    "IA32_VMX_TRUE_PINBASED_CTLS", "IA32_VMX_TRUE_PROCBASED_CTLS", "IA32_VMX_TRUE_EXIT_CTLS",
    "IA32_VMX_TRUE_ENTRY_CTLS", "IA32_VMX_VMFUNC", "IA32_VMX_PROCBASED_CTLS3", "IA32_VMX_EXIT_CTLS2",
};

const char *vmx_cap_msr_name(uint32_t msr)
{
    return msr >= MSR_VMX_BASIC && msr <= MSR_VMX_LAST ? cap_names[msr - MSR_VMX_BASIC] : NULL;
}

bool vmx_caps_override(struct vmx_caps *c, uint32_t msr, bool present, uint64_t value, char *err, size_t n)
{
    const char *name = vmx_cap_msr_name(msr);
    if (!name) {
        snprintf(err, n, "MSR %#x is not a VMX capability MSR (0x480..0x%x)", msr, MSR_VMX_LAST);
        return false;
    }
    unsigned i = msr - MSR_VMX_BASIC;
    if (!present) {
        if (msr <= MSR_VMX_VMCS_ENUM) {
            snprintf(err, n, "%s cannot be removed: every VMX processor has it (SDM 3D appendix A)", name);
            return false;
        }
        c->present[i] = false;
        c->msr[i] = 0;
        return true;
    }
    bool ctl = (msr >= MSR_VMX_PINBASED_CTLS && msr <= MSR_VMX_ENTRY_CTLS) || msr == MSR_VMX_PROCBASED_CTLS2 ||
               (msr >= MSR_VMX_TRUE_PINBASED_CTLS && msr <= MSR_VMX_TRUE_ENTRY_CTLS);
    if (ctl && ((uint32_t)value & ~(uint32_t)(value >> 32))) {
        snprintf(err, n, "%s = %#llx: allowed-0 bits %#x (must be 1) are not allowed-1 (SDM 3D A.3)", name,
                 (unsigned long long)value, (uint32_t)value & ~(uint32_t)(value >> 32));
        return false;
    }
    if (msr == MSR_VMX_BASIC) {
        uint64_t size = (value >> 32) & 0x1FFF;
        if ((value >> 31) & 1) {
            snprintf(err, n, "IA32_VMX_BASIC = %#llx: bit 31 is always 0 (SDM 3D A.1)", (unsigned long long)value);
            return false;
        }
        if (size == 0 || size > 4096) {
            snprintf(err, n, "IA32_VMX_BASIC = %#llx: VMCS region size %llu, hvsim needs 1..4096 bytes",
                     (unsigned long long)value, (unsigned long long)size);
            return false;
        }
    }
    if ((msr == MSR_VMX_CR0_FIXED0 || msr == MSR_VMX_CR4_FIXED0 || msr == MSR_VMX_CR0_FIXED1 ||
         msr == MSR_VMX_CR4_FIXED1)) {
        unsigned f0 = msr == MSR_VMX_CR0_FIXED0 || msr == MSR_VMX_CR0_FIXED1 ? MSR_VMX_CR0_FIXED0 : MSR_VMX_CR4_FIXED0;
        uint64_t fixed0 = msr == f0 ? value : c->msr[f0 - MSR_VMX_BASIC];
        uint64_t fixed1 = msr == f0 ? c->msr[f0 + 1 - MSR_VMX_BASIC] : value;
        if (fixed1 && (fixed0 & ~fixed1)) {
            snprintf(err, n, "%s = %#llx: a bit fixed to 1 (FIXED0 %#llx) is not allowed by FIXED1 %#llx "
                     "(SDM 3D A.7, A.8)", name, (unsigned long long)value, (unsigned long long)fixed0,
                     (unsigned long long)fixed1);
            return false;
        }
    }
    c->present[i] = true;
    c->msr[i] = value;
    return true;
}

bool vmx_caps_consistent(const struct vmx_caps *c, char *err, size_t n)
{
#define HAS(m) (c->present[(m) - MSR_VMX_BASIC])
#define A1(m) ((uint32_t)(c->msr[(m) - MSR_VMX_BASIC] >> 32))
    struct rule { bool exists, should; const char *what; } rules[] = {
        { HAS(MSR_VMX_PROCBASED_CTLS2), (A1(MSR_VMX_PROCBASED_CTLS) >> 31) & 1,
          "IA32_VMX_PROCBASED_CTLS2 exists exactly when IA32_VMX_PROCBASED_CTLS[63] is 1 (SDM 3D A.3.3)" },
        { HAS(MSR_VMX_EPT_VPID_CAP),
          HAS(MSR_VMX_PROCBASED_CTLS2) && (A1(MSR_VMX_PROCBASED_CTLS2) & ((1u << 1) | (1u << 5))) != 0,
          "IA32_VMX_EPT_VPID_CAP exists exactly when 'enable EPT' or 'enable VPID' may be 1 (SDM 3D A.10)" },
        { HAS(MSR_VMX_VMFUNC), HAS(MSR_VMX_PROCBASED_CTLS2) && ((A1(MSR_VMX_PROCBASED_CTLS2) >> 13) & 1),
          "IA32_VMX_VMFUNC exists exactly when 'enable VM functions' may be 1 (SDM 3D A.11)" },
        { HAS(MSR_VMX_TRUE_PINBASED_CTLS) && HAS(MSR_VMX_TRUE_PROCBASED_CTLS) && HAS(MSR_VMX_TRUE_EXIT_CTLS) &&
              HAS(MSR_VMX_TRUE_ENTRY_CTLS),
          (c->msr[0] >> 55) & 1, "the four IA32_VMX_TRUE_* MSRs exist exactly when IA32_VMX_BASIC[55] is 1 (SDM 3D A.1)" },
        { HAS(MSR_VMX_PROCBASED_CTLS3), (A1(MSR_VMX_PROCBASED_CTLS) >> 17) & 1,
          "IA32_VMX_PROCBASED_CTLS3 exists exactly when IA32_VMX_PROCBASED_CTLS[49] is 1 (SDM 3D A.3.4)" },
        { HAS(MSR_VMX_EXIT_CTLS2), (A1(MSR_VMX_EXIT_CTLS) >> 31) & 1,
          "IA32_VMX_EXIT_CTLS2 exists exactly when IA32_VMX_EXIT_CTLS[63] is 1 (SDM 3D A.4.2)" },
    };
    for (unsigned i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (rules[i].exists != rules[i].should) {
            snprintf(err, n, "%s; it %s", rules[i].what, rules[i].exists ? "is present" : "is absent");
            return false;
        }
    /* a TRUE MSR may only relax default-1 bits (SDM 3D A.2) */
    for (unsigned m = MSR_VMX_TRUE_PINBASED_CTLS; m <= MSR_VMX_TRUE_ENTRY_CTLS && ((c->msr[0] >> 55) & 1); m++) {
        unsigned base = MSR_VMX_PINBASED_CTLS + (m - MSR_VMX_TRUE_PINBASED_CTLS);
        uint32_t t0 = (uint32_t)c->msr[m - MSR_VMX_BASIC], b0 = (uint32_t)c->msr[base - MSR_VMX_BASIC];
        if (t0 & ~b0) {
            snprintf(err, n, "%s requires bits %#x to be 1 that %s does not (SDM 3D A.2)", vmx_cap_msr_name(m),
                     t0 & ~b0, vmx_cap_msr_name(base));
            return false;
        }
    }
    return true;
#undef HAS
#undef A1
}
