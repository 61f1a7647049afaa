/*
 * test_vmx.c — the VT-x model's C API (vmx_model/vmx.h) and capability MSRs
 * (vmx_model/caps.c), table-driven, against the SDM:
 *   - every VM-instruction error path: #UD, #GP(0), VMfailInvalid and
 *     VMfailValid(n) in the order of each instruction's "Operation" section
 *     (SDM 3C "VMX Instruction Reference"), RFLAGS as 31.2 sets them
 *     (VMsucceed, VMfailInvalid, VMfailValid) and the VM-instruction error
 *     field of the current VMCS (31.4, table 31-1);
 *   - VMREAD/VMWRITE semantics (field widths, HIGH accesses, SDM 3C 25.11.2)
 *     and which fields exist on which profile (SDM 3D App. B);
 *   - the same rules on a profile with one capability MSR changed (as a
 *     scenario may), so that they follow the MSRs rather than the profile;
 *   - the IA32_VMX_* MSRs: existence, read-only, internal consistency
 *     (SDM 3D App. A), CPUID.1:ECX.VMX, and the CR0/CR4 fixed bits in VMX
 *     operation through the MOV-to-CR path (SDM 3C 24.8);
 *   - the instruction handlers (thin callers of the API): register and
 *     memory operands, operand faults through the MMU, MOV SS blocking.
 *
 * Each row gets a fresh machine (cpu_harness.h): an LP in the boot state
 * (64-bit mode, CPL 0, CR0 = PE MP ET NE WP PG), the model attached with
 * the row's profile, CR4.VMXE set and IA32_FEATURE_CONTROL = 5 (lock, VMX
 * outside SMX) unless the row says otherwise. Failure messages name the
 * row and its line in this file.
 */
#include <stdint.h>

#include "cpu_harness.h"
#include "vmcs_fields.h"
#include "vmx.h"

#define P_SRV "intel-server"
#define P_MIN "intel-minimal"

/* Guest-physical regions (in RAM, above everything cpu_harness.h uses). */
#define VMXON_PA      0x400000ull
#define VMCS_A        0x401000ull      /* the current VMCS of setups S_CUR, S_LAUNCHED */
#define VMCS_B        0x402000ull      /* another VMCS; its launch state starts "launched" */
#define VMCS_BADREV   0x403000ull      /* revision identifier + 1 */
#define VMCS_SHADOW   0x404000ull      /* revision identifier | bit 31 (shadow-VMCS indicator) */
#define VMCS_OTHERREV 0x405000ull      /* the other Intel profile's revision identifier */

#define CR0_PE   (1ull << 0)
#define CR0_NE   (1ull << 5)
#define CR0_PG   (1ull << 31)
#define CR4_VMXE (1ull << 13)
#define CR4_SMXE (1ull << 14)

/* RFLAGS (SDM 3C 31.2): the six status flags VMX instructions define. */
#define F_CF 0x001ull
#define F_PF 0x004ull
#define F_AF 0x010ull
#define F_ZF 0x040ull
#define F_SF 0x080ull
#define F_OF 0x800ull
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_BASE  0x602ull                 /* bit 1, IF, DF: untouched by every VMX outcome */

#define ENC_VM_INSTRUCTION_ERROR 0x4400u

static const uint8_t hlt_only[] = { 0xF4 };

/* ---- the machine ---- */

struct vt {
    struct tm t;
    vmx_t *v;
    const char *profile;
    const char *row;           /* "name (test_vmx.c:line)" for messages */
};

static void vt_release_vmx(void *p) { vmx_detach(p); }

static const char *other_profile(const char *p) { return strcmp(p, P_SRV) ? P_SRV : P_MIN; }

static void put32(struct vt *x, uint64_t pa, uint32_t v)
{
    ck_assert_msg(cpu_phys_write(x->t.cpu, pa, &v, 4), "%s: no RAM at %#llx", x->row, (unsigned long long)pa);
}

static uint64_t get64(struct vt *x, uint64_t pa)
{
    uint64_t v = 0;
    ck_assert_msg(cpu_phys_read(x->t.cpu, pa, &v, 8), "%s: no RAM at %#llx", x->row, (unsigned long long)pa);
    return v;
}

static void put64(struct vt *x, uint64_t pa, uint64_t v)
{
    ck_assert_msg(cpu_phys_write(x->t.cpu, pa, &v, 8), "%s: no RAM at %#llx", x->row, (unsigned long long)pa);
}

/* A machine with the profile's CPU and VMX model. attach: register the
 * model (false: the bare CPU, no VMX). fc: the IA32_FEATURE_CONTROL value
 * to write, or FC_RESET to leave the reset value 0. */
#define FC_RESET (1ull << 63)
struct caps_tweak { uint32_t msr; uint64_t clear, set; };   /* msr 0: none */

static void vt_create_tweaked(struct vt *x, const char *profile, bool attach, uint64_t fc, const char *row,
                              const struct caps_tweak *tw)
{
    x->profile = profile;
    x->row = row;
    const struct cpu_profile *p = cpu_profile_find(profile);
    ck_assert_msg(p != NULL, "%s: no CPU profile %s", row, profile);
    tm_create_with(&x->t, hlt_only, sizeof(hlt_only), p, 0);
    x->v = NULL;
    if (!attach)
        return;
    const struct vmx_caps *caps = vmx_caps_for_profile(profile);
    ck_assert_msg(caps != NULL, "%s: no VMX capabilities for %s", row, profile);
    struct vmx_caps mine = *caps;              /* vmx_attach() copies what it keeps */
    if (tw && tw->msr) {
        ck_assert(tw->msr >= MSR_VMX_BASIC && tw->msr <= MSR_VMX_LAST);
        mine.msr[tw->msr - MSR_VMX_BASIC] = (mine.msr[tw->msr - MSR_VMX_BASIC] & ~tw->clear) | tw->set;
    }
    x->v = vmx_attach(x->t.cpu, &mine);
    ck_assert_ptr_nonnull(x->v);
    harness_own(vt_release_vmx, x->v);       /* released before the cpu (LIFO) */
    cpu_set(x->t.cpu, CPU_CR0, cpu_get(x->t.cpu, CPU_CR0) | CR0_PE | CR0_NE | CR0_PG);
    cpu_set(x->t.cpu, CPU_CR4, cpu_get(x->t.cpu, CPU_CR4) | CR4_VMXE);
    cpu_commit_state(x->t.cpu);
    if (fc != FC_RESET)
        ck_assert_msg(cpu_msr_write(x->t.cpu, MSR_IA32_FEATURE_CONTROL, fc), "%s: IA32_FEATURE_CONTROL = %#llx "
                      "refused", row, (unsigned long long)fc);
}

static void vt_create(struct vt *x, const char *profile, bool attach, uint64_t fc, const char *row)
{
    vt_create_tweaked(x, profile, attach, fc, row, NULL);
}

/* This profile's VMCS revision identifier, as software learns it. */
static uint32_t vt_revision(struct vt *x)
{
    uint64_t basic = 0;
    ck_assert_msg(cpu_msr_read(x->t.cpu, MSR_VMX_BASIC, &basic), "%s: IA32_VMX_BASIC #GP", x->row);
    return (uint32_t)basic & 0x7FFFFFFFu;
}

/* The regions every row may use (contents only: nothing is executed). */
static void vt_regions(struct vt *x)
{
    uint32_t rev = vt_revision(x);
    put32(x, VMXON_PA, rev);
    put32(x, VMCS_A, rev);
    put32(x, VMCS_B, rev);
    put32(x, VMCS_B + VMCS_REGION_LAUNCH_OFF, VMCS_REGION_LAUNCH_LAUNCHED);
    put32(x, VMCS_BADREV, rev + 1);
    put32(x, VMCS_SHADOW, rev | VMCS_SHADOW_INDICATOR);
    put32(x, VMCS_OTHERREV, vmx_caps_revision(vmx_caps_for_profile(other_profile(x->profile))));
}

static void expect_succeed(struct vt *x, struct vmx_result r, const char *what)
{
    ck_assert_msg(r.outcome == VMX_SUCCEED, "%s: setup step %s: outcome %d error %u vector %u (%s)", x->row, what,
                  r.outcome, r.error, r.vector, r.why);
}

/* ---- the API rows ---- */

enum setup {
    S_OFF,          /* outside VMX operation */
    S_ROOT,         /* VMXON(VMXON_PA): VMX root operation, no current VMCS */
    S_CUR,          /* S_ROOT, VMCLEAR(VMCS_A), VMPTRLD(VMCS_A): current VMCS, launch state clear */
    S_LAUNCHED,     /* S_CUR, then launch state "launched" written into VMCS_A directly */
    S_AFTER_OFF,    /* S_CUR, then VMXOFF */
};

/* State changes applied after the setup, before the operation. */
enum {
    M_CPL3 = 1 << 0,       /* CS/SS DPL 3 (tm_enter_user) */
    M_NO_VMXE = 1 << 1,    /* CR4.VMXE = 0 */
    M_PE0 = 1 << 2,        /* CR0 = ET only, EFER = 0: real-address mode */
    M_COMPAT = 1 << 3,     /* CS.L = 0, CS.D = 1 with EFER.LMA = 1: compatibility mode */
    M_NO_NE = 1 << 4,      /* CR0.NE = 0 (IA32_VMX_CR0_FIXED0 bit 5) */
    M_SMXE = 1 << 5,       /* CR4.SMXE = 1 (beyond IA32_VMX_CR4_FIXED1) */
    M_PROT32 = 1 << 6,     /* EFER.LME = LMA = 0, CS.L = 0, CS.D = 1: legacy protected mode (a 32-bit VMM) */
};

enum op { O_VMXON, O_VMXOFF, O_VMCLEAR, O_VMPTRLD, O_VMPTRST, O_VMREAD, O_VMWRITE, O_VMLAUNCH, O_VMRESUME,
          O_VMCALL, O_INVEPT, O_INVVPID };

/* What to look at after the operation, besides outcome, RFLAGS and the
 * VM-instruction error field. */
enum check {
    C_NONE,
    C_IN_VMX,       /* vmx_in_operation() == want; when 1, VMXON pointer == VMXON_PA */
    C_CURRENT,      /* vmx_current_vmcs() == want */
    C_VALUE,        /* the value VMREAD / VMPTRST returned == want */
    C_READ,         /* VMREAD of chk_enc afterwards == want */
    C_LAUNCH_B,     /* launch state in VMCS_B's region == want */
    C_SLOT,         /* the 8-byte slot of field chk_enc in VMCS_A's region (docs/vmcs-layout.md) == want */
};

struct api_row {
    const char *name;
    int line;
    const char *profile;       /* NULL: intel-server */
    struct caps_tweak tw;      /* a capability MSR of the profile changed, as a scenario may */
    uint64_t fc;               /* IA32_FEATURE_CONTROL; 0: 5 (lock, VMX outside SMX) */
    enum setup setup;
    bool pre;                  /* VMWRITE pre_enc = pre_val after the setup (must succeed) */
    uint64_t pre_enc, pre_val;
    unsigned mods;
    enum op op;
    uint64_t a;                /* pointer, field encoding or INVEPT/INVVPID type */
    uint64_t b;                /* VMWRITE value */
    uint64_t d0, d1;           /* INVEPT/INVVPID descriptor */
    enum vmx_outcome outcome;
    unsigned code;             /* VMX_FAIL_VALID: error number; VMX_FAULT: vector */
    enum check chk;
    uint64_t chk_enc, want;
};

#define R(...) { .line = __LINE__, __VA_ARGS__ }
#define OK        .outcome = VMX_SUCCEED
#define FINV      .outcome = VMX_FAIL_INVALID
#define FVAL(n)   .outcome = VMX_FAIL_VALID, .code = (n)
#define UD        .outcome = VMX_FAULT, .code = 6
#define GP        .outcome = VMX_FAULT, .code = 13
#define UNMOD     .outcome = VMX_UNMODELLED
#define PRE(e, v) .pre = true, .pre_enc = (e), .pre_val = (v)
#define READ(e, w) .chk = C_READ, .chk_enc = (e), .want = (w)
#define TWEAK(m, c, s) .tw = { (m), (c), (s) }
#define BIT(n)    (1ull << (n))

#define VMXON(pa)       .op = O_VMXON, .a = (pa)
#define VMXOFF          .op = O_VMXOFF
#define VMCLEAR(pa)     .op = O_VMCLEAR, .a = (pa)
#define VMPTRLD(pa)     .op = O_VMPTRLD, .a = (pa)
#define VMPTRST         .op = O_VMPTRST
#define VMREAD(e)       .op = O_VMREAD, .a = (e)
#define VMWRITE(e, v)   .op = O_VMWRITE, .a = (e), .b = (v)
#define VMLAUNCH        .op = O_VMLAUNCH
#define VMRESUME        .op = O_VMRESUME
#define VMCALL          .op = O_VMCALL
#define INVEPT(t, e)    .op = O_INVEPT, .a = (t), .d0 = (e)
#define INVVPID(t, vpid, la) .op = O_INVVPID, .a = (t), .d0 = (vpid), .d1 = (la)

/* EPTPs (SDM 3C 25.6.11, 27.2.1.1): 2:0 memory type, 5:3 page-walk length
 * - 1, 6 A/D flags, 11:7 reserved (no profile has supervisor shadow
 * stacks), 63:N reserved (N = MAXPHYADDR). */
#define EPTP_WB4  (0x5000ull | 0x1E)    /* WB, 4-level */
#define EPTP(x)   (0x5000ull | (x))

