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
                   PROC2_RDSEED | PROC2_MODE_BASED_EPT | PROC2_TSC_SCALING)
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