static const struct api_row api_rows[] = {
    /* ---- VMXON (SDM 3C 31.3 VMXON, Operation) ---- */
    R(.name = "vmxon/succeed", VMXON(VMXON_PA), OK, .chk = C_IN_VMX, .want = 1),
    R(.name = "vmxon/succeed-minimal", .profile = P_MIN, VMXON(VMXON_PA), OK, .chk = C_IN_VMX, .want = 1),
    R(.name = "vmxon/no-current-vmcs-after", VMXON(VMXON_PA), OK, .chk = C_CURRENT, .want = ~0ull),
    R(.name = "vmxon/ud-cr4-vmxe-0", .mods = M_NO_VMXE, VMXON(VMXON_PA), UD, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/ud-cr0-pe-0", .mods = M_PE0, VMXON(VMXON_PA), UD, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/ud-compatibility-mode", .mods = M_COMPAT, VMXON(VMXON_PA), UD, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-cpl3", .mods = M_CPL3, VMXON(VMXON_PA), GP, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-cr0-ne-0", .mods = M_NO_NE, VMXON(VMXON_PA), GP, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-cr4-beyond-fixed1", .mods = M_SMXE, VMXON(VMXON_PA), GP, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-featctl-reset-0", .fc = FC_RESET, VMXON(VMXON_PA), GP, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-featctl-unlocked", .fc = 4, VMXON(VMXON_PA), GP, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/gp-featctl-lock-without-vmx-outside-smx", .fc = 1, VMXON(VMXON_PA), GP, .chk = C_IN_VMX,
      .want = 0),
    R(.name = "vmxon/ud-before-gp (VMXE=0 at CPL 3)", .mods = M_NO_VMXE | M_CPL3, VMXON(VMXON_PA), UD),
    R(.name = "vmxon/finv-misaligned", VMXON(VMXON_PA + 0x800), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-misaligned-by-8", VMXON(VMXON_PA + 8), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-above-maxphyaddr-46", VMXON(1ull << 46), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-bit63", VMXON((1ull << 63) | VMXON_PA), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-above-maxphyaddr-39-minimal", .profile = P_MIN, VMXON(1ull << 39), FINV, .chk = C_IN_VMX,
      .want = 0),
    /* bit 39 is inside intel-server's 46-bit width: the address passes, and there is no RAM there */
    R(.name = "vmxon/bit39-valid-width-on-server-no-ram", VMXON(1ull << 39), UNMOD),
    R(.name = "vmxon/finv-wrong-revision", VMXON(VMCS_BADREV), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-other-profile-revision", VMXON(VMCS_OTHERREV), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/finv-other-profile-revision-minimal", .profile = P_MIN, VMXON(VMCS_OTHERREV), FINV),
    R(.name = "vmxon/finv-revision-bit31", VMXON(VMCS_SHADOW), FINV, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxon/in-root-no-vmcs-finv", .setup = S_ROOT, VMXON(VMXON_PA), FINV, .chk = C_IN_VMX, .want = 1),
    R(.name = "vmxon/in-root-with-vmcs-15", .setup = S_CUR, VMXON(VMXON_PA), FVAL(15), .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmxon/in-root-other-operand-15", .setup = S_CUR, VMXON(VMCS_B), FVAL(15)),
    R(.name = "vmxon/in-root-cpl3-gp", .setup = S_CUR, .mods = M_CPL3, VMXON(VMXON_PA), GP),
    R(.name = "vmxon/in-root-compat-ud", .setup = S_CUR, .mods = M_COMPAT, VMXON(VMXON_PA), UD),
    R(.name = "vmxon/again-after-vmxoff", .setup = S_AFTER_OFF, VMXON(VMXON_PA), OK, .chk = C_CURRENT,
      .want = ~0ull),

    /* ---- VMXOFF ---- */
    R(.name = "vmxoff/succeed", .setup = S_CUR, VMXOFF, OK, .chk = C_IN_VMX, .want = 0),
    R(.name = "vmxoff/succeed-no-vmcs", .setup = S_ROOT, VMXOFF, OK, .chk = C_IN_VMX, .want = 0),

    /* ---- VMCLEAR ---- */
    R(.name = "vmclear/succeed-sets-launch-state-clear", .setup = S_CUR, VMCLEAR(VMCS_B), OK, .chk = C_LAUNCH_B,
      .want = VMCS_REGION_LAUNCH_CLEAR),
    R(.name = "vmclear/other-vmcs-keeps-current", .setup = S_CUR, VMCLEAR(VMCS_B), OK, .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmclear/current-vmcs-invalidates-pointer", .setup = S_CUR, VMCLEAR(VMCS_A), OK, .chk = C_CURRENT,
      .want = ~0ull),
    R(.name = "vmclear/no-revision-check", .setup = S_CUR, VMCLEAR(VMCS_BADREV), OK),
    R(.name = "vmclear/2-misaligned", .setup = S_CUR, VMCLEAR(VMCS_B + 0x10), FVAL(2), .chk = C_LAUNCH_B,
      .want = VMCS_REGION_LAUNCH_LAUNCHED),
    R(.name = "vmclear/2-above-maxphyaddr", .setup = S_CUR, VMCLEAR(1ull << 46), FVAL(2)),
    R(.name = "vmclear/2-above-maxphyaddr-minimal", .profile = P_MIN, .setup = S_CUR, VMCLEAR(1ull << 39), FVAL(2)),
    R(.name = "vmclear/2-no-vmcs-finv", .setup = S_ROOT, VMCLEAR(VMCS_B + 0x10), FINV),
    R(.name = "vmclear/3-vmxon-pointer", .setup = S_CUR, VMCLEAR(VMXON_PA), FVAL(3), .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmclear/3-no-vmcs-finv", .setup = S_ROOT, VMCLEAR(VMXON_PA), FINV),
    R(.name = "vmclear/2-before-3 (misaligned VMXON pointer)", .setup = S_CUR, VMCLEAR(VMXON_PA + 4), FVAL(2)),

    /* ---- VMPTRLD ---- */
    R(.name = "vmptrld/succeed", .setup = S_ROOT, VMPTRLD(VMCS_A), OK, .chk = C_CURRENT, .want = VMCS_A),
    R(.name = "vmptrld/replace-current", .setup = S_CUR, VMPTRLD(VMCS_B), OK, .chk = C_CURRENT, .want = VMCS_B),
    R(.name = "vmptrld/9-misaligned", .setup = S_CUR, VMPTRLD(VMCS_B + 0x10), FVAL(9), .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmptrld/9-above-maxphyaddr", .setup = S_CUR, VMPTRLD(1ull << 46), FVAL(9)),
    R(.name = "vmptrld/9-above-maxphyaddr-minimal", .profile = P_MIN, .setup = S_CUR, VMPTRLD(1ull << 39), FVAL(9)),
    R(.name = "vmptrld/9-no-vmcs-finv", .setup = S_ROOT, VMPTRLD(VMCS_B + 0x10), FINV, .chk = C_CURRENT,
      .want = ~0ull),
    R(.name = "vmptrld/10-vmxon-pointer", .setup = S_CUR, VMPTRLD(VMXON_PA), FVAL(10), .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmptrld/10-no-vmcs-finv", .setup = S_ROOT, VMPTRLD(VMXON_PA), FINV),
    R(.name = "vmptrld/11-wrong-revision", .setup = S_CUR, VMPTRLD(VMCS_BADREV), FVAL(11), .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "vmptrld/11-other-profile-revision", .setup = S_CUR, VMPTRLD(VMCS_OTHERREV), FVAL(11)),
    R(.name = "vmptrld/11-bit31-without-vmcs-shadowing", .setup = S_CUR, VMPTRLD(VMCS_SHADOW), FVAL(11),
      .chk = C_CURRENT, .want = VMCS_A),
    R(.name = "vmptrld/11-bit31-minimal", .profile = P_MIN, .setup = S_CUR, VMPTRLD(VMCS_SHADOW), FVAL(11)),
    R(.name = "vmptrld/11-no-vmcs-finv", .setup = S_ROOT, VMPTRLD(VMCS_BADREV), FINV),

    /* ---- VMPTRST ---- */
    R(.name = "vmptrst/current", .setup = S_CUR, VMPTRST, OK, .chk = C_VALUE, .want = VMCS_A),
    R(.name = "vmptrst/none", .setup = S_ROOT, VMPTRST, OK, .chk = C_VALUE, .want = ~0ull),

    /* ---- VMREAD / VMWRITE: failures ---- */
    R(.name = "vmread/no-vmcs-finv", .setup = S_ROOT, VMREAD(0x0800), FINV),
    R(.name = "vmwrite/no-vmcs-finv", .setup = S_ROOT, VMWRITE(0x0800, 1), FINV),
    R(.name = "vmread/finv-before-12", .setup = S_ROOT, VMREAD(0x1800), FINV),
    R(.name = "vmread/12-unknown-index", .setup = S_CUR, VMREAD(0x6830), FVAL(12)),
    R(.name = "vmwrite/12-unknown-index", .setup = S_CUR, VMWRITE(0x6830, 1), FVAL(12)),
    R(.name = "vmread/12-bit12", .setup = S_CUR, VMREAD(0x1800), FVAL(12)),
    R(.name = "vmwrite/12-bit12", .setup = S_CUR, VMWRITE(0x1800, 1), FVAL(12)),
    R(.name = "vmread/12-bit15", .setup = S_CUR, VMREAD(0x8800), FVAL(12)),
    R(.name = "vmread/12-encoding-above-32-bits", .setup = S_CUR, VMREAD((1ull << 32) | 0x0800), FVAL(12)),
    R(.name = "vmwrite/12-encoding-above-32-bits", .setup = S_CUR, VMWRITE((1ull << 32) | 0x0800, 1), FVAL(12),
      READ(0x0800, 0)),
    R(.name = "vmread/12-high-of-16-bit-field", .setup = S_CUR, VMREAD(0x0801), FVAL(12)),
    R(.name = "vmread/12-high-of-32-bit-field", .setup = S_CUR, VMREAD(0x4801), FVAL(12)),
    R(.name = "vmread/12-high-of-natural-field", .setup = S_CUR, VMREAD(0x681F), FVAL(12)),
    /* fields of features a profile lacks (SDM 3D App. B) */
    R(.name = "vmread/12-ept-pointer-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x201A), FVAL(12)),
    R(.name = "vmwrite/12-ept-pointer-minimal", .profile = P_MIN, .setup = S_CUR, VMWRITE(0x201A, EPTP_WB4),
      FVAL(12)),
    R(.name = "vmread/ept-pointer-server", .setup = S_CUR, VMREAD(0x201A), OK, .chk = C_VALUE, .want = 0),
    R(.name = "vmread/12-pml-address-server", .setup = S_CUR, VMREAD(0x200E), FVAL(12)),
    R(.name = "vmwrite/12-pml-address-server", .setup = S_CUR, VMWRITE(0x200E, 0x5000), FVAL(12)),
    R(.name = "vmread/12-pml-index-server", .setup = S_CUR, VMREAD(0x0812), FVAL(12)),
    R(.name = "vmread/12-vpid-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x0000), FVAL(12)),
    R(.name = "vmread/vpid-server", .setup = S_CUR, VMREAD(0x0000), OK),
    R(.name = "vmread/12-posted-intr-nv-server", .setup = S_CUR, VMREAD(0x0002), FVAL(12)),
    R(.name = "vmread/12-secondary-controls-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x401E), FVAL(12)),
    R(.name = "vmread/12-virtual-apic-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x2012), FVAL(12)),
    R(.name = "vmread/virtual-apic-server", .setup = S_CUR, VMREAD(0x2012), OK),
    R(.name = "vmread/12-preemption-timer-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x482E), FVAL(12)),
    R(.name = "vmread/preemption-timer-server", .setup = S_CUR, VMREAD(0x482E), OK),
    R(.name = "vmread/12-guest-pat-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x2804), FVAL(12)),
    R(.name = "vmread/12-host-efer-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x2C02), FVAL(12)),
    R(.name = "vmread/host-efer-server", .setup = S_CUR, VMREAD(0x2C02), OK),
    R(.name = "vmread/12-guest-perf-global-ctrl-server", .setup = S_CUR, VMREAD(0x2808), FVAL(12)),
    R(.name = "vmread/eptp-list-server (VM function 0)", .setup = S_CUR, VMREAD(0x2024), OK),
    R(.name = "vmread/12-vm-function-controls-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x2018), FVAL(12)),
    R(.name = "vmread/12-guest-physical-address-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x2400),
      FVAL(12)),
    /* VM-exit information fields: read-only unless IA32_VMX_MISC[29] (SDM 3D A.6) */
    R(.name = "vmwrite/13-exit-reason-minimal", .profile = P_MIN, .setup = S_CUR, VMWRITE(0x4402, 0x1234), FVAL(13),
      READ(0x4402, 0)),
    R(.name = "vmwrite/13-exit-qualification-minimal", .profile = P_MIN, .setup = S_CUR, VMWRITE(0x6400, 1),
      FVAL(13)),
    R(.name = "vmwrite/13-vm-instruction-error-minimal", .profile = P_MIN, .setup = S_CUR, VMWRITE(0x4400, 7),
      FVAL(13)),
    R(.name = "vmwrite/13-no-vmcs-finv-minimal", .profile = P_MIN, .setup = S_ROOT, VMWRITE(0x4402, 1), FINV),
    R(.name = "vmwrite/12-before-13 (EPT exit field, minimal)", .profile = P_MIN, .setup = S_CUR,
      VMWRITE(0x2400, 1), FVAL(12)),
    R(.name = "vmread/exit-reason-minimal", .profile = P_MIN, .setup = S_CUR, VMREAD(0x4402), OK, .chk = C_VALUE,
      .want = 0),
    R(.name = "vmwrite/exit-reason-server", .setup = S_CUR, VMWRITE(0x4402, 0x80000021), OK,
      READ(0x4402, 0x80000021)),
    R(.name = "vmwrite/guest-physical-address-server", .setup = S_CUR, VMWRITE(0x2400, 0x123456000), OK,
      READ(0x2400, 0x123456000)),

    /* ---- VMREAD / VMWRITE: semantics (SDM 3C 31.3 VMREAD/VMWRITE; 64-bit mode operands) ---- */
    R(.name = "vmwrite/16-bit-truncates", .setup = S_CUR, VMWRITE(0x0800, 0xFFFF12345678ABCDull), OK,
      READ(0x0800, 0xABCD)),
    R(.name = "vmwrite/32-bit-truncates", .setup = S_CUR, VMWRITE(0x4800, 0x123456789ull), OK,
      READ(0x4800, 0x23456789)),
    R(.name = "vmwrite/natural-width-64-bits", .setup = S_CUR, VMWRITE(0x681E, 0xFFFFFFFF81234567ull), OK,
      READ(0x681E, 0xFFFFFFFF81234567ull)),
    R(.name = "vmwrite/64-bit-full", .setup = S_CUR, VMWRITE(0x2010, 0x1122334455667788ull), OK,
      READ(0x2010, 0x1122334455667788ull)),
    R(.name = "vmread/64-bit-high-reads-63-32", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull), VMREAD(0x2011),
      OK, .chk = C_VALUE, .want = 0x11223344),
    R(.name = "vmread/64-bit-full-after-high-write", .setup = S_CUR, PRE(0x2011, 0xCAFEF00D), VMREAD(0x2010), OK,
      .chk = C_VALUE, .want = 0xCAFEF00D00000000ull),
    R(.name = "vmwrite/64-bit-high-keeps-low-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull),
      VMWRITE(0x2011, 0xFFFFFFFFAABBCCDDull), OK, READ(0x2010, 0xAABBCCDD55667788ull)),
    R(.name = "vmwrite/64-bit-full-replaces-high-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull),
      VMWRITE(0x2010, 0x99), OK, READ(0x2011, 0)),
    R(.name = "vmwrite/16-bit-read-back-whole-register", .setup = S_CUR, PRE(0x0C02, 0x10), VMREAD(0x0C02), OK,
      .chk = C_VALUE, .want = 0x10),

    /* ---- outside IA-32e mode (a 32-bit VMM in protected mode): 32-bit register operands
     * (SDM 3C 31.3 VMREAD: a longer field's high bits are not read; VMWRITE: they are
     * cleared; INVEPT/INVVPID: the type is 32 bits) ---- */
    R(.name = "prot32/vmxon-succeed", .mods = M_PROT32, VMXON(VMXON_PA), OK, .chk = C_IN_VMX, .want = 1),
    R(.name = "prot32/vmread-64-bit-field-low-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull),
      .mods = M_PROT32, VMREAD(0x2010), OK, .chk = C_VALUE, .want = 0x55667788),
    R(.name = "prot32/vmread-64-bit-field-high-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull),
      .mods = M_PROT32, VMREAD(0x2011), OK, .chk = C_VALUE, .want = 0x11223344),
    R(.name = "prot32/vmread-natural-field-low-half", .setup = S_CUR, PRE(0x681E, 0xFFFFFFFF81234567ull),
      .mods = M_PROT32, VMREAD(0x681E), OK, .chk = C_VALUE, .want = 0x81234567),
    R(.name = "prot32/vmwrite-64-bit-field-clears-high-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull),
      .mods = M_PROT32, VMWRITE(0x2010, 0xAABBCCDD), OK, READ(0x2011, 0)),
    R(.name = "prot32/vmwrite-high-half", .setup = S_CUR, PRE(0x2010, 0x1122334455667788ull), .mods = M_PROT32,
      VMWRITE(0x2011, 0xAABBCCDD), OK, READ(0x2010, 0x55667788)),
    R(.name = "prot32/vmwrite-16-bit", .setup = S_CUR, .mods = M_PROT32, VMWRITE(0x0800, 0x12345678), OK,
      READ(0x0800, 0x5678)),
    R(.name = "prot32/vmread-encoding-is-32-bits", .setup = S_CUR, .mods = M_PROT32,
      VMREAD((1ull << 32) | 0x0800), OK),
    R(.name = "prot32/vmwrite-encoding-is-32-bits", .setup = S_CUR, .mods = M_PROT32,
      VMWRITE((1ull << 32) | 0x0800, 7), OK, READ(0x0800, 7)),
    R(.name = "prot32/vmwrite-value-is-32-bits", .setup = S_CUR, .mods = M_PROT32,
      VMWRITE(0x681E, 0xFFFFFFFF00001234ull), OK, .chk = C_SLOT, .chk_enc = 0x681E, .want = 0x1234),
    R(.name = "prot32/invept-type-is-32-bits", .setup = S_CUR, .mods = M_PROT32, INVEPT((1ull << 32) | 2, 0), OK),
    R(.name = "prot32/invvpid-type-is-32-bits", .setup = S_CUR, .mods = M_PROT32, INVVPID((1ull << 32) | 2, 0, 0),
      OK),
    R(.name = "prot32/vmcall-1", .setup = S_CUR, .mods = M_PROT32, VMCALL, FVAL(1)),
    R(.name = "prot32/vmxoff-succeed", .setup = S_CUR, .mods = M_PROT32, VMXOFF, OK, .chk = C_IN_VMX, .want = 0),
    R(.name = "prot32/cpl3-vmread-gp", .setup = S_CUR, .mods = M_PROT32 | M_CPL3, VMREAD(0x0800), GP),

    /* ---- VMLAUNCH / VMRESUME: the pre-checks of the Operation section. Past them, an
     * all-zero VMCS fails the first VM-entry check (pin-based controls without their
     * default1 bits, SDM 3C "Checks on VM-Execution Control Fields"): VMfailValid(7). ---- */
    R(.name = "vmlaunch/no-vmcs-finv", .setup = S_ROOT, VMLAUNCH, FINV),
    R(.name = "vmresume/no-vmcs-finv", .setup = S_ROOT, VMRESUME, FINV),
    R(.name = "vmlaunch/4-launched", .setup = S_LAUNCHED, VMLAUNCH, FVAL(4)),
    R(.name = "vmresume/5-clear", .setup = S_CUR, VMRESUME, FVAL(5)),
    R(.name = "vmlaunch/clear-passes-pre-checks-7", .setup = S_CUR, VMLAUNCH, FVAL(7)),
    R(.name = "vmresume/launched-passes-pre-checks-7", .setup = S_LAUNCHED, VMRESUME, FVAL(7)),

    /* ---- VMCALL in VMX root operation, no dual-monitor treatment (SDM 3C 31.3 VMCALL) ---- */
    R(.name = "vmcall/1-root", .setup = S_CUR, VMCALL, FVAL(1)),
    R(.name = "vmcall/1-root-minimal", .profile = P_MIN, .setup = S_CUR, VMCALL, FVAL(1)),
    R(.name = "vmcall/root-no-vmcs-finv", .setup = S_ROOT, VMCALL, FINV),

    /* ---- INVEPT (types: IA32_VMX_EPT_VPID_CAP[25] single, [26] all) ---- */
    R(.name = "invept/28-type0", .setup = S_CUR, INVEPT(0, EPTP_WB4), FVAL(28)),
    R(.name = "invept/28-type3", .setup = S_CUR, INVEPT(3, EPTP_WB4), FVAL(28)),
    R(.name = "invept/28-type-bit32 (64-bit register)", .setup = S_CUR, INVEPT((1ull << 32) | 1, EPTP_WB4),
      FVAL(28)),
    R(.name = "invept/type0-no-vmcs-finv", .setup = S_ROOT, INVEPT(0, EPTP_WB4), FINV),
    R(.name = "invept/single-wb-4-level", .setup = S_CUR, INVEPT(1, EPTP_WB4), OK),
    R(.name = "invept/single-no-vmcs", .setup = S_ROOT, INVEPT(1, EPTP_WB4), OK),
    R(.name = "invept/single-uc", .setup = S_CUR, INVEPT(1, EPTP(0x18)), OK),
    R(.name = "invept/single-ad-flags (CAP[21]=1)", .setup = S_CUR, INVEPT(1, EPTP(0x5E)), OK),
    R(.name = "invept/single-below-maxphyaddr", .setup = S_CUR, INVEPT(1, (1ull << 45) | 0x1E), OK),
    R(.name = "invept/28-single-memtype-wc", .setup = S_CUR, INVEPT(1, EPTP(0x19)), FVAL(28)),
    R(.name = "invept/28-single-memtype-7", .setup = S_CUR, INVEPT(1, EPTP(0x1F)), FVAL(28)),
    R(.name = "invept/28-single-2-level-walk", .setup = S_CUR, INVEPT(1, EPTP(0x0E)), FVAL(28)),
    R(.name = "invept/28-single-5-level-walk (CAP[7]=0)", .setup = S_CUR, INVEPT(1, EPTP(0x26)), FVAL(28)),
    R(.name = "invept/28-single-bit7", .setup = S_CUR, INVEPT(1, EPTP(0x9E)), FVAL(28)),
    R(.name = "invept/28-single-bit11", .setup = S_CUR, INVEPT(1, EPTP(0x81E)), FVAL(28)),
    R(.name = "invept/28-single-above-maxphyaddr", .setup = S_CUR, INVEPT(1, (1ull << 46) | 0x1E), FVAL(28)),
    R(.name = "invept/single-bad-eptp-no-vmcs-finv", .setup = S_ROOT, INVEPT(1, EPTP(0x19)), FINV),
    R(.name = "invept/all-context-ignores-descriptor", .setup = S_CUR, INVEPT(2, ~0ull), OK),
    R(.name = "invept/ud-minimal (no EPT)", .profile = P_MIN, .setup = S_CUR, INVEPT(2, 0), UD),

    /* ---- INVVPID (types: IA32_VMX_EPT_VPID_CAP[40..43]) ---- */
    R(.name = "invvpid/28-type4", .setup = S_CUR, INVVPID(4, 1, 0), FVAL(28)),
    R(.name = "invvpid/28-type-bit32 (64-bit register)", .setup = S_CUR, INVVPID((1ull << 32) | 1, 1, 0),
      FVAL(28)),
    R(.name = "invvpid/type4-no-vmcs-finv", .setup = S_ROOT, INVVPID(4, 1, 0), FINV),
    R(.name = "invvpid/28-descriptor-bit16", .setup = S_CUR, INVVPID(1, 0x10001, 0), FVAL(28)),
    R(.name = "invvpid/28-descriptor-bit63-all-context", .setup = S_CUR, INVVPID(2, (1ull << 63) | 1, 0),
      FVAL(28)),
    R(.name = "invvpid/28-vpid0-individual", .setup = S_CUR, INVVPID(0, 0, 0x1000), FVAL(28)),
    R(.name = "invvpid/28-vpid0-single", .setup = S_CUR, INVVPID(1, 0, 0), FVAL(28)),
    R(.name = "invvpid/28-vpid0-single-retaining-globals", .setup = S_CUR, INVVPID(3, 0, 0), FVAL(28)),
    R(.name = "invvpid/all-context-vpid0", .setup = S_CUR, INVVPID(2, 0, 0), OK),
    R(.name = "invvpid/28-individual-non-canonical-low", .setup = S_CUR, INVVPID(0, 1, 0x0000800000000000ull),
      FVAL(28)),
    R(.name = "invvpid/28-individual-non-canonical-high", .setup = S_CUR, INVVPID(0, 1, 0xFFFF7FFFFFFFF000ull),
      FVAL(28)),
    R(.name = "invvpid/individual-canonical-high", .setup = S_CUR, INVVPID(0, 1, 0xFFFF800000000000ull), OK),
    R(.name = "invvpid/individual-canonical-low", .setup = S_CUR, INVVPID(0, 0xFFFF, 0x00007FFFFFFFF000ull), OK),
    R(.name = "invvpid/single-ignores-address", .setup = S_CUR, INVVPID(1, 1, 0x0000800000000000ull), OK),
    R(.name = "invvpid/single-retaining-globals", .setup = S_CUR, INVVPID(3, 0x8000, 0), OK),
    R(.name = "invvpid/single-no-vmcs", .setup = S_ROOT, INVVPID(1, 1, 0), OK),
    R(.name = "invvpid/ud-minimal (no VPID)", .profile = P_MIN, .setup = S_CUR, INVVPID(2, 0, 0), UD),

    /* ---- every instruction but VMXON outside VMX operation: #UD ---- */
    R(.name = "outside/vmxoff-ud", VMXOFF, UD),
    R(.name = "outside/vmclear-ud", VMCLEAR(VMCS_A), UD),
    R(.name = "outside/vmptrld-ud", VMPTRLD(VMCS_A), UD),
    R(.name = "outside/vmptrst-ud", VMPTRST, UD),
    R(.name = "outside/vmread-ud", VMREAD(0x0800), UD),
    R(.name = "outside/vmwrite-ud", VMWRITE(0x0800, 1), UD),
    R(.name = "outside/vmlaunch-ud", VMLAUNCH, UD),
    R(.name = "outside/vmresume-ud", VMRESUME, UD),
    R(.name = "outside/vmcall-ud", VMCALL, UD),
    R(.name = "outside/invept-ud", INVEPT(2, 0), UD),
    R(.name = "outside/invvpid-ud", INVVPID(2, 0, 0), UD),
    R(.name = "outside/vmread-ud-at-cpl3 (#UD before #GP)", .mods = M_CPL3, VMREAD(0x0800), UD),
    R(.name = "outside/vmcall-ud-minimal", .profile = P_MIN, VMCALL, UD),
    /* after VMXOFF */
    R(.name = "after-vmxoff/vmread-ud", .setup = S_AFTER_OFF, VMREAD(0x0800), UD),
    R(.name = "after-vmxoff/vmptrld-ud", .setup = S_AFTER_OFF, VMPTRLD(VMCS_A), UD),
    R(.name = "after-vmxoff/vmxoff-ud", .setup = S_AFTER_OFF, VMXOFF, UD),

    /* ---- every instruction in VMX root operation at CPL 3: #GP(0) ---- */
    R(.name = "cpl3/vmxoff-gp", .setup = S_CUR, .mods = M_CPL3, VMXOFF, GP, .chk = C_IN_VMX, .want = 1),
    R(.name = "cpl3/vmclear-gp", .setup = S_CUR, .mods = M_CPL3, VMCLEAR(VMCS_B), GP, .chk = C_LAUNCH_B,
      .want = VMCS_REGION_LAUNCH_LAUNCHED),
    R(.name = "cpl3/vmptrld-gp", .setup = S_CUR, .mods = M_CPL3, VMPTRLD(VMCS_B), GP, .chk = C_CURRENT,
      .want = VMCS_A),
    R(.name = "cpl3/vmptrst-gp", .setup = S_CUR, .mods = M_CPL3, VMPTRST, GP),
    R(.name = "cpl3/vmread-gp", .setup = S_CUR, .mods = M_CPL3, VMREAD(0x0800), GP),
    R(.name = "cpl3/vmwrite-gp", .setup = S_CUR, .mods = M_CPL3, VMWRITE(0x0800, 1), GP),
    R(.name = "cpl3/vmlaunch-gp", .setup = S_CUR, .mods = M_CPL3, VMLAUNCH, GP),
    R(.name = "cpl3/vmresume-gp", .setup = S_LAUNCHED, .mods = M_CPL3, VMRESUME, GP),
    R(.name = "cpl3/vmcall-gp", .setup = S_CUR, .mods = M_CPL3, VMCALL, GP),
    R(.name = "cpl3/invept-gp", .setup = S_CUR, .mods = M_CPL3, INVEPT(2, 0), GP),
    R(.name = "cpl3/invvpid-gp", .setup = S_CUR, .mods = M_CPL3, INVVPID(2, 0, 0), GP),
    R(.name = "cpl3/vmread-gp-no-vmcs (#GP before VMfailInvalid)", .setup = S_ROOT, .mods = M_CPL3, VMREAD(0x0800),
      GP),
    R(.name = "cpl3/invept-ud-minimal (#UD before #GP)", .profile = P_MIN, .setup = S_CUR, .mods = M_CPL3,
      INVEPT(2, 0), UD),

    /* ---- every instruction in compatibility mode: #UD ---- */
    R(.name = "compat/vmxoff-ud", .setup = S_CUR, .mods = M_COMPAT, VMXOFF, UD, .chk = C_IN_VMX, .want = 1),
    R(.name = "compat/vmclear-ud", .setup = S_CUR, .mods = M_COMPAT, VMCLEAR(VMCS_B), UD),
    R(.name = "compat/vmptrld-ud", .setup = S_CUR, .mods = M_COMPAT, VMPTRLD(VMCS_B), UD),
    R(.name = "compat/vmptrst-ud", .setup = S_CUR, .mods = M_COMPAT, VMPTRST, UD),
    R(.name = "compat/vmread-ud", .setup = S_CUR, .mods = M_COMPAT, VMREAD(0x0800), UD),
    R(.name = "compat/vmwrite-ud", .setup = S_CUR, .mods = M_COMPAT, VMWRITE(0x0800, 1), UD),
    R(.name = "compat/vmlaunch-ud", .setup = S_CUR, .mods = M_COMPAT, VMLAUNCH, UD),
    R(.name = "compat/vmresume-ud", .setup = S_LAUNCHED, .mods = M_COMPAT, VMRESUME, UD),
    R(.name = "compat/vmcall-ud", .setup = S_CUR, .mods = M_COMPAT, VMCALL, UD),
    R(.name = "compat/invept-ud", .setup = S_CUR, .mods = M_COMPAT, INVEPT(2, 0), UD),
    R(.name = "compat/invvpid-ud", .setup = S_CUR, .mods = M_COMPAT, INVVPID(2, 0, 0), UD),

    /* ---- the same rules follow the capability MSRs, not the profile's name (an
     * intel-server with one capability MSR changed, as a scenario may do) ---- */
    R(.name = "caps/invept-5-level-with-cap7", TWEAK(MSR_VMX_EPT_VPID_CAP, 0, BIT(7)), .setup = S_CUR,
      INVEPT(1, EPTP(0x26)), OK),
    R(.name = "caps/invept-28-4-level-without-cap6", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(6), BIT(7)), .setup = S_CUR,
      INVEPT(1, EPTP_WB4), FVAL(28)),
    R(.name = "caps/invept-28-uc-without-cap8", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(8), 0), .setup = S_CUR,
      INVEPT(1, EPTP(0x18)), FVAL(28)),
    R(.name = "caps/invept-28-wb-without-cap14", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(14), 0), .setup = S_CUR,
      INVEPT(1, EPTP_WB4), FVAL(28)),
    R(.name = "caps/invept-28-ad-without-cap21", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(21), 0), .setup = S_CUR,
      INVEPT(1, EPTP(0x5E)), FVAL(28)),
    R(.name = "caps/invept-28-single-without-cap25", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(25), 0), .setup = S_CUR,
      INVEPT(1, EPTP_WB4), FVAL(28)),
    R(.name = "caps/invept-all-with-only-cap26", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(25), 0), .setup = S_CUR,
      INVEPT(2, 0), OK),
    R(.name = "caps/invept-28-all-without-cap26", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(26), 0), .setup = S_CUR,
      INVEPT(2, 0), FVAL(28)),
    R(.name = "caps/invept-ud-without-cap20", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(20), 0), .setup = S_CUR,
      INVEPT(2, 0), UD),
    R(.name = "caps/invept-ud-without-ept-control", TWEAK(MSR_VMX_PROCBASED_CTLS2, BIT(33), 0), .setup = S_CUR,
      INVEPT(2, 0), UD),
    R(.name = "caps/invvpid-ud-without-cap32", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(32), 0), .setup = S_CUR,
      INVVPID(2, 0, 0), UD),
    R(.name = "caps/invvpid-ud-without-vpid-control", TWEAK(MSR_VMX_PROCBASED_CTLS2, BIT(37), 0), .setup = S_CUR,
      INVVPID(2, 0, 0), UD),
    R(.name = "caps/invvpid-28-individual-without-cap40", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(40), 0), .setup = S_CUR,
      INVVPID(0, 1, 0x1000), FVAL(28)),
    R(.name = "caps/invvpid-28-single-without-cap41", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(41), 0), .setup = S_CUR,
      INVVPID(1, 1, 0), FVAL(28)),
    R(.name = "caps/invvpid-28-all-without-cap42", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(42), 0), .setup = S_CUR,
      INVVPID(2, 0, 0), FVAL(28)),
    R(.name = "caps/invvpid-28-retaining-globals-without-cap43", TWEAK(MSR_VMX_EPT_VPID_CAP, BIT(43), 0),
      .setup = S_CUR, INVVPID(3, 1, 0), FVAL(28)),
    R(.name = "caps/vmwrite-13-without-misc29", TWEAK(MSR_VMX_MISC, BIT(29), 0), .setup = S_CUR,
      VMWRITE(0x4402, 1), FVAL(13)),
    R(.name = "caps/vmptrld-bit31-with-vmcs-shadowing", TWEAK(MSR_VMX_PROCBASED_CTLS2, 0, BIT(32 + 14)),
      .setup = S_CUR, VMPTRLD(VMCS_SHADOW), OK, .chk = C_CURRENT, .want = VMCS_SHADOW),
    R(.name = "caps/vmxon-bit31-with-vmcs-shadowing-finv", TWEAK(MSR_VMX_PROCBASED_CTLS2, 0, BIT(32 + 14)),
      VMXON(VMCS_SHADOW), FINV),
    R(.name = "caps/pml-address-with-pml", TWEAK(MSR_VMX_PROCBASED_CTLS2, 0, BIT(32 + 17)), .setup = S_CUR,
      VMREAD(0x200E), OK),
    R(.name = "caps/12-ept-pointer-without-ept-control", TWEAK(MSR_VMX_PROCBASED_CTLS2, BIT(33), 0), .setup = S_CUR,
      VMREAD(0x201A), FVAL(12)),
    R(.name = "caps/12-everything-secondary-without-activate", TWEAK(MSR_VMX_PROCBASED_CTLS, BIT(63), 0),
      .setup = S_CUR, VMREAD(0x201A), FVAL(12)),
    R(.name = "caps/vmclear-2-32-bit-addresses (BASIC[48])", TWEAK(MSR_VMX_BASIC, 0, BIT(48)), .setup = S_CUR,
      VMCLEAR(1ull << 32), FVAL(2)),
    R(.name = "caps/vmxon-gp-cr0-wp-beyond-fixed1", TWEAK(MSR_VMX_CR0_FIXED1, BIT(16), 0), VMXON(VMXON_PA), GP),
    R(.name = "caps/vmxon-cr4-pae-in-fixed0-ok", TWEAK(MSR_VMX_CR4_FIXED0, 0, BIT(5)), VMXON(VMXON_PA), OK),
    R(.name = "caps/vmxon-gp-cr4-pcide-in-fixed0", TWEAK(MSR_VMX_CR4_FIXED0, 0, BIT(17)), VMXON(VMXON_PA), GP),
};

static void vt_setup(struct vt *x, enum setup s)
{
    if (s == S_OFF)
        return;
    expect_succeed(x, vmx_vmxon(x->v, VMXON_PA), "VMXON");
    if (s == S_ROOT)
        return;
    expect_succeed(x, vmx_vmclear(x->v, VMCS_A), "VMCLEAR");
    expect_succeed(x, vmx_vmptrld(x->v, VMCS_A), "VMPTRLD");
    if (s == S_LAUNCHED)
        put32(x, VMCS_A + VMCS_REGION_LAUNCH_OFF, VMCS_REGION_LAUNCH_LAUNCHED);
    if (s == S_AFTER_OFF)
        expect_succeed(x, vmx_vmxoff(x->v), "VMXOFF");
}

static void vt_mods(struct vt *x, unsigned mods)
{
    cpu_t *c = x->t.cpu;
    if (mods & M_CPL3)
        tm_enter_user(&x->t, 0x3FF000);
    if (mods & M_NO_VMXE)
        cpu_set(c, CPU_CR4, cpu_get(c, CPU_CR4) & ~CR4_VMXE);
    if (mods & M_SMXE)
        cpu_set(c, CPU_CR4, cpu_get(c, CPU_CR4) | CR4_SMXE);
    if (mods & M_NO_NE)
        cpu_set(c, CPU_CR0, cpu_get(c, CPU_CR0) & ~CR0_NE);
    if (mods & M_PE0) {
        cpu_set(c, CPU_CR0, 0x10);
        cpu_set(c, CPU_EFER, 0);
    }
    if (mods & M_PROT32)
        cpu_set(c, CPU_EFER, cpu_get(c, CPU_EFER) & ~((1ull << 8) | (1ull << 10)));
    if (mods & (M_COMPAT | M_PROT32)) {
        struct cpu_seg cs;
        cpu_get_seg(c, CPU_CS, &cs);
        cs.attr = (cs.attr & ~SEG_ATTR_L) | SEG_ATTR_DB;
        cpu_set_seg(c, CPU_CS, &cs);
    }
    cpu_commit_state(c);
    if (mods & M_CPL3)
        ck_assert_msg(cpu_cpl(c) == 3, "%s: CPL %u", x->row, cpu_cpl(c));
    if (mods & M_COMPAT)
        ck_assert_msg(cpu_mode(c) == CPU_MODE_COMPAT, "%s: %s", x->row, cpu_mode_name(cpu_mode(c)));
    if (mods & M_PROT32)
        ck_assert_msg(cpu_mode(c) == CPU_MODE_PROTECTED, "%s: %s", x->row, cpu_mode_name(cpu_mode(c)));
    if (mods & M_PE0)
        ck_assert_msg(cpu_mode(c) == CPU_MODE_REAL, "%s: %s", x->row, cpu_mode_name(cpu_mode(c)));
}

static struct vmx_result do_op(struct vt *x, const struct api_row *r, uint64_t *out)
{
    uint64_t desc[2] = { r->d0, r->d1 };
    switch (r->op) {
    case O_VMXON: return vmx_vmxon(x->v, r->a);
    case O_VMXOFF: return vmx_vmxoff(x->v);
    case O_VMCLEAR: return vmx_vmclear(x->v, r->a);
    case O_VMPTRLD: return vmx_vmptrld(x->v, r->a);
    case O_VMPTRST: return vmx_vmptrst(x->v, out);
    case O_VMREAD: return vmx_vmread(x->v, r->a, out);
    case O_VMWRITE: return vmx_vmwrite(x->v, r->a, r->b);
    case O_VMLAUNCH: return vmx_vmlaunch(x->v, false);
    case O_VMRESUME: return vmx_vmlaunch(x->v, true);
    case O_VMCALL: return vmx_vmcall(x->v);
    case O_INVEPT: return vmx_invept(x->v, r->a, desc);
    case O_INVVPID: return vmx_invvpid(x->v, r->a, desc);
    }
    ck_abort_msg("%s: bad op %d", x->row, (int)r->op);
    return (struct vmx_result){ 0 };
}

static const char *outcome_name(enum vmx_outcome o)
{
    static const char *const n[] = { "VMsucceed", "VMfailInvalid", "VMfailValid", "fault", "unmodelled" };
    return (unsigned)o < 5 ? n[o] : "?";
}

#define ERR_SLOT(base) ((base) + vmcs_field_offset(VMCS_VM_INSTRUCTION_ERROR))
#define SENTINEL_ERR   0xE5E5E5E5ull
#define SENTINEL_OUT   0x5A5A5A5A5A5A5A5Aull

START_TEST(api)
{
    const struct api_row *r = &api_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "%s (test_vmx.c:%d)", r->name, r->line);
    struct vt x;
    vt_create_tweaked(&x, r->profile ? r->profile : P_SRV, true, r->fc ? r->fc : 5, row, &r->tw);
    vt_regions(&x);
    vt_setup(&x, r->setup);
    if (r->pre) {
        expect_succeed(&x, vmx_vmwrite(x.v, r->pre_enc, r->pre_val), "pre-VMWRITE");
    }
    vt_mods(&x, r->mods);
    put64(&x, ERR_SLOT(VMCS_A), SENTINEL_ERR);

    /* RFLAGS before: every status flag set, except the one the expected
     * outcome sets, so that each flag visibly changes (SDM 3C 31.2). */
    uint64_t before = F_BASE | F_ARITH, after = before;
    switch (r->outcome) {
    case VMX_SUCCEED: after = F_BASE; break;
    case VMX_FAIL_INVALID: before &= ~F_CF; after = F_BASE | F_CF; break;
    case VMX_FAIL_VALID: before &= ~F_ZF; after = F_BASE | F_ZF; break;
    default: break;                                 /* a fault or unmodelled: RFLAGS untouched */
    }
    cpu_set(x.t.cpu, CPU_RFLAGS, before);

    uint64_t out = SENTINEL_OUT;
    struct vmx_result res = do_op(&x, r, &out);

    ck_assert_msg(res.outcome == r->outcome, "%s: outcome %s (error %u, vector %u: %s), expected %s", row,
                  outcome_name(res.outcome), res.error, res.vector, res.why, outcome_name(r->outcome));
    ck_assert_msg(res.why[0] != 0, "%s: the result does not say why", row);
    switch (r->outcome) {
    case VMX_FAIL_VALID:
        ck_assert_msg(res.error == r->code, "%s: VM-instruction error %u, expected %u (%s)", row, res.error, r->code,
                      res.why);
        break;
    case VMX_FAULT:
        ck_assert_msg(res.vector == r->code, "%s: vector %u, expected %u (%s)", row, res.vector, r->code, res.why);
        if (r->code == 13)
            ck_assert_msg(res.has_ec && res.ec == 0, "%s: #GP without error code 0 (has_ec %d, ec %#x)", row,
                          res.has_ec, res.ec);
        else
            ck_assert_msg(!res.has_ec, "%s: #UD with an error code", row);
        break;
    default:
        ck_assert_msg(res.error == 0, "%s: error %u reported with outcome %s", row, res.error,
                      outcome_name(res.outcome));
        break;
    }
    uint64_t fl = cpu_get(x.t.cpu, CPU_RFLAGS);
    ck_assert_msg(fl == after, "%s: RFLAGS %#llx after, expected %#llx (before %#llx)", row, (unsigned long long)fl,
                  (unsigned long long)after, (unsigned long long)before);

    /* A result operand is written only by a successful VMREAD / VMPTRST. */
    if ((r->op == O_VMREAD || r->op == O_VMPTRST) && r->outcome != VMX_SUCCEED)
        ck_assert_msg(out == SENTINEL_OUT, "%s: a failed %s wrote %#llx", row, r->op == O_VMREAD ? "VMREAD" : "VMPTRST",
                      (unsigned long long)out);

    /* The VM-instruction error field: written by VMfailValid only. */
    if (r->outcome == VMX_FAIL_VALID) {
        uint64_t e = ~0ull;
        struct vmx_result rr = vmx_vmread(x.v, ENC_VM_INSTRUCTION_ERROR, &e);
        ck_assert_msg(rr.outcome == VMX_SUCCEED, "%s: VMREAD of the VM-instruction error field: %s", row, rr.why);
        ck_assert_msg(e == r->code, "%s: VM-instruction error field %llu, expected %u", row, (unsigned long long)e,
                      r->code);
    } else if (!(r->op == O_VMWRITE && r->a == ENC_VM_INSTRUCTION_ERROR)) {
        uint64_t e = get64(&x, ERR_SLOT(VMCS_A));
        ck_assert_msg(e == SENTINEL_ERR, "%s: outcome %s changed the VM-instruction error field to %#llx", row,
                      outcome_name(r->outcome), (unsigned long long)e);
    }

    switch (r->chk) {
    case C_NONE:
        break;
    case C_IN_VMX:
        ck_assert_msg(vmx_in_operation(x.v) == (r->want != 0), "%s: in VMX operation %d, expected %d", row,
                      vmx_in_operation(x.v), r->want != 0);
        if (r->want)
            ck_assert_msg(vmx_vmxon_pointer(x.v) == VMXON_PA, "%s: VMXON pointer %#llx", row,
                          (unsigned long long)vmx_vmxon_pointer(x.v));
        break;
    case C_CURRENT:
        ck_assert_msg(vmx_current_vmcs(x.v) == r->want, "%s: current VMCS %#llx, expected %#llx", row,
                      (unsigned long long)vmx_current_vmcs(x.v), (unsigned long long)r->want);
        break;
    case C_VALUE:
        ck_assert_msg(out == r->want, "%s: value %#llx, expected %#llx", row, (unsigned long long)out,
                      (unsigned long long)r->want);
        break;
    case C_READ: {
        uint64_t v = ~0ull;
        struct vmx_result rr = vmx_vmread(x.v, r->chk_enc, &v);
        ck_assert_msg(rr.outcome == VMX_SUCCEED, "%s: VMREAD %#llx afterwards: %s", row,
                      (unsigned long long)r->chk_enc, rr.why);
        ck_assert_msg(v == r->want, "%s: VMREAD %#llx afterwards = %#llx, expected %#llx", row,
                      (unsigned long long)r->chk_enc, (unsigned long long)v, (unsigned long long)r->want);
        break;
    }
    case C_SLOT: {
        int id = vmcs_field_lookup((uint32_t)r->chk_enc, NULL);
        ck_assert_msg(id >= 0, "%s: %#llx names no field", row, (unsigned long long)r->chk_enc);
        uint64_t v = get64(&x, VMCS_A + vmcs_field_offset(id));
        ck_assert_msg(v == r->want, "%s: field %s holds %#llx, expected %#llx", row, vmcs_field_name(id),
                      (unsigned long long)v, (unsigned long long)r->want);
        break;
    }
    case C_LAUNCH_B: {
        uint32_t ls = ~0u;
        ck_assert(cpu_phys_read(x.t.cpu, VMCS_B + VMCS_REGION_LAUNCH_OFF, &ls, 4));
        ck_assert_msg(ls == r->want, "%s: launch state of VMCS_B %u, expected %llu", row, ls,
                      (unsigned long long)r->want);
        break;
    }
    }
}
END_TEST

/* ---- the capability MSRs (SDM 3D appendix A) ---- */

/* Whether each IA32_VMX_* MSR exists, as each profile states it
 * (intel-minimal: no TRUE controls, no secondary controls and so no
 * PROCBASED_CTLS2 / EPT_VPID_CAP / VMFUNC; neither has tertiary or
 * secondary-exit controls). msr_exists() re-derives this from the SDM's
 * existence rules and the MSRs' values. */
struct msr_row { const char *profile; uint32_t msr; bool present; int line; };
#define M(p, m, pr) { p, m, pr, __LINE__ }
static const struct msr_row msr_rows[] = {
    M(P_SRV, MSR_VMX_BASIC, true),              M(P_MIN, MSR_VMX_BASIC, true),
    M(P_SRV, MSR_VMX_PINBASED_CTLS, true),      M(P_MIN, MSR_VMX_PINBASED_CTLS, true),
    M(P_SRV, MSR_VMX_PROCBASED_CTLS, true),     M(P_MIN, MSR_VMX_PROCBASED_CTLS, true),
    M(P_SRV, MSR_VMX_EXIT_CTLS, true),          M(P_MIN, MSR_VMX_EXIT_CTLS, true),
    M(P_SRV, MSR_VMX_ENTRY_CTLS, true),         M(P_MIN, MSR_VMX_ENTRY_CTLS, true),
    M(P_SRV, MSR_VMX_MISC, true),               M(P_MIN, MSR_VMX_MISC, true),
    M(P_SRV, MSR_VMX_CR0_FIXED0, true),         M(P_MIN, MSR_VMX_CR0_FIXED0, true),
    M(P_SRV, MSR_VMX_CR0_FIXED1, true),         M(P_MIN, MSR_VMX_CR0_FIXED1, true),
    M(P_SRV, MSR_VMX_CR4_FIXED0, true),         M(P_MIN, MSR_VMX_CR4_FIXED0, true),
    M(P_SRV, MSR_VMX_CR4_FIXED1, true),         M(P_MIN, MSR_VMX_CR4_FIXED1, true),
    M(P_SRV, MSR_VMX_VMCS_ENUM, true),          M(P_MIN, MSR_VMX_VMCS_ENUM, true),
    M(P_SRV, MSR_VMX_PROCBASED_CTLS2, true),    M(P_MIN, MSR_VMX_PROCBASED_CTLS2, false),
    M(P_SRV, MSR_VMX_EPT_VPID_CAP, true),       M(P_MIN, MSR_VMX_EPT_VPID_CAP, false),
    M(P_SRV, MSR_VMX_TRUE_PINBASED_CTLS, true), M(P_MIN, MSR_VMX_TRUE_PINBASED_CTLS, false),
    M(P_SRV, MSR_VMX_TRUE_PROCBASED_CTLS, true), M(P_MIN, MSR_VMX_TRUE_PROCBASED_CTLS, false),
    M(P_SRV, MSR_VMX_TRUE_EXIT_CTLS, true),     M(P_MIN, MSR_VMX_TRUE_EXIT_CTLS, false),
    M(P_SRV, MSR_VMX_TRUE_ENTRY_CTLS, true),    M(P_MIN, MSR_VMX_TRUE_ENTRY_CTLS, false),
    M(P_SRV, MSR_VMX_VMFUNC, true),             M(P_MIN, MSR_VMX_VMFUNC, false),
    M(P_SRV, MSR_VMX_PROCBASED_CTLS3, false),   M(P_MIN, MSR_VMX_PROCBASED_CTLS3, false),
    M(P_SRV, MSR_VMX_EXIT_CTLS2, false),        M(P_MIN, MSR_VMX_EXIT_CTLS2, false),
};

static uint64_t rd(struct vt *x, uint32_t msr)
{
    uint64_t v = 0;
    ck_assert_msg(cpu_msr_read(x->t.cpu, msr, &v), "%s: RDMSR %#x #GP", x->row, msr);
    return v;
}

/* SDM 3D A.1-A.11: which IA32_VMX_* MSRs exist, from the others. */
static bool msr_exists(struct vt *x, uint32_t msr)
{
    uint64_t basic = rd(x, MSR_VMX_BASIC), proc = rd(x, MSR_VMX_PROCBASED_CTLS), exit = rd(x, MSR_VMX_EXIT_CTLS);
    bool proc2 = (proc >> 63) & 1;                                    /* A.3.3 */
    uint64_t p2 = proc2 ? rd(x, MSR_VMX_PROCBASED_CTLS2) : 0;
    switch (msr) {
    case MSR_VMX_PROCBASED_CTLS2: return proc2;
    case MSR_VMX_EPT_VPID_CAP: return proc2 && (((p2 >> 33) & 1) || ((p2 >> 37) & 1));    /* A.10 */
    case MSR_VMX_TRUE_PINBASED_CTLS:
    case MSR_VMX_TRUE_PROCBASED_CTLS:
    case MSR_VMX_TRUE_EXIT_CTLS:
    case MSR_VMX_TRUE_ENTRY_CTLS: return (basic >> 55) & 1;           /* A.2 */
    case MSR_VMX_VMFUNC: return proc2 && ((p2 >> 45) & 1);            /* A.11 */
    case MSR_VMX_PROCBASED_CTLS3: return (proc >> 49) & 1;            /* A.3.4 */
    case MSR_VMX_EXIT_CTLS2: return (exit >> 63) & 1;                 /* A.4.2 */
    default: return true;                                             /* every VMX processor */
    }
}

START_TEST(cap_msr_present)
{
    const struct msr_row *r = &msr_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "%s MSR %#x (test_vmx.c:%d)", r->profile, r->msr, r->line);
    struct vt x;
    vt_create(&x, r->profile, true, 5, row);
    uint64_t v = 0x1234;
    bool ok = cpu_msr_read(x.t.cpu, r->msr, &v);
    ck_assert_msg(ok == r->present, "%s: RDMSR %s, expected %s", row, ok ? "succeeds" : "#GP",
                  r->present ? "a value" : "#GP");
    ck_assert_msg(msr_exists(&x, r->msr) == r->present, "%s: the SDM's existence rule says %d", row,
                  msr_exists(&x, r->msr));
    if (ok) {
        const struct vmx_caps *caps = vmx_caps_for_profile(r->profile);
        if (r->msr != MSR_VMX_CR4_FIXED1 && r->msr != MSR_VMX_VMCS_ENUM)     /* computed at attach */
            ck_assert_msg(v == caps->msr[r->msr - MSR_VMX_BASIC], "%s: %#llx, the profile says %#llx", row,
                          (unsigned long long)v, (unsigned long long)caps->msr[r->msr - MSR_VMX_BASIC]);
    }
    /* read-only: WRMSR #GPs, with the value read and with 0, and changes nothing */
    ck_assert_msg(!cpu_msr_write(x.t.cpu, r->msr, ok ? v : 0), "%s: WRMSR of its own value accepted", row);
    ck_assert_msg(!cpu_msr_write(x.t.cpu, r->msr, 0), "%s: WRMSR 0 accepted", row);
    if (ok)
        ck_assert_msg(rd(&x, r->msr) == v, "%s: value changed by a refused WRMSR", row);
}
END_TEST

/* Without a VMX model (the bare CPU), none of the MSRs exists. */
START_TEST(cap_msrs_absent_without_model)
{
    struct vt x;
    vt_create(&x, P_SRV, false, FC_RESET, "no-model");
    for (uint32_t m = MSR_VMX_BASIC; m <= MSR_VMX_LAST; m++) {
        uint64_t v;
        ck_assert_msg(!cpu_msr_read(x.t.cpu, m, &v), "no-model: RDMSR %#x succeeds", m);
    }
}
END_TEST

static const char *const profiles[] = { P_SRV, P_MIN };

/* IA32_FEATURE_CONTROL with the model (SDM 3C 24.7): only the lock bit and
 * "VMX outside SMX" are writable (no SMX, SGX or LMCE: #GP), and the lock
 * holds until reset. */
START_TEST(feature_control)
{
    struct vt x;
    vt_create(&x, profiles[_i], true, FC_RESET, profiles[_i]);
    cpu_t *c = x.t.cpu;
    ck_assert_msg(rd(&x, MSR_IA32_FEATURE_CONTROL) == 0, "%s: reset value", x.row);
    ck_assert_msg(!cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x3), "%s: VMX inside SMX accepted", x.row);
    ck_assert_msg(!cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x7), "%s: VMX inside SMX accepted", x.row);
    ck_assert_msg(!cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x100005), "%s: LMCE/SGX bit accepted", x.row);
    ck_assert_msg(cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x4), "%s: VMX outside SMX refused", x.row);
    ck_assert_msg(cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x5), "%s: lock refused", x.row);
    ck_assert_msg(!cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x4), "%s: write after lock accepted", x.row);
    ck_assert_msg(!cpu_msr_write(c, MSR_IA32_FEATURE_CONTROL, 0x5), "%s: write after lock accepted", x.row);
    ck_assert_msg(rd(&x, MSR_IA32_FEATURE_CONTROL) == 5, "%s: value after lock", x.row);
}
END_TEST

/* IA32_VMX_BASIC (A.1). */
START_TEST(cap_basic)
{
    struct vt x;
    vt_create(&x, profiles[_i], true, 5, profiles[_i]);
    uint64_t b = rd(&x, MSR_VMX_BASIC);
    ck_assert_msg((b & 0x7FFFFFFFu) == vmx_caps_revision(vmx_caps_for_profile(profiles[_i])), "%s: revision %#llx",
                  x.row, (unsigned long long)b);
    ck_assert_msg(vmx_caps_revision(vmx_caps_for_profile(P_SRV)) != vmx_caps_revision(vmx_caps_for_profile(P_MIN)),
                  "the profiles share a revision identifier");
    ck_assert_msg(!((b >> 31) & 1), "%s: bit 31 is always 0", x.row);
    unsigned size = (b >> 32) & 0x1FFF;
    ck_assert_msg(size > 0 && size <= 4096 && size >= VMCS_REGION_USED, "%s: region size %u", x.row, size);
    ck_assert_msg(!((b >> 48) & 1), "%s: bit 48 (32-bit addresses) on an Intel 64 processor", x.row);
    ck_assert_msg(((b >> 50) & 0xF) == 6, "%s: VMCS memory type %llu, expected WB", x.row,
                  (unsigned long long)((b >> 50) & 0xF));
    ck_assert_msg(((b >> 55) & 1) == (strcmp(profiles[_i], P_SRV) == 0), "%s: TRUE-controls bit 55", x.row);
}
END_TEST

/* CR0/CR4 fixed bits (A.7, A.8; SDM 3C 24.8). */
START_TEST(cap_fixed_bits)
{
    struct vt x;
    vt_create(&x, profiles[_i], true, 5, profiles[_i]);
    uint64_t c0f0 = rd(&x, MSR_VMX_CR0_FIXED0), c0f1 = rd(&x, MSR_VMX_CR0_FIXED1);
    uint64_t c4f0 = rd(&x, MSR_VMX_CR4_FIXED0), c4f1 = rd(&x, MSR_VMX_CR4_FIXED1);
    ck_assert_msg((c0f0 & c0f1) == c0f0, "%s: CR0 FIXED0 %#llx not within FIXED1 %#llx", x.row,
                  (unsigned long long)c0f0, (unsigned long long)c0f1);
    ck_assert_msg((c4f0 & c4f1) == c4f0, "%s: CR4 FIXED0 %#llx not within FIXED1 %#llx", x.row,
                  (unsigned long long)c4f0, (unsigned long long)c4f1);
    ck_assert_msg((c0f0 & (CR0_PE | CR0_NE | CR0_PG)) == (CR0_PE | CR0_NE | CR0_PG), "%s: CR0 FIXED0 %#llx", x.row,
                  (unsigned long long)c0f0);
    ck_assert_msg(c4f0 & CR4_VMXE, "%s: CR4 FIXED0 without VMXE", x.row);
    ck_assert_msg(c4f1 & CR4_VMXE, "%s: CR4 FIXED1 without VMXE", x.row);
    ck_assert_msg(!(c4f1 & CR4_SMXE), "%s: CR4 FIXED1 allows SMXE on a CPU without SMX", x.row);
    /* the boot state satisfies them: VMXON must be possible */
    uint64_t cr0 = cpu_get(x.t.cpu, CPU_CR0), cr4 = cpu_get(x.t.cpu, CPU_CR4);
    ck_assert_msg((cr0 & c0f0) == c0f0 && !(cr0 & ~c0f1), "%s: CR0 %#llx", x.row, (unsigned long long)cr0);
    ck_assert_msg((cr4 & c4f0) == c4f0 && !(cr4 & ~c4f1), "%s: CR4 %#llx", x.row, (unsigned long long)cr4);
}
END_TEST

/* Default1 classes (A.2): bits that the non-TRUE MSRs always report as
 * allowed-0 = 1. */
#define PIN_DEFAULT1   0x00000016u
#define PROC_DEFAULT1  0x0401E172u
#define EXIT_DEFAULT1  0x00036DFFu
#define ENTRY_DEFAULT1 0x000011FFu

/* The control MSRs (A.3-A.5): allowed-0 within allowed-1; the non-TRUE
 * MSRs report the default1 class as 1; a TRUE MSR may only relax bits of
 * the default1 class. */
START_TEST(cap_controls)
{
    static const struct { uint32_t msr, true_msr, default1; const char *name; } ctl[] = {
        { MSR_VMX_PINBASED_CTLS, MSR_VMX_TRUE_PINBASED_CTLS, PIN_DEFAULT1, "pin-based" },
        { MSR_VMX_PROCBASED_CTLS, MSR_VMX_TRUE_PROCBASED_CTLS, PROC_DEFAULT1, "primary processor-based" },
        { MSR_VMX_EXIT_CTLS, MSR_VMX_TRUE_EXIT_CTLS, EXIT_DEFAULT1, "VM-exit" },
        { MSR_VMX_ENTRY_CTLS, MSR_VMX_TRUE_ENTRY_CTLS, ENTRY_DEFAULT1, "VM-entry" },
        { MSR_VMX_PROCBASED_CTLS2, 0, 0, "secondary processor-based" },
    };
    struct vt x;
    vt_create(&x, profiles[_i], true, 5, profiles[_i]);
    bool has_true = (rd(&x, MSR_VMX_BASIC) >> 55) & 1;
    for (unsigned i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
        if (!msr_exists(&x, ctl[i].msr))
            continue;
        uint64_t m = rd(&x, ctl[i].msr);
        uint32_t a0 = (uint32_t)m, a1 = (uint32_t)(m >> 32);
        ck_assert_msg((a0 & a1) == a0, "%s %s: allowed-0 %#x not within allowed-1 %#x", x.row, ctl[i].name, a0, a1);
        ck_assert_msg((a0 & ctl[i].default1) == ctl[i].default1, "%s %s: allowed-0 %#x lacks default1 %#x", x.row,
                      ctl[i].name, a0, ctl[i].default1);
        if (!ctl[i].true_msr || !has_true)
            continue;
        uint64_t t = rd(&x, ctl[i].true_msr);
        uint32_t t0 = (uint32_t)t, t1 = (uint32_t)(t >> 32);
        ck_assert_msg((t0 & t1) == t0, "%s TRUE %s: allowed-0 %#x not within allowed-1 %#x", x.row, ctl[i].name, t0,
                      t1);
        ck_assert_msg((t0 & a0) == t0, "%s TRUE %s: allowed-0 %#x not within the non-TRUE %#x", x.row, ctl[i].name,
                      t0, a0);
        ck_assert_msg((a0 & ~ctl[i].default1) == (t0 & ~ctl[i].default1), "%s TRUE %s: allowed-0 %#x differs from "
                      "%#x outside the default1 class", x.row, ctl[i].name, t0, a0);
        ck_assert_msg(t1 == a1, "%s TRUE %s: allowed-1 %#x, non-TRUE %#x", x.row, ctl[i].name, t1, a1);
    }
}
END_TEST

/* IA32_VMX_VMCS_ENUM (A.9): bits 9:1 are the highest index of any field
 * the processor supports, found here by trying VMREAD on every encoding. */
START_TEST(cap_vmcs_enum)
{
    struct vt x;
    vt_create(&x, profiles[_i], true, 5, profiles[_i]);
    vt_regions(&x);
    vt_setup(&x, S_CUR);
    unsigned max = 0, nfields = 0;
    for (uint32_t enc = 0; enc < 0x8000; enc++) {
        uint64_t v;
        struct vmx_result r = vmx_vmread(x.v, enc, &v);
        ck_assert_msg(r.outcome == VMX_SUCCEED || (r.outcome == VMX_FAIL_VALID && r.error == 12),
                      "%s: VMREAD %#x: %s", x.row, enc, r.why);
        if (r.outcome == VMX_SUCCEED) {
            nfields += !(enc & 1);
            if (((enc >> 1) & 0x1FF) > max)
                max = (enc >> 1) & 0x1FF;
        }
    }
    uint64_t e = rd(&x, MSR_VMX_VMCS_ENUM);
    ck_assert_msg(((e >> 1) & 0x1FF) == max, "%s: VMCS_ENUM[9:1] = %llu, highest index VMREAD accepts %u", x.row,
                  (unsigned long long)((e >> 1) & 0x1FF), max);
    ck_assert_msg((e & ~0x3FEull) == 0, "%s: VMCS_ENUM %#llx has bits outside 9:1", x.row, (unsigned long long)e);
    ck_assert_msg(nfields > 100, "%s: only %u fields", x.row, nfields);
}
END_TEST

/* ---- CPUID.1:ECX.VMX[bit 5] (SDM 3C 24.6), executed by the guest ---- */

struct cpuid_row { const char *profile; bool attach; bool vmx; int line; };
static const struct cpuid_row cpuid_rows[] = {
    { P_SRV, true, true, __LINE__ },  { P_MIN, true, true, __LINE__ },
    { P_SRV, false, false, __LINE__ }, { P_MIN, false, false, __LINE__ },
};

START_TEST(cpuid_vmx_bit)
{
    const struct cpuid_row *r = &cpuid_rows[_i];
    char row[120];
    snprintf(row, sizeof(row), "%s %s (test_vmx.c:%d)", r->profile, r->attach ? "with VMX" : "bare", r->line);
    /* mov eax, 1; xor ecx, ecx; cpuid; hlt */
    static const uint8_t code[] = { 0xB8, 1, 0, 0, 0, 0x31, 0xC9, 0x0F, 0xA2, 0xF4 };
    struct tm t;
    tm_create_with(&t, code, sizeof(code), cpu_profile_find(r->profile), 0);
    if (r->attach)
        harness_own(vt_release_vmx, vmx_attach(t.cpu, vmx_caps_for_profile(r->profile)));
    enum cpu_stop st = cpu_run(t.cpu, 100);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&t) == -1, "%s: stop %s, vector %d (%s)", row,
                  cpu_stop_name(st), tm_vector(&t), cpu_message(t.cpu));
    bool vmx = (cpu_get(t.cpu, CPU_RCX) >> 5) & 1;
    ck_assert_msg(vmx == r->vmx, "%s: CPUID.1:ECX = %#llx", row, (unsigned long long)cpu_get(t.cpu, CPU_RCX));
}
END_TEST

/* ---- MOV to CR0/CR4 and the fixed bits (SDM 3C 24.8), executed by the guest ---- */

struct movcr_row {
    const char *name;
    int line;
    const char *profile;
    enum setup setup;
    unsigned cr;               /* 0 or 4 */
    uint64_t clear, set;       /* the value written: CRn & ~clear | set */
    bool gp;
};
static const struct movcr_row movcr_rows[] = {
    { "root/cr4-without-vmxe-gp", __LINE__, P_SRV, S_ROOT, 4, CR4_VMXE, 0, true },
    { "root/cr4-without-vmxe-gp-minimal", __LINE__, P_MIN, S_ROOT, 4, CR4_VMXE, 0, true },
    { "current-vmcs/cr4-without-vmxe-gp", __LINE__, P_SRV, S_CUR, 4, CR4_VMXE, 0, true },
    { "root/cr0-without-ne-gp", __LINE__, P_SRV, S_ROOT, 0, CR0_NE, 0, true },
    { "root/cr4-other-bit-ok", __LINE__, P_SRV, S_ROOT, 4, 1ull << 10, 0, false },       /* OSXMMEXCPT */
    { "root/cr0-other-bit-ok", __LINE__, P_SRV, S_ROOT, 0, 1ull << 16, 0, false },       /* WP */
    { "root/cr4-same-value-ok", __LINE__, P_SRV, S_ROOT, 4, 0, 0, false },
    { "outside/cr4-without-vmxe-ok", __LINE__, P_SRV, S_OFF, 4, CR4_VMXE, 0, false },
    { "outside/cr0-without-ne-ok", __LINE__, P_SRV, S_OFF, 0, CR0_NE, 0, false },
    { "after-vmxoff/cr4-without-vmxe-ok", __LINE__, P_SRV, S_AFTER_OFF, 4, CR4_VMXE, 0, false },
};

START_TEST(mov_cr_fixed_bits)
{
    const struct movcr_row *r = &movcr_rows[_i];
    char row[160];
    snprintf(row, sizeof(row), "%s (test_vmx.c:%d)", r->name, r->line);
    /* mov crN, rax; hlt */
    const uint8_t code[] = { 0x0F, 0x22, r->cr == 0 ? 0xC0 : 0xE0, 0xF4 };
    struct vt x;
    x.profile = r->profile;
    x.row = row;
    tm_create_with(&x.t, code, sizeof(code), cpu_profile_find(r->profile), 0);
    x.v = vmx_attach(x.t.cpu, vmx_caps_for_profile(r->profile));
    ck_assert_ptr_nonnull(x.v);
    harness_own(vt_release_vmx, x.v);
    cpu_set(x.t.cpu, CPU_CR4, cpu_get(x.t.cpu, CPU_CR4) | CR4_VMXE);
    cpu_commit_state(x.t.cpu);
    ck_assert(cpu_msr_write(x.t.cpu, MSR_IA32_FEATURE_CONTROL, 5));
    vt_regions(&x);
    vt_setup(&x, r->setup);
    enum cpu_reg reg = r->cr == 0 ? CPU_CR0 : CPU_CR4;
    uint64_t old = cpu_get(x.t.cpu, reg), val = (old & ~r->clear) | r->set;
    cpu_set(x.t.cpu, CPU_RAX, val);
    enum cpu_stop st = cpu_run(x.t.cpu, 100);
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row, cpu_stop_name(st), cpu_message(x.t.cpu));
    if (r->gp) {
        ck_assert_msg(tm_vector(&x.t) == 13, "%s: vector %d, expected #GP", row, tm_vector(&x.t));
        ck_assert_msg(tm_stack(&x.t, 0) == 0 && tm_stack(&x.t, 1) == CODE_PA, "%s: error code %#llx, RIP %#llx", row,
                      (unsigned long long)tm_stack(&x.t, 0), (unsigned long long)tm_stack(&x.t, 1));
        ck_assert_msg(cpu_get(x.t.cpu, reg) == old, "%s: CR%u changed to %#llx", row, r->cr,
                      (unsigned long long)cpu_get(x.t.cpu, reg));
    } else {
        ck_assert_msg(tm_vector(&x.t) == -1 && cpu_get(x.t.cpu, CPU_RIP) == CODE_PA + sizeof(code), "%s: did not "
                      "complete (vector %d)", row, tm_vector(&x.t));
        uint64_t now = cpu_get(x.t.cpu, reg);
        ck_assert_msg((now & ~0x10ull) == (val & ~0x10ull), "%s: CR%u = %#llx, wrote %#llx", row, r->cr,
                      (unsigned long long)now, (unsigned long long)val);      /* CR0.ET is hard-wired */
    }
}
END_TEST

/* ---- VMLAUNCH right after MOV SS: VMfailValid(26), through the
 * instruction path (SDM 3C 31.3 VMLAUNCH/VMRESUME, checked before the
 * launch state). The control row, without MOV SS, fails on the launch
 * state instead (error 4). ---- */
START_TEST(vmlaunch_after_mov_ss)
{
    /* _i = 0: mov eax, ss; mov ss, eax; vmlaunch; hlt   _i = 1: mov eax, ss; nop; nop; vmlaunch; hlt */
    static const uint8_t with_ss[] = { 0x8C, 0xD0, 0x8E, 0xD0, 0x0F, 0x01, 0xC2, 0xF4 };
    static const uint8_t without[] = { 0x8C, 0xD0, 0x90, 0x90, 0x0F, 0x01, 0xC2, 0xF4 };
    const char *row = _i == 0 ? "vmlaunch-after-mov-ss" : "vmlaunch-without-mov-ss";
    struct vt x;
    x.profile = P_SRV;
    x.row = row;
    tm_create_with(&x.t, _i == 0 ? with_ss : without, sizeof(with_ss), cpu_profile_find(P_SRV), 0);
    x.v = vmx_attach(x.t.cpu, vmx_caps_for_profile(P_SRV));
    ck_assert_ptr_nonnull(x.v);
    harness_own(vt_release_vmx, x.v);
    cpu_set(x.t.cpu, CPU_CR4, cpu_get(x.t.cpu, CPU_CR4) | CR4_VMXE);
    cpu_commit_state(x.t.cpu);
    ck_assert(cpu_msr_write(x.t.cpu, MSR_IA32_FEATURE_CONTROL, 5));
    vt_regions(&x);
    vt_setup(&x, S_LAUNCHED);         /* launched: without the MOV SS check, error 4 would show instead */
    put64(&x, ERR_SLOT(VMCS_A), SENTINEL_ERR);
    enum cpu_stop st = cpu_run(x.t.cpu, 100);
    ck_assert_msg(st == CPU_STOP_HALTED && tm_vector(&x.t) == -1, "%s: stop %s, vector %d (%s)", row,
                  cpu_stop_name(st), tm_vector(&x.t), cpu_message(x.t.cpu));
    uint64_t e = ~0ull;
    struct vmx_result r = vmx_vmread(x.v, ENC_VM_INSTRUCTION_ERROR, &e);
    ck_assert_msg(r.outcome == VMX_SUCCEED, "%s: %s", row, r.why);
    ck_assert_msg(e == (_i == 0 ? 26u : 4u), "%s: VM-instruction error %llu", row, (unsigned long long)e);
}
END_TEST

/* ---- the instruction handlers: the same outcomes through decoded
 * instructions (register and memory operands, operand faults through the
 * MMU), the thin callers of the API above. RAX and RBX are the operands;
 * [RBX] is SCRATCH_PA (identity-mapped) unless the row names another
 * address. ---- */

struct insn_row {
    const char *name;
    int line;
    const char *profile;       /* NULL: intel-server */
    enum setup setup;
    bool pre;                  /* VMWRITE pre_enc = pre_val through the API first */
    uint64_t pre_enc, pre_val;
    uint8_t code[8];           /* one VMX instruction; HLT follows */
    unsigned n;
    uint64_t rax, rbx;         /* rbx 0: SCRATCH_PA */
    uint64_t mem0, mem1;       /* the 16 bytes at SCRATCH_PA */
    unsigned fault;            /* the exception vector it raises; 0 (#DE, never raised here): it completes */
    enum vmx_outcome outcome;  /* when it completes: VMX_SUCCEED / FAIL_INVALID / FAIL_VALID */
    unsigned error;            /* VMX_FAIL_VALID */
    enum check chk;            /* C_NONE, C_IN_VMX, C_CURRENT, C_READ, C_VALUE (the qword at SCRATCH_PA) */
    uint64_t chk_enc, want;
};
#define I(...) { .line = __LINE__, __VA_ARGS__ }
#define CODE(...) .code = { __VA_ARGS__ }, .n = sizeof((uint8_t[]){ __VA_ARGS__ })
#define X_VMXON   CODE(0xF3, 0x0F, 0xC7, 0x33)          /* vmxon [rbx] */
#define X_VMCLEAR CODE(0x66, 0x0F, 0xC7, 0x33)          /* vmclear [rbx] */
#define X_VMPTRLD CODE(0x0F, 0xC7, 0x33)                /* vmptrld [rbx] */
#define X_VMPTRST CODE(0x0F, 0xC7, 0x3B)                /* vmptrst [rbx] */
#define X_VMREAD_R CODE(0x0F, 0x78, 0xC3)               /* vmread rbx, rax */
#define X_VMREAD_M CODE(0x0F, 0x78, 0x03)               /* vmread [rbx], rax */
#define X_VMWRITE_R CODE(0x0F, 0x79, 0xC3)              /* vmwrite rax, rbx */
#define X_VMWRITE_M CODE(0x0F, 0x79, 0x03)              /* vmwrite rax, [rbx] */
#define X_INVEPT  CODE(0x66, 0x0F, 0x38, 0x80, 0x03)    /* invept rax, [rbx] */
#define X_INVVPID CODE(0x66, 0x0F, 0x38, 0x81, 0x03)    /* invvpid rax, [rbx] */
#define X_VMCALL  CODE(0x0F, 0x01, 0xC1)
#define X_VMLAUNCH CODE(0x0F, 0x01, 0xC2)
#define X_VMRESUME CODE(0x0F, 0x01, 0xC3)
#define X_VMXOFF  CODE(0x0F, 0x01, 0xC4)
#define X_VMFUNC  CODE(0x0F, 0x01, 0xD4)

static const struct insn_row insn_rows[] = {
    I(.name = "vmxon/succeed", X_VMXON, .mem0 = VMXON_PA, .outcome = VMX_SUCCEED, .chk = C_IN_VMX, .want = 1),
    I(.name = "vmxon/finv-wrong-revision", X_VMXON, .mem0 = VMCS_BADREV, .outcome = VMX_FAIL_INVALID,
      .chk = C_IN_VMX, .want = 0),
    I(.name = "vmxon/pf-operand-not-mapped", X_VMXON, .rbx = 0x100000000000ull, .fault = 14, .chk = C_IN_VMX,
      .want = 0),
    I(.name = "vmxon/gp-operand-non-canonical", X_VMXON, .rbx = 0x0000800000000000ull, .fault = 13),
    I(.name = "vmxon/in-root-15-operand-not-read", .setup = S_CUR, X_VMXON, .rbx = 0x100000000000ull,
      .outcome = VMX_FAIL_VALID, .error = 15),
    I(.name = "vmclear/2-misaligned", .setup = S_CUR, X_VMCLEAR, .mem0 = VMCS_B + 8, .outcome = VMX_FAIL_VALID,
      .error = 2),
    I(.name = "vmclear/succeed-current", .setup = S_CUR, X_VMCLEAR, .mem0 = VMCS_A, .outcome = VMX_SUCCEED,
      .chk = C_CURRENT, .want = ~0ull),
    I(.name = "vmptrld/11-wrong-revision", .setup = S_CUR, X_VMPTRLD, .mem0 = VMCS_BADREV,
      .outcome = VMX_FAIL_VALID, .error = 11),
    I(.name = "vmptrld/succeed", .setup = S_ROOT, X_VMPTRLD, .mem0 = VMCS_B, .outcome = VMX_SUCCEED,
      .chk = C_CURRENT, .want = VMCS_B),
    I(.name = "vmptrst/stores-current", .setup = S_CUR, X_VMPTRST, .mem0 = 0x1234, .outcome = VMX_SUCCEED,
      .chk = C_VALUE, .want = VMCS_A),
    I(.name = "vmptrst/pf", .setup = S_CUR, X_VMPTRST, .rbx = 0x100000000000ull, .fault = 14),
    I(.name = "vmread/to-memory", .setup = S_CUR, .pre = true, .pre_enc = 0x681E, .pre_val = 0xFFFFFFFF81000000ull,
      X_VMREAD_M, .rax = 0x681E, .outcome = VMX_SUCCEED, .chk = C_VALUE, .want = 0xFFFFFFFF81000000ull),
    I(.name = "vmread/12-to-memory-not-written", .setup = S_CUR, X_VMREAD_M, .rax = 0x6830, .mem0 = 0x77,
      .outcome = VMX_FAIL_VALID, .error = 12, .chk = C_VALUE, .want = 0x77),
    I(.name = "vmread/finv-to-register", .setup = S_ROOT, X_VMREAD_R, .rax = 0x0800, .outcome = VMX_FAIL_INVALID),
    I(.name = "vmread/ud-outside", X_VMREAD_R, .rax = 0x0800, .fault = 6),
    I(.name = "vmwrite/16-bit-from-memory", .setup = S_CUR, X_VMWRITE_M, .rax = 0x0800, .mem0 = 0x1234ABCD,
      .outcome = VMX_SUCCEED, .chk = C_READ, .chk_enc = 0x0800, .want = 0xABCD),
    I(.name = "vmwrite/high-from-register", .setup = S_CUR, .pre = true, .pre_enc = 0x2010, .pre_val = 0x55667788,
      X_VMWRITE_R, .rax = 0x2011, .rbx = 0x11223344, .outcome = VMX_SUCCEED, .chk = C_READ, .chk_enc = 0x2010,
      .want = 0x1122334455667788ull),
    I(.name = "vmwrite/13-exit-reason-minimal", .profile = P_MIN, .setup = S_CUR, X_VMWRITE_R, .rax = 0x4402,
      .rbx = 1, .outcome = VMX_FAIL_VALID, .error = 13, .chk = C_READ, .chk_enc = 0x4402, .want = 0),
    I(.name = "vmwrite/exit-reason-server", .setup = S_CUR, X_VMWRITE_R, .rax = 0x4402, .rbx = 1,
      .outcome = VMX_SUCCEED, .chk = C_READ, .chk_enc = 0x4402, .want = 1),
    /* the value operand is referenced only by the last step of VMWRITE's Operation section: a
     * VMWRITE that fails on the field does not read it (vmx.c's reading; hardware may differ) */
    I(.name = "vmwrite/13-minimal-value-operand-not-read", .profile = P_MIN, .setup = S_CUR, X_VMWRITE_M,
      .rax = 0x4402, .rbx = 0x100000000000ull, .outcome = VMX_FAIL_VALID, .error = 13),
    I(.name = "vmwrite/12-bit32", .setup = S_CUR, X_VMWRITE_M, .rax = (1ull << 32) | 0x0800, .rbx = 0x100000000000ull,
      .outcome = VMX_FAIL_VALID, .error = 12),
    I(.name = "vmwrite/pf-value-operand", .setup = S_CUR, X_VMWRITE_M, .rax = 0x0800, .rbx = 0x100000000000ull,
      .fault = 14, .chk = C_READ, .chk_enc = 0x0800, .want = 0),
    I(.name = "vmwrite/12-encoding-bit32", .setup = S_CUR, X_VMWRITE_R, .rax = (1ull << 32) | 0x0800, .rbx = 1,
      .outcome = VMX_FAIL_VALID, .error = 12),
    I(.name = "invept/28-type0", .setup = S_CUR, X_INVEPT, .rax = 0, .mem0 = EPTP_WB4, .outcome = VMX_FAIL_VALID,
      .error = 28),
    I(.name = "invept/single-succeed", .setup = S_CUR, X_INVEPT, .rax = 1, .mem0 = EPTP_WB4,
      .outcome = VMX_SUCCEED),
    I(.name = "invept/28-single-bad-eptp", .setup = S_CUR, X_INVEPT, .rax = 1, .mem0 = EPTP(0x19),
      .outcome = VMX_FAIL_VALID, .error = 28),
    /* an unsupported type fails before the descriptor is read (SDM 3C 31.3 INVEPT, Operation;
     * Bochs reads the descriptor first) */
    I(.name = "invept/28-type0-descriptor-not-read", .setup = S_CUR, X_INVEPT, .rax = 0, .rbx = 0x100000000000ull,
      .outcome = VMX_FAIL_VALID, .error = 28),
    I(.name = "invept/pf-descriptor", .setup = S_CUR, X_INVEPT, .rax = 1, .rbx = 0x100000000000ull, .fault = 14),
    I(.name = "invept/ud-minimal", .profile = P_MIN, .setup = S_CUR, X_INVEPT, .rax = 2, .fault = 6),
    I(.name = "invvpid/28-descriptor-bit16", .setup = S_CUR, X_INVVPID, .rax = 1, .mem0 = 0x10001,
      .outcome = VMX_FAIL_VALID, .error = 28),
    I(.name = "invvpid/28-individual-non-canonical", .setup = S_CUR, X_INVVPID, .rax = 0, .mem0 = 1,
      .mem1 = 0x0000800000000000ull, .outcome = VMX_FAIL_VALID, .error = 28),
    I(.name = "invvpid/all-context-succeed", .setup = S_CUR, X_INVVPID, .rax = 2, .outcome = VMX_SUCCEED),
    I(.name = "vmcall/1-root", .setup = S_CUR, X_VMCALL, .outcome = VMX_FAIL_VALID, .error = 1),
    I(.name = "vmcall/ud-outside", X_VMCALL, .fault = 6),
    I(.name = "vmlaunch/4-launched", .setup = S_LAUNCHED, X_VMLAUNCH, .outcome = VMX_FAIL_VALID, .error = 4),
    I(.name = "vmresume/5-clear", .setup = S_CUR, X_VMRESUME, .outcome = VMX_FAIL_VALID, .error = 5),
    I(.name = "vmlaunch/finv-no-vmcs", .setup = S_ROOT, X_VMLAUNCH, .outcome = VMX_FAIL_INVALID),
    I(.name = "vmxoff/succeed", .setup = S_CUR, X_VMXOFF, .outcome = VMX_SUCCEED, .chk = C_IN_VMX, .want = 0),
    I(.name = "vmfunc/ud-in-root", .setup = S_CUR, X_VMFUNC, .fault = 6),
};

START_TEST(insn)
{
    const struct insn_row *r = &insn_rows[_i];
    char row[200];
    snprintf(row, sizeof(row), "insn %s (test_vmx.c:%d)", r->name, r->line);
    uint8_t code[16];
    memcpy(code, r->code, r->n);
    code[r->n] = 0xF4;
    struct vt x;
    x.profile = r->profile ? r->profile : P_SRV;
    x.row = row;
    tm_create_with(&x.t, code, r->n + 1, cpu_profile_find(x.profile), 0);
    x.v = vmx_attach(x.t.cpu, vmx_caps_for_profile(x.profile));
    ck_assert_ptr_nonnull(x.v);
    harness_own(vt_release_vmx, x.v);
    cpu_set(x.t.cpu, CPU_CR4, cpu_get(x.t.cpu, CPU_CR4) | CR4_VMXE);
    cpu_commit_state(x.t.cpu);
    ck_assert(cpu_msr_write(x.t.cpu, MSR_IA32_FEATURE_CONTROL, 5));
    vt_regions(&x);
    vt_setup(&x, r->setup);
    if (r->pre)
        expect_succeed(&x, vmx_vmwrite(x.v, r->pre_enc, r->pre_val), "pre-VMWRITE");
    put64(&x, ERR_SLOT(VMCS_A), SENTINEL_ERR);
    put64(&x, SCRATCH_PA, r->mem0);
    put64(&x, SCRATCH_PA + 8, r->mem1);
    cpu_set(x.t.cpu, CPU_RAX, r->rax);
    cpu_set(x.t.cpu, CPU_RBX, r->rbx ? r->rbx : SCRATCH_PA);
    uint64_t before = F_BASE | F_ARITH, after = before;
    if (!r->fault) {
        switch (r->outcome) {
        case VMX_SUCCEED: after = F_BASE; break;
        case VMX_FAIL_INVALID: before &= ~F_CF; after = F_BASE | F_CF; break;
        case VMX_FAIL_VALID: before &= ~F_ZF; after = F_BASE | F_ZF; break;
        default: ck_abort_msg("%s: bad row", row);
        }
    }
    cpu_set(x.t.cpu, CPU_RFLAGS, before);
    cpu_commit_state(x.t.cpu);

    enum cpu_stop st = cpu_run(x.t.cpu, 100);
    ck_assert_msg(st == CPU_STOP_HALTED, "%s: stop %s (%s)", row, cpu_stop_name(st), cpu_message(x.t.cpu));
    if (r->fault) {
        ck_assert_msg(tm_vector(&x.t) == (int)r->fault, "%s: vector %d, expected %u", row, tm_vector(&x.t), r->fault);
        unsigned ec = r->fault == 13 || r->fault == 14;         /* frame: [error code], RIP, CS, RFLAGS */
        ck_assert_msg(tm_stack(&x.t, ec) == CODE_PA, "%s: the fault's RIP %#llx is not the instruction's", row,
                      (unsigned long long)tm_stack(&x.t, ec));
        if (r->fault == 13)
            ck_assert_msg(tm_stack(&x.t, 0) == 0, "%s: #GP error code %#llx", row,
                          (unsigned long long)tm_stack(&x.t, 0));
        ck_assert_msg((tm_stack(&x.t, ec + 2) & F_ARITH) == (before & F_ARITH), "%s: the pushed RFLAGS %#llx", row,
                      (unsigned long long)tm_stack(&x.t, ec + 2));
    } else {
        ck_assert_msg(tm_vector(&x.t) == -1 && cpu_get(x.t.cpu, CPU_RIP) == CODE_PA + r->n + 1, "%s: did not "
                      "complete (vector %d, RIP %#llx)", row, tm_vector(&x.t),
                      (unsigned long long)cpu_get(x.t.cpu, CPU_RIP));
        uint64_t fl = cpu_get(x.t.cpu, CPU_RFLAGS) & (F_BASE | F_ARITH);
        ck_assert_msg(fl == after, "%s: RFLAGS %#llx after, expected %#llx", row, (unsigned long long)fl,
                      (unsigned long long)after);
        if (r->outcome == VMX_FAIL_VALID) {
            uint64_t e = ~0ull;
            struct vmx_result rr = vmx_vmread(x.v, ENC_VM_INSTRUCTION_ERROR, &e);
            ck_assert_msg(rr.outcome == VMX_SUCCEED && e == r->error, "%s: VM-instruction error %llu, expected %u",
                          row, (unsigned long long)e, r->error);
        }
    }
    if (r->outcome != VMX_FAIL_VALID || r->fault)
        ck_assert_msg(get64(&x, ERR_SLOT(VMCS_A)) == SENTINEL_ERR, "%s: VM-instruction error field written", row);
    switch (r->chk) {
    case C_IN_VMX:
        ck_assert_msg(vmx_in_operation(x.v) == (r->want != 0), "%s: in VMX operation %d", row,
                      vmx_in_operation(x.v));
        break;
    case C_CURRENT:
        ck_assert_msg(vmx_current_vmcs(x.v) == r->want, "%s: current VMCS %#llx", row,
                      (unsigned long long)vmx_current_vmcs(x.v));
        break;
    case C_VALUE:
        ck_assert_msg(get64(&x, SCRATCH_PA) == r->want, "%s: [SCRATCH_PA] = %#llx, expected %#llx", row,
                      (unsigned long long)get64(&x, SCRATCH_PA), (unsigned long long)r->want);
        break;
    case C_READ: {
        uint64_t v = ~0ull;
        struct vmx_result rr = vmx_vmread(x.v, r->chk_enc, &v);
        ck_assert_msg(rr.outcome == VMX_SUCCEED && v == r->want, "%s: VMREAD %#llx = %#llx (%s), expected %#llx", row,
                      (unsigned long long)r->chk_enc, (unsigned long long)v, rr.why, (unsigned long long)r->want);
        break;
    }
    default:
        break;
    }
}
END_TEST

/* ---- "virtualize APIC accesses" (vmx_model/apic_access.c), pure ----
 * SDM 3C 30.4.2 / 30.4.3.1 with APIC-register virtualization and
 * virtual-interrupt delivery 0: only a read or write of at most 32 bits at
 * page offset 080H with "use TPR shadow" is virtualized; 28.2.1: the
 * access types of the exit qualification. */
struct apic_virt_row {
    bool tpr_shadow;
    unsigned offset, size;
    bool write, want;
    int line;
};
static const struct apic_virt_row apic_virt_rows[] = {
    { true, 0x80, 4, false, true, __LINE__ },   { true, 0x80, 4, true, true, __LINE__ },
    { true, 0x80, 1, false, true, __LINE__ },   { true, 0x80, 2, true, true, __LINE__ },
    { false, 0x80, 4, false, false, __LINE__ }, { false, 0x80, 4, true, false, __LINE__ },
    { true, 0x80, 8, false, false, __LINE__ },  { true, 0x80, 8, true, false, __LINE__ },
    { true, 0x81, 1, false, false, __LINE__ },  { true, 0x84, 4, true, false, __LINE__ },
    { true, 0x7C, 8, false, false, __LINE__ },  { true, 0x30, 4, false, false, __LINE__ },
    { true, 0xB0, 4, true, false, __LINE__ },   { true, 0x300, 4, true, false, __LINE__ },
    { true, 0x80, 0, false, false, __LINE__ },
};

START_TEST(apic_virtualized)
{
    const struct apic_virt_row *r = &apic_virt_rows[_i];
    bool got = vmx_apic_access_virtualized(r->tpr_shadow, r->offset, r->size, r->write);
    ck_assert_msg(got == r->want, "test_vmx.c:%d: TPR shadow %d, offset %#x, %u bytes, %s: virtualized %d, want %d",
                  r->line, r->tpr_shadow, r->offset, r->size, r->write ? "write" : "read", got, r->want);
}
END_TEST

struct apic_type_row {
    bool gpa, event;
    unsigned acc, want;
    int line;
};
static const struct apic_type_row apic_type_rows[] = {
    { false, false, CPU_SLAT_READ, 0, __LINE__ },  { false, false, CPU_SLAT_WRITE, 1, __LINE__ },
    { false, false, CPU_SLAT_FETCH, 2, __LINE__ }, { false, false, CPU_SLAT_FETCH | CPU_SLAT_USER, 2, __LINE__ },
    { false, true, CPU_SLAT_READ, 3, __LINE__ },   { false, true, CPU_SLAT_WRITE, 3, __LINE__ },
    { true, true, CPU_SLAT_READ, 10, __LINE__ },   { true, false, CPU_SLAT_READ, 15, __LINE__ },
    { true, false, CPU_SLAT_WRITE, 15, __LINE__ },
};

START_TEST(apic_type)
{
    const struct apic_type_row *r = &apic_type_rows[_i];
    unsigned got = vmx_apic_access_type(r->gpa, r->event, r->acc);
    ck_assert_msg(got == r->want, "test_vmx.c:%d: access type %u, want %u", r->line, got, r->want);
    uint64_t q = vmx_apic_access_qual(got, 0x1234);
    ck_assert_msg(q == (((uint64_t)r->want << 12) | 0x234), "test_vmx.c:%d: qualification %#llx", r->line,
                  (unsigned long long)q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmx");
    TCase *t = harness_tcase("api");
    ADD_ROWS(t, api, api_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("caps");
    ADD_ROWS(t, cap_msr_present, msr_rows);
    tcase_add_test(t, cap_msrs_absent_without_model);
    ADD_ROWS(t, feature_control, profiles);
    ADD_ROWS(t, cap_basic, profiles);
    ADD_ROWS(t, cap_fixed_bits, profiles);
    ADD_ROWS(t, cap_controls, profiles);
    ADD_ROWS(t, cap_vmcs_enum, profiles);
    ADD_ROWS(t, cpuid_vmx_bit, cpuid_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("insn");
    ADD_ROWS(t, mov_cr_fixed_bits, movcr_rows);
    tcase_add_loop_test(t, vmlaunch_after_mov_ss, 0, 2);
    ADD_ROWS(t, insn, insn_rows);
    suite_add_tcase(s, t);

    t = harness_tcase("apic_access");
    ADD_ROWS(t, apic_virtualized, apic_virt_rows);
    ADD_ROWS(t, apic_type, apic_type_rows);
    suite_add_tcase(s, t);
    return harness_run(s);
}
